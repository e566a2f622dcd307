//! Velocity limits in the database (SPEC section 5; the rule is
//! `domain::velocity`) and `loyalty.rate_limit_status`.
//!
//! Each (scope, actor, kind) has one row in `loyalty.velocity_usage` holding
//! its changes inside the window.  A counted change locks that row
//! (`FOR UPDATE`), admits itself, and writes the row back, in the caller's
//! transaction, after the idempotency-key lookup (a replay uses no quota):
//! - READ COMMITTED: concurrent changes queue on the row lock and each
//!   reads the row as the one before it left it, so the limit is exact;
//! - REPEATABLE READ / SERIALIZABLE: a change whose snapshot predates
//!   another change's update of the row fails to lock it with 40001
//!   (serialization failure, retryable) instead of counting from stale data.
//!
//! Shared by every connection, kept across restarts, with no shared memory
//! and no preload library.

use crate::authorize::Caller;
use crate::domain::casino::Casino;
use crate::domain::error::{LockTarget, LoyaltyError};
use crate::domain::velocity::{self, Event, Limit, Scope, Usage, VelocityKind};
use crate::events;
use crate::guard::{self, now};
use crate::gucs;
use crate::plans::{self, Stmt};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

/// The usage rows a change counts against (the staff member who acts and
/// the calling login role), locked, with the changes they held.
pub struct Held {
    kind: VelocityKind,
    rows: Vec<(Scope, String, Vec<Event>)>,
}

/// Locks (creating them if need be) the usage rows of a change of `kind`,
/// counting nothing: the write path takes them before it looks the key up
/// again, so that a concurrent call with the same key, which held them, has
/// committed by then and this call is its replay.
pub fn lock(
    client: &mut SpiClient<'_>,
    caller: &Caller,
    kind: VelocityKind,
    corr: &str,
) -> Result<Held, LoyaltyError> {
    let casino = caller.casino_id();
    let mut rows = Vec::with_capacity(2);
    for (scope, actor) in actors(caller, kind) {
        let events = decode(lock_one(client, casino, scope, &actor, kind, corr)?)?;
        rows.push((scope, actor, events));
    }
    Ok(Held { kind, rows })
}

/// Who a change of `kind` counts against: the staff member who acts, if
/// any, and the calling login role — each unless its limit is off
/// (`Limit::is_off`).
fn actors(caller: &Caller, kind: VelocityKind) -> Vec<(Scope, String)> {
    let mut actors = Vec::with_capacity(2);
    if let Some(staff) = &caller.staff {
        actors.push((Scope::Staff, staff.clone()));
    }
    actors.push((Scope::Role, caller.role.clone()));
    actors.retain(|(scope, _)| !limit_of(&caller.casino, kind, *scope).is_off());
    actors
}

/// Counts one change of `points` (absolute) against the rows `lock` holds:
/// every one must admit it, or the call fails with 53400.
pub fn consume(
    client: &mut SpiClient<'_>,
    caller: &Caller,
    held: Held,
    points: i64,
    corr: &str,
) -> Result<(), LoyaltyError> {
    save(client, &admit(caller, held, points, corr)?)
}

/// A usage row as a counted change leaves it.
pub struct Saved {
    casino: String,
    scope: Scope,
    actor: String,
    kind: VelocityKind,
    events: Vec<Event>,
}

/// Admits one change of `points` (absolute) against the rows `lock` holds
/// (53400 if any refuses it, logged as `rate_limit_hit`) and returns the
/// rows as the change leaves them, for `save` or for the statement that
/// writes the change (`save_args`).
pub fn admit(
    caller: &Caller,
    held: Held,
    points: i64,
    corr: &str,
) -> Result<Vec<Saved>, LoyaltyError> {
    let kind = held.kind;
    held.rows
        .into_iter()
        .map(|(scope, actor, events)| {
            let limit = limit_of(&caller.casino, kind, scope);
            let kept = velocity::admit(kind, scope, &actor, &events, now(), &limit, points)
                .inspect_err(|e| {
                    events::emit(
                        "rate_limit_hit",
                        corr,
                        &[
                            ("kind", kind.as_str().to_string()),
                            (scope.detail_key(), actor.to_string()),
                            ("error", e.to_string()),
                        ],
                    )
                })?;
            Ok(Saved {
                casino: caller.casino_id().to_string(),
                scope,
                actor,
                kind,
                events: kept,
            })
        })
        .collect()
}

