//! Observability: the daemon's metrics (Prometheus text format 0.0.4, served at `/metrics` by
//! [`crate::web`]) and the component health behind `/healthz`.
//!
//! - [`registry`]: a small lock-free registry (counters, gauges, histograms with labels).
//! - [`Metrics`]: every vlcp metric, in one process-wide registry ([`global`]).
//! - The hooks other rooms call (cheap: a few atomics and a short mutex section, never held
//!   across `.await`): [`record_api_request`] (web), [`record_plugin_call`] (Docker plugin
//!   server), [`TxnTimer`] (ObjectDB transactions), [`set_bridge_flows`] / [`forget_bridge`]
//!   (or [`sdn::export_controller_status`], which follows the SDN controller's status),
//!   [`set_component`] (any room reporting its health).
//! - [`collect`]: what is measured at scrape time (store probe, model object counts).
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `vlcp_build_info` | gauge | `version` | always 1 |
//! | `vlcp_process_start_time_seconds` | gauge | | Unix time the process started |
//! | `vlcp_api_requests_total` | counter | `module`, `api`, `code` | management API calls by HTTP status |
//! | `vlcp_model_objects` | gauge | `type` | objects in the store (scrape time) |
//! | `vlcp_store_up` | gauge | `backend` | 1 when the store answered the scrape's probe read |
//! | `vlcp_store_probe_duration_seconds` | gauge | `backend` | how long that probe took |
//! | `vlcp_objectdb_transaction_duration_seconds` | histogram | `backend`, `kind` | walk (read) and transact (write) latency, retries included |
//! | `vlcp_objectdb_transactions_total` | counter | `backend`, `kind`, `outcome` | `ok` or `error` |
//! | `vlcp_objectdb_transaction_conflicts_total` | counter | `backend` | write conflicts, each followed by a retry |
//! | `vlcp_docker_plugin_calls_total` | counter | `method`, `code` | plugin calls by HTTP status |
//! | `vlcp_docker_plugin_call_duration_seconds` | histogram | `method` | plugin call latency |
//! | `vlcp_docker_endpoints_created_total` | counter | | successful `CreateEndpoint` calls |
//! | `vlcp_docker_endpoints_deleted_total` | counter | | successful `DeleteEndpoint` calls |
//! | `vlcp_docker_endpoints_active` | gauge | | endpoints created and not yet deleted by this process |
//! | `vlcp_openflow_flows` | gauge | `bridge` | flows installed on a bridge (set by the SDN controller) |
//! | `vlcp_component_up` | gauge | `component` | 1 healthy, 0 not (as last reported) |

pub mod collect;
pub mod registry;
pub mod sdn;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use registry::{Counter, DEFAULT_BUCKETS, Family, Gauge, Histogram, Registry};

