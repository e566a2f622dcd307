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

/// `loyalty.session_staff_id`: the staff member this session acts for, set
/// by a trusted pooler or with `ALTER ROLE … SET` (superuser only, so the
/// application cannot change it).  A call naming another staff id is refused.
pub static SESSION_STAFF_ID: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// `loyalty.manual_reward_rate_limit`: manual rewards per staff member per window.
pub static RATE_LIMIT: GucSetting<i32> = GucSetting::<i32>::new(10);

/// `loyalty.manual_reward_rate_window`: the window, in seconds.
pub static RATE_WINDOW_S: GucSetting<i32> = GucSetting::<i32>::new(60);

/// Default of `loyalty.gaming_day_start` (SPEC section 4).
pub const DEFAULT_GAMING_DAY_START: &std::ffi::CStr = c"06:00";

/// `loyalty.gaming_day_start`: local time at which a gaming day begins.
pub static GAMING_DAY_START: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(DEFAULT_GAMING_DAY_START));

/// `loyalty.gaming_day_timezone`: time zone of the gaming day; empty means
/// the server's time zone (`log_timezone`, which clients cannot change).
pub static GAMING_DAY_TIMEZONE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);

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
    GucRegistry::define_string_guc(
        c"loyalty.session_staff_id",
        c"Staff member this session acts for; calls naming another staff id are refused.",
        c"Set by a trusted pooler or with ALTER ROLE ... SET; superuser only.",
        &SESSION_STAFF_ID,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"loyalty.manual_reward_rate_limit",
        c"Manual rewards one staff member may grant per rate window.",
        c"Counted from the ledger, so it is exact under concurrency and kept across restarts.",
        &RATE_LIMIT,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"loyalty.manual_reward_rate_window",
        c"Length of the manual reward rate window.",
        c"A sliding window ending at the current transaction's start.",
        &RATE_WINDOW_S,
        1,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_string_guc(
        c"loyalty.gaming_day_start",
        c"Local time (HH:MM) at which a gaming day begins.",
        c"Manual reward keys include the gaming day, so the same reward repeats only on the next gaming day.",
        &GAMING_DAY_START,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"loyalty.gaming_day_timezone",
        c"Time zone of the gaming day; empty means the server's (log_timezone).",
        c"Any name PostgreSQL accepts for AT TIME ZONE.",
        &GAMING_DAY_TIMEZONE,
        GucContext::Suset,
        GucFlags::default(),
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

/// `loyalty.lock_timeout` in milliseconds (0: no limit of our own).
pub fn lock_timeout_ms() -> i32 {
    LOCK_TIMEOUT_MS.get()
}

/// A string setting, or `None` when unset or blank.
pub fn text(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting
        .get()
        .map(|c| c.to_string_lossy().trim().to_string())
        .filter(|s| !s.is_empty())
}
