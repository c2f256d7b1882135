//! The API table: every `/<module>/<api>` the web server answers (viperflow and vrouterapi,
//! singular and batch forms, `discover`), and the dispatch from parameters to [`Model`] calls.
//!
//! One table ([`APIS`]) drives both routing and `discover`, so the two cannot disagree.

use serde_json::{Map, Value, json};

use crate::model::params::{self, Params};
use crate::model::{
    FieldError, LogicalNetworkPatch, LogicalNetworkSpec, LogicalPortPatch, LogicalPortSpec, Model,
    ModelError, PhysicalNetworkPatch, PhysicalNetworkSpec, PhysicalPortId, PhysicalPortPatch,
    PhysicalPortSpec, RouterInterfaceSpec, SubNetPatch, SubnetSpec, VRouterPatch, VRouterSpec,
};
use crate::objectdb::DataObject;

/// The object family a call works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Physical networks.
    PhysicalNetwork,
    /// Physical ports.
    PhysicalPort,
    /// Logical networks.
    LogicalNetwork,
    /// Logical ports.
    LogicalPort,
    /// Subnets.
    Subnet,
    /// Virtual routers.
    VirtualRouter,
    /// Router interfaces.
    RouterInterface,
    /// A switch's computed flows (`/vlcp/*`, answered from the SDN controller, not the model).
    Switch,
}

/// What a call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// create / add.
    Create,
    /// update.
    Update,
    /// delete / remove.
    Delete,
    /// list.
    List,
    /// The module's API list.
    Discover,
    /// Trace a packet through a switch's flows ([`super::trace`]).
    Trace,
}

/// One API of the table.
#[derive(Clone, Copy, Debug)]
pub struct ApiDef {
    /// `viperflow` or `vrouterapi`.
    pub module: &'static str,
    /// The API name (lower case).
    pub name: &'static str,
    /// Object family.
    pub kind: Kind,
    /// Operation.
    pub op: Op,
    /// For batch forms, the parameter holding the list of objects.
    pub batch: Option<&'static str>,
    /// Named parameters: `(name, default)`, `None` = required.
    pub params: &'static [(&'static str, Option<&'static str>)],
    /// Whether extra keyword parameters are accepted (attributes or filters).
    pub kwargs: bool,
    /// One line for `discover`.
    pub description: &'static str,
}

macro_rules! api {
    ($m:literal, $n:literal, $k:ident, $o:ident, $b:expr, [$(($p:literal, $d:expr)),*], $kw:literal, $desc:literal) => {
        ApiDef { module: $m, name: $n, kind: Kind::$k, op: Op::$o, batch: $b, params: &[$(($p, $d)),*], kwargs: $kw, description: $desc }
    };
}

const VF: &str = "viperflow";

