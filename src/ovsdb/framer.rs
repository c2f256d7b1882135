//! Streaming JSON framer: bytes from a stream in, whole JSON-RPC messages out.
//!
//! OVSDB (RFC 7047 §4) sends JSON objects back to back with no length prefix. [`Framer`] keeps
//! the bytes it has been given, scans them once (tracking strings, escapes and nesting) and
//! hands back each complete top-level object as a parsed [`serde_json::Value`]. A message split
//! over many reads and many messages in one read are both fine.
//!
//! Limits are explicit ([`Limits`]): a message larger than `max_message` bytes or nested deeper
//! than `max_depth` is an error, not unbounded memory. Errors are final: the peer is out of sync
//! and the connection should be closed; the framer drops its buffer.
//!
//! ```
//! use vlcp::ovsdb::framer::Framer;
//! let mut f = Framer::default();
//! f.push(br#"{"id":1,"res"#);
//! assert!(f.next_message().unwrap().is_none());
//! f.push(br#"ult":[]} {"id":2}"#);
//! assert_eq!(f.next_message().unwrap().unwrap()["id"], 1);
//! assert_eq!(f.next_message().unwrap().unwrap()["id"], 2);
//! ```

use serde_json::Value;

/// Size and nesting caps of a [`Framer`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted message in bytes (VLCP's `messageLimit` default: 16 MiB).
    pub max_message: usize,
    /// Deepest accepted nesting of objects and arrays.
    pub max_depth: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_message: 16 << 20, max_depth: 64 }
    }
}

/// Why the byte stream could not be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A message grew past [`Limits::max_message`].
    #[error("message exceeds {limit} bytes")]
    TooLarge {
        /// The configured cap.
        limit: usize,
    },
    /// Nesting went past [`Limits::max_depth`].
    #[error("message nested deeper than {limit} levels")]
    TooDeep {
        /// The configured cap.
        limit: u32,
    },
    /// Something other than whitespace or `{` between messages.
    #[error("unexpected byte 0x{byte:02x} at offset {offset} between messages (expected '{{')")]
    UnexpectedByte {
        /// The offending byte.
        byte: u8,
        /// Offset in the stream since the framer was created.
        offset: u64,
    },
    /// The framed bytes were not valid JSON.
    #[error("invalid JSON message: {0}")]
    Json(String),
}

/// Incremental splitter of a JSON object stream; see the module docs.
#[derive(Debug, Default)]
pub struct Framer {
    limits: Limits,
    buf: Vec<u8>,
    /// Start of the message being scanned (index into `buf`), valid when `depth > 0`.
    start: usize,
    /// Next byte to scan.
    pos: usize,
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// Bytes dropped from the front of `buf` so far (for error offsets).
    consumed: u64,
}

impl Framer {
    /// A framer with the given caps.
    pub fn new(limits: Limits) -> Framer {
        Framer { limits, ..Framer::default() }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet returned as messages.
    pub fn buffered(&self) -> usize {
        self.buf.len() - if self.depth > 0 { self.start } else { self.pos }
    }

    /// True if the buffer holds part of an unfinished message (a truncated stream at EOF).
    pub fn is_mid_message(&self) -> bool {
        self.depth > 0
    }

    /// Returns the next complete message, `Ok(None)` if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Value>, FrameError> {
        let r = self.scan();
        if r.is_err() {
            self.buf = Vec::new();
            self.pos = 0;
            self.start = 0;
            self.depth = 0;
            self.in_string = false;
            self.escaped = false;
        }
        r
    }

