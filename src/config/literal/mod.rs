//! A safe parser for Python literals, the value syntax of `vlcp.conf` and of the web API's
//! backtick parameters (`` `[1, 2, {'a': (3,)}]` ``).
//!
//! The original reads both with Python's `ast.literal_eval`; this module accepts the same language
//! and never evaluates anything: ints (decimal, `0x`, `0o`, `0b`, `_` separators, one leading sign),
//! floats (`1.5`, `.5`, `1e3`), strings and bytes (`'…'`, `"…"`, triple quotes, prefixes `r`, `u`,
//! `b`, `rb`, escapes, adjacent literals concatenated), `True`/`False`/`None`, lists, tuples, dicts,
//! sets (`{1, 2}` and the empty `set()`), nested, with trailing commas and `#` comments.
//! Complex numbers, names and calls (other than `set()`) are refused.
//!
//! ```
//! use vlcp::config::literal::{parse, Value};
//! let v = parse("('vlcp.service.sdn.viperflow.ViperFlow', 0x10, -2.5, None)").unwrap();
//! assert_eq!(v, Value::Tuple(vec![
//!     Value::Str("vlcp.service.sdn.viperflow.ViperFlow".into()),
//!     Value::Int(16), Value::Float(-2.5), Value::None,
//! ]));
//! assert_eq!(v.to_string(), "('vlcp.service.sdn.viperflow.ViperFlow', 16, -2.5, None)");
//! ```
//!
//! Choices, documented once:
//! - **Tuples stay distinct from lists** in [`Value`] (so a value prints back as the Python it came
//!   from, and `server.startup` may be either); [`Value::to_json`] maps tuples and sets to arrays.
//! - **Ints are 64-bit**: a literal outside `i64` is an error, not a bignum.
//! - **Dict keys and set members** use Python equality (`1 == 1.0 == True`): a repeated key keeps
//!   its first position and takes the later value, a repeated set member is dropped. Lists, dicts and
//!   sets (and tuples holding them) are refused as keys, as Python does ("unhashable").
//! - **Limits**: input length and nesting depth are capped ([`Limits`]); crossing a cap is an error.
//! - Errors carry the byte offset, line and column (1-based) and say what was expected.

mod parser;
#[cfg(test)]
mod tests;

use std::fmt::{self, Write as _};

pub use parser::{parse, parse_with};

/// A parsed Python literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A float (`inf` only arises from overflowing literals such as `1e999`).
    Float(f64),
    /// A `str` literal.
    Str(String),
    /// A `b'…'` literal.
    Bytes(Vec<u8>),
    /// `[…]`.
    List(Vec<Value>),
    /// `(…)`, `(x,)`, `()`.
    Tuple(Vec<Value>),
    /// `{a, b}` or `set()`; members are distinct (Python equality), in source order.
    Set(Vec<Value>),
    /// `{k: v}`; keys are distinct (Python equality), in first-seen order.
    Dict(Vec<(Value, Value)>),
}

/// Caps applied while parsing.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_len: usize,
    /// Deepest accepted container nesting (`[[1]]` has depth 2).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_len: 1 << 20, max_depth: 64 }
    }
}

/// A literal that could not be read: where, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct LiteralError {
    /// Byte offset into the parsed text.
    pub offset: usize,
    /// 1-based line within the parsed text.
    pub line: usize,
    /// 1-based column (in characters) within that line.
    pub column: usize,
    /// What went wrong.
    pub kind: LiteralErrorKind,
}

