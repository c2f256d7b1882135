//! Typed `transact` operations (RFC 7047 §5.2) and their results.
//!
//! Build a transaction as a `Vec<Operation>`, encode it with [`transact_params`], and read the
//! server's answer with [`parse_results`], which returns one [`OpResult`] per operation or the
//! first failure as a [`TxnError`] that names the failed operation by index and kind.
//!
//! ```
//! use vlcp::ovsdb::ops::{Condition, Operation, transact_params};
//! let ops = vec![Operation::select("Bridge", vec![Condition::eq("name", "br0")], &["ports"])];
//! let params = transact_params("Open_vSwitch", &ops);
//! assert_eq!(params[1]["op"], "select");
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value, json};

use super::datum::{Atom, Datum, DatumError, Uuid};

/// A row (or part of one): column name → value.
pub type Row = BTreeMap<String, Datum>;

/// Comparison in a `where` clause (RFC 7047 §5.1 `<condition>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `includes`
    Includes,
    /// `excludes`
    Excludes,
}

impl Function {
    fn as_str(self) -> &'static str {
        match self {
            Function::Lt => "<",
            Function::Le => "<=",
            Function::Eq => "==",
            Function::Ne => "!=",
            Function::Ge => ">=",
            Function::Gt => ">",
            Function::Includes => "includes",
            Function::Excludes => "excludes",
        }
    }
}

/// One `[column, function, value]` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Column name (`_uuid` allowed).
    pub column: String,
    /// Comparison.
    pub function: Function,
    /// Right-hand side.
    pub value: Datum,
}

impl Condition {
    /// `column == value`.
    pub fn eq(column: &str, value: impl Into<Atom>) -> Condition {
        Condition { column: column.into(), function: Function::Eq, value: Datum::Atom(value.into()) }
    }

    /// `_uuid == uuid`.
    pub fn uuid(uuid: Uuid) -> Condition {
        Condition::eq("_uuid", uuid)
    }

    fn to_json(&self) -> Value {
        json!([self.column, self.function.as_str(), self.value.to_json()])
    }
}

