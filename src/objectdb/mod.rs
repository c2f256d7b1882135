//! ObjectDB: a transactional object store over an embedded redb file, ZooKeeper or Redis, with
//! change notifications.
//!
//! Layers, bottom up:
//! - [`store::KvStore`]: raw bytes under string keys; consistent multi-key reads, atomic
//!   multi-key compare-and-set, prefix scans, and a change stream with per-key commit order.
//!   Backends: [`embedded::EmbeddedStore`] (default, single host), [`zookeeper::ZkStore`],
//!   [`redis::RedisStore`]; pick one from `vlcp.conf` with [`open_from_config`].
//! - [`object`]: typed objects ([`object::DataObject`]) with the original VLCP key layout.
//! - [`txn::ObjectDb`]: walkers (consistent reads that discover keys as they go) and write
//!   transactions (atomic, optimistic, retried on conflict, bounded in time).
//! - [`watch::KeyWatcher`]: every committed change of a set of keys, per key in commit order.
//!
//! # Key layout
//! An object's key is its type prefix plus `.` + escaped index value for each index attribute:
//! `viperflow.logicalport.<id>`, `viperflow.physicalport.<vhost>.<systemid>.<bridge>.<name>`,
//! or the bare prefix for singletons such as `viperflow.logicalnetworkset`. Escaping
//! ([`object::escape_key`]) maps `+` → `+_` then `.` → `++`, so components never contain a dot.
//! A unique index entry lives at `indices.<esc(prefix)>.<esc(index name)>.<esc(v1)>.<esc(v2)>…`
//! and holds `{"ref": "<owner key>"}`.
//!
//! # Value encoding
//! Values are UTF-8 JSON objects: the type's fields (serde), plus `kvdb_createtime` (µs since
//! the Unix epoch at first write) and `kvdb_updateversion` (1, 2, 3… per write), both stamped by
//! [`txn::WriteTxn`]. References ([`object::Ref`], [`object::WeakRef`]) are the target key as a
//! JSON string; [`object::ObjectSet`] is a sorted JSON list of keys. No compression, no type
//! tags. A stored value that is not JSON of the expected shape is a
//! [`txn::TxnError::Decode`] naming the key.
//!
//! Backend record layouts are documented on each backend module.

pub mod embedded;
pub mod object;
pub mod redis;
pub mod store;
pub mod txn;
pub mod watch;
pub mod zookeeper;

use std::path::PathBuf;
use std::sync::Arc;

pub use object::{DataObject, ObjectSet, Ref, Stored, UniqueIndex, WeakRef};
pub use store::{KvStore, Notification, StoreError};
pub use txn::{Committed, ObjectDb, TxnError, TxnOptions, Walk, WalkCache, WriteTxn};
pub use watch::KeyWatcher;

/// Default path of the embedded store when `module.embeddeddb.path` is not set.
pub const DEFAULT_EMBEDDED_PATH: &str = "/var/lib/vlcp/objectdb.redb";

/// The backend a configuration selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendConfig {
    /// `module.embeddeddb.path`.
    Embedded {
        /// The redb file.
        path: PathBuf,
    },
    /// `module.zookeeperdb.url`, e.g. `zk://h1:2181,h2:2181/chroot`.
    ZooKeeper {
        /// Connect string `h1:p,h2:p/chroot`.
        connect: String,
    },
    /// `module.redisdb.url`, e.g. `tcp://127.0.0.1:6379/` or `redis://…`.
    Redis {
        /// A `redis://` URL.
        url: String,
    },
}

