//! The .deb end to end: `packaging/build-deb.sh` builds release binaries and the package; its
//! metadata and file list are checked; it installs on this machine with `dpkg -i`; the installed
//! binaries run (`vlcp --version`, `vlcp --check-config -f /etc/vlcp/vlcp.conf`,
//! `vlcp-cleanup --help`, `vlcpctl --help`, and the installed daemon serving the API to the
//! installed vlcpctl); the installed unit
//! passes `systemd-analyze verify`; `dpkg -P` removes every file again.
//!
//! `VLCP_DEB_PREBUILT=1` packages the release binaries already in `target/release` instead of
//! building them (`build-deb.sh --no-build`).

mod ctl_common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use vlcp_e2e::lab;

const INSTALLED: [&str; 7] = [
    "/usr/bin/vlcp",
    "/usr/bin/vlcp-cleanup",
    "/usr/bin/vlcpctl",
    "/etc/vlcp/vlcp.conf",
    "/usr/lib/systemd/system/vlcp.service",
    "/usr/lib/tmpfiles.d/vlcp.conf",
    "/usr/share/doc/vlcp/examples/docker.conf",
];

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Stdout of a command that must succeed.
fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `dpkg <args>`, waiting (at most two minutes) while another dpkg or apt holds the lock.
fn dpkg(args: &[&str]) -> String {
    lab::wait_until(&format!("dpkg {args:?}"), Duration::from_secs(120), || {
        let out = run(Command::new("dpkg").args(args));
        let err = text(&out.stderr);
        if !out.status.success() && err.contains("lock") {
            return None;
        }
        assert!(out.status.success(), "dpkg {args:?}: {}\n{}\n{err}", out.status, text(&out.stdout));
        Some(text(&out.stdout))
    })
    .expect("dpkg lock")
}

fn installed_version() -> Option<String> {
    let out = run(Command::new("dpkg-query").args(["-W", "-f", "${Status} ${Version}", "vlcp"]));
    let s = text(&out.stdout);
    s.strip_prefix("install ok installed ").map(String::from)
}

/// The installed daemon; SIGTERM (then SIGKILL) on drop.
struct Running(Option<Child>);

