//! The Redis backend: `WATCH`/`MULTI`/`EXEC` transactions and pub/sub notifications.
//!
//! Layout: each key is a Redis string holding `stamp (8 bytes, big endian) ++ value`; deletes
//! remove the key. `vlcp._seq` is the store-wide stamp counter. A commit runs on a connection of
//! its own (taken from a small pool, so `WATCH` state is never shared):
//! `WATCH keys; MGET keys` → compare stamps → `INCR vlcp._seq` (after the read, so the new stamp
//! exceeds every stamp read) → `MULTI; SET/DEL …; PUBLISH vlcp.updatenotifier <msg>; EXEC`.
//! A nil `EXEC` is a conflict. Because `PUBLISH` runs inside the transaction, Redis delivers
//! notifications in commit order. The message is
//! `{"id": commit id, "changes": [[key, stamp, deleted], …]}`.
//!
//! The subscriber connection reconnects on its own; after a reconnect it publishes
//! [`Notification::Resync`], since Redis pub/sub does not replay missed messages.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use redis::aio::MultiplexedConnection;

use super::store::{
    BoxFut, CommitReceipt, CommitResult, Entry, KvStore, Notification, NotifyHub, StoreError, Subscription,
    Version, WireNotification, WriteSet, new_commit_id,
};

/// The stamp counter key.
pub const SEQ_KEY: &str = "vlcp._seq";
/// The notification channel.
pub const CHANNEL: &str = "vlcp.updatenotifier";
/// Idle connections kept for transactions.
const POOL_IDLE: usize = 16;

fn rerr(op: &'static str) -> impl FnOnce(redis::RedisError) -> StoreError {
    move |source| StoreError::Redis { op, source }
}

fn decode_row(key: &str, raw: Option<Vec<u8>>) -> Result<Entry, StoreError> {
    let Some(raw) = raw else { return Ok(Entry { version: Version::ABSENT, value: None }) };
    let Some((stamp, value)) = raw.split_first_chunk::<8>() else {
        return Err(StoreError::Malformed {
            key: key.to_string(),
            reason: format!("value of {} bytes is shorter than its 8-byte stamp", raw.len()),
        });
    };
    Ok(Entry {
        version: Version { stamp: u64::from_be_bytes(*stamp), token: 0 },
        value: Some(Bytes::copy_from_slice(value)),
    })
}

fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

struct Shared {
    client: redis::Client,
    pool: Mutex<Vec<MultiplexedConnection>>,
    hub: NotifyHub,
}

/// The Redis-backed store.
pub struct RedisStore {
    shared: Arc<Shared>,
    notifier: tokio::task::JoinHandle<()>,
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.notifier.abort();
    }
}

