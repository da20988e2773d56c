//! Configuration: what the user asked for. This module owns reading
//! `/etc/config/nftoffload` (the per-zone modes) and the parts of
//! `/etc/config/firewall` we depend on (zones, their networks and devices,
//! and fw4's global offload switch), and writing a zone's mode back without
//! losing the file's other sections or comments. It knows nothing about the
//! kernel; every error names the file and line.

pub mod uci;

use std::fmt;
use std::str::FromStr;

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
