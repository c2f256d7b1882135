//! Typed data objects: key layout, escaping, the stamped envelope, references and sets.
//!
//! An object type implements [`DataObject`]: a key prefix (e.g. `viperflow.logicalport`) and
//! the index attributes that make up the rest of its key. The key is the prefix followed by
//! `.` + [`escape_key`] of each index value: `viperflow.logicalport.<escaped id>`.
//!
//! Stored values are JSON objects: the type's serde fields plus `kvdb_createtime` (µs since the
//! Unix epoch, set when the object is first written) and `kvdb_updateversion` (1 on creation,
//! +1 on every write), see [`Stored`]. References are stored as the target's key string:
//! [`Ref`] is strong (the target must exist, walkers follow it), [`WeakRef`] may dangle, and
//! [`ObjectSet`] is a set of weak references stored as a sorted JSON list of keys.

use std::collections::BTreeSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Escapes one key component so it contains no `.`: `+` → `+_`, then `.` → `++`.
pub fn escape_key(s: &str) -> String {
    s.replace('+', "+_").replace('.', "++")
}

/// Reverses [`escape_key`]. Returns `None` if `s` is not a valid escaped component.
pub fn unescape_key(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '+' => match chars.next() {
                Some('_') => out.push('+'),
                Some('+') => out.push('.'),
                _ => return None,
            },
            '.' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// Builds `<prefix>.<esc(part1)>.<esc(part2)>…`; with no parts, the prefix alone (a singleton).
pub fn object_key(prefix: &str, parts: &[&str]) -> String {
    let mut key = prefix.to_string();
    for p in parts {
        key.push('.');
        key.push_str(&escape_key(p));
    }
    key
}

/// Splits a key of type `prefix` back into its unescaped index values.
pub fn parse_object_key(prefix: &str, key: &str) -> Option<Vec<String>> {
    let rest = key.strip_prefix(prefix)?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    rest.strip_prefix('.')?.split('.').map(unescape_key).collect()
}

/// Key of a unique index entry: `indices.<esc(prefix)>.<esc(name)>.<esc(v1)>.<esc(v2)>…`.
pub fn unique_index_key(prefix: &str, name: &str, values: &[String]) -> String {
    let mut key = format!("indices.{}.{}", escape_key(prefix), escape_key(name));
    for v in values {
        key.push('.');
        key.push_str(&escape_key(v));
    }
    key
}

/// One unique index of an object: its name and the values it must not share with any other
/// object of the same type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UniqueIndex {
    /// Index name, e.g. `_mac_address_index`.
    pub name: &'static str,
    /// The indexed values, in index order.
    pub values: Vec<String>,
}

/// A type stored in ObjectDB.
pub trait DataObject: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// Key prefix, e.g. `viperflow.logicalport`.
    const PREFIX: &'static str;
    /// The index attribute values that complete the key, in order (empty for singletons).
    fn key_parts(&self) -> Vec<String>;
    /// Unique indices; [`crate::objectdb::txn::WriteTxn::put`] keeps them consistent.
    fn unique_indices(&self) -> Vec<UniqueIndex> {
        Vec::new()
    }
    /// The object's key.
    fn key(&self) -> String {
        let parts = self.key_parts();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        object_key(Self::PREFIX, &parts)
    }
    /// The key of the object of this type with these index values.
    fn key_of(parts: &[&str]) -> String {
        object_key(Self::PREFIX, parts)
    }
}

/// An object as stored: the data plus the stamps ObjectDB maintains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stored<T> {
    /// The object's own fields.
    #[serde(flatten)]
    pub data: T,
    /// When the object was first written, µs since the Unix epoch.
    pub kvdb_createtime: u64,
    /// 1 on creation, +1 on each write.
    pub kvdb_updateversion: u64,
}

/// A strong reference: stored as the target's key; the target is expected to exist.
pub struct Ref<T> {
    key: String,
    _t: PhantomData<fn() -> T>,
}

/// A weak reference: stored as the target's key; the target may be gone.
pub struct WeakRef<T> {
    key: String,
    _t: PhantomData<fn() -> T>,
}

macro_rules! reference_impls {
    ($name:ident) => {
        impl<T> $name<T> {
            /// A reference to the object stored under `key`.
            pub fn from_key(key: impl Into<String>) -> Self {
                $name { key: key.into(), _t: PhantomData }
            }
            /// The target's key.
            pub fn key(&self) -> &str {
                &self.key
            }
        }
        impl<T: DataObject> $name<T> {
            /// A reference to `obj`.
            pub fn to(obj: &T) -> Self {
                Self::from_key(obj.key())
            }
        }
        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                Self::from_key(self.key.clone())
            }
        }
        impl<T> PartialEq for $name<T> {
            fn eq(&self, o: &Self) -> bool {
                self.key == o.key
            }
        }
        impl<T> Eq for $name<T> {}
        impl<T> PartialOrd for $name<T> {
            fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(o))
            }
        }
        impl<T> Ord for $name<T> {
            fn cmp(&self, o: &Self) -> std::cmp::Ordering {
                self.key.cmp(&o.key)
            }
        }
        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.key)
            }
        }
        impl<T> Serialize for $name<T> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.key)
            }
        }
        impl<'de, T> Deserialize<'de> for $name<T> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d).map(Self::from_key)
            }
        }
    };
}

reference_impls!(Ref);
reference_impls!(WeakRef);

