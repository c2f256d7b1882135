//! The tokio driver of OpenFlow switch connections: listeners, outgoing connections with
//! reconnect, one task per connection around the sans-IO [`Connection`], and a registry of
//! datapaths with events.
//!
//! [`Controller::start`] binds every `listen` URL (`tcp://127.0.0.1:6653`, `unix:/path`) and
//! dials every `connect` URL (`unix:/var/run/openvswitch/br0.mgmt`, `tcp:host:port`), redialling
//! with backoff when the switch goes away. Each connection runs the handshake; when it is done
//! the switch appears as a [`Datapath`] in the registry and a [`DatapathEvent::Up`] is
//! broadcast. A [`Datapath`] is a cheap handle to send requests:
//!
//! - [`Datapath::request`]: one request, one reply (VLCP `querywithreply`);
//! - [`Datapath::query_multipart`]: all parts of a multipart reply (VLCP `querymultipart`);
//! - [`Datapath::batch`]: many requests then a barrier, with a result per request (VLCP
//!   `batch`, os-ken `send_msg` + barrier);
//! - [`Datapath::send`]: fire and forget; a later ERROR becomes [`DatapathEvent::Error`].
//!
//! Backpressure: each connection accepts commands only while its unwritten output is below
//! [`ControllerConfig::write_high_water`]; callers then wait on the bounded command queue.
//!
//! ```no_run
//! # async fn demo() -> Result<(), vlcp::runtime::ofswitch::OfError> {
//! use vlcp::runtime::ofswitch::{Controller, ControllerConfig};
//! let controller = Controller::start(ControllerConfig {
//!     connect: vec!["unix:/var/run/openvswitch/br0.mgmt".into()],
//!     ..ControllerConfig::default()
//! })
//! .await?;
//! let mut events = controller.subscribe();
//! let dp = controller.wait_datapath(0x1234, std::time::Duration::from_secs(10)).await?;
//! println!("ports: {:?}", dp.ports());
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::openflow::conn::{
    CloseReason, Config as ConnConfig, Connection, Event, Expect, Reply, RequestFailure, SendError,
};
use crate::openflow::{
    DecodeError, EncodeError, ErrorMsg, FlowRemoved, FlowStats, FlowStatsRequest, Message, MsgType,
    MultipartReply, MultipartRequest, PacketIn, Port, PortReason, PortStatus, SwitchFeatures,
};

/// Errors of switch requests and of starting the controller.
#[derive(Debug, thiserror::Error)]
pub enum OfError {
    /// The switch rejected this request with an ERROR message.
    #[error("switch rejected the request: {0}")]
    Switch(ErrorMsg),
    /// The reply to this request did not decode.
    #[error("undecodable reply: {0}")]
    BadReply(DecodeError),
    /// A multipart reply exceeded the reassembly cap.
    #[error("multipart reply larger than {0} bytes")]
    TooLarge(usize),
    /// The reply was of an unexpected type.
    #[error("unexpected reply {0}")]
    UnexpectedReply(MsgType),
    /// The message cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The connection went down before the request completed.
    #[error("switch disconnected")]
    Disconnected,
    /// Waiting for a datapath timed out.
    #[error("datapath {0:#018x} did not connect in time")]
    Timeout(u64),
    /// A URL is not `tcp://host:port`, `tcp:host:port` or `unix:path`.
    #[error("bad OpenFlow URL {0:?}")]
    BadUrl(String),
    /// Binding a listener failed.
    #[error("cannot listen on {url}: {source}")]
    Listen {
        /// The URL.
        url: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<RequestFailure> for OfError {
    fn from(f: RequestFailure) -> OfError {
        match f {
            RequestFailure::Switch(e) => OfError::Switch(e),
            RequestFailure::BadReply(e) => OfError::BadReply(e),
            RequestFailure::TooLarge(n) => OfError::TooLarge(n),
            RequestFailure::Encode(e) => OfError::Encode(e),
            RequestFailure::Closed => OfError::Disconnected,
        }
    }
}

/// A batch in which at least one request failed; `results` has one entry per request.
#[derive(Debug, thiserror::Error)]
#[error("{} of {} batched requests failed", self.failed().count(), self.results.len())]
pub struct BatchError {
    /// Per request, in order: its reply (if any) or its error.
    pub results: Vec<Result<Option<Message>, OfError>>,
}

impl BatchError {
    /// Indices and errors of the failed requests.
    pub fn failed(&self) -> impl Iterator<Item = (usize, &OfError)> {
        self.results.iter().enumerate().filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
    }
}

/// Where to listen or connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `tcp://host:port` or `tcp:host:port`.
    Tcp(String),
    /// `unix:/path` or `unix:///path`.
    Unix(PathBuf),
}

impl Endpoint {
    /// Parse an OpenFlow URL.
    pub fn parse(url: &str) -> Result<Endpoint, OfError> {
        let bad = || OfError::BadUrl(url.to_owned());
        if let Some(rest) = url.strip_prefix("tcp:") {
            let addr = rest.strip_prefix("//").unwrap_or(rest);
            if addr.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err()) {
                return Err(bad());
            }
            Ok(Endpoint::Tcp(addr.to_owned()))
        } else if let Some(rest) = url.strip_prefix("unix:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(bad());
            }
            Ok(Endpoint::Unix(PathBuf::from(path)))
        } else {
            Err(bad())
        }
    }
}

