//! The plugin's HTTP server on a unix socket.
//!
//! `bind` prepares the socket (creates the plugin directory, removes a stale socket that nobody
//! answers on, sets mode 0660); `serve` accepts connections and spawns a task for each, so a slow
//! call never delays another, and stops when the shutdown signal fires. Requests are dispatched to
//! a [`Driver`]; its errors become a non-200 status with `{"Err": "..."}`, and an unknown method is
//! a 404 with the same body shape.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::UnixListener;
use tokio::sync::watch;

use super::protocol::{ErrorResponse, Method};

/// Largest request body accepted (Docker's are a few hundred bytes).
pub const MAX_BODY: usize = 1 << 20;

/// Why a call failed; the status tells Docker whose fault it was.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The request is malformed or asks for something impossible (400).
    #[error("{0}")]
    BadRequest(String),
    /// The object named in the request does not exist (404 would read as "method missing", so 400
    /// with a message that says which object).
    #[error("{0}")]
    NotFound(String),
    /// A conflicting object or address already exists (409).
    #[error("{0}")]
    Conflict(String),
    /// Our fault, or a dependency's: store, OVS, netlink (500).
    #[error("{0}")]
    Internal(String),
}

impl PluginError {
    fn status(&self) -> StatusCode {
        match self {
            PluginError::BadRequest(_) | PluginError::NotFound(_) => StatusCode::BAD_REQUEST,
            PluginError::Conflict(_) => StatusCode::CONFLICT,
            PluginError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A boxed future, as the [`Driver`] trait returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What answers the calls. `body` is the raw request body (empty for argument-less calls); the
/// answer is the JSON response body.
pub trait Driver: Send + Sync + 'static {
    fn call(&self, method: Method, body: Bytes) -> BoxFuture<'_, Result<Value, PluginError>>;
}

/// Binds the plugin socket at `path`: creates its directory, replaces a stale socket (one that
/// refuses connections), refuses to replace a live one or a non-socket file, and sets mode 0660.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{}: another plugin is answering on this socket", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: exists and is not a socket", path.display()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// Serves `listener` until `shutdown` becomes true; each connection runs in its own task.
pub async fn serve(listener: UnixListener, driver: Arc<dyn Driver>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "plugin socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => return,
        };
        let driver = driver.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(driver.clone(), req));
            if let Err(e) =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await
            {
                tracing::debug!(error = %e, "plugin connection ended with an error");
            }
        });
    }
}

/// Resolves once the shutdown flag is true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/vnd.docker.plugins.v1+json"),
    );
    resp
}

fn error_response(status: StatusCode, msg: String) -> Response<Full<Bytes>> {
    json_response(status, &serde_json::to_value(ErrorResponse { err: msg }).unwrap_or(Value::Null))
}

async fn handle(
    driver: Arc<dyn Driver>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let Some(method) = Method::from_path(&path) else {
        return Ok(error_response(StatusCode::NOT_FOUND, format!("{path}: not implemented by this plugin")));
    };
    if req.method() != hyper::Method::POST {
        return Ok(error_response(StatusCode::METHOD_NOT_ALLOWED, format!("{path}: only POST is accepted")));
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Ok(error_response(StatusCode::BAD_REQUEST, format!("{path}: reading the body: {e}")));
        }
    };
    let started = std::time::Instant::now();
    let result = driver.call(method, body.clone()).await;
    let elapsed = started.elapsed();
    record_metrics(method, &path, &body, &result, elapsed);
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    Ok(match result {
        Ok(v) => {
            tracing::debug!(call = %path, elapsed_ms, "plugin call ok");
            json_response(StatusCode::OK, &v)
        }
        Err(e) => {
            tracing::warn!(call = %path, elapsed_ms, error = %e, "plugin call failed");
            error_response(e.status(), e.to_string())
        }
    })
}

