//! Shared harness of the host robustness tests (tests/robust_*.rs): the
//! real `nftoffload daemon` in a network namespace of its own, against a
//! real broker (`ubusd` on a temp socket), driven through the library's
//! own ubus client (`nft_offload::ubus::call`, fast enough for campaigns of
//! thousands of calls) or the real `ubus-client`. Everything is torn down
//! on drop, children by their handles, never by name.
//!
//! Needs root (`ip netns add`) and `ubusd`/`ubus-client` (`cargo install
//! --locked ubusd ubus-client`); it FAILS, never skips, without them.

#![allow(dead_code)]

use nft_offload::ubus::{call, CallError};
use serde_json::Value;
use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(5);
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

pub const FIREWALL: &str = "config defaults\n\toption input 'ACCEPT'\n\
\toption output 'ACCEPT'\n\toption forward 'REJECT'\n\n\
config zone\n\toption name 'lan'\n\tlist device 'lan0'\n\n\
config zone\n\toption name 'guest'\n\tlist device 'gst0'\n\n\
config zone\n\toption name 'wan'\n\tlist device 'wan0'\n";

pub const NFTOFFLOAD: &str = "config globals 'globals'\n\toption enabled '1'\n\n\
config zone\n\toption name 'lan'\n\toption mode 'software'\n\n\
config zone\n\toption name 'wan'\n\toption mode 'hardware'\n\n\
config zone\n\toption name 'guest'\n\toption mode 'off'\n";

pub fn tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.push(PathBuf::from("/root/.cargo/bin"));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed, so the robustness tests cannot run. \
                 Install it with: cargo install --locked ubusd ubus-client"
            )
        })
}

pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the robustness tests need root (network namespaces, other users); CI runs as root"
    );
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn sh(script: &str) -> Output {
    run(Command::new("bash")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null()))
}