/// Controller settings.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// URLs to accept switches on (default `tcp://127.0.0.1:6653`).
    pub listen: Vec<String>,
    /// URLs of switches to dial (a bridge's `unix:<rundir>/<br>.mgmt`); redialled on loss.
    pub connect: Vec<String>,
    /// Protocol settings (echo 10 s / 3 s, handshake timeouts, multipart cap).
    pub conn: ConnConfig,
    /// First redial delay; doubles up to `reconnect_max`.
    pub reconnect_min: Duration,
    /// Largest redial delay.
    pub reconnect_max: Duration,
    /// Stop taking commands while this many bytes wait to be written.
    pub write_high_water: usize,
    /// Capacity of the event broadcast (slow subscribers miss events beyond it).
    pub event_capacity: usize,
    /// Receives the raw bytes of every message any switch sends (for codec checks).
    pub tap: Option<mpsc::UnboundedSender<Vec<u8>>>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            listen: vec!["tcp://127.0.0.1:6653".into()],
            connect: Vec::new(),
            conn: ConnConfig::default(),
            reconnect_min: Duration::from_millis(200),
            reconnect_max: Duration::from_secs(5),
            write_high_water: 1 << 20,
            event_capacity: 4096,
            tap: None,
        }
    }
}

/// Why a datapath went down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// The protocol state machine closed (echo timeout, framing error, ...).
    Protocol(CloseReason),
    /// The switch closed the stream.
    Eof,
    /// A socket error.
    Io(String),
    /// The controller shut down.
    Shutdown,
}

/// What happened on a switch.
#[derive(Debug, Clone)]
pub enum DatapathEvent {
    /// Handshake done; the datapath is in the registry.
    Up(Datapath),
    /// The connection is gone.
    Down {
        /// Datapath id.
        datapath_id: u64,
        /// Why.
        reason: DownReason,
    },
    /// A port was added, removed or modified (the port list is already updated).
    PortStatus {
        /// Datapath id.
        datapath_id: u64,
        /// The change.
        status: PortStatus,
    },
    /// A packet for the controller.
    PacketIn {
        /// Datapath id.
        datapath_id: u64,
        /// The packet.
        packet_in: PacketIn,
    },
    /// A flow with `SEND_FLOW_REM` was removed.
    FlowRemoved {
        /// Datapath id.
        datapath_id: u64,
        /// The flow.
        flow_removed: FlowRemoved,
    },
    /// An ERROR not tied to a pending request (e.g. after [`Datapath::send`]).
    Error {
        /// Datapath id.
        datapath_id: u64,
        /// The error.
        error: ErrorMsg,
    },
    /// An unsolicited EXPERIMENTER message.
    Experimenter {
        /// Datapath id.
        datapath_id: u64,
        /// The message.
        message: Message,
    },
}

