//! icmpresponder: answers pings to subnet gateways.
//!
//! In `l3input`, an ICMP echo request to a gateway of the input network either goes to the
//! controller (`prepush = False`, the original's default; [`echo_reply`] builds the answer) or
//! is turned into the reply by the flow itself (`prepush = True`: swap MACs and addresses, type
//! 0, back through the input port; OVS updates the checksums).

use std::net::Ipv4Addr;

use etherparse::{Icmpv4Type, LinkSlice, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

use crate::openflow::{Action, CONTROLLER_MAX_LEN_NO_BUFFER, FieldSlice, NxAction, Oxm, OxmField};

use super::config::IcmpConfig;
use super::flow::{FlowEntry, Owner, set_reg};
use super::input::{Mac, SwitchInput};
use super::ioprocessing::{FLAG_ALLOW_IN_PORT, REG_FLAGS, REG_IN_NET, REG_OUT_NET, REG_OUT_PORT};
use super::stages::Module;

/// Priority of the gateway ping flows.
pub const PRIO_PING: u16 = 150;

fn mv(n_bits: u16, src: OxmField, dst: OxmField) -> Action {
    Action::Nx(NxAction::RegMove { n_bits, src: FieldSlice::whole(src), dst: FieldSlice::whole(dst) })
}

/// The icmpresponder flows of a switch.
pub fn flows(input: &SwitchInput, cfg: &IcmpConfig) -> Vec<FlowEntry> {
    let mut out = Vec::new();
    for net in &input.networks {
        for s in net.subnets.iter().filter(|s| !s.external) {
            let Some(gw) = s.gateway else { continue };
            let f = FlowEntry::new(Module::IcmpResponder, Owner::Subnet(s.id.clone()), "l3input", PRIO_PING)
                .with(Oxm::reg(REG_IN_NET, u32::from(net.netid)))
                .with(Oxm::eth_type(0x0800))
                .with(Oxm::ip_proto(1))
                .with(Oxm::icmpv4_type(8))
                .with(Oxm::ipv4_dst(gw));
            out.push(if cfg.prepush {
                f.actions(reply_actions(gw, cfg.router_mac)).goto("egress")
            } else {
                f.actions([Action::to_controller(CONTROLLER_MAX_LEN_NO_BUFFER)])
            });
        }
    }
    out
}

fn reply_actions(gw: Ipv4Addr, mac: Mac) -> Vec<Action> {
    vec![
        mv(48, OxmField::NXM_OF_ETH_SRC, OxmField::NXM_OF_ETH_DST),
        Action::SetField(Oxm::eth_src(mac)),
        mv(32, OxmField::NXM_OF_IP_SRC, OxmField::NXM_OF_IP_DST),
        Action::SetField(Oxm::ipv4_src(gw)),
        Action::SetField(Oxm::from_u64(OxmField::ICMPV4_TYPE, 0)),
        mv(32, OxmField::reg(REG_IN_NET), OxmField::reg(REG_OUT_NET)),
        set_reg(REG_OUT_PORT, 0),
        mv(16, OxmField::NXM_OF_IN_PORT, OxmField::reg(REG_OUT_PORT)),
        Action::Nx(NxAction::RegLoad {
            dst: FieldSlice::new(OxmField::reg(REG_FLAGS), FLAG_ALLOW_IN_PORT.trailing_zeros() as u16),
            n_bits: 1,
            value: 1,
        }),
    ]
}

/// The echo reply to an echo request frame addressed to `gw`, from `mac`; `None` when the frame
/// is not such a request.
pub fn echo_reply(frame: &[u8], gw: Ipv4Addr, mac: Mac) -> Option<Vec<u8>> {
    let pkt = SlicedPacket::from_ethernet(frame).ok()?;
    let (Some(LinkSlice::Ethernet2(eth)), Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Icmpv4(icmp))) =
        (&pkt.link, &pkt.net, &pkt.transport)
    else {
        return None;
    };
    if ip.header().destination_addr() != gw {
        return None;
    }
    let Icmpv4Type::EchoRequest(echo) = icmp.icmp_type() else { return None };
    let builder = PacketBuilder::ethernet2(mac, eth.source())
        .ipv4(gw.octets(), ip.header().source_addr().octets(), 64)
        .icmpv4_echo_reply(echo.id, echo.seq);
    let mut out = Vec::with_capacity(builder.size(icmp.payload().len()));
    builder.write(&mut out, icmp.payload()).ok()?;
    Some(out)
}

/// Which gateway of the input network `netid` a ping to `dst` is for.
pub fn gateway_for(input: &SwitchInput, netid: u16, dst: Ipv4Addr) -> bool {
    input.network(netid).is_some_and(|n| n.subnets.iter().any(|s| !s.external && s.gateway == Some(dst)))
}
