//! Virtual routers and their interfaces (router ports): L3 between subnets. An interface uses
//! an explicit address (recorded in the subnet map) or the subnet's gateway; a non-external subnet
//! belongs to at most one router.
//!
//! Keys: `viperflow.vrouter.<id>`, `viperflow.vrouterset`, `viperflow.routerport.<id>`.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::access::{self, Fail, Reader, Staged, check_distinct, touch};
use super::error::{FieldError, FieldErrorKind, ModelError};
use super::logical::{apply_attrs, at};
use super::params::Params;
use super::rules;
use super::subnet::{self, AllocatedIp, SubNet, SubNetMap};
use super::{Model, singleton_set};
use crate::objectdb::{DataObject, ObjectSet, Ref, WeakRef};

/// `viperflow.vrouter.<id>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VRouter {
    /// The id.
    pub id: String,
    /// Its interfaces.
    pub interfaces: ObjectSet<RouterPort>,
    /// Static routes `[cidr, nexthop]`.
    #[serde(default)]
    pub routes: Vec<(String, String)>,
    /// Extra attributes.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DataObject for VRouter {
    const PREFIX: &'static str = "viperflow.vrouter";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

singleton_set!(VRouterSet, "viperflow.vrouterset", VRouter);

/// `viperflow.routerport.<id>`: a router's interface on a subnet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouterPort {
    /// The id.
    pub id: String,
    /// The router.
    pub router: Ref<VRouter>,
    /// The subnet.
    pub subnet: Ref<SubNet>,
    /// The explicit address; the subnet gateway when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// Extra attributes.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DataObject for RouterPort {
    const PREFIX: &'static str = "viperflow.routerport";
    fn key_parts(&self) -> Vec<String> {
        vec![self.id.clone()]
    }
}

/// Parameters of `createvirtualrouter`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct VRouterSpec {
    /// The id; a UUID when `None`.
    pub id: Option<String>,
    /// Static routes `[cidr, nexthop]`.
    pub routes: Vec<(String, String)>,
    /// Extra attributes.
    pub attrs: Map<String, Value>,
}

const ROUTER_RESERVED: &[&str] = &["id", "interfaces", "routes"];
const RPORT_RESERVED: &[&str] = &["id", "router", "subnet", "ip_address"];

impl VRouterSpec {
    /// Reads the parameters of `createvirtualrouter`.
    pub fn from_params(mut p: Params) -> Result<Self, FieldError> {
        let id = p.id("id")?;
        let routes = p.routes("routes")?.unwrap_or_default();
        Ok(VRouterSpec { id, routes, attrs: p.extras(ROUTER_RESERVED)? })
    }
}

/// An update of a router: new routes and attributes.
#[derive(Clone, Debug, Default)]
pub struct VRouterPatch {
    /// The router id.
    pub id: String,
    /// New static routes.
    pub routes: Option<Vec<(String, String)>>,
    /// Attributes (null removes).
    pub attrs: Map<String, Value>,
}

impl VRouterPatch {
    /// Reads the parameters of `updatevirtualrouter`.
    pub fn from_params(mut p: Params) -> Result<Self, FieldError> {
        let id = p.required_id("id")?;
        let routes = p.routes("routes")?;
        Ok(VRouterPatch { id, routes, attrs: p.extras(ROUTER_RESERVED)? })
    }
}

/// Parameters of `addrouterinterface`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RouterInterfaceSpec {
    /// The router id.
    pub router: String,
    /// The subnet id.
    pub subnet: String,
    /// The router port id; a UUID when `None`.
    pub id: Option<String>,
    /// Explicit address (not on external subnets); the gateway otherwise.
    pub ip_address: Option<Ipv4Addr>,
    /// Extra attributes.
    pub attrs: Map<String, Value>,
}

impl RouterInterfaceSpec {
    /// Reads the parameters of `addrouterinterface`.
    pub fn from_params(mut p: Params) -> Result<Self, FieldError> {
        let router = p.required_id("router")?;
        let subnet = p.required_id("subnet")?;
        let id = p.id("id")?;
        let ip_address = p.ipv4("ip_address")?;
        Ok(RouterInterfaceSpec { router, subnet, id, ip_address, attrs: p.extras(RPORT_RESERVED)? })
    }
}