type Waiter = oneshot::Sender<Result<Reply, RequestFailure>>;

struct Command {
    requests: Vec<(Message, Expect, Option<Waiter>)>,
}

/// A connected switch: a cheap handle for requests.
#[derive(Clone)]
pub struct Datapath {
    /// Datapath id from FEATURES_REPLY.
    pub id: u64,
    /// FEATURES_REPLY contents.
    pub features: SwitchFeatures,
    conn_id: u64,
    ports: Arc<Mutex<BTreeMap<u32, Port>>>,
    commands: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Datapath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Datapath({:#018x}, conn {})", self.id, self.conn_id)
    }
}

impl Datapath {
    /// Current ports (kept up to date from PORT_STATUS).
    pub fn ports(&self) -> Vec<Port> {
        lock(&self.ports).values().cloned().collect()
    }

    /// Whether the connection behind this handle is still open.
    pub fn is_connected(&self) -> bool {
        !self.commands.is_closed()
    }

    async fn submit(&self, requests: Vec<(Message, Expect, Option<Waiter>)>) -> Result<(), OfError> {
        self.commands.send(Command { requests }).await.map_err(|_| OfError::Disconnected)
    }

    async fn one(&self, message: Message, expect: Expect) -> Result<Reply, OfError> {
        let (tx, rx) = oneshot::channel();
        self.submit(vec![(message, expect, Some(tx))]).await?;
        Ok(rx.await.map_err(|_| OfError::Disconnected)??)
    }

    /// Send a request that has exactly one reply and return it.
    pub async fn request(&self, message: Message) -> Result<Message, OfError> {
        match self.one(message, Expect::Reply).await? {
            Reply::Message(m) => Ok(m),
            Reply::Multipart(_) => Err(OfError::UnexpectedReply(MsgType::MULTIPART_REPLY)),
            Reply::Done => Err(OfError::Disconnected),
        }
    }

    /// Send a multipart request and return every part of the reply.
    pub async fn query_multipart(&self, request: MultipartRequest) -> Result<Vec<MultipartReply>, OfError> {
        match self.one(Message::MultipartRequest(request), Expect::Reply).await? {
            Reply::Multipart(parts) => Ok(parts),
            Reply::Message(m) => Err(OfError::UnexpectedReply(m.msg_type())),
            Reply::Done => Err(OfError::Disconnected),
        }
    }

    /// Read flow entries.
    pub async fn flow_stats(&self, request: FlowStatsRequest) -> Result<Vec<FlowStats>, OfError> {
        let parts = self.query_multipart(MultipartRequest::Flow(request)).await?;
        let mut flows = Vec::new();
        for p in parts {
            match p {
                MultipartReply::Flow(f) => flows.extend(f),
                _ => return Err(OfError::UnexpectedReply(MsgType::MULTIPART_REPLY)),
            }
        }
        Ok(flows)
    }

    /// Send a message without waiting; an ERROR for it arrives as [`DatapathEvent::Error`].
    pub async fn send(&self, message: Message) -> Result<(), OfError> {
        self.submit(vec![(message, Expect::MaybeReply, None)]).await
    }

    /// Wait until everything sent before has been processed by the switch.
    pub async fn barrier(&self) -> Result<(), OfError> {
        self.request(Message::BarrierRequest).await.map(|_| ())
    }

