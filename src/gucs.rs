//! Settings under `loyalty.*`: registered once in `init()`, read only
//! through the accessor functions below.
//!
//! The library loads on the first call of one of its functions in a
//! backend, so no `shared_preload_libraries` entry is needed; a value SET
//! before that is picked up when the setting is defined.
//!
//! Each release has its own shared library (`loyalty_ext-X.Y.Z`, see the
//! README's "Upgrading"), so one backend can hold two of them: a session
//! that called 0.1.0's functions goes on to call 0.2.0's after `ALTER
//! EXTENSION loyalty_ext UPDATE`.  PostgreSQL refuses to define a setting
//! twice, so the library loaded first defines each setting and a later one
//! finds it defined and *borrows* it: it reads the value by name, and both
//! libraries see the same value.

use crate::domain::velocity::{self, Scope, VelocityKind};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting, GucValue};
use pgrx::pg_sys;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};

/// One `loyalty.*` setting: its name, its storage when this library
/// defined it, and whether another loaded version defined it first.
struct Setting<T: GucValue + 'static> {
    name: &'static CStr,
    guc: GucSetting<T>,
    borrowed: AtomicBool,
}

impl<T: GucValue> Setting<T> {
    const fn new(name: &'static CStr, guc: GucSetting<T>) -> Self {
        Setting {
            name,
            guc,
            borrowed: AtomicBool::new(false),
        }
    }

    fn is_borrowed(&self) -> bool {
        self.borrowed.load(Ordering::Relaxed)
    }

