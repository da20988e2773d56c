//! `nftoffload daemon` on this host, whose kernel has NO nftables flowtable
//! support: the router without `kmod-nft-offload`. Everything is real: the
//! binary runs in a fresh network namespace of its own, against a real
//! broker (`ubusd` on a temp socket) and is driven with the real
//! `ubus-client`, exactly as LuCI's rpcd or a shell user would. What is
//! checked is what a router owner sees: status says why nothing is
//! offloaded and which package to install, `set` is refused without
//! touching the config, hostile input never kills or changes the daemon,
//! the CLI says clearly when the daemon or ubusd is missing, and the
//! service survives ubusd restarts, reloads on HUP and exits cleanly on TERM.
//!
//! Needs root (for `ip netns`) and `ubusd`/`ubus-client` (`cargo install
//! --locked ubusd ubus-client`); it FAILS, never skips, without them.

use serde_json::{json, Value};
use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bound on every wait (registration, re-registration, reload, exit).
const WAIT: Duration = Duration::from_secs(5);
/// The package a user has to install; status must name it.
const KMOD: &str = "kmod-nft-offload";
const FLOW_MODULES: [&str; 3] = ["nf_flow_table", "nf_flow_table_inet", "nft_flow_offload"];

fn tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed, so the daemon tests cannot run. \
                 Install it with: cargo install --locked ubusd ubus-client"
            )
        })
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the daemon tests need root: they run the daemon in a network namespace \
         of their own (ip netns add). Run `cargo test --test daemon_host` as root (CI does)."
    );
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/daemon")
        .join(name)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// `ubus-client -s SOCK ARGS...`: (exit code, stdout, stderr).
