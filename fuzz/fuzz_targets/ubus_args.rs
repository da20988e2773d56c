//! Fuzz target for what a ubus caller controls: the argument table of a
//! call to `nftoffload`. Two decoders are exercised, as the daemon runs
//! them: the raw bytes as a blobmsg table (`blobmsg_to_json`, what the
//! server does with `UBUS_ATTR_DATA`), and an arbitrary JSON value built
//! from the bytes, sent through `json_to_blobmsg` and back. Every decoded
//! object then goes through `args::check` and the typed getters of every
//! method, and the pure parts of the handlers (zone name check, mode
//! parse, `flows` limit, the UCI write a `set` would make).
//!
//! Properties: nothing panics; whenever `check` passes, the getters of the
//! declared fields succeed and no undeclared field is present; a JSON value
//! the encoder accepts decodes back to a table; a zone name that
//! passes validation cannot change the structure of the UCI file `set`
//! writes (it reads back as exactly that zone and mode).
//!
//! Run (nightly, from `fuzz/`): `cargo +nightly fuzz run ubus_args
//! corpus/ubus_args -- -max_len=4096 -max_total_time=60`

#![no_main]

use libfuzzer_sys::fuzz_target;
use nft_offload::config::{self, uci, Mode};
use nft_offload::ubus::args::{self, MAX_STR_LEN};
use nft_offload::ubus::{ArgType, NFTOFFLOAD_METHODS};
use nft_offload::zones::NetifdInterface;
use serde_json::{Map, Number, Value};
use ubus::json::{blobmsg_to_json, json_to_blobmsg};

/// The `nftoffload` file a `set` edits, with the zone sections it expects.
const CONFIG: &str = "config globals 'globals'\n\toption enabled '1'\n\n\
config zone\n\toption name 'lan'\n\toption mode 'software'\n";

/// Turns fuzz bytes into JSON values: each byte picks a shape, the
/// following bytes give its contents. Strings come from a small set of
/// interesting names or from the input itself (possibly long or odd).
struct Gen<'a> {
    data: &'a [u8],
}

const NAMES: &[&str] = &[
    "zone",
    "mode",
    "limit",
    "",
    "ZONE",
    "zone\0",
    "interface",
    "up",
    "device",
    "l3_device",
];
const WORDS: &[&str] = &[
    "lan", "wan", "guest", "off", "software", "hardware", "Software", "../etc", "a/b", "lan ",
    "lan\n", "läN", "x\u{0}y", "0lan", "-lan", ".", "..", "_", "br-lan",
];

impl Gen<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }

    fn string(&mut self) -> String {
        match self.byte() % 8 {
            0 | 1 => NAMES[usize::from(self.byte()) % NAMES.len()].to_string(),
            2 | 3 => WORDS[usize::from(self.byte()) % WORDS.len()].to_string(),
            4 => {
                // Longer than any limit, up to 64 KiB (the largest a caller
                // can send in one ubus message is about that).
                let b = usize::from(self.byte());
                let n = if b >= 0xF0 { (b - 0xEF) * 4096 } else { b };
                let c = char::from(self.byte() % 95 + 32);
                std::iter::repeat(c).take(n).collect()
            }
            _ => {
                let n = usize::from(self.byte() % 80);
                String::from_utf8_lossy(self.take(n)).into_owned()
            }
        }
    }

    fn value(&mut self, depth: u32) -> Value {
        let tag = self.byte();
        match tag % 10 {
            0 => Value::Null,
            1 => Value::Bool(tag & 0x10 != 0),
            2 => {
                let b = self.take(8);
                let mut a = [0u8; 8];
                a[..b.len()].copy_from_slice(b);
                Value::from(i64::from_le_bytes(a))
            }
            3 => Value::from(i64::from(self.byte()) - 16 + i64::from(self.byte()) * 8),
            4 => {
                let b = self.take(8);
                let mut a = [0u8; 8];
                a[..b.len()].copy_from_slice(b);
                Number::from_f64(f64::from_le_bytes(a)).map_or(Value::Null, Value::Number)
            }
            5 | 6 => Value::String(self.string()),
            7 if depth < 70 => {
                let n = self.byte() % 5;
                Value::Array((0..n).map(|_| self.value(depth + 1)).collect())
            }
            8 | 9 if depth < 70 => Value::Object(self.table(depth + 1)),
            _ => Value::from(u64::MAX - u64::from(self.byte())),
        }
    }

    fn table(&mut self, depth: u32) -> Map<String, Value> {
        let n = self.byte() % 5;
        let mut m = Map::new();
        for _ in 0..n {
            let k = self.string();
            let v = self.value(depth);
            m.insert(k, v);
        }
        m
    }
}

