//! nf_tables over netlink: the objects we need (tables, flowtables, chains,
//! sets, rules and their expressions), encoded into atomic batches and
//! decoded from dumps.
