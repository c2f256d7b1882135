//! Subnets: an IPv4 CIDR on a logical network, with gateway, allocation range, static routes
//! and DHCP settings; and the subnet map that records which address belongs to which port.
//!
//! Keys: `viperflow.subnet.<id>`, `viperflow.subnetmap.<id>` (`allocated_ips`: `str(int ip)` →
//! the logical port, or `[router port, router]` for router interfaces with an explicit address),
//! `viperflow.subnetset`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::access::{self, Fail, Reader, Staged, check_distinct, touch};
use super::error::{FieldError, FieldErrorKind, ModelError};
use super::logical::{self, LogicalNetwork, LogicalNetworkMap, apply_attrs, at, read_dhcp_attrs};
use super::params::Params;
use super::port::LogicalPort;
use super::router::{RouterPort, VRouter};
use super::rules::{self, AddressPlan};
use super::{Model, singleton_set};
use crate::objectdb::{DataObject, ObjectSet, Ref, WeakRef};

/// `viperflow.subnet.<id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubNet {
    /// The id.
    pub id: String,
    /// The logical network.
    pub network: Ref<LogicalNetwork>,
    /// The network, `a.b.c.d/len` with host bits clear.
    pub cidr: String,
    /// The gateway address, never given to a port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// First address ports may get.
    pub allocated_start: String,
    /// Last address ports may get.
    pub allocated_end: String,
    /// Static routes `[cidr, nexthop]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_routes: Option<Vec<(String, String)>>,
    /// Whether the subnet reaches an external network (routers use its gateway as default).
    #[serde(default)]
    pub isexternal: bool,
    /// Per-host settings, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_host_config: Option<Value>,
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
    /// The router port attached (non-external subnets only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<WeakRef<RouterPort>>,
    /// Extra attributes.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DataObject for SubNet {
    const PREFIX: &'static str = "viperflow.subnet";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

fn parse_ip(field: &'static str, s: &str) -> Result<Ipv4Addr, FieldError> {
    s.parse().map_err(|_| FieldError::invalid(field, format!("stored value {s:?} is not an address")))
}

impl SubNet {
    /// The subnet's checked address plan.
    pub fn plan(&self) -> Result<AddressPlan, FieldError> {
        let gw = self.gateway.as_deref().map(|g| parse_ip("gateway", g)).transpose()?;
        let s = parse_ip("allocated_start", &self.allocated_start)?;
        let e = parse_ip("allocated_end", &self.allocated_end)?;
        AddressPlan::new(&self.cidr, gw, Some(s), Some(e)).map_err(|p| FieldError::invalid(p.field, p.reason))
    }

    /// The id of its logical network.
    pub fn network_id(&self) -> String {
        logical::lognet_id(self.network.key())
    }
}

/// What holds an allocated address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AllocatedIp {
    /// A logical port.
    Port(WeakRef<LogicalPort>),
    /// A router interface with an explicit address: `[router port, router]`.
    Router(WeakRef<RouterPort>, WeakRef<VRouter>),
}

/// `viperflow.subnetmap.<id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubNetMap {
    /// Same id as the subnet.
    pub id: String,
    /// `str(u32 address)` → holder.
    pub allocated_ips: BTreeMap<String, AllocatedIp>,
    /// Routers with an interface on the subnet.
    pub routers: ObjectSet<VRouter>,
    /// Router id → its interface on this subnet.
    pub routerports: BTreeMap<String, WeakRef<RouterPort>>,
}

impl DataObject for SubNetMap {
    const PREFIX: &'static str = "viperflow.subnetmap";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

impl SubNetMap {
    /// The allocated addresses as numbers.
    pub fn taken(&self) -> BTreeSet<u32> {
        self.allocated_ips.keys().filter_map(|k| k.parse().ok()).collect()
    }
}

singleton_set!(SubNetSet, "viperflow.subnetset", SubNet);

/// Parameters of `createsubnet`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SubnetSpec {
    /// The id; a UUID when `None`.
    pub id: Option<String>,
    /// The logical network id.
    pub logicalnetwork: String,
    /// `a.b.c.d/len`, host bits clear.
    pub cidr: String,
    /// The gateway.
    pub gateway: Option<Ipv4Addr>,
    /// First allocatable address (default: first host of the CIDR).
    pub allocated_start: Option<Ipv4Addr>,
    /// Last allocatable address (default: last host of the CIDR).
    pub allocated_end: Option<Ipv4Addr>,
    /// External subnet.
    pub isexternal: bool,
    /// `host_routes`, `pre_host_config`, `mtu`, DHCP fields and extra attributes.
    pub attrs: Map<String, Value>,
}

