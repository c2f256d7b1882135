//! Background removal of veth pairs.
//!
//! Deleting a network device makes the kernel wait for RCU grace periods before the
//! `RTM_DELLINK` request returns: 15–40 ms per veth on this machine kind, most of a
//! `DeleteEndpoint`. That wait happens inside the `sendmsg` of the netlink socket, so on the
//! daemon's shared socket it would also stall a tokio worker thread and every other netlink
//! request queued behind it. [`Reaper`] moves it off the call path: a few dedicated OS threads,
//! each with its own netlink socket (opened in the plumbing namespace) and a one-thread runtime,
//! delete the links handed to them and report each result on a oneshot channel.
//!
//! A job names the device by interface index *and* name: the thread deletes it only when the
//! index still carries that name, so a pair re-created under the same name meanwhile is never
//! touched. A device already gone counts as removed.
//!
//! Crash safety is the caller's: `DeleteEndpoint` records the pending removal in the port's
//! DockerInfo (state `deleting`) before handing the job over, and the daemon's startup repair
//! finishes what a crash interrupted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use tokio::sync::oneshot;

use super::plumbing::{PlumbError, is_missing, netlink_in};

/// One device to delete.
struct Job {
    index: u32,
    name: String,
    done: oneshot::Sender<Result<(), PlumbError>>,
}

/// The deleting threads; dropping the reaper lets them finish their queue and end.
pub struct Reaper {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    pending: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Reaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reaper").field("pending", &self.pending()).finish()
    }
}

impl Reaper {
    /// Starts `threads` deleting threads whose netlink sockets live in `netns` (`None`: ours).
    /// Fails when a socket cannot be opened.
    pub fn start(threads: usize, netns: Option<&Path>) -> Result<Reaper, PlumbError> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let pending = Arc::new(AtomicUsize::new(0));
        for n in 0..threads.max(1) {
            let (ready_tx, ready_rx) = mpsc::channel();
            let rx = rx.clone();
            let pending = pending.clone();
            let ns: Option<PathBuf> = netns.map(Path::to_path_buf);
            std::thread::Builder::new()
                .name(format!("vlcp-reaper-{n}"))
                .spawn(move || run(rx, pending, ns, ready_tx))
                .map_err(|e| PlumbError::Namespace {
                    path: netns.map(Path::to_path_buf).unwrap_or_default(),
                    reason: format!("reaper thread: {e}"),
                })?;
            ready_rx.recv().unwrap_or_else(|_| {
                Err(PlumbError::Namespace { path: PathBuf::new(), reason: "reaper thread ended".into() })
            })?;
        }
        Ok(Reaper { jobs: Mutex::new(Some(tx)), pending })
    }

    /// Queues the deletion of device `index` named `name`; the receiver gets the result.
    pub fn reap(&self, index: u32, name: &str) -> oneshot::Receiver<Result<(), PlumbError>> {
        let (done, rx) = oneshot::channel();
        let job = Job { index, name: name.to_string(), done };
        let guard = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref() {
            Some(tx) => {
                self.pending.fetch_add(1, Ordering::SeqCst);
                if let Err(mpsc::SendError(job)) = tx.send(job) {
                    self.pending.fetch_sub(1, Ordering::SeqCst);
                    let _ = job.done.send(Err(stopped(&job.name)));
                }
            }
            None => {
                let _ = job.done.send(Err(stopped(&job.name)));
            }
        }
        rx
    }

    /// Devices queued or being deleted.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// Waits until nothing is pending, at most `timeout`; returns what is still pending.
    pub async fn settle(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.pending();
            if n == 0 || Instant::now() >= deadline {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        // Closing the channel ends the threads once the queue is empty.
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

fn stopped(name: &str) -> PlumbError {
    PlumbError::Namespace { path: PathBuf::new(), reason: format!("reaper stopped before deleting {name}") }
}

fn run(
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    pending: Arc<AtomicUsize>,
    netns: Option<PathBuf>,
    ready: mpsc::Sender<Result<(), PlumbError>>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(PlumbError::Namespace {
                path: netns.clone().unwrap_or_default(),
                reason: format!("reaper runtime: {e}"),
            }));
            return;
        }
    };
    let links = match rt.block_on(async { netlink_in(netns.as_deref()) }) {
        Ok(h) => h,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        let r = rt.block_on(delete(&links, job.index, &job.name));
        pending.fetch_sub(1, Ordering::SeqCst);
        let _ = job.done.send(r);
    }
}

/// Deletes device `index` if it is still named `name`.
async fn delete(links: &rtnetlink::Handle, index: u32, name: &str) -> Result<(), PlumbError> {
    let mut s = links.link().get().match_index(index).execute();
    let current = match s.try_next().await {
        Ok(Some(m)) => m.attributes.iter().find_map(|a| match a {
            rtnetlink::packet_route::link::LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        }),
        Ok(None) => None,
        Err(e) if is_missing(&e) => None,
        Err(e) => return Err(PlumbError::Netlink { what: format!("get link {name}"), source: e }),
    };
    if current.as_deref() != Some(name) {
        return Ok(());
    }
    match links.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(e) if is_missing(&e) => Ok(()),
        Err(e) => Err(PlumbError::Netlink { what: format!("delete link {name}"), source: e }),
    }
}
