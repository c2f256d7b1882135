//! Helpers shared by the `ovsdb_*` end-to-end suites: connect a client to a lab [`Ovs`] and read
//! its events with a deadlock guard (a generous limit that only turns a hang into a failure
//! listing what did arrive; no test asserts on timing).

#![allow(dead_code)] // each suite uses a different subset

use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use vlcp::ovsdb::view::{Change, ViewEvent};
use vlcp::runtime::ovsdb::{ClientConfig, ClientEvent, OvsdbClient};
use vlcp_e2e::lab::Ovs;

/// Deadlock guard for any single wait.
pub const GUARD: Duration = Duration::from_secs(30);

/// A connected, synced client and its event stream.
pub async fn connect(ovs: &Ovs, tweak: impl FnOnce(&mut ClientConfig)) -> (OvsdbClient, Events) {
    let mut cfg = ClientConfig::new(&ovs.db_url());
    tweak(&mut cfg);
    let (client, rx) = OvsdbClient::connect(cfg).expect("connect");
    let mut events = Events { rx, seen: Vec::new() };
    events.until("first sync", |e| matches!(e, ClientEvent::Synced { resync: false })).await;
    (client, events)
}

/// The client's events, with everything received kept for failure messages.
pub struct Events {
    rx: UnboundedReceiver<ClientEvent>,
    pub seen: Vec<ClientEvent>,
}

impl Events {
    /// Receives events up to and including the first that matches; returns them.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&ClientEvent) -> bool) -> Vec<ClientEvent> {
        let mut got = Vec::new();
        loop {
            match tokio::time::timeout(GUARD, self.rx.recv()).await {
                Ok(Some(e)) => {
                    self.seen.push(e.clone());
                    let done = pred(&e);
                    got.push(e);
                    if done {
                        return got;
                    }
                }
                Ok(None) => panic!("event stream ended while waiting for {what}; got {got:#?}"),
                Err(_) => panic!("no {what} within {GUARD:?}; got {got:#?}"),
            }
        }
    }

    /// Whatever has already arrived.
    pub fn drain(&mut self) -> Vec<ClientEvent> {
        let mut got = Vec::new();
        while let Ok(e) = self.rx.try_recv() {
            self.seen.push(e.clone());
            got.push(e);
        }
        got
    }
}

/// The view event inside a client event.
pub fn view(e: &ClientEvent) -> Option<&ViewEvent> {
    match e {
        ClientEvent::View(v) => Some(v),
        _ => None,
    }
}

/// `("added" | "modified" | "removed", table, row name)` of a view event.
pub fn summary(e: &ViewEvent) -> (&'static str, &'static str, String) {
    fn k<T>(c: &Change<T>) -> &'static str {
        match c {
            Change::Added(_) => "added",
            Change::Modified { .. } => "modified",
            Change::Removed(_) => "removed",
        }
    }
    match e {
        ViewEvent::OpenVswitch(c) => (k(c), "Open_vSwitch", String::new()),
        ViewEvent::Bridge(c) => (k(c), "Bridge", c.current().name.clone()),
        ViewEvent::Port(c) => (k(c), "Port", c.current().name.clone()),
        ViewEvent::Interface(c) => (k(c), "Interface", c.current().name.clone()),
        ViewEvent::Controller(c) => (k(c), "Controller", c.current().target.clone()),
    }
}
