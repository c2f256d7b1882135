//! `/vlcp/trace`: how a packet would cross a switch, simulated ([`crate::sdn::trace`]) over the
//! flows the SDN controller computed for it (the same table it installs).
//!
//! Parameters: `bridge` (the OVS bridge name) or `datapath` (the datapath id in hex, `0x`
//! optional) — either may be left out when exactly one switch is connected — and the packet in
//! ovs-ofctl field names (`in_port` required: an OpenFlow port number, interface name or
//! logical port id; `dl_src`, `dl_dst`, `proto=arp|ip|icmp|tcp|udp`, `arp_op`, `arp_spa`,
//! `arp_tpa`, `nw_src`, `nw_dst`, `nw_ttl`, `tp_src`, `tp_dst`, `icmp_type`, `tun_id`,
//! `metadata`, `reg0`..`reg15`, … see [`crate::sdn::trace::PACKET_FIELDS`]).
//!
//! The result is a [`crate::sdn::trace::Trace`]: one step per table visit (stage, matched flow
//! with priority, match, actions, cookie, module and owner; field changes; outputs), and the
//! verdict, plus `installed`: whether the switch has acknowledged these flows (false while the
//! controller is still sending a recompute). Errors: 400 for malformed values or a missing switch choice, 404 for an unknown
//! bridge, datapath or `in_port`, 503 when this process runs no SDN controller.
//!
//! ```text
//! curl 'http://127.0.0.1:8081/vlcp/trace?bridge=dockerbr0&in_port=docker-1a2b&dl_dst=02:00:00:00:00:02&proto=icmp&nw_dst=198.18.5.3'
//! ```

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::runtime::controller::ComputedFlows;
use crate::sdn::trace;

use super::ApiError;

fn err(status: u16, message: impl Into<String>) -> ApiError {
    ApiError { status, message: message.into() }
}

fn text(name: &str, v: Value) -> Result<String, ApiError> {
    match v {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(err(400, format!("{name}: expected a string or a number, found {other}"))),
    }
}

