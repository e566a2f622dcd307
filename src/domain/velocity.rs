//! Velocity limits (SPEC section 5): every staff member and every login
//! role is bounded, separately for manual rewards, adjustments and
//! redemptions/reversals, by count and by points per sliding window.
//!
//! An actor's recent changes of one kind are kept as a list of events
//! (`loyalty.velocity_usage`); `admit` decides whether one more fits and
//! returns the list to store.  `crate::velocity` keeps the list under a row
//! lock that every counted change updates, which is what makes the limit
//! exact at every isolation level.

use crate::domain::error::LoyaltyError;

/// The kinds of change with a velocity limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VelocityKind {
    ManualReward,
    Adjustment,
    /// Redemptions and reversals: both take points back.
    Redemption,
}

impl VelocityKind {
    pub const ALL: [VelocityKind; 3] = [
        VelocityKind::ManualReward,
        VelocityKind::Adjustment,
        VelocityKind::Redemption,
    ];

    /// As stored in `loyalty.velocity_usage.kind` and in setting names.
    pub fn as_str(self) -> &'static str {
        match self {
            VelocityKind::ManualReward => "manual_reward",
            VelocityKind::Adjustment => "adjustment",
            VelocityKind::Redemption => "redemption",
        }
    }

    /// As messages name it.
    pub fn noun(self) -> &'static str {
        match self {
            VelocityKind::ManualReward => "manual reward",
            VelocityKind::Adjustment => "adjustment",
            VelocityKind::Redemption => "redemption",
        }
    }
}

/// Who is bounded: the staff member who acts, or the login role that calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Staff,
    Role,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Staff => "staff",
            Scope::Role => "role",
        }
    }

    /// The DETAIL key of the actor.
    pub fn detail_key(self) -> &'static str {
        match self {
            Scope::Staff => "staff_id",
            Scope::Role => "role",
        }
    }
}

/// Which bound a refused change hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// The number of changes per window.
    Count,
    /// The points of the changes per window.
    Points,
}

/// One limit: at most `max_count` changes and `max_points` points (absolute
/// values) per `window_us` microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max_count: i64,
    pub max_points: i64,
    pub window_us: i64,
}

/// Counted changes: when (microseconds on PostgreSQL's clock), how many
/// points, and how many changes.  Changes admitted within one slice of the
/// window (`RESOLUTION`) are kept as one event at the end of that slice,
/// so an actor's row holds at most about `RESOLUTION` events however many
/// changes it counts; a change then counts from when it was made until at
/// most one slice longer than the window — never less, so no window ever
/// holds more than the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub at: i64,
    pub points: i64,
    pub count: i64,
}

/// Slices per window (see `Event`).
pub const RESOLUTION: i64 = 64;

impl Limit {
    /// A limit at the settings' maximum (count and points both
    /// 2,147,483,647) is off: nothing is counted against it.
    pub fn is_off(&self) -> bool {
        self.max_count >= i32::MAX as i64 && self.max_points >= i32::MAX as i64
    }

    /// The end of the slice of the window that `now` falls in.
    fn slice_end(&self, now: i64) -> i64 {
        let slice = (self.window_us / RESOLUTION).max(1);
        let rem = now.rem_euclid(slice);
        if rem == 0 {
            now
        } else {
            now - rem + slice
        }
    }
}

/// What an actor has used in the window ending at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub count: i64,
    pub points: i64,
    /// When the oldest counted change leaves the window.
    pub reset_at: Option<i64>,
}

/// The changes still inside the window ending at `now` (a change counts
/// while `now - window < at`).
pub fn in_window(events: &[Event], now: i64, limit: &Limit) -> Vec<Event> {
    events
        .iter()
        .copied()
        .filter(|e| e.at > now.saturating_sub(limit.window_us))
        .collect()
}

