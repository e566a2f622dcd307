//! A rating slip's play data and its accrual's states (SPEC section 6).
//!
//! `Play` validates what the application sends when it closes a slip (the
//! average bet, the time played and the game's settings) and computes its
//! points at a tier multiplier; `request_fingerprint` identifies the request,
//! so that the same slip recorded again with other data is a conflict.

use crate::domain::error::LoyaltyError;
use crate::domain::keys;
use crate::domain::points::{self, GameSettings};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// Validated play data of a slip.
#[derive(Debug, Clone, PartialEq)]
pub struct Play {
    pub bet: Decimal,
    pub duration: i32,
    pub settings: GameSettings,
    /// The settings as sent, kept with the recorded request.
    pub settings_json: Value,
}

impl Play {
    /// Validates the arguments of a slip function: `bet` is the decimal
    /// text of `p_average_bet`.
    pub fn parse(
        bet: Option<&str>,
        duration: Option<i32>,
        settings: Option<Value>,
    ) -> Result<Play, LoyaltyError> {
        let bet = bet.ok_or_else(|| LoyaltyError::invalid("p_average_bet must not be null"))?;
        let bet = points::number("p_average_bet", bet)?;
        let duration =
            duration.ok_or_else(|| LoyaltyError::invalid("p_duration_seconds must not be null"))?;
        let settings =
            settings.ok_or_else(|| LoyaltyError::invalid("p_game_settings must not be null"))?;
        Play::new(bet, duration, settings)
    }

    pub fn new(bet: Decimal, duration: i32, settings_json: Value) -> Result<Play, LoyaltyError> {
        Ok(Play {
            bet,
            duration,
            settings: GameSettings::from_json(&settings_json)?,
            settings_json,
        })
    }

    /// A `tier_multiplier` given in the settings, which overrides the tier's.
    pub fn explicit_tier_multiplier(&self) -> Result<Option<Decimal>, LoyaltyError> {
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

    /// Points at a tier multiplier.
    pub fn points(&self, tier_multiplier: Decimal) -> Result<i32, LoyaltyError> {
        points::gameplay_points(
            self.bet,
            self.duration as i64,
            &self.settings,
            tier_multiplier,
        )
    }

    /// The average bet as recorded: normalized decimal text.
    pub fn bet_text(&self) -> String {
        self.bet.normalize().to_string()
    }
}

/// SHA-256 of a slip's accrual request (player, visit, bet text, duration,
/// settings): the same slip recorded again must match it.
pub fn request_fingerprint(
    player: &str,
    visit: Option<&str>,
    bet: &str,
    duration: i32,
    settings: &Value,
) -> String {
    let mut m = Map::new();
    m.insert("player".into(), Value::from(player));
    m.insert(
        "visit".into(),
        visit.map(Value::from).unwrap_or(Value::Null),
    );
    m.insert("bet".into(), Value::from(bet));
    m.insert("duration".into(), Value::from(duration));
    m.insert("settings".into(), Value::from(settings.to_string()));
    keys::idempotency_key(&m)
}

/// The state of a recorded accrual (`loyalty.rating_slip_accrual.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccrualState {
    /// Recorded, not yet attempted.
    Pending,
    /// The last attempt failed; recovery will try again after a backoff.
    Failed,
    /// Credited (or worth zero points).
    Completed,
    /// Failed in a way retrying will not fix, or too often: left out of
    /// `recover_pending` until a person holding `loyalty:recover` resolves it.
    Stuck,
    /// Resolved by a person: never to be credited.
    Abandoned,
}

impl AccrualState {
    pub const ALL: [AccrualState; 5] = [
        AccrualState::Pending,
        AccrualState::Failed,
        AccrualState::Completed,
        AccrualState::Stuck,
        AccrualState::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AccrualState::Pending => "PENDING",
            AccrualState::Failed => "FAILED",
            AccrualState::Completed => "COMPLETED",
            AccrualState::Stuck => "STUCK",
            AccrualState::Abandoned => "ABANDONED",
        }
    }

    pub fn parse(s: &str) -> Option<AccrualState> {
        AccrualState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Still to be credited, by recovery or by a person.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            AccrualState::Pending | AccrualState::Failed | AccrualState::Stuck
        )
    }
}

