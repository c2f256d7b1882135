use super::*;

fn errors(text: &str) -> Vec<String> {
    let (_, report) = Config::parse_lenient(text);
    report.errors().map(ToString::to_string).collect()
}

#[test]
fn example_configs_check_clean() {
    for name in ["docker.conf", "genericl3.conf"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config").join(name);
        let (config, report) = Config::load_lenient(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(report.diagnostics.is_empty(), "{name}:\n{report}");
        let modules = config.startup_modules().expect("modules resolve");
        for needed in [
            "viperflow",
            "ioprocessing",
            "l2switch",
            "arpresponder",
            "dhcpserver",
            "icmpresponder",
            "l3router",
            "vxlancast",
            "embeddeddb",
            "objectdb",
            "openflowserver",
            "jsonrpcserver",
        ] {
            assert!(modules.contains(&needed), "{name}: {needed} missing from {modules:?}");
        }
        assert_eq!(modules.contains(&"dockerplugin"), name == "docker.conf");
        let pos = |m: &str| modules.iter().position(|x| *x == m).unwrap();
        assert!(pos("objectdb") < pos("viperflow") && pos("embeddeddb") < pos("objectdb"));
        assert!(
            pos("openflowserver") < pos("openflowmanager") && pos("openflowportmanager") < pos("l2switch")
        );
        assert_eq!(config.log_settings().unwrap().filter, "info");
    }
}

#[test]
fn unknown_keys_and_type_errors_name_line_and_key() {
    let text = "\
module.dockerplugin.mtu = 'big'
module.dockerplugin.ovsbrige = 'br'
module.dockerplugin.ipcompath = '/sbin/ip'
server.startup = ('vlcp.service.sdn.l2switch.L2Swich',)
module.httpserver.url = 'http://x/'
nosuch.key = 1
module.l2switch.learning = 1
server.logformat = 'xml'
";
    let errs = errors(text);
    assert_eq!(
        errs,
        [
            "line 1: module.dockerplugin.mtu: expected int, found str 'big'",
            "line 2: module.dockerplugin.ovsbrige: unknown key; did you mean `module.dockerplugin.ovsbridge`?",
            "line 3: module.dockerplugin.ipcompath: unknown key: the manual misprints this name; the code reads `module.dockerplugin.ipcommand`",
            "line 4: server.startup: unknown module \"vlcp.service.sdn.l2switch.L2Swich\"; did you mean \"vlcp.service.sdn.l2switch.L2Switch\"?",
            "line 5: module.httpserver.url: expected None or a URL string like 'tcp://127.0.0.1:6653/' or 'unix:///path', found str 'http://x/'",
            "line 6: nosuch.key: unknown key",
            "line 7: module.l2switch.learning: expected True or False, found int 1",
            "line 8: server.logformat: expected 'text' or 'json', found \"xml\"",
        ]
    );
    assert!(Config::parse(text).is_err());
}

#[test]
fn duplicates_warn_and_later_wins() {
    let (config, report) =
        Config::parse_lenient("module.dockerplugin.mtu = 1400\n\nmodule.dockerplugin.mtu = 1450\n");
    assert!(!report.has_errors());
    let warnings: Vec<_> = report.warnings().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["warning: line 3: module.dockerplugin.mtu: set again (first set on line 1); the later value wins"]
    );
    assert_eq!(config.get_int("module.dockerplugin.mtu").unwrap(), 1450);
    assert_eq!(config.line("module.dockerplugin.mtu"), Some(3));
}

#[test]
fn syntax_and_schema_errors_are_reported_together() {
    let report = Config::parse("server.debugging = Tru\nmodule.l2swich.learning = False\n").unwrap_err();
    let lines: Vec<_> = report.diagnostics.iter().map(|d| (d.line, d.key.clone())).collect();
    assert_eq!(
        lines,
        [(Some(1), Some("server.debugging".into())), (Some(2), Some("module.l2swich.learning".into()))]
    );
}

#[test]
fn typed_getters_use_schema_defaults_and_inheritance() {
    let cfg = Config::parse(
        "module.default.autosuccess = False\nprotocol.default.reuseport = True\nprotocol.jsonrpc.messagelimit = 100\nmodule.l3router.arp_cycle_time = 2.5\n",
    )
    .unwrap();
    assert_eq!(cfg.get_str("module.dockerplugin.ovsbridge").unwrap(), "dockerbr0");
    assert_eq!(cfg.get_int("module.dockerplugin.mtu").unwrap(), 1500);
    assert!(!cfg.get_bool("module.l2switch.autosuccess").unwrap(), "module.default applies to every module");
    assert!(
        cfg.get_bool("protocol.openflow.reuseport").unwrap(),
        "protocol.default applies to every protocol"
    );
    assert_eq!(cfg.get_int("protocol.ovsdb.messagelimit").unwrap(), 100, "ovsdb inherits jsonrpc");
    assert!(
        cfg.get_bool("protocol.openflow.persist").unwrap(),
        "the protocol's own default wins over protocol.default's"
    );
    assert_eq!(cfg.get_float("module.l3router.arp_cycle_time").unwrap(), 2.5);
    assert_eq!(
        cfg.get_duration("protocol.openflow.keepalivetime").unwrap(),
        std::time::Duration::from_secs(10)
    );
    assert_eq!(cfg.get_opt_str("module.webapi.authmethod").unwrap(), None);
    assert_eq!(cfg.get_as::<Vec<u8>>("protocol.openflow.allowedversions").unwrap(), [1, 4]);
    assert_eq!(cfg.get_list("module.vxlanvtep.vlanid_pool").unwrap().len(), 1);
    assert_eq!(cfg.get_or("module.httpserver.vhost.api.url", "tcp:///".to_string()).unwrap(), "tcp:///");
    assert_eq!(
        cfg.get_as::<i64>("module.nosuch.key").unwrap_err(),
        ConfigError::NotInSchema { key: "module.nosuch.key".into() }
    );
    let err = cfg.get_as::<u8>("module.dockerplugin.mtu").unwrap_err();
    assert_eq!(err.to_string(), "module.dockerplugin.mtu: expected int in 0..=255, found int 1500");
    let err = cfg.get_str("module.l3router.arp_cycle_time").unwrap_err();
    assert_eq!(err.to_string(), "line 4: module.l3router.arp_cycle_time: expected str, found float 2.5");
}

