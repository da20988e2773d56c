//! Link events from rtnetlink: a non-blocking `RTNLGRP_LINK` listener for
//! the daemon's poll loop. Owns telling the daemon that a device appeared,
//! changed or went away (the kernel drops an unregistered device from a
//! flowtable and does not add it back, so the daemon must react), and that
//! events were lost (`ENOBUFS`): then it must re-check every device.
//!
//! Only `AF_UNSPEC` link messages count. The bridge also reports port
//! changes on this group with family `AF_BRIDGE`, and its `RTM_DELLINK`
//! there means "left the bridge", not "device deleted".

use std::os::fd::RawFd;

use crate::error::{Context, Result};
use crate::netlink::{self, parse_msgs, Msg, Socket};

// include/uapi/linux/rtnetlink.h, if_link.h
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTNLGRP_LINK: u32 = 1;
const IFLA_IFNAME: u16 = 3;
/// `struct ifinfomsg`: family, pad, type, index, flags, change.
const IFINFOMSG_LEN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// Created, or changed (flags, name, master…): check it again.
    New,
    /// Unregistered.
    Del,
    /// The kernel dropped events because we read too slowly; the daemon
    /// must re-read every device. `name` is empty and `ifindex` 0.
    Overrun,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkEvent {
    pub name: String,
    pub ifindex: u32,
    pub kind: LinkKind,
}

/// Parse one rtnetlink message (whole netlink message) into a link event;
/// `None` for anything else (other types, `AF_BRIDGE` port messages,
/// malformed input). Never panics.
pub fn parse_link_message(buf: &[u8]) -> Option<LinkEvent> {
    let m = parse_msgs(buf).next()?.ok()?;
    event_from_msg(&m)
}

fn event_from_msg(m: &Msg<'_>) -> Option<LinkEvent> {
    let kind = match m.hdr.ty {
        RTM_NEWLINK => LinkKind::New,
        RTM_DELLINK => LinkKind::Del,
        _ => return None,
    };
    let ifi = m.payload.get(..IFINFOMSG_LEN)?;
    if ifi[0] != libc::AF_UNSPEC as u8 {
        return None;
    }
    let ifindex = i32::from_ne_bytes(ifi[4..8].try_into().ok()?);
    let ifindex = u32::try_from(ifindex).ok().filter(|&i| i != 0)?;
    let name = m
        .attrs(IFINFOMSG_LEN)
        .find(IFLA_IFNAME)?
        .str()
        .ok()?
        .to_string();
    if name.is_empty() {
        return None;
    }
    Some(LinkEvent {
        name,
        ifindex,
        kind,
    })
}

/// A non-blocking listener on `RTNLGRP_LINK` in the caller's namespace.
pub struct LinkMonitor {
    sock: Socket,
}

impl LinkMonitor {
    pub fn open() -> Result<LinkMonitor> {
        let sock = Socket::open(libc::NETLINK_ROUTE).context("rtnetlink socket")?;
        sock.add_membership(RTNLGRP_LINK)
            .context("joining RTNLGRP_LINK")?;
        sock.set_nonblocking(true)
            .context("rtnetlink socket non-blocking")?;
        Ok(LinkMonitor { sock })
    }

    /// For poll(): readable when events are queued.
    pub fn fd(&self) -> RawFd {
        self.sock.fd()
    }

    /// Set the receive buffer (bytes); a bigger one loses fewer events
    /// in bursts (e.g. a netifd restart).
    pub fn set_recv_buffer(&self, bytes: usize) -> Result<()> {
        self.sock
            .set_recv_buffer(bytes)
            .context("rtnetlink receive buffer")
    }

