//! `CreateNetwork` / `DeleteNetwork`: a Docker network is a VLCP logical network
//! `docker-<nid>-lognet` (from the `-o` options, see [`super::options`]) with one subnet
//! `docker-<nid>-subnet` (Docker's IPv4 pool and gateway, plus the `subnet:` options). With our
//! IPAM the subnet also records its pool (`docker_ipam_poolid`), which the pool is bound to.
//!
//! Everything is validated before anything is written; a failure after the first write undoes
//! the earlier ones (pool claim, logical network). A retried `CreateNetwork` whose subnet exists
//! succeeds without change. `DeleteNetwork` removes what exists and treats the rest as done.
//!
//! # One network on many hosts: `-o vlcpnetwork=<name>`
//! With the plugin's `Scope=local, ConnectivityScope=global`, every host's dockerd creates its
//! own Docker network (its own NetworkID). Running the same `docker network create -d vlcp
//! --ipam-driver vlcp -o vlcpnetwork=<name> -o physicalnetwork=… --subnet …` on each host maps
//! all of them to ONE logical network `<name>` with ONE subnet `<name>-subnet` (the first host
//! creates them, the others join; the `--subnet` must be the same, the other options of a joining
//! host are not applied). [`NetworkBinding`] (`viperflow.dockerplugin.networkbinding.<nid>`)
//! records which logical network a host's Docker network uses, [`SharedNetwork`]
//! (`viperflow.dockerplugin.sharednetwork.<name>`) which Docker networks (all hosts) use it; the
//! last `DeleteNetwork` removes the logical network. Each host's IPAM pool is bound to the same
//! subnet, whose address map in the store is shared, so addresses never repeat across hosts.
//! Without the option a Docker network is host-local as before (`docker-<nid>-lognet`).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vlcp::model::{FieldErrorKind, LogicalNetworkSpec, ModelError, Params, SubnetSpec};
use vlcp::objectdb::{DataObject, TxnError};

use super::driver::{VlcpDriver, model_err, model_err_as};
use super::ipam::{GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE, POOL_ID_ATTR};
use super::naming::{lognet_id, subnet_id};
use super::options::{NetworkOptions, parse_options};
use super::protocol::CreateNetworkRequest;
use super::server::PluginError;
use super::swarm::SWARM_OPTION;

/// A `NotFound` model error means "already gone" for deletions.
fn gone_ok(r: Result<(), ModelError>) -> Result<(), ModelError> {
    match r {
        Err(ModelError::Field(f)) if f.kind == FieldErrorKind::NotFound => Ok(()),
        r => r,
    }
}

fn parse_gateway(g: &str) -> Result<Option<Ipv4Addr>, PluginError> {
    if g.is_empty() {
        return Ok(None);
    }
    let ip = g.split('/').next().unwrap_or_default();
    ip.parse().map(Some).map_err(|_| PluginError::BadRequest(format!("gateway {g:?} is not an IPv4 address")))
}

/// The option naming the logical network shared by every host.
pub const SHARED_OPTION: &str = "vlcpnetwork";

/// `viperflow.dockerplugin.networkbinding.<NetworkID>`: the shared logical network a Docker
/// network of one host uses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkBinding {
    /// The Docker NetworkID.
    pub id: String,
    /// The `vlcpnetwork` name (= the logical network id).
    pub shared: String,
    /// The subnet id (`<name>-subnet`).
    pub subnet: String,
    /// This host's IPAM pool bound to the subnet, if ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
}

impl DataObject for NetworkBinding {
    const PREFIX: &'static str = "viperflow.dockerplugin.networkbinding";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

/// `viperflow.dockerplugin.sharednetwork.<name>`: the Docker networks (of every host) using it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SharedNetwork {
    /// The `vlcpnetwork` name.
    pub id: String,
    /// Their NetworkIDs.
    #[serde(default)]
    pub docker_networks: BTreeSet<String>,
}

impl DataObject for SharedNetwork {
    const PREFIX: &'static str = "viperflow.dockerplugin.sharednetwork";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

fn store(e: TxnError) -> PluginError {
    PluginError::Internal(format!("storage: {e}"))
}

impl VlcpDriver {
    /// The logical network and subnet ids of Docker network `nid`: its binding's when it joined
    /// a shared network, else `docker-<nid>-lognet` / `docker-<nid>-subnet`.
    pub(crate) async fn network_ids(&self, nid: &str) -> Result<(String, String), PluginError> {
        let key = NetworkBinding::key_of(&[nid]);
        let b = self
            .model
            .db()
            .walk(std::slice::from_ref(&key), |w| Ok(w.get::<NetworkBinding>(&key)?.map(|s| s.data)))
            .await
            .map_err(store)?;
        Ok(match b {
            Some(b) => (b.shared, b.subnet),
            None => (lognet_id(nid), subnet_id(nid)),
        })
    }

