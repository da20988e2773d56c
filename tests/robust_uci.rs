//! Bad UCI files: truncated at every byte, bad quoting, unknown sections
//! and options, duplicate zones, non-UTF-8 bytes, in both files the
//! program reads (/etc/config/nftoffload and /etc/config/firewall).
//!
//! A file that does not parse is refused with an error that names the
//! file, the line and the cause, and `nftoffload apply` says nothing was
//! applied (exit 2, before touching the kernel). Unknown sections and
//! options are not errors (OpenWrt configs carry other tools' options):
//! they are ignored with a warning that names file and line. Whether the
//! kernel keeps the last good state is checked in the VM
//! (tests/vm/t_robust.sh), since this host has no flowtables.

mod robust_rig;

use robust_rig::FIREWALL;
use std::path::Path;
use std::process::Command;

const GOOD: &str = "config globals 'globals'\n\toption enabled '1'\n\toption hw_check '1'\n\n\
config zone\n\toption name 'lan'\n\toption mode \"software\"\n\n\
config zone\n\toption name 'wan'\n\toption mode hardware\n\n\
config zone\n\toption name 'guest'\n\toption mode 'off'\n";

fn dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "nftoffload-robust-uci-{}-{tag}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// "FILE:LINE: cause" with LINE in 1..=max_line and a non-empty cause.
fn names_file_line_cause(msg: &str, file: &Path, max_line: usize) -> bool {
    let prefix = format!("{}:", file.display());
    let Some(i) = msg.find(&prefix) else {
        return false;
    };
    let rest = &msg[i + prefix.len()..];
    let Some((line, cause)) = rest.split_once(':') else {
        return false;
    };
    matches!(line.parse::<usize>(), Ok(n) if (1..=max_line.max(1)).contains(&n))
        && !cause.trim().is_empty()
}

#[test]
fn every_truncation_either_parses_or_names_file_line_and_cause() {
    let d = dir("trunc");
    std::fs::write(d.join("firewall"), FIREWALL).unwrap();
    let (mut ok, mut refused) = (0, 0);
    for cut in 0..=GOOD.len() {
        let text = &GOOD.as_bytes()[..cut];
        std::fs::write(d.join("nftoffload"), text).unwrap();
        match nft_offload::config::load(&d) {
            Ok(_) => ok += 1,
            Err(e) => {
                refused += 1;
                let lines = text.split(|&b| b == b'\n').count();
                let msg = e.to_string();
                assert!(
                    names_file_line_cause(&msg, &d.join("nftoffload"), lines),
                    "cut at {cut}: error does not name file:line: cause: {msg}\n{:?}",
                    String::from_utf8_lossy(text)
                );
            }
        }
    }
    // Same for the firewall file, against a good nftoffload file.
    std::fs::write(d.join("nftoffload"), GOOD).unwrap();
    for cut in 0..=FIREWALL.len() {
        let text = &FIREWALL.as_bytes()[..cut];
        std::fs::write(d.join("firewall"), text).unwrap();
        match nft_offload::config::load(&d) {
            Ok(_) => ok += 1,
            Err(e) => {
                refused += 1;
                let lines = text.split(|&b| b == b'\n').count();
                let msg = e.to_string();
                assert!(
                    names_file_line_cause(&msg, &d.join("firewall"), lines),
                    "firewall cut at {cut}: {msg}"
                );
            }
        }
    }
    eprintln!(
        "# {} truncations: {ok} parse, {refused} refused with file:line: cause",
        ok + refused
    );
    assert!(
        refused > 10,
        "truncations were hardly ever refused ({refused})"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// (name, which file, contents, cause the message must contain)
fn broken_files() -> Vec<(&'static str, &'static str, Vec<u8>, &'static str)> {
    let z = "config zone\n\toption name 'lan'\n";
    vec![
        (
            "unterminated quote",
            "nftoffload",
            format!("{z}\toption mode 'software\n").into_bytes(),
            "unterminated",
        ),
        (
            "unterminated double quote",
            "nftoffload",
            format!("{z}\toption mode \"off\n").into_bytes(),
            "unterminated",
        ),
        (
            "stray quote",
            "nftoffload",
            format!("{z}\toption mode soft'ware'x'\n").into_bytes(),
            "",
        ),
        (
            "option outside a section",
            "nftoffload",
            b"option mode 'off'\n".to_vec(),
            "",
        ),
        (
            "duplicate zone",
            "nftoffload",
            format!("{z}\toption mode 'off'\n\n{z}\toption mode 'software'\n").into_bytes(),
            "duplicate",
        ),
        (
            "bad mode",
            "nftoffload",
            format!("{z}\toption mode 'turbo'\n").into_bytes(),
            "turbo",
        ),
        (
            "non-UTF-8",
            "nftoffload",
            b"config zone\n\toption name 'l\xffan'\n".to_vec(),
            "UTF-8",
        ),
        (
            "NUL byte",
            "nftoffload",
            b"config zone\n\toption name 'l\0an'\n".to_vec(),
            "",
        ),
        (
            "zone without a name",
            "nftoffload",
            b"config zone\n\toption mode 'off'\n".to_vec(),
            "",
        ),
        (
            "firewall: unterminated quote",
            "firewall",
            b"config zone\n\toption name 'lan\n".to_vec(),
            "unterminated",
        ),
        (
            "firewall: non-UTF-8",
            "firewall",
            b"config zone\n\toption name '\xc3\x28'\n".to_vec(),
            "UTF-8",
        ),
    ]
}

#[test]
fn broken_files_are_refused_by_apply_with_file_line_cause_and_nothing_applied() {
    let mut tried = 0;
    let mut failed = Vec::new();
    for (name, file, bytes, cause) in broken_files() {
        let d = dir(&name.replace([' ', ':'], "_"));
        std::fs::write(d.join("firewall"), FIREWALL).unwrap();
        std::fs::write(d.join("nftoffload"), GOOD).unwrap();
        std::fs::write(d.join(file), &bytes).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_nftoffload"))
            .args(["apply", "--config-dir"])
            .arg(&d)
            .output()
            .unwrap();
        tried += 1;
        let err = String::from_utf8_lossy(&out.stderr);
        let lines = bytes.split(|&b| b == b'\n').count();
        let good = out.status.code() == Some(2)
            && names_file_line_cause(&err, &d.join(file), lines)
            && err.contains(cause)
            && err.contains("nothing was applied");
        if !good {
            failed.push(format!("{name}: exit {:?}: {err}", out.status.code()));
        }
        let _ = std::fs::remove_dir_all(&d);
    }
    eprintln!(
        "# {tried} broken files, {} not refused properly",
        failed.len()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn unknown_sections_and_options_are_warnings_with_file_and_line() {
    let d = dir("unknown");
    std::fs::write(d.join("firewall"), FIREWALL).unwrap();
    let text = format!("{GOOD}\nconfig frobnicator 'x'\n\toption level '11'\n\nconfig zone\n\toption name 'guest2'\n\toption mode 'off'\n\toption colour 'blue'\n");
    std::fs::write(d.join("nftoffload"), &text).unwrap();
    let (cfg, _fw, warnings) =
        nft_offload::config::load(&d).expect("unknown things are not errors");
    assert_eq!(cfg.zones.len(), 4, "{cfg:?}");
    let file = d.join("nftoffload");
    let all = warnings.join("\n");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("frobnicator") && names_file_line_cause(w, &file, 99)),
        "no warning for the unknown section: {all}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("colour") && names_file_line_cause(w, &file, 99)),
        "no warning for the unknown option: {all}"
    );
    let _ = std::fs::remove_dir_all(&d);
}
