//! The functional core: plain Rust rules with no Postgres in them.
//!
//! Everything here is deterministic and unit-tested without a server; the
//! SQL-facing modules call into it and own only SPI, locking and I/O.

pub mod keys;
pub mod points;
pub mod policy;
pub mod request;
pub mod tier;
