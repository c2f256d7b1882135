//! Host plumbing of an endpoint: a veth pair made through rtnetlink (no `ip` command) whose host
//! end is an OVS port carrying `external_ids:iface-id=docker-<EndpointID>`, added through our
//! OVSDB client in one transaction.
//!
//! [`Plumber`] is the seam: [`HostPlumber`] does the real thing; tests of the protocol layer
//! use a recording one. Both operations are idempotent:
//!
//! - [`Plumber::plug`] first removes leftovers of an earlier attempt for the same endpoint (the
//!   names are derived from the EndpointID), then creates the pair (container end with its MAC and
//!   MTU, left down for Docker; host end with the MTU, up), then adds the OVS port and waits for
//!   ovs-vswitchd to give it an OpenFlow port. On any failure it undoes what it did, OVS record
//!   included (the original left it behind).
//! - [`Plumber::unplug`] is best-effort and ordered: OVS port first (so ovs-vswitchd never
//!   holds a vanished device), then the veth (deleting one end removes both). Missing things
//!   count as removed; the other errors are collected and reported after every step ran.
//! - [`Plumber::detach`] is `DeleteEndpoint`'s unplug: the OVS port goes at once, the veth pair
//!   through the [`Reaper`]'s threads (the kernel's 15–40 ms wait per deleted device stays off
//!   the call and off the runtime's threads).
//!
//! Namespaces: a netlink socket stays in the namespace it was opened in. With
//! [`HostPlumber::new`]'s `netns` (a `/run/netns/<name>` file, for an OVS and a dockerd that run
//! in a namespace), the socket is opened on a short-lived OS thread that entered that namespace,
//! so no runtime thread ever changes namespace.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth};
use vlcp::ovsdb::txn::PortSpec;
use vlcp::runtime::ovsdb::{OvsdbClient, OvsdbError};

use super::naming::VethNames;
use super::reaper::Reaper;
use super::server::BoxFuture;

/// Threads deleting veths in the background (the kernel's wait per deletion overlaps across
/// threads; two keep up with the fastest churn this plugin has been measured at).
const REAPER_THREADS: usize = 2;

const EEXIST: i32 = 17;
const ENODEV: i32 = 19;
const ENOENT: i32 = 2;

/// What to build for one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlugSpec {
    /// The veth names.
    pub names: VethNames,
    /// MAC of the container end.
    pub mac: [u8; 6],
    /// MTU of both ends.
    pub mtu: u32,
    /// `external_ids:iface-id` of the OVS interface (`docker-<eid>`).
    pub iface_id: String,
}

/// Which step of the plumbing failed and why.
#[derive(Debug, thiserror::Error)]
pub enum PlumbError {
    /// A netlink request failed.
    #[error("netlink: {what}: {source}")]
    Netlink {
        /// The request (`add veth vlcpab12-tap`).
        what: String,
        /// The kernel's answer.
        source: rtnetlink::Error,
    },
    /// An interface of this name exists and is not ours to replace.
    #[error("interface {0} already exists")]
    Exists(String),
    /// The OVSDB operation failed.
    #[error("ovsdb: {what}: {source}")]
    Ovsdb {
        /// The operation (`add port vlcpab12-tap to dockerbr0`).
        what: String,
        /// The client's error.
        source: Box<OvsdbError>,
    },
    /// The namespace could not be entered or the netlink socket opened.
    #[error("namespace {path}: {reason}")]
    Namespace {
        /// The namespace file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// Several teardown steps failed.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<PlumbError>),
}

/// Creates and removes the host side of endpoints.
pub trait Plumber: Send + Sync + 'static {
    /// Builds the veth pair and the OVS port (idempotent; undoes itself on failure).
    fn plug<'a>(&'a self, spec: &'a PlugSpec) -> BoxFuture<'a, Result<(), PlumbError>>;
    /// Removes the OVS port and the veth pair (best-effort, ordered; missing = done).
    fn unplug<'a>(&'a self, names: &'a VethNames) -> BoxFuture<'a, Result<(), PlumbError>>;
    /// Like [`Plumber::unplug`], but only the OVS port is removed before it returns (the
    /// endpoint passes no traffic from then on); the veth pair goes in the background, and the
    /// receiver, if any, tells when. `None`: nothing was left to remove in the background.
    fn detach<'a>(&'a self, names: &'a VethNames) -> BoxFuture<'a, Result<Option<Detached>, PlumbError>> {
        Box::pin(async move { self.unplug(names).await.map(|()| None) })
    }
    /// Waits (at most `timeout`) until background removals are done; returns how many are left.
    fn settle(&self, timeout: Duration) -> BoxFuture<'_, usize> {
        let _ = timeout;
        Box::pin(async { 0 })
    }
    /// Waits (at most `timeout`) until the plumbing can tell what exists (the OVSDB view is in
    /// sync); false on timeout.
    fn ready(&self, timeout: Duration) -> BoxFuture<'_, bool> {
        let _ = timeout;
        Box::pin(async { true })
    }
    /// This host's identity ([`super::naming::host_id`]), recorded in DockerInfo.
    fn host_id(&self) -> Option<String> {
        None
    }
}

