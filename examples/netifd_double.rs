//! TEST DOUBLE of netifd's `network.interface` ubus object, for tests and
//! VMs that have ubusd but no netifd. It is not netifd: it configures
//! nothing and only reports what a JSON file says.
//!
//! What it reproduces, checked against netifd's `ubus.c` and
//! `interface-event.c`:
//! - `ubus call network.interface dump` → `{"interface": [{...}, ...]}`,
//!   each entry `interface` followed by the keys of `netifd_dump_status`
//!   in netifd's order (`up`, `pending`, `available`, `autostart`, then
//!   `uptime` and `l3_device` when up, `proto`, `device`, the address/route
//!   lists when up, `data`);
//! - `ubus call network.interface status {"interface": "lan"}`, the same
//!   entry without `interface` (NOT_FOUND for an unknown name);
//! - on a change of an interface's up state, first the broadcast event
//!   `network.interface` `{"action": "ifup"|"ifdown", "interface": NAME}`,
//!   then the notification `interface.update` / `interface.down` on the
//!   object carrying `{"interface": NAME, ...status}`.
//!
//! Not reproduced: the per-interface `network.interface.NAME` objects and
//! the other methods (up, down, add_device, ...).
//!
//! Usage: `netifd_double SOCKET INTERFACES.json`; `kill -HUP` re-reads the
//! file and sends the events for what changed. The file holds a list of
//! `{"interface": "lan", "up": true, "proto": "static", "device": "br-lan",
//! "l3_device": "br-lan"}`; `l3_device` defaults to `device`; the
//! address/route lists (`ipv4-address`, ...) may be given and are passed
//! through.

use nft_offload::error;
use nft_offload::ubus::{args, ArgType, MethodSig, Server, Status};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

const METHODS: &[MethodSig] = &[
    MethodSig {
        name: "dump",
        args: &[],
    },
    MethodSig {
        name: "status",
        args: &[("interface", ArgType::String)],
    },
];

/// The lists netifd_dump_status emits for an interface that is up.
const UP_LISTS: &[&str] = &[
    "ipv4-address",
    "ipv6-address",
    "ipv6-prefix",
    "ipv6-prefix-assignment",
    "route",
    "dns-server",
    "dns-search",
];

#[derive(Clone, PartialEq)]
struct Iface {
    name: String,
    up: bool,
    proto: String,
    device: Option<String>,
    l3_device: Option<String>,
    lists: Map<String, Value>,
}

fn load(path: &Path) -> Result<Vec<Iface>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let list = v.as_array().ok_or("expected a JSON list of interfaces")?;
    list.iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
            let name = s("interface").ok_or("every entry needs \"interface\"")?;
            let device = s("device");
            let lists = UP_LISTS
                .iter()
                .filter_map(|k| e.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect();
            Ok(Iface {
                up: e.get("up").and_then(Value::as_bool).unwrap_or(false),
                proto: s("proto").unwrap_or_else(|| "static".into()),
                l3_device: s("l3_device").or_else(|| device.clone()),
                device,
                lists,
                name,
            })
        })
        .collect()
}

/// netifd_dump_status, in its key order.
fn status(i: &Iface, uptime: u64) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("up".into(), json!(i.up));
    m.insert("pending".into(), json!(false));
    m.insert("available".into(), json!(true));
    m.insert("autostart".into(), json!(true));
    if i.up {
        m.insert("uptime".into(), json!(uptime));
        if let Some(l3) = &i.l3_device {
            m.insert("l3_device".into(), json!(l3));
        }
    }
    m.insert("proto".into(), json!(i.proto));
    if let Some(dev) = &i.device {
        m.insert("device".into(), json!(dev));
    }
    if i.up {
        m.insert("metric".into(), json!(0));
        m.insert("delegation".into(), json!(true));
        for k in UP_LISTS {
            m.insert(k.to_string(), i.lists.get(*k).cloned().unwrap_or(json!([])));
        }
        m.insert(
            "inactive".into(),
            json!({"ipv4-address": [], "ipv6-address": [], "route": [],
                   "dns-server": [], "dns-search": []}),
        );
    }
    m.insert("data".into(), json!({}));
    m
}

