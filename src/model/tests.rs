//! Operations on a real embedded store: updates, router interfaces and the rules they re-check,
//! each refusal leaving every key and value as it was.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::objectdb::embedded::EmbeddedStore;
use crate::objectdb::{DataObject, KvStore};

struct Fixture {
    model: Model,
    store: Arc<dyn KvStore>,
    _dir: tempfile::TempDir,
}

fn params(v: Value) -> Params {
    Params::new(v.as_object().cloned().unwrap_or_default())
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn KvStore> = Arc::new(EmbeddedStore::open(dir.path().join("db.redb")).unwrap());
    let model = Model::new(ObjectDb::new(store.clone()));
    let f = Fixture { model, store, _dir: dir };
    let m = &f.model;
    m.create_physical_networks(vec![
        PhysicalNetworkSpec::from_params(params(
            json!({"id": "vx", "type": "vxlan", "vnirange": [[10, 12]]}),
        ))
        .unwrap(),
        PhysicalNetworkSpec::from_params(params(json!({"id": "nat", "type": "native"}))).unwrap(),
    ])
    .await
    .unwrap();
    m.create_logical_networks(vec![
        LogicalNetworkSpec::from_params(params(json!({"id": "n1", "physicalnetwork": "vx"}))).unwrap(),
    ])
    .await
    .unwrap();
    m.create_subnets(vec![
        SubnetSpec::from_params(params(json!({"id": "s1", "logicalnetwork": "n1", "cidr": "198.18.8.0/24",
            "gateway": "198.18.8.1", "allocated_start": "198.18.8.10", "allocated_end": "198.18.8.50"})))
        .unwrap(),
    ])
    .await
    .unwrap();
    m.create_logical_ports(vec![
        LogicalPortSpec::from_params(params(json!({"id": "p1", "logicalnetwork": "n1", "subnet": "s1"})))
            .unwrap(),
    ])
    .await
    .unwrap();
    f
}

impl Fixture {
    async fn scan(&self) -> BTreeMap<String, Option<Vec<u8>>> {
        let keys = self.store.scan_prefix("").await.unwrap();
        let vals = self.store.mget(&keys).await.unwrap();
        keys.into_iter().zip(vals).map(|(k, e)| (k, e.value.map(|b| b.to_vec()))).collect()
    }

    /// Runs `op`, expects a field error on `field` of `kind`, and checks nothing changed.
    async fn refused<T: std::fmt::Debug>(
        &self,
        op: impl std::future::Future<Output = Result<T, ModelError>>,
        kind: FieldErrorKind,
        field: &str,
    ) {
        let before = self.scan().await;
        let e = op.await.expect_err("must be refused");
        let f = e.field().unwrap_or_else(|| panic!("not a field error: {e}"));
        assert_eq!((f.kind, f.field.as_str()), (kind, field), "{e}");
        assert_eq!(self.scan().await, before, "a refused operation changed the store: {e}");
    }
}

#[tokio::test]
async fn logical_network_vni_moves_and_frees() {
    let f = fixture().await;
    let m = &f.model;
    let patch = |v: Value| LogicalNetworkPatch::from_params(params(v)).unwrap();
    let n =
        m.update_logical_networks(vec![patch(json!({"id": "n1", "vni": 12, "mtu": 1450}))]).await.unwrap();
    assert_eq!((n[0].vni, n[0].mtu), (Some(12), Some(1450)));
    let map: PhysicalNetworkMap =
        access::get(m.db(), PhysicalNetworkMap::key_of(&["vx"])).await.unwrap().unwrap();
    assert_eq!(map.network_allocation.keys().collect::<Vec<_>>(), ["12"]);
    let n2 = m
        .create_logical_networks(vec![LogicalNetworkSpec {
            physicalnetwork: "vx".into(),
            ..Default::default()
        }])
        .await
        .unwrap();
    assert_eq!(n2[0].vni, Some(10), "10 was freed by the move");
    f.refused(
        m.update_logical_networks(vec![patch(json!({"id": "n1", "vni": 10}))]),
        FieldErrorKind::Conflict,
        "vni",
    )
    .await;
    f.refused(
        m.update_logical_networks(vec![patch(json!({"id": "n1", "vni": 13}))]),
        FieldErrorKind::Invalid,
        "vni",
    )
    .await;
    f.refused(m.update_logical_networks(vec![patch(json!({"id": "zz"}))]), FieldErrorKind::NotFound, "id")
        .await;
    // mtu=null removes it.
    let n = m.update_logical_networks(vec![patch(json!({"id": "n1", "mtu": null}))]).await.unwrap();
    assert_eq!(n[0].mtu, None);
}

