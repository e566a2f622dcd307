//! Who may do what, and how often: staff identity, capabilities, the
//! manual-reward rate limit and the gaming day's start (SPEC sections 4, 5).
//!
//! Pure decisions; `crate::authorize` reads their inputs under the right
//! locks.

use crate::domain::error::LoyaltyError;

/// What a staff member may be allowed to do (`loyalty.staff_permission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Award,
    Promote,
    Redeem,
    Adjust,
    Recover,
}

impl Capability {
    pub const ALL: [Capability; 5] = [
        Capability::Award,
        Capability::Promote,
        Capability::Redeem,
        Capability::Adjust,
        Capability::Recover,
    ];

    /// The name stored in `loyalty.staff_permission.capabilities`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Award => "loyalty:award",
            Capability::Promote => "loyalty:promote",
            Capability::Redeem => "loyalty:redeem",
            Capability::Adjust => "loyalty:adjust",
            Capability::Recover => "loyalty:recover",
        }
    }
}

/// The staff id of the session (`loyalty.session_staff_id`), when set, must
/// be the staff id named by the call.
pub fn check_session_staff(
    session_staff: Option<&str>,
    named_staff: Option<&str>,
) -> Result<(), LoyaltyError> {
    match (session_staff, named_staff) {
        (Some(session), Some(named)) if !session.eq_ignore_ascii_case(named) => {
            Err(LoyaltyError::PermissionDenied {
                message: format!("staff {named} does not match the session's staff id"),
                context: vec![
                    ("staff_id", named.to_string()),
                    ("session_staff_id", session.to_string()),
                ],
            })
        }
        _ => Ok(()),
    }
}

/// Deny by default: an unknown staff member, or one without the capability,
/// is refused.
pub fn check_capability(
    staff_id: &str,
    capabilities: Option<&[String]>,
    needed: Capability,
) -> Result<(), LoyaltyError> {
    let needed = needed.as_str();
    match capabilities {
        None => Err(LoyaltyError::PermissionDenied {
            message: format!("staff {staff_id} is not known to loyalty.staff_permission"),
            context: vec![
                ("staff_id", staff_id.to_string()),
                ("capability", needed.to_string()),
            ],
        }),
        Some(caps) if !caps.iter().any(|c| c == needed) => Err(LoyaltyError::PermissionDenied {
            message: format!("staff {staff_id} lacks capability {needed}"),
            context: vec![
                ("staff_id", staff_id.to_string()),
                ("capability", needed.to_string()),
            ],
        }),
        Some(_) => Ok(()),
    }
}

/// The rate limit: `used` rewards in the current window against `limit`.
/// `reset_at` is when the oldest counted reward leaves the window.
pub fn check_rate(
    staff_id: &str,
    used: i64,
    limit: i64,
    reset_at: Option<&str>,
) -> Result<(), LoyaltyError> {
    if used >= limit {
        return Err(LoyaltyError::RateLimited {
            staff_id: staff_id.to_string(),
            limit,
            reset_at: reset_at.unwrap_or("now").to_string(),
        });
    }
    Ok(())
}

/// Parses `loyalty.gaming_day_start` (`HH:MM` or `HH:MM:SS`, 24-hour) into
/// the `HH:MM:SS` offset a gaming day starts after local midnight.
pub fn parse_day_start(text: &str) -> Result<String, LoyaltyError> {
    let bad = || {
        LoyaltyError::invalid_with(
            "loyalty.gaming_day_start must be a time of day as HH:MM",
            vec![("loyalty.gaming_day_start", text.to_string())],
        )
    };
    let parts: Vec<&str> = text.trim().split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(bad());
    }
    let mut nums = [0u32; 3];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        nums[i] = p.parse().map_err(|_| bad())?;
    }
    if nums[0] > 23 || nums[1] > 59 || nums[2] > 59 {
        return Err(bad());
    }
    Ok(format!("{:02}:{:02}:{:02}", nums[0], nums[1], nums[2]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spoofing_is_refused_only_when_the_session_has_a_staff_id() {
        assert!(check_session_staff(None, Some("a")).is_ok());
        assert!(check_session_staff(Some("a"), None).is_ok());
        assert!(check_session_staff(Some("A"), Some("a")).is_ok());
        let e = check_session_staff(Some("a"), Some("b")).unwrap_err();
        assert!(matches!(e, LoyaltyError::PermissionDenied { .. }));
    }

    #[test]
    fn deny_by_default() {
        let caps = vec!["loyalty:award".to_string()];
        assert!(check_capability("s", Some(&caps), Capability::Award).is_ok());
        assert!(check_capability("s", Some(&caps), Capability::Adjust).is_err());
        assert!(check_capability("s", Some(&[]), Capability::Award).is_err());
        assert!(check_capability("s", None, Capability::Award).is_err());
        let names: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "loyalty:award",
                "loyalty:promote",
                "loyalty:redeem",
                "loyalty:adjust",
                "loyalty:recover"
            ]
        );
    }

    #[test]
    fn the_limit_is_the_last_allowed() {
        assert!(check_rate("s", 9, 10, None).is_ok());
        let e = check_rate("s", 10, 10, Some("2026-01-01 00:01:00+00")).unwrap_err();
        assert_eq!(
            e.detail("c"),
            "staff_id=s, limit=10, remaining=0, reset_at=2026-01-01 00:01:00+00, correlation_id=c"
        );
    }

    #[test]
    fn day_start_formats() {
        assert_eq!(parse_day_start("06:00").unwrap(), "06:00:00");
        assert_eq!(parse_day_start("23:59:59").unwrap(), "23:59:59");
        assert_eq!(parse_day_start(" 00:00 ").unwrap(), "00:00:00");
        for bad in [
            "6:00",
            "24:00",
            "06:60",
            "06",
            "",
            "06:00:00:00",
            "ab:cd",
            "+6:00",
        ] {
            assert!(parse_day_start(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_valid_time_parses_back(h in 0u32..24, m in 0u32..60) {
            let s = format!("{h:02}:{m:02}");
            prop_assert_eq!(parse_day_start(&s).unwrap(), format!("{s}:00"));
        }
    }
}
