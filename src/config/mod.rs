//! Configuration: what the user asked for. This module owns reading
//! `/etc/config/nftoffload` (the per-zone modes) and the parts of
//! `/etc/config/firewall` we depend on (zones, their networks and devices,
//! and fw4's global offload switch), and writing a zone's mode back without
//! losing the file's other sections or comments. It knows nothing about the
//! kernel; every error names the file and line.

pub mod uci;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::{Context, Error, Result};
use uci::{UciOption, Value};

/// Offload mode of one firewall zone, as configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Mode {
    #[default]
    Off,
    Software,
    Hardware,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Off, Mode::Software, Mode::Hardware];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Software => "software",
            Mode::Hardware => "hardware",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(Mode::Off),
            "software" => Ok(Mode::Software),
            "hardware" => Ok(Mode::Hardware),
            other => Err(format!(
                "invalid mode '{other}': expected off, software or hardware"
            )),
        }
    }
}

/// One `config zone` section of `/etc/config/nftoffload`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneMode {
    /// The firewall zone name (`option name`).
    pub name: String,
    pub mode: Mode,
}

/// `/etc/config/nftoffload` as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffloadConfig {
    /// `globals.enabled`; when false no table is installed.
    pub enabled: bool,
    /// `globals.hw_check`: trust ethtool's hw-tc-offload before asking the
    /// kernel for hardware offload (default true). With it off, hardware
    /// zones always ask, and a kernel refusal (EOPNOTSUPP) is the fallback.
    pub hw_check: bool,
    pub zones: Vec<ZoneMode>,
}

impl Default for OffloadConfig {
    fn default() -> Self {
        OffloadConfig {
            enabled: true,
            hw_check: true,
            zones: Vec::new(),
        }
    }
}

impl OffloadConfig {
    /// The configured mode of a zone; zones without a section are off.
    pub fn mode_of(&self, zone: &str) -> Mode {
        self.zones
            .iter()
            .find(|z| z.name == zone)
            .map(|z| z.mode)
            .unwrap_or_default()
    }
}

/// One `config zone` section of `/etc/config/firewall`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FwZone {
    pub name: String,
    /// `list network`: logical netifd interfaces, resolved through
    /// `network.interface dump`.
    pub networks: Vec<String>,
    /// `list device`: raw Linux devices.
    pub devices: Vec<String>,
}

/// fw4's own global offload switch in `firewall.@defaults[0]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Fw4Defaults {
    pub flow_offloading: bool,
    pub flow_offloading_hw: bool,
}

/// What we need from `/etc/config/firewall`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FirewallConfig {
    pub zones: Vec<FwZone>,
    pub defaults: Fw4Defaults,
}

// ---------------------------------------------------------------------
// Loading.
//
// The loaders return `(value, warnings)`. Warnings are things we ignored
// ("FILE:LINE: unknown option 'x' ignored"); the caller logs them. Errors
// are things we refuse to guess about; both name the file and the line.

/// File names under the UCI directory (`/etc/config`).
pub const OFFLOAD_FILE: &str = "nftoffload";
pub const FIREWALL_FILE: &str = "firewall";

/// fw4's rule for zone names (`parse_identifier` in fw4.uc):
/// `^[a-zA-Z_.][a-zA-Z0-9/_.-]*$`. fw4 sets no length limit.
pub fn valid_zone_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b'.' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-'))
}

/// Read a config file; `Ok(None)` if it does not exist.
fn read_config(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::from(e).context(format!("reading {}", path.display()))),
    }
}

fn single<'a>(file: &str, o: &'a UciOption) -> Result<&'a str> {
    match &o.value {
        Value::Single(s) => Ok(s),
        Value::List(_) => Err(Error::invalid(format!(
            "{file}:{}: option '{}' must be a single value, not a list",
            o.line, o.name
        ))),
    }
}

