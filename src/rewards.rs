//! The staff-performed write functions of SPEC section 3: manual rewards,
//! redemptions, adjustments and reversals, and `validate_reward`.  Each
//! derives its idempotency key and transaction type, then goes through
//! `ledger::change`; none of them has a rule of its own that the one write
//! path does not also enforce.  (Promotions are `crate::campaigns`.)

use crate::authorize::{self, Caller};
use crate::domain::error::LoyaltyError;
use crate::domain::keys;
use crate::domain::policy::{self, Authority};
use crate::domain::request::{ChangeRequest, RawRequest, Route, TxType};
use crate::gaming_day;
use crate::guard;
use crate::gucs;
use crate::idempotency;
use crate::ledger::{self, ChangeArgs, PENDING_KEY};
use crate::plans::{self, required, Stmt};
use crate::velocity;
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
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> pgrx::composite_type!('static, "change_result") {
    guard::write_call("manual_reward", p_correlation_id, |corr| {
        let sequence = keys::check_sequence(p_sequence)?;
        // The key names the staff member who acts: the one named, or the
        // one a staff token or the session's binding proves; and the
        // gaming day is the casino's.
        let named = p_staff_id.map(|s| s.to_string());
        let caller = Caller::resolve(named.as_deref(), true, p_casino_id, corr)?;
        let key = match (p_player_id, caller.staff.as_deref(), p_points, p_reason) {
            (Some(player), Some(staff), Some(points), Some(reason)) => {
                let day = Spi::connect_mut(|c| gaming_day::current(c, &caller.casino))?;
                Some(idempotency::manual_reward_key_of(
                    player, staff, points, reason, &day, sequence,
                ))
            }
            // A missing component is reported by the request's validation.
            _ => Some(PENDING_KEY.to_string()),
        };
        let mut args = ChangeArgs::typed(
            TxType::ManualBonus,
            p_player_id,
            p_points,
            key,
            p_reason,
            p_staff_id,
        );
        args.caller = Some(caller);
        ledger::change(&args, corr)
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
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> pgrx::composite_type!('static, "change_result") {
    guard::write_call("redeem_points", p_correlation_id, |corr| {
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
        let mut args = ChangeArgs::typed(
            TxType::Redemption,
            p_player_id,
            delta,
            key,
            p_reason,
            p_staff_id,
        );
        args.casino = p_casino_id;
        ledger::change(&args, corr)
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
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> pgrx::composite_type!('static, "change_result") {
    guard::write_call("adjust_points", p_correlation_id, |corr| {
        let key = p_idempotency_key.map(str::to_string);
        let mut args = ChangeArgs::typed(
            TxType::Adjustment,
            p_player_id,
            p_points,
            key,
            p_reason,
            p_staff_id,
        );
        args.casino = p_casino_id;
        ledger::change(&args, corr)
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
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> pgrx::composite_type!('static, "change_result") {
    guard::write_call("reverse_entry", p_correlation_id, |corr| {
        let ledger_id =
            p_ledger_id.ok_or_else(|| LoyaltyError::invalid("p_ledger_id must not be null"))?;
        // Who asks comes first: an unknown or unauthorized staff member
        // learns nothing about the entry (not even that it exists).
        let named = p_staff_id.map(|s| s.to_string());
        let caller = Caller::resolve(named.as_deref(), true, p_casino_id, corr)?;
        let staff = caller
            .staff
            .as_deref()
            .ok_or_else(|| LoyaltyError::invalid("REVERSAL requires p_staff_id"))?;
        for needed in policy::required_authority(TxType::Reversal, Route::Typed, true) {
            if let Authority::Staff(capability) = needed {
                Spi::connect_mut(|c| authorize::check_staff(c, &caller, staff, capability))?;
            }
        }
        // Only an entry of the caller's casino: another casino's is "not
        // found", like an id that does not exist.
        let entry = Spi::connect_mut(|c| find_entry(c, caller.casino_id(), ledger_id))?;
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
                route: Route::Typed,
                caller: Some(caller.clone()),
                ..ChangeArgs::default()
            },
            corr,
        )
    })
    .into_tuple()
}

#[pg_extern(security_definer, stable, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// The checks of a manual reward without writing anything (for UIs): the first failure with its SQLSTATE.
#[allow(clippy::type_complexity)]
fn validate_reward(
    p_points: Option<i32>,
    p_reason: Option<&str>,
    p_staff_id: Option<Uuid>,
    p_casino_id: default!(Option<Uuid>, "NULL"),
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
        // The same checks, by the same code, as manual_reward's write path:
        // who calls, the request's rules, its authority, its quotas.
        let checks = || -> Result<i32, LoyaltyError> {
            let named = p_staff_id.map(|s| s.to_string());
            let caller = Caller::resolve(named.as_deref(), true, p_casino_id, corr)?;
            let req = ChangeRequest::new(
                RawRequest {
                    player_id: Some("validate".into()),
                    delta: p_points,
                    tx_type: Some(TxType::ManualBonus.as_str().into()),
                    idempotency_key: Some(PENDING_KEY.into()),
                    reason: p_reason.map(str::to_string),
                    staff_id: caller.staff.clone(),
                    route: Route::Typed,
                    ..RawRequest::default()
                },
                caller.casino.limits(gucs::limits()),
            )?;
            Spi::connect_mut(|c| {
                authorize::check(c, &caller, &req, corr)?;
                let kind = TxType::ManualBonus.velocity_kind().ok_or_else(|| {
                    LoyaltyError::internal("manual rewards have a velocity limit")
                })?;
                velocity::check(c, &caller, kind, (req.delta as i64).abs())?;
                let staff = caller.staff.as_deref().unwrap_or_default();
                let (used, limit) = velocity::usage(
                    c,
                    &caller.casino,
                    crate::domain::velocity::Scope::Staff,
                    staff,
                    kind,
                )?;
                Ok((limit.max_count - used.count).max(0) as i32)
            })
        };
        Ok(match checks() {
            Ok(remaining) => (true, None, None, Some(remaining)),
            Err(e) => (
                false,
                Some(e.sqlstate().to_string()),
                Some(e.to_string()),
                None,
            ),
        })
    });
    TableIterator::once(row)
}

struct Entry {
    player_id: Uuid,
    points_change: i32,
    tx_type: String,
}

fn find_entry(
    client: &mut SpiClient<'_>,
    casino: &str,
    ledger_id: i64,
) -> Result<Entry, LoyaltyError> {
    let rows = plans::run(client, &ENTRY, &[ledger_id.into(), casino.into()])?;
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

static ENTRY: Stmt = Stmt {
    args: &[O::INT8OID, O::TEXTOID],
    sql: "\
SELECT player_id, points_change, transaction_type
  FROM loyalty.loyalty_ledger
 WHERE id = $1 AND casino_id = $2::uuid",
};
