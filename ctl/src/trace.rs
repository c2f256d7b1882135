//! `vlcpctl trace`: the command line of `/vlcp/trace` and the ovn-trace-like text of its result.
//!
//! ```text
//! vlcpctl trace [--bridge B] in_port=<ofport|interface|logical port> [dl_dst=…] [arp|ip|icmp|tcp|udp] [field=value…]
//! ```
//!
//! Fields are the server's packet fields ([`PACKET_FIELDS`], ovs-ofctl names); a bare `arp`,
//! `ip`, `icmp`, `tcp` or `udp` is `proto=<it>`. `bridge=`/`datapath=` choose the switch (needed
//! when several are connected). Text output: the packet, one block per table visit (stage,
//! matched flow, owner, changed fields, outputs; resubmits indented), then the verdict.

use std::fmt::Write as _;

use serde_json::Value;

/// The packet fields the server accepts (checked against `vlcp::sdn::trace::PACKET_FIELDS` in
/// the tests).
pub const PACKET_FIELDS: &[&str] = &[
    "in_port",
    "dl_src",
    "eth_src",
    "dl_dst",
    "eth_dst",
    "dl_vlan",
    "vlan",
    "dl_vlan_pcp",
    "dl_type",
    "eth_type",
    "proto",
    "arp_op",
    "arp_spa",
    "arp_tpa",
    "arp_sha",
    "arp_tha",
    "nw_src",
    "ip_src",
    "nw_dst",
    "ip_dst",
    "nw_proto",
    "ip_proto",
    "nw_ttl",
    "ttl",
    "nw_tos",
    "tp_src",
    "tp_dst",
    "udp_src",
    "udp_dst",
    "tcp_src",
    "tcp_dst",
    "icmp_type",
    "icmp_code",
    "tun_id",
    "tun_src",
    "tun_dst",
    "metadata",
    "pkt_mark",
    "reg0",
    "reg1",
    "reg2",
    "reg3",
    "reg4",
    "reg5",
    "reg6",
    "reg7",
    "reg8",
    "reg9",
    "reg10",
    "reg11",
    "reg12",
    "reg13",
    "reg14",
    "reg15",
];

/// Bare words that stand for `proto=<word>`.
pub const PROTOS: &[&str] = &["arp", "ip", "icmp", "tcp", "udp"];

