//! vxlancast: one logical network across hosts over VXLAN tunnels.
//!
//! # What is stored (ObjectDB, the original's keys)
//! - [`VxlanEndpointSet`] `viperflow.vxlanendpointset.<lognet id>`: `endpointlist`, one
//!   `[tunnel_ip, vhost, systemid, bridge, expire_µs]` per host (switch) that has ports on the
//!   network: the flood list. Each host refreshes its own entry every `refreshinterval` with an
//!   expiry of twice that, drops expired entries of others when it writes, and removes its entry
//!   when its last port of the network goes.
//! - [`LogicalPortVxlanInfo`] `viperflow.logicalportvxlaninfo.<port id>`: `endpoints`, where the
//!   port is, newest first (`{vhost, systemid, bridge, tunnel_dst, updated_time}`). The host that
//!   binds the port puts itself first; other hosts' entries younger than `allowedmigrationtime`
//!   stay behind it (a port moving between hosts), older ones are dropped; a host that loses the
//!   port removes its entry.
//!
//! Both are removed with their network / port by the model operations. The runtime task that
//! writes them is `runtime::vxlan`; the pure decisions are [`refresh_endpoint_set`] and
//! [`update_port_info`].
//!
//! # Flows (prepush mode)
//! - ingress from the tunnel port: the vxlan driver matches `tun_id = VNI` and copies `tun_src`
//!   into `tun_dst`, so anything sent back through the input port (ARP answers, allowed by an
//!   `egress` flow for the tunnel port) returns to the sender host;
//! - `vxlanoutput`: `reg5 = network, eth_dst = <MAC of a port on another host>` → `tun_id :=
//!   VNI, tun_dst := its host, output <tunnel port>` ([`flows`]);
//! - flooding: ioprocessing's flood flow of the network additionally sends one copy to every
//!   other host of the network's endpoint set ([`add_flood`]); a packet that came from the
//!   tunnel is not sent back into it (OVS never outputs to the input port).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::objectdb::DataObject;
use crate::openflow::{Action, Oxm, PortNo};

use super::flow::{FlowEntry, Owner};
use super::input::{Mac, ModelSnapshot, NetworkType, NetworkView, PortView, SwitchIdentity, SwitchInput};
use super::ioprocessing::{
    FLAG_ALLOW_IN_PORT, FLOOD, PRIO_FLOOD, PRIO_IN_PORT, PRIO_PORT, REG_FLAGS, REG_OUT_NET, REG_OUT_PORT,
};
use super::stages::Module;

/// `viperflow.vxlanendpointset.<lognet id>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VxlanEndpointSet {
    /// The logical network id.
    pub id: String,
    /// `[tunnel_ip, vhost, systemid, bridge, expire_µs]` per host.
    #[serde(default)]
    pub endpointlist: Vec<(String, String, String, String, u64)>,
}

impl DataObject for VxlanEndpointSet {
    const PREFIX: &'static str = "viperflow.vxlanendpointset";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

/// One location of a port in [`LogicalPortVxlanInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortEndpoint {
    pub vhost: String,
    pub systemid: String,
    pub bridge: String,
    /// The tunnel address of that host.
    pub tunnel_dst: String,
    /// When the host bound the port (µs since the epoch).
    pub updated_time: u64,
}

/// `viperflow.logicalportvxlaninfo.<port id>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogicalPortVxlanInfo {
    /// The logical port id.
    pub id: String,
    /// Where the port is, newest first.
    #[serde(default)]
    pub endpoints: Vec<PortEndpoint>,
}

impl DataObject for LogicalPortVxlanInfo {
    const PREFIX: &'static str = "viperflow.logicalportvxlaninfo";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

/// Microseconds since the Unix epoch (the time base of the stored expiries).
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A switch as the stored objects name it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Host {
    pub vhost: String,
    pub systemid: String,
    pub bridge: String,
}

impl Host {
    /// The host of a switch.
    pub fn of(s: &SwitchIdentity) -> Host {
        Host { vhost: s.vhost.clone(), systemid: s.systemid.clone(), bridge: s.bridge.clone() }
    }
}

/// A host of a network's flood list, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelEndpoint {
    pub host: Host,
    pub tunnel_ip: Ipv4Addr,
    pub expire_us: u64,
}

/// A port's location, as read (newest first in [`VxlanModel::locations`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortLocation {
    pub host: Host,
    pub tunnel_ip: Ipv4Addr,
    pub updated_us: u64,
}

/// The vxlancast part of the model snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VxlanModel {
    /// Unexpired flood-list entries, by logical network id.
    pub endpoints: BTreeMap<String, Vec<TunnelEndpoint>>,
    /// Port locations, newest first, by logical port id.
    pub locations: BTreeMap<String, Vec<PortLocation>>,
}