/// Every API, in `discover` order. Names the manual prints that the original never had
/// (`createnetwork`, `createglobalnetwork`, `createglobalport`) are aliases, so the manual's
/// commands work verbatim.
#[rustfmt::skip]
pub const APIS: &[ApiDef] = &[
    api!("viperflow", "createphysicalnetwork", PhysicalNetwork, Create, None, [("type", Some("'vlan'")), ("id", Some("None"))], true, "Create a physical network (vlanrange/vnirange: lists of inclusive [start, end])"),
    api!("viperflow", "createphysicalnetworks", PhysicalNetwork, Create, Some("networks"), [("networks", None)], false, "Create physical networks in one transaction"),
    api!("viperflow", "updatephysicalnetwork", PhysicalNetwork, Update, None, [("id", None)], true, "Update a physical network"),
    api!("viperflow", "updatephysicalnetworks", PhysicalNetwork, Update, Some("networks"), [("networks", None)], false, "Update physical networks in one transaction"),
    api!("viperflow", "deletephysicalnetwork", PhysicalNetwork, Delete, None, [("id", None)], false, "Delete a physical network (no logical networks or ports left)"),
    api!("viperflow", "deletephysicalnetworks", PhysicalNetwork, Delete, Some("networks"), [("networks", None)], false, "Delete physical networks in one transaction"),
    api!("viperflow", "listphysicalnetworks", PhysicalNetwork, List, None, [("id", Some("None"))], true, "List physical networks; extra parameters filter"),
    api!("viperflow", "createphysicalport", PhysicalPort, Create, None, [("physicalnetwork", None), ("name", None), ("vhost", Some("''")), ("systemid", Some("'%'")), ("bridge", Some("'%'"))], true, "Create a physical port ('%' matches any system-id or bridge)"),
    api!("viperflow", "createphysicalports", PhysicalPort, Create, Some("ports"), [("ports", None)], false, "Create physical ports in one transaction"),
    api!("viperflow", "updatephysicalport", PhysicalPort, Update, None, [("name", None), ("vhost", Some("''")), ("systemid", Some("'%'")), ("bridge", Some("'%'"))], true, "Update a physical port"),
    api!("viperflow", "updatephysicalports", PhysicalPort, Update, Some("ports"), [("ports", None)], false, "Update physical ports in one transaction"),
    api!("viperflow", "deletephysicalport", PhysicalPort, Delete, None, [("name", None), ("vhost", Some("''")), ("systemid", Some("'%'")), ("bridge", Some("'%'"))], false, "Delete a physical port"),
    api!("viperflow", "deletephysicalports", PhysicalPort, Delete, Some("ports"), [("ports", None)], false, "Delete physical ports in one transaction"),
    api!("viperflow", "listphysicalports", PhysicalPort, List, None, [("name", Some("None")), ("physicalnetwork", Some("None")), ("vhost", Some("''")), ("systemid", Some("'%'")), ("bridge", Some("'%'"))], true, "List physical ports; extra parameters filter"),
    api!("viperflow", "createlogicalnetwork", LogicalNetwork, Create, None, [("physicalnetwork", None), ("id", Some("None"))], true, "Create a logical network (vni/vlanid given or allocated; mtu; DHCP options)"),
    api!("viperflow", "createlogicalnetworks", LogicalNetwork, Create, Some("networks"), [("networks", None)], false, "Create logical networks in one transaction"),
    api!("viperflow", "updatelogicalnetwork", LogicalNetwork, Update, None, [("id", None)], true, "Update a logical network"),
    api!("viperflow", "updatelogicalnetworks", LogicalNetwork, Update, Some("networks"), [("networks", None)], false, "Update logical networks in one transaction"),
    api!("viperflow", "deletelogicalnetwork", LogicalNetwork, Delete, None, [("id", None)], false, "Delete a logical network (no subnets or ports left)"),
    api!("viperflow", "deletelogicalnetworks", LogicalNetwork, Delete, Some("networks"), [("networks", None)], false, "Delete logical networks in one transaction"),
    api!("viperflow", "listlogicalnetworks", LogicalNetwork, List, None, [("id", Some("None")), ("physicalnetwork", Some("None"))], true, "List logical networks; extra parameters filter"),
    api!("viperflow", "createlogicalport", LogicalPort, Create, None, [("logicalnetwork", None), ("id", Some("None")), ("subnet", Some("None"))], true, "Create a logical port (mac_address, ip_address given or allocated)"),
    api!("viperflow", "createlogicalports", LogicalPort, Create, Some("ports"), [("ports", None)], false, "Create logical ports in one transaction"),
    api!("viperflow", "updatelogicalport", LogicalPort, Update, None, [("id", None)], true, "Update a logical port"),
    api!("viperflow", "updatelogicalports", LogicalPort, Update, Some("ports"), [("ports", None)], false, "Update logical ports in one transaction"),
    api!("viperflow", "deletelogicalport", LogicalPort, Delete, None, [("id", None)], false, "Delete a logical port"),
    api!("viperflow", "deletelogicalports", LogicalPort, Delete, Some("ports"), [("ports", None)], false, "Delete logical ports in one transaction"),
    api!("viperflow", "listlogicalports", LogicalPort, List, None, [("id", Some("None")), ("logicalnetwork", Some("None"))], true, "List logical ports; extra parameters filter"),
    api!("viperflow", "createsubnet", Subnet, Create, None, [("logicalnetwork", None), ("cidr", None), ("id", Some("None"))], true, "Create a subnet (gateway, allocated_start/end, host_routes, isexternal, DHCP options)"),
    api!("viperflow", "createsubnets", Subnet, Create, Some("subnets"), [("subnets", None)], false, "Create subnets in one transaction"),
    api!("viperflow", "updatesubnet", Subnet, Update, None, [("id", None)], true, "Update a subnet"),
    api!("viperflow", "updatesubnets", Subnet, Update, Some("subnets"), [("subnets", None)], false, "Update subnets in one transaction"),
    api!("viperflow", "deletesubnet", Subnet, Delete, None, [("id", None)], false, "Delete a subnet (no ports or router interfaces left)"),
    api!("viperflow", "deletesubnets", Subnet, Delete, Some("subnets"), [("subnets", None)], false, "Delete subnets in one transaction"),
    api!("viperflow", "listsubnets", Subnet, List, None, [("id", Some("None")), ("logicalnetwork", Some("None"))], true, "List subnets; extra parameters filter"),
    api!("viperflow", "createnetwork", PhysicalNetwork, Create, None, [("type", Some("'vlan'")), ("id", Some("None"))], true, "Alias of createphysicalnetwork (the manual's spelling)"),
    api!("viperflow", "createglobalnetwork", PhysicalNetwork, Create, None, [("type", Some("'vlan'")), ("id", Some("None"))], true, "Alias of createphysicalnetwork (the manual's spelling)"),
    api!("viperflow", "createglobalport", PhysicalPort, Create, None, [("physicalnetwork", None), ("name", None), ("vhost", Some("''")), ("systemid", Some("'%'")), ("bridge", Some("'%'"))], true, "Alias of createphysicalport (the manual's spelling)"),
    api!("viperflow", "discover", PhysicalNetwork, Discover, None, [("details", Some("False"))], false, "Discover API definitions"),
    api!("vrouterapi", "createvirtualrouter", VirtualRouter, Create, None, [("id", Some("None"))], true, "Create a virtual router (routes: list of [cidr, nexthop])"),
    api!("vrouterapi", "createvirtualrouters", VirtualRouter, Create, Some("routers"), [("routers", None)], false, "Create virtual routers in one transaction"),
    api!("vrouterapi", "updatevirtualrouter", VirtualRouter, Update, None, [("id", None)], true, "Update a virtual router"),
    api!("vrouterapi", "updatevirtualrouters", VirtualRouter, Update, Some("routers"), [("routers", None)], false, "Update virtual routers in one transaction"),
    api!("vrouterapi", "deletevirtualrouter", VirtualRouter, Delete, None, [("id", None)], false, "Delete a virtual router (no interfaces left)"),
    api!("vrouterapi", "deletevirtualrouters", VirtualRouter, Delete, Some("routers"), [("routers", None)], false, "Delete virtual routers in one transaction"),
    api!("vrouterapi", "listvirtualrouters", VirtualRouter, List, None, [("id", Some("None"))], true, "List virtual routers; extra parameters filter"),
    api!("vrouterapi", "addrouterinterface", RouterInterface, Create, None, [("router", None), ("subnet", None), ("id", Some("None"))], true, "Connect a router to a subnet (ip_address, or the subnet gateway)"),
    api!("vrouterapi", "addrouterinterfaces", RouterInterface, Create, Some("interfaces"), [("interfaces", None)], false, "Connect routers to subnets in one transaction"),
    api!("vrouterapi", "removerouterinterface", RouterInterface, Delete, None, [("router", None), ("subnet", None)], false, "Disconnect a router from a subnet"),
    api!("vrouterapi", "removerouterinterfaces", RouterInterface, Delete, Some("interfaces"), [("interfaces", None)], false, "Disconnect routers from subnets in one transaction"),
    api!("vrouterapi", "listrouterinterfaces", RouterInterface, List, None, [("id", None)], true, "List the interfaces of router id; extra parameters filter"),
    api!("vrouterapi", "discover", VirtualRouter, Discover, None, [("details", Some("False"))], false, "Discover API definitions"),
    api!("vlcp", "trace", Switch, Trace, None, [("bridge", Some("None")), ("datapath", Some("None")), ("in_port", None)], true, "Trace a packet through a switch's computed flows; packet fields as ovs-ofctl names them (dl_src, dl_dst, proto, arp_tpa, nw_dst, nw_ttl, tp_dst, reg0..15, ...)"),
    api!("vlcp", "discover", Switch, Discover, None, [("details", Some("False"))], false, "Discover API definitions"),
];