fn entry(i: &Iface, uptime: u64) -> Value {
    let mut m = Map::new();
    m.insert("interface".into(), json!(i.name));
    m.extend(status(i, uptime));
    Value::Object(m)
}

/// Broadcast the event, then notify, as netifd's interface_queue_event does.
fn announce(server: &mut Server, i: &Iface, up: bool, uptime: u64) -> error::Result<()> {
    let action = if up { "ifup" } else { "ifdown" };
    server.send_event(
        "network.interface",
        &json!({"action": action, "interface": i.name}),
    )?;
    let kind = if up {
        "interface.update"
    } else {
        "interface.down"
    };
    let shown = Iface { up, ..i.clone() };
    server.notify(kind, &entry(&shown, uptime))
}

/// Events for everything whose up state (or devices, while up) changed.
fn diff(server: &mut Server, old: &[Iface], new: &[Iface], uptime: u64) -> error::Result<()> {
    let find = |l: &[Iface], n: &str| l.iter().find(|i| i.name == n).cloned();
    for o in old.iter().filter(|o| o.up) {
        match find(new, &o.name) {
            Some(n) if n.up && n.device == o.device && n.l3_device == o.l3_device => {}
            _ => announce(server, o, false, uptime)?,
        }
    }
    for n in new.iter().filter(|n| n.up) {
        match find(old, &n.name) {
            Some(o) if o.up && n.device == o.device && n.l3_device == o.l3_device => {}
            _ => announce(server, n, true, uptime)?,
        }
    }
    Ok(())
}

fn run(socket: &Path, file: &Path) -> Result<(), String> {
    let mut ifaces = load(file)?;
    let started = Instant::now();

    // SIGHUP (re-read) and SIGTERM/SIGINT (exit) through a signalfd, so the
    // loop sleeps in poll until the broker or a signal wakes it.
    // SAFETY: plain libc calls on a local, initialised sigset.
    let sigfd = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGHUP, libc::SIGTERM, libc::SIGINT] {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC)
    };
    if sigfd < 0 {
        return Err(format!("signalfd: {}", std::io::Error::last_os_error()));
    }

    let mut server =
        Server::connect(socket, "network.interface", METHODS).map_err(|e| e.to_string())?;
    eprintln!(
        "netifd_double: serving network.interface on {}",
        socket.display()
    );
    loop {
        let mut fds = [
            libc::pollfd {
                fd: server.fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sigfd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if !server.pending() {
            // SAFETY: two valid pollfds.
            unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        }
        if fds[1].revents & libc::POLLIN != 0 {
            // SAFETY: reading one siginfo into a buffer of its size.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            unsafe {
                libc::read(
                    sigfd,
                    (&mut info as *mut libc::signalfd_siginfo).cast(),
                    size,
                )
            };
            if info.ssi_signo != libc::SIGHUP as u32 {
                return Ok(());
            }
            match load(file) {
                Ok(new) => {
                    let uptime = started.elapsed().as_secs();
                    diff(&mut server, &ifaces, &new, uptime).map_err(|e| e.to_string())?;
                    ifaces = new;
                }
                Err(e) => eprintln!("netifd_double: keeping the old list: {e}"),
            }
        }
        let uptime = started.elapsed().as_secs();
        server
            .process(&mut |method, a| match method {
                "dump" => Ok(json!({
                    "interface": ifaces.iter().map(|i| entry(i, uptime)).collect::<Vec<_>>()
                })),
                "status" => {
                    let name = args::require_str(a, "interface")?;
                    ifaces
                        .iter()
                        .find(|i| i.name == name)
                        .map(|i| Value::Object(status(i, uptime)))
                        .ok_or((Status::NotFound, format!("no interface '{name}'")))
                }
                _ => Err((Status::MethodNotFound, method.to_string())),
            })
            .map_err(|e| e.to_string())?;
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.len() != 3 {
        eprintln!("usage: netifd_double SOCKET INTERFACES.json  (TEST DOUBLE of netifd)");
        std::process::exit(64);
    }
    if let Err(e) = run(&PathBuf::from(&argv[1]), &PathBuf::from(&argv[2])) {
        eprintln!("netifd_double: {e}");
        std::process::exit(1);
    }
}
