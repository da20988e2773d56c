//! A ubus-zero `Transport` over a plain non-blocking `UnixStream` whose file
//! descriptor the caller's poll loop owns. Reads happen only when asked
//! (`recv` drains what the kernel has and returns whole frames), so an idle
//! daemon never wakes up. Writes use `MSG_NOSIGNAL` and, should the broker's
//! buffer be full, wait for writability up to a bound. Blocking waits (the
//! handshake, a client call) are bounded by an optional deadline.

use std::io::{self, Read};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use ubus::error::UbusError;
use ubus::wire::{Codec, Frame, MAX_MSG_LEN};
use ubus::Transport;

/// How long a single frame write may wait for a broker that does not read.
/// A broker stuck this long is treated as gone (the caller reconnects).
const SEND_STALL: Duration = Duration::from_secs(2);

/// Receive buffer: starts small, grows (doubling) up to one maximal frame,
/// shrinks back once a large message has been consumed.
const MIN_BUF: usize = 4096;
const KEEP_BUF: usize = 64 * 1024;
const MAX_BUF: usize = MAX_MSG_LEN + 4096;

pub struct StreamTransport {
    stream: UnixStream,
    rx: Vec<u8>,
    /// `rx[rx_start..rx_end]` holds received bytes not yet parsed
    /// (compacted lazily so a burst of small frames is not a memmove each).
    rx_start: usize,
    rx_end: usize,
    eof: bool,
    /// Bounds `wait_recv`: once passed, waits return at once, so ubus-zero's
    /// idle budget runs out quickly and surfaces `Timeout`.
    deadline: Option<Instant>,
    tx: Vec<u8>,
}