/// A set of weak references, stored as a sorted JSON list of keys.
pub struct ObjectSet<T> {
    items: BTreeSet<WeakRef<T>>,
}

impl<T> ObjectSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        ObjectSet { items: BTreeSet::new() }
    }
    /// Adds a reference; returns whether it was new.
    pub fn insert(&mut self, r: WeakRef<T>) -> bool {
        self.items.insert(r)
    }
    /// Removes a reference by key; returns whether it was present.
    pub fn remove_key(&mut self, key: &str) -> bool {
        self.items.remove(&WeakRef::from_key(key))
    }
    /// Whether the set holds `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.items.contains(&WeakRef::from_key(key))
    }
    /// The references, in key order.
    pub fn iter(&self) -> impl Iterator<Item = &WeakRef<T>> {
        self.items.iter()
    }
    /// Number of references.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl<T> Default for ObjectSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for ObjectSet<T> {
    fn clone(&self) -> Self {
        ObjectSet { items: self.items.clone() }
    }
}

impl<T> PartialEq for ObjectSet<T> {
    fn eq(&self, o: &Self) -> bool {
        self.items == o.items
    }
}

impl<T> fmt::Debug for ObjectSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.items.iter().map(|r| r.key())).finish()
    }
}

impl<T> Serialize for ObjectSet<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.items.iter())
    }
}

impl<'de, T> Deserialize<'de> for ObjectSet<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<WeakRef<T>>::deserialize(d).map(|v| ObjectSet { items: v.into_iter().collect() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Port {
        id: String,
        network: Ref<Net>,
        peer: Option<WeakRef<Port>>,
    }
    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Net {
        id: String,
        ports: ObjectSet<Port>,
    }
    impl DataObject for Port {
        const PREFIX: &'static str = "viperflow.logicalport";
        fn key_parts(&self) -> Vec<String> {
            vec![self.id.clone()]
        }
    }
    impl DataObject for Net {
        const PREFIX: &'static str = "viperflow.logicnetwork";
        fn key_parts(&self) -> Vec<String> {
            vec![self.id.clone()]
        }
    }

    #[test]
    fn escaping_matches_the_original() {
        assert_eq!(escape_key("a.b+c"), "a++b+_c");
        assert_eq!(escape_key("+."), "+_++");
        assert_eq!(unescape_key("a++b+_c").as_deref(), Some("a.b+c"));
        assert_eq!(unescape_key("a+b"), None);
        assert_eq!(unescape_key("a.b"), None);
        assert_eq!(unescape_key("trailing+"), None);
    }

    #[test]
    fn key_layout_matches_the_original() {
        assert_eq!(Port::key_of(&["docker-7c85"]), "viperflow.logicalport.docker-7c85");
        assert_eq!(
            object_key("viperflow.physicalport", &["", "sys.1", "br0", "eth0"]),
            "viperflow.physicalport..sys++1.br0.eth0"
        );
        assert_eq!(object_key("viperflow.logicalnetworkset", &[]), "viperflow.logicalnetworkset");
        assert_eq!(
            unique_index_key(
                "viperflow.logicalport",
                "_mac_address_index",
                &["viperflow.logicnetwork.n1".into(), "02:00:00:00:00:01".into()]
            ),
            "indices.viperflow++logicalport._mac_address_index.viperflow++logicnetwork++n1.02:00:00:00:00:01"
        );
        assert_eq!(
            parse_object_key("viperflow.physicalport", "viperflow.physicalport..sys++1.br0.eth0"),
            Some(vec!["".into(), "sys.1".into(), "br0".into(), "eth0".into()])
        );
        assert_eq!(parse_object_key("viperflow.port", "viperflow.portx.1"), None);
    }

    #[test]
    fn stored_encoding_is_flat_json_with_stamps_and_key_references() {
        let mut ports = ObjectSet::new();
        ports.insert(WeakRef::from_key("viperflow.logicalport.p2"));
        ports.insert(WeakRef::from_key("viperflow.logicalport.p1"));
        let net = Stored {
            data: Net { id: "n1".into(), ports },
            kvdb_createtime: 1_700_000_000_000_000,
            kvdb_updateversion: 3,
        };
        let json = serde_json::to_value(&net).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "n1",
                "ports": ["viperflow.logicalport.p1", "viperflow.logicalport.p2"],
                "kvdb_createtime": 1_700_000_000_000_000u64,
                "kvdb_updateversion": 3
            })
        );
        let back: Stored<Net> = serde_json::from_value(json).unwrap();
        assert_eq!(back, net);
        let port = Port {
            id: "p1".into(),
            network: Ref::to(&net.data),
            peer: Some(WeakRef::from_key("viperflow.logicalport.p2")),
        };
        let json = serde_json::to_value(&port).unwrap();
        assert_eq!(json["network"], "viperflow.logicnetwork.n1");
        assert_eq!(serde_json::from_value::<Port>(json).unwrap(), port);
    }

    proptest! {
        #[test]
        fn escape_round_trips_and_never_contains_dots(s in ".*") {
            let e = escape_key(&s);
            prop_assert!(!e.contains('.'));
            prop_assert_eq!(unescape_key(&e), Some(s));
        }

        #[test]
        fn object_keys_parse_back(parts in proptest::collection::vec(".*", 0..4)) {
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            let key = object_key("viperflow.x", &refs);
            prop_assert_eq!(parse_object_key("viperflow.x", &key), Some(parts));
        }
    }
}
