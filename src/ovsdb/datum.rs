//! OVSDB values (RFC 7047 §5.1): atoms, sets, maps and UUIDs, with their JSON encoding.
//!
//! An [`Atom`] is one scalar (`integer`, `real`, `boolean`, `string`, `uuid`, or a `named-uuid`
//! that refers to a row inserted earlier in the same transaction). A [`Datum`] is a column
//! value: a bare atom, a `["set", [...]]` or a `["map", [[k, v], ...]]`. Decoding checks the
//! shape and returns a [`DatumError`] naming what was wrong; encoding is infallible.
//!
//! ```
//! use vlcp::ovsdb::datum::{Atom, Datum};
//! let d = Datum::map([("iface-id", "p1")]);
//! assert_eq!(Datum::from_json(&d.to_json()).unwrap(), d);
//! ```

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde_json::{Value, json};

/// A value did not have the shape RFC 7047 §5.1 requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatumError {
    /// A `uuid` string was not 8-4-4-4-12 hexadecimal digits.
    #[error("invalid uuid {0:?}")]
    BadUuid(String),
    /// A JSON value could not be read as an atom.
    #[error("not an OVSDB atom: {0}")]
    BadAtom(String),
    /// A `["set", ...]` or `["map", ...]` was malformed.
    #[error("malformed {kind}: {detail}")]
    BadCollection {
        /// `set` or `map`.
        kind: &'static str,
        /// What was wrong.
        detail: String,
    },
}

/// A row UUID, stored as 128 bits and printed in the canonical 8-4-4-4-12 form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub u128);

impl FromStr for Uuid {
    type Err = DatumError;
    fn from_str(s: &str) -> Result<Self, DatumError> {
        let b = s.as_bytes();
        let bad = || DatumError::BadUuid(s.chars().take(64).collect());
        if b.len() != 36 {
            return Err(bad());
        }
        let mut v: u128 = 0;
        for (i, &c) in b.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return Err(bad());
                }
                continue;
            }
            let d = (c as char).to_digit(16).ok_or_else(bad)?;
            v = (v << 4) | u128::from(d);
        }
        Ok(Uuid(v))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = format!("{:032x}", self.0);
        write!(f, "{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

/// One OVSDB scalar.
#[derive(Debug, Clone)]
pub enum Atom {
    /// A 64-bit signed integer.
    Integer(i64),
    /// A floating-point number.
    Real(f64),
    /// `true` / `false`.
    Boolean(bool),
    /// A UTF-8 string.
    String(String),
    /// A reference to an existing row: `["uuid", "..."]`.
    Uuid(Uuid),
    /// A reference to a row inserted earlier in the same transaction: `["named-uuid", "..."]`.
    NamedUuid(String),
}

impl Atom {
    fn rank(&self) -> u8 {
        match self {
            Atom::Integer(_) => 0,
            Atom::Real(_) => 1,
            Atom::Boolean(_) => 2,
            Atom::String(_) => 3,
            Atom::Uuid(_) => 4,
            Atom::NamedUuid(_) => 5,
        }
    }

    /// Encodes this atom as RFC 7047 JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(r) => json!(r),
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u.to_string()]),
            Atom::NamedUuid(n) => json!(["named-uuid", n]),
        }
    }

    /// Decodes one atom; `["set", ...]` and `["map", ...]` are not atoms.
    pub fn from_json(v: &Value) -> Result<Atom, DatumError> {
        match v {
            Value::Bool(b) => Ok(Atom::Boolean(*b)),
            Value::String(s) => Ok(Atom::String(s.clone())),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Atom::Integer(i))
                } else if let Some(f) = n.as_f64() {
                    Ok(Atom::Real(f))
                } else {
                    Err(DatumError::BadAtom(n.to_string()))
                }
            }
            Value::Array(a) if a.len() == 2 => match (&a[0], &a[1]) {
                (Value::String(tag), Value::String(s)) if tag == "uuid" => Ok(Atom::Uuid(s.parse()?)),
                (Value::String(tag), Value::String(s)) if tag == "named-uuid" => {
                    Ok(Atom::NamedUuid(s.clone()))
                }
                _ => Err(DatumError::BadAtom(short(v))),
            },
            _ => Err(DatumError::BadAtom(short(v))),
        }
    }

    /// The string, if this is a string atom.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer atom.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The UUID, if this is a `uuid` atom.
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Atom::Uuid(u) => Some(*u),
            _ => None,
        }
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= 80 {
        return s;
    }
    let cut = (0..=80).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
    format!("{}…", &s[..cut])
}