    pub(crate) async fn create_network(&self, req: &CreateNetworkRequest) -> Result<(), PluginError> {
        if req.generic_options().contains_key(SWARM_OPTION) {
            return self.create_swarm_network(req).await;
        }
        // A swarm NetworkID (25 base-32 characters) without our option: the network was created
        // while the plugin said Scope=local, so swarm sent no AllocateNetwork and every node
        // allocates addresses on its own.
        if self.cfg.scope != "global" && req.network_id.len() != 64 {
            tracing::warn!(
                network = %req.network_id,
                "a swarm network on a Scope=local driver: nodes allocate addresses independently; \
                 set module.dockerplugin.scope='global' (managed plugin: VLCP_SCOPE=global) and recreate it"
            );
        }
        self.create_network_plain(req).await
    }

    /// `CreateNetwork` of a host's own network (or, from [`super::swarm`], of a swarm network's
    /// objects): idempotent when the subnet exists.
    pub(crate) async fn create_network_plain(&self, req: &CreateNetworkRequest) -> Result<(), PluginError> {
        let nid = req.network_id.as_str();
        if nid.is_empty() {
            return Err(PluginError::BadRequest("NetworkID is empty".into()));
        }
        if !req.ipv6_data.is_empty() {
            return Err(PluginError::BadRequest("IPv6 is not supported by this network driver".into()));
        }
        if req.ipv4_data.len() > 1 {
            return Err(PluginError::BadRequest("only one IPv4 subnet per network is supported".into()));
        }
        let mut generic = req.generic_options();
        let shared = generic.remove(SHARED_OPTION);
        let opts = parse_options(&generic).map_err(|e| PluginError::BadRequest(e.to_string()))?;
        if let Some(name) = shared {
            return self.join_shared(req, nid, name.trim(), opts).await;
        }
        let (lognet, subnet) = (lognet_id(nid), subnet_id(nid));
        if self.model.subnet(&subnet).await.map_err(|e| model_err("subnet", e))?.is_some() {
            return Ok(());
        }
        let mut np = opts.network.clone();
        np.insert("id".into(), Value::String(lognet.clone()));
        let net_spec = LogicalNetworkSpec::from_params(Params::new(np))
            .map_err(|e| PluginError::BadRequest(format!("option {e}")))?;
        let ipv4 = req.ipv4_data.first();
        let gateway = match ipv4 {
            Some(d) if !opts.disable_gateway => parse_gateway(&d.gateway)?,
            _ => None,
        };
        let mut sub_spec = match ipv4 {
            None => None,
            Some(d) => {
                let mut sp = opts.subnet.clone();
                sp.insert("id".into(), Value::String(subnet.clone()));
                sp.insert("logicalnetwork".into(), Value::String(lognet.clone()));
                sp.insert("cidr".into(), Value::String(d.pool.clone()));
                if let Some(g) = gateway {
                    sp.insert("gateway".into(), Value::String(g.to_string()));
                }
                Some(
                    SubnetSpec::from_params(Params::new(sp))
                        .map_err(|e| PluginError::BadRequest(format!("option subnet:{e}")))?,
                )
            }
        };
        let ours = ipv4
            .is_some_and(|d| [LOCAL_ADDRESS_SPACE, GLOBAL_ADDRESS_SPACE].contains(&d.address_space.as_str()));
        let pool_id = match (ours, ipv4) {
            (true, Some(d)) => Some(self.ipam.claim_pool(&d.pool, gateway, nid, &subnet).await?),
            _ => None,
        };
        if let (Some(p), Some(s)) = (&pool_id, sub_spec.as_mut()) {
            s.attrs.insert(POOL_ID_ATTR.into(), Value::String(p.clone()));
        }
        let result = self.create_network_objects(&lognet, net_spec, sub_spec).await;
        if let (Err(_), Some(p)) = (&result, &pool_id)
            && let Err(e) = self.ipam.unclaim_pool(p).await
        {
            tracing::warn!(pool = %p, error = %e, "CreateNetwork rollback: pool not released");
        }
        result
    }

