//! Storage plumbing shared by the operations: batched key discovery, the write-transaction
//! wrapper that keeps field errors typed, listing with filters, and dumping objects the way the
//! original's web API shows them.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::error::{FieldError, ModelError};
use crate::objectdb::{DataObject, ObjectDb, Stored, TxnError, Walk, WriteTxn};

/// Read access shared by walkers and write transactions.
pub(crate) trait Reader {
    /// The JSON value under `key` (`None` = absent); `NotRetrieved` records the key as missing.
    fn read(&mut self, key: &str) -> Result<Option<Value>, TxnError>;

    /// Whether `key` holds a value (read without decoding it).
    fn present(&mut self, key: &str) -> Result<bool, TxnError> {
        self.read(key).map(|v| v.is_some())
    }

    /// The typed object under `key`.
    fn obj<T: DataObject>(&mut self, key: &str) -> Result<Option<T>, TxnError> {
        match self.read(key)? {
            None => Ok(None),
            Some(v) => serde_json::from_value::<Stored<T>>(v)
                .map(|s| Some(s.data))
                .map_err(|e| TxnError::Decode { key: key.into(), reason: e.to_string() }),
        }
    }
}

impl Reader for Walk<'_> {
    fn read(&mut self, key: &str) -> Result<Option<Value>, TxnError> {
        self.value(key)
    }
    fn present(&mut self, key: &str) -> Result<bool, TxnError> {
        self.exists(key)
    }
    fn obj<T: DataObject>(&mut self, key: &str) -> Result<Option<T>, TxnError> {
        Ok(self.get::<T>(key)?.map(|s| s.data))
    }
}

impl Reader for WriteTxn<'_> {
    fn read(&mut self, key: &str) -> Result<Option<Value>, TxnError> {
        self.value(key)
    }
    fn present(&mut self, key: &str) -> Result<bool, TxnError> {
        self.exists(key)
    }
    fn obj<T: DataObject>(&mut self, key: &str) -> Result<Option<T>, TxnError> {
        Ok(self.get::<T>(key)?.map(|s| s.data))
    }
}

/// Reads every key so that all missing ones are discovered in one round (a plain `?` on the
/// first miss would cost one snapshot round per key). Fails with `NotRetrieved` if any was
/// missing; the transaction driver then fetches them all and reruns.
pub(crate) fn touch<R: Reader, K: AsRef<str>>(
    r: &mut R,
    keys: impl IntoIterator<Item = K>,
) -> Result<(), TxnError> {
    let mut missing = None;
    for k in keys {
        match r.present(k.as_ref()) {
            Ok(_) => {}
            Err(TxnError::NotRetrieved(k)) => missing = Some(k),
            Err(e) => return Err(e),
        }
    }
    match missing {
        Some(k) => Err(TxnError::NotRetrieved(k)),
        None => Ok(()),
    }
}

/// Why a transaction body stopped: a storage condition, or the client's mistake.
#[derive(Debug)]
pub(crate) enum Fail {
    Txn(TxnError),
    Field(FieldError),
}

impl From<TxnError> for Fail {
    fn from(e: TxnError) -> Self {
        Fail::Txn(e)
    }
}

impl From<FieldError> for Fail {
    fn from(e: FieldError) -> Self {
        Fail::Field(e)
    }
}

/// Runs `body` as one ObjectDB write transaction. A [`FieldError`] from the final attempt
/// aborts it with nothing written and comes back typed.
pub(crate) async fn write<R>(
    db: &ObjectDb,
    keys: &[String],
    mut body: impl FnMut(&mut WriteTxn<'_>) -> Result<R, Fail>,
) -> Result<R, ModelError> {
    let mut refusal: Option<FieldError> = None;
    let r = db
        .transact(keys, |t| {
            refusal = None;
            match body(t) {
                Ok(v) => Ok(v),
                Err(Fail::Txn(e)) => Err(e),
                Err(Fail::Field(f)) => {
                    let msg = f.to_string();
                    refusal = Some(f);
                    Err(TxnError::Aborted(msg))
                }
            }
        })
        .await;
    match r {
        Ok(c) => Ok(c.value),
        Err(TxnError::Aborted(_)) if refusal.is_some() => Err(ModelError::Field(
            refusal.take().unwrap_or_else(|| FieldError::invalid("request", "refused")),
        )),
        Err(e) => Err(ModelError::Store(e)),
    }
}

/// How the web API shows one object type: its original class name and which fields are strong
/// references (expanded), weak references and sets of weak references.
struct Shape {
    prefix: &'static str,
    type_name: &'static str,
    strong: &'static [&'static str],
    weak: &'static [&'static str],
    sets: &'static [&'static str],
}