/// A GAMEPLAY credit made directly (`increment_player_loyalty`) for a slip
/// that `complete_rating_slip` recorded is refused (55000), whatever the
/// recorded accrual's state (a replay of what the saga wrote is answered
/// before this is asked): the saga owns that slip's credit.  It credits
/// the formula's points once (pending or failing: recovery; stuck: a person
/// retries), and an abandoned accrual is never credited.
pub fn direct_credit(slip: &str, recorded: Option<AccrualState>) -> Result<(), LoyaltyError> {
    match recorded {
        None => Ok(()),
        Some(state) => Err(LoyaltyError::InvalidState {
            message: format!(
                "rating slip {slip} was recorded by complete_rating_slip ({}): only its saga credits it",
                state.as_str()
            ),
            context: vec![
                ("rating_slip_id", slip.to_string()),
                ("status", state.as_str().to_string()),
            ],
        }),
    }
}

/// First wait before a failed accrual is tried again; it doubles with each
/// failure up to `MAX_RETRY_DELAY_SECONDS`.
pub const FIRST_RETRY_DELAY_SECONDS: i64 = 10;
/// Longest wait between two attempts.
pub const MAX_RETRY_DELAY_SECONDS: i64 = 3600;

/// What follows a failed attempt: the accrual's new state and, when it will
/// be retried, the seconds to wait.  `attempts` counts the failed attempt.
/// A data error (class 22: a bad value, points beyond a limit) or an
/// integrity error (class 23: the slip's key taken by another request) fails
/// the same way every time, so it is stuck at once; anything else (a lock
/// timeout, a deadlock) is retried with a doubling backoff until
/// `max_attempts`.
pub fn after_failure(
    attempts: i32,
    sqlstate: &str,
    max_attempts: i32,
) -> (AccrualState, Option<i64>) {
    if sqlstate.starts_with("22") || sqlstate.starts_with("23") || attempts >= max_attempts {
        return (AccrualState::Stuck, None);
    }
    let doublings = (attempts.max(1) - 1).min(20) as u32;
    let delay = (FIRST_RETRY_DELAY_SECONDS << doublings).min(MAX_RETRY_DELAY_SECONDS);
    (AccrualState::Failed, Some(delay))
}

/// What a slip function reports (`loyalty.slip_result.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlipStatus {
    /// Credited by this call.
    Completed,
    /// Credited before: the original result, nothing written.
    AlreadyCompleted,
    /// The accrual failed; the request stays recorded for recovery.
    PartialCompletion,
    /// Abandoned by a person (`resolve_accrual`): nothing credited.
    Abandoned,
}

impl SlipStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SlipStatus::Completed => "COMPLETED",
            SlipStatus::AlreadyCompleted => "ALREADY_COMPLETED",
            SlipStatus::PartialCompletion => "PARTIAL_COMPLETION",
            SlipStatus::Abandoned => "ABANDONED",
        }
    }
}

/// What a person decides for an open accrual (`resolve_accrual`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Attempt it again now, with a fresh count of attempts.
    Retry,
    /// Never credit it.
    Abandon,
}

