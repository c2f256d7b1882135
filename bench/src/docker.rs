//! Docker's call sequence, as dockerd 20.10 makes it (`shared/reference/docker-20.10-plugin-call-
//! trace.log`), with the same request bodies:
//!
//! ```text
//! network up:     RequestPool → RequestAddress (gateway) → CreateNetwork
//! endpoint up:    RequestAddress → CreateEndpoint → Join → ProgramExternalConnectivity
//!                 → EndpointOperInfo → EndpointOperInfo
//! endpoint down:  RevokeExternalConnectivity → Leave → DeleteEndpoint → ReleaseAddress
//! network down:   ReleaseAddress (gateway) → ReleasePool → DeleteNetwork
//! ```
//!
//! Every call is timed into a [`Samples`]. A failed step is undone the way dockerd undoes it
//! (a failed `CreateEndpoint` releases its address; a failed `Join` deletes the endpoint), so
//! what is left afterwards is the driver's doing, not the load generator's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::{Value, json};
use vlcp_plugin::docker::protocol::{
    AddressSpaces, JoinResponse, RequestAddressResponse, RequestPoolResponse,
};

use crate::client::{CallError, PluginClient};
use crate::stats::{Call, Samples};

/// The `Options` dockerd sends with every endpoint call.
fn endpoint_options() -> Value {
    json!({"com.docker.network.endpoint.exposedports": [], "com.docker.network.portmap": []})
}

/// A random 64-hex-digit id whose first 8 digits are `prefix` (veth names keep the first 7).
fn docker_id(prefix: u32) -> String {
    let tail: [u64; 4] = rand::random();
    let tail: String = tail.iter().map(|w| format!("{w:016x}")).collect();
    format!("{prefix:08x}{}", &tail[8..])
}

/// Makes the ids and MACs of one run: distinct within the run, random across runs.
#[derive(Debug)]
pub struct IdSource {
    base: u32,
    next: AtomicU64,
}

impl Default for IdSource {
    fn default() -> Self {
        IdSource { base: rand::random(), next: AtomicU64::new(0) }
    }
}

/// What dockerd picks for an endpoint before calling the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointIds {
    /// `EndpointID`.
    pub endpoint_id: String,
    /// The MAC dockerd generated (`02:42:…`), sent with RequestAddress and CreateEndpoint.
    pub mac: String,
    /// `SandboxKey` of Join.
    pub sandbox_key: String,
}

impl IdSource {
    /// The next id number: its top 28 bits (the first 7 hex digits of an id, what veth names
    /// keep) differ from every other number of the run (for 2^28 numbers).
    fn bump(&self) -> u32 {
        let i = self.next.fetch_add(1, Ordering::Relaxed) as u32;
        self.base.wrapping_add(i << 4)
    }

    /// A NetworkID.
    pub fn network_id(&self) -> String {
        docker_id(self.bump())
    }

    /// The ids of a new endpoint.
    pub fn endpoint(&self) -> EndpointIds {
        let n = self.bump();
        let b = n.to_be_bytes();
        EndpointIds {
            endpoint_id: docker_id(n),
            mac: format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3]),
            sandbox_key: format!("/var/run/docker/netns/{:012x}", u64::from(n) << 8 | 0x5b),
        }
    }
}

/// A network created through the plugin.
#[derive(Debug, Clone)]
pub struct Network {
    pub network_id: String,
    pub pool_id: String,
    /// The pool, `a.b.c.d/n`.
    pub pool: String,
    /// The gateway as IPAM gave it, `a.b.c.d/n`.
    pub gateway: String,
    pub address_space: String,
}

/// An endpoint that is up (joined).
#[derive(Debug, Clone)]
pub struct LiveEndpoint {
    pub ids: EndpointIds,
    /// Its address as IPAM gave it, `a.b.c.d/n`.
    pub address: String,
    /// Join's `SrcName`: the container end of the veth pair.
    pub src_name: String,
}

