//! Timing loops for `make bench` (bench/vm-bench.sh runs them inside the
//! test VM). A benchmark tool, not a test: it measures and prints, it never
//! judges. Each loop runs in-process, so a sample holds the operation being
//! measured and not the cost of spawning a client process per call.
//!
//! Usage (every command prints one sample per line, in microseconds, on
//! stdout; progress and errors go to stderr):
//! - `bench_ctl toggle SOCKET ZONE DEVICE N`: N ubus `set` calls that switch
//!   ZONE between `software` and `off`. A sample is the call's round trip;
//!   the daemon replies only once the kernel committed the batch. After each
//!   call (outside the timing) the software flowtable is read back and must
//!   hold DEVICE exactly when the zone is on. A second column gives the
//!   daemon's own `last_apply.duration_us` for that call (from `status`).
//! - `bench_ctl call SOCKET OBJECT METHOD N`: N calls of METHOD with `{}`.
//! - `bench_ctl hotplug DEVICE N`: N times: delete the dummy DEVICE, then
//!   create it again (rtnetlink, in-process); a sample runs from the
//!   kernel's ACK of the creation to DEVICE being back in the flowtable
//!   `inet nftoffload ft` (polled every 0.5 ms).
//! - `bench_ctl selfheal N WANT_DEV...`: N times: delete every nf_tables
//!   table in one transaction (what `nft flush ruleset` does); a sample runs
//!   from the kernel's ACK to `inet nftoffload` being back with every
//!   WANT_DEV in its flowtable.
//! - `bench_ctl ctcount N`: N counts of offloaded conntrack entries through
//!   the library (`observe::conntrack::count_offloaded`, as `status` does),
//!   one sample per count: the kernel's share of a `status` call.
//! - `bench_ctl ctfill FROM TO`: insert conntrack entries FROM..TO
//!   (established TCP, 10.x.y.z:port → 10.255.0.1:80) through ctnetlink, in
//!   batches of 500 messages; prints the elapsed time.
//!
//! Run the kernel-facing commands in the router's namespace
//! (`ip netns exec rt bench_ctl ...`).

use nft_offload::netlink::msg::{NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
use nft_offload::netlink::{put_msg, AttrWriter, NfGenMsg, Socket};
use nft_offload::nft::{Batch, Nft, NFPROTO_INET};
use nft_offload::observe::conntrack;
use nft_offload::ubus::call;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

type Res<T> = Result<T, String>;

const CALL_TIMEOUT: Duration = Duration::from_secs(20);
const WAIT_LIMIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_micros(500);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("toggle") if args.len() == 5 => toggle(&args[1], &args[2], &args[3], num(&args[4])),
        Some("call") if args.len() == 5 => call_loop(&args[1], &args[2], &args[3], num(&args[4])),
        Some("hotplug") if args.len() == 3 => hotplug(&args[1], num(&args[2])),
        Some("selfheal") if args.len() >= 3 => selfheal(num(&args[1]), &args[2..]),
        Some("ctfill") if args.len() == 3 => ctfill(num(&args[1]), num(&args[2])),
        Some("ctcount") if args.len() == 2 => ctcount(num(&args[1])),
        _ => Err(
            "usage: bench_ctl toggle SOCKET ZONE DEVICE N | call SOCKET OBJECT METHOD N \
                  | hotplug DEVICE N | selfheal N WANT_DEV... | ctfill FROM TO | ctcount N"
                .into(),
        ),
    };
    if let Err(e) = r {
        eprintln!("bench_ctl: {e}");
        std::process::exit(1);
    }
}