/// Reports one call to `vlcp::metrics`: latency and status per method, and endpoints created and
/// deleted (by the request's `EndpointID`).
fn record_metrics(
    method: Method,
    path: &str,
    body: &Bytes,
    result: &Result<Value, PluginError>,
    elapsed: std::time::Duration,
) {
    let status = match result {
        Ok(_) => StatusCode::OK,
        Err(e) => e.status(),
    };
    vlcp::metrics::record_plugin_call(path.trim_start_matches('/'), status.as_u16(), elapsed);
    if result.is_ok() && matches!(method, Method::CreateEndpoint | Method::DeleteEndpoint) {
        let id = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("EndpointID").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        if method == Method::CreateEndpoint {
            vlcp::metrics::endpoint_created(&id);
        } else {
            vlcp::metrics::endpoint_deleted(&id);
        }
    }
}

/// Parses a request body into `T`, as a [`PluginError::BadRequest`] naming the call on failure.
///
/// An empty body gets its own message: dockerd's plugin client retries a call whose connection
/// broke (the daemon restarted or crashed during it) by sending the request again *without its
/// body* (it reuses the already-read body reader), so after a restart the user sees this error on
/// that one `docker run`/`docker rm`, and repeating the command works.
pub fn parse<T: serde::de::DeserializeOwned>(method: Method, body: &[u8]) -> Result<T, PluginError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(PluginError::BadRequest(format!(
            "{method:?}: empty request body (dockerd resent a call interrupted by a vlcp daemon restart \
             without its body); run the command again"
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| PluginError::BadRequest(format!("{method:?}: invalid request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use hyper_util::client::legacy::Client;

    struct Echo;
    impl Driver for Echo {
        fn call(&self, method: Method, body: Bytes) -> BoxFuture<'_, Result<Value, PluginError>> {
            Box::pin(async move {
                match method {
                    Method::Activate => {
                        Ok(serde_json::json!({"Implements": ["NetworkDriver", "IpamDriver"]}))
                    }
                    Method::DeleteNetwork => {
                        let r: super::super::protocol::NetworkRequest = parse(method, &body)?;
                        Err(PluginError::NotFound(format!("network {} not found", r.network_id)))
                    }
                    _ => Ok(serde_json::json!({})),
                }
            })
        }
    }

    async fn post(sock: &Path, path: &str, body: &str) -> (StatusCode, Value) {
        let client: Client<hyperlocal::UnixConnector, Full<Bytes>> =
            Client::builder(hyper_util::rt::TokioExecutor::new()).build(hyperlocal::UnixConnector);
        let uri: hyper::Uri = hyperlocal::Uri::new(sock, path).into();
        let req = Request::post(uri).body(Full::new(Bytes::from(body.to_string()))).unwrap();
        let resp = client.request(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn answers_errors_unknown_methods_and_replaces_stale_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("plugins").join("t.sock");
        // A stale socket (bound, then its listener dropped) is replaced.
        drop(std::os::unix::net::UnixListener::bind({
            std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
            &sock
        }));
        let listener = bind(&sock).unwrap();
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        // A live socket is not.
        assert_eq!(bind(&sock).unwrap_err().kind(), io::ErrorKind::AddrInUse);
        let (tx, rx) = watch::channel(false);
        let server = tokio::spawn(serve(listener, Arc::new(Echo), rx));

        let (s, v) = post(&sock, "/Plugin.Activate", "").await;
        assert_eq!(
            (s, v),
            (StatusCode::OK, serde_json::json!({"Implements": ["NetworkDriver", "IpamDriver"]}))
        );
        let (s, v) = post(&sock, "/NetworkDriver.GwAllocCheck", "{}").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert!(v["Err"].as_str().unwrap().contains("not implemented"));
        let (s, v) = post(&sock, "/NetworkDriver.DeleteNetwork", "{\"NetworkID\": 5").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(v["Err"].as_str().unwrap().contains("invalid request"), "{v}");
        // dockerd's retry of an interrupted call comes without a body.
        let (s, v) = post(&sock, "/NetworkDriver.DeleteNetwork", "").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(v["Err"].as_str().unwrap().contains("empty request body"), "{v}");
        let (s, v) = post(&sock, "/NetworkDriver.DeleteNetwork", r#"{"NetworkID":"n1"}"#).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(v["Err"], "network n1 not found");

        tx.send(true).unwrap();
        server.await.unwrap();
    }
}
