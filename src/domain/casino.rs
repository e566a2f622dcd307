//! Casinos (SPEC section 14): which casino a call acts for, and a casino's
//! own settings over the server's `loyalty.*` ones.
//!
//! A session is *bound* to a casino by its verified staff token's `casino`
//! claim or by `loyalty.session_casino_id` (a superuser-only setting; a
//! login role is bound with `ALTER ROLE … SET`).  A bound session acts for
//! its casino and may name no other; an unbound one (a group application,
//! the DBA) acts for the casino it names, else for the default casino.

use crate::domain::error::LoyaltyError;
use crate::domain::velocity::{Scope, VelocityKind};

/// The casino `CREATE EXTENSION` makes, where single-casino users live.
pub const DEFAULT_CASINO: &str = "00000000-0000-0000-0000-000000000000";

/// What a session says about its casino, as read from the token and the
/// setting (not yet checked).
#[derive(Debug, Clone, Copy, Default)]
pub struct Binding<'a> {
    /// The verified staff token's `casino` claim.
    pub token: Option<&'a str>,
    /// `loyalty.session_casino_id`.
    pub session: Option<&'a str>,
}

/// The casino a session is bound to, if any: the token's claim and the
/// session's binding must agree when both are present (a token issued for
/// another casino is 42501).
pub fn bound(binding: Binding<'_>) -> Result<Option<String>, LoyaltyError> {
    let session = match binding.session {
        Some(s) if !s.trim().is_empty() => Some(canonical(s).ok_or_else(|| {
            LoyaltyError::invalid_with(
                "loyalty.session_casino_id must be a casino id (a UUID)",
                vec![("loyalty.session_casino_id", s.to_string())],
            )
        })?),
        _ => None,
    };
    let token = match binding.token {
        Some(t) => Some(canonical(t).ok_or_else(|| LoyaltyError::PermissionDenied {
            message: "the staff token's casino claim is not a casino id".into(),
            context: vec![("token_casino_id", t.to_string())],
        })?),
        None => None,
    };
    match (token, session) {
        (Some(t), Some(s)) if t != s => Err(LoyaltyError::PermissionDenied {
            message: "the staff token is for another casino than the session is bound to".into(),
            context: vec![("token_casino_id", t), ("session_casino_id", s)],
        }),
        (Some(t), _) => Ok(Some(t)),
        (None, s) => Ok(s),
    }
}

/// The casino a call that names `named` may see: the named one (a bound
/// session may name only its own: 42501), else the bound one, else `None`
/// (an unbound session: every casino, for functions that span casinos).
pub fn scope(named: Option<&str>, bound: Option<&str>) -> Result<Option<String>, LoyaltyError> {
    let named = named.map(|n| canonical(n).unwrap_or_else(|| n.to_string()));
    match (named, bound) {
        (Some(n), Some(b)) if n != b => Err(LoyaltyError::PermissionDenied {
            message: "this session acts for another casino".into(),
            context: vec![("casino_id", n), ("session_casino_id", b.to_string())],
        }),
        (Some(n), _) => Ok(Some(n)),
        (None, b) => Ok(b.map(str::to_string)),
    }
}

/// The casino a call that names `named` acts for: its scope, else the
/// default casino.
pub fn acting(named: Option<&str>, bound: Option<&str>) -> Result<String, LoyaltyError> {
    Ok(scope(named, bound)?.unwrap_or_else(|| DEFAULT_CASINO.to_string()))
}

/// A node of a sharded deployment keeps only the casinos of its
/// `loyalty.hosted_casinos` list (comma-separated ids, any UUID spelling):
/// any other is not found here (P0002), so that no path can put a casino's
/// players on a second node.
pub fn hosted_here(casino: &str, hosted: &str) -> Result<(), LoyaltyError> {
    let wanted = canonical(casino);
    if hosted
        .split(',')
        .any(|h| canonical(h).is_some() && canonical(h) == wanted)
    {
        return Ok(());
    }
    Err(LoyaltyError::NotFound {
        message: "casino is not kept on this node".into(),
        context: vec![("casino_id", casino.to_string())],
    })
}