    /// Send `messages` followed by a barrier and wait for the barrier reply. Returns each
    /// request's reply (`None` for those without one, like flow-mods), or a [`BatchError`]
    /// with the per-request outcome when any failed.
    pub async fn batch(&self, messages: Vec<Message>) -> Result<Vec<Option<Message>>, BatchError> {
        let mut receivers = Vec::with_capacity(messages.len());
        let mut requests = Vec::with_capacity(messages.len() + 1);
        for m in messages {
            let (tx, rx) = oneshot::channel();
            receivers.push(rx);
            requests.push((m, Expect::MaybeReply, Some(tx)));
        }
        let (btx, brx) = oneshot::channel();
        requests.push((Message::BarrierRequest, Expect::Reply, Some(btx)));
        let n = receivers.len();
        if self.submit(requests).await.is_err() {
            return Err(BatchError { results: (0..n).map(|_| Err(OfError::Disconnected)).collect() });
        }
        let mut results = Vec::with_capacity(n);
        for rx in receivers {
            results.push(match rx.await {
                Ok(Ok(Reply::Message(m))) => Ok(Some(m)),
                Ok(Ok(Reply::Done)) => Ok(None),
                Ok(Ok(Reply::Multipart(_))) => Err(OfError::UnexpectedReply(MsgType::MULTIPART_REPLY)),
                Ok(Err(f)) => Err(f.into()),
                Err(_) => Err(OfError::Disconnected),
            });
        }
        let barrier_ok = matches!(brx.await, Ok(Ok(_)));
        if barrier_ok && results.iter().all(Result::is_ok) {
            Ok(results.into_iter().map(|r| r.unwrap_or(None)).collect())
        } else {
            Err(BatchError { results })
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Shared {
    config: ControllerConfig,
    registry: Mutex<HashMap<u64, Datapath>>,
    events: broadcast::Sender<DatapathEvent>,
    shutdown: watch::Receiver<bool>,
    next_conn: AtomicU64,
}

/// The OpenFlow controller endpoint: listeners, dialers and the datapath registry. Dropping it
/// stops every task and closes every connection.
pub struct Controller {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    local_addrs: Vec<std::net::SocketAddr>,
}

impl Controller {
    /// Bind the listeners, start the dialers, and return.
    pub async fn start(config: ControllerConfig) -> Result<Controller, OfError> {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let shared = Arc::new(Shared {
            config: config.clone(),
            registry: Mutex::new(HashMap::new()),
            events,
            shutdown: shutdown_rx,
            next_conn: AtomicU64::new(1),
        });
        let mut tasks = Vec::new();
        let mut local_addrs = Vec::new();
        for url in &config.listen {
            let listen_err = |source| OfError::Listen { url: url.clone(), source };
            match Endpoint::parse(url)? {
                Endpoint::Tcp(addr) => {
                    let l = TcpListener::bind(&addr).await.map_err(listen_err)?;
                    local_addrs.push(l.local_addr().map_err(listen_err)?);
                    let shared = shared.clone();
                    tasks.push(tokio::spawn(async move {
                        while let Ok((s, _)) = l.accept().await {
                            let _ = s.set_nodelay(true);
                            tokio::spawn(run_connection(s, shared.clone()));
                        }
                    }));
                }
                Endpoint::Unix(path) => {
                    let _ = std::fs::remove_file(&path);
                    let l = UnixListener::bind(&path).map_err(listen_err)?;
                    let shared = shared.clone();
                    tasks.push(tokio::spawn(async move {
                        while let Ok((s, _)) = l.accept().await {
                            tokio::spawn(run_connection(s, shared.clone()));
                        }
                    }));
                }
            }
        }
        for url in &config.connect {
            let endpoint = Endpoint::parse(url)?;
            tasks.push(tokio::spawn(dial_forever(endpoint, shared.clone())));
        }
        Ok(Controller { shared, shutdown, tasks, local_addrs })
    }

    /// Bound TCP addresses (useful with port 0).
    pub fn local_addrs(&self) -> &[std::net::SocketAddr] {
        &self.local_addrs
    }

    /// Receive datapath events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<DatapathEvent> {
        self.shared.events.subscribe()
    }

    /// The connected datapath with this id.
    pub fn datapath(&self, id: u64) -> Option<Datapath> {
        lock(&self.shared.registry).get(&id).cloned()
    }

    /// All connected datapaths.
    pub fn datapaths(&self) -> Vec<Datapath> {
        lock(&self.shared.registry).values().cloned().collect()
    }

    /// Wait until datapath `id` is connected (returns at once if it is).
    pub async fn wait_datapath(&self, id: u64, timeout: Duration) -> Result<Datapath, OfError> {
        let mut events = self.subscribe();
        if let Some(dp) = self.datapath(id).filter(Datapath::is_connected) {
            return Ok(dp);
        }
        let wait = async {
            loop {
                match events.recv().await {
                    Ok(DatapathEvent::Up(dp)) if dp.id == id => return Ok(dp),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if let Some(dp) = self.datapath(id).filter(Datapath::is_connected) {
                            return Ok(dp);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return Err(OfError::Disconnected),
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.map_err(|_| OfError::Timeout(id))?
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn dial_forever(endpoint: Endpoint, shared: Arc<Shared>) {
    let mut delay = shared.config.reconnect_min;
    let mut shutdown = shared.shutdown.clone();
    loop {
        let was_up = match &endpoint {
            Endpoint::Tcp(addr) => match TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    run_connection(s, shared.clone()).await
                }
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "openflow dial failed");
                    false
                }
            },
            Endpoint::Unix(path) => match UnixStream::connect(path).await {
                Ok(s) => run_connection(s, shared.clone()).await,
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "openflow dial failed");
                    false
                }
            },
        };
        if was_up {
            delay = shared.config.reconnect_min;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        delay = (delay * 2).min(shared.config.reconnect_max);
    }
}

/// One connection's task. Returns whether the handshake completed.
async fn run_connection<S>(stream: S, shared: Arc<Shared>) -> bool
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let conn_id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let mut cfg = shared.config.conn.clone();
    cfg.tap_frames = shared.config.tap.is_some();
    let mut conn = Connection::new(Instant::now(), cfg, rand::random());
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Command>(256);
    let mut cmd_tx = Some(cmd_tx);
    let mut shutdown = shared.shutdown.clone();
    let mut waiters: HashMap<u32, Waiter> = HashMap::new();
    let mut out: Vec<u8> = Vec::new();
    let mut rbuf = vec![0u8; 64 * 1024];
    let mut me: Option<Datapath> = None;
    let mut down: Option<DownReason> = None;

    loop {
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::Ready { features, ports } => {
                    let Some(commands) = cmd_tx.take() else { continue };
                    let dp = Datapath {
                        id: features.datapath_id,
                        features,
                        conn_id,
                        ports: Arc::new(Mutex::new(ports.into_iter().map(|p| (p.port_no.0, p)).collect())),
                        commands,
                    };
                    tracing::info!(dpid = format_args!("{:#018x}", dp.id), "openflow datapath up");
                    lock(&shared.registry).insert(dp.id, dp.clone());
                    let _ = shared.events.send(DatapathEvent::Up(dp.clone()));
                    me = Some(dp);
                }
                Event::Response { xid, result } => match (waiters.remove(&xid), result) {
                    (Some(w), result) => {
                        let _ = w.send(result);
                    }
                    (None, Err(RequestFailure::Switch(error))) => {
                        if let Some(dp) = &me {
                            let _ = shared.events.send(DatapathEvent::Error { datapath_id: dp.id, error });
                        }
                    }
                    (None, _) => {}
                },
                Event::Async(m) => {
                    if let Some(dp) = &me {
                        emit_async(&shared, dp, m);
                    }
                }
                Event::Received(raw) => {
                    if let Some(tap) = &shared.config.tap {
                        let _ = tap.send(raw);
                    }
                }
                Event::Closed(reason) => {
                    down.get_or_insert(DownReason::Protocol(reason));
                }
            }
        }
        if let Some(bytes) = conn.poll_transmit() {
            out.extend_from_slice(&bytes);
        }
        if conn.is_closed() {
            // Best effort: flush what the state machine queued last (an ERROR, say).
            if !out.is_empty() {
                let _ = tokio::time::timeout(Duration::from_millis(200), wr.write_all(&out)).await;
            }
            break;
        }
        let deadline = conn.poll_timeout().map(tokio::time::Instant::from_std);
        let accepting = out.len() < shared.config.write_high_water;
        tokio::select! {
            r = rd.read(&mut rbuf) => match r {
                Ok(0) => { down = Some(DownReason::Eof); conn.close(); }
                Ok(n) => conn.handle_input(Instant::now(), &rbuf[..n]),
                Err(e) => { down = Some(DownReason::Io(e.to_string())); conn.close(); }
            },
            w = wr.write(&out), if !out.is_empty() => match w {
                Ok(n) => { out.drain(..n); }
                Err(e) => { down = Some(DownReason::Io(e.to_string())); conn.close(); }
            },
            cmd = cmd_rx.recv(), if accepting && me.is_some() => {
                if let Some(cmd) = cmd {
                    for (message, expect, waiter) in cmd.requests {
                        match conn.send(message, expect) {
                            Ok(xid) => { if let Some(w) = waiter { waiters.insert(xid, w); } }
                            Err(e) => {
                                tracing::warn!(error = %e, "openflow request not sent");
                                if let Some(w) = waiter {
                                    let _ = w.send(Err(match e {
                                        SendError::Encode(e) => RequestFailure::Encode(e),
                                        _ => RequestFailure::Closed,
                                    }));
                                }
                            }
                        }
                    }
                }
            },
            _ = async { tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)).await },
                if deadline.is_some() => conn.handle_timeout(Instant::now()),
            _ = shutdown.wait_for(|s| *s) => { down = Some(DownReason::Shutdown); conn.close(); }
        }
    }
    drop(waiters);
    let was_up = me.is_some();
    if let Some(dp) = me {
        let reason = down.unwrap_or(DownReason::Eof);
        tracing::info!(dpid = format_args!("{:#018x}", dp.id), ?reason, "openflow datapath down");
        {
            let mut reg = lock(&shared.registry);
            if reg.get(&dp.id).is_some_and(|d| d.conn_id == conn_id) {
                reg.remove(&dp.id);
            }
        }
        let _ = shared.events.send(DatapathEvent::Down { datapath_id: dp.id, reason });
    } else if let Some(reason) = down {
        tracing::debug!(?reason, "openflow connection closed before handshake");
    }
    was_up
}

