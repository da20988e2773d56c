//! The ubus client side: [`call`], the CLI's one-shot method call with
//! errors a user can act on (ubusd not running, daemon not running, a
//! status code from the method, a timeout), and [`Watcher`], which
//! collects an object's notifications or broadcast events (tests, tools).

use std::fmt;
use std::os::unix::io::RawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use ubus::client::UbusClient;
use ubus::envelope::{try_find, UbusAttr};
use ubus::json::{blobmsg_to_json, json_to_blobmsg};
use ubus::wire::MsgType;
use ubus::{Transport, UbusError};

use super::transport::StreamTransport;
use super::{Event, Status};
use crate::error::{Error, Kind};

/// Why a ubus call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// No broker at the socket (or it did not answer the handshake).
    Connect { socket: PathBuf, reason: String },
    /// The broker has no such object: its daemon is not running.
    NoObject { object: String },
    /// The method answered with a non-zero ubus status.
    Status {
        object: String,
        method: String,
        code: i32,
    },
    /// No answer in time.
    Timeout {
        object: String,
        method: String,
        after: Duration,
    },
    /// Anything else (bad arguments, protocol violations, broker gone).
    Failed(String),
}

impl CallError {
    /// The ubus status this failure corresponds to, for exit codes.
    pub fn status(&self) -> i32 {
        match self {
            CallError::Connect { .. } => Status::ConnectionFailed.code(),
            CallError::NoObject { .. } => Status::NotFound.code(),
            CallError::Status { code, .. } => *code,
            CallError::Timeout { .. } => Status::Timeout.code(),
            CallError::Failed(_) => Status::UnknownError.code(),
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Connect { socket, reason } => write!(
                f,
                "cannot connect to ubus at {}: is ubusd running? ({reason})",
                socket.display()
            ),
            CallError::NoObject { object } => write!(
                f,
                "{object} daemon is not running (no ubus object '{object}')"
            ),
            CallError::Status {
                object,
                method,
                code,
            } => match Status::from_code(*code) {
                Some(s) => write!(f, "ubus call {object} {method} failed: {s}"),
                None => write!(f, "ubus call {object} {method} failed: status {code}"),
            },
            CallError::Timeout {
                object,
                method,
                after,
            } => write!(
                f,
                "ubus call {object} {method} timed out after {:.1} s",
                after.as_secs_f64()
            ),
            CallError::Failed(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for CallError {}

impl From<CallError> for Error {
    fn from(e: CallError) -> Error {
        let kind = match Status::from_code(e.status()) {
            Some(Status::InvalidArgument) => Kind::Invalid,
            Some(Status::NotFound) => Kind::NotFound,
            Some(Status::NotSupported) => Kind::Unsupported,
            _ => Kind::Failed,
        };
        Error::new(kind, e.to_string())
    }
}

fn connect_client(
    socket: &Path,
    deadline: Instant,
) -> Result<UbusClient<StreamTransport>, CallError> {
    let connect_err = |reason: String| CallError::Connect {
        socket: socket.to_path_buf(),
        reason,
    };
    let mut transport = StreamTransport::connect(socket).map_err(|e| connect_err(e.to_string()))?;
    transport.set_deadline(Some(deadline));
    UbusClient::connect(transport).map_err(|e| match e {
        UbusError::Timeout(_) => connect_err("no answer to hello".into()),
        e => connect_err(e.to_string()),
    })
}

/// Look `object` up and call `method` on an already connected client whose
/// transport deadline is set.
pub(crate) fn invoke_on(
    client: &mut UbusClient<StreamTransport>,
    object: &str,
    method: &str,
    args: &Value,
    timeout: Duration,
) -> Result<Value, CallError> {
    let map_err = |e: UbusError| match e {
        UbusError::Status(code) => CallError::Status {
            object: object.into(),
            method: method.into(),
            code,
        },
        UbusError::Timeout(_) => CallError::Timeout {
            object: object.into(),
            method: method.into(),
            after: timeout,
        },
        e => CallError::Failed(format!("ubus call {object} {method}: {e}")),
    };
    let table = json_to_blobmsg(args).map_err(|e| {
        CallError::Failed(format!("ubus call {object} {method}: bad arguments: {e}"))
    })?;
    let id = match client.lookup(object) {
        Ok(id) => id,
        Err(UbusError::Status(4)) => {
            return Err(CallError::NoObject {
                object: object.into(),
            })
        }
        Err(e) => return Err(map_err(e)),
    };
    let reply = client.invoke(id, method, &table).map_err(map_err)?;
    blobmsg_to_json(&reply)
        .map_err(|e| CallError::Failed(format!("ubus call {object} {method}: bad reply: {e}")))
}

/// Call `object`'s `method` with `args` (a JSON object) through the broker
/// at `socket`; the whole exchange is bounded by `timeout`.
pub fn call(
    socket: &Path,
    object: &str,
    method: &str,
    args: &Value,
    timeout: Duration,
) -> Result<Value, CallError> {
    let deadline = Instant::now() + timeout;
    let mut client = connect_client(socket, deadline)?;
    invoke_on(&mut client, object, method, args, timeout)
}

/// A connection that receives an object's notifications ([`Watcher::subscribe`])
/// or broadcast events ([`Watcher::listen`]).
pub struct Watcher {
    client: UbusClient<StreamTransport>,
    fd: RawFd,
}

impl Watcher {
    fn open(
        socket: &Path,
        timeout: Duration,
        setup: impl FnOnce(&mut UbusClient<StreamTransport>, u32) -> Result<(), CallError>,
    ) -> Result<Watcher, CallError> {
        let mut client = connect_client(socket, Instant::now() + timeout)?;
        let me = client
            .add_anonymous_object()
            .map_err(|e| CallError::Failed(format!("creating ubus subscriber: {e}")))?;
        setup(&mut client, me)?;
        client.transport_mut().set_deadline(None);
        let fd = client.transport_mut().fd();
        Ok(Watcher { client, fd })
    }

    /// Receive the notifications `object` sends.
    pub fn subscribe(socket: &Path, object: &str, timeout: Duration) -> Result<Watcher, CallError> {
        Self::open(socket, timeout, |client, me| {
            let target = match client.lookup(object) {
                Ok(id) => id,
                Err(UbusError::Status(4)) => {
                    return Err(CallError::NoObject {
                        object: object.into(),
                    })
                }
                Err(e) => return Err(CallError::Failed(format!("looking up {object}: {e}"))),
            };
            client
                .subscribe(me, target)
                .map_err(|e| CallError::Failed(format!("subscribing to {object}: {e}")))
        })
    }

    /// Receive broadcast events whose name matches `pattern` (`*` suffix
    /// wildcards, as `ubus listen`).
    pub fn listen(socket: &Path, pattern: &str, timeout: Duration) -> Result<Watcher, CallError> {
        Self::open(socket, timeout, |client, me| {
            client
                .register_event(me, pattern)
                .map_err(|e| CallError::Failed(format!("listening for {pattern}: {e}")))
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// The next notification or event, waiting up to `timeout`; `None` when
    /// nothing came.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Event>, CallError> {
        let deadline = Instant::now() + timeout;
        self.client.transport_mut().set_deadline(Some(deadline));
        let r = self.next_until(deadline);
        self.client.transport_mut().set_deadline(None);
        r
    }

    fn next_until(&mut self, deadline: Instant) -> Result<Option<Event>, CallError> {
        let failed = |e: UbusError| CallError::Failed(format!("receiving from ubus: {e}"));
        loop {
            let Some(frame) = self.client.recv_frame().map_err(failed)? else {
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                self.client.transport_mut().wait_recv();
                continue;
            };
            if !matches!(frame.hdr.ty, MsgType::Invoke | MsgType::Notify) {
                continue;
            }
            // Broker notices (e.g. "your target went away") carry no method.
            let Some(name) = try_find(&frame.payload, UbusAttr::Method)
                .map_err(failed)?
                .and_then(|a| a.as_str())
                .map(str::to_string)
            else {
                continue;
            };
            let data = match try_find(&frame.payload, UbusAttr::Data).map_err(failed)? {
                Some(a) => blobmsg_to_json(a.payload).map_err(failed)?,
                None => Value::Object(Default::default()),
            };
            let no_reply = try_find(&frame.payload, UbusAttr::NoReply)
                .map_err(failed)?
                .is_some_and(|a| a.as_bool_int8());
            if frame.hdr.ty == MsgType::Invoke && !no_reply && frame.hdr.peer != 0 {
                self.client.acknowledge(&frame, 0).map_err(failed)?;
            }
            return Ok(Some(Event { name, data }));
        }
    }
}
