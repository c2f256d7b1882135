//! The `vlcp.conf` line grammar, as the original's `Manager.loadfromfile` reads it:
//!
//! - blank lines and lines whose first non-blank character is `#` are skipped (anywhere, also
//!   between the lines of a multi-line value);
//! - `key = value` starts an entry; the key is dot-separated names `[A-Za-z][A-Za-z0-9_]*` and must
//!   start in column 1;
//! - a line starting with whitespace continues the previous entry's value, which may therefore span
//!   lines inside brackets (or after a trailing `\`), like Python;
//! - the value is one Python literal ([`literal`](super::literal)); a `#` comment may follow it.
//!
//! Unlike the original, which stops at the first bad line, every problem is collected.

use super::diag::{Diagnostic, Problem};
use super::literal::{self, Value};

/// One `key = value` entry read from the file.
#[derive(Debug)]
pub(crate) struct RawEntry {
    pub key: String,
    pub line: usize,
    pub value: Value,
}

/// An entry whose value lines are still being collected.
struct Pending {
    key: String,
    line: usize,
    /// Column (0-based, in chars) where the value starts on the key line.
    value_column: usize,
    text: String,
    /// Source line number of each line in `text`.
    lines: Vec<usize>,
}

/// Reads the whole text; returns the entries in file order and every syntax problem found.
pub(crate) fn parse_text(text: &str) -> (Vec<RawEntry>, Vec<Diagnostic>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let mut pending: Option<Pending> = None;
    // After a bad key line, its indented continuation lines are skipped silently.
    let mut skipping = false;
    let mut seen_entry = false;
    for (index, raw_line) in text.split('\n').enumerate() {
        let number = index + 1;
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            match pending.as_mut() {
                Some(p) => {
                    p.text.push('\n');
                    p.text.push_str(line);
                    p.lines.push(number);
                }
                None if skipping => {}
                None if !seen_entry => {
                    problems.push(Diagnostic::error(Some(number), None, Problem::FirstLineIndented));
                    skipping = true;
                }
                None => {}
            }
            continue;
        }
        seen_entry = true;
        if let Some(p) = pending.take() {
            finish(p, &mut entries, &mut problems);
        }
        match split_key(line) {
            Some((key, value_start)) => {
                skipping = false;
                pending = Some(Pending {
                    key: key.to_string(),
                    line: number,
                    value_column: line[..value_start].chars().count(),
                    text: line[value_start..].to_string(),
                    lines: vec![number],
                });
            }
            None => {
                let shown: String = line.chars().take(80).collect();
                problems.push(Diagnostic::error(Some(number), None, Problem::BadLine { text: shown }));
                skipping = true;
            }
        }
    }
    if let Some(p) = pending.take() {
        finish(p, &mut entries, &mut problems);
    }
    (entries, problems)
}

/// Splits `key = value`: returns the key and the byte offset where the value starts.
fn split_key(line: &str) -> Option<(&str, usize)> {
    let b = line.as_bytes();
    let mut i = 0;
    loop {
        if !b.get(i).is_some_and(u8::is_ascii_alphabetic) {
            return None;
        }
        while b.get(i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            i += 1;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
        } else {
            break;
        }
    }
    let key_end = i;
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    if b.get(i) != Some(&b'=') {
        return None;
    }
    i += 1;
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    Some((&line[..key_end], i))
}

fn finish(p: Pending, entries: &mut Vec<RawEntry>, problems: &mut Vec<Diagnostic>) {
    match literal::parse(&p.text) {
        Ok(value) => entries.push(RawEntry { key: p.key, line: p.line, value }),
        Err(mut error) => {
            // Map the position inside the joined value back to the file.
            let line = p.lines.get(error.line - 1).copied().unwrap_or(p.line);
            if error.line == 1 {
                error.column += p.value_column;
            }
            error.line = line;
            problems.push(Diagnostic::error(Some(line), Some(&p.key), Problem::BadLiteral { error }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::literal::LiteralErrorKind;

    #[test]
    fn keys_values_comments_and_continuations() {
        let text = "# comment\n\nserver.debugging=True\nmodule.x.y = [1,\n   # inner comment\n\n      2]  # trailing\nproxy.kvstorage  =  'a.b.C'\r\n";
        let (entries, problems) = parse_text(text);
        assert!(problems.is_empty(), "{problems:?}");
        let got: Vec<_> = entries.iter().map(|e| (e.key.as_str(), e.line, e.value.to_string())).collect();
        assert_eq!(
            got,
            [
                ("server.debugging", 3, "True".to_string()),
                ("module.x.y", 4, "[1, 2]".to_string()),
                ("proxy.kvstorage", 8, "'a.b.C'".to_string()),
            ]
        );
    }

    #[test]
    fn syntax_problems_carry_file_lines() {
        let text = "  indented first\nok.key = 1\n9bad = 2\n  ignored continuation\nkey.two = [1,\n\n   2 3]\nkey.three = foo\nno_equals_here\nkey.four = (1,\nkey.five = 5\n";
        let (entries, problems) = parse_text(text);
        let keys: Vec<_> = entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["ok.key", "key.five"]);
        let summary: Vec<_> = problems.iter().map(|d| (d.line, d.key.clone(), d.to_string())).collect();
        assert_eq!(summary.len(), 6, "{summary:#?}");
        assert_eq!(problems[0].problem, Problem::FirstLineIndented);
        assert_eq!(problems[0].line, Some(1));
        assert!(matches!(problems[1].problem, Problem::BadLine { .. }));
        assert_eq!(problems[1].line, Some(3));
        // The literal error inside the multi-line value points at its own line and column.
        let Problem::BadLiteral { error } = &problems[2].problem else { panic!("{:?}", problems[2]) };
        assert_eq!((problems[2].line, error.line, error.column), (Some(7), 7, 6));
        assert_eq!(problems[2].key.as_deref(), Some("key.two"));
        let Problem::BadLiteral { error } = &problems[3].problem else { panic!("{:?}", problems[3]) };
        assert_eq!((error.line, error.column), (8, 13), "column counts from the start of the file line");
        assert!(matches!(error.kind, LiteralErrorKind::NotALiteral { .. }));
        assert_eq!(problems[4].line, Some(9));
        assert_eq!(problems[5].key.as_deref(), Some("key.four"));
        assert!(problems[5].to_string().contains("only if they are indented"), "{}", problems[5]);
    }

    #[test]
    fn split_key_follows_the_original_pattern() {
        assert_eq!(split_key("a.b_1.C=1"), Some(("a.b_1.C", 8)));
        assert_eq!(split_key("a \t=\t 'x'"), Some(("a", 6)));
        assert_eq!(split_key("a..b=1"), None);
        assert_eq!(split_key("a.=1"), None);
        assert_eq!(split_key("_a=1"), None);
        assert_eq!(split_key("a.1b=1"), None);
        assert_eq!(split_key("a b=1"), None);
        assert_eq!(split_key("a"), None);
    }
}
