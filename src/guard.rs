//! The boundary between SQL and Rust: correlation ids on every error, no
//! panic text to clients, bounded lock waits, and the result row type.

use crate::correlation;
use crate::domain::error::{LockTarget, LoyaltyError};
use crate::domain::text::field;
use crate::gucs;
use crate::report::Raise;
use pgrx::heap_tuple::PgHeapTuple;
use pgrx::pg_sys::panic::{CaughtError, ErrorReport};
use pgrx::pg_sys::{self, PgTryBuilder};
use pgrx::prelude::*;
use pgrx::AllocatedByRust;
use pgrx::PgTupleDesc;
use std::cell::Cell;
use std::panic::AssertUnwindSafe;

/// Runs the body of a SQL-callable function: resolves the correlation id,
/// and turns every failure into an ERROR with the SPEC section 8 SQLSTATE
/// and `correlation_id=…` in its DETAIL.
pub fn sql_call<T>(
    correlation_arg: Option<&str>,
    body: impl FnOnce(&str) -> Result<T, LoyaltyError>,
) -> T {
    let corr = match correlation::resolve(correlation_arg) {
        Ok(c) => c,
        // A bad argument is reported under the id the call would otherwise use.
        Err(e) => e.raise(&correlation::resolve(None).unwrap_or_else(|_| correlation::generated())),
    };
    let corr_for_catch = corr.clone();
    let result = PgTryBuilder::new(AssertUnwindSafe(|| {
        refuse_startup_override(&corr)?;
        body(&corr)
    }))
    .catch_others(move |caught| reraise(caught, &corr_for_catch))
    .execute();
    match result {
        Ok(v) => v,
        Err(e) => e.raise(&corr),
    }
}

/// `sql_call` for a function that changes the ledger: in a read-only
/// transaction (`BEGIN READ ONLY`, or any transaction on a hot standby) it
/// is refused with 25006 before any work, as PostgreSQL refuses an INSERT
/// there, and with the same message on a standby as on a primary.
pub fn write_call<T>(
    function: &'static str,
    correlation_arg: Option<&str>,
    body: impl FnOnce(&str) -> Result<T, LoyaltyError>,
) -> T {
    sql_call(correlation_arg, |corr| {
        // SAFETY: reads of two backend globals.
        let (read_only, standby) = unsafe { (pg_sys::XactReadOnly, pg_sys::RecoveryInProgress()) };
        if read_only || standby {
            return Err(LoyaltyError::ReadOnly { function, standby });
        }
        let answer = body(corr)?;
        replicated_before_answering();
        Ok(answer)
    })
}

/// A call that wrote nothing (a replay, or a job that found nothing to do)
/// commits without a commit record, and PostgreSQL then waits for no
/// synchronous standby.  But a replay reports an earlier change as done: if
/// that change's own commit never heard from the standby (its caller was
/// cut off while it waited, and retried), acknowledging the replay at once
/// would acknowledge a change a failover can still lose.  So such an answer
/// waits, as a commit would, until the synchronous standby has flushed the
/// WAL this server has flushed (which holds every commit the call can have
/// read).  Without a synchronous standby this returns at once.
fn replicated_before_answering() {
    // SAFETY: reads of backend state, and the wait a commit makes, with
    // interrupts held as SyncRepWaitForLSN requires; a cancel ends the wait
    // with PostgreSQL's own warning, as it does for a commit.
    unsafe {
        if pg_sys::GetCurrentTransactionIdIfAny() != pg_sys::InvalidTransactionId {
            return; // the commit itself waits
        }
        let flushed = pg_sys::GetFlushRecPtr(std::ptr::null_mut());
        pg_sys::InterruptHoldoffCount += 1;
        pg_sys::SyncRepWaitForLSN(flushed, true);
        pg_sys::InterruptHoldoffCount -= 1;
    }
}

