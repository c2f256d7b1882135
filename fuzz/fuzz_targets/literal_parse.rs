//! Fuzzes the backtick-literal parser as the plugin's `-o key=value` options reach it: any text
//! must give a value or a typed error. A `` `…` `` value is a Python literal read by
//! `vlcp::config::literal`; an accepted literal must print back to text that parses to the same
//! value, its JSON form must be valid JSON, and option lines must survive the option grammar
//! (`parse_options`). Nesting is capped, so deep input is an error, never a stack overflow.
#![no_main]
use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use vlcp::config::literal;
use vlcp_plugin::docker::options::{option_value, parse_options};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The raw literal parser, without backticks.
    if let Ok(v) = literal::parse(text) {
        let printed = v.to_string();
        let again = literal::parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not re-parse: {e}"));
        assert_eq!(again, v, "{printed:?} re-parses to another value");
        // Its JSON form is valid JSON (serde_json's own float parsing is not exact, so the
        // values are not compared).
        let json = v.to_json().to_string();
        serde_json::from_str::<serde_json::Value>(&json).unwrap_or_else(|e| panic!("{json:?}: {e}"));
    }
    // As an option value: `key=`<text>`` and the plain text.
    let quoted = format!("`{text}`");
    let _ = option_value("dns_nameservers", &quoted);
    let _ = option_value("mtu", text);
    // As a whole `-o` option line `key=value` (the first `=` splits), for the network and the
    // subnet.
    let (key, value) = text.split_once('=').unwrap_or((text, ""));
    for k in [key.to_string(), format!("subnet:{key}")] {
        let mut opts = BTreeMap::new();
        opts.insert(k, value.to_string());
        opts.insert("physicalnetwork".to_string(), "ph".to_string());
        let _ = parse_options(&opts);
    }
});
