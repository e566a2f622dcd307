//! Holds (SPEC section 15; the rules are `domain::hold`): points reserved
//! now and charged later.  `hold_points`, `capture_hold`, `release_hold`,
//! `expire_holds`, and the sweep of a player's expired holds that the write
//! path runs under the player's lock.
//!
//! A player's active holds are summed in `player_loyalty.held_points`,
//! changed only under the player's row lock, and no debit takes the balance
//! below it (`domain::request::apply`; a CHECK says so too).  A hold's row
//! is locked (`FOR UPDATE`) before it changes state, so of a capture, a
//! release and an expiry of the same hold exactly one happens; the others
//! find it closed (55000).  A capture is one REDEMPTION through the write
//! path, under a key derived from the hold; its points were counted against
//! the velocity limit when they were held.

use crate::authorize::{self, Caller};
use crate::casinos;
use crate::domain::error::LoyaltyError;
use crate::domain::hold::{self, Hold, HoldStatus};
use crate::domain::keys;
use crate::domain::policy::Capability;
use crate::domain::request::{apply, ChangeRequest, RawRequest, Route, TxType};
use crate::domain::text::{check_reason_substance, check_text, MAX_REASON_CHARS};
use crate::domain::velocity::VelocityKind;
use crate::events;
use crate::guard::{self, now, RowType};
use crate::gucs;
use crate::ledger::{self, ChangeArgs};
use crate::plans::{self, required, Stmt};
use crate::velocity;
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

type Uuid = pgrx::Uuid;

/// What `hold_points` and `release_hold` return (`loyalty.hold_result`).
struct HoldResult {
    hold_id: i64,
    player_id: Uuid,
    points: i32,
    status: HoldStatus,
    expires_at: TimestampWithTimeZone,
    available_after: i64,
    idempotent_replay: bool,
    correlation_id: String,
}

