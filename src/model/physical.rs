//! Physical networks (the underlay: VLAN trunk, VXLAN overlay, native, host-local) and physical
//! ports (which OVS port, on which hosts and bridges, carries a physical network).
//!
//! Keys: `viperflow.physicalnetwork.<id>`, `viperflow.physicalnetworkmap.<id>` (its logical
//! networks, ports and VLAN/VNI allocations), `viperflow.physicalnetworkset`,
//! `viperflow.physicalport.<vhost>.<systemid>.<bridge>.<name>`, `viperflow.physicalportset`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::access::{self, Fail, Reader, check_distinct, touch};
use super::error::{FieldError, FieldErrorKind, ModelError};
use super::logical::LogicalNetwork;
use super::params::Params;
use super::rules::{self, TagRange, VLAN_MAX, VNI_MAX};
use super::{Model, singleton_set};
use crate::objectdb::{DataObject, ObjectSet, Ref, WeakRef};

/// How a physical network carries its logical networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkType {
    /// 802.1Q tags from `vlanrange`.
    Vlan,
    /// VXLAN VNIs from `vnirange`.
    Vxlan,
    /// Untagged; at most one logical network.
    Native,
    /// Same-host only; unlimited logical networks, no physical ports.
    Local,
}

impl NetworkType {
    fn parse(s: &str) -> Result<Self, FieldError> {
        match s {
            "vlan" => Ok(NetworkType::Vlan),
            "vxlan" => Ok(NetworkType::Vxlan),
            "native" => Ok(NetworkType::Native),
            "local" => Ok(NetworkType::Local),
            other => Err(FieldError::invalid(
                "type",
                format!("unknown network type {other:?}; expected vlan, vxlan, native or local"),
            )),
        }
    }

    /// The tag attribute a logical network of this type carries (`vlanid` or `vni`).
    pub fn tag_field(self) -> Option<&'static str> {
        match self {
            NetworkType::Vlan => Some("vlanid"),
            NetworkType::Vxlan => Some("vni"),
            NetworkType::Native | NetworkType::Local => None,
        }
    }
}

/// `viperflow.physicalnetwork.<id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhysicalNetwork {
    /// The id.
    pub id: String,
    /// The network type.
    #[serde(rename = "type")]
    pub kind: NetworkType,
    /// VLAN tags usable by logical networks (type vlan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlanrange: Option<Vec<TagRange>>,
    /// VNIs usable by logical networks (type vxlan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vnirange: Option<Vec<TagRange>>,
    /// Extra attributes given at creation or update.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DataObject for PhysicalNetwork {
    const PREFIX: &'static str = "viperflow.physicalnetwork";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