pub fn usage(events: &[Event], now: i64, limit: &Limit) -> Usage {
    let kept = in_window(events, now, limit);
    Usage {
        count: kept.iter().map(|e| e.count).sum(),
        points: kept.iter().map(|e| e.points).sum(),
        reset_at: kept
            .iter()
            .map(|e| e.at)
            .min()
            .map(|at| at + limit.window_us),
    }
}

/// Admits one change of `points` at `now`, or refuses it (53400).  On
/// success returns the events to keep: those still in the window and the
/// new one.
pub fn admit(
    kind: VelocityKind,
    scope: Scope,
    actor: &str,
    events: &[Event],
    now: i64,
    limit: &Limit,
    points: i64,
) -> Result<Vec<Event>, LoyaltyError> {
    let mut kept = in_window(events, now, limit);
    let used = usage(&kept, now, limit);
    let refuse = |measure, limit_value, used_value| LoyaltyError::RateLimited {
        kind,
        scope,
        actor: actor.to_string(),
        measure,
        limit: limit_value,
        used: used_value,
        requested: points,
        reset_at: used.reset_at.map(iso_utc).unwrap_or_else(|| "now".into()),
    };
    if used.count >= limit.max_count {
        return Err(refuse(Measure::Count, limit.max_count, used.count));
    }
    if used.points.saturating_add(points) > limit.max_points {
        return Err(refuse(Measure::Points, limit.max_points, used.points));
    }
    let at = limit.slice_end(now);
    match kept.last_mut() {
        Some(last) if last.at == at => {
            last.points += points;
            last.count += 1;
        }
        _ => kept.push(Event {
            at,
            points,
            count: 1,
        }),
    }
    Ok(kept)
}

