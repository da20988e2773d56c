//! The netifd test double (examples/netifd_double.rs) against a real ubusd,
//! observed with the real `ubus-client`: the dump format, status codes, and
//! the event + notification pair netifd sends when an interface goes up or
//! down. Needs `ubusd` and `ubus-client` (`cargo install --locked ubusd
//! ubus-client`); fails, not skips, without them.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
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

/// `cargo test` builds examples next to the test binaries' directory, but
/// `cargo test --test X` does not: refuse to test a stale double.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().unwrap().parent().unwrap();
    let p = debug.join("examples").join(name);
    let fix = format!("run `cargo build --example {name}` or plain `cargo test`");
    let built = std::fs::metadata(&p)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} not built: {fix}", p.display()));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The sources the example includes (its `#[path]` modules).
    let mut sources = vec![
        root.join(format!("examples/{name}.rs")),
        root.join("src/error.rs"),
    ];
    for e in std::fs::read_dir(root.join("src/ubus")).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "rs") {
            sources.push(e.path());
        }
    }
    for src in sources {
        let changed = std::fs::metadata(&src).unwrap().modified().unwrap();
        assert!(
            changed <= built,
            "{} is older than {}: {fix}",
            p.display(),
            src.display()
        );
    }
    p
}

/// Children killed (by handle) when the test ends, pass or fail.
struct Kids(Vec<Child>);
impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn client(sock: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(find_tool("ubus-client"))
        .arg("-s")
        .arg(sock)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Spawn a streaming `ubus-client` whose JSON lines arrive on a channel.
fn stream(kids: &mut Kids, sock: &Path, args: &[&str]) -> Receiver<Value> {
    let mut child = Command::new(find_tool("ubus-client"))
        .arg("-s")
        .arg(sock)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    kids.0.push(child);
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if let Ok(v) = serde_json::from_str(&line) {
                if tx.send(v).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

fn next_matching(rx: &Receiver<Value>, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + T;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(v) if pred(&v) => return v,
            Ok(_) => continue,
            Err(_) => panic!("never saw {what}"),
        }
    }
}

fn write_ifaces(path: &Path, v: Value) {
    std::fs::write(path, v.to_string()).unwrap();
}

fn hup(child: &Child) {
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
}

#[test]
fn netifd_double_dumps_like_netifd_and_announces_up_and_down() {
    let dir = std::env::temp_dir().join(format!("nftoffload-netifd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("ubus.sock");
    let file = dir.join("ifaces.json");
    let mut kids = Kids(Vec::new());

    kids.0.push(
        Command::new(find_tool("ubusd"))
            .arg("-s")
            .arg(&sock)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let until = Instant::now() + T;
    while UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < until, "ubusd did not come up");
        std::thread::sleep(Duration::from_millis(10));
    }

    let lan = json!({"interface": "lan", "up": true, "device": "br-lan",
                     "ipv4-address": [{"address": "192.168.1.1", "mask": 24}]});
    let wan = json!({"interface": "wan", "up": false, "proto": "dhcp", "device": "eth1"});
    write_ifaces(&file, json!([lan, wan]));
    kids.0.push(
        Command::new(example("netifd_double"))
            .arg(&sock)
            .arg(&file)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let double = kids.0.len() - 1;
    let (code, _) = client(&sock, &["-t", "5", "wait_for", "network.interface"]);
    assert_eq!(code, 0, "double never registered");

    // dump: netifd's shape, keys in netifd's order.
    let (code, out) = client(&sock, &["call", "network.interface", "dump"]);
    assert_eq!(code, 0);
    let dump: Value = serde_json::from_str(&out).unwrap();
    let l = &dump["interface"][0];
    assert_eq!(l["interface"], "lan");
    assert_eq!(l["up"], true);
    assert_eq!(l["device"], "br-lan");
    assert_eq!(l["l3_device"], "br-lan");
    assert_eq!(l["proto"], "static");
    assert_eq!(l["ipv4-address"][0]["address"], "192.168.1.1");
    let w = &dump["interface"][1];
    assert_eq!(w["interface"], "wan");
    assert_eq!(w["up"], false);
    assert_eq!(w["device"], "eth1");
    assert!(
        w.get("l3_device").is_none(),
        "netifd omits l3_device when down"
    );
    assert!(w.get("ipv4-address").is_none());

    assert_eq!(
        client(
            &sock,
            &[
                "call",
                "network.interface",
                "status",
                r#"{"interface":"dmz"}"#
            ]
        )
        .0,
        4
    );
    assert_eq!(
        client(&sock, &["call", "network.interface", "status", "{}"]).0,
        2
    );
    let (code, out) = client(
        &sock,
        &[
            "call",
            "network.interface",
            "status",
            r#"{"interface":"lan"}"#,
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["l3_device"],
        "br-lan"
    );

    // Watch events and notifications. Both clients register asynchronously:
    // toggle a throwaway interface until each has seen something.
    let events = stream(&mut kids, &sock, &["listen", "network.interface"]);
    let notes = stream(&mut kids, &sock, &["subscribe", "network.interface"]);
    let probe = |up: bool| json!({"interface": "probe", "up": up, "device": "dummy0"});
    let (mut seen_ev, mut seen_note, mut up) = (false, false, true);
    let until = Instant::now() + T;
    while !(seen_ev && seen_note) {
        assert!(Instant::now() < until, "listen/subscribe never got going");
        write_ifaces(&file, json!([lan, wan, probe(up)]));
        hup(&kids.0[double]);
        up = !up;
        std::thread::sleep(Duration::from_millis(50));
        seen_ev |= events.try_iter().count() > 0;
        seen_note |= notes.try_iter().count() > 0;
    }

    // wan comes up: event first (as netifd), then interface.update.
    let wan_up = json!({"interface": "wan", "up": true, "proto": "dhcp", "device": "eth1",
                        "l3_device": "pppoe-wan"});
    write_ifaces(&file, json!([lan, wan_up]));
    hup(&kids.0[double]);
    let is = |name: &'static str| move |v: &Value| v["data"]["interface"] == name;
    let ev = next_matching(&events, "ifup wan", is("wan"));
    assert_eq!(ev["event"], "network.interface");
    assert_eq!(ev["data"], json!({"action": "ifup", "interface": "wan"}));
    let note = next_matching(&notes, "interface.update wan", is("wan"));
    assert_eq!(note["event"], "interface.update");
    assert_eq!(note["data"]["up"], true);
    assert_eq!(note["data"]["l3_device"], "pppoe-wan");

    // lan goes down.
    let lan_down = json!({"interface": "lan", "up": false, "device": "br-lan"});
    write_ifaces(&file, json!([lan_down, wan_up]));
    hup(&kids.0[double]);
    let ev = next_matching(&events, "ifdown lan", is("lan"));
    assert_eq!(ev["data"], json!({"action": "ifdown", "interface": "lan"}));
    let note = next_matching(&notes, "interface.down lan", is("lan"));
    assert_eq!(note["event"], "interface.down");
    assert_eq!(note["data"]["up"], false);

    drop(kids);
    let _ = std::fs::remove_dir_all(&dir);
}
