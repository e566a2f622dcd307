//! The recorded accrual requests: every statement over
//! `loyalty.rating_slip_accrual`.

use crate::authorize::Caller;
use crate::domain::error::{LockTarget, LoyaltyError};
use crate::domain::points::parse_decimal;
use crate::domain::slip::{self, AccrualState, Play, Resolution};
use crate::guard;
use crate::plans::{self, required, Stmt};
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::spi::{SpiClient, SpiHeapTupleData};
use serde_json::Value;

type Uuid = pgrx::Uuid;

/// An accrual request as recorded.
pub struct Request {
    /// The casino the slip belongs to (a slip is keyed by casino and id).
    pub casino: String,
    pub slip: Uuid,
    pub player: Uuid,
    pub visit: Option<Uuid>,
    /// Normalized decimal text of the average bet.
    pub bet: String,
    pub duration: i32,
    pub settings: Value,
    pub correlation_id: String,
    /// Failed attempts so far.
    pub attempts: i32,
}

impl Request {
    pub fn new(
        casino: &str,
        slip: Uuid,
        player: Uuid,
        visit: Option<Uuid>,
        play: &Play,
        corr: &str,
    ) -> Request {
        Request {
            casino: casino.to_string(),
            slip,
            player,
            visit,
            bet: play.bet_text(),
            duration: play.duration,
            settings: play.settings_json.clone(),
            correlation_id: corr.to_string(),
            attempts: 0,
        }
    }

    /// The play data, validated again (it was valid when recorded).
    pub fn play(&self) -> Result<Play, LoyaltyError> {
        let bet = parse_decimal(&self.bet)
            .ok_or_else(|| LoyaltyError::internal("stored average bet is not a number"))?;
        Play::new(bet, self.duration, self.settings.clone())
    }

    /// The same slip recorded again must carry the same fingerprint.
    pub fn fingerprint(&self) -> String {
        slip::request_fingerprint(
            &self.player.to_string(),
            self.visit.map(|v| v.to_string()).as_deref(),
            &self.bet,
            self.duration,
            &self.settings,
        )
    }

    /// Inserts the request, attributed to `actor_role`; false when the slip
    /// was recorded before.
    pub fn record(&self, c: &mut SpiClient<'_>, actor_role: &str) -> Result<bool, LoyaltyError> {
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
                actor_role.into(),
                self.casino.as_str().into(),
            ],
        )?;
        Ok(!rows.is_empty())
    }

    /// Reads the first eight columns of a request row: slip, player, visit,
    /// bet, duration, settings, correlation id, attempts; of the casino's
    /// row.
    fn from_row(r: &SpiHeapTupleData<'_>, casino: &str) -> Result<Request, LoyaltyError> {
        let settings_text: String = required(r.get(6)?, "game_settings")?;
        Ok(Request {
            casino: casino.to_string(),
            slip: required(r.get(1)?, "rating_slip_id")?,
            player: required(r.get(2)?, "player_id")?,
            visit: r.get(3)?,
            bet: required(r.get(4)?, "average_bet")?,
            duration: required(r.get(5)?, "duration_seconds")?,
            settings: serde_json::from_str(&settings_text)
                .map_err(|e| LoyaltyError::internal(format!("stored game settings: {e}")))?,
            correlation_id: required(r.get(7)?, "correlation_id")?,
            attempts: required(r.get(8)?, "attempts")?,
        })
    }
}

/// A recorded slip read under its row lock, with its outcome so far.
pub struct Existing {
    pub request: Request,
    pub state: AccrualState,
    pub points: Option<i32>,
    pub ledger_id: Option<i64>,
    pub balance_after: Option<i64>,
    pub tier_after: Option<String>,
}

impl Existing {
    /// The slip's request, its row locked (waiting at most
    /// `loyalty.lock_timeout`); `None` when it was never recorded.
    pub fn load_locked(
        c: &mut SpiClient<'_>,
        casino: &str,
        slip: Uuid,
        corr: &str,
    ) -> Result<Option<Existing>, LoyaltyError> {
        guard::with_lock_timeout(LockTarget::RatingSlip, &slip, corr, || {
            let Some(r) = plans::run(c, &LOAD_LOCKED, &[casino.into(), slip.into()])?.next() else {
                return Ok(None);
            };
            let state: String = required(r.get(9)?, "status")?;
            Ok(Some(Existing {
                request: Request::from_row(&r, casino)?,
                state: AccrualState::parse(&state).ok_or_else(|| {
                    LoyaltyError::internal(format!("unknown accrual status {state}"))
                })?,
                points: r.get(10)?,
                ledger_id: r.get(11)?,
                balance_after: r.get(12)?,
                tier_after: r.get(13)?,
            }))
        })
    }
}

