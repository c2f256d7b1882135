//! The VLCP-compatible management API over HTTP: `http://127.0.0.1:8081/<module>/<api>` for every
//! viperflow and vrouterapi call (see [`api::APIS`]), answering `{"result": …}` or
//! `{"error": "…"}` like the original's WebAPI module.
//!
//! vlcp's own calls live under `/vlcp/`: `/vlcp/trace` simulates a packet through a switch's
//! computed flows ([`trace`]; needs the SDN controller in the same process, see
//! [`WebState::with_flows`]).
//!
//! Requests: GET with a query string, POST with a form (`curl -d`) or a JSON object
//! (`Content-Type: application/json`); a value in backticks is a Python literal, read safely.
//! Operations: `GET /metrics` (Prometheus text) and `GET /healthz` (200 or 503 with per-component
//! detail), see [`ops`].
//!
//! Statuses: 200 with `{"result": …}`; 400/404/409 (a [`crate::model::FieldError`] naming the
//! parameter) for client mistakes, 404 for unknown paths, 405 for other methods, 401 when a
//! configured token is missing, 413 for bodies over 4 MiB; 500/503 only for storage faults (and 503
//! for `/vlcp/trace` in a process without the SDN controller).
//!
//! Use [`start`] to bind and run in the background (what the daemon does), or [`serve`] with a
//! listener you bound yourself:
//!
//! ```no_run
//! # async fn demo(db: vlcp::objectdb::ObjectDb) -> std::io::Result<()> {
//! use vlcp::web::{self, WebConfig};
//! let handle = web::start(&WebConfig::default(), vlcp::model::Model::new(db)).await?;
//! println!("management API on {:?}", handle.local_addr());
//! handle.shutdown().await;
//! # Ok(()) }
//! ```

pub mod api;
pub mod config;
pub mod ops;
pub mod request;
pub mod trace;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::JoinSet;

pub use api::ApiError;
pub use config::{ListenAddr, WebConfig};

use crate::model::Model;
use crate::runtime::controller::ComputedFlows;

/// Largest accepted request body.
pub const MAX_BODY: usize = 4 << 20;
/// Connections served at once; further ones wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 512;

/// What every request handler shares.
pub struct WebState {
    model: Model,
    rootpath: String,
    auth_token: Option<String>,
    flows: Option<ComputedFlows>,
}

impl WebState {
    /// Handler state for `model` with the root path and token of `config`.
    pub fn new(model: Model, config: &WebConfig) -> Arc<Self> {
        Arc::new(WebState {
            model,
            rootpath: config.rootpath.clone(),
            auth_token: config.auth_token.clone(),
            flows: None,
        })
    }

    /// Like [`WebState::new`], answering `/vlcp/trace` from the SDN controller that publishes
    /// into `flows` (see `SdnController::spawn_sharing`).
    pub fn with_flows(model: Model, config: &WebConfig, flows: ComputedFlows) -> Arc<Self> {
        Arc::new(WebState {
            model,
            rootpath: config.rootpath.clone(),
            auth_token: config.auth_token.clone(),
            flows: Some(flows),
        })
    }
}

/// A bound listener, TCP or Unix.
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// Unix socket.
    Unix(UnixListener),
}

impl Listener {
    /// Binds `addr` (a stale Unix socket file is replaced).
    pub async fn bind(addr: &ListenAddr) -> std::io::Result<Listener> {
        match addr {
            ListenAddr::Tcp(a) => Ok(Listener::Tcp(TcpListener::bind(a).await?)),
            ListenAddr::Unix(p) => {
                let _ = std::fs::remove_file(p);
                Ok(Listener::Unix(UnixListener::bind(p)?))
            }
        }
    }

    /// The TCP address actually bound (`None` for Unix sockets).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok(),
            Listener::Unix(_) => None,
        }
    }
}

/// A server running in the background. Dropping it stops accepting at once.
pub struct WebHandle {
    addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl WebHandle {
    /// The bound TCP address (port 0 in the config becomes the real port here).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// Stops accepting, lets requests in flight finish, and waits for the server to end.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for WebHandle {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Binds the configured address and serves the API on `model` in a background task.
pub async fn start(config: &WebConfig, model: Model) -> std::io::Result<WebHandle> {
    let listener = Listener::bind(&config.listen).await?;
    let addr = listener.local_addr();
    let state = WebState::new(model, config);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, state, async move {
        let _ = rx.await;
    }));
    Ok(WebHandle { addr, stop: Some(tx), task: Some(task) })
}

