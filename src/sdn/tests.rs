//! Whole-pipeline unit tests: golden flow listings in stage names, DHCP and ICMP answers.

use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, MessageType, OptionCode};

use super::bind::{IdAssigner, bind};
use super::compute;
use super::config::SdnConfig;
use super::dhcp;
use super::input::*;

fn lnet(id: &str, phys: &str) -> LogicalNetwork {
    LogicalNetwork {
        id: id.into(),
        physical_network: phys.into(),
        segment: None,
        dhcp: DhcpSettings { mtu: Some(1400), ..Default::default() },
    }
}

fn subnet(id: &str, net: &str) -> Subnet {
    Subnet {
        id: id.into(),
        network: net.into(),
        cidr: "198.18.1.0/24".parse().unwrap(),
        gateway: Some(Ipv4Addr::new(198, 18, 1, 1)),
        host_routes: Vec::new(),
        external: false,
        dhcp: DhcpSettings {
            dns_nameservers: vec![Ipv4Addr::new(198, 18, 0, 53)],
            domain_name: Some("lab.test".into()),
            ..Default::default()
        },
    }
}

fn lport(id: &str, net: &str, sub: &str, last: u8) -> LogicalPort {
    LogicalPort {
        id: id.into(),
        network: net.into(),
        subnet: Some(sub.into()),
        mac: [2, 0, 0, 0, 0, last],
        ip: Some(Ipv4Addr::new(198, 18, 1, 10 + last)),
        hostname: None,
    }
}

/// Two local networks with the same CIDR; p3 in n2 has p1's MAC and IP.
pub(crate) fn model() -> ModelSnapshot {
    let mut m = ModelSnapshot::default();
    m.physical_networks
        .insert("local".into(), PhysicalNetwork { id: "local".into(), kind: NetworkType::Local });
    m.logical_networks.insert("n1".into(), lnet("n1", "local"));
    m.logical_networks.insert("n2".into(), lnet("n2", "local"));
    m.subnets.insert("s1".into(), subnet("s1", "n1"));
    m.subnets.insert("s2".into(), subnet("s2", "n2"));
    m.logical_ports.insert("p1".into(), lport("p1", "n1", "s1", 1));
    m.logical_ports.insert("p2".into(), lport("p2", "n1", "s1", 2));
    m.logical_ports.insert("p3".into(), lport("p3", "n2", "s2", 1));
    m
}

pub(crate) fn input() -> SwitchInput {
    let ifaces: Vec<OvsInterface> = [("p1", 1), ("p2", 2), ("p3", 3)]
        .iter()
        .map(|(id, of)| OvsInterface { name: format!("tap{of}"), ofport: *of, iface_id: Some((*id).into()) })
        .collect();
    bind(&model(), &SwitchIdentity::default(), &ifaces, &mut IdAssigner::default())
}

#[test]
fn golden_listing_for_two_local_networks() {
    let cfg = SdnConfig::default();
    let p = compute::pipeline(&cfg).unwrap();
    let t = compute::desired(&p, &cfg, &input()).unwrap();
    let listing = t.listing(&p).join("\n");
    let expected = include_str!("testdata/two_local_networks.golden");
    if listing.trim() != expected.trim() {
        panic!("flow listing differs from the golden file:\n{listing}");
    }
}

#[test]
fn same_mac_in_two_networks_is_isolated_by_network_register() {
    let cfg = SdnConfig::default();
    let p = compute::pipeline(&cfg).unwrap();
    let t = compute::desired(&p, &cfg, &input()).unwrap();
    let l2 = t.listing(&p).into_iter().filter(|l| l.starts_with("l2output 100")).collect::<Vec<_>>();
    assert_eq!(l2.len(), 3, "{l2:#?}");
    assert!(l2.iter().any(|l| l.contains("NXM_NX_REG5=00000001") && l.contains("NXM_NX_REG6=00000001")));
    assert!(l2.iter().any(|l| l.contains("NXM_NX_REG5=00000002") && l.contains("NXM_NX_REG6=00000003")));
    let flood = t.listing(&p).into_iter().filter(|l| l.starts_with("egress 50")).collect::<Vec<_>>();
    assert_eq!(flood.len(), 2);
    assert!(flood.iter().any(|l| l.contains("output:PortNo(0x1),output:PortNo(0x2))")), "{flood:#?}");
}

