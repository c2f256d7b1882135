//! [`FromValue`]: how a [`Value`] becomes a Rust type in the typed getters
//! ([`Config::get_as`](super::Config::get_as)). Conversions are strict: `1` is not a bool, `'5'`
//! is not an int; an int is accepted where a float is expected (Python does the same).

use std::path::PathBuf;
use std::time::Duration;

use super::literal::Value;

/// A type a config value can be read as.
pub trait FromValue: Sized {
    /// What the type is called in "expected …" messages.
    fn expected() -> String;
    /// The conversion; `None` if the value does not fit.
    fn from_value(value: &Value) -> Option<Self>;
}

impl FromValue for Value {
    fn expected() -> String {
        "any literal".into()
    }
    fn from_value(value: &Value) -> Option<Self> {
        Some(value.clone())
    }
}

impl FromValue for bool {
    fn expected() -> String {
        "True or False".into()
    }
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

macro_rules! int_from_value {
    ($($t:ty),*) => {$(
        impl FromValue for $t {
            fn expected() -> String {
                format!("int in {}..={}", <$t>::MIN, <$t>::MAX)
            }
            fn from_value(value: &Value) -> Option<Self> {
                match value {
                    Value::Int(i) => <$t>::try_from(*i).ok(),
                    _ => None,
                }
            }
        }
    )*};
}
int_from_value!(i32, u8, u16, u32, u64, usize);

impl FromValue for i64 {
    fn expected() -> String {
        "int".into()
    }
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl FromValue for f64 {
    fn expected() -> String {
        "int or float".into()
    }
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            // Config numbers are small; i64 → f64 rounding above 2^53 is irrelevant here.
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl FromValue for String {
    fn expected() -> String {
        "str".into()
    }
    fn from_value(value: &Value) -> Option<Self> {
        value.as_str().map(str::to_string)
    }
}

impl FromValue for PathBuf {
    fn expected() -> String {
        "str (a path)".into()
    }
    fn from_value(value: &Value) -> Option<Self> {
        value.as_str().map(PathBuf::from)
    }
}

/// Seconds, int or float, not negative.
impl FromValue for Duration {
    fn expected() -> String {
        "a non-negative number of seconds".into()
    }
    fn from_value(value: &Value) -> Option<Self> {
        let secs = f64::from_value(value)?;
        Duration::try_from_secs_f64(secs).ok()
    }
}

/// `None` reads as `None`; anything else must convert to `T`.
impl<T: FromValue> FromValue for Option<T> {
    fn expected() -> String {
        format!("None or {}", T::expected())
    }
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::None => Some(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// A list, tuple or set whose members all convert to `T`.
impl<T: FromValue> FromValue for Vec<T> {
    fn expected() -> String {
        format!("list or tuple of {}", T::expected())
    }
    fn from_value(value: &Value) -> Option<Self> {
        value.as_seq()?.iter().map(T::from_value).collect()
    }
}
