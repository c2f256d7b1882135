//! The OVSDB client facing a peer that sends malformed, truncated or oversized JSON: each case
//! ends the connection with a clear reason (a `Disconnected` event), never a panic, and the
//! client keeps reconnecting.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use vlcp::ovsdb::framer::Limits;
use vlcp::runtime::ovsdb::{ClientConfig, ClientEvent, OvsdbClient};

/// Serves `reply` to the client's first request, then closes; returns the client's reason.
async fn reason_for(reply: Vec<u8>, limits: Limits) -> String {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("db.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let mut cfg = ClientConfig::new(&format!("unix:{}", sock.display()));
    cfg.limits = limits;
    let (_client, mut events) = OvsdbClient::connect(cfg).unwrap();
    let (mut conn, _) =
        tokio::time::timeout(Duration::from_secs(30), listener.accept()).await.unwrap().unwrap();
    let mut buf = [0u8; 4096];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("get_schema"));
    conn.write_all(&reply).await.unwrap();
    drop(conn);
    loop {
        match tokio::time::timeout(Duration::from_secs(30), events.recv()).await.unwrap() {
            Some(ClientEvent::Disconnected { reason }) => {
                // The client tries again.
                let again = tokio::time::timeout(Duration::from_secs(30), listener.accept()).await;
                assert!(again.is_ok(), "client did not reconnect");
                return reason;
            }
            Some(ClientEvent::Connected) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn malformed_truncated_and_oversized_input_gives_clear_errors() {
    let d = Limits::default();
    let r = reason_for(br#"{"id":1,"result":{"tables":"#.to_vec(), d).await;
    assert!(r.contains("middle of a message"), "{r}");
    let r = reason_for(br#"{"id":1,"result":[1,]}"#.to_vec(), d).await;
    assert!(r.contains("invalid JSON"), "{r}");
    let r = reason_for(b"]".to_vec(), d).await;
    assert!(r.contains("unexpected byte 0x5d"), "{r}");
    let r = reason_for(br#"[1,2]"#.to_vec(), d).await;
    assert!(r.contains("unexpected byte 0x5b"), "{r}");
    let deep = format!("{{\"id\":1,\"result\":{}{}}}", "[".repeat(40), "]".repeat(40));
    let r = reason_for(deep.into_bytes(), Limits { max_depth: 32, ..d }).await;
    assert!(r.contains("nested deeper than 32"), "{r}");
    let big = format!("{{\"id\":1,\"result\":\"{}\"}}", "x".repeat(5000));
    let r = reason_for(big.into_bytes(), Limits { max_message: 4096, ..d }).await;
    assert!(r.contains("exceeds 4096 bytes"), "{r}");
    let r = reason_for(br#"{"id":1,"result":{"tables":{"T":{}}},"error":null}"#.to_vec(), d).await;
    assert!(r.contains("schema"), "{r}");
    let r = reason_for(br#"{"jsonrpc":"2.0"}"#.to_vec(), d).await;
    assert!(r.contains("protocol error"), "{r}");
}
