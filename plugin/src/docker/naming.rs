//! The names the plugin gives things, derived only from Docker's ids so that every step (and
//! `vlcp-cleanup`) can find them again without the KV store:
//!
//! | object | name |
//! |---|---|
//! | logical network | `docker-<NetworkID>-lognet` |
//! | subnet | `docker-<NetworkID>-subnet` |
//! | logical port, OVS `external_ids:iface-id` | `docker-<EndpointID>` |
//! | veth, container end | `<vethprefix><first hex chars of EndpointID>` (≤ 11 chars) |
//! | veth, host end (the OVS port) | the container end + `-tap` (≤ 15 chars, IFNAMSIZ) |
//!
//! MAC addresses Docker leaves to us are derived, not random (fixing the original's use of
//! Python's per-process randomised `hash()`): 32-bit FNV-1a of a stable string, shifted into
//! bytes 2..5 of `mactemplate` and XORed with the IPv4 address (see [`derive_mac`]).

use std::net::Ipv4Addr;

/// Longest Linux interface name (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;
/// Suffix of the host end of a veth pair (as the original, so old cleanup patterns still match).
pub const HOST_SUFFIX: &str = "-tap";
/// Fewest EndpointID characters kept in a veth name.
const MIN_ID_CHARS: usize = 6;

/// `docker-<nid>-lognet`.
pub fn lognet_id(network_id: &str) -> String {
    format!("docker-{network_id}-lognet")
}

/// `docker-<nid>-subnet`.
pub fn subnet_id(network_id: &str) -> String {
    format!("docker-{network_id}-subnet")
}

/// `docker-<eid>`: the logical port id and the OVS interface's `iface-id`.
pub fn port_id(endpoint_id: &str) -> String {
    format!("docker-{endpoint_id}")
}

/// The two ends of an endpoint's veth pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VethNames {
    /// Moved into the container by Docker (Join's `SrcName`), renamed `eth<N>` there.
    pub container: String,
    /// Stays on the host and is plugged into the OVS bridge.
    pub host: String,
}

impl VethNames {
    /// The names for `endpoint_id` with `prefix` (the prefix is cut so at least 6 id characters
    /// fit; characters not allowed in interface names are dropped).
    pub fn for_endpoint(prefix: &str, endpoint_id: &str) -> VethNames {
        let ok = |c: &char| c.is_ascii_alphanumeric() || *c == '_' || *c == '-';
        let budget = IFNAME_MAX - HOST_SUFFIX.len();
        let prefix: String = prefix.chars().filter(ok).take(budget - MIN_ID_CHARS).collect();
        let id: String = endpoint_id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .take(budget - prefix.len())
            .collect();
        let container = format!("{prefix}{id}");
        VethNames { host: format!("{container}{HOST_SUFFIX}"), container }
    }
}

/// The host an endpoint belongs to, recorded in its DockerInfo (`docker_host`) so that
/// `vlcp-cleanup` touches only its own host's ports in a shared store: the OVS `system-id` when
/// set, else `ovsdb:<uuid of the Open_vSwitch row>` (unique per OVS database, kept across
/// restarts). `None` until the OVSDB view is synced.
pub fn host_id(view: &vlcp::ovsdb::view::View) -> Option<String> {
    let root = view.open_vswitch.as_ref()?;
    Some(root.system_id.clone().unwrap_or_else(|| format!("ovsdb:{}", root.uuid)))
}

