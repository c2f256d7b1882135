//! Finding what the lab left behind: namespaces, links, processes, plugin sockets, mounts and temp
//! dirs carrying the lab's prefixes. The suite ends with a test that asserts [`scan`] is empty;
//! `lab-sweep --clean` removes leftovers of an interrupted run (a test killed by a timeout cannot
//! run its `Drop`s).

use std::process::Command;

use super::cmd::{run, run_ok, stop_pid};
use super::{LAB_DIR_PREFIX, LAB_PREFIX};

/// One leftover, described for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    Netns(String),
    Link(String),
    Process { pid: u32, cmdline: String },
    PluginSocket(String),
    Mount(String),
    TempDir(String),
}

fn lab_dirs() -> Vec<String> {
    let tmp = std::env::temp_dir();
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&tmp) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(LAB_DIR_PREFIX) {
                out.push(e.path().to_string_lossy().into_owned());
            }
        }
    }
    out
}

/// Everything the lab created that still exists.
pub fn scan() -> Vec<Leftover> {
    let mut found = Vec::new();
    if let Ok(list) = run_ok(Command::new("ip").args(["netns", "list"])) {
        for line in list.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if name.starts_with(LAB_PREFIX) {
                found.push(Leftover::Netns(name.to_string()));
            }
        }
    }
    if let Ok(list) = run_ok(Command::new("ip").args(["-o", "link", "show"])) {
        for line in list.lines() {
            let name = line.split(':').nth(1).unwrap_or("").trim();
            let name = name.split('@').next().unwrap_or(name);
            if name.starts_with(LAB_PREFIX) {
                found.push(Leftover::Link(name.to_string()));
            }
        }
    }
    let me = std::process::id();
    let marker = format!("/{LAB_DIR_PREFIX}");
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if pid == me {
                continue;
            }
            let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmdline.contains(&marker) && super::cmd::pid_alive(pid) {
                found.push(Leftover::Process { pid, cmdline: cmdline.trim().to_string() });
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(super::docker::PLUGIN_DIR) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(LAB_PREFIX) {
                found.push(Leftover::PluginSocket(e.path().to_string_lossy().into_owned()));
            }
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    for m in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)) {
        if m.contains(&marker) {
            found.push(Leftover::Mount(m.to_string()));
        }
    }
    for d in lab_dirs() {
        found.push(Leftover::TempDir(d));
    }
    found
}

/// Removes every leftover [`scan`] finds: processes first (they hold the rest), then mounts,
/// namespaces, links, sockets and dirs. Returns what it removed.
pub fn sweep() -> Vec<Leftover> {
    let found = scan();
    for l in &found {
        if let Leftover::Process { pid, .. } = l {
            // SAFETY: kill(2); a stopped process must be continued to act on SIGTERM.
            unsafe { libc::kill(*pid as libc::pid_t, libc::SIGCONT) };
            stop_pid(*pid);
        }
    }
    let mut mounts: Vec<&String> =
        found.iter().filter_map(|l| if let Leftover::Mount(m) = l { Some(m) } else { None }).collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        let _ = run(Command::new("umount").args(["-l", m]));
    }
    for l in &found {
        match l {
            Leftover::Netns(n) => {
                let _ = run(Command::new("ip").args(["netns", "del", n]));
            }
            Leftover::Link(n) => {
                let _ = run(Command::new("ip").args(["link", "del", n]));
            }
            Leftover::PluginSocket(p) => {
                let _ = std::fs::remove_file(p);
            }
            Leftover::TempDir(d) => {
                let _ = std::fs::remove_dir_all(d);
            }
            Leftover::Process { .. } | Leftover::Mount(_) => {}
        }
    }
    found
}