fn ubus(sock: &Path, args: &[&str]) -> (i32, String, String) {
    let out = run(Command::new(tool("ubus-client"))
        .arg("-s")
        .arg(sock)
        .args(args)
        .stdin(Stdio::null()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `nftoffload ARGS...` (the CLI): (exit code, stdout, stderr).
fn cli(args: &[&str]) -> (i32, String, String) {
    let out = run(Command::new(env!("CARGO_BIN_EXE_nftoffload"))
        .args(args)
        .stdin(Stdio::null()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let until = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() > until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: signalling our own, not yet reaped child by its pid.
    let r = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(r, 0, "kill({}, {sig}) failed", child.id());
}

/// A pseudo-terminal for the daemon's stderr: the daemon logs to stderr
/// only when it is a terminal (else to syslog, which this host lacks), and
/// the log is what a failing test should show. Returns the slave end for
/// the child and a buffer a thread fills from the master end.
fn pty_log() -> (File, Arc<Mutex<String>>) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: two out-pointers to ints; name, termios and winsize may be null.
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
        // EIO once every slave descriptor is closed (the daemon exited).
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

/// One test's world: a temp dir with the config and the ubus socket, a
/// network namespace, ubusd, the daemon. Everything is torn down on drop,
/// children by their handles; a failing test prints the daemon's log.
struct Rig {
    dir: PathBuf,
    cfg: PathBuf,
    sock: PathBuf,
    ns: String,
    ubusd: Option<Child>,
    daemon: Option<Child>,
    log: Arc<Mutex<String>>,
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

impl Rig {
    /// Dir, config (from tests/fixtures/daemon), namespace; nothing running.
    fn new(tag: &str) -> Rig {
        require_root();
        tool("ubusd");
        tool("ubus-client");
        let id = format!(
            "{}-{}-{tag}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let dir = std::env::temp_dir().join(format!("nftoffload-daemon-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = dir.join("config");
        std::fs::create_dir_all(&cfg).unwrap();
        for f in ["firewall", "nftoffload"] {
            std::fs::copy(fixture(f), cfg.join(f)).unwrap();
        }
        let ns = format!("nfto-{id}");
        let out = run(Command::new("ip").args(["netns", "add", &ns]));
        assert!(
            out.status.success(),
            "ip netns add {ns} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Rig {
            sock: dir.join("ubus.sock"),
            dir,
            cfg,
            ns,
            ubusd: None,
            daemon: None,
            log: Arc::new(Mutex::new(String::new())),
        }
    }

    /// The whole setup: ubusd, then the daemon, registered on ubus.
    fn started(tag: &str) -> Rig {
        let mut r = Rig::new(tag);
        r.start_ubusd();
        r.start_daemon();
        r
    }

    fn start_ubusd(&mut self) {
        let child = Command::new(tool("ubusd"))
            .arg("-s")
            .arg(&self.sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.ubusd = Some(child);
        let until = Instant::now() + WAIT;
        while UnixStream::connect(&self.sock).is_err() {
            assert!(
                Instant::now() < until,
                "ubusd did not come up on {:?}",
                self.sock
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill_ubusd(&mut self) {
        if let Some(mut c) = self.ubusd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `ip netns exec NS nftoffload daemon ...`; waits until the object is
    /// on ubus. `ip netns exec` execs the command, so the child IS the
    /// daemon (checked), and signals and the exit code are its own.
    fn start_daemon(&mut self) {
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
        let pid = child.id();
        self.daemon = Some(child);
        self.wait_registered("the daemon did not register its ubus object after start");
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        assert_eq!(
            comm.trim(),
            "nftoffload",
            "pid {pid} is not the daemon itself"
        );
    }

    fn wait_registered(&mut self, what: &str) {
        let until = Instant::now() + WAIT;
        loop {
            let (code, out, _) = ubus(&self.sock, &["list", "nftoffload"]);
            if code == 0 && out.contains("\"nftoffload\"") {
                return;
            }
            if let Some(s) = self.daemon_exited() {
                panic!("{what}: the daemon exited ({s})");
            }
            assert!(Instant::now() < until, "{what} within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn daemon_exited(&mut self) -> Option<ExitStatus> {
        self.daemon.as_mut()?.try_wait().unwrap()
    }

    fn daemon(&mut self) -> &mut Child {
        self.daemon.as_mut().expect("daemon not started")
    }

    fn assert_alive(&mut self, pid: u32, when: &str) {
        let d = self.daemon();
        assert_eq!(d.id(), pid);
        if let Some(s) = d.try_wait().unwrap() {
            panic!("the daemon (pid {pid}) died {when}: {s}");
        }
    }

    fn call(&self, method: &str, args: &str) -> (i32, String, String) {
        ubus(&self.sock, &["call", "nftoffload", method, args])
    }

    /// `status` as the raw text ubus-client printed (for byte comparisons).
    fn status_raw(&self) -> String {
        let (code, out, err) = self.call("status", "{}");
        assert_eq!(code, 0, "status failed: {err}");
        out
    }

    fn status(&self) -> Value {
        serde_json::from_str(&self.status_raw()).expect("status is not JSON")
    }

    fn config(&self) -> Vec<u8> {
        std::fs::read(self.cfg.join("nftoffload")).unwrap()
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        self.kill_ubusd();
        if std::thread::panicking() {
            // let the pty reader drain what the daemon wrote last
            std::thread::sleep(Duration::from_millis(100));
            eprintln!("---- daemon log ({}) ----\n{}", self.ns, self.log());
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.ns])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn zone<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["zones"]
        .as_array()
        .and_then(|zs| zs.iter().find(|z| z["name"] == name))
        .unwrap_or_else(|| panic!("no zone {name} in status: {status}"))
}

#[test]
fn missing_kmod_status_says_why_and_set_is_refused() {
    let mut rig = Rig::started("nokmod");
    let pid = rig.daemon().id();
    let st = rig.status();

    let k = &st["kernel"];
    assert_eq!(
        k["supported"], false,
        "this test models a router without {KMOD}, but the kernel reported \
         flowtable support; the VM tests cover that case. status: {st}"
    );
    assert_eq!(k["package"], KMOD);
    let missing: Vec<&str> = k["missing_modules"]
        .as_array()
        .expect("missing_modules is a list")
        .iter()
        .map(|m| m.as_str().expect("module names are strings"))
        .collect();
    assert!(!missing.is_empty(), "no missing module named: {st}");
    for m in &missing {
        assert!(FLOW_MODULES.contains(m), "unexpected missing module {m}");
    }
    let message = k["message"].as_str().unwrap();
    assert!(
        message.contains(KMOD) && missing.iter().all(|m| message.contains(m)),
        "the kernel message must name the package and the modules: {message}"
    );
    assert_eq!(st["flowtables"], json!([]), "no flowtable can exist here");
    assert_eq!(st["last_apply"]["ok"], false);
    assert_eq!(st["offloaded"]["software"], 0);
    assert_eq!(st["offloaded"]["hardware"], 0);

    // Every zone is off; those that asked for offload say why.
    let zones = st["zones"].as_array().unwrap();
    assert_eq!(zones.len(), 3, "lan, wan, guest: {st}");
    for (name, mode) in [("lan", "software"), ("wan", "hardware"), ("guest", "off")] {
        let z = zone(&st, name);
        assert_eq!(z["mode"], mode, "{z}");
        assert_eq!(z["effective"], "off", "{z}");
        if mode == "off" {
            assert_eq!(
                z["reason"], "",
                "nothing to explain for a zone set to off: {z}"
            );
        } else {
            assert_eq!(
                z["reason"], message,
                "zone {name} must give the kernel's reason"
            );
        }
        for d in z["devices"].as_array().unwrap() {
            assert_eq!(d["flowtable"], "none", "{z}");
        }
    }
    // The error is logged at start, for logread.
    let until = Instant::now() + WAIT;
    while !rig.log().contains(KMOD) {
        assert!(
            Instant::now() < until,
            "the daemon did not log the missing {KMOD}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // set: NOT_SUPPORTED, the config file and status unchanged.
    let before_cfg = rig.config();
    let before = rig.status_raw();
    for mode in ["off", "software", "hardware"] {
        for z in ["lan", "wan", "guest"] {
            let (code, out, _) = rig.call("set", &json!({"zone": z, "mode": mode}).to_string());
            assert_eq!(
                code, 8,
                "set {z} {mode} must be NOT_SUPPORTED (8), got {code}: {out}"
            );
        }
    }
    assert_eq!(
        rig.config(),
        before_cfg,
        "a refused set changed the config file"
    );
    assert_eq!(rig.status_raw(), before, "a refused set changed status");
    let (code, _, _) = rig.call("reload", "{}");
    assert_eq!(code, 8, "reload on this kernel must be NOT_SUPPORTED");
    rig.assert_alive(pid, "after the refused sets");

    // The CLI against the running daemon: status readable, set refused
    // with its code and a pointer to the reason.
    let sock = rig.sock.to_str().unwrap().to_string();
    let (code, out, err) = cli(&["status", "--ubus-socket", &sock]);
    assert_eq!(code, 0, "nftoffload status: {err}");
    assert!(
        out.contains(KMOD),
        "the status table must name {KMOD}:\n{out}"
    );
    let (code, out, err) = cli(&["status", "--json", "--ubus-socket", &sock]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kernel"]["supported"], false);
    let (code, _, err) = cli(&["set", "lan", "off", "--ubus-socket", &sock]);
    assert_eq!(code, 8, "nftoffload set on this kernel: {err}");
    assert!(
        err.contains("status"),
        "set's error must say where the reason is: {err}"
    );
    let (code, _, err) = cli(&["reload", "--ubus-socket", &sock]);
    assert_eq!(code, 8, "{err}");
    let (code, out, err) = cli(&["flows", "--json", "--ubus-socket", &sock]);
    assert_eq!(code, 0, "flows: {err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"flows": []})
    );
    assert_eq!(rig.config(), before_cfg);
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let mut rig = Rig::started("badinput");
    let pid = rig.daemon().id();
    let before = rig.status_raw();
    let before_cfg = rig.config();
    let big = "a".repeat(64 * 1024);
    let big_name = "a".repeat(65000);

    // (method, arguments, expected ubus status). On this kernel the order
    // of checks shows: name and mode first (2), then the zone (4), then
    // the kernel (8).
    let cases: Vec<(&str, Value, i32)> = vec![
        // wrong types
        ("set", json!({"zone": 1, "mode": "off"}), 2),
        ("set", json!({"zone": "lan", "mode": 1}), 2),
        ("set", json!({"zone": "lan", "mode": {"a": "off"}}), 2),
        ("set", json!({"zone": "lan", "mode": ["off"]}), 2),
        ("set", json!({"zone": "lan", "mode": true}), 2),
        ("set", json!({"zone": {"n": "lan"}, "mode": "off"}), 2),
        ("set", json!({"zone": ["lan"], "mode": "off"}), 2),
        ("set", json!({"zone": false, "mode": "off"}), 2),
        // bad mode, bad names
        ("set", json!({"zone": "lan", "mode": "turbo"}), 2),
        ("set", json!({"zone": "lan", "mode": ""}), 2),
        ("set", json!({"zone": "lan", "mode": "OFF"}), 2),
        ("set", json!({"zone": "lan", "mode": "software "}), 2),
        ("set", json!({"zone": "lan", "mode": "off\n"}), 2),
        ("set", json!({"zone": "la n", "mode": "off"}), 2),
        ("set", json!({"zone": "lan\n", "mode": "off"}), 2),
        ("set", json!({"zone": "", "mode": "off"}), 2),
        ("set", json!({"zone": "lan'", "mode": "off"}), 2),
        // an unknown zone with a bad mode is still a bad mode
        ("set", json!({"zone": "dmz", "mode": "turbo"}), 2),
        // 64 KiB strings, as a value and as a field name
        ("set", json!({"zone": big, "mode": "off"}), 2),
        ("set", json!({"zone": "lan", "mode": big}), 2),
        // (a blobmsg name is at most 65535 bytes: ubus-client itself
        // refuses 64 KiB names, so the longest it can send)
        (
            "set",
            json!({"zone": "lan", "mode": "off", big_name.as_str(): "x"}),
            2,
        ),
        // missing and extra fields
        ("set", json!({}), 2),
        ("set", json!({"zone": "lan"}), 2),
        ("set", json!({"mode": "off"}), 2),
        (
            "set",
            json!({"zone": "lan", "mode": "off", "force": true}),
            2,
        ),
        (
            "set",
            json!({"zone": "lan", "mode": "off", "extra": "x"}),
            2,
        ),
        ("status", json!({"verbose": 1}), 2),
        ("reload", json!({"now": true}), 2),
        // flows limits
        ("flows", json!({"limit": 0}), 2),
        ("flows", json!({"limit": 1001}), 2),
        ("flows", json!({"limit": -1}), 2),
        ("flows", json!({"limit": "x"}), 2),
        ("flows", json!({"limit": "5"}), 2),
        ("flows", json!({"limit": 5000000000i64}), 2),
        ("flows", json!({"limit": [5]}), 2),
        ("flows", json!({"limit": 5, "sort": "bytes"}), 2),
        // well-formed, but an unknown zone: NOT_FOUND
        ("set", json!({"zone": "dmz", "mode": "off"}), 4),
        ("set", json!({"zone": "wan6", "mode": "software"}), 4),
        // a valid fw4 identifier ('/' and '.' are allowed), no such zone
        ("set", json!({"zone": "../lan", "mode": "off"}), 4),
        // well-formed and known: the kernel cannot (NOT_SUPPORTED)
        ("set", json!({"zone": "lan", "mode": "off"}), 8),
    ];
    let mut wrong = Vec::new();
    for (method, args, want) in &cases {
        let text = args.to_string();
        let (code, out, err) = rig.call(method, &text);
        if code != *want {
            let mut shown = text.clone();
            shown.truncate(120);
            wrong.push(format!(
                "{method} {shown}: got {code}, want {want} (stdout {out:?}, stderr {err:?})"
            ));
        }
        rig.assert_alive(pid, &format!("after {method} {:.80}", text));
    }
    assert!(
        wrong.is_empty(),
        "wrong status codes:\n{}",
        wrong.join("\n")
    );

    // Good calls still work, and nothing changed.
    let (code, out, _) = rig.call("flows", r#"{"limit": 1000}"#);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"flows": []})
    );
    let (code, _, _) = rig.call("flows", r#"{"limit": 1}"#);
    assert_eq!(code, 0);
    rig.assert_alive(pid, "after all bad input");
    assert_eq!(
        rig.config(),
        before_cfg,
        "bad input changed the config file"
    );
    let after = rig.status_raw();
    assert_eq!(
        after, before,
        "status changed after bad input (nothing was applied, so even \
         last_apply.time must be the same)"
    );
}

#[test]
fn cli_says_clearly_when_ubusd_or_the_daemon_is_missing() {
    let mut rig = Rig::new("cli");
    let sock = rig.sock.to_str().unwrap().to_string();
    let commands: [&[&str]; 5] = [
        &["status"],
        &["status", "--json"],
        &["set", "lan", "off"],
        &["flows"],
        &["reload"],
    ];
    let each = |expect: &[&str], why: &str| {
        for c in commands {
            let mut args = c.to_vec();
            args.extend(["--ubus-socket", &sock]);
            let (code, out, err) = cli(&args);
            assert_ne!(code, 0, "nftoffload {c:?} exited 0 {why}: {out}");
            for e in expect {
                assert!(
                    err.contains(e),
                    "nftoffload {c:?} {why}: stderr must mention '{e}': {err:?}"
                );
            }
            assert!(
                err.lines().count() <= 3,
                "a short message, not a dump: {err:?}"
            );
        }
    };
    each(&["ubusd", &sock], "without ubusd");
    rig.start_ubusd();
    each(&["not running", "start"], "with ubusd but no daemon");

    // and once the daemon runs, the same commands reach it
    rig.start_daemon();
    let (code, _, err) = cli(&["status", "--ubus-socket", &sock]);
    assert_eq!(code, 0, "{err}");
    // the daemon gone again (TERM): back to "not running"
    signal(rig.daemon(), libc::SIGTERM);
    let s = wait_exit(rig.daemon(), WAIT).expect("the daemon did not exit on SIGTERM");
    assert_eq!(s.code(), Some(0));
    each(&["not running"], "after the daemon stopped");
}

#[test]
fn sigterm_exits_zero_and_leaves_ubus() {
    let mut rig = Rig::started("term");
    signal(rig.daemon(), libc::SIGTERM);
    let s = wait_exit(rig.daemon(), WAIT).expect("the daemon did not exit within 5 s of SIGTERM");
    assert_eq!(
        s.code(),
        Some(0),
        "SIGTERM must end the daemon with exit code 0: {s}"
    );
    let (code, out, _) = ubus(&rig.sock, &["list", "nftoffload"]);
    assert!(
        code != 0 || !out.contains("\"nftoffload\""),
        "the object is still on ubus after the daemon exited: {out}"
    );
    // SIGINT (Ctrl-C when run by hand) too
    rig.start_daemon();
    signal(rig.daemon(), libc::SIGINT);
    let s = wait_exit(rig.daemon(), WAIT).expect("the daemon did not exit on SIGINT");
    assert_eq!(s.code(), Some(0), "{s}");
}

#[test]
fn reregisters_after_ubusd_restarts() {
    let mut rig = Rig::started("ubusd");
    let pid = rig.daemon().id();
    let before = rig.status();
    for round in 1..=2 {
        rig.kill_ubusd();
        // away for a while: the daemon must keep running and keep retrying
        std::thread::sleep(Duration::from_millis(700));
        rig.assert_alive(pid, &format!("while ubusd was away (round {round})"));
        rig.start_ubusd();
        rig.wait_registered(&format!(
            "the daemon did not re-register after ubusd restarted (round {round})"
        ));
        rig.assert_alive(pid, "after re-registering");
        let (code, out, err) = rig.call("status", "{}");
        assert_eq!(code, 0, "status after ubusd restart: {err}");
        let now: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(now["zones"], before["zones"]);
        assert_eq!(now["kernel"], before["kernel"]);
        // methods work, not only the listing
        let (code, _, _) = rig.call("set", r#"{"zone":"dmz","mode":"off"}"#);
        assert_eq!(code, 4);
    }
    // still stops cleanly
    signal(rig.daemon(), libc::SIGTERM);
    let s = wait_exit(rig.daemon(), WAIT).expect("no exit on SIGTERM");
    assert_eq!(s.code(), Some(0));
}

#[test]
fn sighup_rereads_the_config_and_keeps_the_last_good_one() {
    let mut rig = Rig::started("hup");
    let pid = rig.daemon().id();
    assert_eq!(zone(&rig.status(), "lan")["mode"], "software");

    let path = rig.cfg.join("nftoffload");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen(
        "option name 'lan'\n\toption mode 'software'",
        "option name 'lan'\n\toption mode 'hardware'",
        1,
    );
    assert_ne!(edited, text, "fixture layout changed");
    std::fs::write(&path, &edited).unwrap();
    signal(rig.daemon(), libc::SIGHUP);
    let until = Instant::now() + WAIT;
    loop {
        let st = rig.status();
        if zone(&st, "lan")["mode"] == "hardware" {
            assert_eq!(zone(&st, "lan")["effective"], "off");
            assert_eq!(
                zone(&st, "wan")["mode"],
                "hardware",
                "other zones unchanged"
            );
            break;
        }
        assert!(
            Instant::now() < until,
            "SIGHUP did not re-read the config: {st}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    rig.assert_alive(pid, "after SIGHUP");

    // A broken file on HUP: the daemon keeps running with the last good
    // config and says why in its log.
    let good = rig.status_raw();
    std::fs::write(&path, edited.replace("'hardware'", "'turbo'")).unwrap();
    signal(rig.daemon(), libc::SIGHUP);
    let until = Instant::now() + WAIT;
    while !rig.log().contains("turbo") {
        assert!(
            Instant::now() < until,
            "a config with mode 'turbo' was not reported in the log"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    rig.assert_alive(pid, "after SIGHUP with a broken config");
    let st = rig.status();
    assert_eq!(
        zone(&st, "lan")["mode"],
        "hardware",
        "kept the last good config"
    );
    let g: Value = serde_json::from_str(&good).unwrap();
    assert_eq!(st["zones"], g["zones"]);

    // fixed again: picked up
    std::fs::write(&path, &text).unwrap();
    signal(rig.daemon(), libc::SIGHUP);
    let until = Instant::now() + WAIT;
    while zone(&rig.status(), "lan")["mode"] != "software" {
        assert!(Instant::now() < until, "the fixed config was not picked up");
        std::thread::sleep(Duration::from_millis(50));
    }
}
