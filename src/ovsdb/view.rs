//! A typed, cached view of the switch database: `Open_vSwitch`, `Bridge`, `Port`, `Interface`
//! (and `Controller`, for the bridge controller target), with change events.
//!
//! [`View::monitor_spec`] says which columns to monitor. Feed each batch of [`RowChange`]s from
//! the [`Cache`](super::monitor::Cache) into [`View::apply`]; it updates the typed rows and
//! returns [`ViewEvent`]s (added / modified / removed) in the same order, skipping changes
//! that leave the typed row equal. Lookups by name, by `iface-id` and up the
//! interface → port → bridge chain are answered from the view.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::datum::{Atom, Datum, Uuid};
use super::monitor::{MonitorSpec, RowChange};
use super::ops::Row;

/// The `Open_vSwitch` database name.
pub const DB: &str = "Open_vSwitch";

/// The root `Open_vSwitch` row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenVswitch {
    /// Row UUID.
    pub uuid: Uuid,
    /// `external_ids:system-id`.
    pub system_id: Option<String>,
    /// Bridges.
    pub bridges: BTreeSet<Uuid>,
}

/// A `Bridge` row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bridge {
    /// Row UUID.
    pub uuid: Uuid,
    /// Name.
    pub name: String,
    /// `datapath_id` parsed from hexadecimal (assigned by ovs-vswitchd).
    pub datapath_id: Option<u64>,
    /// `datapath_type` (`""` is the system datapath, `netdev` the userspace one).
    pub datapath_type: String,
    /// `fail_mode` (`secure` / `standalone`).
    pub fail_mode: Option<String>,
    /// OpenFlow `protocols`.
    pub protocols: BTreeSet<String>,
    /// `controller` rows.
    pub controllers: BTreeSet<Uuid>,
    /// `ports` rows.
    pub ports: BTreeSet<Uuid>,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
}

/// A `Port` row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Port {
    /// Row UUID.
    pub uuid: Uuid,
    /// Name.
    pub name: String,
    /// `interfaces` rows.
    pub interfaces: BTreeSet<Uuid>,
    /// `external_ids`.
    pub external_ids: BTreeMap<String, String>,
}

/// An `Interface` row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interface {
    /// Row UUID.
    pub uuid: Uuid,
    /// Name.
    pub name: String,
    /// `type` (`""` system, `internal`, `vxlan`, ...).
    pub iface_type: String,
    /// OpenFlow port number; `None` until assigned, `Some(-1)` on error.
    pub ofport: Option<i64>,
    /// Kernel ifindex, once known.
    pub ifindex: Option<i64>,
    /// `options` (tunnels: `local_ip`, `remote_ip`, `key`, `dst_port`).
    pub options: BTreeMap<String, String>,
    /// `external_ids` (`iface-id` binds a logical port).
    pub external_ids: BTreeMap<String, String>,
    /// `error`, set by ovs-vswitchd when the interface could not be created.
    pub error: Option<String>,
}

impl Interface {
    /// `external_ids:iface-id`.
    pub fn iface_id(&self) -> Option<&str> {
        self.external_ids.get("iface-id").map(String::as_str)
    }
    /// `options:local_ip`.
    pub fn local_ip(&self) -> Option<&str> {
        self.options.get("local_ip").map(String::as_str)
    }
    /// `options:remote_ip`.
    pub fn remote_ip(&self) -> Option<&str> {
        self.options.get("remote_ip").map(String::as_str)
    }
    /// `options:key`.
    pub fn key(&self) -> Option<&str> {
        self.options.get("key").map(String::as_str)
    }
    /// `options:dst_port`.
    pub fn dst_port(&self) -> Option<&str> {
        self.options.get("dst_port").map(String::as_str)
    }
    /// The usable OpenFlow port: assigned and not `-1`.
    pub fn usable_ofport(&self) -> Option<u32> {
        self.ofport.filter(|p| *p > 0).and_then(|p| u32::try_from(p).ok())
    }
}

/// A `Controller` row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Controller {
    /// Row UUID.
    pub uuid: Uuid,
    /// `target` (`unix:/path`, `tcp:ip:port`, ...).
    pub target: String,
}

/// How a row changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    /// A new row.
    Added(T),
    /// A row whose typed fields changed.
    Modified {
        /// Before.
        old: T,
        /// After.
        new: T,
    },
    /// A deleted row.
    Removed(T),
}

