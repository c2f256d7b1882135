//! Reaching the three sources: the store, Docker and OVSDB.
//!
//! # Store access
//! The store is opened **directly**, with the backend and location of the daemon's config
//! (`proxy.kvstorage`, `module.zookeeperdb.url`, `module.redisdb.url`,
//! `module.embeddeddb.path`):
//! - ZooKeeper and Redis are multi-client: the cleanup is one more client, whether the daemon
//!   runs or not; its writes are ordinary atomic transactions the daemon sees through its
//!   watches.
//! - The embedded store (a redb file) is single-process: it opens only when no daemon holds it.
//!   While the daemon runs, the cleanup stops with [`ConnectError::StoreHeld`] and says so:
//!   the management API exposes logical ports but not DockerInfo or IPAM reservations, so a
//!   cleanup through it could not finish the job. Stop the daemon (Docker's calls to the
//!   plugin fail meanwhile, which is what a crash looks like anyway), run the cleanup, start it.
//!   An embedded store serves one host, so every object in it is this host's.
//!
//! # Docker
//! `-H` (else `DOCKER_HOST`, else `unix:///var/run/docker.sock`): `unix://path` or a path, or
//! `tcp://host:port`, `host:port`, `:port` (the original's forms). The API version is
//! negotiated (`GET /version`), never pinned.
//!
//! # OVSDB
//! `module.jsonrpcserver.url` as the daemon reads it (default the Debian socket), or
//! `--ovsdb`. The host's identity is read from it ([`vlcp_plugin::docker::naming::host_id`]).

use std::time::Duration;

use bollard::{API_DEFAULT_VERSION, Docker};
use vlcp::config::{Config, Value};
use vlcp::objectdb::{BackendConfig, ObjectDb};
use vlcp::runtime::ovsdb::{ClientConfig, OvsdbClient};

/// A source that cannot be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The config names no usable store.
    #[error("store: {0}")]
    Store(#[from] vlcp::objectdb::StoreError),
    /// The embedded store is open in the running daemon.
    #[error(
        "the embedded store {0} is open in the running vlcp daemon (an embedded store is single-process); \
         stop the daemon, run vlcp-cleanup, start the daemon again"
    )]
    StoreHeld(String),
    /// Docker cannot be reached.
    #[error("docker {host}: {source}")]
    Docker {
        /// The endpoint.
        host: String,
        /// Why.
        source: bollard::errors::Error,
    },
    /// OVSDB cannot be reached.
    #[error("ovsdb {url}: {reason}")]
    Ovsdb {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// The string value of a config key (strings as they are, other literals in their Python form).
pub fn lookup(config: &Config) -> impl Fn(&str) -> Option<String> + '_ {
    move |key| match config.get(key) {
        None | Some(Value::None) => None,
        Some(Value::Str(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

/// Opens the configured store; the flag says whether it is the embedded one.
pub async fn store(config: &Config) -> Result<(ObjectDb, bool), ConnectError> {
    let backend = BackendConfig::from_lookup(lookup(config))?;
    let embedded = matches!(backend, BackendConfig::Embedded { .. });
    match backend.open().await {
        Ok(s) => Ok((ObjectDb::new(s), embedded)),
        Err(e) => match &backend {
            BackendConfig::Embedded { path }
                if e.to_string().to_ascii_lowercase().contains("already open") =>
            {
                Err(ConnectError::StoreHeld(path.display().to_string()))
            }
            _ => Err(e.into()),
        },
    }
}

/// The Docker endpoint `-H` names (see the module doc), else `DOCKER_HOST`, else the default.
pub fn docker_host(flag: Option<&str>) -> String {
    let raw = flag.map(str::to_owned).or_else(|| std::env::var("DOCKER_HOST").ok()).unwrap_or_default();
    normalize_docker_host(&raw)
}

/// `unix://…`, `tcp://…` from the original's accepted forms.
pub fn normalize_docker_host(raw: &str) -> String {
    let raw = raw.trim();
    if raw.is_empty() {
        return "unix:///var/run/docker.sock".into();
    }
    if raw.contains("://") {
        return raw.into();
    }
    if raw.starts_with('/') {
        return format!("unix://{raw}");
    }
    let hostport = if raw.starts_with(':') { format!("127.0.0.1{raw}") } else { raw.to_string() };
    let hostport = if hostport.contains(':') { hostport } else { format!("{hostport}:2375") };
    format!("tcp://{hostport}")
}

/// Connects to Docker and negotiates the API version.
pub async fn docker(host: &str) -> Result<Docker, ConnectError> {
    let fail = |source| ConnectError::Docker { host: host.to_string(), source };
    let d = if host.starts_with("unix://") {
        Docker::connect_with_unix(host, 120, API_DEFAULT_VERSION)
    } else {
        Docker::connect_with_http(host, 120, API_DEFAULT_VERSION)
    }
    .map_err(fail)?;
    d.negotiate_version().await.map_err(fail)
}

/// `unix:///path` / `tcp://host:port/` (the config's URL form) → `unix:/path` / `tcp:host:port`.
pub fn ovsdb_url(url: &str) -> String {
    if let Some(path) = url.strip_prefix("unix://") {
        return format!("unix:{path}");
    }
    if let Some(rest) = url.strip_prefix("tcp://") {
        return format!("tcp:{}", rest.trim_end_matches('/'));
    }
    url.to_string()
}

/// Connects to OVSDB and waits for the view to sync.
pub async fn ovsdb(config: &Config, flag: Option<&str>) -> Result<OvsdbClient, ConnectError> {
    let url = flag
        .map(str::to_owned)
        .or_else(|| lookup(config)("module.jsonrpcserver.url"))
        .unwrap_or_else(|| "unix:///var/run/openvswitch/db.sock".into());
    let fail = |reason: String| ConnectError::Ovsdb { url: url.clone(), reason };
    let (client, _events) =
        OvsdbClient::connect(ClientConfig::new(&ovsdb_url(&url))).map_err(|e| fail(e.to_string()))?;
    client.wait_synced(Duration::from_secs(10)).await.map_err(|e| fail(e.to_string()))?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hosts_take_the_originals_forms() {
        assert_eq!(normalize_docker_host(""), "unix:///var/run/docker.sock");
        assert_eq!(normalize_docker_host("/run/d.sock"), "unix:///run/d.sock");
        assert_eq!(normalize_docker_host("unix:///run/d.sock"), "unix:///run/d.sock");
        assert_eq!(normalize_docker_host(":2375"), "tcp://127.0.0.1:2375");
        assert_eq!(normalize_docker_host("host1"), "tcp://host1:2375");
        assert_eq!(normalize_docker_host("host1:4243"), "tcp://host1:4243");
        assert_eq!(normalize_docker_host("tcp://h:1"), "tcp://h:1");
    }

    #[test]
    fn ovsdb_urls_take_the_config_form() {
        assert_eq!(ovsdb_url("unix:///var/run/openvswitch/db.sock"), "unix:/var/run/openvswitch/db.sock");
        assert_eq!(ovsdb_url("tcp://127.0.0.1:6640/"), "tcp:127.0.0.1:6640");
        assert_eq!(ovsdb_url("unix:/x"), "unix:/x");
    }
}
