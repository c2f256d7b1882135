//! The parts of a database schema (RFC 7047 §3.2) the client needs: each column's kind
//! (scalar, set or map) and default value.
//!
//! `update2` notifications (monitor_cond) send set and map changes as differences and omit
//! columns that hold their default; applying them correctly needs these two facts.

use std::collections::HashMap;

use serde_json::Value;

use super::datum::{Atom, Datum, Uuid};

/// The shape of a column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Exactly one atom (`min = max = 1`, no value type).
    Scalar,
    /// A set (including optional `0..1` columns).
    Set,
    /// A map (has a value type).
    Map,
}

/// A column's kind and default.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnType {
    /// Scalar, set or map.
    pub kind: ColumnKind,
    /// More than one element allowed (`max > 1`). Only such columns travel as differences in
    /// `update2`; others (scalars, optional `0..1` values) carry their new value.
    pub composite: bool,
    /// The value a new row has when the column is not given.
    pub default: Datum,
}

/// A schema could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad schema: {0}")]
pub struct SchemaError(pub String);

/// Table → column → type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    /// Database name.
    pub name: String,
    /// Per-table column types.
    pub tables: HashMap<String, HashMap<String, ColumnType>>,
}

impl Schema {
    /// Reads a `get_schema` result.
    pub fn from_json(v: &Value) -> Result<Schema, SchemaError> {
        let name = v.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
        let tables = v
            .get("tables")
            .and_then(Value::as_object)
            .ok_or_else(|| SchemaError("no \"tables\" object".into()))?;
        let mut out = HashMap::new();
        for (t, tv) in tables {
            let cols = tv
                .get("columns")
                .and_then(Value::as_object)
                .ok_or_else(|| SchemaError(format!("table {t} has no columns")))?;
            let mut cm = HashMap::new();
            for (c, cv) in cols {
                let ty = cv.get("type").ok_or_else(|| SchemaError(format!("{t}.{c} has no type")))?;
                cm.insert(c.clone(), column_type(ty).map_err(|e| SchemaError(format!("{t}.{c}: {e}")))?);
            }
            out.insert(t.clone(), cm);
        }
        Ok(Schema { name, tables: out })
    }

    /// The type of `table.column`, if known.
    pub fn column(&self, table: &str, column: &str) -> Option<&ColumnType> {
        self.tables.get(table)?.get(column)
    }
}

fn atomic_default(ty: &str) -> Result<Atom, String> {
    Ok(match ty {
        "integer" => Atom::Integer(0),
        "real" => Atom::Real(0.0),
        "boolean" => Atom::Boolean(false),
        "string" => Atom::String(String::new()),
        "uuid" => Atom::Uuid(Uuid(0)),
        other => return Err(format!("unknown atomic type {other:?}")),
    })
}

fn base_type(v: &Value) -> Result<&str, String> {
    match v {
        Value::String(s) => Ok(s),
        Value::Object(o) => {
            o.get("type").and_then(Value::as_str).ok_or_else(|| "base type without \"type\"".into())
        }
        _ => Err("base type is neither a string nor an object".into()),
    }
}

fn column_type(v: &Value) -> Result<ColumnType, String> {
    if let Value::String(s) = v {
        return Ok(ColumnType {
            kind: ColumnKind::Scalar,
            composite: false,
            default: Datum::Atom(atomic_default(s)?),
        });
    }
    let key = base_type(v.get("key").ok_or("type without \"key\"")?)?;
    let min = v.get("min").and_then(Value::as_u64).unwrap_or(1);
    let max = match v.get("max") {
        None => Some(1),
        Some(Value::String(s)) if s == "unlimited" => None,
        Some(m) => Some(m.as_u64().ok_or("bad max")?),
    };
    let composite = max != Some(1);
    if v.get("value").is_some() {
        return Ok(ColumnType { kind: ColumnKind::Map, composite, default: Datum::Map(Default::default()) });
    }
    if min == 1 && max == Some(1) {
        Ok(ColumnType { kind: ColumnKind::Scalar, composite, default: Datum::Atom(atomic_default(key)?) })
    } else {
        Ok(ColumnType { kind: ColumnKind::Set, composite, default: Datum::empty_set() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds() {
        let s = Schema::from_json(&json!({"name": "db", "tables": {"T": {"columns": {
            "a": {"type": "integer"},
            "b": {"type": {"key": "integer", "min": 0, "max": 1}},
            "c": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
            "d": {"type": {"key": {"type": "uuid", "refTable": "X"}, "min": 0, "max": "unlimited"}},
            "e": {"type": {"key": {"type": "string", "enum": ["set", ["a", "b"]]}}}
        }}}}))
        .unwrap();
        assert_eq!(s.column("T", "a").unwrap().kind, ColumnKind::Scalar);
        assert_eq!(s.column("T", "b").unwrap().kind, ColumnKind::Set);
        assert!(!s.column("T", "b").unwrap().composite);
        assert!(s.column("T", "d").unwrap().composite);
        assert_eq!(s.column("T", "c").unwrap().kind, ColumnKind::Map);
        assert_eq!(s.column("T", "d").unwrap().kind, ColumnKind::Set);
        assert_eq!(s.column("T", "e").unwrap().default, Datum::Atom(Atom::String(String::new())));
        assert!(Schema::from_json(&json!({"tables": {"T": {"columns": {"a": {"type": "blob"}}}}})).is_err());
        assert!(Schema::from_json(&json!([])).is_err());
    }
}