const SHAPES: &[Shape] = &[
    Shape {
        prefix: "viperflow.physicalnetwork",
        type_name: "vlcp.utils.networkmodel.PhysicalNetwork",
        strong: &[],
        weak: &[],
        sets: &[],
    },
    Shape {
        prefix: "viperflow.physicalport",
        type_name: "vlcp.utils.networkmodel.PhysicalPort",
        strong: &["physicalnetwork"],
        weak: &[],
        sets: &[],
    },
    Shape {
        prefix: "viperflow.logicnetwork",
        type_name: "vlcp.utils.networkmodel.LogicalNetwork",
        strong: &["physicalnetwork"],
        weak: &[],
        sets: &[],
    },
    Shape {
        prefix: "viperflow.subnet",
        type_name: "vlcp.utils.networkmodel.SubNet",
        strong: &["network"],
        weak: &["router"],
        sets: &[],
    },
    Shape {
        prefix: "viperflow.logicalport",
        type_name: "vlcp.utils.networkmodel.LogicalPort",
        strong: &["network", "subnet"],
        weak: &[],
        sets: &[],
    },
    Shape {
        prefix: "viperflow.vrouter",
        type_name: "vlcp.utils.networkmodel.VRouter",
        strong: &[],
        weak: &[],
        sets: &["interfaces"],
    },
    Shape {
        prefix: "viperflow.routerport",
        type_name: "vlcp.utils.networkmodel.RouterPort",
        strong: &["router", "subnet"],
        weak: &[],
        sets: &[],
    },
];

/// Nesting limit when expanding strong references (port → subnet → network → physical network).
const DUMP_DEPTH: usize = 5;

fn shape_of(key: &str) -> Option<&'static Shape> {
    SHAPES.iter().find(|s| key.strip_prefix(s.prefix).is_some_and(|rest| rest.starts_with('.')))
}

/// Dumps objects as the original's web API does: public attributes plus `_type` and `_key`,
/// strong references expanded into nested objects (`{"_ref": key}` if the target is gone), weak
/// references as `{"_weakref": key}`. Absent keys give `None`.
pub(crate) fn dump<R: Reader>(r: &mut R, keys: &[String]) -> Result<Vec<Option<Value>>, TxnError> {
    let mut seen: HashMap<String, Option<Value>> = HashMap::new();
    let mut frontier: Vec<String> = keys.to_vec();
    let mut missing = None;
    for _ in 0..DUMP_DEPTH {
        let mut next = Vec::new();
        for k in frontier {
            if seen.contains_key(&k) {
                continue;
            }
            match r.read(&k) {
                Ok(v) => {
                    if let (Some(obj), Some(shape)) = (&v, shape_of(&k)) {
                        next.extend(
                            shape.strong.iter().filter_map(|f| obj.get(*f)?.as_str().map(String::from)),
                        );
                    }
                    seen.insert(k, v);
                }
                Err(TxnError::NotRetrieved(k)) => missing = Some(k),
                Err(e) => return Err(e),
            }
        }
        frontier = next;
    }
    if let Some(k) = missing {
        return Err(TxnError::NotRetrieved(k));
    }
    Ok(keys.iter().map(|k| render(k, &seen, 0)).collect())
}

fn render(key: &str, seen: &HashMap<String, Option<Value>>, depth: usize) -> Option<Value> {
    let Some(Some(Value::Object(obj))) = seen.get(key) else { return None };
    let mut out = Map::new();
    let shape = shape_of(key);
    if let Some(s) = shape {
        out.insert("_type".into(), s.type_name.into());
    }
    out.insert("_key".into(), key.into());
    for (name, v) in obj {
        let field = name.as_str();
        let rendered = match (shape, v) {
            (Some(s), Value::String(target)) if s.strong.contains(&field) => (depth + 1 < DUMP_DEPTH)
                .then(|| render(target, seen, depth + 1))
                .flatten()
                .unwrap_or_else(|| json!({ "_ref": target })),
            (Some(s), Value::String(target)) if s.weak.contains(&field) => json!({ "_weakref": target }),
            (Some(s), Value::Array(items)) if s.sets.contains(&field) => {
                Value::Array(items.iter().map(|k| json!({ "_weakref": k })).collect())
            }
            _ => v.clone(),
        };
        out.insert(name.clone(), rendered);
    }
    Some(Value::Object(out))
}

/// Whether a stored attribute equals a filter value; a string filter also matches a number or
/// boolean with the same text (`mtu=1450` from a query string matches the integer 1450).
pub(crate) fn loose_eq(stored: &Value, want: &Value) -> bool {
    if stored == want {
        return true;
    }
    match (stored, want) {
        (Value::Number(n), Value::String(s)) => n.to_string() == s.trim(),
        (Value::Bool(b), Value::String(s)) => s.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        _ => false,
    }
}

