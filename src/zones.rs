//! Zone resolution: firewall zones → Linux devices, following fw4's rules.
//! A zone's `list network` entries resolve through netifd's
//! `network.interface dump`: the L2 `device` becomes a flowtable device and
//! the `l3_device` is what the forward rules match. `list device` entries
//! are taken as they are, for both. For hardware offload, bridges and
//! VLANs are replaced by the ports below them (`observe::sysfs`, which
//! follows fw4's `resolve_lower_devices`). Device facts come from a
//! [`DeviceView`], so this module is testable without a kernel.

use crate::config::{FirewallConfig, OffloadConfig};
use crate::plan::{DeviceFacts, ZoneInput};
use std::collections::BTreeMap;

/// One entry of netifd's `network.interface dump`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetifdInterface {
    pub interface: String,
    pub up: bool,
    /// The L2 device (`device`).
    pub device: Option<String>,
    /// The L3 device (`l3_device`), present while the interface is up.
    pub l3_device: Option<String>,
}

impl NetifdInterface {
    /// Parse netifd's `dump` reply: `{"interface": [{...}, ...]}`.
    /// Entries without a name are skipped; this never fails on odd input.
    pub fn parse_dump(v: &serde_json::Value) -> Vec<NetifdInterface> {
        let Some(list) = v.get("interface").and_then(|l| l.as_array()) else {
            return Vec::new();
        };
        let s = |e: &serde_json::Value, k: &str| {
            e.get(k)
                .and_then(|x| x.as_str())
                .filter(|x| !x.is_empty())
                .map(str::to_string)
        };
        list.iter()
            .filter_map(|e| {
                Some(NetifdInterface {
                    interface: s(e, "interface")?,
                    up: e.get("up").and_then(|u| u.as_bool()).unwrap_or(false),
                    device: s(e, "device"),
                    l3_device: s(e, "l3_device"),
                })
            })
            .collect()
    }
}

/// What zone resolution needs to know about devices.
pub trait DeviceView {
    fn exists(&self, dev: &str) -> bool;
    /// The ports a device stands for in a hardware flowtable (fw4's
    /// resolution: a bridge or VLAN becomes its lower ports).
    fn hw_ports(&self, dev: &str) -> Vec<String>;
    /// ethtool's `hw-tc-offload`, `None` if unreadable.
    fn hw_tc_offload(&self, dev: &str) -> Option<bool>;
}

/// The running system: sysfs for existence and lower ports, ethtool for
/// the `hw-tc-offload` feature.
pub struct SystemDevices;

impl DeviceView for SystemDevices {
    fn exists(&self, dev: &str) -> bool {
        crate::observe::sysfs::exists(dev)
    }
    fn hw_ports(&self, dev: &str) -> Vec<String> {
        crate::observe::sysfs::lower_devices(dev)
    }
    fn hw_tc_offload(&self, dev: &str) -> Option<bool> {
        match crate::observe::ethtool::hw_tc_offload(dev) {
            Ok(v) => v.map(|h| h.active),
            Err(e) => {
                log::debug!("{dev}: cannot read hw-tc-offload: {e}");
                None
            }
        }
    }
}

