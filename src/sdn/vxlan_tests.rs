//! vxlancast unit tests: binding of flood lists and locations, flows, and the refresh rules.

use std::net::Ipv4Addr;

use super::*;
use crate::sdn::bind::{IdAssigner, bind as bind_switch};
use crate::sdn::compute;
use crate::sdn::config::SdnConfig;
use crate::sdn::input::{
    DhcpSettings, LogicalNetwork, LogicalPort, OvsInterface, PhysicalNetwork, PhysicalPort,
};
use crate::sdn::stages::Module;

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const C: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);

fn host(name: &str) -> Host {
    Host { vhost: String::new(), systemid: name.into(), bridge: "br-int".into() }
}

fn switch(name: &str) -> SwitchIdentity {
    SwitchIdentity { vhost: String::new(), systemid: name.into(), bridge: "br-int".into() }
}

fn port(id: &str, net: &str, last: u8) -> LogicalPort {
    LogicalPort {
        id: id.into(),
        network: net.into(),
        subnet: None,
        mac: [2, 0, 0, 0, 0, last],
        ip: Some(Ipv4Addr::new(198, 19, 0, last)),
        hostname: None,
    }
}

fn located(host_name: &str, ip: Ipv4Addr) -> Vec<PortLocation> {
    vec![PortLocation { host: host(host_name), tunnel_ip: ip, updated_us: 1 }]
}

/// Networks n1 (VNI 100) and n2 (VNI 200) on vxlan; p1 on host a, p2 on b, p3 (n2) on c.
fn model() -> ModelSnapshot {
    let mut m = ModelSnapshot::default();
    m.physical_networks.insert("vx".into(), PhysicalNetwork { id: "vx".into(), kind: NetworkType::Vxlan });
    m.physical_ports.push(PhysicalPort {
        vhost: String::new(),
        systemid: "%".into(),
        bridge: "%".into(),
        name: "vxlan0".into(),
        physical_network: "vx".into(),
    });
    for (n, vni) in [("n1", 100), ("n2", 200)] {
        m.logical_networks.insert(
            n.into(),
            LogicalNetwork {
                id: n.into(),
                physical_network: "vx".into(),
                segment: Some(vni),
                dhcp: DhcpSettings::default(),
            },
        );
    }
    m.logical_ports.insert("p1".into(), port("p1", "n1", 1));
    m.logical_ports.insert("p2".into(), port("p2", "n1", 2));
    m.logical_ports.insert("p3".into(), port("p3", "n2", 3));
    let ep = |h: &str, ip| TunnelEndpoint { host: host(h), tunnel_ip: ip, expire_us: u64::MAX };
    m.vxlan.endpoints.insert("n1".into(), vec![ep("a", A), ep("b", B)]);
    m.vxlan.endpoints.insert("n2".into(), vec![ep("a", A), ep("c", C)]);
    m.vxlan.locations.insert("p1".into(), located("a", A));
    m.vxlan.locations.insert("p2".into(), located("b", B));
    m.vxlan.locations.insert("p3".into(), located("c", C));
    m
}

/// Host a's switch with p1 bound at ofport 1 and the tunnel port at 100.
fn input_a(m: &ModelSnapshot) -> SwitchInput {
    let ifaces = [
        OvsInterface { name: "tap1".into(), ofport: 1, iface_id: Some("p1".into()) },
        OvsInterface { name: "vxlan0".into(), ofport: 100, iface_id: None },
    ];
    bind_switch(m, &switch("a"), &ifaces, &mut IdAssigner::default())
}

#[test]
fn binding_sees_other_hosts_of_networks_here_only() {
    let input = input_a(&model());
    let n1 = input.networks.iter().find(|n| n.id == "n1").unwrap().netid;
    assert_eq!(input.vxlan.peers.get(&n1), Some(&vec![B]), "self excluded");
    assert_eq!(input.vxlan.peers.len(), 1, "n2 has no port here");
    assert_eq!(
        input.vxlan.remote_ports,
        [RemotePort { id: "p2".into(), netid: n1, mac: [2, 0, 0, 0, 0, 2], tunnel_dst: B }]
    );
}

#[test]
fn a_port_bound_here_or_located_here_is_not_remote() {
    let mut m = model();
    // p2 moved to a (a wrote itself first) but a's OVS does not show it yet: not remote either.
    m.vxlan.locations.insert("p2".into(), located("a", A));
    assert!(input_a(&m).vxlan.remote_ports.is_empty());
}

#[test]
fn flows_send_remote_macs_and_floods_through_the_tunnel() {
    let cfg = SdnConfig {
        modules: vec![Module::L2Switch, Module::ArpResponder, Module::VxlanCast],
        ..Default::default()
    };
    let p = compute::pipeline(&cfg).unwrap();
    let t = compute::desired(&p, &cfg, &input_a(&model())).unwrap();
    let listing = t.listing(&p);
    let unicast: Vec<&String> = listing.iter().filter(|l| l.starts_with("vxlanoutput 100")).collect();
    assert_eq!(unicast.len(), 1, "{listing:#?}");
    assert!(
        unicast[0].contains("IPV4_DST=c6120002") && unicast[0].contains("output:PortNo(0x64)"),
        "{}",
        unicast[0]
    );
    let flood: Vec<&String> = listing.iter().filter(|l| l.starts_with("egress 50")).collect();
    assert_eq!(flood.len(), 1, "{listing:#?}");
    assert!(
        flood[0].contains("output:PortNo(0x1)") && flood[0].contains("DST=c6120002"),
        "local port and host b: {}",
        flood[0]
    );
    assert!(!flood[0].contains("c6120003"), "host c only has n2: {}", flood[0]);
    let ingress: Vec<&String> =
        listing.iter().filter(|l| l.starts_with("ingress 100") && l.contains("IN_PORT=00000064")).collect();
    assert_eq!(ingress.len(), 1, "tunnel ingress of n1 only: {listing:#?}");
    assert!(ingress[0].contains("move"), "tun_src copied into tun_dst: {}", ingress[0]);
}