    /// The current value as PostgreSQL prints it (borrowed settings only).
    fn by_name(&self) -> Option<String> {
        // SAFETY: returns a pointer into the setting's current value (or a
        // static buffer), valid until the next call; copied at once.
        unsafe {
            let p = pg_sys::GetConfigOption(self.name.as_ptr(), true, false);
            (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
        }
    }

    /// Defines the setting unless another loaded library version did.
    fn register(&'static self, define: impl FnOnce(&'static CStr, &'static GucSetting<T>)) {
        if defined_elsewhere(self.name) {
            self.borrowed.store(true, Ordering::Relaxed);
        } else {
            define(self.name, &self.guc);
        }
    }
}

impl Setting<i32> {
    fn get(&self) -> i32 {
        if self.is_borrowed() {
            if let Some(v) = self.by_name().and_then(|s| s.parse().ok()) {
                return v;
            }
        }
        self.guc.get()
    }
}

impl Setting<bool> {
    fn get(&self) -> bool {
        if self.is_borrowed() {
            if let Some(v) = self.by_name() {
                return v == "on";
            }
        }
        self.guc.get()
    }
}

impl Setting<Option<CString>> {
    /// The value, or `None` when unset or blank.
    fn get(&self) -> Option<String> {
        let value = if self.is_borrowed() {
            self.by_name()
        } else {
            self.guc.get().map(|c| c.to_string_lossy().into_owned())
        };
        value
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }
}

/// True when a real (not placeholder) setting of this name exists: another
/// version of this library defined it in this backend.  (`GetConfigOption`
/// cannot tell: it answers NULL for a defined string setting whose value is
/// NULL.)
fn defined_elsewhere(name: &CStr) -> bool {
    // SAFETY: the backend's array of settings and its length, read in the
    // backend's only thread; every entry has a valid name.
    unsafe {
        let vars = pg_sys::get_guc_variables();
        let count = pg_sys::GetNumConfigOptions().max(0) as usize;
        (0..count).any(|i| {
            let var = *vars.add(i);
            !var.is_null()
                && CStr::from_ptr((*var).name)
                    .to_bytes()
                    .eq_ignore_ascii_case(name.to_bytes())
                && ((*var).flags as u32) & pg_sys::GUC_CUSTOM_PLACEHOLDER == 0
        })
    }
}

/// `loyalty.correlation_id`: the caller's correlation id for this session or
/// transaction (`SET LOCAL`), used when a function is called without one.
static CORRELATION_ID: Setting<Option<CString>> = Setting::new(
    c"loyalty.correlation_id",
    GucSetting::<Option<CString>>::new(None),
);

/// `loyalty.max_manual_reward`: largest |points| of one manual reward or
/// adjustment.  SUSET so that an application role cannot raise it.
static MAX_MANUAL_REWARD: Setting<i32> =
    Setting::new(c"loyalty.max_manual_reward", GucSetting::<i32>::new(10_000));

/// `loyalty.lock_timeout`: milliseconds to wait for a row lock (a player's,
/// a staff member's or a rating slip's) before failing with 55P03; 0 waits
/// as long as the server's own `lock_timeout` allows.
static LOCK_TIMEOUT_MS: Setting<i32> =
    Setting::new(c"loyalty.lock_timeout", GucSetting::<i32>::new(5_000));

/// `loyalty.session_staff_id`: the staff member this session acts for, set
/// by a trusted pooler or with `ALTER ROLE … SET` (superuser only, so the
/// application cannot change it).  A call naming another staff id is refused.
static SESSION_STAFF_ID: Setting<Option<CString>> = Setting::new(
    c"loyalty.session_staff_id",
    GucSetting::<Option<CString>>::new(None),
);

/// `loyalty.session_casino_id`: the casino this session acts for (SPEC
/// section 14), bound like `loyalty.session_staff_id`; a call naming another
/// casino is refused.
static SESSION_CASINO_ID: Setting<Option<CString>> = Setting::new(
    c"loyalty.session_casino_id",
    GucSetting::<Option<CString>>::new(None),
);

/// `loyalty.hosted_casinos`: on a node of a sharded deployment (SPEC 17),
/// the casinos this database keeps, comma-separated; any other casino is
/// refused here (P0002), so a casino's players never span nodes whatever
/// reaches the node.  Empty (the default): every casino of the database.
static HOSTED_CASINOS: Setting<Option<CString>> = Setting::new(
    c"loyalty.hosted_casinos",
    GucSetting::<Option<CString>>::new(None),
);

/// `loyalty.manual_reward_rate_limit`: manual rewards per staff member per window.
static RATE_LIMIT: Setting<i32> = Setting::new(
    c"loyalty.manual_reward_rate_limit",
    GucSetting::<i32>::new(10),
);

/// `loyalty.manual_reward_rate_window`: the window, in seconds.
static RATE_WINDOW_S: Setting<i32> = Setting::new(
    c"loyalty.manual_reward_rate_window",
    GucSetting::<i32>::new(60),
);

/// Default of `loyalty.gaming_day_start` (SPEC section 4).
const DEFAULT_GAMING_DAY_START: &CStr = c"06:00";

/// `loyalty.gaming_day_start`: local time at which a gaming day begins.
static GAMING_DAY_START: Setting<Option<CString>> = Setting::new(
    c"loyalty.gaming_day_start",
    GucSetting::<Option<CString>>::new(Some(DEFAULT_GAMING_DAY_START)),
);

/// `loyalty.gaming_day_timezone`: time zone of the gaming day; empty means
/// the server's time zone (`log_timezone`, which clients cannot change).
static GAMING_DAY_TIMEZONE: Setting<Option<CString>> = Setting::new(
    c"loyalty.gaming_day_timezone",
    GucSetting::<Option<CString>>::new(None),
);

/// `loyalty.log_events`: write notable events (tier upgrades, replays,
/// refusals) to the server log.
static LOG_EVENTS: Setting<bool> =
    Setting::new(c"loyalty.log_events", GucSetting::<bool>::new(true));

/// `loyalty.max_gameplay_points`: largest credit of one rating slip.
static MAX_GAMEPLAY_POINTS: Setting<i32> = Setting::new(
    c"loyalty.max_gameplay_points",
    GucSetting::<i32>::new(100_000),
);

/// `loyalty.max_promotion_points`: largest direct promotion
/// (`increment_player_loyalty`); campaign credits are bounded by their campaign.
static MAX_PROMOTION_POINTS: Setting<i32> = Setting::new(
    c"loyalty.max_promotion_points",
    GucSetting::<i32>::new(100_000),
);

/// `loyalty.max_recovery_attempts`: failed attempts after which an accrual
/// is parked as STUCK.
static MAX_RECOVERY_ATTEMPTS: Setting<i32> =
    Setting::new(c"loyalty.max_recovery_attempts", GucSetting::<i32>::new(10));

/// `loyalty.hold_expiry`: seconds a hold lasts when its caller names no
/// expiry.
static HOLD_EXPIRY_S: Setting<i32> =
    Setting::new(c"loyalty.hold_expiry", GucSetting::<i32>::new(86_400));

/// `loyalty.staff_token`: the signed staff token (JWT) of the transaction,
/// set with `SET LOCAL`; it names the staff member who acts.
static STAFF_TOKEN: Setting<Option<CString>> = Setting::new(
    c"loyalty.staff_token",
    GucSetting::<Option<CString>>::new(None),
);

/// `loyalty.require_staff_token`: staff-performed changes need a token.
static REQUIRE_STAFF_TOKEN: Setting<bool> = Setting::new(
    c"loyalty.require_staff_token",
    GucSetting::<bool>::new(false),
);

/// `loyalty.staff_token_audience`: when set, a token's `aud` must name it.
static STAFF_TOKEN_AUDIENCE: Setting<Option<CString>> = Setting::new(
    c"loyalty.staff_token_audience",
    GucSetting::<Option<CString>>::new(None),
);

/// The velocity limits of SPEC section 5 besides the manual-reward count
/// and window above: per kind, a staff member's points per window, a login
/// role's count and points per window, and (adjustments, redemptions) the
/// window.
static MANUAL_REWARD_POINTS_LIMIT: Setting<i32> = Setting::new(
    c"loyalty.manual_reward_points_limit",
    GucSetting::<i32>::new(50_000),
);
static ROLE_MANUAL_REWARD_RATE_LIMIT: Setting<i32> = Setting::new(
    c"loyalty.role_manual_reward_rate_limit",
    GucSetting::<i32>::new(1_000),
);
static ROLE_MANUAL_REWARD_POINTS_LIMIT: Setting<i32> = Setting::new(
    c"loyalty.role_manual_reward_points_limit",
    GucSetting::<i32>::new(1_000_000),
);
static ADJUSTMENT_RATE_LIMIT: Setting<i32> =
    Setting::new(c"loyalty.adjustment_rate_limit", GucSetting::<i32>::new(10));
static ADJUSTMENT_POINTS_LIMIT: Setting<i32> = Setting::new(
    c"loyalty.adjustment_points_limit",
    GucSetting::<i32>::new(50_000),
);
static ADJUSTMENT_RATE_WINDOW_S: Setting<i32> = Setting::new(
    c"loyalty.adjustment_rate_window",
    GucSetting::<i32>::new(60),
);
static ROLE_ADJUSTMENT_RATE_LIMIT: Setting<i32> = Setting::new(
    c"loyalty.role_adjustment_rate_limit",
    GucSetting::<i32>::new(1_000),
);
static ROLE_ADJUSTMENT_POINTS_LIMIT: Setting<i32> = Setting::new(
    c"loyalty.role_adjustment_points_limit",
    GucSetting::<i32>::new(1_000_000),
);
static REDEMPTION_RATE_LIMIT: Setting<i32> =
    Setting::new(c"loyalty.redemption_rate_limit", GucSetting::<i32>::new(60));
static REDEMPTION_POINTS_LIMIT: Setting<i32> = Setting::new(
    c"loyalty.redemption_points_limit",
    GucSetting::<i32>::new(1_000_000),
);
static REDEMPTION_RATE_WINDOW_S: Setting<i32> = Setting::new(
    c"loyalty.redemption_rate_window",
    GucSetting::<i32>::new(60),
);
static ROLE_REDEMPTION_RATE_LIMIT: Setting<i32> = Setting::new(
    c"loyalty.role_redemption_rate_limit",
    GucSetting::<i32>::new(10_000),
);
static ROLE_REDEMPTION_POINTS_LIMIT: Setting<i32> = Setting::new(
    c"loyalty.role_redemption_points_limit",
    GucSetting::<i32>::new(10_000_000),
);

/// A superuser-only integer setting: an application role cannot raise its
/// own bounds.
fn define_suset_int(
    setting: &'static Setting<i32>,
    short: &'static CStr,
    long: &'static CStr,
    min: i32,
    flags: GucFlags,
) {
    setting.register(|name, guc| {
        GucRegistry::define_int_guc(
            name,
            short,
            long,
            guc,
            min,
            i32::MAX,
            GucContext::Suset,
            flags,
        )
    });
}

pub fn init() {
    let bound = c"Superuser only, so an application role cannot raise its own bound.";
    define_suset_int(
        &MAX_GAMEPLAY_POINTS,
        c"Largest number of points one rating slip may credit.",
        bound,
        1,
        GucFlags::default(),
    );
    define_suset_int(
        &MAX_PROMOTION_POINTS,
        c"Largest number of points one direct promotion may credit.",
        bound,
        1,
        GucFlags::default(),
    );
    define_suset_int(
        &MAX_RECOVERY_ATTEMPTS,
        c"Failed attempts after which a rating-slip accrual is parked as STUCK.",
        c"A STUCK accrual is left out of loyalty.recover_pending until loyalty.resolve_accrual retries or abandons it.",
        1,
        GucFlags::default(),
    );
    define_suset_int(
        &HOLD_EXPIRY_S,
        c"Seconds a hold lasts when loyalty.hold_points names no expiry.",
        c"An expired hold releases its points; it can be neither captured nor released.",
        1,
        GucFlags::UNIT_S,
    );
    let per_window = c"Counted in a sliding window ending when the change is admitted; exact under concurrency at every isolation level.";
    define_suset_int(
        &MANUAL_REWARD_POINTS_LIMIT,
        c"Points of manual rewards one staff member may grant per window.",
        per_window,
        0,
        GucFlags::default(),
    );
    define_suset_int(
        &ROLE_MANUAL_REWARD_RATE_LIMIT,
        c"Manual rewards one login role may make per window.",
        per_window,
        0,
        GucFlags::default(),
    );
    define_suset_int(
        &ROLE_MANUAL_REWARD_POINTS_LIMIT,
        c"Points of manual rewards one login role may make per window.",
        per_window,
        0,
        GucFlags::default(),
    );
    define_suset_int(
        &ADJUSTMENT_RATE_LIMIT,
        c"Adjustments one staff member may make per window.",
        per_window,
        0,
        GucFlags::default(),
    );
    define_suset_int(
        &ADJUSTMENT_POINTS_LIMIT,
        c"Points of adjustments (either sign) one staff member may make per window.",
        per_window,
        0,
        GucFlags::default(),
    );
    define_suset_int(
        &ADJUSTMENT_RATE_WINDOW_S,
        c"Length of the adjustment velocity window.",
        per_window,
        1,
        GucFlags::UNIT_S,
    );
    define_suset_int(
        &ROLE_ADJUSTMENT_RATE_LIMIT,
        c"Adjustments one login role may make per window.",
        per_window,
        0,
        GucFlags::default(),
    );
    define_suset_int(
        &ROLE_ADJUSTMENT_POINTS_LIMIT,
        c"Points of adjustments one login role may make per window.",
        per_window,
        0,
        GucFlags::default(),
    );
    define_suset_int(
        &REDEMPTION_RATE_LIMIT,
        c"Redemptions and reversals one staff member may make per window.",
        per_window,
        0,
        GucFlags::default(),
    );
    define_suset_int(
        &REDEMPTION_POINTS_LIMIT,
        c"Points of redemptions and reversals one staff member may make per window.",
        per_window,
        0,
        GucFlags::default(),
    );
    define_suset_int(
        &REDEMPTION_RATE_WINDOW_S,
        c"Length of the redemption and reversal velocity window.",
        per_window,
        1,
        GucFlags::UNIT_S,
    );
    define_suset_int(
        &ROLE_REDEMPTION_RATE_LIMIT,
        c"Redemptions and reversals one login role may make per window.",
        per_window,
        0,
        GucFlags::default(),
    );
    define_suset_int(
        &ROLE_REDEMPTION_POINTS_LIMIT,
        c"Points of redemptions and reversals one login role may make per window.",
        per_window,
        0,
        GucFlags::default(),
    );
    STAFF_TOKEN.register(|name, guc| {
        GucRegistry::define_string_guc(
            name,
            c"Signed staff token (JWT) naming the staff member this transaction acts for.",
            c"Set per transaction with SET LOCAL; verified against loyalty.trusted_key.",
            guc,
            GucContext::Userset,
            GucFlags::NO_SHOW_ALL,
        )
    });
    REQUIRE_STAFF_TOKEN.register(|name, guc| {
        GucRegistry::define_bool_guc(
            name,
            c"Staff-performed changes need a verified loyalty.staff_token.",
            c"Superuser only.",
            guc,
            GucContext::Suset,
            GucFlags::default(),
        )
    });
    STAFF_TOKEN_AUDIENCE.register(|name, guc| {
        GucRegistry::define_string_guc(
            name,
            c"When set, a staff token's aud claim must name it.",
            c"Superuser only; empty means the audience is not checked.",
            guc,
            GucContext::Suset,
            GucFlags::default(),
        )
    });
    CORRELATION_ID.register(|name, guc| {
        GucRegistry::define_string_guc(
            name,
            c"Correlation id used by loyalty functions called without one.",
            c"Set per transaction with SET LOCAL; when empty, one id is generated per transaction.",
            guc,
            GucContext::Userset,
            GucFlags::default(),
        )
    });
    MAX_MANUAL_REWARD.register(|name, guc| {
        GucRegistry::define_int_guc(
            name,
            c"Largest number of points one manual reward or adjustment may grant or take.",
            c"Only a superuser can change it, so an application role cannot raise its own limit.",
            guc,
            1,
            i32::MAX,
            GucContext::Suset,
            GucFlags::default(),
        )
    });
    LOCK_TIMEOUT_MS.register(|name, guc| {
        GucRegistry::define_int_guc(
            name,
            c"Milliseconds to wait for a player's, staff member's or rating slip's row lock before failing with 55P03.",
            c"0 means no limit beyond the server's lock_timeout.",
            guc,
            0,
            i32::MAX,
            GucContext::Userset,
            GucFlags::UNIT_MS,
        )
    });
    SESSION_STAFF_ID.register(|name, guc| {
        GucRegistry::define_string_guc(
            name,
            c"Staff member this session acts for; calls naming another staff id are refused.",
            c"Set by a trusted pooler or with ALTER ROLE ... SET; superuser only; RESET ALL and DISCARD ALL leave it in force.",
            guc,
            GucContext::Suset,
            GucFlags::NO_RESET_ALL,
        )
    });
    SESSION_CASINO_ID.register(|name, guc| {
        GucRegistry::define_string_guc(
            name,
            c"Casino this session acts for; calls naming another casino are refused, and direct reads see only its rows.",
            c"Set with ALTER ROLE ... SET or by a trusted pooler (loyalty.bind_session_staff); superuser only; RESET ALL and DISCARD ALL leave it in force.",
            guc,
            GucContext::Suset,
            GucFlags::NO_RESET_ALL,
        )
    });
    HOSTED_CASINOS.register(|name, guc| {
        GucRegistry::define_string_guc(
            name,
            c"Casinos this database keeps (comma-separated ids); any other is refused. Empty: every casino.",
            c"Superuser only; set per node of a sharded deployment (ALTER DATABASE ... SET).",
            guc,
            GucContext::Suset,
            GucFlags::default(),
        )
    });
    RATE_LIMIT.register(|name, guc| {
        GucRegistry::define_int_guc(
            name,
            c"Manual rewards one staff member may grant per rate window.",
            c"Counted in loyalty.velocity_usage under a row lock: exact at every isolation level, kept across restarts.",
            guc,
            0,
            i32::MAX,
            GucContext::Suset,
            GucFlags::default(),
        )
    });
    RATE_WINDOW_S.register(|name, guc| {
        GucRegistry::define_int_guc(
            name,
            c"Length of the manual reward rate window.",
            c"A sliding window ending when the change is admitted (clock time, under the usage row's lock).",
            guc,
            1,
            i32::MAX,
            GucContext::Suset,
            GucFlags::UNIT_S,
        )
    });
    GAMING_DAY_START.register(|name, guc| {
        GucRegistry::define_string_guc(
            name,
            c"Local time (HH:MM) at which a gaming day begins.",
            c"Manual reward keys include the gaming day, so the same reward repeats only on the next gaming day.",
            guc,
            GucContext::Suset,
            GucFlags::default(),
        )
    });
    GAMING_DAY_TIMEZONE.register(|name, guc| {
        GucRegistry::define_string_guc(
            name,
            c"Time zone of the gaming day; empty means the server's (log_timezone).",
            c"Any name PostgreSQL accepts for AT TIME ZONE.",
            guc,
            GucContext::Suset,
            GucFlags::default(),
        )
    });
    LOG_EVENTS.register(|name, guc| {
        GucRegistry::define_bool_guc(
            name,
            c"Write notable loyalty events to the server log with their correlation id.",
            c"Tier upgrades, idempotent replays and refused calls; one LOG line each.",
            guc,
            GucContext::Suset,
            GucFlags::default(),
        )
    });
    // Refuse misspelled loyalty.* settings instead of keeping them as
    // silent placeholders.
    // SAFETY: appends the prefix to the backend's list of reserved ones.
    unsafe { pg_sys::MarkGUCPrefixReserved(c"loyalty".as_ptr()) };
}

/// The per-call bounds of SPEC section 5 as currently set.
pub fn limits() -> crate::domain::request::Limits {
    crate::domain::request::Limits {
        max_manual_reward: MAX_MANUAL_REWARD.get() as i64,
        max_gameplay_points: MAX_GAMEPLAY_POINTS.get() as i64,
        max_promotion_points: MAX_PROMOTION_POINTS.get() as i64,
    }
}

/// The velocity limit of one kind of change for one kind of actor.
pub fn velocity_limit(kind: VelocityKind, scope: Scope) -> velocity::Limit {
    use Scope::*;
    use VelocityKind::*;
    let (count, points, window) = match (kind, scope) {
        (ManualReward, Staff) => (&RATE_LIMIT, &MANUAL_REWARD_POINTS_LIMIT, &RATE_WINDOW_S),
        (ManualReward, Role) => (
            &ROLE_MANUAL_REWARD_RATE_LIMIT,
            &ROLE_MANUAL_REWARD_POINTS_LIMIT,
            &RATE_WINDOW_S,
        ),
        (Adjustment, Staff) => (
            &ADJUSTMENT_RATE_LIMIT,
            &ADJUSTMENT_POINTS_LIMIT,
            &ADJUSTMENT_RATE_WINDOW_S,
        ),
        (Adjustment, Role) => (
            &ROLE_ADJUSTMENT_RATE_LIMIT,
            &ROLE_ADJUSTMENT_POINTS_LIMIT,
            &ADJUSTMENT_RATE_WINDOW_S,
        ),
        (Redemption, Staff) => (
            &REDEMPTION_RATE_LIMIT,
            &REDEMPTION_POINTS_LIMIT,
            &REDEMPTION_RATE_WINDOW_S,
        ),
        (Redemption, Role) => (
            &ROLE_REDEMPTION_RATE_LIMIT,
            &ROLE_REDEMPTION_POINTS_LIMIT,
            &REDEMPTION_RATE_WINDOW_S,
        ),
    };
    velocity::Limit {
        max_count: count.get() as i64,
        max_points: points.get() as i64,
        window_us: window.get() as i64 * 1_000_000,
    }
}

/// `loyalty.hold_expiry` in seconds.
pub fn hold_expiry_s() -> i64 {
    HOLD_EXPIRY_S.get() as i64
}

/// `loyalty.max_recovery_attempts`.
pub fn max_recovery_attempts() -> i32 {
    MAX_RECOVERY_ATTEMPTS.get()
}

/// `loyalty.staff_token`, when set.
pub fn staff_token() -> Option<String> {
    STAFF_TOKEN.get()
}

/// `loyalty.require_staff_token`.
pub fn require_staff_token() -> bool {
    REQUIRE_STAFF_TOKEN.get()
}

/// `loyalty.staff_token_audience`, when set.
pub fn staff_token_audience() -> Option<String> {
    STAFF_TOKEN_AUDIENCE.get()
}

/// `loyalty.lock_timeout` in milliseconds (0: no limit of our own).
pub fn lock_timeout_ms() -> i32 {
    LOCK_TIMEOUT_MS.get()
}

/// `loyalty.correlation_id`, when set.
pub fn correlation_id() -> Option<String> {
    CORRELATION_ID.get()
}

/// `loyalty.session_staff_id`, when set.
pub fn session_staff_id() -> Option<String> {
    SESSION_STAFF_ID.get()
}

/// `loyalty.session_casino_id`, when set.
pub fn session_casino_id() -> Option<String> {
    SESSION_CASINO_ID.get()
}

/// `loyalty.hosted_casinos` as set, when not blank.
pub fn hosted_casinos() -> Option<String> {
    HOSTED_CASINOS.get().filter(|s| !s.trim().is_empty())
}

/// `loyalty.gaming_day_start` as set (the default when blank).
pub fn gaming_day_start() -> String {
    GAMING_DAY_START
        .get()
        .unwrap_or_else(|| DEFAULT_GAMING_DAY_START.to_string_lossy().into_owned())
}

/// `loyalty.gaming_day_timezone`, when set.
pub fn gaming_day_timezone() -> Option<String> {
    GAMING_DAY_TIMEZONE.get()
}

/// `loyalty.log_events`.
pub fn log_events() -> bool {
    LOG_EVENTS.get()
}

/// The settings anyone may set; every other `loyalty.*` setting is
/// superuser-only.
const USER_SETTABLE: [&str; 3] = [
    "loyalty.correlation_id",
    "loyalty.lock_timeout",
    "loyalty.staff_token",
];

thread_local! {
    static STARTUP_OVERRIDE: std::cell::OnceCell<Option<String>> =
        const { std::cell::OnceCell::new() };
}

/// The first superuser-only `loyalty.*` setting that a non-superuser login
/// named in its connection options (`options=-c …`, `PGOPTIONS`, or a
/// startup parameter), if any.
///
/// Until this library loads, PostgreSQL keeps such a value as a
/// placeholder, and a client's value outranks the one `ALTER ROLE` or
/// `ALTER DATABASE … SET` gave the setting, which is therefore never
/// applied.  When the library defines the setting it discards the client's
/// value (the client may not set it) and falls back to the built-in
/// default: a login role bound to a casino or a staff member would be
/// unbound, `require_staff_token` off, a limit at its default.  A session
/// that tried is refused (`guard::sql_call`).  Read once per backend: the
/// options cannot change.
pub fn startup_override() -> Option<String> {
    STARTUP_OVERRIDE.with(|c| c.get_or_init(read_startup_options).clone())
}

fn read_startup_options() -> Option<String> {
    // SAFETY: MyProcPort is the backend's connection (NULL in a background
    // worker); its option strings live for the whole session and are copied
    // here.  Runs inside a transaction (a SQL function's call), as the
    // superuser check's catalog lookup needs.
    unsafe {
        let port = pg_sys::libpq::be::MyProcPort;
        if port.is_null() || pg_sys::superuser_arg(pg_sys::GetAuthenticatedUserId()) {
            return None;
        }
        let mut names = Vec::new();
        if !(*port).cmdline_options.is_null() {
            let options = CStr::from_ptr((*port).cmdline_options).to_string_lossy();
            names.extend(option_names(&options));
        }
        let list = (*port).guc_options;
        if !list.is_null() {
            // Alternating name, value.
            for i in (0..(*list).length as usize).step_by(2) {
                let name = (*(*list).elements.add(i)).ptr_value as *const std::ffi::c_char;
                if !name.is_null() {
                    names.push(CStr::from_ptr(name).to_string_lossy().into_owned());
                }
            }
        }
        names
            .into_iter()
            .map(|n| n.to_ascii_lowercase().replace('-', "_"))
            .find(|n| n.starts_with("loyalty.") && !USER_SETTABLE.contains(&n.as_str()))
    }
}

/// The setting names of a startup `options` string, as the server reads it
/// (words split at unescaped whitespace; `-c name=value`, `-cname=value`
/// or `--name=value`).
fn option_names(options: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut names = Vec::new();
    let mut iter = words.iter();
    while let Some(w) = iter.next() {
        let assignment = if w == "-c" {
            iter.next().map(String::as_str)
        } else if let Some(rest) = w.strip_prefix("--") {
            Some(rest)
        } else {
            w.strip_prefix("-c")
        };
        if let Some(a) = assignment {
            names.push(a.split('=').next().unwrap_or_default().to_string());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::option_names;

    #[test]
    fn startup_option_names_as_the_server_reads_them() {
        assert_eq!(
            option_names(
                "-c loyalty.session_casino_id= -cwork_mem=64MB --loyalty.require-staff-token=off"
            ),
            [
                "loyalty.session_casino_id",
                "work_mem",
                "loyalty.require-staff-token"
            ]
        );
        // An escaped space stays in its word; other switches are not settings.
        assert_eq!(
            option_names(r"-c application_name=a\ b -d 1 -c loyalty.max_manual_reward=1"),
            ["application_name", "loyalty.max_manual_reward"]
        );
        assert!(option_names("").is_empty());
    }
}
