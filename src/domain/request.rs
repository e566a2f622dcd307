//! A change request: its validation rules and its effect on an account.
//!
//! `ChangeRequest::new` is the one place that decides whether a request to
//! `loyalty.increment_player_loyalty` is well-formed for its transaction type
//! (SPEC section 5); `apply` is the one place that computes the balances,
//! lifetime points and tier a change produces.

use crate::domain::error::LoyaltyError;
use crate::domain::keys;
use crate::domain::policy::{Authority, Capability};
use crate::domain::text::{
    check_reason_substance, check_text, printable, MAX_KEY_CHARS, MAX_REASON_CHARS,
};
use crate::domain::tier::Ladder;
use crate::domain::velocity::VelocityKind;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxType {
    Gameplay,
    ManualBonus,
    Promotion,
    Redemption,
    Adjustment,
    Reversal,
    /// Points written off by `loyalty.expire_points` (SPEC section 15); no
    /// caller may ask for it (it is not in `ALL`).
    Expiration,
}

impl TxType {
    pub const ALL: [TxType; 6] = [
        TxType::Gameplay,
        TxType::ManualBonus,
        TxType::Promotion,
        TxType::Redemption,
        TxType::Adjustment,
        TxType::Reversal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TxType::Gameplay => "GAMEPLAY",
            TxType::ManualBonus => "MANUAL_BONUS",
            TxType::Promotion => "PROMOTION",
            TxType::Redemption => "REDEMPTION",
            TxType::Adjustment => "ADJUSTMENT",
            TxType::Reversal => "REVERSAL",
            TxType::Expiration => "EXPIRATION",
        }
    }

    pub fn parse(s: &str) -> Result<TxType, LoyaltyError> {
        TxType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                LoyaltyError::invalid_with(
                    format!("unknown transaction type \"{}\"", printable(s)),
                    vec![("allowed", TxType::ALL.map(TxType::as_str).join("|"))],
                )
            })
    }

    /// The sign a change of this type must have: `Some(true)` positive,
    /// `Some(false)` negative, `None` either.
    fn required_sign(self) -> Option<bool> {
        match self {
            TxType::Gameplay | TxType::ManualBonus | TxType::Promotion => Some(true),
            TxType::Redemption | TxType::Expiration => Some(false),
            TxType::Adjustment | TxType::Reversal => None,
        }
    }

    /// Types a staff member performs by hand: staff id and a real reason
    /// are required.
    pub fn is_manual(self) -> bool {
        matches!(
            self,
            TxType::ManualBonus | TxType::Adjustment | TxType::Reversal | TxType::Redemption
        )
    }

    /// The capability a staff member needs for this type, if any.  A
    /// promotion needs one only when a staff member is named (otherwise the
    /// calling system's EXECUTE grant is the authority).
    pub fn capability(self) -> Option<Capability> {
        match self {
            TxType::Gameplay | TxType::Expiration => None,
            TxType::ManualBonus => Some(Capability::Award),
            TxType::Promotion => Some(Capability::Promote),
            TxType::Redemption => Some(Capability::Redeem),
            TxType::Adjustment | TxType::Reversal => Some(Capability::Adjust),
        }
    }

    /// The velocity limit a change of this type counts against, if any.
    pub fn velocity_kind(self) -> Option<VelocityKind> {
        match self {
            TxType::ManualBonus => Some(VelocityKind::ManualReward),
            TxType::Adjustment => Some(VelocityKind::Adjustment),
            TxType::Redemption | TxType::Reversal => Some(VelocityKind::Redemption),
            TxType::Gameplay | TxType::Promotion | TxType::Expiration => None,
        }
    }

    /// Types bounded by `loyalty.max_manual_reward`.
    fn is_limited(self) -> bool {
        matches!(self, TxType::ManualBonus | TxType::Adjustment)
    }
}

