//! Turning an HTTP request into API parameters: the query string, a form body
//! (`application/x-www-form-urlencoded`, what `curl -d` sends) or a JSON object body, with the
//! original's backtick extension: a value written `` `…` `` is a Python literal, read by the safe
//! parser in [`crate::config::literal`] (never evaluated).

use serde_json::{Map, Value};

use crate::config::literal;

/// Why parameters could not be read (always the client's fault: HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A backtick value is not a valid literal.
    #[error("{name}: malformed literal: {detail}")]
    Literal {
        /// The parameter.
        name: String,
        /// The parser's message (with line and column).
        detail: String,
    },
    /// A percent escape is broken or the decoded text is not UTF-8.
    #[error("{name}: bad URL encoding")]
    Encoding {
        /// The parameter (or its raw text).
        name: String,
    },
    /// The JSON body is not a JSON object.
    #[error("request body: {0}")]
    Json(String),
}

/// Decodes `application/x-www-form-urlencoded` text (also query strings): `&`-separated
/// `name=value` pairs, `+` is a space, `%XX` escapes. A later repeat of a name wins.
pub fn parse_urlencoded(text: &str) -> Result<Vec<(String, String)>, ParamError> {
    let mut out = Vec::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(n).ok_or_else(|| ParamError::Encoding { name: n.to_string() })?;
        let value = percent_decode(v).ok_or_else(|| ParamError::Encoding { name: name.clone() })?;
        out.push((name, value));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// A text parameter's value: a backtick-quoted literal becomes its JSON form (tuples and sets
/// become lists), anything else stays a string.
pub fn text_value(name: &str, text: &str) -> Result<Value, ParamError> {
    let t = text.trim();
    match t.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        Some(inner) if t.len() >= 2 => literal::parse(inner)
            .map(|v| v.to_json())
            .map_err(|e| ParamError::Literal { name: name.to_string(), detail: e.to_string() }),
        _ => Ok(Value::String(text.to_string())),
    }
}

/// Parameters from text pairs (query string and form), backtick values decoded.
pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Map<String, Value>, ParamError> {
    let mut m = Map::new();
    for (n, v) in pairs {
        let value = text_value(&n, &v)?;
        m.insert(n, value);
    }
    Ok(m)
}

/// Parameters from a JSON body, which must be an object.
pub fn from_json(body: &[u8]) -> Result<Map<String, Value>, ParamError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ParamError::Json(format!("expected a JSON object, found {}", kind(&other)))),
        Err(e) => Err(ParamError::Json(format!("invalid JSON: {e}"))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forms_decode_like_curl_sends_them() {
        let p = parse_urlencoded("type=vxlan&vnirange=`[[10000,20000]]`&id=vxlan").unwrap();
        assert_eq!(p[1], ("vnirange".into(), "`[[10000,20000]]`".into()));
        let p = parse_urlencoded("a=b+c%2Fd&flag&=x&&").unwrap();
        assert_eq!(
            p,
            vec![("a".into(), "b c/d".into()), ("flag".into(), "".into()), ("".into(), "x".into())]
        );
        assert!(parse_urlencoded("a=%zz").is_err());
        assert!(parse_urlencoded("a=%4").is_err());
        assert!(parse_urlencoded("a=%ff").is_err(), "not UTF-8");
    }

    #[test]
    fn backtick_values_are_literals() {
        assert_eq!(text_value("mtu", "`1450`").unwrap(), json!(1450));
        assert_eq!(text_value("r", "`[[1, 2], (3, 4)]`").unwrap(), json!([[1, 2], [3, 4]]));
        assert_eq!(
            text_value(
                "i",
                "`[{\"router\": \"r\", \"subnet\": \"a\"}, \\\n    {\"router\": \"r\", \"subnet\": \"b\"}]`"
            )
            .unwrap(),
            json!([{"router": "r", "subnet": "a"}, {"router": "r", "subnet": "b"}])
        );
        assert_eq!(text_value("x", "True").unwrap(), json!("True"), "plain text stays text");
        assert_eq!(text_value("x", "`").unwrap(), json!("`"));
        let e = text_value("interfaces", "`[1, 2`").unwrap_err();
        assert!(e.to_string().starts_with("interfaces: malformed literal"), "{e}");
        assert!(text_value("x", "`__import__('os')`").is_err(), "never evaluated");
    }

    #[test]
    fn json_bodies_must_be_objects() {
        assert_eq!(from_json(br#"{"id": "a", "mtu": 1450}"#).unwrap()["mtu"], json!(1450));
        assert!(from_json(b"[1]").unwrap_err().to_string().contains("an array"));
        assert!(from_json(b"{").is_err());
    }
}
