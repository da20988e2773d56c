//! Errors with context. One small type instead of a crate: a message chain
//! ("applying zone lan: adding flowtable ft: No such file or directory") is
//! all a router owner reads, and it keeps the binary small. `Kind` lets
//! callers map an error to a ubus status or an exit code without string
//! matching.

use std::fmt;

/// Broad class of an error, for ubus status codes and CLI exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The user's input or config is wrong (ubus INVALID_ARGUMENT).
    Invalid,
    /// A named thing does not exist (ubus NOT_FOUND).
    NotFound,
    /// The kernel lacks a feature (ubus NOT_SUPPORTED).
    Unsupported,
    /// Anything else: the kernel refused, I/O failed (ubus UNKNOWN_ERROR).
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: Kind,
    msg: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, msg: impl Into<String>) -> Self {
        Error {
            kind,
            msg: msg.into(),
        }
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, msg)
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::new(Kind::NotFound, msg)
    }
    pub fn unsupported(msg: impl Into<String>) -> Self {
        Self::new(Kind::Unsupported, msg)
    }
    pub fn failed(msg: impl Into<String>) -> Self {
        Self::new(Kind::Failed, msg)
    }
    pub fn kind(&self) -> Kind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.msg
    }
    /// Prefix the message with what we were doing.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.msg = format!("{what}: {}", self.msg);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => Kind::NotFound,
            _ => Kind::Failed,
        };
        Error::new(kind, e.to_string())
    }
}

/// `.context()` on any `Result` whose error converts into ours.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(what))
    }
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| e.into().context(what()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_chains_messages_and_keeps_kind() {
        let r: Result<()> = Err(Error::not_found("no zone 'dmz'"));
        let e = r.context("set dmz software").unwrap_err();
        assert_eq!(e.to_string(), "set dmz software: no zone 'dmz'");
        assert_eq!(e.kind(), Kind::NotFound);
    }

    #[test]
    fn io_not_found_maps_to_not_found() {
        let e: Error = std::io::Error::from(std::io::ErrorKind::NotFound).into();
        assert_eq!(e.kind(), Kind::NotFound);
    }
}
