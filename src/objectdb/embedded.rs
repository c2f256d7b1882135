//! The embedded backend: one redb file, for a single host with no extra service (the default).
//!
//! Layout: table `kv` maps each key to `stamp (8 bytes, big endian) ++ value`; table `meta`
//! holds `seq`, the last commit stamp. A commit is one redb write transaction with
//! `Durability::Immediate`, so after a crash the file holds every committed transaction whole and
//! nothing of an uncommitted one. Deletes remove the row; the store-wide stamp keeps per-key
//! stamps growing across delete and re-create. Notifications are in-process only: a commit and
//! its publication happen under one lock, so subscribers see commits in commit order.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use super::store::{
    BoxFut, CommitReceipt, CommitResult, Entry, KeyChange, KvStore, Notification, NotifyHub, StoreError,
    Subscription, Version, WriteSet, new_commit_id,
};

const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const SEQ: &str = "seq";

/// The redb-backed store. Cheap to share behind an `Arc`.
pub struct EmbeddedStore {
    db: Arc<Database>,
    /// Serialises commit + publish so notifications leave in commit order.
    commit_lock: Arc<Mutex<()>>,
    hub: Arc<NotifyHub>,
}

fn emb(op: &'static str) -> impl FnOnce(redb::Error) -> StoreError {
    move |e| StoreError::Embedded { op, detail: e.to_string() }
}

fn emb_any<E: Into<redb::Error>>(op: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| emb(op)(e.into())
}

fn decode_row(key: &str, raw: &[u8]) -> Result<(u64, Bytes), StoreError> {
    let Some((stamp, value)) = raw.split_first_chunk::<8>() else {
        return Err(StoreError::Malformed {
            key: key.to_string(),
            reason: format!("row of {} bytes is shorter than its 8-byte stamp", raw.len()),
        });
    };
    Ok((u64::from_be_bytes(*stamp), Bytes::copy_from_slice(value)))
}

/// redb's page cache (reads and the write buffer). redb's default, 1 GiB, lets the cache grow with
/// the file: every page the store ever read stays in the daemon's memory (the file was 46 MB at 5600
/// endpoints). Reads go through the decoded-object caches above the store ([`super::WalkCache`]),
/// so a small page cache costs little; what it misses comes from the kernel's page cache.
pub const CACHE_BYTES: usize = 16 << 20;

