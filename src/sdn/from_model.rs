//! The one place that turns the stored network model into the pipeline's [`ModelSnapshot`]:
//! [`read_snapshot`] walks the `viperflow.*` sets and their members in one consistent ObjectDB
//! read. Objects with values the pipeline cannot use (an unparsable MAC, CIDR or address, a
//! dangling reference) are left out with a warning instead of failing the whole read.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::model::{
    self, LogicalNetworkSet, LogicalPortSet, PhysicalNetworkSet, PhysicalPortSet, SubNetSet, VRouterSet,
};
use crate::objectdb::{DataObject, ObjectDb, ObjectSet, Stored, TxnError, Walk, WalkCache};

use super::input::{
    DhcpSettings, LogicalNetwork, LogicalPort, ModelSnapshot, NetworkType, PhysicalNetwork, PhysicalPort,
    Router, RouterInterface, Subnet, parse_mac,
};
use super::vxlan::{LogicalPortVxlanInfo, VxlanEndpointSet, VxlanModel};

/// Every key prefix the snapshot depends on (a change under one of them means re-read).
pub const PREFIX: &str = "viperflow.";

fn kind(k: &model::NetworkType) -> NetworkType {
    match k {
        model::NetworkType::Vlan => NetworkType::Vlan,
        model::NetworkType::Vxlan => NetworkType::Vxlan,
        model::NetworkType::Native => NetworkType::Native,
        model::NetworkType::Local => NetworkType::Local,
    }
}

