//! An nf_tables transaction: messages between `NFNL_MSG_BATCH_BEGIN` and
//! `NFNL_MSG_BATCH_END`, applied by the kernel atomically (all or
//! nothing). Every message asks for an ACK and carries a human description,
//! so the kernel's error for message N comes back as "add flowtable inet
//! nftoffload ft (devices lan0, wan0): No such file or directory (ENOENT)".

use std::fmt;

use super::objects::{family_name, Chain, Flowtable, Rule, Set, Table};
use super::uapi::*;
use crate::netlink::msg::{put_msg, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST};
use crate::netlink::{errno_text, AttrWriter, Error, NfGenMsg};

struct Entry {
    /// Offset of the message in `buf`.
    offset: usize,
    desc: String,
}

/// A batch being built. Sequence numbers are assigned when it is sent.
#[derive(Default)]
pub struct Batch {
    buf: Vec<u8>,
    entries: Vec<Entry>,
    /// First encoding error (e.g. an attribute over 64 KiB), reported on send.
    error: Option<String>,
}

/// Why a batch failed: which message (by index in the batch, when the
/// kernel named one), what it was, and the errno / extended ack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError {
    pub index: Option<usize>,
    pub description: String,
    pub errno: i32,
    pub extack: Option<String>,
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.description, errno_text(self.errno))?;
        if let Some(m) = &self.extack {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BatchError {}

impl From<BatchError> for crate::error::Error {
    fn from(e: BatchError) -> Self {
        use crate::error::Kind;
        let kind = match e.errno {
            libc::ENOENT => Kind::NotFound,
            libc::EOPNOTSUPP => Kind::Unsupported,
            _ => Kind::Failed,
        };
        crate::error::Error::new(kind, e.to_string())
    }
}

fn msg_type(t: u8) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | t as u16
}

