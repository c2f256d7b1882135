//! The model's rules as pure functions: tag ranges, first-free allocation, subnet address plans,
//! IP allocation, MAC addresses, IDs and physical-port wildcards. No storage here; the operations
//! in the sibling modules call these inside their transactions.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// Largest VLAN tag (`vlanrange` values are 1..=4094).
pub const VLAN_MAX: u32 = 4094;
/// Largest VXLAN network identifier (24 bits).
pub const VNI_MAX: u32 = (1 << 24) - 1;
/// Longest accepted object id, in bytes.
pub const ID_MAX_LEN: usize = 255;

/// An inclusive range `[start, end]` of VLAN tags or VNIs, as the original stores it.
pub type TagRange = (u32, u32);

/// Checks a `vlanrange`/`vnirange` list: every range within `min..=max`, `start <= end`, no two
/// ranges overlapping, at least one range.
pub fn check_ranges(ranges: &[TagRange], min: u32, max: u32) -> Result<(), String> {
    if ranges.is_empty() {
        return Err("needs at least one [start, end] range".into());
    }
    for &(s, e) in ranges {
        if s > e {
            return Err(format!("range [{s}, {e}] has start > end"));
        }
        if s < min || e > max {
            return Err(format!("range [{s}, {e}] is outside {min}..={max}"));
        }
    }
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    for w in sorted.windows(2) {
        if w[1].0 <= w[0].1 {
            return Err(format!("ranges [{}, {}] and [{}, {}] overlap", w[0].0, w[0].1, w[1].0, w[1].1));
        }
    }
    Ok(())
}

/// Whether `v` lies in one of `ranges` (both ends included).
pub fn in_ranges(ranges: &[TagRange], v: u32) -> bool {
    ranges.iter().any(|&(s, e)| s <= v && v <= e)
}

/// The smallest value of `ranges` (in ascending order) that `taken` does not hold.
/// Runs in O(ranges + taken), whatever the size of the ranges.
pub fn first_free(ranges: &[TagRange], taken: &BTreeSet<u32>) -> Option<u32> {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    for (s, e) in sorted {
        let mut v = s;
        for &t in taken.range(s..=e) {
            if t != v {
                break;
            }
            v += 1;
        }
        if v <= e {
            return Some(v);
        }
    }
    None
}

