//! Expiry of points (SPEC section 15): a casino's policy, the lots credits
//! make, which lots a debit consumes, which lots have expired, and how a
//! player's lots are brought back in line with the balance.
//!
//! Lots are kept only where the casino's policy is not `none`.  A `fixed`
//! lot expires a term after it was earned (`expires_at`); under
//! `inactivity` every lot of a player expires together, a term after the
//! player's last change (`deadline`).  A debit consumes the soonest-expiring
//! lots first and never an expired one; only an EXPIRATION takes expired
//! lots.  Times are microseconds since 2000 (PostgreSQL's clock).

use crate::domain::error::LoyaltyError;

/// A casino's expiry policy (`loyalty.casino.expiry_policy`, with
/// `expiry_months`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Points never expire, and no lots are kept.
    #[default]
    None,
    /// A lot expires `months` after it was earned.
    Fixed { months: i32 },
    /// All of a player's lots expire `months` after the player's last change.
    Inactivity { months: i32 },
}

impl Policy {
    /// From the casino's columns (`none` when the policy is unknown or its
    /// months are missing, which the table's CHECKs prevent).
    pub fn parse(policy: &str, months: Option<i64>) -> Policy {
        match (policy, months) {
            ("fixed", Some(m)) => Policy::Fixed { months: m as i32 },
            ("inactivity", Some(m)) => Policy::Inactivity { months: m as i32 },
            _ => Policy::None,
        }
    }

    pub fn keeps_lots(self) -> bool {
        self != Policy::None
    }
}

/// An open lot: points of one credit not yet spent or expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    pub id: i64,
    pub remaining: i64,
    /// `fixed`: when it expires; `inactivity`: `None`.
    pub expires_at: Option<i64>,
}

/// A player's open lots and, under `inactivity`, when they all expire.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lots {
    pub lots: Vec<Lot>,
    pub deadline: Option<i64>,
}

impl Lots {
    fn expired_at(&self, lot: &Lot, at: i64) -> bool {
        match (lot.expires_at, self.deadline) {
            (Some(e), _) => e <= at,
            (None, Some(d)) => d <= at,
            (None, None) => false,
        }
    }

    /// The lots expired at `at`, with their remaining points, soonest first.
    pub fn expired(&self, at: i64) -> Vec<(i64, i64)> {
        let mut out: Vec<&Lot> = self
            .lots
            .iter()
            .filter(|l| l.remaining > 0 && self.expired_at(l, at))
            .collect();
        out.sort_by_key(|l| (l.expires_at, l.id));
        out.into_iter().map(|l| (l.id, l.remaining)).collect()
    }

    /// Points in lots expired at `at`: part of the balance until an
    /// EXPIRATION writes them off, but no longer spendable.
    pub fn expired_points(&self, at: i64) -> i64 {
        self.expired(at).iter().map(|(_, p)| p).sum()
    }

    /// What a debit of `points` at `at` consumes: the soonest-expiring
    /// unexpired lots first (oldest first among equals).  An error when the
    /// unexpired lots do not cover it (the balance check refuses such a
    /// debit first; this is the lots' own guard).
    pub fn consume(&self, points: i64, at: i64) -> Result<Vec<(i64, i64)>, LoyaltyError> {
        let mut open: Vec<&Lot> = self
            .lots
            .iter()
            .filter(|l| l.remaining > 0 && !self.expired_at(l, at))
            .collect();
        // Never-expiring (inactivity) lots sort after dated ones.
        open.sort_by_key(|l| (l.expires_at.is_none(), l.expires_at, l.id));
        take(open.into_iter().map(|l| (l.id, l.remaining)), points).ok_or_else(|| {
            LoyaltyError::internal(format!(
                "the player's unexpired lots do not cover a debit of {points}"
            ))
        })
    }

    /// What the capture of a hold of `reserved` points, charging `points`
    /// at `at`, consumes: first the expired lots (up to what the hold
    /// reserved: the points an expiry spared because the hold held them),
    /// then unexpired lots as any debit.
    pub fn consume_capture(
        &self,
        points: i64,
        reserved: i64,
        at: i64,
    ) -> Result<Vec<(i64, i64)>, LoyaltyError> {
        let from_expired = points.min(reserved).min(self.expired_points(at));
        let mut taken = take(self.expired(at).into_iter(), from_expired).unwrap_or_default();
        if points > from_expired {
            taken.extend(self.consume(points - from_expired, at)?);
        }
        Ok(taken)
    }

    /// How the lots are brought in line with `balance`: an opening lot for
    /// points the lots do not hold (balances from before the policy, or
    /// credits made while it was `none`), or the excess taken from the
    /// soonest-expiring lots (debits made while it was `none`).
    pub fn heal(&self, balance: i64) -> Heal {
        let held: i64 = self.lots.iter().map(|l| l.remaining).sum();
        if held < balance {
            return Heal::Open(balance - held);
        }
        if held > balance {
            let mut open: Vec<&Lot> = self.lots.iter().filter(|l| l.remaining > 0).collect();
            open.sort_by_key(|l| (l.expires_at.is_none(), l.expires_at, l.id));
            let taken = take(
                open.into_iter().map(|l| (l.id, l.remaining)),
                held - balance,
            )
            .unwrap_or_default();
            return Heal::Shrink(taken);
        }
        Heal::InLine
    }
}

