//! `CreateNetwork` / `DeleteNetwork`: a Docker network is a VLCP logical network
//! `docker-<nid>-lognet` (from the `-o` options, see [`super::options`]) with one subnet
//! `docker-<nid>-subnet` (Docker's IPv4 pool and gateway, plus the `subnet:` options). With our
//! IPAM the subnet also records its pool (`docker_ipam_poolid`), which the pool is bound to.
//!
//! Everything is validated before anything is written; a failure after the first write undoes
//! the earlier ones (pool claim, logical network). A retried `CreateNetwork` whose subnet exists
//! succeeds without change. `DeleteNetwork` removes what exists and treats the rest as done.

use std::net::Ipv4Addr;

use serde_json::Value;
use vlcp::model::{FieldErrorKind, LogicalNetworkSpec, ModelError, Params, SubnetSpec};

use super::driver::{VlcpDriver, model_err, model_err_as};
use super::ipam::{GLOBAL_ADDRESS_SPACE, LOCAL_ADDRESS_SPACE, POOL_ID_ATTR};
use super::naming::{lognet_id, subnet_id};
use super::options::parse_options;
use super::protocol::CreateNetworkRequest;
use super::server::PluginError;

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

impl VlcpDriver {
    pub(crate) async fn create_network(&self, req: &CreateNetworkRequest) -> Result<(), PluginError> {
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
        let opts =
            parse_options(&req.generic_options()).map_err(|e| PluginError::BadRequest(e.to_string()))?;
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
