//! Device hardware-offload capability through the `SIOCETHTOOL` ioctl. Owns
//! one question: does a device have the `hw-tc-offload` feature (the
//! capability hint for `flags offload` flowtables), is it on, and can it be
//! changed? It reads the feature-name table (`ETHTOOL_GSSET_INFO` +
//! `ETHTOOL_GSTRINGS` for `ETH_SS_FEATURES`) to find the bit, then
//! `ETHTOOL_GFEATURES`, exactly as `ethtool -k` does, so the answer matches
//! what a user sees there. Device names are validated before any syscall.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{Error, Result};

/// The `hw-tc-offload` feature of one device, as `ethtool -k` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HwTc {
    /// The feature is on (`hw-tc-offload: on`).
    pub active: bool,
    /// It cannot be changed (`[fixed]`): the driver does not offer it, or
    /// never lets it change.
    pub fixed: bool,
}

/// Linux `IFNAMSIZ`, including the terminating NUL.
pub const IFNAMSIZ: usize = 16;

/// The feature name in the kernel's `netdev_features_strings`.
const FEATURE: &[u8] = b"hw-tc-offload";

// include/uapi/linux/ethtool.h
const ETHTOOL_GSTRINGS: u32 = 0x0000_001b;
const ETHTOOL_GSSET_INFO: u32 = 0x0000_0037;
const ETHTOOL_GFEATURES: u32 = 0x0000_003a;
const ETH_SS_FEATURES: u32 = 4;
const ETH_GSTRING_LEN: usize = 32;
/// Upper bound on the feature count we accept from the kernel (it has ~70);
/// keeps a confused driver from making us allocate megabytes.
const MAX_FEATURES: u32 = 4096;

/// Check that `dev` is a plausible Linux interface name: 1..=15 bytes,
/// printable ASCII without whitespace, '/' or ':', and not "." or "..".
/// This is what the kernel's `dev_valid_name` accepts, narrowed to ASCII
/// (OpenWrt device names are ASCII), so a name that fails here cannot exist.
pub fn validate_ifname(dev: &str) -> Result<()> {
    let b = dev.as_bytes();
    if b.is_empty() || b.len() >= IFNAMSIZ {
        return Err(Error::invalid(format!(
            "invalid device name {dev:?}: must be 1..{} bytes",
            IFNAMSIZ - 1
        )));
    }
    if dev == "." || dev == ".." {
        return Err(Error::invalid(format!("invalid device name {dev:?}")));
    }
    if let Some(c) = b
        .iter()
        .find(|&&c| !c.is_ascii_graphic() || c == b'/' || c == b':')
    {
        return Err(Error::invalid(format!(
            "invalid device name {dev:?}: contains byte 0x{c:02x}"
        )));
    }
    Ok(())
}

/// Read `hw-tc-offload` of `dev` in the caller's network namespace.
/// `Ok(None)` means the device does not exist.
pub fn hw_tc_offload(dev: &str) -> Result<Option<HwTc>> {
    validate_ifname(dev)?;
    let sock = EthtoolSocket::open()?;
    let ctx = |e: Error| e.context(format!("ethtool {dev}"));
    let count = match sock.feature_count(dev) {
        Ok(n) => n,
        Err(Errno(libc::ENODEV)) => return Ok(None),
        Err(e) => return Err(ctx(e.into_error("ETHTOOL_GSSET_INFO"))),
    };
    let names = match sock.feature_names(dev, count) {
        Ok(n) => n,
        Err(Errno(libc::ENODEV)) => return Ok(None),
        Err(e) => return Err(ctx(e.into_error("ETHTOOL_GSTRINGS"))),
    };
    let index = feature_index(&names, FEATURE).ok_or_else(|| {
        Error::unsupported(format!(
            "ethtool {dev}: kernel has no feature named hw-tc-offload"
        ))
    })?;
    let blocks = match sock.features(dev, count) {
        Ok(b) => b,
        Err(Errno(libc::ENODEV)) => return Ok(None),
        Err(e) => return Err(ctx(e.into_error("ETHTOOL_GFEATURES"))),
    };
    feature_state(&blocks, index)
        .map(Some)
        .ok_or_else(|| Error::failed(format!("ethtool {dev}: short ETHTOOL_GFEATURES reply")))
}

/// One `struct ethtool_get_features_block`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
struct FeaturesBlock {
    available: u32,
    requested: u32,
    active: u32,
    never_changed: u32,
}

/// Feature `index`'s state from the GFEATURES blocks; `[fixed]` follows
/// ethtool's rule: not in `available` (hw_features) or in `never_changed`.
fn feature_state(blocks: &[FeaturesBlock], index: usize) -> Option<HwTc> {
    let b = blocks.get(index / 32)?;
    let bit = 1u32 << (index % 32);
    Some(HwTc {
        active: b.active & bit != 0,
        fixed: b.available & bit == 0 || b.never_changed & bit != 0,
    })
}

