//! Statements prepared once per backend and kept (`SPI_keepplan`).
//!
//! Plain SPI query strings are parsed and planned on every call; the hot
//! paths declare their SQL as a `static Stmt` and run it through `run`,
//! which prepares it on first use in a backend.  The plan cache revalidates
//! kept plans after DDL, so they survive ALTER TABLE and re-creation.

use crate::domain::error::LoyaltyError;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{self, PgBuiltInOids};
use pgrx::spi::{OwnedPreparedStatement, SpiClient, SpiTupleTable};
use pgrx::PgOid;
use std::cell::RefCell;
use std::collections::HashMap;

/// One SQL statement and its parameter types.  Declare as `static` so that
/// its address identifies it.
pub struct Stmt {
    pub sql: &'static str,
    pub args: &'static [PgBuiltInOids],
}

thread_local! {
    static KEPT: RefCell<HashMap<usize, OwnedPreparedStatement>> = RefCell::new(HashMap::new());
}

/// Runs a statement (read-write snapshot semantics: each run sees rows
/// committed before it started, as READ COMMITTED statements do).
///
/// `select` on a plan prepared with `prepare_mut` runs it read-write
/// (`SPI_execute_plan` with `read_only = false`) without what `update` adds:
/// pgrx's `update` assigns the transaction an id first.  A statement that
/// writes gets one from the write itself; one that only reads then costs no
/// transaction id, so a replay commits without a commit record, and reads
/// work on a hot standby, where assigning one fails.
pub fn run<'conn>(
    client: &mut SpiClient<'conn>,
    stmt: &'static Stmt,
    args: &[DatumWithOid],
) -> Result<SpiTupleTable<'conn>, LoyaltyError> {
    let id = stmt as *const Stmt as usize;
    KEPT.with(|kept| {
        if !kept.borrow().contains_key(&id) {
            let types: Vec<PgOid> = stmt.args.iter().map(|t| PgOid::BuiltIn(*t)).collect();
            let plan = client.prepare_mut(stmt.sql, &types)?.keep();
            kept.borrow_mut().insert(id, plan);
        }
        let kept = kept.borrow();
        let plan = kept
            .get(&id)
            .ok_or_else(|| LoyaltyError::internal("prepared statement missing"))?;
        Ok(client.select(plan, None, args)?)
    })
}

/// `run`, always with the statement's generic plan.  PostgreSQL plans a
/// kept statement again on every run while a plan for the run's own values
/// looks cheaper than the generic one: a statement over a parameter array
/// whose usual length (one lot) is far below the planner's guess for an
/// array it cannot see (ten) is planned on every call, for a plan no
/// better than the generic one.  `plan_cache_mode` is set for the run the
/// way a function's `SET` clause sets it (a GUC nest level of its own), so
/// that a `SET` or `SET LOCAL` run inside the statement keeps its meaning.
pub fn run_generic<'conn>(
    client: &mut SpiClient<'conn>,
    stmt: &'static Stmt,
    args: &[DatumWithOid],
) -> Result<SpiTupleTable<'conn>, LoyaltyError> {
    struct Level(i32);
    impl Drop for Level {
        fn drop(&mut self) {
            // An ERROR unwinding through here is undone by the
            // (sub)transaction's abort, which pops this nest level, as it
            // does after a function with a SET clause fails.
            if !std::thread::panicking() {
                // SAFETY: ends the nest level `run_generic` began.
                unsafe { pg_sys::AtEOXact_GUC(true, self.0) };
            }
        }
    }
    // SAFETY: fmgr's own sequence for a function's SET clause.
    let _level = Level(unsafe { pg_sys::NewGUCNestLevel() });
    unsafe {
        pg_sys::set_config_option(
            c"plan_cache_mode".as_ptr(),
            c"force_generic_plan".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        )
    };
    run(client, stmt, args)
}

/// A required (NOT NULL) column value.
pub fn required<T>(value: Option<T>, column: &str) -> Result<T, LoyaltyError> {
    value.ok_or_else(|| LoyaltyError::internal(format!("unexpected NULL in {column}")))
}
