//! Helpers shared by the `openflow_*` end-to-end suites: a lab switch, a controller dialling its
//! management socket, a tap that checks every message OVS sent re-encodes byte-identically, and
//! waits with a deadlock guard (a generous limit that only turns a hang into a failure; no test
//! asserts on timing).

#![allow(dead_code)] // each suite uses a different subset

use std::time::Duration;

use tokio::sync::broadcast;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use vlcp::openflow::{Frame, MsgType};
use vlcp::runtime::ofswitch::{Controller, ControllerConfig, Datapath, DatapathEvent};
use vlcp_e2e::lab::{self, Ovs};

/// Deadlock guard for any single wait.
pub const GUARD: Duration = Duration::from_secs(30);

/// A lab OVS with one bridge.
pub struct Switch {
    pub ovs: Ovs,
    pub bridge: String,
}

impl Switch {
    /// A fresh OVS with a bridge (userspace datapath, OpenFlow13, fail_mode secure).
    pub fn start() -> Switch {
        let ovs = Ovs::start().expect("start OVS");
        let bridge = lab::unique("br");
        ovs.add_bridge(&bridge).expect("add bridge");
        Switch { ovs, bridge }
    }

    /// `unix:<mgmt socket>` of the bridge.
    pub fn mgmt_url(&self) -> String {
        format!("unix:{}", self.ovs.mgmt_sock(&self.bridge).display())
    }

    /// The datapath id as `ovs-vsctl get bridge <br> datapath_id` reports it.
    pub fn vsctl_dpid(&self) -> u64 {
        let s = lab::wait_until("datapath_id in OVSDB", GUARD, || {
            let out = self.ovs.vsctl(&["get", "bridge", &self.bridge, "datapath_id"]).ok()?;
            let hex = out.trim().trim_matches('"').to_string();
            (hex.len() == 16).then_some(hex)
        })
        .expect("datapath_id");
        u64::from_str_radix(&s, 16).expect("hex datapath id")
    }

    /// `ovs-ofctl -O OpenFlow13 <cmd> <br> args...`.
    pub fn ofctl(&self, cmd: &str, args: &[&str]) -> String {
        self.ovs.ofctl_br(cmd, &self.bridge, args).expect("ovs-ofctl")
    }

    /// `dump-flows` lines of `table`, without the counters that change on their own.
    pub fn dump_flows(&self, table: u8) -> Vec<String> {
        let out = self.ofctl("dump-flows", &[&format!("table={table}")]);
        out.lines()
            .filter(|l| l.contains("actions="))
            .map(|l| {
                l.trim()
                    .split(", ")
                    .filter(|t| {
                        !["duration=", "n_packets=", "n_bytes=", "idle_age=", "hard_age="]
                            .iter()
                            .any(|p| t.starts_with(p))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect()
    }
}

/// Raw messages received from every switch, checked for byte-identical re-encoding.
pub struct Tap {
    rx: UnboundedReceiver<Vec<u8>>,
    pub checked: usize,
    pub types: std::collections::BTreeSet<String>,
}

impl Tap {
    /// A tap over the receiving end of [`ControllerConfig::tap`].
    pub fn new(rx: UnboundedReceiver<Vec<u8>>) -> Tap {
        Tap { rx, checked: 0, types: Default::default() }
    }

    /// Decode and re-encode everything received so far; panics on the first difference.
    /// With `VLCP_OF_CORPUS=<dir>`, also saves one message of each type there (fuzz seeds).
    pub fn check(&mut self) -> usize {
        while let Ok(raw) = self.rx.try_recv() {
            let frame = Frame::decode(&raw)
                .unwrap_or_else(|e| panic!("OVS sent a message we cannot decode ({e}): {raw:02x?}"));
            let again = frame.to_bytes().expect("re-encode");
            assert_eq!(again, raw, "re-encoding differs for {:?}", frame.message);
            let name = format!("{:?}", frame.message.msg_type());
            if let Ok(dir) = std::env::var("VLCP_OF_CORPUS")
                && !self.types.contains(&name)
                && frame.message.msg_type() != MsgType(255)
            {
                let _ = std::fs::write(format!("{dir}/ovs-{}", name.to_lowercase()), &raw);
            }
            self.types.insert(name);
            self.checked += 1;
        }
        self.checked
    }
}

/// A controller dialling `sw`'s management socket, its ready datapath, and the tap.
pub async fn connect(sw: &Switch, tweak: impl FnOnce(&mut ControllerConfig)) -> (Controller, Datapath, Tap) {
    let (tx, rx) = unbounded_channel();
    let mut cfg = ControllerConfig {
        listen: vec![],
        connect: vec![sw.mgmt_url()],
        tap: Some(tx),
        ..ControllerConfig::default()
    };
    tweak(&mut cfg);
    let controller = Controller::start(cfg).await.expect("controller");
    let dpid = sw.vsctl_dpid();
    let dp = controller.wait_datapath(dpid, GUARD).await.expect("datapath up");
    (controller, dp, Tap::new(rx))
}

/// The first event matching `pred`, within the guard.
pub async fn next_event<T>(
    events: &mut broadcast::Receiver<DatapathEvent>,
    what: &str,
    mut pred: impl FnMut(&DatapathEvent) -> Option<T>,
) -> T {
    let mut seen = Vec::new();
    let wait = async {
        loop {
            match events.recv().await {
                Ok(ev) => {
                    if let Some(t) = pred(&ev) {
                        return t;
                    }
                    seen.push(format!("{ev:?}"));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => seen.push(format!("lagged {n}")),
                Err(e) => panic!("event stream ended waiting for {what}: {e}"),
            }
        }
    };
    match tokio::time::timeout(GUARD, wait).await {
        Ok(t) => t,
        Err(_) => panic!("no {what} within {GUARD:?}; saw: {seen:#?}"),
    }
}
