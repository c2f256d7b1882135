//! Logical networks: L2 broadcast domains carried by a physical network, each holding a VLAN id
//! or VNI allocated from the physical network's ranges (given and checked, or first free).
//!
//! Keys: `viperflow.logicnetwork.<id>`, `viperflow.logicnetworkmap.<id>` (its ports and
//! subnets), `viperflow.logicalnetworkset`.

use std::collections::{BTreeSet, HashMap};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::access::{self, Fail, Reader, check_distinct, touch};
use super::error::{FieldError, FieldErrorKind, ModelError};
use super::params::Params;
use super::physical::{
    NetworkType, PhysicalNetwork, PhysicalNetworkMap, merge_extra, missing_map, physnet_id,
};
use super::port::LogicalPort;
use super::rules::{self, VLAN_MAX, VNI_MAX};
use super::subnet::SubNet;
use super::{Model, singleton_set};
use crate::objectdb::{DataObject, ObjectSet, Ref, WeakRef};

/// `viperflow.logicnetwork.<id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogicalNetwork {
    /// The id.
    pub id: String,
    /// The carrying physical network.
    pub physicalnetwork: Ref<PhysicalNetwork>,
    /// VLAN tag (vlan physical networks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlanid: Option<u32>,
    /// VXLAN network id (vxlan physical networks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
    /// MTU announced by DHCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// DHCP: DNS servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_nameservers: Option<Vec<String>>,
    /// DHCP: domain name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    /// DHCP: NTP servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ntp_servers: Option<Vec<String>>,
    /// DHCP: lease time in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_time: Option<u32>,
    /// DHCP: extra options, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_dhcp_options: Option<Value>,
    /// Extra attributes.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DataObject for LogicalNetwork {
    const PREFIX: &'static str = "viperflow.logicnetwork";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

impl LogicalNetwork {
    /// The id of the physical network.
    pub fn physicalnetwork_id(&self) -> String {
        physnet_id(&self.physicalnetwork)
    }
}

/// `viperflow.logicnetworkmap.<id>`: a logical network's ports and subnets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogicalNetworkMap {
    /// Same id as the network.
    pub id: String,
    /// The network.
    pub network: Ref<LogicalNetwork>,
    /// Its logical ports.
    pub ports: ObjectSet<LogicalPort>,
    /// Its subnets.
    pub subnets: ObjectSet<SubNet>,
}

impl DataObject for LogicalNetworkMap {
    const PREFIX: &'static str = "viperflow.logicnetworkmap";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

singleton_set!(LogicalNetworkSet, "viperflow.logicalnetworkset", LogicalNetwork);

/// Parameters of `createlogicalnetwork`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LogicalNetworkSpec {
    /// The id; a UUID when `None`.
    pub id: Option<String>,
    /// The physical network id.
    pub physicalnetwork: String,
    /// Explicit VNI (vxlan); first free when `None`.
    pub vni: Option<u32>,
    /// Explicit VLAN id (vlan); first free when `None`.
    pub vlanid: Option<u32>,
    /// `mtu`, DHCP fields (`dns_nameservers`, `domain_name`, `ntp_servers`, `lease_time`,
    /// `extra_dhcp_options`) and extra attributes; checked by the operation.
    pub attrs: Map<String, Value>,
}

const LOGNET_RESERVED: &[&str] = &["id", "physicalnetwork", "vni", "vlanid"];

/// Reads `mtu` and the DHCP fields into normalized JSON (null = unset), for networks and subnets.
pub(crate) fn read_dhcp_attrs(p: &mut Params, out: &mut Map<String, Value>) -> Result<(), FieldError> {
    if p.has("mtu") {
        out.insert("mtu".into(), p.uint("mtu", 68, 65535)?.into());
    }
    for name in ["dns_nameservers", "ntp_servers"] {
        if p.has(name) {
            out.insert(name.into(), p.ipv4_list(name)?.into());
        }
    }
    if p.has("domain_name") {
        out.insert("domain_name".into(), p.string("domain_name")?.into());
    }
    if p.has("lease_time") {
        out.insert("lease_time".into(), p.uint("lease_time", 0, u32::MAX)?.into());
    }
    if p.has("extra_dhcp_options") {
        out.insert("extra_dhcp_options".into(), p.json("extra_dhcp_options").unwrap_or(Value::Null));
    }
    Ok(())
}

