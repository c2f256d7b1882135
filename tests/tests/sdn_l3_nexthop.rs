//! l3router's ARP resolution of a next hop that is not a logical port, through the real daemon
//! on real OVS. The outside router is a namespace on a physical port of a native physical
//! network (as VLCP models an external gateway: no logical port, no address in the model); a
//! static route sends 198.18.42.0/24 to it. The router ARPs for it (packet-out), learns the
//! reply (packet-in), installs the route flow with its MAC; a logical port pings the prefix behind
//! it. When the outside router's MAC changes, traffic recovers once the refresh after
//! `arp_complete_timeout` is answered; when it stops answering, the route flow goes after
//! `arp_complete_timeout + arp_incomplete_timeout` and comes back with the next answer.

mod sdn_common;

use std::time::Instant;

use sdn_common::World;
use vlcp_e2e::lab::{Endpoint, EndpointOpts};

/// Short ARP timers so one test sees refresh and expiry.
const ARP: &str = "module.l3router.arp_cycle_time=1\nmodule.l3router.arp_complete_timeout=3\n\
                   module.l3router.arp_incomplete_timeout=4\n";

const BEHIND: &str = "198.18.42.1";
const NEXT_HOP: &str = "198.18.41.2";
const MAC1: &str = "02:00:c6:12:29:02";
const MAC2: &str = "02:00:c6:12:29:03";

fn setup(physical_port: &str) -> String {
    format!(
        r#"
curl -g 'http://localhost:8081/viperflow/createphysicalnetwork?type=local&id=local'
curl -g 'http://localhost:8081/viperflow/createphysicalnetwork?type=native&id=ext'
curl -g -d 'physicalnetwork=ext&name={physical_port}' 'http://localhost:8081/viperflow/createphysicalport'
curl -g -d 'physicalnetwork=local&id=net_a' 'http://localhost:8081/viperflow/createlogicalnetwork'
curl -g -d 'physicalnetwork=ext&id=net_t' 'http://localhost:8081/viperflow/createlogicalnetwork'
curl -g -d 'logicalnetwork=net_a&cidr=198.18.40.0/24&gateway=198.18.40.1&id=sa' \
    'http://localhost:8081/viperflow/createsubnet'
curl -g -d 'logicalnetwork=net_t&cidr=198.18.41.0/24&gateway=198.18.41.1&id=st' \
    'http://localhost:8081/viperflow/createsubnet'
curl -g -d 'id=a1&logicalnetwork=net_a&subnet=sa&mac_address=02:00:c6:12:28:0a&ip_address=198.18.40.10' \
    'http://localhost:8081/viperflow/createlogicalport'
curl -g 'http://localhost:8081/vrouterapi/createvirtualrouter?id=r1'
curl -g -d 'interfaces=`[{{"router": "r1", "subnet": "sa"}}, {{"router": "r1", "subnet": "st"}}]`' \
    'http://localhost:8081/vrouterapi/addrouterinterfaces'
"#
    )
}

/// The route flow to the prefix behind the outside router, if installed.
fn route_flow(w: &World) -> Option<String> {
    w.flows().lines().find(|l| l.contains("nw_dst=198.18.42.0/24")).map(str::to_owned)
}

