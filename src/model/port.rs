//! Logical ports: a vNIC on a logical network (bound to an OVS interface by
//! `external_ids:iface-id=<id>`), with a MAC address unique in its network and, on a subnet, an IP
//! address (given and checked, or the first free one of the allocation range).
//!
//! Keys: `viperflow.logicalport.<id>`, `viperflow.logcialportset` (sic), unique indices
//! `indices.viperflow++logicalport._mac_address_index.<network key>.<mac>` and
//! `…._ip_address_index.<network key>.<ip>`.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::access::{self, Fail, Reader, Staged, check_distinct, touch};
use super::error::{FieldError, FieldErrorKind, ModelError};
use super::logical::{self, LogicalNetwork, LogicalNetworkMap, apply_attrs, at};
use super::params::Params;
use super::rules;
use super::subnet::{self, AllocatedIp, SubNet, SubNetMap};
use super::{Model, singleton_set};
use crate::objectdb::object::unique_index_key;
use crate::objectdb::{DataObject, Ref, TxnError, UniqueIndex, WeakRef, WriteTxn};

/// `viperflow.logicalport.<id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogicalPort {
    /// The id (the OVS interface's `external_ids:iface-id`).
    pub id: String,
    /// The logical network.
    pub network: Ref<LogicalNetwork>,
    /// The subnet, if the port has an address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<Ref<SubNet>>,
    /// Lower-case colon form, unique in the network.
    pub mac_address: String,
    /// Dotted IPv4 address, unique in the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// DHCP host name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// DHCP extra options, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_dhcp_options: Option<Value>,
    /// Extra attributes.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

const MAC_INDEX: &str = "_mac_address_index";
const IP_INDEX: &str = "_ip_address_index";

impl DataObject for LogicalPort {
    const PREFIX: &'static str = "viperflow.logicalport";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
    fn unique_indices(&self) -> Vec<UniqueIndex> {
        let mut v = vec![UniqueIndex {
            name: MAC_INDEX,
            values: vec![self.network.key().into(), self.mac_address.clone()],
        }];
        if let Some(ip) = &self.ip_address {
            v.push(UniqueIndex { name: IP_INDEX, values: vec![self.network.key().into(), ip.clone()] });
        }
        v
    }
}

impl LogicalPort {
    /// The id of its logical network.
    pub fn network_id(&self) -> String {
        logical::lognet_id(self.network.key())
    }

    /// The id of its subnet, if it has one.
    pub fn subnet_id(&self) -> Option<String> {
        let k = self.subnet.as_ref()?.key();
        crate::objectdb::object::parse_object_key(SubNet::PREFIX, k).and_then(|mut v| v.pop())
    }

    fn index_keys(&self) -> Vec<String> {
        self.unique_indices().iter().map(|i| unique_index_key(Self::PREFIX, i.name, &i.values)).collect()
    }
}

singleton_set!(LogicalPortSet, "viperflow.logcialportset", LogicalPort);

/// Parameters of `createlogicalport`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LogicalPortSpec {
    /// The id; a UUID when `None`.
    pub id: Option<String>,
    /// The logical network id.
    pub logicalnetwork: String,
    /// The subnet id (needed for an address).
    pub subnet: Option<String>,
    /// The MAC address; a random local one when `None`.
    pub mac_address: Option<String>,
    /// The IP address; the first free one of the subnet when `None` and a subnet is given.
    pub ip_address: Option<Ipv4Addr>,
    /// `hostname`, `extra_dhcp_options` and extra attributes.
    pub attrs: Map<String, Value>,
}

const PORT_RESERVED: &[&str] = &["id", "network", "logicalnetwork", "subnet", "mac_address", "ip_address"];

fn port_attrs(attrs: &Map<String, Value>) -> Result<Map<String, Value>, FieldError> {
    let mut p = Params::new(attrs.clone());
    let mut out = Map::new();
    if p.has("hostname") {
        out.insert("hostname".into(), p.string("hostname")?.into());
    }
    if p.has("extra_dhcp_options") {
        out.insert("extra_dhcp_options".into(), p.json("extra_dhcp_options").unwrap_or(Value::Null));
    }
    out.extend(p.extras(PORT_RESERVED)?);
    Ok(out)
}

