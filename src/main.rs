//! `nftoffload`: per-zone nftables flow offloading for OpenWrt.
//!
//! The data path through the modules, each owning one concern:
//! `config` (UCI) → `zones` (firewall zones + netifd + sysfs) → `plan`
//! (pure: which devices go into which flowtable, which rules) → `apply`
//! (one atomic nf_tables batch via `nft`, on `netlink`) → kernel →
//! `observe` (flowtables read back, conntrack bits, device features) →
//! `status` (ubus / CLI / LuCI). `daemon` and `ubus` wrap it as a service.

mod apply;
mod cli;
mod config;
mod daemon;
mod engine;
mod error;
mod logging;
mod netlink;
mod nft;
mod observe;
mod plan;
mod probe;
mod status;
mod ubus;
mod zones;

fn main() {
    std::process::exit(cli::main());
}
