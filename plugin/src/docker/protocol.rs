//! The libnetwork remote NetworkDriver and IpamDriver protocol: one type per request and response,
//! with Docker's JSON field names. Requests tolerate unknown fields (Docker adds some over
//! versions) and missing optional ones; responses omit what is unset.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The method named by a request path (`/NetworkDriver.Join` → [`Method::Join`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Activate,
    NetGetCapabilities,
    CreateNetwork,
    DeleteNetwork,
    AllocateNetwork,
    FreeNetwork,
    CreateEndpoint,
    EndpointOperInfo,
    DeleteEndpoint,
    Join,
    Leave,
    DiscoverNew,
    DiscoverDelete,
    ProgramExternalConnectivity,
    RevokeExternalConnectivity,
    IpamGetCapabilities,
    GetDefaultAddressSpaces,
    RequestPool,
    ReleasePool,
    RequestAddress,
    ReleaseAddress,
}

impl Method {
    /// Parses a request path; `None` for a method we do not implement (answered 404).
    pub fn from_path(path: &str) -> Option<Method> {
        use Method::*;
        Some(match path {
            "/Plugin.Activate" => Activate,
            "/NetworkDriver.GetCapabilities" => NetGetCapabilities,
            "/NetworkDriver.CreateNetwork" => CreateNetwork,
            "/NetworkDriver.DeleteNetwork" => DeleteNetwork,
            "/NetworkDriver.AllocateNetwork" => AllocateNetwork,
            "/NetworkDriver.FreeNetwork" => FreeNetwork,
            "/NetworkDriver.CreateEndpoint" => CreateEndpoint,
            "/NetworkDriver.EndpointOperInfo" => EndpointOperInfo,
            "/NetworkDriver.DeleteEndpoint" => DeleteEndpoint,
            "/NetworkDriver.Join" => Join,
            "/NetworkDriver.Leave" => Leave,
            "/NetworkDriver.DiscoverNew" => DiscoverNew,
            "/NetworkDriver.DiscoverDelete" => DiscoverDelete,
            "/NetworkDriver.ProgramExternalConnectivity" => ProgramExternalConnectivity,
            "/NetworkDriver.RevokeExternalConnectivity" => RevokeExternalConnectivity,
            "/IpamDriver.GetCapabilities" => IpamGetCapabilities,
            "/IpamDriver.GetDefaultAddressSpaces" => GetDefaultAddressSpaces,
            "/IpamDriver.RequestPool" => RequestPool,
            "/IpamDriver.ReleasePool" => ReleasePool,
            "/IpamDriver.RequestAddress" => RequestAddress,
            "/IpamDriver.ReleaseAddress" => ReleaseAddress,
            _ => return None,
        })
    }

    /// Whether Docker sends an empty body for this method.
    pub fn takes_no_body(self) -> bool {
        matches!(
            self,
            Method::Activate
                | Method::NetGetCapabilities
                | Method::IpamGetCapabilities
                | Method::GetDefaultAddressSpaces
        )
    }
}

/// `/Plugin.Activate` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActivateResponse {
    pub implements: Vec<String>,
}

/// `/NetworkDriver.GetCapabilities` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetCapabilities {
    /// `local` or `global` (global needs Docker's legacy cluster store).
    pub scope: String,
    /// `global`: endpoints on different hosts reach each other.
    pub connectivity_scope: String,
}

/// One address pool of a network as IPAM gave it (`Gateway` and aux addresses in CIDR form).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamData {
    pub address_space: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pool: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, String>,
}

/// `/NetworkDriver.CreateNetwork` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateNetworkRequest {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// `com.docker.network.generic` holds the `-o key=value` options (string values).
    pub options: BTreeMap<String, Value>,
    #[serde(rename = "IPv4Data", deserialize_with = "null_as_default")]
    pub ipv4_data: Vec<IpamData>,
    #[serde(rename = "IPv6Data", deserialize_with = "null_as_default")]
    pub ipv6_data: Vec<IpamData>,
}

impl CreateNetworkRequest {
    /// The `-o key=value` options of `docker network create`.
    pub fn generic_options(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(Value::Object(m)) = self.options.get("com.docker.network.generic") {
            for (k, v) in m {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.insert(k.clone(), v);
            }
        }
        out
    }

    /// True for `docker network create --internal`.
    pub fn internal(&self) -> bool {
        matches!(self.options.get("com.docker.network.internal"), Some(Value::Bool(true)))
    }
}

