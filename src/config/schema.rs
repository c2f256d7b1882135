//! Which keys exist and what their values must be: matches a dotted key against the tables in
//! [`keys`](super::keys), type-checks values, and suggests the nearest known key for a typo.
//!
//! Key shapes accepted (the original's naming rules, manual §3.1.2):
//! - `server.<key>`, `main.<key>`, `jsonformat.<key>`, `redisclient.<key>`, `webclient.<key>`,
//!   `zookeeperclient.<key>`; anything below `server.logging.` (the original's dictConfig dict);
//! - `protocol.<name>.<key>` where the key is the protocol's own, its parent's (ovsdb → jsonrpc) or
//!   a `protocol.default` key; `protocol.default.<key>` for any protocol key;
//! - `module.<name>.<key>` where the key is the module's own or a `module.default` key;
//!   `module.default.<key>` for any module key; connection modules also take `url`, `urls`, the
//!   SSL files, `protocol.<key>` and `vhost.<name>.<…>` (recursively); flow modules `vhostbind`;
//!   anything below `module.static.vdir.`;
//! - `proxy.kvstorage`, `proxy.updatenotifier`, `proxy.memorystorage`.

use super::keys::{
    CONNECTION_KEYS, FLOW_KEYS, Family, Key, MISPRINTS, MODULE_DEFAULT_KEYS, MODULES, ModuleDef, PROTOCOLS,
    PROXIES, SECTIONS, Section, Ty, URL_SCHEMES,
};
use super::literal::Value;

/// What a dotted key is, according to the schema.
#[derive(Clone, Copy, Debug)]
pub enum KeyKind {
    /// A typed key with a default.
    Typed(&'static Key),
    /// Inside an open sub-tree (`server.logging.*`): any value, no default.
    Open,
}

/// Why a key did not match: the index of the first unmatched part and the names allowed there.
#[derive(Debug)]
struct Miss {
    at: usize,
    allowed: Vec<&'static str>,
}

const PROXY_KEY: Key = Key { name: "proxy", ty: Ty::Opt(&Ty::Str), default: "None" };
const TOP: &[&str] = &[
    "server",
    "main",
    "jsonformat",
    "redisclient",
    "webclient",
    "zookeeperclient",
    "protocol",
    "module",
    "proxy",
];

/// Looks a dotted key up in the schema.
pub fn lookup(key: &str) -> Option<KeyKind> {
    let parts: Vec<&str> = key.split('.').collect();
    walk(&parts).ok()
}

fn walk(parts: &[&str]) -> Result<KeyKind, Miss> {
    let first = parts.first().copied().unwrap_or("");
    match first {
        "proxy" => {
            let names: Vec<_> = PROXIES.iter().map(|p| p.name).collect();
            match parts {
                [_, name] if names.contains(name) => Ok(KeyKind::Typed(&PROXY_KEY)),
                _ => Err(Miss { at: 1, allowed: names }),
            }
        }
        "protocol" => {
            let name = parts.get(1).copied().unwrap_or("");
            if !PROTOCOLS.iter().any(|p| p.name == name) {
                return Err(Miss { at: 1, allowed: PROTOCOLS.iter().map(|p| p.name).collect() });
            }
            match parts {
                [_, _, key] => protocol_key(name, key).map(KeyKind::Typed).ok_or(()),
                _ => Err(()),
            }
            .map_err(|()| Miss { at: 2, allowed: protocol_key_names(name) })
        }
        "module" => {
            let name = parts.get(1).copied().unwrap_or("");
            if name == "default" {
                return match parts {
                    [_, _, key] => any_module_key(key).map(KeyKind::Typed).ok_or(()),
                    _ => Err(()),
                }
                .map_err(|()| Miss { at: 2, allowed: all_module_key_names() });
            }
            let Some(module) = module_def(name) else {
                let mut allowed: Vec<_> = MODULES.iter().map(|m| m.name).collect();
                allowed.push("default");
                return Err(Miss { at: 1, allowed });
            };
            module_rest(module, parts, 2)
        }
        _ => {
            let Some(section) = SECTIONS.iter().find(|s| s.name == first) else {
                return Err(Miss { at: 0, allowed: TOP.to_vec() });
            };
            section_rest(section, parts)
        }
    }
}

fn section_rest(section: &'static Section, parts: &[&str]) -> Result<KeyKind, Miss> {
    let key = parts.get(1).copied().unwrap_or("");
    if section.open.contains(&key) {
        return Ok(KeyKind::Open);
    }
    match section.keys.iter().find(|k| k.name == key) {
        Some(k) if parts.len() == 2 => Ok(KeyKind::Typed(k)),
        _ => {
            let mut allowed: Vec<_> = section.keys.iter().map(|k| k.name).collect();
            allowed.extend(section.open);
            Err(Miss { at: 1, allowed })
        }
    }
}

/// Matches `parts[at..]` below `module.<name>`.
fn module_rest(module: &'static ModuleDef, parts: &[&str], at: usize) -> Result<KeyKind, Miss> {
    let rest = &parts[at.min(parts.len())..];
    let first = rest.first().copied().unwrap_or("");
    if module.open.contains(&first) {
        return Ok(KeyKind::Open);
    }
    if rest.len() == 1
        && let Some(k) = module_key(module, first)
    {
        return Ok(KeyKind::Typed(k));
    }
    if module.family == Family::Connection {
        return connection_rest(module, parts, at);
    }
    Err(Miss { at, allowed: module_key_names(module) })
}

/// Matches the part of a key below a connection module or one of its vhosts.
fn connection_rest(module: &'static ModuleDef, parts: &[&str], at: usize) -> Result<KeyKind, Miss> {
    let rest = &parts[at.min(parts.len())..];
    match rest {
        ["protocol"] => Err(Miss { at: parts.len(), allowed: vec!["persist"] }),
        ["vhost"] => Err(Miss { at: parts.len(), allowed: vec!["api.url"] }),
        ["vhost", _] => Err(Miss { at: parts.len(), allowed: vec!["url"] }),
        ["protocol", key] => any_protocol_key(key)
            .map(KeyKind::Typed)
            .ok_or_else(|| Miss { at: at + 1, allowed: protocol_key_names("default") }),
        ["vhost", _name, more @ ..] if !more.is_empty() => {
            if let [key] = more
                && let Some(k) = CONNECTION_KEYS.iter().find(|k| k.name == *key)
            {
                return Ok(KeyKind::Typed(k));
            }
            connection_rest(module, parts, at + 2)
        }
        _ => {
            let mut allowed = module_key_names(module);
            allowed.extend(["protocol", "vhost"]);
            Err(Miss { at, allowed })
        }
    }
}

fn module_def(name: &str) -> Option<&'static ModuleDef> {
    MODULES.iter().find(|m| m.name == name)
}

