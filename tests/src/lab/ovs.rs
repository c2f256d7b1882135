//! An isolated Open vSwitch: its own ovsdb-server and ovs-vswitchd, database, run dir and sockets
//! in a temp dir, running inside their own "host" network namespace. Bridges use the userspace
//! datapath (`datapath_type=netdev`): the kernel module is absent on the lab machines.
//!
//! The sockets are files in the temp dir, so a controller in the root namespace reaches them:
//! [`Ovs::db_sock`] (OVSDB), [`Ovs::mgmt_sock`] (a bridge's OpenFlow management socket). OVS in
//! its namespace cannot reach the root namespace's loopback, so point controllers at unix sockets.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cmd::{LabError, Result, pid_alive, run, run_ok, stop_pid, wait_until};
use super::netns::Netns;

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// One Open vSwitch instance. Dropping it stops both daemons (by pid) and removes the namespace.
pub struct Ovs {
    // Field order is drop order: daemons first, then the namespace, then the files.
    vswitchd: Option<Child>,
    ovsdb: Option<Child>,
    ns: Netns,
    dir: tempfile::TempDir,
}

/// Options for [`Ovs::add_endpoint_with`].
#[derive(Debug, Clone, Default)]
pub struct EndpointOpts {
    /// MTU of the endpoint's eth0 (default: the kernel's, 1500).
    pub mtu: Option<u32>,
    /// MAC address of eth0 (default: random).
    pub mac: Option<String>,
    /// `external_ids:iface-id` of the OVS interface, to bind it to a logical port.
    pub iface_id: Option<String>,
    /// A default route via this gateway.
    pub gateway: Option<String>,
    /// Do not add the host end to a bridge (the test plugs it in itself).
    pub unplugged: bool,
}

/// A network namespace with `eth0`, whose veth peer (`host_if`) lives in the OVS namespace.
pub struct Endpoint {
    pub ns: Netns,
    /// Name of the veth end on the OVS side (the OVS port and interface name).
    pub host_if: String,
    pub mac: String,
    /// The address without prefix length.
    pub ip: String,
    db_sock: PathBuf,
}

impl Ovs {
    /// Starts ovsdb-server and ovs-vswitchd in a fresh namespace and temp dir, and waits until both
    /// answer.
    pub fn start() -> Result<Ovs> {
        let dir = super::temp_dir()?;
        let ns = Netns::new("h")?;
        let db = dir.path().join("conf.db");
        run_ok(Command::new("ovsdb-tool").arg("create").arg(&db).arg(SCHEMA))?;
        let mut ovs = Ovs { vswitchd: None, ovsdb: None, ns, dir };
        ovs.spawn_ovsdb()?;
        run_ok(ovs.vsctl_cmd().args(["--no-wait", "init"]))?;
        ovs.spawn_vswitchd()?;
        Ok(ovs)
    }

    fn daemon(&self, program: &str, log: &str) -> Result<Command> {
        let d = self.dir.path();
        let log = File::create(d.join(log)).map_err(|e| LabError::new(format!("{log}: {e}")))?;
        let mut c = self.ns.cmd("env");
        c.arg(format!("OVS_RUNDIR={}", d.display()))
            .arg(format!("OVS_LOGDIR={}", d.display()))
            .arg(format!("OVS_DBDIR={}", d.display()))
            .arg(program)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        Ok(c)
    }

    fn spawn_ovsdb(&mut self) -> Result<()> {
        let d = self.dir.path().to_path_buf();
        let _ = std::fs::remove_file(d.join("db.sock"));
        let mut c = self.daemon("ovsdb-server", "ovsdb-server.stderr")?;
        c.arg(d.join("conf.db"))
            .arg(format!("--remote=punix:{}", d.join("db.sock").display()))
            .arg(format!("--pidfile={}", d.join("ovsdb-server.pid").display()))
            .arg(format!("--unixctl={}", d.join("ovsdb-server.ctl").display()))
            .arg(format!("--log-file={}", d.join("ovsdb-server.log").display()));
        let child = c.spawn().map_err(|e| LabError::new(format!("ovsdb-server: {e}")))?;
        self.ovsdb = Some(child);
        let sock = d.join("db.sock");
        wait_until("ovsdb-server socket", Duration::from_secs(20), || sock.exists().then_some(()))
    }