/// Position of `want` in a GSTRINGS table of `ETH_GSTRING_LEN`-byte,
/// NUL-padded names.
fn feature_index(table: &[u8], want: &[u8]) -> Option<usize> {
    table.chunks_exact(ETH_GSTRING_LEN).position(|s| {
        let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
        &s[..end] == want
    })
}

/// A raw errno from the ioctl, so callers can single out ENODEV.
#[derive(Debug)]
struct Errno(i32);

impl Errno {
    fn last() -> Self {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
    fn into_error(self, what: &str) -> Error {
        let io = std::io::Error::from_raw_os_error(self.0);
        let kind = match self.0 {
            libc::EOPNOTSUPP => crate::error::Kind::Unsupported,
            _ => crate::error::Kind::Failed,
        };
        Error::new(kind, format!("{what}: {io}"))
    }
}

/// `struct ifreq` with `ifr_data`: name, pointer, and padding up to the
/// kernel's union size (the kernel copies only `sizeof(struct ifreq)`).
#[repr(C)]
struct IfReqData {
    name: [u8; IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 24],
}

struct EthtoolSocket(OwnedFd);

impl EthtoolSocket {
    fn open() -> Result<Self> {
        // Any socket serves SIOCETHTOOL; ethtool itself uses AF_INET/DGRAM.
        // SAFETY: plain socket(2) call; the fd is owned right away.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(Errno::last().into_error("ethtool socket"));
        }
        // SAFETY: fd is a fresh, valid descriptor that nothing else owns.
        Ok(EthtoolSocket(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Run one SIOCETHTOOL with `buf` as `ifr_data`. `buf` must start with
    /// the command word and be large enough for what the command writes
    /// (the callers size it from the count the kernel gave).
    fn ioctl(&self, dev: &str, buf: &mut [u64]) -> std::result::Result<(), Errno> {
        let mut ifr = IfReqData {
            name: [0; IFNAMSIZ],
            data: buf.as_mut_ptr().cast(),
            _pad: [0; 24],
        };
        // validate_ifname() guaranteed len < IFNAMSIZ, so a NUL follows.
        ifr.name[..dev.len()].copy_from_slice(dev.as_bytes());
        // SAFETY: ifr is a valid ifreq whose data points at `buf`, which
        // lives across the call and is as large as the command's reply.
        let rc = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                libc::SIOCETHTOOL as _,
                &mut ifr as *mut IfReqData,
            )
        };
        if rc < 0 {
            Err(Errno::last())
        } else {
            Ok(())
        }
    }

    /// `ETHTOOL_GSSET_INFO` for `ETH_SS_FEATURES`: the number of features.
    fn feature_count(&self, dev: &str) -> std::result::Result<u32, Errno> {
        // struct ethtool_sset_info { u32 cmd; u32 reserved; u64 sset_mask; u32 data[1]; }
        let mut buf = [0u64; 3];
        set_u32(&mut buf, 0, ETHTOOL_GSSET_INFO);
        buf[1] = 1u64 << ETH_SS_FEATURES;
        self.ioctl(dev, &mut buf)?;
        if buf[1] & (1u64 << ETH_SS_FEATURES) == 0 {
            return Err(Errno(libc::EOPNOTSUPP));
        }
        let n = get_u32(&buf, 16);
        if n == 0 || n > MAX_FEATURES {
            return Err(Errno(libc::EPROTO));
        }
        Ok(n)
    }

    /// `ETHTOOL_GSTRINGS` for `ETH_SS_FEATURES`: `count` names of 32 bytes.
    fn feature_names(&self, dev: &str, count: u32) -> std::result::Result<Vec<u8>, Errno> {
        // struct ethtool_gstrings { u32 cmd; u32 string_set; u32 len; u8 data[]; }
        let payload = count as usize * ETH_GSTRING_LEN;
        let mut buf = vec![0u64; (12 + payload).div_ceil(8)];
        set_u32(&mut buf, 0, ETHTOOL_GSTRINGS);
        set_u32(&mut buf, 4, ETH_SS_FEATURES);
        set_u32(&mut buf, 8, count);
        self.ioctl(dev, &mut buf)?;
        // The kernel writes back how many it filled; never trust more than
        // we allocated.
        let len = get_u32(&buf, 8).min(count) as usize * ETH_GSTRING_LEN;
        let bytes = as_bytes(&buf);
        Ok(bytes[12..12 + len].to_vec())
    }

