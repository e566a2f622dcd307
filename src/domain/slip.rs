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
    /// The last attempt failed; recovery will try again.
    Failed,
    /// Credited (or worth zero points).
    Completed,
}

impl AccrualState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccrualState::Pending => "PENDING",
            AccrualState::Failed => "FAILED",
            AccrualState::Completed => "COMPLETED",
        }
    }

    pub fn parse(s: &str) -> Option<AccrualState> {
        [
            AccrualState::Pending,
            AccrualState::Failed,
            AccrualState::Completed,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
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
}

impl SlipStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SlipStatus::Completed => "COMPLETED",
            SlipStatus::AlreadyCompleted => "ALREADY_COMPLETED",
            SlipStatus::PartialCompletion => "PARTIAL_COMPLETION",
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
    fn states_round_trip() {
        for st in [
            AccrualState::Pending,
            AccrualState::Failed,
            AccrualState::Completed,
        ] {
            assert_eq!(AccrualState::parse(st.as_str()), Some(st));
        }
        assert_eq!(AccrualState::parse("DONE"), None);
        assert_eq!(SlipStatus::PartialCompletion.as_str(), "PARTIAL_COMPLETION");
    }
}