/// A veth pair being removed in the background: the result, once it is gone.
pub type Detached = tokio::sync::oneshot::Receiver<Result<(), PlumbError>>;

/// The real plumbing: rtnetlink + OVSDB.
pub struct HostPlumber {
    links: Handle,
    reaper: Reaper,
    ovsdb: OvsdbClient,
    bridge: String,
    ofport_timeout: Duration,
}

impl fmt::Debug for HostPlumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostPlumber").field("bridge", &self.bridge).finish_non_exhaustive()
    }
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

pub(crate) fn is_missing(e: &rtnetlink::Error) -> bool {
    matches!(errno(e), Some(ENODEV | ENOENT))
}

/// Opens a netlink connection in `netns` (or the current namespace) and spawns its driver on
/// the current tokio runtime.
pub fn netlink_in(netns: Option<&Path>) -> Result<Handle, PlumbError> {
    let rt = tokio::runtime::Handle::try_current().map_err(|e| PlumbError::Namespace {
        path: netns.map(Path::to_path_buf).unwrap_or_default(),
        reason: format!("needs a tokio runtime: {e}"),
    })?;
    let Some(path) = netns else {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| PlumbError::Namespace {
            path: PathBuf::new(),
            reason: format!("netlink socket: {e}"),
        })?;
        rt.spawn(conn);
        return Ok(handle);
    };
    let owned = path.to_path_buf();
    let fail = |reason: String| PlumbError::Namespace { path: path.to_path_buf(), reason };
    // A dedicated thread enters the namespace, opens the socket and ends: the socket stays bound
    // to the namespace, and no pooled thread is left in the wrong one.
    let rt2 = rt.clone();
    let (conn, handle) = std::thread::spawn(move || -> Result<_, String> {
        let f = std::fs::File::open(&owned).map_err(|e| format!("open: {e}"))?;
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns: {e}"))?;
        let _g = rt2.enter();
        let (c, h, _) = rtnetlink::new_connection().map_err(|e| format!("netlink socket: {e}"))?;
        Ok((c, h))
    })
    .join()
    .map_err(|_| fail("namespace thread panicked".into()))?
    .map_err(fail)?;
    rt.spawn(conn);
    Ok(handle)
}

impl HostPlumber {
    /// Plumbing onto `bridge` through `ovsdb`, with links made in `netns` (`None`: here).
    /// Needs a tokio runtime.
    pub fn new(ovsdb: OvsdbClient, bridge: &str, netns: Option<&Path>) -> Result<HostPlumber, PlumbError> {
        Ok(HostPlumber {
            links: netlink_in(netns)?,
            reaper: Reaper::start(REAPER_THREADS, netns)?,
            ovsdb,
            bridge: bridge.to_string(),
            ofport_timeout: Duration::from_secs(10),
        })
    }

    async fn link_index(&self, name: &str) -> Result<Option<u32>, PlumbError> {
        let mut s = self.links.link().get().match_name(name.to_string()).execute();
        match s.try_next().await {
            Ok(Some(m)) => Ok(Some(m.header.index)),
            Ok(None) => Ok(None),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(PlumbError::Netlink { what: format!("get link {name}"), source: e }),
        }
    }

