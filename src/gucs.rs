//! Settings under `loyalty.*`, registered once in `init()`.
//!
//! The library loads on the first call of one of its functions in a
//! backend, so no `shared_preload_libraries` entry is needed; a value SET
//! before that is picked up when the setting is defined.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;

/// `loyalty.correlation_id`: the caller's correlation id for this session or
/// transaction (`SET LOCAL`), used when a function is called without one.
pub static CORRELATION_ID: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// `loyalty.max_manual_reward`: largest |points| of one manual reward or
/// adjustment.  SUSET so that an application role cannot raise it.
pub static MAX_MANUAL_REWARD: GucSetting<i32> = GucSetting::<i32>::new(10_000);

/// `loyalty.lock_timeout`: milliseconds to wait for a player's row lock
/// before failing with 55P03; 0 waits as long as the server's own
/// `lock_timeout` allows.
pub static LOCK_TIMEOUT_MS: GucSetting<i32> = GucSetting::<i32>::new(5_000);

/// `loyalty.log_events`: write notable events (tier upgrades, replays,
/// refusals) to the server log.
pub static LOG_EVENTS: GucSetting<bool> = GucSetting::<bool>::new(true);

pub fn init() {
    GucRegistry::define_string_guc(
        c"loyalty.correlation_id",
        c"Correlation id used by loyalty functions called without one.",
        c"Set per transaction with SET LOCAL; when empty, one id is generated per transaction.",
        &CORRELATION_ID,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"loyalty.max_manual_reward",
        c"Largest number of points one manual reward or adjustment may grant or take.",
        c"Only a superuser can change it, so an application role cannot raise its own limit.",
        &MAX_MANUAL_REWARD,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"loyalty.lock_timeout",
        c"Milliseconds to wait for a player's row lock before failing with 55P03.",
        c"0 means no limit beyond the server's lock_timeout.",
        &LOCK_TIMEOUT_MS,
        0,
        i32::MAX,
        GucContext::Userset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_bool_guc(
        c"loyalty.log_events",
        c"Write notable loyalty events to the server log with their correlation id.",
        c"Tier upgrades, idempotent replays and refused calls; one LOG line each.",
        &LOG_EVENTS,
        GucContext::Suset,
        GucFlags::default(),
    );
    // Refuse misspelled loyalty.* settings instead of keeping them as
    // silent placeholders.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"loyalty".as_ptr()) };
}

/// The limits of SPEC section 5 as currently set.
pub fn limits() -> crate::domain::request::Limits {
    crate::domain::request::Limits {
        max_manual_reward: MAX_MANUAL_REWARD.get() as i64,
    }
}