fn emit_async(shared: &Shared, dp: &Datapath, m: Message) {
    let datapath_id = dp.id;
    let ev = match m {
        Message::PacketIn(packet_in) => DatapathEvent::PacketIn { datapath_id, packet_in },
        Message::PortStatus(status) => {
            let mut ports = lock(&dp.ports);
            if status.reason == PortReason::DELETE {
                ports.remove(&status.port.port_no.0);
            } else {
                ports.insert(status.port.port_no.0, status.port.clone());
            }
            DatapathEvent::PortStatus { datapath_id, status }
        }
        Message::FlowRemoved(flow_removed) => DatapathEvent::FlowRemoved { datapath_id, flow_removed },
        Message::Error(error) => DatapathEvent::Error { datapath_id, error },
        message => DatapathEvent::Experimenter { datapath_id, message },
    };
    let _ = shared.events.send(ev);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        assert_eq!(Endpoint::parse("tcp://127.0.0.1:6653").unwrap(), Endpoint::Tcp("127.0.0.1:6653".into()));
        assert_eq!(Endpoint::parse("tcp:127.0.0.1:6633").unwrap(), Endpoint::Tcp("127.0.0.1:6633".into()));
        assert_eq!(Endpoint::parse("unix:/run/br0.mgmt").unwrap(), Endpoint::Unix("/run/br0.mgmt".into()));
        for bad in ["tcp://127.0.0.1", "udp:1.2.3.4:5", "unix:", "tcp://:5"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
