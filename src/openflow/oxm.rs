//! OXM and NXM match fields (OpenFlow 1.3 §7.2.3, Nicira `nx-match`), and `ofp_match`.
//!
//! A field entry is a 32-bit header (class 16 bits, field 7 bits, has-mask 1 bit, body length
//! 8 bits) followed by the value and, when masked, a mask of the same size. Entries are kept as
//! their wire header plus body bytes, so fields this codec does not name (and experimenter
//! classes) survive a decode/encode untouched; [`OxmField`] names the known ones and typed
//! constructors such as [`Oxm::reg`] or [`Oxm::ipv4_dst`] build them.
//!
//! ```
//! use vlcp::openflow::{Match, Oxm, OxmField, PortNo};
//! let m = Match::new()
//!     .with(Oxm::in_port(PortNo(3)))
//!     .with(Oxm::reg(4, 7))
//!     .with(Oxm::eth_type(0x0806));
//! assert_eq!(m.get(OxmField::NXM_NX_REG4).and_then(|f| f.value_u64()), Some(7));
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::BufMut;

use super::wire::{DecodeError, Reader, pad8};

/// OXM class of the OpenFlow basic fields.
pub const OFPXMC_OPENFLOW_BASIC: u16 = 0x8000;
/// NXM class 0: Nicira's encodings of OpenFlow 1.0 fields.
pub const OFPXMC_NXM_0: u16 = 0x0000;
/// NXM class 1: Nicira extension fields (registers, tunnel metadata, ...).
pub const OFPXMC_NXM_1: u16 = 0x0001;
/// The experimenter class: a 32-bit experimenter id follows the header.
pub const OFPXMC_EXPERIMENTER: u16 = 0xffff;

/// A match field identity: an OXM/NXM header with the has-mask bit clear and the length of the
/// unmasked value (so `NXM_NX_REG0` is `0x0001_0004`, as in OVS's `nicira-ext.h`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OxmField(pub u32);

