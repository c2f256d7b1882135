//! ovsdb benchmarks (divan); run with `cargo bench --bench ovsdb`.
//!
//! - `updates_10k`: monitor updates applied to the cache and the typed view for one bridge
//!   with 10 000 ports/interfaces: an `ofport` change (update2 diff), the same as a
//!   full-row `update` (v1), and adding + removing a port (which touches the 10 000-element
//!   `Bridge.ports` set). Throughput is reported in updates/s.
//! - `framer`: bytes/s through the streaming framer, fed in 4 KiB reads.
//! - `initial_10k`: the initial monitor reply for 10 000 interfaces, parsed and applied.

use std::sync::Arc;

use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use serde_json::{Map, Value, json};
use vlcp::ovsdb::framer::Framer;
use vlcp::ovsdb::monitor::{Cache, UpdateFormat};
use vlcp::ovsdb::schema::Schema;
use vlcp::ovsdb::view::View;

const N: usize = 10_000;

fn main() {
    divan::main();
}

fn uuid(kind: u32, i: usize) -> String {
    format!("{kind:08x}-0000-4000-8000-{i:012x}")
}

fn schema() -> Arc<Schema> {
    let set = |k: &str| json!({"type": {"key": k, "min": 0, "max": "unlimited"}});
    let opt = |k: &str| json!({"type": {"key": k, "min": 0, "max": 1}});
    let smap = json!({"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}});
    Arc::new(
        Schema::from_json(&json!({"name": "Open_vSwitch", "tables": {
            "Open_vSwitch": {"columns": {"external_ids": smap, "bridges": set("uuid")}},
            "Bridge": {"columns": {"name": {"type": "string"}, "datapath_id": opt("string"),
                "datapath_type": {"type": "string"}, "fail_mode": opt("string"), "protocols": set("string"),
                "controller": set("uuid"), "ports": set("uuid"), "external_ids": smap}},
            "Port": {"columns": {"name": {"type": "string"}, "interfaces": set("uuid"), "external_ids": smap}},
            "Interface": {"columns": {"name": {"type": "string"}, "type": {"type": "string"},
                "ofport": opt("integer"), "ifindex": opt("integer"), "options": smap,
                "external_ids": smap, "error": opt("string")}},
            "Controller": {"columns": {"target": {"type": "string"}}}
        }}))
        .expect("bench schema"),
    )
}

fn initial() -> Value {
    let ports: Vec<Value> = (0..N).map(|i| json!(["uuid", uuid(2, i)])).collect();
    let mut port_rows = Map::new();
    let mut iface_rows = Map::new();
    for i in 0..N {
        port_rows.insert(
            uuid(2, i),
            json!({"initial": {"name": format!("p{i}"), "interfaces": ["uuid", uuid(3, i)]}}),
        );
        iface_rows.insert(
            uuid(3, i),
            json!({"initial": {"name": format!("p{i}"), "ofport": i as i64 + 1,
                "external_ids": ["map", [["iface-id", format!("lp-{i}")]]]}}),
        );
    }
    json!({
        "Bridge": {uuid(1, 0): {"initial": {"name": "br0", "datapath_type": "netdev", "ports": ["set", ports]}}},
        "Port": port_rows,
        "Interface": iface_rows,
    })
}

fn loaded() -> (Cache, View) {
    let mut cache = Cache::new(&View::monitor_spec(), Some(schema()));
    let mut view = View::default();
    let changes = cache.apply(&initial(), UpdateFormat::V2).expect("initial");
    view.apply(&changes);
    (cache, view)
}

#[divan::bench_group(name = "updates_10k")]
mod updates {
    use super::*;

    const BATCH: usize = 1000;

    /// `update2` modify of one interface's ofport.
    #[divan::bench]
    fn ofport_update2(bencher: Bencher) {
        let (mut cache, mut view) = loaded();
        let updates: Vec<Value> = (0..BATCH)
            .map(|k| {
                let i = k * (N / BATCH);
                json!({"Interface": {uuid(3, i): {"modify": {"ofport": k as i64 + 2}}}})
            })
            .collect();
        bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
            for u in &updates {
                let ch = cache.apply(u, UpdateFormat::V2).expect("apply");
                divan::black_box(view.apply(&ch));
            }
        });
    }

    /// `update` (v1) of one interface: full new row.
    #[divan::bench]
    fn interface_update_v1(bencher: Bencher) {
        let (mut cache, mut view) = loaded();
        let updates: Vec<Value> = (0..BATCH)
            .map(|k| {
                let i = k * (N / BATCH);
                json!({"Interface": {uuid(3, i): {"new": {"name": format!("p{i}"), "ofport": (k % 7) as i64 + 1,
                    "ifindex": 5, "type": "", "options": ["map", []], "error": ["set", []],
                    "external_ids": ["map", [["iface-id", format!("lp-{i}")]]]}}}})
            })
            .collect();
        bencher.counter(ItemsCount::new(BATCH)).bench_local(|| {
            for u in &updates {
                let ch = cache.apply(u, UpdateFormat::V1).expect("apply");
                divan::black_box(view.apply(&ch));
            }
        });
    }

    /// A port added to and removed from the 10 000-port bridge (two update2 notifications,
    /// each modifying `Bridge.ports` by one element).
    #[divan::bench]
    fn add_remove_port_update2(bencher: Bencher) {
        let (mut cache, mut view) = loaded();
        let (b, p, i) = (uuid(1, 0), uuid(2, N + 1), uuid(3, N + 1));
        let add = json!({
            "Bridge": {&b: {"modify": {"ports": ["uuid", &p]}}},
            "Port": {&p: {"insert": {"name": "new", "interfaces": ["uuid", &i]}}},
            "Interface": {&i: {"insert": {"name": "new"}}},
        });
        let del = json!({
            "Bridge": {&b: {"modify": {"ports": ["uuid", &p]}}},
            "Port": {&p: {"delete": null}},
            "Interface": {&i: {"delete": null}},
        });
        bencher.counter(ItemsCount::new(2usize)).bench_local(|| {
            for u in [&add, &del] {
                let ch = cache.apply(u, UpdateFormat::V2).expect("apply");
                divan::black_box(view.apply(&ch));
            }
        });
    }
}

