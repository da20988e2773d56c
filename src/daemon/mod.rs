//! The daemon event loop (to be written).
