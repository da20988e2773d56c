//! nft-offload: per-zone nftables flow offloading for OpenWrt.
//!
//! The data path through the modules, each owning one concern:
//! `config` (UCI) → `zones` (firewall zones + netifd + sysfs) → `plan`
//! (pure: which devices go into which flowtable, which rules) → `apply`
//! (one atomic nf_tables batch via `nft`, on `netlink`) → kernel →
//! `observe` (flowtables read back, conntrack bits, device features) →
//! `status` (ubus / CLI / LuCI). `daemon` and `ubus` wrap it as a service.
//!
//! The library exists so that fuzz targets and integration tests reach the
//! parsers; the product is the `nftoffload` binary (`src/main.rs`).

pub mod apply;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod error;
pub mod logging;
pub mod netlink;
pub mod nft;
pub mod observe;
pub mod plan;
pub mod probe;
pub mod status;
pub mod ubus;
pub mod zones;
