//! Netlink attributes (`struct nlattr`, TLV with 4-byte alignment): a writer
//! that appends attributes (nested ones included) to a byte buffer, and a
//! zero-copy iterator that walks them without ever panicking on malformed
//! input.
//!
//! Wire layout: `u16 nla_len` (header + payload, unpadded), `u16 nla_type`
//! (low 14 bits type, `NLA_F_NESTED` / `NLA_F_NET_BYTEORDER` flag bits on
//! top), payload, zero padding to a multiple of 4.

use super::error::Error;

pub const NLA_HDRLEN: usize = 4;
pub const NLA_F_NESTED: u16 = 0x8000;
pub const NLA_F_NET_BYTEORDER: u16 = 0x4000;
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// Round up to the netlink alignment (4 bytes).
pub const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn pad4(buf: &mut Vec<u8>) {
    let n = align4(buf.len());
    buf.resize(n, 0);
}

/// Appends attributes to a buffer. Lengths that do not fit in `nla_len`
/// (over 64 KiB) are recorded and reported by [`AttrWriter::finish`]
/// instead of being silently truncated.
pub struct AttrWriter<'a> {
    buf: &'a mut Vec<u8>,
    overflow: bool,
}

/// An open nested attribute; close it with [`AttrWriter::end_nest`].
#[must_use]
pub struct Nest(usize);

impl<'a> AttrWriter<'a> {
    /// Write attributes at the end of `buf` (which is first padded to 4).
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        pad4(buf);
        AttrWriter {
            buf,
            overflow: false,
        }
    }

    /// Raw attribute: type (flags included, as given) and payload bytes.
    pub fn put(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = NLA_HDRLEN + data.len();
        if len > u16::MAX as usize {
            self.overflow = true;
            return self;
        }
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        pad4(self.buf);
        self
    }
    pub fn put_flag(&mut self, ty: u16) -> &mut Self {
        self.put(ty, &[])
    }
    pub fn put_u8(&mut self, ty: u16, v: u8) -> &mut Self {
        self.put(ty, &[v])
    }
    pub fn put_u16(&mut self, ty: u16, v: u16) -> &mut Self {
        self.put(ty, &v.to_ne_bytes())
    }
    pub fn put_u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.put(ty, &v.to_ne_bytes())
    }
    pub fn put_u64(&mut self, ty: u16, v: u64) -> &mut Self {
        self.put(ty, &v.to_ne_bytes())
    }
    pub fn put_u16_be(&mut self, ty: u16, v: u16) -> &mut Self {
        self.put(ty, &v.to_be_bytes())
    }
    pub fn put_u32_be(&mut self, ty: u16, v: u32) -> &mut Self {
        self.put(ty, &v.to_be_bytes())
    }
    pub fn put_u64_be(&mut self, ty: u16, v: u64) -> &mut Self {
        self.put(ty, &v.to_be_bytes())
    }
    /// NUL-terminated string (like `mnl_attr_put_strz`).
    pub fn put_str(&mut self, ty: u16, s: &str) -> &mut Self {
        let len = NLA_HDRLEN + s.len() + 1;
        if len > u16::MAX as usize {
            self.overflow = true;
            return self;
        }
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        pad4(self.buf);
        self
    }

    /// Open a nested attribute (`NLA_F_NESTED` is set, as libmnl does).
    pub fn begin_nest(&mut self, ty: u16) -> Nest {
        let start = self.buf.len();
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        Nest(start)
    }
    /// Close a nested attribute: fix up its length.
    pub fn end_nest(&mut self, nest: Nest) -> &mut Self {
        let len = self.buf.len() - nest.0;
        if len > u16::MAX as usize {
            self.overflow = true;
            return self;
        }
        self.buf[nest.0..nest.0 + 2].copy_from_slice(&(len as u16).to_ne_bytes());
        self
    }
    /// Nested attribute whose contents `f` writes.
    pub fn nest(&mut self, ty: u16, f: impl FnOnce(&mut AttrWriter<'_>)) -> &mut Self {
        let n = self.begin_nest(ty);
        f(self);
        self.end_nest(n)
    }

    /// Report an attribute that did not fit.
    pub fn finish(self) -> Result<(), Error> {
        if self.overflow {
            Err(Error::malformed("attribute longer than 64 KiB"))
        } else {
            Ok(())
        }
    }
}