    /// Creates the logical network (unless a retry finds it) and the subnet; removes the
    /// network again if the subnet fails.
    async fn create_network_objects(
        &self,
        lognet: &str,
        net_spec: LogicalNetworkSpec,
        sub_spec: Option<SubnetSpec>,
    ) -> Result<(), PluginError> {
        let existed =
            self.model.logical_network(lognet).await.map_err(|e| model_err("logical network", e))?.is_some();
        if !existed {
            self.model
                .create_logical_networks(vec![net_spec])
                .await
                .map_err(|e| model_err_as("option ", e))?;
        }
        let Some(s) = sub_spec else { return Ok(()) };
        if let Err(e) = self.model.create_subnets(vec![s]).await {
            if !existed
                && let Err(undo) = gone_ok(self.model.delete_logical_networks(vec![lognet.into()]).await)
            {
                tracing::warn!(lognet, error = %undo, "CreateNetwork rollback: logical network not removed");
            }
            return Err(model_err("subnet", e));
        }
        Ok(())
    }

    pub(crate) async fn delete_network(&self, nid: &str) -> Result<(), PluginError> {
        if self.delete_swarm_network(nid).await? {
            return Ok(());
        }
        self.delete_network_plain(nid).await
    }

    /// Removes the objects of Docker network `nid` (shared or its own).
    pub(crate) async fn delete_network_plain(&self, nid: &str) -> Result<(), PluginError> {
        if self.leave_shared(nid).await? {
            return Ok(());
        }
        let (lognet, subnet) = (lognet_id(nid), subnet_id(nid));
        let pool = self
            .model
            .subnet(&subnet)
            .await
            .map_err(|e| model_err("subnet", e))?
            .and_then(|s| s.extra.get(POOL_ID_ATTR).and_then(Value::as_str).map(str::to_owned));
        gone_ok(self.model.delete_subnets(vec![subnet]).await).map_err(|e| model_err("subnet", e))?;
        gone_ok(self.model.delete_logical_networks(vec![lognet]).await)
            .map_err(|e| model_err("logical network", e))?;
        if let Some(p) = pool {
            self.ipam.release_pool(&p).await?;
        }
        Ok(())
    }
}

pub(crate) fn same_cidr(a: &str, b: &str) -> bool {
    use vlcp::model::rules::Cidr;
    match (Cidr::parse(a, false), Cidr::parse(b, false)) {
        (Ok(x), Ok(y)) => x.network() == y.network() && x.prefix == y.prefix,
        _ => a == b,
    }
}

impl VlcpDriver {
    /// `CreateNetwork` with `-o vlcpnetwork=<name>`: joins (or first creates) the shared logical
    /// network `<name>` and its subnet `<name>-subnet`, binds this host's pool to it and records
    /// the binding. Idempotent per NetworkID.
    async fn join_shared(
        &self,
        req: &CreateNetworkRequest,
        nid: &str,
        name: &str,
        opts: NetworkOptions,
    ) -> Result<(), PluginError> {
        if name.is_empty() {
            return Err(PluginError::BadRequest(format!(
                "option {SHARED_OPTION}: needs the name of the logical network shared by the hosts"
            )));
        }
        let bkey = NetworkBinding::key_of(&[nid]);
        let bound = self
            .model
            .db()
            .walk(std::slice::from_ref(&bkey), |w| Ok(w.get::<NetworkBinding>(&bkey)?.is_some()))
            .await
            .map_err(store)?;
        if bound {
            return Ok(());
        }
        let Some(ipv4) = req.ipv4_data.first() else {
            return Err(PluginError::BadRequest(format!(
                "option {SHARED_OPTION}: a shared network needs an IPv4 subnet (--subnet), the same on every host"
            )));
        };
        let subnet = format!("{name}-subnet");
        let gateway = if opts.disable_gateway { None } else { parse_gateway(&ipv4.gateway)? };
        if let Some(s) = self.model.subnet(&subnet).await.map_err(|e| model_err("subnet", e))?
            && !same_cidr(&s.cidr, &ipv4.pool)
        {
            return Err(PluginError::Conflict(format!(
                "{SHARED_OPTION} {name}: the shared subnet is {}, this network asks for {}; use --subnet {} on every host",
                s.cidr, ipv4.pool, s.cidr
            )));
        }
        let ours = [LOCAL_ADDRESS_SPACE, GLOBAL_ADDRESS_SPACE].contains(&ipv4.address_space.as_str());
        let pool =
            if ours { Some(self.ipam.claim_pool(&ipv4.pool, gateway, nid, &subnet).await?) } else { None };
        let result =
            self.shared_objects(name, &subnet, ipv4.pool.as_str(), gateway, &opts, pool.as_deref()).await;
        let result = match result {
            Ok(()) => self.bind_shared(nid, name, &subnet, pool.clone()).await,
            Err(e) => Err(e),
        };
        if let (Err(_), Some(p)) = (&result, &pool)
            && let Err(e) = self.ipam.unclaim_pool(p).await
        {
            tracing::warn!(pool = %p, error = %e, "CreateNetwork rollback: pool not released");
        }
        result
    }

