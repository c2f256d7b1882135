//! ObjectDB transactions: walkers (consistent reads that discover keys as they go) and atomic
//! multi-key write transactions with optimistic concurrency.
//!
//! Both run a closure against one snapshot read with a single [`KvStore::mget`]. When the
//! closure asks for a key that is not in the snapshot, the call returns
//! [`TxnError::NotRetrieved`] (propagate it with `?`, or catch it and keep walking); after the
//! closure returns, the driver reads every key of the last attempt plus the missing ones in one
//! new snapshot and runs the closure again. Closures must therefore be deterministic functions of
//! what they read, and may run several times.
//!
//! A write transaction then commits its writes with a compare-and-set on every key it read: if
//! another writer changed one of them, nothing is written and the transaction reruns after a
//! randomised exponential backoff, up to [`TxnOptions::max_conflicts`] times and
//! [`TxnOptions::timeout`] in total.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::Value;

use super::object::{DataObject, Ref, Stored, WeakRef, unique_index_key};
use super::store::{CommitReceipt, CommitResult, Entry, KvStore, StoreError, Version, WriteSet};

/// Errors of walkers and write transactions.
#[derive(Debug, thiserror::Error)]
pub enum TxnError {
    /// The storage backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key was not part of this attempt's snapshot; the driver fetches it and reruns.
    #[error("key {0:?} not retrieved yet (the transaction reruns with it)")]
    NotRetrieved(String),
    /// A stored value is not valid JSON of the expected shape.
    #[error("key {key:?}: stored value does not decode: {reason}")]
    Decode {
        /// The offending key.
        key: String,
        /// The decoder's message.
        reason: String,
    },
    /// A value could not be encoded.
    #[error("key {key:?}: value does not encode: {reason}")]
    Encode {
        /// The key being written.
        key: String,
        /// The encoder's message.
        reason: String,
    },
    /// A unique index value is already used by another object.
    #[error("unique index {index_key:?} already held by {owner:?}")]
    AlreadyExists {
        /// The index entry's key.
        index_key: String,
        /// The key of the object holding it.
        owner: String,
    },
    /// A strong reference points at a missing object.
    #[error("strong reference to missing object {0:?}")]
    Dangling(String),
    /// Too many conflicting writers; nothing was written.
    #[error("gave up after {conflicts} write conflicts; nothing was written")]
    TooManyConflicts {
        /// Conflicts seen.
        conflicts: u32,
    },
    /// The transaction did not commit within its time budget; nothing was written.
    #[error("transaction timed out after {elapsed:?} ({attempts} attempts); nothing was written")]
    Timeout {
        /// Time spent.
        elapsed: Duration,
        /// Attempts made.
        attempts: u32,
    },
    /// The closure kept discovering new keys.
    #[error("walker still missing keys after {rounds} rounds ({keys} keys)")]
    TooManyRounds {
        /// Rounds run.
        rounds: u32,
        /// Keys in the last snapshot.
        keys: usize,
    },
    /// The closure aborted the transaction.
    #[error("aborted: {0}")]
    Aborted(String),
}

/// Retry and time limits of transactions.
#[derive(Clone, Debug)]
pub struct TxnOptions {
    /// Write conflicts tolerated before [`TxnError::TooManyConflicts`].
    pub max_conflicts: u32,
    /// Total time budget before [`TxnError::Timeout`].
    pub timeout: Duration,
    /// Snapshot rounds (key discovery) per attempt before [`TxnError::TooManyRounds`].
    pub max_rounds: u32,
    /// First backoff ceiling after a conflict; doubles each time.
    pub backoff_base: Duration,
    /// Largest backoff ceiling.
    pub backoff_max: Duration,
}

impl Default for TxnOptions {
    fn default() -> Self {
        TxnOptions {
            max_conflicts: 200,
            timeout: Duration::from_secs(60),
            max_rounds: 100,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(100),
        }
    }
}

/// The transaction layer over one [`KvStore`].
#[derive(Clone)]
pub struct ObjectDb {
    store: Arc<dyn KvStore>,
    opts: TxnOptions,
}

/// A committed (or read-only) write transaction's result.
#[derive(Debug)]
pub struct Committed<R> {
    /// What the closure returned in its final attempt.
    pub value: R,
    /// The commit, `None` if the closure wrote nothing.
    pub receipt: Option<CommitReceipt>,
}

type Snapshot = HashMap<String, Entry>;

fn decode_json(key: &str, raw: &Bytes) -> Result<Value, TxnError> {
    serde_json::from_slice(raw).map_err(|e| TxnError::Decode { key: key.into(), reason: e.to_string() })
}

