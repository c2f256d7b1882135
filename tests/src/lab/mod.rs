//! The lab: real components for end-to-end tests.
//!
//! | fixture | what it runs |
//! |---|---|
//! | [`Netns`] | a network namespace (lo up, IPv6 off), deleted on drop |
//! | [`Ovs`] | ovsdb-server + ovs-vswitchd in a temp dir, inside their own "host" namespace |
//! | [`Endpoint`] | a namespace with `eth0`, whose veth peer is a port on an [`Ovs`] bridge |
//! | [`TwoHost`] | hosts A and B (each an [`Ovs`]) joined by an underlay veth, VXLAN-ready |
//! | [`ZooKeeper`] | one server, or a 3-server ensemble, on 127.0.0.1 |
//! | [`Redis`] | redis-server on 127.0.0.1 |
//! | [`Dockerd`] | a private Docker engine with a busybox image and a unique plugin name; stop, `kill -9`, start again on the same data; optionally Docker's bridge network ([`DockerdOpts`]) |
//! | [`VlcpDaemon`] | the real `vlcp` binary on a config the test writes |
//! | [`Relay`] | a loopback TCP port of a namespace forwarded to a root-namespace service |
//!
//! All resources carry the prefix [`LAB_PREFIX`] (namespaces, links, plugin sockets) or live under a
//! temp dir named `vlcp-lab-*`, which is what [`leaks`] looks for after the suite.

mod cmd;
mod daemon;
mod docker;
pub mod leaks;
mod netns;
mod ovs;
mod relay;
mod services;
mod twohost;

pub use cmd::{LabError, Result, free_port, run, run_ok, wait_until};
pub use daemon::{VlcpDaemon, docker_conf, workspace_bin};
pub use docker::{Dockerd, DockerdOpts};
pub use netns::Netns;
pub use ovs::{Endpoint, EndpointOpts, Ovs};
pub use relay::Relay;
pub use services::{Redis, ZooKeeper};
pub use twohost::{Capture, Host, TwoHost, VXLAN_OFPORT};

use std::sync::atomic::{AtomicU32, Ordering};

/// Every namespace, link and plugin socket the lab creates starts with this.
pub const LAB_PREFIX: &str = "vlt";

/// Prefix of every temp dir the lab creates (under the system temp dir).
pub const LAB_DIR_PREFIX: &str = "vlcp-lab-";

/// A short name unique to this process and call: `vlt<tag><pid hex><counter hex>`, at most 15
/// characters (the kernel's limit for interface names). `tag` is cut to 2 characters.
pub fn unique(tag: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag.chars().filter(|c| c.is_ascii_alphanumeric()).take(2).collect();
    let name = format!("{LAB_PREFIX}{tag}{:x}{:x}", std::process::id(), n);
    assert!(name.len() <= 15, "lab name {name} too long");
    name
}

/// A fresh temp dir for one fixture, removed on drop.
pub fn temp_dir() -> Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(LAB_DIR_PREFIX)
        .tempdir()
        .map_err(|e| LabError::new(format!("creating a lab temp dir: {e}")))
}
