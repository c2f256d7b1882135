//! Monitors (RFC 7047 §4.1.5, ovsdb-server(7) `monitor_cond`) and the row cache they feed.
//!
//! A [`MonitorSpec`] names the tables and columns to watch and builds the `monitor` or
//! `monitor_cond` parameters. A [`Cache`] holds the monitored rows; it applies the initial reply
//! and each later `update` (`<table-updates>`, full new values) or `update2`
//! (`<table-updates2>`, differences) and reports each row change as a [`RowChange`], in table
//! order of the spec. After a reconnect, build a fresh cache from the new initial reply and call
//! [`Cache::resync`]: only rows that really differ are reported, so consumers see no duplicates.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::datum::{Datum, DatumError, Uuid};
use super::ops::Row;
use super::schema::{ColumnKind, Schema};

/// A monitor update could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad monitor update for {table} {uuid}: {detail}")]
pub struct UpdateError {
    /// Table named in the update.
    pub table: String,
    /// Row named in the update (may be unparsable).
    pub uuid: String,
    /// What was wrong.
    pub detail: String,
}

/// Tables and columns to monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorSpec {
    /// Database name (`Open_vSwitch`).
    pub db: String,
    /// `(table, columns)` in the order row changes are reported.
    pub tables: Vec<(String, Vec<String>)>,
}

impl MonitorSpec {
    /// Parameters of a `monitor` (`cond == false`) or `monitor_cond` request.
    pub fn params(&self, monitor_id: &Value, cond: bool) -> Value {
        let reqs: Map<String, Value> = self
            .tables
            .iter()
            .map(|(t, cols)| {
                let r = json!({"columns": cols});
                (t.clone(), if cond { json!([r]) } else { r })
            })
            .collect();
        json!([self.db, monitor_id, reqs])
    }
}

/// Which encoding an update uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateFormat {
    /// `monitor` / `update`: `{"old": ..., "new": ...}` with full new values.
    V1,
    /// `monitor_cond` / `update2`: `initial` / `insert` / `delete` / `modify` with differences.
    V2,
}

/// One row that changed.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    /// Table.
    pub table: String,
    /// Row UUID.
    pub uuid: Uuid,
    /// The row before (`None`: inserted).
    pub old: Option<Arc<Row>>,
    /// The row after (`None`: deleted).
    pub new: Option<Arc<Row>>,
}

/// The monitored rows: table → UUID → row (monitored columns only, defaults filled in).
#[derive(Debug, Clone, Default)]
pub struct Cache {
    spec_tables: Vec<(String, Vec<String>)>,
    schema: Option<Arc<Schema>>,
    tables: HashMap<String, HashMap<Uuid, Arc<Row>>>,
}

impl Cache {
    /// An empty cache for `spec`. The schema is needed for `update2` (V2) updates; without it,
    /// value shapes decide how differences apply.
    pub fn new(spec: &MonitorSpec, schema: Option<Arc<Schema>>) -> Cache {
        Cache { spec_tables: spec.tables.clone(), schema, tables: HashMap::new() }
    }

    /// The rows of `table`.
    pub fn table(&self, table: &str) -> impl Iterator<Item = (&Uuid, &Arc<Row>)> {
        self.tables.get(table).into_iter().flatten()
    }

    /// One row.
    pub fn row(&self, table: &str, uuid: &Uuid) -> Option<&Arc<Row>> {
        self.tables.get(table)?.get(uuid)
    }

