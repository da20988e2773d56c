//! The daemon's ubus connection: one registered object with a typed
//! signature, calls dispatched to a handler with argument checks done first,
//! replies encoded with a size bound, fire-and-forget notifications, and
//! (optionally) events the daemon listens to (netifd's `network.interface`).
//! Non-blocking except while connecting and in the explicit blocking calls
//! ([`Server::call`], [`Server::listen`], [`Server::send_event`]), each
//! bounded by a deadline.

use std::collections::VecDeque;
use std::os::unix::io::RawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use ubus::blobmsg::BlobBuilder;
use ubus::client::UbusClient;
use ubus::envelope::{try_find, EnvBuilder, UbusAttr};
use ubus::json::{blobmsg_to_json, json_to_blobmsg};
use ubus::wire::{Frame, MsgType, ObjId, PeerId, MAX_MSG_LEN};
use ubus::{InboundMsg, OutboundMsg, Transport, UbusError};

use super::client::{invoke_on, CallError};
use super::transport::StreamTransport;
use super::{args, ubus_error, MethodSig, Status};
use crate::error::{Context, Error, Result};

/// Bound on the HELLO + ADD_OBJECT exchange. ubusd answers in microseconds;
/// a broker silent this long is broken and the daemon retries later.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on listen/send_event round trips to the broker.
const BROKER_TIMEOUT: Duration = Duration::from_secs(2);
/// Events kept for the daemon between two `take_events` calls.
const MAX_EVENTS: usize = 256;

/// An event received through [`Server::listen`], e.g. netifd's
/// `network.interface` with `{"action": "ifup", "interface": "lan"}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub name: String,
    pub data: Value,
}

type Handler<'a> = dyn FnMut(&str, &Map<String, Value>) -> Result<Value, (Status, String)> + 'a;

pub struct Server {
    client: UbusClient<StreamTransport>,
    /// UbusClient lends its transport only mutably; the fd never changes.
    fd: RawFd,
    object: String,
    object_id: u32,
    methods: &'static [MethodSig],
    /// Anonymous object that event registrations hang off, once created.
    listener_id: Option<u32>,
    /// Frames read during a blocking call, not yet dispatched.
    backlog: VecDeque<Frame>,
    /// Set when a read during a blocking call found the broker gone.
    broken: Option<Error>,
    events: VecDeque<Event>,
    notify_seq: u16,
}

fn signature(methods: &[MethodSig]) -> Vec<u8> {
    let mut b = BlobBuilder::new();
    for m in methods {
        b.open_table(Some(m.name));
        for &(name, ty) in m.args {
            b.put_i32(Some(name), ty.blobmsg_type());
        }
        b.close_table();
    }
    b.finish()
}

/// Encoded size of `value` as a blobmsg attribute named `name` (exact for
/// what ubus-zero's encoder emits), computed without encoding, so an
/// oversized reply is refused before it allocates or trips the 24-bit
/// length limit inside the encoder.
fn blobmsg_size(name: &str, value: &Value) -> usize {
    let align = |n: usize| (n + 3) & !3;
    let hdr = 4 + align(2 + name.len() + 1);
    let payload = match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 8,
        Value::String(s) => s.len() + 1,
        Value::Array(a) => a.iter().map(|v| blobmsg_size("", v)).sum(),
        Value::Object(m) => m.iter().map(|(k, v)| blobmsg_size(k, v)).sum(),
    };
    align(hdr + payload)
}

/// Encode a reply/notification table, refusing anything over ubus's 1 MiB
/// message limit.
fn encode_table(value: &Value) -> std::result::Result<ubus::BlobMsgTable, String> {
    if !value.is_object() {
        return Err("reply is not a JSON object".into());
    }
    let size = blobmsg_size("", value);
    // Leave room for the envelope (object id, method, headers).
    if size > MAX_MSG_LEN - 256 {
        return Err(format!(
            "message of {size} bytes exceeds ubus's {MAX_MSG_LEN}-byte limit"
        ));
    }
    json_to_blobmsg(value).map_err(|e| e.to_string())
}

impl Server {
    /// Connect to ubusd at `socket`, say hello and register `object` with
    /// `methods` as its signature. Fails fast when the socket is missing;
    /// repeat it to reconnect after ubusd restarts.
    pub fn connect(socket: &Path, object: &str, methods: &'static [MethodSig]) -> Result<Server> {
        let what = || format!("registering ubus object '{object}' at {}", socket.display());
        let mut transport = StreamTransport::connect(socket).with_context(what)?;
        transport.set_deadline(Some(Instant::now() + CONNECT_TIMEOUT));
        let mut client = UbusClient::connect(transport)
            .map_err(ubus_error)
            .with_context(what)?;
        let mut env = EnvBuilder::new();
        env.push_str(UbusAttr::ObjPath, object);
        env.push_signature(&signature(methods));
        let mut object_id = None;
        client
            .request(MsgType::AddObject, 0, env, |frame| {
                if let Some(id) =
                    try_find(&frame.payload, UbusAttr::ObjId)?.and_then(|a| a.as_u32())
                {
                    object_id = Some(id);
                }
                Ok(())
            })
            .map_err(ubus_error)
            .with_context(what)?;
        let object_id = object_id
            .filter(|id| *id != 0)
            .ok_or_else(|| Error::failed("ubusd assigned no object id").context(what()))?;
        client.transport_mut().set_deadline(None);
        let fd = client.transport_mut().fd();
        let mut server = Server {
            client,
            fd,
            object: object.to_string(),
            object_id,
            methods,
            listener_id: None,
            backlog: VecDeque::new(),
            broken: None,
            events: VecDeque::new(),
            notify_seq: 1,
        };
        server.drain_to_backlog();
        Ok(server)
    }

