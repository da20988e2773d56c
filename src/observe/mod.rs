//! Observation: what the kernel really does, read back rather than assumed.
//! `ethtool`: a device's `hw-tc-offload` feature (the hardware capability
//! hint). `sysfs`: device existence and fw4's bridge/VLAN → lower-port
//! resolution. Everything here only reads kernel state; none of it changes
//! anything.

pub mod conntrack;
pub mod ethtool;
pub mod sysfs;

#[cfg(test)]
mod testns;
