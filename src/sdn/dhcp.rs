//! dhcpserver: static DHCP answers from the model.
//!
//! Flows: in `l3input`, DHCP client packets (UDP 68 → 67) from logical ports of networks with a
//! subnet go to the controller; in `arp`, requests for the server address are answered with the
//! server MAC (so unicast renewals reach us). [`answer`] turns one such packet into the reply
//! frame: OFFER for DISCOVER, ACK (or NAK for a wrong address) for REQUEST, ACK without a lease
//! for INFORM, nothing for RELEASE/DECLINE. Options: subnet mask, router, DNS, domain, MTU (26),
//! classless static routes (121, with the default route when there is a gateway, or an on-link
//! route to the server when there is none), lease time, T1/T2, host name.

use std::net::Ipv4Addr;

use dhcproto::v4::{self, DhcpOption, Flags, Message, MessageType, Opcode, OptionCode, UnknownOption};
use dhcproto::{Decodable, Decoder, Encodable, Encoder};
use etherparse::{LinkSlice, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use ipnetwork::Ipv4Network;

use crate::openflow::{Action, CONTROLLER_MAX_LEN_NO_BUFFER, Oxm};

use super::arp::{Answer, ArpEntry, answer_flow};
use super::config::{ArpConfig, DhcpConfig};
use super::flow::{FlowEntry, Owner};
use super::input::{NetworkView, PortView, Subnet, SwitchInput};
use super::ioprocessing::{FLAG_FROM_LOGICAL, REG_FLAGS, REG_IN_NET};
use super::stages::Module;

/// Priority of the "DHCP to controller" flow.
pub const PRIO_DHCP: u16 = 200;
/// Largest DHCP message we parse.
const MAX_DHCP: usize = 4096;

/// Why a packet got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhcpError {
    #[error("not an Ethernet/IPv4/UDP packet: {0}")]
    NotUdp(String),
    #[error("not a DHCP client message to port 67")]
    NotDhcp,
    #[error("malformed DHCP message: {0}")]
    Malformed(String),
    #[error("logical port {0} has no IPv4 address or subnet to offer")]
    NothingToOffer(String),
    #[error("cannot encode the reply: {0}")]
    Encode(String),
}

/// True when `net` gets DHCP service (it has a subnet that is not external).
fn serves(net: &NetworkView) -> bool {
    net.subnets.iter().any(|s| !s.external)
}

/// The dhcpserver flows of a switch. `with_arp`: arpresponder is enabled (the `arp` table exists).
pub fn flows(input: &SwitchInput, cfg: &DhcpConfig, arp_cfg: &ArpConfig, with_arp: bool) -> Vec<FlowEntry> {
    let m = Module::DhcpServer;
    let mut out = Vec::new();
    for net in input.networks.iter().filter(|n| serves(n)) {
        let owner = Owner::Network(net.id.clone());
        out.push(
            FlowEntry::new(m, owner.clone(), "l3input", PRIO_DHCP)
                .with(Oxm::reg(REG_IN_NET, u32::from(net.netid)))
                .with(Oxm::reg_masked(REG_FLAGS, FLAG_FROM_LOGICAL, FLAG_FROM_LOGICAL))
                .with(Oxm::eth_type(0x0800))
                .with(Oxm::ip_proto(17))
                .with(Oxm::udp_src(68))
                .with(Oxm::udp_dst(67))
                .actions([Action::to_controller(CONTROLLER_MAX_LEN_NO_BUFFER)]),
        );
        if with_arp {
            let e = ArpEntry {
                ip: cfg.server_address,
                mac: cfg.server_mac,
                netid: net.netid,
                answer: Answer::LogicalOnly,
            };
            out.push(answer_flow(m, owner, &e, arp_cfg));
        }
    }
    out
}

/// The subnet a port's address comes from: its own, or the one whose CIDR holds its address.
fn subnet_of<'a>(net: &'a NetworkView, port: &PortView) -> Option<&'a Subnet> {
    let ip = port.ip?;
    port.subnet
        .as_ref()
        .and_then(|id| net.subnets.iter().find(|s| &s.id == id))
        .or_else(|| net.subnets.iter().find(|s| s.cidr.contains(ip)))
        .filter(|s| !s.external)
}

