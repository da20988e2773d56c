//! The daemon: one thread, one poll loop (see `run`).

pub mod sys;
