//! Staff identity and capabilities, read from the database (SPEC section 5).
//!
//! A staff member named by a call must be the session's staff member (when
//! the session has one) and must hold the capability of the transaction
//! type.  For rate-limited types the capability is read with the staff
//! member's row locked, and the rate limit (`crate::rate_limit`) is counted
//! under that lock.

use crate::domain::error::{LockTarget, LoyaltyError};
use crate::domain::policy::{self, Capability};
use crate::domain::request::ChangeRequest;
use crate::events;
use crate::guard;
use crate::gucs;
use crate::plans::{self, Stmt};
use crate::rate_limit;
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

/// Refuses a call that names another staff id than the session's
/// `loyalty.session_staff_id`, and logs the attempt.
pub fn check_session_staff(req: &ChangeRequest, corr: &str) -> Result<(), LoyaltyError> {
    check_named_staff(req.staff_id.as_deref(), corr)
}

pub fn check_named_staff(staff_id: Option<&str>, corr: &str) -> Result<(), LoyaltyError> {
    let session = gucs::session_staff_id();
    policy::check_session_staff(session.as_deref(), staff_id).inspect_err(|_| {
        events::emit(
            "spoofing_attempt",
            corr,
            &[
                ("staff_id", staff_id.unwrap_or_default().to_string()),
                ("session_staff_id", session.clone().unwrap_or_default()),
                ("role", current_user()),
            ],
        )
    })
}

/// Capability check, and for rate-limited types the rate limit under the
/// staff member's row lock (held to the end of the caller's transaction).
pub fn check_staff(
    client: &mut SpiClient<'_>,
    req: &ChangeRequest,
    corr: &str,
) -> Result<(), LoyaltyError> {
    let (Some(capability), Some(staff)) = (req.tx_type.capability(), req.staff_id.as_deref())
    else {
        return Ok(());
    };
    if !req.tx_type.is_rate_limited() {
        return check_capability(client, staff, capability);
    }
    guard::with_lock_timeout(LockTarget::Staff, &staff, corr, || {
        let caps = capabilities(client, &CAPABILITIES_LOCKED, staff)?;
        policy::check_capability(staff, caps.as_deref(), capability)?;
        rate_limit::check(client, staff, corr)
    })
}

/// Deny by default: the staff member must be known and hold `capability`.
pub fn check_capability(
    client: &mut SpiClient<'_>,
    staff: &str,
    capability: Capability,
) -> Result<(), LoyaltyError> {
    let caps = capabilities(client, &CAPABILITIES, staff)?;
    policy::check_capability(staff, caps.as_deref(), capability)
}

/// A staff member's capabilities; `None` when they are unknown.
fn capabilities(
    client: &mut SpiClient<'_>,
    stmt: &'static Stmt,
    staff: &str,
) -> Result<Option<Vec<String>>, LoyaltyError> {
    let rows = plans::run(client, stmt, &[staff.into()])?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.first().get::<Vec<String>>(1)?.unwrap_or_default(),
    ))
}

fn current_user() -> String {
    Spi::get_one::<String>("SELECT session_user::text")
        .ok()
        .flatten()
        .unwrap_or_default()
}

static CAPABILITIES: Stmt = Stmt {
    args: &[O::TEXTOID],
    sql: "SELECT capabilities FROM loyalty.staff_permission WHERE staff_id = $1::uuid",
};

static CAPABILITIES_LOCKED: Stmt = Stmt {
    args: &[O::TEXTOID],
    sql: "SELECT capabilities FROM loyalty.staff_permission WHERE staff_id = $1::uuid FOR UPDATE",
};