/// The state of a slip's recorded accrual, if any, its row share-locked (so
/// that a resolution cannot change it before the caller's transaction ends),
/// waiting at most `loyalty.lock_timeout`.
pub fn recorded_state(
    c: &mut SpiClient<'_>,
    casino: &str,
    slip: Uuid,
    corr: &str,
) -> Result<Option<AccrualState>, LoyaltyError> {
    guard::with_lock_timeout(LockTarget::RatingSlip, &slip, corr, || {
        let Some(r) = plans::run(c, &STATE_SHARED, &[casino.into(), slip.into()])?.next() else {
            return Ok(None);
        };
        let state: String = required(r.get(1)?, "status")?;
        AccrualState::parse(&state)
            .map(Some)
            .ok_or_else(|| LoyaltyError::internal(format!("unknown accrual status {state}")))
    })
}

impl Existing {
    /// As `load_locked`, for a slip that must have been recorded (55000
    /// otherwise).
    pub fn load_recorded(
        c: &mut SpiClient<'_>,
        casino: &str,
        slip: Uuid,
        corr: &str,
    ) -> Result<Existing, LoyaltyError> {
        Existing::load_locked(c, casino, slip, corr)?.ok_or_else(|| LoyaltyError::InvalidState {
            message: format!("rating slip {slip} has no recorded accrual"),
            context: vec![("rating_slip_id", slip.to_string())],
        })
    }
}

/// Up to `max` of the oldest open requests no other session holds, locked,
/// of one casino or (`None`) of every casino.
pub fn claim_open(
    c: &mut SpiClient<'_>,
    casino: Option<&str>,
    max: i32,
) -> Result<Vec<Request>, LoyaltyError> {
    let rows = plans::run(c, &CLAIM_OPEN, &[max.into(), casino.into()])?;
    rows.into_iter()
        .map(|r| {
            let casino: Uuid = required(r.get(9)?, "casino_id")?;
            Request::from_row(&r, &casino.to_string())
        })
        .collect()
}

/// Marks a request credited (`ledger_id` None when it was worth 0 points).
pub fn mark_completed(
    c: &mut SpiClient<'_>,
    req: &Request,
    points: i32,
    ledger_id: Option<i64>,
) -> Result<(), LoyaltyError> {
    plans::run(
        c,
        &MARK_COMPLETED,
        &[
            req.slip.into(),
            points.into(),
            ledger_id.into(),
            req.casino.as_str().into(),
        ],
    )
    .map(|_| ())
}

/// Records a failed attempt (its message and SQLSTATE) and what follows it:
/// FAILED with the next attempt `retry_in` seconds away, or STUCK.
pub fn mark_failed(
    c: &mut SpiClient<'_>,
    req: &Request,
    message: &str,
    sqlstate: &str,
    state: AccrualState,
    retry_in: Option<i64>,
) -> Result<(), LoyaltyError> {
    plans::run(
        c,
        &MARK_FAILED,
        &[
            req.slip.into(),
            message.into(),
            sqlstate.into(),
            state.as_str().into(),
            retry_in.into(),
            req.casino.as_str().into(),
        ],
    )
    .map(|_| ())
}

/// A person's decision on an open accrual: `retry` puts it back in line
/// (attempts counted afresh), `abandon` closes it without credit.  Recorded
/// in `loyalty.accrual_resolution`.
pub fn resolve(
    c: &mut SpiClient<'_>,
    caller: &Caller,
    slip: Uuid,
    resolution: Resolution,
    staff: &str,
    reason: &str,
    corr: &str,
) -> Result<i64, LoyaltyError> {
    let casino = caller.casino_id();
    let actor_role = caller.role.as_str();
    let state = match resolution {
        Resolution::Retry => AccrualState::Failed,
        Resolution::Abandon => AccrualState::Abandoned,
    };
    plans::run(
        c,
        &REOPEN,
        &[slip.into(), state.as_str().into(), casino.into()],
    )?;
    let rows = plans::run(
        c,
        &RESOLUTION,
        &[
            slip.into(),
            resolution.as_str().into(),
            staff.into(),
            reason.into(),
            corr.into(),
            actor_role.into(),
            casino.into(),
        ],
    )?;
    required(rows.first().get::<i64>(1)?, "resolution id")
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
        O::TEXTOID,
        O::TEXTOID,
    ],
    sql: "\
INSERT INTO loyalty.rating_slip_accrual
    (rating_slip_id, player_id, visit_id, average_bet, duration_seconds, game_settings,
     request_fingerprint, correlation_id, actor_role, casino_id)
