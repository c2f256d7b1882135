//! Ports (OpenFlow 1.3 §7.2.1), PORT_STATUS (§7.4.3) and PORT_MOD (§7.3.3).

use bytes::BufMut;

use super::switch::expect_end;
use crate::openflow::header::{PortNo, wire_enum};
use crate::openflow::wire::{DecodeError, Reader, fixed_str, to_fixed};

/// Size of `ofp_port`.
pub const PORT_LEN: usize = 64;

/// `ofp_port`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Port {
    /// Port number.
    pub port_no: PortNo,
    /// MAC address.
    pub hw_addr: [u8; 6],
    /// NUL-padded name, byte-exact (see [`Port::name`]).
    pub name: [u8; 16],
    /// `OFPPC_*` bits.
    pub config: u32,
    /// `OFPPS_*` bits (bit 0 = link down).
    pub state: u32,
    /// Current features.
    pub curr: u32,
    /// Advertised features.
    pub advertised: u32,
    /// Supported features.
    pub supported: u32,
    /// Peer-advertised features.
    pub peer: u32,
    /// Current bitrate in kbps.
    pub curr_speed: u32,
    /// Max bitrate in kbps.
    pub max_speed: u32,
}

impl Port {
    /// A port description with `name` (for tests and fake switches).
    pub fn new(port_no: PortNo, name: &str, hw_addr: [u8; 6]) -> Port {
        Port { port_no, hw_addr, name: to_fixed(name), ..Port::default() }
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        fixed_str(&self.name)
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u32(self.port_no.0);
        buf.put_u32(0);
        buf.extend_from_slice(&self.hw_addr);
        buf.put_u16(0);
        buf.extend_from_slice(&self.name);
        for w in [
            self.config,
            self.state,
            self.curr,
            self.advertised,
            self.supported,
            self.peer,
            self.curr_speed,
            self.max_speed,
        ] {
            buf.put_u32(w);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Port, DecodeError> {
        let port_no = PortNo(r.u32()?);
        r.zeros(4)?;
        let hw_addr = r.array()?;
        r.zeros(2)?;
        Ok(Port {
            port_no,
            hw_addr,
            name: r.array()?,
            config: r.u32()?,
            state: r.u32()?,
            curr: r.u32()?,
            advertised: r.u32()?,
            supported: r.u32()?,
            peer: r.u32()?,
            curr_speed: r.u32()?,
            max_speed: r.u32()?,
        })
    }
}

wire_enum! {
    /// `ofp_port_reason`.
    PortReason(u8) { ADD = 0, DELETE = 1, MODIFY = 2, }
}

/// PORT_STATUS: a port was added, removed or changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PortStatus {
    /// What happened.
    pub reason: PortReason,
    /// The port after the change.
    pub port: Port,
}

impl PortStatus {
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u8(self.reason.0);
        buf.put_bytes(0, 7);
        self.port.encode(buf);
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<PortStatus, DecodeError> {
        let reason = PortReason(r.u8()?);
        r.zeros(7)?;
        let port = Port::decode(&mut r)?;
        expect_end(&r, "ofp_port_status", 72)?;
        Ok(PortStatus { reason, port })
    }
}

/// PORT_MOD: change a port's administrative config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PortMod {
    /// Port to change.
    pub port_no: PortNo,
    /// Its MAC (a sanity check on the switch side).
    pub hw_addr: [u8; 6],
    /// New `OFPPC_*` bits.
    pub config: u32,
    /// Which config bits to change.
    pub mask: u32,
    /// Features to advertise (0 = unchanged).
    pub advertise: u32,
}

impl PortMod {
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u32(self.port_no.0);
        buf.put_u32(0);
        buf.extend_from_slice(&self.hw_addr);
        buf.put_u16(0);
        buf.put_u32(self.config);
        buf.put_u32(self.mask);
        buf.put_u32(self.advertise);
        buf.put_u32(0);
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<PortMod, DecodeError> {
        let port_no = PortNo(r.u32()?);
        r.zeros(4)?;
        let hw_addr = r.array()?;
        r.zeros(2)?;
        let m = PortMod { port_no, hw_addr, config: r.u32()?, mask: r.u32()?, advertise: r.u32()? };
        r.zeros(4)?;
        expect_end(&r, "ofp_port_mod", 32)?;
        Ok(m)
    }
}
