//! Model-based property test (issue 6, item 4): random sequences of calls
//! run against the real extension and against a plain-Rust model of the
//! ledger; after every step both must agree on the outcome (the balance
//! after, or the SQLSTATE) and on the player's balance, lifetime points and
//! tier.  Seeded (LOYALTY_MODEL_SEED) and shrinking: a failure is reduced to
//! a minimal sequence and printed.
//!
//! The model knows the trust boundary's rules too: a campaign's points per
//! credit, credits per player and budget, and the staff member's velocity
//! limits on adjustments and on redemptions/reversals (counted, replays
//! free, refused changes uncounted).
//!
//! Three casinos (SPEC section 14): the default one and two more, each with
//! the same campaign id, staff member and players.  A step's slot names a
//! casino and a player; the same player at two casinos is two accounts,
//! the same key at two casinos two changes, and every limit and budget
//! counts per casino.
//!
//! And holds (SPEC section 15): a hold reserves points of what is available,
//! a capture charges all or part of it as a redemption, a release frees it;
//! no debit ever takes the balance below the points held, and a closed hold
//! never moves again.  And expiry: the case's own casino expires points a
//! year after they are earned, and `expire_points` runs as of thirteen
//! months on (the clock is passed in, nothing sleeps): every point not held
//! is written off.

mod common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

const DB: &str = "loyalty_it_model";
/// Players per casino, and slots (casino, player): slot / PLAYERS is the
/// casino, slot % PLAYERS the player.
const PLAYERS: u8 = 3;
const CASINOS: u8 = 3;
const SLOTS: u8 = PLAYERS * CASINOS;
/// The case's campaign: 50 points a credit, twice per player, 300 in all.
const CAMPAIGN_POINTS: i64 = 50;
const CAMPAIGN_CREDITS_PER_PLAYER: i32 = 2;
const CAMPAIGN_BUDGET: i64 = 300;
/// The staff member's velocity limits in the model (counts per window; the
/// whole case runs inside one window).
const ADJUSTMENT_LIMIT: usize = 4;
const REDEMPTION_LIMIT: usize = 12;

#[derive(Debug, Clone)]
enum Step {
    Promote {
        p: u8,
        pts: u16,
    },
    Redeem {
        p: u8,
        pts: u16,
    },
    Adjust {
        p: u8,
        pts: i16,
    },
    Reward {
        p: u8,
        pts: u16,
    },
    Reverse {
        nth: usize,
    },
    ReplayPromotion {
        nth: usize,
    },
    UnknownType {
        p: u8,
    },
    Campaign {
        p: u8,
        seq: i32,
    },
    Hold {
        p: u8,
        pts: u16,
    },
    /// Capture the nth hold: all of it, or `part` percent (at least 1 point).
    Capture {
        nth: usize,
        part: Option<u8>,
    },
    Release {
        nth: usize,
    },
    /// The expiry job at the fixed-term casino, as of thirteen months on:
    /// every point not held is written off.
    Expire,
}

fn step() -> impl Strategy<Value = Step> {
    let p = 0..SLOTS;
    prop_oneof![
        3 => (p.clone(), 1u16..3000).prop_map(|(p, pts)| Step::Promote { p, pts }),
        2 => (p.clone(), 1u16..3000).prop_map(|(p, pts)| Step::Redeem { p, pts }),
        2 => (p.clone(), any::<i16>()).prop_map(|(p, pts)| Step::Adjust { p, pts }),
        2 => (p.clone(), prop_oneof![1u16..200, 9990u16..10010]).prop_map(|(p, pts)| Step::Reward { p, pts }),
        2 => any::<usize>().prop_map(|nth| Step::Reverse { nth }),
        1 => any::<usize>().prop_map(|nth| Step::ReplayPromotion { nth }),
        1 => p.clone().prop_map(|p| Step::UnknownType { p }),
        3 => (p.clone(), 1i32..4).prop_map(|(p, seq)| Step::Campaign { p, seq }),
        3 => (p, 1u16..1000).prop_map(|(p, pts)| Step::Hold { p, pts }),
        2 => (any::<usize>(), proptest::option::of(1u8..=100)).prop_map(|(nth, part)| Step::Capture { nth, part }),
        1 => any::<usize>().prop_map(|nth| Step::Release { nth }),
        1 => Just(Step::Expire),
    ]
}

