//! The command line: `vlcpctl [options] <object> <verb> [key=value…]`, `vlcpctl discover` and
//! `vlcpctl trace [--bridge B] field=value…`,
//! parsed into a [`Command`] without touching the network. Options may appear anywhere before
//! `--`.

use crate::objects::{self, Object};
use crate::trace;

/// Default API address (the original's examples: `module.httpserver.vhost.api.url='tcp://localhost:8081'`).
pub const DEFAULT_URL: &str = "http://127.0.0.1:8081";

/// The help text.
pub const USAGE: &str = "\
Usage: vlcpctl [--url URL] [--token TOKEN] [--json] <object> <verb> [key=value...]
       vlcpctl [--url URL] [--json] discover
       vlcpctl [--url URL] [--json] trace [--bridge B] in_port=<port> [field=value...]

Manage vlcp network objects through the management API.

Objects: physicalnetwork, physicalport, logicalnetwork, subnet, logicalport,
         router, routerinterface
Verbs:   list [filter=value...]     aligned table of matching objects
         show <id> | key=value...   every attribute of one object
         create key=value...        create; prints the new object
         update <id> key=value...   update; prints the object (not routerinterface)
         delete <id> | key=value... delete

Values are strings; a value in backticks is a VLCP (Python) literal passed through
as is, e.g. vnirange='`[[10000,20000]]`' or mtu='`1450`'. A bare word after
show/update/delete names the object (its id; the name of a physicalport).
A routerinterface is named by router=<id> subnet=<id>.

trace explains, stage by stage, how a packet would cross a switch's flows as
the controller computed them (like ovn-trace). in_port is an OpenFlow port
number, an OVS interface name or a logical port id; fields use ovs-ofctl
names: dl_src (default: the logical port's MAC), dl_dst (ARP: broadcast),
dl_vlan, arp_op, arp_spa, arp_tpa, nw_src, nw_dst, nw_ttl, nw_proto, tp_src,
tp_dst, icmp_type, tun_id, metadata, reg0..reg15; a bare arp, ip, icmp, tcp or
udp sets the protocol. --bridge (or datapath=<hex id>) picks the switch when
several are connected.

Options:
  --url URL      API address, http://host[:port][/rootpath]
                 (default $VLCP_URL, else http://127.0.0.1:8081)
  --token TOKEN  send 'Authorization: Bearer TOKEN' (default $VLCP_TOKEN)
  --json         print the API's raw result as JSON instead of a table
  --bridge B     trace: the OVS bridge whose flows are traced
  -h, --help     this help
  --version      print the version

Exit status: 0 success, 1 the server refused the call or could not be reached,
2 bad command line.

Examples:
  vlcpctl physicalnetwork create id=vxlan type=vxlan vnirange='`[[10000,20000]]`'
  vlcpctl logicalnetwork create id=net_a physicalnetwork=vxlan mtu=1450
  vlcpctl subnet create id=sub_a logicalnetwork=net_a cidr=198.18.1.0/24 gateway=198.18.1.1
  vlcpctl logicalport list logicalnetwork=net_a
  vlcpctl --json logicalport show lp1
  vlcpctl routerinterface create router=r1 subnet=sub_a
  vlcpctl trace --bridge dockerbr0 in_port=lp1 dl_dst=02:00:00:00:00:02 icmp nw_dst=198.18.1.3
  vlcpctl trace in_port=lp1 arp arp_tpa=198.18.1.1";

/// What a call does to its object type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// Table of matching objects.
    List,
    /// Every attribute of one object.
    Show,
    /// Create one object.
    Create,
    /// Update one object.
    Update,
    /// Delete one object.
    Delete,
}

impl Verb {
    fn parse(s: &str) -> Option<Verb> {
        Some(match s {
            "list" => Verb::List,
            "show" => Verb::Show,
            "create" => Verb::Create,
            "update" => Verb::Update,
            "delete" => Verb::Delete,
            _ => return None,
        })
    }
}

/// Global options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// API base URL.
    pub url: String,
    /// Bearer token.
    pub token: Option<String>,
    /// Print raw JSON.
    pub json: bool,
}

