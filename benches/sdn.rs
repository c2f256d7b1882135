//! SDN pipeline scale measurement: 1000 logical ports on one bridge of a real Open vSwitch
//! (userspace datapath, in its own network namespace and temp dir), driven through the
//! management API over HTTP. Prints, per port, the time from the API call to "the flows of this
//! port are installed on the switch" (the controller's status says the datapath is synced with
//! the port bound, after the switch acknowledged the FlowMods with a barrier) as p50/p90/p99/max,
//! then the time for one batch `createlogicalports` of 1000 more ports, and the flow counts.
//!
//! Run as root (namespaces): `cargo bench --bench sdn` (optionally `-- <ports>`). The OVS
//! interfaces are patch-port pairs (no kernel devices), each with `external_ids:iface-id`, made
//! before the logical ports, so what is timed is model change → flows.

// The allocator the daemon ships with, tuned the same way.
#[path = "../plugin/src/allocator.rs"]
mod allocator;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vlcp::model::Model;
use vlcp::objectdb::{KvStore, ObjectDb, embedded::EmbeddedStore};
use vlcp::runtime::controller::{SdnController, model_feed};
use vlcp::runtime::ofswitch::{Controller, ControllerConfig};
use vlcp::runtime::ovsdb::{ClientConfig, OvsdbClient};
use vlcp::sdn::config::SdnConfig;
use vlcp::sdn::stages::Module;
use vlcp::web::{ListenAddr, WebConfig};

const BR: &str = "br-int";
const PEER_BR: &str = "br-peer";

/// ovsdb-server and ovs-vswitchd in a namespace and temp dir; stopped (by pid) on drop.
struct Ovs {
    dir: tempfile::TempDir,
    ns: String,
    children: Vec<Child>,
}

impl Ovs {
    fn start() -> Ovs {
        let dir = tempfile::tempdir().expect("temp dir");
        let ns = format!("sdnb{}", std::process::id());
        sh("ip", &["netns", "add", &ns]);
        let mut o = Ovs { dir, ns, children: Vec::new() };
        let d = o.dir.path().to_path_buf();
        sh("ovsdb-tool", &["create", p(&d.join("conf.db")), "/usr/share/openvswitch/vswitch.ovsschema"]);
        let remote = format!("--remote=punix:{}", d.join("db.sock").display());
        let ovsdb = o.daemon("ovsdb-server", &[p(&d.join("conf.db")), &remote]);
        o.children.push(ovsdb);
        wait("ovsdb-server", || d.join("db.sock").exists());
        o.vsctl(&["--no-wait", "init"]);
        let db = format!("unix:{}", d.join("db.sock").display());
        let vswitchd = o.daemon("ovs-vswitchd", &[&db]);
        o.children.push(vswitchd);
        wait("ovs-vswitchd", || d.join("ovs-vswitchd.ctl").exists());
        o
    }

