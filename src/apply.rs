//! Apply: bring our nf_tables tables to the plan in one atomic batch, and
//! read them back. It owns the ruleset's shape (see `plan` for why there
//! are two tables) and never names a table that is not ours
//! (`nftoffload`, `nftoffload_hw`), so fw4's table is never touched.
//!
//! A table that already exists with the right flowtable is updated in
//! place: its rules and sets are replaced, devices are added to or removed
//! from the flowtable, and the flowtable itself stays, so connections that
//! are already offloaded stay offloaded across a change. Otherwise the
//! table is (re)created. [`build`] is pure; [`Kernel`] does the I/O.

use crate::error::{Error, Result};
use crate::nft::{
    BaseChain, Batch, Chain, CmpOp, CtKey, Expr, Flowtable, Hook, MetaKey, Nft, Rule, Set, Table,
    Verdict, FLOWTABLE_COUNTER, FLOWTABLE_HW_OFFLOAD, NFPROTO_INET,
};
use crate::plan::{FlowPlan, Plan};
use crate::probe::{self, ProbeResult};
use crate::status::{FlowtableView, KernelSupport};
use std::collections::BTreeMap;

pub const SW_TABLE: &str = "nftoffload";
pub const HW_TABLE: &str = "nftoffload_hw";
const FLOWTABLE: &str = "ft";
const FORWARD: &str = "forward";
/// Not "offload": that is an nft keyword, and `nft list ruleset` output must
/// load back with `nft -f`.
const OFFLOAD: &str = "zones";
/// fw4's forward chain runs at `priority filter` (0). Ours run after it,
/// so a packet fw4 drops never reaches them; hardware first, so that its
/// `flow add` wins for hardware pairs.
const HW_PRIORITY: i32 = 5;
const SW_PRIORITY: i32 = 10;
const _: () = assert!(0 < HW_PRIORITY && HW_PRIORITY < SW_PRIORITY);
/// Flowtable ingress hook priority (`priority filter`).
const FT_PRIORITY: i32 = 0;
const NFT_REG_1: u32 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IP_CT_DIR_ORIGINAL: u8 = 0;

/// Our two tables, with what differs between them.
struct Spec {
    table: &'static str,
    flags: u32,
    chain_priority: i32,
    ifset: &'static str,
}

const SPECS: [Spec; 2] = [
    Spec {
        table: SW_TABLE,
        flags: FLOWTABLE_COUNTER,
        chain_priority: SW_PRIORITY,
        ifset: "sw_if",
    },
    Spec {
        table: HW_TABLE,
        flags: FLOWTABLE_HW_OFFLOAD | FLOWTABLE_COUNTER,
        chain_priority: HW_PRIORITY,
        ifset: "hw_if",
    },
];

/// What one of our tables holds in the kernel now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableState {
    pub flowtable: Option<Flowtable>,
    pub chains: Vec<String>,
    pub sets: Vec<String>,
}

/// Our tables as they are in the kernel (absent tables are not in the map).
pub type Current = BTreeMap<String, TableState>;

fn flowtable(table: &str, flags: u32, devices: Vec<String>) -> Flowtable {
    Flowtable {
        family: NFPROTO_INET,
        table: table.to_string(),
        name: FLOWTABLE.to_string(),
        hook: 0,
        priority: FT_PRIORITY,
        devices,
        flags,
    }
}

fn chain(table: &str, name: &str, priority: Option<i32>) -> Chain {
    Chain {
        family: NFPROTO_INET,
        table: table.to_string(),
        name: name.to_string(),
        base: priority.map(|priority| BaseChain {
            hook: Hook::Forward,
            priority,
            chain_type: "filter".to_string(),
        }),
        policy: priority.map(|_| Verdict::Accept),
    }
}

/// `meta KEY @set` as nft compiles it: load into reg 1, look up.
fn match_set(key: MetaKey, set: &Set) -> [Expr; 2] {
    [
        Expr::meta(key, NFT_REG_1),
        Expr::lookup(NFT_REG_1, &set.name, Some(set.id)),
    ]
}

