//! A minimal HTTP/1.1 client of the management API: one connection per call, parameters sent as
//! a form body (so `` `…` `` literals reach the server untouched), the reply read as
//! `{"result": …}` or `{"error": "…"}`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// Largest reply accepted.
pub const MAX_REPLY: usize = 64 << 20;
/// Connecting plus the whole exchange must finish within this.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The `--url` value cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("bad --url {url:?}: {reason}")]
pub struct UrlError {
    /// What was given.
    pub url: String,
    /// Why it is refused.
    pub reason: &'static str,
}

/// A call that did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No TCP connection.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("HTTP exchange with {addr} failed: {source}")]
    Http {
        /// `host:port`.
        addr: String,
        /// hyper's error.
        source: hyper::Error,
    },
    /// The server did not answer in time.
    #[error("no answer from {addr} within {CALL_TIMEOUT:?}")]
    Timeout {
        /// `host:port`.
        addr: String,
    },
    /// The server refused the call: its message.
    #[error("{message} (HTTP {status})")]
    Server {
        /// The HTTP status.
        status: u16,
        /// `error` of the reply.
        message: String,
    },
    /// The reply is not what the API sends.
    #[error("unexpected reply (HTTP {status}): {detail}")]
    BadReply {
        /// The HTTP status.
        status: u16,
        /// What is wrong with it.
        detail: String,
    },
}

/// Where the API is and how to authenticate.
#[derive(Clone, Debug)]
pub struct Client {
    /// `host:port` to connect to.
    addr: String,
    /// The `Host` header.
    authority: String,
    /// URL prefix ending in `/`.
    root: String,
    /// Bearer token, if the server requires one.
    token: Option<String>,
}

impl Client {
    /// A client of `url` (`http://host[:port][/rootpath]`).
    pub fn new(url: &str, token: Option<String>) -> Result<Client, UrlError> {
        let bad = |reason| UrlError { url: url.to_string(), reason };
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => return Err(bad("https is not supported; the API listens on plain HTTP")),
            Some(_) => return Err(bad("only http:// URLs are supported")),
            None => url,
        };
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        if authority.is_empty() || authority.contains('@') || path.contains(['?', '#']) {
            return Err(bad("expected http://host[:port][/rootpath]"));
        }
        let has_port = match authority.rfind(']') {
            Some(close) => authority[close..].contains(':'),
            None => authority.contains(':'),
        };
        let addr = if has_port { authority.to_string() } else { format!("{authority}:80") };
        let mut root = path.trim_end_matches('/').to_string();
        root.push('/');
        Ok(Client { addr, authority: authority.to_string(), root, token })
    }

    /// Calls `/<module>/<api>` with `params`; the `result` of the reply.
    pub async fn call(
        &self,
        module: &str,
        api: &str,
        params: &[(String, String)],
    ) -> Result<Value, CallError> {
        let addr = self.addr.clone();
        tokio::time::timeout(CALL_TIMEOUT, self.exchange(module, api, params))
            .await
            .unwrap_or(Err(CallError::Timeout { addr }))
    }

    async fn exchange(
        &self,
        module: &str,
        api: &str,
        params: &[(String, String)],
    ) -> Result<Value, CallError> {
        let addr = self.addr.clone();
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|source| CallError::Connect { addr: addr.clone(), source })?;
        let http = |source| CallError::Http { addr: addr.clone(), source };
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(http)?;
        let driver = tokio::spawn(conn);
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(format!("{}{module}/{api}", self.root))
            .header(HOST, &self.authority)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(t) = &self.token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req.body(Full::new(Bytes::from(form(params)))).map_err(|e| CallError::BadReply {
            status: 0,
            detail: format!("cannot build the request: {e}"),
        })?;
        let resp = sender.send_request(req).await.map_err(http)?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_REPLY)
            .collect()
            .await
            .map_err(|e| CallError::BadReply { status, detail: format!("reading the body: {e}") })?;
        driver.abort();
        parse_reply(status, &body.to_bytes())
    }
}

/// `{"result": …}` with 200, or the `error` message.
pub fn parse_reply(status: u16, body: &[u8]) -> Result<Value, CallError> {
    let text = || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    let mut v: Value = serde_json::from_slice(body)
        .map_err(|_| CallError::BadReply { status, detail: format!("not JSON: {:?}", text()) })?;
    if let Some(message) = v.get("error") {
        let message = message.as_str().map_or_else(|| message.to_string(), String::from);
        return Err(CallError::Server { status, message });
    }
    match v.get_mut("result") {
        Some(r) if status == 200 => Ok(r.take()),
        _ => Err(CallError::BadReply { status, detail: format!("neither result nor error: {:?}", text()) }),
    }
}

/// `application/x-www-form-urlencoded` text of `params`.
pub fn form(params: &[(String, String)]) -> String {
    params.iter().map(|(k, v)| format!("{}={}", escape(k), escape(v))).collect::<Vec<_>>().join("&")
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~`".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = Client::new("http://127.0.0.1:8081", None).unwrap();
        assert_eq!((c.addr.as_str(), c.root.as_str()), ("127.0.0.1:8081", "/"));
        let c = Client::new("localhost/api/", None).unwrap();
        assert_eq!(
            (c.addr.as_str(), c.authority.as_str(), c.root.as_str()),
            ("localhost:80", "localhost", "/api/")
        );
        let c = Client::new("http://[::1]:9000/x", None).unwrap();
        assert_eq!((c.addr.as_str(), c.root.as_str()), ("[::1]:9000", "/x/"));
        assert_eq!(Client::new("http://[::1]/", None).unwrap().addr, "[::1]:80");
        for bad in ["https://h", "ftp://h", "http://", "http://u@h", "http://h/?q"] {
            assert!(Client::new(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn forms_round_trip_through_the_server_decoder() {
        let params = vec![
            ("vnirange".to_string(), "`[[10000, 20000]]`".to_string()),
            ("name".to_string(), "a&b=c d/é+%".to_string()),
        ];
        let decoded = vlcp::web::request::parse_urlencoded(&form(&params)).unwrap();
        assert_eq!(decoded, params);
    }

    #[test]
    fn replies() {
        assert_eq!(parse_reply(200, br#"{"result": [1]}"#).unwrap(), serde_json::json!([1]));
        let e = parse_reply(400, br#"{"error": "logicalnetwork: is required"}"#).unwrap_err();
        assert_eq!(e.to_string(), "logicalnetwork: is required (HTTP 400)");
        assert!(matches!(parse_reply(502, b"<html>"), Err(CallError::BadReply { status: 502, .. })));
        assert!(matches!(parse_reply(200, b"{}"), Err(CallError::BadReply { .. })));
    }
}
