//! The planner: a pure function from zones (mode, devices, device
//! capabilities) to the kernel objects we want: which devices go into the
//! software and hardware flowtables, which interface names the forward
//! rules match, and for each zone the effective mode with the reason when it
//! differs from the configured one. No I/O; every rule of the mode contract
//! is tested here, through [`Plan::offload_for`], which evaluates the plan
//! the way the kernel evaluates the ruleset built from it.
//!
//! The ruleset shape the plan feeds (built by `apply`):
//! - table `inet nftoffload`: flowtable `ft` (flags counter) holding the
//!   devices of every zone that is not off; a forward chain after fw4's
//!   (`priority filter + 10`, so only packets fw4 accepted reach it) that
//!   offloads TCP/UDP when both `iifname` and `oifname` are in `sw_if`.
//! - table `inet nftoffload_hw`: flowtable `ft` (flags offload, counter)
//!   holding the hardware-capable ports of hardware zones; its forward chain
//!   runs first (`priority filter + 5`) and matches only when both ends are
//!   in `hw_if`. The kernel's first `flow add` wins, so a hardware pair never
//!   lands in the software flowtable, and any other pair still does.
//!
//! Two tables are needed because a device may sit in only one flowtable per
//! table, while a hardware zone's device must be reachable by both.

use crate::config::Mode;
use std::collections::{BTreeMap, BTreeSet};

/// First conntrack label bit used to tag a zone's connections; zone `i`
/// (in firewall order) uses bit `LABEL_BASE + i`. The upper half of the
/// 128-bit label space is left to us; tools that use labels start at 0.
pub const LABEL_BASE: u8 = 64;
/// How many zones can carry a label bit.
pub const LABEL_ZONES: usize = 64;

/// One firewall zone, resolved to devices (by `zones`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneInput {
    pub name: String,
    pub mode: Mode,
    /// Devices the forward rules match with `iifname`/`oifname` (netifd's
    /// `l3_device`, or a `list device` entry).
    pub l3_devices: Vec<String>,
    /// Flowtable devices for software offload (netifd's L2 `device`).
    pub devices: Vec<String>,
    /// Flowtable devices for hardware offload: `devices` with bridges and
    /// VLANs resolved to the ports that can offload (as fw4 does).
    pub hw_devices: Vec<String>,
}

/// What we know of a device from the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceFacts {
    pub exists: bool,
    /// ethtool's `hw-tc-offload`; `None` when it could not be read.
    pub hw_tc_offload: Option<bool>,
}

/// Knobs and kernel facts that are not per device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanOptions {
    /// `globals.enabled`.
    pub enabled: bool,
    /// `globals.hw_check`: require `hw-tc-offload` before asking for hardware.
    pub hw_check: bool,
    /// The kernel supports conntrack labels (zone attribution).
    pub labels: bool,
    /// Why nothing can be offloaded at all (the kernel lacks flowtables);
    /// every zone is then off with this reason.
    pub blocked: Option<String>,
    /// The kernel refused hardware offload for the hardware flowtable
    /// (EOPNOTSUPP): plan again with every hardware zone in software.
    pub hw_refused: Option<String>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            enabled: true,
            hw_check: true,
            labels: true,
            blocked: None,
            hw_refused: None,
        }
    }
}

/// Which flowtable a device or a flow is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Path {
    None,
    Software,
    Hardware,
}

impl Path {
    pub fn as_str(self) -> &'static str {
        match self {
            Path::None => "none",
            Path::Software => "software",
            Path::Hardware => "hardware",
        }
    }
    /// The mode a zone effectively runs in when its devices take this path.
    pub fn as_mode(self) -> Mode {
        match self {
            Path::None => Mode::Off,
            Path::Software => Mode::Software,
            Path::Hardware => Mode::Hardware,
        }
    }
}

/// One table's worth of plan: flowtable devices and matched interface names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowPlan {
    /// Flowtable devices, sorted, each once.
    pub flowtable_devices: Vec<String>,
    /// `iifname`/`oifname` set, sorted, each once.
    pub ifnames: Vec<String>,
}

/// Per-device line of a zone's plan, for status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevicePlan {
    pub name: String,
    pub exists: bool,
    pub hw_tc_offload: Option<bool>,
    pub flowtable: Path,
    /// Why the device is not where its zone's mode would put it.
    pub reason: String,
}

