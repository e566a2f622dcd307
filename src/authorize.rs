//! Who calls and what they may do (SPEC sections 5 and 10): the calling
//! login role, the staff member proven by a token or the session's binding,
//! and the capabilities both hold, read from the database.  The decisions
//! are `domain::policy`'s; this module reads their inputs and logs refusals.

use crate::casinos;
use crate::domain::casino::Casino;
use crate::domain::error::LoyaltyError;
use crate::domain::policy::{self, Authority, Capability};
use crate::domain::request::{ChangeRequest, TxType};
use crate::events;
use crate::guard;
use crate::gucs;
use crate::plans::{self, Stmt};
use crate::tokens;
use pgrx::pg_sys;
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::ffi::CStr;
use std::rc::Rc;

/// The caller of a SQL function.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The authenticated login role (`session_user`), recorded as
    /// `actor_role` on every row the call writes.
    pub role: String,
    pub superuser: bool,
    /// The staff member who acts, when there is one.
    pub staff: Option<String>,
    /// The casino the call acts for (SPEC section 14).
    pub casino: Rc<Casino>,
}

impl Caller {
    /// Resolves the caller of a call that names `named` as its staff member
    /// and `casino` as its casino (`casinos::acting`).
    /// `staff_performed`: the change is one a person performs (a manual
    /// type), so the session's or the token's staff member acts when none is
    /// named, and `loyalty.require_staff_token` applies.  Spoofing (naming
    /// another staff member than the token or the session proves) is 42501
    /// and logged.
    pub fn resolve(
        named: Option<&str>,
        staff_performed: bool,
        casino: Option<pgrx::Uuid>,
        corr: &str,
    ) -> Result<Caller, LoyaltyError> {
        let role = session_role();
        // SAFETY: reads the session's authenticated user id.
        let superuser = unsafe { pg_sys::superuser_arg(pg_sys::GetSessionUserId()) };
        let token = tokens::current().inspect_err(|e| {
            events::emit(
                "token_rejected",
                corr,
                &[("role", role.clone()), ("error", e.to_string())],
            )
        })?;
        let casino = casinos::acting_with(casino, token.as_ref(), corr)?;
        let session = gucs::session_staff_id();
        let proven = policy::resolve_staff(
            named,
            session.as_deref(),
            token.as_ref().map(|t| t.staff_id.as_str()),
            gucs::require_staff_token() && staff_performed,
        )
        .inspect_err(|e| {
            events::emit(
                "spoofing_attempt",
                corr,
                &[
                    ("staff_id", named.unwrap_or_default().to_string()),
                    ("session_staff_id", session.clone().unwrap_or_default()),
                    (
                        "token_staff_id",
                        token
                            .as_ref()
                            .map(|t| t.staff_id.clone())
                            .unwrap_or_default(),
                    ),
                    ("role", role.clone()),
                    ("error", e.to_string()),
                ],
            )
        })?;
        let staff = if staff_performed {
            proven
        } else {
            named.map(str::to_string)
        };
        Ok(Caller {
            role,
            superuser,
            staff,
            casino,
        })
    }

    /// The caller of a change of the (unparsed) type `tx_type`.
    pub fn for_change(
        named: Option<&str>,
        tx_type: Option<&str>,
        casino: Option<pgrx::Uuid>,
        corr: &str,
    ) -> Result<Caller, LoyaltyError> {
        let performed = tx_type
            .and_then(|t| TxType::parse(t).ok())
            .is_some_and(TxType::is_manual);
        Caller::resolve(named, performed, casino, corr)
    }

    /// The casino's id, as statements take it.
    pub fn casino_id(&self) -> &str {
        &self.casino.id
    }

    /// The staff member who performs a staff-only act (reconcile, resolve):
    /// the one named, or the one a token or the session's binding proves.
    pub fn acting_staff(
        named: Option<pgrx::Uuid>,
        casino: Option<pgrx::Uuid>,
        corr: &str,
    ) -> Result<(Caller, String), LoyaltyError> {
        let named = named.map(|s| s.to_string());
        let caller = Caller::resolve(named.as_deref(), true, casino, corr)?;
        let staff = caller.staff.clone().ok_or_else(|| {
            LoyaltyError::invalid(
                "p_staff_id must not be null (or a staff token or session binding must name the staff member)",
            )
        })?;
        Ok((caller, staff))
    }
}

