//! Security checks.
//!
//! - The ubusd ACL the package installs (files/usr/share/acl.d/
//!   nftoffload.json), loaded by a real `ubusd --acl-dir`, with the real
//!   daemon registered and the real `ubus-client` run as non-root users:
//!   a user outside the ACL's group may call nothing (the object is
//!   hidden from it: NOT_FOUND or PERMISSION_DENIED); a member of the group
//!   may read (`status`, `flows`) but `set` and `reload` get
//!   PERMISSION_DENIED (6) and change nothing; root may call everything.
//!   (OpenWrt's convention: ubusd lets root do anything, ACL files grant
//!   non-root users or groups named methods; LuCI goes through rpcd as root
//!   and its own ACL, luci-app/root/usr/share/rpcd/acl.d/, checked by the
//!   LuCI tests.)
//! - The program never runs another program: the product binary imports
//!   no exec/spawn/fork/system/popen function, and src/ outside test
//!   modules never names `std::process::Command`, exec or a shell.

mod robust_rig;

use robust_rig::{repo, run, sh_ok, tool, Rig};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const NOT_FOUND: i32 = 4;
const PERMISSION_DENIED: i32 = 6;
const NOBODY: u32 = 65534;
const GROUP: &str = "nftoffload";

/// The gid of the ACL's group, created as a system group when missing
/// (the package's ACL names it; a test machine may not have it).
fn acl_group_gid() -> u32 {
    let out = run(Command::new("getent").args(["group", GROUP]));
    if !out.status.success() {
        sh_ok(&format!("groupadd --system {GROUP}"));
    }
    let line = sh_ok(&format!("getent group {GROUP}"));
    line.split(':').nth(2).unwrap().trim().parse().unwrap()
}