fn router_key(id: &str) -> String {
    VRouter::key_of(&[id])
}

fn rport_key(id: &str) -> String {
    RouterPort::key_of(&[id])
}

fn check_attrs(attrs: &Map<String, Value>, reserved: &[&str]) -> Result<(), FieldError> {
    Params::new(attrs.clone()).extras(reserved).map(|_| ())
}

impl Model {
    /// `createvirtualrouters`: one transaction.
    pub async fn create_virtual_routers(&self, specs: Vec<VRouterSpec>) -> Result<Vec<VRouter>, ModelError> {
        let mut specs = specs;
        for (i, s) in specs.iter_mut().enumerate() {
            s.id.get_or_insert_with(rules::new_uuid);
            check_attrs(&s.attrs, ROUTER_RESERVED).map_err(|e| e.at(i))?;
        }
        check_distinct(specs.iter().map(|s| s.id.as_deref().unwrap_or_default()))?;
        let set_key = VRouterSet::KEY.to_string();
        access::write(&self.db, std::slice::from_ref(&set_key), |t| {
            let ids: Vec<String> = specs.iter().map(|s| s.id.clone().unwrap_or_default()).collect();
            touch(t, ids.iter().map(|id| router_key(id)).chain([set_key.clone()]))?;
            let mut set: VRouterSet = t.obj(&set_key)?.unwrap_or_default();
            let mut out = Vec::new();
            for (i, (s, id)) in specs.iter().zip(&ids).enumerate() {
                if t.present(&router_key(id))? {
                    return Err(FieldError::exists("id", "virtual router", id).at(i).into());
                }
                let r = VRouter {
                    id: id.clone(),
                    interfaces: ObjectSet::new(),
                    routes: s.routes.clone(),
                    extra: s.attrs.clone(),
                };
                t.put(&r)?;
                set.set.insert(WeakRef::to(&r));
                out.push(r);
            }
            t.put(&set)?;
            Ok(out)
        })
        .await
    }

    /// `updatevirtualrouters`: routes and attributes.
    pub async fn update_virtual_routers(
        &self,
        patches: Vec<VRouterPatch>,
    ) -> Result<Vec<VRouter>, ModelError> {
        for (i, p) in patches.iter().enumerate() {
            check_attrs(&p.attrs, ROUTER_RESERVED).map_err(|e| e.at(i))?;
        }
        check_distinct(patches.iter().map(|p| p.id.as_str()))?;
        access::write(&self.db, &[], |t| {
            touch(t, patches.iter().map(|p| router_key(&p.id)))?;
            let mut out = Vec::new();
            for (i, p) in patches.iter().enumerate() {
                let Some(mut r) = t.obj::<VRouter>(&router_key(&p.id))? else {
                    return Err(FieldError::not_found("id", "virtual router", &p.id).at(i).into());
                };
                if let Some(routes) = &p.routes {
                    r.routes = routes.clone();
                }
                let r = apply_attrs(&r, &p.attrs).map_err(|e| at(e, i))?;
                t.put(&r)?;
                out.push(r);
            }
            Ok(out)
        })
        .await
    }

    /// `deletevirtualrouters`: a router with interfaces cannot be deleted.
    pub async fn delete_virtual_routers(&self, ids: Vec<String>) -> Result<(), ModelError> {
        check_distinct(ids.iter().map(String::as_str))?;
        let set_key = VRouterSet::KEY.to_string();
        access::write(&self.db, std::slice::from_ref(&set_key), |t| {
            touch(t, ids.iter().map(|id| router_key(id)).chain([set_key.clone()]))?;
            let mut set: VRouterSet = t.obj(&set_key)?.unwrap_or_default();
            for (i, id) in ids.iter().enumerate() {
                let Some(r) = t.obj::<VRouter>(&router_key(id))? else {
                    return Err(FieldError::not_found("id", "virtual router", id).at(i).into());
                };
                if !r.interfaces.is_empty() {
                    return Err(FieldError::new(
                        FieldErrorKind::InUse,
                        "id",
                        format!(
                            "virtual router {id:?} still has {} interface(s); remove them first",
                            r.interfaces.len()
                        ),
                    )
                    .at(i)
                    .into());
                }
                t.delete::<VRouter>(&r.key())?;
                set.set.remove_key(&r.key());
            }
            t.put(&set)?;
            Ok(())
        })
        .await
    }

