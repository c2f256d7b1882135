//! The object types vlcpctl manages, as data: the API each verb calls, the parameters that name
//! one object, and the table columns. One entry per type in [`OBJECTS`]; nothing else in vlcpctl
//! knows API names.

use serde_json::Value;

use crate::render::{self, field};

/// One table column: its header and how to read the cell from a dumped object.
pub struct Column {
    /// Upper-case header.
    pub header: &'static str,
    /// The cell text.
    pub get: fn(&Value) -> String,
}

/// For objects that live inside a parent (router interfaces inside a router): listing without
/// the parent's name walks every parent.
pub struct Scope {
    /// The vlcpctl parameter naming the parent (`router`).
    pub param: &'static str,
    /// The list API's parameter for it (`id`).
    pub api_param: &'static str,
    /// The API listing the parents (`listvirtualrouters`), whose objects carry `id`.
    pub parents_api: &'static str,
}

/// An object type.
pub struct Object {
    /// The name on the command line.
    pub name: &'static str,
    /// `viperflow` or `vrouterapi`.
    pub module: &'static str,
    /// The create API.
    pub create: &'static str,
    /// The update API; `None` when the type cannot be updated.
    pub update: Option<&'static str>,
    /// The delete API.
    pub delete: &'static str,
    /// The list API.
    pub list: &'static str,
    /// Parameters that name one object; a bare word on the command line fills the first.
    pub ident: &'static [&'static str],
    /// Parameters vlcpctl filters on itself (references the server cannot filter on).
    pub local_filters: &'static [&'static str],
    /// Parent scope, if any.
    pub scope: Option<Scope>,
    /// Table columns.
    pub columns: &'static [Column],
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

const VF: &str = "viperflow";
const VR: &str = "vrouterapi";

/// Every object type, in help order.
pub const OBJECTS: &[Object] = &[
    Object {
        name: "physicalnetwork",
        module: VF,
        create: "createphysicalnetwork",
        update: Some("updatephysicalnetwork"),
        delete: "deletephysicalnetwork",
        list: "listphysicalnetworks",
        ident: &["id"],
        local_filters: &[],
        scope: None,
        columns: &[
            Column { header: "ID", get: |o| field(o, "id") },
            Column { header: "TYPE", get: |o| field(o, "type") },
            Column { header: "RANGE", get: |o| first(o, &["vnirange", "vlanrange"], render::ranges) },
        ],
    },
    Object {
        name: "physicalport",
        module: VF,
        create: "createphysicalport",
        update: Some("updatephysicalport"),
        delete: "deletephysicalport",
        list: "listphysicalports",
        ident: &["name"],
        local_filters: &[],
        scope: None,
        columns: &[
            Column { header: "NAME", get: |o| field(o, "name") },
            Column { header: "PHYSICALNETWORK", get: |o| field(o, "physicalnetwork") },
            Column { header: "VHOST", get: |o| field(o, "vhost") },
            Column { header: "SYSTEMID", get: |o| field(o, "systemid") },
            Column { header: "BRIDGE", get: |o| field(o, "bridge") },
        ],
    },
    Object {
        name: "logicalnetwork",
        module: VF,
        create: "createlogicalnetwork",
        update: Some("updatelogicalnetwork"),
        delete: "deletelogicalnetwork",
        list: "listlogicalnetworks",
        ident: &["id"],
        local_filters: &[],
        scope: None,
        columns: &[
            Column { header: "ID", get: |o| field(o, "id") },
            Column { header: "PHYSICALNETWORK", get: |o| field(o, "physicalnetwork") },
            Column { header: "SEGMENT", get: |o| first(o, &["vni", "vlanid"], render::cell) },
            Column { header: "MTU", get: |o| field(o, "mtu") },
        ],
    },
    Object {
        name: "subnet",
        module: VF,
        create: "createsubnet",
        update: Some("updatesubnet"),
        delete: "deletesubnet",
        list: "listsubnets",
        ident: &["id"],
        local_filters: &[],
        scope: None,
        columns: &[
            Column { header: "ID", get: |o| field(o, "id") },
            Column { header: "LOGICALNETWORK", get: |o| field(o, "network") },
            Column { header: "CIDR", get: |o| field(o, "cidr") },
            Column { header: "GATEWAY", get: |o| field(o, "gateway") },
            Column {
                header: "POOL",
                get: |o| format!("{}-{}", field(o, "allocated_start"), field(o, "allocated_end")),
            },
        ],
    },
    Object {
        name: "logicalport",
        module: VF,
        create: "createlogicalport",
        update: Some("updatelogicalport"),
        delete: "deletelogicalport",
        list: "listlogicalports",
        ident: &["id"],
        local_filters: &[],
        scope: None,
        columns: &[
            Column { header: "ID", get: |o| field(o, "id") },
            Column { header: "LOGICALNETWORK", get: |o| field(o, "network") },
            Column { header: "SUBNET", get: |o| field(o, "subnet") },
            Column { header: "MAC", get: |o| field(o, "mac_address") },
            Column { header: "IP", get: |o| field(o, "ip_address") },
        ],
    },
    Object {
        name: "router",
        module: VR,
        create: "createvirtualrouter",
        update: Some("updatevirtualrouter"),
        delete: "deletevirtualrouter",
        list: "listvirtualrouters",
        ident: &["id"],
        local_filters: &[],
        scope: None,
        columns: &[
            Column { header: "ID", get: |o| field(o, "id") },
            Column {
                header: "INTERFACES",
                get: |o| o.get("interfaces").and_then(Value::as_array).map_or(0, Vec::len).to_string(),
            },
            Column { header: "ROUTES", get: |o| first(o, &["routes"], render::routes) },
        ],
    },
    Object {
        name: "routerinterface",
        module: VR,
        create: "addrouterinterface",
        update: None,
        delete: "removerouterinterface",
        list: "listrouterinterfaces",
        ident: &["router", "subnet"],
        local_filters: &["subnet"],
        scope: Some(Scope { param: "router", api_param: "id", parents_api: "listvirtualrouters" }),
        columns: &[
            Column { header: "ROUTER", get: |o| field(o, "router") },
            Column { header: "SUBNET", get: |o| field(o, "subnet") },
            Column {
                header: "IP",
                get: |o| match o.get("ip_address") {
                    Some(Value::String(ip)) => ip.clone(),
                    _ => o.get("subnet").map_or_else(|| "-".into(), |s| field(s, "gateway")),
                },
            },
        ],
    },
];

