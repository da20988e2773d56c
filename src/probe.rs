//! Kernel support probe: can this kernel hold a flowtable, and does it have
//! conntrack labels? The test that works is to create a flowtable with no
//! devices in a throwaway table: ENOENT then means the flowtable modules
//! are missing (a missing device cannot be the cause, there is none). The
//! answer names the missing modules (from `/sys/module`) and the OpenWrt
//! package that carries them, never a raw errno.

use crate::status::{KernelSupport, KMOD_PACKAGE};
use std::path::Path;

/// The modules `kmod-nft-offload` and its dependency `kmod-nf-flow` carry.
pub const FLOW_MODULES: [&str; 3] = ["nf_flow_table", "nf_flow_table_inet", "nft_flow_offload"];

/// The name of the throwaway table the probe creates and deletes.
pub const PROBE_TABLE: &str = "nftoffload_probe";

/// What the kernel said to the probe batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeResult {
    Ok,
    /// The kernel refused with this errno and message.
    Refused {
        errno: i32,
        message: String,
    },
}

/// Modules from `FLOW_MODULES` that are not loaded (nor built in: a
/// built-in module with parameters or a version also has a `/sys/module`
/// entry; one without any cannot be seen, so this list is only used to
/// explain a failed probe, never to decide support).
pub fn missing_modules(sys_module: &Path) -> Vec<String> {
    FLOW_MODULES
        .iter()
        .filter(|m| !sys_module.join(m).exists())
        .map(|m| m.to_string())
        .collect()
}

/// Turn the probe results into the status block.
pub fn interpret(
    flowtable: &ProbeResult,
    labels: &ProbeResult,
    missing: Vec<String>,
) -> KernelSupport {
    match flowtable {
        ProbeResult::Ok => KernelSupport {
            supported: true,
            missing_modules: Vec::new(),
            message: String::new(),
            labels: *labels == ProbeResult::Ok,
        },
        ProbeResult::Refused { errno, message } => {
            let missing = if missing.is_empty() {
                FLOW_MODULES.iter().map(|m| m.to_string()).collect()
            } else {
                missing
            };
            let text = if *errno == libc::ENOENT || *errno == libc::EOPNOTSUPP {
                format!(
                    "this kernel has no nftables flowtable support (missing modules: {}); \
                     install the OpenWrt package {KMOD_PACKAGE} ('opkg install {KMOD_PACKAGE}' \
                     or 'apk add {KMOD_PACKAGE}')",
                    missing.join(", ")
                )
            } else {
                format!("the kernel refused a test flowtable: {message}")
            };
            KernelSupport {
                supported: false,
                missing_modules: missing,
                message: text,
                labels: false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(errno: i32) -> ProbeResult {
        ProbeResult::Refused {
            errno,
            message: "No such file or directory (ENOENT)".into(),
        }
    }

    #[test]
    fn enoent_names_the_modules_and_the_package() {
        let k = interpret(
            &refused(libc::ENOENT),
            &refused(libc::ENOENT),
            vec!["nft_flow_offload".into()],
        );
        assert!(!k.supported);
        assert_eq!(k.missing_modules, vec!["nft_flow_offload"]);
        assert!(k.message.contains("kmod-nft-offload"), "{}", k.message);
        assert!(k.message.contains("nft_flow_offload"), "{}", k.message);
        assert!(!k.message.contains("errno"), "no raw errno: {}", k.message);
    }

    #[test]
    fn unknown_module_state_lists_all_flow_modules() {
        let k = interpret(&refused(libc::ENOENT), &ProbeResult::Ok, vec![]);
        assert_eq!(k.missing_modules.len(), 3);
    }

    #[test]
    fn other_refusals_keep_the_kernel_message() {
        let k = interpret(&refused(libc::EPERM), &ProbeResult::Ok, vec![]);
        assert!(k.message.contains("refused"), "{}", k.message);
    }

    #[test]
    fn supported_kernel_reports_labels_separately() {
        let k = interpret(&ProbeResult::Ok, &refused(libc::EOPNOTSUPP), vec![]);
        assert!(k.supported && !k.labels && k.message.is_empty());
        assert!(interpret(&ProbeResult::Ok, &ProbeResult::Ok, vec![]).labels);
    }

    #[test]
    fn missing_modules_reads_a_sys_module_tree() {
        // A test double of /sys/module with one module present.
        let dir = std::env::temp_dir().join(format!("nftoffload-probe-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("nf_flow_table")).unwrap();
        let m = missing_modules(&dir);
        assert_eq!(m, vec!["nf_flow_table_inet", "nft_flow_offload"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
