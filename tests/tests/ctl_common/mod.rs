//! Shared fixture of the vlcpctl suites: the real `vlcpctl` binary (built on first use with the
//! cargo that builds the tests, into the same target directory) run against a management API
//! server from `web_common`.

#![allow(dead_code)] // each suite uses a subset

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

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

/// The vlcpctl binary of this checkout, built once per test process.
pub fn vlcpctl_bin() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = profile_dir();
        let target = dir.parent().expect("target dir");
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_string(),
            Some(p) => p.to_string(),
            None => panic!("odd target dir {}", dir.display()),
        };
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let out = Command::new(cargo)
            .args(["build", "--quiet", "-p", "vlcpctl", "--bin", "vlcpctl", "--profile", &profile])
            .arg("--target-dir")
            .arg(target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("run cargo build");
        assert!(out.status.success(), "building vlcpctl failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let bin = dir.join("vlcpctl");
        assert!(bin.is_file(), "{} missing after the build", bin.display());
        bin
    })
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