fn network_attrs(attrs: &Map<String, Value>) -> Result<Map<String, Value>, FieldError> {
    let mut p = Params::new(attrs.clone());
    let mut out = Map::new();
    read_dhcp_attrs(&mut p, &mut out)?;
    out.extend(p.extras(LOGNET_RESERVED)?);
    Ok(out)
}

/// Applies checked attributes to an object through its JSON form (null removes an attribute).
pub(crate) fn apply_attrs<T: Serialize + DeserializeOwned>(
    obj: &T,
    attrs: &Map<String, Value>,
) -> Result<T, Fail> {
    let key_err = |e: serde_json::Error| {
        Fail::Field(FieldError::invalid("attributes", format!("do not fit the object: {e}")))
    };
    let Value::Object(mut m) = serde_json::to_value(obj).map_err(key_err)? else {
        return Err(Fail::Field(FieldError::invalid("attributes", "object is not a JSON object")));
    };
    merge_extra(&mut m, attrs);
    serde_json::from_value(Value::Object(m)).map_err(key_err)
}

impl LogicalNetworkSpec {
    /// Reads the parameters of `createlogicalnetwork`.
    pub fn from_params(mut p: Params) -> Result<Self, FieldError> {
        let id = p.id("id")?;
        let physicalnetwork = p.required_id("physicalnetwork")?;
        let vni = p.uint("vni", 1, VNI_MAX)?;
        let vlanid = p.uint("vlanid", 1, VLAN_MAX)?;
        let attrs = network_attrs(&p.extras(&[])?)?;
        Ok(LogicalNetworkSpec { id, physicalnetwork, vni, vlanid, attrs })
    }
}

/// An update of a logical network: its id, a new VNI/VLAN id, and attributes to change.
#[derive(Clone, Debug, Default)]
pub struct LogicalNetworkPatch {
    /// The network id.
    pub id: String,
    /// Move to this VNI.
    pub vni: Option<u32>,
    /// Move to this VLAN id.
    pub vlanid: Option<u32>,
    /// Attributes to set (null removes).
    pub attrs: Map<String, Value>,
}

impl LogicalNetworkPatch {
    /// Reads the parameters of `updatelogicalnetwork`.
    pub fn from_params(mut p: Params) -> Result<Self, FieldError> {
        let id = p.required_id("id")?;
        if p.has("physicalnetwork") {
            return Err(FieldError::invalid("physicalnetwork", "cannot be changed"));
        }
        let vni = p.uint("vni", 1, VNI_MAX)?;
        let vlanid = p.uint("vlanid", 1, VLAN_MAX)?;
        let attrs = network_attrs(&p.extras(&[])?)?;
        Ok(LogicalNetworkPatch { id, vni, vlanid, attrs })
    }
}

pub(crate) fn net_key(id: &str) -> String {
    LogicalNetwork::key_of(&[id])
}

pub(crate) fn map_key(id: &str) -> String {
    LogicalNetworkMap::key_of(&[id])
}

/// The id of the logical network a reference points at.
pub(crate) fn lognet_id(key: &str) -> String {
    crate::objectdb::object::parse_object_key(LogicalNetwork::PREFIX, key)
        .and_then(|mut v| v.pop())
        .unwrap_or_default()
}

