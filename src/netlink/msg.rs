//! Netlink messages: `struct nlmsghdr` (16 bytes, host byte order), the
//! nfnetlink family header `struct nfgenmsg`, building messages into a
//! buffer, walking a receive buffer that holds several messages, and
//! decoding `NLMSG_ERROR` (with extended ack TLVs) and `NLMSG_DONE`.

use super::attr::{align4, AttrWriter, Attrs};
use super::error::{Error, KernelError};

pub const NLMSG_HDRLEN: usize = 16;

pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;
/// Types below this are netlink control messages.
pub const NLMSG_MIN_TYPE: u16 = 0x10;

pub const NLM_F_REQUEST: u16 = 0x01;
pub const NLM_F_MULTI: u16 = 0x02;
pub const NLM_F_ACK: u16 = 0x04;
pub const NLM_F_ECHO: u16 = 0x08;
pub const NLM_F_DUMP_INTR: u16 = 0x10;
// GET modifiers
pub const NLM_F_ROOT: u16 = 0x100;
pub const NLM_F_MATCH: u16 = 0x200;
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;
// NEW modifiers
pub const NLM_F_REPLACE: u16 = 0x100;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;
pub const NLM_F_APPEND: u16 = 0x800;
// Flags on NLMSG_ERROR replies
pub const NLM_F_CAPPED: u16 = 0x100;
pub const NLM_F_ACK_TLVS: u16 = 0x200;

pub const NLMSGERR_ATTR_MSG: u16 = 1;
pub const NLMSGERR_ATTR_OFFS: u16 = 2;

/// `struct nlmsghdr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NlMsgHdr {
    pub len: u32,
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

impl NlMsgHdr {
    pub fn parse(b: &[u8]) -> Option<NlMsgHdr> {
        let b: &[u8; NLMSG_HDRLEN] = b.get(..NLMSG_HDRLEN)?.try_into().ok()?;
        Some(NlMsgHdr {
            len: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            ty: u16::from_ne_bytes([b[4], b[5]]),
            flags: u16::from_ne_bytes([b[6], b[7]]),
            seq: u32::from_ne_bytes([b[8], b[9], b[10], b[11]]),
            pid: u32::from_ne_bytes([b[12], b[13], b[14], b[15]]),
        })
    }
    pub fn write(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.len.to_ne_bytes());
        buf.extend_from_slice(&self.ty.to_ne_bytes());
        buf.extend_from_slice(&self.flags.to_ne_bytes());
        buf.extend_from_slice(&self.seq.to_ne_bytes());
        buf.extend_from_slice(&self.pid.to_ne_bytes());
    }
}

pub const NFNETLINK_V0: u8 = 0;

/// `struct nfgenmsg`: family, version, and `res_id` (big endian).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NfGenMsg {
    pub family: u8,
    pub version: u8,
    pub res_id: u16,
}

impl NfGenMsg {
    pub const LEN: usize = 4;
    pub fn new(family: u8, res_id: u16) -> Self {
        NfGenMsg {
            family,
            version: NFNETLINK_V0,
            res_id,
        }
    }
    pub fn bytes(&self) -> [u8; 4] {
        let r = self.res_id.to_be_bytes();
        [self.family, self.version, r[0], r[1]]
    }
    pub fn parse(b: &[u8]) -> Option<NfGenMsg> {
        let b = b.get(..4)?;
        Some(NfGenMsg {
            family: b[0],
            version: b[1],
            res_id: u16::from_be_bytes([b[2], b[3]]),
        })
    }
}

