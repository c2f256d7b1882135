//! Reading API parameters (a JSON object of name → value) into typed values, with errors that
//! name the parameter.
//!
//! Values arrive as JSON: strings from query strings and forms, or typed values from JSON bodies
//! and backtick literals. The readers are lenient the way the original's `autoint`/`autobool`
//! types are: `"1450"` reads as the integer 1450, `"true"`/`"True"`/`"1"` as true. `null` (or
//! Python `None`) reads as "not set". Whatever is left after the typed parameters are taken is
//! stored on the object as extra attributes (the original keeps unknown kwargs the same way).

use std::net::Ipv4Addr;

use serde_json::{Map, Value};

use super::error::FieldError;
use super::rules::{self, Cidr, TagRange};

/// A parameter map being consumed.
#[derive(Clone, Debug, Default)]
pub struct Params {
    map: Map<String, Value>,
}

fn describe(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 { format!("{}…", s.chars().take(60).collect::<String>()) } else { s }
}

impl Params {
    /// Wraps a parameter map.
    pub fn new(map: Map<String, Value>) -> Self {
        Params { map }
    }

    /// Whether `name` was given (even as null).
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Removes and returns `name`; `None` when absent or null.
    pub fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|v| !v.is_null())
    }

    /// A string; numbers and booleans are accepted in their text form.
    pub fn string(&mut self, name: &str) -> Result<Option<String>, FieldError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
            Some(v) => Err(FieldError::invalid(name, format!("expected a string, found {}", describe(&v)))),
        }
    }

    /// A required string.
    pub fn required_string(&mut self, name: &str) -> Result<String, FieldError> {
        self.string(name)?.ok_or_else(|| FieldError::invalid(name, "is required"))
    }

    /// An object id (checked with [`rules::check_id`]).
    pub fn id(&mut self, name: &str) -> Result<Option<String>, FieldError> {
        let id = self.string(name)?;
        if let Some(id) = &id {
            rules::check_id(id).map_err(|e| FieldError::invalid(name, e))?;
        }
        Ok(id)
    }

    /// A required object id.
    pub fn required_id(&mut self, name: &str) -> Result<String, FieldError> {
        self.id(name)?.ok_or_else(|| FieldError::invalid(name, "is required"))
    }

    /// An unsigned integer in `min..=max`; numeric strings are accepted.
    pub fn uint(&mut self, name: &str, min: u32, max: u32) -> Result<Option<u32>, FieldError> {
        let Some(v) = self.take(name) else { return Ok(None) };
        let n = match &v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        }
        .ok_or_else(|| FieldError::invalid(name, format!("expected an integer, found {}", describe(&v))))?;
        if n < u64::from(min) || n > u64::from(max) {
            return Err(FieldError::invalid(name, format!("{n} is outside {min}..={max}")));
        }
        Ok(Some(n as u32))
    }

    /// A boolean: true/false, or the strings true/false/True/False/1/0/yes/no.
    pub fn boolean(&mut self, name: &str) -> Result<Option<bool>, FieldError> {
        let Some(v) = self.take(name) else { return Ok(None) };
        match &v {
            Value::Bool(b) => Ok(Some(*b)),
            Value::Number(n) if n.as_u64() == Some(1) => Ok(Some(true)),
            Value::Number(n) if n.as_u64() == Some(0) => Ok(Some(false)),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(Some(true)),
                "false" | "0" | "no" | "" => Ok(Some(false)),
                _ => Err(FieldError::invalid(name, format!("expected true or false, found {s:?}"))),
            },
            _ => Err(FieldError::invalid(name, format!("expected true or false, found {}", describe(&v)))),
        }
    }

    /// An IPv4 address in dotted form.
    pub fn ipv4(&mut self, name: &str) -> Result<Option<Ipv4Addr>, FieldError> {
        let Some(s) = self.string(name)? else { return Ok(None) };
        parse_ipv4(name, &s).map(Some)
    }

    /// A list of IPv4 addresses (a single address string is accepted as a one-item list).
    pub fn ipv4_list(&mut self, name: &str) -> Result<Option<Vec<String>>, FieldError> {
        let Some(v) = self.take(name) else { return Ok(None) };
        let items = match v {
            Value::Array(a) => a,
            Value::String(s) => vec![Value::String(s)],
            v => {
                return Err(FieldError::invalid(
                    name,
                    format!("expected a list of addresses, found {}", describe(&v)),
                ));
            }
        };
        items
            .iter()
            .map(|i| match i {
                Value::String(s) => parse_ipv4(name, s).map(|a| a.to_string()),
                v => Err(FieldError::invalid(name, format!("expected an address, found {}", describe(v)))),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// A list of inclusive `[start, end]` ranges (`vlanrange`, `vnirange`), checked against
    /// `min..=max`.
    pub fn ranges(&mut self, name: &str, min: u32, max: u32) -> Result<Option<Vec<TagRange>>, FieldError> {
        let Some(v) = self.take(name) else { return Ok(None) };
        let bad = || {
            FieldError::invalid(
                name,
                format!("expected a list of [start, end] pairs like [[1000, 2000]], found {}", describe(&v)),
            )
        };
        let Value::Array(items) = &v else { return Err(bad()) };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item.as_array().map(Vec::as_slice) {
                Some([s, e]) => {
                    let num = |x: &Value| x.as_u64().and_then(|n| u32::try_from(n).ok());
                    out.push((num(s).ok_or_else(bad)?, num(e).ok_or_else(bad)?));
                }
                _ => return Err(bad()),
            }
        }
        rules::check_ranges(&out, min, max).map_err(|e| FieldError::invalid(name, e))?;
        Ok(Some(out))
    }

    /// A list of `[cidr, address]` pairs (`host_routes`, `routes`); the CIDR need not be a
    /// network address.
    pub fn routes(&mut self, name: &str) -> Result<Option<Vec<(String, String)>>, FieldError> {
        let Some(v) = self.take(name) else { return Ok(None) };
        let bad = |why: String| FieldError::invalid(name, why);
        let Value::Array(items) = &v else {
            return Err(bad(format!("expected a list of [cidr, nexthop] pairs, found {}", describe(&v))));
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item.as_array().map(Vec::as_slice) {
                Some([Value::String(c), Value::String(via)]) => {
                    let cidr = Cidr::parse(c, false).map_err(bad)?;
                    let via = parse_ipv4(name, via)?;
                    out.push((cidr.to_string(), via.to_string()));
                }
                _ => return Err(bad(format!("expected [cidr, nexthop], found {}", describe(item)))),
            }
        }
        Ok(Some(out))
    }

    /// Any JSON value, kept as given.
    pub fn json(&mut self, name: &str) -> Option<Value> {
        self.take(name)
    }

    /// What is left: extra attributes. Names starting with `_` or `kvdb_`, and `reserved`
    /// names (the type's own fields that are not parameters), are refused.
    pub fn extras(self, reserved: &[&str]) -> Result<Map<String, Value>, FieldError> {
        for k in self.map.keys() {
            if k.is_empty() || k.starts_with('_') || k.starts_with("kvdb_") || reserved.contains(&k.as_str())
            {
                return Err(FieldError::invalid(k.as_str(), "is not a settable attribute"));
            }
        }
        Ok(self.map)
    }

    /// Fails on any parameter left (for calls that take no extra attributes).
    pub fn finish(self) -> Result<(), FieldError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(FieldError::invalid(k.as_str(), "unexpected parameter")),
        }
    }
}

