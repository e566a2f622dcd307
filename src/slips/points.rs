//! `loyalty.calculate_gameplay_points`: the points formula (SPEC section 6)
//! for a session of play, without writing anything.

use crate::domain::error::LoyaltyError;
use crate::domain::points;
use crate::guard;
use crate::guard::JsonbArg;
use pgrx::prelude::*;
use pgrx::AnyNumeric;

#[pg_extern(immutable, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
/// Points for a session of play (SPEC section 6), in exact decimal arithmetic.
fn calculate_gameplay_points(
    p_average_bet: Option<AnyNumeric>,
    p_duration_seconds: Option<i32>,
    p_game_settings: Option<JsonbArg>,
    p_tier: Option<&str>,
) -> i32 {
    guard::sql_call(None, |_| {
        let play = super::play_from_args(p_average_bet, p_duration_seconds, p_game_settings)?;
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