    /// Number of rows in `table`.
    pub fn len(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, HashMap::len)
    }

    /// True if no rows are cached.
    pub fn is_empty(&self) -> bool {
        self.tables.values().all(HashMap::is_empty)
    }

    /// The column's shape and whether `update2` sends it as a difference; without a schema,
    /// the value's shape decides.
    fn kind(&self, table: &str, column: &str, value: &Datum) -> (ColumnKind, bool) {
        match self.schema.as_ref().and_then(|s| s.column(table, column)) {
            Some(t) => (t.kind, t.composite),
            None => match value {
                Datum::Atom(_) => (ColumnKind::Scalar, false),
                Datum::Set(_) => (ColumnKind::Set, true),
                Datum::Map(_) => (ColumnKind::Map, true),
            },
        }
    }

    /// Decodes a wire row, normalising set columns and filling missing monitored columns.
    fn full_row(&self, table: &str, v: &Value, fill: bool) -> Result<Row, String> {
        let obj = v.as_object().ok_or("row is not an object")?;
        let mut row = Row::new();
        for (c, cv) in obj {
            let d = Datum::from_json(cv).map_err(|e: DatumError| format!("column {c}: {e}"))?;
            let d = if self.kind(table, c, &d).0 == ColumnKind::Set { d.into_set() } else { d };
            row.insert(c.clone(), d);
        }
        if fill && let Some(schema) = &self.schema {
            let cols = self.spec_tables.iter().find(|(t, _)| t == table).map(|(_, c)| c.as_slice());
            for c in cols.unwrap_or_default() {
                if !row.contains_key(c)
                    && let Some(ty) = schema.column(table, c)
                {
                    row.insert(c.clone(), ty.default.clone());
                }
            }
        }
        Ok(row)
    }

    /// Applies a monitor reply or notification payload (`<table-updates>` or
    /// `<table-updates2>`), returning the row changes in spec table order.
    pub fn apply(&mut self, updates: &Value, format: UpdateFormat) -> Result<Vec<RowChange>, UpdateError> {
        let Some(obj) = updates.as_object() else {
            return Err(UpdateError {
                table: "?".into(),
                uuid: "?".into(),
                detail: "updates is not an object".into(),
            });
        };
        let mut changes = Vec::new();
        let order: Vec<String> = self.spec_tables.iter().map(|(t, _)| t.clone()).collect();
        let known = order.iter().filter_map(|t| obj.get_key_value(t.as_str()));
        let unknown = obj.iter().filter(|(t, _)| !order.iter().any(|o| o == *t));
        for (table, rows) in known.chain(unknown) {
            let Some(rows) = rows.as_object() else {
                return Err(UpdateError {
                    table: table.clone(),
                    uuid: "?".into(),
                    detail: "not an object".into(),
                });
            };
            for (us, ru) in rows {
                let err = |detail: String| UpdateError { table: table.clone(), uuid: us.clone(), detail };
                let uuid: Uuid = us.parse().map_err(|e: DatumError| err(e.to_string()))?;
                let change = match format {
                    UpdateFormat::V1 => self.apply_v1(table, uuid, ru),
                    UpdateFormat::V2 => self.apply_v2(table, uuid, ru),
                }
                .map_err(err)?;
                changes.extend(change);
            }
        }
        Ok(changes)
    }

    fn put(&mut self, table: &str, uuid: Uuid, new: Option<Row>) -> Option<RowChange> {
        let t = self.tables.entry(table.to_owned()).or_default();
        let new = new.map(Arc::new);
        let old = match &new {
            Some(r) => t.insert(uuid, r.clone()),
            None => t.remove(&uuid),
        };
        if old.is_none() && new.is_none() {
            return None;
        }
        Some(RowChange { table: table.to_owned(), uuid, old, new })
    }

    fn apply_v1(&mut self, table: &str, uuid: Uuid, ru: &Value) -> Result<Option<RowChange>, String> {
        let new = match ru.get("new") {
            None | Some(Value::Null) => None,
            Some(n) => {
                let part = self.full_row(table, n, false)?;
                let mut row = match self.row(table, &uuid) {
                    Some(existing) => Row::clone(existing),
                    None => self.full_row(table, &json!({}), true)?,
                };
                row.extend(part);
                Some(row)
            }
        };
        Ok(self.put(table, uuid, new))
    }

    fn apply_v2(&mut self, table: &str, uuid: Uuid, ru: &Value) -> Result<Option<RowChange>, String> {
        let obj = ru.as_object().ok_or("row update is not an object")?;
        if let Some(r) = obj.get("initial").or_else(|| obj.get("insert")) {
            let row = self.full_row(table, r, true)?;
            return Ok(self.put(table, uuid, Some(row)));
        }
        if obj.contains_key("delete") {
            return Ok(self.put(table, uuid, None));
        }
        let diff = obj.get("modify").ok_or("row update has none of initial/insert/delete/modify")?;
        let diff = diff.as_object().ok_or("modify is not an object")?;
        let Some(existing) = self.row(table, &uuid) else {
            return Err("modify of a row not in the cache".into());
        };
        let mut row = Row::clone(existing);
        for (c, dv) in diff {
            let d = Datum::from_json(dv).map_err(|e| format!("column {c}: {e}"))?;
            let (kind, composite) = self.kind(table, c, &d);
            let cur = row.remove(c);
            let value = match kind {
                _ if !composite && kind == ColumnKind::Set => d.into_set(),
                _ if !composite => d,
                kind => apply_diff(kind, cur, d),
            };
            row.insert(c.clone(), value);
        }
        Ok(self.put(table, uuid, Some(row)))
    }

    /// Replaces this cache's rows with `fresh`'s and returns only the rows that differ
    /// (inserted, deleted or changed while the connection was down).
    pub fn resync(&mut self, fresh: Cache) -> Vec<RowChange> {
        let mut changes = Vec::new();
        let order: Vec<String> = self.spec_tables.iter().map(|(t, _)| t.clone()).collect();
        let mut fresh_tables = fresh.tables;
        for table in &order {
            let mut old = self.tables.remove(table).unwrap_or_default();
            let new = fresh_tables.remove(table).unwrap_or_default();
            let mut sorted: Vec<_> = new.iter().collect();
            sorted.sort_by_key(|(u, _)| **u);
            for (u, r) in sorted {
                match old.remove(u) {
                    Some(o) if o == *r => {}
                    o => changes.push(RowChange {
                        table: table.clone(),
                        uuid: *u,
                        old: o,
                        new: Some(r.clone()),
                    }),
                }
            }
            let mut gone: Vec<_> = old.into_iter().collect();
            gone.sort_by_key(|(u, _)| *u);
            for (u, o) in gone {
                changes.push(RowChange { table: table.clone(), uuid: u, old: Some(o), new: None });
            }
            self.tables.insert(table.clone(), new);
        }
        self.schema = fresh.schema.or(self.schema.take());
        changes
    }
}