/// `ubus-client -s SOCK call nftoffload METHOD ARGS` as uid/gid (no
/// supplementary groups): (exit code, stdout, stderr).
fn ubus_as(
    client: &Path,
    uid: u32,
    gid: u32,
    sock: &Path,
    method: &str,
    args: &str,
) -> (i32, String, String) {
    let out = run(Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .arg("--clear-groups")
        .arg(client)
        .arg("-s")
        .arg(sock)
        .args(["call", "nftoffload", method, args])
        .stdin(Stdio::null()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The status code ubus-client reports: its exit code is the ubus status.
fn denied(r: &(i32, String, String)) -> bool {
    r.0 == PERMISSION_DENIED
}

#[test]
fn ubusd_acl_lets_the_group_read_and_only_root_write() {
    let acl_src = repo().join("files/usr/share/acl.d/nftoffload.json");
    let acl: Value = serde_json::from_slice(&std::fs::read(&acl_src).unwrap()).unwrap();
    assert_eq!(acl["group"], json!(GROUP), "{acl}");
    let gid = acl_group_gid();

    let mut rig = Rig::new("acl");
    let acl_dir = rig.dir.join("acl.d");
    std::fs::create_dir_all(&acl_dir).unwrap();
    std::fs::copy(&acl_src, acl_dir.join("nftoffload.json")).unwrap();
    rig.acl_dir = Some(acl_dir);
    rig.start_ubusd();
    rig.start_daemon();
    // Let non-root users reach the socket and the client (root's home is
    // usually closed to them).
    let client: PathBuf = rig.dir.join("ubus-client");
    std::fs::copy(tool("ubus-client"), &client).unwrap();
    sh_ok(&format!(
        "chmod 755 {d} && chmod 755 {c} && chmod 666 {s}",
        d = rig.dir.display(),
        c = client.display(),
        s = rig.sock.display()
    ));
    let config_before = rig.config_bytes();
    let status_before = rig.status_text();

    let calls: [(&str, &str); 4] = [
        ("status", "{}"),
        ("flows", "{\"limit\":5}"),
        ("set", "{\"zone\":\"lan\",\"mode\":\"off\"}"),
        ("reload", "{}"),
    ];
    let mut tried = 0;
    let mut wrong = Vec::new();
    // A member of the ACL's group: reads yes, writes no.
    for (method, args) in calls {
        let r = ubus_as(&client, NOBODY, gid, &rig.sock, method, args);
        tried += 1;
        let write = matches!(method, "set" | "reload");
        if write != denied(&r) {
            wrong.push(format!(
                "group member: {method}: exit {} {} {}",
                r.0, r.1, r.2
            ));
        }
        if !write && r.0 != 0 {
            wrong.push(format!(
                "group member: {method} failed: exit {} {}",
                r.0, r.2
            ));
        }
    }
    // Not in the group: nothing at all. ubusd hides an object the caller
    // may not access from its lookup, so the client sees NOT_FOUND (4)
    // before it could even try the call (OpenWrt's ubusd does the same).
    for (method, args) in calls {
        let r = ubus_as(&client, NOBODY, NOBODY, &rig.sock, method, args);
        tried += 1;
        if !denied(&r) && r.0 != NOT_FOUND {
            wrong.push(format!("outsider: {method}: exit {} {} {}", r.0, r.1, r.2));
        }
    }
    eprintln!(
        "# {tried} non-root calls through the ACL, {} wrong",
        wrong.len()
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    rig.assert_alive("after the denied calls");
    assert_eq!(
        rig.config_bytes(),
        config_before,
        "a denied call changed the config"
    );
    assert_eq!(
        rig.status_text(),
        status_before,
        "a denied call changed the state"
    );

    // Root may write (the host kernel refuses the change itself: 8).
    let r = ubus_as(
        &client,
        0,
        0,
        &rig.sock,
        "set",
        "{\"zone\":\"lan\",\"mode\":\"off\"}",
    );
    assert_ne!(r.0, PERMISSION_DENIED, "root was denied set: {r:?}");
    let r = ubus_as(&client, 0, 0, &rig.sock, "status", "{}");
    assert_eq!(r.0, 0, "root status: {r:?}");
}

// ---------------------------------------------------------------------

/// Functions through which a program runs another program.
const EXEC_SYMBOLS: &[&str] = &[
    "execve",
    "execvp",
    "execvpe",
    "execv",
    "execl",
    "execlp",
    "execle",
    "fexecve",
    "posix_spawn",
    "posix_spawnp",
    "pidfd_spawnp",
    "fork",
    "vfork",
    "system",
    "popen",
];

#[test]
fn the_binary_imports_no_function_that_runs_programs() {
    let bin = env!("CARGO_BIN_EXE_nftoffload");
    let out = Command::new("nm").args(["-u", "-D", bin]).output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => panic!("nm -u -D {bin}: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => panic!("nm (binutils) is needed for this check: {e}"),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let imported: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|s| s.split('@').next().unwrap_or(s))
        .collect();
    assert!(imported.len() > 10, "nm listed too little:\n{text}");
    let bad: Vec<&&str> = imported
        .iter()
        .filter(|s| EXEC_SYMBOLS.contains(s))
        .collect();
    assert!(
        bad.is_empty(),
        "{bin} imports {bad:?}: it can run other programs"
    );
}

/// Source lines outside test code. A file declared as `#[cfg(test)] mod
/// x;` is skipped whole; an inline `#[cfg(test)] mod x { ... }` is skipped
/// to its closing brace.
fn product_sources() -> Vec<(PathBuf, usize, String)> {
    let src = repo().join("src");
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    // test-only module files
    let mut test_files = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for w in lines.windows(2) {
            if w[0].trim().starts_with("#[cfg(") && w[0].contains("test") {
                let l = w[1].trim();
                if let Some(name) = l.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
                    let dir = f.parent().unwrap();
                    test_files.push(dir.join(format!("{name}.rs")));
                    test_files.push(dir.join(name).join("mod.rs"));
                }
            }
        }
    }
    let mut out = Vec::new();
    for f in files.into_iter().filter(|f| !test_files.contains(f)) {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut skip_depth: Option<i64> = None;
        let mut depth: i64 = 0;
        let mut cfg_test = false;
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            let opens = line.matches('{').count() as i64;
            let closes = line.matches('}').count() as i64;
            if skip_depth.is_none() && cfg_test && t.starts_with("mod ") && t.ends_with('{') {
                skip_depth = Some(depth);
            }
            cfg_test = (t.starts_with("#[cfg(") && t.contains("test"))
                || (cfg_test && t.starts_with("#["));
            depth += opens - closes;
            if let Some(d) = skip_depth {
                if depth <= d {
                    skip_depth = None;
                }
                continue;
            }
            if t.starts_with("//") {
                continue;
            }
            out.push((f.clone(), i + 1, line.to_string()));
        }
    }
    out
}

#[test]
fn src_never_runs_a_command_or_a_shell() {
    let forbidden = [
        "std::process::Command",
        "process::Command",
        "Command::new",
        "CommandExt",
        "libc::exec",
        "libc::fork",
        "libc::vfork",
        "libc::system",
        "libc::popen",
        "posix_spawn",
        "/bin/sh",
        "\"sh\"",
        "\"-c\"",
    ];
    let lines = product_sources();
    assert!(
        lines.len() > 1000,
        "only {} product lines found",
        lines.len()
    );
    let hits: Vec<String> = lines
        .iter()
        .filter(|(_, _, l)| forbidden.iter().any(|f| l.contains(f)))
        .map(|(f, n, l)| {
            format!(
                "{}:{n}: {}",
                f.strip_prefix(repo()).unwrap_or(f).display(),
                l.trim()
            )
        })
        .collect();
    assert!(
        hits.is_empty(),
        "product code that runs programs:\n{}",
        hits.join("\n")
    );
    // The scanner itself must see test code as test code: live_tests.rs
    // uses Command, and it must have been skipped.
    assert!(!lines
        .iter()
        .any(|(f, _, _)| f.ends_with("ubus/live_tests.rs")));
}