macro_rules! oxm_fields {
    ($($name:ident = ($class:expr, $field:expr, $len:expr),)*) => {
        impl OxmField {
            $(#[doc = concat!("`", stringify!($name), "`")]
            pub const $name: OxmField = OxmField::new($class, $field, $len);)*

            /// The conventional name (`OXM_OF_*` / `NXM_*`), if known.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $(OxmField::$name => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

oxm_fields! {
    IN_PORT = (0x8000, 0, 4), IN_PHY_PORT = (0x8000, 1, 4), METADATA = (0x8000, 2, 8),
    ETH_DST = (0x8000, 3, 6), ETH_SRC = (0x8000, 4, 6), ETH_TYPE = (0x8000, 5, 2),
    VLAN_VID = (0x8000, 6, 2), VLAN_PCP = (0x8000, 7, 1), IP_DSCP = (0x8000, 8, 1),
    IP_ECN = (0x8000, 9, 1), IP_PROTO = (0x8000, 10, 1), IPV4_SRC = (0x8000, 11, 4),
    IPV4_DST = (0x8000, 12, 4), TCP_SRC = (0x8000, 13, 2), TCP_DST = (0x8000, 14, 2),
    UDP_SRC = (0x8000, 15, 2), UDP_DST = (0x8000, 16, 2), SCTP_SRC = (0x8000, 17, 2),
    SCTP_DST = (0x8000, 18, 2), ICMPV4_TYPE = (0x8000, 19, 1), ICMPV4_CODE = (0x8000, 20, 1),
    ARP_OP = (0x8000, 21, 2), ARP_SPA = (0x8000, 22, 4), ARP_TPA = (0x8000, 23, 4),
    ARP_SHA = (0x8000, 24, 6), ARP_THA = (0x8000, 25, 6), IPV6_SRC = (0x8000, 26, 16),
    IPV6_DST = (0x8000, 27, 16), IPV6_FLABEL = (0x8000, 28, 4), ICMPV6_TYPE = (0x8000, 29, 1),
    ICMPV6_CODE = (0x8000, 30, 1), IPV6_ND_TARGET = (0x8000, 31, 16),
    IPV6_ND_SLL = (0x8000, 32, 6), IPV6_ND_TLL = (0x8000, 33, 6), MPLS_LABEL = (0x8000, 34, 4),
    MPLS_TC = (0x8000, 35, 1), MPLS_BOS = (0x8000, 36, 1), PBB_ISID = (0x8000, 37, 3),
    TUNNEL_ID = (0x8000, 38, 8), IPV6_EXTHDR = (0x8000, 39, 2),
    NXM_OF_IN_PORT = (0, 0, 2), NXM_OF_ETH_DST = (0, 1, 6), NXM_OF_ETH_SRC = (0, 2, 6),
    NXM_OF_ETH_TYPE = (0, 3, 2), NXM_OF_VLAN_TCI = (0, 4, 2), NXM_OF_IP_TOS = (0, 5, 1),
    NXM_OF_IP_PROTO = (0, 6, 1), NXM_OF_IP_SRC = (0, 7, 4), NXM_OF_IP_DST = (0, 8, 4),
    NXM_OF_TCP_SRC = (0, 9, 2), NXM_OF_TCP_DST = (0, 10, 2), NXM_OF_UDP_SRC = (0, 11, 2),
    NXM_OF_UDP_DST = (0, 12, 2), NXM_OF_ICMP_TYPE = (0, 13, 1), NXM_OF_ICMP_CODE = (0, 14, 1),
    NXM_OF_ARP_OP = (0, 15, 2), NXM_OF_ARP_SPA = (0, 16, 4), NXM_OF_ARP_TPA = (0, 17, 4),
    NXM_NX_REG0 = (1, 0, 4), NXM_NX_REG1 = (1, 1, 4), NXM_NX_REG2 = (1, 2, 4),
    NXM_NX_REG3 = (1, 3, 4), NXM_NX_REG4 = (1, 4, 4), NXM_NX_REG5 = (1, 5, 4),
    NXM_NX_REG6 = (1, 6, 4), NXM_NX_REG7 = (1, 7, 4), NXM_NX_REG8 = (1, 8, 4),
    NXM_NX_REG9 = (1, 9, 4), NXM_NX_REG10 = (1, 10, 4), NXM_NX_REG11 = (1, 11, 4),
    NXM_NX_REG12 = (1, 12, 4), NXM_NX_REG13 = (1, 13, 4), NXM_NX_REG14 = (1, 14, 4),
    NXM_NX_REG15 = (1, 15, 4), NXM_NX_TUN_ID = (1, 16, 8), NXM_NX_ARP_SHA = (1, 17, 6),
    NXM_NX_ARP_THA = (1, 18, 6), NXM_NX_TUN_IPV4_SRC = (1, 31, 4),
    NXM_NX_TUN_IPV4_DST = (1, 32, 4), NXM_NX_PKT_MARK = (1, 33, 4),
    NXM_NX_CONJ_ID = (1, 37, 4), NXM_NX_CT_STATE = (1, 105, 4), NXM_NX_CT_ZONE = (1, 106, 2), NXM_NX_CT_MARK = (1, 107, 4),
}

impl OxmField {
    /// Build a field id from class, field number and unmasked value length.
    pub const fn new(class: u16, field: u8, len: u8) -> OxmField {
        OxmField(((class as u32) << 16) | (((field & 0x7f) as u32) << 9) | len as u32)
    }

    /// Nicira register `n` (`NXM_NX_REG<n>`, 0..=15; higher `n` wraps into the field number).
    pub const fn reg(n: u8) -> OxmField {
        OxmField::new(OFPXMC_NXM_1, n & 0x7f, 4)
    }

    /// The class (high 16 bits).
    pub const fn class(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// The field number within the class.
    pub const fn field(self) -> u8 {
        ((self.0 >> 9) & 0x7f) as u8
    }

    /// The length of an unmasked value in bytes.
    pub const fn len(self) -> usize {
        (self.0 & 0xff) as usize
    }

    /// Whether the value length is zero (never true for a real field).
    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The field's width in bits.
    pub const fn bits(self) -> u16 {
        (self.len() * 8) as u16
    }
}

impl std::fmt::Debug for OxmField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "OxmField({:#010x})", self.0),
        }
    }
}

/// One match entry (or the payload of a set-field action): the wire header and its body.
///
/// Ordered as its encoding is (the header big-endian, then the body), so sorting entries needs
/// no encoding.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Oxm {
    header: u32,
    body: Vec<u8>,
}

impl Oxm {
    /// An exact-match entry; `value` should be `field.len()` bytes.
    pub fn new(field: OxmField, value: &[u8]) -> Oxm {
        let header = field.0 & 0xffff_fe00;
        let len = u8::try_from(value.len()).unwrap_or(u8::MAX);
        Oxm { header: header | u32::from(len), body: value[..usize::from(len)].to_vec() }
    }

