//! The tables of known configuration keys: every key the original VLCP reads (with the upstream
//! spelling, not the manual's misprints), its type and its default as Python literal text, plus the
//! keys this implementation adds (marked "ours"). This is the single list of defaults: code reads
//! values through [`Config::get`](super::Config::get), which falls back to these.
//!
//! Sources: `shared/reference/vlcp-modules-and-config.md` §2 (non-module keys), §4.6 (module
//! keys), §6 (proxies), §7 (Docker plugin).

/// The type a key's value must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// Anything (dicts handed to another component, debugging knobs).
    Any,
    /// `True` or `False`.
    Bool,
    /// An int.
    Int,
    /// An int or a float (timeouts, intervals).
    Number,
    /// A str.
    Str,
    /// A str or bytes.
    Text,
    /// A connection URL `<scheme>://[address[:port]][/…]` (see [`URL_SCHEMES`]).
    Url,
    /// A list, tuple or set of anything.
    Seq,
    /// A list, tuple or set of str.
    StrSeq,
    /// A list, tuple or set of connection URLs.
    UrlSeq,
    /// A dict.
    Dict,
    /// `None` or the inner type.
    Opt(&'static Ty),
}

impl Ty {
    /// How the type reads in messages ("expected int or float").
    pub fn describe(&self) -> String {
        match self {
            Ty::Any => "any literal".into(),
            Ty::Bool => "True or False".into(),
            Ty::Int => "int".into(),
            Ty::Number => "int or float".into(),
            Ty::Str => "str".into(),
            Ty::Text => "str or bytes".into(),
            Ty::Url => "a URL string like 'tcp://127.0.0.1:6653/' or 'unix:///path'".into(),
            Ty::Seq => "list or tuple".into(),
            Ty::StrSeq => "list or tuple of str".into(),
            Ty::UrlSeq => "list or tuple of URL strings".into(),
            Ty::Dict => "dict".into(),
            Ty::Opt(inner) => format!("None or {}", inner.describe()),
        }
    }
}

/// URL schemes accepted in connection URLs: listening (`tcp`, `ltcp`, `ssl`, `lssl`), client
/// (`tcp`, `udp`, `ssl`), passive client (`ptcp`, `pudp`, `pssl`), UNIX sockets, and `zk`/`redis`
/// for the store modules.
pub const URL_SCHEMES: &[&str] =
    &["tcp", "ltcp", "ssl", "lssl", "udp", "ptcp", "pudp", "pssl", "unix", "zk", "redis"];

/// One known key (the last dotted part) with its type and default literal.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    /// The key's name within its section, e.g. `mtu` in `module.dockerplugin.mtu`.
    pub name: &'static str,
    /// The value type.
    pub ty: Ty,
    /// The default, as Python literal text (`"None"`, `"'dockerbr0'"`, `"(1, 4)"`).
    pub default: &'static str,
}

const fn k(name: &'static str, ty: Ty, default: &'static str) -> Key {
    Key { name, ty, default }
}

use Ty::*;
const OPT_STR: Ty = Opt(&Str);
const OPT_INT: Ty = Opt(&Int);
const OPT_NUM: Ty = Opt(&Number);
const OPT_URL: Ty = Opt(&Url);
const OPT_STR_SEQ: Ty = Opt(&StrSeq);

/// A two-part section (`server.*`, `main.*`, …) or a protocol (`protocol.<name>.*`).
#[derive(Debug)]
pub struct Section {
    /// `server`, or the protocol name (`openflow`).
    pub name: &'static str,
    /// For protocols: the protocol whose keys are inherited besides `protocol.default`.
    pub parent: Option<&'static str>,
    /// The typed keys.
    pub keys: &'static [Key],
    /// Sub-trees that accept any key below them (`server.logging.*`).
    pub open: &'static [&'static str],
}

/// How a module is configured beyond its own keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Only its own keys and `module.default` keys.
    Plain,
    /// A TCP server/client module: `url`, `urls`, SSL files, `.protocol.*` and `.vhost.<name>.*`.
    Connection,
    /// An SDN flow module: also `vhostbind` (the OpenFlow vhosts).
    Flow,
}