/// Applies one `update2` difference to a composite (`max > 1`) column: sets take the symmetric
/// difference; maps add new keys, drop keys given with their current value, and replace values.
fn apply_diff(kind: ColumnKind, cur: Option<Datum>, diff: Datum) -> Datum {
    match kind {
        ColumnKind::Scalar => diff,
        ColumnKind::Set => {
            let mut set = match cur.map(Datum::into_set) {
                Some(Datum::Set(s)) => s,
                _ => Default::default(),
            };
            for a in diff.as_set() {
                if !set.remove(a) {
                    set.insert(a.clone());
                }
            }
            Datum::Set(set)
        }
        ColumnKind::Map => {
            let mut map: BTreeMap<_, _> = match cur {
                Some(Datum::Map(m)) => m,
                _ => BTreeMap::new(),
            };
            if let Datum::Map(d) = diff {
                for (k, v) in d {
                    match map.get(&k) {
                        Some(old) if *old == v => {
                            map.remove(&k);
                        }
                        _ => {
                            map.insert(k, v);
                        }
                    }
                }
            }
            Datum::Map(map)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::datum::Atom;

    const U1: &str = "11111111-1111-1111-1111-111111111111";
    const U2: &str = "22222222-2222-2222-2222-222222222222";

    fn spec() -> MonitorSpec {
        MonitorSpec {
            db: "db".into(),
            tables: vec![("I".into(), vec!["name".into(), "ofport".into(), "ids".into(), "tags".into()])],
        }
    }

    fn schema() -> Arc<Schema> {
        Arc::new(
            Schema::from_json(&json!({"name": "db", "tables": {"I": {"columns": {
                "name": {"type": "string"},
                "ofport": {"type": {"key": "integer", "min": 0, "max": 1}},
                "ids": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                "tags": {"type": {"key": "integer", "min": 0, "max": "unlimited"}}
            }}}}))
            .unwrap(),
        )
    }

    #[test]
    fn params_shapes() {
        let p = spec().params(&json!("m"), true);
        assert_eq!(p, json!(["db", "m", {"I": [{"columns": ["name", "ofport", "ids", "tags"]}]}]));
        assert_eq!(spec().params(&json!("m"), false)[2]["I"]["columns"][0], "name");
    }

    #[test]
    fn update2_diffs_and_defaults() {
        let mut c = Cache::new(&spec(), Some(schema()));
        let ch = c.apply(&json!({"I": {U1: {"initial": {"name": "a"}}}}), UpdateFormat::V2).unwrap();
        let row = ch[0].new.as_ref().unwrap();
        assert_eq!(row["ofport"], Datum::empty_set());
        assert_eq!(row["ids"], Datum::Map(BTreeMap::new()));
        // ofport (0..1) [] -> 5 -> 6 by new value; tags {} -> {1,2} -> {2,3} by symmetric
        // difference; map insert, then change + delete.
        let m1 = json!({"I": {U1: {"modify": {"ofport": 5, "tags": ["set", [1, 2]], "ids": ["map", [["k", "v"], ["x", "1"]]]}}}});
        c.apply(&m1, UpdateFormat::V2).unwrap();
        let m2 = json!({"I": {U1: {"modify": {"ofport": 6, "tags": ["set", [1, 3]], "ids": ["map", [["k", "w"], ["x", "1"]]]}}}});
        let ch = c.apply(&m2, UpdateFormat::V2).unwrap();
        assert_eq!(ch[0].new.as_ref().unwrap()["tags"], Datum::set([2i64, 3]));
        let new = ch[0].new.as_ref().unwrap();
        assert_eq!(new["ofport"].as_single(), Some(&Atom::Integer(6)));
        assert_eq!(new["ids"], Datum::map([("k", "w")]));
        assert_eq!(ch[0].old.as_ref().unwrap()["ofport"].as_single(), Some(&Atom::Integer(5)));
        let ch = c.apply(&json!({"I": {U1: {"delete": null}}}), UpdateFormat::V2).unwrap();
        assert!(ch[0].new.is_none());
        assert!(c.is_empty());
        let e = c.apply(&json!({"I": {U2: {"modify": {}}}}), UpdateFormat::V2).unwrap_err();
        assert!(e.to_string().contains("not in the cache"));
        assert!(c.apply(&json!({"I": {"nope": {"delete": null}}}), UpdateFormat::V2).is_err());
        assert!(c.apply(&json!({"I": {U2: {"insert": {"name": [1]}}}}), UpdateFormat::V2).is_err());
    }

    #[test]
    fn update1_and_resync_reports_only_differences() {
        let mut c = Cache::new(&spec(), Some(schema()));
        c.apply(
            &json!({"I": {U1: {"new": {"name": "a", "ofport": 1, "ids": ["map", []]}}, U2: {"new": {"name": "b", "ofport": ["set", []], "ids": ["map", []]}}}}),
            UpdateFormat::V1,
        )
        .unwrap();
        let ch = c.apply(&json!({"I": {U2: {"old": {"ofport": ["set", []]}, "new": {"name": "b", "ofport": 2, "ids": ["map", []]}}}}), UpdateFormat::V1).unwrap();
        assert_eq!(ch.len(), 1);
        let mut fresh = Cache::new(&spec(), Some(schema()));
        let u3 = "33333333-3333-3333-3333-333333333333";
        fresh
            .apply(
                &json!({"I": {U2: {"initial": {"name": "b", "ofport": 2}}, u3: {"initial": {"name": "c"}}}}),
                UpdateFormat::V2,
            )
            .unwrap();
        let ch = c.resync(fresh);
        let kinds: Vec<_> =
            ch.iter().map(|c| (c.uuid.to_string(), c.old.is_some(), c.new.is_some())).collect();
        assert_eq!(kinds, vec![(u3.to_string(), false, true), (U1.to_string(), true, false)]);
        assert_eq!(c.len("I"), 2);
    }
}