/// Every vlcp metric family (see the module table).
pub struct Metrics {
    registry: Registry,
    /// `vlcp_build_info{version}`.
    pub build_info: Arc<Family<Gauge>>,
    /// `vlcp_process_start_time_seconds`.
    pub start_time: Arc<Family<Gauge>>,
    /// `vlcp_api_requests_total{module,api,code}`.
    pub api_requests: Arc<Family<Counter>>,
    /// `vlcp_model_objects{type}`.
    pub model_objects: Arc<Family<Gauge>>,
    /// `vlcp_store_up{backend}`.
    pub store_up: Arc<Family<Gauge>>,
    /// `vlcp_store_probe_duration_seconds{backend}`.
    pub store_probe_seconds: Arc<Family<Gauge>>,
    /// `vlcp_objectdb_transaction_duration_seconds{backend,kind}`.
    pub txn_seconds: Arc<Family<Histogram>>,
    /// `vlcp_objectdb_transactions_total{backend,kind,outcome}`.
    pub txn_total: Arc<Family<Counter>>,
    /// `vlcp_objectdb_transaction_conflicts_total{backend}`.
    pub txn_conflicts: Arc<Family<Counter>>,
    /// `vlcp_docker_plugin_calls_total{method,code}`.
    pub plugin_calls: Arc<Family<Counter>>,
    /// `vlcp_docker_plugin_call_duration_seconds{method}`.
    pub plugin_call_seconds: Arc<Family<Histogram>>,
    /// `vlcp_docker_endpoints_created_total`.
    pub endpoints_created: Arc<Family<Counter>>,
    /// `vlcp_docker_endpoints_deleted_total`.
    pub endpoints_deleted: Arc<Family<Counter>>,
    /// `vlcp_docker_endpoints_active`.
    pub endpoints_active: Arc<Family<Gauge>>,
    /// `vlcp_openflow_flows{bridge}`.
    pub flows: Arc<Family<Gauge>>,
    /// `vlcp_component_up{component}`.
    pub component_up: Arc<Family<Gauge>>,
    /// EndpointIDs created by this process and not deleted (the active gauge is its size, so a
    /// repeated or unknown DeleteEndpoint never drives it below zero).
    active_endpoints: Mutex<BTreeSet<String>>,
    /// Last reported state of each component, for `/healthz`.
    components: Mutex<BTreeMap<String, ComponentStatus>>,
}

/// A component's last reported health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentStatus {
    /// Healthy or not.
    pub up: bool,
    /// A short human-readable detail (`connected to unix:/var/run/openvswitch/db.sock`, an error).
    pub detail: String,
}

impl Metrics {
    /// A fresh set of families in their own registry (tests; the daemon uses [`global`]).
    pub fn new() -> Self {
        let r = Registry::new();
        let m = Metrics {
            build_info: r.gauge("vlcp_build_info", "Build information; always 1.", &["version"]),
            start_time: r.gauge(
                "vlcp_process_start_time_seconds",
                "Start time of the process (Unix seconds).",
                &[],
            ),
            api_requests: r.counter(
                "vlcp_api_requests_total",
                "Management API calls by module, API and HTTP status.",
                &["module", "api", "code"],
            ),
            model_objects: r.gauge(
                "vlcp_model_objects",
                "Network model objects in the store, by type (counted at scrape time).",
                &["type"],
            ),
            store_up: r.gauge(
                "vlcp_store_up",
                "1 when the store answered a probe read at scrape time.",
                &["backend"],
            ),
            store_probe_seconds: r.gauge(
                "vlcp_store_probe_duration_seconds",
                "Duration of the scrape-time store probe read.",
                &["backend"],
            ),
            txn_seconds: r.histogram(
                "vlcp_objectdb_transaction_duration_seconds",
                "ObjectDB transaction latency (kind walk = read, transact = write), retries included.",
                &["backend", "kind"],
                DEFAULT_BUCKETS,
            ),
            txn_total: r.counter(
                "vlcp_objectdb_transactions_total",
                "ObjectDB transactions by outcome (ok or error).",
                &["backend", "kind", "outcome"],
            ),
            txn_conflicts: r.counter(
                "vlcp_objectdb_transaction_conflicts_total",
                "ObjectDB write conflicts; each one is followed by a retry.",
                &["backend"],
            ),
            plugin_calls: r.counter(
                "vlcp_docker_plugin_calls_total",
                "Docker plugin calls by method and HTTP status.",
                &["method", "code"],
            ),
            plugin_call_seconds: r.histogram(
                "vlcp_docker_plugin_call_duration_seconds",
                "Docker plugin call latency by method.",
                &["method"],
                DEFAULT_BUCKETS,
            ),
            endpoints_created: r.counter(
                "vlcp_docker_endpoints_created_total",
                "Docker endpoints created (successful CreateEndpoint calls).",
                &[],
            ),
            endpoints_deleted: r.counter(
                "vlcp_docker_endpoints_deleted_total",
                "Docker endpoints deleted (successful DeleteEndpoint calls).",
                &[],
            ),
            endpoints_active: r.gauge(
                "vlcp_docker_endpoints_active",
                "Docker endpoints created and not yet deleted by this process.",
                &[],
            ),
            flows: r.gauge(
                "vlcp_openflow_flows",
                "Flows installed on a bridge by the SDN controller.",
                &["bridge"],
            ),
            component_up: r.gauge("vlcp_component_up", "1 when a component reports healthy.", &["component"]),
            registry: r,
            active_endpoints: Mutex::new(BTreeSet::new()),
            components: Mutex::new(BTreeMap::new()),
        };
        m.build_info.with(&[env!("CARGO_PKG_VERSION")]).set(1.0);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        m.start_time.with(&[]).set(now.as_secs_f64().floor());
        m.endpoints_created.with(&[]);
        m.endpoints_deleted.with(&[]);
        m.endpoints_active.with(&[]).set(0.0);
        m
    }

