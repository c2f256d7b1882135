//! A private Docker engine: its own data-root, exec-root and API socket, the vfs storage driver, no
//! iptables and no default bridge (unless [`DockerdOpts::bip`] asks for one), optionally inside a
//! lab namespace (entered with `nsenter --net` only, so the engine shares the mount namespace and
//! `/run/docker/plugins` with the test). It gets a busybox image (`bb:latest`) made with `docker
//! import` from Debian's busybox-static, and a plugin name unique to the test: its legacy plugin
//! socket is `/run/docker/plugins/<name>.sock`. It can be stopped, `kill -9`ed and started again on
//! the same data ([`Dockerd::stop`], [`Dockerd::kill9`], [`Dockerd::start_again`]).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cmd::{LabError, Result, run, run_ok, stop_pid, stop_pid_within, wait_until};
use super::netns::Netns;

/// The image every lab engine has.
pub const BUSYBOX_IMAGE: &str = "bb:latest";

/// Where Docker discovers legacy plugins.
pub const PLUGIN_DIR: &str = "/run/docker/plugins";

/// A running private dockerd. Dropping it stops the engine (by pid), unmounts what it left under
/// its directories and removes the plugin socket named after this engine's plugin name.
pub struct Dockerd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    plugin_name: String,
    /// The namespace dockerd runs in (by name), for restarts.
    netns: Option<String>,
    opts: DockerdOpts,
}

/// Options for [`Dockerd::start_with`].
#[derive(Debug, Clone, Default)]
pub struct DockerdOpts {
    /// Give the engine Docker's default bridge network with this address (`--bip`, e.g.
    /// `198.18.250.1/24`); without it the engine runs with `--bridge=none`.
    pub bip: Option<String>,
    /// Extra dockerd arguments (e.g. `--default-address-pool base=198.18.224.0/20,size=24`).
    pub extra: Vec<String>,
}

impl Dockerd {
    /// Starts an engine in the root namespace.
    pub fn start() -> Result<Dockerd> {
        Self::start_in(None)
    }

    /// Starts an engine, inside `ns` if given (so containers' veths are created where that
    /// namespace's OVS is), and imports the busybox image.
    pub fn start_in(ns: Option<&Netns>) -> Result<Dockerd> {
        Self::start_with(ns, &DockerdOpts::default())
    }

    /// [`Dockerd::start_in`] with options; see [`DockerdOpts`].
    pub fn start_with(ns: Option<&Netns>, opts: &DockerdOpts) -> Result<Dockerd> {
        let dir = super::temp_dir()?;
        std::fs::create_dir_all(PLUGIN_DIR).map_err(|e| LabError::new(format!("{PLUGIN_DIR}: {e}")))?;
        let mut engine = Dockerd {
            child: None,
            dir,
            plugin_name: super::unique("dk"),
            netns: ns.map(|n| n.name.clone()),
            opts: opts.clone(),
        };
        engine.spawn()?;
        engine.import_busybox()?;
        Ok(engine)
    }

