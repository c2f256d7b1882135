//! The tokio driver of the OVSDB client: one task owns the socket, the sans-IO
//! [`Session`](crate::ovsdb::session::Session), the row cache and the typed view.
//!
//! [`OvsdbClient::connect`] spawns the task and returns a cloneable handle plus a stream of
//! [`ClientEvent`]s. The task connects to a `unix:/path` or `tcp:host:port` URL, fetches the
//! schema, monitors the view's tables (`monitor_cond`, or `monitor` where the server lacks it),
//! answers the server's `echo` and sends its own every 10 s. When the connection drops it
//! reconnects with backoff, monitors again and reports only what changed meanwhile (the
//! resync diff), then [`ClientEvent::Synced`]. Requests in flight when the connection drops fail
//! with [`OvsdbError::Disconnected`]; nothing is retried behind the caller's back, except that
//! the product operations ([`OvsdbClient::ensure_bridge`], ...) rebuild and retry on a `wait`
//! conflict.
//!
//! ```no_run
//! # async fn demo() -> Result<(), vlcp::runtime::ovsdb::OvsdbError> {
//! use vlcp::runtime::ovsdb::{ClientConfig, OvsdbClient};
//! let (client, mut events) = OvsdbClient::connect(ClientConfig::new("unix:/run/openvswitch/db.sock"))?;
//! client.wait_synced(std::time::Duration::from_secs(5)).await?;
//! let system_id = client.with_view(|v| v.system_id().map(str::to_owned));
//! while let Some(ev) = events.recv().await { println!("{ev:?}"); }
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};

use crate::ovsdb::framer::Limits;
use crate::ovsdb::jsonrpc::RpcError;
use crate::ovsdb::monitor::{Cache, UpdateFormat};
use crate::ovsdb::ops::{MalformedResult, OpResult, Operation, TxnError, parse_results, transact_params};
use crate::ovsdb::schema::Schema;
use crate::ovsdb::session::{RequestId, Session, SessionError, SessionEvent};
use crate::ovsdb::txn::{self, BridgeSpec, PortSpec, TxnBuildError};
use crate::ovsdb::view::{DB, View, ViewEvent};

/// Errors of the OVSDB client.
#[derive(Debug, thiserror::Error)]
pub enum OvsdbError {
    /// The URL is neither `unix:<path>` nor `tcp:<host>:<port>`.
    #[error("bad OVSDB URL {0:?} (expected unix:<path> or tcp:<host>:<port>)")]
    BadUrl(String),
    /// The server answered a request with an error.
    #[error("{method} failed: {error}")]
    Rpc {
        /// The request's method.
        method: String,
        /// The server's error.
        error: RpcError,
    },
    /// A transaction failed; the error names the operation.
    #[error(transparent)]
    Txn(#[from] TxnError),
    /// The transaction could not be built from the current view.
    #[error(transparent)]
    Build(#[from] TxnBuildError),
    /// The server's reply had the wrong shape.
    #[error(transparent)]
    Malformed(#[from] MalformedResult),
    /// The connection dropped (or was not up) while the request was pending.
    #[error("not connected to ovsdb-server")]
    Disconnected,
    /// The client task has stopped.
    #[error("OVSDB client is closed")]
    Closed,
    /// Waiting for a condition took longer than allowed.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The limit.
        timeout: Duration,
    },
    /// ovs-vswitchd could not create an interface (`ofport` is -1).
    #[error("interface {name:?} failed: {error}")]
    Interface {
        /// Interface name.
        name: String,
        /// The `error` column.
        error: String,
    },
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `unix:/path` (also `unix:///path`) or `tcp:host:port`.
    pub url: String,
    /// Idle time before we send `echo`; the peer is dropped after twice this.
    pub keepalive: Duration,
    /// First reconnect delay; doubles up to `max_backoff`.
    pub backoff: Duration,
    /// Longest reconnect delay.
    pub max_backoff: Duration,
    /// Message size and nesting caps.
    pub limits: Limits,
    /// How many times the product operations rebuild and retry after a `wait` conflict.
    pub conflict_retries: u32,
}

impl ClientConfig {
    /// Defaults: keepalive 10 s, backoff 100 ms .. 2 s, 5 conflict retries.
    pub fn new(url: &str) -> ClientConfig {
        ClientConfig {
            url: url.into(),
            keepalive: Duration::from_secs(10),
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            limits: Limits::default(),
            conflict_retries: 5,
        }
    }
}

/// What the client reports, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The socket is connected (the monitor is not set up yet).
    Connected,
    /// The view is complete: after the first connection (`resync == false`) or after a
    /// reconnect, once the differences have been reported (`resync == true`).
    Synced {
        /// True after a reconnect.
        resync: bool,
    },
    /// A typed row change (boxed: it holds two rows).
    View(Box<ViewEvent>),
    /// The connection dropped; the client reconnects by itself.
    Disconnected {
        /// Why.
        reason: String,
    },
}

#[derive(Debug)]
enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

fn parse_url(url: &str) -> Result<Endpoint, OvsdbError> {
    if let Some(rest) = url.strip_prefix("unix:") {
        let path = match rest.strip_prefix("//") {
            Some(p) => format!("/{}", p.trim_start_matches('/')),
            None => rest.to_owned(),
        };
        if path.is_empty() {
            return Err(OvsdbError::BadUrl(url.into()));
        }
        return Ok(Endpoint::Unix(path.into()));
    }
    if let Some(rest) = url.strip_prefix("tcp:") {
        let rest = rest.trim_start_matches('/');
        if rest.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) {
            return Ok(Endpoint::Tcp(rest.into()));
        }
    }
    Err(OvsdbError::BadUrl(url.into()))
}

