//! Fuzz the OVSDB framer and what sits right on top of it (JSON-RPC classification, monitor
//! update application). Invariants: never panics; framing the input in arbitrary chunks gives
//! the same messages and the same error as framing it in one piece.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vlcp::ovsdb::framer::{Framer, Limits};
use vlcp::ovsdb::jsonrpc::Message;
use vlcp::ovsdb::monitor::{Cache, UpdateFormat};
use vlcp::ovsdb::view::View;

/// Frames `data` pushed in `chunk`-byte pieces; each message is handed to `each`, and the
/// sequence of outcomes is returned as text for comparison.
fn frame(data: &[u8], chunk: usize, mut each: impl FnMut(Message)) -> Vec<String> {
    let mut f = Framer::new(Limits { max_message: 1 << 16, max_depth: 32 });
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        f.push(piece);
        loop {
            match f.next_message() {
                Ok(Some(v)) => {
                    out.push(v.to_string());
                    if let Ok(m) = Message::from_json(v) {
                        each(m);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    out.push(format!("error: {e}"));
                    return out;
                }
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&c, rest)) = data.split_first() else { return };
    let mut cache = Cache::new(&View::monitor_spec(), None);
    let mut view = View::default();
    let whole = frame(rest, rest.len(), |m| {
        if let Message::Notification { params, .. } | Message::Request { params, .. } = m
            && let Some(updates) = params.get(1)
        {
            for format in [UpdateFormat::V1, UpdateFormat::V2] {
                if let Ok(changes) = cache.apply(updates, format) {
                    let _ = view.apply(&changes);
                }
            }
        }
    });
    let chunked = frame(rest, usize::from(c % 17) + 1, |_| {});
    assert_eq!(whole, chunked);
});