impl VxlanModel {
    /// Converts the stored objects, leaving out entries expired at `now_us` and unparsable
    /// addresses.
    pub fn from_stored(sets: &[VxlanEndpointSet], infos: &[LogicalPortVxlanInfo], now_us: u64) -> VxlanModel {
        let mut m = VxlanModel::default();
        for s in sets {
            let list: Vec<TunnelEndpoint> = s
                .endpointlist
                .iter()
                .filter(|e| e.4 > now_us)
                .filter_map(|(ip, vhost, systemid, bridge, exp)| {
                    Some(TunnelEndpoint {
                        host: Host {
                            vhost: vhost.clone(),
                            systemid: systemid.clone(),
                            bridge: bridge.clone(),
                        },
                        tunnel_ip: ip.parse().ok()?,
                        expire_us: *exp,
                    })
                })
                .collect();
            if !list.is_empty() {
                m.endpoints.insert(s.id.clone(), list);
            }
        }
        for i in infos {
            let list: Vec<PortLocation> = i
                .endpoints
                .iter()
                .filter_map(|e| {
                    Some(PortLocation {
                        host: Host {
                            vhost: e.vhost.clone(),
                            systemid: e.systemid.clone(),
                            bridge: e.bridge.clone(),
                        },
                        tunnel_ip: e.tunnel_dst.parse().ok()?,
                        updated_us: e.updated_time,
                    })
                })
                .collect();
            if !list.is_empty() {
                m.locations.insert(i.id.clone(), list);
            }
        }
        m
    }
}

/// A port of a network on this switch that lives on another host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePort {
    pub id: String,
    pub netid: u16,
    pub mac: Mac,
    pub tunnel_dst: Ipv4Addr,
}

/// The per-switch vxlancast view: other hosts of each VXLAN network on this switch, and where
/// the remote ports are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VxlanView {
    /// Tunnel addresses of the other hosts, by per-switch network id (sorted, distinct).
    pub peers: BTreeMap<u16, Vec<Ipv4Addr>>,
    /// Ports on other hosts, sorted by id.
    pub remote_ports: Vec<RemotePort>,
}

/// Binds the vxlancast model to one switch: for every VXLAN network on it, the flood peers
/// (other hosts' endpoints) and the remote ports (newest location not this switch). Ports
/// bound here are never remote.
pub fn bind(
    model: &ModelSnapshot,
    switch: &SwitchIdentity,
    networks: &[NetworkView],
    local: &[PortView],
) -> VxlanView {
    let me = Host::of(switch);
    let local_ids: BTreeSet<&str> = local.iter().map(|p| p.id.as_str()).collect();
    let mut view = VxlanView::default();
    let nets: BTreeMap<&str, u16> = networks
        .iter()
        .filter(|n| n.kind == NetworkType::Vxlan && n.segment.is_some())
        .map(|n| (n.id.as_str(), n.netid))
        .collect();
    for (id, netid) in &nets {
        let mut peers: Vec<Ipv4Addr> = model
            .vxlan
            .endpoints
            .get(*id)
            .into_iter()
            .flatten()
            .filter(|e| e.host != me)
            .map(|e| e.tunnel_ip)
            .collect();
        peers.sort();
        peers.dedup();
        if !peers.is_empty() {
            view.peers.insert(*netid, peers);
        }
    }
    for p in model.logical_ports.values() {
        let Some(netid) = nets.get(p.network.as_str()) else { continue };
        if local_ids.contains(p.id.as_str()) {
            continue;
        }
        let Some(loc) = model.vxlan.locations.get(&p.id).and_then(|l| l.first()) else { continue };
        if loc.host == me {
            continue;
        }
        view.remote_ports.push(RemotePort {
            id: p.id.clone(),
            netid: *netid,
            mac: p.mac,
            tunnel_dst: loc.tunnel_ip,
        });
    }
    view
}

/// The tunnel port and VNI of network `netid`, if it is a VXLAN network with a bound tunnel port.
fn tunnel(input: &SwitchInput, netid: u16) -> Option<(u32, u32)> {
    let net = input.network(netid).filter(|n| n.kind == NetworkType::Vxlan)?;
    let port = input.physical_ports_of(net).next()?;
    Some((port.ofport, net.segment?))
}

/// The `vxlanoutput` flows: remote port MAC → its host through the tunnel; and in `egress`,
/// answers made on this host (ARP) for a packet from the tunnel go back through it (to the
/// sender host: ingress copied `tun_src` into `tun_dst`).
pub fn flows(input: &SwitchInput) -> Vec<FlowEntry> {
    let mut out = Vec::new();
    for pp in input.physical_ports.iter().filter(|p| p.kind == NetworkType::Vxlan) {
        out.push(
            FlowEntry::new(Module::VxlanCast, Owner::PhysicalPort(pp.name.clone()), "egress", PRIO_IN_PORT)
                .with(Oxm::in_port(PortNo(pp.ofport)))
                .with(Oxm::reg(REG_OUT_PORT, pp.ofport))
                .with(Oxm::reg_masked(REG_FLAGS, FLAG_ALLOW_IN_PORT, FLAG_ALLOW_IN_PORT))
                .actions([Action::output(PortNo::IN_PORT)]),
        );
    }
    for r in &input.vxlan.remote_ports {
        let Some((ofport, vni)) = tunnel(input, r.netid) else { continue };
        out.push(
            FlowEntry::new(Module::VxlanCast, Owner::Port(r.id.clone()), "vxlanoutput", PRIO_PORT)
                .with(Oxm::reg(REG_OUT_NET, u32::from(r.netid)))
                .with(Oxm::eth_dst(r.mac))
                .actions([
                    Action::SetField(Oxm::tunnel_id(u64::from(vni))),
                    Action::SetField(Oxm::tun_ipv4_dst(r.tunnel_dst)),
                    Action::output(PortNo(ofport)),
                ]),
        );
    }
    out
}