/// Booleans as OpenWrt's `config_get_bool` reads them.
fn uci_bool(file: &str, o: &UciOption) -> Result<bool> {
    match single(file, o)? {
        "1" | "on" | "true" | "yes" | "enabled" => Ok(true),
        "0" | "off" | "false" | "no" | "disabled" => Ok(false),
        v => Err(Error::invalid(format!(
            "{file}:{}: invalid boolean '{v}' for option '{}': expected 1/0, on/off, \
             true/false, yes/no or enabled/disabled",
            o.line, o.name
        ))),
    }
}

/// Booleans as fw4's `parse_bool` reads them (no enabled/disabled).
fn fw4_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "on" | "true" | "yes" => Some(true),
        "0" | "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// `/etc/config/nftoffload`. A missing file is the default config (enabled,
/// every zone off) plus a warning.
pub fn load_offload(path: &Path) -> Result<(OffloadConfig, Vec<String>)> {
    match read_config(path)? {
        Some(bytes) => offload_from_bytes(&path.display().to_string(), &bytes),
        None => Ok((
            OffloadConfig::default(),
            vec![format!("{}: not found; every zone is off", path.display())],
        )),
    }
}

fn offload_from_bytes(file: &str, bytes: &[u8]) -> Result<(OffloadConfig, Vec<String>)> {
    let sections = uci::parse(file, bytes)?;
    let mut cfg = OffloadConfig::default();
    let mut warnings = Vec::new();
    let mut globals_line: Option<usize> = None;
    // zone name -> line of its section
    let mut zone_lines: Vec<usize> = Vec::new();

    for s in &sections {
        match s.stype.as_str() {
            "globals" => {
                if let Some(first) = globals_line {
                    warnings.push(format!(
                        "{file}:{}: second globals section ignored (the first is at line {first})",
                        s.line
                    ));
                    continue;
                }
                globals_line = Some(s.line);
                for o in &s.options {
                    match o.name.as_str() {
                        "enabled" => cfg.enabled = uci_bool(file, o)?,
                        "hw_check" => cfg.hw_check = uci_bool(file, o)?,
                        other => warnings.push(format!(
                            "{file}:{}: unknown option '{other}' in globals ignored",
                            o.line
                        )),
                    }
                }
            }
            "zone" => {
                let mut name: Option<(&str, usize)> = None;
                let mut mode: Option<(&str, usize)> = None;
                for o in &s.options {
                    match o.name.as_str() {
                        "name" => name = Some((single(file, o)?, o.line)),
                        "mode" => mode = Some((single(file, o)?, o.line)),
                        other => warnings.push(format!(
                            "{file}:{}: unknown option '{other}' in zone section ignored",
                            o.line
                        )),
                    }
                }
                let Some((name, name_line)) = name else {
                    return Err(Error::invalid(format!(
                        "{file}:{}: zone section without option 'name'",
                        s.line
                    )));
                };
                if !valid_zone_name(name) {
                    return Err(Error::invalid(format!(
                        "{file}:{name_line}: invalid zone name '{name}': \
                         expected a letter, '_' or '.' then letters, digits, '/', '_', '.' or '-'"
                    )));
                }
                let Some((mode, mode_line)) = mode else {
                    return Err(Error::invalid(format!(
                        "{file}:{}: zone '{name}' has no option 'mode'",
                        s.line
                    )));
                };
                let mode: Mode = mode
                    .parse()
                    .map_err(|e| Error::invalid(format!("{file}:{mode_line}: {e}")))?;
                if let Some(i) = cfg.zones.iter().position(|z| z.name == name) {
                    return Err(Error::invalid(format!(
                        "{file}:{}: duplicate zone '{name}' (also at line {})",
                        s.line,
                        zone_lines.get(i).copied().unwrap_or(0)
                    )));
                }
                cfg.zones.push(ZoneMode {
                    name: name.to_string(),
                    mode,
                });
                zone_lines.push(s.line);
            }
            other => warnings.push(format!(
                "{file}:{}: unknown section type '{other}' ignored",
                s.line
            )),
        }
    }
    Ok((cfg, warnings))
}