/// Looks up `/<module>/<name>`.
pub fn find(module: &str, name: &str) -> Option<&'static ApiDef> {
    APIS.iter().find(|a| a.module == module && a.name == name)
}

/// Whether `module` is served.
pub fn is_module(module: &str) -> bool {
    module == VF || module == "vrouterapi" || module == VLCP
}

/// The module of vlcp's own APIs (not in the original): `/vlcp/trace`.
pub const VLCP: &str = "vlcp";

/// A failed call: HTTP status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// 4xx for the client's mistakes, 5xx for ours.
    pub status: u16,
    /// The message for `{"error": …}`.
    pub message: String,
}

impl ApiError {
    fn from_model(e: ModelError, batch: Option<&str>) -> Self {
        let status = e.status();
        let message = match (&e, batch) {
            (ModelError::Field(f), Some(b)) => f.message_in(b),
            (ModelError::Field(f), None) => FieldError { item: None, ..f.clone() }.to_string(),
            (ModelError::Store(_), _) => e.to_string(),
        };
        ApiError { status, message }
    }
}

/// Runs `api` with `params` against `model`; the value goes into `{"result": …}`.
pub async fn call(model: &Model, api: &ApiDef, params: Map<String, Value>) -> Result<Value, ApiError> {
    let mut p = Params::new(params);
    if api.op == Op::Discover {
        let details =
            p.boolean("details").map_err(|e| ApiError::from_model(e.into(), None))?.unwrap_or(false);
        return Ok(discover(api.module, details));
    }
    let items = match api.batch {
        Some(name) => {
            let list = p.take(name);
            p.finish().and_then(|()| params::batch(name, list))
        }
        None => Ok(vec![p]),
    };
    let r = match items {
        Ok(items) => run(model, api, items).await,
        Err(e) => Err(e.into()),
    };
    r.map_err(|e| ApiError::from_model(e, api.batch))
}