/// A module the original can load (`server.startup` names it by loading path).
#[derive(Debug)]
pub struct ModuleDef {
    /// The module name: the lower-cased class name, also the web API target.
    pub name: &'static str,
    /// The original loading path (`package.Class`).
    pub path: &'static str,
    /// Modules (or proxies: `kvstorage`, `updatenotifier`, `memorystorage`) started before it.
    pub deps: &'static [&'static str],
    /// Extra key families.
    pub family: Family,
    /// Its own keys.
    pub keys: &'static [Key],
    /// Sub-trees accepting any key below them.
    pub open: &'static [&'static str],
}

const fn m(
    name: &'static str,
    path: &'static str,
    deps: &'static [&'static str],
    family: Family,
    keys: &'static [Key],
) -> ModuleDef {
    ModuleDef { name, path, deps, family, keys, open: &[] }
}

mod modules;
pub use modules::MODULES;

/// Keys of every module (`module.default.*`).
pub const MODULE_DEFAULT_KEYS: &[Key] =
    &[k("service", Bool, "False"), k("forcestop", Bool, "True"), k("autosuccess", Bool, "True")];

/// Keys of connection modules and of each of their vhosts.
pub const CONNECTION_KEYS: &[Key] = &[
    k("url", OPT_URL, "'tcp:///'"),
    k("urls", Opt(&UrlSeq), "None"),
    k("connmanage", Bool, "False"),
    k("client", Bool, "False"),
    k("key", OPT_STR, "None"),
    k("certificate", OPT_STR, "None"),
    k("ca_certs", OPT_STR, "None"),
    k("bindaddress", Opt(&Any), "None"),
];

/// Key of every flow module.
pub const FLOW_KEYS: &[Key] = &[k("vhostbind", StrSeq, "['']")];

/// The two-part sections.
pub const SECTIONS: &[Section] = &[
    Section {
        name: "server",
        parent: None,
        keys: &[
            k("startup", StrSeq, "()"),
            k("debugging", Bool, "False"),
            k("pollwritepriority", Int, "700"),
            k("connectionwritepriority", Int, "600"),
            k("pollreadpriority", Int, "500"),
            k("pollerrorpriority", Int, "800"),
            k("resolverresppriority", Int, "490"),
            k("resolverreqpriority", Int, "650"),
            k("connectioncontrolpriority", Int, "450"),
            k("routinecontrolpriority", Int, "1000"),
            k("streamdatapriority", Int, "640"),
            k("timerpriority", Int, "900"),
            k("lockpriority", Int, "990"),
            k("futurepriority", Int, "989"),
            k("moduleloadeventpriority", Int, "890"),
            k("sysctlpriority", Int, "2000"),
            k("sysctllowpriority", Int, "10"),
            k("moduleapicallpriority", Int, "630"),
            k("moduleapireplypriority", Int, "420"),
            k("modulenotifypriority", Int, "410"),
            k("totalwritelimit", Int, "100000"),
            k("writelimitperconnection", Int, "5"),
            k("preservefornew", Int, "100"),
            k("streamdatalimit", Int, "100000"),
            k("datalimitperstream", Int, "5"),
            k("resolverpoolsize", Int, "64"),
            k("ulimitn", Int, "32768"),
            k("loggingconfig", OPT_STR, "None"),
            k("processevents", OPT_INT, "None"),
            k("queuedefaultsize", OPT_INT, "None"),
            k("queuemaxsize", OPT_INT, "None"),
            // ours: a tracing filter directive ('info', 'debug', 'vlcp=debug,info'); wins over
            // server.logging.root.level and server.debugging; RUST_LOG wins over it.
            k("loglevel", OPT_STR, "None"),
            // ours: 'text' or 'json' log lines on stderr.
            k("logformat", Str, "'text'"),
        ],
        // `server.logging` is the original's logging.config.dictConfig dict; only root.level is read.
        open: &["logging"],
    },
    Section { name: "main", parent: None, keys: &[k("args", Seq, "()"), k("kwargs", Dict, "{}")], open: &[] },
    Section {
        name: "jsonformat",
        parent: None,
        keys: &[
            k("namedstruct", Bool, "True"),
            k("humanread", Bool, "True"),
            k("bytesdecode", Str, "'ascii'"),
            k("byteslimit", Int, "256"),
            k("dumpextra", Bool, "False"),
            k("dumptypeinfo", Str, "'flat'"),
            k("dataobject", Bool, "True"),
            k("dataattributes", Bool, "True"),
        ],
        open: &[],
    },
    Section {
        name: "redisclient",
        parent: None,
        keys: &[k("url", Url, "'tcp://localhost/'"), k("timeout", Number, "10"), k("db", Int, "0")],
        open: &[],
    },
    Section {
        name: "webclient",
        parent: None,
        keys: &[
            k("cleanupinterval", Number, "60"),
            k("samehostlimit", Int, "20"),
            k("sameurllimit", Any, "False"),
            k("cafile", OPT_STR, "None"),
            k("redirectlimit", Int, "10"),
            k("verifyhost", Bool, "True"),
        ],
        open: &[],
    },
    Section {
        name: "zookeeperclient",
        parent: None,
        keys: &[
            k("serverlist", Seq, "[]"),
            k("chroot", Str, "'/'"),
            k("auth", Seq, "[]"),
            k("sessiontimeout", Number, "20"),
            k("rebalancetime", OPT_NUM, "None"),
        ],
        open: &[],
    },
];

