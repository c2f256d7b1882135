//! Shared by the managed (v2) plugin suites (`managed_plugin_docker`, `swarm_docker`): the bundle
//! built by `packaging/managed-plugin/build.sh` from this checkout's `vlcp`, the test's config
//! (API on a unix socket in the state mount, OpenFlow listener in the OVS run directory), and
//! [`ManagedPlugin`]: `docker plugin create` + `set` + `enable` on a lab engine, removed on drop.

#![allow(dead_code)] // each suite uses a subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vlcp_e2e::lab::{self, Dockerd, Ovs, run_ok, wait_until, workspace_bin};

use crate::metrics_common::{Target, healthz};

/// Keys of `config/docker.conf` the tests point elsewhere.
const MOVED: [&str; 3] =
    ["module.httpserver.vhost.api.url", "module.openflowserver.url", "module.dockerplugin.cidrrange"];

/// `config/docker.conf` (what the bundle ships) with the API on a unix socket in the state mount
/// and the OpenFlow listener in the OVS run directory (where OVS accepts unix controllers).
pub fn plugin_config() -> String {
    let shipped = std::fs::read_to_string(repo().join("config/docker.conf")).unwrap();
    let mut text: String = shipped
        .lines()
        .filter(|l| !MOVED.iter().any(|k| l.trim_start().starts_with(k)))
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(
        "module.httpserver.vhost.api.url='unix:///var/lib/vlcp/api.sock'\n\
         module.openflowserver.url='unix:///var/run/openvswitch/vlcp-openflow.sock'\n\
         module.dockerplugin.cidrrange='198.19.0.0/16'\n",
    );
    text
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs the bundle script; returns the bundle directory.
pub fn build_bundle(out: &Path) -> PathBuf {
    let bin = workspace_bin("vlcp").unwrap_or_else(|e| panic!("{e}"));
    let script = repo().join("packaging/managed-plugin/build.sh");
    let printed = run_ok(Command::new(&script).arg("--bin").arg(&bin).arg("--out").arg(out))
        .unwrap_or_else(|e| panic!("build.sh: {e}"));
    let dir = PathBuf::from(printed.lines().last().unwrap_or_default());
    assert_eq!(dir, out);
    for f in ["config.json", "rootfs/usr/bin/vlcp", "rootfs/bin/sh", "rootfs/etc/vlcp/vlcp.conf"] {
        assert!(dir.join(f).exists(), "bundle lacks {f}");
    }
    dir
}

/// Points `bridge` of `ovs` at the plugin's OpenFlow listener (a unix socket in the OVS run dir).
pub fn set_controller(ovs: &Ovs, bridge: &str) {
    let of_sock = ovs.dir().join("vlcp-openflow.sock");
    ovs.vsctl(&["set-controller", bridge, &format!("unix:{}", of_sock.display())]).unwrap();
}

/// The managed plugin, created and enabled on one engine from a fresh bundle, with the test's
/// config in its own state directory. Dropping it disables and removes the plugin (forced) and
/// its socket directory; remove what uses it (services, networks) first.
pub struct ManagedPlugin<'a> {
    pub dockerd: &'a Dockerd,
    /// `<unique>:latest`.
    pub name: String,
    pub id: String,
    /// The state mount (config, store, API socket).
    pub state: PathBuf,
    _work: tempfile::TempDir,
}

impl<'a> ManagedPlugin<'a> {
    /// Builds the bundle, creates the plugin, sets `VLCP_CONFIG` (to `config`, written to the
    /// state mount), the OVS and state mounts and `extra_env` (`KEY=VALUE`), enables it and waits
    /// for its management API.
    pub fn install(dockerd: &'a Dockerd, ovs: &Ovs, config: &str, extra_env: &[&str]) -> ManagedPlugin<'a> {
        Self::install_named(dockerd, ovs, config, extra_env, &format!("{}:latest", lab::unique("mp")))
    }

    /// [`ManagedPlugin::install`] under the given name (the same on every node of a swarm).
    pub fn install_named(
        dockerd: &'a Dockerd,
        ovs: &Ovs,
        config: &str,
        extra_env: &[&str],
        name: &str,
    ) -> ManagedPlugin<'a> {
        let work = lab::temp_dir().unwrap();
        let state = work.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::write(state.join("test.conf"), config).unwrap();
        let bundle = build_bundle(&work.path().join("bundle"));
        let name = name.to_string();
        let mut p = ManagedPlugin { dockerd, name: name.clone(), id: String::new(), state, _work: work };
        p.docker(&["plugin", "create", &name, bundle.to_str().unwrap()]);
        p.id = p.docker(&["plugin", "inspect", "-f", "{{.Id}}", &name]);
        let mut set = vec![
            "plugin".to_string(),
            "set".into(),
            name.clone(),
            "VLCP_CONFIG=/var/lib/vlcp/test.conf".into(),
            format!("ovs.source={}", ovs.dir().display()),
            format!("state.source={}", p.state.display()),
        ];
        set.extend(extra_env.iter().map(|s| s.to_string()));
        let set: Vec<&str> = set.iter().map(String::as_str).collect();
        p.docker(&set);
        p.docker(&["plugin", "enable", &name]);
        let api = p.api();
        let sock = p.state.join("api.sock");
        let up = wait_until("the plugin's API to answer", Duration::from_secs(30), || {
            sock.exists().then(|| healthz(&api)).filter(|(s, _)| *s == 200)
        });
        if let Err(e) = up {
            panic!("{e}\n{}", dockerd.log_tail(40));
        }
        p
    }

    /// `docker args…` on the engine, panicking with the engine's log tail on failure.
    pub fn docker(&self, args: &[&str]) -> String {
        self.dockerd.docker(args).unwrap_or_else(|e| panic!("{e}\n{}", self.dockerd.log_tail(40)))
    }

    /// The plugin's management API (a unix socket in the state mount).
    pub fn api(&self) -> Target {
        Target::Unix(self.state.join("api.sock"))
    }
}

impl Drop for ManagedPlugin<'_> {
    fn drop(&mut self) {
        let _ = self.dockerd.docker(&["plugin", "disable", "-f", &self.name]);
        let _ = self.dockerd.docker(&["plugin", "rm", "-f", &self.name]);
        if !self.id.is_empty() {
            // Managed plugin sockets live in the host-wide plugin dir, under the plugin's id.
            let _ = std::fs::remove_dir_all(Path::new("/run/docker/plugins").join(&self.id));
        }
    }
}