    /// Everything queued now, oldest first; never blocks. When the kernel
    /// reported lost events, the queue is still drained (the kernel only
    /// reports the next loss once the queue is empty) and one `Overrun`
    /// event is appended at the end.
    pub fn read_events(&mut self) -> Result<Vec<LinkEvent>> {
        let mut out = Vec::new();
        let mut overrun = false;
        loop {
            match self.sock.recv() {
                Ok(None) => break,
                Ok(Some(buf)) => {
                    for m in parse_msgs(buf) {
                        match m {
                            Ok(m) => out.extend(event_from_msg(&m)),
                            Err(e) => {
                                log::debug!("link monitor: {e}");
                                break;
                            }
                        }
                    }
                }
                // Reading the error clears it; keep draining.
                Err(netlink::Error::Overrun) => overrun = true,
                Err(e) => return Err(crate::error::Error::from(e).context("link events")),
            }
        }
        if overrun {
            out.push(LinkEvent {
                name: String::new(),
                ifindex: 0,
                kind: LinkKind::Overrun,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::testns::NetNs;

    fn named<'a>(ev: &'a [LinkEvent], name: &str) -> Vec<&'a LinkEvent> {
        ev.iter().filter(|e| e.name == name).collect()
    }

    #[test]
    fn sees_veth_created_and_deleted() {
        let Some(ns) = NetNs::new("link") else {
            return;
        };
        ns.run(|| {
            let mut mon = LinkMonitor::open().unwrap();
            assert!(mon.read_events().unwrap().is_empty(), "nothing queued yet");
            ns.ip(&["link", "add", "lm0", "type", "veth", "peer", "name", "lm1"]);
            let ev = mon.read_events().unwrap();
            let new: Vec<_> = named(&ev, "lm0");
            assert!(!new.is_empty(), "{ev:?}");
            assert!(new.iter().all(|e| e.kind == LinkKind::New));
            assert!(!named(&ev, "lm1").is_empty());
            let idx = new[0].ifindex;

            ns.ip(&["link", "del", "lm0"]); // takes its peer with it
            let ev = mon.read_events().unwrap();
            let del: Vec<_> = ev.iter().filter(|e| e.kind == LinkKind::Del).collect();
            assert!(
                del.iter().any(|e| e.name == "lm0" && e.ifindex == idx),
                "{ev:?}"
            );
            assert!(del.iter().any(|e| e.name == "lm1"), "{ev:?}");
            assert!(mon.read_events().unwrap().is_empty());
        });
    }

    #[test]
    fn leaving_a_bridge_is_not_a_delete() {
        let Some(ns) = NetNs::new("link-br") else {
            return;
        };
        ns.ip(&["link", "add", "br0", "type", "bridge"]);
        ns.ip(&["link", "add", "lb0", "type", "veth", "peer", "name", "lb1"]);
        ns.run(|| {
            let mut mon = LinkMonitor::open().unwrap();
            ns.ip(&["link", "set", "lb0", "master", "br0"]);
            ns.ip(&["link", "set", "lb0", "nomaster"]);
            let ev = mon.read_events().unwrap();
            assert!(!named(&ev, "lb0").is_empty(), "{ev:?}");
            assert!(
                ev.iter().all(|e| e.kind != LinkKind::Del),
                "AF_BRIDGE port removal reported as a delete: {ev:?}"
            );
        });
    }

    #[test]
    fn lost_events_are_reported_as_overrun() {
        let Some(ns) = NetNs::new("link-ovr") else {
            return;
        };
        ns.ip(&["link", "add", "lo0", "type", "veth", "peer", "name", "lo1"]);
        ns.run(|| {
            let mut mon = LinkMonitor::open().unwrap();
            mon.set_recv_buffer(1).unwrap(); // the kernel rounds up to its minimum
            for i in 0..40 {
                ns.ip(&["link", "set", "lo0", if i % 2 == 0 { "up" } else { "down" }]);
            }
            let ev = mon.read_events().unwrap();
            assert_eq!(ev.last().map(|e| e.kind), Some(LinkKind::Overrun), "{ev:?}");
            // After the overrun the socket works again.
            ns.ip(&["link", "del", "lo0"]);
            let after = mon.read_events().unwrap();
            assert!(
                after
                    .iter()
                    .any(|e| e.kind == LinkKind::Del || e.kind == LinkKind::Overrun),
                "{after:?}"
            );
        });
    }

    #[test]
    fn parser_ignores_other_families_and_garbage() {
        let mut b = Vec::new();
        let mut ifi = [0u8; IFINFOMSG_LEN];
        ifi[4..8].copy_from_slice(&7i32.to_ne_bytes());
        crate::netlink::put_msg(&mut b, RTM_DELLINK, 0, 1, &ifi, |w| {
            w.put_str(IFLA_IFNAME, "eth1");
        })
        .unwrap();
        assert_eq!(
            parse_link_message(&b),
            Some(LinkEvent {
                name: "eth1".into(),
                ifindex: 7,
                kind: LinkKind::Del
            })
        );
        let mut br = b.clone();
        br[16] = libc::AF_BRIDGE as u8;
        assert_eq!(parse_link_message(&br), None);
        for n in 0..b.len() {
            let _ = parse_link_message(&b[..n]);
        }
        let mut x: u32 = 12345;
        for _ in 0..5000 {
            let mut m = b.clone();
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let i = (x as usize >> 8) % m.len();
            m[i] = (x >> 24) as u8;
            let _ = parse_link_message(&m);
        }
    }
}
