//! Gameplay points (SPEC section 6), in exact decimal arithmetic.
//!
//! rounds = round(hours × rounds_per_hour); theo = bet × house_edge% ×
//! rounds; points = theo × conversion rate × point multiplier × tier
//! multiplier, +5% per empty seat below 7, ×1.1 when the rounds exceed the
//! hourly rate, rounded half up.  `rust_decimal` keeps money-like values
//! exact: 10 × 1.5% × 31 × 10 is 46.5 → 47, where binary floats give 46.

use crate::domain::error::LoyaltyError;
use crate::domain::text::printable;
use crate::domain::tier::Ladder;
use rust_decimal::prelude::*;
use serde_json::Value;

/// A table game's settings (the `p_game_settings` JSON object).
#[derive(Debug, Clone, PartialEq)]
pub struct GameSettings {
    /// Percent, 0–100 (required).
    pub house_edge: Decimal,
    /// Rounds played per hour at this table (required, > 0).
    pub average_rounds_per_hour: Decimal,
    /// Points per unit of theoretical win (default 10).
    pub points_conversion_rate: Decimal,
    /// Promotion multiplier for the game (default 1).
    pub point_multiplier: Decimal,
    /// Seats open at the table (default 7: no bonus).
    pub seats_available: i64,
}

/// A full table has 7 seats; each empty seat below that earns 5%.
const FULL_TABLE_SEATS: i64 = 7;

impl GameSettings {
    pub fn from_json(v: &Value) -> Result<GameSettings, LoyaltyError> {
        let obj = v
            .as_object()
            .ok_or_else(|| LoyaltyError::invalid("p_game_settings must be a JSON object"))?;
        let get = |key: &'static str| -> Result<Option<Decimal>, LoyaltyError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => decimal_of(key, value).map(Some),
            }
        };
        let required = |key: &'static str| -> Result<Decimal, LoyaltyError> {
            get(key)?.ok_or_else(|| {
                LoyaltyError::invalid_with(
                    format!("p_game_settings is missing {key}"),
                    vec![("missing", key.to_string())],
                )
            })
        };
        let settings = GameSettings {
            house_edge: required("house_edge")?,
            average_rounds_per_hour: required("average_rounds_per_hour")?,
            points_conversion_rate: get("points_conversion_rate")?.unwrap_or(Decimal::TEN),
            point_multiplier: get("point_multiplier")?.unwrap_or(Decimal::ONE),
            seats_available: match get("seats_available")? {
                None => FULL_TABLE_SEATS,
                Some(d) if d.fract().is_zero() => d
                    .to_i64()
                    .ok_or_else(|| LoyaltyError::invalid("seats_available is out of range"))?,
                Some(_) => {
                    return Err(LoyaltyError::invalid(
                        "seats_available must be a whole number",
                    ))
                }
            },
        };
        let bad = |key: &str, rule: &str| {
            Err(LoyaltyError::invalid_with(
                format!("{key} must be {rule}"),
                vec![("setting", key.to_string())],
            ))
        };
        if settings.house_edge < Decimal::ZERO || settings.house_edge > Decimal::ONE_HUNDRED {
            return bad("house_edge", "a percentage between 0 and 100");
        }
        if settings.average_rounds_per_hour <= Decimal::ZERO {
            return bad("average_rounds_per_hour", "positive");
        }
        if settings.points_conversion_rate < Decimal::ZERO {
            return bad("points_conversion_rate", "zero or more");
        }
        if settings.point_multiplier < Decimal::ZERO {
            return bad("point_multiplier", "zero or more");
        }
        if settings.seats_available < 0 {
            return bad("seats_available", "zero or more");
        }
        Ok(settings)
    }
}

/// A JSON number (or numeric string) as an exact decimal.
fn decimal_of(key: &str, v: &Value) -> Result<Decimal, LoyaltyError> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => String::new(),
    };
    number(key, &text)
}

/// Parses plain or scientific decimal text; `None` for NaN, infinities,
/// numbers beyond 28 significant digits' range, or anything else.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str_exact(text)
        .ok()
        .or_else(|| Decimal::from_scientific(text).ok())
}

/// Parses a named input: not a number is 22023, a finite number too large
/// for exact arithmetic is 22003.
pub fn number(name: &str, text: &str) -> Result<Decimal, LoyaltyError> {
    if let Some(d) = parse_decimal(text) {
        return Ok(d);
    }
    let context = vec![("input", name.to_string()), ("value", printable(text))];
    if text.parse::<f64>().is_ok_and(|f| !f.is_nan()) && !text.to_ascii_lowercase().contains("inf")
    {
        Err(LoyaltyError::OutOfRange {
            message: format!("{name} is out of range"),
            context,
        })
    } else {
        Err(LoyaltyError::invalid_with(
            format!("{name} must be a finite number"),
            context,
        ))
    }
}

/// Multipliers of the default tiers (SPEC section 2), for callers without
/// a tier table at hand.
pub fn default_tier_multiplier(tier: &str) -> Option<Decimal> {
    Ladder::default_ladder().tier(tier).map(|t| t.multiplier)
}

