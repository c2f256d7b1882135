//! l3router: virtual routers between the subnets of logical networks (`l3input` → `l3router` →
//! `l3output` → `l2output`), in prepush style.
//!
//! - `l3input`: an IPv4 packet of a network with a router interface, addressed to the router MAC
//!   (`module.l3router.inroutermac`), goes to `l3router`. Pings to any of the router's interface
//!   addresses go to the controller (answered by [`crate::sdn::compute::packet_in`]); gateway
//!   pings of the input network stay with icmpresponder (higher priority than routing).
//! - `l3router` (path `router`): per input network, one flow per route, longest prefix first
//!   (priority grows with the prefix length; a connected route beats a static one of the same
//!   length). A connected route sets the output network (REG5) and goes to `l3output`; a static
//!   route `(prefix, next hop)` rewrites the MACs to the next hop's and goes to `l2output`.
//!   Unmatched packets are dropped (the table default).
//! - `l3output` (path `l3`): per output network and host address, source MAC := router MAC,
//!   destination MAC := the host's, TTL decremented, then `l2output` finds the port.
//! - `arp`: the router answers ARP for interface addresses that are not the subnet gateway
//!   (gateways are answered by arpresponder already).
//!
//! Hosts are every logical port of a routed subnet in the model, not only the ones bound on this
//! switch, so a routed packet for a remote port leaves through the network's flood (tunnels,
//! physical ports). Next hops are resolved from the model's logical ports; a next hop that no
//! logical port has (an external gateway, a router behind a physical port) is resolved by ARP
//! ([`crate::sdn::nexthop`]) and gets its route flow only while [`SwitchInput::neighbors`] has
//! its MAC: until then packets to it are dropped.
//!
//! Binding support: [`reachable_networks`] (networks a router connects to a bound one get a
//! per-switch id too) and [`router_views`] (the per-switch router view).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use ipnetwork::Ipv4Network;

use crate::openflow::{Action, CONTROLLER_MAX_LEN_NO_BUFFER, Oxm};

use super::arp::{self, Answer, ArpEntry};
use super::config::SdnConfig;
use super::flow::{FlowEntry, Owner, set_reg};
use super::input::{
    Mac, ModelSnapshot, NetworkView, RouterHost, RouterInterfaceView, RouterView, SwitchInput,
};
use super::ioprocessing::{PRIO_PORT, REG_IN_NET, REG_OUT_NET};
use super::nexthop::Neighbors;
use super::stages::Module;

/// `ETH_TYPE_IP`.
pub const ETH_TYPE_IP: u16 = 0x0800;
/// Priority of the `l3input` "to the router" flows (below icmpresponder's gateway pings).
pub const PRIO_TO_ROUTER: u16 = 100;
/// Priority of the `l3input` flows for pings to router interface addresses.
pub const PRIO_PING: u16 = super::icmp::PRIO_PING;
/// Base priority of `l3router` route flows; `+ 2 × prefix length (+ 1 when connected)`.
pub const PRIO_ROUTE_BASE: u16 = 1000;

const M: Module = Module::L3Router;

/// The priority of a route flow: longest prefix first, connected before static.
pub fn route_priority(prefix: u8, connected: bool) -> u16 {
    PRIO_ROUTE_BASE + 2 * u16::from(prefix.min(32)) + u16::from(connected)
}

/// The networks that routers connect to any of `present` (the networks bound on a switch), not
/// already in it. Only networks whose physical network exists are returned.
pub fn reachable_networks<'a>(model: &'a ModelSnapshot, present: &BTreeSet<&str>) -> Vec<&'a str> {
    let mut out = BTreeSet::new();
    for r in model.routers.values() {
        let nets: Vec<&str> = r
            .interfaces
            .iter()
            .filter_map(|i| model.subnets.get(&i.subnet))
            .map(|s| s.network.as_str())
            .filter(|n| {
                model
                    .logical_networks
                    .get(*n)
                    .is_some_and(|ln| model.physical_networks.contains_key(&ln.physical_network))
            })
            .collect();
        if nets.iter().any(|n| present.contains(n)) {
            out.extend(nets.into_iter().filter(|n| !present.contains(n)));
        }
    }
    out.into_iter().filter_map(|n| model.logical_networks.get_key_value(n).map(|(k, _)| k.as_str())).collect()
}

