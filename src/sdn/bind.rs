//! The binding half of ioprocessing: which OVS interfaces of a switch are logical ports (by
//! `external_ids:iface-id`) and physical ports (by name, `%` wildcards), and the per-switch
//! 16-bit network ids.
//!
//! ```
//! use vlcp::sdn::bind::{IdAssigner, bind};
//! use vlcp::sdn::input::{ModelSnapshot, SwitchIdentity};
//! let mut ids = IdAssigner::default();
//! let input = bind(&ModelSnapshot::default(), &SwitchIdentity::default(), &[], &mut ids);
//! assert!(input.ports.is_empty());
//! ```

use std::collections::{BTreeMap, BTreeSet};

use super::input::{
    ModelSnapshot, NetworkType, NetworkView, OvsInterface, PhysicalPortView, PortView, SwitchIdentity,
    SwitchInput,
};

/// Per-switch network ids: stable while a network stays on the switch, the smallest free id
/// (from 1) for a new one. Id 0 is never used, so a zero REG4 means "no network".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdAssigner {
    ids: BTreeMap<String, u16>,
}

impl IdAssigner {
    /// Keeps the ids of `keys` that already have one, frees the others, and gives new keys the
    /// smallest free ids. Keys beyond the 65535 available get no id.
    pub fn assign<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>) {
        let wanted: BTreeSet<&str> = keys.into_iter().collect();
        self.ids.retain(|k, _| wanted.contains(k.as_str()));
        let mut used: BTreeSet<u16> = self.ids.values().copied().collect();
        let mut next = 1u16;
        for k in wanted {
            if self.ids.contains_key(k) {
                continue;
            }
            while used.contains(&next) && next < u16::MAX {
                next += 1;
            }
            if used.contains(&next) {
                break;
            }
            used.insert(next);
            self.ids.insert(k.to_owned(), next);
        }
    }

    /// The id of `key`.
    pub fn get(&self, key: &str) -> Option<u16> {
        self.ids.get(key).copied()
    }
}

