//! Conntrack over ctnetlink: the honest proof of offload. Owns reading the
//! conntrack table of the caller's network namespace and turning it into
//! the numbers status shows — how many entries carry `IPS_OFFLOAD` (bit 14,
//! software fast path) or `IPS_HW_OFFLOAD` (bit 15, hardware; such entries
//! also carry bit 14 and count as hardware only), attributed to zones by
//! the conntrack label bits our rules set — and the largest offloaded flows.
//!
//! The dump is streamed: each reply message is parsed and folded into the
//! counts (or a bounded top-N heap) and dropped, so 50k entries never sit
//! in memory. The dump asks the kernel to send only offloaded entries
//! (`CTA_STATUS` + `CTA_STATUS_MASK`, Linux ≥ 5.19); older kernels ignore
//! that filter and send everything, and since every entry's bits are
//! checked here anyway, the result is the same. The total number of
//! entries comes from `IPCTNL_MSG_CT_GET_STATS` (the per-namespace count).
//!
//! `parse_ct_message` is pure and never panics on any input.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{Context, Error, Result};
use crate::netlink::msg::{NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use crate::netlink::{self, parse_msgs, put_msg, Attrs, Msg, NfGenMsg, Socket};

// include/uapi/linux/netfilter/nfnetlink.h, nfnetlink_conntrack.h
pub(crate) const NFNL_SUBSYS_CTNETLINK: u16 = 1;
pub(crate) const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_GET_STATS: u16 = 5;

pub(crate) const CTA_TUPLE_ORIG: u16 = 1;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const CTA_TUPLE_REPLY: u16 = 2;
pub(crate) const CTA_STATUS: u16 = 3;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const CTA_PROTOINFO: u16 = 4;
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const CTA_TIMEOUT: u16 = 7;
pub(crate) const CTA_COUNTERS_ORIG: u16 = 9;
pub(crate) const CTA_COUNTERS_REPLY: u16 = 10;
pub(crate) const CTA_LABELS: u16 = 22;
const CTA_STATUS_MASK: u16 = 26;

pub(crate) const CTA_TUPLE_IP: u16 = 1;
pub(crate) const CTA_TUPLE_PROTO: u16 = 2;
pub(crate) const CTA_IP_V4_SRC: u16 = 1;
pub(crate) const CTA_IP_V4_DST: u16 = 2;
pub(crate) const CTA_IP_V6_SRC: u16 = 3;
pub(crate) const CTA_IP_V6_DST: u16 = 4;
pub(crate) const CTA_PROTO_NUM: u16 = 1;
pub(crate) const CTA_PROTO_SRC_PORT: u16 = 2;
pub(crate) const CTA_PROTO_DST_PORT: u16 = 3;
pub(crate) const CTA_COUNTERS_PACKETS: u16 = 1;
pub(crate) const CTA_COUNTERS_BYTES: u16 = 2;
const CTA_COUNTERS32_PACKETS: u16 = 3;
const CTA_COUNTERS32_BYTES: u16 = 4;
const CTA_STATS_GLOBAL_ENTRIES: u16 = 1;

/// `NLM_F_DUMP_FILTERED`: the kernel applied our dump filter.
const NLM_F_DUMP_FILTERED: u16 = 0x20;

/// Status bit 14: the connection is in a flowtable (software fast path).
pub const IPS_OFFLOAD: u32 = 1 << 14;
/// Status bit 15: the flowtable entry is in hardware.
pub const IPS_HW_OFFLOAD: u32 = 1 << 15;

/// Conntrack labels are 128 bits (`NF_CT_LABELS_MAX_SIZE`).
pub const LABELS_LEN: usize = 16;

/// Where a connection's packets go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offload {
    None,
    Software,
    Hardware,
}

impl Offload {
    /// From conntrack status bits: `HW_OFFLOAD` wins over `OFFLOAD`.
    pub fn from_status(status: u32) -> Offload {
        if status & IPS_HW_OFFLOAD != 0 {
            Offload::Hardware
        } else if status & IPS_OFFLOAD != 0 {
            Offload::Software
        } else {
            Offload::None
        }
    }
}

/// One conntrack entry, as much of it as status needs. The tuple is the
/// original direction (the initiator's view, before NAT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// IP protocol number (6 tcp, 17 udp, …).
    pub proto: u8,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    pub status: u32,
    /// Original + reply directions (0 without `nf_conntrack_acct`).
    pub bytes: u64,
    pub packets: u64,
    /// The label bitmap, if the entry has a label extension.
    pub labels: Option<[u8; LABELS_LEN]>,
}

impl Entry {
    pub fn offload(&self) -> Offload {
        Offload::from_status(self.status)
    }
}

/// Whether label bit `bit` is set in a `CTA_LABELS` bitmap. The kernel
/// sends its `unsigned long` array as it is in memory, so bit `n` is bit
/// `n % BITS` of native-endian word `n / BITS` (on little-endian machines
/// simply byte `n/8`, bit `n%8`; on big-endian MIPS it is not).
pub fn label_bit(labels: &[u8; LABELS_LEN], bit: u32) -> bool {
    const W: usize = std::mem::size_of::<usize>();
    let bits = (W * 8) as u32;
    let word = (bit / bits) as usize;
    let Some(chunk) = labels.get(word * W..(word + 1) * W) else {
        return false;
    };
    let mut b = [0u8; W];
    b.copy_from_slice(chunk);
    usize::from_ne_bytes(b) >> (bit % bits) & 1 == 1
}

/// Parse one ctnetlink message (a whole netlink message: `nlmsghdr`,
/// `nfgenmsg`, attributes) into an [`Entry`]. Anything that is not a
/// well-formed conntrack entry gives `None`; no input makes it panic.
pub fn parse_ct_message(buf: &[u8]) -> Option<Entry> {
    let m = parse_msgs(buf).next()?.ok()?;
    entry_from_msg(&m)
}

