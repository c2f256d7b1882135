//! IPAM allocation against a real embedded store.

use std::sync::Arc;

use vlcp::model::{LogicalPortSpec, Model, Params, PhysicalNetworkSpec};
use vlcp::objectdb::embedded::EmbeddedStore;

use super::*;

fn ipam_with(
    dir: &tempfile::TempDir,
    pool_timeout: Duration,
    ip_timeout: Duration,
    range: &str,
) -> (Ipam, Model) {
    let store = EmbeddedStore::open(dir.path().join("db.redb")).unwrap();
    let db = ObjectDb::new(Arc::new(store));
    let cidr_range = Cidr::parse(range, true).unwrap();
    (Ipam::new(db.clone(), IpamConfig { pool_timeout, ip_timeout, cidr_range }), Model::new(db))
}

fn ipam(dir: &tempfile::TempDir) -> (Ipam, Model) {
    ipam_with(dir, Duration::from_secs(60), Duration::from_secs(60), "198.19.0.0/22")
}

fn pool_req(pool: &str, sub: &str) -> RequestPoolRequest {
    RequestPoolRequest {
        address_space: LOCAL_ADDRESS_SPACE.into(),
        pool: pool.into(),
        sub_pool: sub.into(),
        ..Default::default()
    }
}

fn addr_req(pool_id: &str, address: &str, gateway: bool) -> RequestAddressRequest {
    let mut r =
        RequestAddressRequest { pool_id: pool_id.into(), address: address.into(), ..Default::default() };
    if gateway {
        r.options.insert("RequestAddressType".into(), "com.docker.network.gateway".into());
    }
    r
}

async fn addr(ipam: &Ipam, pool_id: &str, address: &str) -> Result<String, PluginError> {
    ipam.request_address(&addr_req(pool_id, address, false)).await.map(|r| r.address)
}

#[tokio::test]
async fn addresses_come_in_order_include_the_last_host_and_refuse_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let (ipam, _) = ipam(&dir);
    let p = ipam.request_pool(&pool_req("198.18.9.3/29", "")).await.unwrap();
    assert_eq!(p.pool, "198.18.9.0/29", "normalised to the network");
    let gw = ipam.request_address(&addr_req(&p.pool_id, "", true)).await.unwrap();
    assert_eq!(gw.address, "198.18.9.1/29");
    let got: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(addr(&ipam, &p.pool_id, "").await.unwrap());
        }
        v
    };
    assert_eq!(got, ["198.18.9.2/29", "198.18.9.3/29", "198.18.9.4/29", "198.18.9.5/29", "198.18.9.6/29"]);
    assert!(
        matches!(addr(&ipam, &p.pool_id, "").await, Err(PluginError::Conflict(m)) if m.contains("no free address"))
    );
    assert!(matches!(addr(&ipam, &p.pool_id, "198.18.9.4").await, Err(PluginError::Conflict(_))));
    assert!(matches!(addr(&ipam, &p.pool_id, "198.18.9.7").await, Err(PluginError::BadRequest(_))));
    assert!(matches!(addr(&ipam, &p.pool_id, "198.18.10.1").await, Err(PluginError::BadRequest(_))));
    ipam.release_address(&ReleaseAddressRequest { pool_id: p.pool_id.clone(), address: "198.18.9.4".into() })
        .await
        .unwrap();
    assert_eq!(addr(&ipam, &p.pool_id, "").await.unwrap(), "198.18.9.4/29");
    assert!(matches!(addr(&ipam, "nope", "").await, Err(PluginError::NotFound(_))));
    // Releasing unknown things is fine (Docker retries).
    ipam.release_address(&ReleaseAddressRequest { pool_id: "nope".into(), address: "198.18.9.4".into() })
        .await
        .unwrap();
    ipam.release_pool(&p.pool_id).await.unwrap();
    ipam.release_pool(&p.pool_id).await.unwrap();
    assert!(ipam.pool(&p.pool_id).await.unwrap().is_none());
    assert!(ipam.pending().await.unwrap().reserved_pools.is_empty());
}