/// The sets and rules of one table, in creation order.
fn objects(spec: &Spec, fp: &FlowPlan, plan: &Plan) -> (Vec<Set>, Vec<Chain>, Vec<Rule>) {
    let t = spec.table;
    let mut next_id = 1;
    let mut id = || {
        next_id += 1;
        next_id - 1
    };
    let l4 = Set::inet_proto(NFPROTO_INET, t, "l4", id(), &[IPPROTO_TCP, IPPROTO_UDP]);
    let names: Vec<&str> = fp.ifnames.iter().map(String::as_str).collect();
    let ifs = Set::ifname(NFPROTO_INET, t, spec.ifset, id(), &names);
    let mut head = Vec::new();
    head.extend(match_set(MetaKey::L4PROTO, &l4));
    // `ct direction original`: only packets in the direction fw4 judged
    // when it accepted the connection may offload it. Otherwise a reply
    // packet fw4 accepts could offload a flow whose original direction
    // fw4 drops, and that direction would then bypass fw4 (seen in the
    // VM test t_nftoffload d).
    head.extend([
        Expr::Ct {
            key: CtKey::DIRECTION,
            dir: None,
            dreg: NFT_REG_1,
        },
        Expr::cmp(CmpOp::Eq, NFT_REG_1, vec![IP_CT_DIR_ORIGINAL]),
    ]);
    head.extend(match_set(MetaKey::IIFNAME, &ifs));
    head.extend(match_set(MetaKey::OIFNAME, &ifs));
    head.push(Expr::counter());

    let mut sets = Vec::new();
    let mut rules = Vec::new();
    let mut chains = vec![chain(t, FORWARD, Some(spec.chain_priority))];
    if spec.table == HW_TABLE {
        head.push(Expr::flow_offload(FLOWTABLE));
        rules.push(Rule::new(NFPROTO_INET, t, FORWARD, head));
    } else {
        // Software: tag both ends' zones with their label bits, then
        // offload. The regular chain is only entered by offloadable pairs.
        chains.push(chain(t, OFFLOAD, None));
        head.push(Expr::verdict(Verdict::Goto(OFFLOAD.to_string())));
        rules.push(Rule::new(NFPROTO_INET, t, FORWARD, head));
        for (i, z) in plan.zones.iter().enumerate() {
            let (Some(bit), Some(label)) = (z.label_bit, z.label_bit.and_then(Expr::ct_label_set))
            else {
                continue;
            };
            let zl3: Vec<&str> = z
                .l3_devices
                .iter()
                .filter(|d| fp.ifnames.contains(d))
                .map(String::as_str)
                .collect();
            if zl3.is_empty() {
                continue;
            }
            let zs = Set::ifname(NFPROTO_INET, t, &format!("z{i}"), id(), &zl3);
            for key in [MetaKey::IIFNAME, MetaKey::OIFNAME] {
                let mut e = match_set(key, &zs).to_vec();
                e.extend(label.iter().cloned());
                rules.push(Rule::new(NFPROTO_INET, t, OFFLOAD, e));
            }
            let _ = bit;
            sets.push(zs);
        }
        rules.push(Rule::new(
            NFPROTO_INET,
            t,
            OFFLOAD,
            vec![Expr::counter(), Expr::flow_offload(FLOWTABLE)],
        ));
    }
    sets.insert(0, ifs);
    sets.insert(0, l4);
    (sets, chains, rules)
}

/// The batch that takes the kernel from `current` to `plan`. Pure.
pub fn build(plan: &Plan, current: &Current) -> Batch {
    let mut b = Batch::new();
    for spec in &SPECS {
        let want = if spec.table == SW_TABLE {
            plan.software.as_ref()
        } else {
            plan.hardware.as_ref()
        };
        let cur = current.get(spec.table);
        let Some(fp) = want else {
            if cur.is_some() {
                b.del_table(NFPROTO_INET, spec.table);
            }
            continue;
        };
        let ft = flowtable(spec.table, spec.flags, fp.flowtable_devices.clone());
        let (sets, chains, rules) = objects(spec, fp, plan);
        let reusable = cur.filter(|c| {
            c.flowtable
                .as_ref()
                .is_some_and(|f| f.flags == spec.flags && f.priority == FT_PRIORITY && f.hook == 0)
                && chains.iter().all(|ch| c.chains.contains(&ch.name))
        });
        match reusable {
            Some(c) => {
                b.flush_rules(NFPROTO_INET, spec.table, None);
                for s in &c.sets {
                    b.del_set(NFPROTO_INET, spec.table, s);
                }
                for s in &sets {
                    b.add_set(s);
                }
                let have = c
                    .flowtable
                    .as_ref()
                    .map(|f| f.devices.clone())
                    .unwrap_or_default();
                let extra: Vec<String> = have
                    .iter()
                    .filter(|d| !fp.flowtable_devices.contains(d))
                    .cloned()
                    .collect();
                if !extra.is_empty() {
                    b.del_flowtable_devices(&ft, &extra);
                }
                if fp.flowtable_devices.iter().any(|d| !have.contains(d)) {
                    b.add_flowtable(&ft);
                }
            }
            None => {
                if cur.is_some() {
                    b.del_table(NFPROTO_INET, spec.table);
                }
                b.add_table(&Table {
                    family: NFPROTO_INET,
                    name: spec.table.to_string(),
                });
                for s in &sets {
                    b.add_set(s);
                }
                b.add_flowtable(&ft);
                for c in &chains {
                    b.add_chain(c);
                }
            }
        }
        for r in &rules {
            b.add_rule(r);
        }
    }
    b
}