fn decode_typed<T: DataObject>(key: &str, v: Value) -> Result<Stored<T>, TxnError> {
    serde_json::from_value(v).map_err(|e| TxnError::Decode {
        key: key.into(),
        reason: format!("not a {}: {e}", std::any::type_name::<T>()),
    })
}

/// Decodes a stored object straight from its bytes (no intermediate JSON tree).
fn decode_slice<T: DataObject>(key: &str, raw: &Bytes) -> Result<Stored<T>, TxnError> {
    serde_json::from_slice(raw).map_err(|e| TxnError::Decode {
        key: key.into(),
        reason: format!("not a {}: {e}", std::any::type_name::<T>()),
    })
}

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// The stamps ObjectDB keeps in every object.
#[derive(serde::Deserialize)]
struct Stamps {
    kvdb_createtime: Option<u64>,
    kvdb_updateversion: Option<u64>,
}

/// Decoded objects by key, with the version they were decoded at.
type Decoded = HashMap<String, (Version, Box<dyn std::any::Any + Send + Sync>)>;

/// What a reader that walks the same graph again and again (the model feed) keeps between
/// walks: the keys the last walk read, so the next one fetches them in its first round instead
/// of one round per level of references, and the objects it decoded, so only keys whose
/// version moved are decoded again (see [`Walk::get`]).
#[derive(Default)]
pub struct WalkCache {
    keys: BTreeSet<String>,
    decoded: Decoded,
}

impl WalkCache {
    /// Adds a key the next walk will probably read (one a commit just created).
    pub fn hint(&mut self, key: &str) {
        if !self.keys.contains(key) {
            self.keys.insert(key.to_owned());
        }
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.decoded.is_empty()
    }
}

/// The read side of a transaction attempt: lookups in one snapshot.
pub struct Walk<'s> {
    snap: &'s Snapshot,
    used: BTreeSet<String>,
    missing: BTreeSet<String>,
    /// Objects decoded by earlier walks (only in [`ObjectDb::walk_cached`]).
    decoded: Option<Decoded>,
}

impl<'s> Walk<'s> {
    fn new(snap: &'s Snapshot) -> Self {
        Walk { snap, used: BTreeSet::new(), missing: BTreeSet::new(), decoded: None }
    }

    fn entry(&mut self, key: &str) -> Result<&'s Entry, TxnError> {
        match self.snap.get(key) {
            Some(e) => {
                self.used.insert(key.to_string());
                Ok(e)
            }
            None => {
                self.missing.insert(key.to_string());
                Err(TxnError::NotRetrieved(key.to_string()))
            }
        }
    }

    /// The raw stored bytes of `key` (`None` = absent).
    pub fn raw(&mut self, key: &str) -> Result<Option<Bytes>, TxnError> {
        Ok(self.entry(key)?.value.clone())
    }

    /// The store version of `key`.
    pub fn version(&mut self, key: &str) -> Result<Version, TxnError> {
        Ok(self.entry(key)?.version)
    }

    /// The JSON value of `key` (`None` = absent).
    pub fn value(&mut self, key: &str) -> Result<Option<Value>, TxnError> {
        match &self.entry(key)?.value {
            None => Ok(None),
            Some(raw) => decode_json(key, raw).map(Some),
        }
    }

    /// The object stored under `key` (`None` = absent). Where the walk has a decode cache (in
    /// [`ObjectDb::walk_cached`], and across the attempts of one [`ObjectDb::transact`]), an
    /// object already decoded at the same version is cloned from it instead of decoded again.
    pub fn get<T: DataObject>(&mut self, key: &str) -> Result<Option<Stored<T>>, TxnError> {
        let entry = self.entry(key)?;
        let Some(raw) = &entry.value else { return Ok(None) };
        let Some(decoded) = self.decoded.as_mut() else {
            return decode_slice(key, raw).map(Some);
        };
        if let Some((v, obj)) = decoded.get(key)
            && *v == entry.version
            && let Some(t) = obj.downcast_ref::<Stored<T>>()
        {
            return Ok(Some(t.clone()));
        }
        let t: Stored<T> = decode_slice(key, raw)?;
        decoded.insert(key.to_owned(), (entry.version, Box::new(t.clone())));
        Ok(Some(t))
    }

    /// True when `key` holds a value (no decoding).
    pub fn exists(&mut self, key: &str) -> Result<bool, TxnError> {
        Ok(self.entry(key)?.value.is_some())
    }

    /// The ObjectDB stamps (`kvdb_createtime`, `kvdb_updateversion`) of the value under `key`,
    /// read without decoding the rest of it.
    fn stamps(&mut self, key: &str) -> Result<Option<Stamps>, TxnError> {
        match &self.entry(key)?.value {
            None => Ok(None),
            Some(raw) => serde_json::from_slice(raw)
                .map(Some)
                .map_err(|e| TxnError::Decode { key: key.into(), reason: e.to_string() }),
        }
    }

    /// Follows a strong reference; a missing target is [`TxnError::Dangling`].
    pub fn deref<T: DataObject>(&mut self, r: &Ref<T>) -> Result<Stored<T>, TxnError> {
        self.get(r.key())?.ok_or_else(|| TxnError::Dangling(r.key().to_string()))
    }

    /// Follows a weak reference (`None` if the target is gone).
    pub fn upgrade<T: DataObject>(&mut self, r: &WeakRef<T>) -> Result<Option<Stored<T>>, TxnError> {
        self.get(r.key())
    }
}