#[tokio::test]
async fn sub_pools_limit_the_addresses_and_bad_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ipam, _) = ipam(&dir);
    let p = ipam.request_pool(&pool_req("198.18.9.0/24", "198.18.9.64/28")).await.unwrap();
    assert_eq!(addr(&ipam, &p.pool_id, "").await.unwrap(), "198.18.9.65/24", "master pool's prefix");
    assert!(matches!(addr(&ipam, &p.pool_id, "198.18.9.5").await, Err(PluginError::BadRequest(_))));
    for bad in [
        pool_req("198.18.9.0/24", "198.18.10.0/28"),
        pool_req("", "198.18.9.0/28"),
        pool_req("198.18.9/24", ""),
    ] {
        assert!(matches!(ipam.request_pool(&bad).await, Err(PluginError::BadRequest(_))), "{bad:?}");
    }
    let mut v6 = pool_req("", "");
    v6.v6 = true;
    assert!(matches!(ipam.request_pool(&v6).await, Err(PluginError::BadRequest(m)) if m.contains("IPv6")));
    let mut other = pool_req("198.18.8.0/24", "");
    other.address_space = "GlobalDefault".into();
    assert!(matches!(ipam.request_pool(&other).await, Err(PluginError::BadRequest(_))));
    let mut global = pool_req("198.18.8.0/24", "");
    global.address_space = GLOBAL_ADDRESS_SPACE.into();
    ipam.request_pool(&global).await.unwrap();
}

#[tokio::test]
async fn automatic_pools_cycle_through_cidrrange_and_run_out() {
    let dir = tempfile::tempdir().unwrap();
    let (ipam, _) = ipam(&dir);
    let mut pools = Vec::new();
    for _ in 0..4 {
        pools.push(ipam.request_pool(&pool_req("", "")).await.unwrap());
    }
    let cidrs: Vec<&str> = pools.iter().map(|p| p.pool.as_str()).collect();
    assert_eq!(cidrs, ["198.19.0.0/24", "198.19.1.0/24", "198.19.2.0/24", "198.19.3.0/24"]);
    assert!(matches!(ipam.request_pool(&pool_req("", "")).await, Err(PluginError::Conflict(_))));
    ipam.release_pool(&pools[1].pool_id).await.unwrap();
    assert_eq!(ipam.request_pool(&pool_req("", "")).await.unwrap().pool, "198.19.1.0/24");
}