/// How a change reaches the write path; with its type this decides the
/// authority it needs (SPEC section 5) and the bound on its points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Route {
    /// `increment_player_loyalty` called directly.
    #[default]
    Direct,
    /// `manual_reward`, `redeem_points`, `adjust_points`, `reverse_entry`.
    Typed,
    /// `apply_promotion`: a credit of a registered campaign.
    Campaign,
    /// The GAMEPLAY credit of a rating slip already recorded by
    /// `complete_rating_slip`, whose caller's authority was checked then
    /// (recovery replays it with no authority of its own).
    RecordedSlip,
    /// `capture_hold`: the REDEMPTION that charges a hold.  Its points were
    /// counted against the velocity limit when they were held, and its key
    /// is the hold's.
    Capture,
    /// `expire_points`: the EXPIRATION that writes off a player's expired
    /// lots; its key derives from them.
    Expiration,
}

impl Route {
    /// Whether a change of type `tx` on this route carries a key the
    /// extension derived (a slip's, a campaign credit's, a manual reward's,
    /// a reversal's) rather than one its caller chose.  Such a key found
    /// under a row of another type was squatted: a caller chose it on a
    /// caller-key path (`redeem_points`, `adjust_points`) to block this
    /// change (see `keys::displaced_key`).
    pub fn derives_key(self, tx: TxType) -> bool {
        match self {
            Route::Direct => false,
            Route::Typed => matches!(tx, TxType::ManualBonus | TxType::Reversal),
            Route::Campaign | Route::RecordedSlip | Route::Capture | Route::Expiration => true,
        }
    }

    /// Whether a change on this route counts against its velocity limit
    /// (a capture's points were counted by its hold).
    pub fn counts_velocity(self) -> bool {
        self != Route::Capture
    }
}

/// The per-call bounds a request is checked against (from settings).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// |points| of a manual reward or adjustment.
    pub max_manual_reward: i64,
    /// Points of one rating slip's gameplay credit.
    pub max_gameplay_points: i64,
    /// Points of one direct promotion (`increment_player_loyalty`).
    pub max_promotion_points: i64,
}

/// A validated request to change one player's points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequest {
    pub player_id: String,
    pub delta: i32,
    pub tx_type: TxType,
    pub idempotency_key: String,
    pub reason: Option<String>,
    pub staff_id: Option<String>,
    pub rating_slip_id: Option<String>,
    pub visit_id: Option<String>,
    /// For a REVERSAL: the ledger entry it cancels.
    pub reverses_ledger_id: Option<i64>,
    pub route: Route,
}

/// The raw arguments of `increment_player_loyalty`, ids already formatted.
#[derive(Debug, Clone, Default)]
pub struct RawRequest {
    pub player_id: Option<String>,
    pub delta: Option<i32>,
    pub tx_type: Option<String>,
    pub idempotency_key: Option<String>,
    pub reason: Option<String>,
    pub staff_id: Option<String>,
    pub rating_slip_id: Option<String>,
    pub visit_id: Option<String>,
    pub reverses_ledger_id: Option<i64>,
    pub route: Route,
}