impl PhysicalNetwork {
    /// The tag ranges of this network's type (`vlanrange` or `vnirange`).
    pub fn tag_ranges(&self) -> &[TagRange] {
        match self.kind {
            NetworkType::Vlan => self.vlanrange.as_deref().unwrap_or(&[]),
            NetworkType::Vxlan => self.vnirange.as_deref().unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// `viperflow.physicalnetworkmap.<id>`: what belongs to a physical network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhysicalNetworkMap {
    /// Same id as the network.
    pub id: String,
    /// The network.
    pub network: WeakRef<PhysicalNetwork>,
    /// Its logical networks.
    pub logicnetworks: ObjectSet<LogicalNetwork>,
    /// Its physical ports.
    pub ports: ObjectSet<PhysicalPort>,
    /// `str(vlanid or vni)` → the logical network holding it.
    pub network_allocation: BTreeMap<String, WeakRef<LogicalNetwork>>,
}

impl DataObject for PhysicalNetworkMap {
    const PREFIX: &'static str = "viperflow.physicalnetworkmap";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

singleton_set!(PhysicalNetworkSet, "viperflow.physicalnetworkset", PhysicalNetwork);

/// `viperflow.physicalport.<vhost>.<systemid>.<bridge>.<name>`: OVS ports named `name` on
/// matching hosts (`systemid`) and bridges carry `physicalnetwork`; `%` matches any.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhysicalPort {
    /// OpenFlow vhost ('' by default).
    pub vhost: String,
    /// OVS system-id, or `%`.
    pub systemid: String,
    /// Bridge name, or `%`.
    pub bridge: String,
    /// The OVS port name.
    pub name: String,
    /// The physical network.
    pub physicalnetwork: Ref<PhysicalNetwork>,
    /// Extra attributes (driver options).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DataObject for PhysicalPort {
    const PREFIX: &'static str = "viperflow.physicalport";
    fn key_parts(&self) -> Vec<String> {
        vec![self.vhost.clone(), self.systemid.clone(), self.bridge.clone(), self.name.clone()]
    }
}

impl PhysicalPort {
    /// Whether this configuration applies to OVS port `name` on bridge `bridge` of host
    /// `systemid` under OpenFlow vhost `vhost`.
    pub fn matches(&self, vhost: &str, systemid: &str, bridge: &str, name: &str) -> bool {
        self.vhost == vhost
            && self.name == name
            && rules::wildcard_matches(&self.systemid, systemid)
            && rules::wildcard_matches(&self.bridge, bridge)
    }
}

singleton_set!(PhysicalPortSet, "viperflow.physicalportset", PhysicalPort);

/// Parameters of `createphysicalnetwork`.
#[derive(Clone, Debug, PartialEq)]
pub struct PhysicalNetworkSpec {
    /// The id; a UUID is generated when `None`.
    pub id: Option<String>,
    /// The type (`vlan` by default).
    pub kind: NetworkType,
    /// Required for vlan.
    pub vlanrange: Option<Vec<TagRange>>,
    /// Required for vxlan.
    pub vnirange: Option<Vec<TagRange>>,
    /// Extra attributes.
    pub extra: Map<String, Value>,
}

const PHYSNET_RESERVED: &[&str] = &["logicnetworks", "ports", "network_allocation"];
const PHYSPORT_RESERVED: &[&str] = &[];

impl PhysicalNetworkSpec {
    /// Reads the parameters of `createphysicalnetwork`.
    pub fn from_params(mut p: Params) -> Result<Self, FieldError> {
        let id = p.id("id")?;
        let kind = NetworkType::parse(&p.string("type")?.unwrap_or_else(|| "vlan".into()))?;
        let vlanrange = p.ranges("vlanrange", 1, VLAN_MAX)?;
        let vnirange = p.ranges("vnirange", 1, VNI_MAX)?;
        let spec = PhysicalNetworkSpec { id, kind, vlanrange, vnirange, extra: p.extras(PHYSNET_RESERVED)? };
        spec.check_ranges_fit_type()?;
        Ok(spec)
    }

    fn check_ranges_fit_type(&self) -> Result<(), FieldError> {
        check_ranges_fit(self.kind, &self.vlanrange, &self.vnirange)
    }
}

fn check_ranges_fit(
    kind: NetworkType,
    vlanrange: &Option<Vec<TagRange>>,
    vnirange: &Option<Vec<TagRange>>,
) -> Result<(), FieldError> {
    match kind {
        NetworkType::Vlan if vlanrange.is_none() => {
            Err(FieldError::invalid("vlanrange", "is required for a vlan network"))
        }
        NetworkType::Vxlan if vnirange.is_none() => {
            Err(FieldError::invalid("vnirange", "is required for a vxlan network"))
        }
        _ if kind != NetworkType::Vlan && vlanrange.is_some() => {
            Err(FieldError::invalid("vlanrange", "is only for vlan networks"))
        }
        _ if kind != NetworkType::Vxlan && vnirange.is_some() => {
            Err(FieldError::invalid("vnirange", "is only for vxlan networks"))
        }
        _ => Ok(()),
    }
}

/// Parameters of `createphysicalport`.
#[derive(Clone, Debug, PartialEq)]
pub struct PhysicalPortSpec {
    /// The physical network id.
    pub physicalnetwork: String,
    /// The OVS port name.
    pub name: String,
    /// OpenFlow vhost ('' by default).
    pub vhost: String,
    /// OVS system-id (`%` by default: every host).
    pub systemid: String,
    /// Bridge (`%` by default: every bridge).
    pub bridge: String,
    /// Extra attributes.
    pub extra: Map<String, Value>,
}

/// The identity of a physical port: `(vhost, systemid, bridge, name)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhysicalPortId {
    /// OpenFlow vhost.
    pub vhost: String,
    /// OVS system-id or `%`.
    pub systemid: String,
    /// Bridge or `%`.
    pub bridge: String,
    /// Port name.
    pub name: String,
}

impl PhysicalPortId {
    /// Reads `name`, `vhost` (''), `systemid` (`%`) and `bridge` (`%`).
    pub fn from_params(p: &mut Params) -> Result<Self, FieldError> {
        let name = p.required_id("name")?;
        let vhost = p.string("vhost")?.unwrap_or_default();
        let systemid = p.string("systemid")?.unwrap_or_else(|| "%".into());
        let bridge = p.string("bridge")?.unwrap_or_else(|| "%".into());
        Ok(PhysicalPortId { vhost, systemid, bridge, name })
    }

