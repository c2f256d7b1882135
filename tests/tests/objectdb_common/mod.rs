//! Shared workloads of the ObjectDB end-to-end suites: transfers that keep a sum, an allocation
//! table that must never hand out a value twice, and a worker mode that lets a test spawn its own
//! binary as a second process running the same workloads.

#![allow(dead_code)] // each suite uses a subset

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vlcp::objectdb::{KvStore, ObjectDb, TxnError, Walk};

/// Env var that turns a test binary into a worker: `<backend> <location> <mode> <id> <count>`.
pub const WORKER_ENV: &str = "VLCP_OBJECTDB_WORKER";
/// Number of accounts in the sum invariant.
pub const ACCOUNTS: usize = 10;
/// Initial balance of each account.
pub const BALANCE: i64 = 1000;
/// The allocation table's key.
pub const TABLE: &str = "vlcp.test.alloctable";

pub fn accounts() -> Vec<String> {
    (0..ACCOUNTS).map(|i| format!("vlcp.test.account.{i}")).collect()
}

fn n(v: &Option<Value>) -> i64 {
    v.as_ref().and_then(|v| v["n"].as_i64()).unwrap_or(0)
}

/// Creates the accounts if they do not exist yet.
pub async fn seed_accounts(db: &ObjectDb) {
    let keys = accounts();
    db.transact(&keys, |t| {
        for k in &keys {
            if t.value(k)?.is_none() {
                t.put_value(k, json!({ "n": BALANCE }))?;
            }
        }
        Ok(())
    })
    .await
    .expect("seeding accounts");
}

/// Moves `amount` between two accounts picked from `seed`.
pub async fn transfer(db: &ObjectDb, seed: u64, amount: i64) -> Result<(), TxnError> {
    let keys = accounts();
    let from = keys[(seed % ACCOUNTS as u64) as usize].clone();
    let to = keys[((seed / 7 + 1 + seed) % ACCOUNTS as u64) as usize].clone();
    if from == to {
        return Ok(());
    }
    db.transact(&[from.clone(), to.clone()], |t| {
        let (f, g) = (n(&t.value(&from)?), n(&t.value(&to)?));
        t.put_value(&from, json!({ "n": f - amount }))?;
        t.put_value(&to, json!({ "n": g + amount }))
    })
    .await
    .map(|_| ())
}