/// A list call: the objects of the set object at `set_key` (or only `only`), kept when every
/// `(attribute, value)` filter matches the stored attribute, dumped.
pub(crate) async fn list(
    db: &ObjectDb,
    set_key: &str,
    only: Option<String>,
    filters: &[(String, Value)],
) -> Result<Vec<Value>, ModelError> {
    list_in(db, set_key, "set", only, filters).await
}

/// Like [`list`], over the key list in attribute `field` of the object at `set_key`.
pub(crate) async fn list_in(
    db: &ObjectDb,
    set_key: &str,
    field: &str,
    only: Option<String>,
    filters: &[(String, Value)],
) -> Result<Vec<Value>, ModelError> {
    let set_key = set_key.to_string();
    db.walk(std::slice::from_ref(&set_key), |w| {
        let candidates: Vec<String> = match &only {
            Some(k) => vec![k.clone()],
            None => match w.value(&set_key)? {
                None => Vec::new(),
                Some(v) => v
                    .get(field)
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|k| k.as_str().map(String::from)).collect())
                    .unwrap_or_default(),
            },
        };
        touch(w, &candidates)?;
        let mut keep = Vec::new();
        for k in candidates {
            if let Some(v) = w.value(&k)?
                && filters.iter().all(|(f, want)| v.get(f).is_some_and(|s| loose_eq(s, want)))
            {
                keep.push(k);
            }
        }
        Ok(dump(w, &keep)?.into_iter().flatten().collect())
    })
    .await
    .map_err(ModelError::Store)
}

/// Dumps the objects under `keys` (absent ones are skipped), in one consistent read.
pub(crate) async fn dump_keys(db: &ObjectDb, keys: &[String]) -> Result<Vec<Value>, ModelError> {
    db.walk(keys, |w| Ok(dump(w, keys)?.into_iter().flatten().collect())).await.map_err(ModelError::Store)
}

/// Objects of type `T` loaded once per transaction attempt, changed in place and written
/// back together (several items of a batch often touch the same map or set object).
pub(crate) struct Staged<T> {
    items: std::collections::BTreeMap<String, T>,
}

impl<T: DataObject> Staged<T> {
    pub(crate) fn new() -> Self {
        Staged { items: std::collections::BTreeMap::new() }
    }

    /// The object under `key`, loaded on first use; `None` if absent.
    pub(crate) fn get(&mut self, t: &mut WriteTxn<'_>, key: &str) -> Result<Option<&mut T>, TxnError> {
        if !self.items.contains_key(key) {
            match t.obj::<T>(key)? {
                Some(v) => {
                    self.items.insert(key.to_string(), v);
                }
                None => return Ok(None),
            }
        }
        Ok(self.items.get_mut(key))
    }

    /// Writes every staged object.
    pub(crate) fn put_all(&self, t: &mut WriteTxn<'_>) -> Result<(), TxnError> {
        for v in self.items.values() {
            t.put(v)?;
        }
        Ok(())
    }
}

/// Reads one typed object.
pub(crate) async fn get<T: DataObject>(db: &ObjectDb, key: String) -> Result<Option<T>, ModelError> {
    db.walk(std::slice::from_ref(&key), |w| w.obj::<T>(&key)).await.map_err(ModelError::Store)
}

/// Checks the ids of a batch are distinct ("Repeated ID" in the original).
pub(crate) fn check_distinct<'a>(ids: impl IntoIterator<Item = &'a str>) -> Result<(), FieldError> {
    let mut seen = std::collections::HashSet::new();
    for (i, id) in ids.into_iter().enumerate() {
        if !seen.insert(id) {
            return Err(FieldError::invalid("id", format!("repeated id {id:?} in one batch")).at(i));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_equality_for_query_filters() {
        assert!(loose_eq(&json!(1450), &json!("1450")));
        assert!(loose_eq(&json!(true), &json!("True")));
        assert!(loose_eq(&json!("a"), &json!("a")));
        assert!(!loose_eq(&json!(1450), &json!("1451")));
        assert!(!loose_eq(&json!("1450"), &json!(1450)));
    }

    #[test]
    fn shapes_match_whole_prefixes() {
        assert_eq!(shape_of("viperflow.logicalport.p1").unwrap().prefix, "viperflow.logicalport");
        assert!(shape_of("viperflow.logicalportvxlaninfo.p1").is_none());
        assert_eq!(shape_of("viperflow.subnet.s").unwrap().prefix, "viperflow.subnet");
        assert!(shape_of("viperflow.subnetmap.s").is_none());
        assert_eq!(shape_of("viperflow.vrouter.r").unwrap().prefix, "viperflow.vrouter");
    }
}
