//! The virtual router beyond the manual, through the real daemon's API on real OVS: a static
//! route through a router port to a next hop (a logical port that owns the routed prefix), added
//! and removed by `updatevirtualrouter`, and a router interface with an explicit address (not the
//! subnet gateway) that hosts use as their gateway.

mod sdn_common;

use sdn_common::World;
use vlcp_e2e::lab::{Endpoint, EndpointOpts};

const SETUP: &str = r#"
curl -g 'http://localhost:8081/viperflow/createphysicalnetwork?type=local&id=local'
curl -g -d 'physicalnetwork=local&id=net_a' 'http://localhost:8081/viperflow/createlogicalnetwork'
curl -g -d 'physicalnetwork=local&id=net_t' 'http://localhost:8081/viperflow/createlogicalnetwork'
curl -g -d 'physicalnetwork=local&id=net_x' 'http://localhost:8081/viperflow/createlogicalnetwork'
curl -g -d 'logicalnetwork=net_a&cidr=198.18.11.0/24&gateway=198.18.11.1&id=sa' \
    'http://localhost:8081/viperflow/createsubnet'
curl -g -d 'logicalnetwork=net_t&cidr=198.18.12.0/24&gateway=198.18.12.1&id=st' \
    'http://localhost:8081/viperflow/createsubnet'
curl -g -d 'logicalnetwork=net_x&cidr=198.18.14.0/24&gateway=198.18.14.1&id=sx' \
    'http://localhost:8081/viperflow/createsubnet'
curl -g -d 'id=a1&logicalnetwork=net_a&subnet=sa&mac_address=02:00:c6:12:0b:0a&ip_address=198.18.11.10' \
    'http://localhost:8081/viperflow/createlogicalport'
curl -g -d 'id=nh&logicalnetwork=net_t&subnet=st&mac_address=02:00:c6:12:0c:0a&ip_address=198.18.12.10' \
    'http://localhost:8081/viperflow/createlogicalport'
curl -g -d 'id=x1&logicalnetwork=net_x&subnet=sx&mac_address=02:00:c6:12:0e:0a&ip_address=198.18.14.10' \
    'http://localhost:8081/viperflow/createlogicalport'
curl -g 'http://localhost:8081/vrouterapi/createvirtualrouter?id=r1'
curl -g -d 'interfaces=`[{"router": "r1", "subnet": "sa"}, {"router": "r1", "subnet": "st"}, \
    {"router": "r1", "subnet": "sx", "ip_address": "198.18.14.254"}]`' \
    'http://localhost:8081/vrouterapi/addrouterinterfaces'
"#;

/// The routed prefix behind the next hop.
const BEHIND: &str = "198.18.13.1";

fn endpoint(w: &World, id: &str, cidr: &str, mac: &str, gateway: &str) -> Endpoint {
    let opts = EndpointOpts {
        mac: Some(mac.into()),
        iface_id: Some(id.into()),
        gateway: Some(gateway.into()),
        ..Default::default()
    };
    w.ovs.add_endpoint_with(&w.bridge, cidr, &opts).unwrap()
}

#[test]
fn static_route_through_a_router_port_to_a_next_hop() {
    let w = World::start("br0", "");
    w.sh(SETUP);
    let a1 = endpoint(&w, "a1", "198.18.11.10/24", "02:00:c6:12:0b:0a", "198.18.11.1");
    let nh = endpoint(&w, "nh", "198.18.12.10/24", "02:00:c6:12:0c:0a", "198.18.12.1");
    // x1 uses the router's explicit address on sx, not the subnet gateway.
    let x1 = endpoint(&w, "x1", "198.18.14.10/24", "02:00:c6:12:0e:0a", "198.18.14.254");
    // The next hop owns an address of 198.18.13.0/24 (on lo) and routes back via the router.
    nh.ns.run(&["ip", "addr", "add", &format!("{BEHIND}/32"), "dev", "lo"]).unwrap();

    assert!(a1.ns.ping_eventually("198.18.12.10", 15), "a1 → nh (connected)\n{}", w.diag());
    assert!(x1.ns.ping_eventually("198.18.11.10", 10), "x1 → a1 via the explicit address\n{}", w.diag());
    let neigh = x1.ns.run(&["ip", "neigh", "show", "198.18.14.254"]).unwrap();
    assert!(neigh.contains("1a:23:67:59:63:33"), "the router answers ARP for its address: {neigh}");
    assert!(x1.ns.ping("198.18.14.254", 2), "the router answers ping on its explicit address");
    assert!(!a1.ns.ping(BEHIND, 2), "routed before the static route exists\n{}", w.diag());

    w.call("/vrouterapi/updatevirtualrouter", Some(r#"id=r1&routes=`[["198.18.13.0/24", "198.18.12.10"]]`"#));
    w.wait_flows("the static route flow", |f| f.contains("nw_dst=198.18.13.0/24"));
    let route = w.flows().lines().find(|l| l.contains("nw_dst=198.18.13.0/24")).map(str::to_owned);
    let route = route.unwrap_or_default();
    assert!(route.contains("02:00:c6:12:0c:0a") && route.contains("dec_ttl"), "{route}");
    assert!(a1.ns.ping_eventually(BEHIND, 10), "a1 → the prefix behind nh\n{}", w.diag());
    assert!(x1.ns.ping(BEHIND, 2), "x1 → the prefix behind nh");

    w.call("/vrouterapi/updatevirtualrouter", Some("id=r1&routes=`[]`"));
    w.wait_flows("the static route flow to go", |f| !f.contains("nw_dst=198.18.13.0/24"));
    assert!(!a1.ns.ping(BEHIND, 2), "routed after the static route was removed\n{}", w.diag());
    assert!(a1.ns.ping("198.18.12.10", 2), "the connected route stays");
}
