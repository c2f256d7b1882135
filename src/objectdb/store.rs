//! The [`KvStore`] trait every backend implements, and the change-notification hub they share.
//!
//! A store holds raw byte values under string keys. Each present key carries a [`Version`] whose
//! `stamp` grows with every commit that touches the key (also across delete and re-create), so a
//! notification `(key, stamp)` orders changes per key. The four primitives are:
//! - [`KvStore::mget`]: read many keys at one consistent point in time;
//! - [`KvStore::commit`]: compare-and-set many keys at once (optimistic concurrency): it applies
//!   every write only if every checked key still has the version the caller read;
//! - [`KvStore::scan_prefix`]: list present keys starting with a prefix;
//! - [`KvStore::subscribe`]: a stream of committed changes, per key in commit order; after any gap
//!   (reconnect the backend could not replay, or a slow subscriber) the stream says
//!   [`Notification::Resync`] and the subscriber re-reads what it watches.
//!
//! [`KvStore::wait_visible`] waits until the notification of one's own commit has been delivered
//! to this process's subscribers ("my write is visible to my watchers").

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, broadcast};

/// A boxed, sendable future, the return type of the object-safe [`KvStore`] methods.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Errors of the storage layer. Each names the backend operation and, where one is involved, the
/// key.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded redb file failed.
    #[error("embedded store: {op}: {detail}")]
    Embedded {
        /// The operation that failed.
        op: &'static str,
        /// The redb error text.
        detail: String,
    },
    /// A ZooKeeper request failed.
    #[error("zookeeper: {op}: {source}")]
    ZooKeeper {
        /// The operation that failed.
        op: &'static str,
        /// The client error.
        source: zookeeper_client::Error,
    },
    /// The store could not be reached for the whole retry window (the server is down or has no
    /// quorum): the request was retried across connection loss until the window ran out.
    #[error("{backend}: {op}: store unreachable for {waited_secs} s (last error: {last})")]
    Unreachable {
        /// The backend (`zookeeper`).
        backend: &'static str,
        /// The operation that gave up.
        op: &'static str,
        /// How long it retried.
        waited_secs: u64,
        /// The client's last error.
        last: String,
    },
    /// A Redis command failed.
    #[error("redis: {op}: {source}")]
    Redis {
        /// The operation that failed.
        op: &'static str,
        /// The client error.
        source: redis::RedisError,
    },
    /// A stored record does not have the layout this module writes.
    #[error("key {key:?}: stored record is malformed: {reason}")]
    Malformed {
        /// The key whose record is bad.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The connection broke while a commit was in flight and the store could not tell whether it
    /// was applied.
    #[error("commit {commit_id}: outcome unknown after connection loss")]
    Ambiguous {
        /// The commit id of the write in question.
        commit_id: String,
    },
    /// A key is not acceptable to the backend (empty, or too long).
    #[error("key {key:?} rejected: {reason}")]
    BadKey {
        /// The rejected key.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// The notification of a commit did not arrive within the wait.
    #[error("commit {commit_id}: notification not delivered within {waited:?}")]
    NotVisible {
        /// The commit waited for.
        commit_id: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The configuration selects an unknown backend or lacks a needed key.
    #[error("config: {0}")]
    Config(String),
}

/// The version of one key as read from a store.
///
/// `stamp` is 0 for a key that never existed; it grows on every commit that writes the key.
/// `token` is backend-private compare-and-set data (the ZooKeeper data version); callers only
/// pass versions back to [`KvStore::commit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Version {
    /// Monotonic per-key commit stamp (0 = never existed).
    pub stamp: u64,
    /// Backend-private compare-and-set token.
    pub token: i64,
}

impl Version {
    /// The version of a key that never existed.
    pub const ABSENT: Version = Version { stamp: 0, token: -1 };
}

/// One key as read: its version and value (`None` = absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Version to pass back in [`WriteSet::checks`].
    pub version: Version,
    /// The stored bytes, `None` if the key is absent.
    pub value: Option<Bytes>,
}

/// An atomic compare-and-set over many keys.
#[derive(Clone, Debug, Default)]
pub struct WriteSet {
    /// Keys that must still have these versions for the commit to apply. Every written key must
    /// be checked too (blind writes are not supported).
    pub checks: Vec<(String, Version)>,
    /// New values; `None` deletes the key.
    pub writes: Vec<(String, Option<Bytes>)>,
}