/// `%` matches any run of characters; everything else literally.
pub fn wildcard_match(pattern: &str, s: &str) -> bool {
    let mut parts = pattern.split('%');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = s.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Binds the model to one switch: logical ports whose id is some interface's `iface-id`,
/// physical ports whose declaration matches an interface name, and the networks that have a
/// bound logical port. Interfaces without an ofport are not passed in.
pub fn bind(
    model: &ModelSnapshot,
    switch: &SwitchIdentity,
    interfaces: &[OvsInterface],
    ids: &mut IdAssigner,
) -> SwitchInput {
    let mut ports = Vec::new();
    for iface in interfaces {
        let Some(lp) = iface.iface_id.as_deref().and_then(|id| model.logical_ports.get(id)) else {
            continue;
        };
        let Some(net) = model.logical_networks.get(&lp.network) else {
            continue;
        };
        if !model.physical_networks.contains_key(&net.physical_network) {
            continue;
        }
        ports.push((iface.ofport, lp));
    }
    let mut present: BTreeSet<&str> = ports.iter().map(|(_, lp)| lp.network.as_str()).collect();
    present.extend(super::l3router::reachable_networks(model, &present));
    ids.assign(present.iter().copied());

    let mut networks = Vec::new();
    for id in &present {
        let (Some(net), Some(netid)) = (model.logical_networks.get(*id), ids.get(id)) else {
            continue;
        };
        let kind = model.physical_networks[&net.physical_network].kind;
        let subnets = model.subnets.values().filter(|s| s.network == net.id).cloned().collect();
        networks.push(NetworkView {
            id: net.id.clone(),
            netid,
            physical_network: net.physical_network.clone(),
            kind,
            segment: net.segment,
            dhcp: net.dhcp.clone(),
            subnets,
        });
    }

    let mut port_views: Vec<PortView> = ports
        .into_iter()
        .filter_map(|(ofport, lp)| {
            Some(PortView {
                id: lp.id.clone(),
                ofport,
                netid: ids.get(&lp.network)?,
                network: lp.network.clone(),
                subnet: lp.subnet.clone(),
                mac: lp.mac,
                ip: lp.ip,
                hostname: lp.hostname.clone(),
            })
        })
        .collect();
    port_views.sort_by_key(|p| p.ofport);

    let mut physical_ports = Vec::new();
    for iface in interfaces {
        let decl = model.physical_ports.iter().find(|pp| {
            pp.vhost == switch.vhost
                && wildcard_match(&pp.systemid, &switch.systemid)
                && wildcard_match(&pp.bridge, &switch.bridge)
                && wildcard_match(&pp.name, &iface.name)
        });
        let Some(decl) = decl else { continue };
        let Some(pn) = model.physical_networks.get(&decl.physical_network) else {
            continue;
        };
        if pn.kind == NetworkType::Local {
            continue;
        }
        physical_ports.push(PhysicalPortView {
            name: iface.name.clone(),
            ofport: iface.ofport,
            physical_network: pn.id.clone(),
            kind: pn.kind,
        });
    }
    physical_ports.sort_by_key(|p| p.ofport);

    let routers = super::l3router::router_views(model, &networks);
    let vxlan = super::vxlan::bind(model, switch, &networks, &port_views);
    SwitchInput { networks, ports: port_views, physical_ports, routers, vxlan, neighbors: Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdn::input::{DhcpSettings, LogicalNetwork, LogicalPort, PhysicalNetwork, PhysicalPort};

    #[test]
    fn ids_are_stable_and_reused_smallest_first() {
        let mut ids = IdAssigner::default();
        ids.assign(["a", "b", "c"]);
        assert_eq!((ids.get("a"), ids.get("b"), ids.get("c")), (Some(1), Some(2), Some(3)));
        ids.assign(["a", "c", "d"]);
        assert_eq!((ids.get("a"), ids.get("c"), ids.get("d")), (Some(1), Some(3), Some(2)));
        assert_eq!(ids.get("b"), None);
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("%", "eth0"));
        assert!(wildcard_match("eth%", "eth0"));
        assert!(!wildcard_match("eth%", "vxlan0"));
        assert!(wildcard_match("%0", "eth0"));
        assert!(wildcard_match("e%h%0", "eth0"));
        assert!(wildcard_match("eth0", "eth0"));
        assert!(!wildcard_match("eth0", "eth01"));
        assert!(!wildcard_match("a%a", "a"));
    }

    fn model() -> ModelSnapshot {
        let mut m = ModelSnapshot::default();
        m.physical_networks.insert("pv".into(), PhysicalNetwork { id: "pv".into(), kind: NetworkType::Vlan });
        for (n, vlan) in [("n1", 100), ("n2", 200)] {
            m.logical_networks.insert(
                n.into(),
                LogicalNetwork {
                    id: n.into(),
                    physical_network: "pv".into(),
                    segment: Some(vlan),
                    dhcp: DhcpSettings::default(),
                },
            );
        }
        for (p, n, last) in [("p1", "n1", 1), ("p2", "n2", 2), ("p3", "n1", 3)] {
            m.logical_ports.insert(
                p.into(),
                LogicalPort {
                    id: p.into(),
                    network: n.into(),
                    subnet: None,
                    mac: [2, 0, 0, 0, 0, last],
                    ip: None,
                    hostname: None,
                },
            );
        }
        m.physical_ports.push(PhysicalPort {
            vhost: String::new(),
            systemid: "%".into(),
            bridge: "%".into(),
            name: "eth%".into(),
            physical_network: "pv".into(),
        });
        m
    }

    fn iface(name: &str, ofport: u32, id: Option<&str>) -> OvsInterface {
        OvsInterface { name: name.into(), ofport, iface_id: id.map(str::to_owned) }
    }

    #[test]
    fn binds_by_iface_id_and_by_name() {
        let mut ids = IdAssigner::default();
        let sw = SwitchIdentity { vhost: String::new(), systemid: "s1".into(), bridge: "br0".into() };
        let ifaces = [
            iface("tap1", 5, Some("p1")),
            iface("tap9", 6, Some("unknown")),
            iface("eth1", 1, None),
            iface("tap2", 7, Some("p2")),
        ];
        let input = bind(&model(), &sw, &ifaces, &mut ids);
        assert_eq!(
            input.ports.iter().map(|p| (p.id.as_str(), p.ofport)).collect::<Vec<_>>(),
            [("p1", 5), ("p2", 7)]
        );
        assert_eq!(
            input.networks.iter().map(|n| (n.id.as_str(), n.netid)).collect::<Vec<_>>(),
            [("n1", 1), ("n2", 2)]
        );
        assert_eq!(input.physical_ports.len(), 1);
        assert_eq!(input.physical_ports[0].ofport, 1);
        let n1 = input.network(1).unwrap();
        assert_eq!(input.physical_ports_of(n1).count(), 1);
        // p2 goes away: n2 leaves the switch, n1 keeps its id.
        let input = bind(&model(), &sw, &ifaces[..3], &mut ids);
        assert_eq!(input.networks.len(), 1);
        assert_eq!(input.networks[0].netid, 1);
    }
}