/// 32-bit FNV-1a: the stable hash behind derived MAC addresses.
pub fn fnv1a32(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Parses `aa:bb:cc:dd:ee:ff`; refuses multicast addresses (a port's address is unicast).
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let mut out = [0u8; 6];
    if parts.len() != 6 {
        return Err(format!("{s:?} is not a MAC address (six hex pairs)"));
    }
    for (o, p) in out.iter_mut().zip(&parts) {
        *o = (p.len() == 2)
            .then(|| u8::from_str_radix(p, 16).ok())
            .flatten()
            .ok_or_else(|| format!("{s:?} is not a MAC address (six hex pairs)"))?;
    }
    if out[0] & 1 == 1 {
        return Err(format!("{s} is a multicast address"));
    }
    Ok(out)
}

/// Lower-case colon form.
pub fn format_mac(b: &[u8; 6]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

/// The MAC of a port Docker gave no MAC: `template XOR (fnv1a32(subnet_id) << 8) XOR ip` when
/// the port has an address (distinct addresses of one subnet give distinct MACs), else
/// `template XOR (fnv1a32(port_id) << 8) XOR fnv1a32(port_id + "/mac")`. The first byte is the
/// template's (`02`: locally administered unicast).
pub fn derive_mac(
    template: [u8; 6],
    subnet_id: Option<&str>,
    ip: Option<Ipv4Addr>,
    port_id: &str,
) -> [u8; 6] {
    let (high, low) = match (subnet_id, ip) {
        (Some(s), Some(ip)) => (fnv1a32(s.as_bytes()), u32::from(ip)),
        _ => (fnv1a32(port_id.as_bytes()), fnv1a32(format!("{port_id}/mac").as_bytes())),
    };
    let mut t = [0u8; 8];
    t[2..].copy_from_slice(&template);
    let v = u64::from_be_bytes(t) ^ (u64::from(high) << 8) ^ u64::from(low);
    let mut out = [0u8; 6];
    out.copy_from_slice(&v.to_be_bytes()[2..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EID: &str = "fef0c71bc56fb890a1ab219be63a4043fd93ab9f7ca42c20704dc75c4574cb71";

    #[test]
    fn veth_names_fit_ifnamsiz_and_come_from_the_endpoint_id() {
        let n = VethNames::for_endpoint("vlcp", EID);
        assert_eq!(n.container, "vlcpfef0c71");
        assert_eq!(n.host, "vlcpfef0c71-tap");
        let long = VethNames::for_endpoint("averyveryverylongprefix", EID);
        assert!(long.host.len() <= IFNAME_MAX, "{long:?}");
        assert!(long.container.ends_with("fef0c7"), "{long:?}");
        let odd = VethNames::for_endpoint("v l/c", "AB-cd");
        assert_eq!(odd.container, "vlcabcd");
        assert_eq!(VethNames::for_endpoint("vlcp", EID), n, "deterministic");
    }

    #[test]
    fn derived_macs_are_stable_local_unicast_and_distinct_per_address() {
        let t = parse_mac("02:00:00:00:00:00").unwrap();
        let s = "docker-n1-subnet";
        let a = derive_mac(t, Some(s), Some("198.18.5.2".parse().unwrap()), "docker-e1");
        let b = derive_mac(t, Some(s), Some("198.18.5.3".parse().unwrap()), "docker-e2");
        assert_eq!(a[0], 0x02);
        assert_ne!(a, b);
        // Same subnet and address → same MAC, whatever the process (FNV is fixed).
        assert_eq!(a, derive_mac(t, Some(s), Some("198.18.5.2".parse().unwrap()), "docker-other"));
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        // Another subnet with the same address → another MAC.
        let c = derive_mac(t, Some("docker-n2-subnet"), Some("198.18.5.2".parse().unwrap()), "docker-e1");
        assert_ne!(a, c);
        // No address: from the port id, still stable.
        let d = derive_mac(t, None, None, "docker-e1");
        assert_eq!(d, derive_mac(t, None, None, "docker-e1"));
        assert_ne!(d, derive_mac(t, None, None, "docker-e2"));
        assert_eq!(format_mac(&d).len(), 17);
    }

    #[test]
    fn macs_parse_strictly() {
        assert_eq!(parse_mac("02:42:CE:3b:c0:ba").unwrap(), [2, 0x42, 0xce, 0x3b, 0xc0, 0xba]);
        assert!(parse_mac("01:00:5e:00:00:01").unwrap_err().contains("multicast"));
        assert!(parse_mac("02:00:00:00:00").is_err());
        assert!(parse_mac("02:00:00:00:00:zz").is_err());
    }
}