/// Writes the usage rows back (they are locked).
pub fn save(client: &mut SpiClient<'_>, saved: &[Saved]) -> Result<(), LoyaltyError> {
    for row in saved {
        plans::run(client, &SAVE, &save_args(row))?;
    }
    Ok(())
}

/// The arguments that name a usage row and give its new content: scope,
/// actor, kind, casino, times, points, counts.
pub fn save_args(row: &Saved) -> Vec<DatumWithOid<'static>> {
    let at: Vec<TimestampWithTimeZone> = row
        .events
        .iter()
        .map(|e| {
            TimestampWithTimeZone::try_from(e.at)
                .unwrap_or_else(|_| TimestampWithTimeZone::positive_infinity())
        })
        .collect();
    let points: Vec<i64> = row.events.iter().map(|e| e.points).collect();
    let counts: Vec<i32> = row.events.iter().map(|e| e.count as i32).collect();
    let mut args = usage_key(&row.casino, row.scope, &row.actor, row.kind);
    args.push(at.into());
    args.push(points.into());
    args.push(counts.into());
    args
}

/// The arguments naming one usage row.
fn usage_key(
    casino: &str,
    scope: Scope,
    actor: &str,
    kind: VelocityKind,
) -> Vec<DatumWithOid<'static>> {
    vec![
        scope.as_str().into(),
        actor.to_string().into(),
        kind.as_str().into(),
        casino.to_string().into(),
    ]
}

/// The casino's value of a limit (its own, else the setting's).
fn limit_of(casino: &Casino, kind: VelocityKind, scope: Scope) -> Limit {
    casino.velocity_limit(kind, scope, gucs::velocity_limit(kind, scope))
}

/// A usage row as a lock timeout names it: `staff:<id>` or `role:<name>`.
struct UsageOf<'a>(Scope, &'a str);

impl std::fmt::Display for UsageOf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.0.as_str(), self.1)
    }
}

/// Locks one usage row (waiting at most `loyalty.lock_timeout`), creating
/// it first if need be.
fn lock_one<'c>(
    client: &mut SpiClient<'c>,
    casino: &str,
    scope: Scope,
    actor: &str,
    kind: VelocityKind,
    corr: &str,
) -> Result<pgrx::spi::SpiTupleTable<'c>, LoyaltyError> {
    let key = || usage_key(casino, scope, actor, kind);
    guard::with_lock_timeout(
        LockTarget::VelocityUsage,
        &UsageOf(scope, actor),
        corr,
        || {
            let rows = plans::run(client, &LOCK, &key())?;
            if !rows.is_empty() {
                return Ok(rows);
            }
            // A first change: make the row; a concurrent first change makes
            // this wait for its commit (and, under REPEATABLE READ, fail 40001).
            plans::run(client, &CREATE, &key())?;
            plans::run(client, &LOCK, &key())
        },
    )
}

/// What an actor has used of a limit, without locking or counting.
pub fn usage(
    client: &mut SpiClient<'_>,
    casino: &Casino,
    scope: Scope,
    actor: &str,
    kind: VelocityKind,
) -> Result<(Usage, Limit), LoyaltyError> {
    let events = read(client, &casino.id, scope, actor, kind)?;
    let limit = limit_of(casino, kind, scope);
    Ok((velocity::usage(&events, now(), &limit), limit))
}

/// An actor's counted changes, read without a lock.
fn read(
    client: &mut SpiClient<'_>,
    casino: &str,
    scope: Scope,
    actor: &str,
    kind: VelocityKind,
) -> Result<Vec<Event>, LoyaltyError> {
    decode(plans::run(
        client,
        &READ,
        &usage_key(casino, scope, actor, kind),
    )?)
}

