//! SQL surface of idempotency keys (SPEC section 4): the generic
//! `idempotency_key(jsonb)` and the typed derivations.

use crate::domain::keys;
use crate::error::LoyaltyError;
use crate::guard;
use pgrx::prelude::*;
use pgrx::JsonB;

#[pg_extern(immutable, strict, parallel_safe)]
#[search_path(pg_catalog, pg_temp)]
/// SHA-256 (lowercase hex) of the canonical `k=v&…` form of a JSON object.
fn idempotency_key(components: JsonB) -> String {
    guard::sql_call(None, |_| match &components.0 {
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
