//! Gaming days (SPEC sections 4 and 14): a casino's gaming day begins at
//! its `gaming_day_start` local time in its `gaming_day_timezone` (each
//! following the `loyalty.*` setting of that name when the casino sets
//! none), not at UTC midnight.  `loyalty.gaming_day(at, casino)`, and the
//! current gaming day that manual-reward keys include.

use crate::casinos;
use crate::domain::casino::Casino;
use crate::domain::error::LoyaltyError;
use crate::domain::policy;
use crate::guard;
use crate::gucs;
use crate::plans::{self, required, Stmt};
use pgrx::datum::{Date, DatumWithOid};
use pgrx::pg_sys;
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::cell::RefCell;
use std::collections::HashMap;

#[pg_extern(security_definer, stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
/// The gaming day of a moment at a casino: it starts at the casino's gaming_day_start in its gaming_day_timezone.
fn gaming_day(
    p_at: default!(Option<TimestampWithTimeZone>, "now()"),
    p_casino_id: default!(Option<pgrx::Uuid>, "NULL"),
) -> Option<Date> {
    guard::sql_call(None, |corr| {
        let at = p_at.ok_or_else(|| LoyaltyError::invalid("p_at must not be null"))?;
        let casino = casinos::acting(p_casino_id, corr)?;
        Spi::connect_mut(|c| {
            let rows = compute(c, &args(&casino, Some(at))?)?;
            Ok(rows.first().get::<Date>(2)?)
        })
    })
}

thread_local! {
    /// The last gaming day computed per (time zone, day start): the day,
    /// and when it starts and ends.
    static KEPT: RefCell<HashMap<(String, String), (String, i64, i64)>> =
        RefCell::new(HashMap::new());
}

/// The casino's gaming day of the transaction's start as `YYYY-MM-DD`,
/// independent of the client's DateStyle.  Kept per backend for its time
/// zone and day start, and used again for transactions that start within
/// that day; a day during which the zone's UTC offset changes (daylight
/// saving) is not kept.  The time zone, when the casino and the setting
/// name none, is the server's `log_timezone`, read every time.
pub fn current(client: &mut SpiClient<'_>, casino: &Casino) -> Result<String, LoyaltyError> {
    let (zone, start) = zone_and_start(casino)?;
    let key = (zone.unwrap_or_else(log_timezone), start);
    // SAFETY: reads the transaction's start time.
    let at = unsafe { pg_sys::GetCurrentTransactionStartTimestamp() };
    if let Some((day, from, until)) = KEPT.with(|k| k.borrow().get(&key).cloned()) {
        if from <= at && at < until {
            return Ok(day);
        }
    }
    let rows = compute(client, &args(casino, None)?)?;
    let r = rows.first();
    let day = required(r.get::<String>(1)?, "gaming day")?;
    let from = required(r.get::<TimestampWithTimeZone>(3)?, "gaming day start")?;
    let until = required(r.get::<TimestampWithTimeZone>(4)?, "gaming day end")?;
    if required(r.get::<bool>(5)?, "steady offset")? {
        KEPT.with(|k| {
            let mut k = k.borrow_mut();
            if k.len() >= 1_000 {
                k.clear();
            }
            k.insert(key, (day.clone(), from.into(), until.into()));
        });
    }
    Ok(day)
}

/// Runs `GAMING_DAY` with the zone abbreviations at PostgreSQL's default:
/// a casino's zone may be an abbreviation (`EST`), whose meaning
/// `timezone_abbreviations` — which any session may set — would otherwise
/// choose, moving the gaming day (and a manual reward's key) for that
/// session, and through the kept day for the next client of a pooled
/// connection.  The setting is changed only when the session has another,
/// for this statement, and restored after it (on an error, by the abort).
fn compute<'c>(
    client: &mut SpiClient<'c>,
    args: &[DatumWithOid<'static>],
) -> Result<pgrx::spi::SpiTupleTable<'c>, LoyaltyError> {
    // SAFETY: a built-in setting, always defined; compared at once.
    let default = unsafe {
        let v = pg_sys::GetConfigOption(c"timezone_abbreviations".as_ptr(), true, false);
        v.is_null() || std::ffi::CStr::from_ptr(v).to_bytes() == b"Default"
    };
    if default {
        return plans::run(client, &GAMING_DAY, args);
    }
    // SAFETY: a GUC nest level opened and closed around one statement, as
    // a function's SET clause does.
    let nest = unsafe {
        let nest = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"timezone_abbreviations".as_ptr(),
            c"Default".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        nest
    };
    let rows = plans::run(client, &GAMING_DAY, args);
    // SAFETY: closes the nest level opened above.
    unsafe { pg_sys::AtEOXact_GUC(true, nest) };
    rows
}

/// The server's `log_timezone`.
fn log_timezone() -> String {
    // SAFETY: a built-in setting, always defined; the value is copied.
    unsafe {
        let v = pg_sys::GetConfigOption(c"log_timezone".as_ptr(), false, false);
        if v.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(v).to_string_lossy().into_owned()
        }
    }
}

/// A date as `YYYY-MM-DD`; an infinite date is 22023.
pub fn date_text(client: &mut SpiClient<'_>, d: Date) -> Result<String, LoyaltyError> {
    let rows = plans::run(client, &ISO_DATE, &[d.into()])?;
    rows.first()
        .get::<String>(1)?
        .ok_or_else(|| LoyaltyError::invalid("p_gaming_day must be a finite date"))
}

fn args(
    casino: &Casino,
    at: Option<TimestampWithTimeZone>,
) -> Result<Vec<DatumWithOid<'static>>, LoyaltyError> {
    let (zone, start) = zone_and_start(casino)?;
    Ok(vec![zone.into(), start.into(), at.into()])
}

/// The casino's gaming-day time zone (None: the server's) and start (as an
/// interval).
fn zone_and_start(casino: &Casino) -> Result<(Option<String>, String), LoyaltyError> {
    let start = policy::parse_day_start(
        &casino
            .gaming_day_start
            .clone()
            .unwrap_or_else(gucs::gaming_day_start),
    )?;
    let zone = casino
        .gaming_day_timezone
        .clone()
        .or_else(gucs::gaming_day_timezone);
    Ok((zone, start))
}

/// The gaming day starts at `$2` local time in zone `$1` (NULL: the
/// server's `log_timezone`, which clients cannot change); the day, when it
/// starts and ends, and whether the zone's UTC offset is the same at both
/// ends (no daylight-saving change within the day).
static GAMING_DAY: Stmt = Stmt {
    args: &[O::TEXTOID, O::TEXTOID, O::TIMESTAMPTZOID],
    sql: "\
SELECT to_char(d, 'YYYY-MM-DD'), d, f, u,
       (f AT TIME ZONE z) - (f AT TIME ZONE 'UTC') = (u AT TIME ZONE z) - (u AT TIME ZONE 'UTC')
  FROM (SELECT coalesce($1, current_setting('log_timezone')) AS z) zone,
       LATERAL (SELECT ((coalesce($3, now()) AT TIME ZONE z) - $2::interval)::date AS d) g,
       LATERAL (SELECT (d + $2::interval) AT TIME ZONE z AS f, (d + 1 + $2::interval) AT TIME ZONE z AS u) ends",
};

static ISO_DATE: Stmt = Stmt {
    args: &[O::DATEOID],
    sql: "SELECT CASE WHEN isfinite($1) THEN to_char($1, 'YYYY-MM-DD') END",
};
