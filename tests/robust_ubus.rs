//! Bad input over ubus, against the real daemon binary and a real ubusd in
//! a network namespace of its own, on this host (whose kernel has no
//! flowtables, so the daemon runs in its "blocked" state and a valid `set`
//! is refused with NOT_SUPPORTED; the VM tests cover the kernel side).
//!
//! - a generated campaign of at least 10,000 malformed calls (wrong types,
//!   missing and extra fields, unknown methods, zones and modes, empty and
//!   64 KiB strings, nested tables and arrays, integers out of range),
//!   each answered with the status the API documents (computed here from
//!   docs/ubus-api.md, independently of the daemon's code), while the
//!   daemon's conntrack table holds thousands of entries: the daemon stays
//!   up and `status` afterwards is byte-identical to before, the config
//!   file untouched;
//! - hostile zone names in `set` (`/`, `..`, spaces, newlines, 16+ and 64+
//!   characters, NUL, unicode) are rejected and change nothing;
//! - ubusd killed and restarted 20 times: the daemon re-registers every
//!   time, within a second;
//! - on a kernel without flowtables the daemon keeps serving `status` with
//!   the reason and does not spin (CPU time over 10 s idle ≈ 0).

mod robust_rig;

use robust_rig::{sh_ok, Rig};
use serde_json::{json, Map, Value};
use std::time::{Duration, Instant};

const INVALID_ARGUMENT: i32 = 2;
const METHOD_NOT_FOUND: i32 = 3;
const NOT_FOUND: i32 = 4;
const NOT_SUPPORTED: i32 = 8;

/// Zones of the rig's firewall config.
const ZONES: [&str; 3] = ["lan", "guest", "wan"];

/// xorshift64: a fixed seed, so a failure names a reproducible call.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// The documented zone-name rule (fw4's identifier): `[A-Za-z_.][A-Za-z0-9/_.-]*`.
fn fw4_identifier(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b'.')
        && b.all(|c| c.is_ascii_alphanumeric() || b"/_.-".contains(&c))
}

/// A string argument is acceptable when ≤ 64 bytes without control characters.
fn ok_string(v: &Value) -> Option<&str> {
    v.as_str()
        .filter(|s| s.len() <= 64 && !s.chars().any(char::is_control))
}

/// What the API (docs/ubus-api.md) says the daemon answers, on this host.
fn expected(method: &str, args: &Map<String, Value>) -> i32 {
    let declared: &[&str] = match method {
        "status" | "reload" => &[],
        "set" => &["zone", "mode"],
        "flows" => &["limit"],
        _ => return METHOD_NOT_FOUND,
    };
    if args.keys().any(|k| !declared.contains(&k.as_str())) {
        return INVALID_ARGUMENT;
    }
    match method {
        "set" => {
            let (Some(zone), Some(mode)) = (
                args.get("zone").map(ok_string),
                args.get("mode").map(ok_string),
            ) else {
                return INVALID_ARGUMENT;
            };
            let (Some(zone), Some(mode)) = (zone, mode) else {
                return INVALID_ARGUMENT;
            };
            if !fw4_identifier(zone) || !["off", "software", "hardware"].contains(&mode) {
                INVALID_ARGUMENT
            } else if !ZONES.contains(&zone) {
                NOT_FOUND
            } else {
                NOT_SUPPORTED
            }
        }
        "flows" => match args.get("limit") {
            None => 0,
            // A double with an integral value (20.0) reaches the daemon as
            // the integer it equals: the blobmsg-to-JSON bridge of ubus-zero
            // keeps no type, as its text form is "20". Harmless leniency.
            Some(v) => match v.as_i64().or_else(|| {
                v.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                    .map(|f| f as i64)
            }) {
                Some(n) if (1..=1000).contains(&n) => 0,
                _ => INVALID_ARGUMENT,
            },
        },
        _ => 0,
    }
}

const STRINGS: &[&str] = &[
    "",
    "lan",
    "wan",
    "guest",
    "LAN",
    "lan ",
    " lan",
    "off",
    "software",
    "hardware",
    "Software",
    "on",
    "1",
    "dmz",
    "a/b",
    "..",
    "../../etc/passwd",
    "lan;reboot",
    "$(reboot)",
    "`id`",
    "lan'",
    "lan\"",
    "la n",
    "lan\n",
    "lan\t",
    "zöne",
    "日本",
    "_x",
    ".x",
    "-x",
    "0lan",
    "abcdefghijklmnop",
    "x\u{7f}",
];

