//! Taking a [`Sample`]: links through rtnetlink (in the host's namespace), OVS interfaces from
//! our OVSDB client's view, Docker endpoints through bollard (each of our networks inspected one
//! by one: modern list calls omit endpoints), and the plugin's objects from the store.

use std::collections::BTreeMap;

use bollard::Docker;
use futures::TryStreamExt;
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage};
use vlcp::model::{LogicalNetwork, LogicalPort};
use vlcp::objectdb::object::parse_object_key;
use vlcp::objectdb::{DataObject, ObjectDb};
use vlcp::runtime::ovsdb::OvsdbClient;
use vlcp_plugin::docker::DockerInfo;
use vlcp_plugin::docker::ipam::IpamReserve;

use crate::sample::{DockerNet, Info, Link, OvsIface, Peer, Pool, Port, Sample, network_of};

/// Where samples come from.
pub struct Sources {
    /// The Docker engine (version negotiated).
    pub docker: Docker,
    /// Netlink in the host's namespace.
    pub links: rtnetlink::Handle,
    /// OVSDB (view synced).
    pub ovsdb: OvsdbClient,
    /// The store.
    pub db: ObjectDb,
}

/// A source that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    /// Docker failed.
    #[error("docker: {0}")]
    Docker(#[from] bollard::errors::Error),
    /// Netlink failed.
    #[error("netlink: listing links: {0}")]
    Netlink(#[from] rtnetlink::Error),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] vlcp::objectdb::TxnError),
    /// The store failed.
    #[error("store: {0}")]
    Scan(#[from] vlcp::objectdb::StoreError),
    /// OVSDB is not in sync.
    #[error("ovsdb: the view is not in sync (is ovsdb-server running?)")]
    Ovsdb,
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// One look at everything.
pub async fn sample(src: &Sources) -> Result<Sample, GatherError> {
    let mut s = Sample { at_us: now_us(), ..Sample::default() };
    store_objects(&src.db, &mut s).await?;
    let lognets = ids_under(&src.db, LogicalNetwork::PREFIX).await?;
    docker_side(&src.docker, &lognets, &mut s).await?;
    s.links = links(&src.links).await?;
    if !src.ovsdb.is_synced() {
        return Err(GatherError::Ovsdb);
    }
    s.ovs = src.ovsdb.with_view(|v| {
        v.interfaces
            .values()
            .map(|i| {
                let iface = OvsIface {
                    name: i.name.clone(),
                    iface_id: i.iface_id().map(str::to_owned),
                    ofport: i.ofport,
                    error: i.error.clone(),
                };
                (i.name.clone(), iface)
            })
            .collect()
    });
    Ok(s)
}

/// Index values of the objects under `prefix` (`viperflow.logicalport` → port ids).
async fn ids_under(db: &ObjectDb, prefix: &str) -> Result<Vec<String>, GatherError> {
    let keys = db.store().scan_prefix(&format!("{prefix}.")).await?;
    Ok(keys.iter().filter_map(|k| parse_object_key(prefix, k)).filter_map(|mut v| v.pop()).collect())
}

async fn store_objects(db: &ObjectDb, s: &mut Sample) -> Result<(), GatherError> {
    let port_keys: Vec<String> = ids_under(db, LogicalPort::PREFIX)
        .await?
        .into_iter()
        .filter(|id| id.starts_with("docker-"))
        .map(|id| LogicalPort::key_of(&[&id]))
        .collect();
    let info_keys: Vec<String> =
        ids_under(db, DockerInfo::PREFIX).await?.iter().map(|id| DockerInfo::key_of(&[id])).collect();
    let pool_keys: Vec<String> =
        ids_under(db, IpamReserve::PREFIX).await?.iter().map(|id| IpamReserve::key_for(id)).collect();
    let all: Vec<String> = port_keys.iter().chain(&info_keys).chain(&pool_keys).cloned().collect();
    let (ports, infos, pools) = db
        .walk(&all, |w| {
            let mut ports = BTreeMap::new();
            for k in &port_keys {
                if let Some(p) = w.get::<LogicalPort>(k)? {
                    let port = Port {
                        id: p.data.id.clone(),
                        lognet: p.data.network_id(),
                        ip: p.data.ip_address.clone(),
                        created: p.kvdb_createtime,
                    };
                    ports.insert(port.id.clone(), port);
                }
            }
            let mut infos = BTreeMap::new();
            for k in &info_keys {
                if let Some(i) = w.get::<DockerInfo>(k)? {
                    let info = Info {
                        host: i.data.docker_host.clone(),
                        network: i.data.docker_network.clone(),
                        host_veth: i.data.docker_host_port.clone(),
                        created: i.kvdb_createtime,
                    };
                    infos.insert(i.data.id.clone(), info);
                }
            }
            let mut pools = BTreeMap::new();
            for k in &pool_keys {
                if let Some(p) = w.get::<IpamReserve>(k)? {
                    let pool = Pool {
                        docker_network: p.data.docker_network.clone(),
                        reserved: p.data.reserved_ips.clone(),
                    };
                    pools.insert(p.data.id.clone(), pool);
                }
            }
            Ok((ports, infos, pools))
        })
        .await?;
    (s.ports, s.infos, s.pools) = (ports, infos, pools);
    Ok(())
}

async fn docker_side(docker: &Docker, lognets: &[String], s: &mut Sample) -> Result<(), GatherError> {
    let ours: std::collections::BTreeSet<&str> = lognets.iter().filter_map(|l| network_of(l)).collect();
    for n in docker.list_networks(None).await? {
        let Some(id) = n.id else { continue };
        s.docker_networks.insert(id.clone());
        if !ours.contains(id.as_str()) {
            continue;
        }
        let net = match docker.inspect_network(&id, None).await {
            Ok(net) => net,
            // Removed between the list and the inspect: gone.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                s.docker_networks.remove(&id);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let endpoints = net
            .containers
            .unwrap_or_default()
            .into_values()
            .filter_map(|c| {
                let ip = c
                    .ipv4_address
                    .filter(|a| !a.is_empty())
                    .map(|a| a.split('/').next().unwrap_or_default().to_string());
                c.endpoint_id.filter(|e| !e.is_empty()).map(|e| (e, ip))
            })
            .collect();
        s.ours.insert(id, DockerNet { scope: net.scope.unwrap_or_default(), endpoints });
    }
    Ok(())
}

fn peer_of(m: &LinkMessage, names: &BTreeMap<u32, String>) -> Peer {
    let is_veth = m.attributes.iter().any(|a| {
        matches!(a, LinkAttribute::LinkInfo(infos) if infos.iter().any(|i| matches!(i, LinkInfo::Kind(InfoKind::Veth))))
    });
    if !is_veth {
        return Peer::None;
    }
    let elsewhere = m.attributes.iter().any(|a| matches!(a, LinkAttribute::LinkNetNsId(_)));
    let peer = m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Link(i) => Some(*i),
        _ => None,
    });
    match (elsewhere, peer) {
        (true, _) => Peer::Elsewhere,
        (false, Some(i)) => names.get(&i).cloned().map_or(Peer::None, Peer::Here),
        (false, None) => Peer::None,
    }
}

async fn links(handle: &rtnetlink::Handle) -> Result<BTreeMap<String, Link>, GatherError> {
    let msgs: Vec<LinkMessage> = handle.link().get().execute().try_collect().await?;
    let name_of = |m: &LinkMessage| {
        m.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })
    };
    let names: BTreeMap<u32, String> =
        msgs.iter().filter_map(|m| Some((m.header.index, name_of(m)?))).collect();
    Ok(msgs
        .iter()
        .filter_map(|m| {
            let name = name_of(m)?;
            Some((name.clone(), Link { name, peer: peer_of(m, &names) }))
        })
        .collect())
}