/// Reads `key` as `T`; a key not in this round's snapshot yet reads as `None` (the walk is
/// re-run with it), so one round discovers every missing member at once.
fn get<T: DataObject>(w: &mut Walk<'_>, key: &str) -> Result<Option<T>, TxnError> {
    match w.get::<T>(key) {
        Ok(v) => Ok(v.map(|s: Stored<T>| s.data)),
        Err(TxnError::NotRetrieved(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn members<T: DataObject, S: DataObject>(
    w: &mut Walk<'_>,
    set_key: &str,
    set_of: impl Fn(S) -> ObjectSet<T>,
) -> Result<Vec<T>, TxnError> {
    let Some(set) = get::<S>(w, set_key)? else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for r in set_of(set).iter() {
        if let Some(obj) = get::<T>(w, r.key())? {
            out.push(obj);
        }
    }
    Ok(out)
}

fn dhcp(
    mtu: Option<u32>,
    dns: &Option<Vec<String>>,
    domain: &Option<String>,
    lease: Option<u32>,
) -> DhcpSettings {
    DhcpSettings {
        mtu: mtu.and_then(|m| u16::try_from(m).ok()),
        dns_nameservers: dns.iter().flatten().filter_map(|s| s.parse().ok()).collect(),
        domain_name: domain.clone(),
        lease_time: lease,
    }
}

/// One consistent read of the whole model.
pub async fn read_snapshot(db: &ObjectDb) -> Result<ModelSnapshot, TxnError> {
    read_snapshot_cached(db, &mut WalkCache::default()).await
}

/// [`read_snapshot`] with what `cache` kept from the previous read (see [`WalkCache`]): a read
/// after one change takes one round trip to the store and decodes only the changed objects.
pub async fn read_snapshot_cached(db: &ObjectDb, cache: &mut WalkCache) -> Result<ModelSnapshot, TxnError> {
    let sets: Vec<String> = [
        PhysicalNetworkSet::KEY,
        PhysicalPortSet::KEY,
        LogicalNetworkSet::KEY,
        SubNetSet::KEY,
        LogicalPortSet::KEY,
        VRouterSet::KEY,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let now_us = super::vxlan::now_micros();
    db.walk_cached(&sets, cache, |w| {
        let pnets = members(w, PhysicalNetworkSet::KEY, |s: PhysicalNetworkSet| s.set)?;
        let pports = members(w, PhysicalPortSet::KEY, |s: PhysicalPortSet| s.set)?;
        let lnets = members(w, LogicalNetworkSet::KEY, |s: LogicalNetworkSet| s.set)?;
        let subnets = members(w, SubNetSet::KEY, |s: SubNetSet| s.set)?;
        let lports = members(w, LogicalPortSet::KEY, |s: LogicalPortSet| s.set)?;
        let (vx_sets, vx_infos) = read_vxlan(w, &pnets, &lnets, &lports)?;
        let routers = members(w, VRouterSet::KEY, |s: VRouterSet| s.set)?;
        let mut rports = Vec::new();
        for r in &routers {
            for rp in r.interfaces.iter() {
                rports.extend(get::<model::RouterPort>(w, rp.key())?);
            }
        }
        let subnet_ids: HashMap<String, String> = subnets.iter().map(|s| (s.key(), s.id.clone())).collect();
        let mut snap = convert(pnets, pports, lnets, subnets, lports);
        add_routers(&mut snap, &subnet_ids, routers, rports);
        snap.vxlan = VxlanModel::from_stored(&vx_sets, &vx_infos, now_us);
        Ok(snap)
    })
    .await
}

/// The vxlancast objects of the VXLAN networks and their ports (absent ones skipped).
fn read_vxlan(
    w: &mut Walk<'_>,
    pnets: &[model::PhysicalNetwork],
    lnets: &[model::LogicalNetwork],
    lports: &[model::LogicalPort],
) -> Result<(Vec<VxlanEndpointSet>, Vec<LogicalPortVxlanInfo>), TxnError> {
    let vx_pnets: Vec<String> =
        pnets.iter().filter(|p| p.kind == model::NetworkType::Vxlan).map(|p| p.key()).collect();
    let vx_nets: Vec<&model::LogicalNetwork> =
        lnets.iter().filter(|n| vx_pnets.iter().any(|k| k == n.physicalnetwork.key())).collect();
    let mut sets = Vec::new();
    for n in &vx_nets {
        sets.extend(get::<VxlanEndpointSet>(w, &VxlanEndpointSet::key_of(&[&n.id]))?);
    }
    let net_keys: Vec<String> = vx_nets.iter().map(|n| n.key()).collect();
    let mut infos = Vec::new();
    for p in lports.iter().filter(|p| net_keys.iter().any(|k| k == p.network.key())) {
        infos.extend(get::<LogicalPortVxlanInfo>(w, &LogicalPortVxlanInfo::key_of(&[&p.id]))?);
    }
    Ok((sets, infos))
}

/// Adds the virtual routers and their interfaces (`subnet_ids`: subnet key → id); pure. Routes
/// and addresses that do not parse, and interfaces on unknown subnets, are left out with a
/// warning.
pub fn add_routers(
    snap: &mut ModelSnapshot,
    subnet_ids: &HashMap<String, String>,
    routers: Vec<model::VRouter>,
    rports: Vec<model::RouterPort>,
) {
    for r in routers {
        let key = r.key();
        let interfaces = rports
            .iter()
            .filter(|p| p.router.key() == key)
            .filter_map(|p| {
                let Some(subnet) = subnet_ids.get(p.subnet.key()).filter(|s| snap.subnets.contains_key(*s))
                else {
                    tracing::warn!("router port {} refers to a missing subnet", p.id);
                    return None;
                };
                let ip = p.ip_address.as_deref().and_then(|i| i.parse().ok());
                Some(RouterInterface { id: p.id.clone(), subnet: subnet.clone(), ip })
            })
            .collect();
        let routes = r
            .routes
            .iter()
            .filter_map(|(c, via)| match (c.parse(), via.parse::<Ipv4Addr>()) {
                (Ok(c), Ok(via)) => Some((c, via)),
                _ => {
                    tracing::warn!("router {}: route {c} via {via} does not parse", r.id);
                    None
                }
            })
            .collect();
        snap.routers.insert(r.id.clone(), Router { id: r.id, interfaces, routes });
    }
}

/// Converts the stored objects; pure.
pub fn convert(
    pnets: Vec<model::PhysicalNetwork>,
    pports: Vec<model::PhysicalPort>,
    lnets: Vec<model::LogicalNetwork>,
    subnets: Vec<model::SubNet>,
    lports: Vec<model::LogicalPort>,
) -> ModelSnapshot {
    let mut snap = ModelSnapshot::default();
    let pnet_ids: HashMap<String, String> = pnets.iter().map(|p| (p.key(), p.id.clone())).collect();
    let lnet_ids: HashMap<String, String> = lnets.iter().map(|n| (n.key(), n.id.clone())).collect();
    let subnet_ids: HashMap<String, String> = subnets.iter().map(|s| (s.key(), s.id.clone())).collect();
    for p in &pnets {
        snap.physical_networks
            .insert(p.id.clone(), PhysicalNetwork { id: p.id.clone(), kind: kind(&p.kind) });
    }
    for p in pports {
        let Some(net) = pnet_ids.get(p.physicalnetwork.key()) else {
            tracing::warn!("physical port {} refers to a missing physical network", p.name);
            continue;
        };
        snap.physical_ports.push(PhysicalPort {
            vhost: p.vhost,
            systemid: p.systemid,
            bridge: p.bridge,
            name: p.name,
            physical_network: net.clone(),
        });
    }
    for n in lnets {
        let Some(pn) = pnet_ids.get(n.physicalnetwork.key()) else {
            tracing::warn!("logical network {} refers to a missing physical network", n.id);
            continue;
        };
        let d = dhcp(n.mtu, &n.dns_nameservers, &n.domain_name, n.lease_time);
        snap.logical_networks.insert(
            n.id.clone(),
            LogicalNetwork { id: n.id, physical_network: pn.clone(), segment: n.vlanid.or(n.vni), dhcp: d },
        );
    }
    for s in subnets {
        let (Some(net), Ok(cidr)) = (lnet_ids.get(s.network.key()), s.cidr.parse()) else {
            tracing::warn!("subnet {} has no network or a bad cidr {:?}", s.id, s.cidr);
            continue;
        };
        let host_routes = s
            .host_routes
            .iter()
            .flatten()
            .filter_map(|(c, via)| Some((c.parse().ok()?, via.parse::<Ipv4Addr>().ok()?)))
            .collect();
        let d = dhcp(s.mtu, &s.dns_nameservers, &s.domain_name, s.lease_time);
        snap.subnets.insert(
            s.id.clone(),
            Subnet {
                id: s.id,
                network: net.clone(),
                cidr,
                gateway: s.gateway.as_deref().and_then(|g| g.parse().ok()),
                host_routes,
                external: s.isexternal,
                dhcp: d,
            },
        );
    }
    for p in lports {
        let (Some(net), Some(mac)) = (lnet_ids.get(p.network.key()), parse_mac(&p.mac_address)) else {
            tracing::warn!("logical port {} has no network or a bad MAC {:?}", p.id, p.mac_address);
            continue;
        };
        snap.logical_ports.insert(
            p.id.clone(),
            LogicalPort {
                id: p.id,
                network: net.clone(),
                subnet: p.subnet.as_ref().and_then(|r| subnet_ids.get(r.key()).cloned()),
                mac,
                ip: p.ip_address.as_deref().and_then(|i| i.parse().ok()),
                hostname: p.hostname,
            },
        );
    }
    snap
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};

    use super::*;
    use crate::model::{
        LogicalNetworkSpec, LogicalPortPatch, LogicalPortSpec, Model, Params, PhysicalNetworkSpec,
    };
    use crate::objectdb::{KvStore, embedded::EmbeddedStore};

    fn params(v: Value) -> Params {
        Params::new(v.as_object().unwrap().clone())
    }

    fn port(id: &str, mac: &str) -> LogicalPortSpec {
        LogicalPortSpec::from_params(params(json!({"id": id, "logicalnetwork": "n1", "mac_address": mac})))
            .unwrap()
    }

    /// The model feed's cached reads (keys and decoded objects kept between reads) always equal
    /// a fresh read on a real embedded store: after a port is added, changed and removed.
    #[tokio::test]
    async fn cached_reads_follow_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn KvStore> = Arc::new(EmbeddedStore::open(dir.path().join("db.redb")).unwrap());
        let db = ObjectDb::new(store);
        let model = Model::new(db.clone());
        let pn = PhysicalNetworkSpec::from_params(params(json!({"id": "local", "type": "local"}))).unwrap();
        model.create_physical_networks(vec![pn]).await.unwrap();
        let ln =
            LogicalNetworkSpec::from_params(params(json!({"id": "n1", "physicalnetwork": "local"}))).unwrap();
        model.create_logical_networks(vec![ln]).await.unwrap();
        model.create_logical_ports(vec![port("p1", "02:00:00:00:00:01")]).await.unwrap();

        let mut cache = WalkCache::default();
        let first = read_snapshot_cached(&db, &mut cache).await.unwrap();
        assert_eq!(first, read_snapshot(&db).await.unwrap());
        assert_eq!(first.logical_ports.len(), 1);
        assert!(!cache.is_empty(), "the read keeps what it decoded");

        model.create_logical_ports(vec![port("p2", "02:00:00:00:00:02")]).await.unwrap();
        let added = read_snapshot_cached(&db, &mut cache).await.unwrap();
        assert_eq!(added, read_snapshot(&db).await.unwrap());
        assert!(added.logical_ports.contains_key("p2"));

        let patch = LogicalPortPatch {
            id: "p1".into(),
            mac_address: Some("02:00:00:00:00:99".into()),
            ip_address: None,
            attrs: Default::default(),
        };
        model.update_logical_ports(vec![patch]).await.unwrap();
        let changed = read_snapshot_cached(&db, &mut cache).await.unwrap();
        assert_eq!(changed, read_snapshot(&db).await.unwrap());
        assert_eq!(changed.logical_ports["p1"].mac, [2, 0, 0, 0, 0, 0x99], "not the cached old MAC");

        model.delete_logical_ports(vec!["p2".into()]).await.unwrap();
        let removed = read_snapshot_cached(&db, &mut cache).await.unwrap();
        assert_eq!(removed, read_snapshot(&db).await.unwrap());
        assert!(!removed.logical_ports.contains_key("p2"));
    }
}