fn obj(family: u8, table: &str, name: &str) -> String {
    format!("{} {} {}", family_name(family), table, name)
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Descriptions of the messages, in order.
    pub fn descriptions(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.desc.as_str())
    }

    fn push(
        &mut self,
        ty: u8,
        flags: u16,
        family: u8,
        desc: String,
        f: impl FnOnce(&mut AttrWriter<'_>),
    ) {
        let fixed = NfGenMsg::new(family, 0).bytes();
        match put_msg(
            &mut self.buf,
            msg_type(ty),
            NLM_F_REQUEST | NLM_F_ACK | flags,
            0,
            &fixed,
            f,
        ) {
            Ok(offset) => self.entries.push(Entry { offset, desc }),
            Err(e) => {
                if self.error.is_none() {
                    self.error = Some(format!("{desc}: {e}"));
                }
            }
        }
    }

    pub fn add_table(&mut self, t: &Table) -> &mut Self {
        let desc = format!("add table {} {}", family_name(t.family), t.name);
        self.push(NFT_MSG_NEWTABLE, NLM_F_CREATE, t.family, desc, |w| {
            t.encode(w)
        });
        self
    }

    pub fn del_table(&mut self, family: u8, name: &str) -> &mut Self {
        let desc = format!("delete table {} {}", family_name(family), name);
        self.push(NFT_MSG_DELTABLE, 0, family, desc, |w| {
            w.put_str(NFTA_TABLE_NAME, name);
        });
        self
    }

    /// Create a flowtable, or, if it exists, add `devices` to it (the
    /// kernel's flowtable update; hook and priority must then match, and
    /// `flags offload` cannot change).
    pub fn add_flowtable(&mut self, f: &Flowtable) -> &mut Self {
        let desc = format!(
            "add flowtable {} (devices {})",
            obj(f.family, &f.table, &f.name),
            if f.devices.is_empty() {
                "none".to_string()
            } else {
                f.devices.join(", ")
            }
        );
        self.push(NFT_MSG_NEWFLOWTABLE, NLM_F_CREATE, f.family, desc, |w| {
            f.encode_with(w, &f.devices, true)
        });
        self
    }

    /// Remove only `devices` from an existing flowtable. `f` gives the
    /// flowtable's identity and its hook and priority (which must match
    /// the kernel's); its own device list is ignored.
    pub fn del_flowtable_devices(&mut self, f: &Flowtable, devices: &[String]) -> &mut Self {
        let desc = format!(
            "delete devices {} from flowtable {}",
            devices.join(", "),
            obj(f.family, &f.table, &f.name)
        );
        self.push(NFT_MSG_DELFLOWTABLE, 0, f.family, desc, |w| {
            f.encode_with(w, devices, false)
        });
        self
    }

    pub fn del_flowtable(&mut self, family: u8, table: &str, name: &str) -> &mut Self {
        let desc = format!("delete flowtable {}", obj(family, table, name));
        self.push(NFT_MSG_DELFLOWTABLE, 0, family, desc, |w| {
            w.put_str(NFTA_FLOWTABLE_TABLE, table)
                .put_str(NFTA_FLOWTABLE_NAME, name);
        });
        self
    }

    pub fn add_chain(&mut self, c: &Chain) -> &mut Self {
        let desc = format!("add chain {}", obj(c.family, &c.table, &c.name));
        self.push(NFT_MSG_NEWCHAIN, NLM_F_CREATE, c.family, desc, |w| {
            c.encode(w)
        });
        self
    }

    pub fn del_chain(&mut self, family: u8, table: &str, name: &str) -> &mut Self {
        let desc = format!("delete chain {}", obj(family, table, name));
        self.push(NFT_MSG_DELCHAIN, 0, family, desc, |w| {
            w.put_str(NFTA_CHAIN_TABLE, table)
                .put_str(NFTA_CHAIN_NAME, name);
        });
        self
    }

    /// NEWSET, then NEWSETELEM with the elements (if any).
    pub fn add_set(&mut self, s: &Set) -> &mut Self {
        let desc = format!("add set {}", obj(s.family, &s.table, &s.name));
        self.push(NFT_MSG_NEWSET, NLM_F_CREATE, s.family, desc, |w| {
            s.encode(w)
        });
        if !s.elements.is_empty() {
            let desc = format!(
                "add {} elements to set {}",
                s.elements.len(),
                obj(s.family, &s.table, &s.name)
            );
            self.push(NFT_MSG_NEWSETELEM, NLM_F_CREATE, s.family, desc, |w| {
                s.encode_elements(w)
            });
        }
        self
    }

    pub fn del_set(&mut self, family: u8, table: &str, name: &str) -> &mut Self {
        let desc = format!("delete set {}", obj(family, table, name));
        self.push(NFT_MSG_DELSET, 0, family, desc, |w| {
            w.put_str(NFTA_SET_TABLE, table)
                .put_str(NFTA_SET_NAME, name);
        });
        self
    }

    /// Delete all rules of a table, or of one chain.
    pub fn flush_rules(&mut self, family: u8, table: &str, chain: Option<&str>) -> &mut Self {
        let desc = match chain {
            Some(c) => format!("flush chain {}", obj(family, table, c)),
            None => format!("flush rules of table {} {}", family_name(family), table),
        };
        self.push(NFT_MSG_DELRULE, 0, family, desc, |w| {
            w.put_str(NFTA_RULE_TABLE, table);
            if let Some(c) = chain {
                w.put_str(NFTA_RULE_CHAIN, c);
            }
        });
        self
    }

    /// Append a rule to its chain.
    pub fn add_rule(&mut self, r: &Rule) -> &mut Self {
        let n = self.entries.len();
        let desc = format!(
            "add rule to chain {} (batch message {})",
            obj(r.family, &r.table, &r.chain),
            n + 1
        );
        self.push(
            NFT_MSG_NEWRULE,
            NLM_F_CREATE | NLM_F_APPEND,
            r.family,
            desc,
            |w| r.encode(w),
        );
        self
    }

    /// The messages alone (no batch header/trailer), with sequence numbers
    /// `first_seq`, `first_seq + 1`, ... For golden tests and debugging.
    pub fn messages(&self, first_seq: u32) -> Vec<u8> {
        let mut buf = self.buf.clone();
        for (i, e) in self.entries.iter().enumerate() {
            let s = first_seq.wrapping_add(i as u32);
            buf[e.offset + 8..e.offset + 12].copy_from_slice(&s.to_ne_bytes());
        }
        buf
    }

    /// The whole transaction: BEGIN (seq `first_seq`), the messages
    /// (`first_seq + 1 ..`), END. Also returns END's sequence number.
    pub fn wire(&self, first_seq: u32) -> Result<Vec<u8>, Error> {
        if let Some(e) = &self.error {
            return Err(Error::malformed(e.clone()));
        }
        let hdr = NfGenMsg::new(libc::AF_UNSPEC as u8, NFNL_SUBSYS_NFTABLES).bytes();
        let mut out = Vec::with_capacity(self.buf.len() + 40);
        put_msg(
            &mut out,
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            first_seq,
            &hdr,
            |_| {},
        )?;
        out.extend(self.messages(first_seq.wrapping_add(1)));
        let end_seq = first_seq.wrapping_add(self.entries.len() as u32 + 1);
        put_msg(
            &mut out,
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            end_seq,
            &hdr,
            |_| {},
        )?;
        Ok(out)
    }

    /// Map the kernel's per-message answers (from `Socket::transact` on
    /// `wire(first_seq)`) to the first failure, by batch order.
    pub fn first_error(
        &self,
        first_seq: u32,
        acks: &[(u32, Result<(), crate::netlink::KernelError>)],
    ) -> Option<BatchError> {
        let mut best: Option<BatchError> = None;
        for (seq, r) in acks {
            let Err(k) = r else { continue };
            let idx = seq.wrapping_sub(first_seq.wrapping_add(1)) as usize;
            let e = match self.entries.get(idx) {
                Some(entry) => BatchError {
                    index: Some(idx),
                    description: entry.desc.clone(),
                    errno: k.errno,
                    extack: k.extack.clone(),
                },
                None => BatchError {
                    index: None,
                    description: "nf_tables transaction".to_string(),
                    errno: k.errno,
                    extack: k.extack.clone(),
                },
            };
            let better = match (&best, e.index) {
                (None, _) => true,
                (Some(b), Some(i)) => b.index.is_some_and(|bi| i < bi),
                (Some(_), None) => false,
            };
            if better {
                best = Some(e);
            }
        }
        best
    }
}

