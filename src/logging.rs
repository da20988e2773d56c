//! Logging backend: syslog under procd, stderr interactively (to be written).
