//! One look at the world: the links of this host's namespace, the OVS interfaces, the Docker
//! endpoints of our networks and the plugin's objects in the store. A [`Sample`] is plain data;
//! the passes plan from two of them (see [`crate::passes`]). Gathering lives in
//! [`crate::gather`].

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// Where a veth's peer is, seen from this namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// In this namespace too, under this name (never moved into a container, or moved back).
    Here(String),
    /// In another namespace (a container's).
    Elsewhere,
    /// Not a veth, or no peer reported.
    None,
}

/// A network interface of this host's namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    /// Interface name.
    pub name: String,
    /// Where the veth peer is.
    pub peer: Peer,
}

/// An OVS interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OvsIface {
    /// Interface (and port) name.
    pub name: String,
    /// `external_ids:iface-id`.
    pub iface_id: Option<String>,
    /// `ofport` (`-1`: ovs-vswitchd could not open the device).
    pub ofport: Option<i64>,
    /// The `error` column.
    pub error: Option<String>,
}

impl OvsIface {
    /// ovs-vswitchd failed to open the device (typically: the veth vanished with its container).
    pub fn in_error(&self) -> bool {
        self.error.is_some() || self.ofport == Some(-1)
    }
}

/// A Docker network that is ours (its logical network `docker-<nid>-lognet` exists).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DockerNet {
    /// `local`, `global` or `swarm`.
    pub scope: String,
    /// EndpointID → IPv4 address (no prefix), of the containers attached on this host.
    pub endpoints: BTreeMap<String, Option<String>>,
}

/// What the plugin's DockerInfo (`viperflow.dockerplugin.portinfo.<port id>`) says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Info {
    /// The host the endpoint was plumbed on (empty: not recorded).
    pub host: String,
    /// Docker NetworkID.
    pub network: String,
    /// Host end of the veth (the OVS port).
    pub host_veth: String,
    /// When it was first written (µs).
    pub created: u64,
}

/// A logical port `docker-<eid>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Port {
    /// The port id.
    pub id: String,
    /// Its logical network id.
    pub lognet: String,
    /// Its address.
    pub ip: Option<String>,
    /// When it was created (µs): a port deleted and made again is another port.
    pub created: u64,
}

/// An IPAM pool (`viperflow.dockerplugin.ipamreserve.<PoolID>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pool {
    /// The Docker network it is bound to.
    pub docker_network: Option<String>,
    /// Addresses handed out and not yet owned by a port: ip → expiry µs (null = kept).
    pub reserved: BTreeMap<String, Option<u64>>,
}

/// Everything one look found. Sections a pass did not need may be empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// When the look started (µs since the epoch).
    pub at_us: u64,
    /// Links of this host's namespace, by name.
    pub links: BTreeMap<String, Link>,
    /// OVS interfaces, by name.
    pub ovs: BTreeMap<String, OvsIface>,
    /// Every Docker network id this engine knows.
    pub docker_networks: BTreeSet<String>,
    /// Our Docker networks, by NetworkID.
    pub ours: BTreeMap<String, DockerNet>,
    /// Logical ports `docker-*`, by id.
    pub ports: BTreeMap<String, Port>,
    /// DockerInfo objects, by port id.
    pub infos: BTreeMap<String, Info>,
    /// IPAM pools, by PoolID.
    pub pools: BTreeMap<String, Pool>,
}

impl Sample {
    /// EndpointIDs attached on this host (all our networks).
    pub fn live_endpoints(&self) -> BTreeSet<&str> {
        self.ours.values().flat_map(|n| n.endpoints.keys().map(String::as_str)).collect()
    }
}

/// The EndpointID of a logical port id `docker-<eid>`.
pub fn endpoint_of(port_id: &str) -> Option<&str> {
    port_id.strip_prefix("docker-").filter(|e| !e.is_empty())
}

/// The Docker NetworkID of a logical network id `docker-<nid>-lognet`.
pub fn network_of(lognet: &str) -> Option<&str> {
    lognet.strip_prefix("docker-")?.strip_suffix("-lognet").filter(|n| !n.is_empty())
}
