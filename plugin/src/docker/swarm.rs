//! Swarm-scope networks (`docker network create -d <plugin> --scope swarm`, plugin reporting
//! `Scope=global`, managed v2 plugin only).
//!
//! Swarm gives a network ONE NetworkID on every node. The manager calls `AllocateNetwork` when the
//! network is created (with the `-o` options and the pool swarm's IPAM allocated) and
//! `FreeNetwork` when it is removed; a node calls `CreateNetwork` when its first task on the
//! network starts and `DeleteNetwork` when its last one is gone, and gets as options ONLY what
//! `AllocateNetwork` answered. So:
//!
//! * `AllocateNetwork` validates the options, creates the logical network `docker-<nid>-lognet`
//!   and its subnet (swarm's pool and gateway) and records a [`SwarmNetwork`]; it answers the
//!   options plus [`SWARM_OPTION`], so every node's `CreateNetwork` sees them;
//! * `CreateNetwork` with [`SWARM_OPTION`] finds (or, with a store of its own, creates) the same
//!   objects and adds this host to the record; `DeleteNetwork` removes the host;
//! * the objects go when the network is freed AND no host has it any more, whichever comes last
//!   (`FreeNetwork` can arrive before a node's `DeleteNetwork`: swarm only waits for the tasks).
//!
//! Addresses come from swarm's IPAM on the manager (the default one, or this plugin's): the
//! nodes' `CreateEndpoint` carries each task's address.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vlcp::model::{LogicalNetworkSpec, Params};
use vlcp::objectdb::{DataObject, TxnError};

use super::driver::{VlcpDriver, model_err};
use super::ipam::{GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE};
use super::naming::{lognet_id, subnet_id};
use super::network::{SHARED_OPTION, same_cidr};
use super::options::parse_options;
use super::protocol::{AllocateNetworkRequest, AllocateNetworkResponse, CreateNetworkRequest, IpamData};
use super::server::PluginError;

/// The option `AllocateNetwork` adds: the nodes' `CreateNetwork` is for a swarm network.
pub const SWARM_OPTION: &str = "vlcp.swarm";

/// `viperflow.dockerplugin.swarmnetwork.<NetworkID>`: a swarm network's lifetime.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SwarmNetwork {
    /// The swarm NetworkID (the same on every node).
    pub id: String,
    /// `AllocateNetwork` came and `FreeNetwork` did not yet: swarm still has the network.
    #[serde(default)]
    pub allocated: bool,
    /// The hosts ([`super::naming::host_id`]) that created it and did not delete it yet.
    #[serde(default)]
    pub hosts: BTreeSet<String>,
    /// With this plugin's IPAM: the pool each host's `CreateNetwork` bound to the subnet
    /// (released by that host's `DeleteNetwork`; the manager's pool is the subnet's own).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pools: BTreeMap<String, String>,
}

impl DataObject for SwarmNetwork {
    const PREFIX: &'static str = "viperflow.dockerplugin.swarmnetwork";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

fn store(e: TxnError) -> PluginError {
    PluginError::Internal(format!("storage: {e}"))
}

/// Options Docker itself puts among a network's options (not ours to interpret).
fn docker_own(key: &str) -> bool {
    key.starts_with("com.docker.")
}

impl VlcpDriver {
    fn swarm_host(&self) -> String {
        self.plumber.host_id().unwrap_or_default()
    }

    /// Changes the record of `nid` in one transaction; `None` from `f` deletes it. Returns the
    /// record as written (`None`: deleted or absent).
    async fn update_swarm(
        &self,
        nid: &str,
        f: impl Fn(Option<SwarmNetwork>) -> Option<SwarmNetwork> + Send + Sync,
    ) -> Result<Option<SwarmNetwork>, PluginError> {
        let key = SwarmNetwork::key_of(&[nid]);
        let r = self
            .model
            .db()
            .transact(std::slice::from_ref(&key), |t| {
                let now = t.get::<SwarmNetwork>(&key)?.map(|s| s.data);
                let had = now.is_some();
                let next = f(now);
                match &next {
                    Some(n) => t.put(n)?,
                    None if had => {
                        t.delete::<SwarmNetwork>(&key)?;
                    }
                    None => {}
                }
                Ok(next)
            })
            .await
            .map_err(store)?;
        Ok(r.value)
    }

