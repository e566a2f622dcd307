//! The accrual saga's SQL functions: `complete_rating_slip`,
//! `recover_rating_slip`, `recover_pending` and `resolve_accrual` (the flow
//! is described in `super`).

use super::store::{self, Existing, Request};
use crate::authorize::{self, Caller};
use crate::casinos;
use crate::domain::error::LoyaltyError;
use crate::domain::keys;
use crate::domain::policy::Capability;
use crate::domain::request::{check_limit, Route, TxType};
use crate::domain::slip::{self as slip_rules, AccrualState, Resolution, SlipStatus};
use crate::domain::text::{check_reason_substance, check_text, MAX_REASON_CHARS};
use crate::events;
use crate::guard::JsonbArg;
use crate::guard::{self, RowType};
use crate::gucs;
use crate::ledger::{self, ChangeArgs};
use crate::report::Raise;
use crate::subxact;
use crate::tiers;
use pgrx::prelude::*;
use pgrx::AnyNumeric;

type Uuid = pgrx::Uuid;

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// Records a closed slip's accrual and credits it; a failed accrual stays pending for recovery.
#[allow(clippy::too_many_arguments)] // the SQL signature
fn complete_rating_slip(
    p_rating_slip_id: Option<Uuid>,
    p_player_id: Option<Uuid>,
    p_average_bet: Option<AnyNumeric>,
    p_duration_seconds: Option<i32>,
    p_game_settings: Option<JsonbArg>,
    p_visit_id: default!(Option<Uuid>, "NULL"),
    p_correlation_id: default!(Option<&str>, "NULL"),
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> pgrx::composite_type!('static, "slip_result") {
    let explicit_corr = has_text(p_correlation_id);
    guard::write_call("complete_rating_slip", p_correlation_id, |corr| {
        let slip = p_rating_slip_id
            .ok_or_else(|| LoyaltyError::invalid("p_rating_slip_id must not be null"))?;
        let player =
            p_player_id.ok_or_else(|| LoyaltyError::invalid("p_player_id must not be null"))?;
        let play = super::play_from_args(p_average_bet, p_duration_seconds, p_game_settings)?;
        // Validate the whole formula, and the per-slip bound at the base
        // multiplier, before anything is recorded.
        let base_points = play.points(rust_decimal::Decimal::ONE)?;
        // The calling login role must be allowed to credit gameplay.
        let caller = Caller::resolve(None, false, p_casino_id, corr)?;
        let limits = caller.casino.limits(gucs::limits());
        check_limit("gameplay", base_points, limits.max_gameplay_points)?;
        Spi::connect_mut(|c| authorize::check_role(c, &caller, Capability::Accrue, corr))?;
        let request = Request::new(caller.casino_id(), slip, player, p_visit_id, &play, corr);

        if Spi::connect_mut(|c| request.record(c, &caller.role))? {
            return Ok(attempt(&request, corr));
        }
        // The slip was recorded before: same request, or a conflict.
        let existing =
            Spi::connect_mut(|c| Existing::load_locked(c, caller.casino_id(), slip, corr))?
                .ok_or_else(|| LoyaltyError::internal("recorded slip vanished"))?;
        if existing.request.fingerprint() != request.fingerprint() {
            return Err(LoyaltyError::SlipConflict {
                rating_slip_id: slip.to_string(),
            });
        }
        finish(existing, explicit_corr.then_some(corr))
    })
    .into_tuple()
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// Replays one pending accrual with its original key (and correlation id unless given).
fn recover_rating_slip(
    p_rating_slip_id: Option<Uuid>,
    p_correlation_id: default!(Option<&str>, "NULL"),
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> pgrx::composite_type!('static, "slip_result") {
    let explicit_corr = has_text(p_correlation_id);
    guard::write_call("recover_rating_slip", p_correlation_id, |corr| {
        let slip = p_rating_slip_id
            .ok_or_else(|| LoyaltyError::invalid("p_rating_slip_id must not be null"))?;
        let casino = casinos::acting(p_casino_id, corr)?;
        let existing = Spi::connect_mut(|c| Existing::load_recorded(c, &casino.id, slip, corr))?;
        finish(existing, explicit_corr.then_some(corr))
    })
    .into_tuple()
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// Replays up to p_max pending accruals, oldest first, skipping those another session is recovering.
#[allow(clippy::type_complexity)]
fn recover_pending(
    p_max: default!(Option<i32>, 100),
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(rating_slip_id, Uuid),
        name!(status, String),
        name!(points, Option<i32>),
        name!(ledger_id, Option<i64>),
        name!(balance_after, Option<i64>),
        name!(tier_after, Option<String>),
        name!(correlation_id, String),
        name!(error, Option<String>),
    ),
> {
    let rows = guard::write_call("recover_pending", None, |corr| {
        let max = guard::batch_size(p_max, MAX_RECOVER_BATCH)?;
        // A bound session recovers its casino's slips; an unbound one (the
        // DBA, pg_cron) every casino's, or the one it names.
        let scope = casinos::scope(p_casino_id, corr)?;
        let open = Spi::connect_mut(|c| store::claim_open(c, scope.as_deref(), max))?;
        Ok(open
            .iter()
            .map(|req| {
                let out = attempt(req, &req.correlation_id);
                log_recovery(req, &out);
                (
                    req.slip,
                    out.status.as_str().to_string(),
                    out.points,
                    out.ledger_id,
                    out.balance_after,
                    out.tier_after,
                    out.correlation_id,
                    out.error,
                )
            })
            .collect::<Vec<_>>())
    });
    TableIterator::new(rows)
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// A person holding loyalty:recover retries (now, attempts counted afresh) or abandons an open accrual, with a reason; recorded in loyalty.accrual_resolution.
fn resolve_accrual(
    p_rating_slip_id: Option<Uuid>,
    p_staff_id: Option<Uuid>,
    p_action: Option<&str>,
    p_reason: Option<&str>,
    p_correlation_id: default!(Option<&str>, "NULL"),
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> pgrx::composite_type!('static, "slip_result") {
    guard::write_call("resolve_accrual", p_correlation_id, |corr| {
        let slip = p_rating_slip_id
            .ok_or_else(|| LoyaltyError::invalid("p_rating_slip_id must not be null"))?;
        let resolution = Resolution::parse(p_action)?;
        if let Some(r) = p_reason {
            check_text("p_reason", r, MAX_REASON_CHARS)?;
        }
        check_reason_substance(p_reason)?;
        let (caller, staff) = Caller::acting_staff(p_staff_id, p_casino_id, corr)?;
        let casino = caller.casino_id();
        Spi::connect_mut(|c| authorize::check_staff(c, &caller, &staff, Capability::Recover))?;
        let existing = Spi::connect_mut(|c| Existing::load_recorded(c, casino, slip, corr))?;
        if !existing.state.is_open() {
            return Err(LoyaltyError::InvalidState {
                message: format!(
                    "the accrual of rating slip {slip} is {} and cannot be resolved",
                    existing.state.as_str()
                ),
                context: vec![
                    ("rating_slip_id", slip.to_string()),
                    ("status", existing.state.as_str().to_string()),
                ],
            });
        }
        let reason = p_reason.unwrap_or_default();
        let id = Spi::connect_mut(|c| {
            store::resolve(c, &caller, slip, resolution, &staff, reason, corr)
        })?;
        events::emit(
            "accrual_resolved",
            corr,
            &[
                ("rating_slip_id", slip.to_string()),
                ("action", resolution.as_str().to_string()),
                ("staff_id", staff.clone()),
                ("resolution_id", id.to_string()),
                ("status_before", existing.state.as_str().to_string()),
            ],
        );
        Ok(match resolution {
            Resolution::Abandon => Outcome {
                status: SlipStatus::Abandoned,
                points: None,
                ledger_id: None,
                balance_after: None,
                tier_after: None,
                correlation_id: corr.to_string(),
                error: None,
            },
            Resolution::Retry => {
                let mut request = existing.request;
                request.attempts = 0;
                attempt(&request, corr)
            }
        })
    })
    .into_tuple()
}

/// Upper bound of one `recover_pending` call: its locks are held until the
/// caller commits, so batches stay short.
const MAX_RECOVER_BATCH: i32 = 10_000;

fn has_text(s: Option<&str>) -> bool {
    s.is_some_and(|s| !s.trim().is_empty())
}

/// A completed slip returns its original result; an open one is attempted
/// again, under its original correlation id unless another is given; a
/// stuck or abandoned one waits for a person (55000).
fn finish(existing: Existing, explicit_corr: Option<&str>) -> Result<Outcome, LoyaltyError> {
    if matches!(
        existing.state,
        AccrualState::Stuck | AccrualState::Abandoned
    ) {
        let slip = existing.request.slip;
        return Err(LoyaltyError::InvalidState {
            message: if existing.state == AccrualState::Stuck {
                format!(
                    "the accrual of rating slip {slip} is STUCK: a person holding loyalty:recover resolves it with loyalty.resolve_accrual"
                )
            } else {
                format!("the accrual of rating slip {slip} was abandoned and is never credited")
            },
            context: vec![
                ("rating_slip_id", slip.to_string()),
                ("status", existing.state.as_str().to_string()),
            ],
        });
    }
    if existing.state == AccrualState::Completed {
        return Ok(Outcome {
            status: SlipStatus::AlreadyCompleted,
            points: existing.points,
            ledger_id: existing.ledger_id,
            balance_after: existing.balance_after,
            tier_after: existing.tier_after,
            correlation_id: existing.request.correlation_id,
            error: None,
        });
    }
    let corr = explicit_corr.unwrap_or(&existing.request.correlation_id);
    let out = attempt(&existing.request, corr);
    log_recovery(&existing.request, &out);
    Ok(out)
}

fn log_recovery(req: &Request, out: &Outcome) {
    events::emit(
        "recovery",
        &out.correlation_id,
        &[
            ("rating_slip_id", req.slip.to_string()),
            ("status", out.status.as_str().to_string()),
        ],
    );
}

/// What a slip function returns (`loyalty.slip_result`).
struct Outcome {
    status: SlipStatus,
    points: Option<i32>,
    ledger_id: Option<i64>,
    balance_after: Option<i64>,
    tier_after: Option<String>,
    correlation_id: String,
    error: Option<String>,
}

impl Outcome {
    fn into_tuple(self) -> pgrx::composite_type!('static, "slip_result") {
        guard::row_tuple(
            RowType::Slip,
            vec![
                self.status.as_str().into_datum(),
                self.points.into_datum(),
                self.ledger_id.into_datum(),
                self.balance_after.into_datum(),
                self.tier_after.into_datum(),
                self.correlation_id.into_datum(),
                self.error.into_datum(),
            ],
        )
    }
}

/// Attempts the accrual in a subtransaction and records the outcome on the
/// request row.  Never fails: a failed attempt is a PARTIAL_COMPLETION.
fn attempt(req: &Request, corr: &str) -> Outcome {
    match subxact::run(|| accrue(req, corr)) {
        Ok(out) => out,
        Err(failure) => {
            let (state, retry_in) = slip_rules::after_failure(
                req.attempts + 1,
                &failure.sqlstate,
                gucs::max_recovery_attempts(),
            );
            let recorded = Spi::connect_mut(|c| {
                store::mark_failed(c, req, &failure.message, &failure.sqlstate, state, retry_in)
            });
            if let Err(e) = recorded {
                // Could not even record the failure: fail the whole call, so
                // the caller's transaction (and its slip close) rolls back.
                e.raise(corr);
            }
            let published = events::publish(
                if state == AccrualState::Stuck {
                    "accrual_stuck"
                } else {
                    "partial_completion"
                },
                corr,
                &req.casino,
                Some(&req.player.to_string()),
                &[
                    ("rating_slip_id", req.slip.to_string()),
                    ("player_id", req.player.to_string()),
                    ("sqlstate", failure.sqlstate.clone()),
                    ("error", failure.message.clone()),
                    ("attempts", (req.attempts + 1).to_string()),
                    ("status", state.as_str().to_string()),
                ],
            );
            if let Err(e) = published {
                // As for the failure's record: the outbox row must exist
                // whenever the partial completion does.
                e.raise(corr);
            }
            Outcome {
                status: SlipStatus::PartialCompletion,
                points: None,
                ledger_id: None,
                balance_after: None,
                tier_after: None,
                correlation_id: corr.to_string(),
                error: Some(failure.describe()),
            }
        }
    }
}

/// The accrual itself: the multiplier of the player's tier, read with the
/// player's row locked (so no concurrent change can move the tier before
/// the accrual), the GAMEPLAY change, and the request marked COMPLETED.
fn accrue(req: &Request, corr: &str) -> Result<Outcome, LoyaltyError> {
    let play = req.play()?;
    let multiplier = Spi::connect_mut(|c| {
        let ladder = tiers::ladder(c, &req.casino)?;
        let account = ledger::lock_existing(c, &req.casino, req.player, corr)?;
        Ok::<_, LoyaltyError>(ladder.multiplier_for(account.as_ref().map(|a| a.tier.as_str())))
    })?;
    let points = play.points(multiplier)?;

    let change = if points > 0 {
        Some(ledger::change(
            &ChangeArgs {
                player_id: Some(req.player),
                delta: Some(points),
                tx_type: Some(TxType::Gameplay.as_str().into()),
                idempotency_key: Some(keys::gameplay_key(&req.slip.to_string())),
                rating_slip_id: Some(req.slip),
                visit_id: req.visit,
                route: Route::RecordedSlip,
                casino: Some(casinos::uuid(&req.casino)?),
                ..ChangeArgs::default()
            },
            corr,
        )?)
    } else {
        None
    };
    let ledger_id = change.as_ref().map(|c| c.ledger_id);
    Spi::connect_mut(|c| store::mark_completed(c, req, points, ledger_id))?;
    Ok(Outcome {
        status: SlipStatus::Completed,
        points: Some(points),
        ledger_id,
        balance_after: change.as_ref().map(|c| c.balance_after),
        tier_after: change.map(|c| c.tier_after),
        correlation_id: corr.to_string(),
        error: None,
    })
}