/// Picks the tag of a new logical network on `phys` (explicit `want`, checked; or first free)
/// and records it in `map`. Returns the field name and value to set, if the type has tags.
fn allocate_tag(
    phys: &PhysicalNetwork,
    map: &mut PhysicalNetworkMap,
    net_id: &str,
    vni: Option<u32>,
    vlanid: Option<u32>,
) -> Result<Option<(&'static str, u32)>, FieldError> {
    let (given_field, want) = match (vni, vlanid) {
        (Some(v), None) => ("vni", Some(v)),
        (None, Some(v)) => ("vlanid", Some(v)),
        (None, None) => ("", None),
        (Some(_), Some(_)) => return Err(FieldError::invalid("vni", "give vni or vlanid, not both")),
    };
    let Some(field) = phys.kind.tag_field() else {
        if want.is_some() {
            return Err(FieldError::invalid(
                given_field,
                format!("physical network {:?} is {:?} and takes no tag", phys.id, phys.kind),
            ));
        }
        if phys.kind == NetworkType::Native
            && let Some(other) = map.logicnetworks.iter().next()
        {
            return Err(FieldError::new(
                FieldErrorKind::Conflict,
                "physicalnetwork",
                format!("native network {:?} already carries {}", phys.id, other.key()),
            ));
        }
        return Ok(None);
    };
    if want.is_some() && given_field != field {
        return Err(FieldError::invalid(
            given_field,
            format!("physical network {:?} is {:?}; give {field} instead", phys.id, phys.kind),
        ));
    }
    let tag = match want {
        Some(v) => {
            if !rules::in_ranges(phys.tag_ranges(), v) {
                return Err(FieldError::invalid(
                    field,
                    format!(
                        "{v} is not in the ranges {:?} of physical network {:?}",
                        phys.tag_ranges(),
                        phys.id
                    ),
                ));
            }
            if let Some(holder) = map.network_allocation.get(&v.to_string()) {
                return Err(FieldError::new(
                    FieldErrorKind::Conflict,
                    field,
                    format!("{v} is already allocated to {}", holder.key()),
                ));
            }
            v
        }
        None => {
            let taken: BTreeSet<u32> = map.network_allocation.keys().filter_map(|k| k.parse().ok()).collect();
            rules::first_free(phys.tag_ranges(), &taken).ok_or_else(|| {
                FieldError::new(
                    FieldErrorKind::Exhausted,
                    field,
                    format!("no free {field} left in physical network {:?}", phys.id),
                )
            })?
        }
    };
    map.network_allocation.insert(tag.to_string(), WeakRef::from_key(net_key(net_id)));
    Ok(Some((field, tag)))
}

impl Model {
    /// `createlogicalnetworks`: one transaction; explicit VNIs/VLAN ids are taken before the
    /// automatic ones; results come back in request order.
    pub async fn create_logical_networks(
        &self,
        specs: Vec<LogicalNetworkSpec>,
    ) -> Result<Vec<LogicalNetwork>, ModelError> {
        let mut specs = specs;
        for (i, s) in specs.iter_mut().enumerate() {
            s.id.get_or_insert_with(rules::new_uuid);
            s.attrs = network_attrs(&s.attrs).map_err(|e| e.at(i))?;
        }
        check_distinct(specs.iter().map(|s| s.id.as_deref().unwrap_or_default()))?;
        let set_key = LogicalNetworkSet::KEY.to_string();
        let mut order: Vec<usize> = (0..specs.len()).collect();
        order.sort_by_key(|&i| specs[i].vni.is_none() && specs[i].vlanid.is_none());
        access::write(&self.db, std::slice::from_ref(&set_key), |t| {
            let id = |i: usize| specs[i].id.clone().unwrap_or_default();
            touch(
                t,
                (0..specs.len())
                    .flat_map(|i| {
                        let p = &specs[i].physicalnetwork;
                        [net_key(&id(i)), PhysicalNetwork::key_of(&[p]), PhysicalNetworkMap::key_of(&[p])]
                    })
                    .chain([set_key.clone()]),
            )?;
            let mut set: LogicalNetworkSet = t.obj(&set_key)?.unwrap_or_default();
            let mut maps: HashMap<String, PhysicalNetworkMap> = HashMap::new();
            let mut out: Vec<Option<LogicalNetwork>> = vec![None; specs.len()];
            for &i in &order {
                let s = &specs[i];
                let nid = id(i);
                if t.present(&net_key(&nid))? {
                    return Err(FieldError::exists("id", "logical network", &nid).at(i).into());
                }
                let Some(phys) = t.obj::<PhysicalNetwork>(&PhysicalNetwork::key_of(&[&s.physicalnetwork]))?
                else {
                    return Err(FieldError::not_found(
                        "physicalnetwork",
                        "physical network",
                        &s.physicalnetwork,
                    )
                    .at(i)
                    .into());
                };
                if !maps.contains_key(&phys.id) {
                    let m = t
                        .obj(&PhysicalNetworkMap::key_of(&[&phys.id]))?
                        .ok_or_else(|| missing_map(&phys.id))?;
                    maps.insert(phys.id.clone(), m);
                }
                let map = maps.get_mut(&phys.id).ok_or_else(|| missing_map(&phys.id))?;
                let tag = allocate_tag(&phys, map, &nid, s.vni, s.vlanid).map_err(|e| e.at(i))?;
                let base = LogicalNetwork {
                    id: nid.clone(),
                    physicalnetwork: Ref::to(&phys),
                    vlanid: tag.filter(|t| t.0 == "vlanid").map(|t| t.1),
                    vni: tag.filter(|t| t.0 == "vni").map(|t| t.1),
                    mtu: None,
                    dns_nameservers: None,
                    domain_name: None,
                    ntp_servers: None,
                    lease_time: None,
                    extra_dhcp_options: None,
                    extra: Map::new(),
                };
                let net = apply_attrs(&base, &s.attrs).map_err(|e| at(e, i))?;
                map.logicnetworks.insert(WeakRef::to(&net));
                let lmap = LogicalNetworkMap {
                    id: nid.clone(),
                    network: Ref::to(&net),
                    ports: ObjectSet::new(),
                    subnets: ObjectSet::new(),
                };
                t.put(&net)?;
                t.put(&lmap)?;
                set.set.insert(WeakRef::to(&net));
                out[i] = Some(net);
            }
            for m in maps.values() {
                t.put(m)?;
            }
            t.put(&set)?;
            Ok(out.into_iter().flatten().collect())
        })
        .await
    }