/// What we need from `/etc/config/firewall`, read as fw4 reads it: zones
/// that fw4 would skip (disabled, no or bad name) are skipped with a
/// warning; `network`/`device` may be lists or space-separated options;
/// negated entries (`!wan`) are not members and are left out; only the
/// first `defaults` section counts. A missing file gives no zones and a
/// warning. Device entries are kept as written, so they may be fw4
/// wildcards (`wg+`).
pub fn load_firewall(path: &Path) -> Result<(FirewallConfig, Vec<String>)> {
    match read_config(path)? {
        Some(bytes) => firewall_from_bytes(&path.display().to_string(), &bytes),
        None => Ok((
            FirewallConfig::default(),
            vec![format!("{}: not found; no firewall zones", path.display())],
        )),
    }
}

fn firewall_from_bytes(file: &str, bytes: &[u8]) -> Result<(FirewallConfig, Vec<String>)> {
    let sections = uci::parse(file, bytes)?;
    let mut cfg = FirewallConfig::default();
    let mut warnings = Vec::new();
    let mut defaults_line: Option<usize> = None;

    for s in &sections {
        match s.stype.as_str() {
            "defaults" => {
                if let Some(first) = defaults_line {
                    warnings.push(format!(
                        "{file}:{}: second defaults section ignored, as fw4 does (the first is at line {first})",
                        s.line
                    ));
                    continue;
                }
                defaults_line = Some(s.line);
                for (opt, slot) in [
                    ("flow_offloading", &mut cfg.defaults.flow_offloading),
                    ("flow_offloading_hw", &mut cfg.defaults.flow_offloading_hw),
                ] {
                    let Some(o) = s.get(opt) else { continue };
                    let v = match &o.value {
                        Value::Single(v) => fw4_bool(v),
                        Value::List(_) => None,
                    };
                    match v {
                        Some(b) => *slot = b,
                        None => warnings.push(format!(
                            "{file}:{}: option '{opt}' is not a boolean fw4 accepts; taken as off",
                            o.line
                        )),
                    }
                }
            }
            "zone" => {
                if let Some(z) = fw_zone(file, s, &mut warnings) {
                    if cfg.zones.iter().any(|x| x.name == z.name) {
                        warnings.push(format!(
                            "{file}:{}: zone '{}' defined twice; the second is ignored",
                            s.line, z.name
                        ));
                    } else {
                        cfg.zones.push(z);
                    }
                }
            }
            _ => {}
        }
    }
    Ok((cfg, warnings))
}

fn fw_zone(file: &str, s: &uci::Section, warnings: &mut Vec<String>) -> Option<FwZone> {
    let mut skip = |why: String| {
        warnings.push(format!("{file}:{}: zone section {why}; ignored", s.line));
        None
    };
    let name = match s.get("name").map(|o| &o.value) {
        None => return skip("has no name".into()),
        Some(Value::List(_)) => return skip("has a list as its name".into()),
        Some(Value::Single(n)) if !valid_zone_name(n) => {
            return skip(format!("has an invalid name '{n}'"))
        }
        Some(Value::Single(n)) => n.clone(),
    };
    match s.get("enabled").map(|o| &o.value) {
        None => {}
        Some(Value::Single(v)) => match fw4_bool(v) {
            Some(true) => {}
            Some(false) => return skip(format!("'{name}' is disabled")),
            None => return skip(format!("'{name}' has an invalid 'enabled' value '{v}'")),
        },
        Some(Value::List(_)) => return skip(format!("'{name}' has a list as 'enabled'")),
    }
    let mut zone = FwZone {
        name,
        ..FwZone::default()
    };
    for (opt, out) in [
        ("network", &mut zone.networks),
        ("device", &mut zone.devices),
    ] {
        let Some(o) = s.get(opt) else { continue };
        // fw4's to_array(): a list is taken item by item, a single value is
        // split on blanks.
        let items: Vec<&str> = match &o.value {
            Value::Single(v) => v.split_whitespace().collect(),
            Value::List(l) => l.iter().map(|i| i.trim()).collect(),
        };
        for item in items {
            if item.is_empty() {
                continue;
            }
            if item.starts_with('!') {
                warnings.push(format!(
                    "{file}:{}: zone '{}': negated {opt} '{item}' is not a member; ignored",
                    o.line, zone.name
                ));
                continue;
            }
            if opt == "device" && item == "*" {
                warnings.push(format!(
                    "{file}:{}: zone '{}': device '*' ignored (fw4 ignores it too)",
                    o.line, zone.name
                ));
                continue;
            }
            if !out.iter().any(|x| x == item) {
                out.push(item.to_string());
            }
        }
    }
    Some(zone)
}