/// An IPv4 network `address/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The address as written (equal to the network address when parsed strictly).
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`. With `strict`, host bits must be zero (`10.0.1.0/24`, not
    /// `10.0.1.5/24`), as the original's `cidr_type` requires for subnets.
    pub fn parse(s: &str, strict: bool) -> Result<Cidr, String> {
        let (a, p) = s.split_once('/').ok_or_else(|| format!("{s:?} is not a CIDR (a.b.c.d/len)"))?;
        let addr = Ipv4Addr::from_str(a).map_err(|_| format!("{a:?} is not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("prefix length {p:?} is not 0..=32"))?;
        let c = Cidr { addr, prefix };
        if strict && c.addr != c.network() {
            return Err(format!("{s} has host bits set (the network is {}/{prefix})", c.network()));
        }
        Ok(c)
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) }
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) | !self.mask())
    }

    /// Whether `ip` lies in the network (network and broadcast addresses included).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    /// Whether `ip` is a usable host address: inside, not the network or broadcast address.
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        self.contains(ip) && ip != self.network() && ip != self.broadcast()
    }

    /// Whether the two networks share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Where a subnet's address rule was broken: the parameter and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    /// `cidr`, `gateway`, `allocated_start` or `allocated_end`.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// The addresses of a subnet: its network, optional gateway and allocation range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressPlan {
    /// The subnet.
    pub cidr: Cidr,
    /// The gateway, never allocated to a port.
    pub gateway: Option<Ipv4Addr>,
    /// First address ports may get.
    pub start: Ipv4Addr,
    /// Last address ports may get.
    pub end: Ipv4Addr,
}

impl AddressPlan {
    /// Checks a subnet's addresses and fills the defaults: the range defaults to the first and
    /// last usable host of `cidr` (strict, prefix at most /30); the gateway and both range ends
    /// must be usable hosts of `cidr`, and `start <= end`.
    pub fn new(
        cidr: &str,
        gateway: Option<Ipv4Addr>,
        start: Option<Ipv4Addr>,
        end: Option<Ipv4Addr>,
    ) -> Result<AddressPlan, PlanError> {
        let c = Cidr::parse(cidr, true).map_err(|reason| PlanError { field: "cidr", reason })?;
        if c.prefix > 30 {
            return Err(PlanError {
                field: "cidr",
                reason: format!("{c} has no usable host addresses (the prefix must be at most /30)"),
            });
        }
        let host = |field: &'static str, ip: Ipv4Addr| {
            if c.is_host(ip) {
                Ok(ip)
            } else {
                Err(PlanError { field, reason: format!("{ip} is not a usable address of {c}") })
            }
        };
        let gateway = gateway.map(|g| host("gateway", g)).transpose()?;
        let start = host("allocated_start", start.unwrap_or(Ipv4Addr::from(u32::from(c.network()) + 1)))?;
        let end = host("allocated_end", end.unwrap_or(Ipv4Addr::from(u32::from(c.broadcast()) - 1)))?;
        if start > end {
            return Err(PlanError {
                field: "allocated_end",
                reason: format!("allocated_end {end} is below allocated_start {start}"),
            });
        }
        Ok(AddressPlan { cidr: c, gateway, start, end })
    }

    /// Why a port may not have `ip`, or `None` if it may (ignoring addresses already taken).
    pub fn refuse_port_ip(&self, ip: Ipv4Addr) -> Option<String> {
        if ip < self.start || ip > self.end {
            Some(format!("{ip} is outside the allocation range {}-{} of {}", self.start, self.end, self.cidr))
        } else if Some(ip) == self.gateway {
            Some(format!("{ip} is the gateway of {}", self.cidr))
        } else {
            None
        }
    }

    /// The first address of the range that is neither the gateway nor in `allocated`
    /// (addresses as `u32`).
    pub fn first_free(&self, allocated: &BTreeSet<u32>) -> Option<Ipv4Addr> {
        let (s, e) = (u32::from(self.start), u32::from(self.end));
        let gw = self.gateway.map(u32::from);
        let mut v = s;
        loop {
            if Some(v) != gw && !allocated.contains(&v) {
                return Some(Ipv4Addr::from(v));
            }
            if v == e {
                return None;
            }
            v += 1;
        }
    }
}

/// Parses a MAC address (`aa:bb:cc:dd:ee:ff` or with `-`, any case) into the canonical
/// lower-case colon form. Multicast addresses are refused (a port's own address is unicast).
pub fn normalize_mac(s: &str) -> Result<String, String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let bytes: Option<Vec<u8>> = (parts.len() == 6)
        .then(|| {
            parts.iter().map(|p| if p.len() == 2 { u8::from_str_radix(p, 16).ok() } else { None }).collect()
        })
        .flatten();
    let b = bytes.ok_or_else(|| format!("{s:?} is not a MAC address (six hex pairs)"))?;
    if b[0] & 1 == 1 {
        return Err(format!("{s} is a multicast address"));
    }
    Ok(b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":"))
}

/// A random locally administered unicast MAC address (`x2:…`, `x6:…`, `xa:…` or `xe:…`).
pub fn random_mac() -> String {
    let mut b: [u8; 6] = rand::random();
    b[0] = (b[0] & 0xfe) | 0x02;
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

/// A fresh version-1 UUID (time based, random node with the multicast bit set as RFC 4122
/// asks for non-MAC nodes) in canonical form, as the original generates ids.
pub fn new_uuid() -> String {
    // 100 ns intervals between 1582-10-15 and 1970-01-01.
    const GREGORIAN_OFFSET: u64 = 0x01b2_1dd2_1381_4000;
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let ts = GREGORIAN_OFFSET + (since_epoch.as_nanos() / 100) as u64;
    let clock_seq: u16 = (rand::random::<u16>() & 0x3fff) | 0x8000;
    let mut node: [u8; 6] = rand::random();
    node[0] |= 0x01;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{}",
        ts & 0xffff_ffff,
        (ts >> 32) & 0xffff,
        ((ts >> 48) & 0x0fff) | 0x1000,
        clock_seq,
        node.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// Checks an object id: 1..=255 bytes, no control characters.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        Err("must not be empty".into())
    } else if id.len() > ID_MAX_LEN {
        Err(format!("is {} bytes long, the limit is {ID_MAX_LEN}", id.len()))
    } else if id.chars().any(char::is_control) {
        Err(format!("{id:?} contains a control character"))
    } else {
        Ok(())
    }
}

/// Whether a physical-port pattern component matches: `%` matches anything.
pub fn wildcard_matches(pattern: &str, value: &str) -> bool {
    pattern == "%" || pattern == value
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_are_checked() {
        assert!(check_ranges(&[(10000, 20000)], 1, VNI_MAX).is_ok());
        assert!(check_ranges(&[(1000, 2000), (3000, 3000)], 1, VLAN_MAX).is_ok());
        assert!(check_ranges(&[], 1, VLAN_MAX).unwrap_err().contains("at least one"));
        assert!(check_ranges(&[(5, 4)], 1, VLAN_MAX).unwrap_err().contains("start > end"));
        assert!(check_ranges(&[(0, 4)], 1, VLAN_MAX).unwrap_err().contains("outside"));
        assert!(check_ranges(&[(4000, 4095)], 1, VLAN_MAX).unwrap_err().contains("outside"));
        assert!(check_ranges(&[(1, 10), (10, 20)], 1, VLAN_MAX).unwrap_err().contains("overlap"));
        assert!(check_ranges(&[(1, 1 << 24)], 1, VNI_MAX).is_err());
    }

    #[test]
    fn first_free_skips_taken_values_across_ranges() {
        let taken: BTreeSet<u32> = [10, 11, 12, 20].into();
        assert_eq!(first_free(&[(10, 12), (20, 21)], &taken), Some(21));
        assert_eq!(first_free(&[(20, 21), (10, 12)], &taken), Some(21), "ranges are sorted");
        assert_eq!(first_free(&[(10, 12)], &taken), None);
        assert_eq!(first_free(&[(1, VNI_MAX)], &BTreeSet::new()), Some(1));
        assert_eq!(first_free(&[(5, 9)], &taken), Some(5));
        assert!(in_ranges(&[(10, 12)], 12) && !in_ranges(&[(10, 12)], 13));
    }

    #[test]
    fn cidr_parsing_is_strict_for_subnets() {
        let c = Cidr::parse("198.18.1.0/24", true).unwrap();
        assert_eq!((c.network(), c.broadcast()), (ip("198.18.1.0"), ip("198.18.1.255")));
        assert!(Cidr::parse("198.18.1.5/24", true).unwrap_err().contains("host bits"));
        assert!(Cidr::parse("198.18.1.5/24", false).is_ok());
        assert!(Cidr::parse("198.18.1.0", true).is_err());
        assert!(Cidr::parse("198.18.1.0/33", true).is_err());
        assert!(Cidr::parse("198.18.1/24", true).is_err());
        assert!(Cidr::parse("0.0.0.0/0", true).unwrap().contains(ip("198.18.0.1")));
        let a = Cidr::parse("198.18.0.0/16", true).unwrap();
        assert!(a.overlaps(&c) && c.overlaps(&a));
        assert!(!c.overlaps(&Cidr::parse("198.18.2.0/24", true).unwrap()));
    }

    #[test]
    fn address_plan_defaults_and_errors_name_the_field() {
        let p = AddressPlan::new("198.18.1.0/24", Some(ip("198.18.1.1")), None, None).unwrap();
        assert_eq!((p.start, p.end), (ip("198.18.1.1"), ip("198.18.1.254")));
        let e = |r: Result<AddressPlan, PlanError>| r.unwrap_err().field;
        assert_eq!(e(AddressPlan::new("198.18.1.0/33", None, None, None)), "cidr");
        assert_eq!(e(AddressPlan::new("198.18.1.0/31", None, None, None)), "cidr");
        assert_eq!(e(AddressPlan::new("198.18.1.0/24", Some(ip("198.18.2.1")), None, None)), "gateway");
        assert_eq!(e(AddressPlan::new("198.18.1.0/24", Some(ip("198.18.1.255")), None, None)), "gateway");
        assert_eq!(
            e(AddressPlan::new("198.18.1.0/24", None, Some(ip("198.18.0.9")), None)),
            "allocated_start"
        );
        assert_eq!(e(AddressPlan::new("198.18.1.0/24", None, None, Some(ip("198.18.9.9")))), "allocated_end");
        assert_eq!(
            e(AddressPlan::new("198.18.1.0/24", None, Some(ip("198.18.1.50")), Some(ip("198.18.1.40")))),
            "allocated_end"
        );
    }

    #[test]
    fn ip_allocation_skips_gateway_and_taken_addresses() {
        let p = AddressPlan::new("198.18.1.0/29", Some(ip("198.18.1.1")), None, None).unwrap();
        let mut taken = BTreeSet::new();
        let mut got = Vec::new();
        while let Some(a) = p.first_free(&taken) {
            taken.insert(u32::from(a));
            got.push(a.to_string());
        }
        assert_eq!(got, ["198.18.1.2", "198.18.1.3", "198.18.1.4", "198.18.1.5", "198.18.1.6"]);
        assert!(p.refuse_port_ip(ip("198.18.1.1")).unwrap().contains("gateway"));
        assert!(p.refuse_port_ip(ip("198.18.1.7")).unwrap().contains("outside"));
        assert!(p.refuse_port_ip(ip("198.18.1.6")).is_none());
    }

    #[test]
    fn macs_are_normalized_and_checked() {
        assert_eq!(normalize_mac("AA-bb-CC-00-11-22").unwrap(), "aa:bb:cc:00:11:22");
        assert!(normalize_mac("01:00:5e:00:00:01").unwrap_err().contains("multicast"));
        assert!(normalize_mac("aa:bb:cc:00:11").is_err());
        assert!(normalize_mac("aa:bb:cc:00:11:2").is_err());
        assert!(normalize_mac("aa:bb:cc:00:11:zz").is_err());
        let m = random_mac();
        assert_eq!(normalize_mac(&m).unwrap(), m);
        assert_eq!(u8::from_str_radix(&m[..2], 16).unwrap() & 3, 2, "local, unicast");
    }

    #[test]
    fn ids_and_uuids() {
        let u = new_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "1", "version 1: {u}");
        assert_ne!(u, new_uuid());
        assert!(check_id(&u).is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("a\nb").is_err());
        assert!(check_id(&"x".repeat(256)).is_err());
        assert!(
            wildcard_matches("%", "br0") && wildcard_matches("br0", "br0") && !wildcard_matches("br1", "br0")
        );
    }

    proptest! {
        #[test]
        fn first_free_is_the_smallest_untaken_value(
            ranges in proptest::collection::vec((1u32..200, 0u32..20), 1..4),
            taken in proptest::collection::btree_set(1u32..230, 0..60),
        ) {
            let ranges: Vec<TagRange> = ranges.into_iter().map(|(s, l)| (s, s + l)).collect();
            let brute = (1..=230).find(|v| in_ranges(&ranges, *v) && !taken.contains(v));
            prop_assert_eq!(first_free(&ranges, &taken), brute);
        }

        #[test]
        fn allocated_addresses_always_obey_the_plan(start in 1u32..100, len in 0u32..100, gw in 1u32..254,
                taken in proptest::collection::btree_set(0u32..256, 0..50)) {
            let net = u32::from(ip("198.18.3.0"));
            let end = (start + len).min(254);
            let plan = AddressPlan::new("198.18.3.0/24", Some(Ipv4Addr::from(net + gw)),
                Some(Ipv4Addr::from(net + start)), Some(Ipv4Addr::from(net + end))).unwrap();
            let taken: BTreeSet<u32> = taken.into_iter().map(|t| net + t).collect();
            match plan.first_free(&taken) {
                Some(a) => {
                    prop_assert!(plan.refuse_port_ip(a).is_none());
                    prop_assert!(!taken.contains(&u32::from(a)));
                }
                None => prop_assert!((start..=end).all(|v| v == gw || taken.contains(&(net + v)))),
            }
        }
    }
}