fn each<T>(items: Vec<Params>, f: impl Fn(Params) -> Result<T, FieldError>) -> Result<Vec<T>, ModelError> {
    items.into_iter().enumerate().map(|(i, p)| f(p).map_err(|e| e.at(i).into())).collect()
}

fn keys<T: DataObject>(objs: &[T]) -> Vec<String> {
    objs.iter().map(DataObject::key).collect()
}

fn filters(p: Params) -> Result<Vec<(String, Value)>, ModelError> {
    Ok(p.extras(&[])?.into_iter().collect())
}

fn ok() -> Value {
    json!({ "status": "OK" })
}

async fn run(model: &Model, api: &ApiDef, items: Vec<Params>) -> Result<Value, ModelError> {
    use Kind as K;
    use Op as O;
    let dumped = |keys: Vec<String>| async move { model.dump(&keys).await.map(Value::Array) };
    match (api.kind, api.op) {
        (K::PhysicalNetwork, O::Create) => {
            dumped(keys(
                &model.create_physical_networks(each(items, PhysicalNetworkSpec::from_params)?).await?,
            ))
            .await
        }
        (K::PhysicalNetwork, O::Update) => {
            dumped(keys(
                &model.update_physical_networks(each(items, PhysicalNetworkPatch::from_params)?).await?,
            ))
            .await
        }
        (K::PhysicalNetwork, O::Delete) => {
            model.delete_physical_networks(each(items, id_only)?).await.map(|()| ok())
        }
        (K::PhysicalPort, O::Create) => {
            dumped(keys(&model.create_physical_ports(each(items, PhysicalPortSpec::from_params)?).await?))
                .await
        }
        (K::PhysicalPort, O::Update) => {
            dumped(keys(&model.update_physical_ports(each(items, PhysicalPortPatch::from_params)?).await?))
                .await
        }
        (K::PhysicalPort, O::Delete) => {
            let ids = each(items, |mut p| {
                let id = PhysicalPortId::from_params(&mut p)?;
                p.finish().map(|()| id)
            })?;
            model.delete_physical_ports(ids).await.map(|()| ok())
        }
        (K::LogicalNetwork, O::Create) => {
            dumped(keys(&model.create_logical_networks(each(items, LogicalNetworkSpec::from_params)?).await?))
                .await
        }
        (K::LogicalNetwork, O::Update) => {
            dumped(keys(
                &model.update_logical_networks(each(items, LogicalNetworkPatch::from_params)?).await?,
            ))
            .await
        }
        (K::LogicalNetwork, O::Delete) => {
            model.delete_logical_networks(each(items, id_only)?).await.map(|()| ok())
        }
        (K::LogicalPort, O::Create) => {
            dumped(keys(&model.create_logical_ports(each(items, LogicalPortSpec::from_params)?).await?)).await
        }
        (K::LogicalPort, O::Update) => {
            dumped(keys(&model.update_logical_ports(each(items, LogicalPortPatch::from_params)?).await?))
                .await
        }
        (K::LogicalPort, O::Delete) => model.delete_logical_ports(each(items, id_only)?).await.map(|()| ok()),
        (K::Subnet, O::Create) => {
            dumped(keys(&model.create_subnets(each(items, SubnetSpec::from_params)?).await?)).await
        }
        (K::Subnet, O::Update) => {
            dumped(keys(&model.update_subnets(each(items, SubNetPatch::from_params)?).await?)).await
        }
        (K::Subnet, O::Delete) => model.delete_subnets(each(items, id_only)?).await.map(|()| ok()),
        (K::VirtualRouter, O::Create) => {
            dumped(keys(&model.create_virtual_routers(each(items, VRouterSpec::from_params)?).await?)).await
        }
        (K::VirtualRouter, O::Update) => {
            dumped(keys(&model.update_virtual_routers(each(items, VRouterPatch::from_params)?).await?)).await
        }
        (K::VirtualRouter, O::Delete) => {
            model.delete_virtual_routers(each(items, id_only)?).await.map(|()| ok())
        }
        (K::RouterInterface, O::Create) => {
            dumped(keys(&model.add_router_interfaces(each(items, RouterInterfaceSpec::from_params)?).await?))
                .await
        }
        (K::RouterInterface, O::Delete) => {
            let pairs = each(items, |mut p| {
                let pair = (p.required_id("router")?, p.required_id("subnet")?);
                p.finish().map(|()| pair)
            })?;
            model.remove_router_interfaces(pairs).await.map(|()| ok())
        }
        (_, O::List) => list(model, api.kind, items).await,
        (K::RouterInterface, O::Update) | (_, O::Discover) | (_, O::Trace) | (K::Switch, _) => {
            Err(FieldError::invalid("api", format!("{} is not callable this way", api.name)).into())
        }
    }
}

