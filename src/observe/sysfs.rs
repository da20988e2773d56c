//! Devices as sysfs shows them (`/sys/class/net`): whether a device exists,
//! its type, and fw4's hardware-mode resolution of bridges and VLANs to the
//! ports below them. The resolution follows firewall4's
//! `resolve_lower_devices()` (fw4.uc) rule for rule:
//! - a device whose `/sys/class/net/DEV` directory is missing resolves to
//!   nothing (fw4 skips devices that do not exist);
//! - a device whose type is `bridge` or `vlan` resolves to the union of
//!   what each `lower_*` entry of its directory resolves to (so a bridge
//!   without ports resolves to nothing, and a VLAN on a bridge reaches the
//!   bridge's ports); `brif/` is not read, the `lower_*` links cover bridge
//!   ports too;
//! - any other device (ethernet, DSA port, macvlan, ppp, wireguard…)
//!   resolves to itself, even if it has `lower_*` entries.
//!
//! fw4 takes the type from netifd's `network.device status` `devtype`,
//! which netifd fills from the `DEVTYPE=` line of the device's sysfs
//! `uevent`; we read that line directly, so devices netifd does not manage
//! resolve the same way. Results are sorted and without duplicates, as fw4
//! does (`sort(uniq(...))`).

use std::path::{Path, PathBuf};

use super::ethtool::validate_ifname;

/// The kernel nests stacked devices at most 8 deep (`MAX_NEST_DEV`); we stop
/// a little beyond that in case sysfs is odd.
const MAX_DEPTH: usize = 10;

/// A view of `class/net` under a sysfs root: `/sys` in production, a
/// namespace's own sysfs mount or a fake tree in tests.
#[derive(Clone, Debug)]
pub struct Sysfs {
    net: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Self {
        Sysfs::new("/sys")
    }
}

impl Sysfs {
    /// `root` is the sysfs mount point (the directory holding `class/`).
    pub fn new(root: impl AsRef<Path>) -> Self {
        Sysfs {
            net: root.as_ref().join("class/net"),
        }
    }

    fn dir(&self, dev: &str) -> Option<PathBuf> {
        // An invalid name cannot exist, and must never become a path like
        // "../x" under class/net.
        validate_ifname(dev).ok()?;
        Some(self.net.join(dev))
    }

    /// Whether network device `dev` exists.
    pub fn exists(&self, dev: &str) -> bool {
        self.dir(dev).is_some_and(|d| d.is_dir())
    }

    /// The `DEVTYPE` of `dev` from its `uevent` (`bridge`, `vlan`, `dsa`,
    /// `wlan`…), or `None` if the device is missing or has no devtype.
    pub fn devtype(&self, dev: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.dir(dev)?.join("uevent")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("DEVTYPE="))
            .map(|t| t.trim().to_string())
    }

    /// The ports `dev` stands for in a hardware flowtable (see the module
    /// doc): sorted, unique, possibly empty.
    pub fn lower_devices(&self, dev: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.resolve(dev, 0, &mut out);
        out.sort();
        out.dedup();
        out
    }

    fn resolve(&self, dev: &str, depth: usize, out: &mut Vec<String>) {
        let Some(dir) = self.dir(dev) else { return };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        match self.devtype(dev).as_deref() {
            Some("bridge") | Some("vlan") => {
                if depth >= MAX_DEPTH {
                    log::warn!("sysfs: {dev}: lower devices nest too deep, ignoring below it");
                    return;
                }
                for e in entries.flatten() {
                    let name = e.file_name();
                    if let Some(lower) = name.to_str().and_then(|n| n.strip_prefix("lower_")) {
                        self.resolve(lower, depth + 1, out);
                    }
                }
            }
            _ => out.push(dev.to_string()),
        }
    }
}

/// Whether `dev` exists in this network namespace (`/sys/class/net`).
pub fn exists(dev: &str) -> bool {
    Sysfs::default().exists(dev)
}

