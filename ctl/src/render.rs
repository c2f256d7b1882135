//! Turning API results into text: one-line cells for JSON values, aligned tables for lists and
//! `key: value` records for `show`. Pure functions, no I/O.

use serde_json::Value;

use crate::objects::Column;

/// The cell text of `o[name]`; `-` when missing or null.
pub fn field(o: &Value, name: &str) -> String {
    o.get(name).map_or_else(|| "-".into(), cell)
}

/// One line for a value, never empty: strings as they are (`""` when empty), referenced objects
/// by their `id` (or `name`), weak references by their key without the `viperflow.` prefix,
/// lists comma-joined (`-` when empty), anything else as compact JSON.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "\"\"".into(),
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => v.to_string(),
        Value::Object(m) => {
            if let Some(id) = m.get("id").or_else(|| m.get("name")).and_then(Value::as_str) {
                id.to_string()
            } else if let Some(key) = m.get("_weakref").or_else(|| m.get("_ref")).and_then(Value::as_str) {
                key.strip_prefix("viperflow.").unwrap_or(key).to_string()
            } else {
                v.to_string()
            }
        }
        Value::Array(items) if items.is_empty() => "-".into(),
        Value::Array(items) if items.iter().all(|i| !i.is_array()) => {
            items.iter().map(cell).collect::<Vec<_>>().join(",")
        }
        Value::Array(_) => v.to_string(),
    }
}

/// Inclusive ranges (`[[start, end], …]`, VLAN or VNI) as `start-end,…`; other values as
/// [`cell`].
pub fn ranges(v: &Value) -> String {
    let pair = |r: &Value| match r.as_array().map(Vec::as_slice) {
        Some([a, b]) if a.is_u64() && b.is_u64() => Some(format!("{a}-{b}")),
        _ => None,
    };
    match v.as_array().map(|rs| rs.iter().map(pair).collect::<Option<Vec<_>>>()) {
        Some(Some(rs)) if !rs.is_empty() => rs.join(","),
        _ => cell(v),
    }
}

/// Static routes (`[[cidr, nexthop], …]`) as `cidr via nexthop, …`; other values as [`cell`].
pub fn routes(v: &Value) -> String {
    let route = |r: &Value| match r.as_array().map(Vec::as_slice) {
        Some([Value::String(c), Value::String(n)]) => Some(format!("{c} via {n}")),
        _ => None,
    };
    match v.as_array().map(|rs| rs.iter().map(route).collect::<Option<Vec<_>>>()) {
        Some(Some(rs)) if !rs.is_empty() => rs.join(", "),
        _ => cell(v),
    }
}

/// An aligned table: a header row, then one row per object; columns separated by two spaces.
pub fn table(columns: &[Column], objects: &[Value]) -> String {
    let rows: Vec<Vec<String>> = std::iter::once(columns.iter().map(|c| c.header.to_string()).collect())
        .chain(objects.iter().map(|o| columns.iter().map(|c| (c.get)(o)).collect()))
        .collect();
    aligned(&rows)
}

/// Rows of cells, each column padded to its widest cell (the last column is not padded).
pub fn aligned(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(c);
            } else {
                line.push_str(c);
                line.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Every public attribute of an object as aligned `key: value` lines, in key order (internal
/// `_…` and `kvdb_…` bookkeeping left out).
pub fn record(o: &Value) -> String {
    let Some(m) = o.as_object() else { return format!("{}\n", cell(o)) };
    let mut keys: Vec<&String> =
        m.keys().filter(|k| !k.starts_with('_') && !k.starts_with("kvdb_")).collect();
    keys.sort();
    let rows: Vec<Vec<String>> = keys.into_iter().map(|k| vec![format!("{k}:"), cell(&m[k])]).collect();
    aligned(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_are_one_line() {
        assert_eq!(cell(&json!("a b")), "a b");
        assert_eq!(cell(&json!(1450)), "1450");
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!({"id": "net1", "mtu": 1})), "net1");
        assert_eq!(cell(&json!({"_weakref": "viperflow.routerport.r1"})), "routerport.r1");
        assert_eq!(cell(&json!(["10.0.0.1", "10.0.0.2"])), "10.0.0.1,10.0.0.2");
        assert_eq!(cell(&json!([[1000, 2000]])), "[[1000,2000]]");
        assert_eq!(cell(&json!([])), "-");
        assert_eq!(cell(&json!("")), "\"\"");
        assert_eq!(ranges(&json!([[1000, 2000], [3000, 3000]])), "1000-2000,3000-3000");
        assert_eq!(ranges(&json!([[1, "x"]])), "[[1,\"x\"]]");
        assert_eq!(routes(&json!([["198.18.9.0/24", "198.18.1.254"]])), "198.18.9.0/24 via 198.18.1.254");
        assert_eq!(routes(&json!([])), "-");
        assert_eq!(field(&json!({}), "x"), "-");
    }

    #[test]
    fn tables_align_on_the_widest_cell() {
        let cols = [
            Column { header: "ID", get: |o| field(o, "id") },
            Column { header: "MTU", get: |o| field(o, "mtu") },
        ];
        let t = table(&cols, &[json!({"id": "network_a", "mtu": 1450}), json!({"id": "b"})]);
        assert_eq!(t, "ID         MTU\nnetwork_a  1450\nb          -\n");
        assert_eq!(table(&cols, &[]), "ID  MTU\n");
    }

    #[test]
    fn records_hide_bookkeeping() {
        let r = record(&json!({"id": "p1", "_key": "k", "kvdb_createtime": 1, "network": {"id": "n"}}));
        assert_eq!(r, "id:       p1\nnetwork:  n\n");
    }
}
