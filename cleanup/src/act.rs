//! Carrying out a [`Plan`]: best-effort (every action runs; failures are collected), in the
//! plan's order, idempotent (a thing already gone counts as removed). OVS ports and veths go
//! through the plugin's own teardown ([`HostPlumber`]: OVS port first, then the pair); logical
//! ports through the model (which frees their address); DockerInfo and reservations in
//! transactions that re-check what was planned.

use serde::Serialize;
use vlcp::model::{FieldErrorKind, Model, ModelError};
use vlcp::objectdb::DataObject;
use vlcp_plugin::docker::DockerInfo;
use vlcp_plugin::docker::ipam::IpamReserve;
use vlcp_plugin::docker::naming::{HOST_SUFFIX, VethNames};
use vlcp_plugin::docker::plumbing::{HostPlumber, Plumber};

use crate::passes::Action;

/// What happened to one action.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// The action.
    #[serde(flatten)]
    pub action: Action,
    /// `None` when done, else why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What acting needs.
pub struct Actor {
    /// The plugin's plumbing on this host's bridge and namespace.
    pub plumber: HostPlumber,
    /// The model over the store.
    pub model: Model,
    /// `--nodockerinfo`: leave DockerInfo objects alone.
    pub keep_docker_info: bool,
}

fn gone_ok(r: Result<(), ModelError>) -> Result<(), ModelError> {
    match r {
        Err(ModelError::Field(f)) if f.kind == FieldErrorKind::NotFound => Ok(()),
        r => r,
    }
}

fn names_of(host_end: &str) -> VethNames {
    let container = host_end.strip_suffix(HOST_SUFFIX).unwrap_or(host_end).to_string();
    VethNames { container, host: host_end.to_string() }
}

impl Actor {
    /// Runs every action, in order.
    pub async fn act(&self, actions: &[Action]) -> Vec<Outcome> {
        let mut out = Vec::new();
        for a in actions {
            let error = self.one(a).await.err();
            if let Some(e) = &error {
                tracing::warn!(action = %a.describe(), error = %e, "repair failed");
            }
            out.push(Outcome { action: a.clone(), error });
        }
        out
    }

    async fn one(&self, a: &Action) -> Result<(), String> {
        match a {
            Action::OvsPort { name, .. } | Action::Veth { name, .. } => {
                self.plumber.unplug(&names_of(name)).await.map_err(|e| e.to_string())
            }
            Action::LogicalPort { id, .. } => {
                gone_ok(self.model.delete_logical_ports(vec![id.clone()]).await)
                    .map_err(|e| e.to_string())?;
                if self.keep_docker_info { Ok(()) } else { self.delete_info(id).await }
            }
            Action::DockerInfo { id, .. } => self.delete_info(id).await,
            Action::Reservation { pool, ip, expiry, .. } => self.drop_reservation(pool, ip, *expiry).await,
        }
    }

    async fn delete_info(&self, id: &str) -> Result<(), String> {
        let key = DockerInfo::key_of(&[id]);
        self.model
            .db()
            .transact(std::slice::from_ref(&key), |t| t.delete::<DockerInfo>(&key))
            .await
            .map(drop)
            .map_err(|e| format!("store: {e}"))
    }

    async fn drop_reservation(&self, pool: &str, ip: &str, expiry: Option<u64>) -> Result<(), String> {
        let key = IpamReserve::key_for(pool);
        self.model
            .db()
            .transact(std::slice::from_ref(&key), |t| {
                let Some(mut r) = t.get::<IpamReserve>(&key)?.map(|s| s.data) else { return Ok(()) };
                // Re-requested meanwhile (another expiry): someone uses it now; leave it.
                if r.reserved_ips.get(ip) == Some(&expiry) {
                    r.reserved_ips.remove(ip);
                    t.put(&r)?;
                }
                Ok(())
            })
            .await
            .map(drop)
            .map_err(|e| format!("store: {e}"))
    }
}
