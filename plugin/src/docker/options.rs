//! The `docker network create -o key=value` grammar (the original's):
//!
//! - `physicalnetwork=<id>` (required): the VLCP physical network the logical network lives on;
//! - `vni=<n>`, `vlanid=<n>`, `mtu=<n>`: integers (a non-integer is an error naming the option);
//! - `subnet:<key>=<value>`: a parameter of the subnet (`subnet:host_routes`,
//!   `subnet:allocated_start`, `subnet:allocated_end`, DHCP fields, anything else is stored as an
//!   attribute); `subnet:disablegateway` (any value) creates the subnet without a gateway;
//! - any other key is a parameter of the logical network (`dns_nameservers`, `domain_name`, …,
//!   or an extra attribute);
//! - a value written `` `…` `` is a Python literal read by the safe parser of
//!   [`vlcp::config::literal`] (`` -o 'dns_nameservers=`["198.18.0.53"]`' ``); a malformed literal
//!   is an error (the original silently kept the raw text).
//!
//! The names the plugin sets itself (`id`, and for the subnet `logicalnetwork`, `cidr`, `gateway`)
//! are refused with a message saying where they come from.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use vlcp::config::literal;

/// Prefix of subnet options.
pub const SUBNET_PREFIX: &str = "subnet:";

/// The options of one network, split by target object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkOptions {
    /// Parameters of the logical network (`physicalnetwork`, `vni`, `mtu`, …).
    pub network: Map<String, Value>,
    /// Parameters of the subnet (`subnet:` stripped).
    pub subnet: Map<String, Value>,
    /// `subnet:disablegateway` was given.
    pub disable_gateway: bool,
}

/// A `-o` option Docker passed is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("option {option}: {reason}")]
pub struct OptionError {
    /// The option as the user wrote it (`vni`, `subnet:host_routes`).
    pub option: String,
    /// What is wrong.
    pub reason: String,
}

fn err(option: &str, reason: impl Into<String>) -> OptionError {
    OptionError { option: option.into(), reason: reason.into() }
}

/// A value: a backtick literal becomes its JSON form, anything else stays a string.
pub fn option_value(option: &str, text: &str) -> Result<Value, OptionError> {
    let t = text.trim();
    match t.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        Some(inner) if t.len() >= 2 => literal::parse(inner)
            .map(|v| v.to_json())
            .map_err(|e| err(option, format!("`{inner}` is not a valid literal: {e}"))),
        _ => Ok(Value::String(text.to_string())),
    }
}

/// Integers the original converts with `int()`: checked here so the error names the option.
fn integer(option: &str, v: Value) -> Result<Value, OptionError> {
    match &v {
        Value::Number(n) if n.is_u64() => Ok(v),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| err(option, format!("expected a non-negative integer, found {s:?}"))),
        _ => Err(err(option, format!("expected a non-negative integer, found {v}"))),
    }
}

/// Splits Docker's `com.docker.network.generic` map into network and subnet parameters.
pub fn parse_options(generic: &BTreeMap<String, String>) -> Result<NetworkOptions, OptionError> {
    let mut out = NetworkOptions::default();
    for (key, text) in generic {
        if let Some(sub) = key.strip_prefix(SUBNET_PREFIX) {
            match sub {
                "" => return Err(err(key, "names no subnet parameter")),
                "disablegateway" => out.disable_gateway = true,
                "id" | "logicalnetwork" | "network" => {
                    return Err(err(key, "is set by the plugin (docker-<network id>-subnet)"));
                }
                "cidr" => return Err(err(key, "comes from docker network create --subnet")),
                "gateway" => return Err(err(key, "comes from docker network create --gateway")),
                _ => {
                    let v = option_value(key, text)?;
                    let v = if sub == "mtu" { integer(key, v)? } else { v };
                    out.subnet.insert(sub.to_string(), v);
                }
            }
            continue;
        }
        let v = option_value(key, text)?;
        let v = match key.as_str() {
            "id" => return Err(err(key, "is set by the plugin (docker-<network id>-lognet)")),
            "mtu" | "vni" | "vlanid" => integer(key, v)?,
            _ => v,
        };
        out.network.insert(key.clone(), v);
    }
    match out.network.get("physicalnetwork") {
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(_) => return Err(err("physicalnetwork", "must be the id of a physical network")),
        None => {
            return Err(err(
                "physicalnetwork",
                "is required: docker network create -o physicalnetwork=<id of a VLCP physical network>",
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn splits_network_and_subnet_options_and_converts_integers() {
        let o = parse_options(&opts(&[
            ("physicalnetwork", "vxlan"),
            ("vni", "10010"),
            ("mtu", " 1450"),
            ("domain_name", "lab.example"),
            ("dns_nameservers", "`['198.18.0.53', '198.18.0.54']`"),
            ("subnet:host_routes", "`[['198.19.0.0/16', '198.18.5.254']]`"),
            ("subnet:allocated_start", "198.18.5.10"),
            ("subnet:disablegateway", ""),
            ("subnet:lease_time", "`3600`"),
        ]))
        .unwrap();
        assert_eq!(
            Value::Object(o.network),
            json!({"physicalnetwork": "vxlan", "vni": 10010, "mtu": 1450, "domain_name": "lab.example",
                   "dns_nameservers": ["198.18.0.53", "198.18.0.54"]})
        );
        assert_eq!(
            Value::Object(o.subnet),
            json!({"host_routes": [["198.19.0.0/16", "198.18.5.254"]], "allocated_start": "198.18.5.10",
                   "lease_time": 3600})
        );
        assert!(o.disable_gateway);
    }

    #[test]
    fn bad_options_are_named() {
        let e = parse_options(&opts(&[("physicalnetwork", "p"), ("vni", "ten")])).unwrap_err();
        assert_eq!(e.to_string(), "option vni: expected a non-negative integer, found \"ten\"");
        let e = parse_options(&opts(&[("physicalnetwork", "p"), ("vlanid", "`-3`")])).unwrap_err();
        assert_eq!(e.option, "vlanid");
        let e = parse_options(&opts(&[("physicalnetwork", "p"), ("x", "`[1,`")])).unwrap_err();
        assert!(e.to_string().starts_with("option x: `[1,` is not a valid literal"), "{e}");
        let e = parse_options(&opts(&[("vni", "5")])).unwrap_err();
        assert!(e.to_string().contains("physicalnetwork: is required"), "{e}");
        let e =
            parse_options(&opts(&[("physicalnetwork", "p"), ("subnet:cidr", "198.18.0.0/24")])).unwrap_err();
        assert!(e.to_string().contains("--subnet"), "{e}");
        let e = parse_options(&opts(&[("physicalnetwork", "p"), ("id", "mine")])).unwrap_err();
        assert_eq!(e.option, "id");
        let e = parse_options(&opts(&[("physicalnetwork", "p"), ("subnet:", "x")])).unwrap_err();
        assert_eq!(e.option, "subnet:");
    }

    #[test]
    fn plain_values_stay_strings_and_backticks_need_both_ends() {
        assert_eq!(option_value("k", "`abc").unwrap(), json!("`abc"));
        assert_eq!(option_value("k", "`").unwrap(), json!("`"));
        assert_eq!(option_value("k", "`None`").unwrap(), Value::Null);
        assert_eq!(option_value("k", "`(1, 'a')`").unwrap(), json!([1, "a"]));
    }
}