/// The plan for one zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZonePlan {
    pub name: String,
    pub mode: Mode,
    pub effective: Mode,
    /// Empty when `effective == mode`.
    pub reason: String,
    pub l3_devices: Vec<String>,
    pub devices: Vec<DevicePlan>,
    /// Conntrack label bit set on this zone's offloaded connections.
    pub label_bit: Option<u8>,
}

/// Everything `apply` needs, and everything `status` says about intent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Table `inet nftoffload`; `None` when no zone is offloaded.
    pub software: Option<FlowPlan>,
    /// Table `inet nftoffload_hw`; `None` when no zone runs in hardware.
    pub hardware: Option<FlowPlan>,
    pub zones: Vec<ZonePlan>,
    /// Problems that do not stop the plan (a device claimed by two zones).
    pub warnings: Vec<String>,
}

impl Plan {
    /// Where the kernel would put a forwarded TCP/UDP connection from
    /// `iif` to `oif` (L3 device names), given this plan's ruleset.
    pub fn offload_for(&self, iif: &str, oif: &str) -> Path {
        let both = |p: &Option<FlowPlan>| {
            p.as_ref().is_some_and(|p| {
                p.ifnames.iter().any(|n| n == iif) && p.ifnames.iter().any(|n| n == oif)
            })
        };
        if both(&self.hardware) {
            Path::Hardware
        } else if both(&self.software) {
            Path::Software
        } else {
            Path::None
        }
    }

    pub fn zone(&self, name: &str) -> Option<&ZonePlan> {
        self.zones.iter().find(|z| z.name == name)
    }

    /// Label bits per zone, for counting conntrack entries by zone.
    pub fn label_bits(&self) -> Vec<(usize, u8)> {
        self.zones
            .iter()
            .enumerate()
            .filter_map(|(i, z)| z.label_bit.map(|b| (i, b)))
            .collect()
    }
}

/// Why a hardware zone cannot run in hardware, or `None` if it can.
fn hardware_blocker(
    zone: &ZoneInput,
    facts: &BTreeMap<String, DeviceFacts>,
    opts: &PlanOptions,
) -> Option<String> {
    if let Some(why) = &opts.hw_refused {
        return Some(format!("kernel refused hardware offload: {why}"));
    }
    let existing: Vec<&String> = zone
        .hw_devices
        .iter()
        .filter(|d| facts.get(*d).is_some_and(|f| f.exists))
        .collect();
    if existing.is_empty() {
        return Some("no existing device to offload in hardware".into());
    }
    if !opts.hw_check {
        return None;
    }
    let lacking: Vec<&str> = existing
        .iter()
        .filter(|d| facts.get(**d).and_then(|f| f.hw_tc_offload) != Some(true))
        .map(|d| d.as_str())
        .collect();
    if lacking.is_empty() {
        None
    } else {
        Some(format!("no hw-tc-offload on {}", lacking.join(", ")))
    }
}

