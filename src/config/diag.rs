//! Findings about a config file, each tied to a line and a key: what `vlcp --check-config` prints
//! and what a bad config makes the daemon print before it exits with status 2.

use std::fmt;

use super::literal::{LiteralError, LiteralErrorKind};

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Accepted, but probably not what was meant (a key set twice).
    Warning,
    /// The config is refused.
    Error,
}

/// What is wrong.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// The first config line is indented (indented lines continue the previous value).
    FirstLineIndented,
    /// A line that is neither `key = value`, a comment, a blank nor an indented continuation.
    BadLine { text: String },
    /// The value is not a valid literal.
    BadLiteral { error: LiteralError },
    /// The key is not one the daemon knows.
    UnknownKey { suggestion: Option<String>, misprint: bool },
    /// The key names a section (`module.dockerplugin`), not a value in it.
    IncompleteKey { example: Option<String> },
    /// The value has the wrong type.
    WrongType { expected: String, found: String },
    /// The value has the right type but is not acceptable (bad URL, unknown module path, …).
    BadValue { reason: String },
    /// The key was already set on an earlier line; the later value wins.
    Duplicate { first_line: usize },
}

/// One finding.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// 1-based line in the config file, when the finding comes from a file.
    pub line: Option<usize>,
    /// The key concerned, when there is one.
    pub key: Option<String>,
    /// What is wrong.
    pub problem: Problem,
}

impl Diagnostic {
    pub(crate) fn error(line: Option<usize>, key: Option<&str>, problem: Problem) -> Self {
        Diagnostic { severity: Severity::Error, line, key: key.map(str::to_string), problem }
    }

    pub(crate) fn warning(line: Option<usize>, key: Option<&str>, problem: Problem) -> Self {
        Diagnostic { severity: Severity::Warning, line, key: key.map(str::to_string), problem }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::FirstLineIndented => f.write_str(
                "the first config line cannot start with whitespace (indented lines continue a value)",
            ),
            Problem::BadLine { text } => write!(
                f,
                "expected `key = value` (key: dot-separated names starting with a letter), found {text:?}"
            ),
            Problem::BadLiteral { error } => {
                write!(f, "invalid value: column {}: {}", error.column, error.kind)?;
                if matches!(error.kind, LiteralErrorKind::UnexpectedEnd { .. }) {
                    f.write_str(" (a value continues on the following lines only if they are indented)")?;
                }
                Ok(())
            }
            Problem::UnknownKey { suggestion: Some(s), misprint: true } => {
                write!(f, "unknown key: the manual misprints this name; the code reads `{s}`")
            }
            Problem::UnknownKey { suggestion: Some(s), misprint: false } => {
                write!(f, "unknown key; did you mean `{s}`?")
            }
            Problem::UnknownKey { suggestion: None, .. } => f.write_str("unknown key"),
            Problem::IncompleteKey { example: Some(e) } => {
                write!(f, "this names a section, not a value (for example `{e}`)")
            }
            Problem::IncompleteKey { example: None } => f.write_str("this names a section, not a value"),
            Problem::WrongType { expected, found } => write!(f, "expected {expected}, found {found}"),
            Problem::BadValue { reason } => f.write_str(reason),
            Problem::Duplicate { first_line } => {
                write!(f, "set again (first set on line {first_line}); the later value wins")
            }
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        write!(f, "{}", self.problem)
    }
}

/// All findings about one config, in line order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The findings, sorted by line.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// Whether any finding is an error (the config must be refused).
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Warning)
    }

    pub(crate) fn sort(&mut self) {
        self.diagnostics.sort_by_key(|d| (d.line.unwrap_or(usize::MAX), std::cmp::Reverse(d.severity)));
    }
}

/// One finding per line.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}
