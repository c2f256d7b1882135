//! l3router's ARP resolution of next hops that are not logical ports (external gateways, routers
//! behind a physical port): the pure half. The runtime (`runtime::controller`) owns the clock and
//! the packet IO and calls in here.
//!
//! - [`targets`]: every next hop of a router on this switch (a static route's `via`, or the
//!   gateway of an external subnet) that lies in a router interface's subnet but belongs to no
//!   logical port of the model. Next hops that are logical ports keep being resolved from the
//!   model (prepush).
//! - [`ArpTable`]: per switch, the state of each target. Every `arp_cycle_time` the runtime
//!   calls [`ArpTable::cycle`]: unresolved targets, and resolved ones whose answer is at least
//!   `arp_complete_timeout` old, are asked for again ([`request_packet_out`]: an ARP request from
//!   the router MAC and interface address, flooded in the target's network through `egress`);
//!   a resolved target that has not answered for `arp_complete_timeout + arp_incomplete_timeout`
//!   loses its MAC. [`ArpTable::answer`] records a reply (a changed MAC takes effect at once).
//! - Flows: in `arp`, ARP replies from a target to the router interface go to the controller
//!   ([`flows`], above arpresponder's answers); the router's interface address on the target's
//!   network is answered for requests from physical ports too (the outside must find the router
//!   to route back). [`crate::sdn::l3router`] installs the route flow, with the target's MAC as
//!   destination, only while [`SwitchInput::neighbors`] has it.
//! - Packets routed to an unresolved next hop are **dropped** (no route flow: the `l3router`
//!   default drops); they are not buffered (`buffer_packet_timeout` is not built), so the first
//!   packets of a flow are lost until the first answer, at most one ARP round trip after the
//!   route appears (the first request goes out at once).
//!
//! Limits: one ARP request per target per cycle, flooded in its logical network; the router
//! answers with `inroutermac` on physical networks too (the original's per-host
//! `outroutermacmask` MAC is not built, so on a physical network shared by several hosts each
//! host answers with the same MAC).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Instant;

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, Ethernet2Header, LinkSlice, SlicedPacket,
};

use crate::openflow::{Action, CONTROLLER_MAX_LEN_NO_BUFFER, NX_IN_PORT, NxAction, Oxm, PacketOut, PortNo};

use super::arp::{self, Answer, ArpEntry, ETH_TYPE_ARP};
use super::config::{ArpConfig, L3RouterConfig, SdnConfig};
use super::flow::{FlowEntry, Owner, set_reg};
use super::input::{Mac, SwitchInput};
use super::ioprocessing::{FLOOD, REG_FLAGS, REG_IN_NET, REG_OUT_NET, REG_OUT_PORT};
use super::l3router;
use super::stages::{Module, Pipeline};

/// Priority of the `arp` flows that send next hops' replies to the controller (above
/// arpresponder's answers, which match requests only).
pub const PRIO_REPLY: u16 = arp::PRIO_ANSWER + 100;

/// A resolved neighbour is known by its logical network (id, stable across per-switch ids) and
/// address.
pub type NeighborKey = (String, Ipv4Addr);

/// Resolved next hops: what [`SwitchInput::neighbors`] carries into the flow computation.
pub type Neighbors = BTreeMap<NeighborKey, Mac>;

/// A next hop to resolve by ARP.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ArpTarget {
    /// The logical network of the router interface whose subnet holds the next hop.
    pub network: String,
    /// Its per-switch id.
    pub netid: u16,
    /// The next hop.
    pub ip: Ipv4Addr,
    /// The router interface's address (the ARP sender address).
    pub source_ip: Ipv4Addr,
}

impl ArpTarget {
    /// The key of its [`Neighbors`] entry.
    pub fn key(&self) -> NeighborKey {
        (self.network.clone(), self.ip)
    }
}

/// Every next hop of the switch's routers that no logical port has, once per (network, address),
/// sorted.
pub fn targets(input: &SwitchInput) -> Vec<ArpTarget> {
    let mut out: Vec<ArpTarget> = input
        .routers
        .iter()
        .flat_map(|r| l3router::next_hops(r, &Neighbors::new()))
        // (An external subnet whose gateway is the router's own address has nobody to ask.)
        .filter(|h| h.mac.is_none() && h.via != h.interface.ip)
        .map(|h| ArpTarget {
            network: h.interface.network.clone(),
            netid: h.interface.netid,
            ip: h.via,
            source_ip: h.interface.ip,
        })
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.network == b.network && a.ip == b.ip);
    out
}

/// The `arp` flows for the targets: replies to the router go to the controller; the router's
/// interface address is answered for physical ports too.
pub fn flows(input: &SwitchInput, cfg: &SdnConfig) -> Vec<FlowEntry> {
    if !cfg.enabled(Module::ArpResponder) {
        return Vec::new();
    }
    let mac = cfg.l3router.router_mac;
    let mut out = Vec::new();
    let ts = targets(input);
    for t in &ts {
        out.push(
            FlowEntry::new(Module::L3Router, Owner::Network(t.network.clone()), "arp", PRIO_REPLY)
                .with(Oxm::reg(REG_IN_NET, u32::from(t.netid)))
                .with(Oxm::eth_type(ETH_TYPE_ARP))
                .with(Oxm::arp_op(2))
                .with(Oxm::arp_spa(t.ip))
                .with(Oxm::arp_tpa(t.source_ip))
                .actions([Action::to_controller(CONTROLLER_MAX_LEN_NO_BUFFER)]),
        );
    }
    // Unicast refreshes from the outside are answered too: nobody else owns the address.
    let any = ArpConfig { broadcast_only: false, ..cfg.arp.clone() };
    let mut answered: Vec<(u16, Ipv4Addr)> = ts.iter().map(|t| (t.netid, t.source_ip)).collect();
    answered.dedup();
    for (netid, ip) in answered {
        let e = ArpEntry { ip, mac, netid, answer: Answer::PhysicalOnly };
        let owner = Owner::Network(input.network(netid).map(|n| n.id.clone()).unwrap_or_default());
        out.push(arp::answer_flow(Module::L3Router, owner, &e, &any));
    }
    out
}

