//! # vlcp-bench — load generator for the Docker plugin endpoint
//!
//! Speaks to a plugin socket with dockerd's exact call sequence ([`docker`]) and measures what a
//! host running containers would see:
//!
//! 1. activation, then one network (RequestPool, gateway RequestAddress, CreateNetwork);
//! 2. `--keep N` endpoints brought up and held (scale: daemon RSS and CPU, flows on the bridge);
//! 3. `--endpoints N` full endpoint lifecycles at `--concurrency C` (churn: lifecycles/min and
//!    per-call p50/p99/max);
//! 4. the kept endpoints torn down, then the leak probes ([`probe`]): veths, OVS ports, logical
//!    ports, address reservations;
//! 5. the network deleted (gateway ReleaseAddress, ReleasePool, DeleteNetwork).
//!
//! ```no_run
//! # async fn demo() -> Result<(), vlcp_bench::BenchError> {
//! let cfg = vlcp_bench::BenchConfig {
//!     endpoints: 20,
//!     concurrency: 4,
//!     ..vlcp_bench::BenchConfig::new("/run/docker/plugins/vlcp.sock", "physnet1")
//! };
//! let report = vlcp_bench::run(&cfg).await?;
//! assert!(report.clean(), "{}", report.to_markdown());
//! # Ok(()) }
//! ```
//!
//! The binary (`vlcp-bench --help`) wraps [`run`]; `scripts/bench.sh` runs it against a daemon
//! in a lab it builds itself.

pub mod client;
pub mod docker;
pub mod probe;
pub mod report;
pub mod stats;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::{Map, Value};

pub use client::{ApiClient, CallError, PluginClient};
pub use docker::{IdSource, LiveEndpoint, Network};
pub use probe::{Leaks, Probes};
pub use report::{Report, Scale};
pub use stats::{Call, CallStats, Samples};

/// Error samples kept in the report (all errors are counted).
const MAX_ERROR_SAMPLES: usize = 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The plugin socket.
    pub socket: PathBuf,
    /// Full endpoint lifecycles in the churn phase.
    pub endpoints: usize,
    /// Endpoints in flight at once (lifecycles, bring-up of kept endpoints, probes).
    pub concurrency: usize,
    /// Endpoints brought up before the churn and held during it.
    pub keep: usize,
    /// `--subnet` of the network (it must hold `keep + concurrency` addresses).
    pub subnet: String,
    /// `-o` options of the network (`physicalnetwork=…` for this driver).
    pub network_options: Map<String, Value>,
    /// Where the leak and scale probes look.
    pub probes: Probes,
}

impl BenchConfig {
    /// Defaults: 100 lifecycles at concurrency 4, nothing kept, `198.19.0.0/16`, on physical
    /// network `physnet`.
    pub fn new(socket: impl Into<PathBuf>, physnet: &str) -> BenchConfig {
        let mut network_options = Map::new();
        network_options.insert("physicalnetwork".into(), Value::String(physnet.into()));
        BenchConfig {
            socket: socket.into(),
            endpoints: 100,
            concurrency: 4,
            keep: 0,
            subnet: "198.19.0.0/16".into(),
            network_options,
            probes: Probes::default(),
        }
    }
}

/// The run could not start (the figures would mean nothing).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("plugin activation failed: {0}")]
    Activate(CallError),
    #[error("network creation failed: {0}")]
    Network(docker::StepError),
    #[error("reading the host before the run: {0}")]
    Probe(String),
    #[error("bad settings: {0}")]
    Config(String),
}

/// What one worker did.
#[derive(Default)]
struct WorkerOut {
    samples: Samples,
    errors: Vec<String>,
    error_count: u64,
    /// (EndpointID, Join's SrcName) of every endpoint that joined.
    veths: Vec<(String, String)>,
    /// EndpointIDs of every endpoint CreateEndpoint was called for.
    endpoint_ids: Vec<String>,
    /// Addresses handed out.
    addresses: BTreeSet<String>,
    /// Endpoints left up (the keep phase).
    live: Vec<LiveEndpoint>,
}

impl WorkerOut {
    fn error(&mut self, e: impl std::fmt::Display) {
        self.error_count += 1;
        if self.errors.len() < MAX_ERROR_SAMPLES {
            self.errors.push(e.to_string());
        }
    }

    fn merge(&mut self, o: WorkerOut) {
        self.samples.merge(o.samples);
        self.error_count += o.error_count;
        let room = MAX_ERROR_SAMPLES.saturating_sub(self.errors.len());
        self.errors.extend(o.errors.into_iter().take(room));
        self.veths.extend(o.veths);
        self.endpoint_ids.extend(o.endpoint_ids);
        self.addresses.extend(o.addresses);
        self.live.extend(o.live);
    }