    /// `listvirtualrouters`.
    pub async fn list_virtual_routers(
        &self,
        id: Option<String>,
        filters: &[(String, Value)],
    ) -> Result<Vec<Value>, ModelError> {
        access::list(&self.db, VRouterSet::KEY, id.map(|i| router_key(&i)), filters).await
    }

    /// One virtual router.
    pub async fn virtual_router(&self, id: &str) -> Result<Option<VRouter>, ModelError> {
        access::get(&self.db, router_key(id)).await
    }

    /// `addrouterinterfaces`: one transaction.
    pub async fn add_router_interfaces(
        &self,
        specs: Vec<RouterInterfaceSpec>,
    ) -> Result<Vec<RouterPort>, ModelError> {
        let mut specs = specs;
        for (i, s) in specs.iter_mut().enumerate() {
            s.id.get_or_insert_with(rules::new_uuid);
            check_attrs(&s.attrs, RPORT_RESERVED).map_err(|e| e.at(i))?;
        }
        check_distinct(specs.iter().map(|s| s.id.as_deref().unwrap_or_default()))?;
        access::write(&self.db, &[], |t| {
            touch(
                t,
                specs.iter().flat_map(|s| {
                    [
                        router_key(&s.router),
                        subnet::subnet_key(&s.subnet),
                        subnet::smap_key(&s.subnet),
                        rport_key(s.id.as_deref().unwrap_or_default()),
                    ]
                }),
            )?;
            let mut routers: Staged<VRouter> = Staged::new();
            let mut subnets: Staged<SubNet> = Staged::new();
            let mut smaps: Staged<SubNetMap> = Staged::new();
            let mut out = Vec::new();
            for (i, s) in specs.iter().enumerate() {
                let pid = s.id.clone().unwrap_or_default();
                let pkey = rport_key(&pid);
                if t.present(&pkey)? {
                    return Err(FieldError::exists("id", "router port", &pid).at(i).into());
                }
                let rkey = router_key(&s.router);
                if routers.get(t, &rkey)?.is_none() {
                    return Err(FieldError::not_found("router", "virtual router", &s.router).at(i).into());
                }
                let Some(sn) = subnets.get(t, &subnet::subnet_key(&s.subnet))? else {
                    return Err(FieldError::not_found("subnet", "subnet", &s.subnet).at(i).into());
                };
                let Some(smap) = smaps.get(t, &subnet::smap_key(&s.subnet))? else {
                    return Err(FieldError::not_found("subnet", "subnet map of", &s.subnet).at(i).into());
                };
                let conflict =
                    |d: String| Fail::Field(FieldError::new(FieldErrorKind::Conflict, "subnet", d).at(i));
                if smap.routerports.contains_key(&s.router) {
                    return Err(conflict(format!(
                        "router {:?} already has an interface on subnet {:?}",
                        s.router, s.subnet
                    )));
                }
                if !sn.isexternal
                    && let Some(p) = &sn.router
                {
                    return Err(conflict(format!(
                        "subnet {:?} is already attached to a router through {}",
                        s.subnet,
                        p.key()
                    )));
                }
                let ip = match s.ip_address {
                    Some(_) if sn.isexternal => {
                        return Err(FieldError::invalid(
                            "ip_address",
                            "cannot be given on an external subnet",
                        )
                        .at(i)
                        .into());
                    }
                    Some(ip) => {
                        let plan = sn.plan().map_err(|e| e.at(i))?;
                        if !plan.cidr.is_host(ip) {
                            return Err(FieldError::invalid(
                                "ip_address",
                                format!("{ip} is not a usable address of {}", plan.cidr),
                            )
                            .at(i)
                            .into());
                        }
                        if let Some(h) = smap.allocated_ips.get(&u32::from(ip).to_string()) {
                            let who = match h {
                                AllocatedIp::Port(p) => p.key().to_string(),
                                AllocatedIp::Router(p, _) => p.key().to_string(),
                            };
                            return Err(FieldError::new(
                                FieldErrorKind::Conflict,
                                "ip_address",
                                format!("{ip} is already used by {who}"),
                            )
                            .at(i)
                            .into());
                        }
                        smap.allocated_ips.insert(
                            u32::from(ip).to_string(),
                            AllocatedIp::Router(
                                WeakRef::from_key(pkey.clone()),
                                WeakRef::from_key(rkey.clone()),
                            ),
                        );
                        Some(ip.to_string())
                    }
                    None if sn.gateway.is_none() => {
                        return Err(FieldError::invalid(
                            "ip_address",
                            format!("subnet {:?} has no gateway; give the interface an ip_address", s.subnet),
                        )
                        .at(i)
                        .into());
                    }
                    None => None,
                };
                let port = RouterPort {
                    id: pid.clone(),
                    router: Ref::from_key(rkey.clone()),
                    subnet: Ref::to(&*sn),
                    ip_address: ip,
                    extra: s.attrs.clone(),
                };
                smap.routers.insert(WeakRef::from_key(rkey.clone()));
                smap.routerports.insert(s.router.clone(), WeakRef::to(&port));
                if !sn.isexternal {
                    sn.router = Some(WeakRef::to(&port));
                }
                if let Some(r) = routers.get(t, &rkey)? {
                    r.interfaces.insert(WeakRef::to(&port));
                }
                t.put(&port)?;
                out.push(port);
            }
            routers.put_all(t)?;
            subnets.put_all(t)?;
            smaps.put_all(t)?;
            Ok(out)
        })
        .await
    }

