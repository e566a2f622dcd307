//! Lots of points under a casino's expiry policy (SPEC section 15; the
//! rules are `domain::expiry`) and `loyalty.expire_points`.
//!
//! Only casinos whose policy is not `none` keep lots, so the write path of
//! every other casino does nothing here.  Under the player's row lock the
//! write path opens the player's lots (bringing them in line with the
//! balance first: an opening lot for points held before lots were kept),
//! counts the expired ones out of what is available, and after the ledger
//! row is written records the change: a credit is a new lot, a debit
//! consumes lots (which ones, in `loyalty.lot_consumption`).

use crate::authorize::Caller;
use crate::casinos;
use crate::domain::casino::Casino;
use crate::domain::error::LoyaltyError;
use crate::domain::expiry::{self, Heal, Lot, Lots, Policy};
use crate::domain::request::{Account, Route, TxType};
use crate::events;
use crate::guard::{self, now};
use crate::ledger::{self, ChangeArgs};
use crate::plans::{self, required, Stmt};
use pgrx::pg_sys;
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

type Uuid = pgrx::Uuid;

/// The months of a `fixed` policy (a lot's own expiry), else `None`.
fn fixed_months(policy: Policy) -> Option<i32> {
    match policy {
        Policy::Fixed { months } => Some(months),
        _ => None,
    }
}

/// The months of an `inactivity` policy (the player's deadline), else `None`.
fn inactivity_months(policy: Policy) -> Option<i32> {
    match policy {
        Policy::Inactivity { months } => Some(months),
        _ => None,
    }
}

/// For a casino that keeps lots: the player's open lots, in line with the
/// balance, and `account.expired` set to the points in expired lots (not
/// for an EXPIRATION, which takes them, nor those a captured hold of
/// `reserved` points kept).  `None` for a casino that keeps
/// none.  The player's row is locked by the caller.
pub fn for_change(
    c: &mut SpiClient<'_>,
    casino: &Casino,
    player: Uuid,
    account: &mut Account,
    route: Route,
    reserved: i64,
) -> Result<Option<Lots>, LoyaltyError> {
    if !casino.expiry.keeps_lots() {
        return Ok(None);
    }
    let lots = open(c, casino, player, account.balance)?;
    account.expired = match route {
        Route::Expiration => 0,
        // The points a captured hold reserved stay chargeable though their
        // lots expired: the expiry spared them for the hold.
        _ => (lots.expired_points(now()) - reserved).max(0),
    };
    Ok(Some(lots))
}

/// The player's open lots, brought in line with `balance`.
fn open(
    c: &mut SpiClient<'_>,
    casino: &Casino,
    player: Uuid,
    balance: i64,
) -> Result<Lots, LoyaltyError> {
    let mut lots = Lots::default();
    let loaded = match inactivity_months(casino.expiry) {
        Some(months) => plans::run(
            c,
            &LOAD_WITH_DEADLINE,
            &[casino.id.as_str().into(), player.into(), months.into()],
        )?,
        None => plans::run(c, &LOAD, &[casino.id.as_str().into(), player.into()])?,
    };
    for r in loaded {
        lots.deadline = r.get::<TimestampWithTimeZone>(1)?.map(i64::from);
        if let Some(id) = r.get::<i64>(2)? {
            lots.lots.push(Lot {
                id,
                remaining: required(r.get(3)?, "remaining")?,
                expires_at: r.get::<TimestampWithTimeZone>(4)?.map(i64::from),
            });
        }
    }
    match lots.heal(balance) {
        Heal::InLine => {}
        Heal::Open(points) => {
            let r = plans::run(
                c,
                &NEW_LOT,
                &[
                    casino.id.as_str().into(),
                    player.into(),
                    Option::<i64>::None.into(),
                    points.into(),
                    Option::<TimestampWithTimeZone>::None.into(),
                    fixed_months(casino.expiry).into(),
                ],
            )?;
            let r = r.first();
            lots.lots.push(Lot {
                id: required(r.get(1)?, "lot_id")?,
                remaining: points,
                expires_at: r.get::<TimestampWithTimeZone>(2)?.map(i64::from),
            });
        }
        Heal::Shrink(taken) => {
            consume(c, &casino.id, None, &taken)?;
            for (id, points) in taken {
                if let Some(l) = lots.lots.iter_mut().find(|l| l.id == id) {
                    l.remaining -= points;
                }
            }
        }
    }
    Ok(lots)
}

/// Records a change written as ledger row `ledger_id` at `created_at`: a
/// credit is a new lot; a debit consumes `consumed`.
pub fn record(
    c: &mut SpiClient<'_>,
    casino: &Casino,
    player: Uuid,
    ledger_id: i64,
    created_at: TimestampWithTimeZone,
    delta: i32,
    consumed: &[(i64, i64)],
) -> Result<(), LoyaltyError> {
    if delta > 0 {
        plans::run(
            c,
            &NEW_LOT,
            &[
                casino.id.as_str().into(),
                player.into(),
                Some(ledger_id).into(),
                (delta as i64).into(),
                Some(created_at).into(),
                fixed_months(casino.expiry).into(),
            ],
        )?;
        Ok(())
    } else {
        consume(c, &casino.id, Some(ledger_id), consumed)
    }
}