#[test]
fn every_module_subset_builds() {
    use super::stages::Module;
    let extra = [Module::L2Switch, Module::ArpResponder, Module::DhcpServer, Module::IcmpResponder];
    for mask in 0..16u32 {
        let cfg = SdnConfig {
            modules: extra
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, m)| *m)
                .collect(),
            ..Default::default()
        };
        let p = compute::pipeline(&cfg).unwrap();
        compute::desired(&p, &cfg, &input()).unwrap_or_else(|e| panic!("{:?}: {e}", cfg.modules));
    }
}

fn opt(m: &dhcproto::v4::Message, c: OptionCode) -> Option<DhcpOption> {
    m.opts().get(c).cloned()
}

#[test]
fn dhcp_discover_gets_offer_with_all_options() {
    let cfg = SdnConfig::default();
    let inp = input();
    let port = inp.port_by_ofport(1).unwrap();
    let req = dhcp::client_frame(port.mac, 42, MessageType::Discover, None);
    let out = compute::packet_in(&cfg, &inp, 1, &req).unwrap().unwrap();
    assert_eq!(out.port, 1);
    let m = dhcp::decode_reply(&out.frame).unwrap();
    assert_eq!(m.xid(), 42);
    assert_eq!(m.yiaddr(), Ipv4Addr::new(198, 18, 1, 11));
    assert_eq!(opt(&m, OptionCode::MessageType), Some(DhcpOption::MessageType(MessageType::Offer)));
    assert_eq!(
        opt(&m, OptionCode::ServerIdentifier),
        Some(DhcpOption::ServerIdentifier(Ipv4Addr::new(169, 254, 169, 254)))
    );
    assert_eq!(
        opt(&m, OptionCode::SubnetMask),
        Some(DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)))
    );
    assert_eq!(opt(&m, OptionCode::Router), Some(DhcpOption::Router(vec![Ipv4Addr::new(198, 18, 1, 1)])));
    assert_eq!(
        opt(&m, OptionCode::DomainNameServer),
        Some(DhcpOption::DomainNameServer(vec![Ipv4Addr::new(198, 18, 0, 53)]))
    );
    assert_eq!(opt(&m, OptionCode::DomainName), Some(DhcpOption::DomainName("lab.test".into())));
    assert_eq!(opt(&m, OptionCode::InterfaceMtu), Some(DhcpOption::InterfaceMtu(1400)));
    assert_eq!(opt(&m, OptionCode::AddressLeaseTime), Some(DhcpOption::AddressLeaseTime(u32::MAX)));
}

#[test]
fn dhcp_request_is_acked_or_naked() {
    let cfg = SdnConfig::default();
    let inp = input();
    let port = inp.port_by_ofport(2).unwrap();
    let good = dhcp::client_frame(port.mac, 7, MessageType::Request, port.ip);
    let m = dhcp::decode_reply(&compute::packet_in(&cfg, &inp, 2, &good).unwrap().unwrap().frame).unwrap();
    assert_eq!(opt(&m, OptionCode::MessageType), Some(DhcpOption::MessageType(MessageType::Ack)));
    let bad = dhcp::client_frame(port.mac, 8, MessageType::Request, Some(Ipv4Addr::new(198, 18, 1, 99)));
    let m = dhcp::decode_reply(&compute::packet_in(&cfg, &inp, 2, &bad).unwrap().unwrap().frame).unwrap();
    assert_eq!(opt(&m, OptionCode::MessageType), Some(DhcpOption::MessageType(MessageType::Nak)));
    assert_eq!(m.yiaddr(), Ipv4Addr::UNSPECIFIED);
    let release = dhcp::client_frame(port.mac, 9, MessageType::Release, None);
    assert_eq!(compute::packet_in(&cfg, &inp, 2, &release).unwrap(), None);
    assert!(compute::packet_in(&cfg, &inp, 2, &[0u8; 20]).is_err(), "garbage is an error, not a panic");
    assert_eq!(compute::packet_in(&cfg, &inp, 99, &good).unwrap(), None, "unknown port");
}

#[test]
fn classless_routes_encoding() {
    let r = dhcp::encode_routes(&[
        ("0.0.0.0/0".parse().unwrap(), Ipv4Addr::new(10, 0, 0, 1)),
        ("10.1.0.0/16".parse().unwrap(), Ipv4Addr::new(10, 0, 0, 2)),
        ("169.254.169.254/32".parse().unwrap(), Ipv4Addr::UNSPECIFIED),
    ]);
    assert_eq!(r, [0, 10, 0, 0, 1, 16, 10, 1, 10, 0, 0, 2, 32, 169, 254, 169, 254, 0, 0, 0, 0]);
}

