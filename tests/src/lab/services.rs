//! ZooKeeper (one server or an ensemble) and Redis on 127.0.0.1, on free ports, with their data in
//! a temp dir. Each server is a child process, stopped by pid on drop.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::cmd::{LabError, Result, free_port, pid_alive, stop_pid, wait_until};

/// Sends a one-line command to a TCP service and returns what it answered before closing.
fn tcp_ask(port: u16, request: &[u8]) -> Option<String> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(1000))).ok()?;
    s.write_all(request).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while let Ok(n) = s.read(&mut chunk) {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.ends_with(b"\r\n") && request.starts_with(b"PING") {
            break;
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

struct ZkServer {
    child: Option<Child>,
    cfg: PathBuf,
    log: PathBuf,
    client_port: u16,
}

/// A ZooKeeper server or ensemble on loopback (Debian's `zookeeper` package).
pub struct ZooKeeper {
    servers: Vec<ZkServer>,
    _dir: tempfile::TempDir,
}

impl ZooKeeper {
    /// One standalone server.
    pub fn start() -> Result<ZooKeeper> {
        Self::ensemble(1)
    }

    /// `n` servers forming one ensemble (n = 1 is standalone); waits until it serves.
    pub fn ensemble(n: usize) -> Result<ZooKeeper> {
        let dir = super::temp_dir()?;
        let mut peers = Vec::new();
        for _ in 0..n {
            peers.push((free_port()?, free_port()?, free_port()?));
        }
        let mut servers = Vec::new();
        for (i, (client, _, _)) in peers.iter().enumerate() {
            let id = i + 1;
            let data = dir.path().join(format!("zk{id}"));
            std::fs::create_dir_all(&data).map_err(|e| LabError::new(format!("zk data dir: {e}")))?;
            let mut cfg = format!(
                "tickTime=500\ninitLimit=20\nsyncLimit=10\ndataDir={}\nclientPort={client}\n\
                 clientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
                 4lw.commands.whitelist=ruok,srvr,stat,mntr\nmaxSessionTimeout=60000\n",
                data.display()
            );
            if n > 1 {
                std::fs::write(data.join("myid"), format!("{id}\n"))
                    .map_err(|e| LabError::new(format!("zk myid: {e}")))?;
                for (j, (_, quorum, election)) in peers.iter().enumerate() {
                    cfg.push_str(&format!("server.{}=127.0.0.1:{quorum}:{election}\n", j + 1));
                }
            }
            let cfg_path = dir.path().join(format!("zoo{id}.cfg"));
            std::fs::write(&cfg_path, cfg).map_err(|e| LabError::new(format!("zoo.cfg: {e}")))?;
            servers.push(ZkServer {
                child: None,
                cfg: cfg_path,
                log: dir.path().join(format!("zk{id}.log")),
                client_port: *client,
            });
        }
        let mut zk = ZooKeeper { servers, _dir: dir };
        for i in 0..n {
            zk.spawn(i)?;
        }
        for i in 0..n {
            zk.wait_serving(i)?;
        }
        Ok(zk)
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let s = &mut self.servers[i];
        let log = File::create(&s.log).map_err(|e| LabError::new(format!("zk log: {e}")))?;
        let child = Command::new("/usr/share/zookeeper/bin/zkServer.sh")
            .arg("start-foreground")
            .arg(&s.cfg)
            .env("ZOO_LOG_DIR", s.log.parent().unwrap_or(std::path::Path::new("/tmp")))
            .env("JVMFLAGS", "-Xmx192m -XX:+UseSerialGC -XX:TieredStopAtLevel=1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| LabError::new(format!("zk log: {e}")))?)
            .stderr(log)
            .spawn()
            .map_err(|e| LabError::new(format!("zkServer.sh: {e}")))?;
        s.child = Some(child);
        Ok(())
    }

    fn wait_serving(&self, i: usize) -> Result<()> {
        let s = &self.servers[i];
        wait_until("ZooKeeper to serve", Duration::from_secs(60), || {
            let answer = tcp_ask(s.client_port, b"srvr")?;
            answer.contains("Mode:").then_some(())
        })
        .map_err(|e| {
            let log = std::fs::read_to_string(&s.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            LabError::new(format!("{e}\n{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n")))
        })
    }

    /// `127.0.0.1:p1,127.0.0.1:p2,…` for every server.
    pub fn connect_string(&self) -> String {
        self.servers.iter().map(|s| format!("127.0.0.1:{}", s.client_port)).collect::<Vec<_>>().join(",")
    }

    /// The client port of server `i` (0-based).
    pub fn port(&self, i: usize) -> u16 {
        self.servers[i].client_port
    }

    /// Stops server `i` (0-based).
    pub fn stop_server(&mut self, i: usize) {
        if let Some(mut c) = self.servers[i].child.take() {
            if pid_alive(c.id()) {
                stop_pid(c.id());
            }
            let _ = c.wait();
        }
    }

    /// Starts server `i` again (after [`ZooKeeper::stop_server`]) and waits until it serves.
    pub fn start_server(&mut self, i: usize) -> Result<()> {
        self.spawn(i)?;
        self.wait_serving(i)
    }

    /// The pid of server `i`, if running.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.servers[i].child.as_ref().map(Child::id)
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.stop_server(i);
        }
    }
}

/// A redis-server on 127.0.0.1 with persistence off.
pub struct Redis {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Redis {
    /// Starts redis-server and waits until it answers PING.
    pub fn start() -> Result<Redis> {
        let dir = super::temp_dir()?;
        let port = free_port()?;
        let mut r = Redis { child: None, port, dir };
        r.spawn()?;
        Ok(r)
    }

    fn spawn(&mut self) -> Result<()> {
        let d = self.dir.path();
        let conf = d.join("redis.conf");
        std::fs::write(
            &conf,
            format!(
                "bind 127.0.0.1\nport {}\ndir {}\ndaemonize no\nsave \"\"\nappendonly no\n\
                 logfile {}\n",
                self.port,
                d.display(),
                d.join("redis.log").display()
            ),
        )
        .map_err(|e| LabError::new(format!("redis.conf: {e}")))?;
        let child = Command::new("redis-server")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| LabError::new(format!("redis-server: {e}")))?;
        self.child = Some(child);
        let port = self.port;
        wait_until("Redis to answer PING", Duration::from_secs(20), || {
            tcp_ask(port, b"PING\r\n").filter(|a| a.starts_with("+PONG")).map(|_| ())
        })
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (SIGTERM).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_pid(c.id());
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