/// `/NetworkDriver.AllocateNetwork` request (swarm manager): the network's `-o` options as a
/// flat map (swarmkit's `map[string]string`, no `com.docker.network.generic` wrapper) and the
/// pools swarm's IPAM allocated (no `AddressSpace`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocateNetworkRequest {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, Value>,
    #[serde(rename = "IPv4Data", deserialize_with = "null_as_default")]
    pub ipv4_data: Vec<IpamData>,
    #[serde(rename = "IPv6Data", deserialize_with = "null_as_default")]
    pub ipv6_data: Vec<IpamData>,
}

impl AllocateNetworkRequest {
    /// The options as strings; a `com.docker.network.generic` object (should a Docker version
    /// wrap them as for CreateNetwork) is flattened.
    pub fn string_options(&self) -> BTreeMap<String, String> {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut out = BTreeMap::new();
        for (k, v) in &self.options {
            match v {
                Value::Object(m) if k == "com.docker.network.generic" => {
                    out.extend(m.iter().map(|(k, v)| (k.clone(), text(v))));
                }
                v => {
                    out.insert(k.clone(), text(v));
                }
            }
        }
        out
    }
}

/// Requests naming only a network (`DeleteNetwork`, `FreeNetwork`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkRequest {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
}

/// `AllocateNetwork` response: options handed to CreateNetwork on every node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocateNetworkResponse {
    pub options: BTreeMap<String, String>,
}

/// The interface of an endpoint; empty strings mean "not given".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointInterface {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub address: String,
    #[serde(rename = "AddressIPv6", skip_serializing_if = "String::is_empty")]
    pub address_ipv6: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
}

/// `/NetworkDriver.CreateEndpoint` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateEndpointRequest {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub interface: EndpointInterface,
    pub options: BTreeMap<String, Value>,
}

/// `/NetworkDriver.CreateEndpoint` response: only fields Docker left empty may be filled.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateEndpointResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<EndpointInterface>,
}

/// Requests naming a network and an endpoint (`DeleteEndpoint`, `Leave`, `EndpointOperInfo`,
/// `RevokeExternalConnectivity`, `ProgramExternalConnectivity`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointRequest {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub options: BTreeMap<String, Value>,
}

/// `/NetworkDriver.EndpointOperInfo` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointOperInfoResponse {
    pub value: BTreeMap<String, Value>,
}

/// `/NetworkDriver.Join` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JoinRequest {
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub sandbox_key: String,
    pub options: BTreeMap<String, Value>,
}

/// The host interface Docker moves into the sandbox, renamed `<DstPrefix><n>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InterfaceName {
    pub src_name: String,
    pub dst_prefix: String,
}

/// A static route in a Join response: `RouteType` 0 = via `NextHop`, 1 = connected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StaticRoute {
    pub destination: String,
    pub route_type: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_hop: Option<String>,
}

/// `/NetworkDriver.Join` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinResponse {
    pub interface_name: InterfaceName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub static_routes: Vec<StaticRoute>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub disable_gateway_service: bool,
}

/// `/IpamDriver.GetCapabilities` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamCapabilities {
    #[serde(rename = "RequiresMACAddress")]
    pub requires_mac_address: bool,
    pub requires_request_replay: bool,
}

/// `/IpamDriver.GetDefaultAddressSpaces` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddressSpaces {
    pub local_default_address_space: String,
    pub global_default_address_space: String,
}

/// `/IpamDriver.RequestPool` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestPoolRequest {
    pub address_space: String,
    pub pool: String,
    pub sub_pool: String,
    #[serde(deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "V6")]
    pub v6: bool,
}

/// `/IpamDriver.RequestPool` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestPoolResponse {
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    pub pool: String,
    pub data: BTreeMap<String, String>,
}

/// `/IpamDriver.ReleasePool` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReleasePoolRequest {
    #[serde(rename = "PoolID")]
    pub pool_id: String,
}

/// `/IpamDriver.RequestAddress` request; the gateway request carries
/// `Options["RequestAddressType"] == "com.docker.network.gateway"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RequestAddressRequest {
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    pub address: String,
    #[serde(deserialize_with = "null_as_default")]
    pub options: BTreeMap<String, String>,
}

impl RequestAddressRequest {
    /// True when Docker asks for the network's gateway address.
    pub fn is_gateway(&self) -> bool {
        self.options.get("RequestAddressType").map(String::as_str) == Some("com.docker.network.gateway")
    }
}

/// `/IpamDriver.RequestAddress` response: the address in CIDR form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestAddressResponse {
    pub address: String,
    pub data: BTreeMap<String, String>,
}

/// `/IpamDriver.ReleaseAddress` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReleaseAddressRequest {
    #[serde(rename = "PoolID")]
    pub pool_id: String,
    pub address: String,
}

/// An error as Docker reads it from a non-200 answer (both driver kinds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    #[serde(rename = "Err")]
    pub err: String,
}

