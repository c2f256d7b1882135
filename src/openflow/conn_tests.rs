//! Scripted conversations between [`Connection`] and an in-memory fake switch on a manual clock.

use super::*;
use crate::openflow::{
    FlowMod, MultipartRequest, PortNo, PortReason, PortStatus, TableId, msg::error::ErrorType,
};

const DPID: u64 = 0x0000_5e00_5300_0001;

/// The switch side: decodes what the controller sent and scripts answers.
struct FakeSwitch {
    now: Instant,
    conn: Connection,
}

impl FakeSwitch {
    fn new() -> FakeSwitch {
        let now = Instant::now();
        FakeSwitch { now, conn: Connection::new(now, Config::default(), 100) }
    }

    /// Frames the controller wrote since the last call.
    fn sent(&mut self) -> Vec<Frame> {
        let bytes = self.conn.poll_transmit().unwrap_or_default();
        let mut out = Vec::new();
        let mut rest = &bytes[..];
        while let Some(len) = frame_len(rest).unwrap() {
            out.push(Frame::decode(&rest[..len]).unwrap());
            rest = &rest[len..];
        }
        assert!(rest.is_empty());
        out
    }

    fn recv(&mut self, xid: u32, message: Message) {
        let bytes = Frame::new(xid, message).to_bytes().unwrap();
        // Split in two to exercise reassembly of partial reads.
        let (a, b) = bytes.split_at(bytes.len() / 2);
        self.conn.handle_input(self.now, a);
        self.conn.handle_input(self.now, b);
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.conn.handle_timeout(self.now);
    }

    /// Drive the handshake to Ready.
    fn handshake(&mut self) {
        let hello = self.sent();
        assert!(matches!(hello[0].message, Message::Hello(_)));
        self.recv(1, Message::Hello(Hello::with_versions(&[1, 4, 5])));
        let fr = self.sent();
        assert_eq!(fr[0].message, Message::FeaturesRequest);
        let features = SwitchFeatures { datapath_id: DPID, n_tables: 254, ..SwitchFeatures::default() };
        self.recv(fr[0].xid, Message::FeaturesReply(features));
        let sent = self.sent();
        assert!(matches!(sent[0].message, Message::SetConfig(_)));
        assert_eq!(sent[1].message, Message::MultipartRequest(MultipartRequest::PortDesc));
        let port = |n: u32| Port::new(PortNo(n), &format!("p{n}"), [2, 0, 0, 0, 0, n as u8]);
        self.recv(
            sent[1].xid,
            Message::MultipartReply { flags: MORE, reply: MultipartReply::PortDesc(vec![port(1)]) },
        );
        assert!(!self.conn.is_ready());
        self.recv(
            sent[1].xid,
            Message::MultipartReply { flags: 0, reply: MultipartReply::PortDesc(vec![port(2)]) },
        );
        let ev = self.events();
        match &ev[0] {
            Event::Ready { features, ports } => {
                assert_eq!(features.datapath_id, DPID);
                assert_eq!(ports.len(), 2);
                assert_eq!(ports[1].name(), "p2");
            }
            e => panic!("expected Ready, got {e:?}"),
        }
    }
}

#[test]
fn handshake_negotiates_1_3_and_reports_datapath_and_ports() {
    let mut s = FakeSwitch::new();
    s.handshake();
    assert_eq!(s.conn.features().unwrap().datapath_id, DPID);
}

#[test]
fn async_messages_before_ready_are_replayed_after_it() {
    let mut s = FakeSwitch::new();
    s.sent();
    s.recv(1, Message::Hello(Hello::default()));
    let status =
        Message::PortStatus(PortStatus { reason: PortReason::ADD, port: Port::new(PortNo(3), "p3", [0; 6]) });
    s.recv(0, status.clone());
    assert!(s.events().is_empty());
    let fr = s.sent();
    s.recv(fr[0].xid, Message::FeaturesReply(SwitchFeatures::default()));
    let pd = s.sent();
    s.recv(pd[1].xid, Message::MultipartReply { flags: 0, reply: MultipartReply::PortDesc(vec![]) });
    let ev = s.events();
    assert!(matches!(ev[0], Event::Ready { .. }));
    assert_eq!(ev[1], Event::Async(status));
}

#[test]
fn incompatible_hello_is_refused_with_hello_failed() {
    let mut s = FakeSwitch::new();
    s.sent();
    s.recv(1, Message::Hello(Hello::with_versions(&[1])));
    let sent = s.sent();
    match &sent[0].message {
        Message::Error(e) => assert!(e.is(ErrorType::HELLO_FAILED, 0)),
        m => panic!("expected HELLO_FAILED, got {m:?}"),
    }
    assert_eq!(s.events(), vec![Event::Closed(CloseReason::IncompatibleVersion(4))]);
}

#[test]
fn first_message_must_be_hello() {
    let mut s = FakeSwitch::new();
    s.sent();
    s.recv(1, Message::EchoRequest(vec![]));
    assert_eq!(s.events(), vec![Event::Closed(CloseReason::NoHello(MsgType::ECHO_REQUEST))]);
}

#[test]
fn hello_timeout_closes() {
    let mut s = FakeSwitch::new();
    s.advance(Duration::from_secs(9));
    assert!(!s.conn.is_closed());
    s.advance(Duration::from_secs(1));
    assert_eq!(s.events(), vec![Event::Closed(CloseReason::HandshakeTimeout)]);
}