/// Build the plan. Pure: the same inputs give the same plan.
pub fn plan(
    zones: &[ZoneInput],
    facts: &BTreeMap<String, DeviceFacts>,
    opts: &PlanOptions,
) -> Plan {
    let mut out = Plan::default();
    let mut sw_devs = BTreeSet::new();
    let mut sw_names = BTreeSet::new();
    let mut hw_devs = BTreeSet::new();
    let mut hw_names = BTreeSet::new();
    // Device/name -> zone that claimed it first, for one-owner checks.
    let mut dev_owner: BTreeMap<String, String> = BTreeMap::new();
    let mut name_owner: BTreeMap<String, String> = BTreeMap::new();
    let fact = |d: &str| facts.get(d).copied().unwrap_or_default();

    for (index, zone) in zones.iter().enumerate() {
        let mut zp = ZonePlan {
            name: zone.name.clone(),
            mode: zone.mode,
            effective: Mode::Off,
            reason: String::new(),
            l3_devices: zone.l3_devices.clone(),
            devices: Vec::new(),
            label_bit: None,
        };
        let wanted = if opts.enabled && opts.blocked.is_none() {
            zone.mode
        } else {
            Mode::Off
        };
        let hw_blocker = match wanted {
            Mode::Hardware => hardware_blocker(zone, facts, opts),
            _ => None,
        };
        let path = match wanted {
            Mode::Off => Path::None,
            Mode::Software => Path::Software,
            Mode::Hardware if hw_blocker.is_some() => Path::Software,
            Mode::Hardware => Path::Hardware,
        };

        // Software flowtable devices: every existing L2 device of an
        // offloaded zone (hardware zones too, for flows to software zones).
        let mut placed_any = false;
        for dev in &zone.devices {
            let f = fact(dev);
            let mut dp = DevicePlan {
                name: dev.clone(),
                exists: f.exists,
                hw_tc_offload: f.hw_tc_offload,
                flowtable: Path::None,
                reason: String::new(),
            };
            if path != Path::None {
                if !f.exists {
                    dp.reason = "device does not exist".into();
                } else if let Some(owner) = dev_owner.get(dev).filter(|o| **o != zone.name) {
                    dp.reason = format!("device already in zone {owner}");
                    out.warnings.push(format!(
                        "device {dev} is in zones {owner} and {}; {owner} keeps it",
                        zone.name
                    ));
                } else {
                    dev_owner.insert(dev.clone(), zone.name.clone());
                    sw_devs.insert(dev.clone());
                    dp.flowtable = Path::Software;
                    placed_any = true;
                    if let (Mode::Hardware, Some(why)) = (wanted, &hw_blocker) {
                        dp.reason = why.clone();
                    }
                }
            }
            zp.devices.push(dp);
        }

        if path == Path::Hardware {
            for dev in &zone.hw_devices {
                let f = fact(dev);
                if !f.exists {
                    continue;
                }
                hw_devs.insert(dev.clone());
                placed_any = true;
                match zp.devices.iter_mut().find(|d| d.name == *dev) {
                    Some(d) => d.flowtable = Path::Hardware,
                    None => zp.devices.push(DevicePlan {
                        name: dev.clone(),
                        exists: true,
                        hw_tc_offload: f.hw_tc_offload,
                        flowtable: Path::Hardware,
                        reason: String::new(),
                    }),
                }
            }
        }

        if path != Path::None && !placed_any {
            zp.effective = Mode::Off;
            zp.reason = "no device of this zone exists".into();
        } else {
            zp.effective = path.as_mode();
            if let Some(why) = hw_blocker {
                zp.reason = format!("hardware offload unavailable ({why}); using software");
            } else if zone.mode != Mode::Off {
                if let Some(why) = &opts.blocked {
                    zp.reason = why.clone();
                } else if !opts.enabled {
                    zp.reason = "nftoffload is disabled (globals.enabled = 0)".into();
                }
            }
        }

        if zp.effective != Mode::Off {
            let mut names = Vec::new();
            for n in &zone.l3_devices {
                match name_owner.get(n) {
                    Some(owner) if *owner != zone.name => out.warnings.push(format!(
                        "interface {n} is in zones {owner} and {}; {owner} keeps it",
                        zone.name
                    )),
                    _ => {
                        name_owner.insert(n.clone(), zone.name.clone());
                        names.push(n.clone());
                    }
                }
            }
            sw_names.extend(names.iter().cloned());
            if zp.effective == Mode::Hardware {
                hw_names.extend(names);
            }
            if opts.labels && index < LABEL_ZONES {
                zp.label_bit = u8::try_from(index).ok().map(|i| LABEL_BASE + i);
            }
        }
        out.zones.push(zp);
    }

    let table = |devs: BTreeSet<String>, names: BTreeSet<String>| {
        (!names.is_empty()).then(|| FlowPlan {
            flowtable_devices: devs.into_iter().collect(),
            ifnames: names.into_iter().collect(),
        })
    };
    out.software = table(sw_devs, sw_names);
    out.hardware = table(hw_devs, hw_names);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str, mode: Mode, devs: &[&str]) -> ZoneInput {
        let v: Vec<String> = devs.iter().map(|s| s.to_string()).collect();
        ZoneInput {
            name: name.into(),
            mode,
            l3_devices: v.clone(),
            devices: v.clone(),
            hw_devices: v,
        }
    }

    fn facts(list: &[(&str, bool)]) -> BTreeMap<String, DeviceFacts> {
        list.iter()
            .map(|(n, hw)| {
                (
                    n.to_string(),
                    DeviceFacts {
                        exists: true,
                        hw_tc_offload: Some(*hw),
                    },
                )
            })
            .collect()
    }

    fn opts() -> PlanOptions {
        PlanOptions::default()
    }

    #[test]
    fn both_ends_must_be_offloaded() {
        let z = [
            zone("lan", Mode::Software, &["lan0"]),
            zone("wan", Mode::Software, &["wan0"]),
            zone("guest", Mode::Off, &["gst0"]),
        ];
        let f = facts(&[("lan0", false), ("wan0", false), ("gst0", false)]);
        let p = plan(&z, &f, &opts());
        assert_eq!(p.offload_for("lan0", "wan0"), Path::Software);
        assert_eq!(p.offload_for("wan0", "lan0"), Path::Software);
        assert_eq!(p.offload_for("gst0", "wan0"), Path::None);
        assert_eq!(p.offload_for("wan0", "gst0"), Path::None);
        assert_eq!(p.offload_for("lan0", "gst0"), Path::None);
    }

    #[test]
    fn off_zones_are_never_offloaded_nor_in_any_flowtable() {
        let z = [
            zone("lan", Mode::Hardware, &["lan0"]),
            zone("wan", Mode::Hardware, &["wan0"]),
            zone("vpn", Mode::Off, &["wg0"]),
        ];
        let f = facts(&[("lan0", true), ("wan0", true), ("wg0", true)]);
        let p = plan(&z, &f, &opts());
        for t in [&p.software, &p.hardware].into_iter().flatten() {
            assert!(!t.flowtable_devices.contains(&"wg0".to_string()));
            assert!(!t.ifnames.contains(&"wg0".to_string()));
        }
        assert_eq!(p.offload_for("wg0", "wan0"), Path::None);
        assert_eq!(p.zone("vpn").map(|z| z.effective), Some(Mode::Off));
    }

    #[test]
    fn hardware_only_when_both_ends_are_capable_hardware_zones() {
        let z = [
            zone("lan", Mode::Hardware, &["lan0"]),
            zone("wan", Mode::Hardware, &["wan0"]),
            zone("iot", Mode::Software, &["iot0"]),
            zone("dmz", Mode::Hardware, &["dmz0"]),
        ];
        let f = facts(&[
            ("lan0", true),
            ("wan0", true),
            ("iot0", true),
            ("dmz0", false),
        ]);
        let p = plan(&z, &f, &opts());
        assert_eq!(p.offload_for("lan0", "wan0"), Path::Hardware);
        // A software zone at one end: software, not hardware.
        assert_eq!(p.offload_for("iot0", "wan0"), Path::Software);
        assert_eq!(p.offload_for("lan0", "iot0"), Path::Software);
        // A hardware zone whose device cannot offload: software.
        assert_eq!(p.offload_for("dmz0", "wan0"), Path::Software);
        let hw = p.hardware.as_ref().map(|h| h.flowtable_devices.clone());
        assert_eq!(hw, Some(vec!["lan0".to_string(), "wan0".to_string()]));
        // Hardware zones' devices are also in the software flowtable, so
        // their flows to software zones are offloaded too.
        let sw = p.software.as_ref().map(|s| s.flowtable_devices.clone());
        assert_eq!(
            sw,
            Some(vec![
                "dmz0".into(),
                "iot0".into(),
                "lan0".into(),
                "wan0".into()
            ])
        );
    }

    #[test]
    fn hardware_fallback_names_the_device_and_the_reason() {
        let z = [zone("lan", Mode::Hardware, &["lan0", "lan1"])];
        let f = facts(&[("lan0", true), ("lan1", false)]);
        let p = plan(&z, &f, &opts());
        let lan = p.zone("lan").cloned().unwrap();
        assert_eq!(lan.effective, Mode::Software);
        assert!(lan.reason.contains("lan1"), "{}", lan.reason);
        assert!(lan.reason.contains("hw-tc-offload"), "{}", lan.reason);
        assert!(p.hardware.is_none());
        assert!(lan.devices.iter().all(|d| d.flowtable == Path::Software));
    }

    #[test]
    fn kernel_refusal_falls_back_to_software_with_the_kernel_reason() {
        let z = [
            zone("lan", Mode::Hardware, &["lan0"]),
            zone("wan", Mode::Hardware, &["wan0"]),
        ];
        let f = facts(&[("lan0", false), ("wan0", false)]);
        let o = PlanOptions {
            hw_check: false,
            ..opts()
        };
        // Without the ethtool check the plan asks the kernel for hardware.
        assert_eq!(plan(&z, &f, &o).offload_for("lan0", "wan0"), Path::Hardware);
        let o = PlanOptions {
            hw_check: false,
            hw_refused: Some("Operation not supported (EOPNOTSUPP)".into()),
            ..opts()
        };
        let p = plan(&z, &f, &o);
        assert_eq!(p.offload_for("lan0", "wan0"), Path::Software);
        assert!(p.hardware.is_none());
        let lan = p.zone("lan").cloned().unwrap();
        assert_eq!(lan.effective, Mode::Software);
        assert!(lan.reason.contains("EOPNOTSUPP"), "{}", lan.reason);
    }

    #[test]
    fn a_device_is_in_one_flowtable_per_table_once() {
        let z = [
            zone("lan", Mode::Software, &["lan0", "lan0"]),
            zone("lan2", Mode::Software, &["lan0", "x0"]),
        ];
        let f = facts(&[("lan0", false), ("x0", false)]);
        let p = plan(&z, &f, &opts());
        let sw = p.software.clone().unwrap();
        assert_eq!(sw.flowtable_devices, vec!["lan0".to_string(), "x0".into()]);
        assert!(
            p.warnings.iter().any(|w| w.contains("lan0")),
            "{:?}",
            p.warnings
        );
        let dup = &p.zone("lan2").unwrap().devices[0];
        assert_eq!(dup.flowtable, Path::None);
        assert!(dup.reason.contains("zone lan"));
    }

    #[test]
    fn missing_devices_are_skipped_and_a_zone_without_any_is_off() {
        let z = [
            zone("lan", Mode::Software, &["lan0", "gone0"]),
            zone("wan", Mode::Software, &["ppp9"]),
        ];
        let mut f = facts(&[("lan0", false)]);
        f.insert("gone0".into(), DeviceFacts::default());
        let p = plan(&z, &f, &opts());
        let sw = p.software.clone().unwrap();
        assert_eq!(sw.flowtable_devices, vec!["lan0".to_string()]);
        let lan = p.zone("lan").unwrap();
        assert_eq!(lan.effective, Mode::Software);
        assert_eq!(lan.devices[1].reason, "device does not exist");
        let wan = p.zone("wan").unwrap();
        assert_eq!(wan.effective, Mode::Off);
        assert!(wan.reason.contains("no device"));
        assert_eq!(p.offload_for("lan0", "ppp9"), Path::None);
    }

    #[test]
    fn disabled_globally_means_no_tables_and_a_reason() {
        let z = [zone("lan", Mode::Software, &["lan0"])];
        let o = PlanOptions {
            enabled: false,
            ..opts()
        };
        let p = plan(&z, &facts(&[("lan0", false)]), &o);
        assert!(p.software.is_none() && p.hardware.is_none());
        assert!(p.zone("lan").unwrap().reason.contains("disabled"));
    }

    #[test]
    fn a_kernel_without_flowtables_blocks_every_zone_with_its_reason() {
        let z = [zone("lan", Mode::Software, &["lan0"])];
        let o = PlanOptions {
            blocked: Some("install kmod-nft-offload".into()),
            ..opts()
        };
        let p = plan(&z, &facts(&[("lan0", false)]), &o);
        assert!(p.software.is_none());
        let lan = p.zone("lan").unwrap();
        assert_eq!(lan.effective, Mode::Off);
        assert_eq!(lan.reason, "install kmod-nft-offload");
    }

    #[test]
    fn rules_match_l3_devices_while_flowtables_hold_l2_ports() {
        let z = [ZoneInput {
            name: "wan".into(),
            mode: Mode::Hardware,
            l3_devices: vec!["pppoe-wan".into()],
            devices: vec!["eth1".into()],
            hw_devices: vec!["eth1".into()],
        }];
        let f = facts(&[("eth1", true)]);
        let p = plan(&z, &f, &opts());
        let hw = p.hardware.clone().unwrap();
        assert_eq!(hw.ifnames, vec!["pppoe-wan".to_string()]);
        assert_eq!(hw.flowtable_devices, vec!["eth1".to_string()]);
    }

    #[test]
    fn label_bits_are_stable_per_zone_position_and_only_for_offloaded_zones() {
        let z = [
            zone("lan", Mode::Software, &["lan0"]),
            zone("guest", Mode::Off, &["gst0"]),
            zone("wan", Mode::Software, &["wan0"]),
        ];
        let f = facts(&[("lan0", false), ("gst0", false), ("wan0", false)]);
        let p = plan(&z, &f, &opts());
        assert_eq!(p.label_bits(), vec![(0, LABEL_BASE), (2, LABEL_BASE + 2)]);
        let o = PlanOptions {
            labels: false,
            ..opts()
        };
        assert!(plan(&z, &f, &o).label_bits().is_empty());
    }

    #[test]
    fn planning_is_deterministic() {
        let z = [
            zone("wan", Mode::Software, &["wan0"]),
            zone("lan", Mode::Hardware, &["lan1", "lan0"]),
        ];
        let f = facts(&[("lan0", true), ("lan1", true), ("wan0", true)]);
        assert_eq!(plan(&z, &f, &opts()), plan(&z, &f, &opts()));
    }
}
