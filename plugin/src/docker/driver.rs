//! [`VlcpDriver`]: the network + IPAM driver behind the plugin socket, and [`start`], which serves
//! it. Wiring it into a daemon:
//!
//! ```no_run
//! # async fn demo(config: &vlcp::config::Config, model: vlcp::model::Model,
//! #               ovsdb: vlcp::runtime::ovsdb::OvsdbClient) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use vlcp_plugin::docker::driver::{DriverConfig, VlcpDriver, start};
//! let cfg = DriverConfig::from_config(config)?;
//! let driver = Arc::new(VlcpDriver::new(cfg, model, ovsdb)?);
//! let server = start(std::path::Path::new("/run/docker/plugins/vlcp.sock"), driver)?;
//! // ... until shutdown:
//! server.stop().await;
//! # Ok(()) }
//! ```
//!
//! Calls are dispatched by [`VlcpDriver::handle`] to the network side (`network.rs`), the
//! endpoint side (`endpoint.rs`) and the IPAM ([`super::ipam`]). `Plugin.Activate` and both
//! `GetCapabilities` never touch the store, so Docker can activate the plugin while the KV store
//! is down.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;
use vlcp::config::{Config, ConfigError};
use vlcp::model::rules::Cidr;
use vlcp::model::{FieldErrorKind, Model, ModelError};
use vlcp::runtime::ovsdb::OvsdbClient;

use super::ipam::{Ipam, IpamConfig};
use super::naming::parse_mac;
use super::plumbing::{HostPlumber, PlumbError, Plumber};
use super::protocol::{
    ActivateResponse, AllocateNetworkRequest, CreateEndpointRequest, CreateNetworkRequest, EndpointRequest,
    JoinRequest, Method, NetCapabilities, NetworkRequest, ReleaseAddressRequest, ReleasePoolRequest,
    RequestAddressRequest, RequestPoolRequest,
};
use super::server::{BoxFuture, Driver, PluginError, bind, parse, serve};

/// The driver's settings (`module.dockerplugin.*`, plus what the original had no key for).
#[derive(Clone, Debug, PartialEq)]
pub struct DriverConfig {
    /// `ovsbridge`: the bridge host veth ends are plugged into.
    pub bridge: String,
    /// `vethprefix`: start of veth names.
    pub veth_prefix: String,
    /// `dstprefix`: Join's `DstPrefix` (the container interface becomes `eth<N>`).
    pub dst_prefix: String,
    /// `mactemplate`: base of derived MAC addresses.
    pub mac_template: [u8; 6],
    /// `mtu`: MTU when the logical network sets none.
    pub mtu: u32,
    /// `autoremoveports`: a stale `docker-*` port holding the wanted address is removed.
    pub auto_remove_ports: bool,
    /// `pooltimeout`: how long a requested pool waits for its network.
    pub pool_timeout: Duration,
    /// `iptimeout`: how long a handed-out address waits for its endpoint.
    pub ip_timeout: Duration,
    /// `cidrrange`: where automatic /24 pools come from.
    pub cidr_range: Cidr,
    /// GetCapabilities `Scope` (`local`: works without Docker's legacy cluster store).
    pub scope: String,
    /// GetCapabilities `ConnectivityScope`.
    pub connectivity_scope: String,
    /// The network namespace (`/run/netns/<name>`) where dockerd and OVS live; `None` = ours.
    pub netns: Option<PathBuf>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            bridge: "dockerbr0".into(),
            veth_prefix: "vlcp".into(),
            dst_prefix: "eth".into(),
            mac_template: [2, 0, 0, 0, 0, 0],
            mtu: 1500,
            auto_remove_ports: true,
            pool_timeout: Duration::from_secs(60),
            ip_timeout: Duration::from_secs(60),
            cidr_range: Cidr { addr: [10, 0, 0, 0].into(), prefix: 8 },
            scope: "local".into(),
            connectivity_scope: "global".into(),
            netns: None,
        }
    }
}

fn bad(key: &str, reason: String) -> ConfigError {
    ConfigError::BadValue { key: key.into(), line: None, reason }
}

