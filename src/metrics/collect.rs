//! What is measured when `/metrics` or `/healthz` is asked: a probe read of the store and the
//! number of model objects of each type, both bounded by a timeout so a hung store never hangs
//! the scrape.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::{LogicalNetwork, LogicalPort, PhysicalNetwork, PhysicalPort, RouterPort, SubNet, VRouter};
use crate::objectdb::{DataObject, KvStore};

use super::Metrics;

/// How long a scrape waits for the store.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The key the probe reads (it need not exist).
pub const PROBE_KEY: &str = "vlcp.healthz.probe";

/// The object types counted into `vlcp_model_objects`: `(type label, key prefix)`.
pub const MODEL_TYPES: &[(&str, &str)] = &[
    ("physicalnetwork", PhysicalNetwork::PREFIX),
    ("physicalport", PhysicalPort::PREFIX),
    ("logicalnetwork", LogicalNetwork::PREFIX),
    ("logicalport", LogicalPort::PREFIX),
    ("subnet", SubNet::PREFIX),
    ("virtualrouter", VRouter::PREFIX),
    ("routerinterface", RouterPort::PREFIX),
];

/// The outcome of a probe read.
#[derive(Clone, Debug)]
pub struct StoreHealth {
    /// `embedded`, `zookeeper` or `redis`.
    pub backend: &'static str,
    /// Whether the read answered in time.
    pub up: bool,
    /// How long it took (the timeout when it did not answer).
    pub latency: Duration,
    /// Why it is down.
    pub error: Option<String>,
}

/// Reads [`PROBE_KEY`] once, at most `timeout`.
pub async fn probe_store(store: &Arc<dyn KvStore>, timeout: Duration) -> StoreHealth {
    let started = Instant::now();
    let keys = [PROBE_KEY.to_string()];
    let result = tokio::time::timeout(timeout, store.mget(&keys)).await;
    let latency = started.elapsed();
    let error = match result {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!("no answer within {timeout:?}")),
    };
    StoreHealth { backend: store.backend(), up: error.is_none(), latency, error }
}

/// Counts the objects of each [`MODEL_TYPES`] entry (keys `<prefix>.<…>`).
pub async fn count_model_objects(
    store: &Arc<dyn KvStore>,
    timeout: Duration,
) -> Result<Vec<(&'static str, usize)>, String> {
    let scan = async {
        let mut out = Vec::with_capacity(MODEL_TYPES.len());
        for (label, prefix) in MODEL_TYPES {
            let keys = store.scan_prefix(&format!("{prefix}.")).await.map_err(|e| e.to_string())?;
            out.push((*label, keys.len()));
        }
        Ok(out)
    };
    tokio::time::timeout(timeout, scan).await.map_err(|_| format!("no answer within {timeout:?}"))?
}

/// Probes the store and, when it answers, counts the model objects; sets `vlcp_store_up`,
/// `vlcp_store_probe_duration_seconds` and `vlcp_model_objects` (left at their last values
/// while the store is down) and the `store` component.
pub async fn refresh(metrics: &Metrics, store: &Arc<dyn KvStore>, timeout: Duration) -> StoreHealth {
    let health = probe_store(store, timeout).await;
    metrics.store_up.with(&[health.backend]).set(if health.up { 1.0 } else { 0.0 });
    metrics.store_probe_seconds.with(&[health.backend]).set(health.latency.as_secs_f64());
    let detail = match &health.error {
        None => format!("{} store answered in {:.1} ms", health.backend, health.latency.as_secs_f64() * 1e3),
        Some(e) => format!("{} store: {e}", health.backend),
    };
    metrics.component("store", health.up, detail);
    if health.up {
        match count_model_objects(store, timeout).await {
            Ok(counts) => {
                for (label, n) in counts {
                    metrics.model_objects.with(&[label]).set(n as f64);
                }
            }
            Err(e) => tracing::warn!("metrics: counting model objects: {e}"),
        }
    }
    health
}