/// RFC 3442 encoding of classless static routes.
pub fn encode_routes(routes: &[(Ipv4Network, Ipv4Addr)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (net, via) in routes {
        let width = net.prefix();
        out.push(width);
        out.extend_from_slice(&net.network().octets()[..usize::from(width).div_ceil(8)]);
        out.extend_from_slice(&via.octets());
    }
    out
}

/// Parses the frame of a packet-in and, when it is a DHCP client message from `port`, builds the
/// reply frame to send back out of that port. `Ok(None)`: a message that needs no answer.
pub fn answer(
    frame: &[u8],
    port: &PortView,
    net: &NetworkView,
    cfg: &DhcpConfig,
) -> Result<Option<Vec<u8>>, DhcpError> {
    let pkt = SlicedPacket::from_ethernet(frame).map_err(|e| DhcpError::NotUdp(e.to_string()))?;
    let (Some(LinkSlice::Ethernet2(eth)), Some(NetSlice::Ipv4(_)), Some(TransportSlice::Udp(udp))) =
        (&pkt.link, &pkt.net, &pkt.transport)
    else {
        return Err(DhcpError::NotUdp("missing Ethernet II, IPv4 or UDP header".into()));
    };
    if udp.destination_port() != 67 || udp.source_port() != 68 {
        return Err(DhcpError::NotDhcp);
    }
    let payload = udp.payload();
    if payload.len() > MAX_DHCP {
        return Err(DhcpError::Malformed(format!("{} bytes", payload.len())));
    }
    let req = Message::decode(&mut Decoder::new(payload)).map_err(|e| DhcpError::Malformed(e.to_string()))?;
    if req.opcode() != Opcode::BootRequest {
        return Err(DhcpError::NotDhcp);
    }
    let Some(DhcpOption::MessageType(kind)) = req.opts().get(OptionCode::MessageType) else {
        return Err(DhcpError::Malformed("no message type".into()));
    };
    let (Some(ip), Some(subnet)) = (port.ip, subnet_of(net, port)) else {
        return Err(DhcpError::NothingToOffer(port.id.clone()));
    };
    let requested = match req.opts().get(OptionCode::RequestedIpAddress) {
        Some(DhcpOption::RequestedIpAddress(a)) => Some(*a),
        _ => None,
    };
    let server_id = match req.opts().get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(a)) => Some(*a),
        _ => None,
    };
    let reply_type = match kind {
        MessageType::Discover => MessageType::Offer,
        MessageType::Request => {
            let asked = requested.unwrap_or(req.ciaddr());
            if asked == ip && server_id.is_none_or(|s| s == cfg.server_address) {
                MessageType::Ack
            } else if server_id.is_some_and(|s| s != cfg.server_address) {
                return Ok(None); // the client chose another server
            } else {
                MessageType::Nak
            }
        }
        MessageType::Inform => MessageType::Ack,
        _ => return Ok(None),
    };
    let mut reply = Message::default();
    reply
        .set_opcode(Opcode::BootReply)
        .set_xid(req.xid())
        .set_flags(req.flags())
        .set_giaddr(req.giaddr())
        .set_chaddr(req.chaddr());
    let opts = reply.opts_mut();
    opts.insert(DhcpOption::MessageType(reply_type));
    opts.insert(DhcpOption::ServerIdentifier(cfg.server_address));
    if reply_type != MessageType::Nak {
        if *kind == MessageType::Inform {
            reply.set_ciaddr(req.ciaddr());
        } else {
            reply.set_yiaddr(ip).set_siaddr(cfg.server_address);
        }
        fill_options(&mut reply, *kind == MessageType::Inform, port, net, subnet, cfg);
    }
    let mut body = Vec::new();
    reply.encode(&mut Encoder::new(&mut body)).map_err(|e| DhcpError::Encode(e.to_string()))?;

    let client_mac = eth.source();
    let broadcast = req.flags().broadcast() || reply_type == MessageType::Nak;
    let (dst_mac, dst_ip) = if !req.ciaddr().is_unspecified() && reply_type != MessageType::Nak {
        (client_mac, req.ciaddr())
    } else if broadcast {
        ([0xff; 6], Ipv4Addr::BROADCAST)
    } else {
        (client_mac, Ipv4Addr::BROADCAST)
    };
    let builder = PacketBuilder::ethernet2(cfg.server_mac, dst_mac)
        .ipv4(cfg.server_address.octets(), dst_ip.octets(), 64)
        .udp(67, 68);
    let mut out = Vec::with_capacity(builder.size(body.len()));
    builder.write(&mut out, &body).map_err(|e| DhcpError::Encode(e.to_string()))?;
    Ok(Some(out))
}