/// A module's own key, then its family's, then `module.default`'s.
fn module_key(module: &'static ModuleDef, key: &str) -> Option<&'static Key> {
    let family: &[Key] = match module.family {
        Family::Plain => &[],
        Family::Connection => CONNECTION_KEYS,
        Family::Flow => FLOW_KEYS,
    };
    [module.keys, family, MODULE_DEFAULT_KEYS].into_iter().flatten().find(|k| k.name == key)
}

fn module_key_names(module: &'static ModuleDef) -> Vec<&'static str> {
    let mut names: Vec<_> = module.keys.iter().chain(MODULE_DEFAULT_KEYS).map(|k| k.name).collect();
    match module.family {
        Family::Plain => {}
        Family::Connection => names.extend(CONNECTION_KEYS.iter().map(|k| k.name)),
        Family::Flow => names.extend(FLOW_KEYS.iter().map(|k| k.name)),
    }
    names.extend(module.open);
    names
}

fn any_module_key(key: &str) -> Option<&'static Key> {
    MODULE_DEFAULT_KEYS
        .iter()
        .find(|k| k.name == key)
        .or_else(|| MODULES.iter().find_map(|m| module_key(m, key)))
}

fn all_module_key_names() -> Vec<&'static str> {
    let mut names: Vec<_> = MODULES.iter().flat_map(module_key_names).collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn protocol(name: &str) -> Option<&'static Section> {
    PROTOCOLS.iter().find(|p| p.name == name)
}

/// A protocol's own key, then its parent's, then `protocol.default`'s; for `default`, any.
fn protocol_key(name: &str, key: &str) -> Option<&'static Key> {
    if name == "default" {
        return any_protocol_key(key);
    }
    let own = protocol(name)?;
    let chain = [Some(own), own.parent.and_then(protocol), protocol("default")];
    chain.into_iter().flatten().find_map(|s| s.keys.iter().find(|k| k.name == key))
}

fn any_protocol_key(key: &str) -> Option<&'static Key> {
    protocol("default")
        .and_then(|d| d.keys.iter().find(|k| k.name == key))
        .or_else(|| PROTOCOLS.iter().find_map(|p| p.keys.iter().find(|k| k.name == key)))
}

fn protocol_key_names(name: &str) -> Vec<&'static str> {
    let mut names: Vec<_> = if name == "default" {
        PROTOCOLS.iter().flat_map(|p| p.keys.iter().map(|k| k.name)).collect()
    } else {
        let own = protocol(name);
        [own, own.and_then(|p| p.parent).and_then(protocol), protocol("default")]
            .into_iter()
            .flatten()
            .flat_map(|s| s.keys.iter().map(|k| k.name))
            .collect()
    };
    names.sort_unstable();
    names.dedup();
    names
}

