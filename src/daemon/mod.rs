//! The daemon: one thread, one `poll` loop, no idle wakeups. It owns the
//! service's life cycle and reacts to five sources:
//! - ubus: calls to our object (`status`, `set`, `reload`, `flows`) and
//!   netifd's `network.interface` events; on a broken connection it
//!   reconnects and re-registers (a one-shot retry timer while ubusd is
//!   away, nothing otherwise);
//! - rtnetlink link events: a zone device came or went;
//! - nf_tables events: someone deleted our table (`nft flush ruleset`);
//! - signals through a signalfd: TERM/INT remove our tables and exit, HUP
//!   reloads the config;
//! - a debounce timer, so that a burst of events leads to one reconcile.
//!
//! Reconciling is idempotent (plan again, compare with the kernel, apply
//! only on a difference), so the events our own batches cause settle after
//! one read-back instead of looping.

pub mod sys;

use crate::engine::{Engine, FLOWS_DEFAULT, FLOWS_MAX};
use crate::error::{Kind, Result};
use crate::nft::{Event as NftEvent, EventKind, Monitor as NftMonitor};
use crate::observe::link::LinkMonitor;
use crate::ubus::Server;
use crate::ubus::{args, Status, NFTOFFLOAD_METHODS};
use crate::zones::{NetifdInterface, SystemDevices};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::time::Duration;
use sys::{poll_readable, Signal, SignalFd, Timer};

/// A burst of link or nf_tables events is folded into one reconcile.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// Retry period while ubusd is away.
const UBUS_RETRY: Duration = Duration::from_millis(500);
/// Bound on the notifications queued while the connection is busy or away.
const UNSENT_MAX: usize = 16;
/// Bound on netifd's dump.
const NETIFD_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Options {
    pub config_dir: PathBuf,
    pub ubus_socket: PathBuf,
}

/// What the debounce timer has to do when it fires.
#[derive(Default, Debug)]
struct Pending {
    /// Re-read netifd's interfaces first.
    netifd: bool,
    /// Re-resolve devices and reconcile.
    reconcile: bool,
    /// What caused it, for the log and the notification.
    why: &'static str,
}

struct Daemon {
    opts: Options,
    engine: Engine,
    ubus: Option<Server>,
    pending: Pending,
    /// Effective mode per zone at the last notification.
    announced: Vec<(String, String)>,
    /// `state` notifications made while the ubus connection was taken out
    /// to serve calls (`set`), sent once the calls are answered.
    unsent: Vec<Value>,
}

/// Run until TERM/INT. Returns the process exit code.
pub fn run(opts: Options) -> i32 {
    match run_inner(opts) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("{e}");
            1
        }
    }
}