impl LogicalPortSpec {
    /// Reads the parameters of `createlogicalport`.
    pub fn from_params(mut p: Params) -> Result<Self, FieldError> {
        let id = p.id("id")?;
        let logicalnetwork = p.required_id("logicalnetwork")?;
        let subnet = p.id("subnet")?;
        let mac_address = p.string("mac_address")?;
        let ip_address = p.ipv4("ip_address")?;
        let attrs = port_attrs(&p.extras(&[])?)?;
        Ok(LogicalPortSpec { id, logicalnetwork, subnet, mac_address, ip_address, attrs })
    }
}

/// An update of a logical port: new MAC, new IP (checked like creation), attributes.
#[derive(Clone, Debug, Default)]
pub struct LogicalPortPatch {
    /// The port id.
    pub id: String,
    /// New MAC address.
    pub mac_address: Option<String>,
    /// New IP address (the port must be on a subnet).
    pub ip_address: Option<Ipv4Addr>,
    /// Attributes (null removes).
    pub attrs: Map<String, Value>,
}

impl LogicalPortPatch {
    /// Reads the parameters of `updatelogicalport`.
    pub fn from_params(mut p: Params) -> Result<Self, FieldError> {
        let id = p.required_id("id")?;
        for f in ["logicalnetwork", "subnet"] {
            if p.has(f) {
                return Err(FieldError::invalid(f, "cannot be changed; delete and re-create the port"));
            }
        }
        let mac_address = p.string("mac_address")?;
        let ip_address = p.ipv4("ip_address")?;
        let attrs = port_attrs(&p.extras(&[])?)?;
        Ok(LogicalPortPatch { id, mac_address, ip_address, attrs })
    }
}

pub(crate) fn port_key(id: &str) -> String {
    LogicalPort::key_of(&[id])
}

fn ip_key(ip: Ipv4Addr) -> String {
    u32::from(ip).to_string()
}

