//! The controller side of one switch connection as a sans-IO state machine: handshake and
//! version negotiation, echo keepalive, xid allocation and reply matching, multipart
//! reassembly and barrier-completed requests. No sockets, no clock: time comes in as `now`.
//!
//! ```text
//!  new() ──HELLO──▶ Hello ──peer HELLO (1.3 ok)──▶ Features ──FEATURES_REPLY──▶ PortDesc
//!                     │ incompatible / timeout        │ ERROR / timeout              │ last part
//!                     ▼                               ▼                              ▼
//!                   Closed ◀───────── echo timeout / framing error ────────────── Ready
//! ```
//!
//! Call order, from the task that owns the socket:
//! 1. feed received bytes with [`Connection::handle_input`] and call
//!    [`Connection::handle_timeout`] when [`Connection::poll_timeout`] is reached;
//! 2. queue requests with [`Connection::send`] (once [`Event::Ready`] was seen);
//! 3. write out [`Connection::poll_transmit`], then drain [`Connection::poll_event`];
//! 4. stop when [`Connection::is_closed`].
//!
//! A request expecting [`Expect::Reply`] completes with its reply (a multipart reply is
//! reassembled first) or its ERROR. A request sent with [`Expect::MaybeReply`] (a flow-mod,
//! say) completes with its reply or ERROR if one arrives, and otherwise with [`Reply::Done`]
//! when the reply to a later BARRIER_REQUEST arrives: the switch answers in order, so anything
//! that failed has reported its ERROR before the barrier reply.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use thiserror::Error;

use super::header::{MsgType, OFP13_VERSION, frame_len};
use super::msg::error::{ErrorMsg, ErrorType};
use super::msg::hello::Hello;
use super::msg::port::Port;
use super::msg::switch::{SwitchConfig, SwitchFeatures};
use super::msg::{EncodeError, Frame, Message};
use super::multipart::{MORE, MultipartReply, MultipartRequest};
use super::wire::DecodeError;

/// Connection settings (defaults follow VLCP's `protocol.openflow.*`).
#[derive(Debug, Clone)]
pub struct Config {
    /// Send an echo request after this long without receiving anything.
    pub keepalive_interval: Duration,
    /// Close if nothing arrives this long after an echo request.
    pub keepalive_timeout: Duration,
    /// Time allowed for the peer's HELLO.
    pub hello_timeout: Duration,
    /// Time allowed for FEATURES_REPLY and the port list.
    pub features_timeout: Duration,
    /// Cap on one reassembled multipart reply, in bytes.
    pub max_multipart_bytes: usize,
    /// `miss_send_len` set during the handshake (`None` leaves the switch's default).
    pub miss_send_len: Option<u16>,
    /// Emit [`Event::Received`] with the raw bytes of every received message.
    pub tap_frames: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            keepalive_interval: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(3),
            hello_timeout: Duration::from_secs(10),
            features_timeout: Duration::from_secs(30),
            max_multipart_bytes: 64 << 20,
            miss_send_len: Some(0xffff),
            tap_frames: false,
        }
    }
}

/// Whether a request must be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The switch always answers (requests, multipart, barrier, echo).
    Reply,
    /// The switch answers only on error (flow-mod, group-mod, packet-out...): a later
    /// barrier reply completes it.
    MaybeReply,
}

/// A successful result of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A single reply message.
    Message(Message),
    /// All parts of a multipart reply, in order.
    Multipart(Vec<MultipartReply>),
    /// No reply, and a later barrier reply arrived: the switch applied it.
    Done,
}

/// Why one request failed (the connection may still be fine).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestFailure {
    /// The switch answered with ERROR.
    #[error("switch error: {0}")]
    Switch(ErrorMsg),
    /// The reply did not decode.
    #[error("undecodable reply: {0}")]
    BadReply(DecodeError),
    /// The multipart reply grew past [`Config::max_multipart_bytes`].
    #[error("multipart reply larger than {0} bytes")]
    TooLarge(usize),
    /// The request could not be encoded (it was never sent).
    #[error(transparent)]
    Encode(EncodeError),
    /// The connection closed before the request completed.
    #[error("connection closed")]
    Closed,
}

/// Why the connection closed, and who decided.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CloseReason {
    /// The byte stream cannot be framed (length below 8).
    #[error("protocol error from switch: {0}")]
    Framing(DecodeError),
    /// The first message was not HELLO.
    #[error("switch sent {0} before HELLO")]
    NoHello(MsgType),
    /// The switch does not speak OpenFlow 1.3.
    #[error("switch does not support OpenFlow 1.3 (header version {0:#x})")]
    IncompatibleVersion(u8),
    /// The switch sent an ERROR during the handshake.
    #[error("switch refused the handshake: {0}")]
    HandshakeError(ErrorMsg),
    /// HELLO, FEATURES_REPLY or the port list did not arrive in time.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// Nothing arrived within the keepalive timeout after an echo request.
    #[error("echo keepalive timed out")]
    EchoTimeout,
    /// The local side called [`Connection::close`].
    #[error("closed locally")]
    Local,
}