fn run_inner(opts: Options) -> Result<()> {
    let signals = SignalFd::new()?;
    let mut debounce = Timer::new()?;
    let mut retry = Timer::new()?;
    let engine = Engine::new(opts.config_dir.clone())?;
    if !engine.kernel.supported {
        log::error!("{}", engine.kernel.message);
    }
    let mut links = LinkMonitor::open()
        .map_err(|e| log::warn!("link events unavailable: {e}"))
        .ok();
    let mut nftmon = if engine.kernel.supported {
        NftMonitor::open()
            .map_err(|e| log::warn!("nf_tables events unavailable: {e}"))
            .ok()
    } else {
        None
    };
    let mut d = Daemon {
        opts,
        engine,
        ubus: None,
        pending: Pending::default(),
        announced: Vec::new(),
        unsent: Vec::new(),
    };
    d.connect_ubus();
    if d.ubus.is_none() {
        retry.arm(UBUS_RETRY)?;
    }
    d.refresh_netifd();
    d.reload("start");

    loop {
        let ubus_fd = d.ubus.as_ref().map(|u| u.fd()).unwrap_or(-1);
        let fds = [
            signals.fd(),
            debounce.fd(),
            retry.fd(),
            ubus_fd,
            links.as_ref().map(|l| l.fd()).unwrap_or(-1),
            nftmon.as_ref().map(|m| m.fd()).unwrap_or(-1),
        ];
        let busy = d.ubus.as_ref().is_some_and(|u| u.pending());
        let ready = poll_readable(&fds, busy.then_some(Duration::ZERO))?;

        if ready[0] {
            for s in signals.read() {
                match s {
                    Signal::Term | Signal::Int => {
                        log::info!("stopping: removing nftoffload tables");
                        if let Err(e) = d.engine.flush() {
                            log::error!("removing our tables: {e}");
                        }
                        return Ok(());
                    }
                    Signal::Hup => d.reload("SIGHUP"),
                }
            }
        }
        if ready[2] && retry.take() {
            d.connect_ubus();
            if d.ubus.is_some() {
                d.refresh_netifd();
            } else {
                retry.arm(UBUS_RETRY)?;
            }
        }
        if ready[3] || busy {
            d.serve_ubus();
            if d.ubus.is_none() {
                retry.arm(UBUS_RETRY)?;
            }
        }
        if ready[4] {
            if let Some(l) = links.as_mut() {
                match l.read_events() {
                    Ok(events) if !events.is_empty() => {
                        log::debug!("{} link event(s)", events.len());
                        d.schedule(false, "hotplug");
                    }
                    Ok(_) => {}
                    Err(e) => log::warn!("link events: {e}"),
                }
            }
        }
        if ready[5] {
            if let Some(m) = nftmon.as_mut() {
                let ours = d.engine.nft_portid();
                match m.read_events() {
                    Ok(events) if events.iter().any(|e| touches_our_tables(e, ours)) => {
                        d.schedule(false, "selfheal");
                    }
                    Ok(_) => {}
                    Err(e) => log::warn!("nf_tables events: {e}"),
                }
            }
        }
        if d.pending.reconcile && !debounce.is_armed() {
            debounce.arm(DEBOUNCE)?;
        }
        if ready[1] && debounce.take() {
            let p = std::mem::take(&mut d.pending);
            if p.netifd {
                d.refresh_netifd();
            }
            d.reconcile(p.why);
        }
    }
}

/// An nf_tables event that may have removed or changed our objects, made
/// by someone else (our own transactions carry our netlink port id).
fn touches_our_tables(e: &NftEvent, our_portid: u32) -> bool {
    match e {
        NftEvent::Overrun => true,
        NftEvent::Change {
            kind,
            table,
            portid,
            ..
        } => {
            *portid != our_portid
                && (table.starts_with("nftoffload")
                    || table.is_empty() && *kind == EventKind::DelTable)
                && matches!(
                    kind,
                    EventKind::DelTable
                        | EventKind::DelChain
                        | EventKind::DelRule
                        | EventKind::DelSet
                        | EventKind::DelSetElem
                        | EventKind::DelFlowtable
                        | EventKind::NewFlowtable
                        | EventKind::NewRule
                        | EventKind::NewSetElem
                )
        }
    }
}

impl Daemon {
    fn schedule(&mut self, netifd: bool, why: &'static str) {
        self.pending.netifd |= netifd;
        self.pending.reconcile = true;
        if self.pending.why.is_empty() {
            self.pending.why = why;
        }
    }

    fn connect_ubus(&mut self) {
        match Server::connect(&self.opts.ubus_socket, "nftoffload", NFTOFFLOAD_METHODS) {
            Ok(mut s) => {
                if let Err(e) = s.listen("network.interface") {
                    log::warn!("cannot listen to network.interface events: {e}");
                }
                log::info!(
                    "registered ubus object nftoffload on {}",
                    self.opts.ubus_socket.display()
                );
                self.ubus = Some(s);
                // nobody can have subscribed on a fresh connection yet
                self.unsent.clear();
            }
            Err(e) => {
                if self.ubus.is_none() {
                    log::debug!("ubus: {e}");
                }
                self.ubus = None;
            }
        }
    }

    /// netifd's interfaces. When netifd does not answer, what it said last
    /// is kept (after a ubusd restart netifd may re-register after us, and
    /// sends no events for interfaces that stayed up); `None` only if it
    /// never answered (then zones use their `list device` entries only).
    fn refresh_netifd(&mut self) {
        let Some(u) = self.ubus.as_mut() else { return };
        match u.call("network.interface", "dump", &json!({}), NETIFD_TIMEOUT) {
            Ok(v) => self.engine.netifd = Some(NetifdInterface::parse_dump(&v)),
            Err(e) if self.engine.netifd.is_some() => {
                log::warn!("netifd: {e}; keeping its last known interfaces");
            }
            Err(e) => log::debug!("netifd: {e}"),
        }
    }

