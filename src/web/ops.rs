//! The operations endpoints of the management server, outside the API root path:
//!
//! - `GET /metrics`: every [`crate::metrics`] family in the Prometheus text format 0.0.4; the
//!   store is probed and the model objects counted first (bounded by
//!   [`crate::metrics::collect::PROBE_TIMEOUT`]). Needs the token when one is configured
//!   (Prometheus: `authorization: {credentials: <token>}`).
//! - `GET /healthz`: `200 {"status": "ok", …}` when the store answers a probe read, `503
//!   {"status": "unavailable", …}` when it does not; `components` carries every component's last
//!   reported state (`store` always; `ovsdb`, `dockerplugin`… as the rooms report them). Open
//!   without a token, for liveness probes.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::metrics::{self, collect};

use super::WebState;

/// The metrics path.
pub const METRICS_PATH: &str = "/metrics";
/// The health path.
pub const HEALTHZ_PATH: &str = "/healthz";

fn response(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// `GET /metrics`.
pub async fn metrics(state: &WebState) -> Response<Full<Bytes>> {
    let m = metrics::global();
    collect::refresh(m, state.model.db().store(), collect::PROBE_TIMEOUT).await;
    response(StatusCode::OK, metrics::registry::CONTENT_TYPE, m.render())
}

/// `GET /healthz`.
pub async fn healthz(state: &WebState) -> Response<Full<Bytes>> {
    let m = metrics::global();
    let store = collect::refresh(m, state.model.db().store(), collect::PROBE_TIMEOUT).await;
    let components: Map<String, Value> = m
        .components()
        .into_iter()
        .map(|(name, c)| (name, json!({ "status": if c.up { "ok" } else { "down" }, "detail": c.detail })))
        .collect();
    let body = json!({
        "status": if store.up { "ok" } else { "unavailable" },
        "version": env!("CARGO_PKG_VERSION"),
        "store": {
            "backend": store.backend,
            "up": store.up,
            "latency_ms": store.latency.as_secs_f64() * 1e3,
            "error": store.error,
        },
        "components": components,
    });
    let status = if store.up { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    response(status, "application/json", body.to_string())
}