    /// The socket to poll for POLLIN.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Frames are waiting that poll will not report (read during a blocking
    /// call): call [`Server::process`] without waiting.
    pub fn pending(&self) -> bool {
        !self.backlog.is_empty() || self.broken.is_some()
    }

    /// Handle every frame available without blocking: calls to our object go
    /// to `handler` (after the signature check), events are queued for
    /// [`Server::take_events`]. Returns `Err` when the broker went away; the
    /// caller then reconnects with [`Server::connect`].
    pub fn process(&mut self, handler: &mut Handler<'_>) -> Result<()> {
        if let Some(e) = self.broken.take() {
            return Err(e);
        }
        loop {
            let frame = match self.backlog.pop_front() {
                Some(f) => f,
                None => match self.client.recv_frame() {
                    Ok(Some(f)) => f,
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(ubus_error(e).context("reading from ubus")),
                },
            };
            self.handle_frame(&frame, handler)
                .map_err(|e| ubus_error(e).context("replying on ubus"))?;
        }
    }

    /// Events received since the last call, oldest first.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    /// Send notification `kind` with `data` (a JSON object) to the object's
    /// subscribers. Fire and forget: no waiting for anyone's reply.
    pub fn notify(&mut self, kind: &str, data: &Value) -> Result<()> {
        let table = encode_table(data)
            .map_err(Error::invalid)
            .with_context(|| format!("notification '{kind}'"))?;
        let mut env = EnvBuilder::new();
        env.push_u32(UbusAttr::ObjId, self.object_id);
        env.push_str(UbusAttr::Method, kind);
        env.push_u8(UbusAttr::NoReply, 1);
        env.push_data(table.contents());
        let seq = self.notify_seq;
        self.notify_seq = self.notify_seq.wrapping_add(1).max(1);
        let frame = Frame::to_peer(MsgType::Notify, seq, self.object_id, env.finish());
        self.client
            .transport_mut()
            .send(&frame)
            .map_err(ubus_error)
            .with_context(|| format!("sending ubus notification '{kind}'"))
    }

    /// Subscribe this connection to ubus events matching `pattern` (e.g.
    /// `network.interface`); they arrive through [`Server::take_events`].
    /// Blocks for one broker round trip. After a reconnect, listen again.
    pub fn listen(&mut self, pattern: &str) -> Result<()> {
        let what = || format!("listening for ubus event '{pattern}'");
        self.client
            .transport_mut()
            .set_deadline(Some(Instant::now() + BROKER_TIMEOUT));
        let r = (|| {
            let id = match self.listener_id {
                Some(id) => id,
                None => {
                    let id = self.client.add_anonymous_object()?;
                    self.listener_id = Some(id);
                    id
                }
            };
            self.client.register_event(id, pattern)
        })();
        self.client.transport_mut().set_deadline(None);
        self.drain_to_backlog();
        r.map_err(ubus_error).with_context(what)
    }

    /// Broadcast ubus event `name` with `data` (as `ubus send` does). Blocks
    /// for one broker round trip.
    pub fn send_event(&mut self, name: &str, data: &Value) -> Result<()> {
        let what = || format!("sending ubus event '{name}'");
        let table = encode_table(data)
            .map_err(Error::invalid)
            .with_context(what)?;
        self.client
            .transport_mut()
            .set_deadline(Some(Instant::now() + BROKER_TIMEOUT));
        let r = self.client.send_event(name, &table);
        self.client.transport_mut().set_deadline(None);
        self.drain_to_backlog();
        r.map_err(ubus_error).with_context(what)
    }

    /// Call another object's method on this connection (e.g. netifd's
    /// `network.interface dump`), blocking up to `timeout`. Calls to our
    /// own object that arrive meanwhile wait in the backlog.
    pub fn call(
        &mut self,
        object: &str,
        method: &str,
        args: &Value,
        timeout: Duration,
    ) -> std::result::Result<Value, CallError> {
        let deadline = Instant::now() + timeout;
        self.client.transport_mut().set_deadline(Some(deadline));
        let r = invoke_on(&mut self.client, object, method, args, timeout);
        self.client.transport_mut().set_deadline(None);
        self.drain_to_backlog();
        r
    }

    /// Move every frame readable now into the backlog, so that none hides
    /// in a buffer poll cannot see.
    fn drain_to_backlog(&mut self) {
        loop {
            match self.client.recv_frame() {
                Ok(Some(f)) => self.backlog.push_back(f),
                Ok(None) => return,
                Err(e) => {
                    self.broken = Some(ubus_error(e).context("reading from ubus"));
                    return;
                }
            }
        }
    }