impl DriverConfig {
    /// Reads `module.dockerplugin.*` (defaults from the schema).
    pub fn from_config(c: &Config) -> Result<DriverConfig, ConfigError> {
        let k = |name: &str| format!("module.dockerplugin.{name}");
        let mac_key = k("mactemplate");
        let mac_template = parse_mac(&c.get_str(&mac_key)?).map_err(|e| bad(&mac_key, e))?;
        let mtu_key = k("mtu");
        let mtu = c.get_int(&mtu_key)?;
        let mtu = u32::try_from(mtu)
            .ok()
            .filter(|m| (68..=65535).contains(m))
            .ok_or_else(|| bad(&mtu_key, format!("{mtu} is not an MTU (68..=65535)")))?;
        let range_key = k("cidrrange");
        let range_text = c.get_str(&range_key)?;
        let cidr_range = match Cidr::parse(&range_text, false) {
            Ok(r) if r.prefix <= 24 => Cidr { addr: r.network(), prefix: r.prefix },
            _ => {
                tracing::warn!(value = %range_text, "{range_key} must be a CIDR with a prefix of at most /24; using 10.0.0.0/8");
                DriverConfig::default().cidr_range
            }
        };
        Ok(DriverConfig {
            bridge: c.get_str(&k("ovsbridge"))?,
            veth_prefix: c.get_str(&k("vethprefix"))?,
            dst_prefix: c.get_str(&k("dstprefix"))?,
            mac_template,
            mtu,
            auto_remove_ports: c.get_bool(&k("autoremoveports"))?,
            pool_timeout: c.get_duration(&k("pooltimeout"))?,
            ip_timeout: c.get_duration(&k("iptimeout"))?,
            cidr_range,
            scope: c.get_str(&k("scope"))?,
            connectivity_scope: c.get_str(&k("connectivityscope"))?,
            netns: c.get_opt_str(&k("netns"))?.map(PathBuf::from),
        })
    }
}

/// The Docker network + IPAM driver over the VLCP model.
pub struct VlcpDriver {
    pub(crate) cfg: DriverConfig,
    pub(crate) model: Model,
    pub(crate) ipam: Ipam,
    pub(crate) plumber: Arc<dyn Plumber>,
    /// Endpoints this process worked on, until the startup repair has run (`None` after).
    pub(crate) touched: Mutex<Option<HashSet<String>>>,
    /// Background tasks of `DeleteEndpoint` still running.
    pub(crate) background: Arc<AtomicUsize>,
}

impl std::fmt::Debug for VlcpDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VlcpDriver").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

/// A model error as Docker should see it: client mistakes are 4xx with the field named.
pub(crate) fn model_err(context: &str, e: ModelError) -> PluginError {
    model_err_as(&format!("{context}: "), e)
}

/// [`model_err`] with the message starting `prefix` (`"option "` → `option vni: …`).
pub(crate) fn model_err_as(prefix: &str, e: ModelError) -> PluginError {
    let context = prefix.trim_end_matches([' ', ':']);
    match e {
        ModelError::Field(f) => {
            let msg = format!("{prefix}{f}");
            match f.kind {
                FieldErrorKind::Invalid => PluginError::BadRequest(msg),
                FieldErrorKind::NotFound => PluginError::NotFound(msg),
                _ => PluginError::Conflict(msg),
            }
        }
        ModelError::Store(s) => PluginError::Internal(format!("{context}: storage: {s}")),
    }
}

fn json<T: Serialize>(v: T) -> Result<Value, PluginError> {
    serde_json::to_value(v).map_err(|e| PluginError::Internal(format!("encoding the response: {e}")))
}

impl VlcpDriver {
    /// The driver with real plumbing: veths through rtnetlink (in `cfg.netns` if set) and OVS
    /// ports through `ovsdb`. Needs a tokio runtime.
    pub fn new(cfg: DriverConfig, model: Model, ovsdb: OvsdbClient) -> Result<VlcpDriver, PlumbError> {
        let plumber = HostPlumber::new(ovsdb, &cfg.bridge, cfg.netns.as_deref())?;
        Ok(Self::with_plumber(cfg, model, Arc::new(plumber)))
    }

