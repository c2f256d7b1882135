//! nexthop unit tests: which next hops are ARP targets, the flows before and after resolution,
//! the request and reply frames, and the cycle/expiry rules of [`ArpTable`].

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use etherparse::{ArpOperation, NetSlice, SlicedPacket};

use super::*;
use crate::sdn::bind::{IdAssigner, bind};
use crate::sdn::compute;
use crate::sdn::input::*;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

const EXT_MAC: Mac = [2, 0, 0xc6, 0x12, 2, 0x63];

fn cfg() -> SdnConfig {
    let mut c = SdnConfig::default();
    c.modules.push(Module::L3Router);
    c.with_dependencies()
}

/// na 198.18.1.0/24 (local, port pa bound) and nt 198.18.2.0/24 (native, physical port eth9
/// bound) on router r1; routes 198.18.100.0/24 via pn (a logical port of nt) and
/// 198.18.200.0/24 via 198.18.2.99 (no logical port: the outside router).
fn model() -> ModelSnapshot {
    let mut m = ModelSnapshot::default();
    m.physical_networks
        .insert("local".into(), PhysicalNetwork { id: "local".into(), kind: NetworkType::Local });
    m.physical_networks.insert("ext".into(), PhysicalNetwork { id: "ext".into(), kind: NetworkType::Native });
    m.physical_ports.push(PhysicalPort {
        vhost: String::new(),
        systemid: "%".into(),
        bridge: "%".into(),
        name: "eth9".into(),
        physical_network: "ext".into(),
    });
    for (n, phys) in [("na", "local"), ("nt", "ext")] {
        m.logical_networks.insert(
            n.into(),
            LogicalNetwork {
                id: n.into(),
                physical_network: phys.into(),
                segment: None,
                dhcp: DhcpSettings::default(),
            },
        );
    }
    for (id, net, cidr, gw) in
        [("sa", "na", "198.18.1.0/24", "198.18.1.1"), ("st", "nt", "198.18.2.0/24", "198.18.2.1")]
    {
        m.subnets.insert(
            id.into(),
            Subnet {
                id: id.into(),
                network: net.into(),
                cidr: cidr.parse().unwrap(),
                gateway: Some(ip(gw)),
                host_routes: Vec::new(),
                external: false,
                dhcp: DhcpSettings::default(),
            },
        );
    }
    for (id, net, last, addr) in [("pa", "na", 1, "198.18.1.11"), ("pn", "nt", 4, "198.18.2.50")] {
        m.logical_ports.insert(
            id.into(),
            LogicalPort {
                id: id.into(),
                network: net.into(),
                subnet: None,
                mac: [2, 0, 0, 0, 0, last],
                ip: Some(ip(addr)),
                hostname: None,
            },
        );
    }
    m.routers.insert(
        "r1".into(),
        Router {
            id: "r1".into(),
            interfaces: vec![
                RouterInterface { id: "ra".into(), subnet: "sa".into(), ip: None },
                RouterInterface { id: "rt".into(), subnet: "st".into(), ip: None },
            ],
            routes: vec![
                ("198.18.100.0/24".parse().unwrap(), ip("198.18.2.50")),
                ("198.18.200.0/24".parse().unwrap(), ip("198.18.2.99")),
            ],
        },
    );
    m
}

fn input() -> SwitchInput {
    let ifaces = [
        OvsInterface { name: "tap1".into(), ofport: 1, iface_id: Some("pa".into()) },
        OvsInterface { name: "eth9".into(), ofport: 9, iface_id: None },
    ];
    bind(&model(), &SwitchIdentity::default(), &ifaces, &mut IdAssigner::default())
}

fn nt(inp: &SwitchInput) -> u16 {
    inp.networks.iter().find(|n| n.id == "nt").unwrap().netid
}

fn target() -> ArpTarget {
    let inp = input();
    ArpTarget { network: "nt".into(), netid: nt(&inp), ip: ip("198.18.2.99"), source_ip: ip("198.18.2.1") }
}

fn listing(inp: &SwitchInput) -> Vec<String> {
    let c = cfg();
    let p = compute::pipeline(&c).unwrap();
    compute::desired(&p, &c, inp).unwrap().listing(&p)
}

