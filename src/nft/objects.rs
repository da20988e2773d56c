//! nf_tables objects (table, chain, set, flowtable, rule): plain data,
//! their attribute encoding for NEW messages (attribute order as nft/
//! libnftnl emits it) and their decoding from dump replies and
//! notifications. Decoders are pure functions over a message and never
//! panic; they are the entry points a fuzzer can drive.

use super::expr::{Expr, Verdict};
use super::uapi::*;
use crate::netlink::{AttrWriter, Error, Msg, NfGenMsg};

/// `ingress`/`forward`/... hook of a base chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
    Ingress,
    Other(u32),
}

impl Hook {
    pub fn num(self) -> u32 {
        match self {
            Hook::Prerouting => NF_INET_PRE_ROUTING,
            Hook::Input => NF_INET_LOCAL_IN,
            Hook::Forward => NF_INET_FORWARD,
            Hook::Output => NF_INET_LOCAL_OUT,
            Hook::Postrouting => NF_INET_POST_ROUTING,
            Hook::Ingress => NF_INET_INGRESS,
            Hook::Other(n) => n,
        }
    }
    pub fn from_num(n: u32) -> Hook {
        match n {
            NF_INET_PRE_ROUTING => Hook::Prerouting,
            NF_INET_LOCAL_IN => Hook::Input,
            NF_INET_FORWARD => Hook::Forward,
            NF_INET_LOCAL_OUT => Hook::Output,
            NF_INET_POST_ROUTING => Hook::Postrouting,
            NF_INET_INGRESS => Hook::Ingress,
            n => Hook::Other(n),
        }
    }
}

/// nft's name for a family.
pub fn family_name(f: u8) -> &'static str {
    match f {
        NFPROTO_INET => "inet",
        NFPROTO_IPV4 => "ip",
        NFPROTO_IPV6 => "ip6",
        NFPROTO_ARP => "arp",
        NFPROTO_BRIDGE => "bridge",
        NFPROTO_NETDEV => "netdev",
        _ => "unknown",
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub family: u8,
    pub name: String,
}

/// A flowtable. `hook` is always `NF_NETDEV_INGRESS` (0) in practice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flowtable {
    pub family: u8,
    pub table: String,
    pub name: String,
    pub hook: u32,
    pub priority: i32,
    pub devices: Vec<String>,
    pub flags: u32,
}

/// `flags offload`: ask the driver to offload in hardware.
pub const FLOWTABLE_HW_OFFLOAD: u32 = 1;
/// `counter`: keep conntrack byte/packet counters of offloaded flows.
pub const FLOWTABLE_COUNTER: u32 = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseChain {
    pub hook: Hook,
    pub priority: i32,
    /// "filter", "nat" or "route".
    pub chain_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub family: u8,
    pub table: String,
    pub name: String,
    pub base: Option<BaseChain>,
    pub policy: Option<Verdict>,
}

/// A named set with its elements (raw key bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Set {
    pub family: u8,
    pub table: String,
    pub name: String,
    /// Batch-local id (`NFTA_SET_ID`) that lookups in the same batch use;
    /// unique within a batch. Dumps do not report it (0).
    pub id: u32,
    /// nft datatype id (`TYPE_IFNAME`, `TYPE_INET_PROTOCOL`, ...).
    pub key_type: u32,
    pub key_len: u32,
    pub flags: u32,
    pub elements: Vec<Vec<u8>>,
    /// `NFTA_SET_USERDATA`: nft stores the key byte order there so that
    /// `nft list` prints elements right. The helpers fill it as nft does.
    pub userdata: Vec<u8>,
}

/// nft's set userdata: TLV `NFTNL_UDATA_SET_KEYBYTEORDER` (0), 4 bytes.
fn keybyteorder_udata(order: u32) -> Vec<u8> {
    let mut v = vec![0u8, 4];
    v.extend(order.to_ne_bytes());
    v
}

