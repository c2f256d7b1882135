//! Containers on a vlcp Docker network reach each other and the gateway through our SDN
//! pipeline on OVS, and a second network with the same subnet stays isolated.

mod docker_common;

use docker_common::World;

fn ping(w: &World, container: &str, ip: &str, tries: u32) -> bool {
    (0..tries).any(|_| {
        vlcp_e2e::lab::run(w.dockerd.cmd().args(["exec", container, "ping", "-c", "1", "-W", "1", ip]))
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

#[test]
fn heavy_docker_containers_ping_each_other_and_the_gateway_and_networks_are_isolated() {
    let w = World::new();
    let sdn = w.attach_sdn();
    let plugin = w.plugin().to_string();
    for net in ["net1", "net2"] {
        w.docker(&[
            "network",
            "create",
            "-d",
            &plugin,
            "--ipam-driver",
            &plugin,
            "-o",
            "physicalnetwork=ph",
            "--subnet",
            "198.18.5.0/24",
            "--gateway",
            "198.18.5.1",
            net,
        ]);
    }
    let c1 = w.docker(&["run", "-d", "--network", "net1", "bb:latest", "sleep", "300"]);
    let c2 = w.docker(&["run", "-d", "--network", "net1", "bb:latest", "sleep", "300"]);
    // Same address as c1 (198.18.5.2), in the other network.
    let c3 = w.docker(&["run", "-d", "--network", "net2", "bb:latest", "sleep", "300"]);
    sdn.push_and_wait(&w);
    let (_, ip1, _) = w.endpoint_of(&c1);
    let (_, ip2, _) = w.endpoint_of(&c2);
    let (_, ip3, _) = w.endpoint_of(&c3);
    assert_eq!(ip1, ip3);
    let flows = || w.ovs.ofctl_br("dump-flows", docker_common::BRIDGE, &[]).unwrap_or_default();
    assert!(ping(&w, &c1, &ip2, 10), "c1 → c2\n{}", flows());
    assert!(ping(&w, &c2, &ip1, 3), "c2 → c1\n{}", flows());
    assert!(ping(&w, &c1, "198.18.5.1", 5), "gateway\n{}", flows());
    assert!(!ping(&w, &c3, &ip2, 2), "net2 reached net1\n{}", flows());
    w.docker(&["rm", "-f", &c1, &c2, &c3]);
    w.docker(&["network", "rm", "net1", "net2"]);
    drop(sdn);
}
