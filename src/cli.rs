//! The command line: argh subcommands and their exit codes. Commands that
//! talk to a running daemon go through `ubus`; `apply` and `flush` program
//! the kernel directly.

use argh::FromArgs;

/// Per-zone nftables flow offloading for OpenWrt.
#[derive(FromArgs, Debug)]
pub struct Args {
    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
    #[argh(subcommand)]
    pub cmd: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Apply(ApplyCmd),
    Flush(FlushCmd),
}

/// read the config and program the kernel once
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "apply")]
pub struct ApplyCmd {
    /// directory holding the UCI files nftoffload and firewall
    #[argh(option, default = "String::from(\"/etc/config\")")]
    pub config_dir: String,
}

/// remove nftoffload's tables from the kernel
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "flush")]
pub struct FlushCmd {}

pub fn main() -> i32 {
    let args: Args = argh::from_env();
    if args.version {
        println!("nftoffload {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    match args.cmd {
        None => {
            eprintln!("nftoffload: no command given; try 'nftoffload --help'");
            2
        }
        Some(_) => {
            eprintln!("nftoffload: not implemented yet");
            1
        }
    }
}