    fn spawn_vswitchd(&mut self) -> Result<()> {
        let d = self.dir.path().to_path_buf();
        let mut c = self.daemon("ovs-vswitchd", "ovs-vswitchd.stderr")?;
        c.arg(format!("unix:{}", d.join("db.sock").display()))
            .arg(format!("--pidfile={}", d.join("ovs-vswitchd.pid").display()))
            .arg(format!("--unixctl={}", d.join("ovs-vswitchd.ctl").display()))
            .arg(format!("--log-file={}", d.join("ovs-vswitchd.log").display()));
        let child = c.spawn().map_err(|e| LabError::new(format!("ovs-vswitchd: {e}")))?;
        self.vswitchd = Some(child);
        let ctl = d.join("ovs-vswitchd.ctl");
        wait_until("ovs-vswitchd to answer", Duration::from_secs(20), || {
            let ok = ctl.exists()
                && run(Command::new("ovs-appctl").arg("-t").arg(&ctl).arg("version"))
                    .map(|o| o.status.success())
                    .unwrap_or(false);
            ok.then_some(())
        })
    }

    /// The "host" namespace the daemons run in; bridge LOCAL ports and host veth ends live here.
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// The temp dir holding the database, logs and sockets.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// ovsdb-server's unix socket.
    pub fn db_sock(&self) -> PathBuf {
        self.dir.path().join("db.sock")
    }

    /// `unix:<db.sock>`, the form ovs-vsctl and our OVSDB client take.
    pub fn db_url(&self) -> String {
        format!("unix:{}", self.db_sock().display())
    }

    /// The OpenFlow management socket of `bridge` (a passive switch endpoint).
    pub fn mgmt_sock(&self, bridge: &str) -> PathBuf {
        self.dir.path().join(format!("{bridge}.mgmt"))
    }

    /// ovs-vswitchd's unixctl socket (absolute: `ovs-appctl -t` needs that, lab pitfall 5).
    pub fn vswitchd_ctl(&self) -> PathBuf {
        self.dir.path().join("ovs-vswitchd.ctl")
    }

    fn vsctl_cmd(&self) -> Command {
        let mut c = Command::new("ovs-vsctl");
        c.arg("--timeout=20").arg(format!("--db={}", self.db_url()));
        c
    }

    /// `ovs-vsctl --db=<this> args…`, checked; returns stdout.
    pub fn vsctl(&self, args: &[&str]) -> Result<String> {
        run_ok(self.vsctl_cmd().args(args))
    }

    /// `ovs-ofctl -O OpenFlow13 args…`, checked (name the target yourself, e.g. `unix:<mgmt>`).
    pub fn ofctl(&self, args: &[&str]) -> Result<String> {
        run_ok(Command::new("ovs-ofctl").args(["-O", "OpenFlow13"]).args(args))
    }

    /// `ovs-ofctl -O OpenFlow13 <cmd> unix:<bridge mgmt> args…`, checked.
    pub fn ofctl_br(&self, cmd: &str, bridge: &str, args: &[&str]) -> Result<String> {
        let target = format!("unix:{}", self.mgmt_sock(bridge).display());
        run_ok(Command::new("ovs-ofctl").args(["-O", "OpenFlow13", cmd, &target]).args(args))
    }

    /// `ovs-appctl -t <vswitchd ctl> args…`, checked.
    pub fn appctl(&self, args: &[&str]) -> Result<String> {
        run_ok(Command::new("ovs-appctl").arg("-t").arg(self.vswitchd_ctl()).args(args))
    }

    /// Adds a userspace bridge (`datapath_type=netdev`, OpenFlow13, fail_mode secure) and waits
    /// for its management socket.
    pub fn add_bridge(&self, name: &str) -> Result<()> {
        self.vsctl(&[
            "add-br",
            name,
            "--",
            "set",
            "bridge",
            name,
            "datapath_type=netdev",
            "protocols=OpenFlow10,OpenFlow13",
            "fail_mode=secure",
        ])?;
        let mgmt = self.mgmt_sock(name);
        wait_until("bridge management socket", Duration::from_secs(10), || mgmt.exists().then_some(()))
    }

    /// An endpoint on `bridge` with address `cidr` (e.g. `198.18.10.1/24`).
    pub fn add_endpoint(&self, bridge: &str, cidr: &str) -> Result<Endpoint> {
        self.add_endpoint_with(bridge, cidr, &EndpointOpts::default())
    }

