//! Unused veths: a host end `<prefix>…-tap` whose peer is in this namespace too, in both
//! samples. That pair was never moved into a container (CreateEndpoint ran, Join never did) or
//! was moved back by Docker and never deleted (DeleteEndpoint never came). A `-tap` whose peer
//! is inside a container is in use and left alone, as is the veth of any live endpoint.
//!
//! Acting removes the OVS port of that name first, then the pair (the plugin's teardown).

use std::collections::BTreeSet;

use vlcp_plugin::docker::naming::{HOST_SUFFIX, VethNames};

use super::{Action, Scope, is_our_host_end};
use crate::sample::{Peer, Sample};

/// Host ends of the veths of live endpoints, in either sample.
pub fn live_veths(a: &Sample, b: &Sample, prefix: &str) -> BTreeSet<String> {
    a.live_endpoints()
        .into_iter()
        .chain(b.live_endpoints())
        .map(|eid| VethNames::for_endpoint(prefix, eid).host)
        .collect()
}

/// The veths to remove.
pub fn plan(a: &Sample, b: &Sample, scope: &Scope) -> Vec<Action> {
    let live = live_veths(a, b, &scope.veth_prefix);
    let mut out = Vec::new();
    for (name, link) in &b.links {
        if !is_our_host_end(&scope.veth_prefix, name) || live.contains(name) {
            continue;
        }
        let container = &name[..name.len() - HOST_SUFFIX.len()];
        let unmoved = |p: &Peer| matches!(p, Peer::Here(n) if n == container);
        let Some(before) = a.links.get(name) else { continue };
        if unmoved(&before.peer) && unmoved(&link.peer) {
            out.push(Action::Veth {
                name: name.clone(),
                reason: format!("its container end {container} is not in any container"),
            });
        }
    }
    out
}
