//! A registered campaign's admission rule (SPEC section 10): whether one
//! more credit of it may be made now.

use crate::domain::error::LoyaltyError;

/// A campaign as its row stands (times in microseconds on PostgreSQL's
/// clock, as `velocity` counts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    pub reward_id: String,
    pub points_per_credit: i32,
    pub valid_from: i64,
    pub valid_to: i64,
    pub credits_per_player: i32,
    pub budget_points: i64,
    pub credited_points: i64,
}

impl Campaign {
    /// Admits credit number `sequence` of `points` to a player at `now`:
    /// the campaign is current (55000), pays exactly `points` (22023),
    /// allows this credit number per player and has budget left (53400).
    pub fn admit(&self, sequence: i32, points: i32, now: i64) -> Result<(), LoyaltyError> {
        let reward = &self.reward_id;
        let context = |extra: Vec<(&'static str, String)>| {
            let mut c = vec![("reward_id", reward.clone())];
            c.extend(extra);
            c
        };
        if !(self.valid_from <= now && now < self.valid_to) {
            return Err(LoyaltyError::InvalidState {
                message: format!("campaign {reward} is not running now"),
                context: context(vec![]),
            });
        }
        let per_credit = self.points_per_credit;
        if points != per_credit {
            return Err(LoyaltyError::invalid_with(
                format!("campaign {reward} credits {per_credit} points, not {points}"),
                context(vec![
                    ("points_per_credit", per_credit.to_string()),
                    ("points", points.to_string()),
                ]),
            ));
        }
        let per_player = self.credits_per_player;
        if sequence > per_player {
            return Err(LoyaltyError::Exhausted {
                message: format!("campaign {reward} credits a player at most {per_player} times"),
                context: context(vec![
                    ("credits_per_player", per_player.to_string()),
                    ("sequence", sequence.to_string()),
                ]),
            });
        }
        if self.credited_points + points as i64 > self.budget_points {
            return Err(LoyaltyError::Exhausted {
                message: format!("campaign {reward} has no budget left"),
                context: context(vec![
                    ("budget_points", self.budget_points.to_string()),
                    ("credited_points", self.credited_points.to_string()),
                    ("points", points.to_string()),
                ]),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign() -> Campaign {
        Campaign {
            reward_id: "winter".into(),
            points_per_credit: 100,
            valid_from: 1_000,
            valid_to: 2_000,
            credits_per_player: 2,
            budget_points: 300,
            credited_points: 100,
        }
    }

    #[test]
    fn a_credit_inside_every_bound_is_admitted() {
        assert_eq!(campaign().admit(2, 100, 1_000), Ok(()));
        assert_eq!(campaign().admit(1, 100, 1_999), Ok(()));
    }

    #[test]
    fn each_bound_has_its_sqlstate() {
        let state = |r: Result<(), LoyaltyError>| r.unwrap_err().sqlstate();
        assert_eq!(state(campaign().admit(1, 100, 999)), "55000");
        assert_eq!(state(campaign().admit(1, 100, 2_000)), "55000");
        assert_eq!(state(campaign().admit(1, 99, 1_500)), "22023");
        assert_eq!(state(campaign().admit(3, 100, 1_500)), "53400");
        let spent = Campaign {
            credited_points: 201,
            ..campaign()
        };
        assert_eq!(state(spent.admit(1, 100, 1_500)), "53400");
        let exact = Campaign {
            credited_points: 200,
            ..campaign()
        };
        assert_eq!(exact.admit(1, 100, 1_500), Ok(()));
    }
}