/// The daemon's argument handling for every method, on one argument table.
fn exercise(a: &Map<String, Value>) {
    for sig in NFTOFFLOAD_METHODS {
        if args::check(sig, a).is_err() {
            continue;
        }
        assert!(
            a.keys().all(|k| sig.args.iter().any(|(n, _)| n == k)),
            "check passed an undeclared field for {}: {a:?}",
            sig.name
        );
        for &(name, ty) in sig.args {
            match ty {
                ArgType::String => {
                    let s = args::get_str(a, name).expect("checked string");
                    if let Some(s) = s {
                        assert!(s.len() <= MAX_STR_LEN);
                        assert!(!s.chars().any(char::is_control));
                    }
                }
                ArgType::Int32 => {
                    args::get_int(a, name).expect("checked int");
                }
                ArgType::Bool => {
                    args::get_bool(a, name).expect("checked bool");
                }
                ArgType::Table | ArgType::Array => {}
            }
        }
        match sig.name {
            "set" => set_pure_part(a),
            "flows" => {
                if let Ok(Some(l)) = args::get_int_in(a, "limit", 1, 1000) {
                    assert!((1..=1000).contains(&l));
                }
            }
            _ => {}
        }
    }
    // The same table as a netifd dump reply (another JSON we take in).
    let v = Value::Object(a.clone());
    for i in NetifdInterface::parse_dump(&v) {
        assert!(!i.interface.is_empty());
    }
}

/// What `set` does before touching the kernel: validate, then rewrite the
/// UCI file. A name that passes validation must not be able to inject UCI
/// syntax (a quote, a newline, a second option).
fn set_pure_part(a: &Map<String, Value>) {
    let (Ok(zone), Ok(mode)) = (args::require_str(a, "zone"), args::require_str(a, "mode")) else {
        return;
    };
    if !config::valid_zone_name(zone) {
        return;
    }
    let Ok(mode) = mode.parse::<Mode>() else {
        return;
    };
    let out = uci::set_option(CONFIG, "zone", ("name", zone), "mode", mode.as_str())
        .unwrap_or_else(|e| panic!("set_option refused a valid zone {zone:?}: {e}"));
    let sections = uci::parse("nftoffload", out.as_bytes())
        .unwrap_or_else(|e| panic!("set for zone {zone:?} wrote an unparseable file: {e}\n{out}"));
    let zones: Vec<_> = sections.iter().filter(|s| s.stype == "zone").collect();
    assert!(
        zones
            .iter()
            .any(|s| s.get_single("name") == Some(zone)
                && s.get_single("mode") == Some(mode.as_str())),
        "zone {zone:?} not found after set:\n{out}"
    );
    assert!(
        sections.len() <= 3,
        "set for {zone:?} added sections:\n{out}"
    );
    for s in &zones {
        assert!(
            s.options.len() <= 2,
            "set for {zone:?} injected options:\n{out}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    // 1. The raw bytes as the blobmsg table ubusd delivers.
    if let Ok(Value::Object(m)) = blobmsg_to_json(data) {
        exercise(&m);
    }
    // 2. Arbitrary JSON, through the encoder a caller uses and back.
    let m = Gen { data }.table(0);
    let v = Value::Object(m);
    if let Ok(t) = json_to_blobmsg(&v) {
        let back = blobmsg_to_json(t.contents())
            .unwrap_or_else(|e| panic!("encoder output does not decode: {e}\n{v}"));
        if let Value::Object(b) = &back {
            exercise(b);
        } else {
            panic!("a table decoded as {back}");
        }
    }
    if let Value::Object(m) = &v {
        exercise(m);
    }
});
