//! Invalid OVS ports: ours (named `<prefix>…-tap` or bound to `iface-id=docker-…`) that, in
//! both samples, are in an error state (ovs-vswitchd could not open the device: the veth
//! vanished with its container) or serve no live Docker endpoint of this host (the endpoint was
//! deleted while the plugin was down).
//!
//! Acting removes the port, then a veth of that name if one is left.

use super::veths::live_veths;
use super::{Action, Scope, is_our_host_end};
use crate::sample::{OvsIface, Sample, endpoint_of};

fn ours(scope: &Scope, i: &OvsIface) -> bool {
    is_our_host_end(&scope.veth_prefix, &i.name)
        || i.iface_id.as_deref().is_some_and(|id| id.starts_with("docker-"))
}

/// The OVS ports to remove.
pub fn plan(a: &Sample, b: &Sample, scope: &Scope) -> Vec<Action> {
    let live_veths = live_veths(a, b, &scope.veth_prefix);
    let (live_a, live_b) = (a.live_endpoints(), b.live_endpoints());
    let mut out = Vec::new();
    for (name, now) in &b.ovs {
        let Some(before) = a.ovs.get(name) else { continue };
        if !ours(scope, now) || before.iface_id != now.iface_id {
            continue;
        }
        if before.in_error() && now.in_error() {
            let why = now.error.clone().unwrap_or_else(|| "ofport -1".into());
            out.push(Action::OvsPort { name: name.clone(), reason: format!("error state ({why})") });
            continue;
        }
        if live_veths.contains(name) {
            continue;
        }
        let eid = now.iface_id.as_deref().and_then(endpoint_of);
        if eid.is_some_and(|e| live_a.contains(e) || live_b.contains(e)) {
            continue;
        }
        let reason = match eid {
            Some(e) => format!("Docker endpoint {e} is not attached on this host"),
            None => "no live Docker endpoint uses it".into(),
        };
        out.push(Action::OvsPort { name: name.clone(), reason });
    }
    out
}