#[tokio::test]
async fn a_pending_cidr_makes_the_next_request_wait_until_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let (ipam, _) = ipam_with(&dir, Duration::from_secs(5), Duration::from_secs(60), "198.19.0.0/22");
    let first = ipam.request_pool(&pool_req("198.18.7.0/24", "")).await.unwrap();
    let waiting = {
        let ipam = ipam.clone();
        tokio::spawn(async move { ipam.request_pool(&pool_req("198.18.7.0/24", "")).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the second request must wait while the CIDR is pending");
    let claimed = ipam.claim_pool("198.18.7.0/24", None, "n1", "docker-n1-subnet").await.unwrap();
    assert_eq!(claimed, first.pool_id);
    let second = waiting.await.unwrap().unwrap();
    assert_ne!(second.pool_id, first.pool_id);
    assert_eq!(second.pool, "198.18.7.0/24", "two networks may use the same CIDR");
    // Nothing pending with that CIDR once both are claimed; a third claim has nothing to bind.
    ipam.claim_pool("198.18.7.0/24", None, "n2", "docker-n2-subnet").await.unwrap();
    assert!(matches!(
        ipam.claim_pool("198.18.7.0/24", None, "n3", "docker-n3-subnet").await,
        Err(PluginError::BadRequest(m)) if m.contains("not requested")
    ));
}

#[tokio::test]
async fn a_pending_cidr_times_out_and_expired_reservations_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (ipam, _) = ipam_with(&dir, Duration::from_millis(300), Duration::ZERO, "198.19.0.0/22");
    let first = ipam.request_pool(&pool_req("198.18.7.0/24", "")).await.unwrap();
    // ip_timeout 0: every reservation is already expired at the next transaction.
    assert_eq!(addr(&ipam, &first.pool_id, "").await.unwrap(), "198.18.7.1/24");
    assert_eq!(addr(&ipam, &first.pool_id, "").await.unwrap(), "198.18.7.1/24");
    // The pending reservation expires after 300 ms: the waiting request then takes the CIDR and
    // the expired pool is gone.
    let second = ipam.request_pool(&pool_req("198.18.7.0/24", "")).await.unwrap();
    assert_ne!(second.pool_id, first.pool_id);
    assert!(ipam.pool(&first.pool_id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_bound_pool_respects_the_subnet_map_range_and_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let (ipam, model) = ipam(&dir);
    let p = ipam.request_pool(&pool_req("198.18.6.0/24", "")).await.unwrap();
    let gw = ipam.request_address(&addr_req(&p.pool_id, "198.18.6.1", true)).await.unwrap();
    assert_eq!(gw.address, "198.18.6.1/24");
    let pid =
        ipam.claim_pool("198.18.6.0/24", Some("198.18.6.1".parse().unwrap()), "n1", "s1").await.unwrap();
    assert_eq!(pid, p.pool_id);
    let bound = ipam.pool(&pid).await.unwrap().unwrap();
    assert!(bound.reserved_ips.is_empty(), "the subnet keeps the gateway from now on");
    assert_eq!(bound.docker_network.as_deref(), Some("n1"));
    let obj = |v: serde_json::Value| Params::new(v.as_object().unwrap().clone());
    model
        .create_physical_networks(vec![
            PhysicalNetworkSpec::from_params(obj(serde_json::json!({"id": "ph", "type": "local"}))).unwrap(),
        ])
        .await
        .unwrap();
    model
        .create_logical_networks(vec![
            vlcp::model::LogicalNetworkSpec::from_params(obj(
                serde_json::json!({"id": "l1", "physicalnetwork": "ph"}),
            ))
            .unwrap(),
        ])
        .await
        .unwrap();
    model
        .create_subnets(vec![
            vlcp::model::SubnetSpec::from_params(obj(serde_json::json!({"id": "s1", "logicalnetwork": "l1",
                "cidr": "198.18.6.0/24", "gateway": "198.18.6.1", "allocated_start": "198.18.6.10"})))
            .unwrap(),
        ])
        .await
        .unwrap();
    model
        .create_logical_ports(vec![LogicalPortSpec {
            id: Some("other".into()),
            logicalnetwork: "l1".into(),
            subnet: Some("s1".into()),
            ip_address: Some("198.18.6.10".parse().unwrap()),
            ..Default::default()
        }])
        .await
        .unwrap();
    // .10 is a port's, .1 the gateway's, below .10 is outside the allocation range.
    assert_eq!(addr(&ipam, &pid, "").await.unwrap(), "198.18.6.11/24");
    assert!(matches!(addr(&ipam, &pid, "198.18.6.10").await, Err(PluginError::Conflict(_))));
    assert!(matches!(addr(&ipam, &pid, "198.18.6.5").await, Err(PluginError::BadRequest(_))));
    assert!(matches!(addr(&ipam, &pid, "198.18.6.1").await, Err(PluginError::BadRequest(_))));
    // A gateway request for the subnet's gateway (a replay) is answered, not refused.
    let again = ipam.request_address(&addr_req(&pid, "198.18.6.1", true)).await.unwrap();
    assert_eq!(again.address, "198.18.6.1/24");
    ipam.forget_address(&pid, "198.18.6.11/24").await.unwrap();
    assert!(ipam.pool(&pid).await.unwrap().unwrap().reserved_ips.is_empty());
    ipam.unclaim_pool(&pid).await.unwrap();
    assert!(ipam.pending().await.unwrap().reserved_pools.contains_key(&pid));
}
