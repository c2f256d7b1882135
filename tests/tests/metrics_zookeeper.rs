//! `/healthz` and `vlcp_store_up` follow a real ZooKeeper: 200 while it serves, 503 naming the
//! store as down while the server is stopped (the API answers, the store does not), and 200 again
//! once it is back.

mod metrics_common;
mod web_common;

use std::sync::Arc;
use std::time::Duration;

use metrics_common::{Target, healthz, scrape};
use vlcp::objectdb::KvStore;
use vlcp::objectdb::zookeeper::ZkStore;
use vlcp_e2e::lab::{ZooKeeper, wait_until};
use web_common::{Api, result};

#[test]
fn healthz_is_503_while_zookeeper_is_down_and_200_again_after() {
    let mut zk = ZooKeeper::start().expect("zookeeper");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let connect = format!("{}/vlcp-metrics", zk.connect_string());
    let store: Arc<dyn KvStore> = Arc::new(rt.block_on(ZkStore::connect(&connect)).expect("zookeeper store"));
    let api = Api::on_runtime(rt, store, None);
    let t = Target::Tcp(api.port);
    result(api.curl(&[], "/viperflow/createphysicalnetwork?type=local&id=ph"));

    let (status, body) = healthz(&t);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["store"]["backend"], "zookeeper");
    let e = scrape(&t, &[]);
    assert_eq!(e.value("vlcp_store_up", &[("backend", "zookeeper")]), Some(1.0));
    assert_eq!(e.value("vlcp_model_objects", &[("type", "physicalnetwork")]), Some(1.0));

    zk.stop_server(0);
    let (status, body) = healthz(&t);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["store"]["up"], false);
    assert!(body["store"]["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    assert_eq!(body["components"]["store"]["status"], "down", "{body}");
    let e = scrape(&t, &[]);
    assert_eq!(e.value("vlcp_store_up", &[("backend", "zookeeper")]), Some(0.0));
    assert_eq!(e.value("vlcp_component_up", &[("component", "store")]), Some(0.0));
    // The last known count stays while the store cannot be read.
    assert_eq!(e.value("vlcp_model_objects", &[("type", "physicalnetwork")]), Some(1.0));

    zk.start_server(0).expect("zookeeper restarts");
    let back = wait_until("healthz to be 200 again", Duration::from_secs(60), || {
        let (status, body) = healthz(&t);
        (status == 200).then_some(body)
    });
    let body = back.expect("store back");
    assert_eq!(body["components"]["store"]["status"], "ok");
    let e = scrape(&t, &[]);
    assert_eq!(e.value("vlcp_store_up", &[("backend", "zookeeper")]), Some(1.0));
}