/// Append one message: header, fixed family header (`fixed`, e.g. an
/// nfgenmsg or ifinfomsg, padded to 4), then attributes written by `f`.
/// Returns the message's offset in `buf`.
pub fn put_msg(
    buf: &mut Vec<u8>,
    ty: u16,
    flags: u16,
    seq: u32,
    fixed: &[u8],
    f: impl FnOnce(&mut AttrWriter<'_>),
) -> Result<usize, Error> {
    let start = buf.len();
    NlMsgHdr {
        len: 0,
        ty,
        flags,
        seq,
        pid: 0,
    }
    .write(buf);
    buf.extend_from_slice(fixed);
    let mut w = AttrWriter::new(buf);
    f(&mut w);
    w.finish()?;
    let len = buf.len() - start;
    let len32 = u32::try_from(len).map_err(|_| Error::malformed("message too long"))?;
    buf[start..start + 4].copy_from_slice(&len32.to_ne_bytes());
    Ok(start)
}

/// One message borrowed from a buffer: header and payload (everything after
/// the 16-byte header, up to `nlmsg_len`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msg<'a> {
    pub hdr: NlMsgHdr,
    pub payload: &'a [u8],
}

impl<'a> Msg<'a> {
    /// Attributes after a fixed family header of `fixed_len` bytes.
    pub fn attrs(&self, fixed_len: usize) -> Attrs<'a> {
        Attrs::new(self.payload.get(align4(fixed_len)..).unwrap_or(&[]))
    }
    /// The nfgenmsg at the start of the payload.
    pub fn nfgenmsg(&self) -> Option<NfGenMsg> {
        NfGenMsg::parse(self.payload)
    }
    /// nfnetlink subsystem id (high byte of the type).
    pub fn nfnl_subsys(&self) -> u8 {
        (self.hdr.ty >> 8) as u8
    }
    /// nfnetlink message type within the subsystem (low byte).
    pub fn nfnl_msg(&self) -> u8 {
        (self.hdr.ty & 0xff) as u8
    }
    /// For `NLMSG_ERROR`: `Ok(())` for an ACK (error 0), `Err` with the
    /// kernel error otherwise. Other message types → `Ok(())`.
    pub fn error(&self) -> Result<(), Error> {
        match self.hdr.ty {
            NLMSG_ERROR => parse_error(self),
            NLMSG_DONE => parse_done(self),
            _ => Ok(()),
        }
    }
}

/// Iterator over the messages in a receive buffer. Yields `Err` once for a
/// malformed header and then stops.
#[derive(Clone, Debug)]
pub struct Msgs<'a> {
    rest: &'a [u8],
    done: bool,
}

/// Walk the messages in `buf` (a pure function, safe on any input).
pub fn parse_msgs(buf: &[u8]) -> Msgs<'_> {
    Msgs {
        rest: buf,
        done: false,
    }
}

impl<'a> Iterator for Msgs<'a> {
    type Item = Result<Msg<'a>, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        let Some(hdr) = NlMsgHdr::parse(self.rest) else {
            self.done = true;
            return Some(Err(Error::malformed("truncated message header")));
        };
        let len = hdr.len as usize;
        if len < NLMSG_HDRLEN || len > self.rest.len() {
            self.done = true;
            return Some(Err(Error::malformed(format!(
                "message length {} (have {})",
                len,
                self.rest.len()
            ))));
        }
        let payload = &self.rest[NLMSG_HDRLEN..len];
        let next = align4(len).min(self.rest.len());
        self.rest = &self.rest[next..];
        Some(Ok(Msg { hdr, payload }))
    }
}

fn read_i32(b: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(..4)?.try_into().ok()?))
}

/// Extended ack TLVs: (message text, offset).
fn parse_ext_ack(tlvs: &[u8]) -> (Option<String>, Option<u32>) {
    let mut msg = None;
    let mut offs = None;
    for a in Attrs::new(tlvs).map_while(|a| a.ok()) {
        match a.kind() {
            NLMSGERR_ATTR_MSG => {
                msg = a
                    .str()
                    .ok()
                    .map(|s| s.trim_end().to_string())
                    .filter(|s| !s.is_empty())
            }
            NLMSGERR_ATTR_OFFS => offs = a.u32().ok(),
            _ => {}
        }
    }
    (msg, offs)
}