const SUBNET_RESERVED: &[&str] = &[
    "id",
    "network",
    "logicalnetwork",
    "cidr",
    "gateway",
    "allocated_start",
    "allocated_end",
    "isexternal",
    "router",
];

fn subnet_attrs(attrs: &Map<String, Value>) -> Result<Map<String, Value>, FieldError> {
    let mut p = Params::new(attrs.clone());
    let mut out = Map::new();
    read_dhcp_attrs(&mut p, &mut out)?;
    if p.has("host_routes") {
        let r = p.routes("host_routes")?;
        out.insert("host_routes".into(), serde_json::to_value(r).unwrap_or(Value::Null));
    }
    if p.has("pre_host_config") {
        out.insert("pre_host_config".into(), p.json("pre_host_config").unwrap_or(Value::Null));
    }
    out.extend(p.extras(SUBNET_RESERVED)?);
    Ok(out)
}

/// `isexternal`, or the manual's spelling `is_external`.
fn read_isexternal(p: &mut Params) -> Result<Option<bool>, FieldError> {
    match p.boolean("isexternal")? {
        Some(b) => Ok(Some(b)),
        None => p.boolean("is_external"),
    }
}

impl SubnetSpec {
    /// Reads the parameters of `createsubnet`.
    pub fn from_params(mut p: Params) -> Result<Self, FieldError> {
        let id = p.id("id")?;
        let logicalnetwork = p.required_id("logicalnetwork")?;
        let cidr = p.required_string("cidr")?;
        let gateway = p.ipv4("gateway")?;
        let allocated_start = p.ipv4("allocated_start")?;
        let allocated_end = p.ipv4("allocated_end")?;
        let isexternal = read_isexternal(&mut p)?.unwrap_or(false);
        let attrs = subnet_attrs(&p.extras(&[])?)?;
        AddressPlan::new(&cidr, gateway, allocated_start, allocated_end)
            .map_err(|e| FieldError::invalid(e.field, e.reason))?;
        Ok(SubnetSpec {
            id,
            logicalnetwork,
            cidr,
            gateway,
            allocated_start,
            allocated_end,
            isexternal,
            attrs,
        })
    }
}

/// An update of a subnet. Address fields present in `address` replace the stored ones (null
/// clears the gateway or resets a range end to its default); existing allocations must still
/// fit.
#[derive(Clone, Debug, Default)]
pub struct SubNetPatch {
    /// The subnet id.
    pub id: String,
    /// `cidr`, `gateway`, `allocated_start`, `allocated_end`: new values (strings) or null.
    pub address: Map<String, Value>,
    /// New `isexternal`.
    pub isexternal: Option<bool>,
    /// Other attributes (null removes).
    pub attrs: Map<String, Value>,
}

impl SubNetPatch {
    /// Reads the parameters of `updatesubnet`.
    pub fn from_params(mut p: Params) -> Result<Self, FieldError> {
        let id = p.required_id("id")?;
        if p.has("logicalnetwork") {
            return Err(FieldError::invalid("logicalnetwork", "cannot be changed"));
        }
        let mut address = Map::new();
        if p.has("cidr") {
            let c = p.required_string("cidr")?;
            rules::Cidr::parse(&c, true).map_err(|e| FieldError::invalid("cidr", e))?;
            address.insert("cidr".into(), c.into());
        }
        for f in ["gateway", "allocated_start", "allocated_end"] {
            if p.has(f) {
                address.insert(f.into(), p.ipv4(f)?.map(|a| a.to_string()).into());
            }
        }
        let isexternal = read_isexternal(&mut p)?;
        let attrs = subnet_attrs(&p.extras(&[])?)?;
        Ok(SubNetPatch { id, address, isexternal, attrs })
    }
}

