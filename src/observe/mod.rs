//! Observation: what the kernel really does. Conntrack offload bits over
//! ctnetlink, device features over ethtool, and our flowtables read back.
