//! Subtransactions: run a step so that its failure rolls back only that
//! step, the way a PL/pgSQL `BEGIN … EXCEPTION` block does.

use crate::domain::error::LoyaltyError;
use crate::report::sqlstate_text;
use pgrx::pg_sys::panic::CaughtError;
use pgrx::pg_sys::{self, PgTryBuilder};
use pgrx::PgSqlErrorCode;
use std::panic::AssertUnwindSafe;

/// Why a step failed: its SQLSTATE and message.
#[derive(Debug, Clone)]
pub struct Failure {
    pub sqlstate: String,
    pub message: String,
}

impl Failure {
    /// `SQLSTATE: message`, as stored and returned for a partial completion.
    pub fn describe(&self) -> String {
        format!("{}: {}", self.sqlstate, self.message)
    }
}

impl From<LoyaltyError> for Failure {
    fn from(e: LoyaltyError) -> Self {
        Failure {
            sqlstate: e.sqlstate().to_string(),
            message: e.to_string(),
        }
    }
}

/// Runs `step` in a subtransaction.  On success the subtransaction is
/// released (its work joins the caller's transaction); on an error — a
/// `LoyaltyError`, a Postgres ERROR or a panic — it is rolled back and the
/// failure returned, leaving the caller's transaction usable.
///
/// Except an interruption: a query cancel or `statement_timeout` (57014),
/// or a shutdown (class 57), is re-raised once the subtransaction is rolled
/// back.  It is the caller's (or the server's) decision to stop, not a
/// failure of the step, and must not be recorded as one.
pub fn run<T>(step: impl FnOnce() -> Result<T, LoyaltyError>) -> Result<T, Failure> {
    let started = Started::begin();
    let outcome = PgTryBuilder::new(AssertUnwindSafe(|| {
        step().map_err(|e| Caught::Failed(Failure::from(e)))
    }))
    .catch_others(|caught| {
        Err(match caught {
            CaughtError::PostgresError(ref r) | CaughtError::ErrorReport(ref r) => {
                let sqlstate = sqlstate_text(r.sql_error_code());
                if is_interruption(&sqlstate) {
                    Caught::Interrupted(Box::new(caught))
                } else {
                    Caught::Failed(Failure {
                        sqlstate,
                        message: r.message().to_string(),
                    })
                }
            }
            CaughtError::RustPanic { ereport, .. } => {
                // Panic text goes to the server log only.
                pgrx::ereport!(
                    pgrx::PgLogLevel::LOG,
                    pgrx::PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                    format!(
                        "loyalty event=internal_error {}",
                        crate::domain::text::field("message", ereport.message())
                    )
                );
                Caught::Failed(Failure {
                    sqlstate: "XX000".into(),
                    message: "internal error in loyalty_ext (see the server log)".into(),
                })
            }
        })
    })
    .execute();
    started.end(outcome.is_ok());
    match outcome {
        Ok(v) => Ok(v),
        Err(Caught::Failed(f)) => Err(f),
        Err(Caught::Interrupted(error)) => error.rethrow(),
    }
}

/// Runs `step` in a subtransaction and returns `None` when it raised an
/// ERROR with SQLSTATE `code`, rolled back.  Any other ERROR (or panic) is
/// raised again once the subtransaction is rolled back; on success the
/// subtransaction is released.  For a cheap statement whose rare failure
/// has a slower statement to fall back on.
pub fn unless<T>(code: PgSqlErrorCode, step: impl FnOnce() -> T) -> Option<T> {
    let started = Started::begin();
    let outcome = PgTryBuilder::new(AssertUnwindSafe(|| Ok(step())))
        .catch_others(|caught| Err(Box::new(caught)))
        .execute();
    started.end(outcome.is_ok());
    match outcome {
        Ok(v) => Some(v),
        Err(caught) => match *caught {
            CaughtError::PostgresError(ref r) | CaughtError::ErrorReport(ref r)
                if r.sql_error_code() == code =>
            {
                None
            }
            caught => caught.rethrow(),
        },
    }
}

/// A subtransaction begun, with what to restore when it ends.
struct Started {
    cxt: pg_sys::MemoryContext,
    owner: pg_sys::ResourceOwner,
}

impl Started {
    /// The standard internal-subtransaction protocol: remember the memory
    /// context and resource owner, and restore both when it ends.
    fn begin() -> Started {
        // SAFETY: as every PL does around a subtransaction.
        unsafe {
            let cxt = pg_sys::CurrentMemoryContext;
            let owner = pg_sys::CurrentResourceOwner;
            pg_sys::BeginInternalSubTransaction(std::ptr::null());
            pg_sys::MemoryContextSwitchTo(cxt);
            Started { cxt, owner }
        }
    }

    /// Releases the subtransaction (`keep`) or rolls it back.
    fn end(self, keep: bool) {
        // SAFETY: ends the subtransaction `begin` started, with no other
        // one opened since (every step runs to its end first).
        unsafe {
            if keep {
                pg_sys::ReleaseCurrentSubTransaction();
            } else {
                pg_sys::RollbackAndReleaseCurrentSubTransaction();
            }
            pg_sys::MemoryContextSwitchTo(self.cxt);
            pg_sys::CurrentResourceOwner = self.owner;
        }
    }
}

enum Caught {
    Failed(Failure),
    Interrupted(Box<CaughtError>),
}

/// Class 57, operator intervention: query cancel and statement timeout
/// (57014), administrator shutdown, crash shutdown, cannot connect now.
fn is_interruption(sqlstate: &str) -> bool {
    sqlstate.starts_with("57")
}