/// `dev` resolved to its lower ports as fw4 does in hardware mode.
pub fn lower_devices(dev: &str) -> Vec<String> {
    Sysfs::default().lower_devices(dev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::testns::{temp_dir, NetNs};

    /// Test double for sysfs: a fake `class/net` tree in a temp dir, with
    /// `uevent` files and `lower_*` symlinks laid out as the kernel does.
    struct FakeSysfs {
        root: PathBuf,
    }

    impl FakeSysfs {
        fn new() -> Self {
            let root = temp_dir("fake-sysfs");
            std::fs::create_dir_all(root.join("class/net")).unwrap();
            FakeSysfs { root }
        }
        fn dev(&self, name: &str, devtype: Option<&str>, lowers: &[&str]) -> &Self {
            let d = self.root.join("class/net").join(name);
            std::fs::create_dir_all(&d).unwrap();
            let mut uevent = format!("INTERFACE={name}\nIFINDEX=7\n");
            if let Some(t) = devtype {
                uevent = format!("DEVTYPE={t}\n{uevent}");
            }
            std::fs::write(d.join("uevent"), uevent).unwrap();
            for l in lowers {
                std::os::unix::fs::symlink(format!("../{l}"), d.join(format!("lower_{l}")))
                    .unwrap();
            }
            self
        }
        fn sysfs(&self) -> Sysfs {
            Sysfs::new(&self.root)
        }
    }

    impl Drop for FakeSysfs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    #[test]
    fn resolves_like_fw4_on_a_fake_dsa_router() {
        let f = FakeSysfs::new();
        // A typical DSA router: eth0 conduit, lan1..3 + wan user ports,
        // br-lan over lan1..3 with a bridge VLAN br-lan.10 on top.
        f.dev("eth0", None, &[])
            .dev("lan1", Some("dsa"), &["eth0"])
            .dev("lan2", Some("dsa"), &["eth0"])
            .dev("lan3", Some("dsa"), &["eth0"])
            .dev("wan", Some("dsa"), &["eth0"])
            .dev("br-lan", Some("bridge"), &["lan1", "lan2", "lan3"])
            .dev("br-lan.10", Some("vlan"), &["br-lan"])
            .dev("br-empty", Some("bridge"), &[])
            .dev("mv0", None, &["wan"]) // macvlan: no DEVTYPE
            .dev("pppoe-wan", None, &[]);
        let s = f.sysfs();
        let l = |d: &str| s.lower_devices(d);
        assert_eq!(l("br-lan"), ["lan1", "lan2", "lan3"]);
        assert_eq!(l("br-lan.10"), ["lan1", "lan2", "lan3"]);
        // DSA ports stop at themselves: their conduit is not a zone port.
        assert_eq!(l("lan1"), ["lan1"]);
        assert_eq!(l("wan"), ["wan"]);
        assert_eq!(l("mv0"), ["mv0"]);
        assert_eq!(l("pppoe-wan"), ["pppoe-wan"]);
        assert!(
            l("br-empty").is_empty(),
            "portless bridge resolves to nothing"
        );
        assert!(l("missing").is_empty(), "missing device is skipped");
        assert!(s.exists("br-lan") && !s.exists("missing"));
        assert_eq!(s.devtype("br-lan.10").as_deref(), Some("vlan"));
        assert_eq!(s.devtype("eth0"), None);
    }

    #[test]
    fn bad_names_never_escape_class_net() {
        let f = FakeSysfs::new();
        // A directory one level up that "../x" would reach.
        std::fs::create_dir_all(f.root.join("class/x")).unwrap();
        let s = f.sysfs();
        for bad in ["..", ".", "../x", "", "a b", "way-too-long-name0"] {
            assert!(!s.exists(bad), "{bad:?}");
            assert!(s.lower_devices(bad).is_empty(), "{bad:?}");
        }
    }

    #[test]
    fn a_lower_loop_terminates() {
        let f = FakeSysfs::new();
        // Impossible in a real kernel, but sysfs is input: must not hang.
        f.dev("b1", Some("bridge"), &["b2", "p1"])
            .dev("b2", Some("bridge"), &["b1"])
            .dev("p1", None, &[]);
        assert_eq!(f.sysfs().lower_devices("b1"), ["p1"]);
    }

    #[test]
    fn real_bridge_veth_vlan_in_a_netns() {
        let Some(ns) = NetNs::new("sysfs") else {
            return;
        };
        ns.ip(&["link", "add", "va", "type", "veth", "peer", "name", "vb"]);
        ns.ip(&["link", "add", "vc", "type", "veth", "peer", "name", "vd"]);
        ns.ip(&["link", "add", "br0", "type", "bridge"]);
        ns.ip(&["link", "add", "br1", "type", "bridge"]);
        ns.ip(&["link", "set", "va", "master", "br0"]);
        ns.ip(&["link", "set", "vc", "master", "br0"]);
        ns.ip(&[
            "link", "add", "link", "vb", "name", "mv0", "type", "macvlan",
        ]);
        // 802.1Q is optional in a kernel (the dev host lacks it; the VM and
        // OpenWrt have it): test VLANs where the kernel can make them.
        let vlan = ns.try_ip(&[
            "link", "add", "link", "br0", "name", "br0.10", "type", "vlan", "id", "10",
        ]);
        if vlan {
            ns.ip(&[
                "link", "add", "link", "vb", "name", "vb.20", "type", "vlan", "id", "20",
            ]);
        } else {
            eprintln!("kernel has no 802.1Q: VLAN cases not run");
        }
        ns.with_sysfs(|root| {
            let s = Sysfs::new(root);
            assert_eq!(s.lower_devices("br0"), ["va", "vc"]);
            assert!(s.lower_devices("br1").is_empty());
            assert_eq!(s.lower_devices("va"), ["va"]);
            assert_eq!(s.lower_devices("mv0"), ["mv0"]);
            assert!(s.lower_devices("nosuch").is_empty());
            assert!(s.exists("br0") && s.exists("lo") && !s.exists("nosuch"));
            // The host's devices are not visible: this is the namespace.
            if vlan {
                assert_eq!(s.lower_devices("br0.10"), ["va", "vc"]);
                assert_eq!(s.lower_devices("vb.20"), ["vb"]);
            }
        });
    }
}