/// Both files from a UCI directory (normally `/etc/config`).
pub fn load(dir: &Path) -> Result<(OffloadConfig, FirewallConfig, Vec<String>)> {
    let (offload, mut warnings) = load_offload(&dir.join(OFFLOAD_FILE))?;
    let (firewall, w) = load_firewall(&dir.join(FIREWALL_FILE))?;
    warnings.extend(w);
    Ok((offload, firewall, warnings))
}

// ---------------------------------------------------------------------
// Writing.

/// What a new `/etc/config/nftoffload` starts with.
const NEW_OFFLOAD_FILE: &str =
    "config globals 'globals'\n\toption enabled '1'\n\toption hw_check '1'\n";

/// Persist one zone's mode in `DIR/nftoffload`, changing only that zone's
/// `mode` line (or adding the zone's section). The file is replaced
/// atomically (temporary file, fsync, rename) under the same `flock` that
/// libuci takes, and keeps its permissions. Does not check that the zone
/// exists in the firewall: the caller does.
pub fn set_zone_mode(dir: &Path, zone: &str, mode: Mode) -> Result<()> {
    if !valid_zone_name(zone) {
        return Err(Error::invalid(format!("invalid zone name '{zone}'")));
    }
    let path = dir.join(OFFLOAD_FILE);
    let file = path.display().to_string();
    let ctx = || format!("writing {file}");

    let (locked, old) = lock_config(&path).with_context(ctx)?;
    let base = if old.is_empty() {
        NEW_OFFLOAD_FILE
    } else {
        std::str::from_utf8(&old).map_err(|_| {
            // parse() gives the line of the bad byte.
            match uci::parse(&file, &old) {
                Err(e) => Error::from(e),
                Ok(_) => Error::invalid(format!("{file}: invalid UTF-8")),
            }
        })?
    };
    let new =
        uci::set_option(base, "zone", ("name", zone), "mode", mode.as_str()).map_err(|mut e| {
            e.file = file.clone();
            Error::from(e)
        })?;
    // Never write what we could not read back.
    let (cfg, _) = offload_from_bytes(&file, new.as_bytes())
        .map_err(|e| e.context(format!("not writing {file}")))?;
    if cfg.mode_of(zone) != mode {
        return Err(Error::failed(format!(
            "not writing {file}: the rewritten file does not read back as {zone} = {mode}"
        )));
    }

    let perm = std::os::unix::fs::PermissionsExt::mode(
        &locked.metadata().with_context(ctx)?.permissions(),
    ) & 0o7777;
    write_atomic(dir, &path, new.as_bytes(), perm).with_context(ctx)?;
    // Unlock only now: a waiter then sees the new inode and retries on it.
    drop(locked);
    Ok(())
}

