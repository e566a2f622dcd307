//! Staff identity, capabilities and the manual-reward rate limit, read from
//! the database under the staff member's row lock (SPEC section 5).
//!
//! The rate limit counts the staff member's MANUAL_BONUS rows in the ledger
//! within the window while holding a `FOR UPDATE` lock on their
//! `staff_permission` row: concurrent rewards by one staff member queue on
//! that lock and each counts the rows committed before it, so the limit is
//! exact under concurrency, shared by every connection and still in force
//! after a restart — with no shared memory and no preload library.

use crate::domain::policy;
use crate::domain::request::ChangeRequest;
use crate::error::LoyaltyError;
use crate::events;
use crate::guard;
use crate::gucs;
use crate::plans::{self, Stmt};
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

/// Refuses a call that names another staff id than the session's
/// `loyalty.session_staff_id`, and logs the attempt.
pub fn check_session_staff(req: &ChangeRequest, corr: &str) -> Result<(), LoyaltyError> {
    check_named_staff(req.staff_id.as_deref(), corr)
}

pub fn check_named_staff(staff_id: Option<&str>, corr: &str) -> Result<(), LoyaltyError> {
    let session = gucs::session_staff_id();
    policy::check_session_staff(session.as_deref(), staff_id).inspect_err(|_| {
        events::emit(
            "spoofing_attempt",
            corr,
            &[
                ("staff_id", staff_id.unwrap_or_default().to_string()),
                ("session_staff_id", session.clone().unwrap_or_default()),
                ("role", current_user()),
            ],
        )
    })
}

/// Capability check, and for rate-limited types the rate limit under the
/// staff member's row lock (held to the end of the caller's transaction).
pub fn check_staff(
    client: &mut SpiClient<'_>,
    req: &ChangeRequest,
    corr: &str,
) -> Result<(), LoyaltyError> {
    let (Some(capability), Some(staff)) = (req.tx_type.capability(), req.staff_id.as_deref())
    else {
        return Ok(());
    };
    if !req.tx_type.is_rate_limited() {
        let caps = capabilities(client, &CAPABILITIES, staff)?;
        return policy::check_capability(staff, caps.as_deref(), capability);
    }
    guard::with_lock_timeout("staff", &staff, corr, || {
        let caps = capabilities(client, &CAPABILITIES_LOCKED, staff)?;
        policy::check_capability(staff, caps.as_deref(), capability)?;
        let usage = rate_usage(client, staff)?;
        policy::check_rate(
            staff,
            usage.used,
            usage.limit,
            usage.reset_at_text.as_deref(),
        )
        .inspect_err(|_| {
            events::emit(
                "rate_limit_hit",
                corr,
                &[
                    ("staff_id", staff.to_string()),
                    ("limit", usage.limit.to_string()),
                    ("reset_at", usage.reset_at_text.clone().unwrap_or_default()),
                ],
            )
        })
    })
}

/// A staff member's capabilities; `None` when they are unknown.
pub fn capabilities(
    client: &mut SpiClient<'_>,
    stmt: &'static Stmt,
    staff: &str,
) -> Result<Option<Vec<String>>, LoyaltyError> {
    let rows = plans::run(client, stmt, &[staff.into()])?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.first().get::<Vec<String>>(1)?.unwrap_or_default(),
    ))
}

/// Manual rewards counted in the current window.
pub struct RateUsage {
    pub limit: i64,
    pub used: i64,
    pub window_seconds: i32,
    pub reset_at: Option<TimestampWithTimeZone>,
    /// `reset_at` as ISO 8601 UTC, for error details and logs.
    pub reset_at_text: Option<String>,
}

pub fn rate_usage(client: &mut SpiClient<'_>, staff: &str) -> Result<RateUsage, LoyaltyError> {
    let window = gucs::rate_window_seconds();
    let rows = plans::run(client, &RATE_USAGE, &[staff.into(), window.into()])?;
    let r = rows.first();
    Ok(RateUsage {
        limit: gucs::rate_limit() as i64,
        used: r.get::<i64>(1)?.unwrap_or(0),
        window_seconds: window,
        reset_at: r.get(2)?,
        reset_at_text: r.get(3)?,
    })
}

fn current_user() -> String {
    Spi::get_one::<String>("SELECT session_user::text")
        .ok()
        .flatten()
        .unwrap_or_default()
}

pub static CAPABILITIES: Stmt = Stmt {
    args: &[O::TEXTOID],
    sql: "SELECT capabilities FROM loyalty.staff_permission WHERE staff_id = $1::uuid",
};

static CAPABILITIES_LOCKED: Stmt = Stmt {
    args: &[O::TEXTOID],
    sql: "SELECT capabilities FROM loyalty.staff_permission WHERE staff_id = $1::uuid FOR UPDATE",
};

/// Sliding window ending at the transaction's start; served by the ledger's
/// (staff_id, created_at) index.
static RATE_USAGE: Stmt = Stmt {
    args: &[O::TEXTOID, O::INT4OID],
    sql: "\
SELECT count(*),
       min(created_at) + $2 * interval '1 second',
       to_char((min(created_at) + $2 * interval '1 second') AT TIME ZONE 'UTC',
               'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
  FROM loyalty.loyalty_ledger
 WHERE staff_id = $1::uuid
   AND transaction_type = 'MANUAL_BONUS'
   AND created_at > now() - $2 * interval '1 second'",
};

#[pg_extern(security_definer, stable, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// How many manual rewards a staff member has left in the current window, and when the oldest counted one expires.
#[allow(clippy::type_complexity)]
fn rate_limit_status(
    p_staff_id: Option<pgrx::Uuid>,
) -> TableIterator<
    'static,
    (
        name!(remaining, i32),
        name!(reset_at, Option<TimestampWithTimeZone>),
        name!(used, i32),
        name!(rate_limit, i32),
        name!(window_seconds, i32),
    ),
> {
    let row = guard::sql_call(None, |_| {
        let staff = p_staff_id
            .ok_or_else(|| LoyaltyError::invalid("p_staff_id must not be null"))?
            .to_string();
        let usage = Spi::connect_mut(|client| rate_usage(client, &staff))?;
        Ok((
            (usage.limit - usage.used).max(0) as i32,
            usage.reset_at,
            usage.used as i32,
            usage.limit as i32,
            usage.window_seconds,
        ))
    });
    TableIterator::once(row)
}