#[test]
fn subtrees_merge_dotted_keys() {
    let cfg = Config::parse(
        "server.logging.version=1\nserver.logging.root={'level':'DEBUG',\n   'handlers':[]}\nserver.logging.handlers.h.level='INFO'\nmodule.httpserver.vhost.api.url='tcp://127.0.0.1:8081/'\nmodule.httpserver.vhost.docker.url='unix:///run/docker/plugins/vlcp.sock'\n",
    )
    .unwrap();
    let tree = cfg.subtree("server.logging").unwrap();
    assert_eq!(
        tree.to_string(),
        "{'handlers': {'h': {'level': 'INFO'}}, 'root': {'level': 'DEBUG', 'handlers': []}, 'version': 1}"
    );
    assert_eq!(cfg.log_settings().unwrap(), LogSettings { filter: "debug".into(), format: LogFormat::Text });
    let vhosts: Vec<_> = cfg.children("module.httpserver.vhost").into_iter().collect();
    assert_eq!(vhosts, ["api", "docker"]);
    assert_eq!(cfg.subtree("nothing.here"), None);
}

#[test]
fn log_settings_priority() {
    let settings = |text: &str| Config::parse(text).map(|c| c.log_settings());
    assert_eq!(settings("").unwrap().unwrap().filter, "info");
    assert_eq!(settings("server.debugging=True").unwrap().unwrap().filter, "debug");
    assert_eq!(
        settings("server.debugging=True\nserver.loglevel='vlcp=trace,warn'").unwrap().unwrap().filter,
        "vlcp=trace,warn"
    );
    assert_eq!(settings("server.logformat='json'").unwrap().unwrap().format, LogFormat::Json);
    let report = Config::parse("server.loglevel='loud'").unwrap_err();
    assert!(report.to_string().contains("bad log directive \"loud\""), "{report}");
    let report = Config::parse("server.logging.root={'level': 'CHATTY'}").unwrap_err();
    assert!(report.to_string().contains("line 1: server.logging.root: unknown log level"), "{report}");
}

#[test]
fn proxies_resolve_and_are_checked() {
    let cfg = Config::empty();
    assert_eq!(cfg.proxy_target("kvstorage").unwrap(), "embeddeddb");
    assert_eq!(cfg.proxy_target("updatenotifier").unwrap(), "embeddeddb");
    let zk = Config::parse("proxy.kvstorage='vlcp.service.connection.zookeeperdb.ZooKeeperDB'").unwrap();
    assert_eq!(zk.proxy_target("updatenotifier").unwrap(), "zookeeperdb", "the notifier follows the store");
    let redis = Config::parse("proxy.kvstorage='vlcp.service.connection.redisdb.RedisDB'\nserver.startup=('vlcp.service.kvdb.objectdb.ObjectDB',)").unwrap();
    assert_eq!(redis.startup_modules().unwrap(), ["redisdb", "redisnotifier", "objectdb"]);
    let errs = errors("proxy.kvstorage='vlcp.service.sdn.l2switch.L2Switch'\n");
    assert_eq!(
        errs,
        [
            "line 1: proxy.kvstorage: l2switch cannot serve kvstorage; use one of: embeddeddb, zookeeperdb, redisdb"
        ]
    );
}

#[test]
fn startup_modules_follow_dependencies() {
    let cfg = Config::parse(
        "server.startup=('vlcp.service.sdn.l3router.L3Router', 'vlcp.service.utils.autoload.AutoLoad')",
    )
    .unwrap();
    assert_eq!(
        cfg.startup_modules().unwrap(),
        [
            "openflowserver",
            "openflowmanager",
            "openflowportmanager",
            "embeddeddb",
            "objectdb",
            "arpresponder",
            "icmpresponder",
            "l3router",
            "networklocaldriver",
            "networknativedriver",
            "networkvlandriver",
            "networkvxlandriver",
            "autoload",
        ]
    );
    assert!(Config::empty().startup_modules().unwrap().is_empty());
    let mut cfg = Config::empty();
    cfg.set("server.startup", Value::List(vec![Value::Str("nosuch".into())]));
    assert!(matches!(cfg.startup_modules(), Err(ConfigError::BadValue { .. })));
}

#[test]
fn load_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.conf");
    assert!(matches!(Config::load(&missing), Err(LoadError::Io { .. })));
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "module.dockerplugin.mtu = 'x'\n").unwrap();
    let err = Config::load(&bad).unwrap_err();
    assert!(err.to_string().contains("bad.conf has errors:\nline 1: module.dockerplugin.mtu"), "{err}");
    let good = dir.path().join("good.conf");
    std::fs::write(&good, "module.dockerplugin.mtu = 1450\n").unwrap();
    assert_eq!(Config::load(&good).unwrap().source(), Some(good.as_path()));
}