/// Why `key` is not in the schema, as a problem with the nearest known key when there is one.
pub(crate) fn explain_unknown(key: &str) -> super::diag::Problem {
    use super::diag::Problem;
    if let Some((_, upstream)) = MISPRINTS.iter().find(|(manual, _)| *manual == key) {
        return Problem::UnknownKey { suggestion: Some((*upstream).to_string()), misprint: true };
    }
    let parts: Vec<&str> = key.split('.').collect();
    let Err(miss) = walk(&parts) else {
        return Problem::UnknownKey { suggestion: None, misprint: false };
    };
    if miss.at >= parts.len() {
        let example = miss.allowed.first().map(|n| format!("{key}.{n}"));
        return Problem::IncompleteKey { example };
    }
    let bad = parts[miss.at];
    let best = miss
        .allowed
        .iter()
        .map(|c| (edit_distance(&bad.to_ascii_lowercase(), &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= max_typo(bad.len().max(c.len())))
        .min_by_key(|(d, _)| *d);
    let suggestion = best.map(|(_, c)| {
        let mut fixed: Vec<&str> = parts.clone();
        fixed[miss.at] = c;
        let full = fixed.join(".");
        if lookup(&full).is_some() { full } else { fixed[..=miss.at].join(".") }
    });
    Problem::UnknownKey { suggestion, misprint: false }
}

fn max_typo(len: usize) -> usize {
    match len {
        0..=3 => 1,
        4..=9 => 2,
        _ => 3,
    }
}

/// Levenshtein distance (with adjacent transpositions counted as one edit).
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

/// Checks `value` against `ty`; on failure returns the expected-type text.
pub fn type_check(ty: &Ty, value: &Value) -> Result<(), String> {
    let ok = match (ty, value) {
        (Ty::Any, _) => true,
        (Ty::Opt(_), Value::None) => true,
        (Ty::Opt(inner), v) => return type_check(inner, v).map_err(|_| ty.describe()),
        (Ty::Bool, Value::Bool(_)) => true,
        (Ty::Int, Value::Int(_)) => true,
        (Ty::Number, Value::Int(_) | Value::Float(_)) => true,
        (Ty::Str, Value::Str(_)) => true,
        (Ty::Text, Value::Str(_) | Value::Bytes(_)) => true,
        (Ty::Url, Value::Str(s)) => return check_url(s),
        (Ty::Seq, v) => v.as_seq().is_some(),
        (Ty::StrSeq, v) => v.as_seq().is_some_and(|items| items.iter().all(|i| matches!(i, Value::Str(_)))),
        (Ty::UrlSeq, v) => match v.as_seq() {
            Some(items) => {
                for item in items {
                    type_check(&Ty::Url, item)?;
                }
                true
            }
            None => false,
        },
        (Ty::Dict, Value::Dict(_)) => true,
        _ => false,
    };
    if ok { Ok(()) } else { Err(ty.describe()) }
}

/// A connection URL: `<scheme>://…` with a known scheme.
fn check_url(url: &str) -> Result<(), String> {
    let Some((scheme, _rest)) = url.split_once("://") else {
        return Err(format!("a URL like 'tcp://127.0.0.1:6653/' or 'unix:///path' (no `://` in {url:?})"));
    };
    if URL_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
        Ok(())
    } else {
        Err(format!("a URL with a scheme among {} (found {scheme:?})", URL_SCHEMES.join(", ")))
    }
}

/// The module whose loading path (or bare module name) is `path`: matched on the lower-cased
/// class name, as module names are (two modules with one name cannot be loaded together).
pub fn module_by_path(path: &str) -> Option<&'static ModuleDef> {
    let class = path.rsplit('.').next().unwrap_or(path).to_ascii_lowercase();
    module_def(&class)
}

