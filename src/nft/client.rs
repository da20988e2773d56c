//! `Nft`: the high-level nf_tables client over one netlink socket. It
//! applies batches (one ACK per message, so a failure names its message)
//! and reads objects back through dumps, filtered to one table.

use std::time::Duration;

use super::batch::{Batch, BatchError};
use super::objects::{
    parse_chain, parse_flowtable, parse_rule, parse_set, parse_set_elems, parse_table, Chain,
    Flowtable, Rule, Set,
};
use super::uapi::*;
use crate::netlink::msg::{put_msg, NLM_F_DUMP, NLM_F_REQUEST};
use crate::netlink::{AttrWriter, Error, Msg, NfGenMsg, Socket};

/// How long to wait for the kernel before giving up on a request. The
/// kernel always answers; this only guards the daemon against a wedge.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Nft {
    sock: Socket,
}

fn msg_type(t: u8) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | t as u16
}

impl Nft {
    pub fn open() -> Result<Nft, Error> {
        let sock = Socket::open(libc::NETLINK_NETFILTER)?;
        sock.set_recv_timeout(Some(TIMEOUT))?;
        Ok(Nft { sock })
    }

    /// Our netlink port id: notifications caused by our own batches carry
    /// it, so a monitor can tell them from others'.
    pub fn portid(&self) -> u32 {
        self.sock.portid()
    }

    /// Send the batch as one transaction and wait for every message's
    /// answer. On failure nothing was changed (the kernel aborts the whole
    /// transaction) and the error names the first failing message.
    pub fn apply(&mut self, batch: &Batch) -> Result<(), BatchError> {
        if batch.is_empty() {
            return Ok(());
        }
        let io = |e: Error| BatchError {
            index: None,
            description: "nf_tables transaction".to_string(),
            errno: e.errno().unwrap_or(libc::EIO),
            extack: match e {
                Error::Malformed(m) => Some(m),
                _ => None,
            },
        };
        let first = self.sock.next_seq();
        let wire = batch.wire(first).map_err(io)?;
        // Reserve the sequence numbers the batch uses.
        for _ in 0..=batch.len() {
            self.sock.next_seq();
        }
        let acks = self.sock.transact(&wire).map_err(io)?;
        match batch.first_error(first, &acks) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn dump(
        &mut self,
        ty: u8,
        family: u8,
        attrs: impl FnOnce(&mut AttrWriter<'_>),
        mut f: impl FnMut(&Msg<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let seq = self.sock.next_seq();
        let mut req = Vec::new();
        put_msg(
            &mut req,
            msg_type(ty),
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            &NfGenMsg::new(family, 0).bytes(),
            attrs,
        )?;
        self.sock.dump(&req, |m| {
            if m.nfnl_subsys() as u16 != NFNL_SUBSYS_NFTABLES {
                return Ok(());
            }
            f(m)
        })
    }

    /// Run a dump, retrying (a few times) if a concurrent change
    /// interrupted it.
    fn dump_retry<T>(
        &mut self,
        ty: u8,
        family: u8,
        filter_attr: Option<(u16, &str)>,
        mut parse: impl FnMut(&Msg<'_>) -> Result<Option<T>, Error>,
    ) -> Result<Vec<T>, Error> {
        let mut tries = 0;
        loop {
            let mut out = Vec::new();
            let r = self.dump(
                ty,
                family,
                |w| {
                    if let Some((a, v)) = filter_attr {
                        w.put_str(a, v);
                    }
                },
                |m| {
                    if let Some(x) = parse(m)? {
                        out.push(x);
                    }
                    Ok(())
                },
            );
            match r {
                Err(Error::DumpInterrupted) if tries < 3 => tries += 1,
                Err(e) => return Err(e),
                Ok(()) => return Ok(out),
            }
        }
    }

    /// All tables: (family, name).
    pub fn list_tables(&mut self) -> Result<Vec<(u8, String)>, Error> {
        self.dump_retry(NFT_MSG_GETTABLE, libc::AF_UNSPEC as u8, None, |m| {
            let t = parse_table(m)?;
            Ok(Some((t.family, t.name)))
        })
    }

    /// Flowtables of one table, with hook, priority, flags and devices as
    /// the kernel has them (a device that went away is no longer listed).
    pub fn get_flowtables(&mut self, family: u8, table: &str) -> Result<Vec<Flowtable>, Error> {
        self.dump_retry(
            NFT_MSG_GETFLOWTABLE,
            family,
            Some((NFTA_FLOWTABLE_TABLE, table)),
            |m| {
                let f = parse_flowtable(m)?;
                Ok((f.family == family && f.table == table).then_some(f))
            },
        )
    }

    pub fn get_chains(&mut self, family: u8, table: &str) -> Result<Vec<Chain>, Error> {
        self.dump_retry(
            NFT_MSG_GETCHAIN,
            family,
            Some((NFTA_CHAIN_TABLE, table)),
            |m| {
                let c = parse_chain(m)?;
                Ok((c.family == family && c.table == table).then_some(c))
            },
        )
    }

    /// Sets of one table, with their elements.
    pub fn get_sets(&mut self, family: u8, table: &str) -> Result<Vec<Set>, Error> {
        let mut sets =
            self.dump_retry(NFT_MSG_GETSET, family, Some((NFTA_SET_TABLE, table)), |m| {
                let s = parse_set(m)?;
                Ok((s.family == family && s.table == table).then_some(s))
            })?;
        for s in &mut sets {
            s.elements = self.get_set_elements(family, table, &s.name)?;
        }
        Ok(sets)
    }

    pub fn get_set_elements(
        &mut self,
        family: u8,
        table: &str,
        set: &str,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let mut tries = 0;
        loop {
            let mut out = Vec::new();
            let r = self.dump(
                NFT_MSG_GETSETELEM,
                family,
                |w| {
                    w.put_str(NFTA_SET_ELEM_LIST_TABLE, table)
                        .put_str(NFTA_SET_ELEM_LIST_SET, set);
                },
                |m| {
                    let (t, s, e) = parse_set_elems(m)?;
                    if t == table && s == set {
                        out.extend(e);
                    }
                    Ok(())
                },
            );
            match r {
                Err(Error::DumpInterrupted) if tries < 3 => tries += 1,
                Err(e) => return Err(e),
                Ok(()) => return Ok(out),
            }
        }
    }

    /// Rules of one table, in chain order, with handles and decoded
    /// expressions (counter values included).
    pub fn get_rules(&mut self, family: u8, table: &str) -> Result<Vec<Rule>, Error> {
        self.dump_retry(
            NFT_MSG_GETRULE,
            family,
            Some((NFTA_RULE_TABLE, table)),
            |m| {
                let r = parse_rule(m)?;
                Ok((r.family == family && r.table == table).then_some(r))
            },
        )
    }
}