fn random_value(r: &mut Rng, depth: u32) -> Value {
    match r.below(if depth > 3 { 8 } else { 11 }) {
        0 => Value::Null,
        1 => json!(r.below(2) == 1),
        2 => json!(*r.pick(&[
            0i64,
            1,
            -1,
            20,
            1000,
            1001,
            i32::MAX as i64,
            i32::MIN as i64,
            i32::MAX as i64 + 1,
            i64::MAX,
            i64::MIN
        ])),
        3 => json!(r.next() as i64),
        4 => json!(*r.pick(&[0.5f64, -2.25, 1e300, 20.0])),
        5 | 6 => json!(*r.pick(STRINGS)),
        7 => {
            // empty or long: 63..=66 bytes around the limit, or up to 64 KiB
            let n = *r.pick(&[0usize, 63, 64, 65, 66, 4096, 65_536]);
            json!("z".repeat(n))
        }
        8 => Value::Array(
            (0..r.below(4))
                .map(|_| random_value(r, depth + 1))
                .collect(),
        ),
        _ => Value::Object(random_table(r, depth + 1)),
    }
}

fn random_table(r: &mut Rng, depth: u32) -> Map<String, Value> {
    let keys = [
        "zone",
        "mode",
        "limit",
        "x",
        "",
        "Zone",
        "zone ",
        "force",
        "mode\u{1}",
    ];
    let mut m = Map::new();
    for _ in 0..r.below(4) {
        let k = r.pick(&keys).to_string();
        let v = random_value(r, depth);
        m.insert(k, v);
    }
    m
}

/// One malformed call: (method, args). Never a plain valid `reload {}`.
fn malformed_call(r: &mut Rng) -> (String, Map<String, Value>) {
    let method = match r.below(12) {
        0 => r
            .pick(&["Status", "stat", "set ", "flow", "delete", "x"])
            .to_string(),
        1 | 2 => "status".to_string(),
        3 => "reload".to_string(),
        4..=6 => "flows".to_string(),
        _ => "set".to_string(),
    };
    let mut args = random_table(r, 0);
    match (method.as_str(), r.below(3)) {
        // a call with the right shape and one bad value
        ("set", 0) => {
            args.insert("zone".into(), json!(*r.pick(&ZONES)));
            if !args.contains_key("mode") {
                args.insert("mode".into(), random_value(r, 0));
            }
        }
        ("set", 1) => {
            args.insert(
                "mode".into(),
                json!(*r.pick(&["off", "software", "hardware"])),
            );
        }
        ("flows", 0) => {
            args.insert("limit".into(), random_value(r, 0));
        }
        ("status" | "reload", _) if args.is_empty() => {
            args.insert("x".into(), random_value(r, 0));
        }
        _ => {}
    }
    (method, args)
}

