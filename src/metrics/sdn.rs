//! The SDN controller's status as metrics: `vlcp_openflow_flows{bridge}` for every connected
//! switch and the `openflow` component (connected switches, all synced or not).
//!
//! The daemon runs [`export_controller_status`] next to the controller:
//!
//! ```no_run
//! # fn demo(controller: &vlcp::runtime::controller::SdnController) {
//! tokio::spawn(vlcp::metrics::sdn::export_controller_status(controller.watch_status()));
//! # }
//! ```

use std::collections::BTreeSet;

use tokio::sync::watch;

use crate::runtime::controller::Status;

use super::{Metrics, global};

/// The `bridge` label of a switch: its OVSDB bridge name, or its datapath id (16 hex digits)
/// until the bridge is known.
pub fn bridge_label(dpid: u64, bridge: Option<&str>) -> String {
    bridge.map_or_else(|| format!("{dpid:016x}"), str::to_owned)
}

/// Sets the flow gauges from `status`; series of switches gone since the last call (listed in
/// `shown`, updated here) are removed.
pub fn apply_controller_status(m: &Metrics, status: &Status, shown: &mut BTreeSet<String>) {
    let mut now = BTreeSet::new();
    for (dpid, sw) in status {
        let label = bridge_label(*dpid, sw.bridge.as_deref());
        m.flows.with(&[&label]).set(sw.flows as f64);
        now.insert(label);
    }
    for gone in shown.difference(&now) {
        m.flows.remove(&[gone]);
    }
    let synced = status.values().filter(|s| s.synced).count();
    let detail = format!("{} switch(es) connected, {synced} with flows in sync", status.len());
    m.component("openflow", synced == status.len(), detail);
    *shown = now;
}

/// Mirrors every status change into the [`global`] metrics until the controller stops.
pub async fn export_controller_status(mut status: watch::Receiver<Status>) {
    let mut shown = BTreeSet::new();
    loop {
        let current = status.borrow_and_update().clone();
        apply_controller_status(global(), &current, &mut shown);
        if status.changed().await.is_err() {
            break;
        }
    }
    for label in shown {
        global().flows.remove(&[&label]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::controller::SwitchStatus;

    #[test]
    fn flows_per_bridge_follow_the_switches() {
        let m = Metrics::new();
        let mut shown = BTreeSet::new();
        let sw = |bridge: Option<&str>, flows, synced| SwitchStatus {
            bridge: bridge.map(str::to_owned),
            flows,
            synced,
            ..SwitchStatus::default()
        };
        let mut status = Status::new();
        status.insert(1, sw(Some("dockerbr0"), 42, true));
        status.insert(0xab, sw(None, 3, false));
        apply_controller_status(&m, &status, &mut shown);
        let text = m.render();
        assert!(text.contains("vlcp_openflow_flows{bridge=\"dockerbr0\"} 42\n"), "{text}");
        assert!(text.contains("vlcp_openflow_flows{bridge=\"00000000000000ab\"} 3\n"), "{text}");
        assert!(!m.components()["openflow"].up);
        status.remove(&0xab);
        status.insert(1, sw(Some("dockerbr0"), 40, true));
        apply_controller_status(&m, &status, &mut shown);
        let text = m.render();
        assert!(text.contains("vlcp_openflow_flows{bridge=\"dockerbr0\"} 40\n"), "{text}");
        assert!(!text.contains("00000000000000ab"), "a gone switch keeps its series: {text}");
        assert!(m.components()["openflow"].up);
    }

    #[tokio::test]
    async fn the_exporter_follows_a_watch_and_stops_with_it() {
        let (tx, rx) = watch::channel(Status::new());
        let task = tokio::spawn(export_controller_status(rx));
        let mut s = Status::new();
        s.insert(
            7,
            SwitchStatus { bridge: Some("br-exporter-test".into()), flows: 9, ..SwitchStatus::default() },
        );
        tx.send(s).unwrap();
        let seen = async {
            while global().flows.get(&["br-exporter-test"]).map(|g| g.get()) != Some(9.0) {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), seen).await.expect("gauge set");
        drop(tx);
        task.await.unwrap();
        assert!(
            global().flows.get(&["br-exporter-test"]).is_none(),
            "series removed when the controller stops"
        );
    }
}
