//! The packaging files without building a package: the systemd unit passes
//! `systemd-analyze verify` with no diagnostics (and the same check flags a broken copy), the
//! tmpfiles entry creates the plugin socket directory, the maintainer scripts parse and do nothing
//! harmful without systemd, and `build-deb.sh` refuses bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

fn packaging(rel: &str) -> PathBuf {
    repo().join("packaging").join(rel)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `systemd-analyze verify` of `unit` (named `vlcp.service` in a temp dir) with `/usr/bin/vlcp`
/// pointed at a stub executable, so the check does not depend on an installed package.
fn verify(unit: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("vlcp");
    std::fs::write(&stub, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let unit = unit.replace("/usr/bin/vlcp ", &format!("{} ", stub.display()));
    assert!(!unit.contains("/usr/bin/vlcp"), "every vlcp command is stubbed");
    let path = dir.path().join("vlcp.service");
    std::fs::write(&path, unit).unwrap();
    run(Command::new("systemd-analyze").arg("verify").arg(&path).current_dir(dir.path()))
}

#[test]
fn unit_passes_systemd_analyze_verify_and_a_broken_copy_does_not() {
    let unit = std::fs::read_to_string(packaging("systemd/vlcp.service")).unwrap();
    let out = verify(&unit);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}\n{}",
        out.status,
        text(&out.stderr)
    );
    // The check sees mistakes: a typo'd key and a bad value each get a diagnostic.
    let typo = verify(&unit.replace("RestartSec=", "RestartSecs="));
    assert!(text(&typo.stderr).contains("Unknown key 'RestartSecs'"), "{}", text(&typo.stderr));
    let bad = verify(&unit.replace("TimeoutStopSec=20", "TimeoutStopSec=soon"));
    assert!(text(&bad.stderr).contains("soon"), "{}", text(&bad.stderr));
    // What the unit promises.
    for line in [
        "Before=docker.service",
        "ExecStartPre=/usr/bin/vlcp --check-config -f /etc/vlcp/vlcp.conf",
        "ExecStart=/usr/bin/vlcp -f /etc/vlcp/vlcp.conf",
        "Restart=on-failure",
        "StateDirectory=vlcp",
        "WantedBy=multi-user.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing from the unit");
    }
}

#[test]
fn tmpfiles_entry_creates_the_plugin_socket_directory() {
    let root = tempfile::tempdir().unwrap();
    let out = run(Command::new("systemd-tmpfiles")
        .arg(format!("--root={}", root.path().display()))
        .arg("--create")
        .arg(packaging("systemd/vlcp-tmpfiles.conf")));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dir = root.path().join("run/docker/plugins");
    let meta = std::fs::metadata(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    assert!(meta.is_dir());
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777, 0o755);
}

#[test]
fn maintainer_scripts_parse_and_are_quiet_without_systemd() {
    for script in ["postinst", "prerm", "postrm"] {
        let path = packaging(&format!("deb/{script}"));
        let out = run(Command::new("sh").arg("-n").arg(&path));
        assert!(out.status.success(), "{script}: {}", text(&out.stderr));
    }
    // This machine has no running systemd: the scripts must succeed and do nothing. (postrm purge
    // would remove /var/lib/vlcp, so it is not run here.)
    assert!(!Path::new("/run/systemd/system").exists(), "test assumes no running systemd");
    for (script, arg) in [("postinst", "configure"), ("prerm", "remove"), ("postrm", "remove")] {
        let out = run(Command::new("sh").arg(packaging(&format!("deb/{script}"))).arg(arg));
        assert!(out.status.success() && out.stdout.is_empty(), "{script} {arg}: {}", text(&out.stderr));
    }
    let conffiles = std::fs::read_to_string(packaging("deb/conffiles")).unwrap();
    assert_eq!(conffiles, "/etc/vlcp/vlcp.conf\n");
}

#[test]
fn build_script_refuses_bad_arguments_and_missing_binaries() {
    let script = packaging("build-deb.sh");
    let out = run(Command::new(&script).arg("--bogus"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("unknown argument --bogus"));
    let out = run(Command::new(&script).arg("--out"));
    assert_eq!(out.status.code(), Some(2));
    let empty = tempfile::tempdir().unwrap();
    let out = run(Command::new(&script).arg("--no-build").env("CARGO_TARGET_DIR", empty.path()));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("release/vlcp is missing"), "{}", text(&out.stderr));
    let help = run(Command::new(&script).arg("--help"));
    assert!(help.status.success() && text(&help.stdout).contains("--no-build"), "{}", text(&help.stdout));
}