/// A fresh random commit id (32 hex digits).
pub fn new_commit_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Outcome of [`KvStore::commit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitResult {
    /// Everything was written.
    Committed(CommitReceipt),
    /// A checked key had changed; nothing was written.
    Conflict,
}

/// Proof of a commit, for [`KvStore::wait_visible`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitReceipt {
    /// The commit id carried by its notification.
    pub commit_id: String,
    /// The keys written.
    pub keys: Vec<String>,
}

/// One changed key in a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyChange {
    /// The key.
    pub key: String,
    /// The commit stamp (the key's new [`Version::stamp`], or the commit's stamp for deletes).
    pub stamp: u64,
    /// Whether the commit deleted the key.
    pub deleted: bool,
}

/// What a subscriber receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    /// One commit's changes.
    Changed {
        /// The commit id.
        commit_id: String,
        /// Every key the commit wrote.
        changes: Vec<KeyChange>,
    },
    /// Changes may have been missed; re-read the watched keys.
    Resync {
        /// Why (reconnect, session expiry, slow subscriber).
        reason: String,
    },
}

/// A storage backend. Object safe: use it as `Arc<dyn KvStore>`.
pub trait KvStore: Send + Sync + 'static {
    /// Backend name for logs and figures: `embedded`, `zookeeper` or `redis`.
    fn backend(&self) -> &'static str;
    /// Reads `keys` at one consistent point in time.
    fn mget<'a>(&'a self, keys: &'a [String]) -> BoxFut<'a, Result<Vec<Entry>, StoreError>>;
    /// Applies `ws` atomically if every check still holds.
    fn commit(&self, ws: WriteSet) -> BoxFut<'_, Result<CommitResult, StoreError>>;
    /// Lists present keys that start with `prefix`, sorted.
    fn scan_prefix<'a>(&'a self, prefix: &'a str) -> BoxFut<'a, Result<Vec<String>, StoreError>>;
    /// Subscribes to committed changes of every key.
    fn subscribe(&self) -> Subscription;
    /// Waits until the notification of `receipt` reached this process's subscribers.
    fn wait_visible<'a>(
        &'a self,
        receipt: &'a CommitReceipt,
        timeout: Duration,
    ) -> BoxFut<'a, Result<(), StoreError>>;
}

/// A subscriber's end of the notification stream.
pub struct Subscription {
    rx: broadcast::Receiver<Notification>,
}

impl Subscription {
    /// The next notification; `None` once the store is gone. A subscriber too slow to keep up
    /// receives [`Notification::Resync`].
    pub async fn recv(&mut self) -> Option<Notification> {
        match self.rx.recv().await {
            Ok(n) => Some(n),
            Err(broadcast::error::RecvError::Lagged(n)) => {
                Some(Notification::Resync { reason: format!("subscriber lagged by {n} notifications") })
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

/// How many delivered commit ids [`NotifyHub`] remembers for [`KvStore::wait_visible`].
const DELIVERED_MEMORY: usize = 65_536;
/// Capacity of the broadcast channel before slow subscribers lag.
const CHANNEL_CAPACITY: usize = 16_384;

/// The in-process fan-out every backend feeds: subscribers, and waiters on own commits.
pub(crate) struct NotifyHub {
    tx: broadcast::Sender<Notification>,
    delivered: Mutex<Delivered>,
    notify: Notify,
}

#[derive(Default)]
struct Delivered {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl NotifyHub {
    pub(crate) fn new() -> Self {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        NotifyHub { tx, delivered: Mutex::new(Delivered::default()), notify: Notify::new() }
    }

    pub(crate) fn subscribe(&self) -> Subscription {
        Subscription { rx: self.tx.subscribe() }
    }

    /// Delivers one notification to every subscriber, then wakes waiters of its commit.
    pub(crate) fn publish(&self, n: Notification) {
        let id = match &n {
            Notification::Changed { commit_id, .. } => Some(commit_id.clone()),
            Notification::Resync { .. } => None,
        };
        // No subscribers is fine: the send error only says nobody listens.
        let _ = self.tx.send(n);
        if let Some(id) = id {
            let mut d = self.delivered.lock().unwrap_or_else(|e| e.into_inner());
            if d.set.insert(id.clone()) {
                d.order.push_back(id);
            }
            while d.order.len() > DELIVERED_MEMORY {
                if let Some(old) = d.order.pop_front() {
                    d.set.remove(&old);
                }
            }
            drop(d);
            self.notify.notify_waiters();
        }
    }

    fn is_delivered(&self, commit_id: &str) -> bool {
        self.delivered.lock().unwrap_or_else(|e| e.into_inner()).set.contains(commit_id)
    }

    /// Waits until `commit_id` was published, at most `timeout`.
    pub(crate) async fn wait_delivered(&self, commit_id: &str, timeout: Duration) -> Result<(), StoreError> {
        let wait = async {
            loop {
                let notified = self.notify.notified();
                if self.is_delivered(commit_id) {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| StoreError::NotVisible { commit_id: commit_id.to_string(), waited: timeout })
    }
}

/// The notification message format shared by the ZooKeeper change log and Redis pub/sub
/// (JSON): `{"id": "<commit id>", "changes": [["<key>", <stamp>, <deleted>], ...]}`. ZooKeeper
/// writes stamp 0 and the reader substitutes the log node's creation zxid.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct WireNotification {
    pub(crate) id: String,
    pub(crate) changes: Vec<(String, u64, bool)>,
}

impl WireNotification {
    pub(crate) fn into_notification(self, stamp_override: Option<u64>) -> Notification {
        Notification::Changed {
            commit_id: self.id,
            changes: self
                .changes
                .into_iter()
                .map(|(key, stamp, deleted)| KeyChange {
                    key,
                    stamp: stamp_override.unwrap_or(stamp),
                    deleted,
                })
                .collect(),
        }
    }
}