    /// Starts dockerd on this engine's directories (its log appended to) and waits until it
    /// answers.
    fn spawn(&mut self) -> Result<()> {
        let d = self.dir.path();
        let log = File::options()
            .create(true)
            .append(true)
            .open(d.join("dockerd.log"))
            .map_err(|e| LabError::new(format!("dockerd.log: {e}")))?;
        // A killed engine (or its containerd) leaves pid files that the new one would take for a
        // running engine.
        let _ = std::fs::remove_file(d.join("docker.pid"));
        let _ = std::fs::remove_file(d.join("exec/containerd/containerd.pid"));
        let mut c = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}")).arg("dockerd");
                c
            }
            None => Command::new("dockerd"),
        };
        c.arg("--data-root")
            .arg(d.join("root"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .args(["--storage-driver=vfs", "--iptables=false", "--ip6tables=false", "--shutdown-timeout=2"]);
        match &self.opts.bip {
            Some(bip) => c.arg(format!("--bip={bip}")),
            None => c.arg("--bridge=none"),
        };
        c.args(&self.opts.extra);
        c.stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| LabError::new(format!("dockerd.log: {e}")))?)
            .stderr(log);
        self.child = Some(c.spawn().map_err(|e| LabError::new(format!("dockerd: {e}")))?);
        wait_until("dockerd to answer", Duration::from_secs(120), || {
            self.cmd().arg("version").output().ok().filter(|o| o.status.success()).map(|_| ())
        })
        .map_err(|e| LabError::new(format!("{e}\n{}", self.log_tail(20))))
    }

    /// Stops the engine cleanly (SIGTERM: it stops its containers, each within its stop timeout,
    /// 10 s unless `--stop-timeout` says otherwise) and leaves it stopped; its data-root,
    /// containers and networks stay for [`Dockerd::start_again`]. SIGKILL only after 60 s.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_pid_within(c.id(), Duration::from_secs(60));
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// `kill -9` the engine (a crash): its containerd goes with it, container processes and their
    /// shims stay. Leaves it stopped.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = wait_until("dockerd to stop answering", Duration::from_secs(20), || {
            (!self.cmd().arg("version").output().is_ok_and(|o| o.status.success())).then_some(())
        });
        let _ = std::fs::remove_file(self.socket());
    }

    /// Starts the engine again (after [`Dockerd::stop`] or [`Dockerd::kill9`]) on the same
    /// data-root, exec-root, socket and namespace, and waits until it answers.
    pub fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Err(LabError::new("dockerd is still running"));
        }
        self.spawn()
    }

    fn import_busybox(&self) -> Result<()> {
        let img = self.dir.path().join("img");
        let bin = img.join("bin");
        std::fs::create_dir_all(&bin).map_err(|e| LabError::new(format!("image dir: {e}")))?;
        std::fs::copy("/bin/busybox", bin.join("busybox"))
            .map_err(|e| LabError::new(format!("copying /bin/busybox (busybox-static): {e}")))?;
        for applet in [
            "sh", "ip", "ping", "sleep", "udhcpc", "cat", "ifconfig", "route", "echo", "ls", "nc", "wget",
            "hostname", "arp", "true",
        ] {
            std::os::unix::fs::symlink("busybox", bin.join(applet))
                .map_err(|e| LabError::new(format!("image symlink {applet}: {e}")))?;
        }
        let script = format!(
            "tar -C {} -c . | {} -H unix://{} import - {BUSYBOX_IMAGE}",
            img.display(),
            docker_cli(),
            self.socket().display()
        );
        run_ok(Command::new("sh").args(["-c", &script])).map(|_| ())
    }

    /// The engine's API socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// `unix://<socket>`, for `-H` and for bollard.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// The exec-root (container sandboxes live under `<exec-root>/netns`).
    pub fn exec_root(&self) -> PathBuf {
        self.dir.path().join("exec")
    }

    /// The plugin name reserved for this engine's test (`-d NAME --ipam-driver NAME`).
    pub fn plugin_name(&self) -> &str {
        &self.plugin_name
    }

    /// `/run/docker/plugins/<plugin name>.sock`.
    pub fn plugin_socket(&self) -> PathBuf {
        Path::new(PLUGIN_DIR).join(format!("{}.sock", self.plugin_name))
    }

    /// A `docker -H <this engine>` command.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(docker_cli());
        c.arg("-H").arg(self.host());
        c
    }

    /// `docker -H <this engine> args…`, checked; returns stdout.
    pub fn docker(&self, args: &[&str]) -> Result<String> {
        run_ok(self.cmd().args(args))
    }

    /// The pid of dockerd.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// dockerd's whole log (every run of this engine).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// The tail of dockerd's log, for diagnostics.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn unmount_leftovers(&self) {
        let root = self.dir.path().to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| m.starts_with(&root))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = run(Command::new("umount").args(["-l", m]));
        }
    }
}

/// The docker CLI to use: Debian's (matches the engine's API) when present.
fn docker_cli() -> &'static str {
    if Path::new("/usr/bin/docker").exists() { "/usr/bin/docker" } else { "docker" }
}

impl Dockerd {
    /// Removes every container first: containerd shims are built to outlive the engine, so
    /// stopping dockerd alone would leave them (and their mounts) behind.
    fn remove_containers(&self) {
        let ids = self.docker(&["ps", "-aq"]).unwrap_or_default();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let _ = run(self.cmd().args(["rm", "-f"]).args(&ids));
        }
    }

    /// Processes started on behalf of this engine (containerd, shims) that are still alive:
    /// their command line names this engine's directory.
    fn own_processes(&self) -> Vec<u32> {
        let dir = self.dir.path().to_string_lossy().into_owned();
        let mut pids = Vec::new();
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
                let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
                if String::from_utf8_lossy(&raw).contains(&dir) && super::cmd::pid_alive(pid) {
                    pids.push(pid);
                }
            }
        }
        pids
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.remove_containers();
        if let Some(mut c) = self.child.take() {
            stop_pid(c.id());
            let _ = c.wait();
        }
        for pid in self.own_processes() {
            stop_pid(pid);
        }
        self.unmount_leftovers();
        let _ = std::fs::remove_file(self.plugin_socket());
    }
}