fn num(s: &str) -> Res<usize> {
    s.parse().map_err(|_| format!("not a number: {s}"))
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// Devices of `inet nftoffload ft` as the kernel has them (empty if the
/// table or flowtable is missing).
fn ft_devices(nft: &mut Nft) -> Vec<String> {
    match nft.get_flowtables(NFPROTO_INET, "nftoffload") {
        Ok(fts) => fts
            .into_iter()
            .find(|f| f.name == "ft")
            .map(|f| f.devices)
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// Poll until `cond` holds; the time it took, or an error after WAIT_LIMIT.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) -> Res<Instant> {
    let start = Instant::now();
    loop {
        if cond() {
            return Ok(Instant::now());
        }
        if start.elapsed() > WAIT_LIMIT {
            return Err(format!("timed out after {WAIT_LIMIT:?} waiting for {what}"));
        }
        std::thread::sleep(POLL);
    }
}

fn toggle(socket: &str, zone: &str, dev: &str, n: Res<usize>) -> Res<()> {
    let n = n?;
    let mut nft = Nft::open().map_err(|e| format!("nf_tables socket: {e}"))?;
    // Start from the state opposite to the first call's target.
    let mut on = ft_devices(&mut nft).iter().any(|d| d == dev);
    for i in 0..n {
        let mode = if on { "off" } else { "software" };
        let args = json!({ "zone": zone, "mode": mode });
        let t = Instant::now();
        call(Path::new(socket), "nftoffload", "set", &args, CALL_TIMEOUT)
            .map_err(|e| format!("toggle {i}: set {zone} {mode}: {e}"))?;
        let d = t.elapsed();
        on = !on;
        let has = ft_devices(&mut nft).iter().any(|d| d == dev);
        if has != on {
            return Err(format!(
                "toggle {i}: set {zone} {mode} returned but the flowtable {} {dev}",
                if has { "still holds" } else { "lacks" }
            ));
        }
        // The daemon's own timing of the apply (plan, read-back, batch).
        let apply_us = call(
            Path::new(socket),
            "nftoffload",
            "status",
            &json!({}),
            CALL_TIMEOUT,
        )
        .ok()
        .and_then(|v| {
            v.pointer("/last_apply/duration_us")
                .and_then(|d| d.as_u64())
        })
        .map(|d| d.to_string())
        .unwrap_or_else(|| "-".into());
        println!("{} {apply_us}", us(d));
    }
    Ok(())
}

fn call_loop(socket: &str, object: &str, method: &str, n: Res<usize>) -> Res<()> {
    for i in 0..n? {
        let t = Instant::now();
        call(Path::new(socket), object, method, &json!({}), CALL_TIMEOUT)
            .map_err(|e| format!("call {i}: {object} {method}: {e}"))?;
        println!("{}", us(t.elapsed()));
    }
    Ok(())
}

// --- rtnetlink: create and delete a dummy device --------------------------------
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFF_UP: u32 = 1;

/// `struct ifinfomsg` with the given flags/change.
fn ifinfomsg(flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

fn link_request(
    sock: &mut Socket,
    ty: u16,
    flags: u16,
    fixed: &[u8],
    f: impl FnOnce(&mut AttrWriter<'_>),
) -> Res<()> {
    let mut buf = Vec::new();
    let seq = sock.next_seq();
    put_msg(
        &mut buf,
        ty,
        NLM_F_REQUEST | NLM_F_ACK | flags,
        seq,
        fixed,
        f,
    )
    .map_err(|e| format!("building rtnetlink request: {e}"))?;
    sock.request_ack(&buf)
        .map_err(|e| format!("rtnetlink: {e}"))
}

fn hotplug(dev: &str, n: Res<usize>) -> Res<()> {
    let n = n?;
    let mut rt = Socket::open(libc::NETLINK_ROUTE).map_err(|e| format!("rtnetlink: {e}"))?;
    let mut nft = Nft::open().map_err(|e| format!("nf_tables socket: {e}"))?;
    for i in 0..n {
        link_request(&mut rt, RTM_DELLINK, 0, &ifinfomsg(0, 0), |w| {
            w.put_str(IFLA_IFNAME, dev);
        })
        .map_err(|e| format!("hotplug {i}: deleting {dev}: {e}"))?;
        wait_for(&format!("{dev} to leave the flowtable"), || {
            !ft_devices(&mut nft).iter().any(|d| d == dev)
        })?;
        link_request(
            &mut rt,
            RTM_NEWLINK,
            NLM_F_CREATE | NLM_F_EXCL,
            &ifinfomsg(IFF_UP, IFF_UP),
            |w| {
                w.put_str(IFLA_IFNAME, dev);
                w.nest(IFLA_LINKINFO, |w| {
                    w.put_str(IFLA_INFO_KIND, "dummy");
                });
            },
        )
        .map_err(|e| format!("hotplug {i}: creating {dev}: {e}"))?;
        let t0 = Instant::now();
        let t1 = wait_for(&format!("{dev} back in the flowtable"), || {
            ft_devices(&mut nft).iter().any(|d| d == dev)
        })
        .map_err(|e| format!("hotplug {i}: {e}"))?;
        println!("{}", us(t1 - t0));
    }
    Ok(())
}

fn selfheal(n: Res<usize>, want: &[String]) -> Res<()> {
    let n = n?;
    let mut nft = Nft::open().map_err(|e| format!("nf_tables socket: {e}"))?;
    let complete = |nft: &mut Nft| {
        let devs = ft_devices(nft);
        want.iter().all(|w| devs.contains(w))
    };
    for i in 0..n {
        wait_for("the table before the flush", || complete(&mut nft))
            .map_err(|e| format!("selfheal {i}: {e}"))?;
        let tables = nft
            .list_tables()
            .map_err(|e| format!("selfheal {i}: listing tables: {e}"))?;
        let mut batch = Batch::new();
        for (family, name) in &tables {
            batch.del_table(*family, name);
        }
        nft.apply(&batch)
            .map_err(|e| format!("selfheal {i}: deleting every table: {e}"))?;
        let t0 = Instant::now();
        let t1 = wait_for("inet nftoffload to come back", || complete(&mut nft))
            .map_err(|e| format!("selfheal {i}: {e}"))?;
        println!("{}", us(t1 - t0));
    }
    Ok(())
}

fn ctcount(n: Res<usize>) -> Res<()> {
    for i in 0..n? {
        let t = Instant::now();
        conntrack::count_offloaded(&[]).map_err(|e| format!("count {i}: {e}"))?;
        println!("{}", us(t.elapsed()));
    }
    Ok(())
}

// --- ctnetlink: insert conntrack entries -----------------------------------------
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_PROTOINFO: u16 = 4;
const CTA_TIMEOUT: u16 = 7;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_PROTOINFO_TCP: u16 = 1;
const CTA_PROTOINFO_TCP_STATE: u16 = 1;
const TCP_CONNTRACK_ESTABLISHED: u8 = 3;
const BATCH: usize = 500;

fn put_tuple(w: &mut AttrWriter<'_>, ty: u16, a: ([u8; 4], u16), b: ([u8; 4], u16)) {
    w.nest(ty, |w| {
        w.nest(CTA_TUPLE_IP, |w| {
            w.put(CTA_IP_V4_SRC, &a.0);
            w.put(CTA_IP_V4_DST, &b.0);
        });
        w.nest(CTA_TUPLE_PROTO, |w| {
            w.put_u8(CTA_PROTO_NUM, libc::IPPROTO_TCP as u8);
            w.put_u16_be(CTA_PROTO_SRC_PORT, a.1);
            w.put_u16_be(CTA_PROTO_DST_PORT, b.1);
        });
    });
}

fn ctfill(from: Res<usize>, to: Res<usize>) -> Res<()> {
    let (from, to) = (from?, to?);
    let mut sock =
        Socket::open(libc::NETLINK_NETFILTER).map_err(|e| format!("ctnetlink socket: {e}"))?;
    let t = Instant::now();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut i = from;
    while i < to {
        buf.clear();
        let end = (i + BATCH).min(to);
        for k in i..end {
            let src = [10, (k >> 16) as u8, (k >> 8) as u8, k as u8];
            let orig = (src, 1024 + (k % 50_000) as u16);
            let reply = ([10, 255, 0, 1], 80);
            let ack = if k + 1 == end { NLM_F_ACK } else { 0 };
            let seq = sock.next_seq();
            put_msg(
                &mut buf,
                (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW,
                NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | ack,
                seq,
                &NfGenMsg::new(libc::AF_INET as u8, 0).bytes(),
                |w| {
                    put_tuple(w, CTA_TUPLE_ORIG, orig, reply);
                    put_tuple(w, CTA_TUPLE_REPLY, reply, orig);
                    w.put_u32_be(CTA_TIMEOUT, 3600);
                    w.nest(CTA_PROTOINFO, |w| {
                        w.nest(CTA_PROTOINFO_TCP, |w| {
                            w.put_u8(CTA_PROTOINFO_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
                        });
                    });
                },
            )
            .map_err(|e| format!("building conntrack message: {e}"))?;
        }
        for (seq, r) in sock.transact(&buf).map_err(|e| format!("ctnetlink: {e}"))? {
            if let Err(e) = r {
                return Err(format!("inserting conntrack entry (seq {seq}): {e}"));
            }
        }
        i = end;
    }
    eprintln!(
        "ctfill: {} entries in {:.0} ms",
        to - from,
        t.elapsed().as_secs_f64() * 1e3
    );
    println!("{}", us(t.elapsed()));
    Ok(())
}