/// The plain-Rust model: what the ledger must do.
#[derive(Default)]
struct Model {
    balance: HashMap<u8, i64>,
    lifetime: HashMap<u8, i64>,
    /// (player, points_change, is_reversal, balance_after) per ledger entry, in order.
    entries: Vec<(u8, i64, bool, i64)>,
    /// entry index -> balance_after of its reversal
    reversed: HashMap<usize, i64>,
    promotions: Vec<(u8, u16, String, i64)>,
    rewards: HashMap<(u8, u16), i64>,
    /// (player, credit number) -> balance after that campaign credit.
    campaign_credits: HashMap<(u8, i32), i64>,
    /// Counted changes per casino.
    adjustments: HashMap<u8, usize>,
    redemptions: HashMap<u8, usize>,
    /// Points held per slot, and every hold: (slot, points, open).
    held: HashMap<u8, i64>,
    holds: Vec<(u8, i64, bool)>,
}

/// The casino of a slot.
fn casino_of(slot: u8) -> u8 {
    slot / PLAYERS
}

/// Casino `k` of the case: the default casino, then two more.
fn casino_id(k: u8) -> String {
    format!("00000000-0000-0000-0000-{:012}", k)
}

fn tier_of(lifetime: i64) -> &'static str {
    match lifetime {
        l if l >= 20_000 => "PLATINUM",
        l if l >= 5_000 => "GOLD",
        l if l >= 1_000 => "SILVER",
        _ => "BRONZE",
    }
}

impl Model {
    fn apply(&mut self, p: u8, delta: i64, reversal: bool) -> Result<i64, &'static str> {
        let b = *self.balance.get(&p).unwrap_or(&0);
        // No debit below the points held.
        if delta < 0 && b + delta < *self.held.get(&p).unwrap_or(&0) {
            return Err("23514");
        }
        self.balance.insert(p, b + delta);
        if delta > 0 {
            *self.lifetime.entry(p).or_insert(0) += delta;
        }
        self.entries.push((p, delta, reversal, b + delta));
        Ok(b + delta)
    }
}

struct Case {
    id: u64,
    model: Model,
    ledger_ids: Vec<i64>,
    hold_ids: Vec<i64>,
}

static CASES: AtomicU64 = AtomicU64::new(0);

impl Case {
    fn staff(&self) -> String {
        format!(
            "5aff0000-0000-{:04x}-{:04x}-00000000005a",
            self.id >> 16,
            self.id & 0xffff
        )
    }

    /// Casino `k` of the case: the default casino, a shared one, and the
    /// case's own, whose points expire twelve months after they are earned.
    fn casino(&self, k: u8) -> String {
        if k < 2 {
            casino_id(k)
        } else {
            format!(
                "7e57ca00-0000-{:04x}-{:04x}-{:012}",
                self.id >> 16,
                self.id & 0xffff,
                k
            )
        }
    }

    fn campaign(&self) -> String {
        format!("model-campaign-{}", self.id)
    }

    /// The player of a slot: the same player at every casino.
    fn player(&self, p: u8) -> String {
        format!(
            "7e570000-0000-{:04x}-{:04x}-{:012}",
            self.id >> 16,
            self.id & 0xffff,
            p % PLAYERS
        )
    }

