//! The `log` backend: under procd, RFC 3164 datagrams to `/dev/log`, where
//! OpenWrt's logd picks them up for `logread`; interactively, one line per
//! message on stderr (`nftoffload: warning: ...`). Logging never blocks and
//! never fails the caller: a missing or full log socket drops the message.
//! Each datagram is sent to the socket path afresh, so a restarted logd is
//! picked up without reconnect logic.

// The daemon (owned by the lead) calls `init`; until then only tests do.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use log::{Level, LevelFilter, Log, Metadata, Record};

const IDENT: &str = "nftoffload";
/// syslog facility LOG_DAEMON, already shifted.
const FACILITY_DAEMON: u8 = 3 << 3;
/// Longest message we send; logd keeps lines short and a datagram must fit.
const MAX_MSG: usize = 1024;

enum Sink {
    Stderr,
    Syslog {
        path: PathBuf,
        sock: Option<UnixDatagram>,
    },
}

pub struct Logger {
    level: LevelFilter,
    sink: Sink,
}

/// Install the logger: syslog (`/dev/log`) when `to_syslog`, else stderr.
/// Info and above by default, Debug too when `verbose`. A second call is a
/// no-op.
pub fn init(to_syslog: bool, verbose: bool) {
    let target = to_syslog.then(|| PathBuf::from("/dev/log"));
    let logger = Logger::new(target, verbose);
    let level = logger.level;
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
    }
}

impl Logger {
    /// `syslog`: the datagram socket path to send to; `None` for stderr.
    pub fn new(syslog: Option<PathBuf>, verbose: bool) -> Logger {
        let level = if verbose {
            LevelFilter::Debug
        } else {
            LevelFilter::Info
        };
        let sink = match syslog {
            None => Sink::Stderr,
            Some(path) => Sink::Syslog {
                path,
                sock: UnixDatagram::unbound()
                    .and_then(|s| s.set_nonblocking(true).map(|()| s))
                    .ok(),
            },
        };
        Logger { level, sink }
    }
}

fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// One line, at most `MAX_MSG` bytes, control characters (newlines from a
/// multi-line error, NULs that would cut logd's string) turned into spaces.
fn clean(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len().min(MAX_MSG));
    for c in msg.chars() {
        if out.len() + c.len_utf8() > MAX_MSG {
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// `Mmm dd hh:mm:ss` in local time, exactly 15 characters. logd strips a
/// 16-byte timestamp prefix whenever byte 15 is a space, so leaving the
/// timestamp out would let it eat the start of some messages.
fn timestamp(now: libc::time_t) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // SAFETY: localtime_r writes only into the zeroed tm we pass.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&now, &mut tm).is_null() };
    if !ok {
        return "Jan  1 00:00:00".into();
    }
    let month = MONTHS.get(tm.tm_mon as usize).unwrap_or(&"Jan");
    format!(
        "{month} {:>2} {:02}:{:02}:{:02}",
        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

/// `<PRI>Mmm dd hh:mm:ss nftoffload[PID]: msg`, facility daemon.
fn syslog_datagram(level: Level, pid: u32, now: libc::time_t, msg: &str) -> Vec<u8> {
    let pri = FACILITY_DAEMON | severity(level);
    format!("<{pri}>{} {IDENT}[{pid}]: {}", timestamp(now), clean(msg)).into_bytes()
}

fn stderr_line(level: Level, msg: &str) -> String {
    format!("{IDENT}: {}: {}\n", level_word(level), clean(msg))
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let msg = record.args().to_string();
        match &self.sink {
            Sink::Stderr => {
                let _ = std::io::stderr().write_all(stderr_line(record.level(), &msg).as_bytes());
            }
            Sink::Syslog { path, sock } => {
                let Some(sock) = sock else { return };
                // SAFETY: time(NULL) has no preconditions.
                let now = unsafe { libc::time(std::ptr::null_mut()) };
                let d = syslog_datagram(record.level(), std::process::id(), now, &msg);
                // Non-blocking: if logd is gone or its queue is full the
                // message is lost, never the daemon's time.
                let _ = sock.send_to(&d, path);
            }
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record_to(logger: &Logger, level: Level, msg: &str) {
        logger.log(
            &Record::builder()
                .level(level)
                .args(format_args!("{msg}"))
                .build(),
        );
    }

    fn temp_path(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("nftoffload-log-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 2048];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn syslog_datagrams_have_daemon_facility_ident_pid_and_one_line() {
        let path = temp_path("fmt");
        let logd = UnixDatagram::bind(&path).unwrap();
        logd.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let logger = Logger::new(Some(path.clone()), false);

        record_to(
            &logger,
            Level::Warn,
            "zone lan: no hw-tc-offload\nsecond line",
        );
        let d = recv(&logd);
        // <28> = daemon (3) * 8 + warning (4)
        let pid = std::process::id();
        assert!(d.starts_with("<28>"), "{d}");
        let rest = &d[4..];
        // logd strips exactly 16 bytes when byte 15 is a space.
        assert_eq!(rest.as_bytes()[15], b' ', "{d}");
        assert_eq!(
            &rest[16..],
            format!("nftoffload[{pid}]: zone lan: no hw-tc-offload second line")
        );

        record_to(&logger, Level::Error, "apply failed");
        assert!(recv(&logd).starts_with("<27>"));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn debug_is_dropped_unless_verbose() {
        let path = temp_path("lvl");
        let logd = UnixDatagram::bind(&path).unwrap();
        logd.set_nonblocking(true).unwrap();
        let quiet = Logger::new(Some(path.clone()), false);
        record_to(&quiet, Level::Debug, "noise");
        let mut buf = [0u8; 64];
        assert!(logd.recv(&mut buf).is_err(), "debug logged without -v");
        let verbose = Logger::new(Some(path.clone()), true);
        record_to(&verbose, Level::Debug, "detail");
        logd.set_nonblocking(false).unwrap();
        logd.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(recv(&logd).starts_with("<31>"));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_missing_log_socket_or_a_restarted_logd_neither_blocks_nor_panics() {
        let path = temp_path("gone");
        let logger = Logger::new(Some(path.clone()), false);
        record_to(&logger, Level::Error, "nobody listening");
        // logd comes (back) up at the same path: the next message arrives.
        let logd = UnixDatagram::bind(&path).unwrap();
        logd.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        record_to(&logger, Level::Info, "hello again");
        assert!(recv(&logd).ends_with("]: hello again"));
        drop(logd);
        let _ = std::fs::remove_file(&path);
        let logd = UnixDatagram::bind(&path).unwrap();
        logd.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        record_to(&logger, Level::Info, "after restart");
        assert!(recv(&logd).ends_with("]: after restart"));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_full_log_socket_drops_instead_of_blocking() {
        let path = temp_path("full");
        let _logd = UnixDatagram::bind(&path).unwrap();
        let logger = Logger::new(Some(path.clone()), false);
        // Far more than the receive queue holds; returns promptly.
        for i in 0..2000 {
            record_to(&logger, Level::Info, &format!("message {i}"));
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn long_messages_are_cut_at_a_char_boundary() {
        let msg = "é".repeat(2000);
        let d = syslog_datagram(Level::Info, 1, 0, &msg);
        assert!(d.len() <= MAX_MSG + 64);
        assert!(String::from_utf8(d).is_ok());
    }

    #[test]
    fn stderr_lines_name_the_program_and_level() {
        assert_eq!(
            stderr_line(Level::Warn, "zone dmz: unknown"),
            "nftoffload: warning: zone dmz: unknown\n"
        );
    }
}