    /// Every family in the text format.
    pub fn render(&self) -> String {
        self.registry.render()
    }

    /// See [`record_api_request`].
    pub fn api_request(&self, module: &str, api: &str, status: u16) {
        self.api_requests.with(&[module, api, &status.to_string()]).inc();
    }

    /// See [`record_plugin_call`].
    pub fn plugin_call(&self, method: &str, status: u16, elapsed: Duration) {
        self.plugin_calls.with(&[method, &status.to_string()]).inc();
        self.plugin_call_seconds.with(&[method]).observe_duration(elapsed);
    }

    /// See [`endpoint_created`].
    pub fn endpoint_created(&self, endpoint_id: &str) {
        self.endpoints_created.with(&[]).inc();
        let mut set = self.active_endpoints.lock().unwrap_or_else(PoisonError::into_inner);
        set.insert(endpoint_id.to_string());
        self.endpoints_active.with(&[]).set(set.len() as f64);
    }

    /// See [`endpoint_deleted`].
    pub fn endpoint_deleted(&self, endpoint_id: &str) {
        self.endpoints_deleted.with(&[]).inc();
        let mut set = self.active_endpoints.lock().unwrap_or_else(PoisonError::into_inner);
        set.remove(endpoint_id);
        self.endpoints_active.with(&[]).set(set.len() as f64);
    }

    /// See [`set_component`].
    pub fn component(&self, name: &str, up: bool, detail: impl Into<String>) {
        self.component_up.with(&[name]).set(if up { 1.0 } else { 0.0 });
        let status = ComponentStatus { up, detail: detail.into() };
        self.components.lock().unwrap_or_else(PoisonError::into_inner).insert(name.to_string(), status);
    }

    /// The last reported status of every component.
    pub fn components(&self) -> BTreeMap<String, ComponentStatus> {
        self.components.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The process-wide metrics the daemon serves.
pub fn global() -> &'static Metrics {
    static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &GLOBAL
}

/// Web room: one management API call answered with HTTP `status`.
pub fn record_api_request(module: &str, api: &str, status: u16) {
    global().api_request(module, api, status);
}

/// Docker plugin server: one call of `method` (`CreateEndpoint`, `RequestAddress`…) answered
/// with HTTP `status` after `elapsed`.
pub fn record_plugin_call(method: &str, status: u16, elapsed: Duration) {
    global().plugin_call(method, status, elapsed);
}

/// Docker plugin server: `CreateEndpoint` for `endpoint_id` succeeded.
pub fn endpoint_created(endpoint_id: &str) {
    global().endpoint_created(endpoint_id);
}

/// Docker plugin server: `DeleteEndpoint` for `endpoint_id` succeeded.
pub fn endpoint_deleted(endpoint_id: &str) {
    global().endpoint_deleted(endpoint_id);
}

/// SDN controller: `bridge` now has `flows` flows installed (call after each sync).
pub fn set_bridge_flows(bridge: &str, flows: usize) {
    global().flows.with(&[bridge]).set(flows as f64);
}

/// SDN controller: `bridge` disconnected or was removed; its series disappears.
pub fn forget_bridge(bridge: &str) {
    global().flows.remove(&[bridge]);
}

/// Any room: report a component's health for `/healthz` and `vlcp_component_up` (e.g. `ovsdb`
/// on connect/disconnect, `dockerplugin` when its socket is served).
pub fn set_component(name: &str, up: bool, detail: impl Into<String>) {
    global().component(name, up, detail);
}

/// Times one ObjectDB transaction (a walk or a transact) into the [`global`] metrics. Create it
/// when the transaction starts; call [`TxnTimer::conflict`] on each write conflict and
/// [`TxnTimer::ok`] when it succeeds. Dropped without `ok` (an error returned with `?`), it
/// counts as an error. Latency is recorded either way.
pub struct TxnTimer {
    backend: &'static str,
    kind: &'static str,
    started: Instant,
    ok: bool,
}

impl TxnTimer {
    /// Starts timing a transaction of `kind` (`walk` or `transact`) on `backend`.
    pub fn start(backend: &'static str, kind: &'static str) -> Self {
        TxnTimer { backend, kind, started: Instant::now(), ok: false }
    }

