//! Casinos in the database (SPEC section 14; the rules are
//! `domain::casino`): which casino a call acts for, the casino's row kept
//! per backend, and `loyalty.casino_scope` / `loyalty.current_casino_id`,
//! which the row-level security policies, column defaults and audit
//! functions ask.
//!
//! Rows of `loyalty.casino` are kept per backend like the tier ladder: the
//! statement trigger `loyalty.casino_changed` queues a relcache
//! invalidation of the table, and the callback below forgets every kept
//! row, so a changed setting applies from each session's next transaction.

use crate::domain::casino::{self, Binding, Casino, LimitOverride};
use crate::domain::error::LoyaltyError;
use crate::domain::expiry::Policy;
use crate::domain::token::StaffClaims;
use crate::domain::velocity::{Scope, VelocityKind};
use crate::events;
use crate::guard;
use crate::gucs;
use crate::plans::{self, required, Stmt};
use crate::tokens;
use pgrx::pg_sys;
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

thread_local! {
    /// Kept casino rows by id, and the oid of `loyalty.casino`.
    static KEPT: RefCell<HashMap<String, Rc<Casino>>> = RefCell::new(HashMap::new());
    static TABLE: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
    /// Counts relcache invalidations; a row read while one arrived is used
    /// but not kept (it may predate the change that sent it).
    static INVALIDATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The casino the session is bound to (token claim, else
/// `loyalty.session_casino_id`), if any.
pub fn bound(corr: &str) -> Result<Option<String>, LoyaltyError> {
    bound_with(tokens::current()?.as_ref(), corr)
}

/// `bound`, for a caller that verified the session's token already.
pub fn bound_with(token: Option<&StaffClaims>, corr: &str) -> Result<Option<String>, LoyaltyError> {
    let session = gucs::session_casino_id();
    casino::bound(Binding {
        token: token.and_then(|t| t.casino.as_deref()),
        session: session.as_deref(),
    })
    .inspect_err(|e| refused(e, None, corr))
}

/// The casinos a call naming `named` may see: one, or every one (`None`)
/// for an unbound session that names none.
pub fn scope(named: Option<pgrx::Uuid>, corr: &str) -> Result<Option<String>, LoyaltyError> {
    let named = named.map(|u| u.to_string());
    let bound = bound(corr)?;
    casino::scope(named.as_deref(), bound.as_deref())
        .inspect_err(|e| refused(e, named.as_deref(), corr))
}

/// The casino a call naming `named` acts for, with its settings: 42501
/// when a bound session names another, P0002 when it does not exist.
pub fn acting(named: Option<pgrx::Uuid>, corr: &str) -> Result<Rc<Casino>, LoyaltyError> {
    acting_with(named, tokens::current()?.as_ref(), corr)
}

/// `acting`, for a caller that verified the session's token already.
pub fn acting_with(
    named: Option<pgrx::Uuid>,
    token: Option<&StaffClaims>,
    corr: &str,
) -> Result<Rc<Casino>, LoyaltyError> {
    load(&acting_id(named, token, corr)?)
}

/// The id of the casino a call naming `named` acts for (`casino::acting`),
/// a refusal logged.
fn acting_id(
    named: Option<pgrx::Uuid>,
    token: Option<&StaffClaims>,
    corr: &str,
) -> Result<String, LoyaltyError> {
    let named = named.map(|u| u.to_string());
    let bound = bound_with(token, corr)?;
    casino::acting(named.as_deref(), bound.as_deref())
        .inspect_err(|e| refused(e, named.as_deref(), corr))
}

/// The casino with this id, from the backend's copy when it has one; P0002
/// when it does not exist or this node does not keep it
/// (`loyalty.hosted_casinos`).
pub fn load(id: &str) -> Result<Rc<Casino>, LoyaltyError> {
    if let Some(hosted) = gucs::hosted_casinos() {
        casino::hosted_here(id, &hosted)?;
    }
    if let Some(c) = KEPT.with(|k| k.borrow().get(id).cloned()) {
        return Ok(c);
    }
    let seen = INVALIDATIONS.with(Cell::get);
    let c = Spi::connect_mut(|client| -> Result<Option<Casino>, LoyaltyError> {
        let rows = plans::run(client, &ROW, &[id.into()])?;
        if rows.is_empty() {
            return Ok(None);
        }
        let r = rows.first();
        TABLE.with(|t| t.set(r.get::<pg_sys::Oid>(1).ok().flatten().unwrap_or(t.get())));
        let int =
            |n: usize| -> Result<Option<i64>, LoyaltyError> { Ok(r.get::<i32>(n)?.map(i64::from)) };
        let mut c = Casino {
            id: required(r.get::<pgrx::Uuid>(2)?, "casino_id")?.to_string(),
            name: required(r.get(3)?, "name")?,
            gaming_day_start: r.get(4)?,
            gaming_day_timezone: r.get(5)?,
            max_manual_reward: int(6)?,
            velocity: Default::default(),
            expiry: Policy::parse(&required::<String>(r.get(22)?, "expiry_policy")?, int(23)?),
            balance_events: required(r.get::<bool>(24)?, "balance_events")?,
        };
        // Columns 7.. hold the limits in `casino::velocity_index` order.
        for kind in VelocityKind::ALL {
            for scope in [Scope::Staff, Scope::Role] {
                let i = casino::velocity_index(kind, scope);
                let window = match kind {
                    VelocityKind::ManualReward => 19,
                    VelocityKind::Adjustment => 20,
                    VelocityKind::Redemption => 21,
                };
                c.velocity[i] = LimitOverride {
                    count: int(7 + 2 * i)?,
                    points: int(8 + 2 * i)?,
                    window_s: int(window)?,
                };
            }
        }
        Ok(Some(c))
    })?;
    let c = Rc::new(c.ok_or_else(|| LoyaltyError::NotFound {
        message: "casino not found".into(),
        context: vec![("casino_id", id.to_string())],
    })?);
    if INVALIDATIONS.with(Cell::get) == seen && guard::keepable() {
        KEPT.with(|k| {
            let mut kept = k.borrow_mut();
            if kept.len() > 10_000 {
                kept.clear();
            }
            kept.insert(id.to_string(), c.clone());
        });
    }
    Ok(c)
}

/// Logs a refused casino (a bound session naming another, a token for
/// another casino).
fn refused(e: &LoyaltyError, named: Option<&str>, corr: &str) {
    if e.sqlstate() == "42501" {
        let mut fields = vec![("role", crate::authorize::session_role())];
        if let Some(n) = named {
            fields.push(("casino_id", n.to_string()));
        }
        fields.push(("error", e.to_string()));
        events::emit("casino_refused", corr, &fields);
    }
}

/// The casino row; the limits in `casino::velocity_index` order (staff,
/// role per kind), then the three windows.
static ROW: Stmt = Stmt {
    args: &[O::TEXTOID],
    sql: "\
SELECT c.tableoid, c.casino_id, c.name, c.gaming_day_start, c.gaming_day_timezone, c.max_manual_reward,
       c.manual_reward_rate_limit, c.manual_reward_points_limit,
       c.role_manual_reward_rate_limit, c.role_manual_reward_points_limit,
       c.adjustment_rate_limit, c.adjustment_points_limit,
       c.role_adjustment_rate_limit, c.role_adjustment_points_limit,
       c.redemption_rate_limit, c.redemption_points_limit,
       c.role_redemption_rate_limit, c.role_redemption_points_limit,
       c.manual_reward_rate_window, c.adjustment_rate_window, c.redemption_rate_window,
       c.expiry_policy, c.expiry_months, c.balance_events
  FROM loyalty.casino c
 WHERE c.casino_id = $1::uuid",
};

#[pg_extern(security_definer, stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
/// The casino a call naming p_casino_id may see: that one (a bound session may name only its own), else the session's, else NULL (an unbound session: every casino).
fn casino_scope(p_casino_id: default!(Option<pgrx::Uuid>, "NULL")) -> Option<pgrx::Uuid> {
    guard::sql_call(None, |corr| {
        scope(p_casino_id, corr)?.map(|s| uuid(&s)).transpose()
    })
}

#[pg_extern(security_definer, stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
/// The casino a call naming p_casino_id acts for: that one (a bound session may name only its own), else the session's, else the default casino.
fn current_casino_id(p_casino_id: default!(Option<pgrx::Uuid>, "NULL")) -> pgrx::Uuid {
    guard::sql_call(None, |corr| {
        uuid(&acting_id(p_casino_id, tokens::current()?.as_ref(), corr)?)
    })
}

/// A casino id (canonical text) as a uuid datum value.
pub fn uuid(id: &str) -> Result<pgrx::Uuid, LoyaltyError> {
    let hex: Vec<u8> = id.bytes().filter(|b| *b != b'-').collect();
    let mut bytes = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate().take(16) {
        let s = std::str::from_utf8(pair).map_err(|_| LoyaltyError::internal("bad casino id"))?;
        bytes[i] =
            u8::from_str_radix(s, 16).map_err(|_| LoyaltyError::internal("bad casino id"))?;
    }
    Ok(pgrx::Uuid::from_bytes(bytes))
}

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    INVALIDATIONS.with(|n| n.set(n.get().wrapping_add(1)));
    let table = TABLE.with(Cell::get);
    if relid == pg_sys::InvalidOid || relid == table {
        KEPT.with(|k| k.borrow_mut().clear());
    }
}

/// Trigger function: tells every backend that a casino's settings changed.
/// (Its SQL is written out for the reason given at `tiers::tier_changed`.)
#[pg_trigger(sql = r#"
CREATE FUNCTION loyalty.casino_changed() RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS '@MODULE_PATHNAME@', 'casino_changed_wrapper';
"#)]
fn casino_changed<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::PgTriggerError> {
    // SAFETY: queued in the current transaction, sent at commit.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(trigger.relation()?.oid()) };
    Ok(None)
}

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