fn half_up(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
}

/// Points earned by a session of play.
pub fn gameplay_points(
    average_bet: Decimal,
    duration_seconds: i64,
    settings: &GameSettings,
    tier_multiplier: Decimal,
) -> Result<i32, LoyaltyError> {
    if average_bet < Decimal::ZERO {
        return Err(LoyaltyError::invalid_with(
            "p_average_bet must not be negative",
            vec![("average_bet", average_bet.to_string())],
        ));
    }
    if duration_seconds < 0 {
        return Err(LoyaltyError::invalid_with(
            "p_duration_seconds must not be negative",
            vec![("duration_seconds", duration_seconds.to_string())],
        ));
    }
    if tier_multiplier < Decimal::ZERO {
        return Err(LoyaltyError::invalid(
            "tier multiplier must not be negative",
        ));
    }
    let overflow = || LoyaltyError::OutOfRange {
        message: "gameplay points are out of range".into(),
        context: vec![],
    };
    let mul = |a: Decimal, b: Decimal| a.checked_mul(b).ok_or_else(overflow);

    // Multiply before dividing so whole-hour sessions stay exact.
    let rounds = half_up(
        mul(
            Decimal::from(duration_seconds),
            settings.average_rounds_per_hour,
        )?
        .checked_div(Decimal::from(3600))
        .ok_or_else(overflow)?,
    );
    let theo = mul(
        mul(average_bet, settings.house_edge)?
            .checked_div(Decimal::ONE_HUNDRED)
            .ok_or_else(overflow)?,
        rounds,
    )?;
    let mut points = mul(
        mul(
            mul(theo, settings.points_conversion_rate)?,
            settings.point_multiplier,
        )?,
        tier_multiplier,
    )?;
    let empty_seats = (FULL_TABLE_SEATS - settings.seats_available).max(0);
    if empty_seats > 0 {
        let bonus = Decimal::ONE + Decimal::new(5, 2) * Decimal::from(empty_seats);
        points = mul(points, bonus)?;
    }
    if rounds > settings.average_rounds_per_hour {
        points = mul(points, Decimal::new(11, 1))?;
    }
    let rounded = half_up(points);
    rounded.to_i32().ok_or_else(|| LoyaltyError::OutOfRange {
        message: "gameplay points are out of range".into(),
        context: vec![
            ("points", rounded.to_string()),
            ("max", i32::MAX.to_string()),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn settings(v: Value) -> GameSettings {
        GameSettings::from_json(&v).unwrap()
    }

    #[test]
    fn spec_example_rounds_half_up_exactly() {
        // 10 × 1.5% × 31 rounds × 10 = 46.5 → 47 (binary floats give 46).
        let s = settings(json!({"house_edge": 1.5, "average_rounds_per_hour": 31}));
        assert_eq!(
            gameplay_points(d("10"), 3600, &s, Decimal::ONE).unwrap(),
            47
        );
        assert_eq!((10.0_f64 * 0.015 * 31.0 * 10.0).round(), 46.0);
    }

    #[test]
    fn defaults_and_multipliers() {
        // 25 bet, 2% edge, 60 rounds/h, 30 min: rounds 30, theo 15, ×10 = 150.
        let s = settings(json!({"house_edge": 2, "average_rounds_per_hour": 60}));
        assert_eq!(
            gameplay_points(d("25"), 1800, &s, Decimal::ONE).unwrap(),
            150
        );
        // GOLD ×1.5 = 225; point_multiplier 2 doubles it.
        assert_eq!(gameplay_points(d("25"), 1800, &s, d("1.5")).unwrap(), 225);
        let s2 = settings(
            json!({"house_edge": 2, "average_rounds_per_hour": 60, "point_multiplier": 2,
                                 "points_conversion_rate": 5}),
        );
        assert_eq!(
            gameplay_points(d("25"), 1800, &s2, Decimal::ONE).unwrap(),
            150
        );
    }

    #[test]
    fn empty_seat_bonus_is_five_percent_each_below_seven() {
        let s =
            settings(json!({"house_edge": 2, "average_rounds_per_hour": 60, "seats_available": 5}));
        // 150 × 1.10 = 165
        assert_eq!(
            gameplay_points(d("25"), 1800, &s, Decimal::ONE).unwrap(),
            165
        );
        let full =
            settings(json!({"house_edge": 2, "average_rounds_per_hour": 60, "seats_available": 9}));
        assert_eq!(
            gameplay_points(d("25"), 1800, &full, Decimal::ONE).unwrap(),
            150
        );
    }

    #[test]
    fn more_rounds_than_the_hourly_rate_earn_ten_percent() {
        // 2 hours at 60/h = 120 rounds > 60: 10 × 1% × 120 × 10 = 120 × 1.1 = 132.
        let s = settings(json!({"house_edge": 1, "average_rounds_per_hour": 60}));
        assert_eq!(
            gameplay_points(d("10"), 7200, &s, Decimal::ONE).unwrap(),
            132
        );
        // exactly one hour: 60 rounds, no bonus
        assert_eq!(
            gameplay_points(d("10"), 3600, &s, Decimal::ONE).unwrap(),
            60
        );
    }

    #[test]
    fn rounds_round_half_up() {
        // 1 round per hour for 30 minutes: 0.5 → 1 round.
        let s = settings(json!({"house_edge": 100, "average_rounds_per_hour": 1}));
        assert_eq!(gameplay_points(d("1"), 1800, &s, Decimal::ONE).unwrap(), 10);
        // 29 minutes: 0.483 → 0 rounds → 0 points.
        assert_eq!(gameplay_points(d("1"), 1740, &s, Decimal::ONE).unwrap(), 0);
    }

    #[test]
    fn bad_settings_are_refused() {
        for bad in [
            json!({"average_rounds_per_hour": 60}),
            json!({"house_edge": 2}),
            json!({"house_edge": "two", "average_rounds_per_hour": 60}),
            json!({"house_edge": -1, "average_rounds_per_hour": 60}),
            json!({"house_edge": 101, "average_rounds_per_hour": 60}),
            json!({"house_edge": 2, "average_rounds_per_hour": 0}),
            json!({"house_edge": 2, "average_rounds_per_hour": 60, "seats_available": 2.5}),
            json!({"house_edge": 2, "average_rounds_per_hour": 60, "seats_available": -1}),
            json!({"house_edge": 2, "average_rounds_per_hour": 60, "point_multiplier": -1}),
            json!([1, 2]),
            json!("house_edge"),
        ] {
            let e = GameSettings::from_json(&bad).unwrap_err();
            assert_eq!(e.sqlstate(), "22023", "{bad}");
        }
        // numeric strings are accepted
        assert!(GameSettings::from_json(
            &json!({"house_edge": "1.5", "average_rounds_per_hour": "31"})
        )
        .is_ok());
    }

    #[test]
    fn bad_play_is_refused() {
        let s = settings(json!({"house_edge": 2, "average_rounds_per_hour": 60}));
        assert_eq!(
            gameplay_points(d("-1"), 60, &s, Decimal::ONE)
                .unwrap_err()
                .sqlstate(),
            "22023"
        );
        assert_eq!(
            gameplay_points(d("1"), -60, &s, Decimal::ONE)
                .unwrap_err()
                .sqlstate(),
            "22023"
        );
        assert!(parse_decimal("NaN").is_none());
        assert_eq!(number("bet", "NaN").unwrap_err().sqlstate(), "22023");
        assert_eq!(number("bet", "Infinity").unwrap_err().sqlstate(), "22023");
        assert_eq!(number("bet", "1e100").unwrap_err().sqlstate(), "22003");
        assert_eq!(number("bet", "abc").unwrap_err().sqlstate(), "22023");
        assert!(parse_decimal("Infinity").is_none());
        assert_eq!(parse_decimal("1e3"), Some(d("1000")));
        // absurd bets overflow into 22003, not a panic
        let e = gameplay_points(
            d("79228162514264337593543950335"),
            3600 * 24,
            &s,
            Decimal::ONE,
        )
        .unwrap_err();
        assert_eq!(e.sqlstate(), "22003");
    }

    #[test]
    fn default_tier_multipliers() {
        assert_eq!(default_tier_multiplier("SILVER"), Some(d("1.25")));
        assert_eq!(default_tier_multiplier("IRON"), None);
    }

    proptest! {
        #[test]
        fn points_never_decrease_with_a_higher_bet(
            bet in 0u32..100_000, extra in 0u32..1000, secs in 0i64..36_000, edge in 0u32..1000,
        ) {
            let s = GameSettings {
                house_edge: Decimal::new(edge as i64, 1),
                average_rounds_per_hour: Decimal::from(60),
                points_conversion_rate: Decimal::TEN,
                point_multiplier: Decimal::ONE,
                seats_available: 7,
            };
            let lo = gameplay_points(Decimal::from(bet), secs, &s, Decimal::ONE).unwrap();
            let hi = gameplay_points(Decimal::from(bet + extra), secs, &s, Decimal::ONE).unwrap();
            prop_assert!(lo <= hi);
            prop_assert!(lo >= 0);
        }

        #[test]
        fn a_higher_tier_never_earns_less(bet in 0u32..10_000, secs in 0i64..36_000) {
            let s = GameSettings {
                house_edge: Decimal::new(15, 1),
                average_rounds_per_hour: Decimal::from(31),
                points_conversion_rate: Decimal::TEN,
                point_multiplier: Decimal::ONE,
                seats_available: 6,
            };
            let mut last = 0;
            for tier in ["BRONZE", "SILVER", "GOLD", "PLATINUM"] {
                let p = gameplay_points(Decimal::from(bet), secs, &s, default_tier_multiplier(tier).unwrap()).unwrap();
                prop_assert!(p >= last);
                last = p;
            }
        }
    }
}