/// Docker sends `null` for empty lists and maps in some versions.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The captured Docker 20.10 call sequence (`shared/reference/docker-20.10-plugin-call-trace.log`).
    const TRACE: &str = include_str!("../../tests/data/docker-20.10-plugin-call-trace.log");

    #[test]
    fn every_call_of_the_captured_trace_parses() {
        let mut seen = 0;
        for line in TRACE.lines().filter(|l| l.starts_with('/')) {
            let (path, body) = line.split_once(' ').unwrap_or((line, ""));
            let method = Method::from_path(path).unwrap_or_else(|| panic!("unknown method {path}"));
            let body = body.trim();
            assert_eq!(method.takes_no_body(), body.is_empty(), "{path}");
            let parsed: Result<(), serde_json::Error> = match method {
                Method::RequestPool => serde_json::from_str::<RequestPoolRequest>(body).map(|r| {
                    assert_eq!(r.pool, "198.18.5.0/24");
                }),
                Method::RequestAddress => serde_json::from_str::<RequestAddressRequest>(body).map(|_| ()),
                Method::CreateNetwork => serde_json::from_str::<CreateNetworkRequest>(body).map(|r| {
                    assert_eq!(r.ipv4_data[0].gateway, "198.18.5.1/24");
                    assert!(r.generic_options().is_empty());
                    assert!(!r.internal());
                }),
                Method::CreateEndpoint => serde_json::from_str::<CreateEndpointRequest>(body).map(|r| {
                    assert_eq!(r.interface.address, "198.18.5.7/24");
                    assert_eq!(r.interface.mac_address, "02:42:ce:3b:c0:ba");
                }),
                Method::Join => serde_json::from_str::<JoinRequest>(body).map(|r| {
                    assert!(r.sandbox_key.ends_with("/netns/b90f53d093e9"));
                }),
                Method::ReleaseAddress => serde_json::from_str::<ReleaseAddressRequest>(body).map(|_| ()),
                Method::ReleasePool => serde_json::from_str::<ReleasePoolRequest>(body).map(|_| ()),
                Method::DeleteNetwork => serde_json::from_str::<NetworkRequest>(body).map(|_| ()),
                m if m.takes_no_body() => Ok(()),
                _ => serde_json::from_str::<EndpointRequest>(body).map(|_| ()),
            };
            parsed.unwrap_or_else(|e| panic!("{path}: {e}"));
            seen += 1;
        }
        assert_eq!(seen, 20);
    }

    #[test]
    fn gateway_requests_are_recognised() {
        let r: RequestAddressRequest = serde_json::from_str(
            r#"{"PoolID":"p","Address":"198.18.5.1","Options":{"RequestAddressType":"com.docker.network.gateway"}}"#,
        )
        .unwrap();
        assert!(r.is_gateway());
        let r: RequestAddressRequest =
            serde_json::from_str(r#"{"PoolID":"p","Address":"","Options":null}"#).unwrap();
        assert!(!r.is_gateway());
    }

    #[test]
    fn responses_use_dockers_field_names_and_omit_unset_fields() {
        let j = serde_json::to_value(JoinResponse {
            interface_name: InterfaceName { src_name: "vlcp1".into(), dst_prefix: "eth".into() },
            gateway: Some("198.18.5.1".into()),
            static_routes: vec![StaticRoute {
                destination: "198.19.0.0/16".into(),
                route_type: 0,
                next_hop: Some("198.18.5.254".into()),
            }],
            disable_gateway_service: false,
        })
        .unwrap();
        assert_eq!(
            j,
            serde_json::json!({"InterfaceName": {"SrcName": "vlcp1", "DstPrefix": "eth"},
                "Gateway": "198.18.5.1",
                "StaticRoutes": [{"Destination": "198.19.0.0/16", "RouteType": 0, "NextHop": "198.18.5.254"}]})
        );
        let e = serde_json::to_value(CreateEndpointResponse {
            interface: Some(EndpointInterface {
                mac_address: "02:00:00:00:00:01".into(),
                ..Default::default()
            }),
        })
        .unwrap();
        assert_eq!(e, serde_json::json!({"Interface": {"MacAddress": "02:00:00:00:00:01"}}));
        assert_eq!(
            serde_json::to_value(NetCapabilities {
                scope: "local".into(),
                connectivity_scope: "global".into()
            })
            .unwrap(),
            serde_json::json!({"Scope": "local", "ConnectivityScope": "global"})
        );
    }

    #[test]
    fn unknown_methods_are_not_parsed() {
        assert_eq!(Method::from_path("/NetworkDriver.GwAllocCheck"), None);
        assert_eq!(Method::from_path("/Plugin.Activate"), Some(Method::Activate));
    }
}