fn set_mac(ext: &Endpoint, mac: &str) {
    let run = |args: &[&str]| ext.ns.run(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    run(&["ip", "link", "set", "eth0", "down"]);
    run(&["ip", "link", "set", "eth0", "address", mac]);
    run(&["ip", "link", "set", "eth0", "up"]);
    run(&["ip", "route", "replace", "198.18.40.0/24", "via", "198.18.41.1"]);
}

#[test]
fn static_route_to_a_next_hop_behind_a_physical_port_is_resolved_by_arp() {
    let w = World::start("br0", ARP);
    // The outside router: on a plain OVS port (the physical port), not a logical port.
    let opts = EndpointOpts { mac: Some(MAC1.into()), ..Default::default() };
    let ext = w.ovs.add_endpoint_with(&w.bridge, &format!("{NEXT_HOP}/24"), &opts).unwrap();
    ext.ns.run(&["ip", "addr", "add", &format!("{BEHIND}/32"), "dev", "lo"]).unwrap();
    ext.ns.run(&["ip", "route", "add", "198.18.40.0/24", "via", "198.18.41.1"]).unwrap();
    w.sh(&setup(&ext.host_if));
    let a1 = w.endpoint("a1", Some("198.18.40.10/24"), Some("02:00:c6:12:28:0a"));
    a1.ns.run(&["ip", "route", "add", "default", "via", "198.18.40.1"]).unwrap();
    assert!(!a1.ns.ping(BEHIND, 1), "routed before the static route exists\n{}", w.diag());

    let t = Instant::now();
    w.call(
        "/vrouterapi/updatevirtualrouter",
        Some(&format!(r#"id=r1&routes=`[["198.18.42.0/24", "{NEXT_HOP}"]]`"#)),
    );
    w.wait_flows("the ARP reply capture", |f| f.contains(&format!("arp_spa={NEXT_HOP}")));
    w.wait_flows("the resolved route flow", |f| f.contains("nw_dst=198.18.42.0/24"));
    println!("next hop resolved {:?} after the route was added", t.elapsed());
    let route = route_flow(&w).unwrap();
    println!("route flow: {route}");
    assert!(route.contains(MAC1) && route.contains("dec_ttl"), "{route}");
    assert!(a1.ns.ping_eventually(BEHIND, 10), "a1 → behind the outside router\n{}", w.diag());
    println!("ping through the resolved next hop {:?} after the route was added", t.elapsed());
    let neigh = ext.ns.run(&["ip", "neigh", "show", "198.18.41.1"]).unwrap();
    assert!(neigh.contains("1a:23:67:59:63:33"), "the outside found the router: {neigh}");

    // The outside router's MAC changes: the refresh finds the new one.
    let t = Instant::now();
    set_mac(&ext, MAC2);
    w.wait_flows("the route flow with the new MAC", |f| {
        f.lines().any(|l| l.contains("nw_dst=198.18.42.0/24") && l.contains(MAC2))
    });
    println!("new MAC in the route flow {:?} after the change", t.elapsed());
    assert!(a1.ns.ping_eventually(BEHIND, 10), "a1 → behind, after the MAC change\n{}", w.diag());
    println!("traffic recovered {:?} after the change", t.elapsed());

    // The outside router stops answering: the route flow goes (packets are dropped), and comes
    // back with the next answer.
    let t = Instant::now();
    ext.ns.run(&["ip", "link", "set", "eth0", "down"]).unwrap();
    w.wait_flows("the route flow to expire", |f| !f.contains("nw_dst=198.18.42.0/24"));
    println!("route flow expired {:?} after the next hop went silent", t.elapsed());
    assert!(!a1.ns.ping(BEHIND, 1), "routed to an expired next hop");
    let t = Instant::now();
    set_mac(&ext, MAC2);
    w.wait_flows("the route flow to return", |f| f.contains("nw_dst=198.18.42.0/24"));
    assert!(a1.ns.ping_eventually(BEHIND, 10), "a1 → behind, after the next hop returned\n{}", w.diag());
    println!("route back {:?} after the next hop answered again", t.elapsed());

    // Removing the route stops the ARP cycle's flows.
    w.call("/vrouterapi/updatevirtualrouter", Some("id=r1&routes=`[]`"));
    w.wait_flows("the route and reply capture to go", |f| {
        !f.contains("nw_dst=198.18.42.0/24") && !f.contains(&format!("arp_spa={NEXT_HOP}"))
    });
    let log = w.daemon.log_text();
    assert!(!log.contains("sent an error"), "the switch rejected something:\n{log}");
}