fn parse_ipv4(name: &str, s: &str) -> Result<Ipv4Addr, FieldError> {
    s.trim().parse().map_err(|_| FieldError::invalid(name, format!("{s:?} is not an IPv4 address")))
}

/// A batch parameter: a list of objects, each becoming its own [`Params`].
pub fn batch(name: &str, v: Option<Value>) -> Result<Vec<Params>, FieldError> {
    let Some(v) = v else { return Err(FieldError::invalid(name, "is required (a list of objects)")) };
    let Value::Array(items) = v else {
        return Err(FieldError::invalid(name, format!("expected a list of objects, found {}", describe(&v))));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(m) => Ok(Params::new(m)),
            other => Err(FieldError::invalid(
                format!("{name}[{i}]"),
                format!("expected an object, found {}", describe(&other)),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Params {
        Params::new(v.as_object().unwrap().clone())
    }

    #[test]
    fn lenient_scalars() {
        let mut q = p(
            json!({"mtu": "1450", "vni": 10001, "ext": "True", "no": "false", "gw": "198.18.1.1", "n": null}),
        );
        assert_eq!(q.uint("mtu", 68, 65535).unwrap(), Some(1450));
        assert_eq!(q.uint("vni", 1, rules::VNI_MAX).unwrap(), Some(10001));
        assert_eq!(q.boolean("ext").unwrap(), Some(true));
        assert_eq!(q.boolean("no").unwrap(), Some(false));
        assert_eq!(q.ipv4("gw").unwrap(), Some("198.18.1.1".parse().unwrap()));
        assert_eq!(q.string("n").unwrap(), None);
        assert_eq!(q.string("absent").unwrap(), None);
        assert!(q.extras(&[]).unwrap().is_empty());
    }

    #[test]
    fn errors_name_the_parameter() {
        let e = p(json!({"mtu": "big"})).uint("mtu", 68, 65535).unwrap_err();
        assert_eq!(e.field, "mtu");
        let e = p(json!({"mtu": 20})).uint("mtu", 68, 65535).unwrap_err();
        assert!(e.detail.contains("outside"));
        let e = p(json!({"vnirange": "[[1,2]]"})).ranges("vnirange", 1, 10).unwrap_err();
        assert_eq!(e.field, "vnirange");
        let e = p(json!({"vnirange": [[1, 20]]})).ranges("vnirange", 1, 10).unwrap_err();
        assert!(e.detail.contains("outside"), "{e}");
        let e = p(json!({"gateway": "198.18.1"})).ipv4("gateway").unwrap_err();
        assert_eq!(e.field, "gateway");
        let e = p(json!({"id": ""})).id("id").unwrap_err();
        assert_eq!(e.field, "id");
        let e = p(json!({"host_routes": [["198.18.9.0/24"]]})).routes("host_routes").unwrap_err();
        assert_eq!(e.field, "host_routes");
        let e = p(json!({"_key": 1})).extras(&[]).unwrap_err();
        assert_eq!(e.field, "_key");
        let e = p(json!({"network": 1})).extras(&["network"]).unwrap_err();
        assert_eq!(e.field, "network");
        let e = p(json!({"x": 1})).finish().unwrap_err();
        assert_eq!(e.field, "x");
    }

    #[test]
    fn structured_values() {
        let mut q = p(
            json!({"vnirange": [[10000, 20000]], "r": [["198.18.9.0/24", "198.18.1.1"]], "d": ["198.18.0.53"]}),
        );
        assert_eq!(q.ranges("vnirange", 1, rules::VNI_MAX).unwrap(), Some(vec![(10000, 20000)]));
        assert_eq!(q.routes("r").unwrap(), Some(vec![("198.18.9.0/24".into(), "198.18.1.1".into())]));
        assert_eq!(q.ipv4_list("d").unwrap(), Some(vec!["198.18.0.53".into()]));
        let b = batch("ports", Some(json!([{"id": "a"}, {"id": "b"}]))).unwrap();
        assert_eq!(b.len(), 2);
        let e = batch("ports", Some(json!([{"id": "a"}, 3]))).unwrap_err();
        assert_eq!(e.field, "ports[1]");
        assert!(batch("ports", Some(json!("x"))).is_err());
        assert!(batch("ports", None).is_err());
    }
}