/// A write transaction attempt: [`Walk`] lookups that see this attempt's own writes, plus
/// writes that commit together.
pub struct WriteTxn<'s> {
    walk: Walk<'s>,
    writes: BTreeMap<String, Option<Value>>,
    now_us: u64,
}

impl<'s> WriteTxn<'s> {
    /// Local wall-clock time of this attempt in µs, used for `kvdb_createtime`.
    pub fn now_micros(&self) -> u64 {
        self.now_us
    }

    /// The JSON value of `key` as this transaction sees it (its own writes first).
    pub fn value(&mut self, key: &str) -> Result<Option<Value>, TxnError> {
        // Always consult the snapshot, so the key is checked at commit even when overwritten.
        let stored = self.walk.value(key)?;
        match self.writes.get(key) {
            Some(w) => Ok(w.clone()),
            None => Ok(stored),
        }
    }

    /// Whether `key` holds a value as this transaction sees it (nothing is decoded).
    pub fn exists(&mut self, key: &str) -> Result<bool, TxnError> {
        // Always consult the snapshot, so the key is checked at commit even when overwritten.
        let stored = self.walk.exists(key)?;
        Ok(match self.writes.get(key) {
            Some(w) => w.is_some(),
            None => stored,
        })
    }

    /// The object under `key` as this transaction sees it.
    pub fn get<T: DataObject>(&mut self, key: &str) -> Result<Option<Stored<T>>, TxnError> {
        // Always consult the snapshot, so the key is checked at commit even when overwritten.
        let stored = self.walk.get(key)?;
        match self.writes.get(key) {
            Some(w) => w.clone().map(|v| decode_typed(key, v)).transpose(),
            None => Ok(stored),
        }
    }

    /// Follows a strong reference.
    pub fn deref<T: DataObject>(&mut self, r: &Ref<T>) -> Result<Stored<T>, TxnError> {
        self.get(r.key())?.ok_or_else(|| TxnError::Dangling(r.key().to_string()))
    }

    /// Writes a JSON object under `key`, stamping `kvdb_createtime` (kept from the old value)
    /// and `kvdb_updateversion` (old + 1).
    pub fn put_value(&mut self, key: &str, value: Value) -> Result<(), TxnError> {
        let Value::Object(mut map) = value else {
            return Err(TxnError::Encode { key: key.into(), reason: "not a JSON object".into() });
        };
        // The stamps of the value this transaction sees: its own write, else the stored one.
        let stored = self.walk.stamps(key)?;
        let (created, version) = match self.writes.get(key) {
            Some(w) => {
                let field = |name: &str| w.as_ref().and_then(|o| o.get(name)).and_then(Value::as_u64);
                (field("kvdb_createtime"), field("kvdb_updateversion"))
            }
            None => stored.map_or((None, None), |s| (s.kvdb_createtime, s.kvdb_updateversion)),
        };
        let created = created.unwrap_or(self.now_us);
        let version = version.unwrap_or(0) + 1;
        map.insert("kvdb_createtime".into(), created.into());
        map.insert("kvdb_updateversion".into(), version.into());
        self.writes.insert(key.to_string(), Some(Value::Object(map)));
        Ok(())
    }

    /// Deletes `key`; returns whether it existed.
    pub fn delete_key(&mut self, key: &str) -> Result<bool, TxnError> {
        let stored = self.walk.exists(key)?;
        let existed = match self.writes.get(key) {
            Some(w) => w.is_some(),
            None => stored,
        };
        self.writes.insert(key.to_string(), None);
        Ok(existed)
    }