    /// Runs a step on the server: Ok((balance_after, ledger_id)) or the SQLSTATE.
    fn server(
        &mut self,
        c: &mut postgres::Client,
        s: &Step,
        key: &str,
    ) -> (Result<(i64, i64), String>, Option<u8>) {
        let run = |c: &mut postgres::Client,
                   sql: &str,
                   params: &[&(dyn postgres::types::ToSql + Sync)]| {
            c.query_one(sql, params)
                .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)))
                .map_err(|e| {
                    e.code()
                        .map(|c| c.code().to_string())
                        .unwrap_or_else(|| e.to_string())
                })
        };
        let staff = self.staff();
        let staff = staff.as_str();
        match s {
            Step::Promote { p, pts } => {
                let pl = self.player(*p);
                let reward_id = format!("{key}-promo");
                let k = self.casino(casino_of(*p));
                (run(c, "SELECT balance_after, ledger_id FROM loyalty.increment_player_loyalty($1::text::uuid, $3, 'PROMOTION', loyalty.promotion_key($1::text::uuid, $2), p_casino_id => $4::text::uuid)", &[&pl, &reward_id, &(*pts as i32), &k]), Some(*p))
            }
            Step::Campaign { p, seq } => {
                let pl = self.player(*p);
                let campaign = self.campaign();
                let k = self.casino(casino_of(*p));
                (run(c, "SELECT balance_after, ledger_id FROM loyalty.apply_promotion($1::text::uuid, $2, $3, p_sequence => $4, p_casino_id => $5::text::uuid)", &[&pl, &campaign, &(CAMPAIGN_POINTS as i32), seq, &k]), Some(*p))
            }
            Step::Redeem { p, pts } => {
                let pl = self.player(*p);
                let k = self.casino(casino_of(*p));
                (run(c, "SELECT balance_after, ledger_id FROM loyalty.redeem_points($1::text::uuid, $2, $3::text::uuid, 'model redemption', $4, p_casino_id => $5::text::uuid)", &[&pl, &(*pts as i32), &staff, &key.to_string(), &k]), Some(*p))
            }
            Step::Adjust { p, pts } => {
                let pl = self.player(*p);
                let k = self.casino(casino_of(*p));
                (run(c, "SELECT balance_after, ledger_id FROM loyalty.adjust_points($1::text::uuid, $2::text::uuid, $3, 'model adjustment', $4, p_casino_id => $5::text::uuid)", &[&pl, &staff, &(*pts as i32), &key.to_string(), &k]), Some(*p))
            }
            Step::Reward { p, pts } => {
                let pl = self.player(*p);
                let k = self.casino(casino_of(*p));
                (run(c, "SELECT balance_after, ledger_id FROM loyalty.manual_reward($1::text::uuid, $2::text::uuid, $3, 'model reward for play', p_casino_id => $4::text::uuid)", &[&pl, &staff, &(*pts as i32), &k]), Some(*p))
            }
            Step::Reverse { nth } => {
                if self.ledger_ids.is_empty() {
                    return (Err("skip".into()), None);
                }
                let i = nth % self.ledger_ids.len();
                let p = self.model.entries[i].0;
                let k = self.casino(casino_of(p));
                (run(c, "SELECT balance_after, ledger_id FROM loyalty.reverse_entry($1, $2::text::uuid, 'model reversal entry', p_casino_id => $3::text::uuid)", &[&self.ledger_ids[i], &staff, &k]), Some(p))
            }
            Step::ReplayPromotion { nth } => {
                if self.model.promotions.is_empty() {
                    return (Err("skip".into()), None);
                }
                let (p, pts, reward_id, _) =
                    self.model.promotions[nth % self.model.promotions.len()].clone();
                let pl = self.player(p);
                let k = self.casino(casino_of(p));
                (run(c, "SELECT balance_after, ledger_id FROM loyalty.increment_player_loyalty($1::text::uuid, $3, 'PROMOTION', loyalty.promotion_key($1::text::uuid, $2), p_casino_id => $4::text::uuid)", &[&pl, &reward_id, &(pts as i32), &k]), Some(p))
            }
            Step::Hold { p, pts } => {
                let pl = self.player(*p);
                let k = self.casino(casino_of(*p));
                (run(c, "SELECT available_after, hold_id FROM loyalty.hold_points($1::text::uuid, $2, $3::text::uuid, 'model hold of points', $4, p_casino_id => $5::text::uuid)", &[&pl, &(*pts as i32), &staff, &key.to_string(), &k]), Some(*p))
            }
            Step::Capture { nth, part } => {
                if self.hold_ids.is_empty() {
                    return (Err("skip".into()), None);
                }
                let i = nth % self.hold_ids.len();
                let (p, pts, _) = self.model.holds[i];
                let k = self.casino(casino_of(p));
                let points = part.map(|pc| ((pts * pc as i64) / 100).max(1) as i32);
                (run(c, "SELECT balance_after, ledger_id FROM loyalty.capture_hold($1, $2::text::uuid, $3, p_casino_id => $4::text::uuid)", &[&self.hold_ids[i], &staff, &points, &k]), Some(p))
            }
            Step::Release { nth } => {
                if self.hold_ids.is_empty() {
                    return (Err("skip".into()), None);
                }
                let i = nth % self.hold_ids.len();
                let p = self.model.holds[i].0;
                let k = self.casino(casino_of(p));
                (run(c, "SELECT available_after, hold_id FROM loyalty.release_hold($1, $2::text::uuid, 'model release of a hold', p_casino_id => $3::text::uuid)", &[&self.hold_ids[i], &staff, &k]), Some(p))
            }
            Step::Expire => {
                let k = self.casino(2);
                (run(c, "SELECT coalesce(sum(points), 0)::bigint, count(*) FROM loyalty.expire_points(1000, now() + interval '13 months', $1::text::uuid)", &[&k]), None)
            }
            Step::UnknownType { p } => {
                let pl = self.player(*p);
                let k = self.casino(casino_of(*p));
                (run(c, "SELECT balance_after, ledger_id FROM loyalty.increment_player_loyalty($1::text::uuid, 5, 'JACKPOT', $2, p_casino_id => $3::text::uuid)", &[&pl, &key.to_string(), &k]), Some(*p))
            }
        }
    }

    /// What the model says the same step must do.
    fn expect(&mut self, s: &Step, reward_id: Option<String>) -> Result<i64, String> {
        let m = &mut self.model;
        let out = match s {
            Step::Promote { p, pts } => {
                let r = m.apply(*p, *pts as i64, false);
                if let (Ok(after), Some(id)) = (r, reward_id) {
                    m.promotions.push((*p, *pts, id, after));
                }
                r
            }
            Step::Redeem { p, pts } => {
                let used = m.redemptions.entry(casino_of(*p)).or_default();
                if *used >= REDEMPTION_LIMIT {
                    Err("53400")
                } else {
                    let r = m.apply(*p, -(*pts as i64), false);
                    *m.redemptions.entry(casino_of(*p)).or_default() += usize::from(r.is_ok());
                    r
                }
            }
            Step::Adjust { p, pts } => match *pts {
                0 => Err("22023"),
                v if (v as i64).abs() > 10_000 => Err("22003"),
                _ if m.adjustments.get(&casino_of(*p)).copied().unwrap_or(0)
                    >= ADJUSTMENT_LIMIT =>
                {
                    Err("53400")
                }
                v => {
                    let r = m.apply(*p, v as i64, false);
                    *m.adjustments.entry(casino_of(*p)).or_default() += usize::from(r.is_ok());
                    r
                }
            },
            Step::Campaign { p, seq } => {
                // Each casino's campaign has its own budget.
                let credited = m
                    .campaign_credits
                    .keys()
                    .filter(|(q, _)| casino_of(*q) == casino_of(*p))
                    .count() as i64
                    * CAMPAIGN_POINTS;
                if let Some(after) = m.campaign_credits.get(&(*p, *seq)) {
                    Ok(*after) // the same credit again: a replay
                } else if *seq > CAMPAIGN_CREDITS_PER_PLAYER
                    || credited + CAMPAIGN_POINTS > CAMPAIGN_BUDGET
                {
                    Err("53400")
                } else {
                    let r = m.apply(*p, CAMPAIGN_POINTS, false);
                    if let Ok(after) = r {
                        m.campaign_credits.insert((*p, *seq), after);
                    }
                    r
                }
            }
            Step::Reward { p, pts } => {
                if *pts > 10_000 {
                    Err("22003")
                } else if let Some(after) = m.rewards.get(&(*p, *pts)) {
                    Ok(*after) // same reward, same gaming day: a replay
                } else {
                    let r = m.apply(*p, *pts as i64, false);
                    if let Ok(after) = r {
                        m.rewards.insert((*p, *pts), after);
                    }
                    r
                }
            }
            Step::Reverse { nth } => {
                let i = nth % m.entries.len();
                let (p, delta, is_reversal, _) = m.entries[i];
                if is_reversal {
                    Err("55000")
                } else if let Some(after) = m.reversed.get(&i) {
                    Ok(*after)
                } else if m.redemptions.get(&casino_of(p)).copied().unwrap_or(0) >= REDEMPTION_LIMIT
                {
                    Err("53400")
                } else {
                    let r = m.apply(p, -delta, true);
                    if let Ok(after) = r {
                        m.reversed.insert(i, after);
                        *m.redemptions.entry(casino_of(p)).or_default() += 1;
                    }
                    r
                }
            }
            Step::ReplayPromotion { nth } => Ok(m.promotions[nth % m.promotions.len()].3),
            Step::UnknownType { .. } => Err("22023"),
            Step::Hold { p, pts } => {
                let pts = *pts as i64;
                let available = m.balance.get(p).unwrap_or(&0) - m.held.get(p).unwrap_or(&0);
                if m.redemptions.get(&casino_of(*p)).copied().unwrap_or(0) >= REDEMPTION_LIMIT {
                    Err("53400")
                } else if pts > available {
                    Err("23514")
                } else {
                    *m.held.entry(*p).or_default() += pts;
                    *m.redemptions.entry(casino_of(*p)).or_default() += 1;
                    m.holds.push((*p, pts, true));
                    Ok(available - pts)
                }
            }
            Step::Capture { nth, part } => {
                let i = nth % m.holds.len();
                let (p, pts, open) = m.holds[i];
                if !open {
                    Err("55000")
                } else {
                    let points = part.map_or(pts, |pc| ((pts * pc as i64) / 100).max(1));
                    *m.held.entry(p).or_default() -= pts;
                    m.holds[i].2 = false;
                    // A capture is not counted again against the limit.
                    m.apply(p, -points, false)
                }
            }
            Step::Expire => {
                // Not entries the model reverses: the expirations are
                // checked by their total and by the players' balances.
                let mut total = 0;
                for slot in (0..SLOTS).filter(|s| casino_of(*s) == 2) {
                    let b = *m.balance.get(&slot).unwrap_or(&0);
                    let h = *m.held.get(&slot).unwrap_or(&0);
                    if b > h {
                        m.balance.insert(slot, h);
                        total += b - h;
                    }
                }
                Ok(total)
            }
            Step::Release { nth } => {
                let i = nth % m.holds.len();
                let (p, pts, open) = m.holds[i];
                if !open {
                    Err("55000")
                } else {
                    *m.held.entry(p).or_default() -= pts;
                    m.holds[i].2 = false;
                    Ok(m.balance.get(&p).unwrap_or(&0) - m.held.get(&p).unwrap_or(&0))
                }
            }
        };
        out.map_err(str::to_string)
    }
}

