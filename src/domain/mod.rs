//! The functional core: plain Rust rules with no Postgres in them.
//!
//! Everything here is deterministic and unit-tested without a server; the
//! SQL-facing modules call into it and own only SPI, locking and I/O.
//! `scripts/test.sh` fails if anything here names pgrx or the settings.

pub mod campaign; // a registered campaign's admission: window, amount, credits, budget
pub mod casino; // which casino a call acts for; a casino's settings over the server's
pub mod error; // the conditions a client can see and their SQLSTATEs
pub mod expiry; // expiry policies, lots: what a debit consumes, what has expired
pub mod hold; // holds: points reserved now, charged (all or part), released or expired later
pub mod keys; // canonical form, SHA-256 keys, typed key derivations, UUIDv7
pub mod points; // the gameplay points formula in exact decimals
pub mod policy; // capabilities, spoofing, the rate limit, the gaming day's start
pub mod request; // a change request: validation and its effect on an account
pub mod slip; // a rating slip's play data, fingerprint and states
pub mod text; // caller text: bounds, visible characters, reasons
pub mod tier; // the tier ladder: tier, progress, multipliers
pub mod token; // staff tokens: JWT verification against trusted keys
pub mod velocity; // velocity limits: events in a sliding window, admit or refuse
