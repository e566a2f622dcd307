//! loyalty_ext: a casino's player-loyalty ledger inside PostgreSQL.
//!
//! One SQL call is one atomic, row-locked, audited change.  `domain` holds
//! the pure rules; the other modules are the thin SQL/SPI shell around it.
//!
//! Where each SQL function of schema `loyalty` is defined:
//!
//! | SQL function | file |
//! |---|---|
//! | `increment_player_loyalty` | `src/ledger.rs` |
//! | `manual_reward`, `redeem_points`, `adjust_points`, `reverse_entry`, `validate_reward` | `src/rewards.rs` |
//! | `apply_promotion` | `src/campaigns.rs` |
//! | `apply_promotion_batch` | `src/batch.rs` |
//! | `rate_limit_status` | `src/velocity.rs` |
//! | `bind_session_staff`, `staff_permission_changed` (trigger) | `src/authorize.rs` |
//! | `casino_scope`, `current_casino_id`, `casino_changed` (trigger) | `src/casinos.rs` |
//! | `gaming_day` | `src/gaming_day.rs` |
//! | `hold_points`, `capture_hold`, `release_hold`, `expire_holds` | `src/holds.rs` |
//! | `expire_points` | `src/lots.rs` |
//! | `idempotency_key`, `gameplay_key`, `promotion_key`, `manual_reward_key` | `src/idempotency.rs` |
//! | `calculate_gameplay_points` | `src/slips/points.rs` |
//! | `complete_rating_slip`, `recover_rating_slip`, `recover_pending`, `resolve_accrual` | `src/slips/saga.rs` |
//! | `reconcile_player` | `src/reconcile.rs` |
//! | `base_tier`, `tier_changed` (trigger) | `src/tiers.rs` |
//! | `trusted_key_changed` (trigger) | `src/tokens.rs` |
//! | `drift_check`, `trace`, `player_statement`, `balance_at`, `player_account`, `liability` (SQL) | `sql/audit.sql` |
//! | `replace_tier`, `replace_casino`, `start_tier_ladder`, `refuse_ledger_change` (PL/pgSQL triggers) | `sql/schema.sql` |
//! | `claim_events`, `ack_events`, `prune_events`, `event_consumer_row`, `event_written` (trigger) (SQL) | `sql/events.sql` |

use pgrx::prelude::*;

pub mod domain;

mod authorize; // who calls (login role, staff member, token) and what they may do
mod batch; // apply_promotion_batch: one campaign credited to many players in one call
mod campaigns; // apply_promotion: credits of registered campaigns
mod casinos; // which casino a call acts for, kept casino rows, casino_scope, current_casino_id
mod correlation; // correlation ids: argument, setting, or one per transaction
mod events; // notable events: the server log and the outbox (loyalty.event)
mod gaming_day; // loyalty.gaming_day and the current gaming day of a key
mod guard; // the SQL boundary: errors with correlation ids, lock waits, row types
mod gucs; // the loyalty.* settings
mod holds; // hold_points, capture_hold, release_hold, expire_holds
mod idempotency; // SQL surface of the key derivations
mod ledger; // increment_player_loyalty: the one write path
mod lots; // lots of points under an expiry policy, expire_points
mod plans; // statements prepared once per backend
mod probe; // direct index probes: the idempotency key, the player's row
mod reconcile; // reconcile_player
mod report; // raising a condition as a PostgreSQL ERROR
mod rewards; // the typed write functions and validate_reward
mod slips; // rating slips: the points formula and the accrual saga
mod subxact; // subtransactions for the saga's attempts
mod tiers; // the tier ladder kept per backend, base_tier, tier_changed
mod tokens; // staff tokens verified against loyalty.trusted_key
mod velocity; // velocity limits per staff member and login role, rate_limit_status

::pgrx::pg_module_magic!(name, version);

// Tables, indexes, guards and the result type, before any function.
extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
// Rating-slip saga state.
extension_sql_file!("../sql/slips.sql", name = "slips", requires = ["schema"]);
// Reconciliations of a player's aggregate.  (It needs only the schema; it
// comes after the slips so that the install script has one order: pgrx
// orders unrelated blocks differently from one build to the next.)
extension_sql_file!(
    "../sql/reconcile.sql",
    name = "reconcile",
    requires = ["schema", "slips"]
);
// Holds: their table and result type.
extension_sql_file!(
    "../sql/holds.sql",
    name = "holds",
    requires = ["schema", "slips", "reconcile"]
);
// Lots: their tables.
extension_sql_file!(
    "../sql/lots.sql",
    name = "lots",
    requires = ["schema", "slips", "reconcile", "holds"]
);
// Column defaults, row-level security and the casino trigger: they name
// the functions of src/casinos.rs.
extension_sql_file!(
    "../sql/tenancy.sql",
    name = "tenancy",
    requires = [
        "schema",
        "slips",
        "reconcile",
        "holds",
        "lots",
        casino_scope,
        current_casino_id,
        casino_changed
    ]
);
// Audit checks written in SQL.
extension_sql_file!(
    "../sql/audit.sql",
    name = "audit",
    requires = ["schema", "slips", "reconcile", "tenancy", base_tier]
);
// The outbox and its consumers (SPEC 16).
extension_sql_file!(
    "../sql/events.sql",
    name = "events",
    requires = [
        "schema",
        "slips",
        "reconcile",
        "tenancy",
        "audit",
        casino_scope
    ]
);
// COMMENT ON for every generated function, after all of them.
extension_sql_file!("../sql/comments.sql", name = "comments", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // Rust backtraces must never reach a client's error message, whatever
    // RUST_BACKTRACE the server was started with.
    // SAFETY: runs once at library load, on the backend's only thread.
    unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    gucs::init();
    guard::init();
    tiers::init();
    casinos::init();
    tokens::init();
    authorize::init();
}
