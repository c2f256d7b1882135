//! The recursive-descent reader behind [`parse`]: one pass over the text, no tokens kept, no
//! evaluation. Whitespace rules follow Python's tokenizer: newlines are insignificant inside
//! brackets, a `\` at the end of a line joins it with the next, `#` starts a comment.

use super::{Limits, LiteralError, LiteralErrorKind as K, Value};

/// Parses one Python literal with the default [`Limits`].
pub fn parse(src: &str) -> Result<Value, LiteralError> {
    parse_with(src, Limits::default())
}

/// Parses one Python literal with explicit limits.
pub fn parse_with(src: &str, limits: Limits) -> Result<Value, LiteralError> {
    let mut p = Parser { src, pos: 0, depth: 0, limits };
    if src.len() > limits.max_len {
        return Err(p.err_at(0, K::TooLong { len: src.len(), max: limits.max_len }));
    }
    p.skip_blank(true);
    if p.at_end() {
        return Err(p.err(K::Empty));
    }
    let value = p.value()?;
    p.skip_blank(true);
    match p.peek() {
        None => Ok(value),
        Some(_) => Err(p.err(K::TrailingInput { found: p.describe_here() })),
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    /// Open containers around the current position; newlines are whitespace when > 0.
    depth: usize,
    limits: Limits,
}

const VALUE: &str = "a literal (number, string, True/False/None, [, (, {)";

impl<'a> Parser<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.bytes().get(self.pos + n).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn err(&self, kind: K) -> LiteralError {
        self.err_at(self.pos, kind)
    }

    fn err_at(&self, offset: usize, kind: K) -> LiteralError {
        let offset = offset.min(self.src.len());
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        LiteralError { offset, line, column, kind }
    }

    /// A short description of the text at the cursor, for "unexpected …" messages.
    fn describe_here(&self) -> String {
        match self.src[self.pos..].chars().next() {
            None => "end of value".into(),
            Some('\n') => "newline (a value continues past a line only inside brackets or after `\\`)".into(),
            Some(c) if c.is_alphabetic() || c == '_' => {
                let word: String =
                    self.src[self.pos..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                format!("`{word}`")
            }
            Some(c) => format!("{c:?}"),
        }
    }

    fn unexpected(&self, expected: &'static str) -> LiteralError {
        if self.at_end() {
            self.err(K::UnexpectedEnd { expected })
        } else {
            self.err(K::Unexpected { found: self.describe_here(), expected })
        }
    }

    /// Skips spaces, tabs, form feeds, comments and backslash-newline joins; newlines too when
    /// `newlines` is set (inside brackets, and around the whole value).
    fn skip_blank(&mut self, newlines: bool) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\x0c' => self.pos += 1,
                b'\r' | b'\n' if newlines => self.pos += 1,
                b'\\' if matches!(self.peek_at(1), Some(b'\n')) => self.pos += 2,
                b'\\' if self.peek_at(1) == Some(b'\r') && self.peek_at(2) == Some(b'\n') => self.pos += 3,
                b'#' => {
                    while let Some(c) = self.peek() {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn skip_ws(&mut self) {
        self.skip_blank(self.depth > 0);
    }

    fn value(&mut self) -> Result<Value, LiteralError> {
        match self.peek() {
            None => Err(self.unexpected(VALUE)),
            Some(b'[') => self.list(),
            Some(b'(') => self.paren(),
            Some(b'{') => self.brace(),
            Some(b'\'' | b'"') => self.strings(),
            Some(b'-' | b'+') => {
                let start = self.pos;
                let negative = self.peek() == Some(b'-');
                self.pos += 1;
                self.skip_ws();
                match self.peek() {
                    Some(b'0'..=b'9' | b'.') => self.number(Some((start, negative))),
                    _ => Err(self.unexpected("a number after the sign")),
                }
            }
            Some(b'0'..=b'9') => self.number(None),
            Some(b'.') if matches!(self.peek_at(1), Some(b'0'..=b'9')) => self.number(None),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => self.name(),
            Some(_) => Err(self.unexpected(VALUE)),
        }
    }

    fn enter(&mut self) -> Result<(), LiteralError> {
        self.depth += 1;
        if self.depth > self.limits.max_depth {
            return Err(self.err(K::TooDeep { max: self.limits.max_depth }));
        }
        self.pos += 1; // the opening bracket
        Ok(())
    }

    /// Reads `item (, item)* [,] close` after the opening bracket; returns the items and
    /// whether a comma was seen (to tell `(x)` from `(x,)`).
    fn items(&mut self, close: u8, expected: &'static str) -> Result<(Vec<Value>, bool), LiteralError> {
        let mut items = Vec::new();
        let mut comma = false;
        loop {
            self.skip_ws();
            if self.peek() == Some(close) {
                break;
            }
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    comma = true;
                    self.pos += 1;
                }
                Some(c) if c == close => break,
                _ => return Err(self.unexpected(expected)),
            }
        }
        self.pos += 1; // the closing bracket
        self.depth -= 1;
        Ok((items, comma))
    }

    fn list(&mut self) -> Result<Value, LiteralError> {
        self.enter()?;
        Ok(Value::List(self.items(b']', "',' or ']'")?.0))
    }

    fn paren(&mut self) -> Result<Value, LiteralError> {
        self.enter()?;
        let (mut items, comma) = self.items(b')', "',' or ')'")?;
        if items.len() == 1 && !comma {
            return Ok(items.pop().unwrap_or(Value::None));
        }
        Ok(Value::Tuple(items))
    }

    fn hashable(&self, v: &Value, at: usize) -> Result<(), LiteralError> {
        match v.unhashable() {
            Some(kind) => Err(self.err_at(at, K::Unhashable { kind })),
            None => Ok(()),
        }
    }

    fn brace(&mut self) -> Result<Value, LiteralError> {
        self.enter()?;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Dict(Vec::new()));
        }
        let at = self.pos;
        let first = self.value()?;
        self.hashable(&first, at)?;
        self.skip_ws();
        if self.peek() == Some(b':') { self.dict_rest(first) } else { self.set_rest(first) }
    }

    fn dict_rest(&mut self, first_key: Value) -> Result<Value, LiteralError> {
        let mut entries: Vec<(Value, Value)> = Vec::new();
        let mut key = first_key;
        loop {
            // At ':' after `key`.
            self.pos += 1;
            self.skip_ws();
            let v = self.value()?;
            match entries.iter_mut().find(|(k, _)| k.key_eq(&key)) {
                Some(slot) => slot.1 = v,
                None => entries.push((key, v)),
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => break,
                _ => return Err(self.unexpected("',' or '}'")),
            }
            self.skip_ws();
            if self.peek() == Some(b'}') {
                break;
            }
            let at = self.pos;
            key = self.value()?;
            self.hashable(&key, at)?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.unexpected("':' after the dict key"));
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(Value::Dict(entries))
    }

    fn set_rest(&mut self, first: Value) -> Result<Value, LiteralError> {
        let mut members = vec![first];
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => break,
                _ => return Err(self.unexpected("',' or '}' (or ':' for a dict)")),
            }
            self.skip_ws();
            if self.peek() == Some(b'}') {
                break;
            }
            let at = self.pos;
            let v = self.value()?;
            self.hashable(&v, at)?;
            if !members.iter().any(|m| m.key_eq(&v)) {
                members.push(v);
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(Value::Set(members))
    }

    fn name(&mut self) -> Result<Value, LiteralError> {
        let start = self.pos;
        let word: &str = {
            let rest = &self.src[start..];
            let len = rest
                .char_indices()
                .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
                .map_or(rest.len(), |(i, _)| i);
            &rest[..len]
        };
        // String prefixes: r, u, b, rb, br in any case, directly followed by a quote.
        let after = self.bytes().get(start + word.len()).copied();
        if matches!(after, Some(b'\'' | b'"'))
            && matches!(word.to_ascii_lowercase().as_str(), "r" | "u" | "b" | "rb" | "br")
        {
            return self.strings();
        }
        if word.is_empty() {
            return Err(self.unexpected(VALUE));
        }
        self.pos += word.len();
        match word {
            "True" => Ok(Value::Bool(true)),
            "False" => Ok(Value::Bool(false)),
            "None" => Ok(Value::None),
            "set" => {
                let save = self.pos;
                self.skip_ws();
                if self.peek() == Some(b'(') {
                    self.pos += 1;
                    self.skip_blank(true);
                    if self.peek() == Some(b')') {
                        self.pos += 1;
                        return Ok(Value::Set(Vec::new()));
                    }
                }
                self.pos = save;
                Err(self.err_at(start, K::NotALiteral { name: "set(...) with arguments".into() }))
            }
            _ => Err(self.err_at(start, K::NotALiteral { name: word.to_string() })),
        }
    }

    /// One or more adjacent string literals, concatenated (`'a' "b"` is `'ab'`).
    fn strings(&mut self) -> Result<Value, LiteralError> {
        let start = self.pos;
        let (mut is_bytes, mut acc) = self.one_string()?;
        loop {
            let save = self.pos;
            self.skip_ws();
            let next_is_string = match self.peek() {
                Some(b'\'' | b'"') => true,
                Some(c) if c.is_ascii_alphabetic() => {
                    let rest = &self.bytes()[self.pos..];
                    let n = rest.iter().take_while(|c| c.is_ascii_alphabetic()).count();
                    n <= 2
                        && matches!(rest.get(n), Some(b'\'' | b'"'))
                        && matches!(
                            std::str::from_utf8(&rest[..n]).map(|s| s.to_ascii_lowercase()).as_deref(),
                            Ok("r" | "u" | "b" | "rb" | "br")
                        )
                }
                _ => false,
            };
            if !next_is_string {
                self.pos = save;
                break;
            }
            let (b, more) = self.one_string()?;
            if b != is_bytes {
                return Err(self.err_at(start, K::MixedBytesAndStr));
            }
            is_bytes = b;
            acc.extend_from_slice(&more);
        }
        if is_bytes {
            Ok(Value::Bytes(acc))
        } else {
            // Built from `&str` pieces and `char`s, so always valid UTF-8.
            String::from_utf8(acc)
                .map(Value::Str)
                .map_err(|_| self.err_at(start, K::InvalidEscape { detail: "not UTF-8" }))
        }
    }

    /// Reads one (prefixed) string literal; returns (is_bytes, content bytes).
    fn one_string(&mut self) -> Result<(bool, Vec<u8>), LiteralError> {
        let mut raw = false;
        let mut is_bytes = false;
        while let Some(c) = self.peek() {
            match c.to_ascii_lowercase() {
                b'r' => raw = true,
                b'b' => is_bytes = true,
                b'u' => {}
                _ => break,
            }
            self.pos += 1;
        }
        let start = self.pos;
        let quote = self.peek().unwrap_or(b'\'');
        let triple = self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        let mut out = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err_at(start, K::UnterminatedString));
            };
            if c == quote {
                if !triple {
                    self.pos += 1;
                    return Ok((is_bytes, out));
                }
                if self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote) {
                    self.pos += 3;
                    return Ok((is_bytes, out));
                }
            }
            if c == b'\n' && !triple {
                return Err(self.err_at(start, K::UnterminatedString));
            }
            if c == b'\\' {
                self.escape(raw, is_bytes, &mut out)?;
                continue;
            }
            let ch = self.src[self.pos..].chars().next().unwrap_or('\0');
            if is_bytes && !ch.is_ascii() {
                return Err(self.err(K::NonAsciiInBytes));
            }
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            self.pos += ch.len_utf8();
        }
    }

    /// Reads the escape at the cursor (a backslash) into `out`.
    fn escape(&mut self, raw: bool, is_bytes: bool, out: &mut Vec<u8>) -> Result<(), LiteralError> {
        let at = self.pos;
        let Some(next) = self.peek_at(1) else {
            return Err(self.err(K::UnterminatedString));
        };
        if raw {
            // In raw strings a backslash only protects the next character from ending the string.
            out.push(b'\\');
            self.pos += 1;
            if next == b'\\' || next == b'\'' || next == b'"' {
                out.push(next);
                self.pos += 1;
            }
            return Ok(());
        }
        self.pos += 2;
        let simple = match next {
            b'\n' => Some(None),
            b'\\' => Some(Some(b'\\')),
            b'\'' => Some(Some(b'\'')),
            b'"' => Some(Some(b'"')),
            b'a' => Some(Some(0x07)),
            b'b' => Some(Some(0x08)),
            b'f' => Some(Some(0x0c)),
            b'n' => Some(Some(b'\n')),
            b'r' => Some(Some(b'\r')),
            b't' => Some(Some(b'\t')),
            b'v' => Some(Some(0x0b)),
            _ => None,
        };
        if let Some(byte) = simple {
            out.extend(byte);
            return Ok(());
        }
        let push_char = |out: &mut Vec<u8>, code: u32, p: &Self| -> Result<(), LiteralError> {
            if is_bytes {
                // Only \x and octal reach here for bytes; both are ≤ 0x1ff, and Python caps at 0xff.
                let b = u8::try_from(code)
                    .map_err(|_| p.err_at(at, K::InvalidEscape { detail: "octal escape above \\377" }))?;
                out.push(b);
            } else {
                let ch = char::from_u32(code)
                    .ok_or_else(|| p.err_at(at, K::InvalidEscape { detail: "not a Unicode scalar value" }))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            Ok(())
        };
        match next {
            b'0'..=b'7' => {
                let mut code = u32::from(next - b'0');
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ b'0'..=b'7') => {
                            code = code * 8 + u32::from(d - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                push_char(out, code, self)
            }
            b'x' => {
                let code = self.hex_digits(2, at, "\\x needs two hex digits")?;
                push_char(out, code, self)
            }
            b'u' | b'U' if !is_bytes => {
                let n = if next == b'u' { 4 } else { 8 };
                let detail = if n == 4 { "\\u needs four hex digits" } else { "\\U needs eight hex digits" };
                let code = self.hex_digits(n, at, detail)?;
                push_char(out, code, self)
            }
            b'N' if !is_bytes => {
                Err(self.err_at(at, K::InvalidEscape { detail: "\\N{...} names are not supported" }))
            }
            b'\r' if self.peek() == Some(b'\n') => {
                self.pos += 1;
                Ok(())
            }
            _ => {
                // Python keeps unknown escapes as written (backslash included).
                self.pos = at + 1;
                out.push(b'\\');
                Ok(())
            }
        }
    }

    fn hex_digits(&mut self, n: usize, at: usize, detail: &'static str) -> Result<u32, LiteralError> {
        let digits = self.bytes().get(self.pos..self.pos + n).filter(|d| d.iter().all(u8::is_ascii_hexdigit));
        let Some(digits) = digits else {
            return Err(self.err_at(at, K::InvalidEscape { detail }));
        };
        let text = std::str::from_utf8(digits).unwrap_or("0");
        let code = u32::from_str_radix(text, 16).map_err(|_| self.err_at(at, K::InvalidEscape { detail }))?;
        self.pos += n;
        Ok(code)
    }

    /// Reads a number; `sign` is (offset of the sign, negative) when one was consumed.
    fn number(&mut self, sign: Option<(usize, bool)>) -> Result<Value, LiteralError> {
        let start = self.pos;
        let err_start = sign.map_or(start, |(s, _)| s);
        let negative = sign.is_some_and(|(_, n)| n);
        let b = self.bytes();
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_' || b[end] == b'.') {
            // An exponent sign belongs to the number: 1e-5.
            if matches!(b[end], b'e' | b'E')
                && !b[start..].starts_with(b"0x")
                && !b[start..].starts_with(b"0X")
                && matches!(b.get(end + 1), Some(b'+' | b'-'))
            {
                end += 2;
                continue;
            }
            end += 1;
        }
        let text = &self.src[start..end];
        self.pos = end;
        let full = || self.src[err_start..end].to_string();
        let invalid = |detail| self.err_at(err_start, K::InvalidNumber { text: full(), detail });
        if text.ends_with(['j', 'J']) {
            return Err(invalid("complex numbers are not supported"));
        }
        if text.starts_with('_') || text.ends_with('_') || text.contains("__") {
            return Err(invalid("misplaced '_'"));
        }
        let lower = text.to_ascii_lowercase();
        let (radix, digits) = match lower.get(..2) {
            Some("0x") => (16, &lower[2..]),
            Some("0o") => (8, &lower[2..]),
            Some("0b") => (2, &lower[2..]),
            _ => (10, lower.as_str()),
        };
        let clean: String = digits.trim_start_matches('_').chars().filter(|c| *c != '_').collect();
        if radix != 10 || !clean.contains(['.', 'e']) {
            if clean.is_empty() || !clean.chars().all(|c| c.is_digit(radix)) {
                return Err(invalid("not a valid integer"));
            }
            if radix == 10 && clean.len() > 1 && clean.starts_with('0') && clean.chars().any(|c| c != '0') {
                return Err(invalid("leading zeros are not allowed (use 0o for octal)"));
            }
            let magnitude = u128::from_str_radix(&clean, radix).ok();
            let value = magnitude.and_then(|m| {
                let m = i128::try_from(m).ok()?;
                i64::try_from(if negative { -m } else { m }).ok()
            });
            return value
                .map(Value::Int)
                .ok_or_else(|| self.err_at(err_start, K::IntegerOutOfRange { text: full() }));
        }
        // Decimal float: digits [. digits] [e [+-] digits], with at least one digit before the e.
        let (mantissa, exponent) = match clean.split_once('e') {
            Some((m, e)) => (m, Some(e)),
            None => (clean.as_str(), None),
        };
        let mantissa_ok = mantissa.chars().filter(|c| *c == '.').count() <= 1
            && mantissa.chars().any(|c| c.is_ascii_digit())
            && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.');
        let exponent_ok = exponent.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
        });
        if !mantissa_ok || !exponent_ok {
            return Err(invalid("not a valid float"));
        }
        let x: f64 = clean.parse().map_err(|_| invalid("not a valid float"))?;
        Ok(Value::Float(if negative { -x } else { x }))
    }
}
