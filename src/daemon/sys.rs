//! The few Linux primitives the event loop is built from, as safe wrappers:
//! `poll(2)` over raw fds, a `signalfd` for TERM/HUP/INT, and a one-shot
//! `timerfd` for debouncing. Each owns its fd and closes it on drop.

use crate::error::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn last_os_error(what: &str) -> Error {
    Error::failed(format!("{what}: {}", std::io::Error::last_os_error()))
}

/// Wait until one of `fds` is readable or `timeout` passes (`None`: forever).
/// Returns, for each fd, whether it is readable (or hung up / errored, which
/// a read will then report). EINTR counts as "nothing ready".
pub fn poll_readable(fds: &[RawFd], timeout: Option<Duration>) -> Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = match timeout {
        None => -1,
        Some(d) => i32::try_from(d.as_millis()).unwrap_or(i32::MAX),
    };
    // SAFETY: pfds is a valid, exclusively borrowed array of pollfd.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(Error::failed(format!("poll: {e}")));
    }
    Ok(pfds
        .iter()
        .map(|p| p.fd >= 0 && p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0)
        .collect())
}

/// Signals the daemon handles through a signalfd instead of handlers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Term,
    Hup,
    Int,
}

pub struct SignalFd {
    fd: OwnedFd,
}

impl SignalFd {
    /// Block TERM, HUP and INT for this (single-threaded) process and
    /// deliver them through a non-blocking fd.
    pub fn new() -> Result<SignalFd> {
        // SAFETY: sigset_t is plain data; the libc calls initialise it.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
                libc::sigaddset(&mut set, s);
            }
            if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(last_os_error("sigprocmask"));
            }
            let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
            if fd < 0 {
                return Err(last_os_error("signalfd"));
            }
            Ok(SignalFd {
                fd: OwnedFd::from_raw_fd(fd),
            })
        }
    }

    /// Drain pending signals.
    pub fn read(&self) -> Vec<Signal> {
        let mut out = Vec::new();
        loop {
            // SAFETY: signalfd_siginfo is plain data, read fills it.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: the buffer is exactly one signalfd_siginfo.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    &mut info as *mut _ as *mut libc::c_void,
                    size,
                )
            };
            if n != size as isize {
                return out;
            }
            match info.ssi_signo as i32 {
                libc::SIGTERM => out.push(Signal::Term),
                libc::SIGHUP => out.push(Signal::Hup),
                libc::SIGINT => out.push(Signal::Int),
                _ => {}
            }
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A one-shot monotonic timer; disarmed until `arm` is called.
pub struct Timer {
    fd: OwnedFd,
    armed: bool,
}

impl Timer {
    pub fn new() -> Result<Timer> {
        // SAFETY: plain syscall; the result is checked.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(last_os_error("timerfd_create"));
        }
        // SAFETY: fd is a fresh, owned descriptor.
        Ok(Timer {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            armed: false,
        })
    }

    /// Fire once after `after` (re-arming replaces the deadline).
    pub fn arm(&mut self, after: Duration) -> Result<()> {
        let after = after.max(Duration::from_micros(1));
        // Zeroed, then filled: on 32-bit musl 1.2 (time64) timespec has
        // private padding, so it cannot be written as a struct literal.
        // SAFETY: itimerspec is plain data; all-zero is a valid value.
        let mut spec: libc::itimerspec = unsafe { std::mem::zeroed() };
        spec.it_value.tv_sec = after.as_secs() as libc::time_t;
        spec.it_value.tv_nsec = after.subsec_nanos() as libc::c_long;
        // SAFETY: spec is a valid itimerspec; old value not requested.
        let r =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if r != 0 {
            return Err(last_os_error("timerfd_settime"));
        }
        self.armed = true;
        Ok(())
    }

    pub fn is_armed(&self) -> bool {
        self.armed
    }

    /// Consume an expiry; true if the timer had fired.
    pub fn take(&mut self) -> bool {
        let mut buf = [0u8; 8];
        // SAFETY: reading 8 bytes into an 8-byte buffer.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
        if n == 8 {
            self.armed = false;
            true
        } else {
            false
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_fires_once_and_poll_sees_it() {
        let mut t = Timer::new().unwrap();
        assert!(!t.take(), "a fresh timer has not fired");
        t.arm(Duration::from_millis(5)).unwrap();
        assert!(t.is_armed());
        let ready = poll_readable(&[t.fd()], Some(Duration::from_secs(5))).unwrap();
        assert_eq!(ready, vec![true]);
        assert!(t.take());
        assert!(!t.is_armed());
        assert!(!t.take(), "one-shot: no second expiry");
    }

    #[test]
    fn poll_with_zero_timeout_reports_nothing_ready() {
        let t = Timer::new().unwrap();
        let ready = poll_readable(&[t.fd()], Some(Duration::ZERO)).unwrap();
        assert_eq!(ready, vec![false]);
    }
}