    fn serve_ubus(&mut self) {
        let Some(mut u) = self.ubus.take() else {
            return;
        };
        let mut handler = |method: &str, a: &Map<String, Value>| self.handle(method, a);
        let r = u.process(&mut handler);
        let events = u.take_events();
        match r {
            Ok(()) => {
                for note in std::mem::take(&mut self.unsent) {
                    if let Err(e) = u.notify("state", &note) {
                        log::debug!("notify: {e}");
                    }
                }
                self.ubus = Some(u);
            }
            Err(e) => {
                log::warn!("lost ubus connection ({e}); reconnecting");
                self.connect_ubus();
            }
        }
        if events.iter().any(|e| e.name == "network.interface") {
            self.schedule(true, "netifd");
        }
    }

    fn handle(&mut self, method: &str, a: &Map<String, Value>) -> Result<Value, (Status, String)> {
        let view = SystemDevices;
        match method {
            "status" => Ok(self.engine.status()),
            "set" => {
                let zone = args::require_str(a, "zone")?;
                let mode = args::require_str(a, "mode")?;
                let r = self.engine.set_zone(&view, zone, mode);
                self.after_apply("apply");
                r.map_err(|e| {
                    if matches!(e.kind(), Kind::Failed | Kind::Unsupported) {
                        log::error!("set {zone} {mode}: {e}");
                    }
                    (Status::from(&e), e.to_string())
                })
            }
            "reload" => {
                let r = self.reload_result("ubus reload");
                r.map(|_| json!({"ok": true}))
                    .map_err(|e| (Status::from(&e), e.to_string()))
            }
            "flows" => {
                let limit = args::get_int_in(a, "limit", 1, FLOWS_MAX as i32)?
                    .map_or(FLOWS_DEFAULT, |l| l as usize);
                self.engine
                    .flows(limit)
                    .map_err(|e| (Status::from(&e), e.to_string()))
            }
            other => Err((Status::MethodNotFound, format!("no method '{other}'"))),
        }
    }

    fn reload(&mut self, why: &'static str) {
        if let Err(e) = self.reload_result(why) {
            log::error!("{why}: {e}");
        }
    }

    fn reload_result(&mut self, why: &'static str) -> Result<()> {
        self.engine.load_config()?;
        for w in &self.engine.warnings {
            log::warn!("{w}");
        }
        let r = self.engine.apply(&SystemDevices);
        self.after_apply(why);
        r
    }

    /// Plan again; apply only if the plan or the kernel changed.
    fn reconcile(&mut self, why: &'static str) {
        let view = SystemDevices;
        let plan = self.engine.replan(&view, None);
        let drift = match self.engine.drift() {
            Ok(d) => d,
            Err(e) => vec![e.to_string()],
        };
        if plan == self.engine.plan && drift.is_empty() {
            return;
        }
        for d in &drift {
            log::info!("{why}: {d}");
        }
        if let Err(e) = self.engine.apply(&view) {
            log::error!("{why}: {e}");
        }
        self.after_apply(why);
    }

    /// Log and notify a change of effective state, once.
    fn after_apply(&mut self, why: &str) {
        let now: Vec<(String, String)> = self
            .engine
            .plan
            .zones
            .iter()
            .map(|z| (z.name.clone(), z.effective.as_str().to_string()))
            .collect();
        if now == self.announced {
            return;
        }
        for z in &self.engine.plan.zones {
            log::info!("{why}: {}", crate::status::zone_summary(z));
        }
        self.announced = now;
        let zones: Vec<Value> = self
            .announced
            .iter()
            .map(|(n, e)| json!({"name": n, "effective": e}))
            .collect();
        let note = json!({"zones": zones, "reason": why});
        match self.ubus.as_mut() {
            Some(u) => {
                if let Err(e) = u.notify("state", &note) {
                    log::debug!("notify: {e}");
                }
            }
            // Inside a ubus call (`set`), serve_ubus holds the connection;
            // or ubusd is away (then the queue is dropped on reconnect).
            None if self.unsent.len() < UNSENT_MAX => self.unsent.push(note),
            None => {}
        }
    }
}
