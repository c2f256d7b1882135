//! ObjectDB on the embedded redb store: crash safety under kill -9 (every transaction
//! all-or-nothing after reopening) and concurrent tasks keeping their invariants.

mod objectdb_common;

use std::io::{BufRead, BufReader};
use std::sync::Arc;

use objectdb_common as common;
use vlcp::objectdb::{KvStore, ObjectDb, embedded::EmbeddedStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_concurrent_tasks_keep_sum_and_unique_allocations() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn KvStore> = Arc::new(EmbeddedStore::open(dir.path().join("db.redb")).unwrap());
    common::tasks_keep_invariants(vec![store.clone(), store.clone(), store]).await;
}

/// Reads the ten accounts of a crashed writer: all must carry the same generation.
fn generations(path: &std::path::Path) -> Vec<i64> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store: Arc<dyn KvStore> = Arc::new(EmbeddedStore::open(path).expect("reopen after kill -9"));
        let db = ObjectDb::new(store);
        let keys = common::accounts();
        db.walk(&keys, |w| {
            keys.iter().map(|k| Ok(w.value(k)?.and_then(|v| v["gen"].as_i64()).unwrap_or(0))).collect()
        })
        .await
        .expect("read after reopen")
    })
}

#[test]
fn embedded_kill_9_during_writes_leaves_every_transaction_whole() {
    if common::run_worker_if_requested() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let mut last_reported = 0;
    for round in 0..3 {
        let mut child = common::spawn_worker(
            "embedded_kill_9_during_writes_leaves_every_transaction_whole",
            &format!("embedded {} gen c{round} 0", path.display()),
        );
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Let it commit a few generations, then kill it mid-stream.
        let target = 20 + round * 15;
        let mut seen = 0;
        for line in lines.by_ref() {
            let line = line.expect("worker output");
            if let Some(g) = common::marker(&line, "GEN") {
                seen += 1;
                last_reported = g.parse().unwrap();
                if seen >= target {
                    break;
                }
            }
        }
        assert!(seen >= target, "worker stopped early after {seen} generations");
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
        assert_eq!(rc, 0, "kill -9");
        let status = child.wait().unwrap();
        assert!(!status.success(), "worker should have died by SIGKILL: {status}");
        let gens = generations(&path);
        assert!(gens.iter().all(|g| *g == gens[0]), "round {round}: torn transaction: {gens:?}");
        // Committed (reported) generations survive; at most the in-flight one is added.
        assert!(
            gens[0] >= last_reported,
            "round {round}: lost committed generation {last_reported}: {gens:?}"
        );
        // The next worker restarts its count at 1, so its first commits overwrite older ones.
        last_reported = 0;
    }
}