/// Header of every message in a wire buffer: handy in tests.
#[cfg(test)]
pub(crate) fn headers(buf: &[u8]) -> Vec<crate::netlink::NlMsgHdr> {
    crate::netlink::parse_msgs(buf)
        .map(|m| m.map(|m| m.hdr))
        .collect::<Result<_, _>>()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::KernelError;

    fn ft() -> Flowtable {
        Flowtable {
            family: NFPROTO_INET,
            table: "nftoffload".into(),
            name: "ft".into(),
            hook: NF_NETDEV_INGRESS,
            priority: 0,
            devices: vec!["lan0".into(), "wan0".into()],
            flags: super::super::objects::FLOWTABLE_COUNTER,
        }
    }

    #[test]
    fn wire_has_begin_end_and_consecutive_seqs_with_ack() {
        let mut b = Batch::new();
        b.add_table(&Table {
            family: NFPROTO_INET,
            name: "t".into(),
        })
        .add_flowtable(&ft());
        let w = b.wire(100).unwrap();
        let h = headers(&w);
        assert_eq!(h.len(), 4);
        assert_eq!(h[0].ty, NFNL_MSG_BATCH_BEGIN);
        assert_eq!(h[3].ty, NFNL_MSG_BATCH_END);
        assert_eq!(
            h.iter().map(|h| h.seq).collect::<Vec<_>>(),
            [100, 101, 102, 103]
        );
        assert_eq!(h[1].flags & NLM_F_ACK, NLM_F_ACK);
        assert_eq!(h[2].ty, 0xa00 | NFT_MSG_NEWFLOWTABLE as u16);
        assert_eq!(h[2].flags & NLM_F_CREATE, NLM_F_CREATE);
        assert_eq!(h[0].flags & NLM_F_ACK, 0);
    }

    #[test]
    fn kernel_error_maps_to_described_message() {
        let mut b = Batch::new();
        b.add_table(&Table {
            family: NFPROTO_INET,
            name: "nftoffload".into(),
        })
        .add_flowtable(&ft());
        let err = |seq, errno, ext: Option<&str>| {
            (
                seq,
                Err(KernelError {
                    errno,
                    seq,
                    extack: ext.map(str::to_string),
                    offset: None,
                }),
            )
        };
        // Errors may arrive in any order; the first message's wins.
        let acks = vec![(11, Ok(())), err(12, libc::ENOENT, None)];
        let e = b.first_error(10, &acks).unwrap();
        assert_eq!(e.index, Some(1));
        assert_eq!(
            e.to_string(),
            "add flowtable inet nftoffload ft (devices lan0, wan0): No such file or directory (ENOENT)"
        );
        let ce: crate::error::Error = e.into();
        assert_eq!(ce.kind(), crate::error::Kind::NotFound);

        let acks = vec![
            err(12, libc::EOPNOTSUPP, Some("hw")),
            err(11, libc::EEXIST, None),
        ];
        let e = b.first_error(10, &acks).unwrap();
        assert_eq!((e.index, e.errno), (Some(0), libc::EEXIST));

        // An error for the BATCH_BEGIN itself (seq 10).
        let e = b.first_error(10, &[err(10, libc::EPERM, None)]).unwrap();
        assert_eq!(e.index, None);
        assert!(e.to_string().contains("EPERM"));
        assert!(b.first_error(10, &[(11, Ok(())), (12, Ok(()))]).is_none());
    }
}