#[tokio::test]
async fn physical_network_ranges_must_keep_allocations() {
    let f = fixture().await;
    let m = &f.model;
    let patch = |v: Value| PhysicalNetworkPatch::from_params(params(v)).unwrap();
    f.refused(
        m.update_physical_networks(vec![patch(json!({"id": "vx", "vnirange": [[11, 20]]}))]),
        FieldErrorKind::InUse,
        "vnirange",
    )
    .await;
    f.refused(
        m.update_physical_networks(vec![patch(json!({"id": "vx", "type": "vlan"}))]),
        FieldErrorKind::Invalid,
        "type",
    )
    .await;
    let n = m
        .update_physical_networks(vec![patch(json!({"id": "vx", "vnirange": [[5, 10]], "note": "x"}))])
        .await
        .unwrap();
    assert_eq!((n[0].vnirange.clone(), n[0].extra["note"].clone()), (Some(vec![(5, 10)]), json!("x")));
}

#[tokio::test]
async fn native_networks_carry_one_logical_network() {
    let f = fixture().await;
    let m = &f.model;
    let spec = || LogicalNetworkSpec { physicalnetwork: "nat".into(), ..Default::default() };
    let n = m.create_logical_networks(vec![spec()]).await.unwrap();
    assert_eq!((n[0].vni, n[0].vlanid), (None, None));
    f.refused(m.create_logical_networks(vec![spec()]), FieldErrorKind::Conflict, "physicalnetwork").await;
}

#[tokio::test]
async fn subnet_updates_must_keep_allocations() {
    let f = fixture().await;
    let m = &f.model;
    let patch = |v: Value| SubNetPatch::from_params(params(v)).unwrap();
    // p1 holds 198.18.8.10.
    f.refused(
        m.update_subnets(vec![patch(json!({"id": "s1", "allocated_start": "198.18.8.11"}))]),
        FieldErrorKind::InUse,
        "cidr",
    )
    .await;
    f.refused(
        m.update_subnets(vec![patch(json!({"id": "s1", "gateway": "198.18.8.10"}))]),
        FieldErrorKind::InUse,
        "cidr",
    )
    .await;
    f.refused(
        m.update_subnets(vec![patch(json!({"id": "s1", "cidr": "198.18.9.0/24", "gateway": null}))]),
        FieldErrorKind::InUse,
        "cidr",
    )
    .await;
    f.refused(
        m.update_subnets(vec![patch(json!({"id": "s1", "allocated_end": "198.18.9.1"}))]),
        FieldErrorKind::Invalid,
        "allocated_end",
    )
    .await;
    let s = m
        .update_subnets(vec![patch(
            json!({"id": "s1", "cidr": "198.18.8.0/23", "dns_nameservers": ["198.18.8.53"]}),
        )])
        .await
        .unwrap();
    assert_eq!(
        (s[0].cidr.as_str(), s[0].allocated_end.as_str()),
        ("198.18.8.0/23", "198.18.9.254"),
        "range reset"
    );
    assert_eq!(s[0].dns_nameservers, Some(vec!["198.18.8.53".to_string()]));
}

