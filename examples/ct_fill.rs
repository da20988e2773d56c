//! Test tool: fill the current network namespace's conntrack table with N
//! established TCP entries over ctnetlink (`IPCTNL_MSG_CT_NEW`), in batches
//! of 500 messages per `sendmsg`, so a test can measure `status` over a big
//! table without running `conntrack -I` N times (minutes under TCG). The
//! entries are 10.a.b.c:port → 10.255.0.1:80 with a 600 s timeout; nothing
//! is sent on any network. Self-contained on purpose (libc only): the
//! daemon's own ctnetlink code is what is being measured, not used.
//!
//! Usage: `ct_fill N` (run it inside the namespace: `ip netns exec NS ...`).
//! Exits 1 with the kernel's error if any insert fails.

use std::io::Error;

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 0x2;
const NLA_F_NESTED: u16 = 0x8000;
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

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// Append one attribute; `f` writes the payload (for nests, the children).
fn attr(buf: &mut Vec<u8>, ty: u16, f: impl FnOnce(&mut Vec<u8>)) {
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    f(buf);
    let len = (buf.len() - start) as u16;
    buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
    buf[start + 2..start + 4].copy_from_slice(&ty.to_ne_bytes());
    buf.resize(start + align(len as usize), 0);
}

fn tuple(buf: &mut Vec<u8>, ty: u16, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) {
    attr(buf, ty | NLA_F_NESTED, |b| {
        attr(b, CTA_TUPLE_IP | NLA_F_NESTED, |b| {
            attr(b, CTA_IP_V4_SRC, |b| b.extend_from_slice(&src));
            attr(b, CTA_IP_V4_DST, |b| b.extend_from_slice(&dst));
        });
        attr(b, CTA_TUPLE_PROTO | NLA_F_NESTED, |b| {
            attr(b, CTA_PROTO_NUM, |b| b.push(6));
            attr(b, CTA_PROTO_SRC_PORT, |b| {
                b.extend_from_slice(&sport.to_be_bytes())
            });
            attr(b, CTA_PROTO_DST_PORT, |b| {
                b.extend_from_slice(&dport.to_be_bytes())
            });
        });
    });
}

/// One CT_NEW message for entry number `i`.
fn put_entry(buf: &mut Vec<u8>, i: usize, seq: u32, ack: bool) {
    let start = buf.len();
    let flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | if ack { NLM_F_ACK } else { 0 };
    buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched below
    buf.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW).to_ne_bytes());
    buf.extend_from_slice(&flags.to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
    buf.extend_from_slice(&[libc::AF_INET as u8, 0, 0, 0]); // nfgenmsg, version 0
    let src = [
        10,
        (i >> 16 & 255) as u8,
        (i >> 8 & 255) as u8,
        (i & 255) as u8,
    ];
    let sport = 1024 + (i % 50_000) as u16;
    let dst = [10, 255, 0, 1];
    tuple(buf, CTA_TUPLE_ORIG, src, sport, dst, 80);
    tuple(buf, CTA_TUPLE_REPLY, dst, 80, src, sport);
    attr(buf, CTA_TIMEOUT, |b| {
        b.extend_from_slice(&600u32.to_be_bytes())
    });
    attr(buf, CTA_PROTOINFO | NLA_F_NESTED, |b| {
        attr(b, CTA_PROTOINFO_TCP | NLA_F_NESTED, |b| {
            attr(b, CTA_PROTOINFO_TCP_STATE, |b| {
                b.push(TCP_CONNTRACK_ESTABLISHED)
            });
        });
    });
    let len = (buf.len() - start) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
}

struct Sock(i32);

impl Drop for Sock {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor we own.
        unsafe { libc::close(self.0) };
    }
}

impl Sock {
    fn open() -> Result<Sock, String> {
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, NETLINK_NETFILTER) };
        if fd < 0 {
            return Err(format!("netlink socket: {}", Error::last_os_error()));
        }
        Ok(Sock(fd))
    }

    fn send(&self, buf: &[u8]) -> Result<(), String> {
        // SAFETY: a zeroed sockaddr_nl addresses the kernel (pid 0).
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: buf and sa are valid for the given lengths.
        let n = unsafe {
            libc::sendto(
                self.0,
                buf.as_ptr().cast(),
                buf.len(),
                0,
                (&sa as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if n < 0 || n as usize != buf.len() {
            return Err(format!("sendto: {}", Error::last_os_error()));
        }
        Ok(())
    }

    /// Read replies until the ACK of `last_seq`; any error reply fails.
    fn wait_ack(&self, last_seq: u32) -> Result<(), String> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::recv(self.0, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(format!("recv: {}", Error::last_os_error()));
            }
            let mut off = 0usize;
            let n = n as usize;
            while off + 16 <= n {
                let word =
                    |o: usize| u32::from_ne_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
                let len = word(off) as usize;
                let ty = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
                let seq = word(off + 8);
                if len < 16 || off + len > n {
                    return Err("malformed netlink reply".into());
                }
                if ty == NLMSG_ERROR && len >= 20 {
                    let errno = -(word(off + 16) as i32);
                    if errno != 0 {
                        return Err(format!(
                            "inserting entry (seq {seq}): {}",
                            Error::from_raw_os_error(errno)
                        ));
                    }
                    if seq == last_seq {
                        return Ok(());
                    }
                }
                off += align(len);
            }
        }
    }
}

fn fill(n: usize) -> Result<(), String> {
    let sock = Sock::open()?;
    let mut buf = Vec::with_capacity(BATCH * 160);
    let mut seq = 0u32;
    let mut i = 0usize;
    while i < n {
        buf.clear();
        let end = (i + BATCH).min(n);
        while i < end {
            seq += 1;
            put_entry(&mut buf, i, seq, i + 1 == end);
            i += 1;
        }
        sock.send(&buf)?;
        sock.wait_ack(seq)?;
    }
    Ok(())
}

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse::<usize>().ok());
    let Some(n) = n.filter(|&n| n <= 1 << 24) else {
        eprintln!("usage: ct_fill N   (inserts N conntrack entries in this network namespace)");
        std::process::exit(64);
    };
    if let Err(e) = fill(n) {
        eprintln!("ct_fill: {e}");
        std::process::exit(1);
    }
}
