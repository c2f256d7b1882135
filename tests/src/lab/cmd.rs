//! Running commands with a timeout and a clear error, and waiting for conditions.

use std::fmt;
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What went wrong in the lab, with the command, its exit status and its output.
#[derive(Debug)]
pub struct LabError(String);

impl LabError {
    pub fn new(msg: impl Into<String>) -> Self {
        LabError(msg.into())
    }
}

impl fmt::Display for LabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LabError {}

pub type Result<T> = std::result::Result<T, LabError>;

/// How long one lab command may take before it is killed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion (killed after 60 s) and returns its output, whatever its status.
pub fn run(cmd: &mut Command) -> Result<Output> {
    let what = describe(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError::new(format!("{what}: cannot start: {e}")))?;
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(LabError::new(format!("{what}: timed out after {COMMAND_TIMEOUT:?}")));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(LabError::new(format!("{what}: wait: {e}"))),
        }
    }
    child.wait_with_output().map_err(|e| LabError::new(format!("{what}: reading output: {e}")))
}

/// Runs `cmd`, fails unless it exits 0, and returns its stdout (trimmed).
pub fn run_ok(cmd: &mut Command) -> Result<String> {
    let what = describe(cmd);
    let out = run(cmd)?;
    if !out.status.success() {
        return Err(LabError::new(format!(
            "{what}: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Polls `cond` every 20 ms until it returns `Some`, or fails after `timeout` naming `what`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(LabError::new(format!("timed out after {timeout:?} waiting for {what}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| LabError::new(format!("free port: {e}")))?;
    Ok(l.local_addr().map_err(|e| LabError::new(format!("free port: {e}")))?.port())
}

/// Sends SIGTERM to `pid`, waits up to 10 s for it to go, then SIGKILLs it. Only ever called with
/// pids the lab started itself.
pub(crate) fn stop_pid(pid: u32) {
    stop_pid_within(pid, Duration::from_secs(10));
}

/// [`stop_pid`] with a longer (or shorter) grace period before the SIGKILL.
pub(crate) fn stop_pid_within(pid: u32, grace: Duration) {
    let pid = pid as libc::pid_t;
    // SAFETY: kill(2) has no memory-safety preconditions.
    if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
        return;
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !pid_alive(pid as u32) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// True while `pid` exists and is not a zombie.
pub(crate) fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}
