//! Who may do what: capabilities of staff members and login roles, the
//! staff identity of a call, the authority each kind of change needs, and
//! the gaming day's start (SPEC sections 4, 5 and 10).
//!
//! Pure decisions; `crate::authorize` reads their inputs.

use crate::domain::error::LoyaltyError;
use crate::domain::request::{Route, TxType};

/// What a staff member or a login role may be allowed to do
/// (`loyalty.staff_permission`, `loyalty.role_permission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Award,
    Promote,
    Redeem,
    Adjust,
    Recover,
    /// A login role's: credit gameplay (close rating slips).
    Accrue,
}

impl Capability {
    pub const ALL: [Capability; 6] = [
        Capability::Award,
        Capability::Promote,
        Capability::Redeem,
        Capability::Adjust,
        Capability::Recover,
        Capability::Accrue,
    ];

    /// The name stored in the permission tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Award => "loyalty:award",
            Capability::Promote => "loyalty:promote",
            Capability::Redeem => "loyalty:redeem",
            Capability::Adjust => "loyalty:adjust",
            Capability::Recover => "loyalty:recover",
            Capability::Accrue => "loyalty:accrue",
        }
    }
}

/// What a change needs before it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// The staff member acting must hold this capability.
    Staff(Capability),
    /// The calling login role (`session_user`) must hold this capability;
    /// superusers are not checked, as row-level security does not check them.
    Role(Capability),
    /// A registered, current campaign with budget left (`apply_promotion`).
    Campaign,
}

/// The authority a change of type `tx` arriving by `route` needs: deny by
/// default for every type (SPEC section 5).
///
/// - manual types: the staff member holding the type's capability;
/// - GAMEPLAY: the calling login role holding `loyalty:accrue` (checked when
///   a slip is recorded; its credit and recovery need nothing more);
/// - PROMOTION: a registered campaign through `apply_promotion`, else the
///   calling login role holding `loyalty:promote`;
/// - and a staff member named by any call must hold the type's capability.
pub fn required_authority(tx: TxType, route: Route, staff_named: bool) -> Vec<Authority> {
    // A recorded slip's authority was checked when it was recorded; an
    // expiration is the casino's policy, run by whoever may call
    // expire_points.
    if route == Route::RecordedSlip || route == Route::Expiration {
        return vec![];
    }
    let mut needs = match (tx, route) {
        (TxType::Gameplay, _) => vec![Authority::Role(Capability::Accrue)],
        (TxType::Promotion, Route::Campaign) => vec![Authority::Campaign],
        (TxType::Promotion, _) => vec![Authority::Role(Capability::Promote)],
        _ => vec![],
    };
    if let Some(capability) = tx.capability() {
        if staff_named || tx != TxType::Promotion {
            needs.push(Authority::Staff(capability));
        }
    }
    needs
}

/// The staff member a call acts for, from what it names and what the
/// session proves: a verified staff token is the identity (naming anyone
/// else is spoofing); `loyalty.session_staff_id` binds the session the same
/// way; with neither, the named staff id stands.  `require_token`
/// (`loyalty.require_staff_token`, for staff-performed work) refuses a call
/// without a token.
pub fn resolve_staff(
    named: Option<&str>,
    session: Option<&str>,
    token: Option<&str>,
    require_token: bool,
) -> Result<Option<String>, LoyaltyError> {
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let spoof = |named: &str, proven: &str, by: &'static str| LoyaltyError::PermissionDenied {
        message: format!(
            "staff {named} does not match the {}",
            if by == "staff_token" {
                "staff token's staff id"
            } else {
                "session's staff id"
            }
        ),
        context: vec![("staff_id", named.to_string()), (by, proven.to_string())],
    };
    if require_token && token.is_none() {
        return Err(LoyaltyError::PermissionDenied {
            message: "a staff token is required (loyalty.require_staff_token)".into(),
            context: vec![("staff_id", named.unwrap_or_default().to_string())],
        });
    }
    if let (Some(session), Some(token)) = (session, token) {
        if !same(session, token) {
            return Err(spoof(token, session, "session_staff_id"));
        }
    }
    if let Some(token) = token {
        if let Some(named) = named.filter(|n| !same(n, token)) {
            return Err(spoof(named, token, "staff_token"));
        }
        return Ok(Some(token.to_ascii_lowercase()));
    }
    if let Some(session) = session {
        if let Some(named) = named.filter(|n| !same(n, session)) {
            return Err(spoof(named, session, "session_staff_id"));
        }
        return Ok(Some(session.to_ascii_lowercase()));
    }
    Ok(named.map(str::to_string))
}