/// The current time on PostgreSQL's clock (microseconds since 2000), as
/// `clock_timestamp()` reads it.  Every rule that depends on the moment
/// (velocity windows, campaign windows, hold and lot expiry) reads it when
/// the change is admitted under its row lock — not when the transaction
/// started, which an insider could choose by opening a transaction early
/// and using it late.
pub fn now() -> i64 {
    // SAFETY: a plain read of the system clock.
    unsafe { pg_sys::GetCurrentTimestamp() }
}

/// A batch size argument (`p_max`) between 1 and `limit` (22023 otherwise).
pub fn batch_size(p_max: Option<i32>, limit: i32) -> Result<i32, LoyaltyError> {
    match p_max {
        Some(m) if (1..=limit).contains(&m) => Ok(m),
        other => Err(LoyaltyError::invalid_with(
            format!("p_max must be between 1 and {limit}"),
            vec![(
                "p_max",
                other.map_or_else(|| "NULL".to_string(), |m| m.to_string()),
            )],
        )),
    }
}

/// A session whose connection options named a superuser-only `loyalty.*`
/// setting runs nothing (`gucs::startup_override` says why): 42501.
fn refuse_startup_override(corr: &str) -> Result<(), LoyaltyError> {
    let Some(setting) = gucs::startup_override() else {
        return Ok(());
    };
    crate::events::emit(
        "startup_option_refused",
        corr,
        &[
            ("role", crate::authorize::session_role()),
            ("setting", setting.clone()),
        ],
    );
    Err(LoyaltyError::PermissionDenied {
        message: format!(
            "this session's connection options set {setting}, which only a superuser may set; reconnect without it"
        ),
        context: vec![("setting", setting)],
    })
}

/// Re-raises an error caught under `sql_call` with the correlation id added.
fn reraise(caught: CaughtError, corr: &str) -> ! {
    match caught {
        // Raised by `LoyaltyError::raise`: already complete.
        CaughtError::ErrorReport(_) => caught.rethrow(),
        CaughtError::PostgresError(report) => {
            let detail = match report.detail() {
                Some(d) if !d.is_empty() => format!("{d}; {}", field("correlation_id", corr)),
                _ => field("correlation_id", corr),
            };
            let mut again = ErrorReport::new(
                report.sql_error_code(),
                report.message().to_string(),
                "loyalty_ext",
            )
            .set_detail(detail);
            if let Some(h) = report.hint() {
                again = again.set_hint(h.to_string());
            }
            again.report(PgLogLevel::ERROR);
            unreachable!("an ERROR report does not return")
        }
        CaughtError::RustPanic { ereport, .. } => {
            // The panic text stays in the server log; the client gets a
            // plain internal error it can quote by correlation id.
            ereport!(
                PgLogLevel::LOG,
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!(
                    "loyalty event=internal_error {} {}",
                    field("correlation_id", corr),
                    field("message", ereport.message())
                )
            );
            LoyaltyError::internal("see the server log for this correlation id").raise(corr)
        }
    }
}

/// Runs `f` (which waits for the row lock of `target` `id`) with the
/// server's lock timeout set to `loyalty.lock_timeout`, restored afterwards;
/// a timeout becomes `LoyaltyError::LockTimeout` (55P03).
///
/// The lock manager reads the `LockTimeout` global when a wait starts, so
/// the value is swapped directly rather than through the GUC machinery
/// (which would parse and log a setting change on every call); a guard
/// restores it on every exit, an ERROR's unwinding included.
pub fn with_lock_timeout<R>(
    target: LockTarget,
    id: &dyn std::fmt::Display,
    corr: &str,
    f: impl FnOnce() -> R,
) -> R {
    let ms = crate::gucs::lock_timeout_ms();
    if ms == 0 {
        return f();
    }
    // Inside `one_lock_wait`: what is left of its one timeout.
    let wait = DEADLINE.with(Cell::get).map_or(ms, |deadline| {
        ((deadline - now()) / 1000).clamp(1, ms as i64) as i32
    });
    struct Restore(i32);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: a plain int global of the backend's only thread.
            unsafe { pg_sys::LockTimeout = self.0 };
        }
    }
    // SAFETY: as above.
    let _restore = Restore(unsafe { pg_sys::LockTimeout });
    unsafe { pg_sys::LockTimeout = wait };
    // The id is formatted only if the timeout happens.
    let id = AssertUnwindSafe(id);
    PgTryBuilder::new(AssertUnwindSafe(f))
        .catch_when(PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE, move |_| {
            LoyaltyError::LockTimeout {
                target,
                id: id.to_string(),
                timeout_ms: ms,
            }
            .raise(corr)
        })
        .execute()
}

