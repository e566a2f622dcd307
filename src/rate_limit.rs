//! The manual-reward rate limit (SPEC section 5) and
//! `loyalty.rate_limit_status`.
//!
//! The limit counts the staff member's rate-limited ledger rows within the
//! window while the caller holds a `FOR UPDATE` lock on their
//! `staff_permission` row (`crate::authorize`): concurrent rewards by one
//! staff member queue on that lock and each counts the rows committed
//! before it, so the limit is exact under concurrency, shared by every
//! connection and still in force after a restart — with no shared memory
//! and no preload library.

use crate::domain::error::LoyaltyError;
use crate::domain::policy;
use crate::domain::request::TxType;
use crate::events;
use crate::guard;
use crate::gucs;
use crate::plans::{self, Stmt};
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

/// Refuses the call when the staff member's window is used up (53400),
/// and logs the refusal.  The caller holds the staff member's row lock.
pub fn check(client: &mut SpiClient<'_>, staff: &str, corr: &str) -> Result<(), LoyaltyError> {
    let usage = usage(client, staff)?;
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
}

/// Rate-limited changes counted in the current window.
pub struct Usage {
    pub limit: i64,
    pub used: i64,
    pub window_seconds: i32,
    pub reset_at: Option<TimestampWithTimeZone>,
    /// `reset_at` as ISO 8601 UTC, for error details and logs.
    pub reset_at_text: Option<String>,
}

impl Usage {
    pub fn remaining(&self) -> i64 {
        (self.limit - self.used).max(0)
    }
}

pub fn usage(client: &mut SpiClient<'_>, staff: &str) -> Result<Usage, LoyaltyError> {
    let window = gucs::rate_window_seconds();
    let limited: Vec<&str> = TxType::ALL
        .into_iter()
        .filter(|t| t.is_rate_limited())
        .map(TxType::as_str)
        .collect();
    let rows = plans::run(
        client,
        &USAGE,
        &[staff.into(), window.into(), limited.into()],
    )?;
    let r = rows.first();
    Ok(Usage {
        limit: gucs::rate_limit() as i64,
        used: r.get::<i64>(1)?.unwrap_or(0),
        window_seconds: window,
        reset_at: r.get(2)?,
        reset_at_text: r.get(3)?,
    })
}

/// Sliding window ending at the transaction's start; served by the ledger's
/// (staff_id, created_at) index.
static USAGE: Stmt = Stmt {
    args: &[O::TEXTOID, O::INT4OID, O::TEXTARRAYOID],
    sql: "\
SELECT count(*),
       min(created_at) + $2 * interval '1 second',
       to_char((min(created_at) + $2 * interval '1 second') AT TIME ZONE 'UTC',
               'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
  FROM loyalty.loyalty_ledger
 WHERE staff_id = $1::uuid
   AND transaction_type = ANY ($3)
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
        let usage = Spi::connect_mut(|client| usage(client, &staff))?;
        Ok((
            usage.remaining() as i32,
            usage.reset_at,
            usage.used as i32,
            usage.limit as i32,
            usage.window_seconds,
        ))
    });
    TableIterator::once(row)
}