    /// `removerouterinterfaces`: each `(router, subnet)` pair names one interface.
    pub async fn remove_router_interfaces(&self, pairs: Vec<(String, String)>) -> Result<(), ModelError> {
        access::write(&self.db, &[], |t| {
            touch(
                t,
                pairs.iter().flat_map(|(r, s)| [router_key(r), subnet::subnet_key(s), subnet::smap_key(s)]),
            )?;
            let mut routers: Staged<VRouter> = Staged::new();
            let mut subnets: Staged<SubNet> = Staged::new();
            let mut smaps: Staged<SubNetMap> = Staged::new();
            let mut ports = Vec::new();
            for (i, (r, s)) in pairs.iter().enumerate() {
                if routers.get(t, &router_key(r))?.is_none() {
                    return Err(FieldError::not_found("router", "virtual router", r).at(i).into());
                }
                let Some(smap) = smaps.get(t, &subnet::smap_key(s))? else {
                    return Err(FieldError::not_found("subnet", "subnet", s).at(i).into());
                };
                let Some(pref) = smap.routerports.remove(r) else {
                    return Err(FieldError::new(
                        FieldErrorKind::NotFound,
                        "subnet",
                        format!("router {r:?} has no interface on subnet {s:?}"),
                    )
                    .at(i)
                    .into());
                };
                smap.routers.remove_key(&router_key(r));
                smap.allocated_ips
                    .retain(|_, h| !matches!(h, AllocatedIp::Router(p, _) if p.key() == pref.key()));
                if let Some(sn) = subnets.get(t, &subnet::subnet_key(s))?
                    && sn.router.as_ref().is_some_and(|p| p.key() == pref.key())
                {
                    sn.router = None;
                }
                if let Some(router) = routers.get(t, &router_key(r))? {
                    router.interfaces.remove_key(pref.key());
                }
                ports.push(pref.key().to_string());
            }
            for p in &ports {
                t.delete::<RouterPort>(p)?;
            }
            routers.put_all(t)?;
            subnets.put_all(t)?;
            smaps.put_all(t)?;
            Ok(())
        })
        .await
    }

    /// `listrouterinterfaces`: the interfaces of router `id`, filtered by attributes.
    pub async fn list_router_interfaces(
        &self,
        id: &str,
        filters: &[(String, Value)],
    ) -> Result<Vec<Value>, ModelError> {
        if self.virtual_router(id).await?.is_none() {
            return Err(FieldError::not_found("id", "virtual router", id).into());
        }
        let f: Vec<(String, Value)> = filters
            .iter()
            .map(|(k, v)| match (k.as_str(), v) {
                ("subnet", Value::String(s)) => (k.clone(), Value::String(subnet::subnet_key(s))),
                _ => (k.clone(), v.clone()),
            })
            .collect();
        access::list_in(&self.db, &router_key(id), "interfaces", None, &f).await
    }
}
