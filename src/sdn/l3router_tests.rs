//! l3router unit tests: golden listing of a routed pair of networks, route priorities, binding of
//! networks reached through a router, interface ARP/ping answers.

use std::net::Ipv4Addr;

use etherparse::PacketBuilder;

use super::*;
use crate::sdn::bind::{IdAssigner, bind};
use crate::sdn::compute;
use crate::sdn::input::*;
use crate::sdn::stages::Module;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn cfg() -> SdnConfig {
    let mut c = SdnConfig::default();
    c.modules.push(Module::L3Router);
    c
}

fn subnet(id: &str, net: &str, cidr: &str, gw: &str) -> Subnet {
    Subnet {
        id: id.into(),
        network: net.into(),
        cidr: cidr.parse().unwrap(),
        gateway: Some(ip(gw)),
        host_routes: Vec::new(),
        external: false,
        dhcp: DhcpSettings::default(),
    }
}

fn lport(id: &str, net: &str, last: u8, addr: &str) -> LogicalPort {
    LogicalPort {
        id: id.into(),
        network: net.into(),
        subnet: None,
        mac: [2, 0, 0, 0, 0, last],
        ip: Some(ip(addr)),
        hostname: None,
    }
}

/// na 198.18.1.0/24 and nb 198.18.2.0/24 on a router r1 (na by its gateway, nb by an explicit
/// .2.254); routes 198.18.100.0/24 via pn (a logical port in nb) and 198.18.200.0/24 via an
/// unknown .2.99. pa (na) and pb (nb) are bound here; px (nb) and pn are elsewhere.
fn model(with_router: bool) -> ModelSnapshot {
    let mut m = ModelSnapshot::default();
    m.physical_networks
        .insert("local".into(), PhysicalNetwork { id: "local".into(), kind: NetworkType::Local });
    for n in ["na", "nb"] {
        m.logical_networks.insert(
            n.into(),
            LogicalNetwork {
                id: n.into(),
                physical_network: "local".into(),
                segment: None,
                dhcp: DhcpSettings::default(),
            },
        );
    }
    m.subnets.insert("sa".into(), subnet("sa", "na", "198.18.1.0/24", "198.18.1.1"));
    m.subnets.insert("sb".into(), subnet("sb", "nb", "198.18.2.0/24", "198.18.2.1"));
    for p in [
        lport("pa", "na", 1, "198.18.1.11"),
        lport("pb", "nb", 2, "198.18.2.11"),
        lport("px", "nb", 3, "198.18.2.12"),
        lport("pn", "nb", 4, "198.18.2.50"),
    ] {
        m.logical_ports.insert(p.id.clone(), p);
    }
    if with_router {
        m.routers.insert(
            "r1".into(),
            Router {
                id: "r1".into(),
                interfaces: vec![
                    RouterInterface { id: "ra".into(), subnet: "sa".into(), ip: None },
                    RouterInterface { id: "rb".into(), subnet: "sb".into(), ip: Some(ip("198.18.2.254")) },
                ],
                routes: vec![
                    ("198.18.100.0/24".parse().unwrap(), ip("198.18.2.50")),
                    ("198.18.200.0/24".parse().unwrap(), ip("198.18.2.99")),
                    ("198.18.250.0/24".parse().unwrap(), ip("198.18.9.9")),
                ],
            },
        );
    }
    m
}

fn iface(id: &str, ofport: u32) -> OvsInterface {
    OvsInterface { name: format!("tap{ofport}"), ofport, iface_id: Some(id.into()) }
}

fn input(m: &ModelSnapshot, ports: &[(&str, u32)]) -> SwitchInput {
    let ifaces: Vec<OvsInterface> = ports.iter().map(|(id, of)| iface(id, *of)).collect();
    bind(m, &SwitchIdentity::default(), &ifaces, &mut IdAssigner::default())
}

fn l3_lines(m: &ModelSnapshot, ports: &[(&str, u32)]) -> Vec<String> {
    let c = cfg();
    let p = compute::pipeline(&c).unwrap();
    let t = compute::desired(&p, &c, &input(m, ports)).unwrap();
    t.listing(&p).into_iter().filter(|l| l.ends_with("(l3router)")).collect()
}

#[test]
fn golden_listing_for_a_routed_pair_of_networks() {
    let lines = l3_lines(&model(true), &[("pa", 1), ("pb", 2)]).join("\n");
    let expected = include_str!("testdata/l3_router.golden");
    if lines.trim() != expected.trim() {
        panic!("l3router listing differs from the golden file:\n{lines}");
    }
}

#[test]
fn without_a_router_only_the_table_defaults_exist() {
    let lines = l3_lines(&model(false), &[("pa", 1), ("pb", 2)]);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(lines.iter().all(|l| l.contains(" 0  -> ")), "{lines:#?}");
}

