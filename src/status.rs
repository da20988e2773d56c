//! Status assembly (to be written).