/// A UUID in canonical lowercase form, if `s` is one.
pub fn canonical(s: &str) -> Option<String> {
    let s = s.trim().to_ascii_lowercase();
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    let dashes_ok = s.len() == 36 && [8, 13, 18, 23].iter().all(|&i| s.as_bytes()[i] == b'-');
    let plain_ok = s.len() == 32;
    if hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()) && (dashes_ok || plain_ok) {
        Some(format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        ))
    } else {
        None
    }
}

/// One velocity limit's per-casino values; `None` follows the setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitOverride {
    pub count: Option<i64>,
    pub points: Option<i64>,
    pub window_s: Option<i64>,
}

/// A casino and the settings it sets for itself (`loyalty.casino`); every
/// `None` follows the `loyalty.*` setting of the same name.  A limit set
/// per casino can only tighten the server's (the admin role edits
/// `loyalty.casino`; only a superuser raises a limit, by the setting): the
/// lower count, the lower points, the longer window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Casino {
    pub id: String,
    pub name: String,
    pub gaming_day_start: Option<String>,
    pub gaming_day_timezone: Option<String>,
    pub max_manual_reward: Option<i64>,
    /// Indexed by `velocity_index`.
    pub velocity: [LimitOverride; 6],
    /// When its points expire (SPEC section 15).
    pub expiry: crate::domain::expiry::Policy,
    /// An outbox event for every balance change (SPEC 16), opt-in.
    pub balance_events: bool,
}

impl Casino {
    /// The casino's velocity limit: the server's, tightened by the casino.
    pub fn velocity_limit(
        &self,
        kind: VelocityKind,
        scope: Scope,
        server: crate::domain::velocity::Limit,
    ) -> crate::domain::velocity::Limit {
        let o = self.velocity[velocity_index(kind, scope)];
        crate::domain::velocity::Limit {
            max_count: o
                .count
                .map_or(server.max_count, |c| c.min(server.max_count)),
            max_points: o
                .points
                .map_or(server.max_points, |p| p.min(server.max_points)),
            window_us: o
                .window_s
                .map_or(server.window_us, |s| (s * 1_000_000).max(server.window_us)),
        }
    }

    /// The server's per-call bounds, `max_manual_reward` tightened by the
    /// casino.
    pub fn limits(&self, server: crate::domain::request::Limits) -> crate::domain::request::Limits {
        crate::domain::request::Limits {
            max_manual_reward: self
                .max_manual_reward
                .map_or(server.max_manual_reward, |m| {
                    m.min(server.max_manual_reward)
                }),
            ..server
        }
    }
}