#[derive(Default)]
struct Shared {
    view: View,
    connected: bool,
    synced: bool,
}

enum Command {
    Call { method: String, params: Value, reply: oneshot::Sender<Result<Value, OvsdbError>> },
}

/// A handle to the OVSDB client task; cheap to clone. The task stops when all handles drop.
#[derive(Clone)]
pub struct OvsdbClient {
    tx: mpsc::UnboundedSender<Command>,
    shared: Arc<RwLock<Shared>>,
    generation: watch::Receiver<u64>,
    conflict_retries: u32,
}

impl OvsdbClient {
    /// Spawns the client task (needs a tokio runtime) and returns the handle and its events.
    pub fn connect(
        config: ClientConfig,
    ) -> Result<(OvsdbClient, mpsc::UnboundedReceiver<ClientEvent>), OvsdbError> {
        let endpoint = parse_url(&config.url)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (gen_tx, gen_rx) = watch::channel(0);
        let shared = Arc::new(RwLock::new(Shared::default()));
        let client = OvsdbClient {
            tx,
            shared: shared.clone(),
            generation: gen_rx,
            conflict_retries: config.conflict_retries,
        };
        let driver = Driver {
            config,
            endpoint,
            commands: rx,
            events: ev_tx,
            shared,
            generation: gen_tx,
            cache: None,
            schema: None,
        };
        tokio::spawn(driver.run());
        Ok((client, ev_rx))
    }

    /// Runs `f` on the current view (do not block inside).
    pub fn with_view<R>(&self, f: impl FnOnce(&View) -> R) -> R {
        let g = self.shared.read().unwrap_or_else(|p| p.into_inner());
        f(&g.view)
    }

    /// True while connected and monitoring.
    pub fn is_synced(&self) -> bool {
        self.shared.read().unwrap_or_else(|p| p.into_inner()).synced
    }

    /// The view's generation: it moves on every update of the view (and on sync or loss).
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    /// Waits until the generation moves past `seen`; returns the new one.
    pub async fn changed_after(&self, seen: u64) -> Result<u64, OvsdbError> {
        let mut rx = self.generation.clone();
        rx.wait_for(|g| *g != seen).await.map(|g| *g).map_err(|_| OvsdbError::Closed)
    }