    /// The port's key.
    pub fn key(&self) -> String {
        PhysicalPort::key_of(&[&self.vhost, &self.systemid, &self.bridge, &self.name])
    }

    fn label(&self) -> String {
        format!("{}/{}/{}/{}", self.vhost, self.systemid, self.bridge, self.name)
    }
}

impl PhysicalPortSpec {
    /// Reads the parameters of `createphysicalport`.
    pub fn from_params(mut p: Params) -> Result<Self, FieldError> {
        let physicalnetwork = p.required_id("physicalnetwork")?;
        let PhysicalPortId { vhost, systemid, bridge, name } = PhysicalPortId::from_params(&mut p)?;
        Ok(PhysicalPortSpec {
            physicalnetwork,
            name,
            vhost,
            systemid,
            bridge,
            extra: p.extras(PHYSPORT_RESERVED)?,
        })
    }
}

/// An update of a physical network: the target id and the parameters to change.
#[derive(Clone, Debug)]
pub struct PhysicalNetworkPatch {
    id: String,
    vlanrange: Option<Vec<TagRange>>,
    vnirange: Option<Vec<TagRange>>,
    kind: Option<NetworkType>,
    extra: Map<String, Value>,
}

impl PhysicalNetworkPatch {
    /// Reads the parameters of `updatephysicalnetwork` (`id` plus what to change).
    pub fn from_params(mut p: Params) -> Result<Self, FieldError> {
        let id = p.required_id("id")?;
        let kind = p.string("type")?.map(|t| NetworkType::parse(&t)).transpose()?;
        let vlanrange = p.ranges("vlanrange", 1, VLAN_MAX)?;
        let vnirange = p.ranges("vnirange", 1, VNI_MAX)?;
        Ok(PhysicalNetworkPatch { id, vlanrange, vnirange, kind, extra: p.extras(PHYSNET_RESERVED)? })
    }
}

/// An update of a physical port's extra attributes.
#[derive(Clone, Debug)]
pub struct PhysicalPortPatch {
    id: PhysicalPortId,
    extra: Map<String, Value>,
}

impl PhysicalPortPatch {
    /// Reads the parameters of `updatephysicalport` (identity plus extra attributes).
    pub fn from_params(mut p: Params) -> Result<Self, FieldError> {
        let id = PhysicalPortId::from_params(&mut p)?;
        if p.has("physicalnetwork") {
            return Err(FieldError::invalid(
                "physicalnetwork",
                "cannot be changed; delete and re-create the port",
            ));
        }
        Ok(PhysicalPortPatch { id, extra: p.extras(PHYSPORT_RESERVED)? })
    }
}

/// Merges extra attributes: a null value removes the attribute.
pub(crate) fn merge_extra(into: &mut Map<String, Value>, changes: &Map<String, Value>) {
    for (k, v) in changes {
        if v.is_null() {
            into.remove(k);
        } else {
            into.insert(k.clone(), v.clone());
        }
    }
}

fn map_key(id: &str) -> String {
    PhysicalNetworkMap::key_of(&[id])
}

fn net_key(id: &str) -> String {
    PhysicalNetwork::key_of(&[id])
}

impl Model {
    /// `createphysicalnetworks`: creates all networks in one transaction.
    pub async fn create_physical_networks(
        &self,
        specs: Vec<PhysicalNetworkSpec>,
    ) -> Result<Vec<PhysicalNetwork>, ModelError> {
        let specs: Vec<PhysicalNetworkSpec> = specs
            .into_iter()
            .map(|mut s| {
                s.id.get_or_insert_with(rules::new_uuid);
                s
            })
            .collect();
        check_distinct(specs.iter().map(|s| s.id.as_deref().unwrap_or_default()))?;
        for (i, s) in specs.iter().enumerate() {
            s.check_ranges_fit_type().map_err(|e| e.at(i))?;
        }
        let set_key = PhysicalNetworkSet::KEY.to_string();
        access::write(&self.db, std::slice::from_ref(&set_key), |t| {
            let ids: Vec<&str> = specs.iter().map(|s| s.id.as_deref().unwrap_or_default()).collect();
            touch(t, ids.iter().map(|id| net_key(id)).chain([set_key.clone()]))?;
            let mut set: PhysicalNetworkSet = t.obj(&set_key)?.unwrap_or_default();
            let mut out = Vec::new();
            for (i, s) in specs.iter().enumerate() {
                let id = ids[i];
                if t.present(&net_key(id))? {
                    return Err(FieldError::exists("id", "physical network", id).at(i).into());
                }
                let net = PhysicalNetwork {
                    id: id.to_string(),
                    kind: s.kind,
                    vlanrange: s.vlanrange.clone(),
                    vnirange: s.vnirange.clone(),
                    extra: s.extra.clone(),
                };
                let map = PhysicalNetworkMap {
                    id: id.to_string(),
                    network: WeakRef::to(&net),
                    logicnetworks: ObjectSet::new(),
                    ports: ObjectSet::new(),
                    network_allocation: BTreeMap::new(),
                };
                t.put(&net)?;
                t.put(&map)?;
                set.set.insert(WeakRef::to(&net));
                out.push(net);
            }
            t.put(&set)?;
            Ok(out)
        })
        .await
    }

