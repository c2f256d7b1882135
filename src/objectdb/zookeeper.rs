//! The ZooKeeper backend (`zookeeper-client`), for a cluster of hosts sharing an ensemble.
//!
//! Tree (under the connect string's chroot):
//! - `/vlcp/kvdb/<zkescape(key)>`: one znode per key, never removed. Data is `v` + value bytes
//!   for a present key and empty for a deleted one. A key's stamp is the znode's `mzxid` (the
//!   zxid of the commit that last wrote it); its compare-and-set token is the data version.
//!   `zkescape` maps `$` → `$_`, `/` → `$+`, `\` → `$$` (the original's scheme).
//! - `/vlcp/log/c-<seq>`: the change log. Every commit is one `multi` that checks the versions
//!   of all keys read, writes the keys, and creates one persistent sequential log node whose data
//!   is `{"id": commit id, "changes": [[key, 0, deleted], …]}`; the node's `czxid` is the
//!   commit's stamp. Committers trim nodes more than [`LOG_RETENTION`] sequence numbers old.
//!
//! Reads are one `multi` read of all keys, served atomically by one server. The notifier task
//! lists the log with a child watch and publishes every node newer than the last one it
//! processed, in sequence order (= commit order). After a reconnect or a session expiry (the
//! store then opens a new session) it resumes from the last processed node, so no commit is
//! missed; only if that node was trimmed meanwhile does it publish a
//! [`Notification::Resync`]. A commit whose reply was lost with the connection is resolved by
//! looking for its id in the log (after `sync`).

use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Mutex as AsyncMutex;
use zookeeper_client as zk;

use super::store::{
    BoxFut, CommitReceipt, CommitResult, Entry, KvStore, Notification, NotifyHub, StoreError, Subscription,
    Version, WireNotification, WriteSet, new_commit_id,
};

const KVDB: &str = "/vlcp/kvdb";
const LOG: &str = "/vlcp/log";
const LOG_NODE: &str = "/vlcp/log/c-";
/// Log nodes older than this many sequence numbers are trimmed.
pub const LOG_RETENTION: i64 = 20_000;
/// Trim the log every this many sequence numbers.
const TRIM_EVERY: i64 = 256;
/// Reads retried across connection loss for at most this long.
const RETRY_WINDOW: Duration = Duration::from_secs(60);
/// Log nodes read per multi request.
const LOG_BATCH: usize = 64;