/// One step of the sequence that failed, and what undoing it cost.
#[derive(Debug, Clone)]
pub struct StepError {
    pub call: Call,
    pub error: CallError,
    /// Calls of the undo that failed too.
    pub undo: Vec<(Call, CallError)>,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.call.name(), self.error)?;
        for (c, e) in &self.undo {
            write!(f, "; undo {}: {e}", c.name())?;
        }
        Ok(())
    }
}

fn parse<T: serde::de::DeserializeOwned>(call: Call, v: Value) -> Result<T, CallError> {
    serde_json::from_value(v)
        .map_err(|e| CallError::BadResponse { path: call.path().to_string(), reason: e.to_string() })
}

/// Makes one call, timing it into `s`.
pub async fn timed(
    c: &PluginClient,
    s: &mut Samples,
    call: Call,
    body: Option<&Value>,
) -> Result<Value, CallError> {
    let t = Instant::now();
    let r = c.call(call.path(), body).await;
    s.record(call, t.elapsed(), r.is_ok());
    r
}

/// dockerd's plugin activation: `Plugin.Activate` and the capability calls. Returns the address
/// spaces.
pub async fn activate(c: &PluginClient, s: &mut Samples) -> Result<AddressSpaces, CallError> {
    let a = timed(c, s, Call::Activate, None).await?;
    let implements = a.get("Implements").and_then(Value::as_array).cloned().unwrap_or_default();
    for want in ["NetworkDriver", "IpamDriver"] {
        if !implements.iter().any(|v| v == want) {
            return Err(CallError::BadResponse {
                path: Call::Activate.path().into(),
                reason: format!("does not implement {want}: {a}"),
            });
        }
    }
    timed(c, s, Call::NetGetCapabilities, None).await?;
    timed(c, s, Call::IpamGetCapabilities, None).await?;
    parse(Call::GetDefaultAddressSpaces, timed(c, s, Call::GetDefaultAddressSpaces, None).await?)
}

/// `docker network create -d <plugin> --ipam-driver <plugin> --subnet <pool> -o k=v…`:
/// RequestPool, RequestAddress (gateway), CreateNetwork. `options` are the `-o` options.
pub async fn create_network(
    c: &PluginClient,
    s: &mut Samples,
    ids: &IdSource,
    address_space: &str,
    pool: &str,
    options: &serde_json::Map<String, Value>,
) -> Result<Network, StepError> {
    let fail = |call, error| StepError { call, error, undo: Vec::new() };
    let body =
        json!({"AddressSpace": address_space, "Pool": pool, "SubPool": "", "Options": {}, "V6": false});
    let p: RequestPoolResponse = timed(c, s, Call::RequestPool, Some(&body))
        .await
        .and_then(|v| parse(Call::RequestPool, v))
        .map_err(|e| fail(Call::RequestPool, e))?;
    let body = json!({"PoolID": p.pool_id, "Address": "",
        "Options": {"RequestAddressType": "com.docker.network.gateway"}});
    let gw: RequestAddressResponse = match timed(c, s, Call::RequestGateway, Some(&body))
        .await
        .and_then(|v| parse(Call::RequestGateway, v))
    {
        Ok(g) => g,
        Err(error) => {
            let undo = release_pool(c, s, &p.pool_id).await.into_iter().collect();
            return Err(StepError { call: Call::RequestGateway, error, undo });
        }
    };
    let net = Network {
        network_id: ids.network_id(),
        pool_id: p.pool_id.clone(),
        pool: p.pool.clone(),
        gateway: gw.address.clone(),
        address_space: address_space.to_string(),
    };
    let body = json!({
        "NetworkID": net.network_id,
        "Options": {"com.docker.network.enable_ipv6": false, "com.docker.network.generic": options},
        "IPv4Data": [{"AddressSpace": address_space, "Gateway": net.gateway, "Pool": net.pool}],
        "IPv6Data": [],
    });
    if let Err(error) = timed(c, s, Call::CreateNetwork, Some(&body)).await {
        let mut undo = Vec::new();
        if let Err(e) = release_address(c, s, Call::ReleaseGateway, &net.pool_id, &net.gateway).await {
            undo.push((Call::ReleaseGateway, e));
        }
        undo.extend(release_pool(c, s, &p.pool_id).await);
        return Err(StepError { call: Call::CreateNetwork, error, undo });
    }
    Ok(net)
}