fn run_case(c: &mut postgres::Client, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut case = Case {
        id: CASES.fetch_add(1, Ordering::Relaxed) + std::process::id() as u64 * 100_000,
        model: Model::default(),
        ledger_ids: Vec::new(),
        hold_ids: Vec::new(),
    };
    // The case's own staff member (its velocity usage starts at zero) and
    // its own campaign.
    // The case's own casino expires points after a fixed term.
    c.execute(
        "INSERT INTO loyalty.casino (casino_id, name, expiry_policy, expiry_months)
         VALUES ($1::text::uuid, $2, 'fixed', 12)",
        &[
            &case.casino(2),
            &format!("model casino of case {}", case.id),
        ],
    )
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    // At every casino: the same staff member, the same campaign id.
    for k in 0..CASINOS {
        c.execute(
            "INSERT INTO loyalty.staff_permission (casino_id, staff_id, capabilities)
             VALUES ($1::text::uuid, $2::text::uuid, ARRAY['loyalty:award', 'loyalty:redeem', 'loyalty:adjust'])",
            &[&case.casino(k), &case.staff()],
        )
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        c.execute(
            "INSERT INTO loyalty.promotion_campaign
                 (casino_id, reward_id, points_per_credit, valid_from, valid_to, credits_per_player, budget_points)
             VALUES ($1::text::uuid, $2, $3, now() - interval '1 hour', now() + interval '1 hour', $4, $5)",
            &[
                &case.casino(k),
                &case.campaign(),
                &(CAMPAIGN_POINTS as i32),
                &CAMPAIGN_CREDITS_PER_PLAYER,
                &CAMPAIGN_BUDGET,
            ],
        )
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    for (n, s) in steps.iter().enumerate() {
        let entries_before = case.model.entries.len();
        let key = format!("model-{}-{n}", case.id);
        let reward_id = match s {
            Step::Promote { .. } => Some(format!("{key}-promo")),
            _ => None,
        };
        let (got, player) = case.server(c, s, &key);
        if got.as_ref().err().is_some_and(|e| e == "skip") {
            continue;
        }
        let want = case.expect(s, reward_id);
        let got_after = got.as_ref().map(|(after, _)| *after).map_err(Clone::clone);
        prop_assert_eq!(&got_after, &want, "step {} {:?}", n, s);
        let holds_before = case.hold_ids.len();
        if let Ok((_, id)) = got {
            if matches!(s, Step::Hold { .. }) {
                if case.model.holds.len() > holds_before {
                    case.hold_ids.push(id);
                }
            } else if case.model.entries.len() > entries_before {
                case.ledger_ids.push(id);
            }
        }
        if let Some(p) = player {
            let pl = case.player(p);
            let k = case.casino(casino_of(p));
            let row = c
                .query_opt(
                    "SELECT current_balance, lifetime_points, tier, held_points FROM loyalty.player_loyalty
                      WHERE casino_id = $2::text::uuid AND player_id = $1::text::uuid",
                    &[&pl, &k],
                )
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (b, l, t, h) = row
                .map(|r| {
                    (
                        r.get::<_, i64>(0),
                        r.get::<_, i64>(1),
                        r.get::<_, String>(2),
                        r.get::<_, i64>(3),
                    )
                })
                .unwrap_or((0, 0, "BRONZE".into(), 0));
            let mb = *case.model.balance.get(&p).unwrap_or(&0);
            let ml = *case.model.lifetime.get(&p).unwrap_or(&0);
            let mh = *case.model.held.get(&p).unwrap_or(&0);
            prop_assert_eq!(
                (b, l, t.as_str(), h),
                (mb, ml, tier_of(ml), mh),
                "player state after step {} {:?}",
                n,
                s
            );
        }
    }
    Ok(())
}

#[test]
fn the_database_agrees_with_the_model_after_every_step() {
    fresh_db(DB);
    let mut c = connect(DB);
    for k in 1..2 {
        c.execute(
            "INSERT INTO loyalty.casino (casino_id, name) VALUES ($1::text::uuid, $2)",
            &[&casino_id(k), &format!("model casino {k}")],
        )
        .unwrap();
    }
    c.batch_execute(&format!(
        "SET loyalty.manual_reward_rate_limit = 1000000;
         SET loyalty.manual_reward_points_limit = 1000000000;
         SET loyalty.adjustment_rate_limit = {ADJUSTMENT_LIMIT};
         SET loyalty.adjustment_points_limit = 1000000000;
         SET loyalty.redemption_rate_limit = {REDEMPTION_LIMIT};
         SET loyalty.redemption_points_limit = 1000000000;
         SET loyalty.role_manual_reward_rate_limit = 1000000;
         SET loyalty.role_adjustment_rate_limit = 1000000;
         SET loyalty.role_redemption_rate_limit = 1000000;
         SET loyalty.role_manual_reward_points_limit = 1000000000;
         SET loyalty.role_adjustment_points_limit = 1000000000;
         SET loyalty.role_redemption_points_limit = 1000000000;"
    ))
    .unwrap();
    let long = std::env::var("LOYALTY_LONG").is_ok_and(|v| v == "1");
    let seed: u64 = std::env::var("LOYALTY_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_125);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases: if long { 512 } else { 64 },
        max_shrink_iters: 2000,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config.clone(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    // A fixed case first, so that every rule of holds is exercised whatever
    // the seed draws: spending held points, capturing part, a closed hold.
    let fixed = [
        Step::Promote { p: 4, pts: 1000 },
        Step::Hold { p: 4, pts: 600 },
        Step::Redeem { p: 4, pts: 500 },
        Step::Hold { p: 4, pts: 401 },
        Step::Capture {
            nth: 0,
            part: Some(50),
        },
        Step::Release { nth: 0 },
        Step::Redeem { p: 4, pts: 700 },
        Step::Hold { p: 1, pts: 1 },
        // The fixed-term casino (slots 6 to 8): the job writes off all but
        // the held points; held points are not spendable; released, they are.
        Step::Promote { p: 7, pts: 500 },
        Step::Hold { p: 7, pts: 200 },
        Step::Expire,
        Step::Redeem { p: 7, pts: 100 },
        Step::Release { nth: 2 },
        Step::Redeem { p: 7, pts: 100 },
        Step::Expire,
    ];
    if let Err(e) = run_case(&mut c, &fixed) {
        panic!("the fixed case: the database disagrees with the model: {e}");
    }
    let steps = std::cell::Cell::new(0usize);
    let client = std::cell::RefCell::new(c);
    let result = runner.run(&proptest::collection::vec(step(), 1..40), |seq| {
        steps.set(steps.get() + seq.len());
        run_case(&mut client.borrow_mut(), &seq)
    });
    let mut c = client.into_inner();
    if let Err(e) = result {
        panic!("seed {seed}: the database disagrees with the model: {e}");
    }
    assert_invariants(&mut c);
    println!(
        "model: seed={seed} cases={} steps={}, database and model agree after every step",
        config.cases,
        steps.get()
    );
}