    /// `updatephysicalnetworks`: changes ranges or extra attributes; every VLAN id/VNI already
    /// allocated must stay inside the new ranges. The type cannot change.
    pub async fn update_physical_networks(
        &self,
        patches: Vec<PhysicalNetworkPatch>,
    ) -> Result<Vec<PhysicalNetwork>, ModelError> {
        check_distinct(patches.iter().map(|p| p.id.as_str()))?;
        access::write(&self.db, &[], |t| {
            touch(t, patches.iter().flat_map(|p| [net_key(&p.id), map_key(&p.id)]))?;
            let mut out = Vec::new();
            for (i, p) in patches.iter().enumerate() {
                let Some(mut net) = t.obj::<PhysicalNetwork>(&net_key(&p.id))? else {
                    return Err(FieldError::not_found("id", "physical network", &p.id).at(i).into());
                };
                if p.kind.is_some_and(|k| k != net.kind) {
                    return Err(FieldError::invalid("type", "cannot be changed").at(i).into());
                }
                if p.vlanrange.is_some() {
                    net.vlanrange = p.vlanrange.clone();
                }
                if p.vnirange.is_some() {
                    net.vnirange = p.vnirange.clone();
                }
                check_ranges_fit(net.kind, &net.vlanrange, &net.vnirange).map_err(|e| e.at(i))?;
                let map: PhysicalNetworkMap = t.obj(&map_key(&p.id))?.ok_or_else(|| missing_map(&p.id))?;
                let field = if net.kind == NetworkType::Vlan { "vlanrange" } else { "vnirange" };
                for tag in map.network_allocation.keys() {
                    let inside = tag.parse::<u32>().is_ok_and(|v| rules::in_ranges(net.tag_ranges(), v));
                    if !inside {
                        return Err(FieldError::new(
                            FieldErrorKind::InUse,
                            field,
                            format!("{tag} is allocated to a logical network but outside the new ranges"),
                        )
                        .at(i)
                        .into());
                    }
                }
                merge_extra(&mut net.extra, &p.extra);
                t.put(&net)?;
                out.push(net);
            }
            Ok(out)
        })
        .await
    }