/// Appends a copy to every peer host to ioprocessing's flood flow of each VXLAN network
/// (one flood flow per network, so the tunnel copies join its actions).
pub fn add_flood(entries: &mut [FlowEntry], input: &SwitchInput) {
    for (netid, peers) in &input.vxlan.peers {
        let Some((ofport, vni)) = tunnel(input, *netid) else { continue };
        let Some(net) = input.network(*netid) else { continue };
        let owner = Owner::Network(net.id.clone());
        // The last flow of a chained flood (see `ioprocessing`), or the only one.
        let flood = entries.iter_mut().rev().find(|e| {
            e.table == "egress"
                && e.priority == PRIO_FLOOD
                && e.module == Module::IoProcessing
                && e.owner == owner
                && e.matches.fields.contains(&Oxm::reg(REG_OUT_PORT, FLOOD))
        });
        let Some(flood) = flood else { continue };
        flood.actions.push(Action::SetField(Oxm::tunnel_id(u64::from(vni))));
        for ip in peers {
            flood.actions.push(Action::SetField(Oxm::tun_ipv4_dst(*ip)));
            flood.actions.push(Action::output(PortNo(ofport)));
        }
    }
}

/// This host's flood-list entry for a network after a refresh at `now_us`: drops expired
/// entries (anyone's) and this host's old entry, then adds this host with `tunnel_ip` and an
/// expiry of `2 × interval_us` when `keep`. Returns `None` when nothing needs writing: this
/// host's entry (if kept) already has the same address and more than one interval left, and no
/// other entry expired.
pub fn refresh_endpoint_set(
    set: &VxlanEndpointSet,
    me: &Host,
    tunnel_ip: Ipv4Addr,
    keep: bool,
    now_us: u64,
    interval_us: u64,
) -> Option<VxlanEndpointSet> {
    let mine =
        |e: &(String, String, String, String, u64)| e.1 == me.vhost && e.2 == me.systemid && e.3 == me.bridge;
    let expired = set.endpointlist.iter().any(|e| e.4 <= now_us);
    let own: Vec<_> = set.endpointlist.iter().filter(|e| mine(e)).collect();
    let fresh =
        own.len() == 1 && own[0].0 == tunnel_ip.to_string() && own[0].4 > now_us.saturating_add(interval_us);
    let ok = if keep { fresh } else { own.is_empty() };
    if ok && !expired {
        return None;
    }
    let mut out = set.clone();
    out.endpointlist.retain(|e| e.4 > now_us && !mine(e));
    if keep {
        out.endpointlist.push((
            tunnel_ip.to_string(),
            me.vhost.clone(),
            me.systemid.clone(),
            me.bridge.clone(),
            now_us.saturating_add(interval_us.saturating_mul(2)),
        ));
    }
    Some(out)
}

/// A port's location list after this host binds (`present`) or loses it at `now_us`: with
/// `present`, this host first (its previous entry kept if the address is unchanged, so
/// `updated_time` is when it bound the port), other hosts' entries younger than
/// `migration_us` behind; without, this host's entry removed. `None` when nothing changes.
pub fn update_port_info(
    info: &LogicalPortVxlanInfo,
    me: &Host,
    tunnel_ip: Ipv4Addr,
    present: bool,
    now_us: u64,
    migration_us: u64,
) -> Option<LogicalPortVxlanInfo> {
    let is_me = |e: &PortEndpoint| e.vhost == me.vhost && e.systemid == me.systemid && e.bridge == me.bridge;
    let mut out = info.clone();
    if present {
        let ip = tunnel_ip.to_string();
        let first_ok = info.endpoints.first().is_some_and(|e| is_me(e) && e.tunnel_dst == ip);
        let others_ok =
            info.endpoints.iter().skip(1).all(|e| !is_me(e) && e.updated_time + migration_us > now_us);
        if first_ok && others_ok {
            return None;
        }
        let own = info.endpoints.iter().find(|e| is_me(e) && e.tunnel_dst == ip).cloned();
        out.endpoints.retain(|e| !is_me(e) && e.updated_time + migration_us > now_us);
        out.endpoints.insert(
            0,
            own.unwrap_or(PortEndpoint {
                vhost: me.vhost.clone(),
                systemid: me.systemid.clone(),
                bridge: me.bridge.clone(),
                tunnel_dst: ip,
                updated_time: now_us,
            }),
        );
    } else {
        if !info.endpoints.iter().any(is_me) {
            return None;
        }
        out.endpoints.retain(|e| !is_me(e));
    }
    Some(out)
}

#[cfg(test)]
#[path = "vxlan_tests.rs"]
mod tests;