/// The protocols (`protocol.<name>.*`); `default` holds the keys every protocol has.
pub const PROTOCOLS: &[Section] = &[
    Section {
        name: "default",
        parent: None,
        keys: &[
            k("messagepriority", Int, "400"),
            k("writepriority", Int, "600"),
            k("createqueue", Bool, "False"),
            k("cleanuptimeout", Number, "60"),
            k("writequeuesize", Int, "10"),
            k("messagequeuesize", Int, "10"),
            k("keepalivetime", OPT_NUM, "None"),
            k("writekeepalivetime", OPT_NUM, "None"),
            k("reuseport", Bool, "False"),
            k("persist", Bool, "False"),
            k("buffersize", Int, "4096"),
            k("connect_timeout", Number, "30"),
            k("tcp_nodelay", Bool, "False"),
            k("sslversion", Int, "2"),
            k("listen_persist", Bool, "True"),
            k("retrylisten_interval", Number, "3"),
            k("backlogsize", Int, "2048"),
            k("debugging", Bool, "False"),
            k("defaultport", Int, "0"),
        ],
        open: &[],
    },
    Section {
        name: "http",
        parent: None,
        keys: &[
            k("persist", Bool, "False"),
            k("pipelinelimit", Int, "10"),
            k("headlinelimit", Int, "8192"),
            k("headerlimit", Int, "1048576"),
            k("headercountlimit", Int, "1024"),
            k("chunkedheaderlimit", Int, "8192"),
            k("chunkednumberlimit", Int, "16"),
            k("allownoheader", Bool, "True"),
            k("defaultversion", Str, "'1.1'"),
            k("fastfail", Bool, "False"),
            k("allowtransfercompress", Bool, "False"),
            k("idletimeout", Number, "20"),
            k("closetimeout", Number, "5"),
            k("useexpect", Bool, "False"),
            k("useexpectsize", Int, "4096"),
            k("expecttimeout", Number, "2"),
            k("defaultport", Int, "80"),
            k("ssldefaultport", Int, "443"),
            k("showerrorinfo", Bool, "False"),
            k("unquoteplus", Bool, "True"),
            k("errorrewrite", Dict, "{}"),
            k("errorredirect", Dict, "{}"),
            k("responseendpriority", Int, "690"),
            k("tcp_nodelay", Bool, "True"),
        ],
        open: &[],
    },
    Section {
        name: "jsonrpc",
        parent: None,
        keys: &[
            k("persist", Bool, "True"),
            k("defaultport", Int, "6632"),
            k("createqueue", Bool, "True"),
            k("encoding", Str, "'utf-8'"),
            k("buffersize", Int, "65536"),
            k("messagelimit", Int, "16777216"),
            k("levellimit", Int, "1024"),
            k("allowedrequests", OPT_STR_SEQ, "None"),
        ],
        open: &[],
    },
    Section {
        name: "openflow",
        parent: None,
        keys: &[
            k("persist", Bool, "True"),
            k("defaultport", Int, "6653"),
            k("allowedversions", Seq, "(1, 4)"),
            k("hellotimeout", Number, "10"),
            k("featurerequesttimeout", Number, "30"),
            k("keepalivetime", Number, "10"),
            k("keepalivetimeout", Number, "3"),
            k("createqueue", Bool, "True"),
            k("writequeuesize", Int, "200"),
            k("buffersize", Int, "65536"),
            k("disablenxext", Bool, "False"),
            k("disablechaining", Bool, "True"),
            k("tcp_nodelay", Bool, "True"),
        ],
        open: &[],
    },
    Section {
        name: "ovsdb",
        parent: Some("jsonrpc"),
        keys: &[
            k("defaultport", Int, "6632"),
            k("allowedrequests", OPT_STR_SEQ, "('echo',)"),
            k("keepalivetime", Number, "10"),
            k("keepalivetimeout", Number, "3"),
            k("tcp_nodelay", Bool, "True"),
        ],
        open: &[],
    },
    Section {
        name: "raw",
        parent: None,
        keys: &[
            k("persist", Bool, "False"),
            k("defaultport", Int, "0"),
            k("createqueue", Bool, "True"),
            k("buffering", Bool, "False"),
            k("writebufferlimit", Int, "4096"),
            k("splitsize", Int, "1048576"),
        ],
        open: &[],
    },
    Section {
        name: "redis",
        parent: None,
        keys: &[
            k("persist", Bool, "True"),
            k("defaultport", Int, "6379"),
            k("createqueue", Bool, "True"),
            k("messagequeuesize", Int, "4096"),
            k("bulklimit", Int, "67108864"),
            k("levellimit", Int, "128"),
            k("encoding", Str, "'utf-8'"),
            k("hiredis", Bool, "True"),
            k("keepalivetime", Number, "10"),
            k("keepalivetimeout", Number, "5"),
            k("connect_timeout", Number, "5"),
            k("tcp_nodelay", Bool, "True"),
        ],
        open: &[],
    },
    Section {
        name: "zookeeper",
        parent: None,
        keys: &[
            k("persist", Bool, "False"),
            k("defaultport", Int, "2181"),
            k("createqueue", Bool, "True"),
            k("buffersize", Int, "524288"),
            k("messagequeuesize", Int, "1024"),
            k("keepalivetime", OPT_NUM, "None"),
            k("writekeepalivetime", Number, "5"),
            k("keepalivetimeout", Number, "10"),
            k("connect_timeout", Number, "5"),
            k("tcp_nodelay", Bool, "True"),
            k("writequeuesize", Int, "1024"),
        ],
        open: &[],
    },
];