fn entry_from_msg(m: &Msg<'_>) -> Option<Entry> {
    if m.nfnl_subsys() as u16 != NFNL_SUBSYS_CTNETLINK || m.nfnl_msg() as u16 != IPCTNL_MSG_CT_NEW {
        return None;
    }
    m.nfgenmsg()?;
    let mut tuple = None;
    let mut status = None;
    let (mut bytes, mut packets) = (0u64, 0u64);
    let mut labels = None;
    for a in m.attrs(NfGenMsg::LEN) {
        let a = a.ok()?;
        match a.kind() {
            CTA_TUPLE_ORIG => tuple = Some(parse_tuple(a.nested())?),
            CTA_STATUS => status = Some(a.u32_be().ok()?),
            CTA_COUNTERS_ORIG | CTA_COUNTERS_REPLY => {
                let (p, b) = parse_counters(a.nested())?;
                packets = packets.saturating_add(p);
                bytes = bytes.saturating_add(b);
            }
            CTA_LABELS => {
                let d = a.data();
                let mut l = [0u8; LABELS_LEN];
                let n = d.len().min(LABELS_LEN);
                l[..n].copy_from_slice(&d[..n]);
                labels = Some(l);
            }
            _ => {}
        }
    }
    let (proto, src, sport, dst, dport) = tuple?;
    Some(Entry {
        proto,
        src,
        sport,
        dst,
        dport,
        status: status?,
        bytes,
        packets,
        labels,
    })
}

type Tuple = (u8, IpAddr, u16, IpAddr, u16);