    /// The swarm record of `nid`, if any.
    pub(crate) async fn swarm_network(&self, nid: &str) -> Result<Option<SwarmNetwork>, PluginError> {
        let key = SwarmNetwork::key_of(&[nid]);
        self.model
            .db()
            .walk(std::slice::from_ref(&key), |w| Ok(w.get::<SwarmNetwork>(&key)?.map(|s| s.data)))
            .await
            .map_err(store)
    }

    /// `AllocateNetwork` (swarm manager).
    pub(crate) async fn allocate_network(
        &self,
        req: &AllocateNetworkRequest,
    ) -> Result<AllocateNetworkResponse, PluginError> {
        let nid = req.network_id.as_str();
        if nid.is_empty() {
            return Err(PluginError::BadRequest("NetworkID is empty".into()));
        }
        let all = req.string_options();
        tracing::info!(network = nid, options = ?all, ipv4 = ?req.ipv4_data, "swarm AllocateNetwork");
        let mut ours: BTreeMap<String, String> =
            all.into_iter().filter(|(k, _)| !docker_own(k) && k != SWARM_OPTION).collect();
        if ours.contains_key(SHARED_OPTION) {
            return Err(PluginError::BadRequest(format!(
                "option {SHARED_OPTION}: a swarm network is one network on every node already; leave it out"
            )));
        }
        // Check the options before swarm accepts the network (a node could not fix them later).
        let opts = parse_options(&ours).map_err(|e| PluginError::BadRequest(e.to_string()))?;
        let mut np = opts.network.clone();
        np.insert("id".into(), Value::String(lognet_id(nid)));
        LogicalNetworkSpec::from_params(Params::new(np))
            .map_err(|e| PluginError::BadRequest(format!("option {e}")))?;
        self.update_swarm(nid, |now| {
            let mut s = now.unwrap_or_else(|| SwarmNetwork { id: nid.into(), ..Default::default() });
            s.allocated = true;
            Some(s)
        })
        .await?;
        // Swarm's IPAM data carries no address space. With this plugin as the network's IPAM,
        // swarm's allocator requested the pool from us just before: the pending pool of that
        // CIDR is claimed for the subnet (the subnet's own pool, serving the manager's
        // RequestAddress calls). With Docker's IPAM there is none.
        let pending = self.ipam.pending().await?;
        let our_ipam = req
            .ipv4_data
            .first()
            .is_some_and(|d| pending.reserved_pools.values().any(|(c, _)| same_cidr(c, &d.pool)));
        let space = if our_ipam { GLOBAL_ADDRESS_SPACE } else { "" };
        let create = CreateNetworkRequest {
            network_id: nid.into(),
            options: BTreeMap::from([(
                "com.docker.network.generic".into(),
                Value::Object(ours.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()),
            )]),
            ipv4_data: req
                .ipv4_data
                .iter()
                .map(|d| IpamData { address_space: space.to_string(), ..d.clone() })
                .collect(),
            ipv6_data: req.ipv6_data.clone(),
        };
        if let Err(e) = self.create_network_plain(&create).await {
            let _ = self
                .update_swarm(nid, |now| {
                    now.and_then(|mut s| {
                        s.allocated = false;
                        (!s.hosts.is_empty()).then_some(s)
                    })
                })
                .await;
            return Err(e);
        }
        ours.insert(SWARM_OPTION.into(), "1".into());
        Ok(AllocateNetworkResponse { options: ours })
    }

