//! The manual's section 2.2 (basic test with Open vSwitch) on one host, through the real `vlcp`
//! daemon on `config/genericl3.conf` and its management API with the manual's curl commands:
//! VXLAN physical network and port, logical networks with subnets, logical ports bound by
//! `iface-id` and configured by our DHCP server, L2 within a network, isolation between networks
//! (also with the same CIDR, address and MAC), the gateway, a virtual router joining two
//! networks, and the reverse removal that leaves none of the objects' flows.

mod sdn_common;

use sdn_common::{World, dhcp, field};

const BR: &str = "testbr0";

/// 2.2.8 – 2.2.10 (the manual's 192.168.x as 198.18.x), plus network_c: network_a's twin
/// with the same CIDR and gateway.
const NETWORKS: &str = r#"
curl -g -d 'type=vxlan&vnirange=`[[10000,20000]]`&id=vxlan' \
      'http://localhost:8081/viperflow/createnetwork?'
curl -g -d 'physicalnetwork=vxlan&name=vxlan0' \
    'http://localhost:8081/viperflow/createphysicalport'
curl -g -d 'physicalnetwork=vxlan&id=network_a&mtu=`1450`' \
      'http://localhost:8081/viperflow/createlogicalnetwork'
curl -g -d 'physicalnetwork=vxlan&id=network_b&mtu=`1450`' \
      'http://localhost:8081/viperflow/createlogicalnetwork'
curl -g -d 'physicalnetwork=vxlan&id=network_c&mtu=`1450`' \
      'http://localhost:8081/viperflow/createlogicalnetwork'
curl -g -d 'logicalnetwork=network_a&cidr=198.18.1.0/24&gateway=198.18.1.1&id=subnet_a' \
            'http://localhost:8081/viperflow/createsubnet'
curl -g -d 'logicalnetwork=network_b&cidr=198.18.2.0/24&gateway=198.18.2.1&id=subnet_b' \
            'http://localhost:8081/viperflow/createsubnet'
curl -g -d 'logicalnetwork=network_c&cidr=198.18.1.0/24&gateway=198.18.1.1&id=subnet_c' \
            'http://localhost:8081/viperflow/createsubnet'
"#;

/// 2.2.12.
const ROUTER: &str = r#"
curl -g 'http://localhost:8081/vrouterapi/createvirtualrouter?id=subnetrouter'
curl -g -d 'interfaces=`[{"router": "subnetrouter", "subnet": "subnet_a"}, \
    {"router": "subnetrouter", "subnet": "subnet_b"}]`' \
    'http://localhost:8081/vrouterapi/addrouterinterfaces'
"#;

/// 2.2.14, with our four ports and network_c.
const REMOVE: &str = r#"
SERVER_ID=1
curl -g -d 'ports=`[{"id":"'"lgport-${SERVER_ID}-1"'"}, {"id":"'"lgport-${SERVER_ID}-2"'"}, \
        {"id":"'"lgport-${SERVER_ID}-3"'"}, {"id":"'"lgport-${SERVER_ID}-4"'"}]`' \
      'http://localhost:8081/viperflow/deletelogicalports'
curl -g -d 'interfaces=`[{"router":"subnetrouter","subnet":"subnet_a"}, \
                      {"router":"subnetrouter","subnet":"subnet_b"}]`' \
      'http://localhost:8081/vrouterapi/removerouterinterfaces'
curl -g 'http://localhost:8081/vrouterapi/deletevirtualrouter?id=subnetrouter'
curl -g 'http://localhost:8081/viperflow/deletesubnet?id=subnet_a'
curl -g 'http://localhost:8081/viperflow/deletesubnet?id=subnet_b'
curl -g 'http://localhost:8081/viperflow/deletesubnet?id=subnet_c'
curl -g 'http://localhost:8081/viperflow/deletelogicalnetwork?id=network_a'
curl -g 'http://localhost:8081/viperflow/deletelogicalnetwork?id=network_b'
curl -g 'http://localhost:8081/viperflow/deletelogicalnetwork?id=network_c'
curl -g 'http://localhost:8081/viperflow/deletephysicalport?name=vxlan0'
curl -g 'http://localhost:8081/viperflow/deletephysicalnetwork?id=vxlan'
"#;

/// 2.2.11 for one port: the OVS port exists first (`iface-id` set), its MAC is read from the
/// interface, then the logical port is created with it (and `extra` parameters).
fn logical_port(
    w: &World,
    id: &str,
    net: &str,
    subnet: &str,
    mac: Option<&str>,
    extra: &str,
) -> vlcp_e2e::lab::Endpoint {
    let ep = w.endpoint(id, None, mac);
    w.call(
        "/viperflow/createlogicalport",
        Some(&format!("id={id}&logicalnetwork={net}&subnet={subnet}&mac_address={}{extra}", ep.mac)),
    );
    ep
}

