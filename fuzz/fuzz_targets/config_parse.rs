//! Fuzzes the vlcp.conf reader and the Python-literal parser: any input must give a config or a
//! report (never a panic), a parsed literal must print back to text that parses equal, and every
//! accepted config must survive the schema check and the getters.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vlcp::config::{Config, literal};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(value) = literal::parse(text) {
        let printed = value.to_string();
        let again = literal::parse(&printed).unwrap_or_else(|e| panic!("{printed:?} does not re-parse: {e}"));
        assert_eq!(again, value, "{printed:?} re-parses to a different value");
        assert_eq!(again.to_string(), printed, "printing is not stable");
        let _ = value.to_json();
    }
    let (config, report) = Config::parse_lenient(text);
    let _ = report.to_string();
    let _ = config.startup_modules();
    let _ = config.log_settings();
    let _ = config.subtree("server.logging");
});
