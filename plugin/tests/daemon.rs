//! The `vlcp` daemon as operators run it: `vlcp -f <config>` opens the configured store and serves
//! the management API; objects created through the API survive a restart on the embedded store.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(config: &Path, port: u16) -> Daemon {
        let child = Command::new(env!("CARGO_BIN_EXE_vlcp"))
            .args(["-f", config.to_str().unwrap()])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn vlcp");
        let mut d = Daemon { child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(d.child.try_wait().unwrap().is_none(), "vlcp exited during startup");
            assert!(Instant::now() < deadline, "the management API never came up");
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    fn stop(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap().code()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn curl(url: &str) -> (u16, serde_json::Value) {
    let out = Command::new("curl").args(["-s", "-g", "-w", "\n%{http_code}", url]).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    (code.trim().parse().unwrap(), serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

fn config(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join("vlcp.conf");
    std::fs::write(
        &path,
        format!(
            "module.embeddeddb.path='{}/vlcp.redb'\nmodule.httpserver.vhost.api.url='tcp://127.0.0.1:{port}/'\n\
             server.startup=('vlcp.service.sdn.viperflow.ViperFlow', 'vlcp.service.manage.webapi.WebAPI')\n",
            dir.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn daemon_serves_the_api_and_keeps_objects_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = config(dir.path(), port);
    let api = format!("http://127.0.0.1:{port}");

    let d = Daemon::start(&conf, port);
    let (code, v) = curl(&format!(
        "{api}/viperflow/createphysicalnetwork?type=vxlan&vnirange=`[[10000,20000]]`&id=vxlan"
    ));
    assert_eq!(code, 200, "{v}");
    let (code, v) = curl(&format!("{api}/viperflow/createlogicalnetwork?physicalnetwork=vxlan&id=net1"));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["result"][0]["vni"], 10000, "{v}");
    let (code, v) =
        curl(&format!("{api}/viperflow/createsubnet?logicalnetwork=net1&cidr=198.18.5.0/24&id=sub1"));
    assert_eq!(code, 200, "{v}");
    let (code, v) = curl(&format!("{api}/viperflow/createlogicalport?logicalnetwork=net1&subnet=sub1&id=p1"));
    assert_eq!(code, 200, "{v}");
    let ip = v["result"][0]["ip_address"].as_str().unwrap_or_else(|| panic!("no address: {v}")).to_string();
    // A client mistake is a 4xx naming the field, from the daemon too.
    let (code, v) =
        curl(&format!("{api}/viperflow/createsubnet?logicalnetwork=net1&cidr=198.18.5.0/33&id=s2"));
    assert_eq!(code / 100, 4, "{v}");
    assert!(v["error"].as_str().unwrap_or("").contains("cidr"), "{v}");
    assert_eq!(d.stop(), Some(0));

    // The embedded store keeps everything across a restart.
    let d = Daemon::start(&conf, port);
    let (code, v) = curl(&format!("{api}/viperflow/listlogicalports?id=p1"));
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["result"][0]["ip_address"], ip.as_str(), "{v}");
    let (_, v) = curl(&format!("{api}/viperflow/listlogicalnetworks"));
    assert_eq!(v["result"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(d.stop(), Some(0));
}
