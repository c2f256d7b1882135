//! Network-type drivers: how a logical network enters and leaves through a physical port (the
//! original's `createioflowparts`). There is no VLAN table: encapsulation happens inside
//! `ingress` and `egress`.
//!
//! A driver gives the *match* that recognises the network's packets on the physical port with
//! the actions that strip the encapsulation (ingress), and the actions that add it before output
//! (egress). ioprocessing wraps these into flows with the register conventions.

use crate::openflow::{Action, FieldSlice, NxAction, Oxm, OxmField, PortNo};

use super::input::{NetworkType, NetworkView, PhysicalPortView};

/// `OFPVID_PRESENT`: set in VLAN_VID for tagged frames.
pub const OFPVID_PRESENT: u16 = 0x1000;

/// The ingress part: match fields beyond `in_port`, and actions run before the registers are set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngressPart {
    pub matches: Vec<Oxm>,
    pub actions: Vec<Action>,
}

/// One network type's flow parts.
pub trait NetworkDriver {
    /// The type this driver serves.
    fn kind(&self) -> NetworkType;
    /// How packets of `net` arriving on `port` are recognised and decapsulated; `None` when
    /// this network cannot enter through that port.
    fn ingress(&self, net: &NetworkView, port: &PhysicalPortView) -> Option<IngressPart>;
    /// The actions that send a packet of `net` out of `port` (encapsulation then output).
    fn egress(&self, net: &NetworkView, port: &PhysicalPortView) -> Vec<Action>;
}

/// 802.1Q: tag = the network's VLAN id.
pub struct VlanDriver;
/// Untagged frames on the physical port.
pub struct NativeDriver;
/// VXLAN: `tun_id` = the network's VNI on the tunnel port; tunnel destinations and flooding
/// come from vxlancast ([`super::vxlan`]).
pub struct VxlanDriver;
/// No physical ports at all.
pub struct LocalDriver;

impl NetworkDriver for VlanDriver {
    fn kind(&self) -> NetworkType {
        NetworkType::Vlan
    }
    fn ingress(&self, net: &NetworkView, _port: &PhysicalPortView) -> Option<IngressPart> {
        let vid = u16::try_from(net.segment?).ok().filter(|v| *v < 4096)?;
        Some(IngressPart {
            matches: vec![Oxm::vlan_vid(vid | OFPVID_PRESENT)],
            actions: vec![Action::PopVlan],
        })
    }
    fn egress(&self, net: &NetworkView, port: &PhysicalPortView) -> Vec<Action> {
        let Some(vid) = net.segment.and_then(|v| u16::try_from(v).ok()).filter(|v| *v < 4096) else {
            return Vec::new();
        };
        vec![
            Action::PushVlan(0x8100),
            Action::SetField(Oxm::vlan_vid(vid | OFPVID_PRESENT)),
            Action::output(PortNo(port.ofport)),
            Action::PopVlan,
        ]
    }
}

impl NetworkDriver for NativeDriver {
    fn kind(&self) -> NetworkType {
        NetworkType::Native
    }
    fn ingress(&self, _net: &NetworkView, _port: &PhysicalPortView) -> Option<IngressPart> {
        Some(IngressPart { matches: vec![Oxm::vlan_vid(0)], actions: Vec::new() })
    }
    fn egress(&self, _net: &NetworkView, port: &PhysicalPortView) -> Vec<Action> {
        vec![Action::output(PortNo(port.ofport))]
    }
}

impl NetworkDriver for VxlanDriver {
    fn kind(&self) -> NetworkType {
        NetworkType::Vxlan
    }
    fn ingress(&self, net: &NetworkView, _port: &PhysicalPortView) -> Option<IngressPart> {
        // Answers sent back through the input port (ARP) must return to the sender host.
        let tun_back = Action::Nx(NxAction::RegMove {
            n_bits: 32,
            src: FieldSlice::whole(OxmField::NXM_NX_TUN_IPV4_SRC),
            dst: FieldSlice::whole(OxmField::NXM_NX_TUN_IPV4_DST),
        });
        Some(IngressPart { matches: vec![Oxm::tunnel_id(u64::from(net.segment?))], actions: vec![tun_back] })
    }
    fn egress(&self, _net: &NetworkView, _port: &PhysicalPortView) -> Vec<Action> {
        // The copies to other hosts need the network's flood list: `sdn::vxlan::add_flood`.
        Vec::new()
    }
}

impl NetworkDriver for LocalDriver {
    fn kind(&self) -> NetworkType {
        NetworkType::Local
    }
    fn ingress(&self, _net: &NetworkView, _port: &PhysicalPortView) -> Option<IngressPart> {
        None
    }
    fn egress(&self, _net: &NetworkView, _port: &PhysicalPortView) -> Vec<Action> {
        Vec::new()
    }
}

/// The driver of a network type.
pub fn driver(kind: NetworkType) -> &'static dyn NetworkDriver {
    match kind {
        NetworkType::Vlan => &VlanDriver,
        NetworkType::Native => &NativeDriver,
        NetworkType::Vxlan => &VxlanDriver,
        NetworkType::Local => &LocalDriver,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdn::input::DhcpSettings;

    fn net(kind: NetworkType, seg: Option<u32>) -> NetworkView {
        NetworkView {
            id: "n".into(),
            netid: 1,
            physical_network: "p".into(),
            kind,
            segment: seg,
            dhcp: DhcpSettings::default(),
            subnets: Vec::new(),
        }
    }

    fn port(kind: NetworkType) -> PhysicalPortView {
        PhysicalPortView { name: "eth1".into(), ofport: 3, physical_network: "p".into(), kind }
    }

    #[test]
    fn vlan_matches_tag_pops_and_pushes() {
        let d = driver(NetworkType::Vlan);
        let p = port(NetworkType::Vlan);
        let i = d.ingress(&net(NetworkType::Vlan, Some(100)), &p).unwrap();
        assert_eq!(i.matches, [Oxm::vlan_vid(100 | OFPVID_PRESENT)]);
        assert_eq!(i.actions, [Action::PopVlan]);
        let e = d.egress(&net(NetworkType::Vlan, Some(100)), &p);
        assert_eq!(e[0], Action::PushVlan(0x8100));
        assert_eq!(e[2], Action::output(PortNo(3)));
        assert!(d.ingress(&net(NetworkType::Vlan, Some(5000)), &p).is_none(), "out of range vid");
    }

    #[test]
    fn native_is_untagged_and_local_has_no_ports() {
        let p = port(NetworkType::Native);
        let i = driver(NetworkType::Native).ingress(&net(NetworkType::Native, None), &p).unwrap();
        assert_eq!(i.matches, [Oxm::vlan_vid(0)]);
        assert!(driver(NetworkType::Local).ingress(&net(NetworkType::Local, None), &p).is_none());
        let v = driver(NetworkType::Vxlan).ingress(&net(NetworkType::Vxlan, Some(7000)), &p).unwrap();
        assert_eq!(v.matches, [Oxm::tunnel_id(7000)]);
    }
}
