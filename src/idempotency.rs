//! SQL surface of idempotency keys (SPEC section 4): the generic
//! `idempotency_key(jsonb)` and the typed derivations of gameplay,
//! promotions and manual rewards.

use crate::casinos;
use crate::domain::error::LoyaltyError;
use crate::domain::keys;
use crate::gaming_day;
use crate::guard::{self, JsonbArg};
use pgrx::prelude::*;

#[pg_extern(immutable, strict, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
/// SHA-256 (lowercase hex) of the canonical `k=v&…` form of a JSON object.
fn idempotency_key(components: JsonbArg) -> String {
    guard::sql_call(None, |_| match &components.parse("components")? {
        serde_json::Value::Object(map) => Ok(keys::idempotency_key(map)),
        other => Err(LoyaltyError::invalid_with(
            "components must be a JSON object",
            vec![("json_type", json_type(other).to_string())],
        )),
    })
}

#[pg_extern(immutable, strict, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
/// The idempotency key of a rating slip's gameplay accrual: one per slip.
fn gameplay_key(p_rating_slip_id: pgrx::Uuid) -> String {
    keys::gameplay_key(&p_rating_slip_id.to_string())
}

#[pg_extern(immutable, strict, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
/// The idempotency key of a promotion: player and external reward id.
fn promotion_key(p_player_id: pgrx::Uuid, p_reward_id: &str) -> String {
    keys::promotion_key(&p_player_id.to_string(), p_reward_id)
}

#[pg_extern(security_definer, stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
/// The idempotency key manual_reward uses (gaming day defaults to the casino's current one).
fn manual_reward_key(
    p_player_id: Option<pgrx::Uuid>,
    p_staff_id: Option<pgrx::Uuid>,
    p_points: Option<i32>,
    p_reason: Option<&str>,
    p_gaming_day: default!(Option<pgrx::datum::Date>, "NULL"),
    p_sequence: default!(Option<i32>, 1),
    p_casino_id: default!(Option<pgrx::Uuid>, "NULL"),
) -> String {
    guard::sql_call(None, |corr| {
        let sequence = keys::check_sequence(p_sequence)?;
        let (Some(player), Some(staff), Some(points), Some(reason)) =
            (p_player_id, p_staff_id, p_points, p_reason)
        else {
            return Err(LoyaltyError::invalid(
                "p_player_id, p_staff_id, p_points and p_reason must not be null",
            ));
        };
        let day = match p_gaming_day {
            Some(d) => Spi::connect_mut(|c| gaming_day::date_text(c, d))?,
            None => {
                let casino = casinos::acting(p_casino_id, corr)?;
                Spi::connect_mut(|c| gaming_day::current(c, &casino))?
            }
        };
        Ok(manual_reward_key_of(
            player,
            &staff.to_string(),
            points,
            reason,
            &day,
            sequence,
        ))
    })
}

/// The manual-reward key of SQL arguments (`manual_reward` derives it here too).
pub fn manual_reward_key_of(
    player: pgrx::Uuid,
    staff: &str,
    points: i32,
    reason: &str,
    gaming_day: &str,
    sequence: i32,
) -> String {
    keys::manual_reward_key(
        &player.to_string(),
        &staff.to_ascii_lowercase(),
        points,
        reason,
        gaming_day,
        sequence,
    )
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}