impl BackendConfig {
    /// Reads the original VLCP keys through `lookup` (a config getter returning the string value
    /// of a key): `proxy.kvstorage` names the backend (a loading path containing `zookeeper`,
    /// `redis` or `embedded`; unset = embedded), `proxy.updatenotifier` must agree with it when
    /// set, and `module.zookeeperdb.url`, `module.redisdb.url` or `module.embeddeddb.path` give
    /// the location.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, StoreError> {
        let kind = |key: &str| -> Result<Option<&'static str>, StoreError> {
            let Some(v) = lookup(key) else { return Ok(None) };
            let l = v.to_ascii_lowercase();
            Ok(Some(if l.contains("zookeeper") {
                "zookeeper"
            } else if l.contains("redis") {
                "redis"
            } else if l.contains("embedded") {
                "embedded"
            } else {
                return Err(StoreError::Config(format!("{key} = {v:?}: unknown backend")));
            }))
        };
        let storage = kind("proxy.kvstorage")?.unwrap_or("embedded");
        if let Some(n) = kind("proxy.updatenotifier")?
            && n != storage
        {
            return Err(StoreError::Config(format!(
                "proxy.updatenotifier selects {n} but proxy.kvstorage selects {storage}; \
                 each backend carries its own notifier"
            )));
        }
        let need = |key: &str| lookup(key).ok_or_else(|| StoreError::Config(format!("{key} is required")));
        Ok(match storage {
            "zookeeper" => {
                let url = need("module.zookeeperdb.url")?;
                let connect = url
                    .strip_prefix("zk://")
                    .or_else(|| url.strip_prefix("tcp://"))
                    .unwrap_or(&url)
                    .trim_end_matches('/')
                    .to_string();
                BackendConfig::ZooKeeper { connect }
            }
            "redis" => {
                let url = need("module.redisdb.url")?;
                let url = match url.strip_prefix("tcp://") {
                    Some(rest) => format!("redis://{rest}"),
                    None => url,
                };
                BackendConfig::Redis { url }
            }
            _ => BackendConfig::Embedded {
                path: lookup("module.embeddeddb.path").unwrap_or_else(|| DEFAULT_EMBEDDED_PATH.into()).into(),
            },
        })
    }

    /// Opens the configured store.
    pub async fn open(&self) -> Result<Arc<dyn KvStore>, StoreError> {
        Ok(match self {
            BackendConfig::Embedded { path } => Arc::new(embedded::EmbeddedStore::open(path)?),
            BackendConfig::ZooKeeper { connect } => Arc::new(zookeeper::ZkStore::connect(connect).await?),
            BackendConfig::Redis { url } => Arc::new(redis::RedisStore::connect(url).await?),
        })
    }
}

/// Selects and opens the store configured through `lookup` (see [`BackendConfig::from_lookup`]).
pub async fn open_from_config(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Arc<dyn KvStore>, StoreError> {
    BackendConfig::from_lookup(lookup)?.open().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<BackendConfig, StoreError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        BackendConfig::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn embedded_is_the_default() {
        assert_eq!(cfg(&[]).unwrap(), BackendConfig::Embedded { path: DEFAULT_EMBEDDED_PATH.into() });
        assert_eq!(
            cfg(&[("module.embeddeddb.path", "/tmp/x.redb")]).unwrap(),
            BackendConfig::Embedded { path: "/tmp/x.redb".into() }
        );
    }

    #[test]
    fn original_keys_select_zookeeper_and_redis() {
        let zk = "vlcp.service.connection.zookeeperdb.ZooKeeperDB";
        assert_eq!(
            cfg(&[
                ("proxy.kvstorage", zk),
                ("proxy.updatenotifier", zk),
                ("module.zookeeperdb.url", "zk://10.0.0.1:2181,10.0.0.2:2181/vlcp/")
            ])
            .unwrap(),
            BackendConfig::ZooKeeper { connect: "10.0.0.1:2181,10.0.0.2:2181/vlcp".into() }
        );
        assert_eq!(
            cfg(&[
                ("proxy.kvstorage", "vlcp.service.connection.redisdb.RedisDB"),
                ("proxy.updatenotifier", "vlcp.service.kvdb.redisnotifier.RedisNotifier"),
                ("module.redisdb.url", "tcp://127.0.0.1:6379/")
            ])
            .unwrap(),
            BackendConfig::Redis { url: "redis://127.0.0.1:6379/".into() }
        );
    }

    #[test]
    fn bad_selections_name_the_key() {
        let e = cfg(&[("proxy.kvstorage", "mysql")]).unwrap_err().to_string();
        assert!(e.contains("proxy.kvstorage"), "{e}");
        let e = cfg(&[("proxy.kvstorage", "redisdb")]).unwrap_err().to_string();
        assert!(e.contains("module.redisdb.url"), "{e}");
        let e = cfg(&[("proxy.kvstorage", "redisdb"), ("proxy.updatenotifier", "zookeeperdb")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("proxy.updatenotifier"), "{e}");
    }
}