fn id_only(mut p: Params) -> Result<String, FieldError> {
    let id = p.required_id("id")?;
    p.finish().map(|()| id)
}

async fn list(model: &Model, kind: Kind, items: Vec<Params>) -> Result<Value, ModelError> {
    let mut p = items.into_iter().next().unwrap_or_default();
    let r = match kind {
        Kind::PhysicalNetwork => {
            let id = p.id("id")?;
            model.list_physical_networks(id, &filters(p)?).await?
        }
        Kind::PhysicalPort => {
            let net = p.id("physicalnetwork")?;
            let mut f = Vec::new();
            for k in ["name", "vhost", "systemid", "bridge"] {
                if let Some(v) = p.string(k)? {
                    f.push((k.to_string(), Value::String(v)));
                }
            }
            f.extend(filters(p)?);
            model.list_physical_ports(net, &f).await?
        }
        Kind::LogicalNetwork => {
            let (id, net) = (p.id("id")?, p.id("physicalnetwork")?);
            model.list_logical_networks(id, net, &filters(p)?).await?
        }
        Kind::LogicalPort => {
            let (id, net) = (p.id("id")?, p.id("logicalnetwork")?);
            model.list_logical_ports(id, net, &filters(p)?).await?
        }
        Kind::Subnet => {
            let (id, net) = (p.id("id")?, p.id("logicalnetwork")?);
            model.list_subnets(id, net, &filters(p)?).await?
        }
        Kind::VirtualRouter => {
            let id = p.id("id")?;
            model.list_virtual_routers(id, &filters(p)?).await?
        }
        Kind::RouterInterface => {
            let id = p.required_id("id")?;
            model.list_router_interfaces(&id, &filters(p)?).await?
        }
        Kind::Switch => return Err(FieldError::invalid("api", "switches are not listed here").into()),
    };
    Ok(Value::Array(r))
}