/// Why an apply failed.
#[derive(Debug)]
pub enum ApplyError {
    /// The kernel refused `flags offload` on the hardware flowtable.
    HardwareRefused(String),
    Failed(Error),
}

impl From<ApplyError> for Error {
    fn from(e: ApplyError) -> Error {
        match e {
            ApplyError::HardwareRefused(m) => Error::unsupported(m),
            ApplyError::Failed(e) => e,
        }
    }
}

fn nl(what: &str) -> impl FnOnce(crate::netlink::Error) -> Error + '_ {
    move |e| Error::failed(format!("{what}: {e}"))
}

/// What `verify` read of our tables besides `Current`: the elements of
/// every set the plan expects (`None`: the set is missing) and all rules.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub sets: BTreeMap<(String, String), Option<Vec<Vec<u8>>>>,
    pub rules: BTreeMap<String, Vec<Rule>>,
}

fn set_text(s: &Set, elements: &[Vec<u8>]) -> String {
    let mut v = Set {
        elements: elements.to_vec(),
        ..s.clone()
    }
    .ifnames();
    v.sort();
    v.join(", ")
}

/// Differences between the kernel and the plan, as readable lines: our
/// tables, flowtables (flags, devices), chains, set elements and rules.
pub fn diff(plan: &Plan, current: &Current, observed: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    for spec in &SPECS {
        let want = if spec.table == SW_TABLE {
            plan.software.as_ref()
        } else {
            plan.hardware.as_ref()
        };
        let t = spec.table;
        let (fp, c) = match (want, current.get(t)) {
            (None, None) => continue,
            (None, Some(_)) => {
                out.push(format!("table inet {t} should not exist"));
                continue;
            }
            (Some(_), None) => {
                out.push(format!("table inet {t} is missing"));
                continue;
            }
            (Some(fp), Some(c)) => (fp, c),
        };
        match &c.flowtable {
            None => out.push(format!("flowtable {t} ft is missing")),
            Some(ft) => {
                if ft.flags != spec.flags {
                    out.push(format!("flowtable {t} ft has flags {:#x}", ft.flags));
                }
                let mut have = ft.devices.clone();
                have.sort();
                if have != fp.flowtable_devices {
                    out.push(format!(
                        "flowtable {t} ft holds [{}], plan [{}]",
                        have.join(", "),
                        fp.flowtable_devices.join(", ")
                    ));
                }
            }
        }
        let (sets, chains, rules) = objects(spec, fp, plan);
        for ch in &chains {
            if !c.chains.contains(&ch.name) {
                out.push(format!("chain {t} {} is missing", ch.name));
            }
        }
        for set in &sets {
            match observed.sets.get(&(t.to_string(), set.name.clone())) {
                Some(Some(have)) => {
                    let (mut a, mut b) = (have.clone(), set.elements.clone());
                    a.sort();
                    b.sort();
                    if a != b {
                        out.push(format!(
                            "set {t} {} holds [{}], plan [{}]",
                            set.name,
                            set_text(set, have),
                            set_text(set, &set.elements)
                        ));
                    }
                }
                _ => out.push(format!("set {t} {} is missing", set.name)),
            }
        }
        let empty = Vec::new();
        let have = observed.rules.get(t).unwrap_or(&empty);
        for ch in &chains {
            let want: Vec<&Rule> = rules.iter().filter(|r| r.chain == ch.name).collect();
            let got: Vec<&Rule> = have.iter().filter(|r| r.chain == ch.name).collect();
            if want.len() != got.len() || want.iter().zip(&got).any(|(w, g)| !w.same_as(g)) {
                out.push(format!(
                    "chain {t} {} has {} rule(s) that differ from the plan's {}",
                    ch.name,
                    got.len(),
                    want.len()
                ));
            }
        }
    }
    out
}

