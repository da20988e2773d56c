//! Method argument checks: pure functions from a method's signature and the
//! decoded argument table to typed values or an INVALID_ARGUMENT error with
//! a message a user can act on ("field 'mode' must be a string"). [`check`]
//! runs before every handler (unknown fields, wrong types, over-long
//! strings); the `get_*`/`require_*` helpers give handlers typed values.
//! No I/O, no panics on any input: fuzzed in the tests below.

use super::{ArgType, MethodSig, Status};
use serde_json::{Map, Value};

/// What a handler returns on bad input; `?` passes it straight through a
/// handler's `Result<Value, (Status, String)>`.
pub type ArgError = (Status, String);

/// Longest accepted string argument, in bytes. Our strings are zone names
/// and mode words; anything longer is a mistake or an attack.
pub const MAX_STR_LEN: usize = 64;

type Args = Map<String, Value>;

fn invalid(msg: String) -> ArgError {
    (Status::InvalidArgument, msg)
}

/// A user-supplied field name, safe to put in a message or a log line.
fn shown(name: &str) -> String {
    let mut s: String = name.chars().take(MAX_STR_LEN).collect();
    if s.len() < name.len() {
        s.push('…');
    }
    s.escape_debug().to_string()
}

/// Reject fields the method does not declare and values of the wrong type.
pub fn check(sig: &MethodSig, args: &Args) -> Result<(), ArgError> {
    for (name, value) in args {
        let Some(&(_, ty)) = sig.args.iter().find(|(n, _)| n == name) else {
            return Err(invalid(format!(
                "unknown field '{}' for method '{}'",
                shown(name),
                sig.name
            )));
        };
        check_value(name, ty, value)?;
    }
    Ok(())
}

fn check_value(name: &str, ty: ArgType, value: &Value) -> Result<(), ArgError> {
    match ty {
        ArgType::String => string(name, value).map(|_| ()),
        ArgType::Int32 => int32(name, value).map(|_| ()),
        ArgType::Bool => boolean(name, value).map(|_| ()),
        ArgType::Table if value.is_object() => Ok(()),
        ArgType::Table => Err(invalid(format!("field '{name}' must be a table"))),
        ArgType::Array if value.is_array() => Ok(()),
        ArgType::Array => Err(invalid(format!("field '{name}' must be an array"))),
    }
}

fn string<'a>(name: &str, value: &'a Value) -> Result<&'a str, ArgError> {
    let s = value
        .as_str()
        .ok_or_else(|| invalid(format!("field '{name}' must be a string")))?;
    if s.len() > MAX_STR_LEN {
        return Err(invalid(format!(
            "field '{name}' is longer than {MAX_STR_LEN} bytes"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid(format!(
            "field '{name}' contains control characters"
        )));
    }
    Ok(s)
}

/// blobmsg integers arrive as int8/16/32/64 (or a bool's int8) depending on
/// the caller; any JSON integer within i32 range is accepted, a fraction is not.
fn int32(name: &str, value: &Value) -> Result<i32, ArgError> {
    value
        .as_i64()
        .ok_or_else(|| invalid(format!("field '{name}' must be an integer")))
        .and_then(|n| {
            i32::try_from(n).map_err(|_| invalid(format!("field '{name}' is out of range")))
        })
}

/// libubox booleans are int8; some callers send 0/1 as a plain integer.
fn boolean(name: &str, value: &Value) -> Result<bool, ArgError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        _ => Err(invalid(format!("field '{name}' must be a boolean"))),
    }
}

/// An optional string field (≤ [`MAX_STR_LEN`] bytes, no control characters).
pub fn get_str<'a>(args: &'a Args, name: &str) -> Result<Option<&'a str>, ArgError> {
    args.get(name).map(|v| string(name, v)).transpose()
}

/// A mandatory string field.
pub fn require_str<'a>(args: &'a Args, name: &str) -> Result<&'a str, ArgError> {
    get_str(args, name)?.ok_or_else(|| invalid(format!("missing field '{name}'")))
}

/// An optional integer field within i32 range.
pub fn get_int(args: &Args, name: &str) -> Result<Option<i32>, ArgError> {
    args.get(name).map(|v| int32(name, v)).transpose()
}

/// An optional integer field that must lie in `min..=max`.
pub fn get_int_in(args: &Args, name: &str, min: i32, max: i32) -> Result<Option<i32>, ArgError> {
    match get_int(args, name)? {
        Some(n) if n < min || n > max => Err(invalid(format!(
            "field '{name}' must be between {min} and {max}"
        ))),
        n => Ok(n),
    }
}