    fn handle_frame(
        &mut self,
        frame: &Frame,
        handler: &mut Handler<'_>,
    ) -> std::result::Result<(), UbusError> {
        if frame.hdr.ty != MsgType::Invoke {
            // STATUS of a notify, subscriber Active changes, HELLO, PING:
            // nothing to answer.
            return Ok(());
        }
        let parsed = match InboundMsg::parse(frame) {
            Ok(InboundMsg::Invoke {
                obj_id,
                method,
                data,
                ..
            }) => (obj_id.get(), method, data),
            Ok(_) | Err(_) => return self.reply_status(frame, Status::InvalidArgument),
        };
        let (obj_id, method, data) = parsed;
        if Some(obj_id) == self.listener_id && obj_id != 0 {
            return self.take_event(frame, method, data);
        }
        if obj_id != self.object_id {
            return self.reply_status(frame, Status::NotFound);
        }
        let Some(sig) = self.methods.iter().find(|m| m.name == method) else {
            return self.reply_status(frame, Status::MethodNotFound);
        };
        let args = match data
            .map(blobmsg_to_json)
            .unwrap_or(Ok(Value::Object(Map::new())))
        {
            Ok(Value::Object(m)) => m,
            _ => return self.reply_status(frame, Status::InvalidArgument),
        };
        let result = args::check(sig, &args).and_then(|()| handler(method, &args));
        match result {
            Ok(value) => match encode_table(&value) {
                Ok(table) => self.reply_data(frame, method, &table),
                Err(why) => {
                    log::error!("ubus {}.{method}: reply refused: {why}", self.object);
                    self.reply_status(frame, Status::UnknownError)
                }
            },
            Err((status, msg)) => {
                let status = if status == Status::Ok {
                    Status::UnknownError
                } else {
                    status
                };
                log::debug!("ubus {}.{method}: {status}: {msg}", self.object);
                self.reply_status(frame, status)
            }
        }
    }

    fn take_event(
        &mut self,
        frame: &Frame,
        name: &str,
        data: Option<&[u8]>,
    ) -> std::result::Result<(), UbusError> {
        match data
            .map(blobmsg_to_json)
            .unwrap_or(Ok(Value::Object(Map::new())))
        {
            Ok(data) => {
                if self.events.len() >= MAX_EVENTS {
                    log::warn!("ubus: too many unhandled events, dropping the oldest");
                    self.events.pop_front();
                }
                self.events.push_back(Event {
                    name: name.to_string(),
                    data,
                });
            }
            Err(e) => log::warn!("ubus: undecodable event '{name}': {e}"),
        }
        let no_reply = try_find(&frame.payload, UbusAttr::NoReply)
            .ok()
            .flatten()
            .is_some_and(|a| a.as_bool_int8());
        if no_reply {
            Ok(())
        } else {
            self.reply_status(frame, Status::Ok)
        }
    }

    fn reply_status(
        &mut self,
        frame: &Frame,
        status: Status,
    ) -> std::result::Result<(), UbusError> {
        if frame.hdr.peer == 0 {
            return Ok(());
        }
        self.client.acknowledge(frame, status.code())
    }

    fn reply_data(
        &mut self,
        frame: &Frame,
        method: &str,
        table: &ubus::BlobMsgTable,
    ) -> std::result::Result<(), UbusError> {
        let (Some(peer), Some(obj_id)) = (PeerId::new(frame.hdr.peer), ObjId::new(self.object_id))
        else {
            return Ok(());
        };
        let data = OutboundMsg::DataReply {
            peer,
            obj_id: Some(obj_id),
            data: table,
        }
        .into_frame(frame.hdr.seq);
        if data.payload.len() > MAX_MSG_LEN {
            log::error!(
                "ubus {}.{method}: reply of {} bytes exceeds the ubus limit, refused",
                self.object,
                data.payload.len()
            );
            return self.reply_status(frame, Status::UnknownError);
        }
        self.client.transport_mut().send(&data)?;
        self.reply_status(frame, Status::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn size_estimate_matches_the_encoder_exactly() {
        for v in [
            json!({}),
            json!({"a": null, "bb": true, "ccc": 1, "dddd": 1.5, "e": "xyz"}),
            json!({"zones": [{"name": "lan", "devices": ["a", "bc", ""]}, [], {}]}),
            json!({"": "", "long key name here": [1, [2, [3, "four"]]]}),
        ] {
            let table = json_to_blobmsg(&v).unwrap();
            assert_eq!(blobmsg_size("", &v), table.as_slice().len(), "{v}");
        }
    }

    #[test]
    fn oversized_or_non_object_messages_are_refused_before_encoding() {
        let big = json!({"x": "y".repeat(MAX_MSG_LEN)});
        assert!(encode_table(&big).unwrap_err().contains("exceeds"));
        // 20 MiB would overflow the encoder's 24-bit lengths (a panic).
        let huge = json!({"x": vec!["z".repeat(1024); 20 * 1024]});
        assert!(encode_table(&huge).is_err());
        assert!(encode_table(&json!([1])).is_err());
    }
}
