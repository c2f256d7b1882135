//! Network namespaces, created with `ip netns add` and deleted on drop.

use std::process::Command;

use super::cmd::{Result, run, run_ok};

/// A named network namespace with loopback up and IPv6 disabled (so only the 198.18.0.0/15
/// addresses a test assigns ever appear). Deleted on drop, which also removes its veths.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `vlt<tag>…`, a namespace whose name is unique to this call.
    pub fn new(tag: &str) -> Result<Netns> {
        Netns::named(super::unique(tag))
    }

    /// Creates a namespace with exactly this name (it must not exist yet).
    pub fn named(name: String) -> Result<Netns> {
        run_ok(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Netns { name };
        ns.run(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ])?;
        ns.run(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A command that runs `program` inside this namespace.
    pub fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `argv` inside the namespace; fails unless it exits 0; returns stdout.
    pub fn run(&self, argv: &[&str]) -> Result<String> {
        let mut c = self.cmd(argv[0]);
        c.args(&argv[1..]);
        run_ok(&mut c)
    }

    /// Runs `argv` inside the namespace and returns whether it exited 0.
    pub fn succeeds(&self, argv: &[&str]) -> bool {
        let mut c = self.cmd(argv[0]);
        c.args(&argv[1..]);
        run(&mut c).map(|o| o.status.success()).unwrap_or(false)
    }

    /// `ping -c count -i 0.2 -W 1 ip` from inside this namespace; true when every reply came.
    pub fn ping(&self, ip: &str, count: u32) -> bool {
        self.succeeds(&["ping", "-n", "-q", "-c", &count.to_string(), "-i", "0.2", "-W", "1", ip])
    }

    /// Pings until one reply comes (up to `tries` single pings), for paths that warm up (ARP,
    /// learning, flow installation).
    pub fn ping_eventually(&self, ip: &str, tries: u32) -> bool {
        (0..tries).any(|_| self.ping(ip, 1))
    }

    /// Turns TX checksum offload off on `dev`: the userspace datapath forwards CHECKSUM_PARTIAL
    /// frames without completing them, which kills TCP (lab pitfall 1).
    pub fn tx_offload_off(&self, dev: &str) -> Result<()> {
        self.run(&["ethtool", "-K", dev, "tx", "off"]).map(|_| ())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run(Command::new("ip").args(["netns", "del", &self.name]));
    }
}