pub(crate) fn subnet_key(id: &str) -> String {
    SubNet::key_of(&[id])
}

pub(crate) fn smap_key(id: &str) -> String {
    SubNetMap::key_of(&[id])
}

/// The subnet `s` with the address changes of `address` applied and checked.
fn readdress(s: &SubNet, address: &Map<String, Value>) -> Result<(SubNet, AddressPlan), FieldError> {
    let get = |f: &str| address.get(f).map(|v| v.as_str().map(String::from));
    let cidr = get("cidr").flatten().unwrap_or_else(|| s.cidr.clone());
    let cidr_changed = cidr != s.cidr;
    let gateway = get("gateway").unwrap_or_else(|| s.gateway.clone());
    let end_of = |f: &'static str, old: &str| -> Result<Option<Ipv4Addr>, FieldError> {
        match get(f) {
            Some(v) => v.map(|a| parse_ip(f, &a)).transpose(),
            None if cidr_changed => Ok(None),
            None => parse_ip(f, old).map(Some),
        }
    };
    let gw = gateway.as_deref().map(|g| parse_ip("gateway", g)).transpose()?;
    let plan = AddressPlan::new(
        &cidr,
        gw,
        end_of("allocated_start", &s.allocated_start)?,
        end_of("allocated_end", &s.allocated_end)?,
    )
    .map_err(|e| FieldError::invalid(e.field, e.reason))?;
    let mut n = s.clone();
    n.cidr = plan.cidr.to_string();
    n.gateway = plan.gateway.map(|g| g.to_string());
    n.allocated_start = plan.start.to_string();
    n.allocated_end = plan.end.to_string();
    Ok((n, plan))
}

impl Model {
    /// `createsubnets`: one transaction. A subnet may not overlap another subnet of the same
    /// logical network.
    pub async fn create_subnets(&self, specs: Vec<SubnetSpec>) -> Result<Vec<SubNet>, ModelError> {
        let mut specs = specs;
        for (i, s) in specs.iter_mut().enumerate() {
            s.id.get_or_insert_with(rules::new_uuid);
            s.attrs = subnet_attrs(&s.attrs).map_err(|e| e.at(i))?;
        }
        check_distinct(specs.iter().map(|s| s.id.as_deref().unwrap_or_default()))?;
        let set_key = SubNetSet::KEY.to_string();
        access::write(&self.db, std::slice::from_ref(&set_key), |t| {
            let id = |i: usize| specs[i].id.clone().unwrap_or_default();
            touch(
                t,
                (0..specs.len())
                    .flat_map(|i| {
                        let n = &specs[i].logicalnetwork;
                        [subnet_key(&id(i)), logical::net_key(n), logical::map_key(n)]
                    })
                    .chain([set_key.clone()]),
            )?;
            let mut lmaps: Staged<LogicalNetworkMap> = Staged::new();
            let mut siblings: Vec<String> = Vec::new();
            for s in &specs {
                if let Some(m) = lmaps.get(t, &logical::map_key(&s.logicalnetwork))? {
                    siblings.extend(m.subnets.iter().map(|r| r.key().to_string()));
                }
            }
            touch(t, &siblings)?;
            let mut set: SubNetSet = t.obj(&set_key)?.unwrap_or_default();
            let mut out = Vec::new();
            for (i, s) in specs.iter().enumerate() {
                let sid = id(i);
                if t.present(&subnet_key(&sid))? {
                    return Err(FieldError::exists("id", "subnet", &sid).at(i).into());
                }
                let Some(net) = t.obj::<LogicalNetwork>(&logical::net_key(&s.logicalnetwork))? else {
                    return Err(FieldError::not_found(
                        "logicalnetwork",
                        "logical network",
                        &s.logicalnetwork,
                    )
                    .at(i)
                    .into());
                };
                let plan = AddressPlan::new(&s.cidr, s.gateway, s.allocated_start, s.allocated_end)
                    .map_err(|e| FieldError::invalid(e.field, e.reason).at(i))?;
                let Some(lmap) = lmaps.get(t, &logical::map_key(&net.id))? else {
                    return Err(Fail::Txn(crate::objectdb::TxnError::Decode {
                        key: logical::map_key(&net.id),
                        reason: "logical network without its map object".into(),
                    }));
                };
                let sibling_keys: Vec<String> = lmap.subnets.iter().map(|r| r.key().to_string()).collect();
                for k in sibling_keys {
                    if let Some(other) = t.obj::<SubNet>(&k)?
                        && let Ok(c) = rules::Cidr::parse(&other.cidr, false)
                        && c.overlaps(&plan.cidr)
                    {
                        return Err(FieldError::new(
                            FieldErrorKind::Conflict,
                            "cidr",
                            format!(
                                "{} overlaps subnet {:?} ({}) of logical network {:?}",
                                plan.cidr, other.id, other.cidr, net.id
                            ),
                        )
                        .at(i)
                        .into());
                    }
                }
                let base = SubNet {
                    id: sid.clone(),
                    network: Ref::to(&net),
                    cidr: plan.cidr.to_string(),
                    gateway: plan.gateway.map(|g| g.to_string()),
                    allocated_start: plan.start.to_string(),
                    allocated_end: plan.end.to_string(),
                    host_routes: None,
                    isexternal: s.isexternal,
                    pre_host_config: None,
                    mtu: None,
                    dns_nameservers: None,
                    domain_name: None,
                    ntp_servers: None,
                    lease_time: None,
                    extra_dhcp_options: None,
                    router: None,
                    extra: Map::new(),
                };
                let subnet = apply_attrs(&base, &s.attrs).map_err(|e| at(e, i))?;
                let smap = SubNetMap {
                    id: sid.clone(),
                    allocated_ips: BTreeMap::new(),
                    routers: ObjectSet::new(),
                    routerports: BTreeMap::new(),
                };
                lmap.subnets.insert(WeakRef::to(&subnet));
                t.put(&subnet)?;
                t.put(&smap)?;
                set.set.insert(WeakRef::to(&subnet));
                out.push(subnet);
            }
            lmaps.put_all(t)?;
            t.put(&set)?;
            Ok(out)
        })
        .await
    }