/// The ARP request for `t`, from the router.
pub fn request_frame(t: &ArpTarget, router_mac: Mac) -> Vec<u8> {
    let eth = Ethernet2Header { source: router_mac, destination: [0xff; 6], ether_type: EtherType::ARP };
    let arp = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        ArpOperation::REQUEST,
        &router_mac,
        &t.source_ip.octets(),
        &[0; 6],
        &t.ip.octets(),
    )
    .expect("fixed ARP sizes");
    let mut out = eth.to_bytes().to_vec();
    out.extend_from_slice(&arp.to_bytes());
    out.resize(out.len().max(60), 0);
    out
}

/// The packet-out that floods the request for `t` in its network: the registers egress reads
/// (output network, FLOOD), then `resubmit(,egress)`. `None` without an `egress` table.
pub fn request_packet_out(pipeline: &Pipeline, t: &ArpTarget, router_mac: Mac) -> Option<PacketOut> {
    let egress = pipeline.id("egress")?;
    let net = u32::from(t.netid);
    Some(PacketOut {
        buffer_id: crate::openflow::NO_BUFFER,
        in_port: PortNo::CONTROLLER,
        actions: vec![
            set_reg(REG_IN_NET, net),
            set_reg(REG_OUT_NET, net),
            set_reg(REG_OUT_PORT, FLOOD),
            set_reg(REG_FLAGS, 0),
            Action::Nx(NxAction::ResubmitTable { in_port: NX_IN_PORT, table: egress }),
        ],
        data: request_frame(t, router_mac),
    })
}

/// If `frame` (a packet-in, `netid` its REG4 when the switch reported it) is an ARP reply from a
/// target to its router interface, the target and the MAC it answered with.
pub fn parse_reply(input: &SwitchInput, netid: Option<u16>, frame: &[u8]) -> Option<(ArpTarget, Mac)> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(LinkSlice::Ethernet2(_)) = p.link else { return None };
    let arp = match p.net? {
        etherparse::NetSlice::Arp(a) => a,
        _ => return None,
    };
    if arp.operation() != ArpOperation::REPLY || arp.sender_hw_addr().len() != 6 {
        return None;
    }
    let spa = Ipv4Addr::from(<[u8; 4]>::try_from(arp.sender_protocol_addr()).ok()?);
    let tpa = Ipv4Addr::from(<[u8; 4]>::try_from(arp.target_protocol_addr()).ok()?);
    let mac: Mac = arp.sender_hw_addr().try_into().ok()?;
    let t = targets(input)
        .into_iter()
        .find(|t| t.ip == spa && t.source_ip == tpa && netid.is_none_or(|n| n == t.netid))?;
    Some((t, mac))
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    mac: Option<Mac>,
    /// When the last answer came.
    answered: Option<Instant>,
}

/// The resolution state of one switch's targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArpTable {
    entries: BTreeMap<NeighborKey, Entry>,
}

impl ArpTable {
    /// One ARP cycle at `now`: forgets entries that are no longer targets, expires resolved ones
    /// that stopped answering, and returns the targets to ask for now and whether the resolved
    /// MACs ([`ArpTable::neighbors`]) changed.
    pub fn cycle(
        &mut self,
        now: Instant,
        targets: &[ArpTarget],
        cfg: &L3RouterConfig,
    ) -> (Vec<ArpTarget>, bool) {
        let before = self.neighbors();
        self.entries.retain(|k, _| targets.iter().any(|t| t.network == k.0 && t.ip == k.1));
        let mut ask = Vec::new();
        for t in targets {
            let e = self.entries.entry(t.key()).or_insert(Entry { mac: None, answered: None });
            let age = e.answered.map(|a| now.saturating_duration_since(a));
            match age {
                Some(age) if age >= cfg.arp_complete_timeout + cfg.arp_incomplete_timeout => {
                    e.mac = None;
                    ask.push(t.clone());
                }
                Some(age) if age < cfg.arp_complete_timeout && e.mac.is_some() => {}
                _ => ask.push(t.clone()),
            }
        }
        let changed = self.neighbors() != before;
        (ask, changed)
    }

    /// Records `mac` as the answer of `t` at `now`; true when the resolved MAC changed.
    pub fn answer(&mut self, t: &ArpTarget, mac: Mac, now: Instant) -> bool {
        let e = self.entries.entry(t.key()).or_insert(Entry { mac: None, answered: None });
        let changed = e.mac != Some(mac);
        e.mac = Some(mac);
        e.answered = Some(now);
        changed
    }

    /// True when `t` has an entry (was asked for or answered).
    pub fn knows(&self, t: &ArpTarget) -> bool {
        self.entries.contains_key(&t.key())
    }

    /// The resolved next hops.
    pub fn neighbors(&self) -> Neighbors {
        self.entries.iter().filter_map(|(k, e)| Some((k.clone(), e.mac?))).collect()
    }
}

#[cfg(test)]
#[path = "nexthop_tests.rs"]
mod tests;
