//! ubus plumbing for the daemon and the CLI, on ubus-zero's low-level
//! client: [`Server`] registers one object with a typed signature (so
//! `ubus -v list` shows argument names and types), answers calls with real
//! ubus status codes, sends notifications, and hands its socket to the
//! daemon's poll loop (no timers, no idle wakeups). [`call`] is the CLI's
//! one-shot client; [`Watcher`] collects notifications or events. `args`
//! holds the pure argument checks. Nothing here reconnects on its own:
//! [`Server::connect`] is cheap and the daemon repeats it when
//! [`Server::process`] reports the broker gone.
//!
//! The daemon's loop, in outline:
//! ```text
//! let mut srv = Server::connect(sock, "nftoffload", NFTOFFLOAD_METHODS)?;
//! srv.listen("network.interface")?;          // again after each reconnect
//! loop {
//!     poll([srv.fd() POLLIN, netlink, signalfd], if srv.pending() { 0 } else { -1 });
//!     if let Err(e) = srv.process(&mut |method, args| ...) {
//!         // ubusd gone: log, retry Server::connect with a backoff timer
//!     }
//!     for ev in srv.take_events() { /* netifd ifup/ifdown */ }
//!     srv.notify("state", &json!({...}))?;   // on effective-state change
//! }
//! ```
//! Handlers get arguments already checked against the signature (unknown
//! fields, types, string length) and use `args::require_str` & co. for
//! typed values; their `Err((status, msg))` becomes the ubus status, the
//! message goes to the debug log (ubus carries no error text).

// The daemon and CLI (owned by the lead) are the users of most of this API;
// until they are wired in, parts of it are only reached from tests.

pub mod args;
mod client;
mod server;
mod transport;

#[cfg(test)]
mod live_tests;

pub use client::{call, CallError, Watcher};
pub use server::{Event, Server};

use crate::error::{Error, Kind};
use std::fmt;

/// Where OpenWrt's ubusd listens.
pub const DEFAULT_SOCKET: &str = "/var/run/ubus/ubus.sock";

/// ubus status codes (libubus `enum ubus_msg_status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    Ok = 0,
    InvalidCommand = 1,
    InvalidArgument = 2,
    MethodNotFound = 3,
    NotFound = 4,
    NoData = 5,
    PermissionDenied = 6,
    Timeout = 7,
    NotSupported = 8,
    UnknownError = 9,
    ConnectionFailed = 10,
}

impl Status {
    const ALL: [Status; 11] = [
        Status::Ok,
        Status::InvalidCommand,
        Status::InvalidArgument,
        Status::MethodNotFound,
        Status::NotFound,
        Status::NoData,
        Status::PermissionDenied,
        Status::Timeout,
        Status::NotSupported,
        Status::UnknownError,
        Status::ConnectionFailed,
    ];

    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<Status> {
        Self::ALL.iter().copied().find(|s| s.code() == code)
    }

    /// The libubus constant's name without its `UBUS_STATUS_` prefix.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::InvalidCommand => "INVALID_COMMAND",
            Status::InvalidArgument => "INVALID_ARGUMENT",
            Status::MethodNotFound => "METHOD_NOT_FOUND",
            Status::NotFound => "NOT_FOUND",
            Status::NoData => "NO_DATA",
            Status::PermissionDenied => "PERMISSION_DENIED",
            Status::Timeout => "TIMEOUT",
            Status::NotSupported => "NOT_SUPPORTED",
            Status::UnknownError => "UNKNOWN_ERROR",
            Status::ConnectionFailed => "CONNECTION_FAILED",
        }
    }

    /// The text `ubus_strerror()` gives, which is what `ubus call` prints.
    pub fn describe(self) -> &'static str {
        match self {
            Status::Ok => "Success",
            Status::InvalidCommand => "Invalid command",
            Status::InvalidArgument => "Invalid argument",
            Status::MethodNotFound => "Method not found",
            Status::NotFound => "Not found",
            Status::NoData => "No response",
            Status::PermissionDenied => "Permission denied",
            Status::Timeout => "Request timed out",
            Status::NotSupported => "Operation not supported",
            Status::UnknownError => "Unknown error",
            Status::ConnectionFailed => "Connection failed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} {})", self.describe(), self.code(), self.name())
    }
}

impl From<&Error> for Status {
    fn from(e: &Error) -> Status {
        match e.kind() {
            Kind::Invalid => Status::InvalidArgument,
            Kind::NotFound => Status::NotFound,
            Kind::Unsupported => Status::NotSupported,
            Kind::Failed => Status::UnknownError,
        }
    }
}

/// Type of a method argument, as declared in the object's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    String,
    Int32,
    Bool,
    Table,
    Array,
}

impl ArgType {
    /// libubox `BLOBMSG_TYPE_*`, the value a signature carries.
    pub fn blobmsg_type(self) -> i32 {
        match self {
            ArgType::Array => 1,
            ArgType::Table => 2,
            ArgType::String => 3,
            ArgType::Int32 => 5,
            ArgType::Bool => 7,
        }
    }
}

/// One method of an object: its name and its (all optional, as in a
/// blobmsg policy) arguments. Fields not listed are rejected.
#[derive(Clone, Copy, Debug)]
pub struct MethodSig {
    pub name: &'static str,
    pub args: &'static [(&'static str, ArgType)],
}

/// The `nftoffload` object's methods, as documented in docs/ubus-api.md.
pub const NFTOFFLOAD_METHODS: &[MethodSig] = &[
    MethodSig {
        name: "status",
        args: &[],
    },
    MethodSig {
        name: "set",
        args: &[("zone", ArgType::String), ("mode", ArgType::String)],
    },
    MethodSig {
        name: "reload",
        args: &[],
    },
    MethodSig {
        name: "flows",
        args: &[("limit", ArgType::Int32)],
    },
];

/// Turn a ubus-zero error into ours, with what we were doing.
pub(crate) fn ubus_error(e: ubus::UbusError) -> Error {
    match e {
        ubus::UbusError::Status(code) => match Status::from_code(code) {
            Some(s) => Error::failed(format!("ubus status {s}")),
            None => Error::failed(format!("ubus status {code}")),
        },
        ubus::UbusError::Closed => Error::failed("ubus connection closed (is ubusd running?)"),
        e => Error::failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_round_trip_and_match_libubus() {
        for s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
        }
        assert_eq!(Status::InvalidArgument.code(), 2);
        assert_eq!(Status::NotFound.code(), 4);
        assert_eq!(Status::NotSupported.code(), 8);
        assert_eq!(Status::from_code(11), None);
        assert_eq!(
            Status::NotFound.to_string(),
            "Not found (4 NOT_FOUND)".to_string()
        );
    }

    #[test]
    fn error_kinds_map_to_the_documented_statuses() {
        assert_eq!(Status::from(&Error::invalid("x")), Status::InvalidArgument);
        assert_eq!(Status::from(&Error::not_found("x")), Status::NotFound);
        assert_eq!(Status::from(&Error::unsupported("x")), Status::NotSupported);
        assert_eq!(Status::from(&Error::failed("x")), Status::UnknownError);
    }
}
