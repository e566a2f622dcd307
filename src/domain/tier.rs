//! Tier math: which tier a lifetime total earns, progress to the next, and
//! each tier's earn multiplier.
//!
//! Tiers come from `loyalty.tier` (editable data); this module only decides.
//! A tier depends on lifetime points alone, and lifetime points never
//! decrease, so spending never demotes.

use rust_decimal::Decimal;

/// One rung of the tier ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub name: String,
    pub threshold: i64,
    /// Scales gameplay points (SPEC section 6).
    pub multiplier: Decimal,
}

/// The tiers ordered by threshold, lowest first; the lowest starts at 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    tiers: Vec<Tier>,
}

/// A player's tier and percent of the way to the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub tier: String,
    /// 0–100; 100 at the top tier.
    pub progress: i32,
}

impl Ladder {
    /// Builds a ladder; `None` unless there is a tier at threshold 0 and the
    /// thresholds are distinct.
    pub fn new(mut tiers: Vec<Tier>) -> Option<Ladder> {
        tiers.sort_by_key(|t| t.threshold);
        let starts_at_zero = tiers.first().is_some_and(|t| t.threshold == 0);
        let distinct = tiers.windows(2).all(|w| w[0].threshold < w[1].threshold);
        (starts_at_zero && distinct).then_some(Ladder { tiers })
    }

    /// The default ladder of SPEC section 2 (what `CREATE EXTENSION` puts
    /// in `loyalty.tier`).
    pub fn default_ladder() -> Ladder {
        let t = |name: &str, threshold, hundredths| Tier {
            name: name.to_string(),
            threshold,
            multiplier: Decimal::new(hundredths, 2),
        };
        Ladder::new(vec![
            t("BRONZE", 0, 100),
            t("SILVER", 1_000, 125),
            t("GOLD", 5_000, 150),
            t("PLATINUM", 20_000, 200),
        ])
        .expect("the default ladder is valid")
    }

    /// The lowest tier: where a new player starts.
    pub fn base(&self) -> &Tier {
        &self.tiers[0]
    }

    /// A tier by name.
    pub fn tier(&self, name: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.name == name)
    }

    /// The earn multiplier of a player's tier; a new player (`None`), or one
    /// whose tier is no longer in the ladder, earns at the base tier's.
    pub fn multiplier_for(&self, tier: Option<&str>) -> Decimal {
        tier.and_then(|name| self.tier(name))
            .unwrap_or(self.base())
            .multiplier
    }

    /// Tier and progress for a lifetime total (negative totals count as 0).
    pub fn standing(&self, lifetime_points: i64) -> Standing {
        let points = lifetime_points.max(0);
        let idx = self
            .tiers
            .iter()
            .rposition(|t| t.threshold <= points)
            .unwrap_or(0);
        let current = &self.tiers[idx];
        let progress = match self.tiers.get(idx + 1) {
            None => 100,
            Some(next) => {
                let span = (next.threshold - current.threshold) as i128;
                let done = (points - current.threshold) as i128;
                // floor, so 100 is reached only by entering the next tier
                ((done * 100) / span) as i32
            }
        };
        Standing {
            tier: current.name.clone(),
            progress,
        }
    }

    /// Position of a tier in the ladder (0 = lowest), if it exists.
    pub fn rank(&self, name: &str) -> Option<usize> {
        self.tiers.iter().position(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_thresholds() {
        let l = Ladder::default_ladder();
        assert_eq!(l.standing(0).tier, "BRONZE");
        assert_eq!(l.standing(999).tier, "BRONZE");
        assert_eq!(l.standing(1_000).tier, "SILVER");
        assert_eq!(l.standing(4_999).tier, "SILVER");
        assert_eq!(l.standing(5_000).tier, "GOLD");
        assert_eq!(l.standing(20_000).tier, "PLATINUM");
        assert_eq!(l.standing(i64::MAX).tier, "PLATINUM");
    }

    #[test]
    fn progress_is_percent_of_the_way_floored() {
        let l = Ladder::default_ladder();
        assert_eq!(l.standing(0).progress, 0);
        assert_eq!(l.standing(500).progress, 50);
        assert_eq!(l.standing(999).progress, 99);
        assert_eq!(l.standing(1_000).progress, 0);
        assert_eq!(l.standing(3_000).progress, 50); // 2000 of 4000
        assert_eq!(l.standing(12_500).progress, 50); // 7500 of 15000
        assert_eq!(l.standing(20_000).progress, 100);
        assert_eq!(l.standing(1_000_000).progress, 100);
    }

    #[test]
    fn ladder_needs_a_zero_tier_and_distinct_thresholds() {
        let t = |n: &str, th| Tier {
            name: n.into(),
            threshold: th,
            multiplier: Decimal::ONE,
        };
        assert!(Ladder::new(vec![]).is_none());
        assert!(Ladder::new(vec![t("A", 10)]).is_none());
        assert!(Ladder::new(vec![t("A", 0), t("B", 0)]).is_none());
        let l = Ladder::new(vec![t("B", 100), t("A", 0)]).unwrap();
        assert_eq!(l.base().name, "A");
        assert_eq!(l.rank("B"), Some(1));
        assert_eq!(l.tier("B").map(|t| t.threshold), Some(100));
        assert!(l.tier("C").is_none());
    }

    #[test]
    fn default_multipliers() {
        let l = Ladder::default_ladder();
        let m = |name| l.tier(name).map(|t| t.multiplier.to_string());
        assert_eq!(m("BRONZE").as_deref(), Some("1.00"));
        assert_eq!(m("SILVER").as_deref(), Some("1.25"));
        assert_eq!(m("GOLD").as_deref(), Some("1.50"));
        assert_eq!(m("PLATINUM").as_deref(), Some("2.00"));
        assert_eq!(l.base().name, "BRONZE");
        assert_eq!(l.multiplier_for(Some("GOLD")).to_string(), "1.50");
        assert_eq!(l.multiplier_for(None).to_string(), "1.00");
        assert_eq!(l.multiplier_for(Some("RETIRED")).to_string(), "1.00");
    }

    proptest! {
        #[test]
        fn tier_is_monotone_in_lifetime_points(a in 0i64..100_000, b in 0i64..100_000) {
            let l = Ladder::default_ladder();
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let r_lo = l.rank(&l.standing(lo).tier).unwrap();
            let r_hi = l.rank(&l.standing(hi).tier).unwrap();
            prop_assert!(r_lo <= r_hi);
        }

        #[test]
        fn progress_stays_in_0_to_100(p in any::<i64>()) {
            let s = Ladder::default_ladder().standing(p);
            prop_assert!((0..=100).contains(&s.progress));
        }
    }
}