    /// `updatesubnets`: address changes are checked against every allocated address and router
    /// interface; other attributes are set as given.
    pub async fn update_subnets(&self, patches: Vec<SubNetPatch>) -> Result<Vec<SubNet>, ModelError> {
        let mut patches = patches;
        for (i, p) in patches.iter_mut().enumerate() {
            p.attrs = subnet_attrs(&p.attrs).map_err(|e| e.at(i))?;
        }
        check_distinct(patches.iter().map(|p| p.id.as_str()))?;
        access::write(&self.db, &[], |t| {
            touch(t, patches.iter().flat_map(|p| [subnet_key(&p.id), smap_key(&p.id)]))?;
            let mut out = Vec::new();
            for (i, p) in patches.iter().enumerate() {
                let Some(old) = t.obj::<SubNet>(&subnet_key(&p.id))? else {
                    return Err(FieldError::not_found("id", "subnet", &p.id).at(i).into());
                };
                let smap: Option<SubNetMap> = t.obj(&smap_key(&p.id))?;
                let (mut new, plan) = readdress(&old, &p.address).map_err(|e| e.at(i))?;
                if let Some(m) = &smap {
                    check_allocations_fit(m, &plan).map_err(|e| e.at(i))?;
                    if let Some(ext) = p.isexternal
                        && ext != old.isexternal
                        && !m.routerports.is_empty()
                    {
                        return Err(FieldError::new(
                            FieldErrorKind::InUse,
                            "isexternal",
                            "cannot change while router interfaces are attached",
                        )
                        .at(i)
                        .into());
                    }
                    if plan.gateway.is_none()
                        && m.routerports.len()
                            > m.allocated_ips
                                .values()
                                .filter(|a| matches!(a, AllocatedIp::Router(..)))
                                .count()
                    {
                        return Err(FieldError::new(
                            FieldErrorKind::InUse,
                            "gateway",
                            "a router interface uses the gateway address",
                        )
                        .at(i)
                        .into());
                    }
                }
                if let Some(ext) = p.isexternal {
                    new.isexternal = ext;
                }
                let new = apply_attrs(&new, &p.attrs).map_err(|e| at(e, i))?;
                t.put(&new)?;
                out.push(new);
            }
            Ok(out)
        })
        .await
    }

