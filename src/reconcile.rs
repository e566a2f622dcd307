//! `loyalty.reconcile_player`: rebuild one player's aggregate from the
//! ledger (the source of truth, summed by the view `loyalty.ledger_totals`)
//! under the player's row lock, and record who did it and what changed in
//! `loyalty.reconciliation` (SPEC section 9).

use crate::authorize::{self, Caller};
use crate::domain::error::LoyaltyError;
use crate::domain::policy::Capability;
use crate::domain::text::{check_reason_substance, check_text, MAX_REASON_CHARS};
use crate::events;
use crate::guard;
use crate::ledger;
use crate::plans::{self, required, Stmt};
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;

type Uuid = pgrx::Uuid;

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// Rebuilds a player's balance, lifetime points and tier from the ledger under the row lock; logged and idempotent.
#[allow(clippy::type_complexity)]
fn reconcile_player(
    p_player_id: Option<Uuid>,
    p_staff_id: Option<Uuid>,
    p_reason: Option<&str>,
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(player_id, Uuid),
        name!(changed, bool),
        name!(balance_before, Option<i64>),
        name!(balance_after, i64),
        name!(lifetime_before, Option<i64>),
        name!(lifetime_after, i64),
        name!(tier_before, Option<String>),
        name!(tier_after, String),
        name!(reconciliation_id, i64),
        name!(correlation_id, String),
    ),
> {
    let row = guard::write_call("reconcile_player", None, |corr| {
        let player =
            p_player_id.ok_or_else(|| LoyaltyError::invalid("p_player_id must not be null"))?;
        if let Some(r) = p_reason {
            check_text("p_reason", r, MAX_REASON_CHARS)?;
        }
        check_reason_substance(p_reason)?;
        let (caller, staff) = Caller::acting_staff(p_staff_id, p_casino_id, corr)?;
        let casino = caller.casino_id();

        Spi::connect_mut(|c| {
            authorize::check_staff(c, &caller, &staff, Capability::Adjust)?;

            let known = plans::run(c, &KNOWN, &[casino.into(), player.into()])?;
            let (has_row, has_ledger): (Option<bool>, Option<bool>) = known.first().get_two()?;
            let had_row = has_row.unwrap_or(false);
            if !had_row && !has_ledger.unwrap_or(false) {
                return Err(LoyaltyError::NotFound {
                    message: format!("player {player} has no loyalty record"),
                    context: vec![("player_id", player.to_string())],
                });
            }
            // Lock (creating the row if only the ledger knows the player).
            let (account, ladder) = ledger::lock_player(c, casino, player, corr)?;
            let sums = plans::run(c, &SUMS, &[casino.into(), player.into()])?;
            let (balance, lifetime): (Option<i64>, Option<i64>) = if sums.is_empty() {
                (None, None)
            } else {
                sums.first().get_two()?
            };
            let (balance, lifetime) = (balance.unwrap_or(0), lifetime.unwrap_or(0));
            let standing = ladder.standing(lifetime);
            let changed = !had_row
                || account.balance != balance
                || account.lifetime_points != lifetime
                || account.tier != standing.tier;
            if changed {
                plans::run(
                    c,
                    &REBUILD,
                    &[
                        player.into(),
                        balance.into(),
                        lifetime.into(),
                        standing.tier.as_str().into(),
                        standing.progress.into(),
                        casino.into(),
                    ],
                )?;
            }
            let before = |v| had_row.then_some(v);
            let logged = plans::run(
                c,
                &LOG,
                &[
                    player.into(),
                    staff.as_str().into(),
                    p_reason.into(),
                    before(account.balance).into(),
                    balance.into(),
                    before(account.lifetime_points).into(),
                    lifetime.into(),
                    had_row.then(|| account.tier.clone()).into(),
                    standing.tier.as_str().into(),
                    changed.into(),
                    corr.into(),
                    caller.role.as_str().into(),
                    casino.into(),
                ],
            )?;
            let id: i64 = required(logged.first().get(1)?, "reconciliation id")?;
            // A rebuilt balance is a balance change too, for a casino that
            // asks for every one (no ledger row: the reconciliation's id).
            if changed && account.balance != balance && caller.casino.balance_events {
                events::publish(
                    "balance_changed",
                    corr,
                    casino,
                    Some(&player.to_string()),
                    &[
                        ("player_id", player.to_string()),
                        ("reconciliation_id", id.to_string()),
                        ("transaction_type", "RECONCILIATION".to_string()),
                        ("points_change", (balance - account.balance).to_string()),
                        ("balance_after", balance.to_string()),
                        ("tier_after", standing.tier.clone()),
                    ],
                )?;
            }
            // A rebuilt tier above the one the player had is a tier
            // upgrade like any other (a lowered threshold, say).
            if had_row && ladder.rank(&standing.tier) > ladder.rank(&account.tier) {
                events::publish(
                    "tier_upgrade",
                    corr,
                    casino,
                    Some(&player.to_string()),
                    &[
                        ("player_id", player.to_string()),
                        ("tier_before", account.tier.clone()),
                        ("tier_after", standing.tier.clone()),
                        ("reconciliation_id", id.to_string()),
                    ],
                )?;
            }
            events::emit(
                "reconcile",
                corr,
                &[
                    ("player_id", player.to_string()),
                    ("staff_id", staff.clone()),
                    ("changed", changed.to_string()),
                    ("balance_before", account.balance.to_string()),
                    ("balance_after", balance.to_string()),
                ],
            );
            Ok((
                player,
                changed,
                before(account.balance),
                balance,
                before(account.lifetime_points),
                lifetime,
                had_row.then(|| account.tier.clone()),
                standing.tier,
                id,
                corr.to_string(),
            ))
        })
    });
    TableIterator::once(row)
}