    fn daemon(&self, program: &str, args: &[&str]) -> Child {
        let d = self.dir.path();
        Command::new("ip")
            .args(["netns", "exec", &self.ns, "env"])
            .arg(format!("OVS_RUNDIR={}", d.display()))
            .arg(format!("OVS_LOGDIR={}", d.display()))
            .arg(format!("OVS_DBDIR={}", d.display()))
            .arg(program)
            .args(args)
            .arg(format!("--pidfile={}", d.join(format!("{program}.pid")).display()))
            .arg(format!("--unixctl={}", d.join(format!("{program}.ctl")).display()))
            .arg(format!("--log-file={}", d.join(format!("{program}.log")).display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    fn db_url(&self) -> String {
        format!("unix:{}", self.dir.path().join("db.sock").display())
    }

    fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db={}", self.db_url());
        let mut all = vec!["--timeout=120", db.as_str()];
        all.extend_from_slice(args);
        sh("ovs-vsctl", &all)
    }

    fn flow_count(&self) -> usize {
        let target = format!("unix:{}", self.dir.path().join(format!("{BR}.mgmt")).display());
        let out = sh("ovs-ofctl", &["-O", "OpenFlow13", "dump-flows", &target]);
        out.lines().filter(|l| l.contains("cookie=")).count()
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            // SAFETY: kill(2) on a pid this program spawned.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
            let _ = c.wait();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP/1.1 POST of a form to the API; the body of a 200 answer.
fn post(addr: &str, path: &str, form: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("API connect");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .expect("API write");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("API read");
    assert!(reply.starts_with("HTTP/1.1 200"), "{path}: {reply}");
    reply
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// OVS interfaces `lp<i>` on the bridge (patch ports paired with `rp<i>` on a peer bridge), with
/// `iface-id` `port<i>`, for `range`.
fn add_interfaces(ovs: &Ovs, range: std::ops::Range<usize>) {
    let ids: Vec<usize> = range.collect();
    for chunk in ids.chunks(200) {
        let mut args: Vec<String> = Vec::new();
        for i in chunk {
            args.extend(
                [
                    "--",
                    "add-port",
                    BR,
                    &format!("lp{i}"),
                    "--",
                    "set",
                    "interface",
                    &format!("lp{i}"),
                    "type=patch",
                    &format!("options:peer=rp{i}"),
                    &format!("external_ids:iface-id=port{i}"),
                    "--",
                    "add-port",
                    PEER_BR,
                    &format!("rp{i}"),
                    "--",
                    "set",
                    "interface",
                    &format!("rp{i}"),
                    "type=patch",
                    &format!("options:peer=lp{i}"),
                ]
                .map(str::to_owned),
            );
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ovs.vsctl(&refs);
    }
}

fn port_form(i: usize) -> String {
    format!(
        "id=port{i}&logicalnetwork=n1&subnet=s1&mac_address=02:00:00:00:{:02x}:{:02x}",
        (i >> 8) & 0xff,
        i & 0xff
    )
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1000);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let ovs = Ovs::start();
    for br in [BR, PEER_BR] {
        ovs.vsctl(&["add-br", br, "--", "set", "bridge", br, "datapath_type=netdev", "fail_mode=secure"]);
    }
    ovs.vsctl(&["set", "bridge", BR, "protocols=OpenFlow13"]);
    let t = Instant::now();
    add_interfaces(&ovs, 0..2 * n);
    println!("setup: {} OVS patch-port pairs with iface-id in {}", 2 * n, ms(t.elapsed()));

    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn KvStore> = Arc::new(EmbeddedStore::open(dir.path().join("db.redb")).expect("store"));
    let model = Model::new(ObjectDb::new(store));
    let sock = ovs.dir.path().join("ctl.sock");
    let mut cfg = SdnConfig::default();
    cfg.modules.push(Module::L3Router);
    let (sdn, web, _feed, _of, _ovsdb) = rt.block_on(async {
        let web = vlcp::web::start(
            &WebConfig { listen: ListenAddr::Tcp("127.0.0.1:0".into()), ..WebConfig::default() },
            model.clone(),
        )
        .await
        .expect("API listens");
        let of = Arc::new(
            Controller::start(ControllerConfig {
                listen: vec![format!("unix:{}", sock.display())],
                ..ControllerConfig::default()
            })
            .await
            .expect("OpenFlow listens"),
        );
        let (ovsdb, _events) = OvsdbClient::connect(ClientConfig::new(&ovs.db_url())).expect("ovsdb");
        ovsdb.wait_synced(Duration::from_secs(30)).await.expect("ovsdb synced");
        let (rx, feed) = model_feed(model.db().clone()).await.expect("model feed");
        let sdn = SdnController::spawn(of.clone(), ovsdb.clone(), rx, cfg).expect("controller");
        (sdn, web, feed, of, ovsdb)
    });
    let api = web.local_addr().expect("tcp").to_string();
    ovs.vsctl(&["set-controller", BR, &format!("unix:{}", sock.display())]);
    let dpid =
        u64::from_str_radix(ovs.vsctl(&["get", "bridge", BR, "datapath_id"]).trim().trim_matches('"'), 16)
            .expect("dpid");
    let bound = |count: usize| {
        rt.block_on(sdn.wait_status(Duration::from_secs(120), |s| {
            s.get(&dpid).filter(|sw| sw.synced && sw.ports.len() == count).cloned()
        }))
        .unwrap_or_else(|| {
            panic!("{count} ports not bound: {:?}", sdn.status().get(&dpid).map(|s| s.ports.len()))
        })
    };
    bound(0);
    post(&api, "/viperflow/createphysicalnetwork", "type=local&id=local");
    post(&api, "/viperflow/createlogicalnetwork", "physicalnetwork=local&id=n1&mtu=1400");
    post(&api, "/viperflow/createsubnet", "logicalnetwork=n1&id=s1&cidr=198.18.0.0/19&gateway=198.18.0.1");

    // One port at a time: API call → this port's flows acknowledged by the switch.
    let mut lat = Vec::with_capacity(n);
    let mut api_lat = Vec::with_capacity(n);
    let total = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        post(&api, "/viperflow/createlogicalport", &port_form(i));
        api_lat.push(t.elapsed());
        bound(i + 1);
        lat.push(t.elapsed());
    }
    api_lat.sort();
    let one_by_one = total.elapsed();
    let st = bound(n);
    let flows_n = ovs.flow_count();
    lat.sort();
    println!(
        "createlogicalport, {n} ports one at a time on one bridge: p50 {} p90 {} p99 {} max {} \
         (first {} last {}; total {})",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.9)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().expect("ports")),
        ms(lat[0]),
        ms(lat[n - 1]),
        ms(one_by_one),
    );
    println!(
        "  of which the API call itself (model transaction): p50 {} p99 {}; the controller part: \
         p50 {} p99 {}",
        ms(percentile(&api_lat, 0.5)),
        ms(percentile(&api_lat, 0.99)),
        ms(percentile(&lat, 0.5).saturating_sub(percentile(&api_lat, 0.5))),
        ms(percentile(&lat, 0.99).saturating_sub(percentile(&api_lat, 0.99))),
    );
    println!(
        "flows with {n} ports: {} on the switch ({} ours by status, {:.1} per port), {} flow mods sent",
        flows_n,
        st.flows,
        st.flows as f64 / n as f64,
        st.flow_mods
    );

    // One batch of n more ports.
    let list: Vec<String> = (n..2 * n)
        .map(|i| {
            format!(
                r#"{{"id":"port{i}","logicalnetwork":"n1","subnet":"s1","mac_address":"02:00:00:00:{:02x}:{:02x}"}}"#,
                (i >> 8) & 0xff,
                i & 0xff
            )
        })
        .collect();
    let t = Instant::now();
    post(&api, "/viperflow/createlogicalports", &format!("ports=`[{}]`", list.join(",")));
    let api_done = t.elapsed();
    let st = bound(2 * n);
    println!(
        "createlogicalports, one batch of {n} more ports: API answered in {}, all flows installed in {} \
         ({} flows on the switch)",
        ms(api_done),
        ms(t.elapsed()),
        st.flows
    );
    drop(sdn);
    drop(web);
}
