//! HELLO (OpenFlow 1.3 §7.5.1) with its elements; the version bitmap drives negotiation.

use bytes::BufMut;

use crate::openflow::wire::{DecodeError, Reader, pad8};

/// `OFPHET_VERSIONBITMAP`.
pub const OFPHET_VERSIONBITMAP: u16 = 1;

/// One `ofp_hello_elem`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HelloElement {
    /// Bit `n` of the bitmap set = wire version `n` supported.
    VersionBitmap(Vec<u32>),
    /// Any other element, kept as-is.
    Unknown {
        /// Element type.
        elem_type: u16,
        /// Body without padding.
        body: Vec<u8>,
    },
}

/// HELLO body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Hello {
    /// Elements in wire order (OpenFlow 1.0 peers send none).
    pub elements: Vec<HelloElement>,
}

impl Hello {
    /// A HELLO advertising exactly `versions` through a version bitmap.
    pub fn with_versions(versions: &[u8]) -> Hello {
        let words = versions.iter().map(|v| usize::from(*v) / 32 + 1).max().unwrap_or(1);
        let mut bitmap = vec![0u32; words];
        for v in versions {
            bitmap[usize::from(*v) / 32] |= 1 << (v % 32);
        }
        Hello { elements: vec![HelloElement::VersionBitmap(bitmap)] }
    }

    /// Whether the peer's bitmap includes `version`; `None` when it sent no bitmap.
    pub fn supports(&self, version: u8) -> Option<bool> {
        self.elements.iter().find_map(|e| match e {
            HelloElement::VersionBitmap(words) => {
                Some(words.get(usize::from(version) / 32).is_some_and(|w| w & (1 << (version % 32)) != 0))
            }
            HelloElement::Unknown { .. } => None,
        })
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        for e in &self.elements {
            let (ty, len) = match e {
                HelloElement::VersionBitmap(w) => (OFPHET_VERSIONBITMAP, 4 + 4 * w.len()),
                HelloElement::Unknown { elem_type, body } => (*elem_type, 4 + body.len()),
            };
            buf.put_u16(ty);
            buf.put_u16(u16::try_from(len).unwrap_or(u16::MAX));
            match e {
                HelloElement::VersionBitmap(w) => w.iter().for_each(|x| buf.put_u32(*x)),
                HelloElement::Unknown { body, .. } => buf.extend_from_slice(body),
            }
            buf.put_bytes(0, pad8(len));
        }
    }

    pub(crate) fn decode(mut r: Reader<'_>) -> Result<Hello, DecodeError> {
        let mut elements = Vec::new();
        while !r.is_empty() {
            let ty = r.u16()?;
            let len = usize::from(r.u16()?);
            if len < 4 {
                return Err(DecodeError::BadLength { what: "ofp_hello_elem", len });
            }
            let mut body = r.sub(len - 4, "ofp_hello_elem")?;
            if !r.pad(pad8(len))? {
                return Err(DecodeError::BadLength { what: "ofp_hello_elem padding", len });
            }
            elements.push(if ty == OFPHET_VERSIONBITMAP && body.remaining() % 4 == 0 {
                let mut words = Vec::new();
                while !body.is_empty() {
                    words.push(body.u32()?);
                }
                HelloElement::VersionBitmap(words)
            } else {
                HelloElement::Unknown { elem_type: ty, body: body.rest().to_vec() }
            });
        }
        Ok(Hello { elements })
    }
}