fn parse_tuple(attrs: Attrs<'_>) -> Option<Tuple> {
    let (mut src, mut dst, mut proto) = (None, None, None);
    let (mut sport, mut dport) = (0u16, 0u16);
    for a in attrs {
        let a = a.ok()?;
        match a.kind() {
            CTA_TUPLE_IP => {
                for ip in a.nested() {
                    let ip = ip.ok()?;
                    match ip.kind() {
                        CTA_IP_V4_SRC => src = Some(ipv4(ip.data())?),
                        CTA_IP_V4_DST => dst = Some(ipv4(ip.data())?),
                        CTA_IP_V6_SRC => src = Some(ipv6(ip.data())?),
                        CTA_IP_V6_DST => dst = Some(ipv6(ip.data())?),
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for p in a.nested() {
                    let p = p.ok()?;
                    match p.kind() {
                        CTA_PROTO_NUM => proto = Some(p.u8().ok()?),
                        CTA_PROTO_SRC_PORT => sport = p.u16_be().ok()?,
                        CTA_PROTO_DST_PORT => dport = p.u16_be().ok()?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let (src, dst) = (src?, dst?);
    // A tuple mixing families is not something the kernel sends.
    if src.is_ipv4() != dst.is_ipv4() {
        return None;
    }
    Some((proto?, src, sport, dst, dport))
}

fn ipv4(d: &[u8]) -> Option<IpAddr> {
    let b: [u8; 4] = d.try_into().ok()?;
    Some(IpAddr::V4(Ipv4Addr::from(b)))
}

fn ipv6(d: &[u8]) -> Option<IpAddr> {
    let b: [u8; 16] = d.try_into().ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(b)))
}

/// (packets, bytes) of one direction; 64-bit counters, or the old 32-bit
/// ones if that is what a kernel sends.
fn parse_counters(attrs: Attrs<'_>) -> Option<(u64, u64)> {
    let (mut p, mut b) = (0u64, 0u64);
    for a in attrs {
        let a = a.ok()?;
        match a.kind() {
            CTA_COUNTERS_PACKETS => p = a.u64_be().ok()?,
            CTA_COUNTERS_BYTES => b = a.u64_be().ok()?,
            CTA_COUNTERS32_PACKETS => p = u64::from(a.u32_be().ok()?),
            CTA_COUNTERS32_BYTES => b = u64::from(a.u32_be().ok()?),
            _ => {}
        }
    }
    Some((p, b))
}

/// Offload counts for status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Conntrack entries in the namespace.
    pub tracked: u64,
    /// Offloaded in software only.
    pub software: u64,
    /// Offloaded in hardware.
    pub hardware: u64,
    /// `(software, hardware)` per zone index; a connection is counted in
    /// every zone whose label bit it carries (both ends' zones).
    pub per_zone: Vec<(u64, u64)>,
    /// Offloaded entries without any of the zone label bits (set by
    /// another flowtable, e.g. fw4's own, or before our labels existed).
    pub unattributed: u64,
    /// The kernel applied the status filter (only offloaded entries were
    /// sent); false on kernels without it, or when nothing was offloaded.
    pub kernel_filtered: bool,
}

/// Folds entries into [`Counts`]; pure, so tests can feed it anything.
#[derive(Debug)]
pub struct Tally<'a> {
    label_bits: &'a [(usize, u32)],
    pub counts: Counts,
}

impl<'a> Tally<'a> {
    /// `label_bits`: `(zone index, label bit)` pairs.
    pub fn new(label_bits: &'a [(usize, u32)]) -> Self {
        let zones = label_bits.iter().map(|&(z, _)| z + 1).max().unwrap_or(0);
        Tally {
            label_bits,
            counts: Counts {
                per_zone: vec![(0, 0); zones],
                ..Counts::default()
            },
        }
    }

    pub fn add(&mut self, e: &Entry) {
        let hw = match e.offload() {
            Offload::None => return,
            Offload::Software => false,
            Offload::Hardware => true,
        };
        let c = &mut self.counts;
        if hw {
            c.hardware += 1;
        } else {
            c.software += 1;
        }
        let mut attributed = false;
        if let Some(labels) = &e.labels {
            for &(zone, bit) in self.label_bits {
                if label_bit(labels, bit) {
                    if let Some(z) = c.per_zone.get_mut(zone) {
                        if hw {
                            z.1 += 1;
                        } else {
                            z.0 += 1;
                        }
                        attributed = true;
                    }
                }
            }
        }
        if !attributed {
            c.unattributed += 1;
        }
    }
}

/// One of the largest offloaded connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flow {
    pub proto: u8,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    pub bytes: u64,
    pub packets: u64,
    pub hardware: bool,
    /// All zeros when the entry has no labels.
    pub labels: [u8; LABELS_LEN],
}

impl From<Entry> for Flow {
    fn from(e: Entry) -> Flow {
        Flow {
            hardware: e.offload() == Offload::Hardware,
            proto: e.proto,
            src: e.src,
            sport: e.sport,
            dst: e.dst,
            dport: e.dport,
            bytes: e.bytes,
            packets: e.packets,
            labels: e.labels.unwrap_or_default(),
        }
    }
}

/// Keeps the `limit` largest entries by bytes in a min-heap: memory is
/// O(limit) however many entries stream past.
#[derive(Debug)]
pub struct TopN {
    limit: usize,
    seq: u64,
    heap: BinaryHeap<Reverse<Ranked>>,
}

#[derive(Debug)]
struct Ranked {
    bytes: u64,
    packets: u64,
    /// Arrival order, to make ties deterministic (earlier wins).
    seq: Reverse<u64>,
    flow: Flow,
}

impl Ranked {
    fn key(&self) -> (u64, u64, Reverse<u64>) {
        (self.bytes, self.packets, self.seq)
    }
}
impl PartialEq for Ranked {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ranked {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key().cmp(&o.key())
    }
}

impl TopN {
    pub fn new(limit: usize) -> Self {
        TopN {
            limit,
            seq: 0,
            heap: BinaryHeap::with_capacity(limit.min(4096) + 1),
        }
    }

    pub fn add(&mut self, e: Entry) {
        if self.limit == 0 {
            return;
        }
        self.seq += 1;
        let r = Ranked {
            bytes: e.bytes,
            packets: e.packets,
            seq: Reverse(self.seq),
            flow: Flow::from(e),
        };
        if self.heap.len() < self.limit {
            self.heap.push(Reverse(r));
        } else if self.heap.peek().is_some_and(|Reverse(min)| r > *min) {
            self.heap.pop();
            self.heap.push(Reverse(r));
        }
    }

    /// Largest first.
    pub fn into_sorted(self) -> Vec<Flow> {
        // into_sorted_vec of Reverse<_> is ascending in Reverse, i.e.
        // descending in Ranked.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(r)| r.flow)
            .collect()
    }
}

/// Which entries a dump asks the kernel for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Select {
    /// Only offloaded entries, filtered by the kernel where it can.
    Offloaded,
    /// Every entry (no kernel filter); for tests and measurements.
    All,
}

/// A ctnetlink socket, kept open by the daemon between status calls.
pub struct Conntrack {
    sock: Socket,
}

impl Conntrack {
    pub fn open() -> Result<Conntrack> {
        let sock = Socket::open(libc::NETLINK_NETFILTER).context("ctnetlink socket")?;
        Ok(Conntrack { sock })
    }

    /// Offload counts, attributed to zones by `(zone index, label bit)`.
    pub fn count_offloaded(&mut self, label_bits: &[(usize, u32)]) -> Result<Counts> {
        let mut t = Tally::new(label_bits);
        let filtered = self.dump(Select::Offloaded, |e| t.add(&e))?;
        let mut counts = t.counts;
        counts.kernel_filtered = filtered;
        counts.tracked = self.tracked()?;
        Ok(counts)
    }

    /// The `limit` largest offloaded connections by bytes, largest first.
    pub fn top_flows(&mut self, limit: usize) -> Result<Vec<Flow>> {
        self.top_where(limit, Select::Offloaded)
    }

    pub(crate) fn top_where(&mut self, limit: usize, sel: Select) -> Result<Vec<Flow>> {
        let mut top = TopN::new(limit);
        self.dump(sel, |e| {
            if sel == Select::All || e.offload() != Offload::None {
                top.add(e)
            }
        })?;
        Ok(top.into_sorted())
    }

    /// Stream the table through `f`. With `Select::Offloaded`, `f` still
    /// sees non-offloaded entries on kernels without the status filter;
    /// callers check the bits. Returns whether the kernel filtered.
    pub(crate) fn dump(&mut self, sel: Select, mut f: impl FnMut(Entry)) -> Result<bool> {
        let req = self.dump_request(sel)?;
        let mut filtered = false;
        let r = self.sock.dump(&req, |m| {
            if m.hdr.flags & NLM_F_DUMP_FILTERED != 0 {
                filtered = true;
            }
            match entry_from_msg(m) {
                Some(e) => f(e),
                None => log::debug!("conntrack: skipping an unparsable entry"),
            }
            Ok(())
        });
        match r {
            Ok(()) => Ok(filtered),
            // What was seen is already folded in; a second pass would count
            // it twice. The table changes constantly anyway: counts are a
            // snapshot either way.
            Err(netlink::Error::DumpInterrupted) => {
                log::debug!("conntrack: dump interrupted, counts may be approximate");
                Ok(filtered)
            }
            Err(e) => Err(ctnetlink_error(e, "conntrack dump")),
        }
    }

    fn dump_request(&mut self, sel: Select) -> Result<Vec<u8>> {
        let seq = self.sock.next_seq();
        let mut req = Vec::with_capacity(64);
        put_msg(
            &mut req,
            (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET,
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            &NfGenMsg::new(libc::AF_UNSPEC as u8, 0).bytes(),
            |w| {
                if sel == Select::Offloaded {
                    // (status & mask) == value: every entry with bit 14;
                    // hardware-offloaded entries carry it too.
                    w.put_u32_be(CTA_STATUS, IPS_OFFLOAD);
                    w.put_u32_be(CTA_STATUS_MASK, IPS_OFFLOAD);
                }
            },
        )
        .context("building conntrack dump request")?;
        Ok(req)
    }

    /// The number of conntrack entries (`IPCTNL_MSG_CT_GET_STATS`).
    pub fn tracked(&mut self) -> Result<u64> {
        let seq = self.sock.next_seq();
        let mut req = Vec::with_capacity(32);
        put_msg(
            &mut req,
            (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS,
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            &NfGenMsg::new(libc::AF_UNSPEC as u8, 0).bytes(),
            |_| {},
        )
        .context("building conntrack stats request")?;
        self.sock
            .send(&req)
            .map_err(|e| ctnetlink_error(e, "conntrack stats"))?;
        let mut entries = None;
        loop {
            let Some(buf) = self
                .sock
                .recv()
                .map_err(|e| ctnetlink_error(e, "conntrack stats"))?
            else {
                return Err(Error::failed("conntrack stats: no reply"));
            };
            for m in parse_msgs(buf) {
                let m = m.map_err(|e| ctnetlink_error(e, "conntrack stats"))?;
                if m.hdr.seq != seq {
                    continue;
                }
                if m.hdr.ty == NLMSG_ERROR {
                    // The ACK (or the error) ends the exchange.
                    m.error()
                        .map_err(|e| ctnetlink_error(e, "conntrack stats"))?;
                    return entries
                        .ok_or_else(|| Error::failed("conntrack stats: reply without a count"));
                }
                if let Some(a) = m.attrs(NfGenMsg::LEN).find(CTA_STATS_GLOBAL_ENTRIES) {
                    entries = a.u32_be().ok().map(u64::from);
                }
            }
        }
    }
}

/// ctnetlink errors, with the likely cause for the ones a router owner can
/// fix: nfnetlink answers EINVAL for a subsystem that is not loaded.
fn ctnetlink_error(e: netlink::Error, what: &str) -> Error {
    let missing = e.errno() == Some(libc::EINVAL);
    let err = Error::from(e).context(what);
    if missing {
        Error::unsupported(format!(
            "{err} (is nf_conntrack_netlink loaded? package kmod-nf-conntrack-netlink)"
        ))
    } else {
        err
    }
}

/// Offload counts in the caller's namespace (opens a socket per call).
pub fn count_offloaded(label_bits: &[(usize, u32)]) -> Result<Counts> {
    Conntrack::open()?.count_offloaded(label_bits)
}

/// The `limit` largest offloaded connections (opens a socket per call).
pub fn top_flows(limit: usize) -> Result<Vec<Flow>> {
    Conntrack::open()?.top_flows(limit)
}

/// `net.netfilter.nf_conntrack_acct`: without it offloaded byte counts
/// stay 0. `None` if it cannot be read.
pub fn acct_enabled() -> Option<bool> {
    let s = std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_acct").ok()?;
    Some(s.trim() != "0")
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Test support: writing conntrack entries ourselves over ctnetlink
    //! (`IPCTNL_MSG_CT_NEW`), in bulk, so tests can fill a namespace's
    //! table with 50k entries in well under a second. The kernel refuses
    //! to set `IPS_OFFLOAD`/`IPS_HW_OFFLOAD` through ctnetlink (they are
    //! in `IPS_UNCHANGEABLE_MASK`), so offloaded entries cannot be made
    //! this way; see `with_status` for how tests get them.
    use super::*;
    use crate::netlink::attr::AttrWriter;

    const CTA_PROTOINFO_TCP: u16 = 1;
    const CTA_PROTOINFO_TCP_STATE: u16 = 1;
    const TCP_CONNTRACK_ESTABLISHED: u8 = 3;

    #[derive(Clone, Debug)]
    pub struct NewCt {
        pub proto: u8,
        pub src: IpAddr,
        pub sport: u16,
        pub dst: IpAddr,
        pub dport: u16,
        pub labels: Option<[u8; LABELS_LEN]>,
    }

    impl NewCt {
        pub fn tcp(src: &str, sport: u16, dst: &str, dport: u16) -> NewCt {
            NewCt {
                proto: 6,
                src: src.parse().unwrap(),
                sport,
                dst: dst.parse().unwrap(),
                dport,
                labels: None,
            }
        }
    }

    fn put_tuple(w: &mut AttrWriter<'_>, ty: u16, proto: u8, a: (IpAddr, u16), b: (IpAddr, u16)) {
        w.nest(ty, |w| {
            w.nest(CTA_TUPLE_IP, |w| match (a.0, b.0) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    w.put(CTA_IP_V4_SRC, &s.octets());
                    w.put(CTA_IP_V4_DST, &d.octets());
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    w.put(CTA_IP_V6_SRC, &s.octets());
                    w.put(CTA_IP_V6_DST, &d.octets());
                }
                _ => panic!("mixed families"),
            });
            w.nest(CTA_TUPLE_PROTO, |w| {
                w.put_u8(CTA_PROTO_NUM, proto);
                w.put_u16_be(CTA_PROTO_SRC_PORT, a.1);
                w.put_u16_be(CTA_PROTO_DST_PORT, b.1);
            });
        });
    }

    /// Append one `IPCTNL_MSG_CT_NEW` for `ct` to `buf`.
    pub fn put_new(buf: &mut Vec<u8>, seq: u32, flags: u16, ct: &NewCt) {
        let family = if ct.src.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        } as u8;
        put_msg(
            buf,
            (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW,
            NLM_F_REQUEST
                | crate::netlink::msg::NLM_F_CREATE
                | crate::netlink::msg::NLM_F_EXCL
                | flags,
            seq,
            &NfGenMsg::new(family, 0).bytes(),
            |w| {
                let o = (ct.src, ct.sport);
                let r = (ct.dst, ct.dport);
                put_tuple(w, CTA_TUPLE_ORIG, ct.proto, o, r);
                put_tuple(w, CTA_TUPLE_REPLY, ct.proto, r, o);
                w.put_u32_be(CTA_TIMEOUT, 600);
                if ct.proto == 6 {
                    w.nest(CTA_PROTOINFO, |w| {
                        w.nest(CTA_PROTOINFO_TCP, |w| {
                            w.put_u8(CTA_PROTOINFO_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
                        });
                    });
                }
                if let Some(l) = &ct.labels {
                    w.put(CTA_LABELS, l);
                }
            },
        )
        .unwrap();
    }

    /// Insert all entries in the caller's namespace, in batches of ~500
    /// messages per sendmsg with one ACK each; panics on any error.
    pub fn insert_all(entries: impl IntoIterator<Item = NewCt>) -> usize {
        let mut sock = Socket::open(libc::NETLINK_NETFILTER).unwrap();
        let mut n = 0;
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut it = entries.into_iter().peekable();
        while it.peek().is_some() {
            buf.clear();
            for _ in 0..500 {
                let Some(ct) = it.next() else { break };
                let last = it.peek().is_none() || (n + 1) % 500 == 0;
                let seq = sock.next_seq();
                put_new(&mut buf, seq, if last { NLM_F_ACK } else { 0 }, &ct);
                n += 1;
            }
            for (seq, r) in sock.transact(&buf).unwrap() {
                if let Err(e) = r {
                    panic!("inserting conntrack entry (seq {seq}): {e}");
                }
            }
        }
        n
    }

    /// The raw dump messages of the caller's namespace (no kernel filter).
    pub fn dump_raw() -> Vec<Vec<u8>> {
        let mut ct = Conntrack::open().unwrap();
        let req = ct.dump_request(Select::All).unwrap();
        let mut out = Vec::new();
        ct.sock
            .dump(&req, |m| {
                let mut b = Vec::new();
                m.hdr.write(&mut b);
                b.extend_from_slice(m.payload);
                let len = b.len() as u32;
                b[..4].copy_from_slice(&len.to_ne_bytes());
                out.push(b);
                Ok(())
            })
            .unwrap();
        out
    }

    /// Test double for a kernel with flowtables: a copy of a real ctnetlink
    /// message with its `CTA_STATUS` replaced. The host kernel cannot
    /// offload (no CONFIG_NF_FLOW_TABLE), and ctnetlink cannot set the
    /// offload bits, so this is how offloaded entries reach the parser
    /// and the tallies here; the VM tests see real ones.
    pub fn with_status(msg: &[u8], status: u32) -> Vec<u8> {
        let mut out = msg.to_vec();
        let mut off = 16 + 4; // nlmsghdr + nfgenmsg
        while off + 4 <= out.len() {
            let len = u16::from_ne_bytes([out[off], out[off + 1]]) as usize;
            let ty = u16::from_ne_bytes([out[off + 2], out[off + 3]]) & 0x3fff;
            if ty == CTA_STATUS {
                out[off + 4..off + 8].copy_from_slice(&status.to_be_bytes());
                return out;
            }
            off += (len + 3) & !3;
        }
        panic!("no CTA_STATUS in message");
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use crate::observe::testns::NetNs;

    /// A namespace whose conntrack has labels enabled (a rule using them)
    /// and accounting on, so entries carry CTA_LABELS and counters.
    fn ct_netns(tag: &str) -> Option<NetNs> {
        let ns = NetNs::new(tag)?;
        // The rule first: it loads nf_conntrack where it is a module, and
        // only then does the acct sysctl exist.
        ns.exec(&[
            "nft",
            "add table inet t; add chain inet t out { type filter hook output priority 0; }; \
             add rule inet t out ct label set 5",
        ]);
        ns.exec(&["sysctl", "-q", "-w", "net.netfilter.nf_conntrack_acct=1"]);
        Some(ns)
    }

    /// `conntrack -L` in the namespace: (src, sport, dst, dport, bytes,
    /// packets, flags) per line, counters summed over both directions.
    fn conntrack_l(ns: &NetNs) -> Vec<(String, u16, String, u16, u64, u64, String)> {
        let out = ns.exec(&["conntrack", "-L"]);
        out.lines()
            .filter(|l| l.contains("src="))
            .map(|l| {
                let get = |k: &str| {
                    l.split_whitespace()
                        .filter_map(|w| w.strip_prefix(k))
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                };
                let sum = |k: &str| get(k).iter().map(|v| v.parse::<u64>().unwrap()).sum();
                (
                    get("src=")[0].clone(),
                    get("sport=")[0].parse().unwrap(),
                    get("dst=")[0].clone(),
                    get("dport=")[0].parse().unwrap(),
                    sum("bytes="),
                    sum("packets="),
                    l.to_string(),
                )
            })
            .collect()
    }

    fn sample_message() -> Vec<u8> {
        let mut b = Vec::new();
        let mut ct = NewCt::tcp("10.0.0.1", 1000, "10.0.0.2", 80);
        ct.labels = Some([0xff; LABELS_LEN]);
        put_new(&mut b, 1, 0, &ct);
        // A NEW request has the same layout as a dump reply, minus status
        // and counters: add them so every branch of the parser runs.
        let mut extra = Vec::new();
        let mut w = crate::netlink::attr::AttrWriter::new(&mut extra);
        w.put_u32_be(CTA_STATUS, IPS_OFFLOAD | 0x0e);
        w.nest(CTA_COUNTERS_ORIG, |w| {
            w.put_u64_be(CTA_COUNTERS_PACKETS, 3);
            w.put_u64_be(CTA_COUNTERS_BYTES, 300);
        });
        w.nest(CTA_COUNTERS_REPLY, |w| {
            w.put_u32_be(CTA_COUNTERS32_PACKETS, 2);
            w.put_u32_be(CTA_COUNTERS32_BYTES, 200);
        });
        w.finish().unwrap();
        b.extend_from_slice(&extra);
        let len = b.len() as u32;
        b[..4].copy_from_slice(&len.to_ne_bytes());
        b
    }

    #[test]
    fn parses_every_field_of_a_message() {
        let e = parse_ct_message(&sample_message()).unwrap();
        assert_eq!(e.proto, 6);
        assert_eq!(e.src, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!((e.sport, e.dport), (1000, 80));
        assert_eq!(e.dst, "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!((e.packets, e.bytes), (5, 500));
        assert_eq!(e.offload(), Offload::Software);
        assert_eq!(e.labels, Some([0xff; LABELS_LEN]));
    }

    #[test]
    fn parser_survives_truncation_and_corruption() {
        let msg = sample_message();
        for n in 0..msg.len() {
            let _ = parse_ct_message(&msg[..n]);
        }
        // Deterministic pseudo-random corruption (xorshift), incl. lengths.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut m = msg.clone();
            for _ in 0..(x % 4 + 1) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (x as usize) % m.len();
                m[i] = (x >> 32) as u8;
            }
            let _ = parse_ct_message(&m);
        }
        assert!(parse_ct_message(&[]).is_none());
        assert!(parse_ct_message(&[0xff; 64]).is_none());
    }

    #[test]
    fn hardware_wins_over_software_and_none_is_not_counted() {
        assert_eq!(Offload::from_status(0), Offload::None);
        assert_eq!(Offload::from_status(IPS_OFFLOAD), Offload::Software);
        assert_eq!(
            Offload::from_status(IPS_OFFLOAD | IPS_HW_OFFLOAD),
            Offload::Hardware
        );
        assert_eq!(Offload::from_status(IPS_HW_OFFLOAD), Offload::Hardware);
    }

    fn entry(status: u32, labels: Option<[u8; LABELS_LEN]>, bytes: u64) -> Entry {
        Entry {
            proto: 17,
            src: "10.0.0.1".parse().unwrap(),
            sport: 1,
            dst: "10.0.0.2".parse().unwrap(),
            dport: 2,
            status,
            bytes,
            packets: 1,
            labels,
        }
    }

    fn labels_with(bits: &[u32]) -> [u8; LABELS_LEN] {
        let mut l = [0u8; LABELS_LEN];
        for &b in bits {
            // Native unsigned-long words, as the kernel stores them.
            const W: usize = std::mem::size_of::<usize>();
            let word = b as usize / (W * 8);
            let mut v = usize::from_ne_bytes(l[word * W..(word + 1) * W].try_into().unwrap());
            v |= 1 << (b as usize % (W * 8));
            l[word * W..(word + 1) * W].copy_from_slice(&v.to_ne_bytes());
        }
        l
    }

    #[test]
    fn tally_attributes_to_every_labelled_zone() {
        // zone 0 = lan (bit 100), zone 1 = wan (bit 101), zone 2 = guest (bit 7)
        let bits = [(0, 100), (1, 101), (2, 7)];
        let mut t = Tally::new(&bits);
        t.add(&entry(IPS_OFFLOAD, Some(labels_with(&[100, 101])), 0)); // lan<->wan sw
        t.add(&entry(
            IPS_OFFLOAD | IPS_HW_OFFLOAD,
            Some(labels_with(&[100, 101])),
            0,
        )); // hw
        t.add(&entry(IPS_OFFLOAD, None, 0)); // fw4's own offload: no labels
        t.add(&entry(0x0e, Some(labels_with(&[7])), 0)); // not offloaded
        let c = t.counts;
        assert_eq!((c.software, c.hardware), (2, 1));
        assert_eq!(c.per_zone, vec![(1, 1), (1, 1), (0, 0)]);
        assert_eq!(c.unattributed, 1);
    }

    #[test]
    fn label_bits_are_native_long_words() {
        let l = labels_with(&[0, 5, 63, 64, 127]);
        for b in 0..128 {
            assert_eq!(
                label_bit(&l, b),
                [0, 5, 63, 64, 127].contains(&b),
                "bit {b}"
            );
        }
        assert!(!label_bit(&[0xff; LABELS_LEN], 128));
        if cfg!(target_endian = "little") {
            assert_eq!(labels_with(&[5])[0], 0x20);
            assert_eq!(labels_with(&[9])[1], 0x02);
        }
    }

    #[test]
    fn top_n_keeps_the_largest_in_order() {
        let mut top = TopN::new(3);
        for b in [5u64, 1, 9, 7, 3, 9, 0] {
            top.add(entry(IPS_OFFLOAD, None, b));
        }
        let got: Vec<u64> = top.into_sorted().iter().map(|f| f.bytes).collect();
        assert_eq!(got, [9, 9, 7]);
        let mut none = TopN::new(0);
        none.add(entry(IPS_OFFLOAD, None, 1));
        assert!(none.into_sorted().is_empty());
    }

    #[test]
    fn dump_matches_conntrack_l_and_counts_inserted_entries() {
        let Some(ns) = ct_netns("ct-dump") else {
            return;
        };
        let mut want = Vec::new();
        for i in 0..200u16 {
            want.push(NewCt::tcp("10.0.0.1", 1000 + i, "10.0.0.2", 80));
        }
        want.push(NewCt {
            proto: 17,
            src: "2001:db8::1".parse().unwrap(),
            sport: 5353,
            dst: "2001:db8::2".parse().unwrap(),
            dport: 53,
            labels: None,
        });
        let (all, counts) = ns.run(|| {
            assert_eq!(insert_all(want.clone()), 201);
            let mut ct = Conntrack::open().unwrap();
            let mut all = Vec::new();
            ct.dump(Select::All, |e| all.push(e)).unwrap();
            (all, ct.count_offloaded(&[(0, 5)]).unwrap())
        });
        // Every inserted entry comes back, IPv6 included (AF_UNSPEC dump).
        assert_eq!(all.len(), 201);
        for w in &want {
            assert!(
                all.iter().any(|e| e.proto == w.proto
                    && e.src == w.src
                    && e.sport == w.sport
                    && e.dst == w.dst
                    && e.dport == w.dport),
                "{w:?} missing"
            );
        }
        // The same set as conntrack(8) sees.
        let l = conntrack_l(&ns);
        assert_eq!(l.len(), all.len());
        for e in &all {
            assert!(l
                .iter()
                .any(|c| c.0 == e.src.to_string() && c.1 == e.sport && c.3 == e.dport));
        }
        // Nothing can be offloaded on this kernel; the total is right.
        assert_eq!(counts.tracked, 201);
        assert_eq!((counts.software, counts.hardware), (0, 0));
        assert_eq!(counts.per_zone, vec![(0, 0)]);
    }

    /// The kernel filter (Linux ≥ 5.19) must send none of the entries that
    /// are not offloaded; older kernels send all, which is also correct.
    #[test]
    fn status_filter_is_applied_by_the_kernel() {
        let Some(ns) = ct_netns("ct-filter") else {
            return;
        };
        let sent = ns.run(|| {
            insert_all((0..50u16).map(|i| NewCt::tcp("10.0.0.1", 2000 + i, "10.0.0.2", 80)));
            let mut n = 0;
            Conntrack::open()
                .unwrap()
                .dump(Select::Offloaded, |_| n += 1)
                .unwrap();
            n
        });
        if kernel_at_least(5, 19) {
            assert_eq!(
                sent, 0,
                "kernel sent non-offloaded entries despite the filter"
            );
        } else {
            assert!(sent == 0 || sent == 50);
        }
    }

    fn kernel_at_least(major: u32, minor: u32) -> bool {
        let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut it = r
            .trim()
            .split(['.', '-'])
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
        (a, b) >= (major, minor)
    }

    #[test]
    fn offloaded_kernel_messages_are_counted_and_ranked() {
        let Some(ns) = ct_netns("ct-tally") else {
            return;
        };
        // Real kernel messages with labels: bit 100 = lan, bit 101 = wan.
        let raw = ns.run(|| {
            let mut lab = [0u8; LABELS_LEN];
            lab.copy_from_slice(&labels_with(&[100, 101]));
            insert_all((0..4u16).map(|i| {
                let mut c = NewCt::tcp("192.168.1.10", 3000 + i, "10.9.9.9", 443);
                c.labels = Some(lab);
                c
            }));
            dump_raw()
        });
        assert_eq!(raw.len(), 4);
        let parsed: Vec<Entry> = raw.iter().map(|m| parse_ct_message(m).unwrap()).collect();
        // The kernel kept our labels and sends them back.
        assert!(parsed.iter().all(|e| {
            let l = e.labels.unwrap();
            label_bit(&l, 100) && label_bit(&l, 101) && !label_bit(&l, 5)
        }));
        // Test double (see with_status): 2 software, 1 hardware, 1 plain.
        let s0 = parsed[0].status;
        let msgs = [
            with_status(&raw[0], s0 | IPS_OFFLOAD),
            with_status(&raw[1], s0 | IPS_OFFLOAD),
            with_status(&raw[2], s0 | IPS_OFFLOAD | IPS_HW_OFFLOAD),
            raw[3].clone(),
        ];
        let bits = [(0, 100), (1, 101)];
        let mut t = Tally::new(&bits);
        for m in &msgs {
            t.add(&parse_ct_message(m).unwrap());
        }
        assert_eq!((t.counts.software, t.counts.hardware), (2, 1));
        assert_eq!(t.counts.per_zone, vec![(2, 1), (2, 1)]);
    }

    #[test]
    fn top_flows_bytes_match_conntrack_l_for_real_traffic() {
        let Some(ns) = ct_netns("ct-top") else {
            return;
        };
        // UDP over the namespace's loopback: flow i sends i+1 datagrams of
        // 100*(i+1) bytes, so the kernel's byte counts are all different.
        let top = ns.run(|| {
            let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let to = rx.local_addr().unwrap();
            for i in 0..6usize {
                let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                for _ in 0..=i {
                    tx.send_to(&vec![0u8; 100 * (i + 1)], to).unwrap();
                }
            }
            let mut ct = Conntrack::open().unwrap();
            // Nothing is offloaded here: rank every entry.
            ct.top_where(4, Select::All).unwrap()
        });
        assert_eq!(top.len(), 4);
        // Largest first: 6 x 628, 5 x 528, 4 x 428, 3 x 328 (IP+UDP = 28).
        let bytes: Vec<u64> = top.iter().map(|f| f.bytes).collect();
        assert_eq!(bytes, [6 * 628, 5 * 528, 4 * 428, 3 * 328]);
        let l = conntrack_l(&ns);
        for f in &top {
            let c = l
                .iter()
                .find(|c| c.1 == f.sport && c.3 == f.dport)
                .unwrap_or_else(|| panic!("{f:?} not in conntrack -L"));
            assert_eq!((c.4, c.5), (f.bytes, f.packets), "{}", c.6);
            // Our own rule labelled them: bit 5 in nft's numbering.
            assert!(
                label_bit(&f.labels, 5),
                "nft's label bit 5 must be our bit 5"
            );
            assert!(!f.hardware);
        }
        // And the public call, which wants offloaded flows only, finds none.
        assert!(ns.run(|| top_flows(10).unwrap()).is_empty());
    }
}

#[cfg(test)]
mod bench {
    //! Measurements, not assertions (run with `cargo test --release
    //! observe::conntrack::bench -- --ignored --nocapture`): counting over
    //! 1k/10k/50k entries with and without the kernel's status filter,
    //! against `conntrack -L | grep -c OFFLOAD` and `conntrack -L -u OFFLOAD`.
    use super::testutil::*;
    use super::*;
    use crate::observe::testns::NetNs;
    use std::time::Instant;

    fn ms(t: Instant) -> f64 {
        t.elapsed().as_secs_f64() * 1000.0
    }

    fn thread_cpu_ms() -> (f64, f64) {
        // SAFETY: getrusage fills the zeroed struct.
        let mut r: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut r) };
        let t = |v: libc::timeval| v.tv_sec as f64 * 1000.0 + v.tv_usec as f64 / 1000.0;
        (t(r.ru_utime), t(r.ru_stime))
    }

    fn shell_ms(ns: &NetNs, cmd: &str) -> (f64, String) {
        let t = Instant::now();
        let out = ns.exec(&["sh", "-c", cmd]);
        (ms(t), out.trim().to_string())
    }

    #[test]
    #[ignore]
    fn bench_count_offloaded() {
        let Some(ns) = NetNs::new("ct-bench") else {
            return;
        };
        let mut have = 0usize;
        for n in [1_000usize, 10_000, 50_000] {
            let t = Instant::now();
            let added = ns.run(|| {
                insert_all((have..n).map(|i| {
                    let a = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
                    NewCt::tcp(&a, 1024 + (i % 50_000) as u16, "10.255.0.1", 80)
                }))
            });
            let insert = ms(t);
            have = n;
            let (filtered, all, counts, cpu) = ns.run(|| {
                let mut ct = Conntrack::open().unwrap();
                let _ = ct.count_offloaded(&[(0, 1)]).unwrap(); // warm up
                let mut best_f = f64::MAX;
                let mut best_a = f64::MAX;
                let mut counts = Counts::default();
                let mut cpu = (0.0, 0.0);
                for _ in 0..5 {
                    let t = Instant::now();
                    counts = ct.count_offloaded(&[(0, 1), (1, 2)]).unwrap();
                    best_f = best_f.min(ms(t));
                    let t = Instant::now();
                    let c0 = thread_cpu_ms();
                    let mut tally = Tally::new(&[(0, 1), (1, 2)]);
                    let mut seen = 0u64;
                    ct.dump(Select::All, |e| {
                        seen += 1;
                        tally.add(&e)
                    })
                    .unwrap();
                    assert_eq!(seen as usize, n);
                    best_a = best_a.min(ms(t));
                    let c1 = thread_cpu_ms();
                    cpu = (c1.0 - c0.0, c1.1 - c0.1);
                }
                (best_f, best_a, counts, cpu)
            });
            assert_eq!(counts.tracked as usize, n);
            let (grep, c) = shell_ms(&ns, "conntrack -L 2>/dev/null | grep -c OFFLOAD || true");
            let (uoff, _) = shell_ms(&ns, "conntrack -L -u OFFLOAD 2>/dev/null | wc -l");
            let (cnt, c2) = shell_ms(&ns, "conntrack -C");
            println!(
                "n={n:>6}: insert(+{added}) {insert:.0} ms | ours filtered {filtered:.2} ms, \
                 ours full dump+tally {all:.2} ms (user {:.0} / sys {:.0} ms) | conntrack -L|grep -c OFFLOAD {grep:.0} ms ({c}) \
                 | conntrack -L -u OFFLOAD {uoff:.0} ms | conntrack -C {cnt:.0} ms ({c2})",
                cpu.0, cpu.1
            );
        }
    }
}

#[cfg(test)]
mod vm {
    //! Real offload, for the test VM (a kernel with flowtables): a client,
    //! a router and a server namespace; the router offloads forwarded TCP
    //! into a flowtable with the `counter` flag and labels the connection
    //! with bits 100 and 101 (two "zones"). Our counts and top flows must
    //! agree with `conntrack -L` there. Run with
    //! `cargo test observe::conntrack::vm -- --ignored` on such a kernel;
    //! on one without flowtables it skips, unless `NFTOFFLOAD_VM` is set
    //! (the VM runner sets it), where that is a failure.
    use super::*;
    use crate::observe::testns::NetNs;
    use std::io::{Read, Write};
    use std::sync::mpsc;

    const MB: usize = 1 << 20;

    #[test]
    #[ignore]
    fn vm_real_offload_is_counted_and_ranked() {
        let (Some(c), Some(r), Some(s)) = (
            NetNs::new("vm-client"),
            NetNs::new("vm-router"),
            NetNs::new("vm-server"),
        ) else {
            return;
        };
        // Flowtables supported here? (ENOENT on a kernel without them.)
        let ft = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                &r.name,
                "nft",
                "add table inet probe; add flowtable inet probe f { hook ingress priority 0; }",
            ])
            .status()
            .map(|st| st.success())
            .unwrap_or(false);
        if !ft {
            assert!(
                std::env::var_os("NFTOFFLOAD_VM").is_none(),
                "the VM kernel must have flowtables"
            );
            eprintln!("skipping: this kernel has no flowtables (run it in the VM)");
            return;
        }
        r.exec(&["nft", "delete table inet probe"]);
        r.ip(&[
            "link", "add", "r0", "type", "veth", "peer", "name", "c0", "netns", &c.name,
        ]);
        r.ip(&[
            "link", "add", "r1", "type", "veth", "peer", "name", "s0", "netns", &s.name,
        ]);
        for (ns, dev, addr, gw) in [
            (&c, "c0", "10.1.0.2/24", Some("10.1.0.1")),
            (&r, "r0", "10.1.0.1/24", None),
            (&r, "r1", "10.2.0.1/24", None),
            (&s, "s0", "10.2.0.2/24", Some("10.2.0.1")),
        ] {
            ns.ip(&["addr", "add", addr, "dev", dev]);
            ns.ip(&["link", "set", dev, "up"]);
            if let Some(gw) = gw {
                ns.ip(&["route", "add", "default", "via", gw]);
            }
        }
        r.exec(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        r.exec(&[
            "nft",
            "add table inet t
             add flowtable inet t ft { hook ingress priority 0; devices = { r0, r1 }; counter; }
             add chain inet t forward_t { type filter hook forward priority 0; policy accept; }
             add rule inet t forward_t ct label set 100 ct label set 101
             add rule inet t forward_t meta l4proto tcp flow add @ft",
        ]);
        r.exec(&["sysctl", "-q", "-w", "net.netfilter.nf_conntrack_acct=1"]);

        let (ready_tx, ready_rx) = mpsc::channel();
        let server = s.spawn(move || {
            let l = std::net::TcpListener::bind("10.2.0.2:5201").unwrap();
            ready_tx.send(()).unwrap();
            let (mut conn, _) = l.accept().unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = 0usize;
            while got < 8 * MB {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "client closed early");
                got += n;
            }
            conn.write_all(b"ok").unwrap();
            // Hold the connection until the client closes it.
            let _ = conn.read(&mut buf);
            got
        });
        ready_rx.recv().unwrap();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let (sent_tx, sent_rx) = mpsc::channel();
        let client = c.spawn(move || {
            let mut conn = std::net::TcpStream::connect("10.2.0.2:5201").unwrap();
            let chunk = vec![0x5au8; MB];
            for _ in 0..8 {
                conn.write_all(&chunk).unwrap();
            }
            let mut ok = [0u8; 2];
            conn.read_exact(&mut ok).unwrap();
            let port = conn.local_addr().unwrap().port();
            sent_tx.send(port).unwrap();
            done_rx.recv().unwrap();
        });
        let sport = sent_rx.recv().unwrap();

        let (counts, top) = r.run(|| {
            let mut ct = Conntrack::open().unwrap();
            let counts = ct.count_offloaded(&[(0, 100), (1, 101), (2, 7)]).unwrap();
            (counts, ct.top_flows(5).unwrap())
        });
        let listing = r.exec(&["conntrack", "-L"]);
        done_tx.send(()).unwrap();
        client.join().unwrap();
        assert!(server.join().unwrap() >= 8 * MB);
        eprintln!("router conntrack -L:\n{listing}\nours: {counts:?}\n{top:?}");

        let offloaded_lines = listing.lines().filter(|l| l.contains("[OFFLOAD]")).count();
        assert_eq!(offloaded_lines, 1, "{listing}");
        assert_eq!((counts.software, counts.hardware), (1, 0));
        assert_eq!(counts.per_zone, vec![(1, 0), (1, 0), (0, 0)]);
        assert_eq!(counts.unattributed, 0);
        assert!(counts.tracked >= 1);
        assert!(counts.kernel_filtered, "Linux >= 5.19 filters by status");

        assert_eq!(top.len(), 1, "{top:?}");
        let f = &top[0];
        assert_eq!((f.proto, f.sport, f.dport), (6, sport, 5201));
        assert_eq!(f.src, "10.1.0.2".parse::<IpAddr>().unwrap());
        assert!(!f.hardware);
        // The flowtable's counter flag keeps conntrack's counts moving: at
        // least the 8 MiB payload went through, mostly on the fast path.
        assert!(f.bytes >= 8 * MB as u64, "{f:?}");
        let line = listing
            .lines()
            .find(|l| l.contains(&format!("sport={sport} ")))
            .unwrap();
        let theirs: u64 = line
            .split_whitespace()
            .filter_map(|w| w.strip_prefix("bytes="))
            .map(|v| v.parse::<u64>().unwrap())
            .sum();
        // conntrack -L ran a moment later; only pure ACKs can differ.
        assert!(
            theirs >= f.bytes && theirs - f.bytes < 64 * 1024,
            "{theirs} vs {f:?}"
        );
    }
}
