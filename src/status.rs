//! Status: the one place that turns what we planned and what we observed
//! into the JSON of `docs/ubus-api.md` (for ubus, `nftoffload status
//! --json` and LuCI) and into the readable per-zone table the CLI prints.
//! Pure functions over plain data: no kernel, no ubus.

use crate::config::{Fw4Defaults, Mode};
use crate::plan::{Path, Plan, ZonePlan};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// The OpenWrt package that carries the flowtable modules.
pub const KMOD_PACKAGE: &str = "kmod-nft-offload";

/// Can the kernel do what we need?
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelSupport {
    pub supported: bool,
    pub missing_modules: Vec<String>,
    /// Empty when supported; otherwise what to do about it.
    pub message: String,
    /// Conntrack labels are available (zone attribution).
    pub labels: bool,
}

/// A flowtable as read back from the kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowtableView {
    pub table: String,
    pub name: String,
    pub priority: i32,
    pub flags: Vec<&'static str>,
    pub devices: Vec<String>,
}

/// Offloaded connection counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub software: u64,
    pub hardware: u64,
}

/// Conntrack observation: totals and per zone (in plan zone order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Offloaded {
    pub total: Counts,
    pub tracked: u64,
    pub per_zone: Vec<Counts>,
}

/// The outcome of the last apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LastApply {
    pub ok: bool,
    pub error: String,
    pub duration_us: u64,
    /// Unix time in seconds; 0 = never applied.
    pub time: u64,
}

/// Everything `status` reports.
#[derive(Clone, Debug)]
pub struct Snapshot<'a> {
    pub enabled: bool,
    pub kernel: &'a KernelSupport,
    pub fw4: Fw4Defaults,
    pub plan: &'a Plan,
    pub offloaded: &'a Offloaded,
    pub flowtables: &'a [FlowtableView],
    pub last_apply: &'a LastApply,
}

/// fw4's global switch offloads everything before our rules run.
pub fn fw4_conflict_json(fw4: Fw4Defaults) -> Value {
    let active = fw4.flow_offloading || fw4.flow_offloading_hw;
    let message = if active {
        "fw4's global flow offloading (firewall.@defaults[0].flow_offloading) is on: \
         it offloads every zone before nftoffload's per-zone rules run. Turn it off \
         for per-zone control."
    } else {
        ""
    };
    json!({
        "active": active,
        "flow_offloading": fw4.flow_offloading,
        "flow_offloading_hw": fw4.flow_offloading_hw,
        "message": message,
    })
}

/// One zone, as in `status.zones[]` and the reply of `set`.
pub fn zone_json(z: &ZonePlan, counts: Counts) -> Value {
    let devices: Vec<Value> = z
        .devices
        .iter()
        .map(|d| {
            json!({
                "name": d.name,
                "exists": d.exists,
                "hw_tc_offload": d.hw_tc_offload,
                "flowtable": d.flowtable.as_str(),
                "reason": d.reason,
            })
        })
        .collect();
    json!({
        "name": z.name,
        "mode": z.mode.as_str(),
        "effective": z.effective.as_str(),
        "reason": z.reason,
        "l3_devices": z.l3_devices,
        "devices": devices,
        "offloaded": {"software": counts.software, "hardware": counts.hardware},
    })
}

pub fn flowtable_json(f: &FlowtableView) -> Value {
    json!({
        "table": f.table,
        "name": f.name,
        "hook": "ingress",
        "priority": f.priority,
        "flags": f.flags,
        "devices": f.devices,
    })
}

/// The full `status` reply.
pub fn status_json(s: &Snapshot<'_>) -> Value {
    let zones: Vec<Value> = s
        .plan
        .zones
        .iter()
        .enumerate()
        .map(|(i, z)| zone_json(z, s.offloaded.per_zone.get(i).copied().unwrap_or_default()))
        .collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "enabled": s.enabled,
        "kernel": {
            "supported": s.kernel.supported,
            "missing_modules": s.kernel.missing_modules,
            "package": KMOD_PACKAGE,
            "message": s.kernel.message,
        },
        "fw4_conflict": fw4_conflict_json(s.fw4),
        "zone_attribution": if s.kernel.labels { "ct-label" } else { "unavailable" },
        "offloaded": {
            "software": s.offloaded.total.software,
            "hardware": s.offloaded.total.hardware,
            "tracked": s.offloaded.tracked,
        },
        "zones": zones,
        "flowtables": s.flowtables.iter().map(flowtable_json).collect::<Vec<_>>(),
        "last_apply": {
            "ok": s.last_apply.ok,
            "error": s.last_apply.error,
            "duration_us": s.last_apply.duration_us,
            "time": s.last_apply.time,
        },
    })
}

fn devices_text(z: &ZonePlan, path: Path) -> String {
    let v: Vec<&str> = z
        .devices
        .iter()
        .filter(|d| d.flowtable == path)
        .map(|d| d.name.as_str())
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}