    /// `deletephysicalnetworks`: each network must have no logical networks and no ports.
    pub async fn delete_physical_networks(&self, ids: Vec<String>) -> Result<(), ModelError> {
        check_distinct(ids.iter().map(String::as_str))?;
        let set_key = PhysicalNetworkSet::KEY.to_string();
        access::write(&self.db, std::slice::from_ref(&set_key), |t| {
            touch(t, ids.iter().flat_map(|id| [net_key(id), map_key(id)]).chain([set_key.clone()]))?;
            let mut set: PhysicalNetworkSet = t.obj(&set_key)?.unwrap_or_default();
            for (i, id) in ids.iter().enumerate() {
                if !t.present(&net_key(id))? {
                    return Err(FieldError::not_found("id", "physical network", id).at(i).into());
                }
                if let Some(map) = t.obj::<PhysicalNetworkMap>(&map_key(id))? {
                    let in_use = |what: &str, n: usize| {
                        Fail::Field(
                            FieldError::new(
                                FieldErrorKind::InUse,
                                "id",
                                format!("physical network {id:?} still has {n} {what}; delete them first"),
                            )
                            .at(i),
                        )
                    };
                    if !map.logicnetworks.is_empty() {
                        return Err(in_use("logical network(s)", map.logicnetworks.len()));
                    }
                    if !map.ports.is_empty() {
                        return Err(in_use("physical port(s)", map.ports.len()));
                    }
                }
                t.delete::<PhysicalNetwork>(&net_key(id))?;
                t.delete::<PhysicalNetworkMap>(&map_key(id))?;
                set.set.remove_key(&net_key(id));
            }
            t.put(&set)?;
            Ok(())
        })
        .await
    }

    /// `listphysicalnetworks`: all (or the one with `id`), filtered by attribute equality.
    pub async fn list_physical_networks(
        &self,
        id: Option<String>,
        filters: &[(String, Value)],
    ) -> Result<Vec<Value>, ModelError> {
        access::list(&self.db, PhysicalNetworkSet::KEY, id.map(|i| net_key(&i)), filters).await
    }

    /// One physical network.
    pub async fn physical_network(&self, id: &str) -> Result<Option<PhysicalNetwork>, ModelError> {
        access::get(&self.db, net_key(id)).await
    }