impl<T> Change<T> {
    /// The row after the change, or the removed row.
    pub fn current(&self) -> &T {
        match self {
            Change::Added(t) | Change::Removed(t) | Change::Modified { new: t, .. } => t,
        }
    }
}

/// A typed change event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViewEvent {
    /// The root row changed.
    OpenVswitch(Change<OpenVswitch>),
    /// A bridge changed.
    Bridge(Change<Bridge>),
    /// A port changed.
    Port(Change<Port>),
    /// An interface changed.
    Interface(Change<Interface>),
    /// A controller changed.
    Controller(Change<Controller>),
}

/// The typed rows; see the module docs.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The root row (one per database).
    pub open_vswitch: Option<OpenVswitch>,
    /// Bridges by UUID.
    pub bridges: HashMap<Uuid, Bridge>,
    /// Ports by UUID.
    pub ports: HashMap<Uuid, Port>,
    /// Interfaces by UUID.
    pub interfaces: HashMap<Uuid, Interface>,
    /// Controllers by UUID.
    pub controllers: HashMap<Uuid, Controller>,
    port_of_iface: HashMap<Uuid, Uuid>,
    bridge_of_port: HashMap<Uuid, Uuid>,
}

fn cols(c: &[&str]) -> Vec<String> {
    c.iter().map(|s| (*s).to_owned()).collect()
}