/// A proxy: an abstract API name routed to a module chosen by `proxy.<name>`.
#[derive(Debug)]
pub struct Proxy {
    /// `kvstorage`, `updatenotifier` or `memorystorage`.
    pub name: &'static str,
    /// The module used when `proxy.<name>` is not set. `None` for `updatenotifier`: it follows
    /// `kvstorage` (embeddeddb and zookeeperdb notify themselves, redisdb pairs with redisnotifier).
    pub default: Option<&'static str>,
}

/// The proxies. The embedded store is our default (the original defaults to redisdb).
pub const PROXIES: &[Proxy] = &[
    Proxy { name: "kvstorage", default: Some("embeddeddb") },
    Proxy { name: "updatenotifier", default: None },
    Proxy { name: "memorystorage", default: Some("knowledge") },
];

/// Keys the manual misprints, with the name the code reads: (manual key, upstream key).
pub const MISPRINTS: &[(&str, &str)] = &[
    ("protocol.http.chunkedheaderlength", "protocol.http.chunkedheaderlimit"),
    ("protocol.http.chunkednumber", "protocol.http.chunkednumberlimit"),
    ("protocol.http.allowtransfercompression", "protocol.http.allowtransfercompress"),
    ("protocol.jsonrpc.messageLimit", "protocol.jsonrpc.messagelimit"),
    ("protocol.jsonrpc.levelLimit", "protocol.jsonrpc.levellimit"),
    ("protocol.openflow.allowedversion", "protocol.openflow.allowedversions"),
    ("protocol.openflow.keepaliveinterval", "protocol.openflow.keepalivetime"),
    ("protocol.openflow.writequeue", "protocol.openflow.writequeuesize"),
    ("protocol.openflow.disablenicira", "protocol.openflow.disablenxext"),
    ("protocol.openflow.tcp_nodeLAY", "protocol.openflow.tcp_nodelay"),
    ("protocol.ovsdb.disconnectonidle", "protocol.ovsdb.keepalivetimeout"),
    ("protocol.default.writekeepalive", "protocol.default.writekeepalivetime"),
    ("protocol.default.listen_persistent", "protocol.default.listen_persist"),
    ("protocol.default.retrylisteninterval", "protocol.default.retrylisten_interval"),
    ("protocol.zookeeper.messagequeue", "protocol.zookeeper.messagequeuesize"),
    ("protocol.zookeeper.keepalive", "protocol.zookeeper.keepalivetime"),
    ("protocol.zookeeper.writekeepalive", "protocol.zookeeper.writekeepalivetime"),
    ("protocol.zookeeper.keepaliveout", "protocol.zookeeper.keepalivetimeout"),
    ("protocol.zookeeper.tcp_nodelete", "protocol.zookeeper.tcp_nodelay"),
    ("protocol.zookeeper.writequeue", "protocol.zookeeper.writequeuesize"),
    ("server.sysctl_lowpriority", "server.sysctllowpriority"),
    ("server.module_apicallpriority", "server.moduleapicallpriority"),
    ("server.module_apireplypriority", "server.moduleapireplypriority"),
    ("server.module_notifypriority", "server.modulenotifypriority"),
    ("server.ulimit", "server.ulimitn"),
    ("server.queue.maxsize", "server.queuemaxsize"),
    ("zookeeperclient.rebalanceinterval", "zookeeperclient.rebalancetime"),
    ("module.httpserver.connmanaged", "module.httpserver.connmanage"),
    ("module.jsonrpcserver.connectionmanagement", "module.jsonrpcserver.connmanage"),
    ("module.openflowserver.connection_management", "module.openflowserver.connmanage"),
    ("module.zookeeperdb.commmand", "module.zookeeperdb.connmanage"),
    ("module.zookeeperdb.kvdbvhost", "module.zookeeperdb.kvdbvhosts"),
    ("module.zookeeperdb.notifier", "module.zookeeperdb.notifierbind"),
    ("module.webapi.acceptmethod", "module.webapi.acceptmethods"),
    ("module.arpresponder.broadcast", "module.arpresponder.broadcastonly"),
    ("module.arpresponder.disabled", "module.arpresponder.disableothers"),
    ("module.dhcpserver.serveraddr", "module.dhcpserver.serveraddress"),
    ("module.dhcpserver.leaseitime", "module.dhcpserver.leasetime"),
    ("module.icmpresponder.vhostbinding", "module.icmpresponder.vhostbind"),
    ("module.icmpresponder.inroute", "module.icmpresponder.inroutermac"),
    ("module.ioprocessing.enableforwarding", "module.ioprocessing.enable_router_forward"),
    ("module.l3router.outroutermac", "module.l3router.outroutermacmask"),
    ("module.l3router.arp_completetimeout", "module.l3router.arp_complete_timeout"),
    ("module.l3router.static_host_arprefreshinterval", "module.l3router.static_host_arp_refresh_interval"),
    ("module.l3router.enable_routeforwarding", "module.l3router.enable_router_forward"),
    ("module.l3router.addressinfo_acquireinterval", "module.l3router.addressinfo_discover_update_time"),
    ("module.l3router.forwardinfo_freshinterval", "module.l3router.forwardinfo_discover_update_time"),
    ("module.vxlancast.packetexpiry", "module.vxlancast.packetexpire"),
    ("module.vxlanvtep.retryaction", "module.vxlanvtep.retryactioninterval"),
    ("module.openflowmanager.vhost", "module.openflowmanager.vhostbind"),
    ("module.ovsdbmanager.vhosts", "module.ovsdbmanager.vhostbind"),
    ("module.ovsdbmanager.bridges", "module.ovsdbmanager.bridgenames"),
    ("module.vtepcontroller.vhost", "module.vtepcontroller.vhostbind"),
    ("module.vtepcontroller.recycle", "module.vtepcontroller.recycleinterval"),
    ("module.vtepcontroller.refresh", "module.vtepcontroller.refreshinterval"),
    ("module.vtepcontroller.allow_migrate", "module.vtepcontroller.allowedmigrationtime"),
    ("module.vtepcontroller.master", "module.vtepcontroller.masterlock"),
    ("module.knowledge.checkintimeout", "module.knowledge.checkinterval"),
    ("module.remotecall.target_urls", "module.remotecall.target_url_map"),
    ("module.session.cookiefilename", "module.session.cookiename"),
    ("module.static.memorycache.enabled", "module.static.memorycache"),
    ("module.static.memorycache.limit", "module.static.memorycachelimit"),
    ("module.static.memorycache.itemlimit", "module.static.memorycacheitemlimit"),
    ("module.static.relativemodeule", "module.static.relativemodule"),
    ("module.dockerplugin.ipcompath", "module.dockerplugin.ipcommand"),
    ("module.dockerplugin.ovscompath", "module.dockerplugin.ovscommand"),
    ("module.vlanvtep.vlanid_pool", "module.vxlanvtep.vlanid_pool"),
];
