//! The three passes. Each plans from two samples taken seconds apart (a pure function: it acts
//! only on what both samples agree on, so an endpoint being created meanwhile is never touched)
//! and then acts, best-effort, in order, idempotently (a thing already gone counts as removed).
//!
//! | pass | finds (on this host only) | flag |
//! |---|---|---|
//! | [`ovs_ports`] | our OVS ports in an error state or with no live Docker endpoint | `--skipovs` |
//! | [`veths`] | our veths whose container end is gone or never moved | `--skipiplink` |
//! | [`logical_ports`] | logical ports, DockerInfo and IPAM reservations whose endpoint or network is gone | `--skiplogicalport` |
//!
//! Acting runs in teardown order: OVS ports, veths, logical ports, DockerInfo, reservations.

pub mod logical_ports;
pub mod ovs_ports;
pub mod veths;

use serde::Serialize;

use crate::sample::Sample;

/// What the passes need to know besides the samples.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// This host's identity ([`vlcp_plugin::docker::naming::host_id`]).
    pub host_id: String,
    /// `module.dockerplugin.vethprefix`.
    pub veth_prefix: String,
    /// The store is the embedded one: single-process, so everything in it is this host's.
    pub embedded: bool,
    /// `--nodockerinfo`: DockerInfo objects are neither read for ownership nor removed.
    pub no_docker_info: bool,
    /// `--skipovs`, `--skipiplink`, `--skiplogicalport`.
    pub skip_ovs: bool,
    /// See `skip_ovs`.
    pub skip_iplink: bool,
    /// See `skip_ovs`.
    pub skip_logical_port: bool,
}

/// One repair.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Delete an OVS port (and the veth of that name, if any).
    OvsPort {
        /// Port name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Delete a veth pair (and an OVS port of that name, if any).
    Veth {
        /// The host end (`…-tap`).
        name: String,
        /// Why.
        reason: String,
    },
    /// Delete a logical port (frees its address) and its DockerInfo.
    LogicalPort {
        /// Port id.
        id: String,
        /// Its address, for the report.
        ip: Option<String>,
        /// Why.
        reason: String,
    },
    /// Delete a DockerInfo whose logical port is gone.
    DockerInfo {
        /// Port id.
        id: String,
        /// Why.
        reason: String,
    },
    /// Drop an IPAM address reservation.
    Reservation {
        /// PoolID.
        pool: String,
        /// Address.
        ip: String,
        /// The reservation's expiry as planned (µs; `None` = kept forever): it is dropped only
        /// if it is still exactly this.
        expiry: Option<u64>,
        /// Why.
        reason: String,
    },
}

impl Action {
    /// The pass that plans this action.
    pub fn pass(&self) -> &'static str {
        match self {
            Action::OvsPort { .. } => "ovs",
            Action::Veth { .. } => "iplink",
            _ => "logicalport",
        }
    }

    /// One line for humans.
    pub fn describe(&self) -> String {
        match self {
            Action::OvsPort { name, reason } => format!("OVS port {name}: {reason}"),
            Action::Veth { name, reason } => format!("veth {name}: {reason}"),
            Action::LogicalPort { id, ip, reason } => {
                let ip = ip.as_deref().map(|i| format!(" ({i})")).unwrap_or_default();
                format!("logical port {id}{ip}: {reason}")
            }
            Action::DockerInfo { id, reason } => format!("DockerInfo of {id}: {reason}"),
            Action::Reservation { pool, ip, reason, .. } => {
                format!("reservation {ip} in pool {pool}: {reason}")
            }
        }
    }
}

/// Objects that look orphaned but belong to another host (or to no host we can prove), left
/// alone; reported so that an operator sees them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Skipped {
    /// What.
    pub what: String,
    /// Why it is left alone.
    pub reason: String,
}

/// The repairs both samples agree on, in acting order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Repairs.
    pub actions: Vec<Action>,
    /// Left alone.
    pub skipped: Vec<Skipped>,
}

/// Plans every pass that is not skipped.
pub fn plan(a: &Sample, b: &Sample, scope: &Scope) -> Plan {
    let mut p = Plan::default();
    let veths = if scope.skip_iplink { Vec::new() } else { veths::plan(a, b, scope) };
    if !scope.skip_ovs {
        let covered: Vec<&str> = veths.iter().filter_map(host_end).collect();
        p.actions.extend(ovs_ports::plan(a, b, scope).into_iter().filter(|x| {
            // A veth repair removes the OVS port of the same name too: list it once.
            !matches!(x, Action::OvsPort { name, .. } if covered.contains(&name.as_str()))
        }));
    }
    p.actions.extend(veths);
    if !scope.skip_logical_port {
        let (actions, skipped) = logical_ports::plan(a, b, scope);
        p.actions.extend(actions);
        p.skipped.extend(skipped);
    }
    p
}

fn host_end(a: &Action) -> Option<&str> {
    match a {
        Action::Veth { name, .. } => Some(name),
        _ => None,
    }
}

/// True for names of our veths' host ends: `<prefix>…-tap`.
pub fn is_our_host_end(prefix: &str, name: &str) -> bool {
    name.starts_with(prefix)
        && name.len() > prefix.len() + 4
        && name.ends_with(vlcp_plugin::docker::naming::HOST_SUFFIX)
}

#[cfg(test)]
mod tests;
