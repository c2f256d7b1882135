//! Docker on two hosts: a dockerd and a `vlcp` daemon per host, one ZooKeeper. The same
//! `docker network create … -o vlcpnetwork=<name>` on both hosts maps to one logical network;
//! containers on A and B get distinct addresses from the shared IPAM and ping each other over
//! VXLAN; the logical network goes with the last host's `docker network rm`.

mod multihost_common;

use std::time::Duration;

use multihost_common::World;
use vlcp_e2e::lab::{Dockerd, Host, ZooKeeper, wait_until};

fn docker(w: &World, d: &Dockerd, args: &[&str]) -> String {
    d.docker(args).unwrap_or_else(|e| panic!("docker {args:?}: {e}\n{}\n{}", d.log_tail(20), w.logs()))
}

fn ip_of(w: &World, d: &Dockerd, c: &str) -> String {
    docker(w, d, &["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", c])
}

fn pings(d: &Dockerd, from: &str, to: &str) -> bool {
    d.cmd().args(["exec", from, "ping", "-c", "1", "-W", "1", to]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn heavy_multihost_docker_network_on_two_hosts() {
    let zk = ZooKeeper::start().expect("zookeeper");
    let w = World::start("dockerbr0", &zk, true);
    let (da, db) = (&w.dockerds[0], &w.dockerds[1]);
    for d in [da, db] {
        let plugin = d.plugin_name();
        docker(
            &w,
            d,
            &[
                "network",
                "create",
                "-d",
                plugin,
                "--ipam-driver",
                plugin,
                "-o",
                "physicalnetwork=vx",
                "-o",
                "vlcpnetwork=shared1",
                "--subnet",
                "198.19.8.0/24",
                "--gateway",
                "198.19.8.1",
                "net1",
            ],
        );
    }
    let nets = w.api(Host::B, "listlogicalnetworks", "");
    assert_eq!(nets.as_array().map(Vec::len), Some(1), "one logical network for both hosts: {nets}");
    assert_eq!(nets[0]["id"], "shared1", "{nets}");

    docker(&w, da, &["run", "-d", "--network", "net1", "--name", "c1", "bb:latest", "sleep", "600"]);
    docker(&w, db, &["run", "-d", "--network", "net1", "--name", "c2", "bb:latest", "sleep", "600"]);
    docker(&w, da, &["run", "-d", "--network", "net1", "--name", "c3", "bb:latest", "sleep", "600"]);
    let (ip1, ip2, ip3) = (ip_of(&w, da, "c1"), ip_of(&w, db, "c2"), ip_of(&w, da, "c3"));
    println!("addresses: c1 {ip1} (A), c2 {ip2} (B), c3 {ip3} (A)");
    for ip in [&ip1, &ip2, &ip3] {
        assert!(ip.starts_with("198.19.8.") && ip != "198.19.8.1", "{ip}");
    }
    assert!(ip1 != ip2 && ip2 != ip3 && ip1 != ip3, "addresses repeat across hosts: {ip1} {ip2} {ip3}");

    let reached =
        wait_until("c1 (A) to reach c2 (B)", Duration::from_secs(30), || pings(da, "c1", &ip2).then_some(()));
    assert!(reached.is_ok(), "c1 (A) cannot reach c2 (B)\n{}", w.logs());
    assert!(pings(db, "c2", &ip1), "c2 (B) -> c1 (A)");
    assert!(pings(db, "c2", &ip3), "c2 (B) -> c3 (A)");
    let ports = w.api(Host::A, "listlogicalports", "");
    assert_eq!(ports.as_array().map(Vec::len), Some(3), "{ports}");

    // Teardown: the network stays while one host still has it.
    docker(&w, da, &["rm", "-f", "c1", "c3"]);
    docker(&w, da, &["network", "rm", "net1"]);
    let nets = w.api(Host::A, "listlogicalnetworks", "");
    assert_eq!(nets.as_array().map(Vec::len), Some(1), "host B still uses shared1: {nets}");
    docker(&w, db, &["rm", "-f", "c2"]);
    docker(&w, db, &["network", "rm", "net1"]);
    let nets = w.api(Host::A, "listlogicalnetworks", "");
    assert_eq!(nets, serde_json::json!([]), "the last host's network rm removes the logical network");
    let ports = w.api(Host::A, "listlogicalports", "");
    assert_eq!(ports, serde_json::json!([]));
}
