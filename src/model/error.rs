//! Errors of model operations: a client mistake about one named field, or a storage failure.

use std::fmt;

use crate::objectdb::TxnError;

/// What kind of client mistake a [`FieldError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// Malformed or out-of-range value, missing required parameter, unknown parameter.
    Invalid,
    /// The referenced or targeted object does not exist.
    NotFound,
    /// An object with this id (or key) already exists.
    AlreadyExists,
    /// The value is taken (VNI, VLAN id, IP, MAC, subnet already routed…).
    Conflict,
    /// The object cannot be deleted or changed while others use it.
    InUse,
    /// No free VNI/VLAN id/IP address is left.
    Exhausted,
}

impl FieldErrorKind {
    /// The HTTP status the web API answers with.
    pub fn status(self) -> u16 {
        match self {
            FieldErrorKind::Invalid => 400,
            FieldErrorKind::NotFound => 404,
            FieldErrorKind::AlreadyExists
            | FieldErrorKind::Conflict
            | FieldErrorKind::InUse
            | FieldErrorKind::Exhausted => 409,
        }
    }
}

/// A client mistake: which item of a batch (if any), which parameter, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The kind of mistake.
    pub kind: FieldErrorKind,
    /// Index of the item in a batch call, `None` for calls on one object.
    pub item: Option<usize>,
    /// The parameter at fault (`cidr`, `ip_address`, `id`, …).
    pub field: String,
    /// What is wrong, for a human.
    pub detail: String,
}

impl FieldError {
    /// A mistake of `kind` about `field`.
    pub fn new(kind: FieldErrorKind, field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError { kind, item: None, field: field.into(), detail: detail.into() }
    }
    /// [`FieldErrorKind::Invalid`].
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Invalid, field, detail)
    }
    /// [`FieldErrorKind::NotFound`] for a `what` (e.g. "logical network") with id `id`.
    pub fn not_found(field: impl Into<String>, what: &str, id: &str) -> Self {
        Self::new(FieldErrorKind::NotFound, field, format!("{what} {id:?} does not exist"))
    }
    /// [`FieldErrorKind::AlreadyExists`].
    pub fn exists(field: impl Into<String>, what: &str, id: &str) -> Self {
        Self::new(FieldErrorKind::AlreadyExists, field, format!("{what} {id:?} already exists"))
    }
    /// Marks the error as belonging to item `i` of a batch.
    pub fn at(mut self, i: usize) -> Self {
        self.item = Some(i);
        self
    }
    /// The message with the batch parameter name in front of the item index:
    /// `ports[3].ip_address: …` (or `ip_address: …` outside batches).
    pub fn message_in(&self, batch_param: &str) -> String {
        match self.item {
            Some(i) => format!("{batch_param}[{i}].{}: {}", self.field, self.detail),
            None => format!("{}: {}", self.field, self.detail),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.item {
            Some(i) => write!(f, "[{i}].{}: {}", self.field, self.detail),
            None => write!(f, "{}: {}", self.field, self.detail),
        }
    }
}

impl std::error::Error for FieldError {}

/// The error of every model operation. Nothing was written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The request is wrong (the client's fault).
    #[error(transparent)]
    Field(#[from] FieldError),
    /// The store failed or stayed contended (our fault, or the backend's).
    #[error("storage: {0}")]
    Store(#[from] TxnError),
}

impl ModelError {
    /// The HTTP status for this error: 4xx for [`ModelError::Field`], 503 when the store gave up
    /// under contention or timed out, 500 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            ModelError::Field(f) => f.kind.status(),
            ModelError::Store(TxnError::TooManyConflicts { .. } | TxnError::Timeout { .. }) => 503,
            ModelError::Store(_) => 500,
        }
    }

    /// The field error, if this is one.
    pub fn field(&self) -> Option<&FieldError> {
        match self {
            ModelError::Field(f) => Some(f),
            ModelError::Store(_) => None,
        }
    }
}