/// Bytes through the framer: 1000 interface update notifications, read 4 KiB at a time.
#[divan::bench]
fn framer(bencher: Bencher) {
    let mut stream = Vec::new();
    for i in 0..1000 {
        let m = json!({"id": null, "method": "update2", "params": ["vlcp", {"Interface": {uuid(3, i):
            {"modify": {"ofport": i, "external_ids": ["map", [["iface-id", format!("lp-{i}")]]]}}}}]});
        serde_json::to_writer(&mut stream, &m).expect("encode");
    }
    bencher.counter(BytesCount::new(stream.len())).bench_local(|| {
        let mut f = Framer::default();
        let mut n = 0;
        for chunk in stream.chunks(4096) {
            f.push(chunk);
            while let Some(v) = f.next_message().expect("frame") {
                n += 1;
                divan::black_box(v);
            }
        }
        assert_eq!(n, 1000);
    });
}

/// The initial monitor reply for 10 000 ports + interfaces: framing, parsing, cache and view.
#[divan::bench(sample_count = 10)]
fn initial_10k(bencher: Bencher) {
    let bytes = serde_json::to_vec(&json!({"id": 2, "result": initial(), "error": null})).expect("encode");
    bencher.counter(ItemsCount::new(2 * N + 1)).bench_local(|| {
        let mut f = Framer::default();
        f.push(&bytes);
        let msg = f.next_message().expect("frame").expect("one message");
        let mut cache = Cache::new(&View::monitor_spec(), Some(schema()));
        let mut view = View::default();
        let ch = cache.apply(&msg["result"], UpdateFormat::V2).expect("apply");
        divan::black_box(view.apply(&ch).len())
    });
}