#[test]
fn only_next_hops_without_a_logical_port_are_targets() {
    assert_eq!(targets(&input()), [target()]);
}

#[test]
fn the_route_flow_waits_for_the_resolved_mac() {
    let mut inp = input();
    let before = listing(&inp);
    let route = |l: &[String]| l.iter().filter(|l| l.contains("c612c800")).cloned().collect::<Vec<_>>();
    assert!(route(&before).is_empty(), "a route flow without a MAC: {before:#?}");
    // The reply to the router goes to the controller; the router answers the outside.
    let reply = before.iter().filter(|l| l.starts_with(&format!("arp {PRIO_REPLY} "))).collect::<Vec<_>>();
    assert_eq!(reply.len(), 1, "{before:#?}");
    assert!(reply[0].contains("c6120263") && reply[0].contains("c6120201"), "{}", reply[0]);
    assert!(reply[0].contains("CONTROLLER"), "{}", reply[0]);
    let answers: Vec<_> =
        before.iter().filter(|l| l.starts_with("arp 100 ") && l.contains("c6120201")).collect();
    assert_eq!(answers.len(), 2, "logical (arpresponder) and physical (l3router) answers: {answers:#?}");

    inp.neighbors.insert(("nt".into(), ip("198.18.2.99")), EXT_MAC);
    let after = listing(&inp);
    let r = route(&after);
    assert_eq!(r.len(), 2, "both router networks route to it: {after:#?}");
    assert!(r[0].contains("set:ETH_DST=0200c6120263") && r[0].contains("DecNwTtl"), "{}", r[0]);
    assert!(r[0].contains("goto:l2output"), "{}", r[0]);
}

#[test]
fn the_request_is_flooded_in_the_target_network_from_the_router() {
    let c = cfg();
    let p = compute::pipeline(&c).unwrap();
    let t = target();
    let out = request_packet_out(&p, &t, c.l3router.router_mac).unwrap();
    assert_eq!(out.in_port, PortNo::CONTROLLER);
    assert_eq!(
        out.actions.last(),
        Some(&Action::Nx(NxAction::ResubmitTable { in_port: NX_IN_PORT, table: p.id("egress").unwrap() }))
    );
    assert!(out.actions.contains(&set_reg(REG_OUT_NET, u32::from(t.netid))));
    assert!(out.actions.contains(&set_reg(REG_OUT_PORT, FLOOD)));
    let frame = SlicedPacket::from_ethernet(&out.data).unwrap();
    let Some(NetSlice::Arp(a)) = frame.net else { panic!("not ARP") };
    assert_eq!(a.operation(), ArpOperation::REQUEST);
    assert_eq!(a.sender_hw_addr(), c.l3router.router_mac);
    assert_eq!(a.sender_protocol_addr(), [198, 18, 2, 1]);
    assert_eq!(a.target_protocol_addr(), [198, 18, 2, 99]);
    assert_eq!(&out.data[0..6], &[0xff; 6]);
    assert!(out.data.len() >= 60, "padded to the Ethernet minimum");
}

fn reply(from: Ipv4Addr, to: Ipv4Addr, mac: Mac, op: ArpOperation) -> Vec<u8> {
    let eth = etherparse::Ethernet2Header {
        source: mac,
        destination: cfg().l3router.router_mac,
        ether_type: etherparse::EtherType::ARP,
    };
    let arp = etherparse::ArpPacket::new(
        etherparse::ArpHardwareId::ETHERNET,
        etherparse::EtherType::IPV4,
        op,
        &mac,
        &from.octets(),
        &cfg().l3router.router_mac,
        &to.octets(),
    )
    .unwrap();
    let mut f = eth.to_bytes().to_vec();
    f.extend_from_slice(&arp.to_bytes());
    f
}

