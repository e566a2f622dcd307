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
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;

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
            let rows = plans::run(c, &GAMING_DAY, &args(&casino, Some(at))?)?;
            Ok(rows.first().get::<Date>(2)?)
        })
    })
}

/// The casino's gaming day of the transaction's start as `YYYY-MM-DD`,
/// independent of the client's DateStyle.
pub fn current(client: &mut SpiClient<'_>, casino: &Casino) -> Result<String, LoyaltyError> {
    let rows = plans::run(client, &GAMING_DAY, &args(casino, None)?)?;
    required(rows.first().get::<String>(1)?, "gaming day")
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
    Ok(vec![zone.into(), start.into(), at.into()])
}

/// The gaming day starts at `$2` local time in zone `$1` (NULL: the
/// server's `log_timezone`, which clients cannot change).
static GAMING_DAY: Stmt = Stmt {
    args: &[O::TEXTOID, O::TEXTOID, O::TIMESTAMPTZOID],
    sql: "\
SELECT to_char(d, 'YYYY-MM-DD'), d
  FROM (SELECT ((coalesce($3, now()) AT TIME ZONE coalesce($1, current_setting('log_timezone')))
                - $2::interval)::date AS d) g",
};

static ISO_DATE: Stmt = Stmt {
    args: &[O::DATEOID],
    sql: "SELECT CASE WHEN isfinite($1) THEN to_char($1, 'YYYY-MM-DD') END",
};
