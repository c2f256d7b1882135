//! Shared fixture of the web API suites: the library's web server on a free 127.0.0.1 port over a
//! real store (embedded redb in a temp dir, or a lab ZooKeeper), driven with real `curl`
//! processes, plus a full scan of the store to prove a refused request changed nothing.

#![allow(dead_code)] // each suite uses a subset

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use vlcp::model::Model;
use vlcp::objectdb::embedded::EmbeddedStore;
use vlcp::objectdb::{KvStore, ObjectDb};
use vlcp::web::{self, ListenAddr, WebConfig, WebHandle};

/// A running API server.
pub struct Api {
    pub port: u16,
    pub store: Arc<dyn KvStore>,
    pub model: Model,
    handle: Option<WebHandle>,
    // Dropped last: the server and store run on it.
    pub rt: tokio::runtime::Runtime,
    _dir: Option<tempfile::TempDir>,
}

impl Api {
    /// A server over a fresh embedded store.
    pub fn embedded() -> Api {
        let dir = tempfile::tempdir().expect("temp dir");
        let store: Arc<dyn KvStore> =
            Arc::new(EmbeddedStore::open(dir.path().join("db.redb")).expect("open store"));
        let mut api = Api::on(store, None);
        api._dir = Some(dir);
        api
    }

    /// A server over `store`, optionally with a required token.
    pub fn on(store: Arc<dyn KvStore>, token: Option<&str>) -> Api {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        Self::on_runtime(rt, store, token)
    }

    /// A server over `store` on an existing runtime.
    pub fn on_runtime(rt: tokio::runtime::Runtime, store: Arc<dyn KvStore>, token: Option<&str>) -> Api {
        let model = Model::new(ObjectDb::new(store.clone()));
        let config = WebConfig {
            listen: ListenAddr::Tcp("127.0.0.1:0".into()),
            auth_token: token.map(String::from),
            ..WebConfig::default()
        };
        let handle = rt.block_on(web::start(&config, model.clone())).expect("start web api");
        let port = handle.local_addr().expect("tcp address").port();
        Api { port, store, model, handle: Some(handle), rt, _dir: None }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs a shell script written against the manual's `http://localhost:8081`, pointed at this
    /// server; fails unless every command succeeds (`set -e`). Returns stdout.
    pub fn sh(&self, script: &str) -> String {
        let script = script.replace("http://localhost:8081", &self.base());
        let out = Command::new("sh").arg("-ec").arg(&script).output().expect("run sh");
        assert!(
            out.status.success(),
            "script failed: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `curl -s -g <args> <base><path>`; returns the HTTP status and the JSON body.
    pub fn curl(&self, args: &[&str], path: &str) -> (u16, Value) {
        let out = Command::new("curl")
            .args(["-s", "-g", "-w", "\n%{http_code}"])
            .args(args)
            .arg(format!("{}{}", self.base(), path))
            .output()
            .expect("run curl");
        parse_curl(&String::from_utf8_lossy(&out.stdout))
    }

    /// Every key and value in the store (the full state, to compare before and after).
    pub fn scan(&self) -> BTreeMap<String, Option<Vec<u8>>> {
        self.rt.block_on(async {
            let keys = self.store.scan_prefix("").await.expect("scan");
            let entries = self.store.mget(&keys).await.expect("mget");
            keys.into_iter().zip(entries).map(|(k, e)| (k, e.value.map(|b| b.to_vec()))).collect()
        })
    }

    /// Stops the server (requests in flight finish).
    pub fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Splits curl's output (`body\nstatus`).
pub fn parse_curl(out: &str) -> (u16, Value) {
    let (body, code) = out.trim_end().rsplit_once('\n').unwrap_or(("", out.trim()));
    let status = code.trim().parse().unwrap_or_else(|_| panic!("no status in curl output {out:?}"));
    let v = serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body:?}"));
    (status, v)
}

/// The `result` of a successful reply.
pub fn result(reply: (u16, Value)) -> Value {
    assert_eq!(reply.0, 200, "expected success: {}", reply.1);
    reply.1["result"].clone()
}