#[test]
fn echo_keepalive_sends_after_idle_and_times_out_without_answer() {
    let mut s = FakeSwitch::new();
    s.handshake();
    s.advance(Duration::from_secs(5));
    assert!(s.sent().is_empty());
    s.advance(Duration::from_secs(5));
    let echo = s.sent();
    assert!(matches!(echo[0].message, Message::EchoRequest(_)));
    // Answered: no close, next echo ten seconds after the answer.
    s.recv(echo[0].xid, Message::EchoReply(vec![]));
    s.advance(Duration::from_secs(9));
    assert!(s.sent().is_empty());
    s.advance(Duration::from_secs(1));
    assert_eq!(s.sent().len(), 1);
    // Unanswered: closed after the 3 s timeout, pending requests failed first.
    let xid = s.conn.send(Message::BarrierRequest, Expect::Reply).unwrap();
    s.advance(Duration::from_secs(2));
    assert!(!s.conn.is_closed());
    s.advance(Duration::from_secs(1));
    assert_eq!(
        s.events(),
        vec![
            Event::Response { xid, result: Err(RequestFailure::Closed) },
            Event::Closed(CloseReason::EchoTimeout)
        ]
    );
}

#[test]
fn switch_echo_requests_are_answered_with_same_xid_and_data() {
    let mut s = FakeSwitch::new();
    s.handshake();
    s.recv(77, Message::EchoRequest(vec![1, 2, 3]));
    let sent = s.sent();
    assert_eq!(sent[0], Frame::new(77, Message::EchoReply(vec![1, 2, 3])));
}

#[test]
fn batch_until_barrier_reports_which_request_failed() {
    let mut s = FakeSwitch::new();
    s.handshake();
    let ok = s
        .conn
        .send(Message::FlowMod(FlowMod::add(0, 1, Default::default(), vec![])), Expect::MaybeReply)
        .unwrap();
    let bad = s
        .conn
        .send(Message::FlowMod(FlowMod { table_id: TableId(255), ..FlowMod::default() }), Expect::MaybeReply)
        .unwrap();
    let barrier = s.conn.send(Message::BarrierRequest, Expect::Reply).unwrap();
    let sent = s.sent();
    assert_eq!(sent.len(), 3);
    let raw = sent[1].to_bytes().unwrap();
    let err = ErrorMsg::new(ErrorType::FLOW_MOD_FAILED, 2, &raw);
    s.recv(bad, Message::Error(err.clone()));
    s.recv(barrier, Message::BarrierReply);
    assert_eq!(
        s.events(),
        vec![
            Event::Response { xid: bad, result: Err(RequestFailure::Switch(err)) },
            Event::Response { xid: ok, result: Ok(Reply::Done) },
            Event::Response { xid: barrier, result: Ok(Reply::Message(Message::BarrierReply)) },
        ]
    );
    assert_eq!(s.conn.pending_requests(), 0);
}

#[test]
fn multipart_replies_are_reassembled_and_capped() {
    let mut s = FakeSwitch::new();
    s.handshake();
    let req = Message::MultipartRequest(MultipartRequest::Table);
    let xid = s.conn.send(req.clone(), Expect::Reply).unwrap();
    let part = |n: u8, flags| Message::MultipartReply {
        flags,
        reply: MultipartReply::Table(vec![crate::openflow::TableStats { table_id: n, ..Default::default() }]),
    };
    s.recv(xid, part(0, MORE));
    s.recv(xid, part(1, MORE));
    assert!(s.events().is_empty());
    s.recv(xid, part(2, 0));
    match &s.events()[..] {
        [Event::Response { result: Ok(Reply::Multipart(parts)), .. }] => assert_eq!(parts.len(), 3),
        e => panic!("{e:?}"),
    }

    s.conn.config.max_multipart_bytes = 100;
    let xid = s.conn.send(req, Expect::Reply).unwrap();
    s.recv(xid, part(0, MORE));
    s.recv(xid, part(1, MORE));
    s.recv(xid, part(2, MORE));
    assert!(
        s.events()
            .iter()
            .any(|e| matches!(e, Event::Response { result: Err(RequestFailure::TooLarge(100)), .. }))
    );
    assert_eq!(s.conn.pending_requests(), 0);
}

#[test]
fn unsolicited_requests_from_switch_get_bad_type() {
    let mut s = FakeSwitch::new();
    s.handshake();
    s.recv(5, Message::FlowMod(FlowMod::default()));
    let sent = s.sent();
    match &sent[0].message {
        Message::Error(e) => assert!(e.is(ErrorType::BAD_REQUEST, 1)),
        m => panic!("{m:?}"),
    }
}

#[test]
fn framing_error_closes_the_connection() {
    let mut s = FakeSwitch::new();
    s.handshake();
    s.conn.handle_input(s.now, &[4, 0, 0, 3, 0, 0, 0, 0]);
    assert!(matches!(s.events()[..], [Event::Closed(CloseReason::Framing(_))]));
    assert_eq!(s.conn.send(Message::BarrierRequest, Expect::Reply), Err(SendError::Closed));
}

#[test]
fn xids_skip_zero_and_pending() {
    let mut c = Connection::new(Instant::now(), Config::default(), u32::MAX);
    assert_eq!(c.alloc_xid(), 1); // HELLO took u32::MAX
    c.track(2, Expect::Reply);
    assert_eq!(c.alloc_xid(), 3);
}
