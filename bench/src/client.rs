//! HTTP clients: [`PluginClient`] speaks to a Docker plugin socket the way dockerd does (a POST
//! per call, `application/vnd.docker.plugins.v1.2+json`, keep-alive connections), and
//! [`ApiClient`] reads the daemon's management API for the logical-port leak probe.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// The media type dockerd sends and accepts on plugin calls.
const PLUGIN_MEDIA_TYPE: &str = "application/vnd.docker.plugins.v1.2+json";
/// Largest response body read (plugin answers are a few hundred bytes; API lists can be long).
const MAX_RESPONSE: usize = 64 << 20;

/// Why a call did not give a success answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The server answered with a non-200 status (the plugin's `{"Err": …}` message).
    #[error("{path}: HTTP {status}: {message}")]
    Refused { path: String, status: u16, message: String },
    /// No answer: connection refused or reset, socket missing.
    #[error("{path}: {reason}")]
    Transport { path: String, reason: String },
    /// A 200 answer that is not the JSON the call promises.
    #[error("{path}: bad response: {reason}")]
    BadResponse { path: String, reason: String },
}

impl CallError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

async fn send<C>(
    client: &Client<C, Full<Bytes>>,
    path: &str,
    req: Request<Full<Bytes>>,
) -> Result<Value, CallError>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let transport = |reason: String| CallError::Transport { path: path.to_string(), reason };
    let resp = client.request(req).await.map_err(|e| transport(format!("{e:?}")))?;
    let status = resp.status().as_u16();
    let body = http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| transport(format!("reading the answer: {e}")))?
        .to_bytes();
    let value: Result<Value, _> = serde_json::from_slice(&body);
    if status != 200 {
        let message = match &value {
            Ok(v) => v.get("Err").and_then(Value::as_str).map_or_else(|| v.to_string(), str::to_owned),
            Err(_) => String::from_utf8_lossy(&body).into_owned(),
        };
        return Err(CallError::Refused { path: path.to_string(), status, message });
    }
    value.map_err(|e| CallError::BadResponse { path: path.to_string(), reason: format!("not JSON: {e}") })
}

/// A client of one plugin socket. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct PluginClient {
    socket: PathBuf,
    http: Client<hyperlocal::UnixConnector, Full<Bytes>>,
}

impl std::fmt::Debug for PluginClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginClient").field("socket", &self.socket).finish_non_exhaustive()
    }
}

impl PluginClient {
    /// A client of the plugin listening on `socket` (nothing is connected until the first call).
    pub fn new(socket: &Path) -> PluginClient {
        let http = Client::builder(TokioExecutor::new()).build(hyperlocal::UnixConnector);
        PluginClient { socket: socket.to_path_buf(), http }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// POSTs `body` (`None`: the empty body dockerd sends to argument-less calls) to `path`
    /// (`/NetworkDriver.Join`) and returns the JSON answer of a 200.
    pub async fn call(&self, path: &str, body: Option<&Value>) -> Result<Value, CallError> {
        let bytes = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let uri: hyper::Uri = hyperlocal::Uri::new(&self.socket, path).into();
        let req = Request::post(uri)
            .header(hyper::header::CONTENT_TYPE, PLUGIN_MEDIA_TYPE)
            .header(hyper::header::ACCEPT, PLUGIN_MEDIA_TYPE)
            .body(Full::new(bytes))
            .map_err(|e| CallError::Transport { path: path.to_string(), reason: e.to_string() })?;
        send(&self.http, path, req).await
    }
}

/// A client of the management API (`http://127.0.0.1:8081`).
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl ApiClient {
    /// A client of the API at `base` (`http://host:port`, with the root path if not `/`).
    pub fn new(base: &str) -> ApiClient {
        let http = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        ApiClient { base: base.trim_end_matches('/').to_string(), http }
    }

    /// `GET <base>/<module>/<api>?<query>` → the `result` of the answer.
    pub async fn get(&self, module: &str, api: &str, query: &str) -> Result<Value, CallError> {
        let path = format!("/{module}/{api}?{query}");
        let uri: hyper::Uri = format!("{}{path}", self.base)
            .parse()
            .map_err(|e| CallError::Transport { path: path.clone(), reason: format!("bad URL: {e}") })?;
        let req = Request::get(uri)
            .body(Full::new(Bytes::new()))
            .map_err(|e| CallError::Transport { path: path.clone(), reason: e.to_string() })?;
        let mut v = send(&self.http, &path, req).await?;
        v.get_mut("result")
            .map(Value::take)
            .ok_or_else(|| CallError::BadResponse { path, reason: format!("no \"result\" in {v}") })
    }
}