impl HoldResult {
    fn into_tuple(self) -> pgrx::composite_type!('static, "hold_result") {
        guard::row_tuple(
            RowType::Hold,
            vec![
                self.hold_id.into_datum(),
                self.player_id.into_datum(),
                self.points.into_datum(),
                self.status.as_str().into_datum(),
                self.expires_at.into_datum(),
                self.available_after.into_datum(),
                self.idempotent_replay.into_datum(),
                self.correlation_id.into_datum(),
            ],
        )
    }
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// Reserves points of a player's available balance until captured, released or expired; idempotent; loyalty:redeem; velocity-limited like redemptions.
#[allow(clippy::too_many_arguments)] // the SQL signature
fn hold_points(
    p_player_id: Option<Uuid>,
    p_points: Option<i32>,
    p_staff_id: Option<Uuid>,
    p_reason: Option<&str>,
    p_idempotency_key: Option<&str>,
    p_expires_at: default!(Option<TimestampWithTimeZone>, "NULL"),
    p_correlation_id: default!(Option<&str>, "NULL"),
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> pgrx::composite_type!('static, "hold_result") {
    guard::write_call("hold_points", p_correlation_id, |corr| {
        let named = p_staff_id.map(|s| s.to_string());
        let caller = Caller::resolve(named.as_deref(), true, p_casino_id, corr)?;
        let points = match p_points {
            Some(p) if p > 0 => p,
            other => {
                return Err(LoyaltyError::invalid_with(
                    "p_points to hold must be positive",
                    vec![("points", format!("{other:?}"))],
                ))
            }
        };
        // The hold is validated as the redemption it may become.
        let req = ChangeRequest::new(
            RawRequest {
                player_id: p_player_id.map(|p| p.to_string()),
                delta: Some(-points),
                tx_type: Some(TxType::Redemption.as_str().into()),
                idempotency_key: p_idempotency_key.map(str::to_string),
                reason: p_reason.map(str::to_string),
                staff_id: caller.staff.clone(),
                route: Route::Typed,
                ..RawRequest::default()
            },
            caller.casino.limits(gucs::limits()),
        )?;
        let player =
            p_player_id.ok_or_else(|| LoyaltyError::invalid("p_player_id must not be null"))?;
        let now = now();
        let asked = p_expires_at.map(i64::from);
        let expires_at = hold::expiry(asked, now, gucs::hold_expiry_s())?;
        let fingerprint = keys::hold_fingerprint(&req.fingerprint(), asked);
        let casino = caller.casino_id();
        Spi::connect_mut(|c| {
            authorize::check(c, &caller, &req, corr)?;
            if let Some(prior) = find_by_key(c, casino, &req.idempotency_key)? {
                return prior.answer(&fingerprint, &req.idempotency_key, corr);
            }
            // Quota after the key (a replay uses none), then the key again:
            // a concurrent hold with this key held the quota row until it
            // committed.
            let usage = velocity::lock(c, &caller, VelocityKind::Redemption, corr)?;
            if let Some(prior) = find_by_key(c, casino, &req.idempotency_key)? {
                return prior.answer(&fingerprint, &req.idempotency_key, corr);
            }
            velocity::consume(c, &caller, usage, points as i64, corr)?;
            let (mut account, ladder) = ledger::lock_player(c, casino, player, corr)?;
            // Expired points are not available to hold either.
            crate::lots::for_change(c, &caller.casino, player, &mut account, Route::Typed, 0)?;
            // The same rule as any debit: never beyond what is available.
            apply(&account, -points, &ladder)?;
            let expires = TimestampWithTimeZone::try_from(expires_at)
                .map_err(|_| LoyaltyError::invalid("p_expires_at is out of range"))?;
            let rows = plans::run(
                c,
                &CREATE,
                &[
                    casino.into(),
                    player.into(),
                    points.into(),
                    req.staff_id.as_deref().into(),
                    req.reason.as_deref().into(),
                    req.idempotency_key.as_str().into(),
                    fingerprint.as_str().into(),
                    expires.into(),
                    corr.into(),
                    caller.role.as_str().into(),
                ],
            )?;
            let r = rows.first();
            let result = HoldResult {
                hold_id: required(r.get(1)?, "hold_id")?,
                player_id: player,
                points,
                status: HoldStatus::Active,
                expires_at: expires,
                available_after: required(r.get(2)?, "available")?,
                idempotent_replay: false,
                correlation_id: corr.to_string(),
            };
            events::publish(
                "hold",
                corr,
                casino,
                Some(&player.to_string()),
                &[
                    ("hold_id", result.hold_id.to_string()),
                    ("player_id", player.to_string()),
                    ("points", points.to_string()),
                    ("expires_at", result.expires_at.to_string()),
                ],
            )?;
            Ok(result)
        })
    })
    .into_tuple()
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// Charges an active hold, all or part (p_points), as one REDEMPTION; the rest is released.
fn capture_hold(
    p_hold_id: Option<i64>,
    p_staff_id: Option<Uuid>,
    p_points: default!(Option<i32>, "NULL"),
    p_correlation_id: default!(Option<&str>, "NULL"),
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> pgrx::composite_type!('static, "change_result") {
    guard::write_call("capture_hold", p_correlation_id, |corr| {
        let hold_id =
            p_hold_id.ok_or_else(|| LoyaltyError::invalid("p_hold_id must not be null"))?;
        let (caller, staff) = Caller::acting_staff(p_staff_id, p_casino_id, corr)?;
        let (locked, points) = Spi::connect_mut(|c| {
            // Who asks comes first: an unauthorized staff member learns
            // nothing about the hold.
            authorize::check_staff(c, &caller, &staff, Capability::Redeem)?;
            let locked = lock_hold(c, caller.casino_id(), hold_id, corr)?;
            let points = locked.hold.capture(p_points, now())?;
            // The reservation ends here; the redemption below then charges
            // what is captured against the balance it leaves available.
            unreserve(c, caller.casino_id(), &locked)?;
            Ok::<_, LoyaltyError>((locked, points))
        })?;
        let change = ledger::change(
            &ChangeArgs {
                player_id: Some(locked.player_id),
                delta: Some(-points),
                tx_type: Some(TxType::Redemption.as_str().into()),
                idempotency_key: Some(keys::hold_capture_key(hold_id)),
                reason: Some(locked.reason.clone()),
                staff_id: p_staff_id,
                route: Route::Capture,
                reserved: locked.hold.points as i64,
                caller: Some(caller.clone()),
                ..ChangeArgs::default()
            },
            corr,
        )?;
        Spi::connect_mut(|c| {
            plans::run(
                c,
                &CLOSE,
                &[
                    hold_id.into(),
                    caller.casino_id().into(),
                    HoldStatus::Captured.as_str().into(),
                    staff.as_str().into(),
                    Option::<&str>::None.into(),
                    corr.into(),
                    Some(points).into(),
                    Some(change.ledger_id).into(),
                ],
            )
            .map(|_| ())
        })?;
        events::publish(
            "hold_captured",
            corr,
            caller.casino_id(),
            Some(&locked.player_id.to_string()),
            &[
                ("hold_id", hold_id.to_string()),
                ("player_id", locked.player_id.to_string()),
                ("points", points.to_string()),
                ("held", locked.hold.points.to_string()),
                ("ledger_id", change.ledger_id.to_string()),
            ],
        )?;
        Ok(change)
    })
    .into_tuple()
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// Releases an active hold's points, with a reason; loyalty:redeem.
fn release_hold(
    p_hold_id: Option<i64>,
    p_staff_id: Option<Uuid>,
    p_reason: Option<&str>,
    p_correlation_id: default!(Option<&str>, "NULL"),
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> pgrx::composite_type!('static, "hold_result") {
    guard::write_call("release_hold", p_correlation_id, |corr| {
        let hold_id =
            p_hold_id.ok_or_else(|| LoyaltyError::invalid("p_hold_id must not be null"))?;
        if let Some(r) = p_reason {
            check_text("p_reason", r, MAX_REASON_CHARS)?;
        }
        check_reason_substance(p_reason)?;
        let (caller, staff) = Caller::acting_staff(p_staff_id, p_casino_id, corr)?;
        Spi::connect_mut(|c| {
            authorize::check_staff(c, &caller, &staff, Capability::Redeem)?;
            let locked = lock_hold(c, caller.casino_id(), hold_id, corr)?;
            locked.hold.release(now())?;
            let available = unreserve(c, caller.casino_id(), &locked)?;
            plans::run(
                c,
                &CLOSE,
                &[
                    hold_id.into(),
                    caller.casino_id().into(),
                    HoldStatus::Released.as_str().into(),
                    staff.as_str().into(),
                    p_reason.into(),
                    corr.into(),
                    Option::<i32>::None.into(),
                    Option::<i64>::None.into(),
                ],
            )?;
            events::publish(
                "hold_released",
                corr,
                caller.casino_id(),
                Some(&locked.player_id.to_string()),
                &[
                    ("hold_id", hold_id.to_string()),
                    ("player_id", locked.player_id.to_string()),
                    ("points", locked.hold.points.to_string()),
                ],
            )?;
            Ok(HoldResult {
                hold_id,
                player_id: locked.player_id,
                points: locked.hold.points,
                status: HoldStatus::Released,
                expires_at: locked.expires_at,
                available_after: available,
                idempotent_replay: false,
                correlation_id: corr.to_string(),
            })
        })
    })
    .into_tuple()
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// Expires the active holds past their expiry of up to p_max players, skipping players another session holds; one row per hold expired. Suitable for pg_cron.
#[allow(clippy::type_complexity)]
fn expire_holds(
    p_max: default!(Option<i32>, 1000),
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(hold_id, i64),
        name!(casino_id, Uuid),
        name!(player_id, Uuid),
        name!(points, i32),
    ),
> {
    let rows = guard::write_call("expire_holds", None, |corr| {
        let max = guard::batch_size(p_max, 100_000)?;
        // A bound session expires its casino's holds; an unbound one (the
        // DBA, pg_cron) every casino's, or the one it names.
        let scope = casinos::scope(p_casino_id, corr)?;
        Spi::connect_mut(|c| {
            let players: Vec<(Uuid, Uuid)> =
                plans::run(c, &CLAIM_EXPIRED, &[max.into(), scope.as_deref().into()])?
                    .map(|r| {
                        Ok((
                            required::<Uuid>(r.get(1)?, "casino_id")?,
                            required::<Uuid>(r.get(2)?, "player_id")?,
                        ))
                    })
                    .collect::<Result<_, LoyaltyError>>()?;
            let mut expired = Vec::new();
            for (casino, player) in players {
                let casino = casino.to_string();
                for (hold_id, points) in sweep(c, &casino, player, corr)? {
                    expired.push((hold_id, casinos::uuid(&casino)?, player, points));
                }
            }
            Ok(expired)
        })
    });
    TableIterator::new(rows)
}

/// Expires the player's active holds past their expiry (the player's row
/// is locked by the caller): marks them EXPIRED and takes their points off
/// `held_points`.  Returns the holds expired.
pub fn sweep(
    c: &mut SpiClient<'_>,
    casino: &str,
    player: Uuid,
    corr: &str,
) -> Result<Vec<(i64, i32)>, LoyaltyError> {
    let expired: Vec<(i64, i32)> = plans::run(c, &SWEEP, &[casino.into(), player.into()])?
        .map(|r| {
            Ok((
                required(r.get(1)?, "hold_id")?,
                required(r.get(2)?, "points")?,
            ))
        })
        .collect::<Result<_, LoyaltyError>>()?;
    // Whoever sweeps (expire_holds, or any change that locks the player),
    // each expired hold is one event.
    for (hold_id, points) in &expired {
        events::publish(
            "hold_expired",
            corr,
            casino,
            Some(&player.to_string()),
            &[
                ("hold_id", hold_id.to_string()),
                ("player_id", player.to_string()),
                ("points", points.to_string()),
            ],
        )?;
    }
    Ok(expired)
}

/// A hold found by its key.
struct Prior {
    result: HoldResult,
    fingerprint: String,
}

impl Prior {
    /// The same request again is a replay; anything else under the key is
    /// a conflict (23505).
    fn answer(self, fingerprint: &str, key: &str, corr: &str) -> Result<HoldResult, LoyaltyError> {
        if self.fingerprint != fingerprint {
            events::emit(
                "idempotency_conflict",
                corr,
                &[
                    ("idempotency_key", key.to_string()),
                    ("existing_hold_id", self.result.hold_id.to_string()),
                ],
            );
            return Err(LoyaltyError::HoldConflict {
                key: key.to_string(),
                existing_hold_id: self.result.hold_id,
            });
        }
        Ok(self.result)
    }
}

fn find_by_key(
    c: &mut SpiClient<'_>,
    casino: &str,
    key: &str,
) -> Result<Option<Prior>, LoyaltyError> {
    let Some(r) = plans::run(c, &BY_KEY, &[casino.into(), key.into()])?.next() else {
        return Ok(None);
    };
    let status: String = required(r.get(4)?, "status")?;
    Ok(Some(Prior {
        result: HoldResult {
            hold_id: required(r.get(1)?, "hold_id")?,
            player_id: required(r.get(2)?, "player_id")?,
            points: required(r.get(3)?, "points")?,
            status: HoldStatus::parse(&status)
                .ok_or_else(|| LoyaltyError::internal(format!("unknown hold status {status}")))?,
            expires_at: required(r.get(5)?, "expires_at")?,
            available_after: required(r.get(6)?, "available")?,
            idempotent_replay: true,
            correlation_id: required(r.get(7)?, "correlation_id")?,
        },
        fingerprint: required(r.get(8)?, "request_fingerprint")?,
    }))
}

/// A hold's row, locked.
struct Locked {
    hold: Hold,
    player_id: Uuid,
    reason: String,
    expires_at: TimestampWithTimeZone,
}

/// Locks the casino's hold (P0002 when the casino has no such hold: another
/// casino's is as unknown as one never made), after its player's row, as
/// every path does (player, then hold): the player's expired holds are
/// swept first, so an expiry cannot close this hold behind the caller's
/// back once it has checked it.
fn lock_hold(
    c: &mut SpiClient<'_>,
    casino: &str,
    hold_id: i64,
    corr: &str,
) -> Result<Locked, LoyaltyError> {
    let not_found = || LoyaltyError::NotFound {
        message: format!("hold {hold_id} not found"),
        context: vec![("hold_id", hold_id.to_string())],
    };
    let player: Uuid = match plans::run(c, &PLAYER_OF, &[hold_id.into(), casino.into()])?.next() {
        Some(r) => required(r.get(1)?, "player_id")?,
        None => return Err(not_found()),
    };
    ledger::lock_existing(c, casino, player, corr)?;
    let Some(r) = plans::run(c, &LOCK, &[hold_id.into(), casino.into()])?.next() else {
        return Err(not_found());
    };
    let status: String = required(r.get(3)?, "status")?;
    let expires_at: TimestampWithTimeZone = required(r.get(4)?, "expires_at")?;
    Ok(Locked {
        hold: Hold {
            id: hold_id,
            points: required(r.get(2)?, "points")?,
            status: HoldStatus::parse(&status)
                .ok_or_else(|| LoyaltyError::internal(format!("unknown hold status {status}")))?,
            expires_at: expires_at.into(),
        },
        player_id: required(r.get(1)?, "player_id")?,
        reason: required(r.get(5)?, "reason")?,
        expires_at,
    })
}

/// Ends a hold's reservation (the player's row is locked by `lock_hold`);
/// returns what the player then has available.
fn unreserve(c: &mut SpiClient<'_>, casino: &str, locked: &Locked) -> Result<i64, LoyaltyError> {
    let rows = plans::run(
        c,
        &UNRESERVE,
        &[
            casino.into(),
            locked.player_id.into(),
            locked.hold.points.into(),
        ],
    )?;
    required(rows.first().get::<i64>(1)?, "available")
}

/// A new hold, and its points added to the player's `held_points`.
static CREATE: Stmt = Stmt {
    args: &[
        O::TEXTOID,
        O::UUIDOID,
        O::INT4OID,
        O::TEXTOID,
        O::TEXTOID,
        O::TEXTOID,
        O::TEXTOID,
        O::TIMESTAMPTZOID,
        O::TEXTOID,
        O::TEXTOID,
    ],
    sql: "\
WITH hold AS (
    INSERT INTO loyalty.point_hold
        (casino_id, player_id, points, staff_id, reason, idempotency_key, request_fingerprint,
         expires_at, correlation_id, actor_role)
    VALUES ($1::uuid, $2, $3, $4::uuid, $5, $6, $7, $8, $9, $10)
    RETURNING hold_id
), player AS (
    UPDATE loyalty.player_loyalty p SET held_points = p.held_points + $3
     WHERE p.casino_id = $1::uuid AND p.player_id = $2
    RETURNING p.current_balance - p.held_points AS available
)
SELECT hold.hold_id, player.available FROM hold, player",
};

static BY_KEY: Stmt = Stmt {
    args: &[O::TEXTOID, O::TEXTOID],
    sql: "\
SELECT h.hold_id, h.player_id, h.points, h.status, h.expires_at,
       coalesce(p.current_balance - p.held_points, 0), h.correlation_id, h.request_fingerprint
  FROM loyalty.point_hold h
  LEFT JOIN loyalty.player_loyalty p ON p.casino_id = h.casino_id AND p.player_id = h.player_id
 WHERE h.casino_id = $1::uuid AND h.idempotency_key = $2",
};

static PLAYER_OF: Stmt = Stmt {
    args: &[O::INT8OID, O::TEXTOID],
    sql: "SELECT player_id FROM loyalty.point_hold WHERE hold_id = $1 AND casino_id = $2::uuid",
};

static LOCK: Stmt = Stmt {
    args: &[O::INT8OID, O::TEXTOID],
    sql: "\
SELECT player_id, points, status, expires_at, reason
  FROM loyalty.point_hold
 WHERE hold_id = $1 AND casino_id = $2::uuid
   FOR UPDATE",
};

static UNRESERVE: Stmt = Stmt {
    args: &[O::TEXTOID, O::UUIDOID, O::INT4OID],
    sql: "\
UPDATE loyalty.player_loyalty p SET held_points = p.held_points - $3
 WHERE p.casino_id = $1::uuid AND p.player_id = $2
RETURNING p.current_balance - p.held_points",
};

/// A hold leaves ACTIVE: captured, released (with who, why, and for a
/// capture its points and ledger row).
static CLOSE: Stmt = Stmt {
    args: &[
        O::INT8OID,
        O::TEXTOID,
        O::TEXTOID,
        O::TEXTOID,
        O::TEXTOID,
        O::TEXTOID,
        O::INT4OID,
        O::INT8OID,
    ],
    sql: "\
UPDATE loyalty.point_hold
   SET status = $3, closed_at = clock_timestamp(), closed_by_staff_id = $4::uuid, close_reason = $5,
       close_correlation_id = $6, captured_points = $7, capture_ledger_id = $8
 WHERE hold_id = $1 AND casino_id = $2::uuid AND status = 'ACTIVE'",
};

/// The player's expired holds closed and their points unreserved, in one
/// statement; the player's row is updated only when some expired.
static SWEEP: Stmt = Stmt {
    args: &[O::TEXTOID, O::UUIDOID],
    sql: "\
WITH gone AS (
    UPDATE loyalty.point_hold h
       SET status = 'EXPIRED', closed_at = clock_timestamp(), close_reason = 'expired'
     WHERE h.casino_id = $1::uuid AND h.player_id = $2 AND h.status = 'ACTIVE'
       AND h.expires_at <= clock_timestamp()
    RETURNING h.hold_id, h.points
), player AS (
    UPDATE loyalty.player_loyalty p SET held_points = p.held_points - (SELECT sum(points) FROM gone)
     WHERE p.casino_id = $1::uuid AND p.player_id = $2 AND EXISTS (SELECT 1 FROM gone)
)
SELECT hold_id, points FROM gone ORDER BY hold_id",
};

/// Players with expired active holds that no other session holds, locked.
static CLAIM_EXPIRED: Stmt = Stmt {
    args: &[O::INT4OID, O::TEXTOID],
    sql: "\
SELECT p.casino_id, p.player_id
  FROM loyalty.player_loyalty p
 WHERE p.held_points > 0
   AND p.casino_id = coalesce($2::uuid, p.casino_id)
   AND EXISTS (SELECT 1 FROM loyalty.point_hold h
                WHERE h.casino_id = p.casino_id AND h.player_id = p.player_id
                  AND h.status = 'ACTIVE' AND h.expires_at <= clock_timestamp())
 LIMIT $1
   FOR UPDATE OF p SKIP LOCKED",
};