/// Accepts connections until `shutdown` completes, one task per connection (at most
/// [`MAX_CONNECTIONS`] at once); then closes idle connections and waits for requests in flight.
pub async fn serve(listener: Listener, state: Arc<WebState>, shutdown: impl Future<Output = ()>) {
    let mut shutdown = std::pin::pin!(shutdown);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => p,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            c = accept(&listener) => c,
        };
        while tasks.try_join_next().is_some() {}
        match accepted {
            Ok(io) => {
                let (state, closing) = (state.clone(), closing_rx.clone());
                tasks.spawn(async move {
                    serve_connection(io, state, closing).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!("web api: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    let _ = closing_tx.send(true);
    while tasks.join_next().await.is_some() {}
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

async fn accept(l: &Listener) -> std::io::Result<Box<dyn Io>> {
    Ok(match l {
        Listener::Tcp(l) => Box::new(l.accept().await?.0),
        Listener::Unix(l) => Box::new(l.accept().await?.0),
    })
}

async fn serve_connection(io: Box<dyn Io>, state: Arc<WebState>, mut closing: watch::Receiver<bool>) {
    let svc = hyper::service::service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(handle(&state, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), svc);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!("web api connection: {e}");
            }
        }
        _ = async { let _ = closing.wait_for(|c| *c).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

fn reply(status: u16, body: &Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Answers one request.
async fn handle(state: &WebState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path == ops::METRICS_PATH || path == ops::HEALTHZ_PATH {
        if req.method() != Method::GET {
            return reply(405, &json!({ "error": format!("method {} not allowed; use GET", req.method()) }));
        }
        if path == ops::HEALTHZ_PATH {
            return ops::healthz(state).await;
        }
        if !authorized(state, &req) {
            return reply(401, &json!({ "error": "missing or wrong token (Authorization: Bearer <token>)" }));
        }
        return ops::metrics(state).await;
    }
    let mut called = None;
    let outcome = respond(state, req, &mut called).await;
    let status = outcome.as_ref().map_or_else(|e| e.status, |_| 200);
    if let Some(def) = called {
        crate::metrics::record_api_request(def.module, def.name, status);
    }
    match outcome {
        Ok(v) => reply(200, &json!({ "result": v })),
        Err(e) => {
            if e.status >= 500 {
                tracing::error!("web api: {}", e.message);
            }
            reply(e.status, &json!({ "error": e.message }))
        }
    }
}

fn err(status: u16, message: impl Into<String>) -> ApiError {
    ApiError { status, message: message.into() }
}

fn authorized(state: &WebState, req: &Request<Incoming>) -> bool {
    let Some(token) = &state.auth_token else { return true };
    let h = |name| req.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let bearer = h(AUTHORIZATION.as_str()).and_then(|v| v.strip_prefix("Bearer "));
    bearer.or_else(|| h("x-auth-token")).is_some_and(|given| given == token)
}

/// Answers an API call; `called` is set to the API once the path names one.
async fn respond(
    state: &WebState,
    req: Request<Incoming>,
    called: &mut Option<&'static api::ApiDef>,
) -> Result<Value, ApiError> {
    if req.method() != Method::GET && req.method() != Method::POST {
        return Err(err(405, format!("method {} not allowed; use GET or POST", req.method())));
    }
    if !authorized(state, &req) {
        return Err(err(401, "missing or wrong token (Authorization: Bearer <token>)"));
    }
    let path = req.uri().path().to_string();
    let unknown = || err(404, format!("no API at {path}"));
    let rest = path.strip_prefix(state.rootpath.as_str()).ok_or_else(unknown)?;
    let (module, name) = rest.trim_end_matches('/').split_once('/').ok_or_else(unknown)?;
    let (module, name) = (module.to_ascii_lowercase(), name.to_ascii_lowercase());
    let def = api::find(&module, &name).ok_or_else(|| {
        if api::is_module(&module) {
            err(404, format!("module {module} has no API {name:?}"))
        } else {
            unknown()
        }
    })?;
    *called = Some(def);
    let bad = |e: request::ParamError| err(400, e.to_string());
    let mut pairs = request::parse_urlencoded(req.uri().query().unwrap_or("")).map_err(bad)?;
    let is_json = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    let mut params = serde_json::Map::new();
    if req.method() == Method::POST {
        let body = Limited::new(req.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| match e.downcast_ref::<http_body_util::LengthLimitError>() {
                Some(_) => err(413, format!("request body is larger than {MAX_BODY} bytes")),
                None => err(400, format!("reading the request body: {e}")),
            })?
            .to_bytes();
        if is_json && !body.is_empty() {
            params = request::from_json(&body).map_err(bad)?;
        } else if !body.is_empty() {
            let text = std::str::from_utf8(&body).map_err(|_| err(400, "form body is not UTF-8"))?;
            pairs.extend(request::parse_urlencoded(text).map_err(bad)?);
        }
    }
    params.extend(request::from_pairs(pairs).map_err(bad)?);
    if def.op == api::Op::Trace {
        return trace::call(state.flows.as_ref(), params);
    }
    api::call(&state.model, def, params).await
}