    /// Writes a typed object under its key, maintaining its unique indices: a value held by
    /// another object is [`TxnError::AlreadyExists`]; indices the old value had and the new one
    /// lacks are removed.
    pub fn put<T: DataObject>(&mut self, obj: &T) -> Result<(), TxnError> {
        let key = obj.key();
        let new_idx: BTreeSet<String> = obj
            .unique_indices()
            .into_iter()
            .map(|i| unique_index_key(T::PREFIX, i.name, &i.values))
            .collect();
        let old_idx = self.index_keys_of_stored::<T>(&key)?;
        for ik in &new_idx {
            self.claim_index(ik, &key)?;
        }
        for ik in old_idx.difference(&new_idx) {
            self.delete_key(ik)?;
        }
        let value = serde_json::to_value(obj)
            .map_err(|e| TxnError::Encode { key: key.clone(), reason: e.to_string() })?;
        self.put_value(&key, value)
    }

    /// Deletes the object of type `T` under `key` with its unique indices; returns whether it
    /// existed.
    pub fn delete<T: DataObject>(&mut self, key: &str) -> Result<bool, TxnError> {
        for ik in self.index_keys_of_stored::<T>(key)? {
            self.delete_key(&ik)?;
        }
        self.delete_key(key)
    }

    fn index_keys_of_stored<T: DataObject>(&mut self, key: &str) -> Result<BTreeSet<String>, TxnError> {
        Ok(match self.get::<T>(key)? {
            None => BTreeSet::new(),
            Some(old) => old
                .data
                .unique_indices()
                .into_iter()
                .map(|i| unique_index_key(T::PREFIX, i.name, &i.values))
                .collect(),
        })
    }

    fn claim_index(&mut self, index_key: &str, owner: &str) -> Result<(), TxnError> {
        match self.value(index_key)? {
            Some(v) => match v.get("ref").and_then(Value::as_str) {
                Some(r) if r == owner => Ok(()),
                Some(r) => Err(TxnError::AlreadyExists { index_key: index_key.into(), owner: r.into() }),
                None => Err(TxnError::Decode {
                    key: index_key.into(),
                    reason: "index entry lacks a string \"ref\"".into(),
                }),
            },
            None => self.put_value(index_key, serde_json::json!({ "ref": owner })),
        }
    }
}

impl ObjectDb {
    /// ObjectDB over `store` with default options.
    pub fn new(store: Arc<dyn KvStore>) -> Self {
        Self::with_options(store, TxnOptions::default())
    }