/// Decode an `NLMSG_ERROR` payload: `int error; struct nlmsghdr orig;`
/// then the original payload unless `NLM_F_CAPPED`, then extended-ack TLVs
/// if `NLM_F_ACK_TLVS`. The kernel error's `seq` is that of the request.
pub fn parse_error(m: &Msg<'_>) -> Result<(), Error> {
    let code = read_i32(m.payload).ok_or_else(|| Error::malformed("short NLMSG_ERROR"))?;
    if code == 0 {
        return Ok(());
    }
    let orig = m.payload.get(4..).and_then(NlMsgHdr::parse);
    let seq = orig.map(|h| h.seq).unwrap_or(m.hdr.seq);
    let (extack, offset) = match (m.hdr.flags & NLM_F_ACK_TLVS != 0, orig) {
        (true, Some(orig)) => {
            let skip = if m.hdr.flags & NLM_F_CAPPED != 0 {
                NLMSG_HDRLEN
            } else {
                align4(orig.len as usize)
            };
            parse_ext_ack(m.payload.get(4 + skip..).unwrap_or(&[]))
        }
        _ => (None, None),
    };
    Err(Error::Kernel(KernelError {
        errno: code.checked_neg().unwrap_or(i32::MAX),
        seq,
        extack,
        offset,
    }))
}

