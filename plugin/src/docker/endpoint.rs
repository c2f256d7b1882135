//! Endpoints: `CreateEndpoint` makes the logical port `docker-<eid>` (Docker's address, Docker's
//! MAC or one derived from the address), records a [`DockerInfo`], and plumbs the veth pair
//! into OVS; `Join` hands Docker the container end with the gateway and static routes;
//! `DeleteEndpoint` undoes it all, best-effort and in order.
//!
//! A failure of the plumbing removes the logical port and the DockerInfo again (the plumbing
//! undoes its own steps, OVS record included). A retried `CreateEndpoint` reuses the logical
//! port it made before. `CreateEndpoint` answers a `MacAddress` only when Docker sent none, and an
//! `Address` only when Docker sent none (changing a given one is an error for Docker).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use vlcp::model::{FieldErrorKind, LogicalPort, LogicalPortSpec, ModelError, SubNet};
use vlcp::objectdb::{DataObject, TxnError};

use super::driver::{VlcpDriver, model_err};
use super::ipam::POOL_ID_ATTR;
use super::naming::{VethNames, derive_mac, format_mac, parse_mac, port_id};
use super::plumbing::PlugSpec;
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
}

impl DataObject for DockerInfo {
    const PREFIX: &'static str = "viperflow.dockerplugin.portinfo";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
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
                let mut info = t.get::<DockerInfo>(&key)?.map(|s| s.data).unwrap_or_else(|| DockerInfo {
                    id: pid.into(),
                    docker_port: names.container.clone(),
                    docker_host_port: names.host.clone(),
                    docker_network: nid.into(),
                    docker_sandbox: None,
                    docker_host: self.plumber.host_id().unwrap_or_default(),
                });
                info.docker_sandbox = sandbox.map(str::to_owned);
                t.put(&info)
            })
            .await
            .map_err(store)?;
        Ok(())
    }

    /// Creates the logical port; with `autoremoveports`, a stale `docker-*` port holding the
    /// address is removed (with its plumbing) and the creation retried once.
    async fn create_port(&self, spec: LogicalPortSpec) -> Result<LogicalPort, PluginError> {
        let err = match self.model.create_logical_ports(vec![spec.clone()]).await {
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
        let mut v =
            self.model.create_logical_ports(vec![spec]).await.map_err(|e| model_err("logical port", e))?;
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
        let port = match self.model.logical_port(&pid).await.map_err(|e| model_err("logical port", e))? {
            Some(p) => {
                let same_ip = ip.is_none_or(|ip| p.ip_address.as_deref() == Some(ip.to_string().as_str()));
                if p.network_id() != lognet || !same_ip {
                    return Err(PluginError::Conflict(format!(
                        "logical port {pid} exists with other settings"
                    )));
                }
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
                self.create_port(spec).await?
            }
        };
        super::failpoint::hit("create_endpoint:after_port");
        let names = self.veth_names(eid);
        let plumbed = async {
            self.write_info(DockerInfo {
                id: pid.clone(),
                docker_port: names.container.clone(),
                docker_host_port: names.host.clone(),
                docker_sandbox: None,
                docker_network: nid.into(),
                docker_host: self.plumber.host_id().unwrap_or_default(),
            })
            .await?;
            let mac = parse_mac(&port.mac_address).map_err(PluginError::Internal)?;
            let spec = PlugSpec { names: names.clone(), mac, mtu, iface_id: pid.clone() };
            self.plumber
                .plug(&spec)
                .await
                .map_err(|e| PluginError::Internal(format!("endpoint {eid}: host plumbing failed: {e}")))
        };
        if let Err(e) = plumbed.await {
            // Undo in reverse order; the plumber already removed its own partial work.
            if let Err(undo) = gone_ok(self.model.delete_logical_ports(vec![pid.clone()]).await) {
                tracing::warn!(port = %pid, error = %undo, "CreateEndpoint rollback: logical port not removed");
            }
            if let Err(undo) = self.delete_info(&pid).await {
                tracing::warn!(port = %pid, error = %undo, "CreateEndpoint rollback: DockerInfo not removed");
            }
            return Err(e);
        }
        super::failpoint::hit("create_endpoint:after_plug");
        // The port owns the address now; the IPAM's temporary reservation can go.
        if let (Some(s), Some(ip)) = (&subnet, &port.ip_address)
            && let Some(pool) = s.extra.get(POOL_ID_ATTR).and_then(Value::as_str)
            && let Err(e) = self.ipam.forget_address(pool, ip).await
        {
            tracing::warn!(pool, %ip, error = %e, "address reservation not dropped (it expires by itself)");
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
        let mut errors = Vec::new();
        // 1. Host plumbing (OVS port, then veth).
        if let Err(e) = self.plumber.unplug(&self.veth_names(&req.endpoint_id)).await {
            errors.push(format!("host plumbing: {e}"));
        }
        super::failpoint::hit("delete_endpoint:after_unplug");
        // 2. The logical port (frees its address and MAC). Its address stays reserved in the
        //    IPAM pool until Docker's ReleaseAddress, which comes after this call.
        if let Ok(Some(port)) = self.model.logical_port(&pid).await
            && let Some(ip) = &port.ip_address
            && let Some(sid) = port.subnet_id()
            && let Ok(Some(subnet)) = self.model.subnet(&sid).await
            && let Some(pool) = subnet.extra.get(POOL_ID_ATTR).and_then(Value::as_str)
            && let Err(e) = self.ipam.hold_address(pool, ip).await
        {
            errors.push(format!("address hold: {e}"));
        }
        if let Err(e) = gone_ok(self.model.delete_logical_ports(vec![pid.clone()]).await) {
            errors.push(model_err("logical port", e).to_string());
        }
        // 3. Its DockerInfo.
        if let Err(e) = self.delete_info(&pid).await {
            errors.push(format!("DockerInfo: {e}"));
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