impl ChangeRequest {
    /// Validates raw arguments; the first broken rule is the error.
    pub fn new(raw: RawRequest, limits: Limits) -> Result<ChangeRequest, LoyaltyError> {
        let player_id = raw
            .player_id
            .ok_or_else(|| LoyaltyError::invalid("p_player_id must not be null"))?;
        let named = raw
            .tx_type
            .as_deref()
            .ok_or_else(|| LoyaltyError::invalid("p_transaction_type must not be null"))?;
        // EXPIRATION is written by expire_points alone; to anyone else it
        // is an unknown type.
        let tx_type = match (named, raw.route) {
            ("EXPIRATION", Route::Expiration) => TxType::Expiration,
            _ => TxType::parse(named)?,
        };
        let delta = match raw.delta {
            None => return Err(LoyaltyError::invalid("points must not be null")),
            Some(0) => return Err(LoyaltyError::invalid("points must not be zero")),
            Some(d) => d,
        };
        let idempotency_key = check_key(raw.idempotency_key)?;
        let reason = check_reason(raw.reason)?;

        match tx_type.required_sign() {
            Some(true) if delta < 0 => {
                return Err(LoyaltyError::invalid_with(
                    format!("{} points must be positive", tx_type.as_str()),
                    vec![("points", delta.to_string())],
                ))
            }
            Some(false) if delta > 0 => {
                return Err(LoyaltyError::invalid_with(
                    format!("{} points must be negative", tx_type.as_str()),
                    vec![("points", delta.to_string())],
                ))
            }
            _ => {}
        }
        if tx_type == TxType::Gameplay {
            // One accrual per rating slip whatever the path: its credit must
            // carry the slip's own key, which the ledger holds once.
            let slip = raw
                .rating_slip_id
                .as_deref()
                .ok_or_else(|| LoyaltyError::invalid("GAMEPLAY requires p_rating_slip_id"))?;
            if idempotency_key != keys::gameplay_key(slip) {
                return Err(LoyaltyError::invalid_with(
                    "a GAMEPLAY change must use its rating slip's key, loyalty.gameplay_key(p_rating_slip_id)",
                    vec![("rating_slip_id", slip.to_string())],
                ));
            }
            check_limit("gameplay", delta, limits.max_gameplay_points)?;
        }
        if tx_type == TxType::Promotion && raw.route == Route::Direct {
            check_limit("promotion", delta, limits.max_promotion_points)?;
        }
        if (tx_type == TxType::Reversal) != raw.reverses_ledger_id.is_some() {
            return Err(LoyaltyError::invalid(
                "REVERSAL entries are made with loyalty.reverse_entry, which names the entry they cancel",
            ));
        }
        if tx_type.is_manual() {
            if raw.staff_id.is_none() {
                return Err(LoyaltyError::invalid(format!(
                    "{} requires p_staff_id",
                    tx_type.as_str()
                )));
            }
            check_reason_substance(reason.as_deref())?;
        }
        if tx_type.is_limited() {
            check_limit("manual reward", delta, limits.max_manual_reward)?;
        }

        Ok(ChangeRequest {
            player_id,
            delta,
            tx_type,
            idempotency_key,
            reason,
            staff_id: raw.staff_id,
            rating_slip_id: raw.rating_slip_id,
            visit_id: raw.visit_id,
            reverses_ledger_id: raw.reverses_ledger_id,
            route: raw.route,
        })
    }

    /// The authority this change needs (SPEC section 5).
    pub fn authorities(&self) -> Vec<Authority> {
        crate::domain::policy::required_authority(self.tx_type, self.route, self.staff_id.is_some())
    }

    /// SHA-256 of everything that makes two requests "the same": a replayed
    /// key must match it, or the call is an idempotency conflict.  A
    /// reversal is the same request whoever asks and why: reversing an
    /// entry twice is a replay.
    pub fn fingerprint(&self) -> String {
        let opt = |v: &Option<String>| v.clone().map(Value::from).unwrap_or(Value::Null);
        let mut m = Map::new();
        m.insert("player".into(), Value::from(self.player_id.clone()));
        m.insert("points".into(), Value::from(self.delta));
        m.insert("type".into(), Value::from(self.tx_type.as_str()));
        if let Some(id) = self.reverses_ledger_id {
            m.insert("reverses".into(), Value::from(id));
        } else {
            m.insert("reason".into(), opt(&self.reason));
            m.insert("staff".into(), opt(&self.staff_id));
        }
        m.insert("slip".into(), opt(&self.rating_slip_id));
        m.insert("visit".into(), opt(&self.visit_id));
        keys::idempotency_key(&m)
    }
}

