//! ObjectDB figures per backend: transactions/s (1-key and 10-key read-modify-write, one client)
//! and write → notification latency (p50/p99, commit start to delivery on a second node).
//!
//! Run with `cargo bench --bench objectdb`. The embedded store always runs; Redis and ZooKeeper
//! run against a server started here on a free loopback port (redis-server, and Debian's
//! zookeeper under /usr/share/zookeeper), or are skipped with a note when the binary is absent.
//! `OBJECTDB_BENCH_SECS` sets the time per throughput figure (default 3).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use vlcp::objectdb::store::Subscription;
use vlcp::objectdb::{KvStore, Notification, ObjectDb};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A server process killed on drop, with its data dir.
struct Server {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_redis() -> Option<(Server, String)> {
    let dir = tempfile::tempdir().ok()?;
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .ok()?;
    Some((Server { child, _dir: dir }, format!("redis://127.0.0.1:{port}/")))
}

fn start_zookeeper() -> Option<(Server, String)> {
    let script = "/usr/share/zookeeper/bin/zkServer.sh";
    if !std::path::Path::new(script).exists() {
        return None;
    }
    let dir = tempfile::tempdir().ok()?;
    let port = free_port();
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\nmaxSessionTimeout=60000\n",
            dir.path().display()
        ),
    )
    .ok()?;
    let child = Command::new(script)
        .arg("start-foreground")
        .arg(&cfg)
        .env("ZOO_LOG_DIR", dir.path())
        .env("JVMFLAGS", "-Xmx256m")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    Some((Server { child, _dir: dir }, format!("127.0.0.1:{port}")))
}

async fn connect_retrying<F, Fut>(what: &str, f: F) -> Arc<dyn KvStore>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Arc<dyn KvStore>, vlcp::objectdb::StoreError>>,
{
    let start = Instant::now();
    loop {
        match f().await {
            Ok(s) => return s,
            Err(e) if start.elapsed() < Duration::from_secs(60) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// Sequential read-modify-write transactions over `width` keys for `secs`: transactions/s.
async fn throughput(db: &ObjectDb, width: usize, secs: f64) -> f64 {
    let keys: Vec<String> = (0..width).map(|i| format!("bench.w{width}.k{i}")).collect();
    let start = Instant::now();
    let mut done = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        db.transact(&keys, |t| {
            for k in &keys {
                let n = t.value(k)?.and_then(|v| v["n"].as_u64()).unwrap_or(0);
                t.put_value(k, json!({ "n": n + 1, "pad": "0123456789abcdef" }))?;
            }
            Ok(())
        })
        .await
        .expect("transaction");
        done += 1;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

async fn await_commit(sub: &mut Subscription, id: &str) {
    loop {
        match sub.recv().await.expect("store alive") {
            Notification::Changed { commit_id, .. } if commit_id == id => return,
            _ => {}
        }
    }
}

/// Commit start → notification on `observer`, `samples` times: (p50, p99).
async fn latency(db: &ObjectDb, observer: &Arc<dyn KvStore>, samples: usize) -> (Duration, Duration) {
    let mut sub = observer.subscribe();
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples {
        let start = Instant::now();
        let c =
            db.transact(&[], |t| t.put_value("bench.latency", json!({ "i": i }))).await.expect("transaction");
        let id = c.receipt.expect("written").commit_id;
        tokio::time::timeout(Duration::from_secs(10), await_commit(&mut sub, &id))
            .await
            .expect("notification within 10 s");
        lat.push(start.elapsed());
    }
    lat.sort();
    (lat[samples / 2], lat[(samples * 99) / 100])
}

async fn report(name: &str, writer: Arc<dyn KvStore>, observer: Arc<dyn KvStore>, secs: f64) {
    let db = ObjectDb::new(writer);
    let t1 = throughput(&db, 1, secs).await;
    let t10 = throughput(&db, 10, secs).await;
    let (p50, p99) = latency(&db, &observer, 300).await;
    println!(
        "{name:<10} 1-key {t1:>8.0} tx/s   10-key {t10:>8.0} tx/s   write->notify p50 {:>7.2} ms  p99 {:>7.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}

fn main() {
    let secs: f64 = std::env::var("OBJECTDB_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        println!("objectdb: one client, sequential transactions, {secs} s per throughput figure");
        let dir = tempfile::tempdir().expect("temp dir");
        let emb: Arc<dyn KvStore> = Arc::new(
            vlcp::objectdb::embedded::EmbeddedStore::open(dir.path().join("bench.redb")).expect("embedded"),
        );
        report("embedded", emb.clone(), emb, secs).await;

        match start_redis() {
            None => println!("redis      skipped: redis-server not found"),
            Some((_server, url)) => {
                let open = || async {
                    vlcp::objectdb::redis::RedisStore::connect(&url)
                        .await
                        .map(|s| Arc::new(s) as Arc<dyn KvStore>)
                };
                let a = connect_retrying("redis", open).await;
                let b = connect_retrying("redis", open).await;
                report("redis", a, b, secs).await;
            }
        }

        match start_zookeeper() {
            None => println!("zookeeper  skipped: /usr/share/zookeeper not found"),
            Some((_server, connect)) => {
                let open = || async {
                    vlcp::objectdb::zookeeper::ZkStore::connect(&connect)
                        .await
                        .map(|s| Arc::new(s) as Arc<dyn KvStore>)
                };
                let a = connect_retrying("zookeeper", open).await;
                let b = connect_retrying("zookeeper", open).await;
                report("zookeeper", a, b, secs).await;
            }
        }
    });
}