#[test]
fn gateway_ping_is_answered_by_the_controller() {
    use etherparse::PacketBuilder;
    let cfg = SdnConfig::default();
    let inp = input();
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], cfg.icmp.router_mac)
        .ipv4([198, 18, 1, 11], [198, 18, 1, 1], 64)
        .icmpv4_echo_request(5, 6);
    let mut frame = Vec::new();
    b.write(&mut frame, b"hello").unwrap();
    let out = compute::packet_in(&cfg, &inp, 1, &frame).unwrap().unwrap();
    let pkt = etherparse::SlicedPacket::from_ethernet(&out.frame).unwrap();
    let Some(etherparse::TransportSlice::Icmpv4(icmp)) = pkt.transport else { panic!("not icmp") };
    assert!(matches!(icmp.icmp_type(), etherparse::Icmpv4Type::EchoReply(h) if h.id == 5 && h.seq == 6));
    assert_eq!(icmp.payload(), b"hello");
    let Some(etherparse::NetSlice::Ipv4(ip)) = pkt.net else { panic!() };
    assert_eq!(ip.header().source_addr(), Ipv4Addr::new(198, 18, 1, 1));
    assert_eq!(ip.header().destination_addr(), Ipv4Addr::new(198, 18, 1, 11));
}

#[test]
fn duplicate_mac_in_one_network_is_reported_not_fatal() {
    let mut m = model();
    let mut dup = m.logical_ports["p2"].clone();
    dup.id = "p9".into();
    m.logical_ports.insert("p9".into(), dup);
    let ifaces: Vec<OvsInterface> = [("p1", 1), ("p2", 2), ("p9", 9)]
        .iter()
        .map(|(id, of)| OvsInterface { name: format!("tap{of}"), ofport: *of, iface_id: Some((*id).into()) })
        .collect();
    let inp = bind(&m, &SwitchIdentity::default(), &ifaces, &mut IdAssigner::default());
    let cfg = SdnConfig::default();
    let p = compute::pipeline(&cfg).unwrap();
    assert!(compute::desired(&p, &cfg, &inp).is_err());
    let (t, conflicts) = compute::desired_lenient(&p, &cfg, &inp).unwrap();
    assert!(!conflicts.is_empty());
    assert!(t.listing(&p).iter().any(|l| l.contains("NXM_NX_REG6=00000009")), "p9 keeps its egress flow");
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn arb_model() -> impl Strategy<Value = (ModelSnapshot, Vec<OvsInterface>)> {
        let port = (0usize..3, 0u8..6, proptest::option::of(0u8..6), proptest::bool::ANY);
        (proptest::collection::vec(port, 0..12), proptest::collection::vec(proptest::option::of(1u8..5), 3))
            .prop_map(|(ports, gws)| {
                let mut m = ModelSnapshot::default();
                m.physical_networks
                    .insert("pv".into(), PhysicalNetwork { id: "pv".into(), kind: NetworkType::Vlan });
                m.physical_ports.push(PhysicalPort {
                    vhost: String::new(),
                    systemid: "%".into(),
                    bridge: "%".into(),
                    name: "eth%".into(),
                    physical_network: "pv".into(),
                });
                for (i, gw) in gws.iter().enumerate() {
                    let n = format!("n{i}");
                    let mut net = lnet(&n, "pv");
                    net.segment = Some(100 + i as u32);
                    m.logical_networks.insert(n.clone(), net);
                    let mut s = subnet(&format!("s{i}"), &n);
                    s.gateway = gw.map(|g| Ipv4Addr::new(198, 18, 1, g));
                    m.subnets.insert(format!("s{i}"), s);
                }
                let mut ifaces = vec![OvsInterface { name: "eth1".into(), ofport: 100, iface_id: None }];
                for (i, (net, mac, ip, bound)) in ports.into_iter().enumerate() {
                    let id = format!("p{i}");
                    m.logical_ports.insert(
                        id.clone(),
                        LogicalPort {
                            id: id.clone(),
                            network: format!("n{net}"),
                            subnet: Some(format!("s{net}")),
                            mac: [2, 0, 0, 0, 0, mac],
                            ip: ip.map(|x| Ipv4Addr::new(198, 18, 1, 10 + x)),
                            hostname: None,
                        },
                    );
                    if bound {
                        ifaces.push(OvsInterface {
                            name: format!("tap{i}"),
                            ofport: i as u32 + 1,
                            iface_id: Some(id),
                        });
                    }
                }
                (m, ifaces)
            })
    }

    proptest! {
        /// Any model, even an inconsistent one, gives a flow table the pipeline accepts; a
        /// consistent one (unique MAC and IP per network) gives no conflicts.
        #[test]
        fn any_model_gives_a_valid_table((m, ifaces) in arb_model()) {
            let cfg = SdnConfig::default();
            let p = compute::pipeline(&cfg).unwrap();
            let inp = bind(&m, &SwitchIdentity::default(), &ifaces, &mut IdAssigner::default());
            let (t, conflicts) = compute::desired_lenient(&p, &cfg, &inp).unwrap();
            let mut seen = std::collections::BTreeSet::new();
            let unique = inp.ports.iter().all(|pt| {
                seen.insert((pt.netid, pt.mac.to_vec())) && pt.ip.is_none_or(|ip| seen.insert((pt.netid, ip.octets().to_vec())))
            });
            let gw_clash = inp.networks.iter().any(|n| n.subnets.iter().any(|s| {
                s.gateway.is_some_and(|g| inp.ports_of(n.netid).any(|pt| pt.ip == Some(g)))
            }));
            if unique && !gw_clash {
                prop_assert!(conflicts.is_empty(), "{:?}", conflicts);
            }
            // Every bound port has its egress flow.
            let listing = t.listing(&p);
            for pt in &inp.ports {
                let want = format!("egress 100 NXM_NX_REG6={:08x} ", pt.ofport);
                prop_assert!(listing.iter().any(|l| l.starts_with(&want)), "{}", want);
            }
        }
    }
}

