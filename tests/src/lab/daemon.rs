//! The real `vlcp` daemon binary as a lab fixture: started with a config file the test writes,
//! stopped by pid on drop (SIGTERM, then SIGKILL).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cmd::{LabError, Result, stop_pid, wait_until};

/// Path of a workspace binary (`vlcp`, `vlcp-cleanup`, …) next to the test executable, in the
/// same target profile directory. `cargo nextest run --workspace` builds them.
pub fn workspace_bin(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|e| LabError::new(format!("current_exe: {e}")))?;
    // target/<profile>/deps/<test binary>, unless VLCP_BIN_DIR names another (benchmarks run the
    // release binaries with the debug-built tests: VLCP_BIN_DIR=target/release).
    let from_env = std::env::var_os("VLCP_BIN_DIR").map(PathBuf::from);
    let profile_dir = match &from_env {
        Some(d) => d.as_path(),
        None => exe.parent().and_then(Path::parent).ok_or_else(|| LabError::new("no target dir"))?,
    };
    let bin = profile_dir.join(name);
    if bin.exists() {
        Ok(bin)
    } else {
        Err(LabError::new(format!(
            "{} is not built: run `cargo build --workspace --bins` first",
            bin.display()
        )))
    }
}

/// A running `vlcp -f <config>`.
pub struct VlcpDaemon {
    child: Option<Child>,
    log: PathBuf,
    /// Where this run's part of the log starts (a restart on the same dir appends).
    log_start: usize,
}

impl VlcpDaemon {
    /// Writes `config` to `<dir>/vlcp.conf`, starts the daemon on it (log appended to
    /// `<dir>/vlcp.log`, so a restart on the same dir keeps the earlier runs' lines) and waits
    /// until it logs "vlcp started".
    pub fn start(dir: &Path, config: &str) -> Result<VlcpDaemon> {
        Self::start_with_env(dir, config, &[])
    }

    /// As [`VlcpDaemon::start`], with extra environment variables (e.g. `VLCP_FAILPOINT`).
    pub fn start_with_env(dir: &Path, config: &str, env: &[(&str, &str)]) -> Result<VlcpDaemon> {
        let conf = dir.join("vlcp.conf");
        std::fs::write(&conf, config).map_err(|e| LabError::new(format!("{}: {e}", conf.display())))?;
        let log = dir.join("vlcp.log");
        let log_start = std::fs::metadata(&log).map(|m| m.len() as usize).unwrap_or(0);
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| LabError::new(format!("{}: {e}", log.display())))?;
        let child = Command::new(workspace_bin("vlcp")?)
            .arg("-f")
            .arg(&conf)
            .env("RUST_LOG", "info,vlcp=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .map_err(|e| LabError::new(format!("vlcp: {e}")))?;
        let mut d = VlcpDaemon { child: Some(child), log, log_start };
        let started = wait_until("vlcp to start", Duration::from_secs(30), || {
            if let Some(c) = d.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Some(Err(status));
            }
            d.log_text().get(d.log_start..).unwrap_or("").contains("vlcp started").then_some(Ok(()))
        });
        match started {
            Ok(Ok(())) => Ok(d),
            Ok(Err(status)) => Err(LabError::new(format!("vlcp exited ({status}):\n{}", d.log_text()))),
            Err(e) => Err(LabError::new(format!("{e}\n{}", d.log_text()))),
        }
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What this run of the daemon logged (the log file is shared by the runs in one directory).
    pub fn own_log(&self) -> String {
        self.log_text().get(self.log_start..).unwrap_or("").to_string()
    }

    /// The daemon's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGTERM, and the exit code.
    pub fn stop(mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        stop_pid(c.id());
        c.wait().ok().and_then(|s| s.code())
    }

    /// Waits up to `timeout` for the daemon to exit by itself (e.g. at a failpoint); its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let c = self.child.as_mut()?;
        let status = wait_until("vlcp to exit", timeout, || c.try_wait().ok().flatten()).ok()?;
        self.child = None;
        Some(status)
    }

    /// SIGKILL (a crash), without any cleanup by the daemon.
    pub fn kill9(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for VlcpDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_pid(c.id());
            let _ = c.wait();
        }
    }
}

/// The shipped `config/docker.conf` with every socket, port and path moved into the lab: the
/// store under `dir`, the management API on `127.0.0.1:<api_port>`, the plugin on the engine's
/// plugin socket, OpenFlow on `of_sock` (inside the OVS run dir: OVS refuses unix controllers
/// elsewhere), OVSDB on the lab's ovsdb-server, veths in the OVS namespace.
pub fn docker_conf(
    dir: &Path,
    ovs: &super::Ovs,
    dockerd: &super::Dockerd,
    of_sock: &Path,
    api_port: u16,
) -> Result<String> {
    const MOVED: [&str; 6] = [
        "module.embeddeddb.path",
        "module.httpserver.vhost.api.url",
        "module.httpserver.vhost.docker.url",
        "module.openflowserver.url",
        "module.jsonrpcserver.url",
        "module.dockerplugin.cidrrange",
    ];
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/docker.conf");
    let shipped = std::fs::read_to_string(path).map_err(|e| LabError::new(format!("{path}: {e}")))?;
    let mut text: String = shipped
        .lines()
        .filter(|l| !MOVED.iter().any(|k| l.trim_start().starts_with(k)))
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(&format!(
        "module.embeddeddb.path='{}/vlcp.redb'\n\
         module.httpserver.vhost.api.url='tcp://127.0.0.1:{api_port}/'\n\
         module.httpserver.vhost.docker.url='unix://{}'\n\
         module.openflowserver.url='unix://{}'\n\
         module.jsonrpcserver.url='unix://{}'\n\
         module.dockerplugin.cidrrange='198.19.0.0/16'\n\
         module.dockerplugin.netns='/run/netns/{}'\n",
        dir.display(),
        dockerd.plugin_socket().display(),
        of_sock.display(),
        ovs.db_sock().display(),
        ovs.netns().name,
    ));
    Ok(text)
}