/// Mutator of a `mutate` operation (RFC 7047 §5.1 `<mutation>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutator {
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=`
    Div,
    /// `%=`
    Mod,
    /// Add elements to a set or pairs to a map (existing keys are kept).
    Insert,
    /// Remove elements from a set, or pairs / keys from a map.
    Delete,
}

impl Mutator {
    fn as_str(self) -> &'static str {
        match self {
            Mutator::Add => "+=",
            Mutator::Sub => "-=",
            Mutator::Mul => "*=",
            Mutator::Div => "/=",
            Mutator::Mod => "%=",
            Mutator::Insert => "insert",
            Mutator::Delete => "delete",
        }
    }
}

/// One `[column, mutator, value]` mutation.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    /// Column name.
    pub column: String,
    /// What to do.
    pub mutator: Mutator,
    /// Operand.
    pub value: Datum,
}

impl Mutation {
    /// A mutation.
    pub fn new(column: &str, mutator: Mutator, value: Datum) -> Mutation {
        Mutation { column: column.into(), mutator, value }
    }
}

/// The `until` of a `wait` operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitUntil {
    /// Succeed when the selected columns equal `rows`.
    Equal,
    /// Succeed when they differ from `rows`.
    NotEqual,
}

/// One transaction operation (RFC 7047 §5.2.1–§5.2.11).
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// Insert a row; `uuid_name` lets later operations refer to it as `named-uuid`.
    Insert {
        /// Table.
        table: String,
        /// Initial column values (others get defaults).
        row: Row,
        /// Optional name for `["named-uuid", name]` references.
        uuid_name: Option<String>,
    },
    /// Read matching rows.
    Select {
        /// Table.
        table: String,
        /// Conditions (all must hold).
        conditions: Vec<Condition>,
        /// Columns to return (`None`: all).
        columns: Option<Vec<String>>,
    },
    /// Set columns of matching rows.
    Update {
        /// Table.
        table: String,
        /// Conditions.
        conditions: Vec<Condition>,
        /// New column values.
        row: Row,
    },
    /// Mutate columns of matching rows.
    Mutate {
        /// Table.
        table: String,
        /// Conditions.
        conditions: Vec<Condition>,
        /// Mutations, applied in order.
        mutations: Vec<Mutation>,
    },
    /// Delete matching rows.
    Delete {
        /// Table.
        table: String,
        /// Conditions.
        conditions: Vec<Condition>,
    },
    /// Abort the transaction unless the selected columns (do not) equal `rows`.
    Wait {
        /// Table.
        table: String,
        /// Conditions.
        conditions: Vec<Condition>,
        /// Columns compared.
        columns: Vec<String>,
        /// Comparison.
        until: WaitUntil,
        /// Expected rows (only `columns`).
        rows: Vec<Row>,
        /// Milliseconds to wait; `Some(0)` checks once (optimistic concurrency).
        timeout_ms: Option<u64>,
    },
    /// Ask for durability before the reply.
    Commit {
        /// Wait for the commit to reach disk.
        durable: bool,
    },
    /// Abort the transaction on purpose.
    Abort,
    /// A comment for the server log.
    Comment(String),
}

impl Operation {
    /// `select` of some columns.
    pub fn select(table: &str, conditions: Vec<Condition>, columns: &[&str]) -> Operation {
        Operation::Select {
            table: table.into(),
            conditions,
            columns: Some(columns.iter().map(|c| (*c).to_owned()).collect()),
        }
    }

    /// The operation's wire name, used in errors.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Insert { .. } => "insert",
            Operation::Select { .. } => "select",
            Operation::Update { .. } => "update",
            Operation::Mutate { .. } => "mutate",
            Operation::Delete { .. } => "delete",
            Operation::Wait { .. } => "wait",
            Operation::Commit { .. } => "commit",
            Operation::Abort => "abort",
            Operation::Comment(_) => "comment",
        }
    }

    /// The table the operation touches, if any.
    pub fn table(&self) -> Option<&str> {
        match self {
            Operation::Insert { table, .. }
            | Operation::Select { table, .. }
            | Operation::Update { table, .. }
            | Operation::Mutate { table, .. }
            | Operation::Delete { table, .. }
            | Operation::Wait { table, .. } => Some(table),
            _ => None,
        }
    }

    /// Encodes as an RFC 7047 operation object.
    pub fn to_json(&self) -> Value {
        let conds = |c: &[Condition]| Value::Array(c.iter().map(Condition::to_json).collect());
        let mut o = Map::new();
        o.insert("op".into(), json!(self.name()));
        if let Some(t) = self.table() {
            o.insert("table".into(), json!(t));
        }
        match self {
            Operation::Insert { row, uuid_name, .. } => {
                o.insert("row".into(), row_json(row));
                if let Some(n) = uuid_name {
                    o.insert("uuid-name".into(), json!(n));
                }
            }
            Operation::Select { conditions, columns, .. } => {
                o.insert("where".into(), conds(conditions));
                if let Some(c) = columns {
                    o.insert("columns".into(), json!(c));
                }
            }
            Operation::Update { conditions, row, .. } => {
                o.insert("where".into(), conds(conditions));
                o.insert("row".into(), row_json(row));
            }
            Operation::Mutate { conditions, mutations, .. } => {
                o.insert("where".into(), conds(conditions));
                let m = mutations
                    .iter()
                    .map(|m| json!([m.column, m.mutator.as_str(), m.value.to_json()]))
                    .collect();
                o.insert("mutations".into(), Value::Array(m));
            }
            Operation::Delete { conditions, .. } => {
                o.insert("where".into(), conds(conditions));
            }
            Operation::Wait { conditions, columns, until, rows, timeout_ms, .. } => {
                o.insert("where".into(), conds(conditions));
                o.insert("columns".into(), json!(columns));
                o.insert("until".into(), json!(if *until == WaitUntil::Equal { "==" } else { "!=" }));
                o.insert("rows".into(), Value::Array(rows.iter().map(row_json).collect()));
                if let Some(t) = timeout_ms {
                    o.insert("timeout".into(), json!(t));
                }
            }
            Operation::Commit { durable } => {
                o.insert("durable".into(), json!(durable));
            }
            Operation::Abort => {}
            Operation::Comment(c) => {
                o.insert("comment".into(), json!(c));
            }
        }
        Value::Object(o)
    }
}

/// Encodes a row as a JSON object.
pub fn row_json(row: &Row) -> Value {
    Value::Object(row.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// Decodes a JSON object into a row.
pub fn row_from_json(v: &Value) -> Result<Row, DatumError> {
    let Some(o) = v.as_object() else {
        return Err(DatumError::BadAtom(format!("row is not an object: {v}")));
    };
    o.iter().map(|(k, v)| Ok((k.clone(), Datum::from_json(v)?))).collect()
}

/// The `params` of a `transact` request: `[db, op, op, ...]`.
pub fn transact_params(db: &str, ops: &[Operation]) -> Value {
    let mut p = vec![json!(db)];
    p.extend(ops.iter().map(Operation::to_json));
    Value::Array(p)
}

/// The result of one successful operation.
#[derive(Debug, Clone, PartialEq)]
pub enum OpResult {
    /// `insert`: the new row's UUID.
    Inserted(Uuid),
    /// `select`: the rows.
    Rows(Vec<Row>),
    /// `update` / `mutate` / `delete`: number of rows matched.
    Count(u64),
    /// Anything else (`wait`, `commit`, `comment`, ...).
    Empty,
}

/// The error strings of RFC 7047 §4.1.3 and §5.2, plus ovsdb-server's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// `referential integrity violation`
    ReferentialIntegrity,
    /// `constraint violation`
    ConstraintViolation,
    /// `resources exhausted`
    ResourcesExhausted,
    /// `I/O error`
    Io,
    /// `duplicate uuid-name`
    DuplicateUuidName,
    /// `domain error`
    Domain,
    /// `range error`
    Range,
    /// `timed out`: a `wait` condition did not hold.
    TimedOut,
    /// `not supported`
    NotSupported,
    /// `aborted`
    Aborted,
    /// `not owner`
    NotOwner,
    /// `syntax error or unknown column` and similar request errors.
    Syntax,
    /// Any other string.
    Other(String),
}

impl ErrorKind {
    /// Classifies an error string.
    pub fn parse(s: &str) -> ErrorKind {
        match s {
            "referential integrity violation" => ErrorKind::ReferentialIntegrity,
            "constraint violation" => ErrorKind::ConstraintViolation,
            "resources exhausted" => ErrorKind::ResourcesExhausted,
            "I/O error" => ErrorKind::Io,
            "duplicate uuid-name" => ErrorKind::DuplicateUuidName,
            "domain error" => ErrorKind::Domain,
            "range error" => ErrorKind::Range,
            "timed out" => ErrorKind::TimedOut,
            "not supported" => ErrorKind::NotSupported,
            "aborted" => ErrorKind::Aborted,
            "not owner" => ErrorKind::NotOwner,
            s if s.starts_with("syntax error") || s.starts_with("unknown") => ErrorKind::Syntax,
            other => ErrorKind::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Other(s) => f.write_str(s),
            k => write!(f, "{}", format!("{k:?}").to_lowercase()),
        }
    }
}

/// A transaction failed; names the operation that failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("transaction failed at operation #{index} ({op}{}): {error}{}",
    table.as_deref().map(|t| format!(" on {t}")).unwrap_or_default(),
    details.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
pub struct TxnError {
    /// Index of the failed operation; `ops.len()` when the commit itself failed.
    pub index: usize,
    /// Name of the failed operation (`"wait"`, `"insert"`, ... or `"commit"`).
    pub op: &'static str,
    /// The table it touched.
    pub table: Option<String>,
    /// Classified error.
    pub kind: ErrorKind,
    /// The raw error string.
    pub error: String,
    /// The server's `details`, if any.
    pub details: Option<String>,
}

impl TxnError {
    /// True when a `wait` found the database changed: rebuild against a fresh view and retry.
    pub fn is_conflict(&self) -> bool {
        self.op == "wait" && self.kind == ErrorKind::TimedOut
    }
}

/// The server's `transact` result did not have the RFC 7047 shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed transact result: {0}")]
pub struct MalformedResult(pub String);

/// Reads a `transact` result for `ops`: `Ok(Ok(results))`, `Ok(Err(first failure))`, or
/// `Err` when the reply itself is malformed.
pub fn parse_results(
    ops: &[Operation],
    result: &Value,
) -> Result<Result<Vec<OpResult>, TxnError>, MalformedResult> {
    let arr = result.as_array().ok_or_else(|| MalformedResult("not an array".into()))?;
    let mut out = Vec::with_capacity(ops.len());
    for (index, r) in arr.iter().enumerate() {
        if let Some(e) = r.get("error").and_then(Value::as_str) {
            let op = ops.get(index);
            return Ok(Err(TxnError {
                index,
                op: op.map_or("commit", Operation::name),
                table: op.and_then(Operation::table).map(str::to_owned),
                kind: ErrorKind::parse(e),
                error: e.to_owned(),
                details: r.get("details").and_then(Value::as_str).map(str::to_owned),
            }));
        }
        let Some(op) = ops.get(index) else { break };
        let bad = |what: &str| MalformedResult(format!("operation #{index} ({}): {what}", op.name()));
        out.push(match op {
            Operation::Insert { .. } => {
                let u = r.get("uuid").ok_or_else(|| bad("no uuid"))?;
                let a = Atom::from_json(u).map_err(|e| bad(&e.to_string()))?;
                OpResult::Inserted(a.as_uuid().ok_or_else(|| bad("uuid is not a uuid"))?)
            }
            Operation::Select { .. } => {
                let rows = r.get("rows").and_then(Value::as_array).ok_or_else(|| bad("no rows"))?;
                OpResult::Rows(
                    rows.iter()
                        .map(row_from_json)
                        .collect::<Result<_, _>>()
                        .map_err(|e| bad(&e.to_string()))?,
                )
            }
            Operation::Update { .. } | Operation::Mutate { .. } | Operation::Delete { .. } => {
                OpResult::Count(r.get("count").and_then(Value::as_u64).ok_or_else(|| bad("no count"))?)
            }
            _ => OpResult::Empty,
        });
    }
    if out.len() < ops.len() {
        return Err(MalformedResult(format!("{} results for {} operations", out.len(), ops.len())));
    }
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_all_ops() {
        let ops = vec![
            Operation::Wait {
                table: "Bridge".into(),
                conditions: vec![Condition::eq("name", "br0")],
                columns: vec!["name".into()],
                until: WaitUntil::Equal,
                rows: vec![],
                timeout_ms: Some(0),
            },
            Operation::Insert {
                table: "Port".into(),
                row: Row::from([("name".into(), Datum::Atom("p".into()))]),
                uuid_name: Some("p".into()),
            },
            Operation::Mutate {
                table: "Bridge".into(),
                conditions: vec![],
                mutations: vec![Mutation::new(
                    "ports",
                    Mutator::Insert,
                    Datum::set([Atom::NamedUuid("p".into())]),
                )],
            },
            Operation::Comment("hi".into()),
            Operation::Commit { durable: false },
            Operation::Abort,
        ];
        let p = transact_params("Open_vSwitch", &ops);
        assert_eq!(
            p[1],
            json!({"op":"wait","table":"Bridge","where":[["name","==","br0"]],"columns":["name"],"until":"==","rows":[],"timeout":0})
        );
        assert_eq!(p[2]["uuid-name"], "p");
        assert_eq!(p[3]["mutations"], json!([["ports", "insert", ["set", [["named-uuid", "p"]]]]]));
        assert_eq!(p[6], json!({"op": "abort"}));
    }

    #[test]
    fn results_and_errors() {
        let ops = vec![
            Operation::Insert { table: "Port".into(), row: Row::new(), uuid_name: None },
            Operation::Wait {
                table: "Bridge".into(),
                conditions: vec![],
                columns: vec![],
                until: WaitUntil::Equal,
                rows: vec![],
                timeout_ms: Some(0),
            },
        ];
        let ok = json!([{"uuid": ["uuid", "550e8400-e29b-41d4-a716-446655440000"]}, {}]);
        let r = parse_results(&ops, &ok).unwrap().unwrap();
        assert!(matches!(r[0], OpResult::Inserted(_)));
        let failed = json!([{"uuid": ["uuid", "550e8400-e29b-41d4-a716-446655440000"]}, {"error": "timed out", "details": "\"wait\" timed out"}, null]);
        let e = parse_results(&ops, &failed).unwrap().unwrap_err();
        assert!(e.is_conflict());
        assert_eq!(e.index, 1);
        assert!(e.to_string().contains("#1 (wait on Bridge)"), "{e}");
        let commit = json!([{"uuid": ["uuid", "550e8400-e29b-41d4-a716-446655440000"]}, {}, {"error": "referential integrity violation"}]);
        let e = parse_results(&ops, &commit).unwrap().unwrap_err();
        assert_eq!((e.op, e.kind), ("commit", ErrorKind::ReferentialIntegrity));
        assert!(parse_results(&ops, &json!([{}])).is_err());
        assert!(parse_results(&ops, &json!({})).is_err());
    }
}
