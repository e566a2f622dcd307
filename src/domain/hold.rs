//! Holds (SPEC section 15): points reserved now and charged later.  A hold
//! is ACTIVE until it is captured (charged, all or part, as one
//! REDEMPTION), released, or expired; from any of those it never moves
//! again.  An ACTIVE hold past its expiry is expired, whatever its status
//! column still says: it can be neither captured nor released.

use crate::domain::error::LoyaltyError;

/// A hold's state as stored in `loyalty.point_hold.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldStatus {
    Active,
    Captured,
    Released,
    Expired,
}

impl HoldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Active => "ACTIVE",
            HoldStatus::Captured => "CAPTURED",
            HoldStatus::Released => "RELEASED",
            HoldStatus::Expired => "EXPIRED",
        }
    }

    pub fn parse(s: &str) -> Option<HoldStatus> {
        [
            HoldStatus::Active,
            HoldStatus::Captured,
            HoldStatus::Released,
            HoldStatus::Expired,
        ]
        .into_iter()
        .find(|h| h.as_str() == s)
    }
}

/// A stored hold, as far as its rules need it (times in microseconds since
/// 2000, PostgreSQL's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: i64,
    pub points: i32,
    pub status: HoldStatus,
    pub expires_at: i64,
}

impl Hold {
    /// Its state at `now`: an ACTIVE hold past its expiry is expired.
    pub fn status_at(&self, now: i64) -> HoldStatus {
        if self.status == HoldStatus::Active && self.expires_at <= now {
            HoldStatus::Expired
        } else {
            self.status
        }
    }

    /// The points a capture of `requested` (all when `None`) charges: at
    /// least 1, at most what is held, and only from an ACTIVE hold (55000
    /// otherwise, naming its state).
    pub fn capture(&self, requested: Option<i32>, now: i64) -> Result<i32, LoyaltyError> {
        self.must_be_active(now, "captured")?;
        let points = requested.unwrap_or(self.points);
        if points < 1 || points > self.points {
            return Err(LoyaltyError::invalid_with(
                format!(
                    "a capture must charge between 1 and the {} points held",
                    self.points
                ),
                vec![
                    ("hold_id", self.id.to_string()),
                    ("points", points.to_string()),
                    ("held", self.points.to_string()),
                ],
            ));
        }
        Ok(points)
    }

    /// A release: only of an ACTIVE hold (55000 otherwise).
    pub fn release(&self, now: i64) -> Result<(), LoyaltyError> {
        self.must_be_active(now, "released")
    }

    fn must_be_active(&self, now: i64, verb: &str) -> Result<(), LoyaltyError> {
        match self.status_at(now) {
            HoldStatus::Active => Ok(()),
            other => Err(LoyaltyError::InvalidState {
                message: format!(
                    "hold {} is {} and cannot be {verb}",
                    self.id,
                    other.as_str()
                ),
                context: vec![
                    ("hold_id", self.id.to_string()),
                    ("status", other.as_str().to_string()),
                ],
            }),
        }
    }
}

/// The expiry of a new hold: the one asked for, which must be in the
/// future, else `default_s` seconds from now.
pub fn expiry(requested: Option<i64>, now: i64, default_s: i64) -> Result<i64, LoyaltyError> {
    match requested {
        Some(at) if at <= now => Err(LoyaltyError::invalid("p_expires_at must be in the future")),
        Some(at) => Ok(at),
        None => Ok(now + default_s * 1_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(status: HoldStatus) -> Hold {
        Hold {
            id: 7,
            points: 500,
            status,
            expires_at: 1_000,
        }
    }

    #[test]
    fn an_active_hold_is_captured_in_whole_or_in_part() {
        let h = hold(HoldStatus::Active);
        assert_eq!(h.capture(None, 999), Ok(500));
        assert_eq!(h.capture(Some(120), 999), Ok(120));
        for bad in [0, -5, 501] {
            assert_eq!(h.capture(Some(bad), 999).unwrap_err().sqlstate(), "22023");
        }
        assert_eq!(h.release(999), Ok(()));
    }

    #[test]
    fn a_closed_or_expired_hold_never_moves_again() {
        for s in [
            HoldStatus::Captured,
            HoldStatus::Released,
            HoldStatus::Expired,
        ] {
            let h = hold(s);
            assert_eq!(h.capture(None, 0).unwrap_err().sqlstate(), "55000");
            assert_eq!(h.release(0).unwrap_err().sqlstate(), "55000");
        }
        // Past its expiry an ACTIVE hold is expired: not even a capture of
        // less than held.
        let h = hold(HoldStatus::Active);
        assert_eq!(h.status_at(1_000), HoldStatus::Expired);
        let e = h.capture(Some(1), 1_000).unwrap_err();
        assert_eq!(e.sqlstate(), "55000");
        assert!(e.to_string().contains("EXPIRED"));
        assert_eq!(h.release(5_000).unwrap_err().sqlstate(), "55000");
    }

    #[test]
    fn a_new_holds_expiry() {
        assert_eq!(expiry(None, 100, 60), Ok(100 + 60_000_000));
        assert_eq!(expiry(Some(200), 100, 60), Ok(200));
        assert_eq!(expiry(Some(100), 100, 60).unwrap_err().sqlstate(), "22023");
        for s in ["ACTIVE", "CAPTURED", "RELEASED", "EXPIRED"] {
            assert_eq!(HoldStatus::parse(s).map(HoldStatus::as_str), Some(s));
        }
    }
}
