//! `/metrics` and `/healthz` of the management server over a real embedded store: the scrape
//! parses strictly, the model gauges and API counters follow the calls made with `curl`, the
//! ObjectDB transaction histogram counts the writes, and the token rules hold.

mod metrics_common;
mod web_common;

use metrics_common::{Target, curl, healthz, scrape};
use web_common::{Api, result};

const FAMILIES: &[(&str, &str)] = &[
    ("vlcp_build_info", "gauge"),
    ("vlcp_process_start_time_seconds", "gauge"),
    ("vlcp_api_requests_total", "counter"),
    ("vlcp_model_objects", "gauge"),
    ("vlcp_store_up", "gauge"),
    ("vlcp_store_probe_duration_seconds", "gauge"),
    ("vlcp_objectdb_transaction_duration_seconds", "histogram"),
    ("vlcp_objectdb_transactions_total", "counter"),
    ("vlcp_objectdb_transaction_conflicts_total", "counter"),
    ("vlcp_docker_plugin_calls_total", "counter"),
    ("vlcp_docker_plugin_call_duration_seconds", "histogram"),
    ("vlcp_docker_endpoints_created_total", "counter"),
    ("vlcp_docker_endpoints_deleted_total", "counter"),
    ("vlcp_docker_endpoints_active", "gauge"),
    ("vlcp_openflow_flows", "gauge"),
    ("vlcp_component_up", "gauge"),
];

#[test]
fn metrics_parse_and_follow_model_operations() {
    let api = Api::embedded();
    let t = Target::Tcp(api.port);
    let before = scrape(&t, &[]);
    for (name, kind) in FAMILIES {
        let f = before.family(name).unwrap_or_else(|| panic!("family {name} missing"));
        assert_eq!(f.kind, *kind, "{name}");
        assert!(f.help.as_deref().is_some_and(|h| !h.is_empty()), "{name} has no help");
    }
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(before.value("vlcp_build_info", &[("version", version)]), Some(1.0));
    assert_eq!(before.value("vlcp_store_up", &[("backend", "embedded")]), Some(1.0));
    assert_eq!(before.value("vlcp_model_objects", &[("type", "logicalport")]), Some(0.0));
    assert_eq!(before.value("vlcp_component_up", &[("component", "store")]), Some(1.0));
    let txn = |e: &metrics_common::Exposition, outcome| {
        e.sum(
            "vlcp_objectdb_transactions_total",
            &[("backend", "embedded"), ("kind", "transact"), ("outcome", outcome)],
        )
    };
    let writes_before = txn(&before, "ok");

    api.sh(
        "curl -sfg 'http://localhost:8081/viperflow/createphysicalnetwork?type=vlan&vlanrange=`[[100,200]]`&id=pn'
         curl -sfg 'http://localhost:8081/viperflow/createlogicalnetwork?physicalnetwork=pn&id=ln'
         curl -sfg 'http://localhost:8081/viperflow/createsubnet?logicalnetwork=ln&cidr=198.18.40.0/24&id=sn'
         for p in p1 p2 p3; do curl -sfg \"http://localhost:8081/viperflow/createlogicalport?logicalnetwork=ln&subnet=sn&id=$p\"; done",
    );
    // Refused calls are counted under their status.
    let (status, _) = api.curl(&[], "/viperflow/createlogicalport?logicalnetwork=nope");
    assert_eq!(status, 404);
    let (status, _) = api.curl(&[], "/viperflow/createlogicalport");
    assert_eq!(status, 400);

    let after = scrape(&t, &[]);
    let objects = |e: &metrics_common::Exposition, ty| e.value("vlcp_model_objects", &[("type", ty)]);
    assert_eq!(objects(&after, "physicalnetwork"), Some(1.0));
    assert_eq!(objects(&after, "logicalnetwork"), Some(1.0));
    assert_eq!(objects(&after, "subnet"), Some(1.0));
    assert_eq!(objects(&after, "logicalport"), Some(3.0));
    let calls = |e: &metrics_common::Exposition, api, code| {
        e.value("vlcp_api_requests_total", &[("module", "viperflow"), ("api", api), ("code", code)])
    };
    assert_eq!(calls(&after, "createlogicalport", "200"), Some(3.0));
    assert_eq!(calls(&after, "createlogicalport", "404"), Some(1.0));
    assert_eq!(calls(&after, "createlogicalport", "400"), Some(1.0));
    assert_eq!(calls(&after, "createsubnet", "200"), Some(1.0));
    assert!(txn(&after, "ok") >= writes_before + 6.0, "{} -> {}", writes_before, txn(&after, "ok"));
    let hist = after.sum(
        "vlcp_objectdb_transaction_duration_seconds_count",
        &[("backend", "embedded"), ("kind", "transact")],
    );
    assert!(hist >= txn(&after, "ok") + txn(&after, "error"), "every transaction is timed: {hist}");

    result(api.curl(&[], "/viperflow/deletelogicalport?id=p2"));
    let last = scrape(&t, &[]);
    assert_eq!(objects(&last, "logicalport"), Some(2.0));
    assert_eq!(calls(&last, "deletelogicalport", "200"), Some(1.0));
    // Counters never go back.
    assert_eq!(calls(&last, "createlogicalport", "200"), Some(3.0));

    let (status, body) = healthz(&t);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["store"]["backend"], "embedded");
    assert_eq!(body["store"]["up"], true);
    assert_eq!(body["components"]["store"]["status"], "ok");
    assert_eq!(body["version"], version);
}

#[test]
fn metrics_need_the_token_healthz_does_not_and_only_get_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn vlcp::objectdb::KvStore> = std::sync::Arc::new(
        vlcp::objectdb::embedded::EmbeddedStore::open(dir.path().join("db.redb")).unwrap(),
    );
    let api = Api::on(store, Some("s3cret"));
    let t = Target::Tcp(api.port);
    let r = curl(&t, &[], "/metrics");
    assert_eq!(r.status, 401, "{r:?}");
    let r = curl(&t, &["-H", "Authorization: Bearer wrong"], "/metrics");
    assert_eq!(r.status, 401, "{r:?}");
    let e = scrape(&t, &["-H", "Authorization: Bearer s3cret"]);
    assert_eq!(e.value("vlcp_store_up", &[("backend", "embedded")]), Some(1.0));
    let (status, body) = healthz(&t);
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    for path in ["/metrics", "/healthz"] {
        let r = curl(&t, &["-X", "POST", "-H", "Authorization: Bearer s3cret"], path);
        assert_eq!(r.status, 405, "{path}: {r:?}");
        assert!(r.body.contains("use GET"), "{r:?}");
    }
}