/// The module and API of the call.
pub const MODULE: &str = "vlcp";
/// The API name.
pub const API: &str = "trace";

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The readable explanation of a trace result.
pub fn render(t: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "bridge {} (datapath {}), in_port {}",
        s(t, "bridge"),
        s(t, "datapath_id"),
        s(t, "in_port")
    );
    let _ = writeln!(out, "packet: {}", s(t, "packet"));
    if t.get("installed") == Some(&Value::Bool(false)) {
        let _ = writeln!(
            out,
            "! the switch has not acknowledged these flows yet (the controller is still sending them)"
        );
    }
    let steps = t.get("steps").and_then(Value::as_array).cloned().unwrap_or_default();
    for (i, step) in steps.iter().enumerate() {
        let depth = step.get("depth").and_then(Value::as_u64).unwrap_or(0) as usize;
        let pad = "    ".repeat(depth);
        let table = step.get("table").and_then(Value::as_u64).unwrap_or(0);
        out.push('\n');
        match step.get("flow").filter(|f| !f.is_null()) {
            Some(f) => {
                let prio = f.get("priority").and_then(Value::as_u64).unwrap_or(0);
                let mut by = String::new();
                if let Some(o) = f.get("owner").and_then(Value::as_str) {
                    let _ = write!(by, ", for {o}");
                }
                if let Some(m) = f.get("module").and_then(Value::as_str) {
                    let _ = write!(by, " ({m})");
                }
                let _ = writeln!(out, "{pad}{i}. {} (table {table}): priority {prio}{by}", s(step, "stage"));
                let _ = writeln!(out, "{pad}   match:   {}", s(f, "match"));
                let _ = writeln!(out, "{pad}   actions: {}", s(f, "actions"));
                let _ = writeln!(out, "{pad}   cookie:  {}", s(f, "cookie"));
                if let Some(n) = step.get("ambiguous").and_then(Value::as_u64).filter(|n| *n > 0) {
                    let _ = writeln!(out, "{pad}   ! {n} other flow(s) match at the same priority");
                }
            }
            None => {
                let _ = writeln!(out, "{pad}{i}. {} (table {table}): no flow matched", s(step, "stage"));
            }
        }
        for c in step.get("changes").and_then(Value::as_array).into_iter().flatten() {
            let _ = writeln!(out, "{pad}   {} = {} (was {})", s(c, "field"), s(c, "to"), s(c, "from"));
        }
        for e in step.get("events").and_then(Value::as_array).into_iter().flatten() {
            let line = match s(e, "type") {
                "output" => format!("-> output to {}: {}", s(e, "name"), s(e, "headers")),
                "controller" => format!(
                    "-> to the controller ({}): {}",
                    e.get("responder").and_then(Value::as_str).unwrap_or("no responder"),
                    s(e, "headers")
                ),
                "resubmit" => format!("resubmit to {}", s(e, "stage")),
                "group" => format!("group {}: {}", e.get("group").unwrap_or(&Value::Null), s(e, "detail")),
                "learn" => format!("would learn: {}", s(e, "detail")),
                "note" => format!("note: {}", s(e, "text")),
                "skipped" => format!("! {} skipped: {}", s(e, "action"), s(e, "reason")),
                "drop" => format!("x {}", s(e, "reason")),
                other => format!("{other}: {e}"),
            };
            let _ = writeln!(out, "{pad}   {line}");
        }
        if let Some(n) = step.get("next").and_then(Value::as_str) {
            let _ = writeln!(out, "{pad}   next: {n}");
        }
    }
    for l in t.get("learned").and_then(Value::as_array).into_iter().flatten() {
        let _ = writeln!(out, "\nwould learn: {}", l.as_str().unwrap_or(""));
    }
    let v = t.get("verdict").cloned().unwrap_or(Value::Null);
    let _ = writeln!(out, "\nverdict: {} — {}", s(&v, "kind"), s(&v, "summary"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_list_is_the_servers() {
        assert_eq!(PACKET_FIELDS, vlcp::sdn::trace::PACKET_FIELDS);
        let def = vlcp::web::api::find(MODULE, API).expect("the server has /vlcp/trace");
        assert_eq!(def.op, vlcp::web::api::Op::Trace);
        for (p, _) in def.params {
            assert!(PACKET_FIELDS.contains(p) || ["bridge", "datapath"].contains(p), "{p}");
        }
    }

    /// The server's own trace of a real computed table, through JSON, renders every step.
    #[test]
    fn renders_the_servers_trace() {
        use vlcp::sdn::input::*;
        use vlcp::sdn::{bind, compute, config::SdnConfig, trace};
        let mut m = ModelSnapshot::default();
        m.physical_networks.insert("l".into(), PhysicalNetwork { id: "l".into(), kind: NetworkType::Local });
        let net = LogicalNetwork {
            id: "n".into(),
            physical_network: "l".into(),
            segment: None,
            dhcp: Default::default(),
        };
        m.logical_networks.insert("n".into(), net);
        for i in 1..=2u8 {
            let id = format!("p{i}");
            let p = LogicalPort {
                id: id.clone(),
                network: "n".into(),
                subnet: None,
                mac: [2, 0, 0, 0, 0, i],
                ip: None,
                hostname: None,
            };
            m.logical_ports.insert(id, p);
        }
        let ifaces: Vec<OvsInterface> = (1..=2)
            .map(|i| OvsInterface { name: format!("tap{i}"), ofport: i, iface_id: Some(format!("p{i}")) })
            .collect();
        let input = bind::bind(&m, &SwitchIdentity::default(), &ifaces, &mut bind::IdAssigner::default());
        let cfg = SdnConfig::default();
        let p = compute::pipeline(&cfg).unwrap();
        let entries = compute::entries(&p, &cfg, &input);
        let flows = compute::desired(&p, &cfg, &input).unwrap();
        let view = trace::SwitchView::new(0xab, "br0", p, &entries, flows, &ifaces, &input);
        let fields = [("in_port", "p1"), ("dl_dst", "02:00:00:00:00:02"), ("proto", "icmp")];
        let fields = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let t = trace::trace(&view, trace::parse_packet(&view, &fields).unwrap());
        let json = serde_json::to_value(&t).unwrap();
        let r = render(&json);
        for want in [
            "in_port tap1 (logical port p1)",
            "0. ingress (table 0): priority 100, for port:p1 (ioprocessing)",
            "reg6 = 2 (tap2) (was FLOOD)",
            "-> output to tap2 (logical port p2): icmp,",
            "verdict: output — output to tap2",
        ] {
            assert!(r.contains(want), "{want:?} missing in\n{r}");
        }
        println!("{r}");
    }

    #[test]
    fn renders_steps_changes_outputs_and_verdict() {
        let t = serde_json::json!({
            "datapath_id": "00000000000000ab", "bridge": "br0", "in_port": "tap1 (logical port p1)",
            "packet": "icmp,dl_src=02:00:00:00:00:01", "learned": [],
            "steps": [
                {"depth": 0, "table": 0, "stage": "ingress", "ambiguous": 0, "next": "l2input",
                 "flow": {"priority": 100, "match": "in_port=1", "actions": "set_field:1->reg4", "cookie": "0x5c",
                          "module": "ioprocessing", "owner": "port:p1"},
                 "changes": [{"field": "reg4", "from": "0", "to": "1 (network n1)"}], "events": []},
                {"depth": 1, "table": 11, "stage": "egress", "ambiguous": 0, "next": null, "flow": null,
                 "changes": [], "events": [{"type": "output", "port": 2, "name": "tap2", "headers": "h"},
                                           {"type": "drop", "reason": "why"}]}
            ],
            "verdict": {"kind": "output", "summary": "output to tap2", "outputs": []}
        });
        let r = render(&t);
        assert!(r.contains("0. ingress (table 0): priority 100, for port:p1 (ioprocessing)"), "{r}");
        assert!(r.contains("   reg4 = 1 (network n1) (was 0)"), "{r}");
        assert!(r.contains("    1. egress (table 11): no flow matched"), "{r}");
        assert!(r.contains("       -> output to tap2: h"), "{r}");
        assert!(r.contains("       x why"), "{r}");
        assert!(r.ends_with("verdict: output — output to tap2\n"), "{r}");
    }
}
