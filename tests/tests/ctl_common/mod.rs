//! Shared fixture of the vlcpctl suites: the real `vlcpctl` binary run against a management API
//! — the real `vlcp` daemon with an API-only config ([`Daemon`]), or the library server of
//! `web_common` where a suite needs to scan the store. Both binaries are built on first use with
//! the cargo that builds the tests, into the same target directory, so they match the sources.

#![allow(dead_code)] // each suite uses a subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::Value;
use vlcp_e2e::lab::{self, VlcpDaemon};

/// What one vlcpctl run printed, and how it ended.
#[derive(Debug)]
pub struct Run {
    /// The exit status (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Stdout, after checking the run succeeded with nothing on stderr.
    pub fn ok(self) -> String {
        assert_eq!(self.code, Some(0), "vlcpctl failed: {self:?}");
        assert_eq!(self.stderr, "", "stderr of a successful run");
        self.stdout
    }

    /// Stdout parsed as JSON, after checking the run succeeded.
    pub fn json(self) -> serde_json::Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// Stderr, after checking the run failed with `code` and printed nothing on stdout.
    pub fn fails(self, code: i32) -> String {
        assert_eq!(self.code, Some(code), "expected exit {code}: {self:?}");
        assert_eq!(self.stdout, "", "stdout of a failed run");
        assert!(self.stderr.starts_with("vlcpctl: "), "error is not prefixed: {:?}", self.stderr);
        self.stderr
    }
}

/// The directory cargo builds this test's profile into (`target/debug` for `cargo test`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // <target>/<profile>/deps/<test>-<hash>
    exe.parent().and_then(|deps| deps.parent()).expect("target/<profile> dir").to_path_buf()
}

/// Builds `bin` of `package` (once per test process) and returns its path.
fn built(package: &str, bin: &str) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(b, _)| b == bin) {
        return path.clone();
    }
    let dir = profile_dir();
    let target = dir.parent().expect("target dir");
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_string(),
        Some(p) => p.to_string(),
        None => panic!("odd target dir {}", dir.display()),
    };
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let out = Command::new(cargo)
        .args(["build", "--quiet", "-p", package, "--bin", bin, "--profile", &profile])
        .arg("--target-dir")
        .arg(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo build");
    assert!(out.status.success(), "building {bin} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let path = dir.join(bin);
    assert!(path.is_file(), "{} missing after the build", path.display());
    built.push((bin.to_string(), path.clone()));
    path
}

/// The vlcpctl binary of this checkout.
pub fn vlcpctl_bin() -> PathBuf {
    built("vlcpctl", "vlcpctl")
}

/// The vlcp daemon binary of this checkout (for suites that start it through another fixture).
pub fn vlcp_bin() -> PathBuf {
    built("vlcp-plugin", "vlcp")
}

/// A config that runs only the management API (viperflow, vrouterapi) on 127.0.0.1:`port`
/// over an embedded store in `dir`.
pub fn api_only_config(dir: &Path, port: u16) -> String {
    format!(
        "proxy.kvstorage='vlcp.service.connection.embeddeddb.EmbeddedDB'\n\
         proxy.updatenotifier='vlcp.service.connection.embeddeddb.EmbeddedDB'\n\
         module.embeddeddb.path='{}/vlcp.redb'\n\
         module.httpserver.url=None\n\
         module.httpserver.vhost.api.url='tcp://127.0.0.1:{port}/'\n\
         server.startup=('vlcp.service.sdn.viperflow.ViperFlow',\n    \
         'vlcp.service.manage.webapi.WebAPI',\n    \
         'vlcp.service.sdn.vrouterapi.VRouterApi')\n",
        dir.display()
    )
}

/// The real `vlcp` daemon serving the management API.
pub struct Daemon {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    // Stopped before its directory is removed.
    daemon: VlcpDaemon,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Builds `vlcp` if needed and starts it with [`api_only_config`] on a free port.
    pub fn start() -> Daemon {
        built("vlcp-plugin", "vlcp");
        let dir = lab::temp_dir().expect("temp dir");
        let port = lab::free_port().expect("free port");
        let daemon = VlcpDaemon::start(dir.path(), &api_only_config(dir.path(), port))
            .unwrap_or_else(|e| panic!("vlcp daemon: {e}"));
        Daemon { url: format!("http://127.0.0.1:{port}"), daemon, _dir: dir }
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        self.daemon.log_text()
    }

    /// `curl -s -g <url><path>`: the `result` of a call that must succeed (read-backs that do
    /// not go through vlcpctl).
    pub fn get(&self, path: &str) -> Value {
        let out = Command::new("curl")
            .args(["-s", "-g", "--max-time", "30"])
            .arg(format!("{}{path}", self.url))
            .output()
            .expect("run curl");
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
        match v.get("result") {
            Some(r) => r.clone(),
            None => panic!("{path}: {v}\n{}", self.log()),
        }
    }
}

/// Runs vlcpctl with `args` (no `--url` added; `VLCP_URL`/`VLCP_TOKEN` cleared).
pub fn vlcpctl_raw(args: &[&str]) -> Run {
    let out = Command::new(vlcpctl_bin())
        .args(args)
        .env_remove("VLCP_URL")
        .env_remove("VLCP_TOKEN")
        .output()
        .expect("run vlcpctl");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `vlcpctl --url <url> <args…>`.
pub fn vlcpctl(url: &str, args: &[&str]) -> Run {
    let mut all = vec!["--url", url];
    all.extend_from_slice(args);
    vlcpctl_raw(&all)
}

/// The data rows of a table (header checked and dropped), split on runs of two or more spaces.
pub fn rows(table: &str, header: &[&str]) -> Vec<Vec<String>> {
    let mut lines = table.lines();
    let head: Vec<&str> = lines.next().expect("table header").split_whitespace().collect();
    assert_eq!(head, header, "table header in\n{table}");
    lines
        .map(|l| l.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect())
        .collect()
}
