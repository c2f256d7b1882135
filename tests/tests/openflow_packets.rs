//! PACKET_OUT and PACKET_IN with real frames: the controller sends an ARP request and an ICMP
//! echo request (built with etherparse) out of an endpoint's port; the endpoint's kernel answers
//! and a flow sends the answers back to the controller as PACKET_INs.

mod openflow_common;

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, Icmpv4Type, PacketBuilder, SlicedPacket,
    TransportSlice,
};
use openflow_common::{Switch, connect, next_event};
use vlcp::openflow::{
    Action, FlowMod, Instruction, Match, Message, Oxm, PacketIn, PacketInReason, PacketOut, PortNo,
};
use vlcp::runtime::ofswitch::DatapathEvent;

const ME_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
const ME_IP: [u8; 4] = [198, 18, 2, 1];
const EP_IP: [u8; 4] = [198, 18, 2, 2];

fn mac(s: &str) -> [u8; 6] {
    let v: Vec<u8> = s.split(':').map(|x| u8::from_str_radix(x, 16).unwrap()).collect();
    v.try_into().unwrap()
}

fn arp_request() -> Vec<u8> {
    let arp = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation::REQUEST,
        &ME_MAC,
        &ME_IP,
        &[0; 6],
        &EP_IP,
    )
    .unwrap();
    let b = PacketBuilder::ethernet2(ME_MAC, [0xff; 6]).arp(arp);
    let mut out = Vec::new();
    b.write(&mut out).unwrap();
    out
}

fn icmp_echo(dst_mac: [u8; 6], seq: u16) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(ME_MAC, dst_mac).ipv4(ME_IP, EP_IP, 64).icmpv4_echo_request(0x5151, seq);
    let payload = b"vlcp openflow e2e";
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).unwrap();
    out
}

#[tokio::test]
async fn packet_out_arp_and_icmp_round_trip_through_an_endpoint() {
    let sw = Switch::start();
    let ep = sw.ovs.add_endpoint(&sw.bridge, "198.18.2.2/24").unwrap();
    let port = PortNo(ep.ofport(&sw.ovs).unwrap());
    let (c, dp, mut tap) = connect(&sw, |_| {}).await;
    let mut events = c.subscribe();
    // Everything from the endpoint goes to the controller, whole.
    dp.batch(vec![
        Message::FlowMod(FlowMod::delete_all()),
        Message::FlowMod(FlowMod::add(
            0,
            10,
            Match::new().with(Oxm::in_port(port)),
            vec![Instruction::ApplyActions(vec![Action::to_controller(0xffff)])],
        )),
    ])
    .await
    .unwrap();

    // ARP: who has 198.18.2.2? The endpoint answers with its MAC.
    dp.send(Message::PacketOut(PacketOut::to_port(port, arp_request()))).await.unwrap();
    let reply = next_event(&mut events, "ARP reply packet-in", |e| match e {
        DatapathEvent::PacketIn { packet_in, .. } => {
            let arp = ArpPacket::from_slice(packet_in.data.get(14..)?).ok()?;
            let arp = arp.try_eth_ipv4().ok()?;
            (arp.operation == ArpOperation::REPLY).then(|| (packet_in.clone(), arp))
        }
        _ => None,
    })
    .await;
    let (pin, arp): (PacketIn, _) = reply;
    assert_eq!(pin.in_port(), Some(port));
    assert_eq!(pin.reason, PacketInReason::ACTION);
    assert_eq!(usize::from(pin.total_len), pin.data.len());
    assert_eq!(arp.sender_ipv4, EP_IP);
    assert_eq!(arp.sender_mac, mac(&ep.mac));
    assert_eq!(arp.target_ipv4, ME_IP);
    assert_eq!(arp.target_mac, ME_MAC);

    // ICMP echo to the MAC we learned; the echo reply comes back with our payload.
    dp.send(Message::PacketOut(PacketOut::to_port(port, icmp_echo(arp.sender_mac, 7)))).await.unwrap();
    let (seq, payload) = next_event(&mut events, "ICMP echo reply packet-in", |e| match e {
        DatapathEvent::PacketIn { packet_in, .. } => {
            let p = SlicedPacket::from_ethernet(&packet_in.data).ok()?;
            match p.transport? {
                TransportSlice::Icmpv4(icmp) => match icmp.icmp_type() {
                    Icmpv4Type::EchoReply(h) if h.id == 0x5151 => Some((h.seq, icmp.payload().to_vec())),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    })
    .await;
    assert_eq!(seq, 7);
    assert_eq!(payload, b"vlcp openflow e2e");
    tap.check();
    assert!(tap.types.contains("PACKET_IN"), "{:?}", tap.types);
}
