//! Web API settings from `vlcp.conf`, with the original's keys.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `module.webapi.vhostbind` | `'api'` | the HTTP vhost the API is served on |
//! | `module.httpserver.vhost.<vhostbind>.url` | `'tcp://localhost:8081'` | where to listen (`module.httpserver.url` when `vhostbind` is `''`) |
//! | `module.webapi.rootpath` | `'/'` | URL prefix: `<rootpath>/<module>/<api>` |
//! | `module.webapi.authtoken` | unset | (this implementation) require `Authorization: Bearer <token>` or `X-Auth-Token` |
//!
//! Listen URLs: `tcp://host:port/`, `ltcp://…`, `http://…` (the manual's form) or
//! `unix:///path/to.sock`; host `localhost` means 127.0.0.1, an empty host every address.

use std::path::PathBuf;

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    /// `host:port` for a TCP listener.
    Tcp(String),
    /// A Unix socket path.
    Unix(PathBuf),
}

/// The web API configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebConfig {
    /// Where to listen.
    pub listen: ListenAddr,
    /// URL prefix, normalized to start and end with `/`.
    pub rootpath: String,
    /// Required token, if any (off by default).
    pub auth_token: Option<String>,
}

/// The default listen URL of the original's examples.
pub const DEFAULT_URL: &str = "tcp://localhost:8081";

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig { listen: ListenAddr::Tcp("127.0.0.1:8081".into()), rootpath: "/".into(), auth_token: None }
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value:?}: {reason}")]
pub struct ConfigError {
    /// The key.
    pub key: String,
    /// Its value.
    pub value: String,
    /// Why it is refused.
    pub reason: &'static str,
}

impl WebConfig {
    /// Reads the settings through `lookup` (the string value of a config key, `None` if unset;
    /// the text `None` counts as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| lookup(k).filter(|v| v != "None");
        let vhost = get("module.webapi.vhostbind").unwrap_or_else(|| "api".into());
        let url_key = if vhost.is_empty() {
            "module.httpserver.url".to_string()
        } else {
            format!("module.httpserver.vhost.{vhost}.url")
        };
        let url = get(&url_key).unwrap_or_else(|| DEFAULT_URL.into());
        let listen =
            parse_url(&url).map_err(|reason| ConfigError { key: url_key, value: url.clone(), reason })?;
        let mut rootpath = get("module.webapi.rootpath").unwrap_or_else(|| "/".into());
        if !rootpath.starts_with('/') {
            rootpath.insert(0, '/');
        }
        if !rootpath.ends_with('/') {
            rootpath.push('/');
        }
        Ok(WebConfig {
            listen,
            rootpath,
            auth_token: get("module.webapi.authtoken").filter(|t| !t.is_empty()),
        })
    }
}

/// Parses a listen URL.
pub fn parse_url(url: &str) -> Result<ListenAddr, &'static str> {
    let (scheme, rest) = url.split_once("://").ok_or("not a URL (expected tcp://host:port/)")?;
    match scheme.to_ascii_lowercase().as_str() {
        "unix" => {
            if rest.is_empty() {
                return Err("unix URL without a path");
            }
            Ok(ListenAddr::Unix(PathBuf::from(rest)))
        }
        "tcp" | "ltcp" | "http" => {
            let hostport = rest.split('/').next().unwrap_or("");
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) => (h, p.parse::<u16>().map_err(|_| "bad port")?),
                None => (hostport, 80),
            };
            let host = match host {
                "localhost" => "127.0.0.1",
                "" => "0.0.0.0",
                h => h,
            };
            Ok(ListenAddr::Tcp(format!("{host}:{port}")))
        }
        _ => Err("unsupported scheme (use tcp, ltcp, http or unix)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<WebConfig, ConfigError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        WebConfig::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_to_localhost_8081() {
        assert_eq!(cfg(&[]).unwrap(), WebConfig::default());
    }

    #[test]
    fn original_keys_are_read() {
        let c = cfg(&[
            ("module.httpserver.url", "None"),
            ("module.httpserver.vhost.api.url", "tcp://127.0.0.1:9999/"),
            ("module.webapi.rootpath", "api"),
            ("module.webapi.authtoken", "s3cret"),
        ])
        .unwrap();
        assert_eq!(c.listen, ListenAddr::Tcp("127.0.0.1:9999".into()));
        assert_eq!(c.rootpath, "/api/");
        assert_eq!(c.auth_token.as_deref(), Some("s3cret"));
        let c = cfg(&[("module.webapi.vhostbind", ""), ("module.httpserver.url", "ltcp://localhost:8082")])
            .unwrap();
        assert_eq!(c.listen, ListenAddr::Tcp("127.0.0.1:8082".into()));
        let c = cfg(&[("module.httpserver.vhost.api.url", "unix:///run/vlcp-api.sock")]).unwrap();
        assert_eq!(c.listen, ListenAddr::Unix("/run/vlcp-api.sock".into()));
    }

    #[test]
    fn bad_urls_name_the_key() {
        let e = cfg(&[("module.httpserver.vhost.api.url", "ftp://x")]).unwrap_err();
        assert_eq!(e.key, "module.httpserver.vhost.api.url");
        assert!(cfg(&[("module.httpserver.vhost.api.url", "tcp://h:99999")]).is_err());
        assert!(parse_url("localhost:8081").is_err());
    }
}