#[test]
fn routes_are_longest_prefix_first_and_connected_before_static() {
    assert!(route_priority(25, false) > route_priority(24, true));
    assert!(route_priority(24, true) > route_priority(24, false));
    assert!(route_priority(0, false) >= PRIO_ROUTE_BASE);
    assert_eq!(route_priority(40, true), route_priority(32, true), "prefix capped at 32");
}

#[test]
fn a_network_reached_through_a_router_gets_an_id_and_remote_hosts() {
    let m = model(true);
    let only_a = input(&m, &[("pa", 1)]);
    let nets: Vec<&str> = only_a.networks.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(nets, ["na", "nb"]);
    let r = &only_a.routers[0];
    let rb = r.interfaces.iter().find(|i| i.id == "rb").unwrap();
    assert_eq!(rb.ip, ip("198.18.2.254"));
    let hosts: Vec<&str> = rb.hosts.iter().map(|h| h.port.as_str()).collect();
    assert_eq!(hosts, ["pb", "px", "pn"], "every port of the subnet, bound here or not");
    // Next hops: pn is known, .2.99 is not, .9.9 is in no connected subnet.
    let hops = next_hops(r, &Default::default());
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[0].mac, Some([2, 0, 0, 0, 0, 4]));
    assert_eq!(hops[1].mac, None);
    // Without the router nb stays off the switch.
    assert_eq!(input(&model(false), &[("pa", 1)]).networks.len(), 1);
}

#[test]
fn external_subnet_gives_a_default_route_through_its_gateway() {
    let mut m = model(true);
    let mut ext = subnet("se", "nb", "198.18.3.0/24", "198.18.3.1");
    ext.external = true;
    m.subnets.insert("se".into(), ext);
    m.logical_ports.insert("gw".into(), lport("gw", "nb", 9, "198.18.3.1"));
    m.routers.get_mut("r1").unwrap().interfaces.push(RouterInterface {
        id: "re".into(),
        subnet: "se".into(),
        ip: None,
    });
    let inp = input(&m, &[("pa", 1)]);
    let hops = next_hops(&inp.routers[0], &Default::default());
    let default = hops.iter().find(|h| h.destination.prefix() == 0).expect("default route");
    assert_eq!(default.via, ip("198.18.3.1"));
    assert_eq!(default.interface.id, "re");
    // The external address is the outside gateway's: neither ARP nor ping answers for it.
    assert!(!answers_ping(&inp, 1, ip("198.18.3.1")));
    let lines = l3_lines(&m, &[("pa", 1)]);
    assert!(!lines.iter().any(|l| l.starts_with("arp") && l.contains("c6120301")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with(&format!("l3router {} ", route_priority(0, false)))));
}

#[test]
fn router_interface_addresses_answer_ping_from_attached_networks() {
    let m = model(true);
    let inp = input(&m, &[("pa", 1), ("pb", 2)]);
    let na = inp.networks.iter().find(|n| n.id == "na").unwrap().netid;
    assert!(answers_ping(&inp, na, ip("198.18.2.254")));
    assert!(answers_ping(&inp, na, ip("198.18.1.1")));
    assert!(!answers_ping(&inp, na, ip("198.18.2.11")), "a host is not the router");
    let no_router = input(&model(false), &[("pa", 1)]);
    assert!(!answers_ping(&no_router, na, ip("198.18.1.1")));

    let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], cfg().l3router.router_mac)
        .ipv4(ip("198.18.1.11").octets(), ip("198.18.2.254").octets(), 64)
        .icmpv4_echo_request(7, 1);
    let mut frame = Vec::new();
    builder.write(&mut frame, b"ping").unwrap();
    let reply = compute::packet_in(&cfg(), &inp, 1, &frame).unwrap().expect("an echo reply");
    assert_eq!(reply.port, 1);
    assert_eq!(&reply.frame[0..6], &[2, 0, 0, 0, 0, 1]);
    assert_eq!(&reply.frame[6..12], &cfg().l3router.router_mac);
    let ipv4 = etherparse::Ipv4HeaderSlice::from_slice(&reply.frame[14..]).unwrap();
    assert_eq!(ipv4.source_addr(), ip("198.18.2.254"));
}

#[test]
fn routed_pipeline_builds_for_every_module_subset_with_l3router() {
    let extra = [Module::L2Switch, Module::ArpResponder, Module::DhcpServer, Module::IcmpResponder];
    let m = model(true);
    let inp = input(&m, &[("pa", 1), ("pb", 2)]);
    for mask in 0..16u32 {
        let mut modules: Vec<Module> =
            extra.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, m)| *m).collect();
        modules.push(Module::L3Router);
        let c = SdnConfig { modules, ..cfg() }.with_dependencies();
        let p = compute::pipeline(&c).unwrap();
        compute::desired(&p, &c, &inp).unwrap_or_else(|e| panic!("{:?}: {e}", c.modules));
    }
}