/// `discover(details)`: `{api: description}`, or with details
/// `{api: {"description", "parameters": [{"name", "optional", "default"?}], "extraparameters"}}`.
pub fn discover(module: &str, details: bool) -> Value {
    let mut out = Map::new();
    for a in APIS.iter().filter(|a| a.module == module) {
        let v = if details {
            let params: Vec<Value> = a
                .params
                .iter()
                .map(|(n, d)| match d {
                    None => json!({ "name": n, "optional": false }),
                    Some(d) => json!({ "name": n, "optional": true, "default": d }),
                })
                .collect();
            json!({ "description": a.description, "parameters": params, "extraparameters": a.kwargs })
        } else {
            Value::String(a.description.into())
        };
        out.insert(a.name.into(), v);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_every_form_once() {
        let mut names: Vec<(&str, &str)> = APIS.iter().map(|a| (a.module, a.name)).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate API names");
        for (kind, single, batch) in [
            ("physicalnetwork", true, true),
            ("physicalport", true, true),
            ("logicalnetwork", true, true),
            ("logicalport", true, true),
            ("subnet", true, true),
        ] {
            for op in ["create", "update", "delete"] {
                assert_eq!(find("viperflow", &format!("{op}{kind}")).is_some(), single, "{op}{kind}");
                assert_eq!(find("viperflow", &format!("{op}{kind}s")).is_some(), batch, "{op}{kind}s");
            }
            assert!(find("viperflow", &format!("list{kind}s")).is_some());
        }
        for n in [
            "createvirtualrouters",
            "addrouterinterfaces",
            "removerouterinterfaces",
            "listrouterinterfaces",
            "discover",
        ] {
            assert!(find("vrouterapi", n).is_some(), "{n}");
        }
        for a in APIS.iter().filter(|a| a.batch.is_some()) {
            assert!(a.name.ends_with('s'), "{}", a.name);
        }
    }

    #[test]
    fn discover_lists_the_module_only() {
        let d = discover("vrouterapi", false);
        assert!(d.get("addrouterinterface").is_some() && d.get("createlogicalport").is_none());
        let d = discover("viperflow", true);
        assert_eq!(
            d["createlogicalport"]["parameters"][0],
            json!({"name": "logicalnetwork", "optional": false})
        );
        assert_eq!(d["createlogicalport"]["extraparameters"], json!(true));
    }
}