    fn scan(&mut self) -> Result<Option<Value>, FrameError> {
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            let offset = self.consumed + self.pos as u64;
            if self.depth == 0 {
                match b {
                    b' ' | b'\t' | b'\r' | b'\n' => {}
                    b'{' => {
                        self.start = self.pos;
                        self.depth = 1;
                    }
                    _ => return Err(FrameError::UnexpectedByte { byte: b, offset }),
                }
                self.pos += 1;
                continue;
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => {
                        self.depth += 1;
                        if self.depth > self.limits.max_depth {
                            return Err(FrameError::TooDeep { limit: self.limits.max_depth });
                        }
                    }
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            let end = self.pos + 1;
                            let msg = serde_json::from_slice::<Value>(&self.buf[self.start..end])
                                .map_err(|e| FrameError::Json(e.to_string()))?;
                            self.pos = end;
                            self.compact();
                            return Ok(Some(msg));
                        }
                    }
                    _ => {}
                }
            }
            self.pos += 1;
            if self.pos - self.start > self.limits.max_message {
                return Err(FrameError::TooLarge { limit: self.limits.max_message });
            }
        }
        if self.depth == 0 {
            self.compact();
        }
        Ok(None)
    }

    /// Drops scanned bytes that belong to no pending message.
    fn compact(&mut self) {
        let keep_from = if self.depth > 0 { self.start } else { self.pos };
        if keep_from == self.buf.len() {
            self.consumed += keep_from as u64;
            self.buf.clear();
            self.pos = 0;
            self.start = 0;
        } else if keep_from > 4096 && keep_from * 2 > self.buf.len() {
            self.buf.drain(..keep_from);
            self.consumed += keep_from as u64;
            self.pos -= keep_from;
            self.start -= keep_from.min(self.start);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(f: &mut Framer) -> Result<Vec<Value>, FrameError> {
        let mut out = Vec::new();
        while let Some(v) = f.next_message()? {
            out.push(v);
        }
        Ok(out)
    }

    #[test]
    fn split_at_every_byte() {
        let stream = br#" {"a":"}{\"\\","b":[1,{"c":[]}]}
{"id":null,"method":"update","params":["x",{"T":{}}]}{"z":"\u00e9"}"#;
        for cut in 0..stream.len() {
            let mut f = Framer::default();
            f.push(&stream[..cut]);
            let mut got = all(&mut f).unwrap();
            f.push(&stream[cut..]);
            got.extend(all(&mut f).unwrap());
            assert_eq!(got.len(), 3, "cut at {cut}");
            assert_eq!(got[0]["a"], "}{\"\\");
            assert_eq!(got[1]["method"], "update");
            assert_eq!(got[2]["z"], "é");
            assert!(!f.is_mid_message());
        }
    }

    #[test]
    fn byte_by_byte() {
        let stream = br#"{"x":[1,2,3]}{"x":[4]}"#;
        let mut f = Framer::default();
        let mut n = 0;
        for b in stream {
            f.push(&[*b]);
            n += all(&mut f).unwrap().len();
        }
        assert_eq!(n, 2);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn caps_and_garbage() {
        let mut f = Framer::new(Limits { max_message: 16, max_depth: 3 });
        f.push(br#"{"aaaaaaaaaaaaaaaaaaaaa":1}"#);
        assert_eq!(f.next_message(), Err(FrameError::TooLarge { limit: 16 }));
        let mut f = Framer::new(Limits { max_message: 1000, max_depth: 3 });
        f.push(b"{[[[1]]]}");
        assert_eq!(f.next_message(), Err(FrameError::TooDeep { limit: 3 }));
        let mut f = Framer::default();
        f.push(b"{} x");
        assert!(f.next_message().unwrap().is_some());
        assert_eq!(f.next_message(), Err(FrameError::UnexpectedByte { byte: b'x', offset: 3 }));
        let mut f = Framer::default();
        f.push(b"{\"a\":tru}");
        assert!(matches!(f.next_message(), Err(FrameError::Json(_))));
        let mut f = Framer::default();
        f.push(b"{\"a\":[}}");
        assert!(matches!(f.next_message(), Err(FrameError::Json(_))));
        let mut f = Framer::default();
        f.push(b"{\"a\":");
        assert_eq!(f.next_message(), Ok(None));
        assert!(f.is_mid_message());
    }
}