    /// `createphysicalports`: creates all ports in one transaction.
    pub async fn create_physical_ports(
        &self,
        specs: Vec<PhysicalPortSpec>,
    ) -> Result<Vec<PhysicalPort>, ModelError> {
        let set_key = PhysicalPortSet::KEY.to_string();
        let port_key =
            |s: &PhysicalPortSpec| PhysicalPort::key_of(&[&s.vhost, &s.systemid, &s.bridge, &s.name]);
        let keys: Vec<String> = specs.iter().map(port_key).collect();
        check_distinct(keys.iter().map(String::as_str))?;
        access::write(&self.db, std::slice::from_ref(&set_key), |t| {
            touch(
                t,
                specs
                    .iter()
                    .flat_map(|s| [net_key(&s.physicalnetwork), map_key(&s.physicalnetwork)])
                    .chain(keys.iter().cloned())
                    .chain([set_key.clone()]),
            )?;
            let mut set: PhysicalPortSet = t.obj(&set_key)?.unwrap_or_default();
            let mut out = Vec::new();
            for (i, s) in specs.iter().enumerate() {
                let Some(net) = t.obj::<PhysicalNetwork>(&net_key(&s.physicalnetwork))? else {
                    return Err(FieldError::not_found(
                        "physicalnetwork",
                        "physical network",
                        &s.physicalnetwork,
                    )
                    .at(i)
                    .into());
                };
                if net.kind == NetworkType::Local {
                    return Err(FieldError::invalid(
                        "physicalnetwork",
                        format!("{:?} is a local network, which has no physical ports", net.id),
                    )
                    .at(i)
                    .into());
                }
                if t.present(&keys[i])? {
                    let label = format!("{}/{}/{}/{}", s.vhost, s.systemid, s.bridge, s.name);
                    return Err(FieldError::exists("name", "physical port", &label).at(i).into());
                }
                let port = PhysicalPort {
                    vhost: s.vhost.clone(),
                    systemid: s.systemid.clone(),
                    bridge: s.bridge.clone(),
                    name: s.name.clone(),
                    physicalnetwork: Ref::to(&net),
                    extra: s.extra.clone(),
                };
                let mut map: PhysicalNetworkMap =
                    t.obj(&map_key(&net.id))?.ok_or_else(|| missing_map(&net.id))?;
                map.ports.insert(WeakRef::to(&port));
                t.put(&map)?;
                t.put(&port)?;
                set.set.insert(WeakRef::to(&port));
                out.push(port);
            }
            t.put(&set)?;
            Ok(out)
        })
        .await
    }

    /// `updatephysicalports`: changes extra attributes.
    pub async fn update_physical_ports(
        &self,
        patches: Vec<PhysicalPortPatch>,
    ) -> Result<Vec<PhysicalPort>, ModelError> {
        access::write(&self.db, &[], |t| {
            touch(t, patches.iter().map(|p| p.id.key()))?;
            let mut out = Vec::new();
            for (i, p) in patches.iter().enumerate() {
                let Some(mut port) = t.obj::<PhysicalPort>(&p.id.key())? else {
                    return Err(FieldError::not_found("name", "physical port", &p.id.label()).at(i).into());
                };
                merge_extra(&mut port.extra, &p.extra);
                t.put(&port)?;
                out.push(port);
            }
            Ok(out)
        })
        .await
    }

    /// `deletephysicalports`.
    pub async fn delete_physical_ports(&self, ids: Vec<PhysicalPortId>) -> Result<(), ModelError> {
        let set_key = PhysicalPortSet::KEY.to_string();
        check_distinct(ids.iter().map(|i| i.key()).collect::<Vec<_>>().iter().map(String::as_str))?;
        access::write(&self.db, std::slice::from_ref(&set_key), |t| {
            touch(t, ids.iter().map(PhysicalPortId::key).chain([set_key.clone()]))?;
            let mut set: PhysicalPortSet = t.obj(&set_key)?.unwrap_or_default();
            let mut ports = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                let Some(port) = t.obj::<PhysicalPort>(&id.key())? else {
                    return Err(FieldError::not_found("name", "physical port", &id.label()).at(i).into());
                };
                ports.push(port);
            }
            touch(t, ports.iter().map(|p| map_key(&physnet_id(&p.physicalnetwork))))?;
            for p in &ports {
                let mk = map_key(&physnet_id(&p.physicalnetwork));
                if let Some(mut map) = t.obj::<PhysicalNetworkMap>(&mk)? {
                    map.ports.remove_key(&p.key());
                    t.put(&map)?;
                }
                t.delete::<PhysicalPort>(&p.key())?;
                set.set.remove_key(&p.key());
            }
            t.put(&set)?;
            Ok(())
        })
        .await
    }