    /// The driver with the given plumbing (tests use a recording one).
    pub fn with_plumber(cfg: DriverConfig, model: Model, plumber: Arc<dyn Plumber>) -> VlcpDriver {
        let ipam = Ipam::new(
            model.db().clone(),
            IpamConfig {
                pool_timeout: cfg.pool_timeout,
                ip_timeout: cfg.ip_timeout,
                cidr_range: cfg.cidr_range,
            },
        );
        VlcpDriver {
            cfg,
            model,
            ipam,
            plumber,
            touched: Mutex::new(Some(HashSet::new())),
            background: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The settings.
    pub fn config(&self) -> &DriverConfig {
        &self.cfg
    }

    /// The model the driver writes to.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Answers one call.
    pub async fn handle(&self, method: Method, body: &[u8]) -> Result<Value, PluginError> {
        use Method::*;
        match method {
            Activate => {
                json(ActivateResponse { implements: vec!["NetworkDriver".into(), "IpamDriver".into()] })
            }
            NetGetCapabilities => json(NetCapabilities {
                scope: self.cfg.scope.clone(),
                connectivity_scope: self.cfg.connectivity_scope.clone(),
            }),
            IpamGetCapabilities => json(Ipam::capabilities()),
            GetDefaultAddressSpaces => json(Ipam::address_spaces()),
            RequestPool => json(self.ipam.request_pool(&parse::<RequestPoolRequest>(method, body)?).await?),
            ReleasePool => {
                self.ipam.release_pool(&parse::<ReleasePoolRequest>(method, body)?.pool_id).await?;
                Ok(serde_json::json!({}))
            }
            RequestAddress => {
                json(self.ipam.request_address(&parse::<RequestAddressRequest>(method, body)?).await?)
            }
            ReleaseAddress => {
                self.ipam.release_address(&parse::<ReleaseAddressRequest>(method, body)?).await?;
                Ok(serde_json::json!({}))
            }
            CreateNetwork => {
                self.create_network(&parse::<CreateNetworkRequest>(method, body)?).await?;
                Ok(serde_json::json!({}))
            }
            DeleteNetwork => {
                self.delete_network(&parse::<NetworkRequest>(method, body)?.network_id).await?;
                Ok(serde_json::json!({}))
            }
            AllocateNetwork => {
                json(self.allocate_network(&parse::<AllocateNetworkRequest>(method, body)?).await?)
            }
            FreeNetwork => {
                self.free_network(&parse::<NetworkRequest>(method, body)?.network_id).await?;
                Ok(serde_json::json!({}))
            }
            CreateEndpoint => {
                json(self.create_endpoint(&parse::<CreateEndpointRequest>(method, body)?).await?)
            }
            DeleteEndpoint => {
                self.delete_endpoint(&parse::<EndpointRequest>(method, body)?).await?;
                Ok(serde_json::json!({}))
            }
            EndpointOperInfo => {
                json(self.endpoint_oper_info(&parse::<EndpointRequest>(method, body)?).await?)
            }
            Join => json(self.join(&parse::<JoinRequest>(method, body)?).await?),
            Leave => {
                self.leave(&parse::<EndpointRequest>(method, body)?).await?;
                Ok(serde_json::json!({}))
            }
            DiscoverNew | DiscoverDelete | ProgramExternalConnectivity | RevokeExternalConnectivity => {
                Ok(serde_json::json!({}))
            }
        }
    }
}

impl Driver for VlcpDriver {
    fn call(&self, method: Method, body: Bytes) -> BoxFuture<'_, Result<Value, PluginError>> {
        Box::pin(async move { self.handle(method, &body).await })
    }
}

/// The plugin endpoint, serving until [`PluginServer::stop`].
pub struct PluginServer {
    socket: PathBuf,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// Binds `socket` (stale socket replaced, mode 0660) and serves `driver` on it in a task.
pub fn start(socket: &Path, driver: Arc<dyn Driver>) -> io::Result<PluginServer> {
    let listener = bind(socket)?;
    let (shutdown, rx) = watch::channel(false);
    let task = tokio::spawn(serve(listener, driver, rx));
    Ok(PluginServer { socket: socket.to_path_buf(), shutdown, task })
}

impl PluginServer {
    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Stops accepting connections and removes the socket.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        let _ = std::fs::remove_file(&self.socket);
    }
}