fn consume(
    c: &mut SpiClient<'_>,
    casino: &str,
    ledger_id: Option<i64>,
    taken: &[(i64, i64)],
) -> Result<(), LoyaltyError> {
    let (ids, points): (Vec<i64>, Vec<i64>) = taken.iter().copied().unzip();
    // Usually one or two lots: see `plans::run_generic`.
    plans::run_generic(
        c,
        &CONSUME,
        &[ids.into(), points.into(), ledger_id.into(), casino.into()],
    )?;
    Ok(())
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// Writes off the expired points of up to p_max players (one EXPIRATION ledger row each) by their casino's policy, as of p_as_of (default now; a future moment only for a superuser); skips players another session holds. Suitable for pg_cron.
#[allow(clippy::type_complexity)]
fn expire_points(
    p_max: default!(Option<i32>, 1000),
    p_as_of: default!(Option<TimestampWithTimeZone>, "NULL"),
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(casino_id, Uuid),
        name!(player_id, Uuid),
        name!(points, i64),
        name!(ledger_id, i64),
    ),
> {
    let rows = guard::write_call("expire_points", None, |corr| {
        let max = guard::batch_size(p_max, 100_000)?;
        let now = now();
        let as_of = p_as_of.map_or(now, i64::from);
        // SAFETY: reads the session's authenticated user id.
        let superuser = unsafe { pg_sys::superuser_arg(pg_sys::GetSessionUserId()) };
        if as_of > now && !superuser {
            return Err(LoyaltyError::PermissionDenied {
                message: "only a superuser may expire points as of a future moment".into(),
                context: vec![("role", crate::authorize::session_role())],
            });
        }
        let as_of_ts = TimestampWithTimeZone::try_from(as_of)
            .map_err(|_| LoyaltyError::invalid("p_as_of is out of range"))?;
        let scope = casinos::scope(p_casino_id, corr)?;
        let players: Vec<(Uuid, Uuid)> = Spi::connect_mut(|c| {
            plans::run(
                c,
                &CLAIM,
                &[max.into(), scope.as_deref().into(), as_of_ts.into()],
            )?
            .map(|r| {
                Ok((
                    required::<Uuid>(r.get(1)?, "casino_id")?,
                    required::<Uuid>(r.get(2)?, "player_id")?,
                ))
            })
            .collect::<Result<_, LoyaltyError>>()
        })?;
        let mut written = Vec::new();
        for (casino_id, player) in players {
            let caller = Caller::resolve(None, false, Some(casino_id), corr)?;
            let opened = Spi::connect_mut(|c| {
                let mut account = ledger::lock_existing(c, caller.casino_id(), player, corr)?
                    .ok_or_else(|| LoyaltyError::internal("a claimed player has no row"))?;
                let Some(lots) = for_change(
                    c,
                    &caller.casino,
                    player,
                    &mut account,
                    Route::Expiration,
                    0,
                )?
                else {
                    return Ok(None);
                };
                // Held points are not written off while their hold lasts.
                let cap = account.balance - account.held;
                let mut expired = Vec::new();
                let mut total = 0;
                for (id, points) in lots.expired(as_of) {
                    let take = points.min(cap - total);
                    if take <= 0 {
                        break;
                    }
                    expired.push((id, take));
                    total += take;
                }
                Ok::<_, LoyaltyError>(Some((expired, account, lots)))
            })?;
            let Some((expired, account, lots)) = opened else {
                continue;
            };
            let total: i64 = expired.iter().map(|(_, p)| p).sum();
            if total == 0 {
                continue;
            }
            let delta = i32::try_from(-total)
                .map_err(|_| LoyaltyError::internal("an expiration beyond integer range"))?;
            let change = ledger::change(
                &ChangeArgs {
                    player_id: Some(player),
                    delta: Some(delta),
                    tx_type: Some(TxType::Expiration.as_str().into()),
                    idempotency_key: Some(expiry::expiration_key(&player.to_string(), &expired)),
                    reason: Some("points expired by the casino's expiry policy".into()),
                    route: Route::Expiration,
                    expiring: Some(expired.clone()),
                    opened: Some((account, lots)),
                    caller: Some(caller.clone()),
                    ..ChangeArgs::default()
                },
                corr,
            )?;
            if !change.idempotent_replay {
                events::publish(
                    "points_expired",
                    corr,
                    &casino_id.to_string(),
                    Some(&player.to_string()),
                    &[
                        ("player_id", player.to_string()),
                        ("points", total.to_string()),
                        ("ledger_id", change.ledger_id.to_string()),
                        ("lots", expired.len().to_string()),
                    ],
                )?;
            }
            written.push((casino_id, player, total, change.ledger_id));
        }
        Ok(written)
    });
    TableIterator::new(rows)
}

/// The player's open lots (one row with no lot for a player without lots),
/// after a first column: when they all expire (`LOAD_WITH_DEADLINE`), or
/// NULL (`LOAD`, a policy without that deadline).  Two statements, not
/// one with a CASE on a parameter: PostgreSQL would plan that one again on
/// every call, each plan folding the CASE away.
macro_rules! load_lots {
    ($deadline:literal) => {
        concat!(
            "SELECT ",
            $deadline,
            ",
       l.lot_id, l.remaining, l.expires_at
  FROM loyalty.player_loyalty p
  LEFT JOIN loyalty.point_lot l
    ON l.casino_id = p.casino_id AND l.player_id = p.player_id AND l.remaining > 0
 WHERE p.casino_id = $1::uuid AND p.player_id = $2
 ORDER BY l.lot_id"
        )
    };
}

/// See `load_lots`: a policy without an inactivity deadline.
static LOAD: Stmt = Stmt {
    args: &[O::TEXTOID, O::UUIDOID],
    sql: load_lots!("NULL::timestamptz"),
};

/// See `load_lots`: under `inactivity` ($3 months), the lots all expire
/// that long after the player's last change other than an EXPIRATION
/// (neither an expiry, a hold nor a reconciliation restarts the clock).
static LOAD_WITH_DEADLINE: Stmt = Stmt {
    args: &[O::TEXTOID, O::UUIDOID, O::INT4OID],
    sql: load_lots!(
        "coalesce((SELECT a.created_at FROM loyalty.loyalty_ledger a
                  WHERE a.casino_id = p.casino_id AND a.player_id = p.player_id
                    AND a.transaction_type <> 'EXPIRATION'
                  ORDER BY a.id DESC LIMIT 1), p.created_at) + make_interval(months => $3::int)"
    ),
};