/// Something the owner of the connection must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Handshake complete.
    Ready {
        /// FEATURES_REPLY contents (datapath id).
        features: SwitchFeatures,
        /// Ports from the port-description multipart reply.
        ports: Vec<Port>,
    },
    /// A request sent with [`Connection::send`] completed.
    Response {
        /// The request's xid.
        xid: u32,
        /// Its outcome.
        result: Result<Reply, RequestFailure>,
    },
    /// An asynchronous message: PACKET_IN, PORT_STATUS, FLOW_REMOVED, an unsolicited ERROR or
    /// EXPERIMENTER.
    Async(Message),
    /// Raw bytes of a received message (only with [`Config::tap_frames`]).
    Received(Vec<u8>),
    /// The connection is closed; every pending request has been failed before this event.
    Closed(CloseReason),
}

/// Why [`Connection::send`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// The handshake has not finished.
    #[error("connection not ready")]
    NotReady,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
    /// The message cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

#[derive(Debug)]
enum State {
    Hello { deadline: Instant },
    Features { xid: u32, deadline: Instant },
    PortDesc { xid: u32, deadline: Instant, features: SwitchFeatures, ports: Vec<Port> },
    Ready { features: SwitchFeatures },
    Closed,
}

#[derive(Debug)]
struct Pending {
    seq: u64,
    expect: Expect,
    parts: Vec<MultipartReply>,
    bytes: usize,
}

/// Cap on asynchronous messages held back until the handshake completes.
const MAX_PRESETUP: usize = 1024;

/// One switch connection (controller side).
#[derive(Debug)]
pub struct Connection {
    config: Config,
    state: State,
    rx: Vec<u8>,
    tx: Vec<u8>,
    events: VecDeque<Event>,
    pending: HashMap<u32, Pending>,
    presetup: Vec<Message>,
    next_xid: u32,
    seq: u64,
    last_rx: Instant,
    echo_deadline: Option<Instant>,
}

impl Connection {
    /// A new connection; HELLO is queued at once. `xid_seed` picks the first xid.
    pub fn new(now: Instant, config: Config, xid_seed: u32) -> Connection {
        let mut c = Connection {
            state: State::Hello { deadline: now + config.hello_timeout },
            config,
            rx: Vec::new(),
            tx: Vec::new(),
            events: VecDeque::new(),
            pending: HashMap::new(),
            presetup: Vec::new(),
            next_xid: xid_seed.max(1),
            seq: 0,
            last_rx: now,
            echo_deadline: None,
        };
        let xid = c.alloc_xid();
        c.queue(xid, Message::Hello(Hello::with_versions(&[OFP13_VERSION])));
        c
    }

    /// Whether the handshake finished and the connection is open.
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    /// Whether the connection is closed (nothing more will happen).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Features of the switch once ready.
    pub fn features(&self) -> Option<&SwitchFeatures> {
        match &self.state {
            State::Ready { features } => Some(features),
            _ => None,
        }
    }

    /// Number of requests waiting for completion.
    pub fn pending_requests(&self) -> usize {
        self.pending.len()
    }

    /// Bytes queued for the socket.
    pub fn pending_transmit(&self) -> usize {
        self.tx.len()
    }

    /// Queue a request; its [`Event::Response`] carries the returned xid.
    pub fn send(&mut self, message: Message, expect: Expect) -> Result<u32, SendError> {
        match self.state {
            State::Ready { .. } => {}
            State::Closed => return Err(SendError::Closed),
            _ => return Err(SendError::NotReady),
        }
        let xid = self.alloc_xid();
        Frame::new(xid, message).encode(&mut self.tx)?;
        self.track(xid, expect);
        Ok(xid)
    }

    /// Close locally: pending requests fail with [`RequestFailure::Closed`].
    pub fn close(&mut self) {
        self.shut(CloseReason::Local);
    }

