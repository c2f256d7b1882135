//! The product's OVSDB transactions, each one atomic and guarded by `wait` operations.
//!
//! Every builder reads the current [`View`] and returns the operations of one transaction. The
//! leading `wait`s (timeout 0) assert that what the builder saw still holds when the server runs
//! the transaction; if a concurrent client changed it, the server fails the `wait` with
//! `timed out`, nothing is applied, and the caller gets a [`TxnError`](super::ops::TxnError)
//! whose [`is_conflict`](super::ops::TxnError::is_conflict) is true: wait for the view to
//! catch up, rebuild and retry. Set changes use `mutate` (insert / delete), so unrelated
//! concurrent changes to the same bridge do not conflict.

use std::collections::BTreeMap;

use super::datum::{Atom, Datum, Uuid};
use super::ops::{Condition, Function, Mutation, Mutator, Operation, Row, WaitUntil};
use super::view::{Bridge, View};

/// A transaction cannot be built from the current view.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnBuildError {
    /// No bridge with this name.
    #[error("bridge {0:?} not found")]
    BridgeNotFound(String),
    /// A port with this name already exists.
    #[error("port {0:?} already exists")]
    PortExists(String),
    /// No port with this name.
    #[error("port {0:?} not found")]
    PortNotFound(String),
    /// The port is in no bridge.
    #[error("port {0:?} is not attached to a bridge")]
    PortDetached(String),
    /// No interface with this name.
    #[error("interface {0:?} not found")]
    InterfaceNotFound(String),
}

/// What [`ensure_bridge`] makes true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    /// Bridge name.
    pub name: String,
    /// `datapath_type` (`netdev` for the userspace datapath, `""` for the kernel one).
    pub datapath_type: String,
    /// Controller target (`unix:/path`, `tcp:ip:port`); `None` leaves controllers alone.
    pub controller: Option<String>,
    /// OpenFlow versions; `OpenFlow13` by default.
    pub protocols: Vec<String>,
}

impl BridgeSpec {
    /// A bridge with `fail_mode=secure` and `protocols=OpenFlow13`.
    pub fn new(name: &str, datapath_type: &str) -> BridgeSpec {
        BridgeSpec {
            name: name.into(),
            datapath_type: datapath_type.into(),
            controller: None,
            protocols: vec!["OpenFlow13".into()],
        }
    }

    /// Sets the controller target.
    pub fn controller(mut self, target: &str) -> BridgeSpec {
        self.controller = Some(target.into());
        self
    }
}

/// What [`add_port`] creates: a port with one interface of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortSpec {
    /// Bridge to attach to.
    pub bridge: String,
    /// Port and interface name.
    pub name: String,
    /// Interface `type` (`""` system, `internal`, `vxlan`, ...).
    pub iface_type: String,
    /// Interface `options`.
    pub options: BTreeMap<String, String>,
    /// Interface `external_ids` (`iface-id`).
    pub external_ids: BTreeMap<String, String>,
}

fn s(v: &str) -> Datum {
    Datum::Atom(Atom::from(v))
}

fn named(n: &str) -> Datum {
    Datum::set([Atom::NamedUuid(n.into())])
}

