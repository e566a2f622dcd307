//! Rating slips (SPEC section 6): the points formula and the in-database
//! accrual saga.
//!
//! `complete_rating_slip` runs in the application's transaction that closes
//! the slip.  It records the accrual request in `loyalty.rating_slip_accrual`
//! (durable with that transaction), then attempts the accrual in a
//! subtransaction.  If the attempt fails — a lock timeout is the realistic
//! case — only the subtransaction rolls back: the slip close and the pending
//! request still commit, with the error and correlation id recorded, and
//! `recover_rating_slip` / `recover_pending` replay it later with the same
//! idempotency key, so a slip is credited exactly once.

mod points; // loyalty.calculate_gameplay_points
mod saga; // complete_rating_slip, recover_rating_slip, recover_pending
pub mod store; // the recorded requests: statements over loyalty.rating_slip_accrual

use crate::domain::error::LoyaltyError;
use crate::domain::slip::Play;
use crate::guard::JsonbArg;
use pgrx::AnyNumeric;

/// Validates a slip function's play-data arguments (the settings are parsed
/// here, inside the call's guard).
fn play_from_args(
    bet: Option<AnyNumeric>,
    duration: Option<i32>,
    settings: Option<JsonbArg>,
) -> Result<Play, LoyaltyError> {
    let bet = bet.map(|b| b.to_string());
    let settings = settings.map(|s| s.parse("p_game_settings")).transpose()?;
    Play::parse(bet.as_deref(), duration, settings)
}