/// Our handle on nf_tables.
pub struct Kernel {
    nft: Nft,
}

impl Kernel {
    pub fn open() -> Result<Kernel> {
        Ok(Kernel {
            nft: Nft::open().map_err(nl("netlink socket"))?,
        })
    }

    pub fn portid(&self) -> u32 {
        self.nft.portid()
    }

    /// Can this kernel hold a flowtable, and conntrack labels? Creates and
    /// removes a throwaway table; nothing is left behind either way.
    pub fn probe(&mut self) -> KernelSupport {
        let t = probe::PROBE_TABLE;
        let try_batch = |nft: &mut Nft, build: &dyn Fn(&mut Batch)| {
            let mut b = Batch::new();
            b.add_table(&Table {
                family: NFPROTO_INET,
                name: t.to_string(),
            });
            b.del_table(NFPROTO_INET, t);
            b.add_table(&Table {
                family: NFPROTO_INET,
                name: t.to_string(),
            });
            build(&mut b);
            b.del_table(NFPROTO_INET, t);
            match nft.apply(&b) {
                Ok(()) => ProbeResult::Ok,
                Err(e) => ProbeResult::Refused {
                    errno: e.errno,
                    message: e.to_string(),
                },
            }
        };
        let ft = try_batch(&mut self.nft, &|b| {
            b.add_flowtable(&flowtable(t, FLOWTABLE_COUNTER, Vec::new()));
        });
        let labels = try_batch(&mut self.nft, &|b| {
            b.add_chain(&chain(t, "c", None));
            if let Some(l) = Expr::ct_label_set(crate::plan::LABEL_BASE) {
                b.add_rule(&Rule::new(NFPROTO_INET, t, "c", l.to_vec()));
            }
        });
        let missing = probe::missing_modules(std::path::Path::new("/sys/module"));
        probe::interpret(&ft, &labels, missing)
    }

    /// Our tables as they are now.
    pub fn current(&mut self) -> Result<Current> {
        let tables = self.nft.list_tables().map_err(nl("listing tables"))?;
        let mut out = Current::new();
        for spec in &SPECS {
            if !tables
                .iter()
                .any(|(f, n)| *f == NFPROTO_INET && n == spec.table)
            {
                continue;
            }
            let what = format!("reading table inet {}", spec.table);
            let fts = self
                .nft
                .get_flowtables(NFPROTO_INET, spec.table)
                .map_err(nl(&what))?;
            let chains = self
                .nft
                .get_chains(NFPROTO_INET, spec.table)
                .map_err(nl(&what))?;
            let sets = self
                .nft
                .get_sets(NFPROTO_INET, spec.table)
                .map_err(nl(&what))?;
            out.insert(
                spec.table.to_string(),
                TableState {
                    flowtable: fts.into_iter().find(|f| f.name == FLOWTABLE),
                    chains: chains.into_iter().map(|c| c.name).collect(),
                    sets: sets.into_iter().map(|s| s.name).collect(),
                },
            );
        }
        Ok(out)
    }

    /// One atomic batch from the current state to the plan.
    pub fn apply(&mut self, plan: &Plan) -> Result<(), ApplyError> {
        let current = self.current().map_err(ApplyError::Failed)?;
        let batch = build(plan, &current);
        match self.nft.apply(&batch) {
            Ok(()) => Ok(()),
            Err(e)
                if e.errno == libc::EOPNOTSUPP
                    && e.description.contains("flowtable")
                    && e.description.contains(HW_TABLE) =>
            {
                Err(ApplyError::HardwareRefused(e.to_string()))
            }
            Err(e) => Err(ApplyError::Failed(e.into())),
        }
    }

    /// What differs between the kernel and the plan.
    pub fn verify(&mut self, plan: &Plan) -> Result<Vec<String>> {
        let current = self.current()?;
        let mut observed = Observed::default();
        for spec in &SPECS {
            let want = if spec.table == SW_TABLE {
                plan.software.as_ref()
            } else {
                plan.hardware.as_ref()
            };
            let (Some(fp), Some(c)) = (want, current.get(spec.table)) else {
                continue;
            };
            let (sets, _, _) = objects(spec, fp, plan);
            for set in &sets {
                let elements = if c.sets.contains(&set.name) {
                    Some(
                        self.nft
                            .get_set_elements(NFPROTO_INET, spec.table, &set.name)
                            .map_err(nl("reading set elements"))?,
                    )
                } else {
                    None
                };
                observed
                    .sets
                    .insert((spec.table.to_string(), set.name.clone()), elements);
            }
            let rules = self
                .nft
                .get_rules(NFPROTO_INET, spec.table)
                .map_err(nl("reading rules"))?;
            observed.rules.insert(spec.table.to_string(), rules);
        }
        Ok(diff(plan, &current, &observed))
    }