    /// Creates the shared logical network and subnet unless they exist (another host creating
    /// them at the same time is fine).
    async fn shared_objects(
        &self,
        name: &str,
        subnet: &str,
        cidr: &str,
        gateway: Option<Ipv4Addr>,
        opts: &NetworkOptions,
        pool: Option<&str>,
    ) -> Result<(), PluginError> {
        if self.model.logical_network(name).await.map_err(|e| model_err("logical network", e))?.is_none() {
            let mut np = opts.network.clone();
            np.insert("id".into(), Value::String(name.into()));
            let spec = LogicalNetworkSpec::from_params(Params::new(np))
                .map_err(|e| PluginError::BadRequest(format!("option {e}")))?;
            if let Err(e) = self.model.create_logical_networks(vec![spec]).await {
                let now =
                    self.model.logical_network(name).await.map_err(|e| model_err("logical network", e))?;
                if now.is_none() {
                    return Err(model_err_as("option ", e));
                }
            }
        }
        if self.model.subnet(subnet).await.map_err(|e| model_err("subnet", e))?.is_some() {
            return Ok(());
        }
        let mut sp = opts.subnet.clone();
        sp.insert("id".into(), Value::String(subnet.into()));
        sp.insert("logicalnetwork".into(), Value::String(name.into()));
        sp.insert("cidr".into(), Value::String(cidr.into()));
        if let Some(g) = gateway {
            sp.insert("gateway".into(), Value::String(g.to_string()));
        }
        if let Some(p) = pool {
            sp.insert(POOL_ID_ATTR.into(), Value::String(p.into()));
        }
        let spec = SubnetSpec::from_params(Params::new(sp))
            .map_err(|e| PluginError::BadRequest(format!("option subnet:{e}")))?;
        if let Err(e) = self.model.create_subnets(vec![spec]).await
            && self.model.subnet(subnet).await.map_err(|e| model_err("subnet", e))?.is_none()
        {
            return Err(model_err("subnet", e));
        }
        Ok(())
    }

    async fn bind_shared(
        &self,
        nid: &str,
        name: &str,
        subnet: &str,
        pool: Option<String>,
    ) -> Result<(), PluginError> {
        let binding = NetworkBinding { id: nid.into(), shared: name.into(), subnet: subnet.into(), pool };
        let skey = SharedNetwork::key_of(&[name]);
        self.model
            .db()
            .transact(&[binding.key(), skey.clone()], |t| {
                let mut s = t
                    .get::<SharedNetwork>(&skey)?
                    .map(|s| s.data)
                    .unwrap_or_else(|| SharedNetwork { id: name.into(), docker_networks: BTreeSet::new() });
                s.docker_networks.insert(nid.into());
                t.put(&s)?;
                t.put(&binding)
            })
            .await
            .map_err(store)?;
        Ok(())
    }

    /// `DeleteNetwork` of a Docker network bound to a shared network: forgets the binding and
    /// releases this host's pool; the last Docker network removes the subnet and the logical
    /// network. `false` when `nid` is not bound to a shared network.
    async fn leave_shared(&self, nid: &str) -> Result<bool, PluginError> {
        let bkey = NetworkBinding::key_of(&[nid]);
        let binding = self
            .model
            .db()
            .walk(std::slice::from_ref(&bkey), |w| Ok(w.get::<NetworkBinding>(&bkey)?.map(|s| s.data)))
            .await
            .map_err(store)?;
        let Some(b) = binding else { return Ok(false) };
        let skey = SharedNetwork::key_of(&[&b.shared]);
        let left = self
            .model
            .db()
            .transact(&[bkey.clone(), skey.clone()], |t| {
                t.delete::<NetworkBinding>(&bkey)?;
                let Some(mut s) = t.get::<SharedNetwork>(&skey)?.map(|s| s.data) else { return Ok(0) };
                s.docker_networks.remove(nid);
                if s.docker_networks.is_empty() {
                    t.delete::<SharedNetwork>(&skey)?;
                } else {
                    t.put(&s)?;
                }
                Ok(s.docker_networks.len())
            })
            .await
            .map_err(store)?
            .value;
        if left == 0 {
            gone_ok(self.model.delete_subnets(vec![b.subnet.clone()]).await)
                .map_err(|e| model_err("subnet", e))?;
            gone_ok(self.model.delete_logical_networks(vec![b.shared.clone()]).await)
                .map_err(|e| model_err("logical network", e))?;
        }
        if let Some(p) = &b.pool {
            self.ipam.release_pool(p).await?;
        }
        Ok(true)
    }
}