    fn up_done(&mut self, ep: &LiveEndpoint) {
        self.veths.push((ep.ids.endpoint_id.clone(), ep.src_name.clone()));
        self.addresses.insert(ep.address.split('/').next().unwrap_or_default().to_string());
    }
}

/// Which half of the sequence a phase runs per endpoint.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Up and down again.
    Lifecycle,
    /// Up only (kept).
    Up,
}

struct Ctx {
    client: PluginClient,
    net: Network,
    ids: IdSource,
}

async fn endpoints_phase(ctx: &Arc<Ctx>, phase: Phase, count: usize, concurrency: usize) -> WorkerOut {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, count.max(1)) {
        let (ctx, next) = (ctx.clone(), next.clone());
        tasks.spawn(async move {
            let mut out = WorkerOut::default();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let ids = ctx.ids.endpoint();
                out.endpoint_ids.push(ids.endpoint_id.clone());
                match docker::endpoint_up(&ctx.client, &mut out.samples, &ctx.net, ids).await {
                    Err(e) => out.error(e),
                    Ok(ep) => {
                        out.up_done(&ep);
                        if phase == Phase::Up {
                            out.live.push(ep);
                        } else if let Err((call, e)) =
                            docker::endpoint_down(&ctx.client, &mut out.samples, &ctx.net, &ep).await
                        {
                            out.error(format!("{}: {e}", call.name()));
                        }
                    }
                }
            }
            out
        });
    }
    let mut all = WorkerOut::default();
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(o) => all.merge(o),
            Err(e) => all.error(format!("worker task: {e}")),
        }
    }
    all
}

async fn teardown(ctx: &Arc<Ctx>, live: Vec<LiveEndpoint>, concurrency: usize, out: &mut WorkerOut) {
    let queue = Arc::new(std::sync::Mutex::new(live));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (ctx, queue) = (ctx.clone(), queue.clone());
        tasks.spawn(async move {
            let mut o = WorkerOut::default();
            loop {
                let Some(ep) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop() else { break };
                if let Err((call, e)) =
                    docker::endpoint_down(&ctx.client, &mut o.samples, &ctx.net, &ep).await
                {
                    o.error(format!("{}: {e}", call.name()));
                }
            }
            o
        });
    }
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(o) => out.merge(o),
            Err(e) => out.error(format!("worker task: {e}")),
        }
    }
}

/// Runs `check` over `items` with `concurrency` in flight; returns the items it flagged and the
/// probe errors.
async fn probe_each<F, Fut>(items: Vec<String>, concurrency: usize, check: F) -> (Vec<String>, Vec<String>)
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<bool, CallError>> + Send,
{
    let queue = Arc::new(std::sync::Mutex::new(items));
    let check = Arc::new(check);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (queue, check) = (queue.clone(), check.clone());
        tasks.spawn(async move {
            let (mut flagged, mut errors) = (Vec::new(), Vec::new());
            loop {
                let Some(item) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop() else { break };
                match check(item.clone()).await {
                    Ok(true) => flagged.push(item),
                    Ok(false) => {}
                    Err(e) => errors.push(e.to_string()),
                }
            }
            (flagged, errors)
        });
    }
    let (mut flagged, mut errors) = (Vec::new(), Vec::new());
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok((f, e)) => {
                flagged.extend(f);
                errors.extend(e);
            }
            Err(e) => errors.push(format!("probe task: {e}")),
        }
    }
    flagged.sort();
    errors.truncate(MAX_ERROR_SAMPLES);
    (flagged, errors)
}

fn proc_now(pid: Option<u32>, errors: &mut Vec<String>) -> Option<probe::ProcSample> {
    let pid = pid?;
    probe::proc_sample(pid).map_err(|e| errors.push(e)).ok()
}