/// The known module name nearest to the class name in `path`, for "did you mean".
pub(crate) fn nearest_module(path: &str) -> Option<&'static ModuleDef> {
    let class = path.rsplit('.').next().unwrap_or(path).to_ascii_lowercase();
    MODULES
        .iter()
        .map(|m| (edit_distance(&class, m.name), m))
        .filter(|(d, m)| *d <= max_typo(m.name.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diag::Problem;
    use crate::config::literal;

    #[test]
    fn known_key_shapes() {
        for key in [
            "server.startup",
            "server.logging.root",
            "server.logging.handlers.fileHandler.level",
            "main.args",
            "protocol.openflow.keepalivetime",
            "protocol.openflow.reuseport",
            "protocol.ovsdb.messagelimit",
            "protocol.default.allowedversions",
            "module.default.vhostbind",
            "module.dockerplugin.mtu",
            "module.dockerplugin.autosuccess",
            "module.l2switch.vhostbind",
            "module.httpserver.url",
            "module.httpserver.vhost.api.url",
            "module.httpserver.vhost.api.protocol.fastfail",
            "module.httpserver.vhost.api.vhost.inner.urls",
            "module.redisdb.protocol.connect_timeout",
            "module.jsonrpcserver.ovsdb",
            "module.static.vdir.rewrite.dir",
            "module.embeddeddb.path",
            "proxy.kvstorage",
        ] {
            assert!(lookup(key).is_some(), "{key} should be known");
        }
        for key in [
            "server",
            "server.nosuch",
            "server.startup.x",
            "protocol.openflow",
            "protocol.openflow.mtu",
            "module.dockerplugin.url",
            "module.l2switch.protocol.persist",
            "module.httpserver.vhost.api",
            "module.nosuch.x",
            "proxy.other",
            "nosuch.key",
        ] {
            assert!(lookup(key).is_none(), "{key} should be unknown");
        }
    }

    #[test]
    fn suggestions_for_near_misses() {
        let suggest = |key: &str| match explain_unknown(key) {
            Problem::UnknownKey { suggestion, misprint } => (suggestion, misprint),
            other => panic!("{key}: {other:?}"),
        };
        assert_eq!(suggest("module.dockerplugin.mtuu"), (Some("module.dockerplugin.mtu".into()), false));
        assert_eq!(suggest("module.dockerplugn.mtu"), (Some("module.dockerplugin.mtu".into()), false));
        assert_eq!(suggest("modlue.dockerplugin.mtu"), (Some("module.dockerplugin.mtu".into()), false));
        assert_eq!(suggest("module.l2swich.learning"), (Some("module.l2switch.learning".into()), false));
        assert_eq!(
            suggest("module.dockerplugin.ipcompath"),
            (Some("module.dockerplugin.ipcommand".into()), true)
        );
        assert!(suggest("module.jsonrpcserver.connectionmanagement").1);
        assert_eq!(suggest("module.dockerplugin.zzzzzz"), (None, false));
        assert!(matches!(
            explain_unknown("module.dockerplugin"),
            Problem::IncompleteKey { example: Some(_) }
        ));
    }

    #[test]
    fn every_default_matches_its_type() {
        let sections = SECTIONS.iter().chain(PROTOCOLS).flat_map(|s| s.keys);
        let modules = MODULES.iter().flat_map(|m| m.keys);
        let shared = MODULE_DEFAULT_KEYS.iter().chain(CONNECTION_KEYS).chain(FLOW_KEYS);
        for key in sections.chain(modules).chain(shared) {
            let v = literal::parse(key.default).unwrap_or_else(|e| panic!("{}: {e}", key.name));
            let ok = type_check(&key.ty, &v).is_ok() || (matches!(v, Value::None) && key.ty == Ty::Any);
            assert!(ok, "default of {} ({}) is not {}", key.name, key.default, key.ty.describe());
        }
        for (manual, upstream) in MISPRINTS {
            assert!(lookup(upstream).is_some(), "misprint target {upstream} must be known");
            assert!(lookup(manual).is_none(), "misprinted {manual} must be unknown");
        }
        for m in MODULES {
            assert_eq!(module_by_path(m.path).map(|d| d.name), Some(m.name));
            for dep in m.deps {
                assert!(
                    module_def(dep).is_some() || PROXIES.iter().any(|p| p.name == *dep),
                    "{} depends on unknown {dep}",
                    m.name
                );
            }
        }
    }

    #[test]
    fn type_checks() {
        let v = |s: &str| literal::parse(s).unwrap();
        assert!(type_check(&Ty::Number, &v("1.5")).is_ok());
        assert!(type_check(&Ty::Int, &v("1.5")).is_err());
        assert!(type_check(&Ty::Bool, &v("1")).is_err());
        assert!(type_check(&Ty::Opt(&Ty::Url), &v("None")).is_ok());
        assert!(type_check(&Ty::Url, &v("'unix:///run/x.sock'")).is_ok());
        assert!(type_check(&Ty::Url, &v("'ftp://x/'")).unwrap_err().contains("ftp"));
        assert!(type_check(&Ty::Url, &v("'localhost:80'")).is_err());
        assert!(type_check(&Ty::StrSeq, &v("('a', 'b')")).is_ok());
        assert!(type_check(&Ty::StrSeq, &v("['a', 1]")).is_err());
        assert_eq!(edit_distance("mtuu", "mtu"), 1);
        assert_eq!(edit_distance("ovsbrdige", "ovsbridge"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