#[tokio::test]
async fn router_interfaces_follow_the_rules() {
    let f = fixture().await;
    let m = &f.model;
    let iface = |v: Value| RouterInterfaceSpec::from_params(params(v)).unwrap();
    m.create_virtual_routers(vec![VRouterSpec { id: Some("r1".into()), ..Default::default() }])
        .await
        .unwrap();
    m.create_virtual_routers(vec![VRouterSpec { id: Some("r2".into()), ..Default::default() }])
        .await
        .unwrap();
    f.refused(
        m.add_router_interfaces(vec![iface(
            json!({"router": "r1", "subnet": "s1", "ip_address": "198.18.8.10"}),
        )]),
        FieldErrorKind::Conflict,
        "ip_address",
    )
    .await;
    f.refused(
        m.add_router_interfaces(vec![iface(
            json!({"router": "r1", "subnet": "s1", "ip_address": "198.18.7.1"}),
        )]),
        FieldErrorKind::Invalid,
        "ip_address",
    )
    .await;
    let p = m
        .add_router_interfaces(vec![iface(
            json!({"router": "r1", "subnet": "s1", "ip_address": "198.18.8.254"}),
        )])
        .await
        .unwrap();
    assert_eq!(p[0].ip_address.as_deref(), Some("198.18.8.254"));
    // A non-external subnet belongs to one router.
    f.refused(
        m.add_router_interfaces(vec![iface(json!({"router": "r2", "subnet": "s1"}))]),
        FieldErrorKind::Conflict,
        "subnet",
    )
    .await;
    // The explicit router address is taken for ports.
    f.refused(
        m.create_logical_ports(vec![LogicalPortSpec {
            logicalnetwork: "n1".into(),
            subnet: Some("s1".into()),
            ip_address: Some("198.18.8.254".parse().unwrap()),
            ..Default::default()
        }]),
        FieldErrorKind::Invalid,
        "ip_address",
    )
    .await;
    m.remove_router_interfaces(vec![("r1".into(), "s1".into())]).await.unwrap();
    let map = m.subnet_map("s1").await.unwrap().unwrap();
    assert_eq!(map.allocated_ips.len(), 1, "router address freed, p1 kept");
    assert!(map.routerports.is_empty() && map.routers.is_empty());
    assert_eq!(m.subnet("s1").await.unwrap().unwrap().router, None);
    m.delete_virtual_routers(vec!["r1".into(), "r2".into()]).await.unwrap();
    f.refused(
        m.remove_router_interfaces(vec![("r1".into(), "s1".into())]),
        FieldErrorKind::NotFound,
        "router",
    )
    .await;
}

#[tokio::test]
async fn port_updates_move_addresses_and_indices() {
    let f = fixture().await;
    let m = &f.model;
    let p2 = m
        .create_logical_ports(vec![LogicalPortSpec {
            id: Some("p2".into()),
            logicalnetwork: "n1".into(),
            subnet: Some("s1".into()),
            mac_address: Some("02:00:00:00:00:02".into()),
            ..Default::default()
        }])
        .await
        .unwrap();
    assert_eq!(p2[0].ip_address.as_deref(), Some("198.18.8.11"));
    let patch = |v: Value| LogicalPortPatch::from_params(params(v)).unwrap();
    f.refused(
        m.update_logical_ports(vec![patch(json!({"id": "p2", "ip_address": "198.18.8.10"}))]),
        FieldErrorKind::Conflict,
        "ip_address",
    )
    .await;
    let p1_mac = m.logical_port("p1").await.unwrap().unwrap().mac_address;
    f.refused(
        m.update_logical_ports(vec![patch(json!({"id": "p2", "mac_address": p1_mac}))]),
        FieldErrorKind::Conflict,
        "mac_address",
    )
    .await;
    let up = m
        .update_logical_ports(vec![patch(
            json!({"id": "p2", "ip_address": "198.18.8.40", "mac_address": "02:00:00:00:00:22"}),
        )])
        .await
        .unwrap();
    assert_eq!(up[0].ip_address.as_deref(), Some("198.18.8.40"));
    let keys = f.scan().await;
    let idx = |ip: &str| {
        format!(
            "indices.viperflow++logicalport._ip_address_index.viperflow++logicnetwork++n1.{}",
            ip.replace('.', "++")
        )
    };
    assert!(keys.contains_key(&idx("198.18.8.40")) && !keys.contains_key(&idx("198.18.8.11")));
    assert!(!keys.keys().any(|k| k.ends_with("02:00:00:00:00:02")), "old MAC index removed");
    // The old address is free again.
    let p3 = m
        .create_logical_ports(vec![LogicalPortSpec {
            logicalnetwork: "n1".into(),
            subnet: Some("s1".into()),
            ..Default::default()
        }])
        .await
        .unwrap();
    assert_eq!(p3[0].ip_address.as_deref(), Some("198.18.8.11"));
    m.delete_logical_ports(vec!["p2".into(), p3[0].id.clone()]).await.unwrap();
    assert!(
        !f.scan().await.keys().any(|k| k.contains("_ip_address_index") && !k.ends_with("198++18++8++10"))
    );
}
