//! Runs the built `vlcp` binary: `--check-config` on good and bad files (exit status, messages
//! with line and key), usage errors, and a daemon that starts and exits 0 on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn vlcp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vlcp"))
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config").join(name)
}

fn run(args: &[&str]) -> Output {
    vlcp().args(args).env_remove("RUST_LOG").output().expect("run vlcp")
}

/// A temporary directory removed on drop (std only, so the test needs no extra crate).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("vlcp-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `config/docker.conf` with the store, the management API, the plugin, OpenFlow and OVSDB
/// sockets moved into `dir` and onto `port`, so tests never touch system paths or fixed ports.
fn private_config(dir: &TempDir, port: u16) -> PathBuf {
    let moved = [
        "module.embeddeddb.path",
        "module.httpserver.vhost.api.url",
        "module.httpserver.vhost.docker.url",
        "module.openflowserver.url",
        "module.jsonrpcserver.url",
    ];
    let original = std::fs::read_to_string(example("docker.conf")).unwrap();
    let mut text: String = original
        .lines()
        .filter(|l| !moved.iter().any(|k| l.trim_start().starts_with(k)))
        .map(|l| format!("{l}\n"))
        .collect();
    let d = dir.path().display();
    text.push_str(&format!(
        "module.embeddeddb.path='{d}/vlcp.redb'\nmodule.httpserver.vhost.api.url='tcp://127.0.0.1:{port}/'\n\
         module.httpserver.vhost.docker.url='unix://{d}/plugin.sock'\nmodule.openflowserver.url='unix://{d}/of.sock'\n\
         module.jsonrpcserver.url='unix://{d}/db.sock'\n"
    ));
    let path = dir.path().join("vlcp.conf");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_config_accepts_the_example_configs() {
    for name in ["docker.conf", "genericl3.conf"] {
        let path = example(name);
        let out = run(&["--check-config", "-f", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}{}", text(&out.stdout), text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.contains(": OK (") && stdout.contains("l3router"), "{stdout}");
        assert_eq!(text(&out.stderr), "", "a clean config prints no findings");
    }
}

#[test]
fn check_config_reports_line_and_key_and_exits_2() {
    let dir = TempDir::new("check");
    let path = dir.path().join("bad.conf");
    std::fs::write(
        &path,
        "# a typo'd key and a bad value\nmodule.dockerplugin.ovsbrige = 'br0'\n\nmodule.dockerplugin.mtu = 'big'\nmodule.l2switch.learning = False\nmodule.l2switch.learning = True\n",
    )
    .unwrap();
    let out = run(&["--check-config", "-f", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let shown = path.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{shown}: line 2: module.dockerplugin.ovsbrige: unknown key; did you mean `module.dockerplugin.ovsbridge`?"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{shown}: line 4: module.dockerplugin.mtu: expected int, found str 'big'")),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: line 6: module.l2switch.learning: set again (first set on line 5)"),
        "{stderr}"
    );
    assert!(stderr.contains("2 errors"), "{stderr}");
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn a_bad_config_stops_the_daemon_with_status_2() {
    let dir = TempDir::new("badrun");
    let path = dir.path().join("bad.conf");
    std::fs::write(&path, "server.startup = ('vlcp.service.sdn.l2switch.L2Switch',\n").unwrap();
    let out = run(&["-f", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("line 1: server.startup: invalid value"), "{stderr}");
    let missing = dir.path().join("missing.conf");
    let out = run(&["-f", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read"), "{}", text(&out.stderr));
}

#[test]
fn usage_help_and_version() {
    let out = run(&["--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown option --bogus"));
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("--check-config"));
    let out = run(&["--version"]);
    assert_eq!(text(&out.stdout).trim(), format!("vlcp {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn daemon_starts_and_exits_0_on_sigterm() {
    let dir = TempDir::new("sigterm");
    let pidfile = dir.path().join("vlcp.pid");
    let port = free_port();
    let config = private_config(&dir, port);
    let mut child = vlcp()
        .args(["-f", config.to_str().unwrap(), "--log-json", "-p", pidfile.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vlcp");
    // Read log lines on a thread until the daemon says it started (or exits).
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("vlcp started") {
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    let started = rx.recv_timeout(Duration::from_secs(30));
    if started.is_err() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("daemon did not report start: {:?}", reader.join().unwrap());
    }
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap().trim(), child.id().to_string());
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{lines:#?}");
    let all = lines.join("\n");
    assert!(all.contains("SIGTERM received") && all.contains("vlcp stopped"), "{all}");
    // JSON log lines, and the module list the daemon would start.
    let starting = lines.iter().find(|l| l.contains("starting")).expect("a starting line");
    let starting: serde_json::Value = serde_json::from_str(starting).expect("JSON log line");
    let modules = starting["fields"]["modules"].as_str().unwrap_or_default();
    assert!(modules.contains("dockerplugin") && modules.contains("embeddeddb"), "{starting}");
    assert!(!pidfile.exists(), "the pid file is removed on exit");
}
