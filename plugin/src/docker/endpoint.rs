//! Endpoints: `CreateEndpoint` makes the logical port `docker-<eid>` (Docker's address, Docker's
//! MAC or one derived from the address), records a [`DockerInfo`], and plumbs the veth pair
//! into OVS; `Join` hands Docker the container end with the gateway and static routes;
//! `DeleteEndpoint` undoes it all, best-effort and in order: the logical port, the address and the
//! OVS port at once, the veth pair in the background (the plumbing's reaper; the DockerInfo stays,
//! marked `deleting`, until the pair is gone, so a crash in between is finished at the next start).
//!
//! A failure of the plumbing removes the logical port and the DockerInfo again (the plumbing
//! undoes its own steps, OVS record included). A retried `CreateEndpoint` reuses the logical
//! port it made before. `CreateEndpoint` answers a `MacAddress` only when Docker sent none, and an
//! `Address` only when Docker sent none (changing a given one is an error for Docker).

use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use vlcp::model::{FieldErrorKind, LogicalPort, LogicalPortSpec, ModelError, SubNet};
use vlcp::objectdb::object::parse_object_key;
use vlcp::objectdb::{DataObject, TxnError, WriteTxn};

use super::driver::{VlcpDriver, model_err};
use super::ipam::{IpamReserve, POOL_ID_ATTR, forget_in};
use super::naming::{VethNames, derive_mac, format_mac, parse_mac, port_id};
use super::plumbing::{Detached, PlugSpec};
use super::protocol::{
    CreateEndpointRequest, CreateEndpointResponse, EndpointInterface, EndpointOperInfoResponse,
    EndpointRequest, InterfaceName, JoinRequest, JoinResponse, StaticRoute,
};
use super::server::PluginError;

/// `viperflow.dockerplugin.portinfo.<logical port id>`: what Docker knows about a port.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerInfo {
    /// The logical port id (`docker-<eid>`).
    pub id: String,
    /// The veth's container end (Join's `SrcName`).
    pub docker_port: String,
    /// The veth's host end, the OVS port.
    #[serde(default)]
    pub docker_host_port: String,
    /// The sandbox the endpoint joined (`SandboxKey`), `None` after Leave.
    #[serde(default)]
    pub docker_sandbox: Option<String>,
    /// The Docker NetworkID.
    #[serde(default)]
    pub docker_network: String,
    /// The host the endpoint was plumbed on ([`super::naming::host_id`]); `vlcp-cleanup` only
    /// touches its own host's ports. Empty when unknown.
    #[serde(default)]
    pub docker_host: String,
    /// Where the endpoint is in its life; absent (ready) in objects written before this field.
    #[serde(default, skip_serializing_if = "EndpointState::is_ready")]
    pub state: EndpointState,
}

/// The life of an endpoint as its DockerInfo records it, so that the daemon's startup repair
/// can finish what a crash interrupted (see [`VlcpDriver::repair_interrupted`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointState {
    /// `CreateEndpoint` finished; Docker owns the endpoint.
    #[default]
    Ready,
    /// `CreateEndpoint` is under way: written with the logical port, in one transaction.
    Creating,
    /// `DeleteEndpoint` answered; the veth pair is still being removed in the background.
    Deleting,
}

impl EndpointState {
    /// Ready (the default, not written).
    pub fn is_ready(&self) -> bool {
        *self == EndpointState::Ready
    }
}

impl DataObject for DockerInfo {
    const PREFIX: &'static str = "viperflow.dockerplugin.portinfo";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

/// What [`VlcpDriver::repair_interrupted`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Interrupted `CreateEndpoint`s undone.
    pub creates: usize,
    /// Pending veth removals finished.
    pub deletes: usize,
    /// Endpoints that could not be repaired, with why (tried again at the next start).
    pub failed: Vec<String>,
}

/// Removes the DockerInfo of port `pid` if it still records a pending veth removal.
async fn drop_info_if_deleting(db: &vlcp::objectdb::ObjectDb, pid: &str) -> Result<(), TxnError> {
    let key = DockerInfo::key_of(&[pid]);
    db.transact(std::slice::from_ref(&key), |t| match t.get::<DockerInfo>(&key)?.map(|s| s.data.state) {
        Some(EndpointState::Deleting) => t.delete::<DockerInfo>(&key).map(drop),
        _ => Ok(()),
    })
    .await
    .map(drop)
}

fn store(e: TxnError) -> PluginError {
    PluginError::Internal(format!("storage: {e}"))
}