/// A lot: of a credit ($3), or an opening lot ($3 NULL, earned now); under
/// `fixed` ($6 months) it expires that long after it was earned.
static NEW_LOT: Stmt = Stmt {
    args: &[
        O::TEXTOID,
        O::UUIDOID,
        O::INT8OID,
        O::INT8OID,
        O::TIMESTAMPTZOID,
        O::INT4OID,
    ],
    sql: "\
INSERT INTO loyalty.point_lot (casino_id, player_id, ledger_id, points, remaining, earned_at, expires_at)
SELECT $1::uuid, $2, $3, $4, $4, e.at,
       CASE WHEN $6::int IS NULL THEN NULL ELSE e.at + make_interval(months => $6::int) END
  FROM (SELECT coalesce($5, clock_timestamp()) AS at) e
RETURNING lot_id, expires_at",
};

/// Points taken from lots, and the record of it.
static CONSUME: Stmt = Stmt {
    args: &[O::INT8ARRAYOID, O::INT8ARRAYOID, O::INT8OID, O::TEXTOID],
    sql: "\
WITH c AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS c(lot_id, points)
), lots AS (
    UPDATE loyalty.point_lot l SET remaining = l.remaining - c.points
      FROM c WHERE l.lot_id = c.lot_id AND l.casino_id = $4::uuid
    RETURNING l.lot_id
)
INSERT INTO loyalty.lot_consumption (casino_id, lot_id, ledger_id, points)
SELECT $4::uuid, c.lot_id, $3, c.points FROM c",
};

/// Players with points to write off as of $3 that no other session holds:
/// lots expired by their casino's policy, or a balance no lot holds yet
/// (its opening lot may be expired at once under `inactivity`).
static CLAIM: Stmt = Stmt {
    args: &[O::INT4OID, O::TEXTOID, O::TIMESTAMPTZOID],
    sql: "\
SELECT p.casino_id, p.player_id
  FROM loyalty.player_loyalty p
  JOIN loyalty.casino c ON c.casino_id = p.casino_id
 WHERE c.expiry_policy <> 'none'
   AND p.casino_id = coalesce($2::uuid, p.casino_id)
   AND p.current_balance > p.held_points
   AND (NOT EXISTS (SELECT 1 FROM loyalty.point_lot l
                     WHERE l.casino_id = p.casino_id AND l.player_id = p.player_id AND l.remaining > 0)
        OR EXISTS (SELECT 1 FROM loyalty.point_lot l
                    WHERE l.casino_id = p.casino_id AND l.player_id = p.player_id AND l.remaining > 0
                      AND CASE WHEN c.expiry_policy = 'fixed' THEN l.expires_at <= $3
                               ELSE coalesce((SELECT a.created_at FROM loyalty.loyalty_ledger a
                                                   WHERE a.casino_id = p.casino_id AND a.player_id = p.player_id
                                                     AND a.transaction_type <> 'EXPIRATION'
                                                   ORDER BY a.id DESC LIMIT 1), p.created_at)
                                    + make_interval(months => c.expiry_months) <= $3 END))
 ORDER BY p.casino_id, p.player_id
 LIMIT $1
   FOR UPDATE OF p SKIP LOCKED",
};