    /// ObjectDB over `store` with explicit retry/time limits.
    pub fn with_options(store: Arc<dyn KvStore>, opts: TxnOptions) -> Self {
        ObjectDb { store, opts }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn KvStore> {
        &self.store
    }

    async fn snapshot(&self, keys: &BTreeSet<String>) -> Result<Snapshot, TxnError> {
        let list: Vec<String> = keys.iter().cloned().collect();
        let entries = self.store.mget(&list).await?;
        Ok(list.into_iter().zip(entries).collect())
    }

    /// A read transaction: runs `walker` until it completes on one consistent snapshot of every
    /// key it read. `keys` are the keys known up front.
    pub async fn walk<R>(
        &self,
        keys: &[String],
        mut walker: impl FnMut(&mut Walk<'_>) -> Result<R, TxnError>,
    ) -> Result<R, TxnError> {
        let timer = crate::metrics::TxnTimer::start(self.store.backend(), "walk");
        let mut keyset: BTreeSet<String> = keys.iter().cloned().collect();
        for _ in 0..self.opts.max_rounds {
            let snap = self.snapshot(&keyset).await?;
            let mut w = Walk::new(&snap);
            let r = walker(&mut w);
            if w.missing.is_empty() {
                if r.is_ok() {
                    timer.ok();
                }
                return r;
            }
            keyset.extend(w.missing);
        }
        Err(TxnError::TooManyRounds { rounds: self.opts.max_rounds, keys: keyset.len() })
    }

    /// Like [`ObjectDb::walk`], with what `cache` kept from earlier walks (see [`WalkCache`]):
    /// the first round reads the last walk's keys too (usually the only round), and
    /// [`Walk::get`] decodes only objects whose version changed. On success the cache
    /// keeps exactly what this walk read.
    pub async fn walk_cached<R>(
        &self,
        keys: &[String],
        cache: &mut WalkCache,
        mut walker: impl FnMut(&mut Walk<'_>) -> Result<R, TxnError>,
    ) -> Result<R, TxnError> {
        let timer = crate::metrics::TxnTimer::start(self.store.backend(), "walk");
        let mut keyset: BTreeSet<String> = keys.iter().cloned().collect();
        keyset.extend(cache.keys.iter().cloned());
        for _ in 0..self.opts.max_rounds {
            let snap = self.snapshot(&keyset).await?;
            let mut w = Walk::new(&snap);
            w.decoded = Some(std::mem::take(&mut cache.decoded));
            let r = walker(&mut w);
            let mut decoded = w.decoded.take().unwrap_or_default();
            if w.missing.is_empty() {
                if r.is_ok() {
                    timer.ok();
                    decoded.retain(|k, _| w.used.contains(k));
                    cache.keys = w.used;
                }
                cache.decoded = decoded;
                return r;
            }
            cache.decoded = decoded;
            keyset.extend(w.missing);
        }
        Err(TxnError::TooManyRounds { rounds: self.opts.max_rounds, keys: keyset.len() })
    }

    /// A write transaction: runs `body` on a consistent snapshot (discovering keys like
    /// [`ObjectDb::walk`]) and commits its writes atomically if nothing it read changed;
    /// retries on conflict. An error from `body` aborts with nothing written.
    pub async fn transact<R>(
        &self,
        keys: &[String],
        mut body: impl FnMut(&mut WriteTxn<'_>) -> Result<R, TxnError>,
    ) -> Result<Committed<R>, TxnError> {
        let start = Instant::now();
        let timer = crate::metrics::TxnTimer::start(self.store.backend(), "transact");
        let mut keyset: BTreeSet<String> = keys.iter().cloned().collect();
        let (mut attempts, mut conflicts, mut rounds) = (0u32, 0u32, 0u32);
        // Objects decoded by earlier attempts: a rerun with more keys decodes only what is new.
        let mut decoded = Decoded::new();
        loop {
            if start.elapsed() > self.opts.timeout {
                return Err(TxnError::Timeout { elapsed: start.elapsed(), attempts });
            }
            attempts += 1;
            let snap = self.snapshot(&keyset).await?;
            let mut t = WriteTxn { walk: Walk::new(&snap), writes: BTreeMap::new(), now_us: now_micros() };
            t.walk.decoded = Some(std::mem::take(&mut decoded));
            let result = body(&mut t);
            decoded = t.walk.decoded.take().unwrap_or_default();
            if !t.walk.missing.is_empty() {
                rounds += 1;
                if rounds >= self.opts.max_rounds {
                    return Err(TxnError::TooManyRounds { rounds, keys: keyset.len() });
                }
                keyset.extend(std::mem::take(&mut t.walk.missing));
                continue;
            }
            let value = result?;
            if t.writes.is_empty() {
                timer.ok();
                return Ok(Committed { value, receipt: None });
            }
            let ws = Self::write_set(&snap, &t)?;
            match self.store.commit(ws).await? {
                CommitResult::Committed(receipt) => {
                    timer.ok();
                    return Ok(Committed { value, receipt: Some(receipt) });
                }
                CommitResult::Conflict => {
                    timer.conflict();
                    conflicts += 1;
                    if conflicts > self.opts.max_conflicts {
                        return Err(TxnError::TooManyConflicts { conflicts });
                    }
                    let ceiling = self
                        .opts
                        .backoff_base
                        .saturating_mul(1 << conflicts.min(16))
                        .min(self.opts.backoff_max);
                    let pause = ceiling.mul_f64(rand::random::<f64>());
                    let left = self.opts.timeout.saturating_sub(start.elapsed());
                    tokio::time::sleep(pause.min(left)).await;
                }
            }
        }
    }

    fn write_set(snap: &Snapshot, t: &WriteTxn<'_>) -> Result<WriteSet, TxnError> {
        let checks = t
            .walk
            .used
            .iter()
            .chain(t.writes.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|k| (k.clone(), snap.get(k).map(|e| e.version).unwrap_or(Version::ABSENT)))
            .collect();
        let writes = t
            .writes
            .iter()
            .map(|(k, v)| {
                let bytes = match v {
                    None => None,
                    Some(v) => Some(Bytes::from(
                        serde_json::to_vec(v)
                            .map_err(|e| TxnError::Encode { key: k.clone(), reason: e.to_string() })?,
                    )),
                };
                Ok((k.clone(), bytes))
            })
            .collect::<Result<_, TxnError>>()?;
        Ok(WriteSet { checks, writes })
    }

    /// Waits until this process's subscribers have seen the commit of `receipt`.
    pub async fn wait_visible(&self, receipt: &CommitReceipt) -> Result<(), TxnError> {
        Ok(self.store.wait_visible(receipt, self.opts.timeout).await?)
    }
}

#[cfg(test)]
mod tests;