/// The routers with an interface on one of `networks` (the switch's networks, with their ids),
/// each with the interfaces on those networks. An interface without an address (no explicit
/// one and no subnet gateway) is left out.
pub fn router_views(model: &ModelSnapshot, networks: &[NetworkView]) -> Vec<RouterView> {
    let mut out = Vec::new();
    for r in model.routers.values() {
        let mut interfaces = Vec::new();
        for i in &r.interfaces {
            let Some(s) = model.subnets.get(&i.subnet) else { continue };
            let Some(net) = networks.iter().find(|n| n.id == s.network) else { continue };
            let Some(ip) = i.ip.or(s.gateway) else { continue };
            let mut hosts: Vec<RouterHost> = model
                .logical_ports
                .values()
                .filter(|p| p.network == s.network)
                .filter_map(|p| {
                    let ip = p.ip.filter(|ip| s.cidr.contains(*ip))?;
                    Some(RouterHost { port: p.id.clone(), ip, mac: p.mac })
                })
                .collect();
            hosts.sort_by_key(|h| h.ip);
            interfaces.push(RouterInterfaceView {
                id: i.id.clone(),
                subnet: s.id.clone(),
                network: s.network.clone(),
                netid: net.netid,
                cidr: s.cidr,
                ip,
                external: s.external,
                gateway: s.gateway,
                hosts,
            });
        }
        if !interfaces.is_empty() {
            interfaces.sort_by(|a, b| a.id.cmp(&b.id));
            out.push(RouterView { id: r.id.clone(), interfaces, routes: r.routes.clone() });
        }
    }
    out
}

/// A static route's next hop: the interface it is reached through and its MAC when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop<'a> {
    pub destination: Ipv4Network,
    pub via: Ipv4Addr,
    pub interface: &'a RouterInterfaceView,
    pub mac: Option<Mac>,
}

/// The static routes of `r` (its `routes`, then a default route through the gateway of every
/// external subnet), each with the interface whose subnet holds the next hop and its MAC: a
/// logical port's from the model, else the ARP-resolved one in `neighbors`. Routes whose next
/// hop is in no connected subnet are left out, as in the original.
pub fn next_hops<'a>(r: &'a RouterView, neighbors: &Neighbors) -> Vec<NextHop<'a>> {
    let external = r
        .interfaces
        .iter()
        .filter(|i| i.external)
        .filter_map(|i| Some((Ipv4Network::new(Ipv4Addr::UNSPECIFIED, 0).ok()?, i.gateway?)));
    r.routes
        .iter()
        .copied()
        .chain(external)
        .filter_map(|(destination, via)| {
            let interface = r.interfaces.iter().find(|i| i.cidr.contains(via))?;
            let mac = interface.hosts.iter().find(|h| h.ip == via).map(|h| h.mac);
            let mac = mac.or_else(|| neighbors.get(&(interface.network.clone(), via)).copied());
            Some(NextHop { destination, via, interface, mac })
        })
        .collect()
}

fn ip_flow(owner: Owner, table: &'static str, priority: u16, netid: u16) -> FlowEntry {
    FlowEntry::new(M, owner, table, priority)
        .with(Oxm::reg(REG_IN_NET, u32::from(netid)))
        .with(Oxm::eth_type(ETH_TYPE_IP))
}