    /// Take the bytes to write to the socket.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.tx.is_empty()).then(|| std::mem::take(&mut self.tx))
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Connection::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Hello { deadline }
            | State::Features { deadline, .. }
            | State::PortDesc { deadline, .. } => Some(*deadline),
            State::Ready { .. } => {
                Some(self.echo_deadline.unwrap_or(self.last_rx + self.config.keepalive_interval))
            }
            State::Closed => None,
        }
    }

    /// Advance timers: handshake deadlines, echo keepalive. Harmless when early.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &self.state {
            State::Hello { deadline }
            | State::Features { deadline, .. }
            | State::PortDesc { deadline, .. } => {
                if now >= *deadline {
                    self.shut(CloseReason::HandshakeTimeout);
                }
            }
            State::Ready { .. } => match self.echo_deadline {
                Some(deadline) if now >= deadline => self.shut(CloseReason::EchoTimeout),
                Some(_) => {}
                None if now >= self.last_rx + self.config.keepalive_interval => {
                    let xid = self.alloc_xid();
                    self.queue(xid, Message::EchoRequest(Vec::new()));
                    self.echo_deadline = Some(now + self.config.keepalive_timeout);
                }
                None => {}
            },
            State::Closed => {}
        }
    }

    /// Feed bytes received from the switch.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if self.is_closed() {
            return;
        }
        self.rx.extend_from_slice(data);
        let mut consumed = 0;
        loop {
            match frame_len(&self.rx[consumed..]) {
                Ok(Some(len)) => {
                    let frame = self.rx[consumed..consumed + len].to_vec();
                    consumed += len;
                    self.last_rx = now;
                    self.echo_deadline = None;
                    self.handle_frame(now, &frame);
                    if self.is_closed() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.shut(CloseReason::Framing(e));
                    break;
                }
            }
        }
        self.rx.drain(..consumed.min(self.rx.len()));
    }

    fn handle_frame(&mut self, now: Instant, raw: &[u8]) {
        if self.config.tap_frames {
            self.events.push_back(Event::Received(raw.to_vec()));
        }
        let decoded = Frame::decode(raw);
        let xid = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
        if let State::Hello { .. } = self.state {
            return self.handle_hello(now, raw, decoded);
        }
        let frame = match decoded {
            Ok(f) if f.version == OFP13_VERSION => f,
            Ok(_) => return self.reply_error(xid, ErrorType::BAD_REQUEST, 0, raw),
            Err(e) => {
                if self.pending.contains_key(&xid) {
                    return self.complete(xid, Err(RequestFailure::BadReply(e)));
                }
                // BAD_REQUEST/BAD_LEN for what we cannot parse.
                return self.reply_error(xid, ErrorType::BAD_REQUEST, 6, raw);
            }
        };
        match frame.message {
            Message::EchoRequest(data) => self.queue(xid, Message::EchoReply(data)),
            Message::EchoReply(_) | Message::Hello(_) => {}
            Message::PacketIn(_) | Message::PortStatus(_) | Message::FlowRemoved(_) => {
                self.deliver_async(frame.message)
            }
            message => self.handle_reply(now, xid, message, raw),
        }
    }

    fn handle_hello(&mut self, now: Instant, raw: &[u8], decoded: Result<Frame, DecodeError>) {
        let frame = match decoded {
            Ok(Frame { message: Message::Hello(h), version, .. }) => (h, version),
            Ok(f) => return self.shut(CloseReason::NoHello(f.message.msg_type())),
            Err(_) => return self.shut(CloseReason::NoHello(MsgType(raw[1]))),
        };
        let (hello, version) = frame;
        // OpenFlow 1.3 §6.3.1: with bitmaps on both sides, the highest common bit; otherwise
        // the smaller of the two header versions.
        let ok = hello.supports(OFP13_VERSION).unwrap_or(version >= OFP13_VERSION);
        if !ok {
            let mut err = ErrorMsg::new(ErrorType::HELLO_FAILED, 0, &[]);
            err.data = b"this controller speaks OpenFlow 1.3 (0x04) only".to_vec();
            self.queue(0, Message::Error(err));
            return self.shut(CloseReason::IncompatibleVersion(version));
        }
        let xid = self.alloc_xid();
        self.queue(xid, Message::FeaturesRequest);
        self.state = State::Features { xid, deadline: now + self.config.features_timeout };
    }

    fn handle_reply(&mut self, now: Instant, xid: u32, message: Message, raw: &[u8]) {
        match (&mut self.state, message) {
            (State::Features { .. } | State::PortDesc { .. }, Message::Error(e)) => {
                self.shut(CloseReason::HandshakeError(e))
            }
            (State::Features { xid: want, .. }, Message::FeaturesReply(features)) if *want == xid => {
                if let Some(len) = self.config.miss_send_len {
                    let x = self.alloc_xid();
                    let config = SwitchConfig { flags: 0, miss_send_len: len };
                    self.queue(x, Message::SetConfig(config));
                }
                let x = self.alloc_xid();
                self.queue(x, Message::MultipartRequest(MultipartRequest::PortDesc));
                self.state = State::PortDesc {
                    xid: x,
                    deadline: now + self.config.features_timeout,
                    features,
                    ports: Vec::new(),
                };
            }
            (State::PortDesc { xid: want, ports, .. }, Message::MultipartReply { flags, reply })
                if *want == xid =>
            {
                if let MultipartReply::PortDesc(p) = reply {
                    ports.extend(p);
                }
                if flags & MORE == 0 {
                    let State::PortDesc { features, ports, .. } =
                        std::mem::replace(&mut self.state, State::Closed)
                    else {
                        return;
                    };
                    self.state = State::Ready { features };
                    self.last_rx = now;
                    self.events.push_back(Event::Ready { features, ports });
                    for m in std::mem::take(&mut self.presetup) {
                        self.events.push_back(Event::Async(m));
                    }
                }
            }
            (State::Features { .. } | State::PortDesc { .. }, m) => {
                if let Message::Experimenter(_) = m {
                    self.deliver_async(m)
                }
            }
            (State::Ready { .. }, message) => self.handle_response(xid, message, raw),
            (State::Hello { .. } | State::Closed, _) => {}
        }
    }

    fn handle_response(&mut self, xid: u32, message: Message, raw: &[u8]) {
        let Some(p) = self.pending.get_mut(&xid) else {
            return match message {
                Message::Error(_) | Message::Experimenter(_) => self.deliver_async(message),
                m if is_reply(m.msg_type()) => {}
                _ => self.reply_error(xid, ErrorType::BAD_REQUEST, 1, raw),
            };
        };
        match message {
            Message::Error(e) => self.complete(xid, Err(RequestFailure::Switch(e))),
            Message::MultipartReply { flags, reply } => {
                p.bytes += raw.len();
                p.parts.push(reply);
                if p.bytes > self.config.max_multipart_bytes {
                    let cap = self.config.max_multipart_bytes;
                    self.complete(xid, Err(RequestFailure::TooLarge(cap)));
                } else if flags & MORE == 0 {
                    let parts = std::mem::take(&mut p.parts);
                    self.complete(xid, Ok(Reply::Multipart(parts)));
                }
            }
            Message::BarrierReply => {
                let seq = p.seq;
                let mut done: Vec<(u64, u32)> = self
                    .pending
                    .iter()
                    .filter(|(_, q)| q.expect == Expect::MaybeReply && q.seq < seq)
                    .map(|(x, q)| (q.seq, *x))
                    .collect();
                done.sort_unstable();
                for (_, x) in done {
                    self.complete(x, Ok(Reply::Done));
                }
                self.complete(xid, Ok(Reply::Message(Message::BarrierReply)));
            }
            m => self.complete(xid, Ok(Reply::Message(m))),
        }
    }

    fn deliver_async(&mut self, m: Message) {
        if self.is_ready() {
            self.events.push_back(Event::Async(m));
        } else if self.presetup.len() < MAX_PRESETUP {
            self.presetup.push(m);
        }
    }

    fn complete(&mut self, xid: u32, result: Result<Reply, RequestFailure>) {
        self.pending.remove(&xid);
        self.events.push_back(Event::Response { xid, result });
    }

    fn reply_error(&mut self, xid: u32, ty: ErrorType, code: u16, raw: &[u8]) {
        self.queue(xid, Message::Error(ErrorMsg::new(ty, code, raw)));
    }

    fn track(&mut self, xid: u32, expect: Expect) {
        self.seq += 1;
        self.pending.insert(xid, Pending { seq: self.seq, expect, parts: Vec::new(), bytes: 0 });
    }

    fn queue(&mut self, xid: u32, message: Message) {
        // Internal messages are small and always encodable.
        let _ = Frame::new(xid, message).encode(&mut self.tx);
    }

    fn alloc_xid(&mut self) -> u32 {
        loop {
            let xid = self.next_xid;
            self.next_xid = self.next_xid.wrapping_add(1).max(1);
            if !self.pending.contains_key(&xid) {
                return xid;
            }
        }
    }

    fn shut(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        self.state = State::Closed;
        let mut xids: Vec<(u64, u32)> = self.pending.iter().map(|(x, p)| (p.seq, *x)).collect();
        xids.sort_unstable();
        for (_, xid) in xids {
            self.complete(xid, Err(RequestFailure::Closed));
        }
        self.events.push_back(Event::Closed(reason));
    }
}

/// Message types a switch sends only as answers.
fn is_reply(t: MsgType) -> bool {
    matches!(
        t,
        MsgType::FEATURES_REPLY
            | MsgType::GET_CONFIG_REPLY
            | MsgType::MULTIPART_REPLY
            | MsgType::BARRIER_REPLY
            | MsgType::ROLE_REPLY
            | MsgType::GET_ASYNC_REPLY
            | MsgType::QUEUE_GET_CONFIG_REPLY
            | MsgType::ECHO_REPLY
    )
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