/// The calling login role must hold `needed` (through any role it is a
/// member of); a superuser is not checked.
pub fn check_role_capability(
    role: &str,
    superuser: bool,
    capabilities: &[String],
    needed: Capability,
) -> Result<(), LoyaltyError> {
    if superuser || capabilities.iter().any(|c| c == needed.as_str()) {
        return Ok(());
    }
    Err(LoyaltyError::PermissionDenied {
        message: format!("role {role} lacks capability {}", needed.as_str()),
        context: vec![
            ("role", role.to_string()),
            ("capability", needed.as_str().to_string()),
        ],
    })
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
    fn the_session_and_the_token_decide_who_acts() {
        // Nothing proven: the named staff id stands.
        assert_eq!(
            resolve_staff(Some("a"), None, None, false),
            Ok(Some("a".into()))
        );
        assert_eq!(resolve_staff(None, None, None, false), Ok(None));
        // A bound session: naming someone else is spoofing; naming nobody
        // acts as the session's staff member.
        assert_eq!(
            resolve_staff(Some("A"), Some("a"), None, false),
            Ok(Some("a".into()))
        );
        assert_eq!(
            resolve_staff(None, Some("a"), None, false),
            Ok(Some("a".into()))
        );
        let e = resolve_staff(Some("b"), Some("a"), None, false).unwrap_err();
        assert_eq!(e.sqlstate(), "42501");
        // A token is the identity.
        assert_eq!(
            resolve_staff(None, None, Some("t"), true),
            Ok(Some("t".into()))
        );
        assert!(resolve_staff(Some("x"), None, Some("t"), false).is_err());
        assert!(resolve_staff(Some("t"), Some("s"), Some("t"), false).is_err());
        // Required tokens: a call without one is refused, bound session or not.
        let e = resolve_staff(Some("a"), None, None, true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a staff token is required (loyalty.require_staff_token)"
        );
        assert!(resolve_staff(None, None, None, true).is_err());
        assert!(resolve_staff(None, Some("a"), None, true).is_err());
    }

    #[test]
    fn every_type_needs_an_authority() {
        use Authority::*;
        assert_eq!(
            required_authority(TxType::Gameplay, Route::Direct, false),
            vec![Role(Capability::Accrue)]
        );
        assert_eq!(
            required_authority(TxType::Promotion, Route::Direct, false),
            vec![Role(Capability::Promote)]
        );
        assert_eq!(
            required_authority(TxType::Promotion, Route::Campaign, false),
            vec![Campaign]
        );
        assert_eq!(
            required_authority(TxType::Promotion, Route::Campaign, true),
            vec![Campaign, Staff(Capability::Promote)]
        );
        assert_eq!(
            required_authority(TxType::ManualBonus, Route::Typed, true),
            vec![Staff(Capability::Award)]
        );
        assert_eq!(
            required_authority(TxType::ManualBonus, Route::Direct, true),
            vec![Staff(Capability::Award)]
        );
        assert_eq!(
            required_authority(TxType::Reversal, Route::Typed, true),
            vec![Staff(Capability::Adjust)]
        );
        assert_eq!(
            required_authority(TxType::Gameplay, Route::RecordedSlip, false),
            vec![]
        );
        // No type goes without an authority on any route but a recorded slip.
        for tx in TxType::ALL {
            for route in [Route::Direct, Route::Typed, Route::Campaign] {
                assert!(
                    !required_authority(tx, route, false).is_empty(),
                    "{tx:?} {route:?}"
                );
            }
        }
    }

    #[test]
    fn login_role_capabilities() {
        let caps = vec!["loyalty:accrue".to_string()];
        assert!(check_role_capability("app", false, &caps, Capability::Accrue).is_ok());
        let e = check_role_capability("app", false, &caps, Capability::Promote).unwrap_err();
        assert_eq!(e.to_string(), "role app lacks capability loyalty:promote");
        assert!(check_role_capability("postgres", true, &[], Capability::Promote).is_ok());
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
                "loyalty:recover",
                "loyalty:accrue"
            ]
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