/// `docker network rm`: ReleaseAddress (gateway), ReleasePool, DeleteNetwork; every step is
/// tried, the first failure is returned.
pub async fn delete_network(
    c: &PluginClient,
    s: &mut Samples,
    net: &Network,
) -> Result<(), (Call, CallError)> {
    let mut first = None;
    if let Err(e) = release_address(c, s, Call::ReleaseGateway, &net.pool_id, &net.gateway).await {
        first.get_or_insert((Call::ReleaseGateway, e));
    }
    if let Err(e) = timed(c, s, Call::ReleasePool, Some(&json!({"PoolID": net.pool_id}))).await {
        first.get_or_insert((Call::ReleasePool, e));
    }
    if let Err(e) = timed(c, s, Call::DeleteNetwork, Some(&json!({"NetworkID": net.network_id}))).await {
        first.get_or_insert((Call::DeleteNetwork, e));
    }
    first.map_or(Ok(()), Err)
}

async fn release_pool(c: &PluginClient, s: &mut Samples, pool_id: &str) -> Option<(Call, CallError)> {
    let body = json!({"PoolID": pool_id});
    timed(c, s, Call::ReleasePool, Some(&body)).await.err().map(|e| (Call::ReleasePool, e))
}

async fn release_address(
    c: &PluginClient,
    s: &mut Samples,
    call: Call,
    pool_id: &str,
    address: &str,
) -> Result<Value, CallError> {
    let ip = address.split('/').next().unwrap_or(address);
    timed(c, s, call, Some(&json!({"PoolID": pool_id, "Address": ip}))).await
}

fn endpoint_body(net: &Network, eid: &str) -> Value {
    json!({"NetworkID": net.network_id, "EndpointID": eid})
}

/// The first half of `docker run`: RequestAddress, CreateEndpoint, Join,
/// ProgramExternalConnectivity, EndpointOperInfo twice.
pub async fn endpoint_up(
    c: &PluginClient,
    s: &mut Samples,
    net: &Network,
    ids: EndpointIds,
) -> Result<LiveEndpoint, StepError> {
    let body = json!({"PoolID": net.pool_id, "Address": "",
        "Options": {"com.docker.network.endpoint.macaddress": ids.mac}});
    let addr: RequestAddressResponse = timed(c, s, Call::RequestAddress, Some(&body))
        .await
        .and_then(|v| parse(Call::RequestAddress, v))
        .map_err(|error| StepError { call: Call::RequestAddress, error, undo: Vec::new() })?;
    let eid_owned = ids.endpoint_id.clone();
    let eid = eid_owned.as_str();
    let body = json!({
        "NetworkID": net.network_id, "EndpointID": eid,
        "Interface": {"Address": addr.address, "AddressIPv6": "", "MacAddress": ids.mac},
        "Options": endpoint_options(),
    });
    if let Err(error) = timed(c, s, Call::CreateEndpoint, Some(&body)).await {
        // dockerd: a failed CreateEndpoint releases the address.
        let undo = release_address(c, s, Call::ReleaseAddress, &net.pool_id, &addr.address)
            .await
            .err()
            .map(|e| (Call::ReleaseAddress, e))
            .into_iter()
            .collect();
        return Err(StepError { call: Call::CreateEndpoint, error, undo });
    }
    let joined = async {
        let body = json!({"NetworkID": net.network_id, "EndpointID": eid, "SandboxKey": ids.sandbox_key,
            "Options": endpoint_options()});
        let j: JoinResponse = parse(Call::Join, timed(c, s, Call::Join, Some(&body)).await?)?;
        Ok::<_, CallError>(j.interface_name.src_name)
    }
    .await;
    let src_name = match joined {
        Ok(n) => n,
        Err(error) => {
            // dockerd: a failed Join deletes the endpoint and releases the address.
            let mut undo = Vec::new();
            if let Err(e) = timed(c, s, Call::DeleteEndpoint, Some(&endpoint_body(net, eid))).await {
                undo.push((Call::DeleteEndpoint, e));
            }
            if let Err(e) = release_address(c, s, Call::ReleaseAddress, &net.pool_id, &addr.address).await {
                undo.push((Call::ReleaseAddress, e));
            }
            return Err(StepError { call: Call::Join, error, undo });
        }
    };
    let live = LiveEndpoint { ids, address: addr.address, src_name };
    let body = json!({"NetworkID": net.network_id, "EndpointID": eid, "Options": endpoint_options()});
    let rest = async {
        timed(c, s, Call::ProgramExternalConnectivity, Some(&body))
            .await
            .map_err(|e| (Call::ProgramExternalConnectivity, e))?;
        for _ in 0..2 {
            timed(c, s, Call::EndpointOperInfo, Some(&endpoint_body(net, eid)))
                .await
                .map_err(|e| (Call::EndpointOperInfo, e))?;
        }
        Ok::<_, (Call, CallError)>(())
    }
    .await;
    if let Err((call, error)) = rest {
        // dockerd tears the container's network down again.
        let undo = endpoint_down(c, s, net, &live).await.err().into_iter().collect();
        return Err(StepError { call, error, undo });
    }
    Ok(live)
}

