//! Kernel support probe: can this kernel hold a flowtable? Answers with the
//! missing modules and the OpenWrt package that provides them, never a raw
//! errno.
