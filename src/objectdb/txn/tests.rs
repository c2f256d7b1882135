//! Walker and write-transaction logic on the embedded store.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::*;
use crate::objectdb::embedded::EmbeddedStore;
use crate::objectdb::object::UniqueIndex;
use crate::objectdb::store::{BoxFut, Subscription};
use crate::objectdb::watch::KeyWatcher;

fn temp_store() -> (tempfile::TempDir, Arc<EmbeddedStore>) {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(dir.path().join("db.redb")).unwrap();
    (dir, Arc::new(s))
}

/// A store that runs a scripted "other writer" just before its n-th snapshot read.
struct Meddler {
    inner: Arc<EmbeddedStore>,
    mgets: AtomicU32,
    commits: AtomicU32,
    /// (when, the other writer's value for "a" and "b").
    plan: Mutex<Vec<(When, i64, i64)>>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum When {
    /// Just before the n-th snapshot read.
    Mget(u32),
    /// Just before the n-th commit reaches the store.
    Commit(u32),
}

impl Meddler {
    fn new(inner: Arc<EmbeddedStore>, plan: Vec<(When, i64, i64)>) -> Arc<Self> {
        Arc::new(Meddler {
            inner,
            mgets: AtomicU32::new(0),
            commits: AtomicU32::new(0),
            plan: Mutex::new(plan),
        })
    }

    async fn meddle(&self, when: When) {
        let due: Vec<(i64, i64)> = {
            let mut plan = self.plan.lock().unwrap();
            let due = plan.iter().filter(|p| p.0 == when).map(|p| (p.1, p.2)).collect();
            plan.retain(|p| p.0 != when);
            due
        };
        for (a, b) in due {
            let db = ObjectDb::new(self.inner.clone());
            db.transact(&[], |t| {
                t.put_value("a", json!({ "n": a, "next": "b" }))?;
                t.put_value("b", json!({ "n": b }))
            })
            .await
            .unwrap();
        }
    }
}

impl KvStore for Meddler {
    fn backend(&self) -> &'static str {
        "meddler"
    }
    fn mget<'a>(&'a self, keys: &'a [String]) -> BoxFut<'a, Result<Vec<Entry>, StoreError>> {
        Box::pin(async move {
            let n = self.mgets.fetch_add(1, Ordering::SeqCst);
            self.meddle(When::Mget(n)).await;
            self.inner.mget(keys).await
        })
    }
    fn commit(&self, ws: WriteSet) -> BoxFut<'_, Result<CommitResult, StoreError>> {
        Box::pin(async move {
            let n = self.commits.fetch_add(1, Ordering::SeqCst);
            self.meddle(When::Commit(n)).await;
            self.inner.commit(ws).await
        })
    }
    fn scan_prefix<'a>(&'a self, prefix: &'a str) -> BoxFut<'a, Result<Vec<String>, StoreError>> {
        self.inner.scan_prefix(prefix)
    }
    fn subscribe(&self) -> Subscription {
        self.inner.subscribe()
    }
    fn wait_visible<'a>(&'a self, r: &'a CommitReceipt, t: Duration) -> BoxFut<'a, Result<(), StoreError>> {
        self.inner.wait_visible(r, t)
    }
}

fn n(v: &Option<Value>) -> i64 {
    v.as_ref().and_then(|v| v["n"].as_i64()).unwrap_or(0)
}