static KNOWN: Stmt = Stmt {
    args: &[O::TEXTOID, O::UUIDOID],
    sql: "\
SELECT EXISTS (SELECT 1 FROM loyalty.player_loyalty WHERE casino_id = $1::uuid AND player_id = $2),
       EXISTS (SELECT 1 FROM loyalty.loyalty_ledger WHERE casino_id = $1::uuid AND player_id = $2)",
};

/// The aggregate the ledger proves (`loyalty.ledger_totals`, which
/// drift_check reads too); no row for a player without entries.
static SUMS: Stmt = Stmt {
    args: &[O::TEXTOID, O::UUIDOID],
    sql: "\
SELECT balance, lifetime_points FROM loyalty.ledger_totals WHERE casino_id = $1::uuid AND player_id = $2",
};

static REBUILD: Stmt = Stmt {
    args: &[
        O::UUIDOID,
        O::INT8OID,
        O::INT8OID,
        O::TEXTOID,
        O::INT4OID,
        O::TEXTOID,
    ],
    sql: "\
UPDATE loyalty.player_loyalty
   SET current_balance = $2, lifetime_points = $3, tier = $4, tier_progress = $5,
       updated_at = clock_timestamp()
 WHERE casino_id = $6::uuid AND player_id = $1",
};

static LOG: Stmt = Stmt {
    args: &[
        O::UUIDOID,
        O::TEXTOID,
        O::TEXTOID,
        O::INT8OID,
        O::INT8OID,
        O::INT8OID,
        O::INT8OID,
        O::TEXTOID,
        O::TEXTOID,
        O::BOOLOID,
        O::TEXTOID,
        O::TEXTOID,
        O::TEXTOID,
    ],
    sql: "\
INSERT INTO loyalty.reconciliation
    (player_id, staff_id, reason, balance_before, balance_after, lifetime_before, lifetime_after,
     tier_before, tier_after, changed, correlation_id, actor_role, casino_id)
VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::uuid)
RETURNING id",
};