impl StreamTransport {
    pub fn connect(path: &Path) -> io::Result<Self> {
        let stream = UnixStream::connect(path)?;
        stream.set_nonblocking(true)?;
        Ok(StreamTransport {
            stream,
            rx: vec![0; MIN_BUF],
            rx_start: 0,
            rx_end: 0,
            eof: false,
            deadline: None,
            tx: Vec::new(),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Parse one frame from the buffer, if a whole one is there.
    fn take_frame(&mut self) -> Result<Option<Frame>, UbusError> {
        let buf = &self.rx[self.rx_start..self.rx_end];
        if buf.is_empty() {
            return Ok(None);
        }
        match Codec::read_frame(buf) {
            Ok((frame, n)) => {
                self.rx_start += n;
                if self.rx_start == self.rx_end {
                    self.rx_start = 0;
                    self.rx_end = 0;
                    if self.rx.len() > KEEP_BUF {
                        // A big message passed; give the memory back.
                        self.rx = vec![0; MIN_BUF];
                    }
                }
                Ok(Some(frame))
            }
            Err(UbusError::Short { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Read everything the kernel has buffered, without blocking. The
    /// buffer is zeroed only when it grows, never per read.
    fn fill(&mut self) -> Result<(), UbusError> {
        loop {
            if self.rx_end == self.rx.len() && self.rx_start > 0 {
                self.rx.copy_within(self.rx_start..self.rx_end, 0);
                self.rx_end -= self.rx_start;
                self.rx_start = 0;
            }
            if self.rx_end == self.rx.len() {
                // One maximal frame plus its header is all we ever need to
                // hold; the codec rejects anything larger.
                if self.rx.len() >= MAX_BUF {
                    return Ok(());
                }
                let grown = (self.rx.len() * 2).clamp(MIN_BUF, MAX_BUF);
                self.rx.resize(grown, 0);
            }
            match self.stream.read(&mut self.rx[self.rx_end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.rx_end += n;
                    if self.rx_end < self.rx.len() {
                        // Short read: the kernel queue is (very likely) empty.
                        return Ok(());
                    }
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => return Ok(()),
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(UbusError::Io(e.to_string())),
                },
            }
        }
    }

    fn poll_fd(&self, events: libc::c_short, timeout: Duration) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.fd(),
            events,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd for the duration of the call.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        r > 0
    }
}

impl StreamTransport {
    fn send_tx(&mut self) -> Result<(), UbusError> {
        let mut sent = 0;
        let stall_until = Instant::now() + SEND_STALL;
        while sent < self.tx.len() {
            let rest = &self.tx[sent..];
            // SAFETY: valid fd and buffer; MSG_NOSIGNAL turns a dead peer into
            // EPIPE instead of a process-killing SIGPIPE.
            let n = unsafe {
                libc::send(
                    self.fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                sent += n as usize;
                continue;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {
                    let now = Instant::now();
                    if now >= stall_until {
                        return Err(UbusError::Io("ubus broker stopped reading".into()));
                    }
                    self.poll_fd(libc::POLLOUT, stall_until - now);
                }
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
                    return Err(UbusError::Closed)
                }
                _ => return Err(UbusError::Io(err.to_string())),
            }
        }
        Ok(())
    }
}

impl Transport for StreamTransport {
    fn send(&mut self, frame: &Frame) -> Result<(), UbusError> {
        Codec::write_frame_into(frame, &mut self.tx);
        let r = self.send_tx();
        if self.tx.capacity() > KEEP_BUF {
            self.tx = Vec::new();
        }
        r
    }

    fn recv(&mut self) -> Result<Option<Frame>, UbusError> {
        if let Some(f) = self.take_frame()? {
            return Ok(Some(f));
        }
        if self.eof {
            return Err(UbusError::Closed);
        }
        self.fill()?;
        match self.take_frame()? {
            Some(f) => Ok(Some(f)),
            None if self.eof => Err(UbusError::Closed),
            None => Ok(None),
        }
    }

    fn wait_recv(&mut self) {
        let timeout = match self.deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            // No deadline: still never park forever inside a library loop.
            None => Duration::from_secs(1),
        };
        if !timeout.is_zero() {
            self.poll_fd(libc::POLLIN, timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use ubus::envelope::{EnvBuilder, UbusAttr};
    use ubus::wire::MsgType;

    fn pair() -> (StreamTransport, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let t = StreamTransport {
            stream: a,
            rx: vec![0; MIN_BUF],
            rx_start: 0,
            rx_end: 0,
            eof: false,
            deadline: None,
            tx: Vec::new(),
        };
        (t, b)
    }

    fn frame(seq: u16) -> Frame {
        let mut env = EnvBuilder::new();
        env.push_u32(UbusAttr::ObjId, 7);
        Frame::to_peer(MsgType::Status, seq, 9, env.finish())
    }

    #[test]
    fn frames_split_and_batched_arbitrarily_come_out_whole_and_in_order() {
        let (mut t, mut peer) = pair();
        let mut bytes = Vec::new();
        for seq in 1..=3 {
            bytes.extend(Codec::write_frame(&frame(seq)));
        }
        // First 5 bytes: nothing whole yet, and no blocking.
        peer.write_all(&bytes[..5]).unwrap();
        assert!(t.recv().unwrap().is_none());
        peer.write_all(&bytes[5..]).unwrap();
        for seq in 1..=3 {
            assert_eq!(t.recv().unwrap().unwrap().hdr.seq, seq);
        }
        assert!(t.recv().unwrap().is_none());
    }

    #[test]
    fn hangup_is_closed_after_buffered_frames_are_delivered() {
        let (mut t, mut peer) = pair();
        peer.write_all(&Codec::write_frame(&frame(4))).unwrap();
        drop(peer);
        assert_eq!(t.recv().unwrap().unwrap().hdr.seq, 4);
        assert!(matches!(t.recv(), Err(UbusError::Closed)));
    }

    #[test]
    fn send_to_a_dead_peer_is_an_error_not_a_signal() {
        let (mut t, peer) = pair();
        drop(peer);
        assert!(t.send(&frame(1)).is_err());
    }

    #[test]
    fn a_large_frame_is_written_whole_while_the_peer_reads_slowly() {
        let (mut t, mut peer) = pair();
        let mut env = EnvBuilder::new();
        env.push_data(&vec![0u8; 900 * 1024]);
        let f = Frame::to_peer(MsgType::Data, 1, 9, env.finish());
        let want = Codec::write_frame(&f);
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while got.len() < want.len() {
                let n = peer.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            got == want
        });
        t.send(&f).unwrap();
        assert!(reader.join().unwrap());
    }
}