/// Gives `port` an address on `subnet` (explicit `want`, checked; or first free) and records it.
fn allocate_ip(
    subnet: &SubNet,
    smap: &mut SubNetMap,
    port_key: &str,
    want: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, FieldError> {
    let plan = subnet.plan()?;
    let ip = match want {
        Some(ip) => {
            if let Some(why) = plan.refuse_port_ip(ip) {
                return Err(FieldError::invalid("ip_address", format!("{why} (subnet {:?})", subnet.id)));
            }
            if let Some(holder) = smap.allocated_ips.get(&ip_key(ip)) {
                let who = match holder {
                    AllocatedIp::Port(p) => p.key().to_string(),
                    AllocatedIp::Router(p, _) => p.key().to_string(),
                };
                return Err(FieldError::new(
                    FieldErrorKind::Conflict,
                    "ip_address",
                    format!("{ip} is already used by {who}"),
                ));
            }
            ip
        }
        None => plan.first_free(&smap.taken()).ok_or_else(|| {
            FieldError::new(
                FieldErrorKind::Exhausted,
                "subnet",
                format!("subnet {:?} has no free address in {}-{}", subnet.id, plan.start, plan.end),
            )
        })?,
    };
    smap.allocated_ips.insert(ip_key(ip), AllocatedIp::Port(WeakRef::from_key(port_key)));
    Ok(ip)
}

/// Frees the address `port` holds on its subnet.
fn free_ip(smap: &mut SubNetMap, port: &LogicalPort) {
    if let Some(ip) = port.ip_address.as_deref().and_then(|s| s.parse::<Ipv4Addr>().ok()) {
        let k = ip_key(ip);
        if matches!(smap.allocated_ips.get(&k), Some(AllocatedIp::Port(p)) if p.key() == port.key()) {
            smap.allocated_ips.remove(&k);
        }
    }
}

/// Writes the ports after checking their unique indices, turning a taken MAC into a field error.
fn put_ports(t: &mut WriteTxn<'_>, ports: &[(usize, LogicalPort)]) -> Result<(), Fail> {
    touch(t, ports.iter().flat_map(|(_, p)| p.index_keys()))?;
    for (i, p) in ports {
        match t.put(p) {
            Ok(()) => {}
            Err(TxnError::AlreadyExists { index_key, owner }) => {
                let field = if index_key.contains(IP_INDEX) { "ip_address" } else { "mac_address" };
                let value = if field == "ip_address" {
                    p.ip_address.clone().unwrap_or_default()
                } else {
                    p.mac_address.clone()
                };
                return Err(FieldError::new(
                    FieldErrorKind::Conflict,
                    field,
                    format!("{value} is already used by {owner} in logical network {:?}", p.network_id()),
                )
                .at(*i)
                .into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

impl Model {
    /// `createlogicalports`: one transaction; ports with explicit addresses are placed before
    /// the ones that get the first free address; results come back in request order.
    pub async fn create_logical_ports(
        &self,
        specs: Vec<LogicalPortSpec>,
    ) -> Result<Vec<LogicalPort>, ModelError> {
        self.create_logical_ports_and(specs, &[], |_| Ok(())).await
    }

    /// [`Model::create_logical_ports`], with `also` writing more objects (keys `also_keys`,
    /// read up front) in the same transaction: they exist exactly when the ports do. `also` may
    /// run more than once (a transaction is retried on conflict).
    pub async fn create_logical_ports_and(
        &self,
        specs: Vec<LogicalPortSpec>,
        also_keys: &[String],
        mut also: impl FnMut(&mut WriteTxn<'_>) -> Result<(), TxnError>,
    ) -> Result<Vec<LogicalPort>, ModelError> {
        let mut specs = specs;
        for (i, s) in specs.iter_mut().enumerate() {
            s.id.get_or_insert_with(rules::new_uuid);
            let mac = match &s.mac_address {
                Some(m) => {
                    rules::normalize_mac(m).map_err(|e| FieldError::invalid("mac_address", e).at(i))?
                }
                None => rules::random_mac(),
            };
            s.mac_address = Some(mac);
            s.attrs = port_attrs(&s.attrs).map_err(|e| e.at(i))?;
            if s.ip_address.is_some() && s.subnet.is_none() {
                return Err(FieldError::invalid("ip_address", "needs a subnet").at(i).into());
            }
        }
        check_distinct(specs.iter().map(|s| s.id.as_deref().unwrap_or_default()))?;
        let mut order: Vec<usize> = (0..specs.len()).collect();
        order.sort_by_key(|&i| specs[i].ip_address.is_none());
        let set_key = LogicalPortSet::KEY.to_string();
        // Every key known up front goes into the first read (not found out round by round).
        let known: Vec<String> = specs
            .iter()
            .flat_map(|s| {
                let mut keys = vec![
                    port_key(s.id.as_deref().unwrap_or_default()),
                    logical::net_key(&s.logicalnetwork),
                    logical::map_key(&s.logicalnetwork),
                ];
                if let Some(sn) = &s.subnet {
                    keys.extend([subnet::subnet_key(sn), subnet::smap_key(sn)]);
                }
                keys
            })
            .chain([set_key.clone()])
            .chain(also_keys.iter().cloned())
            .collect();
        access::write(&self.db, &known, |t| {
            let id = |i: usize| specs[i].id.clone().unwrap_or_default();
            touch(t, &known)?;
            let mut lmaps: Staged<LogicalNetworkMap> = Staged::new();
            let mut smaps: Staged<SubNetMap> = Staged::new();
            let mut subnets: HashMap<String, Option<SubNet>> = HashMap::new();
            let mut set: LogicalPortSet = t.obj(&set_key)?.unwrap_or_default();
            let mut made: Vec<(usize, LogicalPort)> = Vec::new();
            for &i in &order {
                let s = &specs[i];
                let pid = id(i);
                let pkey = port_key(&pid);
                if t.present(&pkey)? {
                    return Err(FieldError::exists("id", "logical port", &pid).at(i).into());
                }
                if !t.present(&logical::net_key(&s.logicalnetwork))? {
                    return Err(FieldError::not_found(
                        "logicalnetwork",
                        "logical network",
                        &s.logicalnetwork,
                    )
                    .at(i)
                    .into());
                }
                let net_key = logical::net_key(&s.logicalnetwork);
                let mut ip = None;
                if let Some(sn) = &s.subnet {
                    if !subnets.contains_key(sn) {
                        let v = t.obj::<SubNet>(&subnet::subnet_key(sn))?;
                        subnets.insert(sn.clone(), v);
                    }
                    let Some(Some(subnet)) = subnets.get(sn) else {
                        return Err(FieldError::not_found("subnet", "subnet", sn).at(i).into());
                    };
                    if subnet.network.key() != net_key {
                        return Err(FieldError::invalid(
                            "subnet",
                            format!(
                                "subnet {sn:?} belongs to {}, not to logical network {:?}",
                                subnet.network.key(),
                                s.logicalnetwork
                            ),
                        )
                        .at(i)
                        .into());
                    }
                    let Some(smap) = smaps.get(t, &subnet::smap_key(sn))? else {
                        return Err(FieldError::not_found("subnet", "subnet map of", sn).at(i).into());
                    };
                    ip = Some(allocate_ip(subnet, smap, &pkey, s.ip_address).map_err(|e| e.at(i))?);
                }
                let base = LogicalPort {
                    id: pid.clone(),
                    network: Ref::from_key(net_key.clone()),
                    subnet: s.subnet.as_ref().map(|sn| Ref::from_key(subnet::subnet_key(sn))),
                    mac_address: s.mac_address.clone().unwrap_or_default(),
                    ip_address: ip.map(|a| a.to_string()),
                    hostname: None,
                    extra_dhcp_options: None,
                    extra: Map::new(),
                };
                let port = apply_attrs(&base, &s.attrs).map_err(|e| at(e, i))?;
                let Some(lmap) = lmaps.get(t, &logical::map_key(&s.logicalnetwork))? else {
                    return Err(FieldError::not_found(
                        "logicalnetwork",
                        "map of logical network",
                        &s.logicalnetwork,
                    )
                    .at(i)
                    .into());
                };
                lmap.ports.insert(WeakRef::to(&port));
                set.set.insert(WeakRef::to(&port));
                made.push((i, port));
            }
            put_ports(t, &made)?;
            lmaps.put_all(t)?;
            smaps.put_all(t)?;
            t.put(&set)?;
            also(t)?;
            made.sort_by_key(|(i, _)| *i);
            Ok(made.into_iter().map(|(_, p)| p).collect())
        })
        .await
    }

    /// `updatelogicalports`: a new MAC or IP is checked like at creation; attributes are set.
    pub async fn update_logical_ports(
        &self,
        patches: Vec<LogicalPortPatch>,
    ) -> Result<Vec<LogicalPort>, ModelError> {
        let mut patches = patches;
        for (i, p) in patches.iter_mut().enumerate() {
            if let Some(m) = &p.mac_address {
                p.mac_address =
                    Some(rules::normalize_mac(m).map_err(|e| FieldError::invalid("mac_address", e).at(i))?);
            }
            p.attrs = port_attrs(&p.attrs).map_err(|e| e.at(i))?;
        }
        check_distinct(patches.iter().map(|p| p.id.as_str()))?;
        access::write(&self.db, &[], |t| {
            touch(t, patches.iter().map(|p| port_key(&p.id)))?;
            let mut ports = Vec::new();
            for (i, p) in patches.iter().enumerate() {
                let Some(port) = t.obj::<LogicalPort>(&port_key(&p.id))? else {
                    return Err(FieldError::not_found("id", "logical port", &p.id).at(i).into());
                };
                if p.ip_address.is_some() && port.subnet.is_none() {
                    return Err(FieldError::invalid("ip_address", "the port has no subnet").at(i).into());
                }
                ports.push(port);
            }
            touch(
                t,
                ports
                    .iter()
                    .filter_map(|p| p.subnet_id())
                    .flat_map(|s| [subnet::subnet_key(&s), subnet::smap_key(&s)]),
            )?;
            let mut smaps: Staged<SubNetMap> = Staged::new();
            let mut out = Vec::new();
            for (i, (p, mut port)) in patches.iter().zip(ports).enumerate() {
                if let (Some(want), Some(sid)) = (p.ip_address, port.subnet_id())
                    && port.ip_address.as_deref() != Some(want.to_string().as_str())
                {
                    let subnet: SubNet = t
                        .obj(&subnet::subnet_key(&sid))?
                        .ok_or_else(|| Fail::Field(FieldError::not_found("subnet", "subnet", &sid).at(i)))?;
                    let Some(smap) = smaps.get(t, &subnet::smap_key(&sid))? else {
                        return Err(FieldError::not_found("subnet", "subnet map of", &sid).at(i).into());
                    };
                    free_ip(smap, &port);
                    let ip = allocate_ip(&subnet, smap, &port.key(), Some(want)).map_err(|e| e.at(i))?;
                    port.ip_address = Some(ip.to_string());
                }
                if let Some(m) = &p.mac_address {
                    port.mac_address = m.clone();
                }
                out.push((i, apply_attrs(&port, &p.attrs).map_err(|e| at(e, i))?));
            }
            put_ports(t, &out)?;
            smaps.put_all(t)?;
            Ok(out.into_iter().map(|(_, p)| p).collect())
        })
        .await
    }

    /// `deletelogicalports`: frees addresses and MACs; removes VXLAN info of the port.
    pub async fn delete_logical_ports(&self, ids: Vec<String>) -> Result<(), ModelError> {
        self.delete_logical_ports_and(ids, &[], |_| Ok(())).await
    }

    /// [`Model::delete_logical_ports`], with `also` changing more objects (keys `also_keys`,
    /// read up front) in the same transaction. `also` may run more than once.
    pub async fn delete_logical_ports_and(
        &self,
        ids: Vec<String>,
        also_keys: &[String],
        mut also: impl FnMut(&mut WriteTxn<'_>) -> Result<(), TxnError>,
    ) -> Result<(), ModelError> {
        check_distinct(ids.iter().map(String::as_str))?;
        let set_key = LogicalPortSet::KEY.to_string();
        let first: Vec<String> = ids
            .iter()
            .map(|id| port_key(id))
            .chain([set_key.clone()])
            .chain(also_keys.iter().cloned())
            .collect();
        access::write(&self.db, &first, |t| {
            touch(t, &first)?;
            let mut ports = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                let Some(port) = t.obj::<LogicalPort>(&port_key(id))? else {
                    return Err(FieldError::not_found("id", "logical port", id).at(i).into());
                };
                ports.push(port);
            }
            let vx = |id: &str| {
                format!("viperflow.logicalportvxlaninfo.{}", crate::objectdb::object::escape_key(id))
            };
            touch(
                t,
                ports.iter().flat_map(|p| {
                    let mut k = vec![logical::map_key(&p.network_id()), vx(&p.id)];
                    k.extend(p.subnet_id().map(|s| subnet::smap_key(&s)));
                    k.extend(p.index_keys());
                    k
                }),
            )?;
            let mut lmaps: Staged<LogicalNetworkMap> = Staged::new();
            let mut smaps: Staged<SubNetMap> = Staged::new();
            let mut set: LogicalPortSet = t.obj(&set_key)?.unwrap_or_default();
            for p in &ports {
                if let Some(m) = lmaps.get(t, &logical::map_key(&p.network_id()))? {
                    m.ports.remove_key(&p.key());
                }
                if let Some(sid) = p.subnet_id()
                    && let Some(m) = smaps.get(t, &subnet::smap_key(&sid))?
                {
                    free_ip(m, p);
                }
                t.delete::<LogicalPort>(&p.key())?;
                if t.present(&vx(&p.id))? {
                    t.delete_key(&vx(&p.id))?;
                }
                set.set.remove_key(&p.key());
            }
            lmaps.put_all(t)?;
            smaps.put_all(t)?;
            t.put(&set)?;
            also(t)?;
            Ok(())
        })
        .await
    }

    /// `listlogicalports`: all (or `id`), filtered on `logicalnetwork`, `subnet` (ids) and
    /// attributes such as `ip_address` or `mac_address`.
    pub async fn list_logical_ports(
        &self,
        id: Option<String>,
        logicalnetwork: Option<String>,
        filters: &[(String, Value)],
    ) -> Result<Vec<Value>, ModelError> {
        let mut f: Vec<(String, Value)> = filters
            .iter()
            .map(|(k, v)| match (k.as_str(), v) {
                ("subnet", Value::String(s)) => (k.clone(), Value::String(subnet::subnet_key(s))),
                _ => (k.clone(), v.clone()),
            })
            .collect();
        if let Some(n) = logicalnetwork {
            f.push(("network".into(), Value::String(logical::net_key(&n))));
        }
        access::list(&self.db, LogicalPortSet::KEY, id.map(|i| port_key(&i)), &f).await
    }

    /// One logical port.
    pub async fn logical_port(&self, id: &str) -> Result<Option<LogicalPort>, ModelError> {
        access::get(&self.db, port_key(id)).await
    }
}