impl Shared {
    async fn take(&self) -> Result<MultiplexedConnection, StoreError> {
        let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(c) => Ok(c),
            None => self.client.get_multiplexed_async_connection().await.map_err(rerr("connect")),
        }
    }

    fn give_back(&self, c: MultiplexedConnection) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_IDLE {
            pool.push(c);
        }
    }

    async fn mget(&self, keys: &[String]) -> Result<Vec<Entry>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.take().await?;
        let rows: Vec<Option<Vec<u8>>> =
            redis::cmd("MGET").arg(keys).query_async(&mut c).await.map_err(rerr("MGET"))?;
        self.give_back(c);
        keys.iter().zip(rows).map(|(k, r)| decode_row(k, r)).collect()
    }

    async fn commit(&self, ws: WriteSet) -> Result<CommitResult, StoreError> {
        if let Some((k, _)) = ws.writes.iter().find(|(k, _)| !ws.checks.iter().any(|(c, _)| c == k)) {
            return Err(StoreError::BadKey { key: k.clone(), reason: "written without a version check" });
        }
        let mut c = self.take().await?;
        let outcome = self.commit_on(&mut c, &ws).await;
        // A connection that failed mid-transaction may still hold WATCH state: drop it.
        if outcome.is_ok() {
            self.give_back(c);
        }
        outcome
    }

    async fn commit_on(
        &self,
        c: &mut MultiplexedConnection,
        ws: &WriteSet,
    ) -> Result<CommitResult, StoreError> {
        let keys: Vec<&str> = ws.checks.iter().map(|(k, _)| k.as_str()).collect();
        redis::cmd("WATCH").arg(&keys).exec_async(c).await.map_err(rerr("WATCH"))?;
        let rows: Vec<Option<Vec<u8>>> =
            redis::cmd("MGET").arg(&keys).query_async(c).await.map_err(rerr("MGET"))?;
        for ((key, expected), row) in ws.checks.iter().zip(rows) {
            if decode_row(key, row)?.version.stamp != expected.stamp {
                redis::cmd("UNWATCH").exec_async(c).await.map_err(rerr("UNWATCH"))?;
                return Ok(CommitResult::Conflict);
            }
        }
        let stamp: u64 = redis::cmd("INCR").arg(SEQ_KEY).query_async(c).await.map_err(rerr("INCR"))?;
        let commit_id = new_commit_id();
        let msg = WireNotification {
            id: commit_id.clone(),
            changes: ws.writes.iter().map(|(k, v)| (k.clone(), stamp, v.is_none())).collect(),
        };
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (key, value) in &ws.writes {
            match value {
                Some(v) => {
                    let row = [stamp.to_be_bytes().as_slice(), v].concat();
                    pipe.cmd("SET").arg(key).arg(row).ignore();
                }
                None => {
                    pipe.cmd("DEL").arg(key).ignore();
                }
            }
        }
        pipe.cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(serde_json::to_vec(&msg).expect("notification encodes"))
            .ignore();
        let done: Option<()> = pipe.query_async(c).await.map_err(|e| {
            if e.is_io_error() || e.is_connection_dropped() {
                StoreError::Ambiguous { commit_id: commit_id.clone() }
            } else {
                rerr("EXEC")(e)
            }
        })?;
        Ok(match done {
            None => CommitResult::Conflict,
            Some(()) => CommitResult::Committed(CommitReceipt {
                commit_id,
                keys: ws.writes.iter().map(|(k, _)| k.clone()).collect(),
            }),
        })
    }

    async fn scan_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut c = self.take().await?;
        let pattern = format!("{}*", glob_escape(prefix));
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut c)
                .await
                .map_err(rerr("SCAN"))?;
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        self.give_back(c);
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

async fn subscribe(client: &redis::Client) -> Result<redis::aio::PubSub, redis::RedisError> {
    let mut ps = client.get_async_pubsub().await?;
    ps.subscribe(CHANNEL).await?;
    Ok(ps)
}

/// Forwards pub/sub messages to the hub; reconnects with a [`Notification::Resync`].
async fn notifier(shared: Weak<Shared>, mut ps: redis::aio::PubSub) {
    loop {
        {
            let mut stream = ps.on_message();
            while let Some(msg) = stream.next().await {
                let Some(s) = shared.upgrade() else { return };
                match serde_json::from_slice::<WireNotification>(msg.get_payload_bytes()) {
                    Ok(n) => s.hub.publish(n.into_notification(None)),
                    Err(e) => tracing::warn!(error = %e, "redis notifier: bad message"),
                }
            }
        }
        tracing::warn!("redis notifier: subscription lost; reconnecting");
        let mut pause = Duration::from_millis(20);
        ps = loop {
            let Some(s) = shared.upgrade() else { return };
            match subscribe(&s.client).await {
                Ok(p) => {
                    s.hub.publish(Notification::Resync { reason: "redis subscription reconnected".into() });
                    break p;
                }
                Err(e) => tracing::debug!(error = %e, "redis notifier: reconnect failed"),
            }
            drop(s);
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        };
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/[db]`) and subscribes to notifications.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(rerr("open"))?;
        let ps = subscribe(&client).await.map_err(rerr("SUBSCRIBE"))?;
        let shared = Arc::new(Shared { client, pool: Mutex::new(Vec::new()), hub: NotifyHub::new() });
        // Prove the data connection works before returning.
        let c = shared.take().await?;
        shared.give_back(c);
        let notifier = tokio::spawn(notifier(Arc::downgrade(&shared), ps));
        Ok(RedisStore { shared, notifier })
    }
}

impl KvStore for RedisStore {
    fn backend(&self) -> &'static str {
        "redis"
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

    #[test]
    fn rows_decode_or_name_the_key() {
        let row = [7u64.to_be_bytes().as_slice(), b"{}"].concat();
        let e = decode_row("k", Some(row)).unwrap();
        assert_eq!(e.version.stamp, 7);
        assert_eq!(e.value.as_deref(), Some(b"{}".as_slice()));
        assert_eq!(decode_row("k", None).unwrap().version, Version::ABSENT);
        let err = decode_row("viperflow.x", Some(b"abc".to_vec())).unwrap_err().to_string();
        assert!(err.contains("viperflow.x"), "{err}");
        assert_eq!(glob_escape("a*b[c]"), "a\\*b\\[c\\]");
    }
}