/// |points| within a per-call bound (22003 otherwise).
pub fn check_limit(what: &'static str, points: i32, limit: i64) -> Result<(), LoyaltyError> {
    let magnitude = (points as i64).abs();
    if magnitude > limit {
        return Err(LoyaltyError::LimitExceeded {
            what,
            points: magnitude,
            limit,
        });
    }
    Ok(())
}

fn check_key(key: Option<String>) -> Result<String, LoyaltyError> {
    let key = key.ok_or_else(|| LoyaltyError::invalid("p_idempotency_key is required"))?;
    if key.trim().is_empty() {
        return Err(LoyaltyError::invalid("p_idempotency_key must not be blank"));
    }
    check_text("p_idempotency_key", &key, MAX_KEY_CHARS)?;
    Ok(key)
}

fn check_reason(reason: Option<String>) -> Result<Option<String>, LoyaltyError> {
    if let Some(r) = &reason {
        check_text("p_reason", r, MAX_REASON_CHARS)?;
    }
    Ok(reason)
}

/// A player's aggregate as read under the row lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub balance: i64,
    pub lifetime_points: i64,
    pub tier: String,
    /// Points reserved by active holds: no debit may take the balance
    /// below them (SPEC section 15).
    pub held: i64,
    /// Points in lots that have expired but are not yet written off: part
    /// of the balance, no longer spendable (an EXPIRATION sets it to 0).
    pub expired: i64,
}

impl Account {
    /// What a debit may take: the balance less the points held and the
    /// points expired.
    pub fn available(&self) -> i64 {
        self.balance - self.held - self.expired
    }
}

/// What one change does to an account: the audit columns of its ledger row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub balance_before: i64,
    pub balance_after: i64,
    pub lifetime_after: i64,
    pub tier_before: String,
    pub tier_after: String,
    pub progress_after: i32,
}