impl EmbeddedStore {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db =
            Database::builder().set_cache_size(CACHE_BYTES).create(path.as_ref()).map_err(emb_any("open"))?;
        let w = db.begin_write().map_err(emb_any("begin_write"))?;
        {
            w.open_table(KV).map_err(emb_any("open_table kv"))?;
            w.open_table(META).map_err(emb_any("open_table meta"))?;
        }
        w.commit().map_err(emb_any("commit"))?;
        Ok(EmbeddedStore {
            db: Arc::new(db),
            commit_lock: Arc::new(Mutex::new(())),
            hub: Arc::new(NotifyHub::new()),
        })
    }

    fn mget_blocking(db: &Database, keys: &[String]) -> Result<Vec<Entry>, StoreError> {
        let r = db.begin_read().map_err(emb_any("begin_read"))?;
        let t = r.open_table(KV).map_err(emb_any("open_table kv"))?;
        keys.iter()
            .map(|k| {
                let row = t.get(k.as_str()).map_err(emb_any("get"))?;
                Ok(match row {
                    None => Entry { version: Version::ABSENT, value: None },
                    Some(g) => {
                        let (stamp, value) = decode_row(k, g.value())?;
                        Entry { version: Version { stamp, token: 0 }, value: Some(value) }
                    }
                })
            })
            .collect()
    }

    fn commit_blocking(
        db: &Database,
        lock: &Mutex<()>,
        hub: &NotifyHub,
        ws: WriteSet,
    ) -> Result<CommitResult, StoreError> {
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let w = db.begin_write().map_err(emb_any("begin_write"))?;
        let stamp;
        {
            let mut t = w.open_table(KV).map_err(emb_any("open_table kv"))?;
            for (key, expected) in &ws.checks {
                let current = match t.get(key.as_str()).map_err(emb_any("get"))? {
                    None => Version::ABSENT,
                    Some(g) => Version { stamp: decode_row(key, g.value())?.0, token: 0 },
                };
                if current.stamp != expected.stamp {
                    // Dropping `w` aborts the transaction.
                    return Ok(CommitResult::Conflict);
                }
            }
            let mut meta = w.open_table(META).map_err(emb_any("open_table meta"))?;
            stamp = meta.get(SEQ).map_err(emb_any("get seq"))?.map(|g| g.value()).unwrap_or(0) + 1;
            meta.insert(SEQ, stamp).map_err(emb_any("insert seq"))?;
            for (key, value) in &ws.writes {
                match value {
                    Some(v) => {
                        let mut row = Vec::with_capacity(8 + v.len());
                        row.extend_from_slice(&stamp.to_be_bytes());
                        row.extend_from_slice(v);
                        t.insert(key.as_str(), row.as_slice()).map_err(emb_any("insert"))?;
                    }
                    None => {
                        t.remove(key.as_str()).map_err(emb_any("remove"))?;
                    }
                }
            }
        }
        w.commit().map_err(emb_any("commit"))?;
        let commit_id = new_commit_id();
        hub.publish(Notification::Changed {
            commit_id: commit_id.clone(),
            changes: ws
                .writes
                .iter()
                .map(|(k, v)| KeyChange { key: k.clone(), stamp, deleted: v.is_none() })
                .collect(),
        });
        Ok(CommitResult::Committed(CommitReceipt {
            commit_id,
            keys: ws.writes.into_iter().map(|(k, _)| k).collect(),
        }))
    }

    fn scan_blocking(db: &Database, prefix: &str) -> Result<Vec<String>, StoreError> {
        let r = db.begin_read().map_err(emb_any("begin_read"))?;
        let t = r.open_table(KV).map_err(emb_any("open_table kv"))?;
        let mut out = Vec::new();
        for item in t.range(prefix..).map_err(emb_any("range"))? {
            let (k, _) = item.map_err(emb_any("range next"))?;
            let k = k.value();
            if !k.starts_with(prefix) {
                break;
            }
            out.push(k.to_string());
        }
        Ok(out)
    }

    /// Overwrites the raw stored bytes of `key` (stamp header included) without a notification.
    /// For tests that need a corrupt record.
    pub fn write_raw_for_test(&self, key: &str, raw: &[u8]) -> Result<(), StoreError> {
        let w = self.db.begin_write().map_err(emb_any("begin_write"))?;
        {
            let mut t = w.open_table(KV).map_err(emb_any("open_table kv"))?;
            t.insert(key, raw).map_err(emb_any("insert"))?;
        }
        w.commit().map_err(emb_any("commit"))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Embedded { op: "worker thread", detail: e.to_string() })?
}

impl KvStore for EmbeddedStore {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    fn mget<'a>(&'a self, keys: &'a [String]) -> BoxFut<'a, Result<Vec<Entry>, StoreError>> {
        let db = self.db.clone();
        let keys = keys.to_vec();
        Box::pin(blocking(move || Self::mget_blocking(&db, &keys)))
    }

    fn commit(&self, ws: WriteSet) -> BoxFut<'_, Result<CommitResult, StoreError>> {
        let (db, lock, hub) = (self.db.clone(), self.commit_lock.clone(), self.hub.clone());
        Box::pin(blocking(move || Self::commit_blocking(&db, &lock, &hub, ws)))
    }

    fn scan_prefix<'a>(&'a self, prefix: &'a str) -> BoxFut<'a, Result<Vec<String>, StoreError>> {
        let db = self.db.clone();
        let prefix = prefix.to_string();
        Box::pin(blocking(move || Self::scan_blocking(&db, &prefix)))
    }

    fn subscribe(&self) -> Subscription {
        self.hub.subscribe()
    }

    fn wait_visible<'a>(
        &'a self,
        receipt: &'a CommitReceipt,
        timeout: Duration,
    ) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(self.hub.wait_delivered(&receipt.commit_id, timeout))
    }
}
