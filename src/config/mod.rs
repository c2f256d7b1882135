//! (being written)
pub mod literal;