/// The second half (container stopped and removed): RevokeExternalConnectivity, Leave,
/// DeleteEndpoint, ReleaseAddress; every step is tried, the first failure is returned.
pub async fn endpoint_down(
    c: &PluginClient,
    s: &mut Samples,
    net: &Network,
    ep: &LiveEndpoint,
) -> Result<(), (Call, CallError)> {
    let eid = ep.ids.endpoint_id.as_str();
    let mut first = None;
    for call in [Call::RevokeExternalConnectivity, Call::Leave, Call::DeleteEndpoint] {
        if let Err(e) = timed(c, s, call, Some(&endpoint_body(net, eid))).await {
            first.get_or_insert((call, e));
        }
    }
    if let Err(e) = release_address(c, s, Call::ReleaseAddress, &net.pool_id, &ep.address).await {
        first.get_or_insert((Call::ReleaseAddress, e));
    }
    first.map_or(Ok(()), Err)
}

/// Whether the plugin still has a logical port for `eid` (this driver's `EndpointOperInfo`
/// answers `logical_port` while the port exists).
pub async fn has_logical_port(c: &PluginClient, net: &Network, eid: &str) -> Result<bool, CallError> {
    let v = c.call(Call::EndpointOperInfo.path(), Some(&endpoint_body(net, eid))).await?;
    Ok(v.get("Value").and_then(|v| v.get("logical_port")).is_some())
}

/// Whether `ip` can be reserved again in the network's pool (it is then released again): a
/// reservation or a port still holding it makes the driver refuse.
pub async fn address_free(c: &PluginClient, net: &Network, ip: &str) -> Result<bool, CallError> {
    let body = json!({"PoolID": net.pool_id, "Address": ip, "Options": {}});
    match c.call(Call::RequestAddress.path(), Some(&body)).await {
        Ok(_) => {
            let body = json!({"PoolID": net.pool_id, "Address": ip});
            c.call(Call::ReleaseAddress.path(), Some(&body)).await?;
            Ok(true)
        }
        Err(e) if e.status() == Some(409) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_give_distinct_veth_names_macs_and_sandboxes() {
        let ids = IdSource::default();
        let eps: Vec<EndpointIds> = (0..5000).map(|_| ids.endpoint()).collect();
        let names: BTreeSet<String> = eps
            .iter()
            .map(|e| vlcp_plugin::docker::naming::VethNames::for_endpoint("vlcp", &e.endpoint_id).host)
            .collect();
        assert_eq!(names.len(), eps.len());
        assert_eq!(eps.iter().map(|e| &e.mac).collect::<BTreeSet<_>>().len(), eps.len());
        assert_eq!(eps.iter().map(|e| &e.sandbox_key).collect::<BTreeSet<_>>().len(), eps.len());
        assert!(eps.iter().all(|e| e.endpoint_id.len() == 64 && e.mac.starts_with("02:42:")));
        assert_ne!(ids.network_id(), ids.network_id());
    }
}
