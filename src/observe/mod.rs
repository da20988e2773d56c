//! Observation: what the kernel really does, read back rather than assumed.
//! Everything here only reads kernel state, in the caller's network
//! namespace; none of it changes anything.
//!
//! - `conntrack`: ctnetlink dump of the conntrack table, streamed: how many
//!   connections are offloaded in software (`IPS_OFFLOAD`) or hardware
//!   (`IPS_HW_OFFLOAD`), per zone by conntrack label bits, the total
//!   tracked, and the largest offloaded flows. The proof that offload
//!   happens (OpenWrt accepts `flags offload` even where it cannot work).
//! - `ethtool`: a device's `hw-tc-offload` feature, the hardware
//!   capability hint, as `ethtool -k` shows it.
//! - `sysfs`: whether a device exists and fw4's hardware-mode resolution
//!   of bridges and VLANs to their lower ports (`lower_*`).
//! - `link`: rtnetlink `RTNLGRP_LINK` events for the daemon's poll loop,
//!   so it can re-add devices the kernel dropped from a flowtable.
//!
//! Not here yet: reading our flowtables back from nf_tables (it needs the
//! nf_tables codec in `nft`).

pub mod conntrack;
pub mod ethtool;
pub mod link;
pub mod sysfs;

#[cfg(test)]
mod testns;