/// Applies a change: balance never below zero, lifetime counts only gains,
/// tier and progress follow lifetime points.
pub fn apply(account: &Account, delta: i32, ladder: &Ladder) -> Result<Applied, LoyaltyError> {
    let delta = delta as i64;
    let balance_after = account
        .balance
        .checked_add(delta)
        .ok_or_else(|| LoyaltyError::invalid("balance would overflow"))?;
    if delta < 0 && balance_after < account.held + account.expired {
        return Err(LoyaltyError::InsufficientBalance {
            balance: account.available(),
            held: account.held,
            expired: account.expired,
            requested: -delta,
        });
    }
    let lifetime_after = if delta > 0 {
        account
            .lifetime_points
            .checked_add(delta)
            .ok_or_else(|| LoyaltyError::invalid("lifetime points would overflow"))?
    } else {
        account.lifetime_points
    };
    let standing = ladder.standing(lifetime_after);
    Ok(Applied {
        balance_before: account.balance,
        balance_after,
        lifetime_after,
        tier_before: account.tier.clone(),
        tier_after: standing.tier,
        progress_after: standing.progress,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: Limits = Limits {
        max_manual_reward: 10_000,
        max_gameplay_points: 100_000,
        max_promotion_points: 100_000,
    };

    fn raw(tx: &str, delta: i32) -> RawRequest {
        RawRequest {
            player_id: Some("p1".into()),
            delta: Some(delta),
            tx_type: Some(tx.into()),
            idempotency_key: Some(if tx == "GAMEPLAY" {
                keys::gameplay_key("slip")
            } else {
                "k1".into()
            }),
            reason: Some("birthday bonus for a regular".into()),
            staff_id: Some("s1".into()),
            rating_slip_id: Some("slip".into()),
            visit_id: None,
            reverses_ledger_id: (tx == "REVERSAL").then_some(42),
            route: Route::Direct,
        }
    }

    fn err_state(r: RawRequest) -> &'static str {
        ChangeRequest::new(r, LIMITS).unwrap_err().sqlstate()
    }

    #[test]
    fn accepts_a_well_formed_request_of_every_type() {
        for (t, d) in [
            ("GAMEPLAY", 5),
            ("MANUAL_BONUS", 5),
            ("PROMOTION", 5),
            ("REDEMPTION", -5),
            ("ADJUSTMENT", -5),
            ("ADJUSTMENT", 5),
            ("REVERSAL", -5),
        ] {
            assert!(ChangeRequest::new(raw(t, d), LIMITS).is_ok(), "{t} {d}");
        }
    }

    #[test]
    fn refuses_nulls_zero_and_unknown_types() {
        let mut r = raw("GAMEPLAY", 5);
        r.player_id = None;
        assert_eq!(err_state(r), "22023");
        assert_eq!(err_state(raw("GAMEPLAY", 0)), "22023");
        assert_eq!(err_state(raw("BONUS", 5)), "22023");
        assert_eq!(err_state(raw("gameplay", 5)), "22023");
        let mut r = raw("GAMEPLAY", 5);
        r.idempotency_key = Some("   ".into());
        assert_eq!(err_state(r), "22023");
        let mut r = raw("GAMEPLAY", 5);
        r.idempotency_key = None;
        assert_eq!(err_state(r), "22023");
        let mut r = raw("GAMEPLAY", 5);
        r.rating_slip_id = None;
        assert_eq!(err_state(r), "22023");
    }

    #[test]
    fn signs_follow_the_type() {
        assert_eq!(err_state(raw("GAMEPLAY", -5)), "22023");
        assert_eq!(err_state(raw("REDEMPTION", 5)), "22023");
    }

    #[test]
    fn manual_limit_is_inclusive() {
        assert!(ChangeRequest::new(raw("MANUAL_BONUS", 10_000), LIMITS).is_ok());
        assert!(ChangeRequest::new(raw("ADJUSTMENT", -10_000), LIMITS).is_ok());
        assert_eq!(err_state(raw("MANUAL_BONUS", 10_001)), "22003");
        assert_eq!(err_state(raw("ADJUSTMENT", -10_001)), "22003");
        // promotions are not manual rewards
        assert!(ChangeRequest::new(raw("PROMOTION", 50_000), LIMITS).is_ok());
        let e = ChangeRequest::new(raw("MANUAL_BONUS", 10_001), LIMITS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "points 10001 exceed the manual reward limit of 10000"
        );
    }

    #[test]
    fn manual_changes_need_a_real_reason_and_staff() {
        let mut r = raw("MANUAL_BONUS", 5);
        r.reason = Some("  a b c d e f g h i  ".into()); // 9 non-blank
        assert_eq!(err_state(r), "22023");
        let mut r = raw("MANUAL_BONUS", 5);
        r.reason = Some("a b c d e f g h i j".into()); // 10 non-blank
        assert!(ChangeRequest::new(r, LIMITS).is_ok());
        let mut r = raw("ADJUSTMENT", 5);
        r.staff_id = None;
        assert_eq!(err_state(r), "22023");
    }

    #[test]
    fn text_limits() {
        let mut r = raw("PROMOTION", 5);
        r.reason = Some("x".repeat(MAX_REASON_CHARS + 1));
        assert_eq!(err_state(r), "22023");
        let mut r = raw("PROMOTION", 5);
        r.reason = Some("line one\u{0}line two".into());
        assert_eq!(err_state(r), "22023");
        let mut r = raw("PROMOTION", 5);
        r.idempotency_key = Some("k".repeat(MAX_KEY_CHARS + 1));
        assert_eq!(err_state(r), "22023");
    }

    #[test]
    fn a_gameplay_credit_uses_its_slips_key() {
        let mut r = raw("GAMEPLAY", 5);
        r.idempotency_key = Some("another-key-for-the-same-slip".into());
        assert_eq!(err_state(r), "22023");
        let mut r = raw("GAMEPLAY", 5);
        r.rating_slip_id = Some("other-slip".into());
        assert_eq!(err_state(r), "22023");
        assert!(ChangeRequest::new(raw("GAMEPLAY", 5), LIMITS).is_ok());
    }

    #[test]
    fn credits_are_bounded_per_call() {
        assert!(ChangeRequest::new(raw("GAMEPLAY", 100_000), LIMITS).is_ok());
        assert_eq!(err_state(raw("GAMEPLAY", 100_001)), "22003");
        assert!(ChangeRequest::new(raw("PROMOTION", 100_000), LIMITS).is_ok());
        let e = ChangeRequest::new(raw("PROMOTION", 100_001), LIMITS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "points 100001 exceed the promotion limit of 100000"
        );
        // A campaign credit is bounded by its campaign, not by the setting.
        let mut r = raw("PROMOTION", 100_001);
        r.route = Route::Campaign;
        assert!(ChangeRequest::new(r, LIMITS).is_ok());
    }

    #[test]
    fn reversals_name_their_entry() {
        let mut r = raw("REVERSAL", -5);
        r.reverses_ledger_id = None;
        assert_eq!(err_state(r), "22023");
        let mut r = raw("ADJUSTMENT", -5);
        r.reverses_ledger_id = Some(3);
        assert_eq!(err_state(r), "22023");
    }

    #[test]
    fn a_reversal_fingerprint_ignores_who_and_why() {
        let a = ChangeRequest::new(raw("REVERSAL", -5), LIMITS).unwrap();
        let mut b = a.clone();
        b.staff_id = Some("someone else".into());
        b.reason = Some("another reason entirely".into());
        assert_eq!(a.fingerprint(), b.fingerprint());
        let mut c = a.clone();
        c.reverses_ledger_id = Some(43);
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn capabilities_per_type() {
        assert_eq!(TxType::ManualBonus.capability(), Some(Capability::Award));
        assert_eq!(TxType::Redemption.capability(), Some(Capability::Redeem));
        assert_eq!(TxType::Adjustment.capability(), Some(Capability::Adjust));
        assert_eq!(TxType::Reversal.capability(), Some(Capability::Adjust));
        assert_eq!(TxType::Promotion.capability(), Some(Capability::Promote));
        assert_eq!(TxType::Gameplay.capability(), None);
        assert_eq!(
            TxType::ManualBonus.velocity_kind(),
            Some(VelocityKind::ManualReward)
        );
        assert_eq!(
            TxType::Adjustment.velocity_kind(),
            Some(VelocityKind::Adjustment)
        );
        assert_eq!(
            TxType::Reversal.velocity_kind(),
            Some(VelocityKind::Redemption)
        );
        assert_eq!(
            TxType::Redemption.velocity_kind(),
            Some(VelocityKind::Redemption)
        );
        assert_eq!(TxType::Gameplay.velocity_kind(), None);
        assert_eq!(TxType::Promotion.velocity_kind(), None);
    }

    #[test]
    fn fingerprint_separates_requests() {
        let a = ChangeRequest::new(raw("PROMOTION", 5), LIMITS).unwrap();
        let mut b = a.clone();
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.delta = 6;
        assert_ne!(a.fingerprint(), b.fingerprint());
        let mut c = a.clone();
        c.player_id = "p2".into();
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn only_expire_points_writes_an_expiration() {
        let mut r = raw("EXPIRATION", -5);
        assert_eq!(
            ChangeRequest::new(r.clone(), LIMITS)
                .unwrap_err()
                .sqlstate(),
            "22023"
        );
        r.route = Route::Expiration;
        let req = ChangeRequest::new(r.clone(), LIMITS).unwrap();
        assert_eq!(req.tx_type, TxType::Expiration);
        r.delta = Some(5);
        assert_eq!(
            ChangeRequest::new(r, LIMITS).unwrap_err().sqlstate(),
            "22023"
        );
        assert!(!TxType::ALL.contains(&TxType::Expiration));
    }

    #[test]
    fn no_debit_takes_expired_points() {
        let l = Ladder::default_ladder();
        let acct = Account {
            balance: 700,
            lifetime_points: 700,
            tier: "BRONZE".into(),
            held: 100,
            expired: 500,
        };
        assert_eq!(acct.available(), 100);
        let e = apply(&acct, -101, &l).unwrap_err();
        assert_eq!(e.sqlstate(), "23514");
        assert!(e
            .context()
            .iter()
            .any(|(k, v)| *k == "expired" && v == "500"));
        // The EXPIRATION itself counts them as its own (the shell sets
        // expired to 0 for it): it may take all but the held points.
        let write_off = Account { expired: 0, ..acct };
        assert_eq!(apply(&write_off, -600, &l).unwrap().balance_after, 100);
    }

    #[test]
    fn no_debit_takes_the_points_held() {
        let l = Ladder::default_ladder();
        let acct = Account {
            balance: 900,
            lifetime_points: 900,
            tier: "BRONZE".into(),
            held: 600,
            expired: 0,
        };
        assert_eq!(acct.available(), 300);
        assert_eq!(apply(&acct, -300, &l).unwrap().balance_after, 600);
        assert_eq!(
            apply(&acct, -301, &l).unwrap_err(),
            LoyaltyError::InsufficientBalance {
                balance: 300,
                held: 600,
                expired: 0,
                requested: 301
            }
        );
        // Credits are never refused for holds.
        assert_eq!(apply(&acct, 5, &l).unwrap().balance_after, 905);
    }

    #[test]
    fn apply_moves_balance_lifetime_and_tier() {
        let l = Ladder::default_ladder();
        let acct = Account {
            balance: 900,
            lifetime_points: 900,
            tier: "BRONZE".into(),
            held: 0,
            expired: 0,
        };
        let up = apply(&acct, 150, &l).unwrap();
        assert_eq!(
            (up.balance_before, up.balance_after, up.lifetime_after),
            (900, 1050, 1050)
        );
        assert_eq!(
            (up.tier_before.as_str(), up.tier_after.as_str()),
            ("BRONZE", "SILVER")
        );
        assert_eq!(up.progress_after, 1); // 50 of 4000
        let spend = apply(&acct, -900, &l).unwrap();
        assert_eq!((spend.balance_after, spend.lifetime_after), (0, 900));
        assert_eq!(
            apply(&acct, -901, &l).unwrap_err(),
            LoyaltyError::InsufficientBalance {
                balance: 900,
                held: 0,
                expired: 0,
                requested: 901
            }
        );
    }

    proptest! {
        #[test]
        fn spending_never_demotes(balance in 0i64..50_000, lifetime in 0i64..50_000, spend in 1i32..50_000) {
            let l = Ladder::default_ladder();
            let tier = l.standing(lifetime).tier;
            let acct = Account { balance, lifetime_points: lifetime, tier: tier.clone(), held: 0, expired: 0 };
            match apply(&acct, -spend, &l) {
                Ok(a) => {
                    prop_assert_eq!(a.tier_after, tier);
                    prop_assert_eq!(a.lifetime_after, lifetime);
                    prop_assert_eq!(a.balance_after, balance - spend as i64);
                }
                Err(e) => prop_assert!(balance < spend as i64, "{e:?}"),
            }
        }

        #[test]
        fn balance_arithmetic_holds(balance in 0i64..1_000_000, delta in -1_000_000i32..1_000_000) {
            prop_assume!(delta != 0);
            let l = Ladder::default_ladder();
            let acct = Account { balance, lifetime_points: balance, tier: "BRONZE".into(), held: 0, expired: 0 };
            if let Ok(a) = apply(&acct, delta, &l) {
                prop_assert_eq!(a.balance_after, a.balance_before + delta as i64);
                prop_assert!(a.balance_after >= 0);
                prop_assert!(a.lifetime_after >= acct.lifetime_points);
            }
        }
    }
}
