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
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
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
    let caps = staff_capabilities(client, caller.casino_id(), staff)?;
    policy::check_capability(staff, caps.as_deref(), capability)
}

thread_local! {
    /// Staff members' capabilities by (casino, staff id), as read from
    /// `loyalty.staff_permission`; `None`: not a staff member there.
    static STAFF_KEPT: RefCell<HashMap<(String, String), Option<Vec<String>>>> =
        RefCell::new(HashMap::new());
    static STAFF_TABLE: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
    /// Counts relcache invalidations; capabilities read while one arrived
    /// are used but not kept (they may predate the change that sent it).
    static STAFF_INVALIDATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Kept capabilities at most (a backend serving more staff members reads
/// again rather than grow without bound).
const STAFF_KEPT_MAX: usize = 10_000;

/// A staff member's capabilities at a casino, kept per backend until
/// `loyalty.staff_permission` changes: the statement trigger
/// `staff_permission_changed` queues a relcache invalidation of the table,
/// which every backend takes at its next transaction, and the callback
/// below forgets what was kept.  A grant or revocation therefore applies
/// to every transaction that starts after it commits (as for the tier
/// ladder and the casinos' settings), without a read on every call.
fn staff_capabilities(
    client: &mut SpiClient<'_>,
    casino: &str,
    staff: &str,
) -> Result<Option<Vec<String>>, LoyaltyError> {
    let key = (casino.to_string(), staff.to_string());
    if let Some(caps) = STAFF_KEPT.with(|k| k.borrow().get(&key).cloned()) {
        return Ok(caps);
    }
    let before = STAFF_INVALIDATIONS.with(Cell::get);
    let rows = plans::run(client, &STAFF_CAPABILITIES, &[casino.into(), staff.into()])?;
    let caps = if rows.is_empty() {
        None
    } else {
        let r = rows.first();
        STAFF_TABLE.with(|t| t.set(r.get::<pg_sys::Oid>(2).ok().flatten().unwrap_or(t.get())));
        Some(r.get::<Vec<String>>(1)?.unwrap_or_default())
    };
    // Only a staff member found is kept: the table's oid comes from the
    // row, and the invalidation that forgets it names that oid.
    if caps.is_some() && STAFF_INVALIDATIONS.with(Cell::get) == before && guard::keepable() {
        STAFF_KEPT.with(|k| {
            let mut k = k.borrow_mut();
            if k.len() >= STAFF_KEPT_MAX {
                k.clear();
            }
            k.insert(key, caps.clone());
        });
    }
    Ok(caps)
}

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    STAFF_INVALIDATIONS.with(|n| n.set(n.get().wrapping_add(1)));
    if relid == pg_sys::InvalidOid || relid == STAFF_TABLE.with(Cell::get) {
        STAFF_KEPT.with(|k| k.borrow_mut().clear());
    }
}

/// Trigger function: tells every backend that staff capabilities changed.
/// (Its SQL is written out for the reason given at `tiers::tier_changed`.)
#[pg_trigger(sql = r#"
CREATE FUNCTION loyalty.staff_permission_changed() RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS '@MODULE_PATHNAME@', 'staff_permission_changed_wrapper';
"#)]
fn staff_permission_changed<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<
    Option<pgrx::heap_tuple::PgHeapTuple<'a, pgrx::AllocatedByPostgres>>,
    pgrx::PgTriggerError,
> {
    // SAFETY: queued in the current transaction, sent at commit.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(trigger.relation()?.oid()) };
    Ok(None)
}

extension_sql!(
    r#"
CREATE TRIGGER staff_permission_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.staff_permission
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty.staff_permission_changed();
ALTER TABLE loyalty.staff_permission ENABLE ALWAYS TRIGGER staff_permission_changed;
"#,
    name = "staff_permission_changed_trigger",
    requires = [staff_permission_changed]
);

/// Registers the invalidation callback; called from `_PG_init`.
pub fn init() {
    // SAFETY: the callback only touches backend-local cells.
    unsafe {
        pg_sys::CacheRegisterRelcacheCallback(
            Some(on_relcache_invalidation),
            pg_sys::Datum::from(0),
        );
    }
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
    sql: "SELECT capabilities, tableoid FROM loyalty.staff_permission WHERE casino_id = $1::uuid AND staff_id = $2::uuid",
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