impl PartialEq for Atom {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Atom {}
impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Atom {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Atom::Integer(a), Atom::Integer(b)) => a.cmp(b),
            (Atom::Real(a), Atom::Real(b)) => a.total_cmp(b),
            (Atom::Boolean(a), Atom::Boolean(b)) => a.cmp(b),
            (Atom::String(a), Atom::String(b)) => a.cmp(b),
            (Atom::Uuid(a), Atom::Uuid(b)) => a.cmp(b),
            (Atom::NamedUuid(a), Atom::NamedUuid(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl From<&str> for Atom {
    fn from(s: &str) -> Self {
        Atom::String(s.to_owned())
    }
}
impl From<String> for Atom {
    fn from(s: String) -> Self {
        Atom::String(s)
    }
}
impl From<i64> for Atom {
    fn from(i: i64) -> Self {
        Atom::Integer(i)
    }
}
impl From<bool> for Atom {
    fn from(b: bool) -> Self {
        Atom::Boolean(b)
    }
}
impl From<Uuid> for Atom {
    fn from(u: Uuid) -> Self {
        Atom::Uuid(u)
    }
}

/// A column value: a single atom, a set of atoms or a map between atoms.
///
/// A set with one element may arrive as a bare atom; [`Datum::as_set`] and friends accept both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datum {
    /// A bare atom.
    Atom(Atom),
    /// `["set", [...]]`.
    Set(BTreeSet<Atom>),
    /// `["map", [[k, v], ...]]`.
    Map(BTreeMap<Atom, Atom>),
}

impl Datum {
    /// The empty set (the default of optional columns).
    pub fn empty_set() -> Datum {
        Datum::Set(BTreeSet::new())
    }

    /// A set of the given atoms.
    pub fn set<A: Into<Atom>>(items: impl IntoIterator<Item = A>) -> Datum {
        Datum::Set(items.into_iter().map(Into::into).collect())
    }

    /// A map of the given pairs.
    pub fn map<K: Into<Atom>, V: Into<Atom>>(pairs: impl IntoIterator<Item = (K, V)>) -> Datum {
        Datum::Map(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// Encodes as RFC 7047 JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Datum::Atom(a) => a.to_json(),
            Datum::Set(s) => json!(["set", s.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            Datum::Map(m) => {
                json!(["map", m.iter().map(|(k, v)| json!([k.to_json(), v.to_json()])).collect::<Vec<_>>()])
            }
        }
    }

    /// Decodes a column value.
    pub fn from_json(v: &Value) -> Result<Datum, DatumError> {
        if let Value::Array(a) = v
            && a.len() == 2
            && let Value::String(tag) = &a[0]
        {
            match tag.as_str() {
                "set" => {
                    let items = a[1].as_array().ok_or_else(|| DatumError::BadCollection {
                        kind: "set",
                        detail: "second element is not an array".into(),
                    })?;
                    return items.iter().map(Atom::from_json).collect::<Result<_, _>>().map(Datum::Set);
                }
                "map" => {
                    let items = a[1].as_array().ok_or_else(|| DatumError::BadCollection {
                        kind: "map",
                        detail: "second element is not an array".into(),
                    })?;
                    let mut m = BTreeMap::new();
                    for pair in items {
                        match pair.as_array().map(Vec::as_slice) {
                            Some([k, v]) => {
                                m.insert(Atom::from_json(k)?, Atom::from_json(v)?);
                            }
                            _ => {
                                return Err(DatumError::BadCollection {
                                    kind: "map",
                                    detail: format!("pair is not [key, value]: {}", short(pair)),
                                });
                            }
                        }
                    }
                    return Ok(Datum::Map(m));
                }
                _ => {}
            }
        }
        Atom::from_json(v).map(Datum::Atom)
    }

    /// The elements of a set-like value (a bare atom is a set of one).
    pub fn as_set(&self) -> Vec<&Atom> {
        match self {
            Datum::Atom(a) => vec![a],
            Datum::Set(s) => s.iter().collect(),
            Datum::Map(_) => Vec::new(),
        }
    }

    /// The single atom of a scalar or a set of exactly one element.
    pub fn as_single(&self) -> Option<&Atom> {
        match self {
            Datum::Atom(a) => Some(a),
            Datum::Set(s) if s.len() == 1 => s.iter().next(),
            _ => None,
        }
    }

    /// The map, or `None` if this is not a map.
    pub fn as_map(&self) -> Option<&BTreeMap<Atom, Atom>> {
        match self {
            Datum::Map(m) => Some(m),
            _ => None,
        }
    }

    /// A `string → string` map as owned strings (non-string entries skipped).
    pub fn to_string_map(&self) -> BTreeMap<String, String> {
        self.as_map()
            .map(|m| {
                m.iter().filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned()))).collect()
            })
            .unwrap_or_default()
    }

    /// Normalises a bare atom into a one-element set (used for set-typed columns).
    pub fn into_set(self) -> Datum {
        match self {
            Datum::Atom(a) => Datum::Set(BTreeSet::from([a])),
            other => other,
        }
    }
}

impl From<Atom> for Datum {
    fn from(a: Atom) -> Self {
        Datum::Atom(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn uuid_round_trip_and_errors() {
        let s = "550e8400-e29b-41d4-a716-446655440000";
        let u: Uuid = s.parse().unwrap();
        assert_eq!(u.to_string(), s);
        assert!("550e8400e29b-41d4-a716-446655440000x".parse::<Uuid>().is_err());
        assert!("zz0e8400-e29b-41d4-a716-446655440000".parse::<Uuid>().is_err());
        assert!("é".parse::<Uuid>().is_err());
    }

    #[test]
    fn decode_shapes() {
        let v = json!(["map", [["a", 1], ["b", ["uuid", "550e8400-e29b-41d4-a716-446655440000"]]]]);
        let d = Datum::from_json(&v).unwrap();
        assert_eq!(d.as_map().unwrap().len(), 2);
        assert!(matches!(Datum::from_json(&json!(["set", 3])), Err(DatumError::BadCollection { .. })));
        assert!(matches!(Datum::from_json(&json!(["map", [[1]]])), Err(DatumError::BadCollection { .. })));
        assert!(matches!(Datum::from_json(&json!({"a": 1})), Err(DatumError::BadAtom(_))));
        assert!(matches!(Datum::from_json(&json!(null)), Err(DatumError::BadAtom(_))));
        assert_eq!(Datum::from_json(&json!(["set", [7]])).unwrap().as_single(), Some(&Atom::Integer(7)));
    }

    fn atom() -> impl Strategy<Value = Atom> {
        prop_oneof![
            any::<i64>().prop_map(Atom::Integer),
            any::<bool>().prop_map(Atom::Boolean),
            ".{0,8}".prop_map(Atom::String),
            any::<u128>().prop_map(|u| Atom::Uuid(Uuid(u))),
            "[a-z]{1,6}".prop_map(Atom::NamedUuid),
        ]
    }

    proptest! {
        #[test]
        fn datum_round_trip(items in proptest::collection::vec(atom(), 0..6), pairs in proptest::collection::vec((atom(), atom()), 0..6)) {
            let s = Datum::set(items);
            prop_assert_eq!(Datum::from_json(&s.to_json()).unwrap(), s);
            let m = Datum::map(pairs);
            prop_assert_eq!(Datum::from_json(&m.to_json()).unwrap(), m);
        }
    }
}
