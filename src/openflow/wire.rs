//! Checked big-endian reading and length-patching writing, shared by every message family.
//!
//! Decoding goes through [`Reader`], which never indexes out of bounds: each read checks the
//! remaining length and returns [`DecodeError::Truncated`] naming the structure being read.
//! Encoding appends to a `Vec<u8>` through [`bytes::BufMut`] and is infallible; lengths that are
//! only known at the end are written as a placeholder and patched with [`patch_u16`].

use bytes::BufMut;
use thiserror::Error;

/// Why a byte sequence is not a valid OpenFlow structure.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Fewer bytes than the structure needs.
    #[error("truncated {what}: need {need} bytes, have {have}")]
    Truncated {
        /// The structure being decoded.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A length field is impossible (below the fixed part, not aligned, or past the end).
    #[error("bad length {len} in {what}")]
    BadLength {
        /// The structure whose length field is wrong.
        what: &'static str,
        /// The length found on the wire.
        len: usize,
    },
    /// The header announces a protocol version this codec does not decode bodies for.
    #[error("unsupported OpenFlow version {0:#04x}")]
    UnsupportedVersion(u8),
    /// Padding or reserved bytes that are not zero (the encoder could not reproduce them).
    #[error("non-zero padding in {0}")]
    NonZeroPadding(&'static str),
    /// A match structure of a type other than OFPMT_OXM.
    #[error("unsupported match type {0}")]
    BadMatchType(u16),
}

/// A bounds-checked cursor over a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`; `what` names the structure in truncation errors.
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, what }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Everything not read yet (consumes it).
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// Look at the next `n` bytes without consuming them.
    pub(crate) fn peek(&self, n: usize) -> Result<&'a [u8], DecodeError> {
        self.buf.get(..n).ok_or(DecodeError::Truncated { what: self.what, need: n, have: self.buf.len() })
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let head = self.peek(n)?;
        self.buf = &self.buf[n..];
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Split off the next `n` bytes as their own reader named `what`.
    pub(crate) fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, DecodeError> {
        Ok(Reader::new(self.bytes(n)?, what))
    }

    /// Consume `n` padding bytes, which must be zero.
    pub(crate) fn zeros(&mut self, n: usize) -> Result<(), DecodeError> {
        if self.pad(n)? { Ok(()) } else { Err(DecodeError::NonZeroPadding(self.what)) }
    }

    /// Skip `n` padding bytes, reporting whether they were all zero.
    pub(crate) fn pad(&mut self, n: usize) -> Result<bool, DecodeError> {
        Ok(self.bytes(n)?.iter().all(|b| *b == 0))
    }
}

/// Overwrite the big-endian u16 at `at` (a length placeholder written earlier).
pub(crate) fn patch_u16(buf: &mut [u8], at: usize, value: usize) {
    let v = u16::try_from(value).unwrap_or(u16::MAX);
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Append zeros until `buf.len() - start` is a multiple of 8.
pub(crate) fn pad_to_8(buf: &mut Vec<u8>, start: usize) {
    let len = buf.len() - start;
    buf.put_bytes(0, (8 - len % 8) % 8);
}

/// Bytes of padding that bring `len` to a multiple of 8.
pub(crate) fn pad8(len: usize) -> usize {
    (8 - len % 8) % 8
}

/// A fixed-size, NUL-padded string field (port names, description strings), kept byte-exact.
pub(crate) fn fixed_str(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    std::str::from_utf8(&bytes[..end]).unwrap_or("")
}

/// Encode `s` into an `N`-byte NUL-padded field, truncating so a NUL always remains.
pub(crate) fn to_fixed<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let n = s.len().min(N.saturating_sub(1));
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_truncation_instead_of_panicking() {
        let mut r = Reader::new(&[1, 2, 3], "thing");
        assert_eq!(r.u16(), Ok(0x0102));
        assert_eq!(r.u32(), Err(DecodeError::Truncated { what: "thing", need: 4, have: 1 }));
        assert_eq!(r.u8(), Ok(3));
        assert!(r.is_empty());
    }

    #[test]
    fn fixed_strings_round_trip() {
        let f: [u8; 16] = to_fixed("br-int");
        assert_eq!(fixed_str(&f), "br-int");
        let long: [u8; 4] = to_fixed("abcdef");
        assert_eq!(&long, b"abc\0");
    }
}