impl Set {
    /// `type ifname` set: 16-byte NUL-padded interface names.
    pub fn ifname(family: u8, table: &str, name: &str, id: u32, ifnames: &[&str]) -> Set {
        Set {
            family,
            table: table.to_string(),
            name: name.to_string(),
            id,
            key_type: TYPE_IFNAME,
            key_len: IFNAMSIZ as u32,
            flags: 0,
            elements: ifnames
                .iter()
                .map(|n| super::expr::ifname_bytes(n))
                .collect(),
            // BYTEORDER_HOST_ENDIAN
            userdata: keybyteorder_udata(1),
        }
    }
    /// `type inet_proto` set: one byte per protocol number.
    pub fn inet_proto(family: u8, table: &str, name: &str, id: u32, protos: &[u8]) -> Set {
        Set {
            family,
            table: table.to_string(),
            name: name.to_string(),
            id,
            key_type: TYPE_INET_PROTOCOL,
            key_len: 1,
            flags: 0,
            elements: protos.iter().map(|p| vec![*p]).collect(),
            userdata: keybyteorder_udata(0),
        }
    }
    /// Elements of an ifname set as strings (up to the first NUL).
    pub fn ifnames(&self) -> Vec<String> {
        self.elements
            .iter()
            .map(|e| {
                let end = e.iter().position(|&b| b == 0).unwrap_or(e.len());
                String::from_utf8_lossy(&e[..end]).into_owned()
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub family: u8,
    pub table: String,
    pub chain: String,
    /// Kernel handle; `None` for rules not yet created.
    pub handle: Option<u64>,
    pub exprs: Vec<Expr>,
}

impl Rule {
    pub fn new(family: u8, table: &str, chain: &str, exprs: Vec<Expr>) -> Rule {
        Rule {
            family,
            table: table.to_string(),
            chain: chain.to_string(),
            handle: None,
            exprs,
        }
    }
    /// Same expressions, ignoring handles, counter values and set ids.
    pub fn same_as(&self, o: &Rule) -> bool {
        self.family == o.family
            && self.table == o.table
            && self.chain == o.chain
            && self.exprs.len() == o.exprs.len()
            && self.exprs.iter().zip(&o.exprs).all(|(a, b)| a.same_as(b))
    }
    /// The listing `nft --debug=netlink` prints for a rule.
    pub fn debug_text(&self) -> String {
        let mut s = format!(
            "{} {} {}\n",
            family_name(self.family),
            self.table,
            self.chain
        );
        for e in &self.exprs {
            s.push_str(&format!("  {e}\n"));
        }
        s
    }
}

// ---- encoding -------------------------------------------------------------

impl Table {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.put_str(NFTA_TABLE_NAME, &self.name)
            .put_u32_be(NFTA_TABLE_FLAGS, 0);
    }
}

impl Chain {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.put_str(NFTA_CHAIN_TABLE, &self.table)
            .put_str(NFTA_CHAIN_NAME, &self.name);
        if let Some(b) = &self.base {
            w.put_str(NFTA_CHAIN_TYPE, &b.chain_type);
        }
        if let Some(p) = &self.policy {
            w.put_u32_be(NFTA_CHAIN_POLICY, p.code() as u32);
        }
        if let Some(b) = &self.base {
            w.nest(NFTA_CHAIN_HOOK, |w| {
                w.put_u32_be(NFTA_HOOK_HOOKNUM, b.hook.num())
                    .put_u32_be(NFTA_HOOK_PRIORITY, b.priority as u32);
            });
        }
    }
}

impl Set {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.put_str(NFTA_SET_TABLE, &self.table)
            .put_str(NFTA_SET_NAME, &self.name)
            .put_u32_be(NFTA_SET_FLAGS, self.flags)
            .put_u32_be(NFTA_SET_KEY_TYPE, self.key_type)
            .put_u32_be(NFTA_SET_KEY_LEN, self.key_len)
            .put_u32_be(NFTA_SET_ID, self.id);
        if !self.userdata.is_empty() {
            w.put(NFTA_SET_USERDATA, &self.userdata);
        }
    }
    pub(crate) fn encode_elements(&self, w: &mut AttrWriter<'_>) {
        w.put_str(NFTA_SET_ELEM_LIST_TABLE, &self.table)
            .put_str(NFTA_SET_ELEM_LIST_SET, &self.name)
            .put_u32_be(NFTA_SET_ELEM_LIST_SET_ID, self.id);
        w.nest(NFTA_SET_ELEM_LIST_ELEMENTS, |w| {
            for (i, e) in self.elements.iter().enumerate() {
                // libnftnl numbers the list entries 1, 2, ... (the kernel
                // ignores the type); do the same so bytes match nft's.
                let ty = (i % 0x3fff) as u16 + 1;
                w.nest(ty, |w| {
                    w.nest(NFTA_SET_ELEM_KEY, |w| {
                        w.put(NFTA_DATA_VALUE, e);
                    });
                });
            }
        });
    }
}