async fn seed_ab(store: &Arc<EmbeddedStore>) {
    ObjectDb::new(store.clone())
        .transact(&[], |t| {
            t.put_value("a", json!({ "n": 4, "next": "b" }))?;
            t.put_value("b", json!({ "n": 6 }))
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn walker_restart_rereads_every_key_in_one_snapshot() {
    let (_d, inner) = temp_store();
    seed_ab(&inner).await;
    // Between the first snapshot (only "a") and the second ("a" + discovered "b") another
    // writer moves 3 from a to b. The rerun must not mix the old a with the new b.
    let meddler = Meddler::new(inner, vec![(When::Mget(1), 1, 9)]);
    let db = ObjectDb::new(meddler.clone());
    let mut runs = 0;
    let (a, b) = db
        .walk(&["a".to_string()], |w| {
            runs += 1;
            let a = w.value("a")?;
            let next = a.as_ref().and_then(|v| v["next"].as_str()).map(str::to_string);
            let b = match next {
                Some(k) => w.value(&k)?,
                None => None,
            };
            Ok((n(&a), n(&b)))
        })
        .await
        .unwrap();
    assert_eq!(runs, 2, "one run to discover b, one on the larger snapshot");
    assert_eq!(a + b, 10, "a={a} b={b} come from different versions");
    assert_eq!((a, b), (1, 9));
}

#[tokio::test]
async fn walker_that_swallows_not_retrieved_still_reruns() {
    let (_d, inner) = temp_store();
    seed_ab(&inner).await;
    let db = ObjectDb::new(inner);
    let seen = db
        .walk(&["a".into()], |w| {
            let b = w.value("b").unwrap_or(None);
            Ok(n(&b))
        })
        .await
        .unwrap();
    assert_eq!(seen, 6);
}

#[tokio::test]
async fn write_conflict_retries_on_fresh_data() {
    let (_d, inner) = temp_store();
    seed_ab(&inner).await;
    // Another writer commits (2, 8) between our snapshot (4, 6) and our commit: the commit
    // must conflict and the rerun must build on (2, 8).
    let db = ObjectDb::new(Meddler::new(inner.clone(), vec![(When::Commit(0), 2, 8)]));
    let mut runs = 0;
    db.transact(&["a".into(), "b".into()], |t| {
        runs += 1;
        let (a, b) = (t.value("a")?, t.value("b")?);
        t.put_value("a", json!({ "n": n(&a) - 1 }))?;
        t.put_value("b", json!({ "n": n(&b) + 1 }))
    })
    .await
    .unwrap();
    assert_eq!(runs, 2);
    let db = ObjectDb::new(inner);
    let ab =
        db.walk(&["a".into(), "b".into()], |w| Ok((n(&w.value("a")?), n(&w.value("b")?)))).await.unwrap();
    assert_eq!(ab, (1, 9));
}

#[tokio::test]
async fn conflicts_are_bounded_and_leave_nothing_written() {
    let (_d, inner) = temp_store();
    seed_ab(&inner).await;
    let plan = (0..10).map(|i| (When::Commit(i), 100 + i as i64, -(100 + i as i64))).collect();
    let db = ObjectDb::with_options(
        Meddler::new(inner.clone(), plan),
        TxnOptions { max_conflicts: 2, ..TxnOptions::default() },
    );
    let e = db
        .transact(&["a".into()], |t| {
            let a = t.value("a")?;
            t.put_value("a", json!({ "n": n(&a) + 1000 }))
        })
        .await
        .unwrap_err();
    assert!(matches!(e, TxnError::TooManyConflicts { conflicts: 3 }), "{e}");
    let db = ObjectDb::new(inner);
    let ab =
        db.walk(&["a".into(), "b".into()], |w| Ok((n(&w.value("a")?), n(&w.value("b")?)))).await.unwrap();
    assert_eq!(ab, (102, -102), "only the other writer's commits are visible");
}

#[tokio::test]
async fn aborted_transaction_writes_nothing() {
    let (_d, inner) = temp_store();
    seed_ab(&inner).await;
    let db = ObjectDb::new(inner);
    let r: Result<Committed<()>, _> = db
        .transact(&["a".into(), "b".into()], |t| {
            t.put_value("a", json!({ "n": 0 }))?;
            Err(TxnError::Aborted("changed my mind".into()))
        })
        .await;
    assert!(matches!(r, Err(TxnError::Aborted(_))));
    let a = db.walk(&["a".into()], |w| w.value("a")).await.unwrap();
    assert_eq!(n(&a), 4);
}

#[tokio::test]
async fn timeout_is_a_clear_error() {
    let (_d, inner) = temp_store();
    let db = ObjectDb::with_options(inner, TxnOptions { timeout: Duration::ZERO, ..TxnOptions::default() });
    let r = db.transact(&[], |t| t.put_value("a", json!({}))).await;
    let e = r.unwrap_err();
    assert!(matches!(e, TxnError::Timeout { .. }), "{e}");
    assert!(e.to_string().contains("nothing was written"));
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Port {
    id: String,
    network: String,
    mac_address: String,
}

impl DataObject for Port {
    const PREFIX: &'static str = "viperflow.logicalport";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
    fn unique_indices(&self) -> Vec<UniqueIndex> {
        vec![UniqueIndex {
            name: "_mac_address_index",
            values: vec![self.network.clone(), self.mac_address.clone()],
        }]
    }
}

fn port(id: &str, mac: &str) -> Port {
    Port { id: id.into(), network: "viperflow.logicnetwork.n1".into(), mac_address: mac.into() }
}

#[tokio::test]
async fn unique_indices_reject_duplicates_and_follow_updates() {
    let (_d, inner) = temp_store();
    let db = ObjectDb::new(inner);
    db.transact(&[], |t| t.put(&port("p1", "02:00:00:00:00:01"))).await.unwrap();
    let e = db.transact(&[], |t| t.put(&port("p2", "02:00:00:00:00:01"))).await.unwrap_err();
    match e {
        TxnError::AlreadyExists { owner, .. } => assert_eq!(owner, "viperflow.logicalport.p1"),
        e => panic!("unexpected {e}"),
    }
    // Nothing of p2 was written.
    let p2 = db.walk(&[], |w| w.get::<Port>(&Port::key_of(&["p2"]))).await.unwrap();
    assert!(p2.is_none());
    // p1 moves to another MAC: the old one is free again.
    db.transact(&[], |t| t.put(&port("p1", "02:00:00:00:00:09"))).await.unwrap();
    db.transact(&[], |t| t.put(&port("p2", "02:00:00:00:00:01"))).await.unwrap();
    // Deleting p2 frees its MAC.
    db.transact(&[], |t| t.delete::<Port>(&Port::key_of(&["p2"]))).await.unwrap();
    db.transact(&[], |t| t.put(&port("p3", "02:00:00:00:00:01"))).await.unwrap();
    let idx = db.store().scan_prefix("indices.").await.unwrap();
    assert_eq!(idx.len(), 2, "{idx:?}");
}

#[tokio::test]
async fn stamps_keep_create_time_and_count_updates() {
    let (_d, inner) = temp_store();
    let db = ObjectDb::new(inner);
    let key = Port::key_of(&["p1"]);
    db.transact(&[], |t| t.put(&port("p1", "m1"))).await.unwrap();
    let first = db.walk(&[], |w| w.get::<Port>(&key)).await.unwrap().unwrap();
    assert_eq!(first.kvdb_updateversion, 1);
    assert!(first.kvdb_createtime > 1_600_000_000_000_000);
    db.transact(&[], |t| t.put(&port("p1", "m2"))).await.unwrap();
    let second = db.walk(&[], |w| w.get::<Port>(&key)).await.unwrap().unwrap();
    assert_eq!(second.kvdb_updateversion, 2);
    assert_eq!(second.kvdb_createtime, first.kvdb_createtime);
    assert_eq!(second.data.mac_address, "m2");
}

#[tokio::test]
async fn corrupt_values_name_the_key() {
    let (_d, inner) = temp_store();
    let db = ObjectDb::new(inner.clone());
    let key = Port::key_of(&["bad"]);
    // Valid row header, invalid JSON.
    inner.write_raw_for_test(&key, &[0, 0, 0, 0, 0, 0, 0, 1, b'{', b'x']).unwrap();
    let e = db.walk(&[], |w| w.get::<Port>(&key)).await.unwrap_err().to_string();
    assert!(e.contains(&key), "{e}");
    // Valid JSON of the wrong shape.
    inner.write_raw_for_test(&key, &[[0u8; 8].as_slice(), br#"{"id": 5}"#].concat()).unwrap();
    let e = db.walk(&[], |w| w.get::<Port>(&key)).await.unwrap_err().to_string();
    assert!(e.contains(&key) && e.contains("Port"), "{e}");
    // A row too short for its header.
    inner.write_raw_for_test(&key, b"abc").unwrap();
    let e = db.walk(&[], |w| w.get::<Port>(&key)).await.unwrap_err().to_string();
    assert!(e.contains(&key), "{e}");
}

#[tokio::test]
async fn concurrent_transfers_keep_the_sum() {
    let (_d, inner) = temp_store();
    let db = ObjectDb::new(inner);
    let keys: Vec<String> = (0..10).map(|i| format!("acct.{i}")).collect();
    db.transact(&[], |t| keys.iter().try_for_each(|k| t.put_value(k, json!({ "n": 100 })))).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let (db, keys) = (db.clone(), keys.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..40u64 {
                let (from, to) = (&keys[((w + i) % 10) as usize], &keys[((w * 3 + i * 7 + 1) % 10) as usize]);
                db.transact(&[from.clone(), to.clone()], |t| {
                    let (f, g) = (n(&t.value(from)?), n(&t.value(to)?));
                    if from != to {
                        t.put_value(from, json!({ "n": f - 1 }))?;
                        t.put_value(to, json!({ "n": g + 1 }))?;
                    }
                    Ok(())
                })
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let sum: i64 = db.walk(&keys, |w| keys.iter().map(|k| Ok(n(&w.value(k)?))).sum()).await.unwrap();
    assert_eq!(sum, 1000);
}

#[tokio::test]
async fn watcher_sees_each_commit_in_order_and_wait_visible_holds() {
    let (_d, inner) = temp_store();
    let db = ObjectDb::new(inner.clone());
    let mut watcher = KeyWatcher::new(inner.clone(), &["a".into()]).await.unwrap();
    let mut stamps = Vec::new();
    for i in 0..5 {
        let c = db.transact(&[], |t| t.put_value("a", json!({ "n": i }))).await.unwrap();
        db.wait_visible(c.receipt.as_ref().unwrap()).await.unwrap();
        let change = watcher.next().await.unwrap().unwrap();
        assert_eq!(change.key, "a");
        assert!(!change.deleted);
        stamps.push(change.stamp);
    }
    db.transact(&[], |t| t.delete_key("a").map(|_| ())).await.unwrap();
    let del = watcher.next().await.unwrap().unwrap();
    assert!(del.deleted);
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    assert!(del.stamp > stamps[4]);
}