/// Where a (kind, scope) limit sits in `Casino::velocity`: per kind, the
/// staff limit then the role limit (the order `casinos::ROW` reads the
/// `loyalty.casino` columns in).
pub fn velocity_index(kind: VelocityKind, scope: Scope) -> usize {
    let k = match kind {
        VelocityKind::ManualReward => 0,
        VelocityKind::Adjustment => 1,
        VelocityKind::Redemption => 2,
    };
    k * 2 + usize::from(scope == Scope::Role)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::velocity::Limit;

    const A: &str = "0c000000-0000-0000-0000-00000000000a";
    const B: &str = "0c000000-0000-0000-0000-00000000000b";

    #[test]
    fn unbound_sessions_act_for_what_they_name_else_the_default() {
        assert_eq!(acting(None, None).unwrap(), DEFAULT_CASINO);
        assert_eq!(acting(Some(A), None).unwrap(), A);
        assert_eq!(scope(None, None).unwrap(), None);
        assert_eq!(scope(Some(B), None).unwrap().as_deref(), Some(B));
    }

    #[test]
    fn a_bound_session_names_only_its_own_casino() {
        assert_eq!(acting(None, Some(A)).unwrap(), A);
        assert_eq!(acting(Some(A), Some(A)).unwrap(), A);
        // Case and dashes do not make another casino.
        assert_eq!(acting(Some(&A.to_uppercase()), Some(A)).unwrap(), A);
        let e = acting(Some(B), Some(A)).unwrap_err();
        assert_eq!(e.sqlstate(), "42501");
        assert!(e.context().iter().any(|(k, v)| *k == "casino_id" && v == B));
        assert_eq!(scope(Some(B), Some(A)).unwrap_err().sqlstate(), "42501");
    }

    #[test]
    fn token_and_session_binding_must_agree() {
        fn b(token: Option<&str>, session: Option<&str>) -> Result<Option<String>, LoyaltyError> {
            bound(Binding { token, session })
        }
        assert_eq!(b(None, None).unwrap(), None);
        assert_eq!(b(Some(A), None).unwrap().as_deref(), Some(A));
        assert_eq!(b(None, Some(A)).unwrap().as_deref(), Some(A));
        let upper = A.to_uppercase();
        assert_eq!(b(Some(A), Some(&upper)).unwrap().as_deref(), Some(A));
        assert_eq!(b(Some(A), Some(B)).unwrap_err().sqlstate(), "42501");
        assert_eq!(b(Some("lv"), None).unwrap_err().sqlstate(), "42501");
        assert_eq!(b(None, Some("lv")).unwrap_err().sqlstate(), "22023");
        // An empty setting is no binding (RESET of a placeholder).
        assert_eq!(b(None, Some("")).unwrap(), None);
    }

    #[test]
    fn canonical_uuids() {
        assert_eq!(canonical(&A.to_uppercase()).as_deref(), Some(A));
        assert_eq!(
            canonical("0c00000000000000000000000000000a").as_deref(),
            Some(A)
        );
        for bad in [
            "",
            "lv",
            "0c000000-0000-0000-0000-00000000000",
            "0c000000-0000-0000-0000-00000000000g",
            "0c00-0000000000-0000-0000-00000000000a",
        ] {
            assert_eq!(canonical(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_casino_overrides_only_what_it_sets() {
        let server = Limit {
            max_count: 20,
            max_points: 100_000,
            window_us: 3_600_000_000,
        };
        let mut c = Casino::default();
        assert_eq!(
            c.velocity_limit(VelocityKind::ManualReward, Scope::Staff, server),
            server
        );
        c.velocity[velocity_index(VelocityKind::ManualReward, Scope::Role)] = LimitOverride {
            count: Some(5),
            points: None,
            window_s: Some(60),
        };
        let role = c.velocity_limit(VelocityKind::ManualReward, Scope::Role, server);
        // The count tightens; a window shorter than the server's does not
        // loosen it.
        assert_eq!(
            (role.max_count, role.max_points, role.window_us),
            (5, 100_000, 3_600_000_000)
        );
        // The staff scope of the same kind is untouched.
        assert_eq!(
            c.velocity_limit(VelocityKind::ManualReward, Scope::Staff, server),
            server
        );
        let indexes: std::collections::BTreeSet<usize> = VelocityKind::ALL
            .iter()
            .flat_map(|k| [Scope::Staff, Scope::Role].map(|s| velocity_index(*k, s)))
            .collect();
        assert_eq!(indexes.len(), 6);
    }

    #[test]
    fn a_casino_cannot_loosen_the_servers_limits() {
        let server = Limit {
            max_count: 10,
            max_points: 50_000,
            window_us: 60_000_000,
        };
        let mut c = Casino::default();
        c.velocity[velocity_index(VelocityKind::Adjustment, Scope::Staff)] = LimitOverride {
            count: Some(2_000_000_000),
            points: Some(2_000_000_000),
            window_s: Some(1),
        };
        assert_eq!(
            c.velocity_limit(VelocityKind::Adjustment, Scope::Staff, server),
            server
        );
        let bounds = crate::domain::request::Limits {
            max_manual_reward: 10_000,
            max_gameplay_points: 100_000,
            max_promotion_points: 100_000,
        };
        c.max_manual_reward = Some(2_000_000_000);
        assert_eq!(c.limits(bounds).max_manual_reward, 10_000);
        c.max_manual_reward = Some(500);
        assert_eq!(c.limits(bounds).max_manual_reward, 500);
    }

    #[test]
    fn a_node_keeps_only_its_hosted_casinos() {
        let a = "c0ffee00-0000-0000-0000-00000000000b";
        assert!(
            hosted_here(a, "C0FFEE00000000000000-00000000000B").is_err(),
            "not a UUID spelling"
        );
        assert!(hosted_here(a, " C0FFEE00-0000-0000-0000-00000000000B , x").is_ok());
        assert!(hosted_here(a, "c0ffee0000000000000000000000000b").is_ok());
        let e = hosted_here(DEFAULT_CASINO, a).unwrap_err();
        assert_eq!(e.sqlstate(), "P0002");
        assert!(hosted_here(a, "").is_err());
    }
}