/// Open (creating if needed, mode 0644) and `flock` the config file, and
/// read it. If someone renamed a new file over the path while we waited
/// for the lock, retry on the new file, so no update is lost.
fn lock_config(path: &Path) -> std::io::Result<(std::fs::File, Vec<u8>)> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    for _ in 0..100 {
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)?;
        // SAFETY: flock on a valid, owned file descriptor.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let held = f.metadata()?;
        match std::fs::metadata(path) {
            Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                let mut buf = Vec::new();
                f.read_to_end(&mut buf)?;
                return Ok((f, buf));
            }
            _ => continue, // replaced or removed meanwhile: lock the new one
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::WouldBlock,
        "the file keeps being replaced; giving up",
    ))
}

fn write_atomic(dir: &Path, path: &Path, bytes: &[u8], perm: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tmp = dir.join(format!(".{OFFLOAD_FILE}.tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(perm)
            .open(&tmp)?;
        // open()'s mode is filtered by the umask; set it exactly.
        f.set_permissions(std::fs::Permissions::from_mode(perm))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    /// A scratch directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> Self {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "nftoffload-cfg-{tag}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn write(&self, name: &str, text: &str) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, text).unwrap();
            p
        }
        fn read(&self, name: &str) -> String {
            std::fs::read_to_string(self.0.join(name)).unwrap()
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn offload(text: &str) -> Result<(OffloadConfig, Vec<String>)> {
        offload_from_bytes("/etc/config/nftoffload", text.as_bytes())
    }

    fn offload_err(text: &str) -> String {
        match offload(text) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => {
                assert_eq!(e.kind(), crate::error::Kind::Invalid);
                e.to_string()
            }
        }
    }

    const OFFLOAD: &str = "\
config globals 'globals'
\toption enabled '1'
\toption hw_check '0'

config zone
\toption name 'lan'
\toption mode 'hardware'

config zone 'guest'
\toption name 'guest'
\toption mode 'software'

config zone
\toption name 'wan'
\toption mode 'off'
";

    #[test]
    fn offload_typical_file() {
        let (c, w) = offload(OFFLOAD).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert!(c.enabled);
        assert!(!c.hw_check);
        assert_eq!(c.mode_of("lan"), Mode::Hardware);
        assert_eq!(c.mode_of("guest"), Mode::Software);
        assert_eq!(c.mode_of("wan"), Mode::Off);
        assert_eq!(c.mode_of("dmz"), Mode::Off);
        let names: Vec<&str> = c.zones.iter().map(|z| z.name.as_str()).collect();
        assert_eq!(names, ["lan", "guest", "wan"]);
    }

    #[test]
    fn offload_defaults_and_booleans() {
        let (c, _) = offload("").unwrap();
        assert_eq!(c, OffloadConfig::default());
        assert!(c.enabled && c.hw_check && c.zones.is_empty());
        for (v, want) in [
            ("1", true),
            ("on", true),
            ("true", true),
            ("yes", true),
            ("enabled", true),
            ("0", false),
            ("off", false),
            ("false", false),
            ("no", false),
            ("disabled", false),
        ] {
            let (c, _) = offload(&format!("config globals\n\toption enabled '{v}'\n")).unwrap();
            assert_eq!(c.enabled, want, "{v}");
        }
        let e = offload_err("config globals\n\n\toption hw_check 'maybe'\n");
        assert!(
            e.starts_with(
                "/etc/config/nftoffload:3: invalid boolean 'maybe' for option 'hw_check'"
            ),
            "{e}"
        );
    }

    #[test]
    fn offload_errors_name_file_and_line() {
        let e = offload_err("config zone\n\toption name lan\n\toption mode turbo\n");
        assert_eq!(
            e,
            "/etc/config/nftoffload:3: invalid mode 'turbo': expected off, software or hardware"
        );
        let e = offload_err("config zone\n\toption mode off\n");
        assert_eq!(
            e,
            "/etc/config/nftoffload:1: zone section without option 'name'"
        );
        let e = offload_err("\nconfig zone\n\toption name lan\n");
        assert_eq!(
            e,
            "/etc/config/nftoffload:2: zone 'lan' has no option 'mode'"
        );
        let e = offload_err("config zone\n\toption name 'la n'\n\toption mode off\n");
        assert!(
            e.starts_with("/etc/config/nftoffload:2: invalid zone name 'la n'"),
            "{e}"
        );
        let e = offload_err("config zone\n\tlist name lan\n\toption mode off\n");
        assert!(
            e.starts_with("/etc/config/nftoffload:2: option 'name' must be a single value"),
            "{e}"
        );
        // Syntax errors come through with file and line too.
        let e = offload_err("config zone\n\toption name 'lan\n");
        assert!(
            e.starts_with("/etc/config/nftoffload:2: unterminated"),
            "{e}"
        );
    }

    #[test]
    fn offload_duplicate_zone_names_both_lines() {
        let e = offload_err(&format!(
            "{OFFLOAD}\nconfig zone\n\toption name 'lan'\n\toption mode 'off'\n"
        ));
        assert_eq!(
            e,
            "/etc/config/nftoffload:17: duplicate zone 'lan' (also at line 5)"
        );
    }

    #[test]
    fn offload_unknown_things_are_warnings() {
        let (c, w) = offload(
            "config globals\n\toption debug 1\nconfig zone\n\toption name lan\n\toption mode software\n\toption colour blue\nconfig tweak\n\toption x 1\nconfig globals\n\toption enabled 0\n",
        )
        .unwrap();
        assert_eq!(c.mode_of("lan"), Mode::Software);
        assert!(c.enabled, "a second globals section must not count");
        assert_eq!(
            w,
            [
                "/etc/config/nftoffload:2: unknown option 'debug' in globals ignored",
                "/etc/config/nftoffload:6: unknown option 'colour' in zone section ignored",
                "/etc/config/nftoffload:7: unknown section type 'tweak' ignored",
                "/etc/config/nftoffload:9: second globals section ignored (the first is at line 1)",
            ]
        );
    }

    #[test]
    fn offload_missing_file_is_default_with_warning() {
        let d = TempDir::new("missing");
        let (c, w) = load_offload(&d.0.join("nftoffload")).unwrap();
        assert_eq!(c, OffloadConfig::default());
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("not found"), "{w:?}");
    }

    /// /etc/config/firewall as OpenWrt 23.05 ships it, plus the zone forms
    /// users write by hand.
    const FIREWALL: &str = "\
config defaults
\toption syn_flood\t1
\toption input\t\tREJECT
\toption output\t\tACCEPT
\toption forward\t\tREJECT
\toption flow_offloading\t1
\toption flow_offloading_hw\t'0'

config zone
\toption name\t\tlan
\tlist   network\t\t'lan'
\toption input\t\tACCEPT
\toption output\t\tACCEPT
\toption forward\t\tACCEPT

config zone
\toption name\t\twan
\toption network\t\t'wan wan6'
\toption input\t\tREJECT
\toption output\t\tACCEPT
\toption forward\t\tREJECT
\toption masq\t\t1
\toption mtu_fix\t\t1

config zone 'vpn'
\toption name 'vpn'
\tlist device 'wg0'
\tlist device 'tun+'
\tlist device '!tun9'
\tlist network 'a b'

config zone
\toption name 'old'
\toption enabled '0'
\toption network 'old'

config zone
\toption network 'nameless'

config zone
\toption name 'lan'
\toption network 'again'

config forwarding
\toption src\t\tlan
\toption dest\t\twan

config rule
\toption name\t\tAllow-DHCP-Renew
\toption src\t\twan
\toption proto\t\tudp
\toption dest_port\t68
\toption target\t\tACCEPT
\toption family\t\tipv4

config defaults
\toption flow_offloading_hw 1
";

    fn firewall(text: &str) -> (FirewallConfig, Vec<String>) {
        firewall_from_bytes("/etc/config/firewall", text.as_bytes()).unwrap()
    }

    #[test]
    fn firewall_zones_as_fw4_reads_them() {
        let (c, w) = firewall(FIREWALL);
        let names: Vec<&str> = c.zones.iter().map(|z| z.name.as_str()).collect();
        assert_eq!(names, ["lan", "wan", "vpn"]);
        assert_eq!(c.zones[0].networks, ["lan"]);
        assert!(c.zones[0].devices.is_empty());
        // fw4 splits a plain option on blanks...
        assert_eq!(c.zones[1].networks, ["wan", "wan6"]);
        // ...but takes list items whole.
        assert_eq!(c.zones[2].networks, ["a b"]);
        assert_eq!(c.zones[2].devices, ["wg0", "tun+"]);
        assert_eq!(
            c.defaults,
            Fw4Defaults {
                flow_offloading: true,
                flow_offloading_hw: false
            }
        );
        let joined = w.join("\n");
        for want in [
            "/etc/config/firewall:27: zone 'vpn': negated device '!tun9' is not a member; ignored",
            "/etc/config/firewall:32: zone section 'old' is disabled; ignored",
            "/etc/config/firewall:37: zone section has no name; ignored",
            "/etc/config/firewall:40: zone 'lan' defined twice; the second is ignored",
            "/etc/config/firewall:56: second defaults section ignored",
        ] {
            assert!(joined.contains(want), "missing {want:?} in\n{joined}");
        }
        // Forwardings and rules are normal: no warnings about them.
        assert_eq!(w.len(), 5, "{joined}");
    }

    #[test]
    fn firewall_odd_values() {
        let (c, w) = firewall(
            "config defaults\n\toption flow_offloading enabled\nconfig zone\n\toption name 'x'\n\toption enabled 'maybe'\nconfig zone\n\toption name '1bad'\n",
        );
        assert!(c.zones.is_empty());
        assert!(!c.defaults.flow_offloading);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].starts_with("/etc/config/firewall:2: option 'flow_offloading'"),
            "{w:?}"
        );
        let (c, _) = firewall("config zone\n\toption name lan\n\toption device ' eth0   eth1 '\n");
        assert_eq!(c.zones[0].devices, ["eth0", "eth1"]);
    }

    #[test]
    fn zone_name_rule_matches_fw4() {
        for ok in ["lan", "wan6", "_x", ".x", "a/b-c.d_e", "L"] {
            assert!(valid_zone_name(ok), "{ok}");
        }
        for bad in ["", "1lan", "-x", "la n", "lan!", "zöne", "a'b"] {
            assert!(!valid_zone_name(bad), "{bad}");
        }
    }

    #[test]
    fn load_reads_both_files() {
        let d = TempDir::new("load");
        d.write("nftoffload", OFFLOAD);
        d.write("firewall", FIREWALL);
        let (o, f, w) = load(&d.0).unwrap();
        assert_eq!(o.mode_of("lan"), Mode::Hardware);
        assert_eq!(f.zones.len(), 3);
        assert_eq!(w.len(), 5);
        assert!(
            w[0].starts_with(&format!("{}/firewall:", d.0.display())),
            "{w:?}"
        );
        // A syntax error in either file is an error naming it.
        d.write("firewall", "config zone\n\toption name 'lan\n");
        let e = load(&d.0).unwrap_err();
        assert_eq!(e.kind(), crate::error::Kind::Invalid);
        assert!(
            e.to_string()
                .starts_with(&format!("{}/firewall:2:", d.0.display())),
            "{e}"
        );
    }

    #[test]
    fn set_zone_mode_changes_one_line() {
        let d = TempDir::new("set");
        let text = format!("# managed by LuCI\n{OFFLOAD}# end\n");
        let p = d.write("nftoffload", &text);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        set_zone_mode(&d.0, "guest", Mode::Hardware).unwrap();
        let out = d.read("nftoffload");
        assert_eq!(
            out,
            text.replace(
                "\toption name 'guest'\n\toption mode 'software'",
                "\toption name 'guest'\n\toption mode 'hardware'"
            )
        );
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        // A zone without a section gets one at the end.
        set_zone_mode(&d.0, "dmz", Mode::Software).unwrap();
        let (c, w) = load_offload(&p).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.mode_of("dmz"), Mode::Software);
        assert_eq!(c.mode_of("guest"), Mode::Hardware);
        assert!(d
            .read("nftoffload")
            .ends_with("# end\n\nconfig zone\n\toption name 'dmz'\n\toption mode 'software'\n"));
        // No temporary file is left behind.
        let names: Vec<String> = std::fs::read_dir(&d.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["nftoffload"]);
    }

    #[test]
    fn set_zone_mode_creates_the_file() {
        let d = TempDir::new("create");
        set_zone_mode(&d.0, "lan", Mode::Software).unwrap();
        let (c, w) = load_offload(&d.0.join("nftoffload")).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert!(c.enabled && c.hw_check);
        assert_eq!(
            c.zones,
            [ZoneMode {
                name: "lan".into(),
                mode: Mode::Software
            }]
        );
        assert!(d
            .read("nftoffload")
            .starts_with("config globals 'globals'\n"));
    }

    #[test]
    fn set_zone_mode_refuses_and_leaves_the_file_alone() {
        let d = TempDir::new("refuse");
        let broken = "config zone\n\toption name 'lan'\n\toption mode 'off\n";
        d.write("nftoffload", broken);
        let e = set_zone_mode(&d.0, "lan", Mode::Software).unwrap_err();
        assert_eq!(e.kind(), crate::error::Kind::Invalid);
        assert!(
            e.to_string()
                .contains(&format!("{}/nftoffload:3:", d.0.display())),
            "{e}"
        );
        assert_eq!(d.read("nftoffload"), broken);

        // A semantic error elsewhere in the file also stops the write.
        let dup = "config zone\n\toption name 'a'\n\toption mode 'off'\nconfig zone\n\toption name 'a'\n\toption mode 'off'\n";
        d.write("nftoffload", dup);
        let e = set_zone_mode(&d.0, "b", Mode::Software).unwrap_err();
        assert!(e.to_string().contains("duplicate zone 'a'"), "{e}");
        assert_eq!(d.read("nftoffload"), dup);

        // But a bad mode on the zone being set is what `set` repairs.
        d.write(
            "nftoffload",
            "config zone\n\toption name 'a'\n\toption mode 'turbo'\n",
        );
        set_zone_mode(&d.0, "a", Mode::Off).unwrap();
        assert_eq!(
            load_offload(&d.0.join("nftoffload"))
                .unwrap()
                .0
                .mode_of("a"),
            Mode::Off
        );

        let e = set_zone_mode(&d.0, "bad name", Mode::Off).unwrap_err();
        assert_eq!(e.kind(), crate::error::Kind::Invalid);
        let e = set_zone_mode(&d.0.join("nope"), "lan", Mode::Off).unwrap_err();
        assert_eq!(e.kind(), crate::error::Kind::NotFound);
        assert!(e.to_string().contains("nope/nftoffload"), "{e}");
    }

    #[test]
    fn concurrent_writers_lose_no_update() {
        let d = TempDir::new("race");
        d.write("nftoffload", NEW_OFFLOAD_FILE);
        let dir = d.0.clone();
        let modes = [Mode::Software, Mode::Hardware, Mode::Off];
        let handles: Vec<_> = (0..3)
            .map(|t| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    for i in 0..15 {
                        set_zone_mode(&dir, &format!("z{t}"), modes[(i + t) % 3]).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let (c, _) = load_offload(&dir.join("nftoffload")).unwrap();
        for t in 0..3 {
            assert_eq!(
                c.mode_of(&format!("z{t}")),
                modes[(14 + t) % 3],
                "zone z{t}"
            );
        }
        assert_eq!(c.zones.len(), 3);
    }
}