#[test]
fn manual_section_2_2_on_one_host_through_the_daemon_api() {
    let w = World::start(BR, "");
    w.ovs
        .vsctl(&[
            "add-port",
            BR,
            "vxlan0",
            "--",
            "set",
            "interface",
            "vxlan0",
            "type=vxlan",
            "options:local_ip=198.18.0.1",
            "options:remote_ip=flow",
            "options:key=flow",
        ])
        .unwrap();
    assert_eq!(w.sh(NETWORKS).len(), 8);

    // 2.2.11: ports 1 and 3 in network_a, 2 in network_b; 4 in network_c with port 1's MAC.
    let e1 = logical_port(&w, "lgport-1-1", "network_a", "subnet_a", None, "");
    let e2 = logical_port(&w, "lgport-1-2", "network_b", "subnet_b", None, "");
    let e3 = logical_port(&w, "lgport-1-3", "network_a", "subnet_a", None, "");
    let lease1 = dhcp(&w, &e1);
    let ip1 = field(&lease1, "ip").to_owned();
    let e4 =
        logical_port(&w, "lgport-1-4", "network_c", "subnet_c", Some(&e1.mac), &format!("&ip_address={ip1}"));

    // DHCP gives address, mask, gateway and MTU from the model.
    for (key, want) in [("subnet", "255.255.255.0"), ("router", "198.18.1.1"), ("mtu", "1450")] {
        assert_eq!(field(&lease1, key), want, "{lease1}");
    }
    assert!(ip1.starts_with("198.18.1."), "{lease1}");
    let mtu = e1.ns.run(&["cat", "/sys/class/net/eth0/mtu"]).unwrap();
    assert_eq!(mtu, "1450");
    let lease2 = dhcp(&w, &e2);
    let ip2 = field(&lease2, "ip").to_owned();
    assert!(ip2.starts_with("198.18.2.") && field(&lease2, "router") == "198.18.2.1", "{lease2}");
    let ip3 = field(&dhcp(&w, &e3), "ip").to_owned();
    assert_eq!(field(&dhcp(&w, &e4), "ip"), ip1, "the twin port gets the same address");

    // Within a network: ping works; the gateway answers.
    assert!(e1.ns.ping_eventually(&ip3, 10), "port 1 → port 3 in network_a\n{}", w.diag());
    assert!(e3.ns.ping(&ip1, 2), "port 3 → port 1");
    assert!(e1.ns.ping_eventually("198.18.1.1", 5), "gateway of network_a\n{}", w.diag());
    assert!(e2.ns.ping_eventually("198.18.2.1", 5), "gateway of network_b\n{}", w.diag());
    // Between networks: nothing, neither the twin network (same CIDR, address and MAC) nor the
    // other CIDR through the gateway while there is no router.
    assert!(!e4.ns.ping(&ip3, 2), "network_c reached network_a\n{}", w.diag());
    assert!(!e1.ns.ping(&ip2, 2), "network_a reached network_b without a router\n{}", w.diag());

    // 2.2.12: a virtual router joins network_a and network_b.
    assert_eq!(w.sh(ROUTER).len(), 2);
    assert!(e1.ns.ping_eventually(&ip2, 15), "port 1 → port 2 through the router\n{}", w.diag());
    assert!(e2.ns.ping(&ip1, 2), "port 2 → port 1 through the router");
    assert!(e2.ns.ping(&ip3, 2), "port 2 → port 3 through the router");
    let ttl = e1.ns.run(&["ping", "-n", "-c", "1", "-W", "1", &ip2]).unwrap();
    assert!(ttl.contains("ttl=63"), "one routed hop decrements the TTL once: {ttl}");
    assert!(e1.ns.ping("198.18.2.1", 2), "the router's other interface answers\n{}", w.diag());
    // network_c is not on the router: its twin of port 1 still reaches nobody.
    assert!(!e4.ns.ping(&ip2, 2), "network_c reached network_b\n{}", w.diag());

    // 2.2.14: reverse removal leaves none of the objects' flows.
    assert!(!w.object_flows().is_empty());
    let replies = w.sh(REMOVE);
    assert_eq!(replies.len(), 11);
    w.wait_flows("the objects' flows to go", |_| w.object_flows().is_empty());
    assert!(!e1.ns.ping("198.18.1.1", 1), "the gateway still answers after removal");
    assert!(w.flows().contains("cookie=0x5c"), "the table defaults stay");
}
