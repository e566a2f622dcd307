//! loyalty_ext: a casino's player-loyalty ledger inside PostgreSQL.
//!
//! One SQL call is one atomic, row-locked, audited change.  `domain` holds
//! the pure rules; the other modules are the thin SQL/SPI shell around it.

use pgrx::prelude::*;

mod audit;
mod authorize;
mod correlation;
pub mod domain;
pub mod error;
mod events;
mod guard;
mod gucs;
mod idempotency;
mod keyprobe;
mod ledger;
mod plans;
mod rewards;
mod slips;
mod subxact;
mod tiers;

::pgrx::pg_module_magic!(name, version);

// Tables, indexes, guards and the result type, before any function.
extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
// Rating-slip saga state.
extension_sql_file!("../sql/slips.sql", name = "slips", requires = ["schema"]);
// Audit checks written in SQL.
extension_sql_file!(
    "../sql/audit.sql",
    name = "audit",
    requires = ["schema", "slips"]
);
// COMMENT ON for every generated function, after all of them.
extension_sql_file!("../sql/comments.sql", name = "comments", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // Rust backtraces must never reach a client's error message, whatever
    // RUST_BACKTRACE the server was started with.
    // SAFETY: runs once at library load, on the backend's only thread.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    gucs::init();
    guard::init();
    tiers::init();
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
