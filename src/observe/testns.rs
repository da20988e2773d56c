//! Test support (compiled only for tests): throwaway network namespaces, so
//! observe's tests run against the real kernel without touching the host's
//! network. `NetNs::new` makes `ip netns` namespace; code under test runs in
//! it on a thread that `setns`-ed into it (`run`), or with that namespace's
//! own sysfs mounted in a private mount namespace (`with_sysfs`). Dropping
//! it deletes the namespace and everything in it.
//!
//! Tests skip (return early, with a note on stderr) only when not root,
//! since namespaces need CAP_SYS_ADMIN; as root every failure panics.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static SEQ: AtomicUsize = AtomicUsize::new(0);

pub struct NetNs {
    pub name: String,
}

impl NetNs {
    /// A fresh namespace with `lo` up, or `None` (skip) when not root.
    pub fn new(tag: &str) -> Option<NetNs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipping {tag}: needs root for network namespaces");
            return None;
        }
        let name = format!(
            "nfto-{}-{}-{tag}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = NetNs { name };
        ns.ip(&["link", "set", "lo", "up"]);
        Some(ns)
    }

    /// `ip -n NS ARGS…`, which must succeed.
    pub fn ip(&self, args: &[&str]) {
        run_ok(Command::new("ip").args(["-n", &self.name]).args(args));
    }

    /// Whether `ip -n NS ARGS…` succeeds (for optional kernel features).
    pub fn try_ip(&self, args: &[&str]) -> bool {
        Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// `ip netns exec NS CMD…`, which must succeed; returns stdout.
    pub fn exec(&self, cmd: &[&str]) -> String {
        run_ok(
            Command::new("ip")
                .args(["netns", "exec", &self.name])
                .args(cmd),
        )
    }

    /// Run `f` on a thread that joined this network namespace: sockets it
    /// opens (netlink, ioctl) see this namespace's devices and conntrack.
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(move || {
                enter_netns(&path);
                f()
            })
            .join()
            .unwrap()
        })
    }

    /// Like `run`, but on a detached thread, for code that must run in
    /// several namespaces at once (a client and a server).
    pub fn spawn<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> std::thread::JoinHandle<R> {
        let path = self.path();
        std::thread::spawn(move || {
            enter_netns(&path);
            f()
        })
    }

    /// Run `f` with this namespace's sysfs mounted at a temporary path,
    /// in a private mount namespace of the calling thread only: `f` gets the
    /// sysfs root (the directory holding `class/net`).
    pub fn with_sysfs<R: Send>(&self, f: impl FnOnce(&Path) -> R + Send) -> R {
        let path = self.path();
        let dir = temp_dir(&format!("sysfs-{}", self.name));
        let r = std::thread::scope(|s| {
            let dir = &dir;
            s.spawn(move || {
                // SAFETY: plain syscalls with valid, NUL-terminated strings.
                unsafe {
                    assert_eq!(libc::unshare(libc::CLONE_NEWNS), 0, "unshare mount ns");
                    let root = CString::new("/").unwrap();
                    assert_eq!(
                        libc::mount(
                            std::ptr::null(),
                            root.as_ptr(),
                            std::ptr::null(),
                            libc::MS_REC | libc::MS_PRIVATE,
                            std::ptr::null()
                        ),
                        0,
                        "make mounts private"
                    );
                }
                enter_netns(&path);
                let target = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
                let fstype = CString::new("sysfs").unwrap();
                // SAFETY: as above.
                let rc = unsafe {
                    libc::mount(
                        fstype.as_ptr(),
                        target.as_ptr(),
                        fstype.as_ptr(),
                        0,
                        std::ptr::null(),
                    )
                };
                assert_eq!(rc, 0, "mount sysfs: {}", std::io::Error::last_os_error());
                // The mount dies with this thread's mount namespace.
                f(dir)
            })
            .join()
            .unwrap()
        });
        let _ = std::fs::remove_dir(&dir);
        r
    }

    fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn enter_netns(path: &Path) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("open {path:?}: {e}"));
    // SAFETY: f is an open namespace file; setns affects only this thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "nfto-{}-{}-{tag}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
