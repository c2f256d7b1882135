//! Unused logical ports, DockerInfo and IPAM reservations of this host.
//!
//! A logical port `docker-<eid>` is an orphan when, in both samples, it exists (same creation
//! time) and Docker attaches no endpoint `<eid>` on this host. It is **this host's** when:
//! its DockerInfo records this host (`docker_host`), or — nothing recorded — the store is the
//! embedded one (single host), or this host still has its OVS port or veth, or its Docker
//! network is a local-scope network of this engine. A port recorded for another host is never
//! touched; one whose host cannot be proven is reported as skipped.
//!
//! A DockerInfo without its logical port (in both samples) is removed when it records this
//! host. An address reservation in a pool of one of our Docker networks is dropped when it is
//! unchanged in both samples and expired, already owned by a logical port, or held by no live
//! endpoint (left by a CreateEndpoint that never finished).

use vlcp_plugin::docker::naming::VethNames;

use super::{Action, Scope, Skipped};
use crate::sample::{Port, Sample, endpoint_of, network_of};

enum Owner {
    Here,
    Elsewhere,
    Unknown,
}

fn owner(b: &Sample, scope: &Scope, port: &Port, eid: &str) -> Owner {
    if !scope.no_docker_info
        && let Some(info) = b.infos.get(&port.id)
        && !info.host.is_empty()
    {
        return if info.host == scope.host_id { Owner::Here } else { Owner::Elsewhere };
    }
    if scope.embedded {
        return Owner::Here;
    }
    let veth = VethNames::for_endpoint(&scope.veth_prefix, eid).host;
    let plumbed_here = b.links.contains_key(&veth)
        || b.ovs.values().any(|i| i.iface_id.as_deref() == Some(port.id.as_str()));
    let local_net = network_of(&port.lognet).and_then(|n| b.ours.get(n)).is_some_and(|n| n.scope == "local");
    if plumbed_here || local_net { Owner::Here } else { Owner::Unknown }
}

/// The repairs of this pass and the objects it leaves alone.
pub fn plan(a: &Sample, b: &Sample, scope: &Scope) -> (Vec<Action>, Vec<Skipped>) {
    let (live_a, live_b) = (a.live_endpoints(), b.live_endpoints());
    let (mut out, mut skipped) = (Vec::new(), Vec::new());
    for (id, port) in &b.ports {
        let Some(eid) = endpoint_of(id) else { continue };
        if a.ports.get(id).is_none_or(|p| p.created != port.created)
            || live_a.contains(eid)
            || live_b.contains(eid)
        {
            continue;
        }
        let nid = network_of(&port.lognet).unwrap_or_default();
        let reason = if b.docker_networks.contains(nid) {
            format!("Docker endpoint {eid} is not attached on this host")
        } else {
            format!("Docker network {nid} does not exist on this host")
        };
        match owner(b, scope, port, eid) {
            Owner::Here => out.push(Action::LogicalPort { id: id.clone(), ip: port.ip.clone(), reason }),
            Owner::Elsewhere => {}
            Owner::Unknown => skipped.push(Skipped {
                what: format!("logical port {id}"),
                reason: format!("{reason}, but no host is recorded for it (it may be another host's)"),
            }),
        }
    }
    if !scope.no_docker_info {
        for (id, info) in &b.infos {
            let stale = !a.ports.contains_key(id) && !b.ports.contains_key(id);
            let same = a.infos.get(id).is_some_and(|i| i.created == info.created);
            let ours = info.host == scope.host_id || (info.host.is_empty() && scope.embedded);
            if stale && same && ours {
                out.push(Action::DockerInfo { id: id.clone(), reason: "its logical port is gone".into() });
            }
        }
    }
    for (pool_id, pool) in &b.pools {
        let Some(nid) = pool.docker_network.as_deref() else { continue };
        let (Some(net_a), Some(net_b)) = (a.ours.get(nid), b.ours.get(nid)) else { continue };
        let Some(before) = a.pools.get(pool_id) else { continue };
        let lognet = vlcp_plugin::docker::naming::lognet_id(nid);
        for (ip, expiry) in &pool.reserved {
            if before.reserved.get(ip) != Some(expiry) {
                continue;
            }
            let holder =
                b.ports.values().find(|p| p.lognet == lognet && p.ip.as_deref() == Some(ip.as_str()));
            let endpoint_has = |n: &crate::sample::DockerNet| {
                n.endpoints.values().any(|v| v.as_deref() == Some(ip.as_str()))
            };
            let reason = if expiry.is_some_and(|e| e <= b.at_us) {
                "expired".to_string()
            } else if let Some(p) = holder {
                format!("logical port {} owns the address", p.id)
            } else if !endpoint_has(net_a) && !endpoint_has(net_b) {
                "no endpoint holds it (left by an unfinished CreateEndpoint)".to_string()
            } else {
                continue;
            };
            out.push(Action::Reservation { pool: pool_id.clone(), ip: ip.clone(), expiry: *expiry, reason });
        }
    }
    (out, skipped)
}
