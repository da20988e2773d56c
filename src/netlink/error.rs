//! Netlink errors: what the kernel said (errno + extended ack), what the
//! socket said, and a receive-buffer overrun. The errno is always kept so
//! callers can tell ENOENT from EOPNOTSUPP from EEXIST without parsing text.

use std::fmt;

/// An error reply (`NLMSG_ERROR` with a negative code) from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// Positive errno (e.g. `libc::ENOENT`).
    pub errno: i32,
    /// Sequence number of the request that failed.
    pub seq: u32,
    /// Extended ack text (`NLMSGERR_ATTR_MSG`), if the kernel gave one.
    pub extack: Option<String>,
    /// Byte offset of the offending attribute in the request (`NLMSGERR_ATTR_OFFS`).
    pub offset: Option<u32>,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&errno_text(self.errno))?;
        if let Some(m) = &self.extack {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong talking netlink.
#[derive(Debug)]
pub enum Error {
    /// The kernel refused a request.
    Kernel(KernelError),
    /// A socket call failed.
    Io(std::io::Error),
    /// The socket receive buffer overflowed (ENOBUFS): messages were lost.
    /// Multicast listeners must resynchronise by dumping the state again.
    Overrun,
    /// A dump was interrupted by a concurrent change (`NLM_F_DUMP_INTR`);
    /// the result may be inconsistent, so the caller should retry.
    DumpInterrupted,
    /// A reply did not parse.
    Malformed(String),
}

impl Error {
    /// The errno behind this error, if there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel(k) => Some(k.errno),
            Error::Io(e) => e.raw_os_error(),
            Error::Overrun => Some(libc::ENOBUFS),
            Error::DumpInterrupted => Some(libc::EINTR),
            Error::Malformed(_) => None,
        }
    }

    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        Error::Malformed(what.into())
    }

    pub(crate) fn last_os() -> Self {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOBUFS) {
            Error::Overrun
        } else {
            Error::Io(e)
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kernel(k) => k.fmt(f),
            Error::Io(e) => match e.raw_os_error() {
                Some(n) => f.write_str(&errno_text(n)),
                None => e.fmt(f),
            },
            Error::Overrun => write!(
                f,
                "netlink receive buffer overrun, events lost ({})",
                errno_text(libc::ENOBUFS)
            ),
            Error::DumpInterrupted => {
                f.write_str("netlink dump interrupted by a concurrent change")
            }
            Error::Malformed(m) => write!(f, "malformed netlink message: {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for crate::error::Error {
    fn from(e: Error) -> Self {
        use crate::error::Kind;
        let kind = match e.errno() {
            Some(libc::ENOENT) | Some(libc::ENODEV) => Kind::NotFound,
            Some(libc::EOPNOTSUPP) | Some(libc::EAFNOSUPPORT) | Some(libc::EPROTONOSUPPORT) => {
                Kind::Unsupported
            }
            _ => Kind::Failed,
        };
        crate::error::Error::new(kind, e.to_string())
    }
}

/// The symbolic name of an errno, for the ones netlink users meet.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    use libc::*;
    Some(match errno {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        ESRCH => "ESRCH",
        EINTR => "EINTR",
        EIO => "EIO",
        ENXIO => "ENXIO",
        E2BIG => "E2BIG",
        EBADF => "EBADF",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        EFAULT => "EFAULT",
        EBUSY => "EBUSY",
        EEXIST => "EEXIST",
        ENODEV => "ENODEV",
        ENOTDIR => "ENOTDIR",
        EINVAL => "EINVAL",
        ENFILE => "ENFILE",
        EMFILE => "EMFILE",
        ENOSPC => "ENOSPC",
        ERANGE => "ERANGE",
        ENAMETOOLONG => "ENAMETOOLONG",
        ENOTEMPTY => "ENOTEMPTY",
        ELOOP => "ELOOP",
        ENODATA => "ENODATA",
        EPROTO => "EPROTO",
        EOVERFLOW => "EOVERFLOW",
        EMSGSIZE => "EMSGSIZE",
        EPROTONOSUPPORT => "EPROTONOSUPPORT",
        EOPNOTSUPP => "EOPNOTSUPP",
        EAFNOSUPPORT => "EAFNOSUPPORT",
        EADDRINUSE => "EADDRINUSE",
        ENETDOWN => "ENETDOWN",
        ENOBUFS => "ENOBUFS",
        ETIMEDOUT => "ETIMEDOUT",
        ECONNREFUSED => "ECONNREFUSED",
        _ => return None,
    })
}

/// "No such file or directory (ENOENT)": the C library's text plus the
/// symbolic name, so both users and bug reports can read it.
pub fn errno_text(errno: i32) -> String {
    let e = std::io::Error::from_raw_os_error(errno).to_string();
    // std formats "<text> (os error N)"; keep only the text.
    let text = match e.rfind(" (os error ") {
        Some(i) => &e[..i],
        None => &e[..],
    };
    match errno_name(errno) {
        Some(n) => format!("{text} ({n})"),
        None => format!("{text} (errno {errno})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    #[test]
    fn errno_text_names_the_errno() {
        assert_eq!(
            errno_text(libc::ENOENT),
            "No such file or directory (ENOENT)"
        );
        // The libc's own words differ (glibc "Operation not supported",
        // musl "Not supported"); the errno name is ours.
        assert!(errno_text(libc::EOPNOTSUPP).ends_with(" (EOPNOTSUPP)"));
        assert!(errno_text(4000).ends_with("(errno 4000)"));
    }

    #[test]
    fn kernel_error_shows_extack_and_maps_kind() {
        let k = KernelError {
            errno: libc::EOPNOTSUPP,
            seq: 3,
            extack: Some("hw offload unsupported".into()),
            offset: None,
        };
        let e = Error::Kernel(k);
        assert!(
            e.to_string()
                .ends_with(" (EOPNOTSUPP): hw offload unsupported"),
            "{e}"
        );
        assert_eq!(e.errno(), Some(libc::EOPNOTSUPP));
        let ce: crate::error::Error = e.into();
        assert_eq!(ce.kind(), Kind::Unsupported);
        let nf: crate::error::Error = Error::Kernel(KernelError {
            errno: libc::ENOENT,
            seq: 1,
            extack: None,
            offset: None,
        })
        .into();
        assert_eq!(nf.kind(), Kind::NotFound);
    }

    #[test]
    fn overrun_is_distinct() {
        assert_eq!(Error::Overrun.errno(), Some(libc::ENOBUFS));
        assert!(Error::Overrun.to_string().contains("ENOBUFS"));
    }
}