/// One attribute, borrowed from a receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    ty: u16,
    data: &'a [u8],
}

impl<'a> Attr<'a> {
    /// Attribute type with the flag bits masked off.
    pub fn kind(&self) -> u16 {
        self.ty & NLA_TYPE_MASK
    }
    pub fn is_nested(&self) -> bool {
        self.ty & NLA_F_NESTED != 0
    }
    pub fn is_net_byteorder(&self) -> bool {
        self.ty & NLA_F_NET_BYTEORDER != 0
    }
    /// Payload without padding.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }
    fn exact<const N: usize>(&self) -> Result<[u8; N], Error> {
        self.data.try_into().map_err(|_| {
            Error::malformed(format!(
                "attribute {} has {} bytes, expected {}",
                self.kind(),
                self.data.len(),
                N
            ))
        })
    }
    pub fn u8(&self) -> Result<u8, Error> {
        Ok(self.exact::<1>()?[0])
    }
    pub fn u16(&self) -> Result<u16, Error> {
        Ok(u16::from_ne_bytes(self.exact()?))
    }
    pub fn u32(&self) -> Result<u32, Error> {
        Ok(u32::from_ne_bytes(self.exact()?))
    }
    pub fn u64(&self) -> Result<u64, Error> {
        Ok(u64::from_ne_bytes(self.exact()?))
    }
    pub fn u16_be(&self) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.exact()?))
    }
    pub fn u32_be(&self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.exact()?))
    }
    pub fn u64_be(&self) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.exact()?))
    }
    /// String payload up to the first NUL (a missing NUL is tolerated).
    pub fn str(&self) -> Result<&'a str, Error> {
        let end = self
            .data
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.data.len());
        std::str::from_utf8(&self.data[..end])
            .map_err(|_| Error::malformed(format!("attribute {} is not UTF-8", self.kind())))
    }
    /// The attributes nested inside this one.
    pub fn nested(&self) -> Attrs<'a> {
        Attrs::new(self.data)
    }
}

/// Iterator over a run of attributes. Yields `Err` once for malformed input
/// (bad length, truncation) and then stops.
#[derive(Clone, Debug)]
pub struct Attrs<'a> {
    rest: &'a [u8],
    done: bool,
}