/// Runs the benchmark (see the crate docs for the phases). Call failures are counted in the
/// report, not returned; only a run that cannot start is an error.
pub async fn run(cfg: &BenchConfig) -> Result<Report, BenchError> {
    if cfg.endpoints == 0 && cfg.keep == 0 {
        return Err(BenchError::Config("nothing to do: --endpoints and --keep are both 0".into()));
    }
    let client = PluginClient::new(&cfg.socket);
    let mut setup = Samples::default();
    let spaces = docker::activate(&client, &mut setup).await.map_err(BenchError::Activate)?;
    let before = cfg.probes.host_state().await.map_err(BenchError::Probe)?;
    let mut scale_errors = Vec::new();
    let proc_start = proc_now(cfg.probes.pid, &mut scale_errors);
    let ids = IdSource::default();
    let net = docker::create_network(
        &client,
        &mut setup,
        &ids,
        &spaces.local_default_address_space,
        &cfg.subnet,
        &cfg.network_options,
    )
    .await
    .map_err(BenchError::Network)?;
    let ctx = Arc::new(Ctx { client: client.clone(), net: net.clone(), ids });
    let mut out = WorkerOut { samples: setup, ..Default::default() };

    // Keep phase: bring up and hold.
    let t = Instant::now();
    let mut kept = endpoints_phase(&ctx, Phase::Up, cfg.keep, cfg.concurrency).await;
    let keep_seconds = t.elapsed().as_secs_f64();
    let live = std::mem::take(&mut kept.live);
    let addresses_kept: Vec<String> =
        live.iter().map(|e| e.address.split('/').next().unwrap_or_default().to_string()).collect();
    let proc_kept = proc_now(cfg.probes.pid, &mut scale_errors);
    let flows_kept = match &cfg.probes.bridge_mgmt {
        Some(m) => probe::flow_count(m).await.map_err(|e| scale_errors.push(e)).ok(),
        None => None,
    };
    out.merge(kept);

    // Churn phase.
    let t = Instant::now();
    let churn = endpoints_phase(&ctx, Phase::Lifecycle, cfg.endpoints, cfg.concurrency).await;
    let churn_seconds = t.elapsed().as_secs_f64();
    let churn_samples = churn.samples.clone();
    out.merge(churn);
    let proc_churned = proc_now(cfg.probes.pid, &mut scale_errors);

    // Teardown of the kept endpoints, then the leak probes (before the network goes, so the
    // pool can still be asked about its addresses).
    teardown(&ctx, live, cfg.concurrency, &mut out).await;
    // The driver removes veth pairs in the background after DeleteEndpoint answers: a leak is
    // what is still there once that had time to finish.
    let settle = Instant::now() + std::time::Duration::from_secs(10);
    let mut leaks = loop {
        let mut leaks = Leaks::default();
        cfg.probes.host_leaks(&before, &out.veths, &mut leaks).await;
        if (leaks.veths.is_empty() && leaks.ovs_ports.is_empty()) || Instant::now() >= settle {
            break leaks;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let eids = out.endpoint_ids.clone();
    let c = ctx.clone();
    let (lports, errs) = probe_each(eids, cfg.concurrency, move |eid| {
        let c = c.clone();
        async move { docker::has_logical_port(&c.client, &c.net, &eid).await }
    })
    .await;
    leaks.logical_ports = lports.iter().map(|eid| vlcp_plugin::docker::naming::port_id(eid)).collect();
    leaks.probe_errors.extend(errs.into_iter().map(|e| format!("logical ports: {e}")));
    if let Some(api) = &cfg.probes.api {
        let api = ApiClient::new(api);
        let lognet = vlcp_plugin::docker::naming::lognet_id(&net.network_id);
        match api.get("viperflow", "listlogicalports", &format!("logicalnetwork={lognet}")).await {
            Ok(Value::Array(ports)) => leaks.logical_ports.extend(
                ports
                    .iter()
                    .filter_map(|p| p.get("id").and_then(Value::as_str))
                    .map(|id| format!("{id} (API)")),
            ),
            Ok(other) => leaks.probe_errors.push(format!("listlogicalports: not a list: {other}")),
            Err(e) => leaks.probe_errors.push(format!("listlogicalports: {e}")),
        }
    } else {
        leaks.not_checked.push("logical ports through the management API (give --api)");
    }
    let c = ctx.clone();
    let (addrs, errs) = probe_each(out.addresses.iter().cloned().collect(), cfg.concurrency, move |ip| {
        let c = c.clone();
        async move { docker::address_free(&c.client, &c.net, &ip).await.map(|free| !free) }
    })
    .await;
    leaks.addresses = addrs;
    leaks.probe_errors.extend(errs.into_iter().map(|e| format!("addresses: {e}")));

    let mut end = Samples::default();
    if let Err((call, e)) = docker::delete_network(&client, &mut end, &net).await {
        out.error(format!("{}: {e}", call.name()));
    }
    out.samples.merge(end);

    let scale = cfg.probes.pid.map(|pid| Scale {
        pid,
        endpoints_kept: addresses_kept.len(),
        at_start: proc_start.unwrap_or_default(),
        after_keep: proc_kept.unwrap_or_default(),
        after_churn: proc_churned.unwrap_or_default(),
        errors: scale_errors.clone(),
    });
    Ok(Report::new(report::Parts {
        cfg,
        samples: &out.samples,
        churn_samples: &churn_samples,
        churn_seconds,
        keep_seconds,
        errors: out.error_count,
        error_samples: out.errors,
        addresses_kept,
        scale,
        flows_with_kept: flows_kept,
        leaks,
    }))
}
