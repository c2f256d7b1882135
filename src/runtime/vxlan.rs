//! The vxlancast publisher: keeps this host's part of the VXLAN state in ObjectDB, the data
//! every other host's flows are computed from (see [`crate::sdn::vxlan`] for the layout).
//!
//! For every switch the SDN controller drives (its bridge and bound logical ports come from
//! [`SdnController::watch_status`](crate::runtime::controller::SdnController::watch_status)):
//! - the tunnel source is `options:local_ip` of the bridge's `type=vxlan` interface in OVSDB
//!   (the first by name); a switch without one publishes nothing;
//! - the host is `(vhost "", Open_vSwitch external_ids:system-id, bridge)`: every host needs its
//!   own `system-id` (Debian's openvswitch-switch sets one at install);
//! - for each VXLAN network with a bound port here, this host is in the network's
//!   `VXLANEndpointSet` (renewed when less than one `refreshinterval` is left, expiring after
//!   two); for each such port, this host is first in its `LogicalPortVXLANInfo`;
//! - entries for networks and ports no longer here are removed.
//!
//! It decides from the model snapshot (which already contains these objects) whether a write is
//! due, so a quiet system does no store traffic beyond the periodic renewal; each write is one
//! transaction that re-checks the stored object. Store failures are logged and retried on the
//! next pass (every second at most); flows already installed are not touched by a store outage.
//!
//! ```no_run
//! # async fn demo(db: vlcp::objectdb::ObjectDb, ovsdb: vlcp::runtime::ovsdb::OvsdbClient,
//! #               sdn: &vlcp::runtime::controller::SdnController,
//! #               model: tokio::sync::watch::Receiver<std::sync::Arc<vlcp::sdn::input::ModelSnapshot>>) {
//! use vlcp::runtime::vxlan::VxlanPublisher;
//! let publisher = VxlanPublisher::spawn(db, ovsdb, sdn.watch_status(), model, Default::default());
//! // ... dropping it stops the task.
//! # drop(publisher);
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::objectdb::{DataObject, ObjectDb, TxnError};
use crate::ovsdb::view::View;
use crate::runtime::controller::Status;
use crate::runtime::ovsdb::OvsdbClient;
use crate::sdn::config::VxlanConfig;
use crate::sdn::input::{ModelSnapshot, NetworkType};
use crate::sdn::vxlan::{
    Host, LogicalPortVxlanInfo, VxlanEndpointSet, now_micros, refresh_endpoint_set, update_port_info,
};

/// The running publisher task; dropping it stops the task.
pub struct VxlanPublisher {
    task: JoinHandle<()>,
}

impl Drop for VxlanPublisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What this host has, per switch.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Local {
    me: Host,
    tunnel_ip: Ipv4Addr,
    /// VXLAN network id → its ports bound here.
    nets: BTreeMap<String, BTreeSet<String>>,
}

/// The tunnel source of `bridge`: `options:local_ip` of its first `type=vxlan` interface.
pub fn tunnel_source(view: &View, bridge: &str) -> Option<Ipv4Addr> {
    let br = view.bridges.values().find(|b| b.name == bridge)?;
    let mut ifaces: Vec<_> = br
        .ports
        .iter()
        .filter_map(|u| view.ports.get(u))
        .flat_map(|p| p.interfaces.iter().filter_map(|u| view.interfaces.get(u)))
        .filter(|i| i.iface_type == "vxlan")
        .collect();
    ifaces.sort_by(|a, b| a.name.cmp(&b.name));
    ifaces.iter().find_map(|i| i.local_ip()?.parse().ok())
}

fn locals(status: &Status, view: &View, model: &ModelSnapshot) -> Vec<Local> {
    let systemid = view.system_id().unwrap_or_default().to_owned();
    let mut out = Vec::new();
    for sw in status.values() {
        let Some(bridge) = &sw.bridge else { continue };
        let Some(tunnel_ip) = tunnel_source(view, bridge) else { continue };
        let mut nets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for pid in &sw.ports {
            let Some(p) = model.logical_ports.get(pid) else { continue };
            let vxlan = model
                .logical_networks
                .get(&p.network)
                .and_then(|n| model.physical_networks.get(&n.physical_network))
                .is_some_and(|pn| pn.kind == NetworkType::Vxlan);
            if vxlan {
                nets.entry(p.network.clone()).or_default().insert(pid.clone());
            }
        }
        let me = Host { vhost: String::new(), systemid: systemid.clone(), bridge: bridge.clone() };
        out.push(Local { me, tunnel_ip, nets });
    }
    out
}

impl VxlanPublisher {
    /// Starts the publisher (needs a tokio runtime).
    pub fn spawn(
        db: ObjectDb,
        ovsdb: OvsdbClient,
        status: watch::Receiver<Status>,
        model: watch::Receiver<Arc<ModelSnapshot>>,
        cfg: VxlanConfig,
    ) -> VxlanPublisher {
        let task = tokio::spawn(run(db, ovsdb, status, model, cfg));
        VxlanPublisher { task }
    }
}

