//! The fuzz corpora (fuzz/corpus/) replayed on stable Rust in every
//! `cargo test`: each input that libFuzzer kept, and each seed, goes
//! through the same parsers as its fuzz target, so a regression on a
//! once-interesting input fails here without nightly or cargo-fuzz.
//!
//! `capture_netlink_seeds` (ignored; run it by hand as root when the
//! parsers learn new message types) writes the netlink_reply seeds: real
//! kernel replies captured in a network namespace of its own (link dump,
//! conntrack dump, nf_tables dumps, monitor events, an error ack) plus the
//! batch messages our own planner builds for both flowtables (the kernel
//! echoes those same messages in its notifications; this host's kernel
//! cannot create flowtables, so they come from the planner).

use nft_offload::ubus::{args, NFTOFFLOAD_METHODS};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn netlink_corpus_replays_without_panics() {
    let inputs = corpus("netlink_reply");
    assert!(
        inputs.len() >= 10,
        "netlink_reply corpus has {} inputs",
        inputs.len()
    );
    let mut decoded = 0;
    for (path, data) in &inputs {
        let r = std::panic::catch_unwind(|| {
            let n = nft_offload::nft::parse_any(data);
            let ct = nft_offload::observe::conntrack::parse_ct_message(data).is_some();
            let link = nft_offload::observe::link::parse_link_message(data).is_some();
            n + usize::from(ct) + usize::from(link)
        });
        match r {
            Ok(n) => decoded += usize::from(n > 0),
            Err(_) => panic!("parsing {} panicked", path.display()),
        }
    }
    // The seeds are real messages: most inputs must decode to something.
    assert!(
        decoded * 2 >= inputs.len(),
        "only {decoded} of {} inputs decoded",
        inputs.len()
    );
}

#[test]
fn ubus_args_corpus_replays_without_panics() {
    let inputs = corpus("ubus_args");
    assert!(
        inputs.len() >= 10,
        "ubus_args corpus has {} inputs",
        inputs.len()
    );
    for (path, data) in &inputs {
        let r = std::panic::catch_unwind(|| {
            if let Ok(Value::Object(m)) = ubus::json::blobmsg_to_json(data) {
                for sig in NFTOFFLOAD_METHODS {
                    if args::check(sig, &m).is_ok() {
                        for (name, _) in sig.args {
                            let _ = args::get_str(&m, name);
                            let _ = args::get_int(&m, name);
                        }
                    }
                }
                nft_offload::zones::NetifdInterface::parse_dump(&Value::Object(m));
            }
        });
        assert!(r.is_ok(), "decoding {} panicked", path.display());
    }
}

#[test]
fn uci_corpus_replays_without_panics() {
    for (path, data) in corpus("uci_parse") {
        let r = std::panic::catch_unwind(|| nft_offload::config::uci::parse("fuzz", &data).is_ok());
        assert!(r.is_ok(), "parsing {} panicked", path.display());
    }
}

// ---------------------------------------------------------------------
// Seed capture (by hand).

