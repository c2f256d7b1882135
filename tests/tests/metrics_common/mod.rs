//! Shared by the `metrics_*` suites: a strict Prometheus text parser ([`prom`]) and `curl`
//! helpers for `/metrics` and `/healthz` over TCP or a unix socket.

#![allow(dead_code)] // each suite uses a subset

pub mod prom;

use std::process::Command;

pub use prom::Exposition;

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// Where a server listens.
#[derive(Clone, Debug)]
pub enum Target {
    /// `http://127.0.0.1:<port>`.
    Tcp(u16),
    /// A unix socket path.
    Unix(std::path::PathBuf),
}

/// `curl` with `args` at `path` of `target`.
pub fn curl(target: &Target, args: &[&str], path: &str) -> Reply {
    let mut c = Command::new("curl");
    c.args(["-s", "-g", "--max-time", "30", "-w", "\n%{http_code}\n%{content_type}"]).args(args);
    match target {
        Target::Tcp(port) => c.arg(format!("http://127.0.0.1:{port}{path}")),
        Target::Unix(sock) => c.arg("--unix-socket").arg(sock).arg(format!("http://vlcp{path}")),
    };
    let out = c.output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = text.rsplitn(3, '\n');
    let content_type = parts.next().unwrap_or("").to_string();
    let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("curl output {text:?}"));
    let body = parts.next().unwrap_or("").to_string();
    Reply { status, content_type, body }
}

/// `GET /metrics`, checked (200, the 0.0.4 content type) and parsed strictly.
pub fn scrape(target: &Target, args: &[&str]) -> Exposition {
    let r = curl(target, args, "/metrics");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    Exposition::parse(&r.body).unwrap_or_else(|e| panic!("/metrics does not parse: {e}\n{}", r.body))
}

/// `GET /healthz`: the status and the JSON body.
pub fn healthz(target: &Target) -> (u16, serde_json::Value) {
    let r = curl(target, &[], "/healthz");
    assert_eq!(r.content_type, "application/json", "{r:?}");
    let v = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("/healthz is not JSON ({e}): {r:?}"));
    (r.status, v)
}
