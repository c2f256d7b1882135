//! The sans-IO OVSDB connection: bytes and time in, bytes to send and events out.
//!
//! [`Session`] owns the [`Framer`], allocates request ids, matches responses to requests,
//! answers the server's `echo` requests and runs our own `echo` keepalive. It never touches a
//! socket or a clock; the tokio driver (`crate::runtime::ovsdb`) feeds it.
//!
//! Methods, by family:
//! - inputs: [`Session::handle_input`] (bytes read), [`Session::handle_timeout`] (the deadline
//!   from [`Session::poll_timeout`] has passed);
//! - commands: [`Session::request`];
//! - outputs: [`Session::poll_transmit`] (bytes to write), [`Session::poll_event`] (responses
//!   and notifications, in arrival order).
//!
//! Keepalive: when nothing has been received for `keepalive` we send `echo`; if still nothing
//! has arrived `keepalive` later, [`SessionError::KeepaliveTimeout`] says the peer is gone.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::framer::{FrameError, Framer, Limits};
use super::jsonrpc::{Message, ProtocolError, RpcError};

/// Identifier of a request sent through a [`Session`].
pub type RequestId = u64;

/// The connection can no longer be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SessionError {
    /// The byte stream could not be framed.
    #[error("framing error: {0}")]
    Frame(#[from] FrameError),
    /// A framed message was not JSON-RPC.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// No byte arrived for two keepalive intervals.
    #[error("peer silent for {0:?} (echo unanswered)")]
    KeepaliveTimeout(Duration),
}

/// Something the application should look at.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// The response to [`Session::request`].
    Response {
        /// The id [`Session::request`] returned.
        id: RequestId,
        /// The method of the request (for error messages).
        method: String,
        /// The server's result or error.
        result: Result<Value, RpcError>,
    },
    /// A notification from the server (`update`, `update2`, `locked`, `stolen`, ...).
    Notification {
        /// Method name.
        method: String,
        /// Parameters.
        params: Value,
    },
}

/// One OVSDB JSON-RPC connection's protocol state; see the module docs.
#[derive(Debug)]
pub struct Session {
    framer: Framer,
    next_id: RequestId,
    pending: HashMap<RequestId, String>,
    out: Vec<u8>,
    events: VecDeque<SessionEvent>,
    keepalive: Duration,
    last_rx: Instant,
    echo_sent: Option<Instant>,
}

impl Session {
    /// A fresh session; `now` starts the keepalive clock.
    pub fn new(now: Instant, keepalive: Duration, limits: Limits) -> Session {
        Session {
            framer: Framer::new(limits),
            next_id: 1,
            pending: HashMap::new(),
            out: Vec::new(),
            events: VecDeque::new(),
            keepalive,
            last_rx: now,
            echo_sent: None,
        }
    }