    /// A masked entry (value and mask of equal length).
    pub fn masked(field: OxmField, value: &[u8], mask: &[u8]) -> Oxm {
        let mut body = Vec::with_capacity(value.len() * 2);
        body.extend_from_slice(value);
        body.extend_from_slice(mask);
        let len = u8::try_from(body.len()).unwrap_or(u8::MAX);
        body.truncate(usize::from(len));
        let header = (field.0 & 0xffff_fe00) | 0x100;
        Oxm { header: header | u32::from(len), body }
    }

    /// An entry holding the low `field.len()` bytes of `value`, big-endian.
    pub fn from_u64(field: OxmField, value: u64) -> Oxm {
        let bytes = value.to_be_bytes();
        Oxm::new(field, &bytes[8 - field.len().min(8)..])
    }

    /// Masked variant of [`Oxm::from_u64`].
    pub fn from_u64_masked(field: OxmField, value: u64, mask: u64) -> Oxm {
        let n = 8 - field.len().min(8);
        Oxm::masked(field, &value.to_be_bytes()[n..], &mask.to_be_bytes()[n..])
    }

    /// `in_port`.
    pub fn in_port(port: super::PortNo) -> Oxm {
        Oxm::from_u64(OxmField::IN_PORT, port.0.into())
    }
    /// `eth_type`.
    pub fn eth_type(ethertype: u16) -> Oxm {
        Oxm::from_u64(OxmField::ETH_TYPE, ethertype.into())
    }
    /// `eth_src`.
    pub fn eth_src(mac: [u8; 6]) -> Oxm {
        Oxm::new(OxmField::ETH_SRC, &mac)
    }
    /// `eth_dst`.
    pub fn eth_dst(mac: [u8; 6]) -> Oxm {
        Oxm::new(OxmField::ETH_DST, &mac)
    }
    /// `eth_dst` with a mask (e.g. the multicast bit `01:00:00:00:00:00`).
    pub fn eth_dst_masked(mac: [u8; 6], mask: [u8; 6]) -> Oxm {
        Oxm::masked(OxmField::ETH_DST, &mac, &mask)
    }
    /// `vlan_vid` (include `0x1000`, OFPVID_PRESENT, to match a tagged frame).
    pub fn vlan_vid(vid: u16) -> Oxm {
        Oxm::from_u64(OxmField::VLAN_VID, vid.into())
    }
    /// `ip_proto`.
    pub fn ip_proto(proto: u8) -> Oxm {
        Oxm::from_u64(OxmField::IP_PROTO, proto.into())
    }
    /// `ipv4_src`.
    pub fn ipv4_src(ip: Ipv4Addr) -> Oxm {
        Oxm::new(OxmField::IPV4_SRC, &ip.octets())
    }
    /// `ipv4_dst`.
    pub fn ipv4_dst(ip: Ipv4Addr) -> Oxm {
        Oxm::new(OxmField::IPV4_DST, &ip.octets())
    }
    /// `ipv4_dst` with a prefix length.
    pub fn ipv4_dst_prefix(ip: Ipv4Addr, prefix: u8) -> Oxm {
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0);
        Oxm::masked(OxmField::IPV4_DST, &ip.octets(), &mask.to_be_bytes())
    }
    /// `ipv6_dst`.
    pub fn ipv6_dst(ip: Ipv6Addr) -> Oxm {
        Oxm::new(OxmField::IPV6_DST, &ip.octets())
    }
    /// `tcp_dst`.
    pub fn tcp_dst(port: u16) -> Oxm {
        Oxm::from_u64(OxmField::TCP_DST, port.into())
    }
    /// `udp_src`.
    pub fn udp_src(port: u16) -> Oxm {
        Oxm::from_u64(OxmField::UDP_SRC, port.into())
    }
    /// `udp_dst`.
    pub fn udp_dst(port: u16) -> Oxm {
        Oxm::from_u64(OxmField::UDP_DST, port.into())
    }
    /// `icmpv4_type`.
    pub fn icmpv4_type(ty: u8) -> Oxm {
        Oxm::from_u64(OxmField::ICMPV4_TYPE, ty.into())
    }
    /// `arp_op`.
    pub fn arp_op(op: u16) -> Oxm {
        Oxm::from_u64(OxmField::ARP_OP, op.into())
    }
    /// `arp_spa`.
    pub fn arp_spa(ip: Ipv4Addr) -> Oxm {
        Oxm::new(OxmField::ARP_SPA, &ip.octets())
    }
    /// `arp_tpa`.
    pub fn arp_tpa(ip: Ipv4Addr) -> Oxm {
        Oxm::new(OxmField::ARP_TPA, &ip.octets())
    }
    /// `arp_sha`.
    pub fn arp_sha(mac: [u8; 6]) -> Oxm {
        Oxm::new(OxmField::ARP_SHA, &mac)
    }
    /// `arp_tha`.
    pub fn arp_tha(mac: [u8; 6]) -> Oxm {
        Oxm::new(OxmField::ARP_THA, &mac)
    }
    /// `metadata`.
    pub fn metadata(value: u64) -> Oxm {
        Oxm::from_u64(OxmField::METADATA, value)
    }
    /// `metadata` with a mask.
    pub fn metadata_masked(value: u64, mask: u64) -> Oxm {
        Oxm::from_u64_masked(OxmField::METADATA, value, mask)
    }
    /// `tunnel_id` (OXM; OVS shows it as `tun_id`).
    pub fn tunnel_id(id: u64) -> Oxm {
        Oxm::from_u64(OxmField::TUNNEL_ID, id)
    }
    /// Nicira register `n`.
    pub fn reg(n: u8, value: u32) -> Oxm {
        Oxm::from_u64(OxmField::reg(n), value.into())
    }
    /// Nicira register `n` with a mask.
    pub fn reg_masked(n: u8, value: u32, mask: u32) -> Oxm {
        Oxm::from_u64_masked(OxmField::reg(n), value.into(), mask.into())
    }
    /// `tun_src` (`NXM_NX_TUN_IPV4_SRC`).
    pub fn tun_ipv4_src(ip: Ipv4Addr) -> Oxm {
        Oxm::new(OxmField::NXM_NX_TUN_IPV4_SRC, &ip.octets())
    }
    /// `tun_dst` (`NXM_NX_TUN_IPV4_DST`).
    pub fn tun_ipv4_dst(ip: Ipv4Addr) -> Oxm {
        Oxm::new(OxmField::NXM_NX_TUN_IPV4_DST, &ip.octets())
    }
    /// `pkt_mark`.
    pub fn pkt_mark(mark: u32) -> Oxm {
        Oxm::from_u64(OxmField::NXM_NX_PKT_MARK, mark.into())
    }

    /// The raw 32-bit header as on the wire.
    pub fn header(&self) -> u32 {
        self.header
    }

    /// The field identity (has-mask bit cleared, length of the unmasked value).
    pub fn field(&self) -> OxmField {
        let len = if self.has_mask() { self.value_len() } else { self.header as usize & 0xff };
        OxmField((self.header & 0xffff_fe00) | len as u32)
    }

    /// Whether the entry carries a mask.
    pub fn has_mask(&self) -> bool {
        self.header & 0x100 != 0
    }

    fn exp_len(&self) -> usize {
        if (self.header >> 16) as u16 == OFPXMC_EXPERIMENTER { 4.min(self.body.len()) } else { 0 }
    }

    fn value_len(&self) -> usize {
        let payload = self.body.len() - self.exp_len();
        if self.has_mask() { payload / 2 } else { payload }
    }

    /// The experimenter id of an experimenter-class field.
    pub fn experimenter(&self) -> Option<u32> {
        let b = self.body.get(..4)?;
        (self.exp_len() == 4).then(|| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The value bytes.
    pub fn value(&self) -> &[u8] {
        let start = self.exp_len();
        &self.body[start..start + self.value_len()]
    }

    /// The mask bytes, if masked.
    pub fn mask(&self) -> Option<&[u8]> {
        let start = self.exp_len() + self.value_len();
        self.has_mask().then(|| &self.body[start..start + self.value_len()])
    }

    /// The value as an integer, for values of at most 8 bytes.
    pub fn value_u64(&self) -> Option<u64> {
        be_u64(self.value())
    }

    /// The mask as an integer, for masks of at most 8 bytes.
    pub fn mask_u64(&self) -> Option<u64> {
        self.mask().and_then(be_u64)
    }

    /// Encoded size (header + body).
    pub fn wire_len(&self) -> usize {
        4 + self.body.len()
    }

    /// Append the entry.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u32(self.header);
        buf.extend_from_slice(&self.body);
    }

    /// Decode one entry.
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Oxm, DecodeError> {
        let header = r.u32()?;
        let body = r.bytes(header as usize & 0xff)?.to_vec();
        Ok(Oxm { header, body })
    }
}