/// The resolved zones, the facts of every device they name, and warnings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    pub zones: Vec<ZoneInput>,
    pub facts: BTreeMap<String, DeviceFacts>,
    pub warnings: Vec<String>,
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// Resolve every firewall zone (in firewall order) to devices.
pub fn resolve(
    fw: &FirewallConfig,
    cfg: &OffloadConfig,
    netifd: Option<&[NetifdInterface]>,
    view: &dyn DeviceView,
) -> Resolved {
    let mut out = Resolved::default();
    for z in &cfg.zones {
        if !fw.zones.iter().any(|f| f.name == z.name) {
            out.warnings.push(format!(
                "zone {} is configured in nftoffload but not defined in the firewall; ignored",
                z.name
            ));
        }
    }
    for fz in &fw.zones {
        let mut zi = ZoneInput {
            name: fz.name.clone(),
            mode: cfg.mode_of(&fz.name),
            ..Default::default()
        };
        for net in &fz.networks {
            let Some(list) = netifd else {
                out.warnings.push(format!(
                    "zone {}: network {net} not resolved (netifd is not available); use 'list device'",
                    fz.name
                ));
                continue;
            };
            match list.iter().find(|i| i.interface == *net) {
                Some(ifc) => {
                    let ok = |d: &&str| crate::observe::ethtool::validate_ifname(d).is_ok();
                    let l2 = ifc
                        .device
                        .as_deref()
                        .or(ifc.l3_device.as_deref())
                        .filter(ok);
                    let l3 = ifc
                        .l3_device
                        .as_deref()
                        .or(ifc.device.as_deref())
                        .filter(ok);
                    if let Some(d) = l2 {
                        push_unique(&mut zi.devices, d);
                    }
                    if let Some(d) = l3 {
                        push_unique(&mut zi.l3_devices, d);
                    }
                }
                None => out.warnings.push(format!(
                    "zone {}: network {net} is not known to netifd",
                    fz.name
                )),
            }
        }
        for dev in &fz.devices {
            if dev.ends_with('+') || dev.contains('*') {
                // fw4 matches wildcards in rules, but a flowtable needs
                // real devices.
                out.warnings.push(format!(
                    "zone {}: wildcard device {dev} cannot be offloaded; list its devices",
                    fz.name
                ));
                continue;
            }
            if let Err(e) = crate::observe::ethtool::validate_ifname(dev) {
                out.warnings.push(format!("zone {}: {e}; ignored", fz.name));
                continue;
            }
            push_unique(&mut zi.devices, dev);
            push_unique(&mut zi.l3_devices, dev);
        }
        for dev in &zi.devices {
            for port in view.hw_ports(dev) {
                push_unique(&mut zi.hw_devices, &port);
            }
        }
        for dev in zi.devices.iter().chain(zi.hw_devices.iter()) {
            out.facts.entry(dev.clone()).or_insert_with(|| {
                let exists = view.exists(dev);
                DeviceFacts {
                    exists,
                    hw_tc_offload: if exists {
                        view.hw_tc_offload(dev)
                    } else {
                        None
                    },
                }
            });
        }
        out.zones.push(zi);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FwZone, Mode, ZoneMode};

    /// A test double of the kernel's device view: a fixed map of devices.
    #[derive(Default)]
    struct FakeDevices {
        devs: BTreeMap<&'static str, (Vec<&'static str>, Option<bool>)>,
    }

    impl FakeDevices {
        fn with(mut self, d: &'static str, lower: &[&'static str], hw: Option<bool>) -> Self {
            self.devs.insert(d, (lower.to_vec(), hw));
            self
        }
    }

    impl DeviceView for FakeDevices {
        fn exists(&self, dev: &str) -> bool {
            self.devs.contains_key(dev)
        }
        fn hw_ports(&self, dev: &str) -> Vec<String> {
            match self.devs.get(dev) {
                None => Vec::new(),
                Some((lower, _)) if lower.is_empty() => vec![dev.to_string()],
                Some((lower, _)) => lower.iter().map(|s| s.to_string()).collect(),
            }
        }
        fn hw_tc_offload(&self, dev: &str) -> Option<bool> {
            self.devs.get(dev).and_then(|d| d.1)
        }
    }

    fn fw() -> FirewallConfig {
        FirewallConfig {
            zones: vec![
                FwZone {
                    name: "lan".into(),
                    networks: vec!["lan".into()],
                    devices: vec![],
                },
                FwZone {
                    name: "wan".into(),
                    networks: vec!["wan".into(), "wan6".into()],
                    devices: vec![
                        "tun0".into(),
                        "tun+".into(),
                        "a-very-long-device-name".into(),
                    ],
                },
            ],
            ..Default::default()
        }
    }

    fn netifd() -> Vec<NetifdInterface> {
        let dump = serde_json::json!({"interface": [
            {"interface": "lan", "up": true, "device": "br-lan", "l3_device": "br-lan"},
            {"interface": "wan", "up": true, "device": "eth1", "l3_device": "pppoe-wan"},
            {"interface": "wan6", "up": false, "device": "eth1"},
            {"up": true, "device": "nameless"},
        ]});
        NetifdInterface::parse_dump(&dump)
    }

    #[test]
    fn netifd_dump_parses_and_skips_nameless_entries() {
        let n = netifd();
        assert_eq!(n.len(), 3);
        assert_eq!(n[1].l3_device.as_deref(), Some("pppoe-wan"));
        assert_eq!(n[2].l3_device, None);
        assert!(NetifdInterface::parse_dump(&serde_json::json!({"x": 1})).is_empty());
    }

    #[test]
    fn networks_give_l2_flowtable_devices_and_l3_rule_devices() {
        let view = FakeDevices::default()
            .with("br-lan", &["lan1", "lan2"], Some(false))
            .with("lan1", &[], Some(true))
            .with("lan2", &[], Some(false))
            .with("eth1", &[], Some(true))
            .with("tun0", &[], None);
        let cfg = OffloadConfig {
            zones: vec![ZoneMode {
                name: "lan".into(),
                mode: Mode::Hardware,
            }],
            ..Default::default()
        };
        let n = netifd();
        let r = resolve(&fw(), &cfg, Some(&n), &view);
        let lan = &r.zones[0];
        assert_eq!(lan.mode, Mode::Hardware);
        assert_eq!(lan.devices, vec!["br-lan"]);
        assert_eq!(lan.l3_devices, vec!["br-lan"]);
        // Hardware flowtables hold the bridge's ports.
        assert_eq!(lan.hw_devices, vec!["lan1", "lan2"]);
        let wan = &r.zones[1];
        assert_eq!(wan.mode, Mode::Off, "zones without a section are off");
        assert_eq!(wan.devices, vec!["eth1", "tun0"]);
        assert_eq!(wan.l3_devices, vec!["pppoe-wan", "eth1", "tun0"]);
        assert_eq!(r.facts["lan2"].hw_tc_offload, Some(false));
        assert!(r.facts["tun0"].exists);
    }

    #[test]
    fn without_netifd_networks_are_reported_and_devices_still_work() {
        let view = FakeDevices::default().with("tun0", &[], None);
        let r = resolve(&fw(), &OffloadConfig::default(), None, &view);
        assert_eq!(r.zones[1].devices, vec!["tun0"]);
        assert!(r.warnings.iter().any(|w| w.contains("network lan")));
        assert!(r
            .warnings
            .iter()
            .any(|w| w.contains("wildcard device tun+")));
    }

    #[test]
    fn configured_zone_missing_from_firewall_is_warned() {
        let cfg = OffloadConfig {
            zones: vec![ZoneMode {
                name: "dmz".into(),
                mode: Mode::Software,
            }],
            ..Default::default()
        };
        let r = resolve(&fw(), &cfg, Some(&netifd()), &FakeDevices::default());
        assert!(r.warnings.iter().any(|w| w.contains("dmz")));
        assert!(!r.facts["br-lan"].exists);
    }
}
