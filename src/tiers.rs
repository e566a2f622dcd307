//! The tier ladders of `loyalty.tier` (one per casino), each read once per
//! backend and kept until the table changes; `loyalty.base_tier()`, where a
//! new player starts.
//!
//! A statement trigger on `loyalty.tier` (`loyalty.tier_changed`, enabled
//! `ALWAYS`) queues a relcache invalidation of the table for every change;
//! PostgreSQL delivers it to every backend at its next transaction (and to
//! the changing backend at the end of the statement, and again if the change
//! rolls back), and the callback below drops the kept ladder.  A change to
//! the tiers therefore applies to every transaction that starts after it
//! commits, without the write path reading the table on every call.

use crate::casinos;
use crate::domain::error::LoyaltyError;
use crate::domain::points::parse_decimal;
use crate::domain::tier::{Ladder, Tier};
use crate::guard;
use crate::plans::{self, required, Stmt};
use pgrx::pg_sys;
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

thread_local! {
    /// The kept ladders by casino, and the oid of `loyalty.tier`.
    static KEPT: RefCell<HashMap<String, Rc<Ladder>>> = RefCell::new(HashMap::new());
    static TABLE: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
    /// Counts relcache invalidations; a ladder read while one arrived is
    /// used but not kept (it may predate the change that sent it).
    static INVALIDATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The casino's current tier ladder.
pub fn ladder(client: &mut SpiClient<'_>, casino: &str) -> Result<Rc<Ladder>, LoyaltyError> {
    if let Some(ladder) = KEPT.with(|k| k.borrow().get(casino).cloned()) {
        return Ok(ladder);
    }
    let seen = INVALIDATIONS.with(Cell::get);
    let rows = plans::run(client, &LADDER, &[casino.into()])?;
    let mut table = pg_sys::InvalidOid;
    let mut tiers = Vec::new();
    for row in rows {
        table = required(row.get::<pg_sys::Oid>(1)?, "tableoid")?;
        let multiplier: String = required(row.get(4)?, "multiplier")?;
        tiers.push(Tier {
            name: required(row.get(2)?, "name")?,
            threshold: required(row.get(3)?, "threshold")?,
            multiplier: parse_decimal(&multiplier)
                .ok_or_else(|| LoyaltyError::internal("a tier multiplier is not a number"))?,
        });
    }
    let ladder = Rc::new(
        Ladder::new(tiers).ok_or_else(|| LoyaltyError::InvalidState {
            message: "loyalty.tier must have a tier with threshold 0 for the casino".into(),
            context: vec![("casino_id", casino.to_string())],
        })?,
    );
    if table != pg_sys::InvalidOid {
        TABLE.with(|t| t.set(table));
    }
    if INVALIDATIONS.with(Cell::get) == seen && guard::keepable() {
        KEPT.with(|k| {
            let mut kept = k.borrow_mut();
            if kept.len() > 10_000 {
                kept.clear();
            }
            kept.insert(casino.to_string(), ladder.clone());
        });
    }
    Ok(ladder)
}

static LADDER: Stmt = Stmt {
    args: &[O::TEXTOID],
    sql: "\
SELECT t.tableoid, t.name, t.threshold, t.multiplier::text
  FROM loyalty.tier t
 WHERE t.casino_id = $1::uuid",
};

#[pg_extern(security_definer, stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
/// The lowest tier of the casino's ladder: where a new player starts.
fn base_tier(p_casino_id: default!(Option<pgrx::Uuid>, "NULL")) -> String {
    guard::sql_call(None, |corr| {
        let casino = casinos::acting(p_casino_id, corr)?;
        Spi::connect_mut(|c| Ok(ladder(c, &casino.id)?.base().name.clone()))
    })
}

#[pg_guard]
unsafe extern "C-unwind" fn on_relcache_invalidation(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    INVALIDATIONS.with(|n| n.set(n.get().wrapping_add(1)));
    // InvalidOid means "every relation" (e.g. after a cache reset).
    if relid == pg_sys::InvalidOid || relid == TABLE.with(Cell::get) {
        KEPT.with(|k| k.borrow_mut().clear());
    }
}

/// Trigger function: tells every backend that the tiers changed.
///
/// Its SQL is written here because pgrx 0.18.1 emits a trigger function with
/// `MODULE_PATHNAME`, which a versioned library (no `module_pathname` in the
/// control file) leaves unresolved; `@MODULE_PATHNAME@` is resolved by pgrx.
#[pg_trigger(sql = r#"
CREATE FUNCTION loyalty.tier_changed() RETURNS trigger
    LANGUAGE c
    SET search_path = pg_catalog, pg_temp
    AS '@MODULE_PATHNAME@', 'tier_changed_wrapper';
"#)]
fn tier_changed<'a>(
    trigger: &'a pgrx::PgTrigger<'a>,
) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::PgTriggerError> {
    // SAFETY: invalidations are queued in the current transaction and sent
    // at commit; the relation is the trigger's own table.
    unsafe { pg_sys::CacheInvalidateRelcacheByRelid(trigger.relation()?.oid()) };
    Ok(None)
}

extension_sql!(
    r#"
CREATE TRIGGER tier_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON loyalty.tier
    FOR EACH STATEMENT EXECUTE FUNCTION loyalty.tier_changed();
ALTER TABLE loyalty.tier ENABLE ALWAYS TRIGGER tier_changed;
"#,
    name = "tier_changed_trigger",
    requires = [tier_changed]
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