/// Checks that one more change would be admitted, counting nothing
/// (`validate_reward`).
pub fn check(
    client: &mut SpiClient<'_>,
    caller: &Caller,
    kind: VelocityKind,
    points: i64,
) -> Result<(), LoyaltyError> {
    for (scope, actor) in actors(caller, kind) {
        let events = read(client, caller.casino_id(), scope, &actor, kind)?;
        let limit = limit_of(&caller.casino, kind, scope);
        velocity::admit(kind, scope, &actor, &events, now(), &limit, points)?;
    }
    Ok(())
}

fn decode(rows: pgrx::spi::SpiTupleTable<'_>) -> Result<Vec<Event>, LoyaltyError> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let r = rows.first();
    let at: Vec<TimestampWithTimeZone> = r.get(1)?.unwrap_or_default();
    let points: Vec<i64> = r.get(2)?.unwrap_or_default();
    let counts: Vec<i32> = r.get(3)?.unwrap_or_default();
    Ok(at
        .into_iter()
        .zip(points)
        .enumerate()
        .map(|(i, (at, points))| Event {
            at: at.into(),
            points,
            count: counts.get(i).map_or(1, |c| *c as i64),
        })
        .collect())
}

static LOCK: Stmt = Stmt {
    args: &[O::TEXTOID, O::TEXTOID, O::TEXTOID, O::TEXTOID],
    sql: "\
SELECT event_at, event_points, event_count FROM loyalty.velocity_usage
 WHERE casino_id = $4::uuid AND scope = $1 AND actor = $2 AND kind = $3
   FOR UPDATE",
};

static READ: Stmt = Stmt {
    args: &[O::TEXTOID, O::TEXTOID, O::TEXTOID, O::TEXTOID],
    sql: "\
SELECT event_at, event_points, event_count FROM loyalty.velocity_usage
 WHERE casino_id = $4::uuid AND scope = $1 AND actor = $2 AND kind = $3",
};

static CREATE: Stmt = Stmt {
    args: &[O::TEXTOID, O::TEXTOID, O::TEXTOID, O::TEXTOID],
    sql: "\
INSERT INTO loyalty.velocity_usage (scope, actor, kind, casino_id) VALUES ($1, $2, $3, $4::uuid)
    ON CONFLICT DO NOTHING",
};

static SAVE: Stmt = Stmt {
    args: &[
        O::TEXTOID,
        O::TEXTOID,
        O::TEXTOID,
        O::TEXTOID,
        O::TIMESTAMPTZARRAYOID,
        O::INT8ARRAYOID,
        O::INT4ARRAYOID,
    ],
    sql: "\
UPDATE loyalty.velocity_usage SET event_at = $5, event_points = $6, event_count = $7
 WHERE casino_id = $4::uuid AND scope = $1 AND actor = $2 AND kind = $3",
};

#[pg_extern(security_definer, stable, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// How many manual rewards a staff member has left in the current window, and when the oldest counted one expires.
#[allow(clippy::type_complexity)]
fn rate_limit_status(
    p_staff_id: Option<pgrx::Uuid>,
    p_casino_id: default!(Option<pgrx::Uuid>, "NULL"),
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
    let row = guard::sql_call(None, |corr| {
        let staff = p_staff_id
            .ok_or_else(|| LoyaltyError::invalid("p_staff_id must not be null"))?
            .to_string();
        let casino = crate::casinos::acting(p_casino_id, corr)?;
        let (used, limit) = Spi::connect_mut(|client| {
            usage(
                client,
                &casino,
                Scope::Staff,
                &staff,
                VelocityKind::ManualReward,
            )
        })?;
        Ok((
            (limit.max_count - used.count).max(0) as i32,
            used.reset_at
                .and_then(|at| TimestampWithTimeZone::try_from(at).ok()),
            used.count as i32,
            limit.max_count as i32,
            (limit.window_us / 1_000_000) as i32,
        ))
    });
    TableIterator::once(row)
}
