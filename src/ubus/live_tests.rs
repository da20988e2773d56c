//! Tests against a real broker (`ubusd`, the pure-Rust reimplementation
//! that matches OpenWrt's C broker on the wire) and a real client
//! (`ubus-client`). Both must be installed (`cargo install --locked ubusd
//! ubus-client`); when they are not, these tests FAIL saying so, because a
//! skipped ubus test would hide exactly the breakage they exist to catch.

use super::*;
use serde_json::{json, Map, Value};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

fn find_tool(name: &str) -> PathBuf {
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
                "`{name}` is not installed, so the ubus tests cannot run. \
                 Install it with: cargo install --locked ubusd ubus-client"
            )
        })
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A private ubusd on a socket in a fresh temporary directory.
struct Broker {
    dir: PathBuf,
    sock: PathBuf,
    child: Option<Child>,
}

impl Broker {
    fn start() -> Broker {
        let dir = std::env::temp_dir().join(format!(
            "nftoffload-ubus-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("ubus.sock");
        let mut b = Broker {
            dir,
            sock,
            child: None,
        };
        b.restart();
        b
    }

    fn restart(&mut self) {
        let child = Command::new(find_tool("ubusd"))
            .arg("-s")
            .arg(&self.sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let until = Instant::now() + T;
        while UnixStream::connect(&self.sock).is_err() {
            assert!(Instant::now() < until, "ubusd did not come up");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Run `ubus-client -s SOCK ARGS...`: (exit code, stdout, stderr).
fn ubus_client(sock: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(find_tool("ubus-client"))
        .arg("-s")
        .arg(sock)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn poll_in(fd: std::os::unix::io::RawFd, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, ms) > 0 }
}

type TestHandler =
    Box<dyn FnMut(&str, &Map<String, Value>) -> Result<Value, (Status, String)> + Send>;

/// A server driven the way the daemon drives it (poll, then process) on a
/// thread, until stopped or until `process` reports the broker gone.
struct Serving {
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<crate::error::Result<()>>>,
}

impl Serving {
    fn start(mut server: Server, mut handler: TestHandler) -> Serving {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let join = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                if server.pending() || poll_in(server.fd(), 20) {
                    server.process(&mut *handler)?;
                }
            }
            Ok(())
        });
        Serving {
            stop,
            join: Some(join),
        }
    }

    fn finish(mut self) -> crate::error::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        self.join.take().unwrap().join().unwrap()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

/// A stand-in for the daemon's handler, following docs/ubus-api.md.
fn nftoffload_handler() -> TestHandler {
    Box::new(|method, a| match method {
        "status" => Ok(json!({
            "version": "0.1.0",
            "enabled": true,
            "zone_attribution": "ct-label",
            "zones": [{"name": "lan", "mode": "software", "effective": "software"}],
            "last_apply": {"ok": true, "error": ""}
        })),
        "set" => {
            let zone = args::require_str(a, "zone")?;
            let mode = args::require_str(a, "mode")?;
            if !["off", "software", "hardware"].contains(&mode) {
                return Err((
                    Status::InvalidArgument,
                    format!("mode '{mode}' is not off|software|hardware"),
                ));
            }
            if zone != "lan" {
                return Err((Status::NotFound, format!("no zone '{zone}'")));
            }
            Ok(json!({"name": zone, "mode": mode, "effective": mode}))
        }
        "flows" => {
            let limit = args::get_int_in(a, "limit", 1, 1000)?.unwrap_or(20);
            if limit == 999 {
                // Test hook: a reply far beyond ubus's 1 MiB message limit.
                let big = "x".repeat(60);
                return Ok(json!({ "flows": vec![big; 40_000] }));
            }
            Ok(json!({ "flows": [], "limit": limit }))
        }
        "reload" => Err((Status::UnknownError, "kernel said no".into())),
        _ => Err((Status::MethodNotFound, method.into())),
    })
}

fn serve_nftoffload(b: &Broker) -> Serving {
    let server = Server::connect(&b.sock, "nftoffload", NFTOFFLOAD_METHODS).unwrap();
    Serving::start(server, nftoffload_handler())
}

#[test]
fn list_shows_the_object_with_typed_argument_signatures() {
    let b = Broker::start();
    let _s = serve_nftoffload(&b);
    let (code, out, err) = ubus_client(&b.sock, &["list", "nftoffload"]);
    assert_eq!(code, 0, "{err}");
    let list: Value = serde_json::from_str(&out).unwrap();
    let obj = &list[0];
    assert_eq!(obj["path"], "nftoffload");
    // blobmsg types: 3 = STRING, 5 = INT32 (what `ubus -v list` names).
    assert_eq!(
        obj["methods"],
        json!({"status": {}, "set": {"zone": 3, "mode": 3}, "reload": {}, "flows": {"limit": 5}})
    );
}

#[test]
fn a_call_returns_our_json_with_keys_in_document_order() {
    let b = Broker::start();
    let _s = serve_nftoffload(&b);
    let (code, out, err) = ubus_client(&b.sock, &["call", "nftoffload", "status", "{}"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["zones"][0]["effective"], "software");
    assert_eq!(v["last_apply"]["ok"], true);

    // ubus-client sorts keys; our own client keeps the wire order.
    let v = call(&b.sock, "nftoffload", "status", &json!({}), T).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "version",
            "enabled",
            "zone_attribution",
            "zones",
            "last_apply"
        ]
    );
    let v = call(
        &b.sock,
        "nftoffload",
        "set",
        &json!({"zone": "lan", "mode": "hardware"}),
        T,
    )
    .unwrap();
    assert_eq!(
        v,
        json!({"name": "lan", "mode": "hardware", "effective": "hardware"})
    );
}

#[test]
fn status_codes_reach_the_caller_as_ubus_exit_codes() {
    let b = Broker::start();
    let _s = serve_nftoffload(&b);
    let cases: &[(&str, &str, i32)] = &[
        ("set", r#"{"zone":"dmz","mode":"off"}"#, 4),
        ("set", r#"{"zone":"lan","mode":"turbo"}"#, 2),
        ("set", r#"{"zone":"lan","mode":1}"#, 2),
        ("set", r#"{"zone":"lan"}"#, 2),
        ("set", r#"{"zone":"lan","mode":"off","extra":1}"#, 2),
        ("flows", r#"{"limit":"ten"}"#, 2),
        ("flows", r#"{"limit":5000}"#, 2),
        ("reload", "{}", 9),
        ("frobnicate", "{}", 3),
    ];
    for (method, args, want) in cases {
        let (code, _, err) = ubus_client(&b.sock, &["call", "nftoffload", method, args]);
        assert_eq!(code, *want, "{method} {args}: {err}");
    }
    let long_zone = format!(r#"{{"zone":"{}","mode":"off"}}"#, "z".repeat(65));
    let (code, _, _) = ubus_client(&b.sock, &["call", "nftoffload", "set", &long_zone]);
    assert_eq!(
        code, 2,
        "a zone name over 64 bytes must be INVALID_ARGUMENT"
    );

    let e = call(
        &b.sock,
        "nftoffload",
        "set",
        &json!({"zone": "dmz", "mode": "off"}),
        T,
    )
    .unwrap_err();
    assert_eq!(e.status(), 4);
    assert_eq!(
        e.to_string(),
        "ubus call nftoffload set failed: Not found (4 NOT_FOUND)"
    );
    // Integers arrive as blobmsg int64 from ubus-client / our client: accepted.
    let v = call(&b.sock, "nftoffload", "flows", &json!({"limit": 7}), T).unwrap();
    assert_eq!(v["limit"], 7);
}

#[test]
fn a_reply_over_one_mib_is_refused_and_the_server_stays_usable() {
    let b = Broker::start();
    let s = serve_nftoffload(&b);
    let (code, out, err) = ubus_client(
        &b.sock,
        &["call", "nftoffload", "flows", r#"{"limit":999}"#],
    );
    assert_eq!(
        code, 9,
        "oversized reply must be UNKNOWN_ERROR: {out} {err}"
    );
    let (code, _, err) = ubus_client(&b.sock, &["call", "nftoffload", "status"]);
    assert_eq!(code, 0, "server unusable after refusing a reply: {err}");
    s.finish().unwrap();
}

#[test]
fn replies_up_to_the_limit_arrive_whole() {
    let b = Broker::start();
    let server = Server::connect(
        &b.sock,
        "big",
        &[MethodSig {
            name: "get",
            args: &[],
        }],
    )
    .unwrap();
    let _s = Serving::start(
        server,
        Box::new(|_, _| Ok(json!({"blob": "y".repeat(900 * 1024)}))),
    );
    let v = call(&b.sock, "big", "get", &json!({}), T).unwrap();
    assert_eq!(v["blob"].as_str().unwrap().len(), 900 * 1024);
}

#[test]
fn notifications_reach_subscribers() {
    let b = Broker::start();
    let mut server = Server::connect(&b.sock, "nftoffload", NFTOFFLOAD_METHODS).unwrap();
    let mut w = Watcher::subscribe(&b.sock, "nftoffload", T).unwrap();
    let state = json!({"zones": [{"name": "lan", "effective": "software"}], "reason": "apply"});
    server.notify("state", &state).unwrap();
    let ev = w.next(T).unwrap().expect("notification not delivered");
    assert_eq!(ev.name, "state");
    assert_eq!(ev.data, state);
    // The broker's own traffic (subscriber came, notify acks) is harmless.
    server.process(&mut *nftoffload_handler()).unwrap();

    // The stock CLI subscriber sees it too. It subscribes asynchronously, so
    // keep notifying until its first line arrives.
    let mut child = Command::new(find_tool("ubus-client"))
        .arg("-s")
        .arg(&b.sock)
        .args(["-n", "1", "subscribe", "nftoffload"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + T;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < until, "ubus-client subscribe got nothing");
        server.notify("state", &state).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["event"], "state");
    assert_eq!(line["data"], state);
}

#[test]
fn broker_restart_is_an_error_from_process_and_connect_works_again() {
    let mut b = Broker::start();
    let mut server = Server::connect(&b.sock, "nftoffload", NFTOFFLOAD_METHODS).unwrap();
    let mut h = nftoffload_handler();
    server.process(&mut *h).unwrap();
    b.kill();
    // The daemon's loop: poll says readable (hangup), process says gone.
    assert!(poll_in(server.fd(), 5000));
    let e = server.process(&mut *h).unwrap_err();
    assert!(e.to_string().contains("closed"), "{e}");
    drop(server);

    // While ubusd is down, connecting fails fast and names the socket.
    let t0 = Instant::now();
    let e = Server::connect(&b.sock, "nftoffload", NFTOFFLOAD_METHODS)
        .err()
        .unwrap();
    assert!(e.to_string().contains("ubus.sock"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(1));

    b.restart();
    let _s = serve_nftoffload(&b);
    let v = call(&b.sock, "nftoffload", "status", &json!({}), T).unwrap();
    assert_eq!(v["enabled"], true);
}

#[test]
fn client_errors_say_what_is_missing() {
    let b = Broker::start();
    let e = call(&b.sock, "nftoffload", "status", &json!({}), T).unwrap_err();
    assert_eq!(
        e.to_string(),
        "nftoffload daemon is not running (no ubus object 'nftoffload')"
    );
    assert_eq!(e.status(), 4);

    let nowhere = b.dir.join("missing.sock");
    let e = call(&nowhere, "nftoffload", "status", &json!({}), T).unwrap_err();
    assert!(matches!(e, CallError::Connect { .. }));
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "cannot connect to ubus at {}: is ubusd running?",
            nowhere.display()
        )),
        "{msg}"
    );
    assert_eq!(e.status(), Status::ConnectionFailed.code());
}

#[test]
fn a_silent_object_times_out_with_a_timeout_error() {
    let b = Broker::start();
    // Registered, but nobody ever reads its socket.
    let _mute = Server::connect(
        &b.sock,
        "mute",
        &[MethodSig {
            name: "x",
            args: &[],
        }],
    )
    .unwrap();
    let t0 = Instant::now();
    let e = call(&b.sock, "mute", "x", &json!({}), Duration::from_millis(300)).unwrap_err();
    assert!(matches!(e, CallError::Timeout { .. }), "{e:?}");
    assert_eq!(e.status(), 7);
    assert!(t0.elapsed() < T);
}

#[test]
fn events_are_received_and_other_objects_callable_on_the_daemon_connection() {
    let b = Broker::start();
    // A stand-in for netifd.
    let netifd = Server::connect(
        &b.sock,
        "network.interface",
        &[MethodSig {
            name: "dump",
            args: &[],
        }],
    )
    .unwrap();
    let _n = Serving::start(
        netifd,
        Box::new(|_, _| Ok(json!({"interface": [{"interface": "lan", "up": true}]}))),
    );
    let mut server = Server::connect(&b.sock, "nftoffload", NFTOFFLOAD_METHODS).unwrap();
    server.listen("network.interface").unwrap();
    let dump = server
        .call("network.interface", "dump", &json!({}), T)
        .unwrap();
    assert_eq!(dump["interface"][0]["interface"], "lan");

    let (code, _, err) = ubus_client(
        &b.sock,
        &[
            "send",
            "network.interface",
            r#"{"action":"ifdown","interface":"wan"}"#,
        ],
    );
    assert_eq!(code, 0, "{err}");
    let mut h = nftoffload_handler();
    let until = Instant::now() + T;
    let events = loop {
        assert!(Instant::now() < until, "event never arrived");
        if server.pending() || poll_in(server.fd(), 100) {
            server.process(&mut *h).unwrap();
        }
        let ev = server.take_events();
        if !ev.is_empty() {
            break ev;
        }
    };
    assert_eq!(
        events,
        vec![Event {
            name: "network.interface".into(),
            data: json!({"action": "ifdown", "interface": "wan"})
        }]
    );
}

/// Round-trip latency of a status-like call through the Server (printed;
/// run with --nocapture). No assertion on time: machines differ.
#[test]
fn measure_status_round_trip_latency() {
    let b = Broker::start();
    let _s = serve_nftoffload(&b);
    // Steady state: one client connection, 100 calls.
    let mut t = super::transport::StreamTransport::connect(&b.sock).unwrap();
    t.set_deadline(Some(Instant::now() + T));
    let mut client = ubus::client::UbusClient::connect(t).unwrap();
    let id = client.lookup("nftoffload").unwrap();
    client.transport_mut().set_deadline(None);
    let empty = ubus::BlobMsgTable::empty();
    let mut rtt: Vec<Duration> = (0..100)
        .map(|_| {
            let t0 = Instant::now();
            client.invoke(id, "status", &empty).unwrap();
            t0.elapsed()
        })
        .collect();
    rtt.sort();
    // The CLI's path: connect + hello + lookup + call, each time.
    let mut full: Vec<Duration> = (0..100)
        .map(|_| {
            let t0 = Instant::now();
            call(&b.sock, "nftoffload", "status", &json!({}), T).unwrap();
            t0.elapsed()
        })
        .collect();
    full.sort();
    eprintln!(
        "status round trip over 100 calls: p50 {:?} p90 {:?}; one-shot call() p50 {:?} p90 {:?}",
        rtt[50], rtt[90], full[50], full[90]
    );
}