/// What to do.
#[derive(Debug)]
pub enum Command {
    /// Print [`USAGE`].
    Help,
    /// Print the version.
    Version,
    /// List the APIs of both modules.
    Discover(Options),
    /// A verb on an object type.
    Call(Call),
    /// Trace a packet.
    Trace(TraceCall),
}

/// `vlcpctl trace`: the parameters of `/vlcp/trace`.
#[derive(Debug)]
pub struct TraceCall {
    /// Global options.
    pub options: Options,
    /// `key=value` in command-line order (`--bridge` as `bridge`, bare protocols as `proto`).
    pub params: Vec<(String, String)>,
}

/// A verb on an object type, with its parameters.
#[derive(Debug)]
pub struct Call {
    /// Global options.
    pub options: Options,
    /// The object type.
    pub object: &'static Object,
    /// The verb.
    pub verb: Verb,
    /// `key=value` parameters in command-line order (a bare word already turned into the first
    /// identifying parameter).
    pub params: Vec<(String, String)>,
}

/// A bad command line (exit status 2).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// Nothing to do.
    #[error("missing <object> (one of {})", object_names())]
    NoObject,
    /// Unknown object type.
    #[error("unknown object {0:?} (one of {names})", names = object_names())]
    UnknownObject(String),
    /// No verb.
    #[error("missing verb after {0} (list, show, create, update or delete)")]
    NoVerb(&'static str),
    /// Unknown verb.
    #[error("unknown verb {0:?} (list, show, create, update or delete)")]
    UnknownVerb(String),
    /// The type has no such operation.
    #[error("{0} cannot be updated; delete it and create it again")]
    NotUpdatable(&'static str),
    /// An option needs a value.
    #[error("{0} needs a value")]
    OptionValue(&'static str),
    /// Unknown option.
    #[error("unknown option {0:?}")]
    UnknownOption(String),
    /// An argument is not `key=value`.
    #[error("expected key=value, found {0:?}")]
    NotKeyValue(String),
    /// A key is not a parameter name.
    #[error("bad parameter name {0:?} (letters, digits and _)")]
    BadKey(String),
    /// A key is given twice.
    #[error("parameter {0} is given twice")]
    Duplicate(String),
    /// `show` without what names the object.
    #[error("{object} {verb}: missing {key}=<value>")]
    MissingIdent {
        /// The object type.
        object: &'static str,
        /// The verb.
        verb: &'static str,
        /// The missing parameter.
        key: &'static str,
    },
    /// Extra words after `discover`.
    #[error("discover takes no arguments, found {0:?}")]
    DiscoverArgs(String),
    /// `--bridge` outside `trace`.
    #[error("--bridge is an option of trace only")]
    BridgeOutsideTrace,
    /// A trace field the server does not know.
    #[error("trace: unknown field {0:?} (one of bridge, datapath, {fields})", fields = trace::PACKET_FIELDS.join(", "))]
    UnknownTraceField(String),
    /// `trace` without `in_port`.
    #[error("trace: missing in_port=<OpenFlow port number, interface name or logical port id>")]
    NoInPort,
}

fn object_names() -> String {
    objects::OBJECTS.iter().map(|o| o.name).collect::<Vec<_>>().join(", ")
}

/// Parses the arguments (without the program name); `env` reads environment defaults.
pub fn parse(args: Vec<String>, env: impl Fn(&str) -> Option<String>) -> Result<Command, UsageError> {
    let mut options = Options {
        url: env("VLCP_URL").unwrap_or_else(|| DEFAULT_URL.into()),
        token: env("VLCP_TOKEN"),
        json: false,
    };
    let mut words = Vec::new();
    let mut bridge = None;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value =
            |opt: &'static str| inline.clone().or_else(|| it.next()).ok_or(UsageError::OptionValue(opt));
        match name.as_str() {
            "--" => {
                words.extend(it.by_ref());
                break;
            }
            "-h" | "--help" => return Ok(Command::Help),
            "--version" => return Ok(Command::Version),
            "--json" => options.json = true,
            "--url" => options.url = value("--url")?,
            "--token" => options.token = Some(value("--token")?),
            "--bridge" => bridge = Some(value("--bridge")?),
            s if s.starts_with('-') && s.len() > 1 => return Err(UsageError::UnknownOption(a)),
            _ => words.push(a),
        }
    }
    let mut words = words.into_iter();
    let Some(object) = words.next() else { return Err(UsageError::NoObject) };
    if object == "trace" {
        return trace_params(bridge, words.collect())
            .map(|params| Command::Trace(TraceCall { options, params }));
    }
    if bridge.is_some() {
        return Err(UsageError::BridgeOutsideTrace);
    }
    match object.as_str() {
        "help" => return Ok(Command::Help),
        "discover" => {
            return match words.next() {
                Some(extra) => Err(UsageError::DiscoverArgs(extra)),
                None => Ok(Command::Discover(options)),
            };
        }
        _ => {}
    }
    let object = objects::find(&object).ok_or(UsageError::UnknownObject(object))?;
    let verb = words.next().ok_or(UsageError::NoVerb(object.name))?;
    let verb = Verb::parse(&verb).ok_or(UsageError::UnknownVerb(verb))?;
    if verb == Verb::Update && object.update.is_none() {
        return Err(UsageError::NotUpdatable(object.name));
    }
    let params = params(object, verb, words.collect())?;
    Ok(Command::Call(Call { options, object, verb, params }))
}

fn trace_params(bridge: Option<String>, words: Vec<String>) -> Result<Vec<(String, String)>, UsageError> {
    let mut out: Vec<(String, String)> = Vec::new();
    if let Some(b) = bridge {
        out.push(("bridge".into(), b));
    }
    for w in words {
        let (k, v) = match w.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None if trace::PROTOS.contains(&w.as_str()) => ("proto".to_string(), w),
            None => return Err(UsageError::NotKeyValue(w)),
        };
        if !trace::PACKET_FIELDS.contains(&k.as_str()) && k != "bridge" && k != "datapath" {
            return Err(UsageError::UnknownTraceField(k));
        }
        if out.iter().any(|(o, _)| *o == k) {
            return Err(UsageError::Duplicate(k));
        }
        out.push((k, v));
    }
    if !out.iter().any(|(k, _)| k == "in_port") {
        return Err(UsageError::NoInPort);
    }
    Ok(out)
}