/// Whether a value just read from a table may be kept per backend (the tier
/// ladder, casinos, staff capabilities, verified tokens): only when the
/// transaction reads with a fresh snapshot per statement (READ COMMITTED).
/// Under REPEATABLE READ or SERIALIZABLE the snapshot may predate a change
/// whose invalidation this backend has already taken, and a value read
/// under it would be kept after the change.
pub fn keepable() -> bool {
    // SAFETY: a plain read of the transaction's isolation level.
    unsafe { pg_sys::XactIsoLevel < pg_sys::XACT_REPEATABLE_READ as i32 }
}

thread_local! {
    /// While `one_lock_wait` runs: when its timeout ends.
    static DEADLINE: Cell<Option<i64>> = const { Cell::new(None) };
}

/// Runs `f`, whose several lock waits (`with_lock_timeout`) are one wait
/// for the caller — queueing for a player, then its row — so that together
/// they last at most `loyalty.lock_timeout`.
pub fn one_lock_wait<R>(f: impl FnOnce() -> R) -> R {
    let ms = crate::gucs::lock_timeout_ms();
    if ms == 0 || DEADLINE.with(Cell::get).is_some() {
        return f();
    }
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            DEADLINE.with(|d| d.set(None));
        }
    }
    let _clear = Clear;
    DEADLINE.with(|d| d.set(Some(now() + ms as i64 * 1000)));
    f()
}

/// The composite row types the SQL functions return.
#[derive(Clone, Copy)]
pub enum RowType {
    /// `loyalty.change_result`
    Change = 0,
    /// `loyalty.slip_result`
    Slip = 1,
    /// `loyalty.hold_result`
    Hold = 2,
}

impl RowType {
    fn name(self) -> &'static str {
        match self {
            RowType::Change => "loyalty.change_result",
            RowType::Slip => "loyalty.slip_result",
            RowType::Hold => "loyalty.hold_result",
        }
    }
}

thread_local! {
    /// Oids of the row types, looked up once and reset when any type changes.
    static ROW_TYPE_OIDS: Cell<[pg_sys::Oid; 3]> = const { Cell::new([pg_sys::InvalidOid; 3]) };
}