/// The sum over all accounts, read in one walker (one consistent snapshot).
pub async fn total(db: &ObjectDb) -> i64 {
    let keys = accounts();
    db.walk(&keys, |w: &mut Walk<'_>| keys.iter().map(|k| Ok(n(&w.value(k)?))).sum())
        .await
        .expect("reading the accounts")
}

/// Takes the lowest free value of the allocation table for `owner`.
pub async fn allocate(db: &ObjectDb, owner: &str) -> Result<u64, TxnError> {
    let c = db
        .transact(&[TABLE.to_string()], |t| {
            let mut used: BTreeMap<String, Value> = t
                .value(TABLE)?
                .and_then(|v| serde_json::from_value(v["used"].clone()).ok())
                .unwrap_or_default();
            let free = (0u64..).find(|v| !used.contains_key(&v.to_string())).expect("a free value");
            used.insert(free.to_string(), json!(owner));
            t.put_value(TABLE, json!({ "used": used }))?;
            Ok(free)
        })
        .await?;
    Ok(c.value)
}

/// The allocation table as value → owner.
pub async fn table(db: &ObjectDb) -> BTreeMap<u64, String> {
    let v = db.walk(&[TABLE.to_string()], |w| w.value(TABLE)).await.expect("reading the table");
    let used: BTreeMap<String, String> =
        v.and_then(|v| serde_json::from_value(v["used"].clone()).ok()).unwrap_or_default();
    used.into_iter().map(|(k, o)| (k.parse().expect("numeric value"), o)).collect()
}

/// Opens a store for a worker spec's backend and location.
pub async fn open(backend: &str, location: &str) -> Arc<dyn KvStore> {
    let lookup = |k: &str| -> Option<String> {
        match (backend, k) {
            (_, "proxy.kvstorage") => Some(backend.to_string()),
            ("zookeeper", "module.zookeeperdb.url") => Some(format!("zk://{location}/")),
            ("redis", "module.redisdb.url") => Some(location.to_string()),
            ("embedded", "module.embeddeddb.path") => Some(location.to_string()),
            _ => None,
        }
    };
    vlcp::objectdb::open_from_config(lookup).await.expect("opening the store")
}

/// If this process was spawned as a worker, runs the workload and returns true.
///
/// Modes: `transfer` (count transfers), `alloc` (count allocations, one `@@ALLOC <v>` line each),
/// `gen` (embedded crash test: endless 10-key generations, one `@@GEN <g>` line per commit).
pub fn run_worker_if_requested() -> bool {
    let Ok(spec) = std::env::var(WORKER_ENV) else { return false };
    let parts: Vec<String> = spec.split(' ').map(str::to_string).collect();
    let [backend, location, mode, id, count] = parts.as_slice() else {
        panic!("bad {WORKER_ENV}: {spec:?}");
    };
    let count: u64 = count.parse().expect("count");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let db = ObjectDb::new(open(backend, location).await);
        match mode.as_str() {
            "transfer" => {
                for i in 0..count {
                    transfer(&db, i * 31 + id.len() as u64 * 17 + 3, 1).await.expect("transfer");
                }
                println!("\n@@DONE");
            }
            "alloc" => {
                for _ in 0..count {
                    let v = allocate(&db, &format!("proc-{id}")).await.expect("allocate");
                    println!("\n@@ALLOC {v}");
                }
                println!("\n@@DONE");
            }
            "gen" => {
                let keys = accounts();
                for g in 1.. {
                    db.transact(&keys, |t| {
                        for k in &keys {
                            t.put_value(k, json!({ "gen": g, "pad": "x".repeat(512) }))?;
                        }
                        Ok(())
                    })
                    .await
                    .expect("generation");
                    println!("\n@@GEN {g}");
                }
            }
            m => panic!("unknown worker mode {m}"),
        }
    });
    true
}

/// Spawns this test binary as a worker running `test_name` (which must call
/// [`run_worker_if_requested`] first).
pub fn spawn_worker(test_name: &str, spec: &str) -> Child {
    Command::new(std::env::current_exe().expect("test binary path"))
        .args([test_name, "--exact", "--nocapture", "--test-threads=1", "--include-ignored"])
        .env(WORKER_ENV, spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning the worker")
}

/// Collects a worker's output lines until it exits; panics if it failed.
pub fn finish_worker(mut child: Child) -> Vec<String> {
    let out = child.stdout.take().expect("piped stdout");
    let lines: Vec<String> = BufReader::new(out).lines().map_while(Result::ok).collect();
    let status = child.wait().expect("waiting for the worker");
    assert!(status.success(), "worker failed ({status}); output:\n{}", lines.join("\n"));
    assert!(lines.iter().any(|l| l.contains("@@DONE")), "worker did not finish:\n{}", lines.join("\n"));
    lines
}

/// Values from `@@ALLOC <v>` lines.
pub fn allocated(lines: &[String]) -> Vec<u64> {
    lines.iter().filter_map(|l| marker(l, "ALLOC")).map(|v| v.parse().expect("value")).collect()
}

/// The text after `@@<name> ` in a worker's output line.
pub fn marker<'l>(line: &'l str, name: &str) -> Option<&'l str> {
    let at = line.find(&format!("@@{name} "))?;
    Some(line[at + name.len() + 3..].trim())
}

/// Awaits `fut` at most `secs` seconds, panicking with `what` otherwise.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {secs} s"))
}