/// Every l3router flow of the switch.
pub fn flows(input: &SwitchInput, cfg: &SdnConfig) -> Vec<FlowEntry> {
    let mac = cfg.l3router.router_mac;
    let mut out = Vec::new();
    for r in &input.routers {
        let owner = Owner::Router(r.id.clone());
        let in_nets: BTreeSet<u16> = r.interfaces.iter().map(|i| i.netid).collect();
        let hops = next_hops(r, &input.neighbors);
        for &netid in &in_nets {
            out.push(
                ip_flow(owner.clone(), "l3input", PRIO_TO_ROUTER, netid)
                    .with(Oxm::eth_dst(mac))
                    .goto("l3router"),
            );
            for i in &r.interfaces {
                out.push(
                    ip_flow(
                        Owner::RouterPort(i.id.clone()),
                        "l3router",
                        route_priority(i.cidr.prefix(), true),
                        netid,
                    )
                    .with(Oxm::ipv4_dst_prefix(i.cidr.network(), i.cidr.prefix()))
                    .actions([set_reg(REG_OUT_NET, u32::from(i.netid))])
                    .goto("l3output"),
                );
                if !i.external && !icmpresponder_answers(cfg, i, netid) {
                    out.push(
                        ip_flow(Owner::RouterPort(i.id.clone()), "l3input", PRIO_PING, netid)
                            .with(Oxm::ip_proto(1))
                            .with(Oxm::icmpv4_type(8))
                            .with(Oxm::ipv4_dst(i.ip))
                            .actions([Action::to_controller(CONTROLLER_MAX_LEN_NO_BUFFER)]),
                    );
                }
            }
            for h in &hops {
                let Some(nh_mac) = h.mac else { continue };
                out.push(
                    ip_flow(owner.clone(), "l3router", route_priority(h.destination.prefix(), false), netid)
                        .with(Oxm::ipv4_dst_prefix(h.destination.network(), h.destination.prefix()))
                        .actions([set_reg(REG_OUT_NET, u32::from(h.interface.netid))])
                        .actions(rewrite(mac, nh_mac))
                        .goto("l2output"),
                );
            }
        }
        for i in &r.interfaces {
            for h in &i.hosts {
                out.push(
                    FlowEntry::new(M, Owner::Port(h.port.clone()), "l3output", PRIO_PORT)
                        .with(Oxm::reg(REG_OUT_NET, u32::from(i.netid)))
                        .with(Oxm::eth_type(ETH_TYPE_IP))
                        .with(Oxm::ipv4_dst(h.ip))
                        .actions(rewrite(mac, h.mac))
                        .goto("l2output"),
                );
            }
            // Gateways are answered by arpresponder; external addresses belong to the outside.
            if cfg.enabled(Module::ArpResponder) && !i.external && i.gateway != Some(i.ip) {
                let e = ArpEntry { ip: i.ip, mac, netid: i.netid, answer: Answer::LogicalOnly };
                out.push(arp::answer_flow(M, Owner::RouterPort(i.id.clone()), &e, &cfg.arp));
            }
        }
    }
    out.extend(super::nexthop::flows(input, cfg));
    out
}

/// True when icmpresponder already answers pings to `i`'s address from network `netid` (the
/// gateway of a non-external subnet of that network).
fn icmpresponder_answers(cfg: &SdnConfig, i: &RouterInterfaceView, netid: u16) -> bool {
    cfg.enabled(Module::IcmpResponder) && i.netid == netid && !i.external && i.gateway == Some(i.ip)
}

/// Source MAC := router, destination MAC := `dst`, TTL − 1.
fn rewrite(router_mac: Mac, dst: Mac) -> [Action; 3] {
    [Action::SetField(Oxm::eth_src(router_mac)), Action::SetField(Oxm::eth_dst(dst)), Action::DecNwTtl]
}

/// True when a ping from network `netid` to `dst` is for an interface address of a router
/// attached to that network (the controller answers it).
pub fn answers_ping(input: &SwitchInput, netid: u16, dst: Ipv4Addr) -> bool {
    input.routers.iter().any(|r| {
        r.interfaces.iter().any(|i| i.netid == netid)
            && r.interfaces.iter().any(|i| i.ip == dst && !i.external)
    })
}

#[cfg(test)]
#[path = "l3router_tests.rs"]
mod tests;