/// An optional boolean field.
pub fn get_bool(args: &Args, name: &str) -> Result<Option<bool>, ArgError> {
    args.get(name).map(|v| boolean(name, v)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ubus::NFTOFFLOAD_METHODS;
    use serde_json::json;

    fn map(v: Value) -> Args {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn sig(name: &str) -> &'static MethodSig {
        NFTOFFLOAD_METHODS.iter().find(|m| m.name == name).unwrap()
    }

    #[test]
    fn set_accepts_its_fields_and_names_the_bad_one() {
        let set = sig("set");
        let ok = map(json!({"zone": "lan", "mode": "software"}));
        assert_eq!(check(set, &ok), Ok(()));
        assert_eq!(require_str(&ok, "zone"), Ok("lan"));

        let bad = map(json!({"zone": "lan", "mode": 3}));
        assert_eq!(
            check(set, &bad),
            Err((
                Status::InvalidArgument,
                "field 'mode' must be a string".into()
            ))
        );
        let extra = map(json!({"zone": "lan", "mode": "off", "force": true}));
        assert_eq!(
            check(set, &extra).unwrap_err().1,
            "unknown field 'force' for method 'set'"
        );
        let missing = map(json!({"zone": "lan"}));
        assert_eq!(
            require_str(&missing, "mode"),
            Err((Status::InvalidArgument, "missing field 'mode'".into()))
        );
    }

    #[test]
    fn a_zone_name_longer_than_64_bytes_is_invalid() {
        let long = "z".repeat(65);
        let args = map(json!({"zone": long, "mode": "off"}));
        let e = check(sig("set"), &args).unwrap_err();
        assert_eq!(e.0, Status::InvalidArgument);
        assert!(e.1.contains("longer than 64"), "{}", e.1);
        let args = map(json!({"zone": "z".repeat(64)}));
        assert!(get_str(&args, "zone").unwrap().is_some());
    }

    #[test]
    fn control_characters_are_refused_so_logs_stay_one_line() {
        let args = map(json!({"zone": "lan\nfake log line"}));
        assert!(get_str(&args, "zone").is_err());
    }

    #[test]
    fn integers_of_any_width_are_accepted_within_i32_fractions_are_not() {
        let flows = sig("flows");
        for (v, ok) in [
            (json!(20), true),
            (json!(i32::MAX), true),
            (json!(i64::from(i32::MAX) + 1), false),
            (json!(-1), true),
            (json!(2.5), false),
            (json!("20"), false),
            (json!(null), false),
        ] {
            let args = map(json!({ "limit": v }));
            assert_eq!(check(flows, &args).is_ok(), ok, "{v}");
        }
        let args = map(json!({"limit": 1001}));
        assert!(get_int_in(&args, "limit", 1, 1000).is_err());
        let args = map(json!({"limit": 1000}));
        assert_eq!(get_int_in(&args, "limit", 1, 1000), Ok(Some(1000)));
        assert_eq!(get_int_in(&Args::new(), "limit", 1, 1000), Ok(None));
    }

    #[test]
    fn booleans_accept_int8_style_zero_and_one() {
        for (v, want) in [
            (json!(true), Some(true)),
            (json!(0), Some(false)),
            (json!(1), Some(true)),
        ] {
            assert_eq!(get_bool(&map(json!({ "x": v })), "x"), Ok(want));
        }
        assert!(get_bool(&map(json!({"x": 2})), "x").is_err());
    }

    #[test]
    fn hostile_field_names_are_truncated_and_escaped_in_messages() {
        let name = format!("a\"\n{}", "x".repeat(500));
        let mut args = Args::new();
        args.insert(name, json!(1));
        let msg = check(sig("status"), &args).unwrap_err().1;
        assert!(!msg.contains('\n'));
        assert!(msg.len() < 200, "{msg}");
    }

    /// Deterministic fuzzing: random tables against every signature. Nothing
    /// may panic, and whenever `check` passes, the typed getters for the
    /// declared fields must succeed (the handler may rely on that).
    #[test]
    fn fuzz_check_and_getters_agree_and_never_panic() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let names = ["zone", "mode", "limit", "x", "", "zone\0", "ZONE"];
        for _ in 0..20_000 {
            let mut args = Args::new();
            for _ in 0..rnd() % 4 {
                let name = names[(rnd() % names.len() as u64) as usize];
                let value = match rnd() % 9 {
                    0 => json!(null),
                    1 => json!(rnd() % 2 == 0),
                    2 => json!(rnd() as i64),
                    3 => json!((rnd() % 2000) as i64 - 500),
                    4 => json!(rnd() as f64 / 7.0),
                    5 => json!("s".repeat((rnd() % 80) as usize)),
                    6 => json!(["lan"]),
                    7 => json!({"a": 1}),
                    _ => json!("lan\u{7}"),
                };
                args.insert(name.to_string(), value);
            }
            for sig in NFTOFFLOAD_METHODS {
                let ok = check(sig, &args).is_ok();
                if ok {
                    for &(name, ty) in sig.args {
                        match ty {
                            ArgType::String => assert!(get_str(&args, name).is_ok()),
                            ArgType::Int32 => assert!(get_int(&args, name).is_ok()),
                            ArgType::Bool => assert!(get_bool(&args, name).is_ok()),
                            _ => {}
                        }
                    }
                    assert!(args.keys().all(|k| sig.args.iter().any(|(n, _)| n == k)));
                }
            }
        }
    }
}
