//! The command line: argh subcommands and their exit codes. `apply` and
//! `flush` program the kernel directly (one shot, no daemon needed);
//! `daemon` runs the service; `status`, `set`, `reload` and `flows` are ubus
//! clients of the running daemon, so they show the daemon's view and go
//! through the same validation as LuCI. Exit codes: 0 ok, 1 failure, 2 bad
//! usage or input, and for ubus calls the ubus status code.

use crate::engine::{Engine, FLOWS_DEFAULT, FLOWS_MAX};
use crate::error::Kind;
use crate::status;
use crate::ubus::{call, CallError};
use crate::zones::SystemDevices;
use argh::FromArgs;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const DEFAULT_SOCKET: &str = "/var/run/ubus/ubus.sock";
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Per-zone nftables flow offloading for OpenWrt.
#[derive(FromArgs, Debug)]
pub struct Args {
    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
    /// log debug messages (to stderr when interactive)
    #[argh(switch, short = 'v')]
    pub verbose: bool,
    #[argh(subcommand)]
    pub cmd: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Apply(ApplyCmd),
    Flush(FlushCmd),
    Daemon(DaemonCmd),
    Status(StatusCmd),
    Set(SetCmd),
    Reload(ReloadCmd),
    Flows(FlowsCmd),
}

/// read the config and program the kernel once, without the daemon
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "apply")]
pub struct ApplyCmd {
    /// directory holding the UCI files nftoffload and firewall (default /etc/config)
    #[argh(option, default = "PathBuf::from(\"/etc/config\")")]
    pub config_dir: PathBuf,
}

/// remove nftoffload's tables from the kernel
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "flush")]
pub struct FlushCmd {}

/// run the service (procd starts it)
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "daemon")]
pub struct DaemonCmd {
    /// directory holding the UCI files (default /etc/config)
    #[argh(option, default = "PathBuf::from(\"/etc/config\")")]
    pub config_dir: PathBuf,
    /// ubusd socket (default /var/run/ubus/ubus.sock)
    #[argh(option, default = "PathBuf::from(DEFAULT_SOCKET)")]
    pub ubus_socket: PathBuf,
}

/// show per-zone offload status from the running daemon
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "status")]
pub struct StatusCmd {
    /// print the raw ubus reply as JSON
    #[argh(switch)]
    pub json: bool,
    /// ubusd socket (default /var/run/ubus/ubus.sock)
    #[argh(option, default = "PathBuf::from(DEFAULT_SOCKET)")]
    pub ubus_socket: PathBuf,
}

/// set a zone's mode (off, software, hardware), save it and apply it
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set")]
pub struct SetCmd {
    /// firewall zone name
    #[argh(positional)]
    pub zone: String,
    /// off, software or hardware
    #[argh(positional)]
    pub mode: String,
    /// print the raw ubus reply as JSON
    #[argh(switch)]
    pub json: bool,
    /// ubusd socket (default /var/run/ubus/ubus.sock)
    #[argh(option, default = "PathBuf::from(DEFAULT_SOCKET)")]
    pub ubus_socket: PathBuf,
}

/// make the daemon re-read its config and re-apply
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "reload")]
pub struct ReloadCmd {
    /// ubusd socket (default /var/run/ubus/ubus.sock)
    #[argh(option, default = "PathBuf::from(DEFAULT_SOCKET)")]
    pub ubus_socket: PathBuf,
}

/// list the largest offloaded connections
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "flows")]
pub struct FlowsCmd {
    /// how many (1 to 1000, default 20)
    #[argh(option, default = "FLOWS_DEFAULT as i64")]
    pub limit: i64,
    /// print the raw ubus reply as JSON
    #[argh(switch)]
    pub json: bool,
    /// ubusd socket (default /var/run/ubus/ubus.sock)
    #[argh(option, default = "PathBuf::from(DEFAULT_SOCKET)")]
    pub ubus_socket: PathBuf,
}

