//! ObjectDB on real ZooKeeper servers: invariants under concurrent tasks and processes,
//! cross-node notifications, notifications that survive a server restart and a forced session
//! expiry without missing a commit, and an ensemble losing a server without client errors.

mod objectdb_common;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use objectdb_common as common;
use serde_json::json;
use vlcp::objectdb::store::Subscription;
use vlcp::objectdb::{KvStore, Notification, ObjectDb, zookeeper::ZkStore};
use vlcp_e2e::lab::ZooKeeper;

async fn node(connect: &str) -> Arc<ZkStore> {
    Arc::new(ZkStore::connect_with_timeout(connect, Duration::from_secs(6)).await.expect("connect"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zk_concurrent_tasks_keep_sum_and_unique_allocations() {
    let zk = ZooKeeper::start().expect("zookeeper");
    let c = zk.connect_string();
    let nodes: Vec<Arc<dyn KvStore>> = vec![node(&c).await, node(&c).await, node(&c).await];
    common::tasks_keep_invariants(nodes).await;
}

#[test]
fn zk_two_processes_keep_sum_and_unique_allocations() {
    if common::run_worker_if_requested() {
        return;
    }
    let zk = ZooKeeper::start().expect("zookeeper");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(common::processes_keep_invariants(
        "zk_two_processes_keep_sum_and_unique_allocations",
        "zookeeper",
        &zk.connect_string(),
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zk_change_on_node_a_is_notified_on_node_b() {
    let zk = ZooKeeper::start().expect("zookeeper");
    let c = zk.connect_string();
    common::change_on_a_is_notified_on_b(node(&c).await, node(&c).await).await;
}

/// Commits `count` single-key writes on `db` (keys cycle over 5), returning (commit id, key).
async fn write_burst(db: &ObjectDb, start: usize, count: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in start..start + count {
        let key = format!("vlcp.test.burst.{}", i % 5);
        let c = db.transact(&[], |t| t.put_value(&key, json!({ "i": i }))).await.expect("commit");
        out.push((c.receipt.expect("written").commit_id, key));
    }
    out
}

/// Receives until every commit id of `expected` was seen; checks per-key stamp order.
async fn expect_all(sub: &mut Subscription, expected: &[(String, String)], last: &mut BTreeMap<String, u64>) {
    let mut missing: HashSet<&str> = expected.iter().map(|(id, _)| id.as_str()).collect();
    while !missing.is_empty() {
        let n = tokio::time::timeout(Duration::from_secs(60), sub.recv())
            .await
            .unwrap_or_else(|_| {
                panic!("{} commits never notified, e.g. {:?}", missing.len(), missing.iter().next())
            })
            .expect("store alive");
        match n {
            Notification::Changed { commit_id, changes } => {
                for c in &changes {
                    let prev = last.insert(c.key.clone(), c.stamp).unwrap_or(0);
                    assert!(c.stamp > prev, "{}: stamp {} after {prev}: out of order", c.key, c.stamp);
                }
                missing.remove(commit_id.as_str());
            }
            Notification::Resync { reason } => panic!("the change log should replay, got resync: {reason}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zk_server_restart_and_session_expiry_miss_no_change() {
    let mut zk = ZooKeeper::start().expect("zookeeper");
    let c = zk.connect_string();
    let a = ObjectDb::new(node(&c).await);
    let b = node(&c).await;
    let mut sub = b.subscribe();
    let mut last = BTreeMap::new();

    let first = write_burst(&a, 0, 20).await;
    expect_all(&mut sub, &first, &mut last).await;

    // Server restart: B's watch comes back; A's commits go through once the server is up.
    zk.stop_server(0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    zk.start_server(0).expect("restart");
    let second = write_burst(&a, 20, 20).await;
    expect_all(&mut sub, &second, &mut last).await;

    // Forced expiry: a second client takes over B's session and closes it.
    // (zookeeper-client gives a resumed session a zero connect deadline, so an attempt can time
    // out before it starts: retry a few times.)
    let before = b.session().id();
    let mut thief = None;
    for _ in 0..50 {
        match zookeeper_client::Client::connector()
            .with_session(b.session())
            .with_session_timeout(Duration::from_secs(6))
            .connect(&c)
            .await
        {
            Ok(t) => {
                thief = Some(t);
                break;
            }
            Err(e) => eprintln!("attaching to B's session: {e}; retrying"),
        }
    }
    let thief = thief.expect("attach to B's session");
    drop(thief); // dropping the last handle closes the session on the server
    let third_a = write_burst(&a, 40, 10).await;
    // Wait until B notices the expiry and opens a new session, writing meanwhile.
    let mut third = third_a;
    for round in 0.. {
        if b.session().id() != before && b.client().state() == zookeeper_client::SessionState::SyncConnected {
            break;
        }
        assert!(round < 600, "B never replaced its expired session");
        third.extend(write_burst(&a, 50 + round, 1).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    third.extend(write_burst(&a, 1000, 10).await);
    expect_all(&mut sub, &third, &mut last).await;
    // B's reads work on the new session.
    let v =
        ObjectDb::new(b.clone()).walk(&["vlcp.test.burst.0".into()], |w| w.value("vlcp.test.burst.0")).await;
    assert!(v.expect("read on B").is_some());
}

/// Client connections a server reports through the `stat` four-letter word (including the
/// `stat` connection itself).
fn clients_on(port: u16) -> usize {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return 0 };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"stat").is_err() {
        return 0;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().filter(|l| l.starts_with(" /")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_zk_ensemble_losing_one_server_shows_no_client_error() {
    let mut zk = ZooKeeper::ensemble(3).expect("3-server ensemble");
    let c = zk.connect_string();
    let writer = ObjectDb::new(node(&c).await as Arc<dyn KvStore>);
    let watcher = node(&c).await;
    let mut sub = watcher.subscribe();
    common::seed_accounts(&writer).await;
    let mut last = BTreeMap::new();
    let burst = write_burst(&writer, 0, 10).await;
    expect_all(&mut sub, &burst, &mut last).await;

    let load = {
        let writer = writer.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..150u64 {
                // Any error here is a client-visible error: the test fails.
                common::transfer(&writer, i, 1).await.expect("transfer during server loss");
                if i % 10 == 0 {
                    ids.extend(write_burst(&writer, 100 + i as usize, 1).await);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            ids
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Stop the server our clients are connected to, so they must fail over.
    let busiest = (0..3).max_by_key(|i| clients_on(zk.port(*i))).expect("three servers");
    assert!(clients_on(zk.port(busiest)) >= 2, "cannot tell which server the clients use");
    zk.stop_server(busiest);
    let ids = load.await.expect("writer task");
    expect_all(&mut sub, &ids, &mut last).await;
    assert_eq!(common::total(&writer).await, common::BALANCE * common::ACCOUNTS as i64);
    let other = (busiest + 1) % 3;
    zk.stop_server(other);
    // Two of three down: no quorum. Bring one back and the cluster serves again.
    zk.start_server(busiest).expect("restart the stopped server");
    let after = write_burst(&writer, 500, 5).await;
    expect_all(&mut sub, &after, &mut last).await;
}
