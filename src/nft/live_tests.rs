//! Live tests against the running kernel, in a private network namespace
//! (the test thread `unshare`s one, so the host's ruleset and links are
//! never touched). Need root and `ip`; run with
//! `cargo test nft::live_tests -- --ignored --test-threads=1`.
//!
//! They adapt to the kernel: without flowtable support (the host here)
//! they check that the refusal is ENOENT naming the flowtable and that the
//! transaction left nothing behind; with it (Debian's kernel in the VM,
//! `tests/vm`) they create both product tables on veths, read everything
//! back, update and shrink the flowtable, and check EEXIST/EOPNOTSUPP.
//!
//! In the VM (host root mounted read-only): build with `cargo test
//! --no-run`, then have the VM run
//! `target/debug/deps/nftoffload-HASH nft::live --ignored --test-threads=1`.
//! Verified that way on Debian 6.1.0-56 (6.1.192): both pass.

use std::process::Command;

use super::golden_tests::{hw_objects, sw_objects};
use super::monitor::{Event, EventKind, Monitor};
use super::objects::*;
use super::uapi::*;
use super::{Batch, Expr, Nft};

const INET: u8 = NFPROTO_INET;

fn enter_private_netns() {
    // SAFETY: plain syscall; affects only this (test) thread.
    let r = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "unshare(CLONE_NEWNET) needs root");
    for cmd in [
        "link set lo up",
        "link add lan0 type veth peer name wan0",
        "link add lan1 type veth peer name wan1",
        "link set lan0 up",
        "link set wan0 up",
        "link set lan1 up",
        "link set wan1 up",
    ] {
        let ok = Command::new("ip")
            .args(cmd.split(' '))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "ip {cmd}");
    }
}

fn has_table(nft: &mut Nft, name: &str) -> bool {
    nft.list_tables()
        .unwrap()
        .iter()
        .any(|(f, n)| *f == INET && n == name)
}

/// Does this kernel support flowtables? (Create one without devices in a
/// throwaway table; the whole batch is rolled back on failure.)
fn flowtables_supported(nft: &mut Nft) -> bool {
    let mut b = Batch::new();
    b.add_table(&Table {
        family: INET,
        name: "probe".into(),
    })
    .add_flowtable(&Flowtable {
        family: INET,
        table: "probe".into(),
        name: "p".into(),
        hook: NF_NETDEV_INGRESS,
        priority: 0,
        devices: vec![],
        flags: 0,
    })
    .del_table(INET, "probe");
    match nft.apply(&b) {
        Ok(()) => true,
        Err(e) => {
            assert_eq!(e.errno, libc::ENOENT, "{e}");
            assert_eq!(e.index, Some(1), "{e}");
            false
        }
    }
}