/// What `Lots::heal` says to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heal {
    InLine,
    Open(i64),
    Shrink(Vec<(i64, i64)>),
}

/// Takes `points` from `(lot, remaining)` in order; `None` if they do not
/// cover it.
fn take(lots: impl Iterator<Item = (i64, i64)>, points: i64) -> Option<Vec<(i64, i64)>> {
    let mut left = points;
    let mut taken = Vec::new();
    for (id, remaining) in lots {
        if left == 0 {
            break;
        }
        let t = remaining.min(left);
        taken.push((id, t));
        left -= t;
    }
    (left == 0).then_some(taken)
}

/// The idempotency key of an EXPIRATION: the player and the lots it writes
/// off, so a second run over the same lots is a replay.
pub fn expiration_key(player: &str, lots: &[(i64, i64)]) -> String {
    let ids: Vec<String> = lots.iter().map(|(id, p)| format!("{id}:{p}")).collect();
    crate::domain::keys::sha256_hex(&format!("expiration|{player}|{}", ids.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lot(id: i64, remaining: i64, expires_at: Option<i64>) -> Lot {
        Lot {
            id,
            remaining,
            expires_at,
        }
    }

    #[test]
    fn policies() {
        assert_eq!(Policy::parse("none", None), Policy::None);
        assert_eq!(
            Policy::parse("fixed", Some(12)),
            Policy::Fixed { months: 12 }
        );
        assert_eq!(
            Policy::parse("inactivity", Some(18)),
            Policy::Inactivity { months: 18 }
        );
        assert_eq!(Policy::parse("fixed", None), Policy::None);
        assert!(!Policy::None.keeps_lots());
    }

    #[test]
    fn a_debit_takes_the_soonest_expiring_unexpired_lots_first() {
        let l = Lots {
            lots: vec![
                lot(1, 100, Some(300)),
                lot(2, 50, Some(100)),
                lot(3, 70, Some(50)),
            ],
            deadline: None,
        };
        // At 60, lot 3 has expired: lot 2 first, then lot 1.
        assert_eq!(l.consume(120, 60), Ok(vec![(2, 50), (1, 70)]));
        assert_eq!(l.expired(60), vec![(3, 70)]);
        assert_eq!(l.expired_points(60), 70);
        // 151 is more than the unexpired lots hold.
        assert_eq!(l.consume(151, 60).unwrap_err().sqlstate(), "XX000");
        // Before anything expired, the expiring-soonest go first.
        assert_eq!(l.consume(80, 0), Ok(vec![(3, 70), (2, 10)]));
    }

    #[test]
    fn under_inactivity_everything_expires_at_the_deadline() {
        let l = Lots {
            lots: vec![lot(1, 100, None), lot(2, 50, None)],
            deadline: Some(1_000),
        };
        assert_eq!(l.consume(120, 999), Ok(vec![(1, 100), (2, 20)]));
        assert_eq!(l.expired(999), vec![]);
        assert_eq!(l.expired(1_000), vec![(1, 100), (2, 50)]);
        assert!(l.consume(1, 1_000).is_err());
    }

    #[test]
    fn a_capture_takes_the_expired_points_its_hold_kept() {
        // 60 points of an expired lot were spared by the expiry because a
        // hold of 60 held them; a newer lot holds 50.
        let l = Lots {
            lots: vec![lot(1, 60, Some(100)), lot(2, 50, Some(900))],
            deadline: None,
        };
        assert_eq!(l.consume_capture(60, 60, 500), Ok(vec![(1, 60)]));
        // Charging part of the hold takes only expired points.
        assert_eq!(l.consume_capture(25, 60, 500), Ok(vec![(1, 25)]));
        // Any other debit never touches the expired lot.
        assert_eq!(l.consume(50, 500), Ok(vec![(2, 50)]));
        // A hold of less than the expired points: only that much of them.
        assert_eq!(l.consume_capture(30, 20, 500), Ok(vec![(1, 20), (2, 10)]));
    }

    #[test]
    fn healing_the_lots_to_the_balance() {
        let l = Lots {
            lots: vec![lot(1, 100, Some(300)), lot(2, 50, Some(100))],
            deadline: None,
        };
        assert_eq!(l.heal(150), Heal::InLine);
        assert_eq!(l.heal(400), Heal::Open(250));
        assert_eq!(l.heal(80), Heal::Shrink(vec![(2, 50), (1, 20)]));
        assert_eq!(Lots::default().heal(10), Heal::Open(10));
    }

    #[test]
    fn an_expirations_key_names_its_lots() {
        let a = expiration_key("p", &[(1, 10), (2, 5)]);
        assert_eq!(a, expiration_key("p", &[(1, 10), (2, 5)]));
        assert_ne!(a, expiration_key("p", &[(1, 10)]));
        assert_ne!(a, expiration_key("q", &[(1, 10), (2, 5)]));
    }
}