VALUES ($1, $2, $3, $4::numeric, $5, $6::jsonb, $7, $8, $9, $10::uuid)
ON CONFLICT (casino_id, rating_slip_id) DO NOTHING
RETURNING rating_slip_id",
};

/// Request columns in `Request::from_row` order, then the outcome columns.
static STATE_SHARED: Stmt = Stmt {
    args: &[O::TEXTOID, O::UUIDOID],
    sql: "\
SELECT status FROM loyalty.rating_slip_accrual
 WHERE casino_id = $1::uuid AND rating_slip_id = $2
   FOR SHARE",
};

static LOAD_LOCKED: Stmt = Stmt {
    args: &[O::TEXTOID, O::UUIDOID],
    sql: "\
SELECT a.rating_slip_id, a.player_id, a.visit_id, a.average_bet::text, a.duration_seconds,
       a.game_settings::text, a.correlation_id, a.attempts,
       a.status, a.points, a.ledger_id, l.balance_after, l.tier_after
  FROM loyalty.rating_slip_accrual a
  LEFT JOIN loyalty.loyalty_ledger l ON l.id = a.ledger_id
 WHERE a.casino_id = $1::uuid AND a.rating_slip_id = $2
   FOR UPDATE OF a",
};

/// The open requests whose next attempt is due, oldest due first, that no
/// other session holds.  (The literals match the partial index
/// rating_slip_accrual_due_idx, which a parameter could not.)
static CLAIM_OPEN: Stmt = Stmt {
    args: &[O::INT4OID, O::TEXTOID],
    sql: "\
SELECT rating_slip_id, player_id, visit_id, average_bet::text, duration_seconds,
       game_settings::text, correlation_id, attempts, casino_id
  FROM loyalty.rating_slip_accrual
 WHERE status IN ('PENDING', 'FAILED') AND next_attempt_at <= now()
   AND casino_id = coalesce($2::uuid, casino_id)
 ORDER BY next_attempt_at, created_at, rating_slip_id
 LIMIT $1
   FOR UPDATE SKIP LOCKED",
};

static MARK_COMPLETED: Stmt = Stmt {
    args: &[O::UUIDOID, O::INT4OID, O::INT8OID, O::TEXTOID],
    sql: "\
UPDATE loyalty.rating_slip_accrual
   SET status = 'COMPLETED', points = $2, ledger_id = $3, attempts = attempts + 1,
       last_error = NULL, last_sqlstate = NULL,
       updated_at = clock_timestamp(), completed_at = clock_timestamp()
 WHERE casino_id = $4::uuid AND rating_slip_id = $1",
};

static MARK_FAILED: Stmt = Stmt {
    args: &[
        O::UUIDOID,
        O::TEXTOID,
        O::TEXTOID,
        O::TEXTOID,
        O::INT8OID,
        O::TEXTOID,
    ],
    sql: "\
UPDATE loyalty.rating_slip_accrual
   SET status = $4, attempts = attempts + 1, last_error = $2, last_sqlstate = $3,
       next_attempt_at = CASE WHEN $5 IS NULL THEN next_attempt_at
                              ELSE clock_timestamp() + $5 * interval '1 second' END,
       updated_at = clock_timestamp()
 WHERE casino_id = $6::uuid AND rating_slip_id = $1",
};

/// A resolved accrual: back in line now, with its attempts counted afresh,
/// or abandoned.
static REOPEN: Stmt = Stmt {
    args: &[O::UUIDOID, O::TEXTOID, O::TEXTOID],
    sql: "\
UPDATE loyalty.rating_slip_accrual
   SET status = $2, attempts = 0, next_attempt_at = clock_timestamp(),
       updated_at = clock_timestamp()
 WHERE casino_id = $3::uuid AND rating_slip_id = $1",
};

static RESOLUTION: Stmt = Stmt {
    args: &[
        O::UUIDOID,
        O::TEXTOID,
        O::TEXTOID,
        O::TEXTOID,
        O::TEXTOID,
        O::TEXTOID,
        O::TEXTOID,
    ],
    sql: "\
INSERT INTO loyalty.accrual_resolution
    (rating_slip_id, action, staff_id, reason, correlation_id, actor_role, casino_id)
VALUES ($1, $2, $3::uuid, $4, $5, $6, $7::uuid)
RETURNING id",
};
