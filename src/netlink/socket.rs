//! A blocking (optionally non-blocking) netlink socket over libc, with the
//! request patterns every netlink user needs: request + ACK, dump until
//! `NLMSG_DONE`, and a batch transaction whose per-message ACKs/errors are
//! matched by sequence number. Replies are only accepted from the kernel
//! (sender port 0) and with the expected sequence numbers; stale replies
//! from an earlier, abandoned request are skipped.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::error::{Error, KernelError};
use super::msg::{
    parse_msgs, Msg, NlMsgHdr, NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN, NLM_F_ACK, NLM_F_DUMP_INTR,
};

// From <linux/netlink.h>; not all are in every libc version.
const SOL_NETLINK: libc::c_int = 270;
const NETLINK_ADD_MEMBERSHIP: libc::c_int = 1;
const NETLINK_DROP_MEMBERSHIP: libc::c_int = 2;
const NETLINK_CAP_ACK: libc::c_int = 10;
const NETLINK_EXT_ACK: libc::c_int = 11;

/// Initial receive buffer: large enough for a kernel dump chunk (the
/// kernel sizes dump skbs up to 32 KiB); grown on demand for larger ones.
const RECV_BUF: usize = 32 * 1024;

/// Per-message answers to a [`Socket::transact`]: `(seq, result)`.
pub type Acks = Vec<(u32, Result<(), KernelError>)>;

pub struct Socket {
    fd: OwnedFd,
    portid: u32,
    seq: u32,
    buf: Vec<u8>,
}

fn cvt(r: libc::c_int) -> Result<libc::c_int, Error> {
    if r < 0 {
        Err(Error::last_os())
    } else {
        Ok(r)
    }
}