    /// `ETHTOOL_GFEATURES`: one block per 32 features.
    fn features(&self, dev: &str, count: u32) -> std::result::Result<Vec<FeaturesBlock>, Errno> {
        // struct ethtool_gfeatures { u32 cmd; u32 size; struct ethtool_get_features_block features[]; }
        let nblocks = count.div_ceil(32);
        let mut buf = vec![0u64; (8 + nblocks as usize * 16).div_ceil(8)];
        set_u32(&mut buf, 0, ETHTOOL_GFEATURES);
        set_u32(&mut buf, 4, nblocks);
        self.ioctl(dev, &mut buf)?;
        // The kernel sets `size` to its own block count; it copies at most
        // the size we asked for.
        let got = get_u32(&buf, 4).min(nblocks) as usize;
        let bytes = as_bytes(&buf);
        let blocks = (0..got)
            .map(|i| {
                let o = 8 + i * 16;
                let w = |k: usize| get_u32_bytes(bytes, o + 4 * k);
                FeaturesBlock {
                    available: w(0),
                    requested: w(1),
                    active: w(2),
                    never_changed: w(3),
                }
            })
            .collect();
        Ok(blocks)
    }
}

// The ioctl buffers are u64 arrays (for alignment) holding native-endian
// u32 fields at byte offsets. These helpers keep the byte math in one place.
fn as_bytes(buf: &[u64]) -> &[u8] {
    // SAFETY: u64 has no padding and any byte pattern is a valid u8; the
    // length is the exact byte size of the slice.
    unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), std::mem::size_of_val(buf)) }
}

fn set_u32(buf: &mut [u64], off: usize, v: u32) {
    // SAFETY: as in as_bytes, mutable and exclusive through `buf`.
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(buf))
    };
    bytes[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

fn get_u32(buf: &[u64], off: usize) -> u32 {
    get_u32_bytes(as_bytes(buf), off)
}

fn get_u32_bytes(bytes: &[u8], off: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&bytes[off..off + 4]);
    u32::from_ne_bytes(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::testns::NetNs;

    #[test]
    fn rejects_bad_names_before_any_syscall() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "with space",
            "tab\t",
            "nul\0x",
            "sixteen-chars-xx",
            "ümlaut",
            "eth0:1",
        ] {
            let e = hw_tc_offload(bad).unwrap_err();
            assert_eq!(e.kind(), crate::error::Kind::Invalid, "{bad:?}: {e}");
        }
        for good in [
            "lo",
            "br-lan",
            "eth0.10",
            "fifteen-chars-x",
            "wan@x",
            "a-b_c",
        ] {
            assert!(validate_ifname(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn feature_bit_math_follows_ethtool() {
        // index 33 lives in block 1, bit 1.
        let mut blocks = [FeaturesBlock::default(); 2];
        blocks[1].active = 0b10;
        blocks[1].available = 0b10;
        assert_eq!(
            feature_state(&blocks, 33),
            Some(HwTc {
                active: true,
                fixed: false
            })
        );
        blocks[1].never_changed = 0b10;
        assert!(feature_state(&blocks, 33).unwrap().fixed);
        blocks[1].available = 0;
        blocks[1].never_changed = 0;
        assert!(feature_state(&blocks, 33).unwrap().fixed);
        assert_eq!(feature_state(&blocks, 64), None);
    }

    #[test]
    fn feature_index_matches_whole_nul_padded_names() {
        let mut table = vec![0u8; 3 * ETH_GSTRING_LEN];
        table[..13].copy_from_slice(b"hw-tc-offloa2");
        table[32..32 + 13].copy_from_slice(b"hw-tc-offload");
        table[64..64 + 32].copy_from_slice(&[b'x'; 32]); // no NUL at all
        assert_eq!(feature_index(&table, b"hw-tc-offload"), Some(1));
        assert_eq!(feature_index(&table, b"hw-tc-offloa"), None);
        // A truncated table holds only whole entries.
        assert_eq!(feature_index(&table[..40], b"hw-tc-offload"), None);
    }

    /// `ethtool -k DEV` in the namespace, parsed to the hw-tc-offload line.
    fn ethtool_k(ns: &NetNs, dev: &str) -> HwTc {
        let out = ns.exec(&["ethtool", "-k", dev]);
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with("hw-tc-offload:"))
            .unwrap_or_else(|| panic!("no hw-tc-offload in ethtool -k {dev}:\n{out}"));
        HwTc {
            active: line.contains(": on"),
            fixed: line.contains("[fixed]"),
        }
    }

    #[test]
    fn veth_and_loopback_match_ethtool_k() {
        let Some(ns) = NetNs::new("ethtool") else {
            return;
        };
        ns.ip(&[
            "link", "add", "obs0", "type", "veth", "peer", "name", "obs1",
        ]);
        for dev in ["obs0", "obs1", "lo"] {
            let ours = ns.run(move || hw_tc_offload(dev)).unwrap();
            let theirs = ethtool_k(&ns, dev);
            assert_eq!(ours, Some(theirs), "{dev}");
        }
        // veth has no tc offload and cannot get it: the hint a user needs.
        let veth = ns.run(|| hw_tc_offload("obs0")).unwrap();
        assert_eq!(
            veth,
            Some(HwTc {
                active: false,
                fixed: true
            })
        );
    }

    #[test]
    fn missing_device_is_none_not_error() {
        let Some(ns) = NetNs::new("ethtool-missing") else {
            return;
        };
        assert_eq!(ns.run(|| hw_tc_offload("nosuchdev0")).unwrap(), None);
    }
}