    /// Queues a request and returns its id; its response comes back as
    /// [`SessionEvent::Response`] with the same id.
    pub fn request(&mut self, method: &str, params: Value) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, method.to_owned());
        self.send(&Message::Request { id: json!(id), method: method.to_owned(), params });
        id
    }

    /// Number of requests still waiting for a response.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn send(&mut self, m: &Message) {
        // `Value` serialisation into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.out, &m.to_json());
    }

    /// Feeds bytes read from the socket.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> Result<(), SessionError> {
        if !data.is_empty() {
            self.last_rx = now;
            self.echo_sent = None;
        }
        self.framer.push(data);
        while let Some(v) = self.framer.next_message()? {
            self.dispatch(Message::from_json(v)?);
        }
        Ok(())
    }

    /// True if the stream ended in the middle of a message.
    pub fn is_mid_message(&self) -> bool {
        self.framer.is_mid_message()
    }

    fn dispatch(&mut self, m: Message) {
        match m {
            Message::Request { id, method, params } if method == "echo" => {
                self.send(&Message::Response { id, result: Ok(params) });
            }
            Message::Request { id, method, .. } => {
                tracing::debug!(%method, "ovsdb: refusing server request");
                let e = json!({"error": "unknown method", "details": method});
                self.send(&Message::Response { id, result: Err(RpcError::from_json(&e)) });
            }
            Message::Notification { method, params } => {
                self.events.push_back(SessionEvent::Notification { method, params });
            }
            Message::Response { id, result } => {
                let Some(id) = id.as_u64() else {
                    tracing::debug!(%id, "ovsdb: response with a foreign id");
                    return;
                };
                match self.pending.remove(&id) {
                    // Our keepalive echo: receiving it already refreshed `last_rx`.
                    Some(method) if method == "echo" && id == 0 => {}
                    Some(method) => self.events.push_back(SessionEvent::Response { id, method, result }),
                    None => tracing::debug!(id, "ovsdb: response to no pending request"),
                }
            }
        }
    }

    /// The next deadline at which [`Session::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Instant {
        match self.echo_sent {
            Some(sent) => sent + self.keepalive,
            None => self.last_rx + self.keepalive,
        }
    }

    /// Runs the keepalive: sends `echo` after an idle interval, fails after two.
    /// Calling it early is harmless.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), SessionError> {
        match self.echo_sent {
            Some(sent) if now >= sent + self.keepalive => {
                Err(SessionError::KeepaliveTimeout(now.saturating_duration_since(self.last_rx)))
            }
            None if now >= self.last_rx + self.keepalive => {
                // Keepalive echoes use id 0, which `request` never allocates.
                self.pending.insert(0, "echo".into());
                self.send(&Message::Request { id: json!(0), method: "echo".into(), params: json!([]) });
                self.echo_sent = Some(now);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Bytes to write to the socket, if any.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() { None } else { Some(std::mem::take(&mut self.out)) }
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sess(now: Instant) -> Session {
        Session::new(now, Duration::from_secs(10), Limits::default())
    }

    #[test]
    fn request_response_matching_and_echo_reply() {
        let t = Instant::now();
        let mut s = sess(t);
        let a = s.request("list_dbs", json!([]));
        let b = s.request("transact", json!(["Open_vSwitch"]));
        let sent = String::from_utf8(s.poll_transmit().unwrap()).unwrap();
        assert!(sent.contains("\"list_dbs\"") && sent.contains("\"transact\""));
        // Responses out of order, split, with a server echo in between.
        let input = format!(
            r#"{{"id":{b},"result":[{{}}],"error":null}}{{"id":"echo","method":"echo","params":["x"]}}{{"id":{a},"result":["Open_vSwitch"],"error":null}}"#
        );
        let (x, y) = input.as_bytes().split_at(20);
        s.handle_input(x, t).unwrap();
        s.handle_input(y, t).unwrap();
        let ev: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
        assert!(
            matches!(&ev[0], SessionEvent::Response { id, method, .. } if *id == b && method == "transact")
        );
        assert!(matches!(&ev[1], SessionEvent::Response { id, .. } if *id == a));
        let reply: Value = serde_json::from_slice(&s.poll_transmit().unwrap()).unwrap();
        assert_eq!(reply, json!({"id": "echo", "result": ["x"], "error": null}));
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn keepalive_echo_then_timeout() {
        let t = Instant::now();
        let mut s = sess(t);
        s.handle_timeout(t + Duration::from_secs(5)).unwrap();
        assert!(s.poll_transmit().is_none());
        let t1 = s.poll_timeout();
        s.handle_timeout(t1).unwrap();
        let echo: Value = serde_json::from_slice(&s.poll_transmit().unwrap()).unwrap();
        assert_eq!(echo["method"], "echo");
        // Answered: the clock restarts and no event reaches the application.
        s.handle_input(br#"{"id":0,"result":[],"error":null}"#, t1 + Duration::from_secs(1)).unwrap();
        assert!(s.poll_event().is_none());
        let t2 = s.poll_timeout();
        assert_eq!(t2, t1 + Duration::from_secs(11));
        s.handle_timeout(t2).unwrap();
        assert!(s.poll_transmit().is_some());
        let t3 = s.poll_timeout();
        assert!(matches!(s.handle_timeout(t3), Err(SessionError::KeepaliveTimeout(_))));
    }

    #[test]
    fn garbage_is_an_error() {
        let t = Instant::now();
        let mut s = sess(t);
        assert!(matches!(s.handle_input(b"[1]", t), Err(SessionError::Frame(_))));
        let mut s = sess(t);
        assert!(matches!(s.handle_input(b"{\"x\":1}", t), Err(SessionError::Protocol(_))));
    }
}
