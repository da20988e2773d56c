//! Fuzz target for the UCI reader (`src/config/uci.rs`): `parse` must
//! never panic, and whenever it accepts a file, `set_option` on that file
//! must succeed and its result must parse back with the new value.
//!
//! Run (nightly, from `fuzz/`; new inputs go to the first directory):
//! `cargo +nightly fuzz run uci_parse /tmp/uci-corpus corpus/uci_parse --
//!  -dict=uci.dict -max_len=4096 -max_total_time=120`

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/error.rs"]
mod error;

#[allow(dead_code)]
#[path = "../../src/config/uci.rs"]
mod uci;

const VALUE: &str = "it's \"hw\" \\ #1";

fuzz_target!(|data: &[u8]| {
    let Ok(before) = uci::parse("fuzz", data) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(data) else {
        panic!("parse accepted invalid UTF-8");
    };
    let out = match uci::set_option(text, "zone", ("name", "lan"), "mode", VALUE) {
        Ok(out) => out,
        Err(e) => panic!("set_option failed on parseable text: {e}"),
    };
    let after = match uci::parse("fuzz", out.as_bytes()) {
        Ok(a) => a,
        Err(e) => panic!("set_option output does not parse: {e}\n{out:?}"),
    };
    let zone = after
        .iter()
        .find(|s| s.stype == "zone" && s.get_single("name") == Some("lan"));
    let Some(zone) = zone else {
        panic!("zone lan missing after set_option:\n{out:?}");
    };
    assert_eq!(zone.get_single("mode"), Some(VALUE), "{out:?}");
    // One section more at most; every section but the changed one reads
    // exactly as before (lines aside).
    assert!(after.len() == before.len() || after.len() == before.len() + 1);
    let changed = before
        .iter()
        .position(|s| s.stype == "zone" && s.get_single("name") == Some("lan"));
    let shape = |s: &uci::Section| {
        let opts: Vec<_> = s.options.iter().map(|o| (o.name.clone(), o.value.clone())).collect();
        (s.stype.clone(), s.name.clone(), opts)
    };
    for (i, (a, b)) in after.iter().zip(&before).enumerate() {
        if Some(i) != changed {
            assert_eq!(shape(a), shape(b), "{out:?}");
        }
    }
});
