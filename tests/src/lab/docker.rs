//! A private Docker engine: its own data-root, exec-root and API socket, the vfs storage driver, no
//! iptables and no default bridge, optionally inside a lab namespace (entered with `nsenter --net`
//! only, so the engine shares the mount namespace and `/run/docker/plugins` with the test). It gets
//! a busybox image (`bb:latest`) made with `docker import` from Debian's busybox-static, and a
//! plugin name unique to the test: its legacy plugin socket is `/run/docker/plugins/<name>.sock`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cmd::{LabError, Result, run, run_ok, stop_pid, wait_until};
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
}

impl Dockerd {
    /// Starts an engine in the root namespace.
    pub fn start() -> Result<Dockerd> {
        Self::start_in(None)
    }

    /// Starts an engine, inside `ns` if given (so containers' veths are created where that
    /// namespace's OVS is), and imports the busybox image.
    pub fn start_in(ns: Option<&Netns>) -> Result<Dockerd> {
        Self::start_with(ns, &[])
    }

    /// [`Dockerd::start_in`] with extra dockerd arguments (`--default-address-pool …`).
    pub fn start_with(ns: Option<&Netns>, extra: &[&str]) -> Result<Dockerd> {
        let dir = super::temp_dir()?;
        let d = dir.path();
        std::fs::create_dir_all(PLUGIN_DIR).map_err(|e| LabError::new(format!("{PLUGIN_DIR}: {e}")))?;
        let log =
            File::create(d.join("dockerd.log")).map_err(|e| LabError::new(format!("dockerd.log: {e}")))?;
        let mut c = match ns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{}", ns.name)).arg("dockerd");
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
            .args([
                "--storage-driver=vfs",
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--shutdown-timeout=2",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| LabError::new(format!("dockerd.log: {e}")))?)
            .stderr(log);
        let child = c.spawn().map_err(|e| LabError::new(format!("dockerd: {e}")))?;
        let engine = Dockerd { child: Some(child), dir, plugin_name: super::unique("dk") };
        wait_until("dockerd to answer", Duration::from_secs(60), || {
            engine.cmd().arg("version").output().ok().filter(|o| o.status.success()).map(|_| ())
        })
        .map_err(|e| LabError::new(format!("{e}\n{}", engine.log_tail(20))))?;
        engine.import_busybox()?;
        Ok(engine)
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
