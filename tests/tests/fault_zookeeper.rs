//! The store down under a Docker host (issue 11): one ZooKeeper server (the lab fixture) holding
//! the vlcp daemon's objects is stopped for 30 s. Containers keep pinging each other (their flows
//! are on the switch); a `docker run` during the outage does not succeed while the store is away
//! — it fails with an error naming the store, or completes once the store is back, within the
//! store client's 60 s retry window; after the outage `docker run` works and the new container
//! has connectivity (the daemon's watches and model feed survived the session loss).
//!
//! A second test keeps the store away past that window: the `docker run` then fails, through
//! Docker, with an error naming the store, and works again once the store is back.
//!
//! `multihost_zookeeper` covers a 3-server ensemble losing its quorum under two hosts through
//! the management API; these cover a single server and the Docker path.

mod fault_common;

use std::time::{Duration, Instant};

use fault_common::{Host, HostOpts, Store};
use vlcp_e2e::lab::ZooKeeper;

const OUTAGE: Duration = Duration::from_secs(30);

#[test]
fn heavy_zookeeper_down_30s_keeps_traffic_docker_run_waits_or_fails_then_recovers() {
    let mut zk = ZooKeeper::start().expect("zookeeper");
    let h =
        Host::start_with(&HostOpts { store: Store::ZooKeeper(zk.connect_string()), ..Default::default() });
    h.network("n1", 36);
    h.run("c1", "n1", &[]);
    h.run("c2", "n1", &[]);
    let (ip1, ip2) = (h.ip("c1"), h.ip("c2"));
    assert!(h.time_to_reach("c1", &ip2, Duration::from_secs(20)).is_some(), "c1 -> c2\n{}", h.logs());

    // 20 pings a second over the outage and a little after.
    let pinger = h.background_ping("c1", &ip2, 760, "0.05");
    std::thread::sleep(Duration::from_secs(1));
    zk.stop_server(0);
    let down = Instant::now();

    // docker run during the outage, in the background (dockerd has no timeout for plugin calls).
    let during = std::thread::scope(|s| {
        let run = s.spawn(|| {
            let r = h.try_run("during", "n1", &[]);
            (r, down.elapsed())
        });
        std::thread::sleep(OUTAGE.saturating_sub(down.elapsed()));
        let finished_during_outage = run.is_finished();
        zk.start_server(0).expect("zookeeper back");
        let (r, t) = run.join().unwrap();
        (r, t, finished_during_outage)
    });
    let back = down.elapsed();
    let (r, t, finished_during_outage) = during;
    println!("store back after {back:?}; docker run during the outage answered after {t:?}: {r:?}");
    match &r {
        Ok(_) => assert!(
            !finished_during_outage,
            "docker run succeeded while the store was down ({t:?})\n{}",
            h.logs()
        ),
        Err(e) => {
            let lower = e.to_lowercase();
            assert!(
                lower.contains("storage") || lower.contains("zookeeper") || lower.contains("store"),
                "the error does not name the store: {e}"
            );
        }
    }
    assert!(t < Duration::from_secs(90), "docker run hung for {t:?}");
    if r.is_err() {
        let _ = h.try_docker(&["rm", "-f", "during"]);
    }

    // Recovery: a docker run works (retried while the client reconnects) and has connectivity.
    let t = Instant::now();
    run_after_recovery(&h);
    println!("docker run after recovery succeeded {:?} after the store was back", t.elapsed());
    let reach = h.time_to_reach("after", &ip1, Duration::from_secs(30));
    assert!(reach.is_some(), "the container started after recovery cannot reach c1\n{}", h.logs());
    if r.is_ok() {
        assert!(h.time_to_reach("during", &ip2, Duration::from_secs(30)).is_some(), "during -> c2");
    }

    let (sent, got) = pinger.join();
    let lost = sent - got;
    println!("c1 -> c2 across the outage: {sent} pings, {got} replies, {lost} lost");
    assert!(sent >= 700, "the ping did not run ({sent})");
    assert!(lost <= 1, "{lost} pings lost with the store down\n{}", h.logs());
    let attached = if r.is_ok() { 4 } else { 3 };
    let census = h.census(attached);
    assert!(census.clean(), "{census:?}");
}

/// The outage outlasts the store client's retry window: a `docker run` started when the store
/// went away fails — with an error that says the store is unreachable, through Docker — while it
/// is still away; existing traffic is unaffected throughout; after the store is back `docker run` works.
#[test]
fn heavy_zookeeper_down_past_the_retry_window_docker_run_fails_naming_the_store() {
    let mut zk = ZooKeeper::start().expect("zookeeper");
    let h =
        Host::start_with(&HostOpts { store: Store::ZooKeeper(zk.connect_string()), ..Default::default() });
    h.network("n1", 38);
    h.run("c1", "n1", &[]);
    h.run("c2", "n1", &[]);
    let (ip1, ip2) = (h.ip("c1"), h.ip("c2"));
    assert!(h.time_to_reach("c1", &ip2, Duration::from_secs(20)).is_some(), "c1 -> c2\n{}", h.logs());

    // 10 pings a second for 75 s: the outage and a little after.
    let pinger = h.background_ping("c1", &ip2, 750, "0.1");
    zk.stop_server(0);
    let down = Instant::now();
    // Without the lab's 60 s command limit: the answer comes after the store's 60 s window.
    let out = h
        .dockerd
        .cmd()
        .args(["run", "-d", "--network", "n1", "--name", "during", "bb:latest", "sleep", "3600"])
        .output()
        .expect("docker run");
    let answered = down.elapsed();
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    println!("docker run with the store down answered after {answered:?}: {:?} {err}", out.status.code());
    assert!(!out.status.success(), "docker run succeeded with the store down ({answered:?})\n{}", h.logs());
    // e.g. "IpamDriver.RequestAddress: storage: zookeeper: mget: store unreachable for 60 s
    // (last error: session expired)"
    assert!(
        err.contains("zookeeper") && err.contains("unreachable"),
        "the error does not say the store is unreachable: {err}"
    );
    assert!(answered < Duration::from_secs(120), "docker run hung for {answered:?}");
    assert!(h.ping("c1", &ip2), "existing traffic with the store down\n{}", h.logs());
    let _ = h.try_docker(&["rm", "-f", "during"]);

    zk.start_server(0).expect("zookeeper back");
    let t = Instant::now();
    run_after_recovery(&h);
    println!(
        "store down {:?}; docker run after it was back succeeded after {:?}",
        down.elapsed() - t.elapsed(),
        t.elapsed()
    );
    assert!(h.time_to_reach("after", &ip1, Duration::from_secs(30)).is_some(), "after -> c1\n{}", h.logs());

    let (sent, got) = pinger.join();
    let lost = sent - got;
    println!("c1 -> c2 across the outage: {sent} pings, {got} replies, {lost} lost");
    assert!(lost <= 1, "{lost} pings lost with the store down\n{}", h.logs());
    let census = h.census(3);
    assert!(census.clean(), "{census:?}");
}

/// `docker run` of container "after" on n1, retried for up to 60 s while the daemon's store
/// client reconnects; panics with the last error if it never succeeds.
fn run_after_recovery(h: &Host) {
    let t = Instant::now();
    let mut last = String::new();
    while t.elapsed() < Duration::from_secs(60) {
        match h.try_run("after", "n1", &[]) {
            Ok(_) => return,
            Err(e) => {
                last = e;
                let _ = h.try_docker(&["rm", "-f", "after"]);
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    panic!("docker run after the store came back: {last}\n{}", h.logs());
}
