//! `nftoffload`: the one binary of nft-offload (see the library docs for
//! the module map). All logic lives in the library; this only runs the CLI.

fn main() {
    std::process::exit(nft_offload::cli::main());
}
