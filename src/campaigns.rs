//! Promotions are registered campaigns (SPEC section 10):
//! `loyalty.apply_promotion` credits a player only for a campaign of
//! `loyalty.promotion_campaign` that is current and has budget left, at the
//! campaign's points, at most its credits-per-player times.
//!
//! The campaign's row is locked (`FOR UPDATE`) and its `credited_points`
//! updated by every credit, after the idempotency-key lookup (a redelivered
//! reward is a replay whatever the campaign's state now): the budget is
//! exact under concurrency at every isolation level, as a velocity limit is
//! (`crate::velocity`).  Each credit's ledger row names the campaign and its
//! credit number, unique per player in the ledger's index.

use crate::domain::campaign::Campaign;
use crate::domain::error::{LockTarget, LoyaltyError};
use crate::domain::keys;
use crate::domain::request::{Route, TxType};
use crate::domain::text::{check_text, MAX_KEY_CHARS};
use crate::guard;
use crate::ledger::{self, ChangeArgs};
use crate::plans::{self, required, Stmt};
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

type Uuid = pgrx::Uuid;

/// A credit of a campaign, as `apply_promotion` asks for it.
#[derive(Debug, Clone)]
pub struct Credit {
    pub reward_id: String,
    /// 1 for a player's first credit of the campaign, 2 for the second, …
    pub sequence: i32,
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// A PROMOTION credit of a registered, current campaign: a second delivery of the same reward is a replay.
#[allow(clippy::too_many_arguments)] // the SQL signature
fn apply_promotion(
    p_player_id: Option<Uuid>,
    p_reward_id: Option<&str>,
    p_points: Option<i32>,
    p_reason: default!(Option<&str>, "NULL"),
    p_staff_id: default!(Option<Uuid>, "NULL"),
    p_correlation_id: default!(Option<&str>, "NULL"),
    p_sequence: default!(Option<i32>, 1),
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> pgrx::composite_type!('static, "change_result") {
    guard::write_call("apply_promotion", p_correlation_id, |corr| {
        let reward_id = p_reward_id
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| LoyaltyError::invalid("p_reward_id must not be null or blank"))?;
        check_text("p_reward_id", reward_id, MAX_KEY_CHARS)?;
        let sequence = keys::check_sequence(p_sequence)?;
        let key = p_player_id
            .map(|p| keys::campaign_credit_key(&p.to_string(), reward_id, sequence))
            .or_else(|| Some(ledger::PENDING_KEY.into()));
        let mut args = ChangeArgs::typed(
            TxType::Promotion,
            p_player_id,
            p_points,
            key,
            p_reason,
            p_staff_id,
        );
        args.route = Route::Campaign;
        args.casino = p_casino_id;
        args.campaign = Some(Credit {
            reward_id: reward_id.to_string(),
            sequence,
        });
        ledger::change(&args, corr)
    })
    .into_tuple()
}

/// A campaign's row, locked.
pub struct Locked {
    id: i64,
    campaign: Campaign,
}

/// Locks the campaign's row, checking nothing yet (see `velocity::lock`);
/// `None` when the casino has no campaign with this reward id.
pub fn lock(
    client: &mut SpiClient<'_>,
    casino: &str,
    credit: &Credit,
    corr: &str,
) -> Result<Option<Locked>, LoyaltyError> {
    let Some(r) = guard::with_lock_timeout(LockTarget::Campaign, &credit.reward_id, corr, || {
        plans::run(
            client,
            &LOCK,
            &[credit.reward_id.as_str().into(), casino.into()],
        )
    })?
    .next() else {
        return Ok(None);
    };
    let from: TimestampWithTimeZone = required(r.get(3)?, "valid_from")?;
    let to: TimestampWithTimeZone = required(r.get(4)?, "valid_to")?;
    Ok(Some(Locked {
        id: required(r.get(1)?, "id")?,
        campaign: Campaign {
            reward_id: credit.reward_id.clone(),
            points_per_credit: required(r.get(2)?, "points_per_credit")?,
            valid_from: from.into(),
            valid_to: to.into(),
            credits_per_player: required(r.get(5)?, "credits_per_player")?,
            budget_points: required(r.get(6)?, "budget_points")?,
            credited_points: required(r.get(7)?, "credited_points")?,
        },
    }))
}

/// The campaign `lock` found, or P0002 when there is none.
pub fn found(credit: &Credit, locked: Option<Locked>) -> Result<(i64, Campaign), LoyaltyError> {
    locked
        .map(|Locked { id, campaign }| (id, campaign))
        .ok_or_else(|| LoyaltyError::NotFound {
            message: format!(
                "no registered campaign for reward \"{}\"",
                crate::domain::text::printable(&credit.reward_id)
            ),
            context: vec![("reward_id", credit.reward_id.clone())],
        })
}

/// Admits a credit of `points` to a player against the campaign `lock`
/// found (P0002 when none; the rest is `domain::campaign`) and counts the
/// points against its budget; returns the campaign's id.
pub fn admit(
    client: &mut SpiClient<'_>,
    credit: &Credit,
    locked: Option<Locked>,
    points: i32,
) -> Result<i64, LoyaltyError> {
    let (id, campaign) = found(credit, locked)?;
    // The window must hold at this moment, once the row is locked: not at
    // the transaction's start, so a transaction opened before the campaign
    // closed cannot credit it after.
    campaign.admit(credit.sequence, points, guard::now())?;
    count(client, id, points as i64)?;
    Ok(id)
}

/// Counts `points` against the campaign's budget (its row is locked).
pub fn count(client: &mut SpiClient<'_>, id: i64, points: i64) -> Result<(), LoyaltyError> {
    plans::run(client, &COUNT, &[id.into(), points.into()])?;
    Ok(())
}

/// The campaign, locked.
static LOCK: Stmt = Stmt {
    args: &[O::TEXTOID, O::TEXTOID],
    sql: "\
SELECT id, points_per_credit, valid_from, valid_to,
       credits_per_player, budget_points, credited_points
  FROM loyalty.promotion_campaign
 WHERE reward_id = $1 AND casino_id = $2::uuid
   FOR UPDATE",
};

static COUNT: Stmt = Stmt {
    args: &[O::INT8OID, O::INT8OID],
    sql:
        "UPDATE loyalty.promotion_campaign SET credited_points = credited_points + $2 WHERE id = $1",
};
