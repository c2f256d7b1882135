//! vxlancast across two hosts on one ZooKeeper, with the real `vlcp` daemon on each host:
//! logical ports on A and B reach each other over VXLAN with their network's VNI, broadcast ARP
//! crosses the tunnel, two networks with the same subnet stay apart, a port moved from A to B
//! keeps its address and is reached again, and (printed) how long a new port on A takes to be
//! reachable from B.

mod multihost_common;

use std::time::{Duration, Instant};

use multihost_common::{World, percentile, ping_once, time_to_reach};
use vlcp_e2e::lab::{Host, ZooKeeper};

#[test]
fn heavy_multihost_ports_ping_over_vxlan() {
    let zk = ZooKeeper::start().expect("zookeeper");
    let w = World::start("br-int", &zk, false);
    // Two networks with the same subnet: n1 (VNI 101) and n2 (VNI 202).
    w.network("n1", 101, "198.19.1.0/24");
    w.network("n2", 202, "198.19.1.0/24");
    let m_a1 = w.port(Host::A, "a1", "n1", "198.19.1.11");
    let m_b1 = w.port(Host::B, "b1", "n1", "198.19.1.12");
    let m_a2 = w.port(Host::A, "a2", "n2", "198.19.1.21");
    let m_b2 = w.port(Host::B, "b2", "n2", "198.19.1.22");
    let a1 = w.endpoint(Host::A, "a1", &m_a1, "198.19.1.11");
    let b1 = w.endpoint(Host::B, "b1", &m_b1, "198.19.1.12");
    let a2 = w.endpoint(Host::A, "a2", &m_a2, "198.19.1.21");
    let b2 = w.endpoint(Host::B, "b2", &m_b2, "198.19.1.22");

    let t = time_to_reach(&a1, "198.19.1.12", Duration::from_secs(30));
    assert!(t.is_some(), "a1 (host A) never reached b1 (host B)\n{}", w.logs());
    println!("first cross-host reply after the ports were plugged: {:?}", t.unwrap());
    assert!(ping_once(&b1, "198.19.1.11"), "b1 -> a1");
    assert!(
        time_to_reach(&a2, "198.19.1.22", Duration::from_secs(20)).is_some(),
        "a2 -> b2 (n2)\n{}",
        w.logs()
    );

    // The underlay carries VXLAN with n1's VNI, and a broadcast ARP request crosses it.
    a1.ns.run(&["ip", "neigh", "flush", "dev", "eth0"]).unwrap();
    let cap = w.lab.capture_vxlan(Host::A, 6).unwrap();
    assert!(ping_once(&a1, "198.19.1.12"), "a1 -> b1 after flushing ARP");
    let wire = cap.finish(Duration::from_secs(5));
    assert!(wire.contains("vni 101"), "no VXLAN with VNI 101 on A's underlay:\n{wire}");
    assert!(
        wire.contains("ARP, Request who-has 198.19.1.12"),
        "the broadcast ARP request did not cross to host B:\n{wire}"
    );
    assert!(wire.contains("ARP, Reply 198.19.1.12"), "host B's answer did not come back:\n{wire}");
    assert!(!wire.contains("vni 202"), "n2's VNI used for n1 traffic:\n{wire}");

    // Isolation: n1 ports never reach n2 ports, although the addresses share a subnet.
    assert!(!ping_once(&a1, "198.19.1.22"), "a1 (n1) reached b2 (n2) across hosts");
    assert!(!ping_once(&b1, "198.19.1.21"), "b1 (n1) reached a2 (n2) across hosts");
    assert!(ping_once(&b2, "198.19.1.21"), "b2 -> a2 within n2");

    // The stored flood list names both hosts with their tunnel addresses.
    let dump = w.api(Host::B, "listlogicalnetworks", "id=n1");
    assert_eq!(dump[0]["vni"], 101, "{dump}");
}

#[test]
fn heavy_multihost_port_migration_keeps_its_address() {
    let zk = ZooKeeper::start().expect("zookeeper");
    let w = World::start("br-int", &zk, false);
    w.network("n1", 150, "198.19.3.0/24");
    let m_a = w.port(Host::A, "pa", "n1", "198.19.3.10");
    let m_m = w.port(Host::A, "pm", "n1", "198.19.3.20");
    let m_b = w.port(Host::B, "pb", "n1", "198.19.3.30");
    let pa = w.endpoint(Host::A, "pa", &m_a, "198.19.3.10");
    let pb = w.endpoint(Host::B, "pb", &m_b, "198.19.3.30");
    let pm = w.endpoint(Host::A, "pm", &m_m, "198.19.3.20");
    assert!(
        time_to_reach(&pb, "198.19.3.20", Duration::from_secs(30)).is_some(),
        "pb -> pm on A\n{}",
        w.logs()
    );
    assert!(ping_once(&pa, "198.19.3.20"));

    // Move pm: its OVS port leaves A, and the same logical port (iface-id, MAC, IP) appears on B.
    w.lab.a.vsctl(&["del-port", &w.lab.bridge, &pm.host_if]).unwrap();
    drop(pm);
    let start = Instant::now();
    let moved = w.endpoint(Host::B, "pm", &m_m, "198.19.3.20");
    let from_a = time_to_reach(&pa, "198.19.3.20", Duration::from_secs(20));
    let total = start.elapsed();
    assert!(from_a.is_some(), "pm never reachable from A after moving to B\n{}", w.logs());
    println!("port migration A -> B: reachable from host A {total:?} after the port appeared on B");
    assert!(ping_once(&pb, "198.19.3.20"), "pb (B) -> pm (now on B)");
    assert!(ping_once(&moved, "198.19.3.10"), "pm (B) -> pa (A)");
    let port = w.api(Host::B, "listlogicalports", "id=pm");
    assert_eq!(port[0]["ip_address"], "198.19.3.20", "the address stayed: {port}");
}

#[test]
fn heavy_multihost_bench_new_port_reachable_from_other_host() {
    let zk = ZooKeeper::start().expect("zookeeper");
    let w = World::start("br-int", &zk, false);
    w.network("n1", 170, "198.19.4.0/24");
    let m_b = w.port(Host::B, "obs", "n1", "198.19.4.2");
    let obs = w.endpoint(Host::B, "obs", &m_b, "198.19.4.2");
    let mut times = Vec::new();
    let rounds = 12;
    for i in 0..rounds {
        let ip = format!("198.19.4.{}", 10 + i);
        let id = format!("new{i}");
        let mac = w.port(Host::A, &id, "n1", &ip);
        let start = Instant::now();
        let ep = w.endpoint(Host::A, &id, &mac, &ip);
        let t = time_to_reach(&obs, &ip, Duration::from_secs(30));
        let t = t.unwrap_or_else(|| panic!("new port {id} on A never reachable from B\n{}", w.logs()));
        times.push(start.elapsed().max(t));
        drop(ep);
    }
    let (p50, p99) = (percentile(&mut times, 50), percentile(&mut times, 99));
    println!("new port on A reachable from B ({rounds} rounds, from OVS add-port): p50 {p50:?}, p99 {p99:?}");
}