    /// An endpoint with options; see [`EndpointOpts`].
    pub fn add_endpoint_with(&self, bridge: &str, cidr: &str, opts: &EndpointOpts) -> Result<Endpoint> {
        let ns = Netns::new("e")?;
        let host_if = super::unique("p");
        let mut add = vec!["ip", "link", "add", &host_if, "type", "veth", "peer", "name", "eth0"];
        if let Some(mac) = &opts.mac {
            add.extend(["address", mac.as_str()]);
        }
        add.extend(["netns", ns.name.as_str()]);
        self.ns.run(&add)?;
        self.ns.run(&["ip", "link", "set", &host_if, "up"])?;
        ns.run(&["ip", "addr", "add", cidr, "dev", "eth0"])?;
        if let Some(mtu) = opts.mtu {
            ns.run(&["ip", "link", "set", "eth0", "mtu", &mtu.to_string()])?;
        }
        ns.run(&["ip", "link", "set", "eth0", "up"])?;
        ns.tx_offload_off("eth0")?;
        if let Some(gw) = &opts.gateway {
            ns.run(&["ip", "route", "add", "default", "via", gw])?;
        }
        let mac = ns.run(&["cat", "/sys/class/net/eth0/address"])?;
        let ep = Endpoint {
            ns,
            host_if,
            mac,
            ip: cidr.split('/').next().unwrap_or(cidr).to_string(),
            db_sock: self.db_sock(),
        };
        if !opts.unplugged {
            let mut args = vec!["add-port".to_string(), bridge.to_string(), ep.host_if.clone()];
            if let Some(id) = &opts.iface_id {
                args.extend([
                    "--".into(),
                    "set".into(),
                    "interface".into(),
                    ep.host_if.clone(),
                    format!("external_ids:iface-id={id}"),
                ]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            self.vsctl(&args)?;
        }
        Ok(ep)
    }

    /// pid of ovs-vswitchd (for SIGSTOP / kill tests; the lab still reaps it).
    pub fn vswitchd_pid(&self) -> Option<u32> {
        self.vswitchd.as_ref().map(Child::id)
    }

    /// pid of ovsdb-server.
    pub fn ovsdb_pid(&self) -> Option<u32> {
        self.ovsdb.as_ref().map(Child::id)
    }

    /// Stops ovs-vswitchd (SIGTERM, then SIGKILL) and starts it again on the same database.
    pub fn restart_vswitchd(&mut self) -> Result<()> {
        self.stop_vswitchd();
        self.spawn_vswitchd()
    }

    /// Stops ovs-vswitchd and leaves it stopped (until [`Ovs::restart_vswitchd`]).
    pub fn stop_vswitchd(&mut self) {
        stop_child(&mut self.vswitchd);
    }

    /// Stops ovsdb-server and starts it again on the same database file.
    pub fn restart_ovsdb(&mut self) -> Result<()> {
        self.stop_ovsdb();
        self.spawn_ovsdb()
    }

    /// Stops ovsdb-server and leaves it stopped.
    pub fn stop_ovsdb(&mut self) {
        stop_child(&mut self.ovsdb);
    }

    /// Starts ovsdb-server again after [`Ovs::stop_ovsdb`].
    pub fn start_ovsdb(&mut self) -> Result<()> {
        self.spawn_ovsdb()
    }

    /// The tail of a daemon's log file (`ovs-vswitchd.log`, `ovsdb-server.log`), for diagnostics.
    pub fn log_tail(&self, file: &str, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(file)).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

fn stop_child(slot: &mut Option<Child>) {
    if let Some(mut child) = slot.take() {
        // A SIGSTOPped daemon must be continued to act on SIGTERM.
        // SAFETY: kill(2) on a pid we spawned; no memory-safety preconditions.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGCONT) };
        if pid_alive(child.id()) {
            stop_pid(child.id());
        }
        let _ = child.wait();
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        stop_child(&mut self.vswitchd);
        stop_child(&mut self.ovsdb);
    }
}

impl Endpoint {
    /// The OpenFlow port number OVS gave the host end (waits until it is assigned).
    pub fn ofport(&self, ovs: &Ovs) -> Result<u32> {
        wait_until("ofport assignment", Duration::from_secs(10), || {
            ovs.vsctl(&["get", "interface", &self.host_if, "ofport"])
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|p| *p > 0)
                .map(|p| p as u32)
        })
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        if self.db_sock.exists() {
            let _ = run(Command::new("ovs-vsctl")
                .arg("--timeout=5")
                .arg(format!("--db=unix:{}", self.db_sock.display()))
                .args(["--if-exists", "del-port", &self.host_if]));
        }
        // Deleting the namespace (self.ns, dropped next) removes the veth pair.
    }
}