impl Running {
    /// SIGTERM and the exit code.
    fn stop(&mut self) -> Option<i32> {
        let mut c = self.0.take()?;
        // SAFETY: kill(2) on the pid of our own child, which has not been reaped yet.
        unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
        let code = lab::wait_until("vlcp to exit", Duration::from_secs(30), || c.try_wait().ok().flatten());
        match code {
            Ok(status) => status.code(),
            Err(_) => {
                let _ = c.kill();
                let _ = c.wait();
                None
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Purges the package when the test ends, whatever happened.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        if installed_version().is_some() {
            let _ = Command::new("dpkg").args(["-P", "vlcp"]).output();
        }
    }
}

#[test]
fn heavy_deb_builds_installs_and_runs() {
    let version = env!("CARGO_PKG_VERSION"); // the workspace version
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out_dir = tempfile::tempdir().unwrap();

    // Build (release binaries + package) with the cargo that builds this test.
    let mut build = Command::new(repo.join("packaging/build-deb.sh"));
    build.arg("--out").arg(out_dir.path()).current_dir(repo);
    // CI that has already built the release binaries can skip the build.
    if std::env::var_os("VLCP_DEB_PREBUILT").is_some() {
        build.arg("--no-build");
    }
    if let Some(dir) = option_env!("CARGO").and_then(|c| Path::new(c).parent()) {
        let path = std::env::var("PATH").unwrap_or_default();
        build.env("PATH", format!("{}:{path}", dir.display()));
    }
    let stdout = ok(&mut build);
    let deb = PathBuf::from(stdout.lines().last().expect("deb path").trim());
    let arch = ok(Command::new("dpkg").arg("--print-architecture")).trim().to_string();
    assert_eq!(deb, out_dir.path().join(format!("vlcp_{version}_{arch}.deb")));

    // Metadata and contents.
    let field = |f: &str| ok(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(f)).trim().to_string();
    assert_eq!(
        (field("Package"), field("Version"), field("Architecture")),
        ("vlcp".into(), version.into(), arch)
    );
    assert!(field("Depends").contains("libc6"), "Depends: {}", field("Depends"));
    let listing = ok(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for path in INSTALLED {
        assert!(listing.contains(&format!(".{path}\n")), "{path} not in the package:\n{listing}");
    }
    for line in listing.lines() {
        assert!(line.contains(" root/root "), "not root-owned: {line}");
    }
    let conffiles = ok(Command::new("dpkg-deb").arg("-I").arg(&deb).arg("conffiles"));
    assert_eq!(conffiles, "/etc/vlcp/vlcp.conf\n");

    // Install for real; purged when the test ends.
    assert_eq!(installed_version(), None, "vlcp is already installed on this machine; remove it first");
    let _purge = Purge;
    dpkg(&["-i", deb.to_str().unwrap()]);
    assert_eq!(installed_version().as_deref(), Some(version));
    let status = ok(Command::new("dpkg").args(["--verify", "vlcp"]));
    assert_eq!(status, "", "installed files differ from the package's md5sums");

    // The binaries run from the installed paths.
    assert_eq!(ok(Command::new("/usr/bin/vlcp").arg("--version")), format!("vlcp {version}\n"));
    let check = ok(Command::new("/usr/bin/vlcp").args(["--check-config", "-f", "/etc/vlcp/vlcp.conf"]));
    assert!(check.starts_with("/etc/vlcp/vlcp.conf: OK"), "{check}");
    ok(Command::new("/usr/bin/vlcp-cleanup").arg("--help"));
    let help = ok(Command::new("/usr/bin/vlcpctl").arg("--help"));
    assert!(help.starts_with("Usage: vlcpctl"), "{help}");

    // The installed daemon serves the API (API-only config) and the installed vlcpctl uses it.
    let dir = lab::temp_dir().unwrap();
    let port = lab::free_port().unwrap();
    let conf = dir.path().join("vlcp.conf");
    std::fs::write(&conf, ctl_common::api_only_config(dir.path(), port)).unwrap();
    let log = dir.path().join("vlcp.log");
    let child = Command::new("/usr/bin/vlcp")
        .arg("-f")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start the installed vlcp");
    let mut daemon = Running(Some(child));
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    lab::wait_until("vlcp started", Duration::from_secs(30), || {
        log_text().contains("vlcp started").then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text()));
    let url = format!("http://127.0.0.1:{port}");
    let ctl = |args: &[&str]| ok(Command::new("/usr/bin/vlcpctl").arg("--url").arg(&url).args(args));
    let created = ctl(&["router", "create", "id=deb1"]);
    assert!(created.lines().nth(1).is_some_and(|l| l.starts_with("deb1 ")), "{created}");
    let listed: serde_json::Value = serde_json::from_str(&ctl(&["--json", "router", "list"])).unwrap();
    assert_eq!(listed[0]["id"], "deb1");
    assert_eq!(daemon.stop(), Some(0), "the daemon stops cleanly on SIGTERM:\n{}", log_text());

    // The installed unit and tmpfiles entry.
    let verify =
        run(Command::new("systemd-analyze").args(["verify", "/usr/lib/systemd/system/vlcp.service"]));
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "systemd-analyze verify: {}\n{}",
        verify.status,
        text(&verify.stderr)
    );
    let root = tempfile::tempdir().unwrap();
    ok(Command::new("systemd-tmpfiles")
        .arg(format!("--root={}", root.path().display()))
        .args(["--create", "/usr/lib/tmpfiles.d/vlcp.conf"]));
    assert!(root.path().join("run/docker/plugins").is_dir());

    // Purge removes everything, the conffile included.
    dpkg(&["-P", "vlcp"]);
    assert_eq!(installed_version(), None);
    for path in INSTALLED {
        assert!(!Path::new(path).exists(), "{path} left after purge");
    }
    assert!(!Path::new("/etc/vlcp").exists() && !Path::new("/usr/share/doc/vlcp").exists());
}