impl<'a> Attrs<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Attrs {
            rest: data,
            done: false,
        }
    }

    /// First attribute of the given (masked) type; malformed input → `None`.
    pub fn find(&self, kind: u16) -> Option<Attr<'a>> {
        self.clone().flatten().find(|a| a.kind() == kind)
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        // Trailing padding shorter than a header is not an attribute.
        if self.rest.len() < NLA_HDRLEN {
            self.done = true;
            if self.rest.iter().all(|&b| b == 0) {
                return None;
            }
            return Some(Err(Error::malformed("truncated attribute header")));
        }
        let len = u16::from_ne_bytes([self.rest[0], self.rest[1]]) as usize;
        let ty = u16::from_ne_bytes([self.rest[2], self.rest[3]]);
        if len < NLA_HDRLEN || len > self.rest.len() {
            self.done = true;
            return Some(Err(Error::malformed(format!(
                "attribute {} length {} (have {})",
                ty & NLA_TYPE_MASK,
                len,
                self.rest.len()
            ))));
        }
        let data = &self.rest[NLA_HDRLEN..len];
        let next = align4(len).min(self.rest.len());
        self.rest = &self.rest[next..];
        Some(Ok(Attr { ty, data }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_padded_strings_and_ints() {
        let mut buf = Vec::new();
        let mut w = AttrWriter::new(&mut buf);
        w.put_str(1, "ft").put_u32_be(2, 0x0102_0304).put_u8(3, 7);
        w.finish().unwrap();
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &7u16.to_ne_bytes()[..], &1u16.to_ne_bytes(), b"ft\0", &[0],
            &8u16.to_ne_bytes(), &2u16.to_ne_bytes(), &[1, 2, 3, 4],
            &5u16.to_ne_bytes(), &3u16.to_ne_bytes(), &[7, 0, 0, 0],
        ].concat();
        assert_eq!(buf, want);
    }

    #[test]
    fn nests_set_flag_and_length_and_parse_back() {
        let mut buf = Vec::new();
        let mut w = AttrWriter::new(&mut buf);
        w.nest(5, |w| {
            w.put_str(1, "lan0");
            w.nest(2, |w| {
                w.put_u32(1, 42);
            });
        });
        w.finish().unwrap();
        assert_eq!(u16::from_ne_bytes([buf[0], buf[1]]) as usize, buf.len());
        let top: Vec<_> = Attrs::new(&buf).map(|a| a.unwrap()).collect();
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].kind(), 5);
        assert!(top[0].is_nested());
        let inner: Vec<_> = top[0].nested().map(|a| a.unwrap()).collect();
        assert_eq!(inner[0].str().unwrap(), "lan0");
        assert_eq!(inner[1].nested().find(1).unwrap().u32().unwrap(), 42);
    }

    #[test]
    fn flag_bits_are_masked() {
        let mut buf = Vec::new();
        AttrWriter::new(&mut buf).put_u16(3 | NLA_F_NET_BYTEORDER, 9);
        let a = Attrs::new(&buf).next().unwrap().unwrap();
        assert_eq!(a.kind(), 3);
        assert!(a.is_net_byteorder());
        assert!(!a.is_nested());
    }

    #[test]
    fn malformed_input_errors_without_panicking() {
        // nla_len < 4
        let bad = [2u8, 0, 1, 0, 0, 0, 0, 0];
        let mut it = Attrs::new(&bad);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        // nla_len beyond the buffer
        let bad = [200u8, 0, 1, 0, 1, 2];
        assert!(Attrs::new(&bad).next().unwrap().is_err());
        // truncated header with garbage
        assert!(Attrs::new(&[1u8, 2]).next().unwrap().is_err());
        // trailing zero padding is fine
        assert!(Attrs::new(&[0u8, 0]).next().is_none());
        // wrong-size integer getters
        let mut buf = Vec::new();
        AttrWriter::new(&mut buf).put_u8(1, 1);
        let a = Attrs::new(&buf).next().unwrap().unwrap();
        assert!(a.u32().is_err());
        assert_eq!(a.u8().unwrap(), 1);
    }

    #[test]
    fn every_prefix_and_byte_flip_parses_without_panic() {
        let mut buf = Vec::new();
        let mut w = AttrWriter::new(&mut buf);
        w.nest(1, |w| {
            w.put_str(2, "wan0").nest(3, |w| {
                w.put_u64_be(4, 99);
            });
        });
        fn walk(a: Attrs<'_>, depth: u32) {
            for a in a.flatten() {
                let _ = (a.str(), a.u32(), a.u64_be());
                if depth < 8 {
                    walk(a.nested(), depth + 1);
                }
            }
        }
        for n in 0..=buf.len() {
            walk(Attrs::new(&buf[..n]), 0);
        }
        for i in 0..buf.len() {
            let mut b = buf.clone();
            b[i] ^= 0xff;
            walk(Attrs::new(&b), 0);
        }
    }

    #[test]
    fn oversize_attribute_is_reported() {
        let mut buf = Vec::new();
        let mut w = AttrWriter::new(&mut buf);
        w.put(1, &vec![0u8; 70_000]);
        assert!(w.finish().is_err());
    }
}