/// The per-zone table printed by `apply` and `status`, from a status reply.
/// Works from JSON so the CLI prints the daemon's view, not its own.
pub fn render_table(status: &Value) -> String {
    let mut out = String::new();
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let n = |v: &Value, a: &str, b: &str| v.get(a).and_then(|x| x.get(b)).and_then(Value::as_u64);
    if let Some(k) = status.get("kernel") {
        if k.get("supported") == Some(&Value::Bool(false)) {
            let _ = writeln!(out, "KERNEL: {}", s(k, "message"));
        }
    }
    if let Some(c) = status.get("fw4_conflict") {
        if c.get("active") == Some(&Value::Bool(true)) {
            let _ = writeln!(out, "CONFLICT: {}", s(c, "message"));
        }
    }
    let _ = writeln!(
        out,
        "{:<12} {:<9} {:<9} {:>6} {:>6}  {:<24} {:<24}",
        "ZONE", "MODE", "EFFECTIVE", "SW", "HW", "SW DEVICES", "HW DEVICES"
    );
    let empty = Vec::new();
    let zones = status
        .get("zones")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    for z in zones {
        let devs = |path: &str| {
            let v: Vec<String> = z
                .get("devices")
                .and_then(Value::as_array)
                .unwrap_or(&empty)
                .iter()
                .filter(|d| d.get("flowtable").and_then(Value::as_str) == Some(path))
                .map(|d| s(d, "name"))
                .collect();
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(",")
            }
        };
        let count = |k| n(z, "offloaded", k).map_or("-".into(), |c| c.to_string());
        let _ = writeln!(
            out,
            "{:<12} {:<9} {:<9} {:>6} {:>6}  {:<24} {:<24}",
            s(z, "name"),
            s(z, "mode"),
            s(z, "effective"),
            count("software"),
            count("hardware"),
            devs("software"),
            devs("hardware"),
        );
        let reason = s(z, "reason");
        if !reason.is_empty() {
            let _ = writeln!(out, "  {}: {reason}", s(z, "name"));
        }
    }
    if let Some(a) = status.get("last_apply") {
        let err = s(a, "error");
        if !err.is_empty() {
            let _ = writeln!(out, "last apply failed: {err}");
        }
    }
    out
}

/// A one-line summary per zone, for logs.
pub fn zone_summary(z: &ZonePlan) -> String {
    let mut s = format!("{}: {}", z.name, z.effective);
    if z.effective != z.mode && z.mode != Mode::Off {
        let _ = write!(s, " (configured {})", z.mode);
    }
    if z.effective != Mode::Off {
        let _ = write!(s, " [sw {}]", devices_text(z, Path::Software));
        if z.effective == Mode::Hardware {
            let _ = write!(s, " [hw {}]", devices_text(z, Path::Hardware));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{plan, DeviceFacts, PlanOptions, ZoneInput};
    use std::collections::BTreeMap;

    fn sample_plan() -> Plan {
        let z = |n: &str, m, d: &str| ZoneInput {
            name: n.into(),
            mode: m,
            l3_devices: vec![d.into()],
            devices: vec![d.into()],
            hw_devices: vec![d.into()],
        };
        let facts: BTreeMap<String, DeviceFacts> = ["lan0", "wan0", "gst0"]
            .iter()
            .map(|d| {
                (
                    d.to_string(),
                    DeviceFacts {
                        exists: true,
                        hw_tc_offload: Some(false),
                    },
                )
            })
            .collect();
        plan(
            &[
                z("lan", Mode::Hardware, "lan0"),
                z("wan", Mode::Software, "wan0"),
                z("guest", Mode::Off, "gst0"),
            ],
            &facts,
            &PlanOptions::default(),
        )
    }

    #[test]
    fn status_json_has_the_documented_keys_in_order() {
        let p = sample_plan();
        let k = KernelSupport {
            supported: true,
            labels: true,
            ..Default::default()
        };
        let off = Offloaded {
            total: Counts {
                software: 3,
                hardware: 0,
            },
            tracked: 10,
            per_zone: vec![
                Counts {
                    software: 3,
                    hardware: 0,
                },
                Counts {
                    software: 3,
                    hardware: 0,
                },
            ],
        };
        let la = LastApply {
            ok: true,
            ..Default::default()
        };
        let v = status_json(&Snapshot {
            enabled: true,
            kernel: &k,
            fw4: Fw4Defaults::default(),
            plan: &p,
            offloaded: &off,
            flowtables: &[],
            last_apply: &la,
        });
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "version",
                "enabled",
                "kernel",
                "fw4_conflict",
                "zone_attribution",
                "offloaded",
                "zones",
                "flowtables",
                "last_apply"
            ]
        );
        assert_eq!(v["kernel"]["package"], "kmod-nft-offload");
        let lan = &v["zones"][0];
        assert_eq!(lan["mode"], "hardware");
        assert_eq!(lan["effective"], "software");
        assert_eq!(lan["devices"][0]["hw_tc_offload"], false);
        assert_eq!(lan["offloaded"]["software"], 3);
        // A zone with no observation gets zero counts, not a missing key.
        assert_eq!(v["zones"][2]["offloaded"]["software"], 0);
        let table = render_table(&v);
        assert!(table.contains("lan"), "{table}");
        assert!(table.contains("hw-tc-offload"), "{table}");
    }

    #[test]
    fn fw4_conflict_is_active_with_either_switch() {
        let on = fw4_conflict_json(Fw4Defaults {
            flow_offloading: false,
            flow_offloading_hw: true,
        });
        assert_eq!(on["active"], true);
        assert!(on["message"].as_str().unwrap().contains("flow_offloading"));
        assert_eq!(fw4_conflict_json(Fw4Defaults::default())["active"], false);
    }

    #[test]
    fn render_table_shows_kernel_problem_first() {
        let v = json!({"kernel": {"supported": false, "message": "install kmod-nft-offload"}, "zones": []});
        assert!(render_table(&v).starts_with("KERNEL: install kmod-nft-offload"));
    }

    #[test]
    fn zone_summary_names_devices() {
        let p = sample_plan();
        assert_eq!(
            zone_summary(&p.zones[0]),
            "lan: software (configured hardware) [sw lan0]"
        );
        assert_eq!(zone_summary(&p.zones[2]), "guest: off");
    }
}