    /// `deletesubnets`: a subnet with ports or router interfaces cannot be deleted.
    pub async fn delete_subnets(&self, ids: Vec<String>) -> Result<(), ModelError> {
        check_distinct(ids.iter().map(String::as_str))?;
        let set_key = SubNetSet::KEY.to_string();
        access::write(&self.db, std::slice::from_ref(&set_key), |t| {
            touch(t, ids.iter().flat_map(|id| [subnet_key(id), smap_key(id)]).chain([set_key.clone()]))?;
            let mut subnets = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                let Some(s) = t.obj::<SubNet>(&subnet_key(id))? else {
                    return Err(FieldError::not_found("id", "subnet", id).at(i).into());
                };
                if let Some(m) = t.obj::<SubNetMap>(&smap_key(id))? {
                    let ports =
                        m.allocated_ips.values().filter(|a| matches!(a, AllocatedIp::Port(_))).count();
                    for (what, n) in
                        [("logical port(s)", ports), ("router interface(s)", m.routerports.len())]
                    {
                        if n > 0 {
                            return Err(FieldError::new(
                                FieldErrorKind::InUse,
                                "id",
                                format!("subnet {id:?} still has {n} {what}; remove them first"),
                            )
                            .at(i)
                            .into());
                        }
                    }
                }
                subnets.push(s);
            }
            touch(t, subnets.iter().map(|s| logical::map_key(&s.network_id())))?;
            let mut lmaps: Staged<LogicalNetworkMap> = Staged::new();
            let mut set: SubNetSet = t.obj(&set_key)?.unwrap_or_default();
            for s in &subnets {
                if let Some(m) = lmaps.get(t, &logical::map_key(&s.network_id()))? {
                    m.subnets.remove_key(&s.key());
                }
                t.delete::<SubNet>(&s.key())?;
                t.delete::<SubNetMap>(&smap_key(&s.id))?;
                set.set.remove_key(&s.key());
            }
            lmaps.put_all(t)?;
            t.put(&set)?;
            Ok(())
        })
        .await
    }

    /// `listsubnets`: all (or `id`), filtered on `logicalnetwork` and attributes.
    pub async fn list_subnets(
        &self,
        id: Option<String>,
        logicalnetwork: Option<String>,
        filters: &[(String, Value)],
    ) -> Result<Vec<Value>, ModelError> {
        let mut f = filters.to_vec();
        if let Some(n) = logicalnetwork {
            f.push(("network".into(), Value::String(logical::net_key(&n))));
        }
        access::list(&self.db, SubNetSet::KEY, id.map(|i| subnet_key(&i)), &f).await
    }

    /// One subnet.
    pub async fn subnet(&self, id: &str) -> Result<Option<SubNet>, ModelError> {
        access::get(&self.db, subnet_key(id)).await
    }

    /// One subnet map (its allocated addresses).
    pub async fn subnet_map(&self, id: &str) -> Result<Option<SubNetMap>, ModelError> {
        access::get(&self.db, smap_key(id)).await
    }
}

/// Every port address must stay allocatable under `plan`, every explicit router address a host
/// of its CIDR.
fn check_allocations_fit(m: &SubNetMap, plan: &AddressPlan) -> Result<(), FieldError> {
    for (k, holder) in &m.allocated_ips {
        let Ok(n) = k.parse::<u32>() else { continue };
        let ip = Ipv4Addr::from(n);
        let refusal = match holder {
            AllocatedIp::Port(_) => plan.refuse_port_ip(ip),
            AllocatedIp::Router(..) => {
                (!plan.cidr.is_host(ip)).then(|| format!("{ip} is outside {}", plan.cidr))
            }
        };
        if let Some(why) = refusal {
            let who = match holder {
                AllocatedIp::Port(p) => p.key().to_string(),
                AllocatedIp::Router(p, _) => p.key().to_string(),
            };
            return Err(FieldError::new(
                FieldErrorKind::InUse,
                "cidr",
                format!("{who} holds {ip}, but {why}"),
            ));
        }
    }
    Ok(())
}