#[test]
fn without_vxlancast_no_tunnel_flows() {
    let cfg = SdnConfig::default();
    let p = compute::pipeline(&cfg).unwrap();
    let t = compute::desired(&p, &cfg, &input_a(&model())).unwrap();
    assert!(!t.listing(&p).iter().any(|l| l.contains("c6120002")));
}

const S: u64 = 1_000_000;

#[test]
fn endpoint_set_refresh_adds_renews_and_removes() {
    let me = host("a");
    let empty = VxlanEndpointSet { id: "n1".into(), endpointlist: Vec::new() };
    let added = refresh_endpoint_set(&empty, &me, A, true, 10 * S, 100 * S).unwrap();
    assert_eq!(added.endpointlist, [(A.to_string(), String::new(), "a".into(), "br-int".into(), 210 * S)]);
    assert_eq!(refresh_endpoint_set(&added, &me, A, true, 50 * S, 100 * S), None, "fresh enough");
    let renewed = refresh_endpoint_set(&added, &me, A, true, 150 * S, 100 * S).unwrap();
    assert_eq!(renewed.endpointlist[0].4, 350 * S, "less than one interval left: renewed");
    let moved = refresh_endpoint_set(&added, &me, B, true, 50 * S, 100 * S).unwrap();
    assert_eq!(moved.endpointlist.len(), 1, "new tunnel address replaces the old entry");
    assert_eq!(moved.endpointlist[0].0, B.to_string());
    let gone = refresh_endpoint_set(&added, &me, A, false, 50 * S, 100 * S).unwrap();
    assert!(gone.endpointlist.is_empty());
    assert_eq!(refresh_endpoint_set(&gone, &me, A, false, 50 * S, 100 * S), None);
}

#[test]
fn endpoint_set_drops_expired_entries_of_others() {
    let set = VxlanEndpointSet {
        id: "n1".into(),
        endpointlist: vec![
            (B.to_string(), String::new(), "b".into(), "br-int".into(), 20 * S),
            (C.to_string(), String::new(), "c".into(), "br-int".into(), 500 * S),
        ],
    };
    let out = refresh_endpoint_set(&set, &host("a"), A, false, 30 * S, 100 * S).unwrap();
    assert_eq!(out.endpointlist.len(), 1);
    assert_eq!(out.endpointlist[0].2, "c");
}

#[test]
fn port_info_puts_the_binding_host_first_and_keeps_recent_ones() {
    let (a, b) = (host("a"), host("b"));
    let empty = LogicalPortVxlanInfo { id: "p1".into(), endpoints: Vec::new() };
    let on_a = update_port_info(&empty, &a, A, true, 10 * S, 120 * S).unwrap();
    assert_eq!(on_a.endpoints.len(), 1);
    assert_eq!(update_port_info(&on_a, &a, A, true, 20 * S, 120 * S), None);
    // Migration: b binds it; a stays behind while recent.
    let on_b = update_port_info(&on_a, &b, B, true, 30 * S, 120 * S).unwrap();
    assert_eq!(
        on_b.endpoints.iter().map(|e| e.systemid.as_str()).collect::<Vec<_>>(),
        ["b", "a"],
        "newest first"
    );
    // a loses the port: its entry goes.
    let a_left = update_port_info(&on_b, &a, A, false, 31 * S, 120 * S).unwrap();
    assert_eq!(a_left.endpoints.len(), 1);
    assert_eq!(update_port_info(&a_left, &a, A, false, 32 * S, 120 * S), None);
    // Long after, b's refresh drops a stale entry of another host.
    let stale = update_port_info(&on_b, &b, B, true, 500 * S, 120 * S).unwrap();
    assert_eq!(stale.endpoints.len(), 1);
    assert_eq!(stale.endpoints[0].updated_time, 30 * S, "b keeps its own binding time");
}

#[test]
fn stored_objects_convert_without_expired_or_bad_entries() {
    let sets = [VxlanEndpointSet {
        id: "n1".into(),
        endpointlist: vec![
            (A.to_string(), String::new(), "a".into(), "br".into(), 100),
            ("not-an-ip".into(), String::new(), "x".into(), "br".into(), 100),
            (B.to_string(), String::new(), "b".into(), "br".into(), 5),
        ],
    }];
    let m = VxlanModel::from_stored(&sets, &[], 10);
    assert_eq!(m.endpoints["n1"].len(), 1);
    assert_eq!(m.endpoints["n1"][0].tunnel_ip, A);
    let json = serde_json::to_value(&sets[0]).unwrap();
    assert_eq!(json["endpointlist"][0], serde_json::json!(["198.18.0.1", "", "a", "br", 100]));
}