    /// `updatelogicalnetworks`: moves VNIs/VLAN ids (checked like creation) and sets
    /// attributes, in one transaction.
    pub async fn update_logical_networks(
        &self,
        patches: Vec<LogicalNetworkPatch>,
    ) -> Result<Vec<LogicalNetwork>, ModelError> {
        let mut patches = patches;
        for (i, p) in patches.iter_mut().enumerate() {
            p.attrs = network_attrs(&p.attrs).map_err(|e| e.at(i))?;
        }
        check_distinct(patches.iter().map(|p| p.id.as_str()))?;
        access::write(&self.db, &[], |t| {
            touch(t, patches.iter().map(|p| net_key(&p.id)))?;
            let mut nets = Vec::new();
            for (i, p) in patches.iter().enumerate() {
                let Some(net) = t.obj::<LogicalNetwork>(&net_key(&p.id))? else {
                    return Err(FieldError::not_found("id", "logical network", &p.id).at(i).into());
                };
                nets.push(net);
            }
            touch(
                t,
                nets.iter().flat_map(|n| {
                    let pid = n.physicalnetwork_id();
                    [PhysicalNetwork::key_of(&[&pid]), PhysicalNetworkMap::key_of(&[&pid])]
                }),
            )?;
            let mut maps: HashMap<String, PhysicalNetworkMap> = HashMap::new();
            let mut out = Vec::new();
            for (i, (p, net)) in patches.iter().zip(nets).enumerate() {
                let mut net = net;
                if p.vni.is_some() || p.vlanid.is_some() {
                    let pid = net.physicalnetwork_id();
                    let phys: PhysicalNetwork =
                        t.obj(&PhysicalNetwork::key_of(&[&pid]))?.ok_or_else(|| {
                            Fail::Field(
                                FieldError::not_found("physicalnetwork", "physical network", &pid).at(i),
                            )
                        })?;
                    if !maps.contains_key(&pid) {
                        maps.insert(
                            pid.clone(),
                            t.obj(&PhysicalNetworkMap::key_of(&[&pid]))?.ok_or_else(|| missing_map(&pid))?,
                        );
                    }
                    let map = maps.get_mut(&pid).ok_or_else(|| missing_map(&pid))?;
                    let old = net.vni.or(net.vlanid);
                    if old.is_some() && old == p.vni.or(p.vlanid) {
                        // Unchanged.
                    } else {
                        if let Some(o) = old {
                            map.network_allocation.remove(&o.to_string());
                        }
                        let tag = allocate_tag(&phys, map, &net.id, p.vni, p.vlanid).map_err(|e| e.at(i))?;
                        net.vni = tag.filter(|t| t.0 == "vni").map(|t| t.1);
                        net.vlanid = tag.filter(|t| t.0 == "vlanid").map(|t| t.1);
                    }
                }
                let net = apply_attrs(&net, &p.attrs).map_err(|e| at(e, i))?;
                t.put(&net)?;
                out.push(net);
            }
            for m in maps.values() {
                t.put(m)?;
            }
            Ok(out)
        })
        .await
    }