impl Resolution {
    pub fn parse(action: Option<&str>) -> Result<Resolution, LoyaltyError> {
        match action.map(str::trim) {
            Some("retry") => Ok(Resolution::Retry),
            Some("abandon") => Ok(Resolution::Abandon),
            _ => Err(LoyaltyError::invalid_with(
                "p_action must be 'retry' or 'abandon'",
                vec![("allowed", "retry|abandon".into())],
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Retry => "retry",
            Resolution::Abandon => "abandon",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn table() -> Value {
        json!({"house_edge": 2, "average_rounds_per_hour": 60})
    }

    #[test]
    fn parse_refuses_missing_arguments() {
        for (bet, duration, settings) in [
            (None, Some(3600), Some(table())),
            (Some("25"), None, Some(table())),
            (Some("25"), Some(3600), None),
        ] {
            let e = Play::parse(bet, duration, settings).unwrap_err();
            assert_eq!(e.sqlstate(), "22023", "{e}");
        }
        assert_eq!(
            Play::parse(Some("NaN"), Some(3600), Some(table()))
                .unwrap_err()
                .sqlstate(),
            "22023"
        );
        assert_eq!(
            Play::parse(Some("1e40"), Some(3600), Some(table()))
                .unwrap_err()
                .sqlstate(),
            "22003"
        );
    }

    #[test]
    fn points_at_a_tier_multiplier() {
        let play = Play::parse(Some("25"), Some(3600), Some(table())).unwrap();
        assert_eq!(play.points(Decimal::ONE).unwrap(), 300);
        assert_eq!(play.points(Decimal::new(130, 2)).unwrap(), 390);
        assert_eq!(play.bet_text(), "25");
        assert_eq!(
            Play::parse(Some("25.50"), Some(1), Some(table()))
                .unwrap()
                .bet_text(),
            "25.5"
        );
    }

    #[test]
    fn an_explicit_tier_multiplier() {
        let with = |v: Value| {
            let mut s = table();
            s["tier_multiplier"] = v;
            Play::parse(Some("25"), Some(3600), Some(s)).unwrap()
        };
        assert_eq!(
            with(json!(1.5)).explicit_tier_multiplier().unwrap(),
            Some(Decimal::new(15, 1))
        );
        assert_eq!(
            with(json!("2")).explicit_tier_multiplier().unwrap(),
            Some(Decimal::TWO)
        );
        assert_eq!(with(Value::Null).explicit_tier_multiplier().unwrap(), None);
        assert!(with(json!(-1)).explicit_tier_multiplier().is_err());
        assert!(with(json!("x")).explicit_tier_multiplier().is_err());
    }

    #[test]
    fn the_fingerprint_covers_every_field() {
        let base = request_fingerprint("p", Some("v"), "25", 3600, &table());
        assert_eq!(
            base,
            request_fingerprint("p", Some("v"), "25", 3600, &table())
        );
        assert_ne!(
            base,
            request_fingerprint("q", Some("v"), "25", 3600, &table())
        );
        assert_ne!(base, request_fingerprint("p", None, "25", 3600, &table()));
        assert_ne!(
            base,
            request_fingerprint("p", Some("v"), "26", 3600, &table())
        );
        assert_ne!(
            base,
            request_fingerprint("p", Some("v"), "25", 3601, &table())
        );
        assert_ne!(
            base,
            request_fingerprint(
                "p",
                Some("v"),
                "25",
                3600,
                &json!({"house_edge": 3, "average_rounds_per_hour": 60})
            )
        );
    }

    #[test]
    fn failures_back_off_then_stick() {
        assert_eq!(
            after_failure(1, "55P03", 10),
            (AccrualState::Failed, Some(10))
        );
        assert_eq!(
            after_failure(2, "55P03", 10),
            (AccrualState::Failed, Some(20))
        );
        assert_eq!(
            after_failure(4, "40P01", 10),
            (AccrualState::Failed, Some(80))
        );
        assert_eq!(
            after_failure(9, "55P03", 10),
            (AccrualState::Failed, Some(2560))
        );
        assert_eq!(
            after_failure(10, "55P03", 20),
            (AccrualState::Failed, Some(MAX_RETRY_DELAY_SECONDS))
        );
        assert_eq!(after_failure(10, "55P03", 10), (AccrualState::Stuck, None));
        // Errors that fail the same way every time stick at once.
        assert_eq!(after_failure(1, "22003", 10), (AccrualState::Stuck, None));
        assert_eq!(after_failure(1, "23505", 10), (AccrualState::Stuck, None));
        assert_eq!(after_failure(1, "55P03", 1), (AccrualState::Stuck, None));
    }

    #[test]
    fn resolutions() {
        assert_eq!(Resolution::parse(Some("retry")), Ok(Resolution::Retry));
        assert_eq!(
            Resolution::parse(Some(" abandon ")),
            Ok(Resolution::Abandon)
        );
        for bad in [None, Some(""), Some("RETRY"), Some("delete")] {
            assert_eq!(Resolution::parse(bad).unwrap_err().sqlstate(), "22023");
        }
    }

    #[test]
    fn states_round_trip() {
        for st in AccrualState::ALL {
            assert_eq!(AccrualState::parse(st.as_str()), Some(st));
        }
        assert!(AccrualState::Stuck.is_open());
        assert!(!AccrualState::Abandoned.is_open());
        assert!(!AccrualState::Completed.is_open());
        assert_eq!(AccrualState::parse("DONE"), None);
        assert_eq!(SlipStatus::PartialCompletion.as_str(), "PARTIAL_COMPLETION");
    }
}