fn table_batch(
    table: &str,
    sets: &[Set],
    fts: &[Flowtable],
    chains: &[Chain],
    rules: &[Rule],
) -> Batch {
    let mut b = Batch::new();
    b.add_table(&Table {
        family: INET,
        name: table.into(),
    });
    for c in chains {
        b.add_chain(c);
    }
    for s in sets {
        b.add_set(s);
    }
    for f in fts {
        b.add_flowtable(f);
    }
    for r in rules {
        b.add_rule(r);
    }
    b
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn check_readback(nft: &mut Nft, table: &str, sets: &[Set], chains: &[Chain], rules: &[Rule]) {
    let got = nft.get_chains(INET, table).unwrap();
    assert_eq!(got.len(), chains.len());
    for c in chains {
        assert!(
            got.contains(c),
            "chain {} not read back as sent: {got:?}",
            c.name
        );
    }
    let got = nft.get_sets(INET, table).unwrap();
    assert_eq!(got.len(), sets.len());
    for s in sets {
        let g = got.iter().find(|g| g.name == s.name).unwrap();
        assert_eq!(
            (g.key_type, g.key_len, g.flags, &g.userdata),
            (s.key_type, s.key_len, s.flags, &s.userdata)
        );
        let mut a = g.elements.clone();
        let mut b = s.elements.clone();
        a.sort();
        b.sort();
        assert_eq!(a, b, "elements of set {}", s.name);
    }
    let got = nft.get_rules(INET, table).unwrap();
    assert_eq!(got.len(), rules.len());
    for (g, r) in got.iter().zip(rules) {
        assert!(g.handle.is_some());
        assert!(
            g.same_as(r),
            "rule read back differs:\n{}\n{}",
            g.debug_text(),
            r.debug_text()
        );
    }
}

#[test]
#[ignore = "needs root; run in the VM for flowtable support"]
fn live_product_tables() {
    enter_private_netns();
    let mut nft = Nft::open().unwrap();
    let mut mon = Monitor::open().unwrap();
    let supported = flowtables_supported(&mut nft);
    eprintln!("flowtables supported: {supported}");

    let (sets, ft, chains, mut rules) = sw_objects();
    if !supported {
        // Refused atomically, with the flowtable named.
        let b = table_batch(
            "nftoffload",
            &sets,
            std::slice::from_ref(&ft),
            &chains,
            &rules,
        );
        let e = nft.apply(&b).unwrap_err();
        assert_eq!(e.errno, libc::ENOENT);
        assert!(
            e.to_string()
                .starts_with("add flowtable inet nftoffload ft (devices wan0, lan0): No such file or directory (ENOENT)"),
            "{e}"
        );
        assert!(!has_table(&mut nft, "nftoffload"));
        // Everything else works without the flowtable.
        rules.retain(|r| {
            !r.exprs
                .iter()
                .any(|e| matches!(e, Expr::FlowOffload { .. }))
        });
        nft.apply(&table_batch("nftoffload", &sets, &[], &chains, &rules))
            .unwrap();
        check_readback(&mut nft, "nftoffload", &sets, &chains, &rules);
    } else {
        nft.apply(&table_batch(
            "nftoffload",
            &sets,
            std::slice::from_ref(&ft),
            &chains,
            &rules,
        ))
        .unwrap();
        check_readback(&mut nft, "nftoffload", &sets, &chains, &rules);
        let fts = nft.get_flowtables(INET, "nftoffload").unwrap();
        assert_eq!(fts.len(), 1);
        let got = &fts[0];
        assert_eq!(
            (got.hook, got.priority, got.flags),
            (0, 0, FLOWTABLE_COUNTER)
        );
        assert_eq!(sorted(got.devices.clone()), ["lan0", "wan0"]);

        // Update: adding a flowtable that exists adds devices.
        let mut more = ft.clone();
        more.devices = vec!["lan1".into()];
        let mut b = Batch::new();
        b.add_flowtable(&more);
        nft.apply(&b).unwrap();
        let got = &nft.get_flowtables(INET, "nftoffload").unwrap()[0];
        assert_eq!(sorted(got.devices.clone()), ["lan0", "lan1", "wan0"]);

        // Remove just one device.
        let mut b = Batch::new();
        b.del_flowtable_devices(&ft, &["lan0".to_string()]);
        nft.apply(&b).unwrap();
        let got = &nft.get_flowtables(INET, "nftoffload").unwrap()[0];
        assert_eq!(sorted(got.devices.clone()), ["lan1", "wan0"]);

        // A device may sit in only one flowtable of a table.
        let mut other = ft.clone();
        other.name = "ft2".into();
        other.devices = vec!["wan0".into()];
        let mut b = Batch::new();
        b.add_flowtable(&other);
        let e = nft.apply(&b).unwrap_err();
        assert_eq!(e.errno, libc::EEXIST, "{e}");

        // A device that does not exist.
        let mut b = Batch::new();
        other.devices = vec!["nope0".into()];
        b.add_flowtable(&other);
        let e = nft.apply(&b).unwrap_err();
        assert_eq!(e.errno, libc::ENOENT, "{e}");
        assert!(
            e.to_string()
                .contains("add flowtable inet nftoffload ft2 (devices nope0)"),
            "{e}"
        );

        // The hardware table: veth cannot offload, so `flags offload` is
        // refused (upstream behaviour; OpenWrt's kernels accept it).
        let (hsets, hft, hchains, hrules) = hw_objects();
        let e = nft
            .apply(&table_batch(
                "nftoffload_hw",
                &hsets,
                std::slice::from_ref(&hft),
                &hchains,
                &hrules,
            ))
            .unwrap_err();
        assert_eq!(e.errno, libc::EOPNOTSUPP, "{e}");
        assert!(
            e.description
                .starts_with("add flowtable inet nftoffload_hw ft"),
            "{e}"
        );
        eprintln!("hw refusal: {e}");
        assert!(!has_table(&mut nft, "nftoffload_hw"));
        // Without the flag it loads, next to the software table, sharing devices.
        let mut sw_only = hft.clone();
        sw_only.flags = FLOWTABLE_COUNTER;
        nft.apply(&table_batch(
            "nftoffload_hw",
            &hsets,
            &[sw_only],
            &hchains,
            &hrules,
        ))
        .unwrap();
        check_readback(&mut nft, "nftoffload_hw", &hsets, &hchains, &hrules);
    }

    // `ct label set` as we encode it really labels connections: set bit 1
    // on output, then count packets whose connection has bit 1 (and, as a
    // control, bit 2). Traffic: UDP to the discard port on this netns's lo.
    let ctr_chain = Chain {
        family: INET,
        table: "ctr".into(),
        name: "out".into(),
        base: Some(BaseChain {
            hook: Hook::Output,
            priority: 0,
            chain_type: "filter".into(),
        }),
        policy: Some(super::Verdict::Accept),
    };
    let has_label = |bit: u8| {
        let e = vec![
            Expr::Ct {
                key: super::CtKey::LABELS,
                dir: None,
                dreg: 1,
            },
            Expr::Bitwise {
                sreg: 1,
                dreg: 1,
                len: 16,
                mask: super::expr::ct_label_bits(bit).unwrap().to_vec(),
                xor: vec![0; 16],
            },
            Expr::cmp(super::CmpOp::Neq, 1, vec![0; 16]),
            Expr::counter(),
        ];
        Rule::new(INET, "ctr", "out", e)
    };
    let set_rule = Rule::new(INET, "ctr", "out", Expr::ct_label_set(1).unwrap().to_vec());
    nft.apply(&table_batch(
        "ctr",
        &[],
        &[],
        &[ctr_chain],
        &[set_rule, has_label(1), has_label(2)],
    ))
    .unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..3 {
        udp.send_to(b"x", "127.0.0.1:9").unwrap();
    }
    let got = nft.get_rules(INET, "ctr").unwrap();
    let count = |r: &Rule| match r.exprs.last() {
        Some(Expr::Counter { packets, bytes }) => (*packets, *bytes),
        e => panic!("{e:?}"),
    };
    let (p1, b1) = count(&got[1]);
    assert!(
        p1 >= 3 && b1 >= 3 * 29,
        "label bit 1 counter: {p1} packets {b1} bytes"
    );
    assert_eq!(count(&got[2]), (0, 0), "label bit 2 must not be set");

    // Monitor saw our own changes, tagged with our port id.
    let ev = mon.read_events().unwrap();
    assert!(
        ev.iter().any(
            |e| matches!(e, Event::Change { kind: EventKind::NewTable, table, portid, .. }
            if table == "nftoffload" && *portid == nft.portid())
        ),
        "{ev:?}"
    );

    // Delete, and see it go (and the event).
    let mut b = Batch::new();
    b.del_table(INET, "nftoffload").del_table(INET, "ctr");
    if supported {
        b.del_table(INET, "nftoffload_hw");
    }
    nft.apply(&b).unwrap();
    assert!(!has_table(&mut nft, "nftoffload"));
    let ev = mon.read_events().unwrap();
    assert!(
        ev.iter().any(|e| matches!(e, Event::Change { kind: EventKind::DelTable, table, .. } if table == "nftoffload")),
        "{ev:?}"
    );
    // Deleting what is gone names it.
    let mut b = Batch::new();
    b.del_table(INET, "nftoffload");
    let e = nft.apply(&b).unwrap_err();
    assert_eq!(
        e.to_string(),
        "delete table inet nftoffload: No such file or directory (ENOENT)"
    );
}

/// A change made by someone else (the `nft` tool) shows up in the monitor
/// with a different port id, e.g. `nft flush ruleset` deleting our table.
#[test]
#[ignore = "needs root and nft"]
fn live_monitor_sees_foreign_flush() {
    enter_private_netns();
    let mut nft = Nft::open().unwrap();
    let mut mon = Monitor::open().unwrap();
    nft.apply(Batch::new().add_table(&Table {
        family: INET,
        name: "nftoffload".into(),
    }))
    .unwrap();
    let ok = Command::new("nft")
        .args(["flush", "ruleset"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok);
    let ev = mon.read_events().unwrap();
    assert!(
        ev.iter().any(
            |e| matches!(e, Event::Change { kind: EventKind::DelTable, table, portid, .. }
            if table == "nftoffload" && *portid != nft.portid())
        ),
        "{ev:?}"
    );
    assert!(!has_table(&mut nft, "nftoffload"));
}