impl Socket {
    /// Open and bind a netlink socket for `protocol` (e.g.
    /// `libc::NETLINK_NETFILTER`, `libc::NETLINK_ROUTE`). Extended acks and
    /// capped acks are requested where the kernel supports them.
    pub fn open(protocol: libc::c_int) -> Result<Socket, Error> {
        // SAFETY: plain syscall; the returned fd is checked and owned below.
        let fd = cvt(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        })?;
        // SAFETY: fd was just returned by socket() and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut s = Socket {
            fd,
            portid: 0,
            seq: initial_seq(),
            buf: vec![0; RECV_BUF],
        };
        // Old kernels lack these; errors then just come without text.
        let _ = s.setsockopt_int(SOL_NETLINK, NETLINK_EXT_ACK, 1);
        let _ = s.setsockopt_int(SOL_NETLINK, NETLINK_CAP_ACK, 1);
        // SAFETY: sockaddr_nl is plain old data; zeroed is a valid value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        let alen = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: addr is a valid sockaddr_nl of the given length.
        cvt(unsafe {
            libc::bind(
                s.fd.as_raw_fd(),
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                alen,
            )
        })?;
        let mut len = alen;
        // SAFETY: addr/len describe a writable sockaddr_nl buffer.
        cvt(unsafe {
            libc::getsockname(
                s.fd.as_raw_fd(),
                &mut addr as *mut libc::sockaddr_nl as *mut libc::sockaddr,
                &mut len,
            )
        })?;
        s.portid = addr.nl_pid;
        Ok(s)
    }

    fn setsockopt_int(
        &self,
        level: libc::c_int,
        opt: libc::c_int,
        v: libc::c_int,
    ) -> Result<(), Error> {
        // SAFETY: v is a live c_int and the length matches it.
        cvt(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                opt,
                &v as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        })
        .map(|_| ())
    }

    /// The socket's netlink port id, as assigned by the kernel.
    pub fn portid(&self) -> u32 {
        self.portid
    }

    /// A fresh sequence number for the next request.
    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        if self.seq == 0 {
            self.seq = 1;
        }
        self.seq
    }

    /// Join a multicast group (e.g. `NFNLGRP_NFTABLES`, `RTNLGRP_LINK`).
    pub fn add_membership(&self, group: u32) -> Result<(), Error> {
        self.setsockopt_int(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group as libc::c_int)
    }

    pub fn drop_membership(&self, group: u32) -> Result<(), Error> {
        self.setsockopt_int(SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, group as libc::c_int)
    }

    /// Switch `O_NONBLOCK`; in non-blocking mode [`Socket::recv`] returns
    /// `Ok(None)` when nothing is queued.
    pub fn set_nonblocking(&self, on: bool) -> Result<(), Error> {
        let fd = self.fd.as_raw_fd();
        // SAFETY: fcntl on an fd we own.
        let fl = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
        let fl = if on {
            fl | libc::O_NONBLOCK
        } else {
            fl & !libc::O_NONBLOCK
        };
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, fl) }).map(|_| ())
    }

    /// Bound how long a blocking receive waits (`None` = forever). A
    /// request that times out fails with `ETIMEDOUT`.
    pub fn set_recv_timeout(&self, t: Option<Duration>) -> Result<(), Error> {
        let t = t.unwrap_or(Duration::ZERO);
        let tv = libc::timeval {
            tv_sec: t.as_secs() as libc::time_t,
            tv_usec: t.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: tv is a live timeval and the length matches it.
        cvt(unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &tv as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        })
        .map(|_| ())
    }

    /// Ask for a larger kernel receive queue (event listeners, big dumps).
    /// Tries `SO_RCVBUFFORCE` (root) first, then `SO_RCVBUF`.
    pub fn set_recv_buffer(&self, bytes: usize) -> Result<(), Error> {
        let v = bytes.min(i32::MAX as usize) as libc::c_int;
        self.setsockopt_int(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, v)
            .or_else(|_| self.setsockopt_int(libc::SOL_SOCKET, libc::SO_RCVBUF, v))
    }

    /// Send one buffer (one or more messages) to the kernel.
    pub fn send(&self, buf: &[u8]) -> Result<(), Error> {
        // SAFETY: sockaddr_nl is plain old data; zeroed is a valid value.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        loop {
            // SAFETY: buf and addr are valid for the lengths given.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    buf.as_ptr() as *const libc::c_void,
                    buf.len(),
                    0,
                    &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if n < 0 {
                let e = Error::last_os();
                if e.errno() == Some(libc::EINTR) {
                    continue;
                }
                return Err(e);
            }
            if n as usize != buf.len() {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "short netlink send",
                )));
            }
            return Ok(());
        }
    }

    /// Receive one datagram from the kernel. `Ok(None)`: nothing queued
    /// (non-blocking) or the receive timeout expired. `Err(Overrun)`: the
    /// kernel dropped messages (ENOBUFS). Datagrams not sent by the kernel
    /// are discarded.
    pub fn recv(&mut self) -> Result<Option<&[u8]>, Error> {
        loop {
            let fd = self.fd.as_raw_fd();
            // Peek at the size first so no datagram is ever truncated.
            // SAFETY: the buffer is valid for its length.
            let n = unsafe {
                libc::recv(
                    fd,
                    self.buf.as_mut_ptr() as *mut libc::c_void,
                    self.buf.len(),
                    libc::MSG_PEEK | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                match Error::last_os() {
                    e if e.errno() == Some(libc::EINTR) => continue,
                    e if e.errno() == Some(libc::EAGAIN) => return Ok(None),
                    e => return Err(e),
                }
            }
            if n as usize > self.buf.len() {
                self.buf.resize(n as usize, 0);
            }
            // SAFETY: sockaddr_nl is plain old data; zeroed is a valid value.
            let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            let mut alen = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            // SAFETY: the buffer and address are valid for their lengths.
            let n = unsafe {
                libc::recvfrom(
                    fd,
                    self.buf.as_mut_ptr() as *mut libc::c_void,
                    self.buf.len(),
                    0,
                    &mut addr as *mut libc::sockaddr_nl as *mut libc::sockaddr,
                    &mut alen,
                )
            };
            if n < 0 {
                match Error::last_os() {
                    e if e.errno() == Some(libc::EINTR) => continue,
                    e if e.errno() == Some(libc::EAGAIN) => return Ok(None),
                    e => return Err(e),
                }
            }
            if addr.nl_pid != 0 {
                continue;
            }
            let n = (n as usize).min(self.buf.len());
            return Ok(Some(&self.buf[..n]));
        }
    }

    fn recv_blocking(&mut self) -> Result<&[u8], Error> {
        match self.recv()? {
            Some(b) => Ok(b),
            None => Err(Error::Io(std::io::Error::from_raw_os_error(
                libc::ETIMEDOUT,
            ))),
        }
    }

    /// Send one request that carries `NLM_F_ACK` and wait for its ACK.
    pub fn request_ack(&mut self, req: &[u8]) -> Result<(), Error> {
        let hdr = NlMsgHdr::parse(req).ok_or_else(|| Error::malformed("empty request"))?;
        let results = self.transact(req)?;
        match results.into_iter().find(|(s, _)| *s == hdr.seq) {
            Some((_, Err(k))) => Err(Error::Kernel(k)),
            _ => Ok(()),
        }
    }

    /// Send a dump request (`NLM_F_DUMP`) and call `f` for every reply
    /// message until `NLMSG_DONE`. An interrupted dump (`NLM_F_DUMP_INTR`)
    /// is reported as [`Error::DumpInterrupted`] after draining it.
    pub fn dump(
        &mut self,
        req: &[u8],
        mut f: impl FnMut(&Msg<'_>) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let seq = NlMsgHdr::parse(req)
            .ok_or_else(|| Error::malformed("empty request"))?
            .seq;
        self.send(req)?;
        let mut interrupted = false;
        let mut failed: Option<Error> = None;
        loop {
            let buf = self.recv_blocking()?;
            for m in parse_msgs(buf) {
                let m = m?;
                if m.hdr.seq != seq {
                    continue;
                }
                if m.hdr.flags & NLM_F_DUMP_INTR != 0 {
                    interrupted = true;
                }
                match m.hdr.ty {
                    NLMSG_DONE => {
                        m.error()?;
                        if let Some(e) = failed {
                            return Err(e);
                        }
                        return if interrupted {
                            Err(Error::DumpInterrupted)
                        } else {
                            Ok(())
                        };
                    }
                    NLMSG_ERROR => {
                        // An error ends the dump; an ACK (0) is ignored.
                        m.error()?;
                    }
                    NLMSG_OVERRUN => return Err(Error::Overrun),
                    _ => {
                        if failed.is_none() {
                            if let Err(e) = f(&m) {
                                // Keep draining so the socket stays in sync.
                                failed = Some(e);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Send a buffer of several messages (e.g. an nfnetlink batch) and
    /// collect the kernel's answer for each: every message flagged
    /// `NLM_F_ACK` gets `(seq, Ok)` or `(seq, Err)`; an error for an
    /// un-acked message (e.g. a batch header) is returned too and ends the
    /// wait, as the kernel sends nothing more after it.
    pub fn transact(&mut self, req: &[u8]) -> Result<Acks, Error> {
        let mut acked = Vec::new();
        let mut all = Vec::new();
        for m in parse_msgs(req) {
            let m = m?;
            all.push(m.hdr.seq);
            if m.hdr.flags & NLM_F_ACK != 0 {
                acked.push(m.hdr.seq);
            }
        }
        self.send(req)?;
        let mut out: Vec<(u32, Result<(), KernelError>)> = Vec::new();
        let mut pending = acked.len();
        while pending > 0 {
            let buf = self.recv_blocking()?;
            let mut stop = false;
            for m in parse_msgs(buf) {
                let m = m?;
                if m.hdr.ty != NLMSG_ERROR {
                    continue;
                }
                let r = match m.error() {
                    Ok(()) => Ok(()),
                    Err(Error::Kernel(k)) => Err(k),
                    Err(e) => return Err(e),
                };
                let seq = match &r {
                    Err(k) => k.seq,
                    Ok(()) => m
                        .payload
                        .get(4..)
                        .and_then(NlMsgHdr::parse)
                        .map(|h| h.seq)
                        .unwrap_or(m.hdr.seq),
                };
                if !all.contains(&seq) || out.iter().any(|(s, _)| *s == seq) {
                    continue; // stale reply from an earlier request
                }
                if acked.contains(&seq) {
                    pending -= 1;
                } else if r.is_err() {
                    stop = true;
                }
                out.push((seq, r));
            }
            if stop {
                break;
            }
        }
        Ok(out)
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl Socket {
    /// The file descriptor, for poll().
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Start sequence numbers at the clock so a restarted process does not
/// accept a predecessor's late replies as its own.
fn initial_seq() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::msg::{put_msg, NfGenMsg, NLM_F_DUMP, NLM_F_REQUEST};

    // NETLINK_ROUTE is available to unprivileged processes in any netns,
    // so these tests exercise the real socket path without root.
    #[test]
    fn dump_links_reaches_done() {
        let mut s = Socket::open(libc::NETLINK_ROUTE).unwrap();
        assert_ne!(s.portid(), 0);
        let seq = s.next_seq();
        let mut req = Vec::new();
        // RTM_GETLINK = 18, struct ifinfomsg is 16 bytes.
        put_msg(
            &mut req,
            18,
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            &[0u8; 16],
            |_| {},
        )
        .unwrap();
        let mut n = 0;
        s.dump(&req, |m| {
            assert_eq!(m.hdr.ty, 16); // RTM_NEWLINK
            n += 1;
            Ok(())
        })
        .unwrap();
        assert!(n >= 1, "at least loopback");
    }

    #[test]
    fn kernel_error_is_matched_to_request() {
        let mut s = Socket::open(libc::NETLINK_ROUTE).unwrap();
        let seq = s.next_seq();
        let mut req = Vec::new();
        // RTM_GETLINK for ifindex 0x7fffffff: no such device.
        let mut ifi = [0u8; 16];
        ifi[4..8].copy_from_slice(&0x7fff_ffffi32.to_ne_bytes());
        put_msg(&mut req, 18, NLM_F_REQUEST | NLM_F_ACK, seq, &ifi, |_| {}).unwrap();
        let e = s.request_ack(&req).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENODEV));
        match e {
            Error::Kernel(k) => assert_eq!(k.seq, seq),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nonblocking_recv_returns_none() {
        let mut s = Socket::open(libc::NETLINK_NETFILTER).unwrap();
        s.set_nonblocking(true).unwrap();
        assert!(s.recv().unwrap().is_none());
        let _ = NfGenMsg::default();
    }
}