    /// A write conflict (the transaction retries).
    pub fn conflict(&self) {
        global().txn_conflicts.with(&[self.backend]).inc();
    }

    /// The transaction succeeded.
    pub fn ok(mut self) {
        self.ok = true;
    }
}

impl Drop for TxnTimer {
    fn drop(&mut self) {
        let m = global();
        m.txn_seconds.with(&[self.backend, self.kind]).observe_duration(self.started.elapsed());
        let outcome = if self.ok { "ok" } else { "error" };
        m.txn_total.with(&[self.backend, self.kind, outcome]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_gauge_follows_the_set_and_never_goes_negative() {
        let m = Metrics::new();
        m.endpoint_created("e1");
        m.endpoint_created("e2");
        m.endpoint_created("e2");
        assert_eq!(m.endpoints_active.with(&[]).get(), 2.0);
        m.endpoint_deleted("e1");
        m.endpoint_deleted("e1");
        m.endpoint_deleted("unknown");
        assert_eq!(m.endpoints_active.with(&[]).get(), 1.0);
        assert_eq!(m.endpoints_created.with(&[]).get(), 3);
        assert_eq!(m.endpoints_deleted.with(&[]).get(), 3);
        let text = m.render();
        assert!(text.contains("vlcp_docker_endpoints_active 1\n"), "{text}");
        assert!(text.contains(&format!("vlcp_build_info{{version=\"{}\"}} 1\n", env!("CARGO_PKG_VERSION"))));
    }

    #[test]
    fn components_are_reported() {
        let m = Metrics::new();
        m.component("ovsdb", false, "connecting");
        m.component("ovsdb", true, "connected");
        let c = m.components();
        assert_eq!(c["ovsdb"], ComponentStatus { up: true, detail: "connected".into() });
        assert!(m.render().contains("vlcp_component_up{component=\"ovsdb\"} 1\n"));
    }

    #[test]
    fn txn_timer_counts_errors_unless_marked_ok() {
        // The timer reports to the global metrics; use a backend name no other test uses.
        let t = TxnTimer::start("unit-test-backend", "transact");
        t.conflict();
        t.ok();
        drop(TxnTimer::start("unit-test-backend", "transact"));
        let m = global();
        assert_eq!(m.txn_total.with(&["unit-test-backend", "transact", "ok"]).get(), 1);
        assert_eq!(m.txn_total.with(&["unit-test-backend", "transact", "error"]).get(), 1);
        assert_eq!(m.txn_conflicts.with(&["unit-test-backend"]).get(), 1);
        assert_eq!(m.txn_seconds.with(&["unit-test-backend", "transact"]).count(), 2);
    }
}
