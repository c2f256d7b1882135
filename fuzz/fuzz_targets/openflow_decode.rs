//! Fuzz the OpenFlow decoder and the connection state machine.
//!
//! The input is a byte stream from a switch: it is split into messages by the header length;
//! every message must decode without panicking, and any message that decodes must re-encode to
//! exactly its bytes. The same stream is then fed to a controller-side connection after a valid
//! HELLO (so the handshake, reply matching and multipart paths see arbitrary input).
#![no_main]
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use vlcp::openflow::conn::{Config, Connection};
use vlcp::openflow::{Frame, Hello, Message, frame_len};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some(len)) = frame_len(rest) {
        let (msg, tail) = rest.split_at(len);
        if let Ok(frame) = Frame::decode(msg) {
            let again = frame.to_bytes().expect("a decoded message re-encodes");
            assert_eq!(again, msg, "re-encoding differs for {frame:?}");
        }
        rest = tail;
    }

    let now = Instant::now();
    let mut conn = Connection::new(now, Config::default(), 1);
    let hello = Frame::new(1, Message::Hello(Hello::with_versions(&[4])));
    conn.handle_input(now, &hello.to_bytes().unwrap());
    conn.handle_input(now, data);
    conn.handle_timeout(now + Duration::from_secs(60));
    while conn.poll_event().is_some() {}
    let _ = conn.poll_transmit();
});