fn learning_cfg() -> SdnConfig {
    let mut cfg = SdnConfig::default();
    cfg.l2switch.learning = true;
    cfg.l2switch.learn_timeout = 120;
    cfg
}

#[test]
fn learning_mode_learns_in_l2input_and_looks_up_l2learning() {
    use super::l2switch::{LEARNED_COOKIE, PRIO_LEARN};
    use crate::openflow::{Action, Instruction, LearnDst, NX_IN_PORT, NxAction, OxmField};
    let cfg = learning_cfg();
    let p = compute::pipeline(&cfg).unwrap();
    let t = compute::desired(&p, &cfg, &input()).unwrap();
    let listing = t.listing(&p);
    // No prepushed MAC → port flows.
    assert!(!listing.iter().any(|l| l.starts_with("l2output 100")), "{listing:#?}");
    let learning = p.id("l2learning").unwrap();
    let l2input = p.id("l2input").unwrap();
    let learn = t
        .flows
        .iter()
        .find(|(k, _)| k.table == l2input && k.priority == PRIO_LEARN)
        .map(|(_, b)| b)
        .expect("the learn flow");
    // Only frames from logical ports learn.
    assert_eq!(learn.matches.fields.len(), 1);
    assert_eq!(learn.matches.fields[0].field(), OxmField::reg(7));
    let Instruction::ApplyActions(acts) = &learn.instructions[0] else { panic!("{learn:?}") };
    let Action::Nx(NxAction::Learn(l)) = &acts[0] else { panic!("{acts:?}") };
    assert_eq!((l.table_id, l.idle_timeout, l.hard_timeout, l.cookie), (learning, 120, 0, LEARNED_COOKIE));
    assert!(!super::flow::Cookie(l.cookie).is_ours(), "flowsync must leave learned flows alone");
    let dsts: Vec<_> = l.specs.iter().map(|s| (s.n_bits, s.dst.clone())).collect();
    let f = |field, ofs| crate::openflow::FieldSlice::new(field, ofs);
    assert_eq!(
        dsts,
        [
            (32, LearnDst::Match(f(OxmField::reg(5), 0))),
            (48, LearnDst::Match(f(OxmField::NXM_OF_ETH_DST, 0))),
            (16, LearnDst::Load(f(OxmField::reg(6), 0))),
            (16, LearnDst::Load(f(OxmField::reg(6), 16))),
        ]
    );
    assert_eq!(learn.instructions[1], Instruction::GotoTable(p.id("arp").unwrap()));
    // The l2output default looks the destination up, then goes on to egress.
    let l2output = p.id("l2output").unwrap();
    let default = t.flows.iter().find(|(k, _)| k.table == l2output && k.priority == 0).unwrap().1;
    assert_eq!(
        default.instructions,
        [
            Instruction::ApplyActions(vec![Action::Nx(NxAction::ResubmitTable {
                in_port: NX_IN_PORT,
                table: learning
            })]),
            Instruction::GotoTable(p.id("egress").unwrap()),
        ]
    );
    // Flooding within the network stays (unknown destinations).
    assert_eq!(listing.iter().filter(|l| l.starts_with("egress 50")).count(), 2);
    // A port's output also checks its network: a stale learned entry cannot cross networks.
    let outputs: Vec<_> = listing.iter().filter(|l| l.starts_with("egress 100")).collect();
    assert_eq!(outputs.len(), 3, "{outputs:#?}");
    assert!(outputs.iter().any(|l| l.contains("NXM_NX_REG5=00000002,NXM_NX_REG6=00000003")), "{outputs:#?}");
    assert!(outputs.iter().all(|l| l.contains("NXM_NX_REG5=")), "{outputs:#?}");
}