/// Decode `NLMSG_DONE`: dumps may end with a negative error code (plus
/// extended ack TLVs).
pub fn parse_done(m: &Msg<'_>) -> Result<(), Error> {
    match read_i32(m.payload) {
        Some(code) if code < 0 => {
            let (extack, offset) = if m.hdr.flags & NLM_F_ACK_TLVS != 0 {
                parse_ext_ack(m.payload.get(4..).unwrap_or(&[]))
            } else {
                (None, None)
            };
            Err(Error::Kernel(KernelError {
                errno: code.checked_neg().unwrap_or(i32::MAX),
                seq: m.hdr.seq,
                extack,
                offset,
            }))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(len: u32, ty: u16, flags: u16, seq: u32) -> Vec<u8> {
        let mut b = Vec::new();
        NlMsgHdr {
            len,
            ty,
            flags,
            seq,
            pid: 0,
        }
        .write(&mut b);
        b
    }

    #[test]
    fn builds_message_with_nfgenmsg() {
        let mut buf = Vec::new();
        put_msg(
            &mut buf,
            0xa00,
            NLM_F_REQUEST,
            7,
            &NfGenMsg::new(1, 0).bytes(),
            |w| {
                w.put_str(1, "t");
            },
        )
        .unwrap();
        // 16 header + 4 nfgenmsg + 8 attr ("t\0" padded)
        assert_eq!(buf.len(), 28);
        let m = parse_msgs(&buf).next().unwrap().unwrap();
        assert_eq!(m.hdr.len, 28);
        assert_eq!(m.hdr.seq, 7);
        assert_eq!(m.nfnl_subsys(), 10);
        assert_eq!(m.nfgenmsg().unwrap().family, 1);
        assert_eq!(m.attrs(4).find(1).unwrap().str().unwrap(), "t");
    }

    #[test]
    fn iterates_several_messages_and_stops_on_garbage() {
        let mut buf = Vec::new();
        for seq in 1..=3 {
            put_msg(&mut buf, 0x10, NLM_F_REQUEST, seq, &[], |w| {
                w.put_u8(1, seq as u8);
            })
            .unwrap();
        }
        let seqs: Vec<u32> = parse_msgs(&buf).map(|m| m.unwrap().hdr.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        buf.extend_from_slice(&[0xff; 10]);
        let r: Vec<_> = parse_msgs(&buf).collect();
        assert_eq!(r.len(), 4);
        assert!(r[3].is_err());
        // nlmsg_len smaller than a header
        let bad = hdr(3, 0x10, 0, 0);
        assert!(parse_msgs(&bad).next().unwrap().is_err());
    }

    /// An error reply as the kernel sends it with NETLINK_CAP_ACK and
    /// NETLINK_EXT_ACK: code, capped original header, TLVs.
    #[test]
    fn decodes_error_with_extended_ack() {
        let mut tlv = Vec::new();
        let mut w = super::super::attr::AttrWriter::new(&mut tlv);
        w.put_str(NLMSGERR_ATTR_MSG, "Device not found");
        w.put_u32(NLMSGERR_ATTR_OFFS, 36);
        let mut payload = (-libc::ENOENT).to_ne_bytes().to_vec();
        payload.extend(hdr(60, 0xa16, 5, 42));
        payload.extend(&tlv);
        let mut buf = hdr(
            (16 + payload.len()) as u32,
            NLMSG_ERROR,
            NLM_F_CAPPED | NLM_F_ACK_TLVS,
            42,
        );
        buf.extend(payload);
        let m = parse_msgs(&buf).next().unwrap().unwrap();
        match m.error() {
            Err(Error::Kernel(k)) => {
                assert_eq!(k.errno, libc::ENOENT);
                assert_eq!(k.seq, 42);
                assert_eq!(k.extack.as_deref(), Some("Device not found"));
                assert_eq!(k.offset, Some(36));
            }
            other => panic!("{other:?}"),
        }
    }

    /// Without CAP_ACK the original message is echoed whole before TLVs.
    #[test]
    fn decodes_uncapped_error_and_ack() {
        let mut orig = Vec::new();
        put_msg(&mut orig, 0xa00, 5, 9, &[1, 0, 0, 0], |w| {
            w.put_str(1, "abc");
        })
        .unwrap();
        let mut tlv = Vec::new();
        super::super::attr::AttrWriter::new(&mut tlv).put_str(NLMSGERR_ATTR_MSG, "nope");
        let mut payload = (-libc::EEXIST).to_ne_bytes().to_vec();
        payload.extend(&orig);
        payload.extend(&tlv);
        let mut buf = hdr((16 + payload.len()) as u32, NLMSG_ERROR, NLM_F_ACK_TLVS, 9);
        buf.extend(payload);
        let e = parse_msgs(&buf)
            .next()
            .unwrap()
            .unwrap()
            .error()
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::EEXIST));
        assert!(e.to_string().ends_with("(EEXIST): nope"), "{e}");

        let mut ack = hdr(36, NLMSG_ERROR, NLM_F_CAPPED, 9);
        ack.extend(0i32.to_ne_bytes());
        ack.extend(hdr(20, 0xa00, 5, 9));
        assert!(parse_msgs(&ack).next().unwrap().unwrap().error().is_ok());
    }

    #[test]
    fn done_with_error_code() {
        let mut buf = hdr(20, NLMSG_DONE, NLM_F_MULTI, 5);
        buf.extend((-libc::EINTR).to_ne_bytes());
        let e = parse_msgs(&buf)
            .next()
            .unwrap()
            .unwrap()
            .error()
            .unwrap_err();
        assert_eq!(e.errno(), Some(libc::EINTR));
        let mut ok = hdr(20, NLMSG_DONE, NLM_F_MULTI, 5);
        ok.extend(0i32.to_ne_bytes());
        assert!(parse_msgs(&ok).next().unwrap().unwrap().error().is_ok());
    }

    #[test]
    fn error_parsing_never_panics_on_prefixes() {
        let mut payload = (-libc::ENOENT).to_ne_bytes().to_vec();
        payload.extend(hdr(60, 0xa16, 5, 42));
        payload.extend([8, 0, 1, 0, b'x', 0, 0, 0]);
        for n in 0..payload.len() {
            let m = Msg {
                hdr: NlMsgHdr {
                    len: 0,
                    ty: NLMSG_ERROR,
                    flags: NLM_F_ACK_TLVS,
                    seq: 0,
                    pid: 0,
                },
                payload: &payload[..n],
            };
            let _ = m.error();
        }
        let min = i32::MIN.to_ne_bytes();
        let m = Msg {
            hdr: NlMsgHdr {
                ty: NLMSG_ERROR,
                ..Default::default()
            },
            payload: &min,
        };
        assert!(m.error().is_err());
    }
}
