//! [`Relay`]: a TCP port on a lab namespace's loopback forwarded to a service of the root
//! namespace (ZooKeeper on 127.0.0.1), for daemons that run inside the namespace (a managed
//! Docker plugin uses its engine's network namespace).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::cmd::{LabError, Result};
use super::netns::Netns;

/// Forwards `127.0.0.1:<port>` inside a namespace to `target` (root namespace) until dropped.
pub struct Relay {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Binds a listener inside `ns` from this thread (which is switched into it and back).
fn bind_in(ns: &str, port: u16) -> Result<TcpListener> {
    let own = std::fs::File::open("/proc/thread-self/ns/net")
        .map_err(|e| LabError::new(format!("own netns: {e}")))?;
    let there = std::fs::File::open(format!("/run/netns/{ns}"))
        .map_err(|e| LabError::new(format!("netns {ns}: {e}")))?;
    // SAFETY: setns on valid namespace fds; only this thread changes namespace.
    if unsafe { libc::setns(there.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(LabError::new(format!("setns {ns}: {}", std::io::Error::last_os_error())));
    }
    let l = TcpListener::bind(("127.0.0.1", port));
    // SAFETY: as above, back to where the thread was.
    let back = unsafe { libc::setns(own.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(back, 0, "could not return to the root namespace: {}", std::io::Error::last_os_error());
    l.map_err(|e| LabError::new(format!("bind 127.0.0.1:{port} in {ns}: {e}")))
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16384];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

impl Relay {
    /// Starts relaying `127.0.0.1:port` of `ns` to `target`.
    pub fn start(ns: &Netns, port: u16, target: SocketAddr) -> Result<Relay> {
        // A thread of its own does the namespace switch, so no other thread is affected.
        let name = ns.name.clone();
        let bound = std::thread::spawn(move || bind_in(&name, port))
            .join()
            .map_err(|_| LabError::new("relay bind thread panicked"))??;
        bound.set_nonblocking(true).map_err(|e| LabError::new(format!("relay: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match bound.accept() {
                    Ok((inside, _)) => {
                        let _ = inside.set_nonblocking(false);
                        let Ok(outside) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
                            continue;
                        };
                        let (i2, o2) = match (inside.try_clone(), outside.try_clone()) {
                            (Ok(i), Ok(o)) => (i, o),
                            _ => continue,
                        };
                        std::thread::spawn(move || pipe(inside, outside));
                        std::thread::spawn(move || pipe(o2, i2));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(Relay { stop, thread: Some(thread) })
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