/// The reason a literal was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LiteralErrorKind {
    /// Nothing but whitespace or comments.
    #[error("empty value: expected a literal")]
    Empty,
    /// The input is longer than [`Limits::max_len`].
    #[error("value is {len} bytes long, the limit is {max}")]
    TooLong { len: usize, max: usize },
    /// Containers nest deeper than [`Limits::max_depth`].
    #[error("containers nest deeper than {max} levels")]
    TooDeep { max: usize },
    /// The input ended early.
    #[error("unexpected end of value, expected {expected}")]
    UnexpectedEnd { expected: &'static str },
    /// A character that cannot appear here.
    #[error("unexpected {found}, expected {expected}")]
    Unexpected { found: String, expected: &'static str },
    /// A complete literal is followed by more text.
    #[error("unexpected {found} after the value (only one literal is allowed)")]
    TrailingInput { found: String },
    /// A bare name such as `foo` or a call such as `dict()`.
    #[error("`{name}` is not a literal (strings need quotes; only True, False, None and set() are names)")]
    NotALiteral { name: String },
    /// A string without its closing quote.
    #[error("unterminated string")]
    UnterminatedString,
    /// A malformed escape sequence.
    #[error("invalid escape: {detail}")]
    InvalidEscape { detail: &'static str },
    /// An integer outside the 64-bit range.
    #[error("integer {text} does not fit in 64 bits")]
    IntegerOutOfRange { text: String },
    /// A malformed number.
    #[error("invalid number {text}: {detail}")]
    InvalidNumber { text: String, detail: &'static str },
    /// A list, dict or set used as a dict key or set member.
    #[error("a {kind} cannot be a dict key or set member (unhashable)")]
    Unhashable { kind: &'static str },
    /// `'a' b'b'`.
    #[error("cannot mix bytes and str literals")]
    MixedBytesAndStr,
    /// A non-ASCII character inside `b'…'`.
    #[error("bytes literals may only contain ASCII characters")]
    NonAsciiInBytes,
}

impl Value {
    /// The Python type name, for messages ("expected int, found str").
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Set(_) => "set",
            Value::Dict(_) => "dict",
        }
    }

    /// The string inside a `Str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The members of a list, tuple or set.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) | Value::Set(v) => Some(v),
            _ => None,
        }
    }

    /// The value stored under string key `key` in a dict.
    pub fn dict_get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Converts to JSON. Tuples and sets become arrays; bytes become a string (lossy UTF-8);
    /// non-finite floats become `null`; dict keys that are not strings are printed in Python form
    /// (`1`, `(1, 2)`, `None`) — the original's JSON encoder does the same for int keys.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::None => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Bytes(b) => J::String(String::from_utf8_lossy(b).into_owned()),
            Value::List(v) | Value::Tuple(v) | Value::Set(v) => {
                J::Array(v.iter().map(Value::to_json).collect())
            }
            Value::Dict(items) => J::Object(
                items
                    .iter()
                    .map(|(k, v)| {
                        let key = match k {
                            Value::Str(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (key, v.to_json())
                    })
                    .collect(),
            ),
        }
    }

    /// Python equality as used for dict keys and set members (`1 == 1.0 == True`).
    pub(crate) fn key_eq(&self, other: &Value) -> bool {
        fn num(v: &Value) -> Option<f64> {
            match v {
                Value::Bool(b) => Some(f64::from(u8::from(*b))),
                // Precision loss above 2^53 only matters for keys that differ beyond it.
                Value::Int(i) => Some(*i as f64),
                Value::Float(f) => Some(*f),
                _ => None,
            }
        }
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Tuple(a), Value::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.key_eq(y))
            }
            _ => match (num(self), num(other)) {
                (Some(a), Some(b)) => a == b,
                _ => self == other,
            },
        }
    }

    /// `Some(type name)` when this value cannot be a dict key or set member.
    pub(crate) fn unhashable(&self) -> Option<&'static str> {
        match self {
            Value::List(_) | Value::Dict(_) | Value::Set(_) => Some(self.type_name()),
            Value::Tuple(v) => v.iter().find_map(Value::unhashable),
            _ => None,
        }
    }
}

impl From<&Value> for serde_json::Value {
    fn from(v: &Value) -> Self {
        v.to_json()
    }
}

/// Prints the value as a Python literal that [`parse`] reads back to an equal value.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) if x.is_infinite() => f.write_str(if *x > 0.0 { "1e999" } else { "-1e999" }),
            // `{:?}` is the shortest round-trip form and always has a `.` or an exponent.
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => write_str_repr(f, s),
            Value::Bytes(b) => write_bytes_repr(f, b),
            Value::List(v) => write_seq(f, "[", v, "]"),
            Value::Tuple(v) if v.len() == 1 => write!(f, "({},)", v[0]),
            Value::Tuple(v) => write_seq(f, "(", v, ")"),
            Value::Set(v) if v.is_empty() => f.write_str("set()"),
            Value::Set(v) => write_seq(f, "{", v, "}"),
            Value::Dict(items) => {
                f.write_char('{')?;
                for (i, (k, v)) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_char('}')
            }
        }
    }
}

fn write_seq(f: &mut fmt::Formatter<'_>, open: &str, items: &[Value], close: &str) -> fmt::Result {
    f.write_str(open)?;
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{v}")?;
    }
    f.write_str(close)
}

fn write_str_repr(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('\'')?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\'' => f.write_str("\\'")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c if c.is_control() => write!(f, "\\U{:08x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('\'')
}

fn write_bytes_repr(f: &mut fmt::Formatter<'_>, b: &[u8]) -> fmt::Result {
    f.write_str("b'")?;
    for &c in b {
        match c {
            b'\\' => f.write_str("\\\\")?,
            b'\'' => f.write_str("\\'")?,
            b'\n' => f.write_str("\\n")?,
            b'\r' => f.write_str("\\r")?,
            b'\t' => f.write_str("\\t")?,
            0x20..0x7f => f.write_char(c as char)?,
            _ => write!(f, "\\x{c:02x}")?,
        }
    }
    f.write_char('\'')
}