#[test]
fn a_reply_from_a_target_is_recognised() {
    let inp = input();
    let good = reply(ip("198.18.2.99"), ip("198.18.2.1"), EXT_MAC, ArpOperation::REPLY);
    assert_eq!(parse_reply(&inp, None, &good), Some((target(), EXT_MAC)));
    assert_eq!(parse_reply(&inp, Some(nt(&inp)), &good), Some((target(), EXT_MAC)));
    assert_eq!(parse_reply(&inp, Some(nt(&inp) + 7), &good), None, "another network");
    let to_other = reply(ip("198.18.2.99"), ip("198.18.2.7"), EXT_MAC, ArpOperation::REPLY);
    assert_eq!(parse_reply(&inp, None, &to_other), None, "not to the router interface");
    let port = reply(ip("198.18.2.50"), ip("198.18.2.1"), EXT_MAC, ArpOperation::REPLY);
    assert_eq!(parse_reply(&inp, None, &port), None, "a logical port is resolved from the model");
    let req = reply(ip("198.18.2.99"), ip("198.18.2.1"), EXT_MAC, ArpOperation::REQUEST);
    assert_eq!(parse_reply(&inp, None, &req), None, "a request");
    assert_eq!(parse_reply(&inp, None, &good[..20]), None, "truncated");
}

#[test]
fn the_cycle_asks_refreshes_and_expires() {
    let c = L3RouterConfig {
        router_mac: [0; 6],
        arp_cycle_time: Duration::from_secs(5),
        arp_complete_timeout: Duration::from_secs(30),
        arp_incomplete_timeout: Duration::from_secs(60),
    };
    let t = target();
    let ts = [t.clone()];
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut a = ArpTable::default();
    assert_eq!(a.cycle(t0, &ts, &c), (vec![t.clone()], false), "unresolved: asked at once");
    assert_eq!(a.cycle(at(5), &ts, &c), (vec![t.clone()], false), "and every cycle");
    assert!(a.answer(&t, EXT_MAC, at(6)));
    assert_eq!(a.neighbors().get(&t.key()), Some(&EXT_MAC));
    assert!(!a.answer(&t, EXT_MAC, at(7)), "the same MAC again is no change");
    assert_eq!(a.cycle(at(10), &ts, &c), (vec![], false), "fresh: not asked");
    assert_eq!(a.cycle(at(37), &ts, &c), (vec![t.clone()], false), "old: refreshed, still resolved");
    assert_eq!(a.neighbors().len(), 1);
    // A new MAC (the next hop was replaced) takes effect at once.
    let new_mac = [2, 0, 0xc6, 0x12, 2, 0x64];
    assert!(a.answer(&t, new_mac, at(38)));
    assert_eq!(a.neighbors().get(&t.key()), Some(&new_mac));
    // Silent for complete + incomplete: the MAC goes, asked again.
    assert_eq!(a.cycle(at(38 + 89), &ts, &c), (vec![t.clone()], false));
    assert_eq!(a.cycle(at(38 + 90), &ts, &c), (vec![t.clone()], true));
    assert!(a.neighbors().is_empty());
    // A route that goes takes its entry along.
    a.answer(&t, new_mac, at(200));
    assert_eq!(a.cycle(at(201), &[], &c), (vec![], true));
    assert_eq!(a, ArpTable::default());
}

#[test]
fn an_external_gateway_is_a_target_unless_it_is_the_router_itself() {
    let mut m = model();
    m.routers.get_mut("r1").unwrap().routes.clear();
    let st = m.subnets.get_mut("st").unwrap();
    st.external = true;
    st.gateway = Some(ip("198.18.2.99"));
    // The router's own address on the external subnet is explicit.
    m.routers.get_mut("r1").unwrap().interfaces[1].ip = Some(ip("198.18.2.1"));
    let ifaces = [
        OvsInterface { name: "tap1".into(), ofport: 1, iface_id: Some("pa".into()) },
        OvsInterface { name: "eth9".into(), ofport: 9, iface_id: None },
    ];
    let inp = bind(&m, &SwitchIdentity::default(), &ifaces, &mut IdAssigner::default());
    assert_eq!(targets(&inp), [target()], "the external gateway, for the default route");
    // Without an explicit address the interface *is* the gateway: nothing to resolve.
    m.routers.get_mut("r1").unwrap().interfaces[1].ip = None;
    let inp = bind(&m, &SwitchIdentity::default(), &ifaces, &mut IdAssigner::default());
    assert!(targets(&inp).is_empty());
}
