//! The engine: one pass of the data path, shared by the one-shot CLI
//! (`nftoffload apply`) and the daemon. It holds the last good config, the
//! resolved zones, the plan and the outcome of the last apply, and runs
//! config → zones → plan → apply → observe → status in that order. A
//! config that does not parse leaves all of that as it was: nothing is
//! applied from a bad file, and the kernel keeps the last good state.

use crate::apply::{self, Kernel};
use crate::config::{self, FirewallConfig, Mode, OffloadConfig};
use crate::error::{Context, Error, Result};
use crate::observe::conntrack;
use crate::plan::{self, Plan, PlanOptions};
use crate::status::{self, Counts, KernelSupport, LastApply, Offloaded};
use crate::zones::{self, DeviceView, NetifdInterface};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Maximum and default `flows` limits (ubus API).
pub const FLOWS_DEFAULT: usize = 20;
pub const FLOWS_MAX: usize = 1000;

pub struct Engine {
    pub config_dir: PathBuf,
    pub kernel: KernelSupport,
    pub cfg: OffloadConfig,
    pub fw: FirewallConfig,
    /// netifd's interfaces, when netifd answered.
    pub netifd: Option<Vec<NetifdInterface>>,
    pub plan: Plan,
    pub last_apply: LastApply,
    /// Warnings of the last load/resolve/plan, logged once each time.
    pub warnings: Vec<String>,
    kern: Kernel,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Engine {
    /// Open the kernel interface and probe what it supports.
    pub fn new(config_dir: PathBuf) -> Result<Engine> {
        let mut kern = Kernel::open().context("opening the nf_tables netlink socket")?;
        let kernel = kern.probe();
        Ok(Engine {
            config_dir,
            kernel,
            cfg: OffloadConfig::default(),
            fw: FirewallConfig::default(),
            netifd: None,
            plan: Plan::default(),
            last_apply: LastApply::default(),
            warnings: Vec::new(),
            kern,
        })
    }

    /// Re-read both UCI files. On error nothing changes.
    pub fn load_config(&mut self) -> Result<()> {
        let (cfg, fw, warnings) = config::load(&self.config_dir)?;
        self.cfg = cfg;
        self.fw = fw;
        self.warnings = warnings;
        Ok(())
    }

    /// Resolve zones and compute the plan (no kernel change).
    pub fn replan(&mut self, view: &dyn DeviceView, hw_refused: Option<String>) -> Plan {
        let r = zones::resolve(&self.fw, &self.cfg, self.netifd.as_deref(), view);
        let opts = PlanOptions {
            enabled: self.cfg.enabled,
            hw_check: self.cfg.hw_check,
            labels: self.kernel.labels,
            blocked: (!self.kernel.supported).then(|| self.kernel.message.clone()),
            hw_refused,
        };
        let p = plan::plan(&r.zones, &r.facts, &opts);
        self.warnings.extend(r.warnings);
        self.warnings.extend(p.warnings.iter().cloned());
        p
    }

    /// Plan and program the kernel. A hardware flowtable the kernel refuses
    /// (EOPNOTSUPP) makes the hardware zones fall back to software, with the
    /// reason, in the same call. The outcome is kept in `last_apply`.
    pub fn apply(&mut self, view: &dyn DeviceView) -> Result<()> {
        let start = Instant::now();
        let result = self.apply_inner(view);
        self.last_apply = LastApply {
            ok: result.is_ok(),
            error: result
                .as_ref()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
            duration_us: u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
            time: now_secs(),
        };
        result
    }

    fn apply_inner(&mut self, view: &dyn DeviceView) -> Result<()> {
        if !self.kernel.supported {
            // Keep the plan for status, but never touch the kernel.
            self.plan = self.replan(view, None);
            return Err(Error::unsupported(self.kernel.message.clone()));
        }
        let plan = self.replan(view, None);
        match self.kern.apply(&plan) {
            Ok(()) => {
                self.plan = plan;
                Ok(())
            }
            Err(apply::ApplyError::HardwareRefused(why)) => {
                log::warn!(
                    "kernel refused hardware offload ({why}); hardware zones fall back to software"
                );
                let plan = self.replan(view, Some(why));
                self.kern.apply(&plan).map_err(Error::from)?;
                self.plan = plan;
                Ok(())
            }
            Err(e) => Err(Error::from(e)),
        }
    }

    /// Whether the kernel still holds what the plan says (our tables,
    /// flowtable devices). Differences are returned as text.
    pub fn drift(&mut self) -> Result<Vec<String>> {
        if !self.kernel.supported {
            return Ok(Vec::new());
        }
        self.kern.verify(&self.plan)
    }

    /// The netlink port id of our nf_tables socket, to tell our own
    /// changes from others' in nf_tables events.
    pub fn nft_portid(&self) -> u32 {
        self.kern.portid()
    }

    /// Remove our tables.
    pub fn flush(&mut self) -> Result<()> {
        if !self.kernel.supported {
            return Ok(());
        }
        self.kern.flush()
    }

    /// Conntrack counts, by zone label. Errors are logged and give zeros:
    /// status must answer even when ctnetlink does not.
    pub fn offloaded(&self) -> Offloaded {
        let bits: Vec<(usize, u32)> = self
            .plan
            .label_bits()
            .into_iter()
            .map(|(i, b)| (i, u32::from(b)))
            .collect();
        match conntrack::count_offloaded(&bits) {
            Ok(c) => Offloaded {
                total: Counts {
                    software: c.software,
                    hardware: c.hardware,
                },
                tracked: c.tracked,
                per_zone: (0..self.plan.zones.len())
                    .map(|i| {
                        c.per_zone
                            .get(i)
                            .map(|z| Counts {
                                software: z.0,
                                hardware: z.1,
                            })
                            .unwrap_or_default()
                    })
                    .collect(),
            },
            Err(e) => {
                log::debug!("conntrack: {e}");
                Offloaded::default()
            }
        }
    }

    /// The full status reply.
    pub fn status(&mut self) -> Value {
        let flowtables = if self.kernel.supported {
            self.kern.flowtables().unwrap_or_else(|e| {
                log::debug!("reading flowtables back: {e}");
                Vec::new()
            })
        } else {
            Vec::new()
        };
        let offloaded = self.offloaded();
        status::status_json(&status::Snapshot {
            enabled: self.cfg.enabled,
            kernel: &self.kernel,
            fw4: self.fw.defaults,
            plan: &self.plan,
            offloaded: &offloaded,
            flowtables: &flowtables,
            last_apply: &self.last_apply,
        })
    }

    /// One zone's status object.
    pub fn zone_status(&self, zone: &str) -> Option<Value> {
        let i = self.plan.zones.iter().position(|z| z.name == zone)?;
        let off = self.offloaded();
        let counts = off.per_zone.get(i).copied().unwrap_or_default();
        Some(status::zone_json(&self.plan.zones[i], counts))
    }

    /// `set`: validate, persist, apply. Bad input changes nothing; a failed
    /// apply restores the previous mode in the file and the kernel.
    pub fn set_zone(&mut self, view: &dyn DeviceView, zone: &str, mode: &str) -> Result<Value> {
        if !config::valid_zone_name(zone) {
            return Err(Error::invalid(format!(
                "invalid zone name '{}'",
                truncate(zone)
            )));
        }
        let mode: Mode = mode
            .parse()
            .map_err(|e: String| Error::invalid(truncate(&e)))?;
        self.load_config()
            .context("reading the config before the change")?;
        if !self.fw.zones.iter().any(|z| z.name == zone) {
            return Err(Error::not_found(format!("no firewall zone '{zone}'")));
        }
        if !self.kernel.supported {
            return Err(Error::unsupported(self.kernel.message.clone()));
        }
        let previous = self.cfg.mode_of(zone);
        config::set_zone_mode(&self.config_dir, zone, mode)?;
        self.load_config().context("reading the config back")?;
        if let Err(e) = self.apply(view) {
            log::error!("set {zone} {mode}: {e}; restoring {previous}");
            let restore = config::set_zone_mode(&self.config_dir, zone, previous)
                .and_then(|_| self.load_config())
                .and_then(|_| self.apply(view));
            if let Err(r) = restore {
                log::error!("restoring {zone} {previous} failed too: {r}");
            }
            return Err(e.context(format!("set {zone} {mode}")));
        }
        self.zone_status(zone)
            .ok_or_else(|| Error::not_found(format!("zone '{zone}' vanished from the plan")))
    }

    /// `flows`: the largest offloaded connections.
    pub fn flows(&self, limit: usize) -> Result<Value> {
        let flows = conntrack::top_flows(limit.min(FLOWS_MAX))?;
        let zone_names = |labels: &[u8; 16]| -> Vec<&str> {
            self.plan
                .zones
                .iter()
                .filter(|z| {
                    z.label_bit
                        .is_some_and(|b| conntrack::label_bit(labels, u32::from(b)))
                })
                .map(|z| z.name.as_str())
                .collect()
        };
        let list: Vec<Value> = flows
            .iter()
            .map(|f| {
                json!({
                    "proto": proto_name(f.proto),
                    "src": f.src.to_string(),
                    "sport": f.sport,
                    "dst": f.dst.to_string(),
                    "dport": f.dport,
                    "bytes": f.bytes,
                    "packets": f.packets,
                    "offload": if f.hardware { "hardware" } else { "software" },
                    "zones": zone_names(&f.labels),
                })
            })
            .collect();
        Ok(json!({ "flows": list }))
    }
}

/// Keep hostile input out of logs and replies at a sane length.
fn truncate(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn proto_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        n => n.to_string(),
    }
}
