//! Staff tokens in the database: `loyalty.staff_token` verified against the
//! keys of `loyalty.trusted_key` (the rules are `domain::token`).
//!
//! A verified token is kept per backend until it expires or the keys change:
//! an application sets the same token in many transactions, and a signature
//! check costs more than the rest of a call.  The statement trigger
//! `trusted_key_changed` queues a relcache invalidation of the table for
//! every change, and the callback below forgets every kept token: a removed
//! key stops verifying from the next transaction of every session (like a
//! snapshot, a transaction already under way keeps what it verified).

use crate::domain::error::LoyaltyError;
use crate::domain::token::{self, KeyAlgorithm, StaffClaims, TrustedKey};
use crate::gucs;
use crate::plans::{self, required, Stmt};
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

thread_local! {
    /// Verified tokens and their claims.
    static KEPT: RefCell<HashMap<String, StaffClaims>> = RefCell::new(HashMap::new());
    /// Oid of loyalty.trusted_key, once known.
    static TABLE: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
    /// Counts relcache invalidations (see `current`).
    static INVALIDATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The claims of the transaction's staff token, if one is set; an invalid,
/// expired or unknown-key token is 42501 with the reason.
pub fn current() -> Result<Option<StaffClaims>, LoyaltyError> {
    let Some(token) = gucs::staff_token() else {
        return Ok(None);
    };
    let now = now_unix();
    let audience = gucs::staff_token_audience();
    // Kept per token and audience: a token verified before the audience
    // setting changed is verified again.
    let kept_as = format!("{}\u{0}{token}", audience.as_deref().unwrap_or_default());
    if let Some(claims) = KEPT.with(|k| k.borrow().get(&kept_as).cloned()) {
        if claims.expires_at > now {
            return Ok(Some(claims));
        }
    }
    let seen = INVALIDATIONS.with(Cell::get);
    let keys = Spi::connect_mut(|c| -> Result<Vec<TrustedKey>, LoyaltyError> {
        let rows = plans::run(c, &KEYS, &[])?;
        let mut keys = Vec::new();
        for r in rows {
            TABLE.with(|t| t.set(r.get::<pg_sys::Oid>(1).ok().flatten().unwrap_or(t.get())));
            let algorithm: String = required(r.get(3)?, "algorithm")?;
            keys.push(TrustedKey {
                kid: required(r.get(2)?, "kid")?,
                algorithm: KeyAlgorithm::parse(&algorithm).ok_or_else(|| {
                    LoyaltyError::internal(format!("unknown key algorithm {algorithm}"))
                })?,
                key: required(r.get(4)?, "key")?,
            });
        }
        Ok(keys)
    })?;
    let claims = token::verify(&token, &keys, now, audience.as_deref())?;
    // Kept only if no change to the keys arrived while they were read, and
    // they were read with a fresh snapshot (`guard::keepable`).
    if INVALIDATIONS.with(Cell::get) != seen || !crate::guard::keepable() {
        return Ok(Some(claims));
    }
    KEPT.with(|k| {
        let mut kept = k.borrow_mut();
        // A backend sees few distinct tokens; bound the map anyway.
        if kept.len() > 1000 {
            kept.clear();
        }
        kept.insert(kept_as, claims.clone());
    });
    Ok(Some(claims))
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

static KEYS: Stmt = Stmt {
    args: &[],
    sql: "SELECT k.tableoid, k.kid, k.algorithm, k.key FROM loyalty.trusted_key k",
};

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    INVALIDATIONS.with(|n| n.set(n.get().wrapping_add(1)));
    let table = TABLE.with(Cell::get);
    if relid == pg_sys::InvalidOid || relid == table {
        KEPT.with(|k| k.borrow_mut().clear());
    }
}

/// Trigger function: tells every session that the trusted keys changed.
#[pg_trigger(sql = r#"
CREATE FUNCTION loyalty.trusted_key_changed() RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS '@MODULE_PATHNAME@', 'trusted_key_changed_wrapper';
"#)]
fn trusted_key_changed<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::PgTriggerError> {
    // SAFETY: as for loyalty.tier_changed.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(trigger.relation()?.oid()) };
    Ok(None)
}

extension_sql!(
    r#"
CREATE TRIGGER trusted_key_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.trusted_key
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty.trusted_key_changed();
ALTER TABLE loyalty.trusted_key ENABLE ALWAYS TRIGGER trusted_key_changed;
"#,
    name = "trusted_key_changed_trigger",
    requires = [trusted_key_changed]
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