    /// Remove our tables (no error if they are not there).
    pub fn flush(&mut self) -> Result<()> {
        let current = self.current()?;
        let mut b = Batch::new();
        for t in current.keys() {
            b.del_table(NFPROTO_INET, t);
        }
        self.nft.apply(&b).map_err(Error::from)
    }

    /// Our flowtables as the kernel reports them.
    pub fn flowtables(&mut self) -> Result<Vec<FlowtableView>> {
        let current = self.current()?;
        Ok(current
            .into_iter()
            .filter_map(|(table, st)| {
                let f = st.flowtable?;
                let mut flags = Vec::new();
                if f.flags & FLOWTABLE_HW_OFFLOAD != 0 {
                    flags.push("offload");
                }
                if f.flags & FLOWTABLE_COUNTER != 0 {
                    flags.push("counter");
                }
                Some(FlowtableView {
                    table,
                    name: f.name,
                    priority: f.priority,
                    flags,
                    devices: f.devices,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;
    use crate::plan::{plan, DeviceFacts, PlanOptions, ZoneInput};

    fn sample(modes: [Mode; 3], hw: bool) -> Plan {
        let z = |n: &str, m, d: &str| ZoneInput {
            name: n.into(),
            mode: m,
            l3_devices: vec![d.into()],
            devices: vec![d.into()],
            hw_devices: vec![d.into()],
        };
        let facts = ["lan0", "wan0", "gst0"]
            .iter()
            .map(|d| {
                (
                    d.to_string(),
                    DeviceFacts {
                        exists: true,
                        hw_tc_offload: Some(hw),
                    },
                )
            })
            .collect();
        plan(
            &[
                z("lan", modes[0], "lan0"),
                z("wan", modes[1], "wan0"),
                z("guest", modes[2], "gst0"),
            ],
            &facts,
            &PlanOptions::default(),
        )
    }

    fn descs(b: &Batch) -> Vec<String> {
        b.descriptions().map(str::to_string).collect()
    }

    #[test]
    fn fresh_software_plan_creates_one_table_with_a_counter_flowtable() {
        let p = sample([Mode::Software, Mode::Software, Mode::Off], false);
        let d = descs(&build(&p, &Current::new()));
        assert!(d[0].starts_with("add table inet nftoffload"), "{d:?}");
        assert!(d.iter().all(|x| !x.contains("nftoffload_hw")), "{d:?}");
        let ft = d.iter().find(|x| x.contains("add flowtable")).unwrap();
        assert!(ft.contains("lan0, wan0") && !ft.contains("gst0"), "{ft}");
        // The counter flag is always set on both tables.
        for spec in &SPECS {
            assert_ne!(spec.flags & FLOWTABLE_COUNTER, 0);
        }
    }

    #[test]
    fn hardware_plan_adds_the_hardware_table_first_in_priority() {
        let p = sample([Mode::Hardware, Mode::Hardware, Mode::Off], true);
        let d = descs(&build(&p, &Current::new()));
        assert!(
            d.iter()
                .any(|x| x.starts_with("add table inet nftoffload_hw")),
            "{d:?}"
        );
    }

    #[test]
    fn an_existing_table_is_updated_in_place_keeping_its_flowtable() {
        let p = sample([Mode::Software, Mode::Software, Mode::Software], false);
        let mut cur = Current::new();
        cur.insert(
            SW_TABLE.into(),
            TableState {
                flowtable: Some(flowtable(
                    SW_TABLE,
                    FLOWTABLE_COUNTER,
                    vec!["lan0".into(), "wan0".into(), "old0".into()],
                )),
                chains: vec![FORWARD.into(), OFFLOAD.into()],
                sets: vec!["l4".into(), "sw_if".into(), "z0".into()],
            },
        );
        let d = descs(&build(&p, &cur));
        assert!(!d.iter().any(|x| x.contains("delete table")), "{d:?}");
        assert!(!d.iter().any(|x| x.starts_with("add table")), "{d:?}");
        assert!(d.iter().any(|x| x.contains("delete devices old0")), "{d:?}");
        assert!(
            d.iter()
                .any(|x| x.contains("add flowtable") && x.contains("gst0")),
            "{d:?}"
        );
    }

    #[test]
    fn nothing_to_offload_deletes_only_our_existing_tables() {
        let p = sample([Mode::Off, Mode::Off, Mode::Off], false);
        assert!(build(&p, &Current::new()).is_empty());
        let mut cur = Current::new();
        cur.insert(HW_TABLE.into(), TableState::default());
        let d = descs(&build(&p, &cur));
        assert_eq!(d, vec!["delete table inet nftoffload_hw".to_string()]);
    }

    #[test]
    fn flowtable_with_wrong_flags_is_recreated() {
        let p = sample([Mode::Software, Mode::Software, Mode::Off], false);
        let mut cur = Current::new();
        cur.insert(
            SW_TABLE.into(),
            TableState {
                flowtable: Some(flowtable(SW_TABLE, 0, vec!["lan0".into()])),
                chains: vec![FORWARD.into(), OFFLOAD.into()],
                sets: vec![],
            },
        );
        let d = descs(&build(&p, &cur));
        assert!(d[0].contains("delete table inet nftoffload"), "{d:?}");
    }

    #[test]
    fn rules_print_as_nft_would_list_them() {
        let p = sample([Mode::Software, Mode::Software, Mode::Off], false);
        let spec = &SPECS[0];
        let (_, _, rules) = objects(spec, p.software.as_ref().unwrap(), &p);
        let text: String = rules.iter().map(|r| r.debug_text()).collect();
        assert!(text.contains("flow_offload"), "{text}");
        assert!(text.contains("lookup reg 1 set sw_if"), "{text}");
        assert!(text.contains("[ ct load direction => reg 1 ]"), "{text}");
        // One label rule per direction per offloaded zone.
        assert_eq!(text.matches("ct set label").count(), 4, "{text}");
    }

    #[test]
    fn diff_reports_lost_devices_rules_and_set_elements() {
        let p = sample([Mode::Software, Mode::Software, Mode::Off], false);
        assert_eq!(diff(&p, &Current::new(), &Observed::default()).len(), 1);
        let spec = &SPECS[0];
        let (sets, chains, rules) = objects(spec, p.software.as_ref().unwrap(), &p);
        let state = |devs: Vec<String>| TableState {
            flowtable: Some(flowtable(SW_TABLE, FLOWTABLE_COUNTER, devs)),
            chains: chains.iter().map(|c| c.name.clone()).collect(),
            sets: sets.iter().map(|s| s.name.clone()).collect(),
        };
        let mut cur = Current::new();
        cur.insert(SW_TABLE.into(), state(vec!["wan0".into(), "lan0".into()]));
        let mut obs = Observed::default();
        for s in &sets {
            obs.sets
                .insert((SW_TABLE.into(), s.name.clone()), Some(s.elements.clone()));
        }
        obs.rules.insert(SW_TABLE.into(), rules.clone());
        assert!(
            diff(&p, &cur, &obs).is_empty(),
            "{:?}",
            diff(&p, &cur, &obs)
        );

        // A device the kernel dropped (unregistered) is drift.
        cur.insert(SW_TABLE.into(), state(vec!["wan0".into()]));
        let d = diff(&p, &cur, &obs);
        assert!(d.len() == 1 && d[0].contains("[wan0]"), "{d:?}");
        cur.insert(SW_TABLE.into(), state(vec!["wan0".into(), "lan0".into()]));

        // `nft flush chain inet nftoffload forward` is drift.
        let mut flushed = obs.clone();
        flushed.rules.insert(
            SW_TABLE.into(),
            rules
                .iter()
                .filter(|r| r.chain != FORWARD)
                .cloned()
                .collect(),
        );
        let d = diff(&p, &cur, &flushed);
        assert!(
            d.iter().any(|x| x.contains("chain nftoffload forward")),
            "{d:?}"
        );

        // `nft flush set inet nftoffload z0` is drift.
        let mut emptied = obs.clone();
        emptied
            .sets
            .insert((SW_TABLE.into(), "z0".into()), Some(Vec::new()));
        let d = diff(&p, &cur, &emptied);
        assert!(d.iter().any(|x| x.contains("set nftoffload z0")), "{d:?}");
    }
}
