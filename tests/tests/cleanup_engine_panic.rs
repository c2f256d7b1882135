//! vlcp-cleanup after a Docker engine panic: containers on a vlcp network, the vlcp daemon
//! down, dockerd killed with -9 together with the containers' processes, dockerd started
//! again. The orphans keep the containers from starting; one cleanup run removes every one of
//! them, a second run finds nothing, and the containers start again with their same IPs and
//! reach each other through the SDN pipeline.

mod cleanup_common;

use std::sync::Arc;

use cleanup_common::{Host, actions, ping};
use vlcp_e2e::lab::ZooKeeper;

#[test]
fn heavy_cleanup_after_engine_panic_containers_start_again_with_their_ips() {
    let zk = ZooKeeper::start().expect("zookeeper");
    let rt = Arc::new(tokio::runtime::Runtime::new().unwrap());
    let mut h = Host::new(rt, &zk, true);
    let sdn = h.attach_sdn();
    h.network("net1", 5);
    let c1 = h.docker(&["run", "-d", "--network", "net1", "--ip", "198.18.5.2", "bb:latest", "sleep", "600"]);
    let c2 = h.docker(&["run", "-d", "--network", "net1", "--ip", "198.18.5.3", "bb:latest", "sleep", "600"]);
    let ports = h.port_ids();
    assert_eq!(ports.len(), 2, "{ports:?}");
    sdn.push_and_wait(&h, &ports);
    assert!(ping(&h, &c1, "198.18.5.3", 10), "c1 → c2 before the crash");
    let nothing = h.cleanup(&["--json"]).json(0);
    assert!(actions(&nothing).is_empty(), "a healthy host has no orphans: {nothing}");

    // The crash: the daemon is down, the engine and the containers' processes die.
    let pids: Vec<String> =
        [&c1, &c2].iter().map(|c| h.docker(&["inspect", "-f", "{{.State.Pid}}", c])).collect();
    h.stop_plugin();
    h.kill_dockerd();
    for p in &pids {
        let pid: i32 = p.parse().unwrap();
        // SAFETY: kill(2) on the container processes this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    h.restart_dockerd();
    h.start_plugin();
    let plan = h.cleanup(&["--dry-run", "--json"]).json(3);
    let planned = actions(&plan);
    for p in &ports {
        assert!(planned.contains(&format!("logical_port {p}")), "{p} not planned: {planned:?}");
    }
    // The orphans hold the addresses: the containers cannot start.
    let blocked = vlcp_e2e::lab::run(h.dockerd.cmd().args(["start", &c1])).unwrap();
    let why = String::from_utf8_lossy(&blocked.stderr);
    assert!(!blocked.status.success() && why.contains("already in use"), "{why}");

    let human = h.cleanup(&[]);
    assert_eq!(human.code, Some(3), "{human:?}");
    assert!(human.stdout.contains("Removed"), "{}", human.stdout);
    let again = h.cleanup(&["--json"]).json(0);
    assert!(actions(&again).is_empty(), "second run: {again}");
    let (veths, ifaces) = h.plumbing();
    assert!(veths.is_empty() && ifaces.is_empty(), "left: {veths:?} {ifaces:?}\n{:#?}", h.state());
    assert!(h.port_ids().is_empty(), "{:?}", h.port_ids());
    assert!(h.reservations().is_empty(), "{:?}", h.reservations());

    h.docker(&["start", &c1, &c2]);
    let (_, ip1) = h.endpoint_of(&c1);
    let (_, ip2) = h.endpoint_of(&c2);
    assert_eq!((ip1.as_str(), ip2.as_str()), ("198.18.5.2", "198.18.5.3"));
    let ports = h.port_ids();
    sdn.push_and_wait(&h, &ports);
    assert!(ping(&h, &c1, "198.18.5.3", 10), "c1 → c2 after the cleanup");
    assert!(ping(&h, &c2, "198.18.5.2", 3), "c2 → c1 after the cleanup");
    h.docker(&["rm", "-f", &c1, &c2]);
    h.docker(&["network", "rm", "net1"]);
    drop(sdn);
}