/// Several "nodes" (one store each), several tasks per node: the sum stays constant and the
/// allocation table never hands out a value twice.
pub async fn tasks_keep_invariants(nodes: Vec<Arc<dyn KvStore>>) {
    let dbs: Vec<ObjectDb> = nodes.into_iter().map(ObjectDb::new).collect();
    seed_accounts(&dbs[0]).await;
    let mut tasks = Vec::new();
    for (ni, db) in dbs.iter().enumerate() {
        for ti in 0..3u64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..25u64 {
                    transfer(&db, ni as u64 * 1000 + ti * 100 + i, 1 + (i % 5) as i64)
                        .await
                        .expect("transfer");
                    if i % 5 == 0 {
                        got.push(allocate(&db, &format!("n{ni}t{ti}")).await.expect("allocate"));
                    }
                }
                got
            }));
        }
    }
    // Read the sum while the writers run: every snapshot must be consistent.
    let mut sums = Vec::new();
    while !tasks.iter().all(|t| t.is_finished()) {
        sums.push(total(&dbs[dbs.len() - 1]).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker task"));
    }
    sums.push(total(&dbs[0]).await);
    assert!(sums.iter().all(|s| *s == BALANCE * ACCOUNTS as i64), "inconsistent sums: {sums:?}");
    assert_unique_and_recorded(&dbs[0], all).await;
}

/// Every handed-out value is distinct and the table records exactly those.
pub async fn assert_unique_and_recorded(db: &ObjectDb, mut handed: Vec<u64>) {
    let n = handed.len();
    handed.sort_unstable();
    handed.dedup();
    assert_eq!(handed.len(), n, "a value was handed out twice");
    let t = table(db).await;
    assert_eq!(t.keys().copied().collect::<Vec<_>>(), handed, "table and hand-outs differ");
}

/// Two worker processes per workload next to this one: the invariants hold across processes.
pub async fn processes_keep_invariants(test_name: &str, backend: &str, location: &str) {
    let db = ObjectDb::new(open(backend, location).await);
    seed_accounts(&db).await;
    let workers: Vec<Child> = (0..2)
        .flat_map(|i| {
            [
                spawn_worker(test_name, &format!("{backend} {location} transfer w{i} 60")),
                spawn_worker(test_name, &format!("{backend} {location} alloc w{i} 15")),
            ]
        })
        .collect();
    let mut mine = Vec::new();
    for i in 0..15u64 {
        transfer(&db, 5000 + i, 2).await.expect("transfer");
        mine.push(allocate(&db, "parent").await.expect("allocate"));
    }
    let outputs =
        tokio::task::spawn_blocking(move || workers.into_iter().map(finish_worker).collect::<Vec<_>>())
            .await
            .expect("joining workers");
    for lines in &outputs {
        mine.extend(allocated(lines));
    }
    assert_eq!(mine.len(), 45);
    assert_eq!(total(&db).await, BALANCE * ACCOUNTS as i64);
    assert_unique_and_recorded(&db, mine).await;
}

/// A commit on node A reaches a watcher on node B, with A's commit id, and A can wait until its
/// own watchers saw it.
pub async fn change_on_a_is_notified_on_b(a: Arc<dyn KvStore>, b: Arc<dyn KvStore>) {
    let key = "viperflow.logicalport.notify-test".to_string();
    let mut sub_b = b.subscribe();
    let mut watch_b =
        vlcp::objectdb::KeyWatcher::new(b.clone(), std::slice::from_ref(&key)).await.expect("watch");
    let db_a = ObjectDb::new(a.clone());
    for i in 0..3 {
        let c = db_a.transact(&[], |t| t.put_value(&key, json!({ "n": i }))).await.expect("commit on A");
        let receipt = c.receipt.expect("a write commits");
        db_a.wait_visible(&receipt).await.expect("visible to A's watchers");
        let change = within(20, "B's watcher", watch_b.next()).await.expect("watch").expect("open");
        assert_eq!(change.key, key);
        // The raw subscription carries A's commit id.
        loop {
            match within(20, "B's subscription", sub_b.recv()).await.expect("open") {
                vlcp::objectdb::Notification::Changed { commit_id, changes } => {
                    if commit_id == receipt.commit_id {
                        assert_eq!(changes[0].key, key);
                        assert_eq!(changes[0].stamp, change.stamp);
                        break;
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        // B reads what A wrote.
        let v = ObjectDb::new(b.clone())
            .walk(std::slice::from_ref(&key), |w| w.value(&key))
            .await
            .expect("read on B");
        assert_eq!(n(&v), i);
    }
    db_a.transact(&[], |t| t.delete_key(&key).map(|_| ())).await.expect("delete on A");
    let change = within(20, "B's watcher (delete)", watch_b.next()).await.expect("watch").expect("open");
    assert!(change.deleted);
}