pub fn main() -> i32 {
    let args: Args = argh::from_env();
    if args.version {
        println!("nftoffload {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let daemon = matches!(args.cmd, Some(Command::Daemon(_)));
    // Under procd stderr is not a terminal: log to syslog (logread).
    // SAFETY: isatty only inspects the descriptor.
    let interactive = unsafe { libc::isatty(2) } == 1;
    crate::logging::init(daemon && !interactive, args.verbose);
    match args.cmd {
        None => {
            eprintln!("nftoffload: no command given; try 'nftoffload --help'");
            2
        }
        Some(Command::Apply(c)) => apply(&c.config_dir),
        Some(Command::Flush(_)) => flush(),
        Some(Command::Daemon(c)) => crate::daemon::run(crate::daemon::Options {
            config_dir: c.config_dir,
            ubus_socket: c.ubus_socket,
        }),
        Some(Command::Status(c)) => status(&c),
        Some(Command::Set(c)) => set(&c),
        Some(Command::Reload(c)) => {
            client(&c.ubus_socket, "reload", json!({})).map_or_else(|c| c, |_| 0)
        }
        Some(Command::Flows(c)) => flows(&c),
    }
}

fn exit_code(kind: Kind) -> i32 {
    match kind {
        Kind::Invalid => 2,
        _ => 1,
    }
}

fn apply(config_dir: &Path) -> i32 {
    let mut engine = match Engine::new(config_dir.to_path_buf()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("nftoffload: {e}");
            return 1;
        }
    };
    if let Err(e) = engine.load_config() {
        eprintln!("nftoffload: {e}\nnothing was applied");
        return exit_code(e.kind());
    }
    let result = engine.apply(&SystemDevices);
    for w in &engine.warnings {
        eprintln!("warning: {w}");
    }
    if let Err(e) = result {
        eprintln!("nftoffload: apply failed: {e}");
        return exit_code(e.kind());
    }
    print!("{}", status::render_table(&engine.status()));
    0
}

fn flush() -> i32 {
    match Engine::new(PathBuf::from("/etc/config")).and_then(|mut e| e.flush()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("nftoffload: flush failed: {e}");
            1
        }
    }
}

/// Call the daemon; on failure print what to do and return the exit code.
fn client(socket: &Path, method: &str, args: Value) -> Result<Value, i32> {
    call(socket, "nftoffload", method, &args, CALL_TIMEOUT).map_err(|e| {
        let hint = match &e {
            CallError::Connect { .. } => "\nhint: start ubusd, or pass --ubus-socket PATH",
            CallError::NoObject { .. } => "\nhint: start it with '/etc/init.d/nftoffload start'",
            CallError::Status { code, .. } if *code != 2 && *code != 4 => {
                "\nhint: 'nftoffload status' and 'logread -e nftoffload' show the reason"
            }
            _ => "",
        };
        eprintln!("nftoffload: {e}{hint}");
        e.status().max(1)
    })
}

fn print_json(v: &Value) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("nftoffload: cannot print reply: {e}"),
    }
}

fn status(c: &StatusCmd) -> i32 {
    match client(&c.ubus_socket, "status", json!({})) {
        Ok(v) if c.json => {
            print_json(&v);
            0
        }
        Ok(v) => {
            print!("{}", status::render_table(&v));
            0
        }
        Err(code) => code,
    }
}

fn set(c: &SetCmd) -> i32 {
    if c.mode.parse::<crate::config::Mode>().is_err() {
        eprintln!(
            "nftoffload: invalid mode '{}': use off, software or hardware",
            c.mode.escape_debug()
        );
        return 2;
    }
    match client(
        &c.ubus_socket,
        "set",
        json!({"zone": c.zone, "mode": c.mode}),
    ) {
        Ok(v) if c.json => {
            print_json(&v);
            0
        }
        Ok(v) => {
            print!("{}", status::render_table(&json!({"zones": [v]})));
            0
        }
        Err(code) => code,
    }
}

fn flows(c: &FlowsCmd) -> i32 {
    if !(1..=FLOWS_MAX as i64).contains(&c.limit) {
        eprintln!("nftoffload: --limit must be between 1 and {FLOWS_MAX}");
        return 2;
    }
    let v = match client(&c.ubus_socket, "flows", json!({"limit": c.limit})) {
        Ok(v) => v,
        Err(code) => return code,
    };
    if c.json {
        print_json(&v);
        return 0;
    }
    println!(
        "{:<5} {:<41} {:<41} {:>12} {:>9} {:<8} ZONES",
        "PROTO", "SOURCE", "DESTINATION", "BYTES", "PACKETS", "OFFLOAD"
    );
    let empty = Vec::new();
    for f in v.get("flows").and_then(Value::as_array).unwrap_or(&empty) {
        let s = |k: &str| {
            f.get(k)
                .map(|x| x.to_string().trim_matches('"').to_string())
        };
        let ep =
            |a: &str, p: &str| format!("{}:{}", s(a).unwrap_or_default(), s(p).unwrap_or_default());
        let zones: Vec<String> = f
            .get("zones")
            .and_then(Value::as_array)
            .unwrap_or(&empty)
            .iter()
            .filter_map(|z| z.as_str().map(str::to_string))
            .collect();
        println!(
            "{:<5} {:<41} {:<41} {:>12} {:>9} {:<8} {}",
            s("proto").unwrap_or_default(),
            ep("src", "sport"),
            ep("dst", "dport"),
            s("bytes").unwrap_or_default(),
            s("packets").unwrap_or_default(),
            s("offload").unwrap_or_default(),
            zones.join(",")
        );
    }
    0
}
