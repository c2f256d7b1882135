//! Watching a set of keys: every committed change, per key in commit order, at least once.
//!
//! A [`KeyWatcher`] subscribes before it reads the keys' current stamps, then filters the
//! store's notifications down to its keys, dropping repeats (a stamp not newer than the last one
//! seen for that key). When the store reports [`Notification::Resync`] (a reconnect it could not
//! replay, or a lagging subscriber), the watcher re-reads its keys and reports each key whose
//! stamp moved, so no change to the final state is lost.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::store::{KeyChange, KvStore, Notification, StoreError, Subscription};

/// A filtered, deduplicated change stream for a fixed set of keys.
pub struct KeyWatcher {
    store: Arc<dyn KvStore>,
    sub: Subscription,
    /// Last stamp seen per watched key, and whether the key was present then.
    last: HashMap<String, (u64, bool)>,
    pending: VecDeque<KeyChange>,
    resyncs: u64,
}

impl KeyWatcher {
    /// Starts watching `keys` on `store`.
    pub async fn new(store: Arc<dyn KvStore>, keys: &[String]) -> Result<Self, StoreError> {
        let sub = store.subscribe();
        let mut w = KeyWatcher {
            store,
            sub,
            last: keys.iter().map(|k| (k.clone(), (0, false))).collect(),
            pending: VecDeque::new(),
            resyncs: 0,
        };
        let entries = w.store.mget(keys).await?;
        for (k, e) in keys.iter().zip(entries) {
            w.last.insert(k.clone(), (e.version.stamp, e.value.is_some()));
        }
        Ok(w)
    }

    /// The next change to a watched key; `None` once the store is gone.
    pub async fn next(&mut self) -> Result<Option<KeyChange>, StoreError> {
        loop {
            if let Some(c) = self.pending.pop_front() {
                return Ok(Some(c));
            }
            match self.sub.recv().await {
                None => return Ok(None),
                Some(Notification::Changed { changes, .. }) => {
                    for c in changes {
                        if let Some(last) = self.last.get_mut(&c.key)
                            && c.stamp > last.0
                        {
                            *last = (c.stamp, !c.deleted);
                            self.pending.push_back(c);
                        }
                    }
                }
                Some(Notification::Resync { reason }) => {
                    tracing::info!(%reason, keys = self.last.len(), "objectdb watcher resyncing");
                    self.resyncs += 1;
                    self.resync().await?;
                }
            }
        }
    }

    async fn resync(&mut self) -> Result<(), StoreError> {
        let keys: Vec<String> = self.last.keys().cloned().collect();
        let entries = self.store.mget(&keys).await?;
        for (k, e) in keys.into_iter().zip(entries) {
            let Some(last) = self.last.get_mut(&k) else { continue };
            let present = e.value.is_some();
            let moved = if present { e.version.stamp > last.0 } else { last.1 };
            if moved {
                *last = (e.version.stamp.max(last.0), present);
                self.pending.push_back(KeyChange { key: k, stamp: last.0, deleted: !present });
            }
        }
        Ok(())
    }

    /// How many resyncs this watcher went through.
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// The last stamp seen for `key`.
    pub fn last_stamp(&self, key: &str) -> Option<u64> {
        self.last.get(key).map(|l| l.0)
    }
}