/// Escapes a key into one znode name.
pub fn zk_escape(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        match c {
            '$' => out.push_str("$_"),
            '/' => out.push_str("$+"),
            '\\' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`zk_escape`].
pub fn zk_unescape(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        if c == '$' {
            out.push(match chars.next()? {
                '_' => '$',
                '+' => '/',
                '$' => '\\',
                _ => return None,
            });
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn key_path(key: &str) -> Result<String, StoreError> {
    if key.is_empty() || key == "." || key == ".." {
        return Err(StoreError::BadKey { key: key.into(), reason: "not a valid znode name" });
    }
    Ok(format!("{KVDB}/{}", zk_escape(key)))
}

fn zerr(op: &'static str) -> impl FnOnce(zk::Error) -> StoreError {
    move |source| StoreError::ZooKeeper { op, source }
}

fn log_seq(name: &str) -> Option<i64> {
    name.rsplit('/').next()?.strip_prefix("c-")?.parse().ok()
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn sequential() -> zk::CreateOptions<'static> {
    zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all())
}

/// Whether a request failure means "the connection broke" (retry) rather than a real answer.
/// `Custom` carries the socket error (e.g. connection reset) of a broken connection.
fn is_transient(e: &zk::Error) -> bool {
    matches!(
        e,
        zk::Error::ConnectionLoss
            | zk::Error::Custom(_)
            | zk::Error::Throttled
            | zk::Error::SessionExpired
            | zk::Error::ClientClosed
            | zk::Error::Timeout
            | zk::Error::SessionMoved
            | zk::Error::NoHosts
    )
}

struct Shared {
    connect: String,
    session_timeout: Duration,
    client: RwLock<zk::Client>,
    reconnect: AsyncMutex<()>,
    hub: NotifyHub,
}

/// The ZooKeeper-backed store.
pub struct ZkStore {
    shared: Arc<Shared>,
    notifier: tokio::task::JoinHandle<()>,
}

impl Drop for ZkStore {
    fn drop(&mut self) {
        self.notifier.abort();
    }
}

async fn open_client(connect: &str, session_timeout: Duration) -> Result<zk::Client, StoreError> {
    zk::Client::connector()
        .with_session_timeout(session_timeout)
        .connect(connect)
        .await
        .map_err(zerr("connect"))
}

impl Shared {
    fn client(&self) -> zk::Client {
        self.client.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces an expired or closed session with a new one.
    async fn recover(&self) -> Result<(), StoreError> {
        let _g = self.reconnect.lock().await;
        let state = self.client().state();
        if !state.is_terminated() {
            return Ok(());
        }
        tracing::warn!(?state, "zookeeper session ended; opening a new one");
        let c = open_client(&self.connect, self.session_timeout).await?;
        *self.client.write().unwrap_or_else(|e| e.into_inner()) = c;
        Ok(())
    }

    /// Runs a read-only request, retrying across connection loss and session expiry.
    async fn retrying<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        F: Fn(zk::Client) -> Fut,
        Fut: Future<Output = Result<T, zk::Error>>,
    {
        let start = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            match f(self.client()).await {
                Ok(v) => return Ok(v),
                Err(e) if is_transient(&e) && start.elapsed() < RETRY_WINDOW => {
                    tracing::debug!(op, error = %e, "zookeeper request retried");
                    if let Err(re) = self.recover().await {
                        tracing::debug!(error = %re, "zookeeper reconnect failed");
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                // The window ran out on a connection problem: say so, not just the last symptom
                // ("session expired" after a long outage reads like a client bug).
                Err(e) if is_transient(&e) => {
                    return Err(StoreError::Unreachable {
                        backend: "zookeeper",
                        op,
                        waited_secs: start.elapsed().as_secs(),
                        last: e.to_string(),
                    });
                }
                Err(e) => return Err(zerr(op)(e)),
            }
        }
    }

    async fn mget(&self, keys: &[String]) -> Result<Vec<Entry>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let paths = keys.iter().map(|k| key_path(k)).collect::<Result<Vec<_>, _>>()?;
        let results = self
            .retrying("mget", |c| {
                let paths = &paths;
                async move {
                    let mut r = c.new_multi_reader();
                    for p in paths {
                        r.add_get_data(p)?;
                    }
                    r.commit().await
                }
            })
            .await?;
        keys.iter()
            .zip(results)
            .map(|(key, r)| match r {
                zk::MultiReadResult::Data { data, stat } => Ok(Entry {
                    version: Version { stamp: stat.mzxid as u64, token: stat.version as i64 },
                    value: match data.split_first() {
                        None => None,
                        Some((b'v', rest)) => Some(Bytes::copy_from_slice(rest)),
                        Some(_) => {
                            return Err(StoreError::Malformed {
                                key: key.clone(),
                                reason: "znode data lacks the 'v' marker".into(),
                            });
                        }
                    },
                }),
                zk::MultiReadResult::Error { err: zk::Error::NoNode } => {
                    Ok(Entry { version: Version::ABSENT, value: None })
                }
                zk::MultiReadResult::Error { err } => Err(zerr("mget")(err)),
                _ => Err(StoreError::Malformed {
                    key: key.clone(),
                    reason: "multi read answered with something other than data".into(),
                }),
            })
            .collect()
    }

    async fn commit(self: &Arc<Self>, ws: WriteSet) -> Result<CommitResult, StoreError> {
        if let Some((k, _)) = ws.writes.iter().find(|(k, _)| !ws.checks.iter().any(|(c, _)| c == k)) {
            return Err(StoreError::BadKey { key: k.clone(), reason: "written without a version check" });
        }
        let commit_id = new_commit_id();
        let wire = WireNotification {
            id: commit_id.clone(),
            changes: ws.writes.iter().map(|(k, v)| (k.clone(), 0, v.is_none())).collect(),
        };
        let log_data = serde_json::to_vec(&wire).expect("notification encodes");
        let mut ops: Vec<(String, Option<Vec<u8>>, Version)> = Vec::new();
        for (key, version) in &ws.checks {
            let data = ws.writes.iter().find(|(k, _)| k == key).map(|(_, v)| match v {
                Some(v) => [b"v".as_slice(), v].concat(),
                None => Vec::new(),
            });
            ops.push((key_path(key)?, data, *version));
        }
        let client = self.client();
        let mut w = client.new_multi_writer();
        let build = (|| -> Result<(), zk::Error> {
            for (path, data, version) in &ops {
                match (data, version.token) {
                    (Some(d), -1) => w.add_create(path, d, &persistent())?,
                    (Some(d), t) => w.add_set_data(path, d, Some(t as i32))?,
                    // Read-only check that the key still does not exist: create + delete.
                    (None, -1) => {
                        w.add_create(path, b"", &persistent())?;
                        w.add_delete(path, None)?;
                    }
                    (None, t) => w.add_check_version(path, t as i32)?,
                }
            }
            w.add_create(LOG_NODE, &log_data, &sequential())
        })();
        build.map_err(zerr("build multi"))?;
        let receipt = CommitReceipt {
            commit_id: commit_id.clone(),
            keys: ws.writes.iter().map(|(k, _)| k.clone()).collect(),
        };
        match w.commit().await {
            Ok(results) => {
                if let Some(zk::MultiWriteResult::Create { path, .. }) = results.last()
                    && let Some(seq) = log_seq(path)
                    && seq % TRIM_EVERY == 0
                {
                    tokio::spawn(trim_log(Arc::downgrade(self), seq - LOG_RETENTION));
                }
                Ok(CommitResult::Committed(receipt))
            }
            Err(zk::MultiWriteError::OperationFailed {
                source: zk::Error::BadVersion | zk::Error::NodeExists | zk::Error::NoNode,
                ..
            }) => Ok(CommitResult::Conflict),
            Err(zk::MultiWriteError::OperationFailed { source, .. }) => Err(zerr("commit")(source)),
            Err(zk::MultiWriteError::RequestFailed { source }) if is_transient(&source) => {
                let floor = ws.checks.iter().map(|(_, v)| v.stamp).max().unwrap_or(0);
                if self.find_in_log(&commit_id, floor).await? {
                    Ok(CommitResult::Committed(receipt))
                } else {
                    // Not applied: the caller re-reads and retries like any conflict.
                    Ok(CommitResult::Conflict)
                }
            }
            Err(zk::MultiWriteError::RequestFailed { source }) => Err(zerr("commit")(source)),
        }
    }

    /// After a lost reply: is `commit_id` in the log? Scans newest first down to `floor` (the
    /// newest stamp the commit read; the commit itself would be newer).
    async fn find_in_log(&self, commit_id: &str, floor: u64) -> Result<bool, StoreError> {
        let children = self
            .retrying("resolve commit", |c| async move {
                c.sync(LOG).await?;
                c.list_children(LOG).await
            })
            .await?;
        let mut seqs: Vec<(i64, String)> =
            children.into_iter().filter_map(|n| log_seq(&n).map(|s| (s, n))).collect();
        seqs.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
        let mut oldest_seen = u64::MAX;
        for chunk in seqs.chunks(LOG_BATCH) {
            for (data, stat) in self.read_log_nodes(chunk).await?.into_iter().flatten() {
                oldest_seen = oldest_seen.min(stat.czxid as u64);
                if let Ok(n) = serde_json::from_slice::<WireNotification>(&data)
                    && n.id == commit_id
                {
                    return Ok(true);
                }
            }
            if oldest_seen <= floor {
                return Ok(false);
            }
        }
        if floor == 0 || oldest_seen <= floor {
            Ok(false)
        } else {
            Err(StoreError::Ambiguous { commit_id: commit_id.into() })
        }
    }

    /// Reads log nodes; `None` for nodes trimmed meanwhile.
    async fn read_log_nodes(
        &self,
        names: &[(i64, String)],
    ) -> Result<Vec<Option<(Vec<u8>, zk::Stat)>>, StoreError> {
        let results = self
            .retrying("read log", |c| async move {
                let mut r = c.new_multi_reader();
                for (_, n) in names {
                    r.add_get_data(&format!("{LOG}/{n}"))?;
                }
                r.commit().await
            })
            .await?;
        Ok(results
            .into_iter()
            .map(|r| match r {
                zk::MultiReadResult::Data { data, stat } => Some((data, stat)),
                _ => None,
            })
            .collect())
    }

    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let names = self.retrying("scan", |c| async move { c.list_children(KVDB).await }).await?;
        let mut keys: Vec<String> =
            names.iter().filter_map(|n| zk_unescape(n)).filter(|k| k.starts_with(prefix)).collect();
        keys.sort();
        let entries = self.mget(&keys).await?;
        Ok(keys.into_iter().zip(entries).filter(|(_, e)| e.value.is_some()).map(|(k, _)| k).collect())
    }
}

async fn trim_log(shared: Weak<Shared>, below: i64) {
    let Some(s) = shared.upgrade() else { return };
    let Ok(children) = s.client().list_children(LOG).await else { return };
    let client = s.client();
    for name in children {
        if log_seq(&name).is_some_and(|q| q < below) {
            // Another committer may trim the same node; NoNode is fine.
            let _ = client.delete(&format!("{LOG}/{name}"), None).await;
        }
    }
}

/// Follows the change log and publishes each commit to the hub, in log order.
async fn notifier(shared: Weak<Shared>, mut last: Option<i64>) {
    let mut pause = Duration::from_millis(20);
    loop {
        let Some(s) = shared.upgrade() else { return };
        let client = s.client();
        let listed = client.get_and_watch_children(LOG).await;
        let (children, watcher) = match listed {
            Ok((children, _stat, watcher)) => (children, watcher),
            Err(e) => {
                tracing::debug!(error = %e, "zookeeper notifier: list failed");
                if is_transient(&e) {
                    let _ = s.recover().await;
                }
                drop(s);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
                continue;
            }
        };
        pause = Duration::from_millis(20);
        let mut seqs: Vec<(i64, String)> =
            children.into_iter().filter_map(|n| log_seq(&n).map(|q| (q, n))).collect();
        seqs.sort_unstable();
        if let (Some(l), Some((first, _))) = (last, seqs.first())
            && *first > l
        {
            s.hub.publish(Notification::Resync {
                reason: "zookeeper change log trimmed past this subscriber".into(),
            });
        }
        let fresh: Vec<(i64, String)> =
            seqs.into_iter().filter(|(q, _)| last.is_none_or(|l| *q > l)).collect();
        let mut failed = false;
        for chunk in fresh.chunks(LOG_BATCH) {
            match s.read_log_nodes(chunk).await {
                Ok(nodes) => {
                    for ((q, name), node) in chunk.iter().zip(nodes) {
                        match node.map(|(d, st)| (serde_json::from_slice::<WireNotification>(&d), st)) {
                            Some((Ok(n), stat)) => {
                                s.hub.publish(n.into_notification(Some(stat.czxid as u64)))
                            }
                            Some((Err(e), _)) => {
                                tracing::warn!(%name, error = %e, "zookeeper notifier: bad log node")
                            }
                            None => s.hub.publish(Notification::Resync {
                                reason: format!("log node {name} trimmed before it was read"),
                            }),
                        }
                        last = Some(*q);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "zookeeper notifier: read failed");
                    failed = true;
                    break;
                }
            }
        }
        if failed || !fresh.is_empty() {
            continue;
        }
        drop(s);
        // Fires on a new child, and also on session expiry (then listing fails and we recover).
        watcher.changed().await;
    }
}

impl ZkStore {
    /// Connects to `connect` (`host:port,host:port[/chroot]`) with a 10 s session timeout.
    pub async fn connect(connect: &str) -> Result<Self, StoreError> {
        Self::connect_with_timeout(connect, Duration::from_secs(10)).await
    }

    /// Connects with an explicit session timeout.
    pub async fn connect_with_timeout(connect: &str, session_timeout: Duration) -> Result<Self, StoreError> {
        if let Some(i) = connect.find('/') {
            let root = open_client(&connect[..i], session_timeout).await?;
            root.mkdir(&connect[i..], &persistent()).await.map_err(zerr("create chroot"))?;
        }
        let client = open_client(connect, session_timeout).await?;
        for dir in [KVDB, LOG] {
            client.mkdir(dir, &persistent()).await.map_err(zerr("create tree"))?;
        }
        let children = client.list_children(LOG).await.map_err(zerr("list log"))?;
        let last = children.iter().filter_map(|n| log_seq(n)).max();
        let shared = Arc::new(Shared {
            connect: connect.to_string(),
            session_timeout,
            client: RwLock::new(client),
            reconnect: AsyncMutex::new(()),
            hub: NotifyHub::new(),
        });
        let notifier = tokio::spawn(notifier(Arc::downgrade(&shared), last));
        Ok(ZkStore { shared, notifier })
    }

    /// The current session (id and password), e.g. to force its expiry from another client.
    pub fn session(&self) -> zk::SessionInfo {
        self.shared.client().session().clone()
    }

    /// A handle to the current ZooKeeper client.
    pub fn client(&self) -> zk::Client {
        self.shared.client()
    }
}

impl KvStore for ZkStore {
    fn backend(&self) -> &'static str {
        "zookeeper"
    }

    fn mget<'a>(&'a self, keys: &'a [String]) -> BoxFut<'a, Result<Vec<Entry>, StoreError>> {
        Box::pin(self.shared.mget(keys))
    }

    fn commit(&self, ws: WriteSet) -> BoxFut<'_, Result<CommitResult, StoreError>> {
        Box::pin(self.shared.commit(ws))
    }

    fn scan_prefix<'a>(&'a self, prefix: &'a str) -> BoxFut<'a, Result<Vec<String>, StoreError>> {
        Box::pin(self.shared.scan_prefix(prefix))
    }

    fn subscribe(&self) -> Subscription {
        self.shared.hub.subscribe()
    }

    fn wait_visible<'a>(
        &'a self,
        receipt: &'a CommitReceipt,
        timeout: Duration,
    ) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(self.shared.hub.wait_delivered(&receipt.commit_id, timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escape_examples() {
        assert_eq!(zk_escape("a/b$c\\d"), "a$+b$_c$$d");
        assert_eq!(zk_unescape("a$+b$_c$$d").as_deref(), Some("a/b$c\\d"));
        assert_eq!(zk_unescape("a$x"), None);
        assert_eq!(log_seq("c-0000000042"), Some(42));
        assert_eq!(log_seq("/vlcp/log/c-0000000042"), Some(42));
        assert!(key_path("").is_err());
    }

    proptest! {
        #[test]
        fn escape_round_trips_without_slashes(s in ".*") {
            let e = zk_escape(&s);
            prop_assert!(!e.contains('/'));
            prop_assert_eq!(zk_unescape(&e), Some(s));
        }
    }
}