fn gone_ok(r: Result<(), ModelError>) -> Result<(), ModelError> {
    match r {
        Err(ModelError::Field(f)) if f.kind == FieldErrorKind::NotFound => Ok(()),
        r => r,
    }
}

fn parse_ip(field: &str, a: &str) -> Result<Option<Ipv4Addr>, PluginError> {
    if a.is_empty() {
        return Ok(None);
    }
    let ip = a.split('/').next().unwrap_or_default();
    ip.parse().map(Some).map_err(|_| PluginError::BadRequest(format!("{field} {a:?} is not an IPv4 address")))
}

fn prefix_len(subnet: &SubNet) -> Option<u8> {
    subnet.cidr.split_once('/').and_then(|(_, p)| p.parse().ok())
}

impl VlcpDriver {
    fn veth_names(&self, endpoint_id: &str) -> VethNames {
        VethNames::for_endpoint(&self.cfg.veth_prefix, endpoint_id)
    }

    async fn write_info(&self, info: DockerInfo) -> Result<(), PluginError> {
        self.model.db().transact(&[info.key()], |t| t.put(&info)).await.map_err(store)?;
        Ok(())
    }

    /// A fresh DockerInfo for port `pid` of Docker network `nid`, plumbed as `names` on this host.
    fn new_info(&self, pid: &str, nid: &str, names: &VethNames, state: EndpointState) -> DockerInfo {
        DockerInfo {
            id: pid.into(),
            docker_port: names.container.clone(),
            docker_host_port: names.host.clone(),
            docker_sandbox: None,
            docker_network: nid.into(),
            docker_host: self.plumber.host_id().unwrap_or_default(),
            state,
        }
    }

