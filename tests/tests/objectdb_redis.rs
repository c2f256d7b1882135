//! ObjectDB on a real Redis server: invariants under concurrent tasks and processes, cross-node
//! notifications, and clear errors for corrupt values.

mod objectdb_common;

use std::sync::Arc;

use objectdb_common as common;
use vlcp::objectdb::{KvStore, ObjectDb, redis::RedisStore};
use vlcp_e2e::lab::Redis;

async fn node(r: &Redis) -> Arc<dyn KvStore> {
    Arc::new(RedisStore::connect(&r.url()).await.expect("connect"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_concurrent_tasks_keep_sum_and_unique_allocations() {
    let r = Redis::start().expect("redis");
    common::tasks_keep_invariants(vec![node(&r).await, node(&r).await, node(&r).await]).await;
}

#[test]
fn redis_two_processes_keep_sum_and_unique_allocations() {
    if common::run_worker_if_requested() {
        return;
    }
    let r = Redis::start().expect("redis");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(common::processes_keep_invariants(
        "redis_two_processes_keep_sum_and_unique_allocations",
        "redis",
        &r.url(),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_change_on_node_a_is_notified_on_node_b() {
    let r = Redis::start().expect("redis");
    common::change_on_a_is_notified_on_b(node(&r).await, node(&r).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_corrupt_values_name_the_key() {
    let r = Redis::start().expect("redis");
    let db = ObjectDb::new(node(&r).await);
    let raw = redis::Client::open(r.url()).unwrap();
    let mut c = raw.get_multiplexed_async_connection().await.unwrap();
    let short = "viperflow.logicalport.short";
    let _: () = redis::cmd("SET").arg(short).arg("abc").query_async(&mut c).await.unwrap();
    let e = db.walk(&[short.to_string()], |w| w.value(short)).await.unwrap_err().to_string();
    assert!(e.contains(short), "{e}");
    let bad = "viperflow.logicalport.badjson";
    let row = [1u64.to_be_bytes().as_slice(), b"{not json"].concat();
    let _: () = redis::cmd("SET").arg(bad).arg(row).query_async(&mut c).await.unwrap();
    let e = db.walk(&[bad.to_string()], |w| w.value(bad)).await.unwrap_err().to_string();
    assert!(e.contains(bad) && e.contains("does not decode"), "{e}");
    // A write transaction touching the bad key fails the same way and writes nothing.
    let e = db
        .transact(&[bad.to_string()], |t| {
            t.put_value("viperflow.logicalport.other", serde_json::json!({}))?;
            t.value(bad)
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(bad), "{e}");
    let other = db.walk(&[], |w| w.value("viperflow.logicalport.other")).await.unwrap();
    assert!(other.is_none());
}