/// The first of `names` that the object has, shown with `show`.
fn first(o: &Value, names: &[&str], show: fn(&Value) -> String) -> String {
    names.iter().find_map(|n| o.get(*n).filter(|v| !v.is_null())).map_or_else(|| "-".into(), show)
}

/// Looks an object type up by its command-line name (`virtualrouter` is accepted for `router`).
pub fn find(name: &str) -> Option<&'static Object> {
    let name = name.to_ascii_lowercase();
    let name = if name == "virtualrouter" { "router" } else { name.as_str() };
    OBJECTS.iter().find(|o| o.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vlcp::web::api::{self, Kind, Op};

    /// The server's table is the authority on API names: every call vlcpctl makes must exist
    /// there, for the right object family and operation.
    #[test]
    fn every_api_vlcpctl_calls_exists_on_the_server() {
        let kind = |name| match name {
            "physicalnetwork" => Kind::PhysicalNetwork,
            "physicalport" => Kind::PhysicalPort,
            "logicalnetwork" => Kind::LogicalNetwork,
            "subnet" => Kind::Subnet,
            "logicalport" => Kind::LogicalPort,
            "router" => Kind::VirtualRouter,
            "routerinterface" => Kind::RouterInterface,
            other => panic!("unknown object {other}"),
        };
        for o in OBJECTS {
            let calls = [
                Some((o.create, Op::Create)),
                o.update.map(|u| (u, Op::Update)),
                Some((o.delete, Op::Delete)),
                Some((o.list, Op::List)),
            ];
            for (name, op) in calls.into_iter().flatten() {
                let def = api::find(o.module, name).unwrap_or_else(|| panic!("{}/{name} missing", o.module));
                assert_eq!((def.kind, def.op, def.batch), (kind(o.name), op, None), "{name}");
            }
            if let Some(s) = &o.scope {
                let def = api::find(o.module, s.parents_api).expect("parents api");
                assert_eq!(def.op, Op::List);
                assert!(api::find(o.module, o.list).unwrap().params.iter().any(|(p, _)| *p == s.api_param));
            }
            assert!(!o.ident.is_empty() && !o.columns.is_empty());
        }
        // Router interfaces are the only family without an update API.
        assert!(api::APIS.iter().all(|a| a.op != Op::Update || a.kind != Kind::RouterInterface));
    }

    #[test]
    fn names_and_aliases_resolve() {
        assert_eq!(find("LogicalPort").map(|o| o.name), Some("logicalport"));
        assert_eq!(find("virtualrouter").map(|o| o.name), Some("router"));
        assert!(find("port").is_none());
    }
}