/// Microseconds since 2000-01-01 00:00 UTC (PostgreSQL's epoch) as ISO 8601
/// UTC, e.g. `2026-11-26T02:02:59.764348Z`.
pub fn iso_utc(pg_us: i64) -> String {
    const SECONDS_2000: i64 = 946_684_800;
    let unix_us = pg_us + SECONDS_2000 * 1_000_000;
    let secs = unix_us.div_euclid(1_000_000);
    let micros = unix_us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECOND: i64 = 1_000_000;
    const LIMIT: Limit = Limit {
        max_count: 3,
        max_points: 100,
        window_us: 60 * SECOND,
    };

    fn admit_at(events: &[Event], now: i64, points: i64) -> Result<Vec<Event>, LoyaltyError> {
        admit(
            VelocityKind::ManualReward,
            Scope::Staff,
            "s1",
            events,
            now,
            &LIMIT,
            points,
        )
    }

    #[test]
    fn the_count_limit_is_the_last_allowed() {
        let mut events = vec![];
        for i in 0..3 {
            events = admit_at(&events, i * SECOND, 10).unwrap();
        }
        let e = admit_at(&events, 3 * SECOND, 10).unwrap_err();
        assert_eq!(e.sqlstate(), "53400");
        assert_eq!(
            e.to_string(),
            "manual reward rate limit reached for staff s1"
        );
        assert_eq!(
            e.detail("c"),
            "staff_id=s1, limit=3, remaining=0, reset_at=2000-01-01T00:01:00.000000Z, correlation_id=c"
        );
        // The window slides: the first change leaves it after 60 s.
        assert!(admit_at(&events, 60 * SECOND, 10).is_ok());
        assert!(admit_at(&events, 60 * SECOND - 1, 10).is_err());
    }

    #[test]
    fn the_points_limit_counts_absolute_points() {
        let events = admit_at(&[], 0, 90).unwrap();
        let e = admit_at(&events, SECOND, 11).unwrap_err();
        assert_eq!(
            e.to_string(),
            "manual reward points limit reached for staff s1"
        );
        assert_eq!(
            e.detail("c"),
            "staff_id=s1, points_limit=100, points_remaining=10, requested=11, reset_at=2000-01-01T00:01:00.000000Z, correlation_id=c"
        );
        assert!(admit_at(&events, SECOND, 10).is_ok());
        let role = admit(
            VelocityKind::Adjustment,
            Scope::Role,
            "app",
            &events,
            SECOND,
            &LIMIT,
            50,
        )
        .unwrap_err();
        assert_eq!(
            role.to_string(),
            "adjustment points limit reached for role app"
        );
    }

    #[test]
    fn expired_events_are_dropped() {
        let events = vec![
            Event {
                at: 0,
                points: 100,
                count: 1,
            },
            Event {
                at: 30 * SECOND,
                points: 1,
                count: 1,
            },
        ];
        let kept = admit_at(&events, 61 * SECOND, 99).unwrap();
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert_eq!(usage(&kept, 61 * SECOND, &LIMIT).points, 100);
    }

    #[test]
    fn changes_in_one_slice_are_one_event() {
        let wide = Limit {
            max_count: 1_000_000,
            max_points: 1_000_000_000,
            window_us: 60 * SECOND,
        };
        let mut events = vec![];
        // 10,000 changes over two windows: the row never holds more than
        // a window's slices.
        for i in 0..10_000i64 {
            let now = i * 12_000;
            events = admit(
                VelocityKind::ManualReward,
                Scope::Role,
                "app",
                &events,
                now,
                &wide,
                3,
            )
            .unwrap();
            assert!(events.len() as i64 <= RESOLUTION + 1, "{}", events.len());
        }
        let u = usage(&events, 9_999 * 12_000, &wide);
        // Every change of the last 60 s (5,000 of them) still counts, and
        // at most one slice's worth more.
        assert!(u.count >= 5_000 && u.count <= 5_000 + 79, "{u:?}");
        assert_eq!(u.points, 3 * u.count);
    }

    #[test]
    fn a_change_counts_at_least_the_window_and_at_most_a_slice_longer() {
        let slice = LIMIT.window_us / RESOLUTION;
        let at = 10 * SECOND + 1;
        let events = admit_at(&[], at, 100).unwrap();
        assert!(admit_at(&events, at + LIMIT.window_us - 1, 1).is_err());
        assert!(admit_at(&events, at + LIMIT.window_us + slice, 1).is_ok());
    }

    #[test]
    fn a_limit_at_the_maximum_is_off() {
        let max = i32::MAX as i64;
        let off = |c, p| {
            Limit {
                max_count: c,
                max_points: p,
                window_us: SECOND,
            }
            .is_off()
        };
        assert!(off(max, max));
        assert!(!off(max, max - 1));
        assert!(!off(2_000_000_000, max));
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso_utc(0), "2000-01-01T00:00:00.000000Z");
        assert_eq!(iso_utc(-1), "1999-12-31T23:59:59.999999Z");
        // 2026-11-26 02:02:59.764348 UTC
        let us = (((26 * 365 + 7 + 329) * 86_400 + 2 * 3600 + 2 * 60 + 59) * SECOND) + 764_348;
        assert_eq!(iso_utc(us), "2026-11-26T02:02:59.764348Z");
        assert_eq!(
            iso_utc(((31 + 28) * 86_400) * SECOND),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    proptest! {
        #[test]
        fn never_more_than_the_limit_in_any_window(
            steps in proptest::collection::vec((0i64..20, 1i64..60), 1..80)
        ) {
            let mut events: Vec<Event> = vec![];
            let mut now = 0;
            let mut admitted: Vec<Event> = vec![];
            for (advance, points) in steps {
                now += advance * SECOND;
                if let Ok(next) = admit_at(&events, now, points) {
                    events = next;
                    admitted.push(Event { at: now, points, count: 1 });
                }
            }
            // Every window of the limit's length holds at most the limits.
            for e in &admitted {
                let inside: Vec<&Event> = admitted
                    .iter()
                    .filter(|x| x.at <= e.at && x.at > e.at - LIMIT.window_us)
                    .collect();
                prop_assert!(inside.len() as i64 <= LIMIT.max_count);
                prop_assert!(inside.iter().map(|x| x.points).sum::<i64>() <= LIMIT.max_points);
            }
        }
    }
}