fn string(row: &Row, c: &str) -> String {
    row.get(c).and_then(Datum::as_single).and_then(Atom::as_str).unwrap_or_default().to_owned()
}
fn opt_string(row: &Row, c: &str) -> Option<String> {
    row.get(c).and_then(Datum::as_single).and_then(Atom::as_str).map(str::to_owned)
}
fn opt_int(row: &Row, c: &str) -> Option<i64> {
    row.get(c).and_then(Datum::as_single).and_then(Atom::as_i64)
}
fn uuids(row: &Row, c: &str) -> BTreeSet<Uuid> {
    row.get(c).map(|d| d.as_set().into_iter().filter_map(Atom::as_uuid).collect()).unwrap_or_default()
}
fn strings(row: &Row, c: &str) -> BTreeSet<String> {
    row.get(c)
        .map(|d| d.as_set().into_iter().filter_map(|a| a.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}
fn smap(row: &Row, c: &str) -> BTreeMap<String, String> {
    row.get(c).map(Datum::to_string_map).unwrap_or_default()
}

impl OpenVswitch {
    fn from_row(uuid: Uuid, r: &Row) -> Self {
        OpenVswitch {
            uuid,
            system_id: smap(r, "external_ids").remove("system-id"),
            bridges: uuids(r, "bridges"),
        }
    }
}
impl Bridge {
    fn from_row(uuid: Uuid, r: &Row) -> Self {
        Bridge {
            uuid,
            name: string(r, "name"),
            datapath_id: opt_string(r, "datapath_id").and_then(|s| u64::from_str_radix(&s, 16).ok()),
            datapath_type: string(r, "datapath_type"),
            fail_mode: opt_string(r, "fail_mode"),
            protocols: strings(r, "protocols"),
            controllers: uuids(r, "controller"),
            ports: uuids(r, "ports"),
            external_ids: smap(r, "external_ids"),
        }
    }
}
impl Port {
    fn from_row(uuid: Uuid, r: &Row) -> Self {
        Port {
            uuid,
            name: string(r, "name"),
            interfaces: uuids(r, "interfaces"),
            external_ids: smap(r, "external_ids"),
        }
    }
}
impl Interface {
    fn from_row(uuid: Uuid, r: &Row) -> Self {
        Interface {
            uuid,
            name: string(r, "name"),
            iface_type: string(r, "type"),
            ofport: opt_int(r, "ofport"),
            ifindex: opt_int(r, "ifindex"),
            options: smap(r, "options"),
            external_ids: smap(r, "external_ids"),
            error: opt_string(r, "error"),
        }
    }
}
impl Controller {
    fn from_row(uuid: Uuid, r: &Row) -> Self {
        Controller { uuid, target: string(r, "target") }
    }
}

/// Applies one change to a typed map and returns the event, if the typed row changed.
fn step<T: Clone + PartialEq>(
    map: &mut HashMap<Uuid, T>,
    ch: &RowChange,
    decode: impl Fn(Uuid, &Row) -> T,
) -> Option<Change<T>> {
    match &ch.new {
        Some(r) => {
            let new = decode(ch.uuid, r);
            match map.insert(ch.uuid, new.clone()) {
                Some(old) if old == new => None,
                Some(old) => Some(Change::Modified { old, new }),
                None => Some(Change::Added(new)),
            }
        }
        None => map.remove(&ch.uuid).map(Change::Removed),
    }
}

impl View {
    /// The columns the view needs, in event order.
    pub fn monitor_spec() -> MonitorSpec {
        MonitorSpec {
            db: DB.into(),
            tables: vec![
                ("Open_vSwitch".into(), cols(&["external_ids", "bridges"])),
                (
                    "Bridge".into(),
                    cols(&[
                        "name",
                        "datapath_id",
                        "datapath_type",
                        "fail_mode",
                        "protocols",
                        "controller",
                        "ports",
                        "external_ids",
                    ]),
                ),
                ("Port".into(), cols(&["name", "interfaces", "external_ids"])),
                (
                    "Interface".into(),
                    cols(&["name", "type", "ofport", "ifindex", "options", "external_ids", "error"]),
                ),
                ("Controller".into(), cols(&["target"])),
            ],
        }
    }

    /// Applies row changes and returns the typed events, in order.
    pub fn apply(&mut self, changes: &[RowChange]) -> Vec<ViewEvent> {
        let mut events = Vec::with_capacity(changes.len());
        for ch in changes {
            let ev = match ch.table.as_str() {
                "Open_vSwitch" => {
                    let new = ch.new.as_ref().map(|r| OpenVswitch::from_row(ch.uuid, r));
                    let old = std::mem::replace(&mut self.open_vswitch, new.clone());
                    match (old, new) {
                        (None, Some(n)) => Some(Change::Added(n)),
                        (Some(o), Some(n)) if o != n => Some(Change::Modified { old: o, new: n }),
                        (Some(o), None) => Some(Change::Removed(o)),
                        _ => None,
                    }
                    .map(ViewEvent::OpenVswitch)
                }
                "Bridge" => {
                    let c = step(&mut self.bridges, ch, Bridge::from_row);
                    if let Some(c) = &c {
                        self.relink(c, |b: &Bridge| &b.ports, Relink::BridgeOfPort);
                    }
                    c.map(ViewEvent::Bridge)
                }
                "Port" => {
                    let c = step(&mut self.ports, ch, Port::from_row);
                    if let Some(c) = &c {
                        self.relink(c, |p: &Port| &p.interfaces, Relink::PortOfIface);
                    }
                    c.map(ViewEvent::Port)
                }
                "Interface" => step(&mut self.interfaces, ch, Interface::from_row).map(ViewEvent::Interface),
                "Controller" => {
                    step(&mut self.controllers, ch, Controller::from_row).map(ViewEvent::Controller)
                }
                _ => None,
            };
            events.extend(ev);
        }
        events
    }

    fn relink<T: HasUuid>(&mut self, c: &Change<T>, children: impl Fn(&T) -> &BTreeSet<Uuid>, which: Relink) {
        let index = match which {
            Relink::BridgeOfPort => &mut self.bridge_of_port,
            Relink::PortOfIface => &mut self.port_of_iface,
        };
        let (old, new) = match c {
            Change::Added(n) => (None, Some(n)),
            Change::Removed(o) => (Some(o), None),
            Change::Modified { old, new } => (Some(old), Some(new)),
        };
        let parent = c.current().uuid();
        let empty = BTreeSet::new();
        let (old, new) = (old.map_or(&empty, &children), new.map_or(&empty, &children));
        // Sorted-set differences: a one-port change to a 10 000-port bridge touches one entry.
        for child in old.difference(new) {
            if index.get(child) == Some(&parent) {
                index.remove(child);
            }
        }
        for child in new.difference(old) {
            index.insert(*child, parent);
        }
    }

    /// `Open_vSwitch.external_ids:system-id`.
    pub fn system_id(&self) -> Option<&str> {
        self.open_vswitch.as_ref()?.system_id.as_deref()
    }

    /// The bridge called `name`.
    pub fn bridge_by_name(&self, name: &str) -> Option<&Bridge> {
        self.bridges.values().find(|b| b.name == name)
    }

    /// The port called `name`.
    pub fn port_by_name(&self, name: &str) -> Option<&Port> {
        self.ports.values().find(|p| p.name == name)
    }

    /// The interface called `name`.
    pub fn interface_by_name(&self, name: &str) -> Option<&Interface> {
        self.interfaces.values().find(|i| i.name == name)
    }

    /// Interfaces whose `external_ids:iface-id` is `id` (one per bridge at most, normally).
    pub fn interfaces_by_iface_id<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Interface> + 'a {
        self.interfaces.values().filter(move |i| i.iface_id() == Some(id))
    }

    /// The port that holds interface `iface`.
    pub fn port_of_interface(&self, iface: &Uuid) -> Option<&Port> {
        self.ports.get(self.port_of_iface.get(iface)?)
    }

    /// The bridge that holds port `port`.
    pub fn bridge_of_port(&self, port: &Uuid) -> Option<&Bridge> {
        self.bridges.get(self.bridge_of_port.get(port)?)
    }

    /// The bridge an interface is attached to.
    pub fn bridge_of_interface(&self, iface: &Uuid) -> Option<&Bridge> {
        self.bridge_of_port(&self.port_of_interface(iface)?.uuid)
    }
}

#[derive(Clone, Copy)]
enum Relink {
    BridgeOfPort,
    PortOfIface,
}

trait HasUuid {
    fn uuid(&self) -> Uuid;
}
impl HasUuid for Bridge {
    fn uuid(&self) -> Uuid {
        self.uuid
    }
}
impl HasUuid for Port {
    fn uuid(&self) -> Uuid {
        self.uuid
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::monitor::{Cache, UpdateFormat};
    use serde_json::json;

    const B: &str = "bbbbbbbb-0000-0000-0000-000000000001";
    const P: &str = "cccccccc-0000-0000-0000-000000000001";
    const I: &str = "dddddddd-0000-0000-0000-000000000001";

    #[test]
    fn events_and_links() {
        let mut cache = Cache::new(&View::monitor_spec(), None);
        let mut view = View::default();
        let upd = json!({
            "Bridge": {B: {"new": {"name": "br0", "datapath_id": "00000000000000ab", "ports": ["uuid", P], "datapath_type": "netdev"}}},
            "Port": {P: {"new": {"name": "p1", "interfaces": ["uuid", I]}}},
            "Interface": {I: {"new": {"name": "p1", "ofport": ["set", []], "external_ids": ["map", [["iface-id", "lp1"]]]}}},
        });
        let ev = view.apply(&cache.apply(&upd, UpdateFormat::V1).unwrap());
        assert_eq!(ev.len(), 3);
        assert!(matches!(&ev[0], ViewEvent::Bridge(Change::Added(b)) if b.datapath_id == Some(0xab)));
        let iface = view.interface_by_name("p1").unwrap().clone();
        assert_eq!(iface.ofport, None);
        assert_eq!(view.bridge_of_interface(&iface.uuid).unwrap().name, "br0");
        assert_eq!(view.interfaces_by_iface_id("lp1").count(), 1);
        // ofport assigned: one Modified event; repeating the same values: none.
        let upd = json!({"Interface": {I: {"new": {"name": "p1", "ofport": 3, "external_ids": ["map", [["iface-id", "lp1"]]]}}}});
        let ev = view.apply(&cache.apply(&upd, UpdateFormat::V1).unwrap());
        assert!(
            matches!(&ev[..], [ViewEvent::Interface(Change::Modified { new, .. })] if new.usable_ofport() == Some(3))
        );
        assert!(view.apply(&cache.apply(&upd, UpdateFormat::V1).unwrap()).is_empty());
        let upd = json!({"Bridge": {B: {"new": {"name": "br0", "ports": ["set", []]}}}, "Port": {P: {}}, "Interface": {I: {}}});
        let ev = view.apply(&cache.apply(&upd, UpdateFormat::V1).unwrap());
        assert!(matches!(&ev[2], ViewEvent::Interface(Change::Removed(i)) if i.iface_id() == Some("lp1")));
        assert!(view.bridge_of_interface(&iface.uuid).is_none());
    }
}