#[test]
fn learned_flows_survive_a_resync() {
    use super::flowsync;
    use super::l2switch::{LEARNED_COOKIE, PRIO_LEARNED};
    use crate::openflow::{Instruction, Match, Oxm};
    let cfg = learning_cfg();
    let p = compute::pipeline(&cfg).unwrap();
    let desired = compute::desired(&p, &cfg, &input()).unwrap();
    // What a flow-stats read after a reconnect shows: ours plus one learned flow.
    let mut installed = desired.clone();
    let m = Match::new().with(Oxm::reg(5, 1)).with(Oxm::eth_dst([2, 0, 0, 0, 0, 1]));
    installed.insert_reported(
        p.id("l2learning").unwrap(),
        PRIO_LEARNED,
        LEARNED_COOKIE,
        &m,
        Vec::<Instruction>::new(),
    );
    assert!(flowsync::plan(&installed, &desired).is_empty(), "a learned flow was deleted");
}

#[test]
fn prepush_and_learning_differ_only_in_l2() {
    let p = compute::pipeline(&SdnConfig::default()).unwrap();
    let prepush = compute::desired(&p, &SdnConfig::default(), &input()).unwrap().listing(&p);
    let learning = compute::desired(&p, &learning_cfg(), &input()).unwrap().listing(&p);
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter().filter(|l| !b.contains(l)).cloned().collect()
    };
    let gone = only(&prepush, &learning);
    let added = only(&learning, &prepush);
    assert!(gone.iter().all(|l| l.starts_with("l2output") || l.starts_with("egress 100")), "{gone:#?}");
    assert_eq!(gone.len(), 7, "3 MAC flows, the plain default, 3 port outputs: {gone:#?}");
    assert_eq!(added.len(), 5, "the learn flow, the lookup default, 3 port outputs: {added:#?}");
}

#[test]
fn learning_mode_learns_behind_vlan_and_native_ports_but_not_tunnels() {
    let mut inp = SwitchInput::default();
    for (i, (kind, phys)) in
        [(NetworkType::Vlan, "pv"), (NetworkType::Native, "pn"), (NetworkType::Vxlan, "px")]
            .into_iter()
            .enumerate()
    {
        let netid = i as u16 + 1;
        inp.networks.push(NetworkView {
            id: format!("n{netid}"),
            netid,
            physical_network: phys.into(),
            kind,
            segment: Some(100 + u32::from(netid)),
            dhcp: DhcpSettings::default(),
            subnets: Vec::new(),
        });
        inp.physical_ports.push(PhysicalPortView {
            name: format!("{phys}0"),
            ofport: 10 + u32::from(netid),
            physical_network: phys.into(),
            kind,
        });
    }
    let cfg = learning_cfg();
    let p = compute::pipeline(&cfg).unwrap();
    let listing = compute::desired(&p, &cfg, &inp).unwrap().listing(&p);
    let learn: Vec<_> = listing.iter().filter(|l| l.starts_with("l2input 10 ")).collect();
    assert_eq!(learn.len(), 3, "logical ports, pv0 and pn0: {learn:#?}");
    assert!(learn.iter().any(|l| l.contains("IN_PORT=0000000b")), "{learn:#?}");
    assert!(learn.iter().any(|l| l.contains("IN_PORT=0000000c")), "{learn:#?}");
    assert!(!learn.iter().any(|l| l.contains("IN_PORT=0000000d")), "the tunnel is not learned: {learn:#?}");
    let out: Vec<_> = listing.iter().filter(|l| l.starts_with("egress 100 ")).collect();
    assert_eq!(out.len(), 2, "{out:#?}");
    let vlan = out.iter().find(|l| l.contains("NXM_NX_REG6=0000000b")).unwrap();
    assert!(
        vlan.contains("NXM_NX_REG5=00000001")
            && vlan.contains("push_vlan")
            && vlan.contains("output:PortNo(0xb)"),
        "{vlan}"
    );
    let native = out.iter().find(|l| l.contains("NXM_NX_REG6=0000000c")).unwrap();
    assert!(
        native.contains("NXM_NX_REG5=00000002") && native.ends_with("apply(output:PortNo(0xc)) (l2switch)"),
        "{native}"
    );
}