pub fn sh_ok(script: &str) -> String {
    let o = sh(script);
    assert!(
        o.status.success(),
        "{script}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A pseudo-terminal for the daemon's stderr: it logs to stderr only when
/// that is a terminal (else to syslog, which this host lacks).
fn pty_log() -> (File, Arc<Mutex<String>>) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: two out-pointers; name, termios and winsize may be null.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two fresh descriptors that we now own.
    let (master, slave) = unsafe {
        (
            File::from(OwnedFd::from_raw_fd(master)),
            File::from(OwnedFd::from_raw_fd(slave)),
        )
    };
    let buf = Arc::new(Mutex::new(String::new()));
    let sink = buf.clone();
    std::thread::spawn(move || {
        let mut master = master;
        let mut chunk = [0u8; 4096];
        while let Ok(n) = master.read(&mut chunk) {
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&chunk[..n]).replace('\r', "");
            sink.lock().unwrap().push_str(&text);
        }
    });
    (slave, buf)
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// One test's world: temp dir (config, ubus socket), netns, ubusd, daemon.
pub struct Rig {
    pub dir: PathBuf,
    pub cfg: PathBuf,
    pub sock: PathBuf,
    pub ns: String,
    pub acl_dir: Option<PathBuf>,
    pub ubusd: Option<Child>,
    pub daemon: Option<Child>,
    pub log: Arc<Mutex<String>>,
}

impl Rig {
    pub fn new(tag: &str) -> Rig {
        require_root();
        tool("ubusd");
        let id = format!(
            "{}-{}-{tag}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let dir = std::env::temp_dir().join(format!("nftoffload-robust-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = dir.join("config");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("firewall"), FIREWALL).unwrap();
        std::fs::write(cfg.join("nftoffload"), NFTOFFLOAD).unwrap();
        let ns = format!("nfrb-{id}");
        let out = run(Command::new("ip").args(["netns", "add", &ns]));
        assert!(
            out.status.success(),
            "ip netns add {ns}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Rig {
            sock: dir.join("ubus.sock"),
            dir,
            cfg,
            ns,
            acl_dir: None,
            ubusd: None,
            daemon: None,
            log: Arc::new(Mutex::new(String::new())),
        }
    }

    pub fn started(tag: &str) -> Rig {
        let mut r = Rig::new(tag);
        r.start_ubusd();
        r.start_daemon();
        r
    }

    pub fn start_ubusd(&mut self) {
        let mut cmd = Command::new(tool("ubusd"));
        cmd.arg("-s").arg(&self.sock);
        if let Some(acl) = &self.acl_dir {
            cmd.arg("-A").arg(acl);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.ubusd = Some(child);
        let until = Instant::now() + WAIT;
        while UnixStream::connect(&self.sock).is_err() {
            assert!(Instant::now() < until, "ubusd did not come up");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn kill_ubusd(&mut self) {
        if let Some(mut c) = self.ubusd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.sock);
    }

    /// The daemon in the rig's netns (`ip netns exec` execs it, so the
    /// child is the daemon), stderr on a pty; waits for registration.
    pub fn start_daemon(&mut self) {
        let (tty, log) = pty_log();
        self.log = log;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .arg(env!("CARGO_BIN_EXE_nftoffload"))
            .arg("daemon")
            .arg("--config-dir")
            .arg(&self.cfg)
            .arg("--ubus-socket")
            .arg(&self.sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(tty)
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        assert!(
            self.wait_registered(WAIT).is_some(),
            "the daemon did not register on ubus:\n{}",
            self.log()
        );
    }

    /// Poll `status` until it answers; the time it took.
    pub fn wait_registered(&mut self, within: Duration) -> Option<Duration> {
        let t0 = Instant::now();
        while t0.elapsed() < within {
            if let Some(s) = self.daemon.as_mut().and_then(|d| d.try_wait().unwrap()) {
                panic!("the daemon exited ({s}):\n{}", self.log());
            }
            if self.call("status", &serde_json::json!({})).is_ok() {
                return Some(t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    pub fn call(&self, method: &str, args: &Value) -> Result<Value, CallError> {
        call(&self.sock, "nftoffload", method, args, CALL_TIMEOUT)
    }

    /// The ubus status code of a call: 0 on success.
    pub fn code(&self, method: &str, args: &Value) -> i32 {
        match self.call(method, args) {
            Ok(_) => 0,
            Err(e) => e.status(),
        }
    }

    /// `status` as the exact JSON text the daemon sent (key order kept).
    pub fn status_text(&self) -> String {
        let v = self
            .call("status", &serde_json::json!({}))
            .unwrap_or_else(|e| panic!("status: {e}\n{}", self.log()));
        serde_json::to_string(&v).unwrap()
    }

    pub fn daemon_pid(&self) -> u32 {
        self.daemon.as_ref().expect("daemon running").id()
    }

    pub fn assert_alive(&mut self, when: &str) {
        let log = self.log();
        let d = self.daemon.as_mut().expect("daemon started");
        if let Some(s) = d.try_wait().unwrap() {
            panic!("the daemon exited {when} ({s}):\n{log}");
        }
    }

    /// utime + stime of the daemon, in clock ticks (/proc/PID/stat).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.daemon_pid())).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        // fields 14 and 15 of stat; after "pid (comm) " index 11 and 12
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }

    pub fn config_bytes(&self) -> Vec<u8> {
        std::fs::read(self.cfg.join("nftoffload")).unwrap()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn in_ns(&self, script: &str) -> Output {
        run(Command::new("ip")
            .args(["netns", "exec", &self.ns, "bash", "-c", script])
            .stdin(Stdio::null()))
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        self.kill_ubusd();
        let _ = run(Command::new("ip").args(["netns", "delete", &self.ns]));
        let _ = std::fs::remove_dir_all(&self.dir);
        if std::thread::panicking() {
            eprintln!("--- daemon log ---\n{}", self.log());
        }
    }
}

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