/// Checks every authority `req` needs (`domain::policy::required_authority`)
/// except a campaign's, which `crate::campaigns` checks under the campaign's
/// row lock.  Runs before the idempotency-key lookup, so that a replay is
/// answered only to a caller who could have made the change.
pub fn check(
    client: &mut SpiClient<'_>,
    caller: &Caller,
    req: &ChangeRequest,
    corr: &str,
) -> Result<(), LoyaltyError> {
    for authority in req.authorities() {
        match authority {
            Authority::Staff(capability) => {
                let staff = req.staff_id.as_deref().ok_or_else(|| {
                    LoyaltyError::invalid(format!("{} requires p_staff_id", req.tx_type.as_str()))
                })?;
                check_staff(client, caller, staff, capability)?;
            }
            Authority::Role(capability) => check_role(client, caller, capability, corr)?,
            Authority::Campaign => {}
        }
    }
    Ok(())
}

/// Deny by default: the staff member must be known and hold `capability`.
pub fn check_staff(
    client: &mut SpiClient<'_>,
    caller: &Caller,
    staff: &str,
    capability: Capability,
) -> Result<(), LoyaltyError> {
    let rows = plans::run(
        client,
        &STAFF_CAPABILITIES,
        &[caller.casino_id().into(), staff.into()],
    )?;
    let caps = if rows.is_empty() {
        None
    } else {
        Some(rows.first().get::<Vec<String>>(1)?.unwrap_or_default())
    };
    policy::check_capability(staff, caps.as_deref(), capability)
}

/// The calling login role must hold `capability` through
/// `loyalty.role_permission` (itself or a role it is a member of); a
/// superuser is not checked.
pub fn check_role(
    client: &mut SpiClient<'_>,
    caller: &Caller,
    capability: Capability,
    corr: &str,
) -> Result<(), LoyaltyError> {
    if caller.superuser {
        return Ok(());
    }
    let rows = plans::run(client, &ROLE_CAPABILITIES, &[])?;
    let caps: Vec<String> = rows.first().get::<Vec<String>>(1)?.unwrap_or_default();
    policy::check_role_capability(&caller.role, caller.superuser, &caps, capability).inspect_err(
        |_| {
            events::emit(
                "role_refused",
                corr,
                &[
                    ("role", caller.role.clone()),
                    ("capability", capability.as_str().to_string()),
                ],
            )
        },
    )
}

/// The authenticated login role's name.
pub fn session_role() -> String {
    // SAFETY: the session user exists for as long as the session does; the
    // name is copied at once.
    unsafe {
        let name = pg_sys::GetUserNameFromId(pg_sys::GetSessionUserId(), true);
        if name.is_null() {
            return String::new();
        }
        CStr::from_ptr(name).to_string_lossy().into_owned()
    }
}

/// A staff member's capabilities at the caller's casino.
static STAFF_CAPABILITIES: Stmt = Stmt {
    args: &[O::TEXTOID, O::TEXTOID],
    sql: "SELECT capabilities FROM loyalty.staff_permission WHERE casino_id = $1::uuid AND staff_id = $2::uuid",
};

/// Every capability the session's login role holds, itself or through a
/// role it is a member of.
static ROLE_CAPABILITIES: Stmt = Stmt {
    args: &[],
    sql: "\
SELECT coalesce(array_agg(DISTINCT c), '{}')
  FROM loyalty.role_permission p
  JOIN pg_catalog.pg_roles r ON r.rolname = p.role_name
 CROSS JOIN LATERAL unnest(p.capabilities) AS c
 WHERE pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')",
};

#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// Binds this session to a staff member (loyalty.session_staff_id) and, when p_casino_id is given, to a casino (loyalty.session_casino_id), for a pooler connected as superuser: loads the library first, so that RESET ALL and DISCARD ALL by the application's role leave the binding in force.
fn bind_session_staff(
    p_staff_id: Option<pgrx::Uuid>,
    p_casino_id: default!(Option<pgrx::Uuid>, "NULL"),
) -> String {
    guard::sql_call(None, |_| {
        let staff = p_staff_id
            .ok_or_else(|| LoyaltyError::invalid("p_staff_id must not be null"))?
            .to_string();
        // SECURITY INVOKER: set_config of a superuser-only setting fails
        // (42501) for anyone else, whatever EXECUTE grants exist.
        Spi::connect_mut(|c| {
            plans::run(
                c,
                &BIND,
                &["loyalty.session_staff_id".into(), staff.as_str().into()],
            )?;
            if let Some(casino) = p_casino_id {
                let casino = casino.to_string();
                plans::run(
                    c,
                    &BIND,
                    &["loyalty.session_casino_id".into(), casino.as_str().into()],
                )?;
            }
            Ok(staff)
        })
    })
}

/// A session-level SET, not `SET LOCAL`: the binding lasts the session.
static BIND: Stmt = Stmt {
    args: &[O::TEXTOID, O::TEXTOID],
    sql: "SELECT pg_catalog.set_config($1, $2, false)",
};