mod capture {
    use nft_offload::config;
    use nft_offload::netlink::msg::{parse_msgs, NlMsgHdr, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
    use nft_offload::netlink::socket::Socket;
    use nft_offload::plan::{self, PlanOptions};
    use nft_offload::zones::{self, DeviceView};
    use std::path::Path;
    use std::process::Command;

    pub struct AllCapable;
    impl DeviceView for AllCapable {
        fn exists(&self, _: &str) -> bool {
            true
        }
        fn hw_ports(&self, dev: &str) -> Vec<String> {
            vec![dev.to_string()]
        }
        fn hw_tc_offload(&self, _: &str) -> Option<bool> {
            Some(true)
        }
    }

    pub fn sh(cmd: &str) {
        let ok = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
        assert!(ok.success(), "{cmd}");
    }

    fn request(ty: u16, flags: u16, seq: u32, fixed: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        NlMsgHdr {
            len: (16 + fixed.len()) as u32,
            ty,
            flags,
            seq,
            pid: 0,
        }
        .write(&mut b);
        b.extend_from_slice(fixed);
        b
    }

    /// Every datagram of the reply to `req`, until DONE or an error ack.
    pub fn replies(s: &mut Socket, req: &[u8]) -> Vec<Vec<u8>> {
        s.set_recv_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        s.send(req).unwrap();
        let mut out = Vec::new();
        while let Ok(Some(d)) = s.recv() {
            let d = d.to_vec();
            let last = parse_msgs(&d)
                .flatten()
                .any(|m| m.hdr.ty == 2 || m.hdr.ty == 3 || m.hdr.flags & 0x2 == 0);
            out.push(d);
            if last {
                break;
            }
        }
        out
    }

    pub fn nfgen(family: u8) -> [u8; 4] {
        [family, 0, 0, 0]
    }

    pub fn dump(s: &mut Socket, ty: u16, fixed: &[u8]) -> Vec<Vec<u8>> {
        replies(s, &request(ty, NLM_F_REQUEST | NLM_F_DUMP, 1, fixed))
    }

    pub fn bad_request(s: &mut Socket) -> Vec<Vec<u8>> {
        // GETTABLE for a table that does not exist: an error ack with
        // extended-ack attributes.
        let mut b = Vec::new();
        nft_offload::netlink::msg::put_msg(
            &mut b,
            (10 << 8) | 1,
            NLM_F_REQUEST | NLM_F_ACK,
            7,
            &nfgen(1),
            |w| {
                w.put(1, b"no-such-table\0");
            },
        )
        .unwrap();
        replies(s, &b)
    }

    /// The planner's batch for a config with software and hardware zones,
    /// one message per seed.
    pub fn planner_messages(dir: &Path) -> Vec<Vec<u8>> {
        std::fs::write(
            dir.join("firewall"),
            "config zone\n\toption name 'lan'\n\tlist device 'lan1'\n\tlist device 'lan2'\n\n\
             config zone\n\toption name 'wan'\n\tlist device 'wan'\n\n\
             config zone\n\toption name 'guest'\n\tlist device 'gst0'\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("nftoffload"),
            "config globals 'globals'\n\toption enabled '1'\n\n\
             config zone\n\toption name 'lan'\n\toption mode 'hardware'\n\n\
             config zone\n\toption name 'wan'\n\toption mode 'hardware'\n\n\
             config zone\n\toption name 'guest'\n\toption mode 'software'\n",
        )
        .unwrap();
        let (cfg, fw, _) = config::load(dir).unwrap();
        let r = zones::resolve(&fw, &cfg, None, &AllCapable);
        let p = plan::plan(&r.zones, &r.facts, &PlanOptions::default());
        let batch = nft_offload::apply::build(&p, &Default::default());
        let wire = batch.messages(1);
        let mut out = Vec::new();
        let mut rest = &wire[..];
        while let Some(h) = NlMsgHdr::parse(rest) {
            let n = (h.len as usize).min(rest.len());
            if n < 16 {
                break;
            }
            out.push(rest[..n].to_vec());
            rest = &rest[(n + 3) & !3..];
            if rest.is_empty() {
                break;
            }
        }
        out
    }
}

#[test]
#[ignore = "writes fuzz/corpus/netlink_reply seeds; run by hand as root"]
fn capture_netlink_seeds() {
    use capture::*;
    use nft_offload::netlink::socket::Socket;
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/netlink_reply");
    std::fs::create_dir_all(&out).unwrap();
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();

    let tmp = std::env::temp_dir().join(format!("robust-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for (i, m) in planner_messages(&tmp).into_iter().enumerate() {
        seeds.push((format!("plan-{i:02}"), m));
    }

    let ns = format!("robust-seeds-{}", std::process::id());
    sh(&format!("ip netns add {ns}"));
    let setup = format!(
        "ip -n {ns} link set lo up && ip -n {ns} link add v0 type veth peer name v1 && \
         ip -n {ns} link add br0 type bridge && ip -n {ns} link set v1 master br0 && \
         ip netns exec {ns} nft -f - <<'EOF'
table inet seeds {{
    set s {{ type ifname; elements = {{ \"v0\", \"br0\" }} }}
    set p {{ type inet_proto; elements = {{ tcp, udp }} }}
    chain c {{
        type filter hook output priority 0; policy accept;
        meta l4proto @p iifname @s counter ct label set 3 comment \"x\"
        ct state established,related counter accept
        meta l4proto udp udp dport 9 counter
    }}
}}
EOF
         ip netns exec {ns} sh -c 'for p in 9 10 11; do echo x > /dev/udp/127.0.0.1/$p; done' 2>/dev/null;
         ip netns exec {ns} bash -c 'echo x > /dev/udp/127.0.0.1/9; echo y > /dev/tcp/127.0.0.1/1' 2>/dev/null; true"
    );
    sh(&setup);

    let ns_path = format!("/run/netns/{ns}");
    let captured = std::thread::spawn(move || {
        let f = std::fs::File::open(&ns_path).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: setns on this thread only, with a valid namespace fd.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
        let mut route = Socket::open(libc::NETLINK_ROUTE).unwrap();
        let ifinfo = [0u8; 16];
        for (i, d) in dump(&mut route, 18, &ifinfo).into_iter().enumerate() {
            seeds.push((format!("link-{i:02}"), d));
        }
        let mut nf = Socket::open(libc::NETLINK_NETFILTER).unwrap();
        for (i, d) in dump(&mut nf, 1 << 8 | 1, &nfgen(2)).into_iter().enumerate() {
            seeds.push((format!("ct-{i:02}"), d));
        }
        // tables, chains, rules, sets, flowtables
        for (t, name) in [
            (1u16, "table"),
            (4, "chain"),
            (7, "rule"),
            (10, "set"),
            (23, "flowtable"),
        ] {
            for (i, d) in dump(&mut nf, 10 << 8 | t, &nfgen(1))
                .into_iter()
                .enumerate()
            {
                seeds.push((format!("nft-{name}-{i:02}"), d));
            }
        }
        for (i, d) in bad_request(&mut nf).into_iter().enumerate() {
            seeds.push((format!("nft-error-{i:02}"), d));
        }
        seeds
    })
    .join()
    .unwrap();
    seeds.extend(captured);

    // Monitor events: subscribe, then change the ruleset from outside.
    let ns_path = format!("/run/netns/{ns}");
    let ns2 = ns.clone();
    let events = std::thread::spawn(move || {
        let f = std::fs::File::open(&ns_path).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: as above.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        let mut mon = Socket::open(libc::NETLINK_NETFILTER).unwrap();
        mon.add_membership(7).unwrap();
        mon.set_recv_timeout(Some(std::time::Duration::from_millis(500)))
            .unwrap();
        sh(&format!(
            "ip netns exec {ns2} nft 'add table inet ev; add chain inet ev c; add rule inet ev c counter; \
             delete table inet seeds; flush ruleset'"
        ));
        let mut out = Vec::new();
        while let Ok(Some(d)) = mon.recv() {
            out.push(d.to_vec());
        }
        out
    })
    .join()
    .unwrap();
    for (i, d) in events.into_iter().enumerate() {
        seeds.push((format!("event-{i:02}"), d));
    }
    sh(&format!("ip netns delete {ns}"));
    let _ = std::fs::remove_dir_all(&tmp);

    let mut n = 0;
    for (name, data) in seeds {
        if data.len() <= 8192 {
            std::fs::write(out.join(format!("seed-{name}")), data).unwrap();
            n += 1;
        }
    }
    eprintln!("wrote {n} seeds to {}", out.display());
    assert!(n >= 10);
}

#[test]
#[ignore = "writes fuzz/corpus/ubus_args seeds; run by hand"]
fn write_ubus_args_seeds() {
    use serde_json::json;
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ubus_args");
    std::fs::create_dir_all(&out).unwrap();
    let seeds = [
        json!({}),
        json!({"zone": "lan", "mode": "software"}),
        json!({"zone": "guest", "mode": "hardware"}),
        json!({"zone": "lan", "mode": 3}),
        json!({"zone": "a/../b", "mode": "off"}),
        json!({"zone": "lan", "mode": "off", "force": true}),
        json!({"limit": 1000}),
        json!({"limit": -1}),
        json!({"limit": 2.5}),
        json!({"limit": "20"}),
        json!({"limit": {"nested": [1, 2, {"x": null}]}}),
        json!({"interface": [{"interface": "lan", "up": true, "device": "br-lan", "l3_device": "br-lan"}]}),
    ];
    for (i, v) in seeds.iter().enumerate() {
        let t = ubus::json::json_to_blobmsg(v).unwrap();
        std::fs::write(out.join(format!("seed-{i:02}")), t.contents()).unwrap();
    }
}