impl Flowtable {
    /// `devices`: the hook's device list (all of them for NEW, the ones to
    /// remove for a DEL with devices).
    pub(crate) fn encode_with(&self, w: &mut AttrWriter<'_>, devices: &[String], flags: bool) {
        w.put_str(NFTA_FLOWTABLE_TABLE, &self.table)
            .put_str(NFTA_FLOWTABLE_NAME, &self.name);
        w.nest(NFTA_FLOWTABLE_HOOK, |w| {
            w.put_u32_be(NFTA_FLOWTABLE_HOOK_NUM, self.hook)
                .put_u32_be(NFTA_FLOWTABLE_HOOK_PRIORITY, self.priority as u32);
            if !devices.is_empty() {
                w.nest(NFTA_FLOWTABLE_HOOK_DEVS, |w| {
                    for d in devices {
                        w.put_str(NFTA_DEVICE_NAME, d);
                    }
                });
            }
        });
        if flags {
            w.put_u32_be(NFTA_FLOWTABLE_FLAGS, self.flags);
        }
    }
}

impl Rule {
    pub(crate) fn encode(&self, w: &mut AttrWriter<'_>) {
        w.put_str(NFTA_RULE_TABLE, &self.table)
            .put_str(NFTA_RULE_CHAIN, &self.chain);
        if let Some(h) = self.handle {
            w.put_u64_be(NFTA_RULE_HANDLE, h);
        }
        w.nest(NFTA_RULE_EXPRESSIONS, |w| {
            for e in &self.exprs {
                e.encode(w);
            }
        });
    }
}

// ---- decoding -------------------------------------------------------------

fn family(m: &Msg<'_>) -> Result<u8, Error> {
    m.nfgenmsg()
        .map(|g| g.family)
        .ok_or_else(|| Error::malformed("message without nfgenmsg"))
}

fn missing(what: &str) -> Error {
    Error::malformed(format!("missing {what}"))
}

fn string(a: &crate::netlink::Attr<'_>) -> Result<String, Error> {
    a.str().map(str::to_string)
}

/// Decode a NEWTABLE/DELTABLE message.
pub fn parse_table(m: &Msg<'_>) -> Result<Table, Error> {
    let family = family(m)?;
    let mut name = None;
    for a in m.attrs(NfGenMsg::LEN) {
        let a = a?;
        if a.kind() == NFTA_TABLE_NAME {
            name = Some(string(&a)?);
        }
    }
    Ok(Table {
        family,
        name: name.ok_or_else(|| missing("table name"))?,
    })
}

/// Decode a NEWCHAIN/DELCHAIN message.
pub fn parse_chain(m: &Msg<'_>) -> Result<Chain, Error> {
    let family = family(m)?;
    let (mut table, mut name, mut ty, mut policy, mut hook) = (None, None, None, None, None);
    for a in m.attrs(NfGenMsg::LEN) {
        let a = a?;
        match a.kind() {
            NFTA_CHAIN_TABLE => table = Some(string(&a)?),
            NFTA_CHAIN_NAME => name = Some(string(&a)?),
            NFTA_CHAIN_TYPE => ty = Some(string(&a)?),
            NFTA_CHAIN_POLICY => policy = Verdict::from_policy(a.u32_be()?),
            NFTA_CHAIN_HOOK => {
                let (mut num, mut prio) = (None, None);
                for h in a.nested() {
                    let h = h?;
                    match h.kind() {
                        NFTA_HOOK_HOOKNUM => num = Some(h.u32_be()?),
                        NFTA_HOOK_PRIORITY => prio = Some(h.u32_be()? as i32),
                        _ => {}
                    }
                }
                hook = Some((
                    num.ok_or_else(|| missing("hook number"))?,
                    prio.ok_or_else(|| missing("hook priority"))?,
                ));
            }
            _ => {}
        }
    }
    let base = hook.map(|(num, priority)| BaseChain {
        hook: Hook::from_num(num),
        priority,
        chain_type: ty.unwrap_or_else(|| "filter".to_string()),
    });
    Ok(Chain {
        family,
        table: table.ok_or_else(|| missing("chain table"))?,
        name: name.ok_or_else(|| missing("chain name"))?,
        base,
        policy,
    })
}