    async fn delete_link(&self, name: &str) -> Result<(), PlumbError> {
        let Some(idx) = self.link_index(name).await? else { return Ok(()) };
        match self.links.link().del(idx).execute().await {
            Ok(()) => Ok(()),
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) => Err(PlumbError::Netlink { what: format!("delete link {name}"), source: e }),
        }
    }

    async fn delete_ovs_port(&self, name: &str) -> Result<(), PlumbError> {
        let present = self.ovsdb.with_view(|v| v.port_by_name(name).is_some());
        if !present {
            return Ok(());
        }
        match self.ovsdb.delete_port(name).await {
            Ok(()) => Ok(()),
            Err(OvsdbError::Build(
                vlcp::ovsdb::txn::TxnBuildError::PortNotFound(_)
                | vlcp::ovsdb::txn::TxnBuildError::PortDetached(_),
            )) => Ok(()),
            Err(e) => Err(PlumbError::Ovsdb { what: format!("delete port {name}"), source: Box::new(e) }),
        }
    }

    async fn teardown(&self, names: &VethNames) -> Result<(), PlumbError> {
        let mut errors = Vec::new();
        // 1. The OVS port: ovs-vswitchd must not keep a device that is about to vanish.
        if let Err(e) = self.delete_ovs_port(&names.host).await {
            errors.push(e);
        }
        // 2. The veth pair (deleting the host end removes the container end too, wherever it is).
        if let Err(e) = self.delete_link(&names.host).await {
            errors.push(e);
        }
        // 3. A container end left alone in this namespace (never happens for a pair, but a
        //    half-made pair from a crash is cheap to check).
        if let Err(e) = self.delete_link(&names.container).await {
            errors.push(e);
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(PlumbError::Several(errors)),
        }
    }

    async fn build(&self, spec: &PlugSpec) -> Result<(), PlumbError> {
        let n = &spec.names;
        let peer = LinkMessageBuilder::<LinkUnspec>::new().name(n.host.clone()).mtu(spec.mtu).build();
        let msg = LinkVeth::new(&n.container, &n.host)
            .mtu(spec.mtu)
            .address(spec.mac.to_vec())
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        if let Err(e) = self.links.link().add(msg).execute().await {
            return Err(if errno(&e) == Some(EEXIST) {
                PlumbError::Exists(n.host.clone())
            } else {
                PlumbError::Netlink { what: format!("add veth {} / {}", n.container, n.host), source: e }
            });
        }
        let idx = self.link_index(&n.host).await?.ok_or_else(|| PlumbError::Exists(n.host.clone()))?;
        self.links
            .link()
            .set(LinkUnspec::new_with_index(idx).up().build())
            .execute()
            .await
            .map_err(|e| PlumbError::Netlink { what: format!("set {} up", n.host), source: e })?;
        super::failpoint::hit("plumbing:after_veth");
        let port = PortSpec {
            bridge: self.bridge.clone(),
            name: n.host.clone(),
            external_ids: BTreeMap::from([("iface-id".to_string(), spec.iface_id.clone())]),
            ..Default::default()
        };
        self.ovsdb.add_port(&port).await.map_err(|e| PlumbError::Ovsdb {
            what: format!("add port {} to {}", n.host, self.bridge),
            source: Box::new(e),
        })?;
        self.ovsdb
            .wait_ofport(&n.host, self.ofport_timeout)
            .await
            .map_err(|e| PlumbError::Ovsdb { what: format!("ofport of {}", n.host), source: Box::new(e) })?;
        Ok(())
    }
}

impl Plumber for HostPlumber {
    fn plug<'a>(&'a self, spec: &'a PlugSpec) -> BoxFuture<'a, Result<(), PlumbError>> {
        Box::pin(async move {
            // Leftovers of an earlier attempt for this endpoint carry the same names; an OVS
            // interface of that name bound to another port is someone else's (an id collision).
            let owner = self.ovsdb.with_view(|v| {
                v.interface_by_name(&spec.names.host).and_then(|i| i.iface_id().map(str::to_owned))
            });
            if owner.as_ref().is_some_and(|o| *o != spec.iface_id) {
                return Err(PlumbError::Exists(spec.names.host.clone()));
            }
            self.teardown(&spec.names).await?;
            if let Err(e) = self.build(spec).await {
                if let Err(undo) = self.teardown(&spec.names).await {
                    tracing::warn!(error = %undo, host = %spec.names.host, "plumbing rollback incomplete");
                }
                return Err(e);
            }
            Ok(())
        })
    }

    fn unplug<'a>(&'a self, names: &'a VethNames) -> BoxFuture<'a, Result<(), PlumbError>> {
        Box::pin(self.teardown(names))
    }

    fn detach<'a>(&'a self, names: &'a VethNames) -> BoxFuture<'a, Result<Option<Detached>, PlumbError>> {
        Box::pin(async move {
            self.delete_ovs_port(&names.host).await?;
            if let Some(idx) = self.link_index(&names.host).await? {
                return Ok(Some(self.reaper.reap(idx, &names.host)));
            }
            // No host end: a container end left alone (a half-made pair) goes now.
            self.delete_link(&names.container).await?;
            Ok(None)
        })
    }

    fn settle(&self, timeout: Duration) -> BoxFuture<'_, usize> {
        Box::pin(self.reaper.settle(timeout))
    }

    fn ready(&self, timeout: Duration) -> BoxFuture<'_, bool> {
        Box::pin(async move { self.ovsdb.wait_synced(timeout).await.is_ok() })
    }

    fn host_id(&self) -> Option<String> {
        self.ovsdb.with_view(super::naming::host_id)
    }
}