/// Answers `/vlcp/trace` with `params` against the flows in `flows`.
pub fn call(flows: Option<&ComputedFlows>, params: Map<String, Value>) -> Result<Value, ApiError> {
    let flows = flows.filter(|f| f.is_running()).ok_or_else(|| {
        err(503, "no SDN controller runs in this process (server.startup needs openflowserver)")
    })?;
    let mut fields = BTreeMap::new();
    for (k, v) in params {
        if v.is_null() {
            continue;
        }
        let s = text(&k, v)?;
        fields.insert(k, s);
    }
    let bridge = fields.remove("bridge");
    let datapath = fields.remove("datapath");
    let switches = flows.switches();
    let names = || {
        let v: Vec<String> =
            switches.iter().map(|s| format!("{} ({:016x})", s.bridge, s.datapath_id)).collect();
        if v.is_empty() { "none".to_owned() } else { v.join(", ") }
    };
    let view = match (&bridge, &datapath) {
        (Some(b), _) => switches.iter().find(|s| s.bridge == *b).ok_or_else(|| {
            err(404, format!("bridge: no connected switch has bridge {b:?} (connected: {})", names()))
        })?,
        (None, Some(d)) => {
            let hex = d.trim().trim_start_matches("0x").trim_start_matches("0X");
            let id = u64::from_str_radix(hex, 16)
                .map_err(|_| err(400, format!("datapath: {d:?} is not a datapath id (hex)")))?;
            switches.iter().find(|s| s.datapath_id == id).ok_or_else(|| {
                err(
                    404,
                    format!(
                        "datapath: no connected switch has datapath id {id:016x} (connected: {})",
                        names()
                    ),
                )
            })?
        }
        (None, None) => match switches.as_slice() {
            [one] => one,
            _ => {
                return Err(err(
                    400,
                    format!(
                        "bridge: is required when {} switches are connected ({})",
                        switches.len(),
                        names()
                    ),
                ));
            }
        },
    };
    let packet = trace::parse_packet(view, &fields).map_err(|e| err(e.kind.status(), e.to_string()))?;
    let t = trace::trace(view, packet);
    let mut v = serde_json::to_value(&t).map_err(|e| err(500, format!("encoding the trace: {e}")))?;
    if let Some(m) = v.as_object_mut() {
        m.insert("installed".into(), Value::Bool(flows.is_installed(view.datapath_id)));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sdn::bind::{IdAssigner, bind};
    use crate::sdn::compute;
    use crate::sdn::config::SdnConfig;
    use crate::sdn::input::*;
    use crate::sdn::trace::SwitchView;

    fn view(dpid: u64, bridge: &str) -> SwitchView {
        let mut m = ModelSnapshot::default();
        m.physical_networks.insert("l".into(), PhysicalNetwork { id: "l".into(), kind: NetworkType::Local });
        m.logical_networks.insert(
            "n".into(),
            LogicalNetwork {
                id: "n".into(),
                physical_network: "l".into(),
                segment: None,
                dhcp: DhcpSettings::default(),
            },
        );
        m.logical_ports.insert(
            "p".into(),
            LogicalPort {
                id: "p".into(),
                network: "n".into(),
                subnet: None,
                mac: [2, 0, 0, 0, 0, 1],
                ip: None,
                hostname: None,
            },
        );
        let ifaces = [OvsInterface { name: "tap1".into(), ofport: 1, iface_id: Some("p".into()) }];
        let input = bind(&m, &SwitchIdentity::default(), &ifaces, &mut IdAssigner::default());
        let cfg = SdnConfig::default();
        let p = compute::pipeline(&cfg).unwrap();
        let entries = compute::entries(&p, &cfg, &input);
        let flows = compute::desired(&p, &cfg, &input).unwrap();
        SwitchView::new(dpid, bridge, p, &entries, flows, &ifaces, &input)
    }

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn statuses_and_a_result() {
        let p = || params(json!({"in_port": "tap1", "dl_dst": "02:00:00:00:00:09", "proto": "ip"}));
        assert_eq!(call(None, p()).unwrap_err().status, 503);
        let flows = ComputedFlows::default();
        assert_eq!(call(Some(&flows), p()).unwrap_err().status, 503, "no controller publishes");
        flows.publish(view(0xab, "br0"));
        let r = call(Some(&flows), p()).unwrap();
        assert_eq!(r["bridge"], "br0");
        assert_eq!(r["verdict"]["kind"], "dropped", "{r:#}");
        assert_eq!(r["steps"][0]["stage"], "ingress");
        assert_eq!(r["installed"], false, "published, not acknowledged by a switch");
        flows.publish(view(0xcd, "br1"));
        let e = call(Some(&flows), p()).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.starts_with("bridge:") && e.message.contains("br1"), "{e:?}");
        let mut q = p();
        q.insert("bridge".into(), json!("nosuch"));
        assert_eq!(call(Some(&flows), q).unwrap_err().status, 404);
        let mut q = p();
        q.insert("datapath".into(), json!("0xzz"));
        assert_eq!(call(Some(&flows), q).unwrap_err().status, 400);
        let mut q = p();
        q.insert("datapath".into(), json!("00000000000000cd"));
        assert_eq!(call(Some(&flows), q).unwrap()["bridge"], "br1");
        let mut q = p();
        q.insert("bridge".into(), json!("br0"));
        q.insert("in_port".into(), json!(7));
        let e = call(Some(&flows), q).unwrap_err();
        assert_eq!(e.status, 404);
        assert!(e.message.starts_with("in_port:"), "{e:?}");
        let mut q = p();
        q.insert("bridge".into(), json!("br0"));
        q.insert("nw_dst".into(), json!("198.18.300.1"));
        assert_eq!(call(Some(&flows), q).unwrap_err().status, 400);
        let mut q = p();
        q.insert("bridge".into(), json!("br0"));
        q.insert("dl_dst".into(), json!(["x"]));
        assert_eq!(call(Some(&flows), q).unwrap_err().status, 400);
    }
}
