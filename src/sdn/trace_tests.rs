//! trace unit tests: packets traced through flows computed from model snapshots (the same
//! `compute::entries`/`desired` the controller installs), and the simulator's OpenFlow rules on
//! hand-made tables.

use std::net::Ipv4Addr;

use super::*;
use crate::openflow::{GroupId, Oxm};
use crate::sdn::bind::{IdAssigner, bind};
use crate::sdn::compute;
use crate::sdn::config::SdnConfig;
use crate::sdn::flow::set_reg;
use crate::sdn::input::*;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
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

fn lport(id: &str, net: &str, sub: &str, last: u8, addr: &str) -> LogicalPort {
    LogicalPort {
        id: id.into(),
        network: net.into(),
        subnet: Some(sub.into()),
        mac: [2, 0, 0, 0, 0, last],
        ip: Some(ip(addr)),
        hostname: None,
    }
}

/// n1 198.18.1.0/24 with p1 (tap1) and p2 (tap2); n2 198.18.2.0/24 with p3 (tap3) alone;
/// with `router`, r1 joins both subnets by their gateways.
fn model(router: bool) -> ModelSnapshot {
    let mut m = ModelSnapshot::default();
    m.physical_networks
        .insert("local".into(), PhysicalNetwork { id: "local".into(), kind: NetworkType::Local });
    for n in ["n1", "n2"] {
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
    m.subnets.insert("s1".into(), subnet("s1", "n1", "198.18.1.0/24", "198.18.1.1"));
    m.subnets.insert("s2".into(), subnet("s2", "n2", "198.18.2.0/24", "198.18.2.1"));
    m.logical_ports.insert("p1".into(), lport("p1", "n1", "s1", 1, "198.18.1.11"));
    m.logical_ports.insert("p2".into(), lport("p2", "n1", "s1", 2, "198.18.1.12"));
    m.logical_ports.insert("p3".into(), lport("p3", "n2", "s2", 3, "198.18.2.13"));
    if router {
        m.routers.insert(
            "r1".into(),
            Router {
                id: "r1".into(),
                interfaces: vec![
                    RouterInterface { id: "r1-s1".into(), subnet: "s1".into(), ip: None },
                    RouterInterface { id: "r1-s2".into(), subnet: "s2".into(), ip: None },
                ],
                routes: Vec::new(),
            },
        );
    }
    m
}

fn cfg(router: bool) -> SdnConfig {
    let mut c = SdnConfig::default();
    if router {
        c.modules.push(Module::L3Router);
    }
    c
}

/// The view the controller would keep for a switch with tap1..tap3 (+ an unbound eth9).
fn view(router: bool) -> SwitchView {
    let c = cfg(router);
    let mut ifaces: Vec<OvsInterface> = [("p1", 1), ("p2", 2), ("p3", 3)]
        .iter()
        .map(|(id, of)| OvsInterface { name: format!("tap{of}"), ofport: *of, iface_id: Some((*id).into()) })
        .collect();
    ifaces.push(OvsInterface { name: "eth9".into(), ofport: 9, iface_id: None });
    let input = bind(&model(router), &SwitchIdentity::default(), &ifaces, &mut IdAssigner::default());
    let pipeline = compute::pipeline(&c).unwrap();
    let entries = compute::entries(&pipeline, &c, &input);
    let flows = compute::desired(&pipeline, &c, &input).unwrap();
    SwitchView::new(0x42, "br-test", pipeline, &entries, flows, &ifaces, &input)
}

fn pkt(view: &SwitchView, fields: &[(&str, &str)]) -> Packet {
    let m = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    parse_packet(view, &m).unwrap_or_else(|e| panic!("{fields:?}: {e:?}"))
}

fn ports(t: &Trace) -> Vec<u32> {
    t.verdict.outputs.iter().map(|d| d.port).collect()
}

const MAC1: &str = "02:00:00:00:00:01";
const MAC2: &str = "02:00:00:00:00:02";
const MAC3: &str = "02:00:00:00:00:03";

#[test]
fn same_network_is_delivered_to_the_destination_port_only() {
    let v = view(false);
    let t = trace(
        &v,
        pkt(&v, &[("in_port", "p1"), ("dl_dst", MAC2), ("proto", "icmp"), ("nw_dst", "198.18.1.12")]),
    );
    assert_eq!(t.verdict.kind, VerdictKind::Output, "{t:#?}");
    assert_eq!(ports(&t), [2]);
    assert_eq!(t.verdict.outputs[0].logical_port.as_deref(), Some("p2"));
    let stages: Vec<&str> = t.steps.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(stages, ["ingress", "l2input", "arp", "l3input", "l2output", "egress"]);
    let l2 = &t.steps[4];
    assert_eq!(l2.flow.as_ref().unwrap().owner.as_deref(), Some("port:p2"));
    assert_eq!(l2.flow.as_ref().unwrap().module, Some("l2switch"));
    assert!(
        l2.changes.iter().any(|c| c.field == "reg6" && c.from == "FLOOD" && c.to == "2 (tap2)"),
        "{l2:#?}"
    );
    let ingress = &t.steps[0];
    assert!(ingress.changes.iter().any(|c| c.field == "reg4" && c.to == "1 (network n1)"), "{ingress:#?}");
}

#[test]
fn other_network_is_never_reached() {
    let v = view(false);
    // From n2's only port to a MAC of n1: flooded in n2, where the only port is the input port.
    let t = trace(
        &v,
        pkt(&v, &[("in_port", "tap3"), ("dl_dst", MAC1), ("nw_dst", "198.18.1.11"), ("proto", "icmp")]),
    );
    assert_eq!(t.verdict.kind, VerdictKind::Dropped, "{t:#?}");
    assert!(t.verdict.outputs.is_empty());
    assert!(t.verdict.drop_reason.as_deref().unwrap().contains("input port"), "{:?}", t.verdict);
    // From n1 to p3's MAC: unknown in n1, flooded to n1's other port, never to tap3.
    let t = trace(
        &v,
        pkt(&v, &[("in_port", "1"), ("dl_dst", MAC3), ("proto", "udp"), ("nw_dst", "198.18.2.13")]),
    );
    assert_eq!(t.verdict.kind, VerdictKind::Flooded, "{t:#?}");
    assert_eq!(ports(&t), [2]);
}

#[test]
fn arp_for_the_gateway_is_answered_in_the_datapath() {
    let v = view(false);
    let t = trace(&v, pkt(&v, &[("in_port", "p1"), ("arp_tpa", "198.18.1.1"), ("arp_spa", "198.18.1.11")]));
    assert_eq!(t.verdict.kind, VerdictKind::Reply, "{t:#?}");
    assert_eq!(t.verdict.responder.as_deref(), Some("arpresponder (ARP)"));
    assert_eq!(ports(&t), [1]);
    assert!(t.verdict.outputs[0].in_port);
    let router = format_mac(&SdnConfig::default().icmp.router_mac);
    let h = &t.verdict.outputs[0].headers;
    assert!(
        h.contains("arp_op=2")
            && h.contains(&format!("dl_src={router}"))
            && h.contains(&format!("dl_dst={MAC1}")),
        "{h}"
    );
    assert!(h.contains("arp_spa=198.18.1.1,arp_tpa=198.18.1.11"), "{h}");
    let arp = t.steps.iter().find(|s| s.stage == "arp").unwrap();
    assert_eq!(arp.flow.as_ref().unwrap().owner.as_deref(), Some("subnet:s1"));
    assert_eq!(arp.next.as_deref(), Some("egress"));
    // An ARP for an address nobody has here is flooded in the network.
    let t = trace(&v, pkt(&v, &[("in_port", "p1"), ("arp_tpa", "198.18.1.99")]));
    assert_eq!(t.verdict.kind, VerdictKind::Flooded, "{t:#?}");
}

#[test]
fn gateway_ping_and_dhcp_go_to_their_responders() {
    let v = view(false);
    let t = trace(
        &v,
        pkt(&v, &[("in_port", "p1"), ("dl_dst", MAC2), ("proto", "icmp"), ("nw_dst", "198.18.1.1")]),
    );
    assert_eq!(t.verdict.kind, VerdictKind::Controller, "{t:#?}");
    assert!(t.verdict.responder.as_deref().unwrap().starts_with("icmpresponder"));
    let dhcp = [("in_port", "p1"), ("dl_dst", "ff:ff:ff:ff:ff:ff"), ("udp_src", "68"), ("udp_dst", "67")];
    let t = trace(&v, pkt(&v, &dhcp));
    assert_eq!(t.verdict.kind, VerdictKind::Controller, "{t:#?}");
    assert_eq!(t.verdict.responder.as_deref(), Some("dhcpserver (DHCP)"));
}

#[test]
fn routed_packet_gets_ttl_decremented_and_macs_rewritten() {
    let v = view(true);
    let rmac = format_mac(&SdnConfig::default().l3router.router_mac);
    let t = trace(
        &v,
        pkt(
            &v,
            &[
                ("in_port", "p1"),
                ("dl_dst", &rmac),
                ("proto", "icmp"),
                ("nw_src", "198.18.1.11"),
                ("nw_dst", "198.18.2.13"),
                ("nw_ttl", "9"),
            ],
        ),
    );
    assert_eq!(t.verdict.kind, VerdictKind::Output, "{t:#?}");
    assert_eq!(ports(&t), [3]);
    let h = &t.verdict.outputs[0].headers;
    assert!(h.contains(&format!("dl_src={rmac},dl_dst={MAC3}")), "{h}");
    assert!(h.contains("nw_ttl=8"), "{h}");
    let stages: Vec<&str> = t.steps.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(
        stages,
        ["ingress", "l2input", "arp", "l3input", "l3router", "l3output", "l2output", "egress"]
    );
    let l3out = t.steps.iter().find(|s| s.stage == "l3output").unwrap();
    assert!(l3out.changes.iter().any(|c| c.field == "nw_ttl" && c.from == "9" && c.to == "8"), "{l3out:#?}");
    let l3r = t.steps.iter().find(|s| s.stage == "l3router").unwrap();
    assert!(l3r.changes.iter().any(|c| c.field == "reg5" && c.to == "2 (network n2)"), "{l3r:#?}");
    // TTL 1 expires in the router.
    let t = trace(
        &v,
        pkt(
            &v,
            &[
                ("in_port", "p1"),
                ("dl_dst", &rmac),
                ("proto", "icmp"),
                ("nw_dst", "198.18.2.13"),
                ("nw_ttl", "1"),
            ],
        ),
    );
    assert_eq!(t.verdict.kind, VerdictKind::Dropped, "{t:#?}");
    assert!(t.verdict.drop_reason.unwrap().contains("TTL"));
    // Without the router the same packet is only flooded in n1.
    let v = view(false);
    let t = trace(
        &v,
        pkt(&v, &[("in_port", "p1"), ("dl_dst", &rmac), ("proto", "icmp"), ("nw_dst", "198.18.2.13")]),
    );
    assert_eq!(t.verdict.kind, VerdictKind::Flooded, "{t:#?}");
    assert_eq!(ports(&t), [2]);
}

#[test]
fn a_missing_flow_changes_the_verdict() {
    // The trace reads the flows, not the model: remove p2's l2output flow and the packet floods.
    let mut v = view(false);
    let l2 = v.pipeline.id("l2output").unwrap();
    let before = v.flows.len();
    std::sync::Arc::make_mut(&mut v.flows)
        .flows
        .retain(|k, b| !(k.table == l2 && v.owners.get(&b.cookie).map(String::as_str) == Some("port:p2")));
    assert_eq!(v.flows.len(), before - 1);
    let t = trace(&v, pkt(&v, &[("in_port", "p1"), ("dl_dst", MAC2), ("proto", "icmp")]));
    assert_eq!(t.verdict.kind, VerdictKind::Flooded, "{t:#?}");
    // Remove ingress's flow of p1: table-miss in ingress.
    let ing = v.pipeline.id("ingress").unwrap();
    std::sync::Arc::make_mut(&mut v.flows)
        .flows
        .retain(|k, b| !(k.table == ing && v.owners.get(&b.cookie).map(String::as_str) == Some("port:p1")));
    let t = trace(&v, pkt(&v, &[("in_port", "p1"), ("dl_dst", MAC2), ("proto", "icmp")]));
    assert_eq!(t.verdict.kind, VerdictKind::Dropped);
    assert_eq!(t.steps.len(), 1);
    assert!(t.verdict.drop_reason.unwrap().contains("default flow of ingress"), "{:?}", t.steps);
}

#[test]
fn bad_requests_name_the_field() {
    let v = view(false);
    let bad = |fields: &[(&str, &str)]| {
        let m = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse_packet(&v, &m).unwrap_err()
    };
    let e = bad(&[("in_port", "nosuch"), ("proto", "arp"), ("arp_tpa", "198.18.1.1")]);
    assert_eq!((e.field.as_str(), e.kind.status()), ("in_port", 404));
    let e = bad(&[("in_port", "p1"), ("dl_dst", "zz:00:00:00:00:00"), ("proto", "ip")]);
    assert_eq!((e.field.as_str(), e.kind.status()), ("dl_dst", 400));
    let e = bad(&[("in_port", "p1"), ("dl_dst", MAC2), ("nw_dst", "198.18.1")]);
    assert_eq!(e.field, "nw_dst");
    let e = bad(&[("in_port", "p1"), ("dl_dst", MAC2), ("nw_frob", "1")]);
    assert_eq!(e.field, "nw_frob");
    let e = bad(&[("in_port", "eth9"), ("proto", "arp"), ("arp_tpa", "198.18.1.1")]);
    assert_eq!(e.field, "dl_src", "no logical port MAC to default to");
    let e = bad(&[("in_port", "p1"), ("dl_dst", MAC2)]);
    assert_eq!(e.field, "dl_type");
    let e = bad(&[("dl_dst", MAC2)]);
    assert_eq!(e.field, "in_port");
    let p = pkt(&v, &[("in_port", "p1"), ("proto", "arp"), ("nw_dst", "198.18.1.1"), ("reg3", "0x10")]);
    assert_eq!((p.eth_dst, p.arp_op, p.arp_sha, p.regs[3]), ([0xff; 6], 1, [2, 0, 0, 0, 0, 1], 16));
}

// --- The simulator's OpenFlow rules on hand-made tables. ---

fn hand(entries: Vec<FlowEntry>, modules: &[Module]) -> SwitchView {
    let pipeline = Pipeline::build(modules).unwrap();
    let flows = FlowTable::build(&pipeline, &entries).unwrap();
    let ifaces: Vec<OvsInterface> =
        (1..=4).map(|i| OvsInterface { name: format!("eth{i}"), ofport: i, iface_id: None }).collect();
    SwitchView::new(1, "br0", pipeline, &entries, flows, &ifaces, &SwitchInput::default())
}

fn raw(view: &mut SwitchView, table: &str, priority: u16, m: Match, ins: Vec<Instruction>) {
    let t = view.pipeline.id(table).unwrap();
    std::sync::Arc::make_mut(&mut view.flows).insert_reported(t, priority, 7, &m, ins);
}

fn ip_pkt(in_port: u32) -> Packet {
    Packet { in_port, eth_type: IPV4, ip_proto: 17, ttl: 5, ..Packet::default() }
}

#[test]
fn priorities_masks_and_instruction_order() {
    let m = [Module::IoProcessing];
    let mut v = hand(Vec::new(), &m);
    // Higher priority wins; a masked reg match; write_actions run at the end, after apply.
    raw(
        &mut v,
        "ingress",
        10,
        Match::new().with(Oxm::in_port(PortNo(1))),
        vec![
            Instruction::GotoTable(1),
            Instruction::WriteActions(vec![Action::output(PortNo(4))]),
            Instruction::ApplyActions(vec![set_reg(7, 0x4001)]),
        ],
    );
    raw(
        &mut v,
        "ingress",
        5,
        Match::new().with(Oxm::in_port(PortNo(1))),
        vec![Instruction::ApplyActions(vec![Action::output(PortNo(2))])],
    );
    raw(
        &mut v,
        "egress",
        20,
        Match::new().with(Oxm::reg_masked(7, 0x4000, 0x4000)),
        vec![Instruction::ApplyActions(vec![Action::output(PortNo(3)), Action::DecNwTtl])],
    );
    let t = trace(&v, ip_pkt(1));
    assert_eq!(ports(&t), [3, 4], "{t:#?}");
    assert_eq!(t.steps[0].next.as_deref(), Some("egress"));
    assert!(t.verdict.outputs[1].headers.contains("nw_ttl=4"), "the action set ran after dec_ttl: {t:#?}");
    assert!(t.verdict.outputs[0].headers.contains("nw_ttl=5"));
    // Output to the input port is skipped unless IN_PORT.
    raw(
        &mut v,
        "ingress",
        30,
        Match::new().with(Oxm::in_port(PortNo(2))),
        vec![Instruction::ApplyActions(vec![Action::output(PortNo(2)), Action::output(PortNo::IN_PORT)])],
    );
    let t = trace(&v, ip_pkt(2));
    assert_eq!(ports(&t), [2]);
    assert!(t.verdict.outputs[0].in_port);
    assert!(t.steps[0].events.iter().any(|e| matches!(e, Event::Skipped { .. })));
}

#[test]
fn resubmit_nests_and_keeps_changes_groups_learn_and_conjunction() {
    let m = [Module::IoProcessing, Module::L2Switch];
    let mut v = hand(Vec::new(), &m);
    let l2out = v.pipeline.id("l2output").unwrap();
    raw(
        &mut v,
        "ingress",
        10,
        Match::new().with(Oxm::in_port(PortNo(1))),
        vec![Instruction::ApplyActions(vec![
            Action::Nx(NxAction::ResubmitTable { in_port: 3, table: l2out }),
            Action::Nx(NxAction::Note(b"hello\0\0".to_vec())),
            Action::Group(GroupId(5)),
        ])],
    );
    raw(
        &mut v,
        "l2output",
        10,
        Match::new().with(Oxm::in_port(PortNo(3))),
        vec![Instruction::ApplyActions(vec![
            set_reg(2, 77),
            Action::Nx(NxAction::Learn(crate::openflow::Learn {
                table_id: l2out,
                priority: 9,
                ..Default::default()
            })),
        ])],
    );
    v.groups.insert(
        5,
        TraceGroup {
            kind: GroupKind::All,
            buckets: vec![
                vec![Action::output(PortNo(2))],
                vec![Action::SetField(Oxm::eth_dst([9; 6])), Action::output(PortNo(4))],
            ],
        },
    );
    let t = trace(&v, ip_pkt(1));
    assert_eq!(t.steps.len(), 2, "{t:#?}");
    assert_eq!((t.steps[1].depth, t.steps[1].stage.as_str()), (1, "l2output"));
    assert!(t.steps[1].changes.iter().any(|c| c.field == "reg2" && c.to == "77"));
    assert_eq!(t.learned.len(), 1);
    assert!(t.steps[0].events.iter().any(|e| matches!(e, Event::Note { text } if text == "hello")));
    assert_eq!(ports(&t), [2, 4]);
    assert!(t.verdict.outputs[1].headers.contains("dl_dst=09:09:09:09:09:09"));
    assert!(!t.verdict.outputs[0].headers.contains("09:09"), "buckets work on copies");
    // Conjunction: conj_id=3 matches only when both clauses match.
    let mut v = hand(Vec::new(), &m);
    let conj = |clause| {
        Instruction::ApplyActions(vec![Action::Nx(NxAction::Conjunction { clause, n_clauses: 2, id: 3 })])
    };
    raw(&mut v, "ingress", 50, Match::new().with(Oxm::in_port(PortNo(1))), vec![conj(0)]);
    raw(&mut v, "ingress", 50, Match::new().with(Oxm::eth_type(IPV4)), vec![conj(1)]);
    raw(
        &mut v,
        "ingress",
        50,
        Match::new().with(Oxm::from_u64(OxmField::NXM_NX_CONJ_ID, 3)),
        vec![Instruction::ApplyActions(vec![Action::output(PortNo(4))])],
    );
    assert_eq!(ports(&trace(&v, ip_pkt(1))), [4]);
    assert!(ports(&trace(&v, ip_pkt(2))).is_empty(), "clause 0 does not match port 2");
    assert!(ports(&trace(&v, Packet { in_port: 1, eth_type: ARP, ..Packet::default() })).is_empty());
}

#[test]
fn default_flows_only_drop_in_ingress() {
    let v = hand(Vec::new(), &[Module::IoProcessing]);
    let t = trace(&v, ip_pkt(1));
    assert_eq!(t.verdict.kind, VerdictKind::Dropped);
    assert!(t.verdict.drop_reason.unwrap().contains("table-miss"));
}

#[test]
fn vlan_network_tags_on_the_physical_port_and_untags_on_the_way_in() {
    let mut m = model(false);
    m.physical_networks.insert("vl".into(), PhysicalNetwork { id: "vl".into(), kind: NetworkType::Vlan });
    m.physical_ports.push(PhysicalPort {
        vhost: String::new(),
        systemid: "%".into(),
        bridge: "%".into(),
        name: "eth9".into(),
        physical_network: "vl".into(),
    });
    let n1 = m.logical_networks.get_mut("n1").unwrap();
    n1.physical_network = "vl".into();
    n1.segment = Some(100);
    let c = cfg(false);
    let mut ifaces: Vec<OvsInterface> = [("p1", 1), ("p2", 2)]
        .iter()
        .map(|(id, of)| OvsInterface { name: format!("tap{of}"), ofport: *of, iface_id: Some((*id).into()) })
        .collect();
    ifaces.push(OvsInterface { name: "eth9".into(), ofport: 9, iface_id: None });
    let input = bind(&m, &SwitchIdentity::default(), &ifaces, &mut IdAssigner::default());
    let p = compute::pipeline(&c).unwrap();
    let entries = compute::entries(&p, &c, &input);
    let flows = compute::desired(&p, &c, &input).unwrap();
    let v = SwitchView::new(1, "br0", p, &entries, flows, &ifaces, &input);
    // A broadcast from p1 floods to p2 untagged and to eth9 tagged 100 (pushed, output, popped).
    let t = trace(&v, pkt(&v, &[("in_port", "p1"), ("dl_dst", "ff:ff:ff:ff:ff:ff"), ("proto", "udp")]));
    assert_eq!(t.verdict.kind, VerdictKind::Flooded, "{t:#?}");
    assert_eq!(ports(&t), [2, 9]);
    assert!(!t.verdict.outputs[0].headers.contains("dl_vlan"), "{:?}", t.verdict.outputs);
    assert!(t.verdict.outputs[1].headers.contains("dl_vlan=100"), "{:?}", t.verdict.outputs);
    // Tagged 100 from eth9 to p1's MAC: popped in ingress, delivered to p1 untagged.
    let t = trace(
        &v,
        pkt(
            &v,
            &[
                ("in_port", "eth9"),
                ("dl_src", "02:00:00:00:00:99"),
                ("dl_dst", MAC1),
                ("dl_vlan", "100"),
                ("proto", "icmp"),
            ],
        ),
    );
    assert_eq!((t.verdict.kind, ports(&t)), (VerdictKind::Output, vec![1]), "{t:#?}");
    assert!(!t.verdict.outputs[0].headers.contains("dl_vlan"));
    assert!(t.steps[0].changes.iter().any(|c| c.field == "vlan_tci"), "{:?}", t.steps[0]);
    // Another tag matches no ingress flow.
    let t = trace(
        &v,
        pkt(
            &v,
            &[
                ("in_port", "eth9"),
                ("dl_src", "02:00:00:00:00:99"),
                ("dl_dst", MAC1),
                ("dl_vlan", "101"),
                ("proto", "icmp"),
            ],
        ),
    );
    assert_eq!(t.verdict.kind, VerdictKind::Dropped, "{t:#?}");
}

/// A network with more local ports than one flood flow can carry (an OpenFlow message is at most
/// 65535 bytes; 5000 outputs are 80 kB): the flood is a chain of flows that each fit in a
/// message, and a broadcast still reaches every other port, once.
#[test]
fn a_network_too_big_for_one_flood_flow_floods_through_a_chain() {
    use crate::openflow::{Frame, Message};
    let n = 5000u32;
    let mut m = model(false);
    m.logical_ports.clear();
    let mut ifaces = Vec::new();
    for i in 1..=n {
        let id = format!("q{i}");
        let mut p = lport(&id, "n1", "s1", 0, "198.18.1.11");
        p.mac = [2, 1, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        p.ip = None;
        m.logical_ports.insert(id.clone(), p);
        ifaces.push(OvsInterface { name: format!("t{i}"), ofport: i, iface_id: Some(id) });
    }
    let c = cfg(false);
    let input = bind(&m, &SwitchIdentity::default(), &ifaces, &mut IdAssigner::default());
    let pipeline = compute::pipeline(&c).unwrap();
    let entries = compute::entries(&pipeline, &c, &input);
    let flows = compute::desired(&pipeline, &c, &input).unwrap();
    let mods = crate::sdn::flowsync::plan(&crate::sdn::flow::FlowTable::default(), &flows).into_mods();
    assert_eq!(mods.len(), flows.len());
    for fm in mods {
        let frame = Frame::new(1, Message::FlowMod(fm));
        frame.to_bytes().expect("every flow fits in one OpenFlow message");
    }
    let floods =
        entries.iter().filter(|e| e.table == "egress" && e.priority == crate::sdn::ioprocessing::PRIO_FLOOD);
    assert_eq!(floods.count(), 3, "5000 outputs in flows of at most 2048");
    let v = SwitchView::new(0x42, "br-test", pipeline, &entries, flows, &ifaces, &input);
    let t = trace(
        &v,
        pkt(
            &v,
            &[
                ("in_port", "1"),
                ("dl_dst", "ff:ff:ff:ff:ff:ff"),
                ("proto", "udp"),
                ("nw_dst", "198.18.1.255"),
            ],
        ),
    );
    assert_eq!(t.verdict.kind, VerdictKind::Flooded, "{:?}", t.verdict);
    assert_eq!(ports(&t), (2..=n).collect::<Vec<_>>());
}