/// Builds a row of one of the extension's result types from its datums.
pub fn row_tuple(
    kind: RowType,
    datums: Vec<Option<pg_sys::Datum>>,
) -> PgHeapTuple<'static, AllocatedByRust> {
    let oid = ROW_TYPE_OIDS.with(|cell| {
        let mut oids = cell.get();
        if oids[kind as usize] == pg_sys::InvalidOid {
            if let Some(desc) = PgTupleDesc::for_composite_type(kind.name()) {
                oids[kind as usize] = desc.oid();
                cell.set(oids);
            }
        }
        oids[kind as usize]
    });
    let built = PgTupleDesc::for_composite_type_by_oid(oid)
        // SAFETY: the datums come from into_datum() of the column types.
        .and_then(|desc| unsafe { PgHeapTuple::from_datums(desc, datums) }.ok());
    match built {
        Some(t) => t,
        None => LoyaltyError::internal(format!("type {} is missing", kind.name()))
            .raise(&correlation::generated()),
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn forget_type_oids(_arg: pg_sys::Datum, _cache: i32, _hash: u32) {
    ROW_TYPE_OIDS.with(|c| c.set([pg_sys::InvalidOid; 3]));
}

/// Registers cache callbacks; called from `_PG_init`.
pub fn init() {
    // SAFETY: registering a callback that only resets a backend-local cell.
    unsafe {
        pg_sys::CacheRegisterSyscacheCallback(
            pg_sys::SysCacheIdentifier::TYPEOID as i32,
            Some(forget_type_oids),
            pg_sys::Datum::from(0),
        );
    }
}

/// A jsonb argument as its text, parsed by the function inside `sql_call`
/// (`JsonbArg::parse`).  pgrx's own `JsonB` parses while it reads the
/// argument, before any guard runs, and a document nested deeper than
/// serde_json's limit then fails there with Rust's error text; this type only
/// asks PostgreSQL for the text (`jsonb_out`, which does not fail on depth).
pub struct JsonbArg(String);

impl JsonbArg {
    /// The parsed value; too deep or unreadable is 22023 under the call's
    /// correlation id.
    pub fn parse(&self, name: &str) -> Result<serde_json::Value, LoyaltyError> {
        crate::domain::text::parse_json(name, &self.0)
    }
}

impl FromDatum for JsonbArg {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<JsonbArg> {
        if is_null {
            return None;
        }
        // SAFETY: the datum is a jsonb varlena (the argument's declared
        // type); jsonb_out returns a palloc'd C string we copy and free.
        unsafe {
            let varlena = datum.cast_mut_ptr::<pg_sys::varlena>();
            let detoasted = pg_sys::pg_detoast_datum_packed(varlena);
            let cstr = pgrx::direct_function_call::<&std::ffi::CStr>(
                pg_sys::jsonb_out,
                &[Some(pg_sys::Datum::from(detoasted))],
            )?;
            let text = cstr.to_string_lossy().into_owned();
            pg_sys::pfree(cstr.as_ptr() as *mut std::ffi::c_void);
            if detoasted != varlena {
                pg_sys::pfree(detoasted.cast());
            }
            Some(JsonbArg(text))
        }
    }
}

// SAFETY: unboxed through FromDatum like pgrx's own by-reference types.
unsafe impl<'fcx> pgrx::callconv::ArgAbi<'fcx> for JsonbArg {
    unsafe fn unbox_arg_unchecked(arg: pgrx::callconv::Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: the caller guarantees the argument's type (jsonb).
        unsafe { arg.unbox_arg_using_from_datum() }
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }

    unsafe fn unbox_nullable_arg(
        arg: pgrx::callconv::Arg<'_, 'fcx>,
    ) -> pgrx::nullable::Nullable<Self> {
        // SAFETY: as above.
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}

// SAFETY: the SQL type of the argument is jsonb.
unsafe impl pgrx::pgrx_sql_entity_graph::metadata::SqlTranslatable for JsonbArg {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(JsonbArg);
    const TYPE_ORIGIN: pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin =
        pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin::External;
    const ARGUMENT_SQL: Result<
        pgrx::pgrx_sql_entity_graph::metadata::SqlMappingRef,
        pgrx::pgrx_sql_entity_graph::metadata::ArgumentError,
    > = Ok(pgrx::pgrx_sql_entity_graph::metadata::SqlMappingRef::literal("jsonb"));
    const RETURN_SQL: Result<
        pgrx::pgrx_sql_entity_graph::metadata::ReturnsRef,
        pgrx::pgrx_sql_entity_graph::metadata::ReturnsError,
    > = Ok(pgrx::pgrx_sql_entity_graph::metadata::ReturnsRef::One(
        pgrx::pgrx_sql_entity_graph::metadata::SqlMappingRef::literal("jsonb"),
    ));
}