fn be_u64(b: &[u8]) -> Option<u64> {
    (b.len() <= 8).then(|| b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x)))
}

impl std::fmt::Debug for Oxm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}=", self.field())?;
        for b in self.value() {
            write!(f, "{b:02x}")?;
        }
        if let Some(mask) = self.mask() {
            f.write_str("/")?;
            for b in mask {
                write!(f, "{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// `OFPMT_OXM`, the only match type of OpenFlow 1.3.
pub const OFPMT_OXM: u16 = 1;

/// `ofp_match`: a list of OXM entries (an empty list matches everything).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Match {
    /// Entries in wire order (prerequisites must come first).
    pub fields: Vec<Oxm>,
}

impl Match {
    /// The match-all match.
    pub fn new() -> Match {
        Match::default()
    }

    /// Builder: append an entry.
    pub fn with(mut self, oxm: Oxm) -> Match {
        self.fields.push(oxm);
        self
    }

    /// The first entry for `field`, masked or not.
    pub fn get(&self, field: OxmField) -> Option<&Oxm> {
        self.fields.iter().find(|o| o.field() == field)
    }

    /// Append `ofp_match` including its padding to 8 bytes.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let len = 4 + self.fields.iter().map(Oxm::wire_len).sum::<usize>();
        buf.put_u16(OFPMT_OXM);
        buf.put_u16(u16::try_from(len).unwrap_or(u16::MAX));
        for f in &self.fields {
            f.encode(buf);
        }
        buf.put_bytes(0, pad8(len));
    }

    /// Decode `ofp_match` and its padding (OpenFlow 1.3 §7.2.2: `length` excludes padding).
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Match, DecodeError> {
        let ty = r.u16()?;
        let len = usize::from(r.u16()?);
        if ty != OFPMT_OXM {
            return Err(DecodeError::BadMatchType(ty));
        }
        if len < 4 {
            return Err(DecodeError::BadLength { what: "ofp_match", len });
        }
        let mut body = r.sub(len - 4, "ofp_match")?;
        r.zeros(pad8(len))?;
        let mut fields = Vec::new();
        while !body.is_empty() {
            fields.push(Oxm::decode(&mut body)?);
        }
        Ok(Match { fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_ids_match_nicira_ext_h() {
        assert_eq!(OxmField::NXM_NX_REG0.0, 0x0001_0004);
        assert_eq!(OxmField::reg(4), OxmField::NXM_NX_REG4);
        assert_eq!(OxmField::NXM_NX_TUN_IPV4_DST.0, 0x0001_4004);
        assert_eq!(OxmField::IN_PORT.0, 0x8000_0004);
        assert_eq!(OxmField::TUNNEL_ID.0, 0x8000_4c08);
    }

    #[test]
    fn masked_entries_split_value_and_mask() {
        let o = Oxm::reg_masked(7, 0x8000, 0xc000);
        assert_eq!(o.header(), 0x0001_0f08);
        assert_eq!(o.field(), OxmField::NXM_NX_REG7);
        assert_eq!(o.value_u64(), Some(0x8000));
        assert_eq!(o.mask_u64(), Some(0xc000));
    }

    #[test]
    fn match_round_trips_with_padding() {
        let m = Match::new()
            .with(Oxm::in_port(crate::openflow::PortNo(1)))
            .with(Oxm::eth_dst_masked([1, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]));
        let mut buf = Vec::new();
        m.encode(&mut buf);
        assert_eq!(buf.len() % 8, 0);
        let mut r = Reader::new(&buf, "t");
        assert_eq!(Match::decode(&mut r).unwrap(), m);
        assert!(r.is_empty());
    }

    #[test]
    fn unknown_experimenter_field_is_kept() {
        let raw = [0xff, 0xff, 0x00, 0x06, 0x4f, 0x4e, 0x46, 0x00, 0x12, 0x34];
        let mut r = Reader::new(&raw, "t");
        let o = Oxm::decode(&mut r).unwrap();
        assert_eq!(o.experimenter(), Some(0x4f4e_4600));
        assert_eq!(o.value(), &[0x12, 0x34]);
        let mut out = Vec::new();
        o.encode(&mut out);
        assert_eq!(out, raw);
    }
}
