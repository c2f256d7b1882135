//! vlcp-cleanup's store access and usage errors, without Docker: an embedded store held by a
//! running daemon is refused with an explanation (exit 1) before anything else is touched; a
//! missing config is a usage error (exit 2).

mod cleanup_common;

use std::process::Command;

use cleanup_common::cleanup_bin;
use vlcp::objectdb::embedded::EmbeddedStore;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = vlcp_e2e::lab::run(Command::new(cleanup_bin()).args(args).env_remove("DOCKER_HOST")).unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn an_embedded_store_held_by_the_daemon_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("objectdb.redb");
    // This process plays the daemon: it holds the redb file open.
    let _held = EmbeddedStore::open(&db).unwrap();
    let conf = dir.path().join("vlcp.conf");
    std::fs::write(&conf, format!("module.embeddeddb.path='{}'\n", db.display())).unwrap();
    let (code, stdout, stderr) = run(&["-f", conf.to_str().unwrap(), "--json", "-H", "/nonexistent.sock"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("open in the running vlcp daemon") && stderr.contains("stop the daemon"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["status"], "failed");
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, stderr) = run(&["--dry-run"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("-f <config> is required"), "{stderr}");
    let (code, _, stderr) = run(&["-f", "/nonexistent/vlcp.conf"]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("--skiplogicalport") && stdout.contains("exit status"));
}