/// Decode a NEWSET/DELSET message (elements are fetched separately).
pub fn parse_set(m: &Msg<'_>) -> Result<Set, Error> {
    let family = family(m)?;
    let mut s = Set {
        family,
        table: String::new(),
        name: String::new(),
        id: 0,
        key_type: 0,
        key_len: 0,
        flags: 0,
        elements: Vec::new(),
        userdata: Vec::new(),
    };
    for a in m.attrs(NfGenMsg::LEN) {
        let a = a?;
        match a.kind() {
            NFTA_SET_TABLE => s.table = string(&a)?,
            NFTA_SET_NAME => s.name = string(&a)?,
            NFTA_SET_FLAGS => s.flags = a.u32_be()?,
            NFTA_SET_KEY_TYPE => s.key_type = a.u32_be()?,
            NFTA_SET_KEY_LEN => s.key_len = a.u32_be()?,
            NFTA_SET_ID => s.id = a.u32_be()?,
            NFTA_SET_USERDATA => s.userdata = a.data().to_vec(),
            _ => {}
        }
    }
    if s.name.is_empty() || s.table.is_empty() {
        return Err(missing("set table or name"));
    }
    Ok(s)
}

/// Decode a NEWSETELEM message: (table, set, element keys).
pub fn parse_set_elems(m: &Msg<'_>) -> Result<(String, String, Vec<Vec<u8>>), Error> {
    let (mut table, mut set, mut elems) = (String::new(), String::new(), Vec::new());
    for a in m.attrs(NfGenMsg::LEN) {
        let a = a?;
        match a.kind() {
            NFTA_SET_ELEM_LIST_TABLE => table = string(&a)?,
            NFTA_SET_ELEM_LIST_SET => set = string(&a)?,
            NFTA_SET_ELEM_LIST_ELEMENTS => {
                for e in a.nested() {
                    let e = e?;
                    if let Some(k) = e.nested().find(NFTA_SET_ELEM_KEY) {
                        if let Some(v) = k.nested().find(NFTA_DATA_VALUE) {
                            elems.push(v.data().to_vec());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok((table, set, elems))
}

/// Decode a NEWFLOWTABLE/DELFLOWTABLE message.
pub fn parse_flowtable(m: &Msg<'_>) -> Result<Flowtable, Error> {
    let family = family(m)?;
    let mut f = Flowtable {
        family,
        table: String::new(),
        name: String::new(),
        hook: NF_NETDEV_INGRESS,
        priority: 0,
        devices: Vec::new(),
        flags: 0,
    };
    for a in m.attrs(NfGenMsg::LEN) {
        let a = a?;
        match a.kind() {
            NFTA_FLOWTABLE_TABLE => f.table = string(&a)?,
            NFTA_FLOWTABLE_NAME => f.name = string(&a)?,
            NFTA_FLOWTABLE_FLAGS => f.flags = a.u32_be()?,
            NFTA_FLOWTABLE_HOOK => {
                for h in a.nested() {
                    let h = h?;
                    match h.kind() {
                        NFTA_FLOWTABLE_HOOK_NUM => f.hook = h.u32_be()?,
                        NFTA_FLOWTABLE_HOOK_PRIORITY => f.priority = h.u32_be()? as i32,
                        NFTA_FLOWTABLE_HOOK_DEVS => {
                            for d in h.nested() {
                                let d = d?;
                                if d.kind() == NFTA_DEVICE_NAME {
                                    f.devices.push(string(&d)?);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if f.name.is_empty() || f.table.is_empty() {
        return Err(missing("flowtable table or name"));
    }
    Ok(f)
}

/// Decode a NEWRULE/DELRULE message, expressions included.
pub fn parse_rule(m: &Msg<'_>) -> Result<Rule, Error> {
    let family = family(m)?;
    let mut r = Rule {
        family,
        table: String::new(),
        chain: String::new(),
        handle: None,
        exprs: Vec::new(),
    };
    for a in m.attrs(NfGenMsg::LEN) {
        let a = a?;
        match a.kind() {
            NFTA_RULE_TABLE => r.table = string(&a)?,
            NFTA_RULE_CHAIN => r.chain = string(&a)?,
            NFTA_RULE_HANDLE => r.handle = Some(a.u64_be()?),
            NFTA_RULE_EXPRESSIONS => {
                for e in a.nested() {
                    r.exprs.push(Expr::decode(&e?)?);
                }
            }
            _ => {}
        }
    }
    if r.table.is_empty() || r.chain.is_empty() {
        return Err(missing("rule table or chain"));
    }
    Ok(r)
}