fn params(
    object: &'static Object,
    verb: Verb,
    words: Vec<String>,
) -> Result<Vec<(String, String)>, UsageError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut bare = None;
    for w in words {
        let (k, v) = match w.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None if bare.is_none() && matches!(verb, Verb::Show | Verb::Update | Verb::Delete) => {
                bare = Some(w);
                continue;
            }
            None => return Err(UsageError::NotKeyValue(w)),
        };
        let valid = k.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(UsageError::BadKey(k));
        }
        if out.iter().any(|(o, _)| *o == k) {
            return Err(UsageError::Duplicate(k));
        }
        out.push((k, v));
    }
    if let Some(b) = bare {
        let key = object.ident[0];
        if out.iter().any(|(k, _)| k == key) {
            return Err(UsageError::Duplicate(key.to_string()));
        }
        out.insert(0, (key.to_string(), b));
    }
    if verb == Verb::Show {
        let verb = "show";
        for &key in object.ident {
            if !out.iter().any(|(k, _)| k == key) {
                return Err(UsageError::MissingIdent { object: object.name, verb, key });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(|s| s.to_string()).collect(), |_| None)
    }

    fn call(args: &[&str]) -> Call {
        match p(args) {
            Ok(Command::Call(c)) => c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn objects_verbs_and_params() {
        let c = call(&["logicalport", "create", "id=lp1", "logicalnetwork=n", "mtu=`1450`"]);
        assert_eq!((c.object.name, c.verb), ("logicalport", Verb::Create));
        assert_eq!(c.params[2], ("mtu".into(), "`1450`".into()));
        assert_eq!(c.options, Options { url: DEFAULT_URL.into(), token: None, json: false });
        let c = call(&["--json", "physicalport", "show", "eth0", "--url=http://h:1"]);
        assert_eq!(c.params, [("name".to_string(), "eth0".to_string())]);
        assert!(c.options.json && c.options.url == "http://h:1");
        let c = call(&["routerinterface", "delete", "router=r", "subnet=s"]);
        assert_eq!(c.params.len(), 2);
        let c = call(&["--url", "http://x", "subnet", "list", "--", "gateway=1.2.3.4"]);
        assert_eq!(c.options.url, "http://x");
        let c = call(&["virtualrouter", "update", "r1", "routes=`[]`"]);
        assert_eq!(c.params[0], ("id".into(), "r1".into()));
    }

    #[test]
    fn trace_command_line() {
        let Ok(Command::Trace(t)) =
            p(&["--json", "trace", "--bridge=br0", "in_port=lp1", "icmp", "nw_dst=198.18.1.3"])
        else {
            panic!()
        };
        assert!(t.options.json);
        let want: Vec<(String, String)> =
            [("bridge", "br0"), ("in_port", "lp1"), ("proto", "icmp"), ("nw_dst", "198.18.1.3")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(t.params, want);
    }

    #[test]
    fn environment_defaults() {
        let env = |k: &str| (k == "VLCP_URL").then(|| "http://e:2".to_string());
        let Ok(Command::Discover(o)) = parse(vec!["discover".into()], env) else { panic!() };
        assert_eq!(o.url, "http://e:2");
    }

    #[test]
    fn usage_errors() {
        use UsageError as U;
        assert_eq!(p(&[]).unwrap_err(), U::NoObject);
        assert_eq!(p(&["port", "list"]).unwrap_err(), U::UnknownObject("port".into()));
        assert!(p(&["port"]).unwrap_err().to_string().contains("physicalnetwork, physicalport"));
        assert_eq!(p(&["subnet"]).unwrap_err(), U::NoVerb("subnet"));
        assert_eq!(p(&["subnet", "destroy"]).unwrap_err(), U::UnknownVerb("destroy".into()));
        assert_eq!(
            p(&["routerinterface", "update", "router=r"]).unwrap_err(),
            U::NotUpdatable("routerinterface")
        );
        assert_eq!(p(&["subnet", "list", "--url"]).unwrap_err(), U::OptionValue("--url"));
        assert_eq!(p(&["--yaml", "subnet", "list"]).unwrap_err(), U::UnknownOption("--yaml".into()));
        assert_eq!(p(&["subnet", "create", "cidr"]).unwrap_err(), U::NotKeyValue("cidr".into()));
        assert_eq!(p(&["subnet", "list", "s1"]).unwrap_err(), U::NotKeyValue("s1".into()));
        assert_eq!(p(&["subnet", "show", "a", "b"]).unwrap_err(), U::NotKeyValue("b".into()));
        assert_eq!(p(&["subnet", "create", "1x=2"]).unwrap_err(), U::BadKey("1x".into()));
        assert_eq!(p(&["subnet", "create", "a=1", "a=2"]).unwrap_err(), U::Duplicate("a".into()));
        assert_eq!(p(&["subnet", "show", "s", "id=t"]).unwrap_err(), U::Duplicate("id".into()));
        assert_eq!(
            p(&["routerinterface", "show", "r1"]).unwrap_err(),
            U::MissingIdent { object: "routerinterface", verb: "show", key: "subnet" }
        );
        assert_eq!(p(&["discover", "x"]).unwrap_err(), U::DiscoverArgs("x".into()));
        assert_eq!(p(&["--bridge", "b", "subnet", "list"]).unwrap_err(), U::BridgeOutsideTrace);
        assert_eq!(p(&["trace", "dl_dst=x"]).unwrap_err(), U::NoInPort);
        assert_eq!(
            p(&["trace", "in_port=1", "nw_frob=1"]).unwrap_err(),
            U::UnknownTraceField("nw_frob".into())
        );
        assert_eq!(p(&["trace", "in_port=1", "sctp"]).unwrap_err(), U::NotKeyValue("sctp".into()));
        assert_eq!(p(&["trace", "in_port=1", "arp", "proto=ip"]).unwrap_err(), U::Duplicate("proto".into()));
        assert_eq!(
            p(&["--bridge", "b", "trace", "in_port=1", "bridge=c"]).unwrap_err(),
            U::Duplicate("bridge".into())
        );
        assert!(matches!(p(&["subnet", "list", "-h"]), Ok(Command::Help)));
    }
}