    /// `CreateNetwork` of a swarm network on a node (the options carry [`SWARM_OPTION`]).
    pub(crate) async fn create_swarm_network(&self, req: &CreateNetworkRequest) -> Result<(), PluginError> {
        let nid = req.network_id.as_str();
        let host = self.swarm_host();
        tracing::info!(network = nid, host = %host, options = ?req.generic_options(), ipv4 = ?req.ipv4_data, "swarm CreateNetwork");
        let mut plain = req.clone();
        if let Some(Value::Object(m)) = plain.options.get_mut("com.docker.network.generic") {
            m.remove(SWARM_OPTION);
        }
        let before = self
            .update_swarm(nid, |now| {
                let mut s = now.unwrap_or_else(|| SwarmNetwork { id: nid.into(), ..Default::default() });
                s.hosts.insert(host.clone());
                Some(s)
            })
            .await?;
        let sid = subnet_id(nid);
        let existed = self.model.subnet(&sid).await.map_err(|e| model_err("subnet", e))?.is_some();
        if let Err(e) = self.create_network_plain(&plain).await {
            let _ = self.swarm_host_gone(nid, &host).await;
            return Err(e);
        }
        tracing::debug!(network = nid, record = ?before, "swarm network on this host");
        // With this plugin's IPAM the node's libnetwork requested a pool of its own (local
        // address space) for the task addresses the manager chose: bind it to the existing
        // subnet too, as the hosts of a shared network do, so it does not expire.
        let Some(d) = req.ipv4_data.first() else { return Ok(()) };
        if !existed || ![LOCAL_ADDRESS_SPACE, GLOBAL_ADDRESS_SPACE].contains(&d.address_space.as_str()) {
            return Ok(());
        }
        let gateway = d.gateway.split('/').next().and_then(|g| g.parse().ok());
        match self.ipam.claim_pool(&d.pool, gateway, nid, &sid).await {
            Ok(pool) => {
                self.update_swarm(nid, |now| {
                    now.map(|mut s| {
                        s.pools.insert(host.clone(), pool.clone());
                        s
                    })
                })
                .await?;
            }
            // A retried CreateNetwork: the pool is bound already.
            Err(e) => {
                tracing::warn!(network = nid, error = %e, "swarm CreateNetwork: no pending pool to bind")
            }
        }
        Ok(())
    }

    /// Removes `host` from the record; deletes the network objects when it was the last user
    /// of a freed network. `false` when `nid` is no swarm network.
    async fn swarm_host_gone(&self, nid: &str, host: &str) -> Result<bool, PluginError> {
        if self.swarm_network(nid).await?.is_none() {
            return Ok(false);
        }
        let pool = std::sync::Mutex::new(None);
        let after = self
            .update_swarm(nid, |now| {
                now.and_then(|mut s| {
                    s.hosts.remove(host);
                    *pool.lock().unwrap() = s.pools.remove(host);
                    (s.allocated || !s.hosts.is_empty()).then_some(s)
                })
            })
            .await?;
        if let Some(p) = pool.into_inner().unwrap() {
            self.ipam.release_pool(&p).await?;
        }
        if after.is_none() {
            self.delete_network_plain(nid).await?;
        }
        Ok(true)
    }

    /// `DeleteNetwork` of a swarm network on a node. `false` when `nid` is no swarm network.
    pub(crate) async fn delete_swarm_network(&self, nid: &str) -> Result<bool, PluginError> {
        let host = self.swarm_host();
        let done = self.swarm_host_gone(nid, &host).await?;
        if done {
            tracing::info!(network = nid, host = %host, "swarm DeleteNetwork");
        }
        Ok(done)
    }

    /// `FreeNetwork` (swarm manager).
    pub(crate) async fn free_network(&self, nid: &str) -> Result<(), PluginError> {
        tracing::info!(network = nid, "swarm FreeNetwork");
        if self.swarm_network(nid).await?.is_none() {
            return Ok(());
        }
        let after = self
            .update_swarm(nid, |now| {
                now.and_then(|mut s| {
                    s.allocated = false;
                    (!s.hosts.is_empty()).then_some(s)
                })
            })
            .await?;
        match after {
            None => self.delete_network_plain(nid).await,
            Some(s) => {
                tracing::info!(network = nid, hosts = ?s.hosts, "swarm network freed; removed when the last host deletes it");
                Ok(())
            }
        }
    }
}
