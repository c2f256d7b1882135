//! Model figures: `createlogicalport` calls/s through [`Model`] (what every web API call and the
//! Docker plugin run), single ports and batches of 100, on the embedded store and on ZooKeeper;
//! plus 8 concurrent single-port clients.
//!
//! Run with `cargo bench --bench model`. ZooKeeper runs against a server started here on a free
//! loopback port (Debian's zookeeper under /usr/share/zookeeper), or is skipped with a note.
//! `MODEL_BENCH_PORTS` sets the number of single-port calls per figure (default 500).
//!
//! Every port creation rewrites the logical network map, the subnet map and the port set (the
//! original's layout), so the cost grows with the number of ports already in the network; the
//! figures give the port count reached.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vlcp::model::{LogicalNetworkSpec, LogicalPortSpec, Model, NetworkType, PhysicalNetworkSpec, SubnetSpec};
use vlcp::objectdb::embedded::EmbeddedStore;
use vlcp::objectdb::zookeeper::ZkStore;
use vlcp::objectdb::{KvStore, ObjectDb};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

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

/// A physical network, a logical network and a /16 subnet (65 000 addresses) named after `tag`.
async fn setup(model: &Model, tag: &str) {
    model
        .create_physical_networks(vec![PhysicalNetworkSpec {
            id: Some(format!("{tag}-vx")),
            kind: NetworkType::Vxlan,
            vlanrange: None,
            vnirange: Some(vec![(1, 1000)]),
            extra: Default::default(),
        }])
        .await
        .expect("physical network");
    model
        .create_logical_networks(vec![LogicalNetworkSpec {
            id: Some(format!("{tag}-net")),
            physicalnetwork: format!("{tag}-vx"),
            ..Default::default()
        }])
        .await
        .expect("logical network");
    model
        .create_subnets(vec![SubnetSpec {
            id: Some(format!("{tag}-sub")),
            logicalnetwork: format!("{tag}-net"),
            cidr: "198.18.0.0/16".into(),
            gateway: Some("198.18.0.1".parse().unwrap()),
            ..Default::default()
        }])
        .await
        .expect("subnet");
}

fn port(tag: &str) -> LogicalPortSpec {
    LogicalPortSpec {
        logicalnetwork: format!("{tag}-net"),
        subnet: Some(format!("{tag}-sub")),
        ..Default::default()
    }
}

async fn single(model: &Model, tag: &str, n: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        model.create_logical_ports(vec![port(tag)]).await.expect("create port");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

async fn batches(model: &Model, tag: &str, batches: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..batches {
        model.create_logical_ports((0..100).map(|_| port(tag)).collect()).await.expect("create batch");
    }
    batches as f64 / start.elapsed().as_secs_f64()
}

async fn concurrent(model: &Model, tag: &str, clients: usize, each: usize) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (m, t) = (model.clone(), tag.to_string());
            tokio::spawn(async move {
                for _ in 0..each {
                    m.create_logical_ports(vec![port(&t)]).await.expect("create port");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    (clients * each) as f64 / start.elapsed().as_secs_f64()
}

async fn run(backend: &str, store: Arc<dyn KvStore>, n: usize) {
    let model = Model::new(ObjectDb::new(store));
    setup(&model, "s").await;
    let s = single(&model, "s", n).await;
    println!("{backend:>9}  createlogicalport single     {s:9.1} calls/s   ({n} ports, network grows 0→{n})");
    setup(&model, "b").await;
    let nb = (n / 100).max(2);
    let b = batches(&model, "b", nb).await;
    println!(
        "{backend:>9}  createlogicalports batch 100 {b:9.1} calls/s = {:.0} ports/s ({nb} batches)",
        b * 100.0
    );
    setup(&model, "c").await;
    let c = concurrent(&model, "c", 8, n / 8).await;
    println!("{backend:>9}  createlogicalport 8 clients  {c:9.1} calls/s   ({} ports)", 8 * (n / 8));
}

fn main() {
    let n: usize = std::env::var("MODEL_BENCH_PORTS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let embedded: Arc<dyn KvStore> =
        Arc::new(EmbeddedStore::open(dir.path().join("bench.redb")).expect("redb"));
    rt.block_on(run("embedded", embedded, n));
    match start_zookeeper() {
        None => println!("zookeeper  skipped: /usr/share/zookeeper is not installed"),
        Some((_server, connect)) => rt.block_on(async {
            let start = Instant::now();
            let store = loop {
                match ZkStore::connect(&format!("{connect}/vlcp-model-bench")).await {
                    Ok(s) => break s,
                    Err(e) if start.elapsed() < Duration::from_secs(60) => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    Err(e) => panic!("zookeeper: {e}"),
                }
            };
            run("zookeeper", Arc::new(store), n).await;
        }),
    }
}