    /// `listphysicalports`: filters on `physicalnetwork` (an id) and any attribute; `name`,
    /// `vhost`, `systemid`, `bridge` filter too when given.
    pub async fn list_physical_ports(
        &self,
        physicalnetwork: Option<String>,
        filters: &[(String, Value)],
    ) -> Result<Vec<Value>, ModelError> {
        let mut f = filters.to_vec();
        if let Some(n) = physicalnetwork {
            f.push(("physicalnetwork".into(), Value::String(net_key(&n))));
        }
        access::list(&self.db, PhysicalPortSet::KEY, None, &f).await
    }
}

/// The id of the physical network a reference points at.
pub(crate) fn physnet_id(r: &Ref<PhysicalNetwork>) -> String {
    crate::objectdb::object::parse_object_key(PhysicalNetwork::PREFIX, r.key())
        .and_then(|mut v| v.pop())
        .unwrap_or_default()
}

pub(crate) fn missing_map(id: &str) -> Fail {
    Fail::Txn(crate::objectdb::TxnError::Decode {
        key: map_key(id),
        reason: "the network exists but its map object is missing".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards_match_any_host_and_bridge() {
        let p = PhysicalPort {
            vhost: String::new(),
            systemid: "%".into(),
            bridge: "%".into(),
            name: "vxlan0".into(),
            physicalnetwork: Ref::from_key("viperflow.physicalnetwork.vxlan"),
            extra: Map::new(),
        };
        assert!(p.matches("", "host-1", "br0", "vxlan0"));
        assert!(!p.matches("", "host-1", "br0", "vxlan1"));
        assert!(!p.matches("other", "host-1", "br0", "vxlan0"));
        let q = PhysicalPort { bridge: "dockerbr0".into(), ..p };
        assert!(q.matches("", "h", "dockerbr0", "vxlan0") && !q.matches("", "h", "br0", "vxlan0"));
        assert_eq!(q.key(), "viperflow.physicalport..%.dockerbr0.vxlan0");
    }

    #[test]
    fn spec_requires_the_range_of_its_type() {
        let spec = |v: Value| PhysicalNetworkSpec::from_params(Params::new(v.as_object().unwrap().clone()));
        let s = spec(json!({"type": "vxlan", "vnirange": [[10000, 20000]], "id": "vxlan"})).unwrap();
        assert_eq!((s.kind, s.vnirange), (NetworkType::Vxlan, Some(vec![(10000, 20000)])));
        assert_eq!(spec(json!({"type": "vxlan"})).unwrap_err().field, "vnirange");
        assert_eq!(spec(json!({})).unwrap_err().field, "vlanrange", "vlan is the default type");
        assert_eq!(spec(json!({"type": "vlan", "vlanrange": [[1, 4095]]})).unwrap_err().field, "vlanrange");
        assert_eq!(spec(json!({"type": "local", "vnirange": [[1, 2]]})).unwrap_err().field, "vnirange");
        assert_eq!(spec(json!({"type": "gre"})).unwrap_err().field, "type");
        assert!(spec(json!({"type": "native", "color": "blue"})).unwrap().extra.contains_key("color"));
    }

    #[test]
    fn stored_layout_is_flat_with_type_and_ranges() {
        let n = PhysicalNetwork {
            id: "vxlan".into(),
            kind: NetworkType::Vxlan,
            vlanrange: None,
            vnirange: Some(vec![(10000, 20000)]),
            extra: Map::new(),
        };
        assert_eq!(
            serde_json::to_value(&n).unwrap(),
            json!({"id": "vxlan", "type": "vxlan", "vnirange": [[10000, 20000]]})
        );
        assert_eq!(n.key(), "viperflow.physicalnetwork.vxlan");
    }
}