/// Conntrack entries in the rig's namespace, so `flows` and `status` walk
/// a real table (inserted with long timeouts: the table must not change
/// during the campaign, or `status` could not be compared byte for byte).
fn fill_conntrack(rig: &Rig, n: usize) {
    let script = format!(
        "set -e; for i in $(seq 1 {n}); do \
           conntrack -I -p udp -s 10.9.$((i / 250)).$((i % 250 + 1)) -d 10.8.0.1 \
             --sport $((10000 + i)) --dport 53 --timeout 3600 >/dev/null 2>&1; \
         done; conntrack -C"
    );
    let out = rig.in_ns(&script);
    let count = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && count.parse::<usize>().unwrap_or(0) >= n,
        "filling conntrack: {count} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ten_thousand_malformed_calls_get_their_status_and_change_nothing() {
    let mut rig = Rig::started("campaign");
    let n_calls: usize = std::env::var("ROBUST_CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    fill_conntrack(&rig, 2000);
    let pid = rig.daemon_pid();
    let before = rig.status_text();
    let config_before = rig.config_bytes();
    assert!(before.contains("\"tracked\":"), "{before}");

    let mut rng = Rng(0x0005_eed0_f0ff_10ad);
    let mut tally: std::collections::BTreeMap<i32, usize> = Default::default();
    let mut failures = Vec::new();
    let t0 = Instant::now();
    for i in 0..n_calls {
        let (method, args) = malformed_call(&mut rng);
        let want = expected(&method, &args);
        let got = rig.code(&method, &Value::Object(args.clone()));
        *tally.entry(got).or_default() += 1;
        if got != want && failures.len() < 20 {
            let shown: String = serde_json::to_string(&args)
                .unwrap()
                .chars()
                .take(200)
                .collect();
            failures.push(format!(
                "call {i}: {method} {shown}: got {got}, want {want}"
            ));
        }
        if got != want && failures.len() >= 20 {
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "# {n_calls} malformed calls in {secs:.1} s; status codes: {tally:?}; {} wrong",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "wrong status codes:\n{}",
        failures.join("\n")
    );
    rig.assert_alive("after the campaign");
    assert_eq!(rig.daemon_pid(), pid);
    assert_eq!(
        rig.config_bytes(),
        config_before,
        "a malformed call changed the config file"
    );
    let after = rig.status_text();
    assert_eq!(after, before, "status changed across malformed calls");

    // The largest reply the host can make: flows at the maximum limit,
    // over the whole table (the kernel filters non-offloaded entries).
    let flows = rig.call("flows", &json!({"limit": 1000})).unwrap();
    assert!(flows["flows"].is_array(), "{flows}");
    assert_eq!(rig.status_text(), before);
}

/// Names a hostile or confused caller could send as a zone. Each must be
/// refused (INVALID_ARGUMENT: not a valid name at all; NOT_FOUND: a
/// syntactically valid fw4 zone name that is no zone) and change nothing.
#[test]
fn hostile_zone_names_are_rejected_and_change_nothing() {
    let rig = Rig::started("hostile");
    let before = rig.status_text();
    let config_before = rig.config_bytes();
    let names: Vec<String> = vec![
        "lan/../wan".into(),
        "../../etc/config/firewall".into(),
        "..".into(),
        "lan wan".into(),
        "lan\nconfig zone".into(),
        "lan\r".into(),
        "lan'".into(),
        "lan\"; reboot".into(),
        "$(reboot)".into(),
        "abcdefghijklmnop".into(),
        "x".repeat(64),
        "x".repeat(65),
        "x".repeat(65_536),
        "zöne".into(),
        "lan\u{202e}".into(),
        "lan\u{0}".into(),
        "".into(),
        "-lan".into(),
    ];
    // Refused as invalid unless it is a syntactically valid fw4 zone name
    // (then NOT_FOUND: no such zone).
    let cases: Vec<(String, i32)> = names
        .into_iter()
        .map(|n| {
            let want = match ok_string(&json!(n)) {
                Some(s) if fw4_identifier(s) => NOT_FOUND,
                _ => INVALID_ARGUMENT,
            };
            (n, want)
        })
        .collect();
    let mut tried = 0;
    for (name, want) in &cases {
        for mode in ["software", "off"] {
            let args = json!({"zone": name, "mode": mode});
            let got = match rig.call("set", &args) {
                Ok(v) => panic!("set {name:?} succeeded: {v}"),
                Err(e) => e.status(),
            };
            let shown: String = name.chars().take(40).collect();
            // NUL cannot even be encoded by a client (blobmsg strings are
            // C strings): refused before it leaves, which is fine.
            if name.contains('\0') {
                assert_ne!(got, 0, "{shown:?}");
            } else {
                assert_eq!(got, *want, "set zone {shown:?} mode {mode}");
            }
            tried += 1;
        }
    }
    eprintln!("# {tried} hostile set calls refused");
    assert_eq!(rig.config_bytes(), config_before);
    assert_eq!(rig.status_text(), before);
}

#[test]
fn reregisters_within_a_second_after_each_of_20_ubusd_restarts() {
    let mut rig = Rig::started("ubusd-restart");
    let pid = rig.daemon_pid();
    let before = rig.status_text();
    let mut slowest = Duration::ZERO;
    for round in 1..=20 {
        rig.kill_ubusd();
        std::thread::sleep(Duration::from_millis(50 + 37 * (round % 7)));
        rig.start_ubusd();
        let took = rig
            .wait_registered(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("round {round}: not registered after 5 s\n{}", rig.log()));
        slowest = slowest.max(took);
        assert!(
            took <= Duration::from_secs(1),
            "round {round}: re-registered after {took:?}, more than a second"
        );
    }
    rig.assert_alive("after 20 ubusd restarts");
    assert_eq!(rig.daemon_pid(), pid);
    assert_eq!(rig.status_text(), before);
    eprintln!("# 20 ubusd restarts: slowest re-registration {slowest:?}");
}

#[test]
fn without_flowtables_status_keeps_the_reason_and_the_daemon_idles() {
    let rig = Rig::started("idle");
    let st: Value = serde_json::from_str(&rig.status_text()).unwrap();
    assert_eq!(
        st["kernel"]["supported"],
        json!(false),
        "this host has no flowtables: {st}"
    );
    let msg = st["kernel"]["message"].as_str().unwrap_or("");
    assert!(!msg.is_empty(), "status gives no reason: {st}");
    let ticks0 = rig.cpu_ticks();
    std::thread::sleep(Duration::from_secs(10));
    let ticks = rig.cpu_ticks() - ticks0;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    eprintln!("# idle 10 s: {ticks} ticks of CPU ({hz} per second)");
    assert!(
        ticks * 100 <= hz * 2,
        "the daemon used {ticks} ticks of CPU in 10 s idle (more than 20 ms)"
    );
    let st2: Value = serde_json::from_str(&rig.status_text()).unwrap();
    assert_eq!(st2["kernel"], st["kernel"]);
    let _ = sh_ok("true");
}