async fn run(
    db: ObjectDb,
    ovsdb: OvsdbClient,
    mut status: watch::Receiver<Status>,
    mut model: watch::Receiver<Arc<ModelSnapshot>>,
    cfg: VxlanConfig,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned_no_systemid = false;
    loop {
        if ovsdb.is_synced() {
            let snap = model.borrow().clone();
            let st = status.borrow().clone();
            let here = ovsdb.with_view(|v| locals(&st, v, &snap));
            if !warned_no_systemid && here.iter().any(|l| l.me.systemid.is_empty()) {
                tracing::warn!(
                    "OVS has no external_ids:system-id: vxlancast cannot tell this host from others \
                     with the same bridge name; set one with ovs-vsctl"
                );
                warned_no_systemid = true;
            }
            for l in &here {
                if let Err(e) = publish(&db, &snap, l, &cfg).await {
                    tracing::warn!(bridge = %l.me.bridge, "vxlancast: publishing this host failed, retrying: {e}");
                }
            }
        }
        tokio::select! {
            r = status.changed() => if r.is_err() { return },
            r = model.changed() => if r.is_err() { return },
            _ = tick.tick() => {}
        }
    }
}

const SEC: u64 = 1_000_000;

/// Writes what the snapshot shows to be missing or stale for one switch.
async fn publish(db: &ObjectDb, snap: &ModelSnapshot, l: &Local, cfg: &VxlanConfig) -> Result<(), TxnError> {
    let now = now_micros();
    let interval = cfg.refresh_interval.max(1).saturating_mul(SEC);
    let migration = cfg.allowed_migration_time.saturating_mul(SEC);
    let mut nets: BTreeSet<&String> = l.nets.keys().collect();
    nets.extend(
        snap.vxlan.endpoints.iter().filter(|(_, list)| list.iter().any(|e| e.host == l.me)).map(|(n, _)| n),
    );
    for net in nets {
        let keep = l.nets.contains_key(net);
        let own = snap.vxlan.endpoints.get(net).and_then(|list| list.iter().find(|e| e.host == l.me));
        let due = match own {
            None => keep,
            Some(e) => !keep || e.tunnel_ip != l.tunnel_ip || e.expire_us <= now.saturating_add(interval),
        };
        if due {
            write_endpoint_set(db, net, l, keep, interval).await?;
        }
    }
    let here: BTreeSet<&String> = l.nets.values().flatten().collect();
    let mut ports: BTreeSet<&String> = here.clone();
    ports.extend(
        snap.vxlan.locations.iter().filter(|(_, list)| list.iter().any(|e| e.host == l.me)).map(|(p, _)| p),
    );
    for pid in ports {
        let present = here.contains(pid);
        let locs = snap.vxlan.locations.get(pid);
        let first_is_me =
            locs.and_then(|v| v.first()).is_some_and(|e| e.host == l.me && e.tunnel_ip == l.tunnel_ip);
        let has_me = locs.is_some_and(|v| v.iter().any(|e| e.host == l.me));
        if (present && !first_is_me) || (!present && has_me) {
            write_port_info(db, pid, l, present, migration).await?;
        }
    }
    Ok(())
}

async fn write_endpoint_set(
    db: &ObjectDb,
    net: &str,
    l: &Local,
    keep: bool,
    interval: u64,
) -> Result<(), TxnError> {
    let key = VxlanEndpointSet::key_of(&[net]);
    let net_key = crate::model::LogicalNetwork::key_of(&[net]);
    db.transact(&[key.clone(), net_key.clone()], |t| {
        if t.value(&net_key)?.is_none() {
            return Ok(());
        }
        let cur = t.get::<VxlanEndpointSet>(&key)?.map(|s| s.data);
        let base = cur.clone().unwrap_or(VxlanEndpointSet { id: net.to_owned(), endpointlist: Vec::new() });
        let Some(new) = refresh_endpoint_set(&base, &l.me, l.tunnel_ip, keep, t.now_micros(), interval)
        else {
            return Ok(());
        };
        if new.endpointlist.is_empty() {
            if cur.is_some() {
                t.delete::<VxlanEndpointSet>(&key)?;
            }
        } else {
            t.put(&new)?;
        }
        Ok(())
    })
    .await?;
    tracing::debug!(network = net, keep, tunnel = %l.tunnel_ip, "vxlancast: flood list entry written");
    Ok(())
}

async fn write_port_info(
    db: &ObjectDb,
    pid: &str,
    l: &Local,
    present: bool,
    migration: u64,
) -> Result<(), TxnError> {
    let key = LogicalPortVxlanInfo::key_of(&[pid]);
    let port_key = crate::model::LogicalPort::key_of(&[pid]);
    db.transact(&[key.clone(), port_key.clone()], |t| {
        if t.value(&port_key)?.is_none() {
            return Ok(());
        }
        let cur = t.get::<LogicalPortVxlanInfo>(&key)?.map(|s| s.data);
        let base = cur.clone().unwrap_or(LogicalPortVxlanInfo { id: pid.to_owned(), endpoints: Vec::new() });
        let Some(new) = update_port_info(&base, &l.me, l.tunnel_ip, present, t.now_micros(), migration)
        else {
            return Ok(());
        };
        if new.endpoints.is_empty() {
            if cur.is_some() {
                t.delete::<LogicalPortVxlanInfo>(&key)?;
            }
        } else {
            t.put(&new)?;
        }
        Ok(())
    })
    .await?;
    tracing::debug!(port = pid, present, tunnel = %l.tunnel_ip, "vxlancast: port location written");
    Ok(())
}