fn fill_options(
    reply: &mut Message,
    inform: bool,
    port: &PortView,
    net: &NetworkView,
    s: &Subnet,
    cfg: &DhcpConfig,
) {
    let opts = reply.opts_mut();
    opts.insert(DhcpOption::SubnetMask(s.cidr.mask()));
    if let Some(gw) = s.gateway {
        opts.insert(DhcpOption::Router(vec![gw]));
    }
    let dns =
        if s.dhcp.dns_nameservers.is_empty() { &net.dhcp.dns_nameservers } else { &s.dhcp.dns_nameservers };
    if !dns.is_empty() {
        opts.insert(DhcpOption::DomainNameServer(dns.clone()));
    }
    if let Some(d) = s.dhcp.domain_name.as_ref().or(net.dhcp.domain_name.as_ref()) {
        opts.insert(DhcpOption::DomainName(d.clone()));
    }
    if let Some(mtu) = s.dhcp.mtu.or(net.dhcp.mtu) {
        opts.insert(DhcpOption::InterfaceMtu(mtu));
    }
    if let Some(h) = &port.hostname {
        opts.insert(DhcpOption::Hostname(h.clone()));
    }
    let mut routes = s.host_routes.clone();
    match s.gateway {
        Some(gw) if !routes.is_empty() => {
            routes.push((Ipv4Network::new(Ipv4Addr::UNSPECIFIED, 0).expect("/0"), gw))
        }
        Some(_) => {}
        None => routes.push((Ipv4Network::new(cfg.server_address, 32).expect("/32"), Ipv4Addr::UNSPECIFIED)),
    }
    if !routes.is_empty() {
        opts.insert(DhcpOption::Unknown(UnknownOption::new(
            OptionCode::ClasslessStaticRoute,
            encode_routes(&routes),
        )));
    }
    if !inform {
        let lease = s.dhcp.lease_time.or(net.dhcp.lease_time).or(cfg.lease_time).unwrap_or(u32::MAX);
        opts.insert(DhcpOption::AddressLeaseTime(lease));
        if let Some(t1) = cfg.t1 {
            opts.insert(DhcpOption::Renewal(t1));
        }
        if let Some(t2) = cfg.t2 {
            opts.insert(DhcpOption::Rebinding(t2));
        }
    }
}

/// Builds a DHCP client message frame (for tests and tools): `kind` from `mac`, asking for
/// `requested` when given.
pub fn client_frame(mac: [u8; 6], xid: u32, kind: MessageType, requested: Option<Ipv4Addr>) -> Vec<u8> {
    let mut m = Message::default();
    m.set_opcode(Opcode::BootRequest).set_xid(xid).set_flags(Flags::default()).set_chaddr(&mac);
    m.opts_mut().insert(DhcpOption::MessageType(kind));
    if let Some(r) = requested {
        m.opts_mut().insert(DhcpOption::RequestedIpAddress(r));
    }
    let mut body = Vec::new();
    m.encode(&mut Encoder::new(&mut body)).expect("encode");
    let b = PacketBuilder::ethernet2(mac, [0xff; 6]).ipv4([0; 4], [255; 4], 64).udp(68, 67);
    let mut out = Vec::new();
    b.write(&mut out, &body).expect("write");
    out
}

/// Decodes the DHCP message inside a reply frame (for tests).
pub fn decode_reply(frame: &[u8]) -> Option<v4::Message> {
    let pkt = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(TransportSlice::Udp(udp)) = pkt.transport else { return None };
    Message::decode(&mut Decoder::new(udp.payload())).ok()
}
