//! Fuzz target for everything the daemon parses from the kernel: nf_tables
//! replies and notifications (`nft::parse_any`: tables, chains, sets, set
//! elements, flowtables, rules with their expressions, error acks, monitor
//! events), ctnetlink entries (`parse_ct_message`) and rtnetlink link
//! messages (`parse_link_message`). The input is one receive buffer: any
//! number of netlink messages, of any type, with any attributes.
//!
//! Properties: nothing panics or loops; what decodes is self-consistent
//! (a conntrack entry's label bits can all be queried; a link event has a
//! name unless it is an overrun).
//!
//! Seeds are real kernel replies (tests/robust_corpus.rs captures them).
//! Run (nightly, from `fuzz/`): `cargo +nightly fuzz run netlink_reply
//! corpus/netlink_reply -- -max_len=8192 -max_total_time=60`

#![no_main]

use libfuzzer_sys::fuzz_target;
use nft_offload::nft;
use nft_offload::observe::conntrack::{label_bit, parse_ct_message};
use nft_offload::observe::link::{parse_link_message, LinkKind};

fuzz_target!(|data: &[u8]| {
    let n = nft::parse_any(data);
    // One object per parser per message at most, and a message takes at
    // least a 16-byte header (monitor events are counted separately).
    assert!(
        n <= 8 * (data.len() / 16) + 1,
        "{n} objects from {} bytes",
        data.len()
    );

    if let Some(e) = parse_ct_message(data) {
        let _ = e.offload();
        if let Some(l) = &e.labels {
            let _: usize = (0..128).filter(|&b| label_bit(l, b)).count();
        }
    }
    if let Some(ev) = parse_link_message(data) {
        if ev.kind != LinkKind::Overrun {
            assert!(!ev.name.is_empty() || ev.ifindex != 0, "{ev:?}");
        }
    }
});
