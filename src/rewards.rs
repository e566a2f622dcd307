//! The typed write functions of SPEC section 3: manual rewards, promotions,
//! redemptions, adjustments and reversals.  Each derives its idempotency key
//! and transaction type, then goes through `ledger::change`; none of them
//! has a rule of its own that the one write path does not also enforce.

use crate::authorize;
use crate::domain::keys;
use crate::domain::policy;
use crate::domain::request::{check_text, ChangeRequest, RawRequest, TxType, MAX_KEY_CHARS};
use crate::error::LoyaltyError;
use crate::guard;
use crate::gucs;
use crate::ledger::{self, ChangeArgs};
use crate::plans::{self, required, Stmt};
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

type Uuid = pgrx::Uuid;

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// A MANUAL_BONUS granted by a staff member; the same reward twice in one gaming day is a replay.
fn manual_reward(
    p_player_id: Option<Uuid>,
    p_staff_id: Option<Uuid>,
    p_points: Option<i32>,
    p_reason: Option<&str>,
    p_sequence: default!(Option<i32>, 1),
    p_correlation_id: default!(Option<&str>, "NULL"),
) -> pgrx::composite_type!('static, "change_result") {
    guard::sql_call(p_correlation_id, |corr| {
        let sequence = check_sequence(p_sequence)?;
        let key = match (p_player_id, p_staff_id, p_points, p_reason) {
            (Some(player), Some(staff), Some(points), Some(reason)) => {
                let day = Spi::connect_mut(|c| gaming_day_text(c, None))?;
                Some(keys::manual_reward_key(
                    &player.to_string(),
                    &staff.to_string(),
                    points,
                    reason,
                    &day,
                    sequence,
                ))
            }
            // A missing component is reported by the request's validation.
            _ => Some(PENDING_KEY.to_string()),
        };
        ledger::change(
            &ChangeArgs::typed(
                TxType::ManualBonus,
                p_player_id,
                p_points,
                key,
                p_reason,
                p_staff_id,
            ),
            corr,
        )
    })
    .into_tuple()
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// A PROMOTION keyed by the external reward id: a second delivery of the same reward is a replay.
fn apply_promotion(
    p_player_id: Option<Uuid>,
    p_reward_id: Option<&str>,
    p_points: Option<i32>,
    p_reason: default!(Option<&str>, "NULL"),
    p_staff_id: default!(Option<Uuid>, "NULL"),
    p_correlation_id: default!(Option<&str>, "NULL"),
) -> pgrx::composite_type!('static, "change_result") {
    guard::sql_call(p_correlation_id, |corr| {
        let reward_id = p_reward_id
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| LoyaltyError::invalid("p_reward_id must not be null or blank"))?;
        check_text("p_reward_id", reward_id, MAX_KEY_CHARS)?;
        let key = p_player_id.map(|p| keys::promotion_key(&p.to_string(), reward_id));
        let key = key.or_else(|| Some(PENDING_KEY.into()));
        ledger::change(
            &ChangeArgs::typed(
                TxType::Promotion,
                p_player_id,
                p_points,
                key,
                p_reason,
                p_staff_id,
            ),
            corr,
        )
    })
    .into_tuple()
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// A REDEMPTION of p_points (positive) by a staff member holding loyalty:redeem; never below zero.
fn redeem_points(
    p_player_id: Option<Uuid>,
    p_points: Option<i32>,
    p_staff_id: Option<Uuid>,
    p_reason: Option<&str>,
    p_idempotency_key: Option<&str>,
    p_correlation_id: default!(Option<&str>, "NULL"),
) -> pgrx::composite_type!('static, "change_result") {
    guard::sql_call(p_correlation_id, |corr| {
        let delta = match p_points {
            Some(p) if p > 0 => Some(-p),
            Some(p) => {
                return Err(LoyaltyError::invalid_with(
                    "p_points to redeem must be positive",
                    vec![("points", p.to_string())],
                ))
            }
            None => None,
        };
        let key = p_idempotency_key.map(str::to_string);
        ledger::change(
            &ChangeArgs::typed(
                TxType::Redemption,
                p_player_id,
                delta,
                key,
                p_reason,
                p_staff_id,
            ),
            corr,
        )
    })
    .into_tuple()
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// An ADJUSTMENT of either sign by a staff member holding loyalty:adjust, within loyalty.max_manual_reward.
fn adjust_points(
    p_player_id: Option<Uuid>,
    p_staff_id: Option<Uuid>,
    p_points: Option<i32>,
    p_reason: Option<&str>,
    p_idempotency_key: Option<&str>,
    p_correlation_id: default!(Option<&str>, "NULL"),
) -> pgrx::composite_type!('static, "change_result") {
    guard::sql_call(p_correlation_id, |corr| {
        let key = p_idempotency_key.map(str::to_string);
        ledger::change(
            &ChangeArgs::typed(
                TxType::Adjustment,
                p_player_id,
                p_points,
                key,
                p_reason,
                p_staff_id,
            ),
            corr,
        )
    })
    .into_tuple()
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// A REVERSAL row cancelling one ledger entry; reversing it again is a replay.
fn reverse_entry(
    p_ledger_id: Option<i64>,
    p_staff_id: Option<Uuid>,
    p_reason: Option<&str>,
    p_correlation_id: default!(Option<&str>, "NULL"),
) -> pgrx::composite_type!('static, "change_result") {
    guard::sql_call(p_correlation_id, |corr| {
        let ledger_id =
            p_ledger_id.ok_or_else(|| LoyaltyError::invalid("p_ledger_id must not be null"))?;
        let entry = Spi::connect_mut(|c| find_entry(c, ledger_id))?;
        if entry.tx_type == TxType::Reversal.as_str() {
            return Err(LoyaltyError::InvalidState {
                message: format!("ledger entry {ledger_id} is a reversal and cannot be reversed"),
                context: vec![("ledger_id", ledger_id.to_string())],
            });
        }
        let delta = entry
            .points_change
            .checked_neg()
            .ok_or_else(|| LoyaltyError::invalid("points of the entry cannot be negated"))?;
        ledger::change(
            &ChangeArgs {
                player_id: Some(entry.player_id),
                delta: Some(delta),
                tx_type: Some(TxType::Reversal.as_str().into()),
                idempotency_key: Some(keys::reversal_key(ledger_id)),
                reason: p_reason.map(str::to_string),
                staff_id: p_staff_id,
                reverses_ledger_id: Some(ledger_id),
                ..ChangeArgs::default()
            },
            corr,
        )
    })
    .into_tuple()
}

#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
/// The idempotency key manual_reward uses (gaming day defaults to the current one).
fn manual_reward_key(
    p_player_id: Option<Uuid>,
    p_staff_id: Option<Uuid>,
    p_points: Option<i32>,
    p_reason: Option<&str>,
    p_gaming_day: default!(Option<pgrx::datum::Date>, "NULL"),
    p_sequence: default!(Option<i32>, 1),
) -> String {
    guard::sql_call(None, |_| {
        let sequence = check_sequence(p_sequence)?;
        let (Some(player), Some(staff), Some(points), Some(reason)) =
            (p_player_id, p_staff_id, p_points, p_reason)
        else {
            return Err(LoyaltyError::invalid(
                "p_player_id, p_staff_id, p_points and p_reason must not be null",
            ));
        };
        let day = match p_gaming_day {
            Some(d) => Spi::connect_mut(|c| iso_date(c, d))?,
            None => Spi::connect_mut(|c| gaming_day_text(c, None))?,
        };
        Ok(keys::manual_reward_key(
            &player.to_string(),
            &staff.to_string(),
            points,
            reason,
            &day,
            sequence,
        ))
    })
}

#[pg_extern(stable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
/// The gaming day of a moment: it starts at loyalty.gaming_day_start in loyalty.gaming_day_timezone.
fn gaming_day(p_at: default!(Option<TimestampWithTimeZone>, "now()")) -> Option<pgrx::datum::Date> {
    guard::sql_call(None, |_| {
        let at = p_at.ok_or_else(|| LoyaltyError::invalid("p_at must not be null"))?;
        Spi::connect_mut(|c| {
            let rows = plans::run(c, &GAMING_DAY, &gaming_day_args(Some(at))?)?;
            Ok(rows.first().get::<pgrx::datum::Date>(2)?)
        })
    })
}

#[pg_extern(security_definer, stable, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// The checks of a manual reward without writing anything (for UIs): the first failure with its SQLSTATE.
#[allow(clippy::type_complexity)]
fn validate_reward(
    p_points: Option<i32>,
    p_reason: Option<&str>,
    p_staff_id: Option<Uuid>,
) -> TableIterator<
    'static,
    (
        name!(valid, bool),
        name!(sqlstate, Option<String>),
        name!(message, Option<String>),
        name!(remaining, Option<i32>),
    ),
> {
    let row = guard::sql_call(None, |corr| {
        let staff = p_staff_id.map(|s| s.to_string());
        let checks = || -> Result<i32, LoyaltyError> {
            let req = ChangeRequest::new(
                RawRequest {
                    player_id: Some("validate".into()),
                    delta: p_points,
                    tx_type: Some(TxType::ManualBonus.as_str().into()),
                    idempotency_key: Some(PENDING_KEY.into()),
                    reason: p_reason.map(str::to_string),
                    staff_id: staff.clone(),
                    ..RawRequest::default()
                },
                gucs::limits(),
            )?;
            authorize::check_named_staff(req.staff_id.as_deref(), corr)?;
            let staff = req.staff_id.as_deref().unwrap_or_default();
            Spi::connect_mut(|c| {
                let caps = authorize::capabilities(c, &authorize::CAPABILITIES, staff)?;
                policy::check_capability(staff, caps.as_deref(), "loyalty:award")?;
                let usage = authorize::rate_usage(c, staff)?;
                policy::check_rate(
                    staff,
                    usage.used,
                    usage.limit,
                    usage.reset_at_text.as_deref(),
                )?;
                Ok((usage.limit - usage.used) as i32)
            })
        };
        Ok(match checks() {
            Ok(remaining) => (true, None, None, Some(remaining)),
            Err(e) => (false, Some(e.sqlstate_code()), Some(e.to_string()), None),
        })
    });
    TableIterator::once(row)
}

/// Placeholder key while a required argument is missing: validation then
/// reports the missing argument, not the key.
const PENDING_KEY: &str = "pending";

fn check_sequence(sequence: Option<i32>) -> Result<i32, LoyaltyError> {
    match sequence {
        Some(s) if s >= 1 => Ok(s),
        other => Err(LoyaltyError::invalid_with(
            "p_sequence must be 1 or more",
            vec![(
                "sequence",
                other.map_or_else(|| "NULL".to_string(), |s| s.to_string()),
            )],
        )),
    }
}

/// The current gaming day (`at` = None: the transaction's start) as
/// `YYYY-MM-DD`, independent of the client's DateStyle.
fn gaming_day_text(
    client: &mut SpiClient<'_>,
    at: Option<TimestampWithTimeZone>,
) -> Result<String, LoyaltyError> {
    let rows = plans::run(client, &GAMING_DAY, &gaming_day_args(at)?)?;
    required(rows.first().get::<String>(1)?, "gaming day")
}

fn gaming_day_args(
    at: Option<TimestampWithTimeZone>,
) -> Result<Vec<pgrx::datum::DatumWithOid<'static>>, LoyaltyError> {
    let start = policy::parse_day_start(&gucs::gaming_day_start())?;
    Ok(vec![
        gucs::gaming_day_timezone().into(),
        start.into(),
        at.into(),
    ])
}

fn iso_date(client: &mut SpiClient<'_>, d: pgrx::datum::Date) -> Result<String, LoyaltyError> {
    let rows = plans::run(client, &ISO_DATE, &[d.into()])?;
    rows.first()
        .get::<String>(1)?
        .ok_or_else(|| LoyaltyError::invalid("p_gaming_day must be a finite date"))
}

struct Entry {
    player_id: Uuid,
    points_change: i32,
    tx_type: String,
}

fn find_entry(client: &mut SpiClient<'_>, ledger_id: i64) -> Result<Entry, LoyaltyError> {
    let rows = plans::run(client, &ENTRY, &[ledger_id.into()])?;
    if rows.is_empty() {
        return Err(LoyaltyError::NotFound {
            message: format!("ledger entry {ledger_id} not found"),
            context: vec![("ledger_id", ledger_id.to_string())],
        });
    }
    let r = rows.first();
    Ok(Entry {
        player_id: required(r.get(1)?, "player_id")?,
        points_change: required(r.get(2)?, "points_change")?,
        tx_type: required(r.get(3)?, "transaction_type")?,
    })
}

/// The gaming day starts at `$2` local time in zone `$1` (NULL: the
/// server's `log_timezone`, which clients cannot change).
static GAMING_DAY: Stmt = Stmt {
    args: &[O::TEXTOID, O::TEXTOID, O::TIMESTAMPTZOID],
    sql: "\
SELECT to_char(d, 'YYYY-MM-DD'), d
  FROM (SELECT ((coalesce($3, now()) AT TIME ZONE coalesce($1, current_setting('log_timezone')))
                - $2::interval)::date AS d) g",
};

static ISO_DATE: Stmt = Stmt {
    args: &[O::DATEOID],
    sql: "SELECT CASE WHEN isfinite($1) THEN to_char($1, 'YYYY-MM-DD') END",
};

static ENTRY: Stmt = Stmt {
    args: &[O::INT8OID],
    sql: "SELECT player_id, points_change, transaction_type FROM loyalty.loyalty_ledger WHERE id = $1",
};