    /// Records that this process works on `pid` (the startup repair leaves it alone).
    pub(crate) fn note_touched(&self, pid: &str) {
        if let Some(set) = self.touched.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            set.insert(pid.to_string());
        }
    }

    /// Removes the logical port and its DockerInfo in one transaction (either may be gone).
    async fn drop_port_and_info(&self, pid: &str) -> Result<(), PluginError> {
        let ikey = DockerInfo::key_of(&[pid]);
        let drop_info = |t: &mut WriteTxn<'_>| t.delete::<DockerInfo>(&ikey).map(drop);
        match self
            .model
            .delete_logical_ports_and(vec![pid.to_string()], std::slice::from_ref(&ikey), &drop_info)
            .await
        {
            Err(ModelError::Field(f)) if f.kind == FieldErrorKind::NotFound => {
                self.model.db().transact(std::slice::from_ref(&ikey), &drop_info).await.map_err(store)?;
                Ok(())
            }
            r => r.map_err(|e| model_err("logical port", e)),
        }
    }

    /// Once the reaper reports the veth pair of `pid` gone, removes the DockerInfo that
    /// recorded the removal (kept on failure: the startup repair tries again).
    fn after_reap(&self, pid: String, done: Detached) {
        let db = self.model.db().clone();
        let background = self.background.clone();
        background.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            match done.await {
                Ok(Ok(())) => {
                    if let Err(e) = drop_info_if_deleting(&db, &pid).await {
                        tracing::warn!(port = %pid, error = %e, "DockerInfo of a removed endpoint not dropped");
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(port = %pid, error = %e, "veth pair not removed (the startup repair retries)")
                }
                Err(_) => tracing::warn!(port = %pid, "veth removal abandoned (the startup repair retries)"),
            }
            background.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// Waits (at most `timeout`) for the background work of earlier `DeleteEndpoint`s (veth
    /// removal, then the DockerInfo); returns how many endpoints are still pending.
    pub async fn settle(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        self.plumber.settle(timeout).await;
        loop {
            let n = self.background.load(Ordering::SeqCst);
            if n == 0 || Instant::now() >= deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The startup repair: finishes endpoints a crash of an earlier daemon interrupted, on this
    /// host — a `CreateEndpoint` cut short (DockerInfo `creating`: Docker never got an answer,
    /// so it owns nothing; the veth pair, OVS port, logical port and DockerInfo go) and a veth
    /// removal `DeleteEndpoint` left pending (`deleting`: the pair and the DockerInfo go).
    /// Endpoints this process has worked on are left alone, so it may run while serving; it
    /// runs once (afterwards nothing is recorded for it any more).
    pub async fn repair_interrupted(&self) -> Result<RepairReport, PluginError> {
        if !self.plumber.ready(Duration::from_secs(30)).await {
            return Err(PluginError::Internal("startup repair: the OVSDB view is not in sync".into()));
        }
        let me = self.plumber.host_id().unwrap_or_default();
        let db = self.model.db();
        let keys: Vec<String> = db
            .store()
            .scan_prefix(&format!("{}.", DockerInfo::PREFIX))
            .await
            .map_err(|e| PluginError::Internal(format!("startup repair: storage: {e}")))?
            .iter()
            .filter_map(|k| parse_object_key(DockerInfo::PREFIX, k))
            .filter_map(|mut v| v.pop())
            .map(|id| DockerInfo::key_of(&[&id]))
            .collect();
        let infos: Vec<DockerInfo> = db
            .walk(&keys, |w| {
                let mut v = Vec::new();
                for k in &keys {
                    v.extend(w.get::<DockerInfo>(k)?.map(|s| s.data));
                }
                Ok(v)
            })
            .await
            .map_err(store)?;
        let todo: Vec<DockerInfo> = {
            let touched = self.touched.lock().unwrap_or_else(|p| p.into_inner());
            infos
                .into_iter()
                .filter(|i| !i.state.is_ready())
                .filter(|i| {
                    i.docker_host == me || (i.docker_host.is_empty() && db.store().backend() == "embedded")
                })
                .filter(|i| touched.as_ref().is_none_or(|t| !t.contains(&i.id)))
                .collect()
        };
        let mut report = RepairReport::default();
        for info in todo {
            let names =
                VethNames { host: info.docker_host_port.clone(), container: info.docker_port.clone() };
            if let Err(e) = self.plumber.unplug(&names).await {
                report.failed.push(format!("{}: plumbing: {e}", info.id));
                continue;
            }
            let r = match info.state {
                EndpointState::Creating => {
                    self.drop_port_and_info(&info.id).await.map(|()| report.creates += 1)
                }
                _ => drop_info_if_deleting(db, &info.id).await.map_err(store).map(|()| report.deletes += 1),
            };
            if let Err(e) = r {
                report.failed.push(format!("{}: {e}", info.id));
            }
        }
        if report.failed.is_empty() {
            self.touched.lock().unwrap_or_else(|p| p.into_inner()).take();
        }
        Ok(report)
    }

    async fn delete_info(&self, pid: &str) -> Result<(), PluginError> {
        let key = DockerInfo::key_of(&[pid]);
        self.model
            .db()
            .transact(std::slice::from_ref(&key), |t| t.delete::<DockerInfo>(&key))
            .await
            .map_err(store)?;
        Ok(())
    }

    /// Sets or clears the sandbox of the port's DockerInfo (created if missing).
    async fn set_sandbox(
        &self,
        pid: &str,
        nid: &str,
        names: &VethNames,
        sandbox: Option<&str>,
    ) -> Result<(), PluginError> {
        let key = DockerInfo::key_of(&[pid]);
        self.model
            .db()
            .transact(std::slice::from_ref(&key), |t| {
                let mut info = t
                    .get::<DockerInfo>(&key)?
                    .map(|s| s.data)
                    .unwrap_or_else(|| self.new_info(pid, nid, names, EndpointState::Ready));
                info.docker_sandbox = sandbox.map(str::to_owned);
                t.put(&info)
            })
            .await
            .map_err(store)?;
        Ok(())
    }

    /// Creates the logical port; with `autoremoveports`, a stale `docker-*` port holding the
    /// address is removed (with its plumbing) and the creation retried once.
    /// The DockerInfo `info` is written in the same transaction as the port.
    async fn create_port(
        &self,
        spec: LogicalPortSpec,
        info: &DockerInfo,
    ) -> Result<LogicalPort, PluginError> {
        let ikey = info.key();
        let err = match self
            .model
            .create_logical_ports_and(vec![spec.clone()], std::slice::from_ref(&ikey), |t| t.put(info))
            .await
        {
            Ok(mut v) => return v.pop().ok_or_else(|| PluginError::Internal("no port created".into())),
            Err(e) => e,
        };
        let ip_conflict =
            matches!(err.field(), Some(f) if f.kind == FieldErrorKind::Conflict && f.field == "ip_address");
        let (Some(ip), true, true) = (spec.ip_address, ip_conflict, self.cfg.auto_remove_ports) else {
            return Err(model_err("logical port", err));
        };
        let holders = self
            .model
            .list_logical_ports(
                None,
                Some(spec.logicalnetwork.clone()),
                &[("ip_address".into(), json!(ip.to_string()))],
            )
            .await
            .map_err(|e| model_err("logical port", e))?;
        let stale: Vec<String> = holders
            .iter()
            .filter_map(|p| p.get("id").and_then(Value::as_str))
            .filter(|id| id.starts_with("docker-") && Some(*id) != spec.id.as_deref())
            .map(str::to_owned)
            .collect();
        // A shared network spans hosts: only this host's own leftovers are stale.
        let me = self.plumber.host_id().unwrap_or_default();
        let mut mine = Vec::new();
        for id in stale {
            let key = DockerInfo::key_of(&[&id]);
            let info = self
                .model
                .db()
                .walk(std::slice::from_ref(&key), |w| Ok(w.get::<DockerInfo>(&key)?.map(|s| s.data)))
                .await
                .map_err(store)?;
            if info.is_none_or(|i| i.docker_host.is_empty() || i.docker_host == me) {
                mine.push(id);
            }
        }
        let stale = mine;
        if stale.is_empty() {
            return Err(model_err("logical port", err));
        }
        for id in &stale {
            tracing::warn!(port = %id, %ip, "duplicated ports detected: removing the stale docker port holding the address");
            let eid = id.trim_start_matches("docker-");
            if let Err(e) = self.plumber.unplug(&self.veth_names(eid)).await {
                tracing::warn!(port = %id, error = %e, "stale port plumbing not fully removed");
            }
            gone_ok(self.model.delete_logical_ports(vec![id.clone()]).await)
                .map_err(|e| model_err("stale logical port", e))?;
            self.delete_info(id).await?;
        }
        let mut v = self
            .model
            .create_logical_ports_and(vec![spec], std::slice::from_ref(&ikey), |t| t.put(info))
            .await
            .map_err(|e| model_err("logical port", e))?;
        v.pop().ok_or_else(|| PluginError::Internal("no port created".into()))
    }

    pub(crate) async fn create_endpoint(
        &self,
        req: &CreateEndpointRequest,
    ) -> Result<CreateEndpointResponse, PluginError> {
        let (nid, eid) = (req.network_id.as_str(), req.endpoint_id.as_str());
        if nid.is_empty() || eid.is_empty() {
            return Err(PluginError::BadRequest("NetworkID and EndpointID are required".into()));
        }
        if !req.interface.address_ipv6.is_empty() {
            return Err(PluginError::BadRequest("IPv6 is not supported by this network driver".into()));
        }
        let pid = port_id(eid);
        let (lognet, sid) = self.network_ids(nid).await?;
        let net = self.model.logical_network(&lognet).await.map_err(|e| model_err("logical network", e))?;
        let Some(net) = net else {
            return Err(PluginError::NotFound(format!(
                "network {nid} is unknown to this driver (no logical network {lognet})"
            )));
        };
        let subnet = self.model.subnet(&sid).await.map_err(|e| model_err("subnet", e))?;
        let ip = parse_ip("Address", &req.interface.address)?;
        if ip.is_some() && subnet.is_none() {
            return Err(PluginError::BadRequest(format!("network {nid} has no subnet for address {ip:?}")));
        }
        let given_mac = match req.interface.mac_address.as_str() {
            "" => None,
            m => Some(parse_mac(m).map_err(|e| PluginError::BadRequest(format!("MacAddress: {e}")))?),
        };
        let mtu = net.mtu.unwrap_or(self.cfg.mtu);
        let names = self.veth_names(eid);
        self.note_touched(&pid);
        let info = self.new_info(&pid, nid, &names, EndpointState::Creating);
        let port = match self.model.logical_port(&pid).await.map_err(|e| model_err("logical port", e))? {
            Some(p) => {
                let same_ip = ip.is_none_or(|ip| p.ip_address.as_deref() == Some(ip.to_string().as_str()));
                if p.network_id() != lognet || !same_ip {
                    return Err(PluginError::Conflict(format!(
                        "logical port {pid} exists with other settings"
                    )));
                }
                self.write_info(info.clone()).await?;
                p
            }
            None => {
                let mac = given_mac.unwrap_or_else(|| {
                    derive_mac(self.cfg.mac_template, subnet.as_ref().map(|s| s.id.as_str()), ip, &pid)
                });
                let spec = LogicalPortSpec {
                    id: Some(pid.clone()),
                    logicalnetwork: lognet.clone(),
                    subnet: subnet.as_ref().map(|s| s.id.clone()),
                    mac_address: Some(format_mac(&mac)),
                    ip_address: ip,
                    attrs: Map::new(),
                };
                self.create_port(spec, &info).await?
            }
        };
        super::failpoint::hit("create_endpoint:after_port");
        let plumbed = async {
            let mac = parse_mac(&port.mac_address).map_err(PluginError::Internal)?;
            let spec = PlugSpec { names: names.clone(), mac, mtu, iface_id: pid.clone() };
            self.plumber
                .plug(&spec)
                .await
                .map_err(|e| PluginError::Internal(format!("endpoint {eid}: host plumbing failed: {e}")))?;
            super::failpoint::hit("create_endpoint:after_plug");
            // One transaction: the endpoint is ready, and the port owns its address now (the
            // IPAM's temporary reservation goes).
            let pool = match (&subnet, &port.ip_address) {
                (Some(s), Some(ip)) => {
                    s.extra.get(POOL_ID_ATTR).and_then(Value::as_str).map(|p| (p.to_string(), ip.clone()))
                }
                _ => None,
            };
            let ikey = info.key();
            let mut keys = vec![ikey.clone()];
            keys.extend(pool.as_ref().map(|(p, _)| IpamReserve::key_for(p)));
            self.model
                .db()
                .transact(&keys, |t| {
                    if let Some(mut i) = t.get::<DockerInfo>(&ikey)?.map(|s| s.data)
                        && !i.state.is_ready()
                    {
                        i.state = EndpointState::Ready;
                        t.put(&i)?;
                    }
                    match &pool {
                        Some((p, ip)) => forget_in(t, p, ip),
                        None => Ok(()),
                    }
                })
                .await
                .map_err(store)?;
            Ok(())
        };
        if let Err(e) = plumbed.await {
            // Undo in reverse order (the plumber already removed its own partial work, but a
            // failure after it must take the veth and the OVS port too).
            if let Err(undo) = self.plumber.unplug(&names).await {
                tracing::warn!(port = %pid, error = %undo, "CreateEndpoint rollback: plumbing not removed");
            }
            if let Err(undo) = self.drop_port_and_info(&pid).await {
                tracing::warn!(port = %pid, error = %undo, "CreateEndpoint rollback: logical port not removed");
            }
            return Err(e);
        }
        let mut iface = EndpointInterface::default();
        if req.interface.mac_address.is_empty() {
            iface.mac_address = port.mac_address.clone();
        }
        if req.interface.address.is_empty()
            && let (Some(ip), Some(len)) = (&port.ip_address, subnet.as_ref().and_then(prefix_len))
        {
            iface.address = format!("{ip}/{len}");
        }
        let empty = iface == EndpointInterface::default();
        Ok(CreateEndpointResponse { interface: (!empty).then_some(iface) })
    }

    pub(crate) async fn delete_endpoint(&self, req: &EndpointRequest) -> Result<(), PluginError> {
        let pid = port_id(&req.endpoint_id);
        self.note_touched(&pid);
        let names = self.veth_names(&req.endpoint_id);
        let mut errors = Vec::new();
        // 1. The OVS port now (no traffic from here on), the veth pair in the background.
        let detached = match self.plumber.detach(&names).await {
            Ok(d) => d,
            Err(e) => {
                errors.push(format!("host plumbing: {e}"));
                None
            }
        };
        super::failpoint::hit("delete_endpoint:after_unplug");
        // 2. One transaction: the logical port goes (its address stays held in the IPAM pool
        //    until Docker's ReleaseAddress, which comes after this call), and the DockerInfo
        //    goes too, or records that the veth pair is still being removed.
        let hold = match self.model.logical_port(&pid).await {
            Ok(Some(port)) => match (&port.ip_address, port.subnet_id()) {
                (Some(ip), Some(sid)) => match self.model.subnet(&sid).await {
                    Ok(Some(subnet)) => subnet
                        .extra
                        .get(POOL_ID_ATTR)
                        .and_then(Value::as_str)
                        .map(|pool| (pool.to_string(), ip.clone())),
                    Ok(None) => None,
                    Err(e) => {
                        errors.push(model_err("subnet", e).to_string());
                        None
                    }
                },
                _ => None,
            },
            Ok(None) => None,
            Err(e) => {
                errors.push(model_err("logical port", e).to_string());
                None
            }
        };
        let ikey = DockerInfo::key_of(&[&pid]);
        let mut keys = vec![ikey.clone()];
        keys.extend(hold.as_ref().map(|(pool, _)| IpamReserve::key_for(pool)));
        let pending = detached.is_some();
        let also = |t: &mut WriteTxn<'_>| -> Result<(), TxnError> {
            if let Some((pool, ip)) = &hold {
                self.ipam.hold_in(t, pool, ip)?;
            }
            let current = t.get::<DockerInfo>(&ikey)?.map(|s| s.data);
            if pending {
                let mut info = current
                    .unwrap_or_else(|| self.new_info(&pid, &req.network_id, &names, EndpointState::Deleting));
                info.state = EndpointState::Deleting;
                info.docker_sandbox = None;
                t.put(&info)
            } else if current.is_some() {
                t.delete::<DockerInfo>(&ikey).map(drop)
            } else {
                Ok(())
            }
        };
        let r = match self.model.delete_logical_ports_and(vec![pid.clone()], &keys, &also).await {
            // Gone already (a retried call): the DockerInfo on its own.
            Err(ModelError::Field(f)) if f.kind == FieldErrorKind::NotFound => {
                self.model.db().transact(&keys, &also).await.map(drop).map_err(ModelError::Store)
            }
            r => r,
        };
        if let Err(e) = r {
            errors.push(model_err("logical port", e).to_string());
        }
        // 3. Once the veth pair is gone, the DockerInfo that recorded it.
        if let Some(done) = detached {
            self.after_reap(pid.clone(), done);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(PluginError::Internal(format!("endpoint {}: {}", req.endpoint_id, errors.join("; "))))
        }
    }

    pub(crate) async fn join(&self, req: &JoinRequest) -> Result<JoinResponse, PluginError> {
        super::failpoint::hit("join");
        let pid = port_id(&req.endpoint_id);
        let Some(_port) = self.model.logical_port(&pid).await.map_err(|e| model_err("logical port", e))?
        else {
            return Err(PluginError::NotFound(format!("endpoint {} not found", req.endpoint_id)));
        };
        let names = self.veth_names(&req.endpoint_id);
        self.set_sandbox(&pid, &req.network_id, &names, Some(&req.sandbox_key)).await?;
        let (_, sid) = self.network_ids(&req.network_id).await?;
        let subnet = self.model.subnet(&sid).await.map_err(|e| model_err("subnet", e))?;
        let mut resp = JoinResponse {
            interface_name: InterfaceName {
                src_name: names.container,
                dst_prefix: self.cfg.dst_prefix.clone(),
            },
            ..Default::default()
        };
        if let Some(s) = subnet {
            resp.gateway = s.gateway.clone();
            for (dest, via) in s.host_routes.iter().flatten() {
                resp.static_routes.push(if via == "0.0.0.0" {
                    StaticRoute { destination: dest.clone(), route_type: 1, next_hop: None }
                } else {
                    StaticRoute { destination: dest.clone(), route_type: 0, next_hop: Some(via.clone()) }
                });
            }
        }
        Ok(resp)
    }

    pub(crate) async fn leave(&self, req: &EndpointRequest) -> Result<(), PluginError> {
        let pid = port_id(&req.endpoint_id);
        let key = DockerInfo::key_of(&[&pid]);
        self.model
            .db()
            .transact(std::slice::from_ref(&key), |t| {
                if let Some(mut info) = t.get::<DockerInfo>(&key)?.map(|s| s.data)
                    && info.docker_sandbox.is_some()
                {
                    info.docker_sandbox = None;
                    t.put(&info)?;
                }
                Ok(())
            })
            .await
            .map_err(store)?;
        Ok(())
    }

    pub(crate) async fn endpoint_oper_info(
        &self,
        req: &EndpointRequest,
    ) -> Result<EndpointOperInfoResponse, PluginError> {
        let pid = port_id(&req.endpoint_id);
        let mut value = std::collections::BTreeMap::new();
        if let Some(p) = self.model.logical_port(&pid).await.map_err(|e| model_err("logical port", e))? {
            let names = self.veth_names(&req.endpoint_id);
            value.insert("logical_port".into(), json!(p.id));
            value.insert("mac_address".into(), json!(p.mac_address));
            if let Some(ip) = p.ip_address {
                value.insert("ip_address".into(), json!(ip));
            }
            value.insert("host_veth".into(), json!(names.host));
        }
        Ok(EndpointOperInfoResponse { value })
    }
}