    /// Waits until `check` on the view returns `Some`, re-checking after each update.
    pub async fn wait_view<R>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&View, bool) -> Option<R>,
    ) -> Result<R, OvsdbError> {
        let mut watch_rx = self.generation.clone();
        let fut = async {
            loop {
                watch_rx.borrow_and_update();
                let r = {
                    let g = self.shared.read().unwrap_or_else(|p| p.into_inner());
                    check(&g.view, g.synced)
                };
                if let Some(r) = r {
                    return Ok(r);
                }
                if watch_rx.changed().await.is_err() {
                    return Err(OvsdbError::Closed);
                }
            }
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| OvsdbError::Timeout { what: what.into(), timeout })?
    }

    /// Waits until the monitor is set up and the view complete.
    pub async fn wait_synced(&self, timeout: Duration) -> Result<(), OvsdbError> {
        self.wait_view("the OVSDB view to sync", timeout, |_, synced| synced.then_some(())).await
    }

    /// Sends any JSON-RPC request (`list_dbs`, `get_schema`, `echo`, `lock`, ...).
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, OvsdbError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Call { method: method.into(), params, reply })
            .map_err(|_| OvsdbError::Closed)?;
        rx.await.map_err(|_| OvsdbError::Closed)?
    }

    /// Runs one transaction on `Open_vSwitch`.
    pub async fn transact(&self, ops: &[Operation]) -> Result<Vec<OpResult>, OvsdbError> {
        let result = self.call("transact", transact_params(DB, ops)).await?;
        Ok(parse_results(ops, &result)??)
    }

    /// Builds a transaction against the current view and runs it; on a `wait` conflict, waits
    /// for the view to move on and rebuilds, up to `conflict_retries` times.
    pub async fn run(
        &self,
        build: impl Fn(&View) -> Result<Vec<Operation>, TxnBuildError>,
    ) -> Result<Vec<OpResult>, OvsdbError> {
        let mut attempt = 0;
        loop {
            let seen = *self.generation.borrow();
            let ops = self.with_view(&build)?;
            if ops.is_empty() {
                return Ok(Vec::new());
            }
            match self.transact(&ops).await {
                Err(OvsdbError::Txn(e)) if e.is_conflict() && attempt < self.conflict_retries => {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "ovsdb: conflict, retrying");
                    let mut watch_rx = self.generation.clone();
                    let _ =
                        tokio::time::timeout(Duration::from_secs(2), watch_rx.wait_for(|g| *g > seen)).await;
                }
                r => return r,
            }
        }
    }

    /// Creates the bridge or brings it to `spec` (datapath type, `fail_mode=secure`,
    /// protocols, controller target).
    pub async fn ensure_bridge(&self, spec: &BridgeSpec) -> Result<(), OvsdbError> {
        self.run(|v| Ok(txn::ensure_bridge(v, spec))).await.map(drop)
    }

    /// Adds a port + interface.
    pub async fn add_port(&self, spec: &PortSpec) -> Result<(), OvsdbError> {
        self.run(|v| txn::add_port(v, spec)).await.map(drop)
    }

    /// Deletes a port (and its interfaces) by name.
    pub async fn delete_port(&self, name: &str) -> Result<(), OvsdbError> {
        self.run(|v| txn::delete_port(v, name)).await.map(drop)
    }

    /// Sets keys of an interface's `options`.
    pub async fn set_interface_options(
        &self,
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<(), OvsdbError> {
        self.run(|v| txn::set_interface_options(v, name, options)).await.map(drop)
    }

    /// Waits until ovs-vswitchd assigns an OpenFlow port to interface `iface`.
    pub async fn wait_ofport(&self, iface: &str, timeout: Duration) -> Result<u32, OvsdbError> {
        self.wait_view(&format!("ofport of {iface}"), timeout, |v, _| {
            let i = v.interface_by_name(iface)?;
            match i.ofport {
                Some(-1) => Some(Err(OvsdbError::Interface {
                    name: iface.into(),
                    error: i.error.clone().unwrap_or_else(|| "ofport -1".into()),
                })),
                _ => i.usable_ofport().map(Ok),
            }
        })
        .await?
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

enum Pending {
    User(String, oneshot::Sender<Result<Value, OvsdbError>>),
    Schema,
    Monitor(UpdateFormat),
}

const MONITOR_ID: &str = "vlcp";

struct Driver {
    config: ClientConfig,
    endpoint: Endpoint,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<ClientEvent>,
    shared: Arc<RwLock<Shared>>,
    generation: watch::Sender<u64>,
    /// The cache of the last (or current) connection; kept across reconnects for the resync.
    cache: Option<Cache>,
    schema: Option<Arc<Schema>>,
}

enum Exit {
    /// All handles dropped.
    Closed,
    /// The connection failed; reconnect.
    Lost(String),
}

impl Driver {
    async fn run(mut self) {
        let mut backoff = self.config.backoff;
        loop {
            let stream: Result<Box<dyn Io>, std::io::Error> = match &self.endpoint {
                Endpoint::Unix(p) => {
                    tokio::net::UnixStream::connect(p).await.map(|s| Box::new(s) as Box<dyn Io>)
                }
                Endpoint::Tcp(a) => tokio::net::TcpStream::connect(a.as_str()).await.map(|s| {
                    let _ = s.set_nodelay(true);
                    Box::new(s) as Box<dyn Io>
                }),
            };
            let exit = match stream {
                Ok(s) => {
                    self.set_state(true, false);
                    let _ = self.events.send(ClientEvent::Connected);
                    let exit = self.serve(s).await;
                    if self.shared_synced() {
                        backoff = self.config.backoff;
                    }
                    exit
                }
                Err(e) => Exit::Lost(format!("connect {}: {e}", self.config.url)),
            };
            let was_connected = self.shared.read().map(|g| g.connected).unwrap_or(false);
            self.set_state(false, false);
            match exit {
                Exit::Closed => return,
                Exit::Lost(reason) => {
                    tracing::info!(%reason, "ovsdb: connection lost");
                    if was_connected {
                        let _ = self.events.send(ClientEvent::Disconnected { reason });
                    }
                }
            }
            // Fail calls that arrive while down instead of queueing them.
            let sleep = tokio::time::sleep(backoff);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    c = self.commands.recv() => match c {
                        None => return,
                        Some(Command::Call { reply, .. }) => { let _ = reply.send(Err(OvsdbError::Disconnected)); }
                    },
                }
            }
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
    }

    fn shared_synced(&self) -> bool {
        self.shared.read().map(|g| g.synced).unwrap_or(false)
    }

    fn set_state(&self, connected: bool, synced: bool) {
        let mut g = self.shared.write().unwrap_or_else(|p| p.into_inner());
        g.connected = connected;
        g.synced = synced;
        drop(g);
        self.generation.send_modify(|g| *g += 1);
    }

    async fn serve(&mut self, mut stream: Box<dyn Io>) -> Exit {
        let mut session = Session::new(Instant::now(), self.config.keepalive, self.config.limits);
        let mut pending: HashMap<RequestId, Pending> = HashMap::new();
        let id = session.request("get_schema", json!([DB]));
        pending.insert(id, Pending::Schema);
        let mut buf = vec![0u8; 64 * 1024];
        let exit = loop {
            if let Some(out) = session.poll_transmit()
                && let Err(e) = stream.write_all(&out).await
            {
                break Exit::Lost(format!("write: {e}"));
            }
            let deadline = tokio::time::Instant::from_std(session.poll_timeout());
            let step: Result<(), String> = tokio::select! {
                r = stream.read(&mut buf) => match r {
                    Ok(0) if session.is_mid_message() => Err("connection closed in the middle of a message".into()),
                    Ok(0) => Err("connection closed by peer".into()),
                    Ok(n) => session.handle_input(&buf[..n], Instant::now()).map_err(|e| e.to_string()),
                    Err(e) => Err(format!("read: {e}")),
                },
                c = self.commands.recv() => match c {
                    None => break Exit::Closed,
                    Some(Command::Call { method, params, reply }) => {
                        let id = session.request(&method, params);
                        pending.insert(id, Pending::User(method, reply));
                        Ok(())
                    }
                },
                _ = tokio::time::sleep_until(deadline) => {
                    session.handle_timeout(Instant::now()).map_err(|e: SessionError| e.to_string())
                }
            };
            if let Err(e) = step {
                break Exit::Lost(e);
            }
            while let Some(ev) = session.poll_event() {
                if let Err(e) = self.on_event(ev, &mut session, &mut pending) {
                    return self.fail_pending(pending, Exit::Lost(e));
                }
            }
        };
        self.fail_pending(pending, exit)
    }

    fn fail_pending(&self, pending: HashMap<RequestId, Pending>, exit: Exit) -> Exit {
        for (_, p) in pending {
            if let Pending::User(_, reply) = p {
                let _ = reply.send(Err(OvsdbError::Disconnected));
            }
        }
        exit
    }

    fn on_event(
        &mut self,
        ev: SessionEvent,
        session: &mut Session,
        pending: &mut HashMap<RequestId, Pending>,
    ) -> Result<(), String> {
        match ev {
            SessionEvent::Response { id, result, .. } => match pending.remove(&id) {
                Some(Pending::User(method, reply)) => {
                    let _ = reply.send(result.map_err(|error| OvsdbError::Rpc { method, error }));
                }
                Some(Pending::Schema) => {
                    let schema = result.map_err(|e| format!("get_schema: {e}"))?;
                    let schema = Schema::from_json(&schema).map_err(|e| e.to_string())?;
                    self.schema = Some(Arc::new(schema));
                    let id = session
                        .request("monitor_cond", View::monitor_spec().params(&json!(MONITOR_ID), true));
                    pending.insert(id, Pending::Monitor(UpdateFormat::V2));
                }
                Some(Pending::Monitor(format)) => match result {
                    Err(e) if format == UpdateFormat::V2 => {
                        tracing::info!(error = %e, "ovsdb: monitor_cond refused, using monitor");
                        let id = session
                            .request("monitor", View::monitor_spec().params(&json!(MONITOR_ID), false));
                        pending.insert(id, Pending::Monitor(UpdateFormat::V1));
                    }
                    Err(e) => return Err(format!("monitor: {e}")),
                    Ok(initial) => self.on_initial(&initial, format)?,
                },
                None => {}
            },
            SessionEvent::Notification { method, params } => {
                let format = match method.as_str() {
                    "update" => UpdateFormat::V1,
                    "update2" => UpdateFormat::V2,
                    _ => {
                        tracing::debug!(%method, "ovsdb: ignoring notification");
                        return Ok(());
                    }
                };
                if params.get(0).and_then(Value::as_str) != Some(MONITOR_ID) {
                    return Ok(());
                }
                let updates = params.get(1).ok_or("update without table-updates")?;
                let cache = self.cache.as_mut().ok_or("update before the monitor reply")?;
                let changes = cache.apply(updates, format).map_err(|e| e.to_string())?;
                self.publish(|view| view.apply(&changes), None);
            }
        }
        Ok(())
    }

    fn on_initial(&mut self, initial: &Value, format: UpdateFormat) -> Result<(), String> {
        let spec = View::monitor_spec();
        let mut fresh = Cache::new(&spec, self.schema.clone());
        fresh.apply(initial, format).map_err(|e| e.to_string())?;
        let resync = self.cache.is_some();
        let mut cache = self.cache.take().unwrap_or_else(|| Cache::new(&spec, self.schema.clone()));
        let changes = cache.resync(fresh);
        self.cache = Some(cache);
        self.publish(|view| view.apply(&changes), Some(resync));
        Ok(())
    }

    /// Updates the view, bumps the generation and sends the events (then `Synced` if given).
    fn publish(&self, f: impl FnOnce(&mut View) -> Vec<ViewEvent>, synced: Option<bool>) {
        let events = {
            let mut g = self.shared.write().unwrap_or_else(|p| p.into_inner());
            let ev = f(&mut g.view);
            if synced.is_some() {
                g.synced = true;
            }
            ev
        };
        self.generation.send_modify(|g| *g += 1);
        for e in events {
            let _ = self.events.send(ClientEvent::View(Box::new(e)));
        }
        if let Some(resync) = synced {
            let _ = self.events.send(ClientEvent::Synced { resync });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(
            matches!(parse_url("unix:/a/b.sock"), Ok(Endpoint::Unix(p)) if p == std::path::Path::new("/a/b.sock"))
        );
        assert!(
            matches!(parse_url("unix://var/run/db.sock"), Ok(Endpoint::Unix(p)) if p == std::path::Path::new("/var/run/db.sock"))
        );
        assert!(matches!(parse_url("tcp:127.0.0.1:6640"), Ok(Endpoint::Tcp(a)) if a == "127.0.0.1:6640"));
        for bad in ["", "unix:", "tcp:127.0.0.1", "tcp::6640", "ssl:1.2.3.4:6640", "tcp:h:99999"] {
            assert!(matches!(parse_url(bad), Err(OvsdbError::BadUrl(_))), "{bad}");
        }
    }
}