fn smap(m: &BTreeMap<String, String>) -> Datum {
    Datum::map(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// `wait` that the rows matching `conditions`, projected on `columns`, are exactly `rows`.
fn guard(table: &str, conditions: Vec<Condition>, columns: &[&str], rows: Vec<Row>) -> Operation {
    Operation::Wait {
        table: table.into(),
        conditions,
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        until: WaitUntil::Equal,
        rows,
        timeout_ms: Some(0),
    }
}

fn name_row(name: &str) -> Row {
    Row::from([("name".to_owned(), s(name))])
}

/// The bridge columns [`ensure_bridge`] owns, as the view saw them.
fn bridge_row(b: &Bridge) -> Row {
    Row::from([
        ("name".to_owned(), s(&b.name)),
        ("datapath_type".to_owned(), s(&b.datapath_type)),
        ("fail_mode".to_owned(), Datum::set(b.fail_mode.iter().map(|m| m.as_str()))),
        ("protocols".to_owned(), Datum::set(b.protocols.iter().map(|p| p.as_str()))),
        ("controller".to_owned(), Datum::set(b.controllers.iter().copied())),
    ])
}

/// Creates the bridge (with its internal port) or brings an existing one to `spec`.
/// Returns no operations when the bridge already matches.
pub fn ensure_bridge(view: &View, spec: &BridgeSpec) -> Vec<Operation> {
    let protocols = Datum::set(spec.protocols.iter().map(String::as_str));
    let mut ops = Vec::new();
    let Some(b) = view.bridge_by_name(&spec.name) else {
        ops.push(guard("Bridge", vec![Condition::eq("name", spec.name.as_str())], &["name"], vec![]));
        ops.push(Operation::Insert {
            table: "Interface".into(),
            row: Row::from([("name".into(), s(&spec.name)), ("type".into(), s("internal"))]),
            uuid_name: Some("iface".into()),
        });
        ops.push(Operation::Insert {
            table: "Port".into(),
            row: Row::from([("name".into(), s(&spec.name)), ("interfaces".into(), named("iface"))]),
            uuid_name: Some("port".into()),
        });
        let mut row = Row::from([
            ("name".into(), s(&spec.name)),
            ("ports".into(), named("port")),
            ("datapath_type".into(), s(&spec.datapath_type)),
            ("fail_mode".into(), s("secure")),
            ("protocols".into(), protocols),
        ]);
        if let Some(target) = &spec.controller {
            ops.push(controller_insert(target));
            row.insert("controller".into(), named("ctl"));
        }
        ops.push(Operation::Insert { table: "Bridge".into(), row, uuid_name: Some("bridge".into()) });
        ops.push(Operation::Mutate {
            table: "Open_vSwitch".into(),
            conditions: vec![],
            mutations: vec![Mutation::new("bridges", Mutator::Insert, named("bridge"))],
        });
        return ops;
    };
    let mut row = Row::new();
    if b.datapath_type != spec.datapath_type {
        row.insert("datapath_type".into(), s(&spec.datapath_type));
    }
    if b.fail_mode.as_deref() != Some("secure") {
        row.insert("fail_mode".into(), s("secure"));
    }
    if b.protocols.iter().ne(spec.protocols.iter()) {
        row.insert("protocols".into(), protocols);
    }
    if let Some(target) = &spec.controller {
        let mut targets = b.controllers.iter().map(|u| view.controllers.get(u).map(|c| c.target.as_str()));
        let same = b.controllers.len() == 1 && targets.all(|t| t == Some(target.as_str()));
        if !same {
            ops.push(controller_insert(target));
            row.insert("controller".into(), named("ctl"));
        }
    }
    if row.is_empty() {
        return Vec::new();
    }
    let cols = ["name", "datapath_type", "fail_mode", "protocols", "controller"];
    ops.insert(0, guard("Bridge", vec![Condition::uuid(b.uuid)], &cols, vec![bridge_row(b)]));
    ops.push(Operation::Update { table: "Bridge".into(), conditions: vec![Condition::uuid(b.uuid)], row });
    ops
}

fn controller_insert(target: &str) -> Operation {
    Operation::Insert {
        table: "Controller".into(),
        row: Row::from([("target".into(), s(target))]),
        uuid_name: Some("ctl".into()),
    }
}

/// Adds a port with one interface to a bridge. Guards: the bridge still exists and no port or
/// interface of that name exists.
pub fn add_port(view: &View, spec: &PortSpec) -> Result<Vec<Operation>, TxnBuildError> {
    let b = view
        .bridge_by_name(&spec.bridge)
        .ok_or_else(|| TxnBuildError::BridgeNotFound(spec.bridge.clone()))?;
    if view.port_by_name(&spec.name).is_some() || view.interface_by_name(&spec.name).is_some() {
        return Err(TxnBuildError::PortExists(spec.name.clone()));
    }
    let by_name = || vec![Condition::eq("name", spec.name.as_str())];
    Ok(vec![
        guard("Bridge", vec![Condition::uuid(b.uuid)], &["name"], vec![name_row(&b.name)]),
        guard("Port", by_name(), &["name"], vec![]),
        guard("Interface", by_name(), &["name"], vec![]),
        Operation::Insert {
            table: "Interface".into(),
            row: Row::from([
                ("name".into(), s(&spec.name)),
                ("type".into(), s(&spec.iface_type)),
                ("options".into(), smap(&spec.options)),
                ("external_ids".into(), smap(&spec.external_ids)),
            ]),
            uuid_name: Some("iface".into()),
        },
        Operation::Insert {
            table: "Port".into(),
            row: Row::from([("name".into(), s(&spec.name)), ("interfaces".into(), named("iface"))]),
            uuid_name: Some("port".into()),
        },
        Operation::Mutate {
            table: "Bridge".into(),
            conditions: vec![Condition::uuid(b.uuid)],
            mutations: vec![Mutation::new("ports", Mutator::Insert, named("port"))],
        },
    ])
}

/// Removes a port (and so its interfaces) from its bridge. Guard: the bridge still holds it.
pub fn delete_port(view: &View, name: &str) -> Result<Vec<Operation>, TxnBuildError> {
    let p = view.port_by_name(name).ok_or_else(|| TxnBuildError::PortNotFound(name.into()))?;
    let b = view.bridge_of_port(&p.uuid).ok_or_else(|| TxnBuildError::PortDetached(name.into()))?;
    let holds =
        Condition { column: "ports".into(), function: Function::Includes, value: Datum::set([p.uuid]) };
    Ok(vec![
        guard("Bridge", vec![Condition::uuid(b.uuid), holds], &["name"], vec![name_row(&b.name)]),
        Operation::Mutate {
            table: "Bridge".into(),
            conditions: vec![Condition::uuid(b.uuid)],
            mutations: vec![Mutation::new("ports", Mutator::Delete, Datum::set([p.uuid]))],
        },
    ])
}

/// Sets the given keys of an interface's `options` (other keys are kept).
pub fn set_interface_options(
    view: &View,
    name: &str,
    options: &BTreeMap<String, String>,
) -> Result<Vec<Operation>, TxnBuildError> {
    set_interface_map(view, name, "options", options)
}

/// Sets the given keys of an interface's `external_ids` (other keys are kept).
pub fn set_interface_external_ids(
    view: &View,
    name: &str,
    ids: &BTreeMap<String, String>,
) -> Result<Vec<Operation>, TxnBuildError> {
    set_interface_map(view, name, "external_ids", ids)
}

fn set_interface_map(
    view: &View,
    name: &str,
    column: &str,
    pairs: &BTreeMap<String, String>,
) -> Result<Vec<Operation>, TxnBuildError> {
    let i = view.interface_by_name(name).ok_or_else(|| TxnBuildError::InterfaceNotFound(name.into()))?;
    let uuid: Uuid = i.uuid;
    Ok(vec![
        guard("Interface", vec![Condition::uuid(uuid)], &["name"], vec![name_row(name)]),
        Operation::Mutate {
            table: "Interface".into(),
            conditions: vec![Condition::uuid(uuid)],
            mutations: vec![
                Mutation::new(column, Mutator::Delete, Datum::set(pairs.keys().map(String::as_str))),
                Mutation::new(column, Mutator::Insert, smap(pairs)),
            ],
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::monitor::{Cache, UpdateFormat};
    use serde_json::json;

    fn view() -> View {
        let mut c = Cache::new(&View::monitor_spec(), None);
        let mut v = View::default();
        let upd = json!({
            "Bridge": {"bbbbbbbb-0000-0000-0000-000000000001": {"new": {"name": "br0", "datapath_type": "netdev", "fail_mode": "secure", "protocols": "OpenFlow13", "ports": ["uuid", "cccccccc-0000-0000-0000-000000000001"]}}},
            "Port": {"cccccccc-0000-0000-0000-000000000001": {"new": {"name": "p1", "interfaces": ["uuid", "dddddddd-0000-0000-0000-000000000001"]}}},
            "Interface": {"dddddddd-0000-0000-0000-000000000001": {"new": {"name": "p1"}}},
        });
        v.apply(&c.apply(&upd, UpdateFormat::V1).unwrap());
        v
    }

    #[test]
    fn ensure_bridge_shapes() {
        let v = view();
        let new = ensure_bridge(&v, &BridgeSpec::new("br1", "netdev").controller("unix:/x"));
        let names: Vec<_> = new.iter().map(Operation::name).collect();
        assert_eq!(names, ["wait", "insert", "insert", "insert", "insert", "mutate"]);
        assert!(ensure_bridge(&v, &BridgeSpec::new("br0", "netdev")).is_empty());
        let upd = ensure_bridge(&v, &BridgeSpec::new("br0", "system"));
        assert_eq!(upd.iter().map(Operation::name).collect::<Vec<_>>(), ["wait", "update"]);
        assert_eq!(upd[0].to_json()["rows"][0]["protocols"], json!(["set", ["OpenFlow13"]]));
    }

    #[test]
    fn port_builders() {
        let v = view();
        let spec = PortSpec { bridge: "br0".into(), name: "p2".into(), ..Default::default() };
        assert_eq!(add_port(&v, &spec).unwrap().len(), 6);
        let dup = PortSpec { name: "p1".into(), ..spec.clone() };
        assert_eq!(add_port(&v, &dup), Err(TxnBuildError::PortExists("p1".into())));
        let nob = PortSpec { bridge: "nope".into(), ..spec };
        assert_eq!(add_port(&v, &nob), Err(TxnBuildError::BridgeNotFound("nope".into())));
        let del = delete_port(&v, "p1").unwrap();
        assert_eq!(del[0].to_json()["where"][1][1], "includes");
        assert_eq!(delete_port(&v, "zz"), Err(TxnBuildError::PortNotFound("zz".into())));
        let o = BTreeMap::from([("remote_ip".to_owned(), "198.18.0.2".to_owned())]);
        let set = set_interface_options(&v, "p1", &o).unwrap();
        assert_eq!(set[1].to_json()["mutations"][0], json!(["options", "delete", ["set", ["remote_ip"]]]));
        assert!(set_interface_options(&v, "zz", &o).is_err());
    }
}
