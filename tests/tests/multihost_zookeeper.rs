//! Two hosts on a 3-server ZooKeeper ensemble, through outages: one server down changes nothing
//! (traffic flows, ports are created and become reachable); all servers down keeps existing
//! traffic flowing (the flows stay on the switches) while creations fail with an error naming
//! the store; with the servers back, creations work again and new ports become reachable.
//!
//! "All down" is two of three servers stopped: the third, without a quorum, refuses clients, so
//! no server serves (the lab restarts servers one at a time and waits for each to serve, which a
//! lone ensemble member never does).

mod multihost_common;

use std::time::{Duration, Instant};

use multihost_common::{World, ping_once, time_to_reach};
use vlcp_e2e::lab::{Host, ZooKeeper};

/// Retries `f` for up to `limit` (the client may need a moment to move to another server).
fn eventually<T>(limit: Duration, mut f: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if start.elapsed() > limit => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

#[test]
fn heavy_multihost_zookeeper_ensemble_outages() {
    let mut zk = ZooKeeper::ensemble(3).expect("ensemble");
    let w = World::start("br-int", &zk, false);
    w.network("n1", 120, "198.19.6.0/24");
    let m_a = w.port(Host::A, "a1", "n1", "198.19.6.11");
    let m_b = w.port(Host::B, "b1", "n1", "198.19.6.12");
    let a1 = w.endpoint(Host::A, "a1", &m_a, "198.19.6.11");
    let b1 = w.endpoint(Host::B, "b1", &m_b, "198.19.6.12");
    assert!(time_to_reach(&a1, "198.19.6.12", Duration::from_secs(30)).is_some(), "a1 -> b1\n{}", w.logs());

    // One server of three down: nothing noticed.
    zk.stop_server(0);
    assert!(ping_once(&a1, "198.19.6.12"), "traffic with one server down");
    let form = "logicalnetwork=n1&subnet=n1-s&id=a2&ip_address=198.19.6.21";
    let r = eventually(Duration::from_secs(20), || w.try_api(Host::A, "createlogicalport", form))
        .unwrap_or_else(|e| panic!("create with 2 of 3 servers: {e}\n{}", w.logs()));
    let a2 = w.endpoint(Host::A, "a2", r[0]["mac_address"].as_str().unwrap(), "198.19.6.21");
    assert!(
        time_to_reach(&b1, "198.19.6.21", Duration::from_secs(20)).is_some(),
        "new port on A not reachable from B with one server down\n{}",
        w.logs()
    );

    // The ensemble without a quorum: existing traffic continues, creations fail clearly.
    zk.start_server(0).expect("server 1 rejoins");
    zk.stop_server(1);
    zk.stop_server(2);
    let down = Instant::now();
    for _ in 0..5 {
        assert!(ping_once(&a1, "198.19.6.12"), "existing traffic stopped with the store down\n{}", w.logs());
        assert!(ping_once(&b1, "198.19.6.21"));
    }
    // The store rides out elections for a while before giving up (its retry window).
    let form = "logicalnetwork=n1&subnet=n1-s&id=b2&ip_address=198.19.6.22";
    let err = w
        .try_api_within(Host::B, "createlogicalport", form, Duration::from_secs(120))
        .expect_err("a create succeeded with every ZooKeeper server down");
    for _ in 0..3 {
        assert!(ping_once(&a1, "198.19.6.12"), "existing traffic stopped during the outage\n{}", w.logs());
    }
    println!("create with the store down answered after {:?}: {err}", down.elapsed());
    let lower = err.to_lowercase();
    assert!(
        lower.contains("storage") || lower.contains("zookeeper") || lower.contains("store"),
        "the error does not name the store: {err}"
    );

    // Back: creates work again and the new port is reachable across hosts.
    for i in [1, 2] {
        zk.start_server(i).expect("server restarts");
    }
    let form = "logicalnetwork=n1&subnet=n1-s&id=b3&ip_address=198.19.6.23";
    let r = eventually(Duration::from_secs(60), || w.try_api(Host::B, "createlogicalport", form))
        .unwrap_or_else(|e| panic!("create after the ensemble came back: {e}\n{}", w.logs()));
    let b3 = w.endpoint(Host::B, "b3", r[0]["mac_address"].as_str().unwrap(), "198.19.6.23");
    let t = time_to_reach(&a2, "198.19.6.23", Duration::from_secs(30));
    assert!(t.is_some(), "port created after recovery not reachable from A\n{}", w.logs());
    assert!(ping_once(&b3, "198.19.6.11"));
    assert!(ping_once(&a1, "198.19.6.12"), "old traffic after recovery");
}
