//! Rating slips: the points formula and the in-database saga (SPEC section 6).
//!
//! `complete_rating_slip` runs in the application's transaction that closes
//! the slip.  It records the accrual request in `loyalty.rating_slip_accrual`
//! (durable with that transaction), then attempts the accrual in a
//! subtransaction.  If the attempt fails — a lock timeout is the realistic
//! case — only the subtransaction rolls back: the slip close and the pending
//! request still commit, with the error and correlation id recorded, and
//! `recover_rating_slip` / `recover_pending` replay it later with the same
//! idempotency key, so a slip is credited exactly once.

use crate::domain::keys;
use crate::domain::points::{self, GameSettings};
use crate::domain::request::TxType;
use crate::error::LoyaltyError;
use crate::events;
use crate::guard::{self, RowType};
use crate::ledger::{self, ChangeArgs};
use crate::plans::{self, required, Stmt};
use crate::subxact;
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::{AnyNumeric, JsonB};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

type Uuid = pgrx::Uuid;

#[pg_extern(immutable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
/// Points for a session of play (SPEC section 6), in exact decimal arithmetic.
fn calculate_gameplay_points(
    p_average_bet: Option<AnyNumeric>,
    p_duration_seconds: Option<i32>,
    p_game_settings: Option<JsonB>,
    p_tier: Option<&str>,
) -> i32 {
    guard::sql_call(None, |_| {
        let play = Play::from_args(p_average_bet, p_duration_seconds, p_game_settings.as_ref())?;
        // Immutable: the tier's multiplier is the SPEC default for its name,
        // unless the settings carry an explicit tier_multiplier.
        let multiplier = match play.explicit_tier_multiplier()? {
            Some(m) => m,
            None => {
                let tier =
                    p_tier.ok_or_else(|| LoyaltyError::invalid("p_tier must not be null"))?;
                points::default_tier_multiplier(tier).ok_or_else(|| {
                    LoyaltyError::invalid_with(
                        format!("unknown tier \"{tier}\""),
                        vec![(
                            "hint",
                            "pass tier_multiplier in p_game_settings for custom tiers".into(),
                        )],
                    )
                })?
            }
        };
        play.points(multiplier)
    })
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// Records a closed slip's accrual and credits it; a failed accrual stays pending for recovery.
fn complete_rating_slip(
    p_rating_slip_id: Option<Uuid>,
    p_player_id: Option<Uuid>,
    p_average_bet: Option<AnyNumeric>,
    p_duration_seconds: Option<i32>,
    p_game_settings: Option<JsonB>,
    p_visit_id: default!(Option<Uuid>, "NULL"),
    p_correlation_id: default!(Option<&str>, "NULL"),
) -> pgrx::composite_type!('static, "slip_result") {
    let explicit_corr = has_text(p_correlation_id);
    guard::sql_call(p_correlation_id, |corr| {
        let slip = p_rating_slip_id
            .ok_or_else(|| LoyaltyError::invalid("p_rating_slip_id must not be null"))?;
        let player =
            p_player_id.ok_or_else(|| LoyaltyError::invalid("p_player_id must not be null"))?;
        let play = Play::from_args(p_average_bet, p_duration_seconds, p_game_settings.as_ref())?;
        // Validate the whole formula before anything is recorded.
        play.points(Decimal::ONE)?;
        let request = Request {
            slip,
            player,
            visit: p_visit_id,
            bet: play.bet.normalize().to_string(),
            duration: play.duration,
            settings: play.settings_json.clone(),
            correlation_id: corr.to_string(),
        };

        if Spi::connect_mut(|c| request.record(c))? {
            return Ok(attempt(&request, corr));
        }
        // The slip was recorded before: same request, or a conflict.
        let existing = Spi::connect_mut(|c| Existing::load_locked(c, slip, corr))?
            .ok_or_else(|| LoyaltyError::internal("recorded slip vanished"))?;
        if existing.request.fingerprint() != request.fingerprint() {
            return Err(LoyaltyError::SlipConflict {
                rating_slip_id: slip.to_string(),
            });
        }
        Ok(existing.finish(if explicit_corr { Some(corr) } else { None }))
    })
    .into_tuple()
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// Replays one pending accrual with its original key (and correlation id unless given).
fn recover_rating_slip(
    p_rating_slip_id: Option<Uuid>,
    p_correlation_id: default!(Option<&str>, "NULL"),
) -> pgrx::composite_type!('static, "slip_result") {
    let explicit_corr = has_text(p_correlation_id);
    guard::sql_call(p_correlation_id, |corr| {
        let slip = p_rating_slip_id
            .ok_or_else(|| LoyaltyError::invalid("p_rating_slip_id must not be null"))?;
        let existing =
            Spi::connect_mut(|c| Existing::load_locked(c, slip, corr))?.ok_or_else(|| {
                LoyaltyError::InvalidState {
                    message: format!("rating slip {slip} has no recorded accrual"),
                    context: vec![("rating_slip_id", slip.to_string())],
                }
            })?;
        Ok(existing.finish(if explicit_corr { Some(corr) } else { None }))
    })
    .into_tuple()
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// Replays up to p_max pending accruals, oldest first, skipping those another session is recovering.
#[allow(clippy::type_complexity)]
fn recover_pending(
    p_max: default!(Option<i32>, 100),
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
    let rows = guard::sql_call(None, |_| {
        let max = match p_max {
            Some(m) if (1..=MAX_RECOVER_BATCH).contains(&m) => m,
            other => {
                return Err(LoyaltyError::invalid_with(
                    format!("p_max must be between 1 and {MAX_RECOVER_BATCH}"),
                    vec![(
                        "p_max",
                        other.map_or_else(|| "NULL".to_string(), |m| m.to_string()),
                    )],
                ))
            }
        };
        let open = Spi::connect_mut(|c| -> Result<Vec<Request>, LoyaltyError> {
            let rows = plans::run(c, &CLAIM_OPEN, &[max.into()])?;
            rows.into_iter()
                .map(|r| Request::from_row(&r, 0))
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(open
            .iter()
            .map(|req| {
                let out = attempt(req, &req.correlation_id);
                events::emit(
                    "recovery",
                    &out.correlation_id,
                    &[
                        ("rating_slip_id", req.slip.to_string()),
                        ("status", out.status.to_string()),
                    ],
                );
                (
                    req.slip,
                    out.status.to_string(),
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

/// Upper bound of one `recover_pending` call: its locks are held until the
/// caller commits, so batches stay short.
const MAX_RECOVER_BATCH: i32 = 10_000;

fn has_text(s: Option<&str>) -> bool {
    s.is_some_and(|s| !s.trim().is_empty())
}

/// Validated play data of a slip.
struct Play {
    bet: Decimal,
    duration: i32,
    settings: GameSettings,
    settings_json: Value,
}

impl Play {
    fn from_args(
        bet: Option<AnyNumeric>,
        duration: Option<i32>,
        settings: Option<&JsonB>,
    ) -> Result<Play, LoyaltyError> {
        let bet_text = bet
            .ok_or_else(|| LoyaltyError::invalid("p_average_bet must not be null"))?
            .to_string();
        let bet = points::number("p_average_bet", &bet_text)?;
        let duration =
            duration.ok_or_else(|| LoyaltyError::invalid("p_duration_seconds must not be null"))?;
        let json = settings
            .ok_or_else(|| LoyaltyError::invalid("p_game_settings must not be null"))?
            .0
            .clone();
        Play::new(bet, duration, json)
    }

    fn new(bet: Decimal, duration: i32, settings_json: Value) -> Result<Play, LoyaltyError> {
        Ok(Play {
            bet,
            duration,
            settings: GameSettings::from_json(&settings_json)?,
            settings_json,
        })
    }

    fn explicit_tier_multiplier(&self) -> Result<Option<Decimal>, LoyaltyError> {
        match self.settings_json.get("tier_multiplier") {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                points::parse_decimal(&text)
                    .filter(|d| *d >= Decimal::ZERO)
                    .map(Some)
                    .ok_or_else(|| {
                        LoyaltyError::invalid("tier_multiplier must be a number of 0 or more")
                    })
            }
        }
    }

    fn points(&self, tier_multiplier: Decimal) -> Result<i32, LoyaltyError> {
        points::gameplay_points(
            self.bet,
            self.duration as i64,
            &self.settings,
            tier_multiplier,
        )
    }
}

/// An accrual request as recorded.
struct Request {
    slip: Uuid,
    player: Uuid,
    visit: Option<Uuid>,
    /// Normalized decimal text of the average bet.
    bet: String,
    duration: i32,
    settings: Value,
    correlation_id: String,
}

impl Request {
    /// SHA-256 of the play data: the same slip recorded again must match.
    fn fingerprint(&self) -> String {
        let mut m = Map::new();
        m.insert("player".into(), Value::from(self.player.to_string()));
        m.insert(
            "visit".into(),
            self.visit
                .map(|v| Value::from(v.to_string()))
                .unwrap_or(Value::Null),
        );
        m.insert("bet".into(), Value::from(self.bet.clone()));
        m.insert("duration".into(), Value::from(self.duration));
        m.insert("settings".into(), Value::from(self.settings.to_string()));
        keys::idempotency_key(&m)
    }

    /// Inserts the request; false when the slip was recorded before.
    fn record(&self, c: &mut SpiClient<'_>) -> Result<bool, LoyaltyError> {
        let rows = plans::run(
            c,
            &RECORD,
            &[
                self.slip.into(),
                self.player.into(),
                self.visit.into(),
                self.bet.as_str().into(),
                self.duration.into(),
                self.settings.to_string().into(),
                self.fingerprint().into(),
                self.correlation_id.as_str().into(),
            ],
        )?;
        Ok(!rows.is_empty())
    }

    /// Reads columns 1.. (offset) of a request row:
    /// slip, player, visit, bet, duration, settings, correlation id.
    fn from_row(
        r: &pgrx::spi::SpiHeapTupleData<'_>,
        offset: usize,
    ) -> Result<Request, LoyaltyError> {
        let settings_text: String = required(r.get(offset + 6)?, "game_settings")?;
        Ok(Request {
            slip: required(r.get(offset + 1)?, "rating_slip_id")?,
            player: required(r.get(offset + 2)?, "player_id")?,
            visit: r.get(offset + 3)?,
            bet: required(r.get(offset + 4)?, "average_bet")?,
            duration: required(r.get(offset + 5)?, "duration_seconds")?,
            settings: serde_json::from_str(&settings_text)
                .map_err(|e| LoyaltyError::internal(format!("stored game settings: {e}")))?,
            correlation_id: required(r.get(offset + 7)?, "correlation_id")?,
        })
    }
}

/// A recorded slip read under its row lock.
struct Existing {
    request: Request,
    status: String,
    points: Option<i32>,
    ledger_id: Option<i64>,
    balance_after: Option<i64>,
    tier_after: Option<String>,
}

impl Existing {
    fn load_locked(
        c: &mut SpiClient<'_>,
        slip: Uuid,
        corr: &str,
    ) -> Result<Option<Existing>, LoyaltyError> {
        guard::with_lock_timeout("rating slip", &slip, corr, || {
            let Some(r) = plans::run(c, &LOAD_LOCKED, &[slip.into()])?.next() else {
                return Ok(None);
            };
            Ok(Some(Existing {
                request: Request::from_row(&r, 0)?,
                status: required(r.get(8)?, "status")?,
                points: r.get(9)?,
                ledger_id: r.get(10)?,
                balance_after: r.get(11)?,
                tier_after: r.get(12)?,
            }))
        })
    }

    /// A completed slip returns its original result; an open one is attempted
    /// again with its original correlation id unless another is given.
    fn finish(self, explicit_corr: Option<&str>) -> SlipOutcome {
        if self.status == "COMPLETED" {
            return SlipOutcome {
                status: "ALREADY_COMPLETED",
                points: self.points,
                ledger_id: self.ledger_id,
                balance_after: self.balance_after,
                tier_after: self.tier_after,
                correlation_id: self.request.correlation_id,
                error: None,
            };
        }
        let corr = explicit_corr
            .map(str::to_string)
            .unwrap_or_else(|| self.request.correlation_id.clone());
        let out = attempt(&self.request, &corr);
        events::emit(
            "recovery",
            &corr,
            &[
                ("rating_slip_id", self.request.slip.to_string()),
                ("status", out.status.to_string()),
            ],
        );
        out
    }
}

/// What a slip function returns (`loyalty.slip_result`).
struct SlipOutcome {
    status: &'static str,
    points: Option<i32>,
    ledger_id: Option<i64>,
    balance_after: Option<i64>,
    tier_after: Option<String>,
    correlation_id: String,
    error: Option<String>,
}

impl SlipOutcome {
    fn into_tuple(self) -> pgrx::composite_type!('static, "slip_result") {
        guard::row_tuple(
            RowType::Slip,
            vec![
                self.status.into_datum(),
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
fn attempt(req: &Request, corr: &str) -> SlipOutcome {
    match subxact::run(|| accrue(req, corr)) {
        Ok(out) => out,
        Err(failure) => {
            let recorded = Spi::connect_mut(|c| {
                plans::run(
                    c,
                    &MARK_FAILED,
                    &[
                        req.slip.into(),
                        failure.message.as_str().into(),
                        failure.sqlstate.as_str().into(),
                    ],
                )
                .map(|_| ())
            });
            if let Err(e) = recorded {
                // Could not even record the failure: fail the whole call, so
                // the caller's transaction (and its slip close) rolls back.
                e.raise(corr);
            }
            events::emit(
                "partial_completion",
                corr,
                &[
                    ("rating_slip_id", req.slip.to_string()),
                    ("player_id", req.player.to_string()),
                    ("sqlstate", failure.sqlstate.clone()),
                    ("error", failure.message.clone()),
                ],
            );
            SlipOutcome {
                status: "PARTIAL_COMPLETION",
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

/// The accrual itself: tier multiplier from the player's tier before the
/// accrual (read under the player's row lock), the GAMEPLAY change, and the
/// request marked COMPLETED.
fn accrue(req: &Request, corr: &str) -> Result<SlipOutcome, LoyaltyError> {
    let bet = points::parse_decimal(&req.bet)
        .ok_or_else(|| LoyaltyError::internal("stored average bet is not a number"))?;
    let play = Play::new(bet, req.duration, req.settings.clone())?;
    let multiplier = Spi::connect_mut(|c| tier_multiplier(c, req.player, corr))?;
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
                ..ChangeArgs::default()
            },
            corr,
        )?)
    } else {
        None
    };
    let ledger_id = change.as_ref().map(|c| c.ledger_id);
    Spi::connect_mut(|c| {
        plans::run(
            c,
            &MARK_COMPLETED,
            &[req.slip.into(), points.into(), ledger_id.into()],
        )
        .map(|_| ())
    })?;
    Ok(SlipOutcome {
        status: "COMPLETED",
        points: Some(points),
        ledger_id,
        balance_after: change.as_ref().map(|c| c.balance_after),
        tier_after: change.map(|c| c.tier_after),
        correlation_id: corr.to_string(),
        error: None,
    })
}

/// The multiplier of the player's current tier, read under the player's row
/// lock (so no concurrent change can move the tier before the accrual); a
/// new player earns at the lowest tier.
fn tier_multiplier(
    c: &mut SpiClient<'_>,
    player: Uuid,
    corr: &str,
) -> Result<Decimal, LoyaltyError> {
    let text: Option<String> = guard::with_lock_timeout("player", &player, corr, || {
        let rows = plans::run(c, &PLAYER_MULTIPLIER, &[player.into()])?;
        if rows.is_empty() {
            Ok::<_, LoyaltyError>(None)
        } else {
            Ok(rows.first().get::<String>(1)?)
        }
    })?;
    let text = match text {
        Some(t) => t,
        None => required(
            plans::run(c, &BASE_MULTIPLIER, &[])?
                .first()
                .get::<String>(1)?,
            "tier",
        )?,
    };
    points::parse_decimal(&text)
        .ok_or_else(|| LoyaltyError::internal("tier multiplier is not a number"))
}

static RECORD: Stmt = Stmt {
    args: &[
        O::UUIDOID,
        O::UUIDOID,
        O::UUIDOID,
        O::TEXTOID,
        O::INT4OID,
        O::TEXTOID,
        O::TEXTOID,
        O::TEXTOID,
    ],
    sql: "\
INSERT INTO loyalty.rating_slip_accrual
    (rating_slip_id, player_id, visit_id, average_bet, duration_seconds, game_settings,
     request_fingerprint, correlation_id)
VALUES ($1, $2, $3, $4::numeric, $5, $6::jsonb, $7, $8)
ON CONFLICT (rating_slip_id) DO NOTHING
RETURNING rating_slip_id",
};

/// Request columns in `Request::from_row` order, then the outcome columns.
static LOAD_LOCKED: Stmt = Stmt {
    args: &[O::UUIDOID],
    sql: "\
SELECT a.rating_slip_id, a.player_id, a.visit_id, a.average_bet::text, a.duration_seconds,
       a.game_settings::text, a.correlation_id,
       a.status, a.points, a.ledger_id, l.balance_after, l.tier_after
  FROM loyalty.rating_slip_accrual a
  LEFT JOIN loyalty.loyalty_ledger l ON l.id = a.ledger_id
 WHERE a.rating_slip_id = $1
   FOR UPDATE OF a",
};

/// The oldest open requests no other session holds.
static CLAIM_OPEN: Stmt = Stmt {
    args: &[O::INT4OID],
    sql: "\
SELECT rating_slip_id, player_id, visit_id, average_bet::text, duration_seconds,
       game_settings::text, correlation_id
  FROM loyalty.rating_slip_accrual
 WHERE status <> 'COMPLETED'
 ORDER BY created_at, rating_slip_id
 LIMIT $1
   FOR UPDATE SKIP LOCKED",
};

static MARK_COMPLETED: Stmt = Stmt {
    args: &[O::UUIDOID, O::INT4OID, O::INT8OID],
    sql: "\
UPDATE loyalty.rating_slip_accrual
   SET status = 'COMPLETED', points = $2, ledger_id = $3, attempts = attempts + 1,
       last_error = NULL, last_sqlstate = NULL,
       updated_at = clock_timestamp(), completed_at = clock_timestamp()
 WHERE rating_slip_id = $1",
};

static MARK_FAILED: Stmt = Stmt {
    args: &[O::UUIDOID, O::TEXTOID, O::TEXTOID],
    sql: "\
UPDATE loyalty.rating_slip_accrual
   SET status = 'FAILED', attempts = attempts + 1, last_error = $2, last_sqlstate = $3,
       updated_at = clock_timestamp()
 WHERE rating_slip_id = $1",
};

static PLAYER_MULTIPLIER: Stmt = Stmt {
    args: &[O::UUIDOID],
    sql: "\
SELECT t.multiplier::text
  FROM loyalty.player_loyalty p JOIN loyalty.tier t ON t.name = p.tier
 WHERE p.player_id = $1
   FOR UPDATE OF p",
};

static BASE_MULTIPLIER: Stmt = Stmt {
    args: &[],
    sql: "SELECT multiplier::text FROM loyalty.tier ORDER BY threshold LIMIT 1",
};