    /// `deletelogicalnetworks`: each network must have no subnets and no ports; frees its
    /// VNI/VLAN id.
    pub async fn delete_logical_networks(&self, ids: Vec<String>) -> Result<(), ModelError> {
        check_distinct(ids.iter().map(String::as_str))?;
        let set_key = LogicalNetworkSet::KEY.to_string();
        access::write(&self.db, std::slice::from_ref(&set_key), |t| {
            touch(t, ids.iter().flat_map(|id| [net_key(id), map_key(id)]).chain([set_key.clone()]))?;
            let mut set: LogicalNetworkSet = t.obj(&set_key)?.unwrap_or_default();
            let mut nets = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                let Some(net) = t.obj::<LogicalNetwork>(&net_key(id))? else {
                    return Err(FieldError::not_found("id", "logical network", id).at(i).into());
                };
                if let Some(m) = t.obj::<LogicalNetworkMap>(&map_key(id))? {
                    for (what, n) in [("subnet(s)", m.subnets.len()), ("logical port(s)", m.ports.len())] {
                        if n > 0 {
                            return Err(FieldError::new(
                                FieldErrorKind::InUse,
                                "id",
                                format!("logical network {id:?} still has {n} {what}; delete them first"),
                            )
                            .at(i)
                            .into());
                        }
                    }
                }
                nets.push(net);
            }
            let vx_keys: Vec<String> = ids
                .iter()
                .map(|id| format!("viperflow.vxlanendpointset.{}", crate::objectdb::object::escape_key(id)))
                .collect();
            touch(
                t,
                nets.iter()
                    .map(|n| PhysicalNetworkMap::key_of(&[&n.physicalnetwork_id()]))
                    .chain(vx_keys.iter().cloned()),
            )?;
            let mut maps: HashMap<String, PhysicalNetworkMap> = HashMap::new();
            for (net, vx) in nets.iter().zip(&vx_keys) {
                let pid = net.physicalnetwork_id();
                if !maps.contains_key(&pid)
                    && let Some(m) = t.obj(&PhysicalNetworkMap::key_of(&[&pid]))?
                {
                    maps.insert(pid.clone(), m);
                }
                if let Some(m) = maps.get_mut(&pid) {
                    m.logicnetworks.remove_key(&net.key());
                    if let Some(tag) = net.vni.or(net.vlanid) {
                        m.network_allocation.remove(&tag.to_string());
                    }
                }
                t.delete::<LogicalNetwork>(&net.key())?;
                t.delete::<LogicalNetworkMap>(&map_key(&net.id))?;
                if t.present(vx)? {
                    t.delete_key(vx)?;
                }
                set.set.remove_key(&net.key());
            }
            for m in maps.values() {
                t.put(m)?;
            }
            t.put(&set)?;
            Ok(())
        })
        .await
    }

    /// `listlogicalnetworks`: all (or `id`), filtered on `physicalnetwork` and attributes.
    pub async fn list_logical_networks(
        &self,
        id: Option<String>,
        physicalnetwork: Option<String>,
        filters: &[(String, Value)],
    ) -> Result<Vec<Value>, ModelError> {
        let mut f = filters.to_vec();
        if let Some(p) = physicalnetwork {
            f.push(("physicalnetwork".into(), Value::String(PhysicalNetwork::key_of(&[&p]))));
        }
        access::list(&self.db, LogicalNetworkSet::KEY, id.map(|i| net_key(&i)), &f).await
    }

    /// One logical network.
    pub async fn logical_network(&self, id: &str) -> Result<Option<LogicalNetwork>, ModelError> {
        access::get(&self.db, net_key(id)).await
    }
}

/// Marks a field error from item `i` of a batch.
pub(crate) fn at(f: Fail, i: usize) -> Fail {
    match f {
        Fail::Field(e) => Fail::Field(e.at(i)),
        other => other,
    }
}
