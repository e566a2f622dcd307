//! A realistic mixed load with a client-side log of every call, and the
//! checker that compares the log with the database (issue 6).
//!
//! Every call is logged as acknowledged (with the values the client was
//! told), refused (with its SQLSTATE) or in doubt (the connection died
//! before an answer).  The checker then demands: every invariant of SPEC
//! section 2; every acknowledged change present exactly once with the values
//! the client was told; every refused call absent; and no row the clients
//! were not told about, except in-doubt calls.

use super::{connect_at, TABLE_SETTINGS};
use postgres::Client;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub struct LoadConfig {
    /// Connection parameters without a database name (`common::server()`
    /// for the test server); several hosts with
    /// `target_session_attrs=read-write` follow a failover.
    pub server: String,
    pub db: String,
    /// Prefix of every correlation id and key of this run.
    pub run: String,
    pub clients: usize,
    pub duration: Duration,
    pub players: usize,
    pub zipf_s: f64,
    pub seed: u64,
    /// Negative control: acknowledge commits before they are durable.
    pub synchronous_commit_off: bool,
    /// The casinos the clients act for, client `t` for `casinos[t % n]`
    /// (its sessions bound with `loyalty.session_casino_id`); empty: the
    /// default casino, unbound.  `prepare_casinos` makes them.
    pub casinos: Vec<String>,
}

/// A change the client was told happened.
#[derive(Clone, Debug)]
pub struct Ack {
    pub what: &'static str,
    pub corr: String,
    pub ledger_id: i64,
    pub player: String,
    pub points_change: i32,
    pub balance_after: i64,
}

#[derive(Default)]
pub struct Log {
    pub acks: Vec<Ack>,
    /// Replays: (ledger id the client was told, correlation id of the call).
    pub replays: Vec<(i64, String)>,
    /// Refused calls: correlation id and SQLSTATE.
    pub refused: Vec<(String, String)>,
    /// Calls whose outcome the client never learned.
    pub in_doubt: Vec<String>,
    /// Wrong answers seen by the clients themselves (a replay with another
    /// ledger id, a bad call that succeeded, an unexpected SQLSTATE).
    pub client_errors: Vec<String>,
    pub ops: u64,
}

impl Log {
    fn merge(&mut self, other: Log) {
        self.acks.extend(other.acks);
        self.replays.extend(other.replays);
        self.refused.extend(other.refused);
        self.in_doubt.extend(other.in_doubt);
        self.client_errors.extend(other.client_errors);
        self.ops += other.ops;
    }
}

/// Zipf-distributed player picker.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Zipf {
        let weights: Vec<f64> = (1..=n).map(|k| 1.0 / (k as f64).powf(s)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Zipf { cdf }
    }

    pub fn sample(&self, rng: &mut StdRng) -> usize {
        let u: f64 = rng.gen();
        self.cdf.partition_point(|c| *c < u).min(self.cdf.len() - 1)
    }
}

pub const STAFF_HOST: &str = "5aff0000-0000-0000-0006-0000000000a1";
pub const STAFF_CASHIER: &str = "5aff0000-0000-0000-0006-0000000000c1";
pub const STAFF_SUPERVISOR: &str = "5aff0000-0000-0000-0006-000000000051";

/// The campaign a run credits (`<CAMPAIGN>-<run>`): a fixed amount per
/// credit, as many credits per player as the load makes, and a budget it
/// cannot exhaust.
pub const CAMPAIGN: &str = "load-campaign";
pub const CAMPAIGN_POINTS: i32 = 25;
/// The HS256 secret of the key that signs the load's staff tokens.
const TOKEN_KID: &str = "load-hs";
const TOKEN_SECRET: &str = "load test secret, not for anything else";

/// Grants the staff the load uses and trusts the key of its staff tokens.
pub fn prepare(c: &mut Client) {
    for (staff, caps) in [
        (STAFF_HOST, vec!["loyalty:award"]),
        (STAFF_CASHIER, vec!["loyalty:redeem"]),
        (STAFF_SUPERVISOR, vec!["loyalty:adjust", "loyalty:award"]),
    ] {
        super::grant_staff(c, staff, &caps);
    }
    c.execute(
        "INSERT INTO loyalty.trusted_key (kid, algorithm, key) VALUES ($1, 'HS256', $2)",
        &[&TOKEN_KID, &TOKEN_SECRET],
    )
    .expect("load token key");
}

/// A staff token for `staff`, valid for an hour.
pub fn staff_token(staff: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + 3600;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(TOKEN_KID.into());
    jsonwebtoken::encode(
        &header,
        &serde_json::json!({"sub": staff, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(TOKEN_SECRET.as_bytes()),
    )
    .expect("sign a staff token")
}

/// Every velocity limit out of the load's way (the limits themselves are
/// tested by the isolation specs and the attack tests).
pub const NO_LIMITS: &str = "SET loyalty.manual_reward_rate_limit = 2000000000;
     SET loyalty.manual_reward_points_limit = 2000000000;
     SET loyalty.adjustment_rate_limit = 2000000000;
     SET loyalty.adjustment_points_limit = 2000000000;
     SET loyalty.redemption_rate_limit = 2000000000;
     SET loyalty.redemption_points_limit = 2000000000;
     SET loyalty.role_manual_reward_rate_limit = 2000000000;
     SET loyalty.role_manual_reward_points_limit = 2000000000;
     SET loyalty.role_adjustment_rate_limit = 2000000000;
     SET loyalty.role_adjustment_points_limit = 2000000000;
     SET loyalty.role_redemption_rate_limit = 2000000000;
     SET loyalty.role_redemption_points_limit = 2000000000;";

pub fn player_id(i: usize) -> String {
    format!("c0ffee00-0000-0000-0006-{i:012}")
}

/// Makes casinos with these ids and gives the load's staff their
/// capabilities at each, as `prepare` does at the default casino.
pub fn prepare_casinos(c: &mut Client, casinos: &[String]) {
    for (n, casino) in casinos.iter().enumerate() {
        // The default casino exists already.
        if casino != "00000000-0000-0000-0000-000000000000" {
            c.execute(
                "INSERT INTO loyalty.casino (casino_id, name) VALUES ($1::text::uuid, $2)
                 ON CONFLICT (casino_id) DO NOTHING",
                &[casino, &format!("load casino {n}")],
            )
            .expect("a load casino");
        }
        for (staff, caps) in [
            (STAFF_HOST, vec!["loyalty:award"]),
            (STAFF_CASHIER, vec!["loyalty:redeem"]),
            (STAFF_SUPERVISOR, vec!["loyalty:adjust", "loyalty:award"]),
        ] {
            let caps: Vec<String> = caps.iter().map(|s| s.to_string()).collect();
            c.execute(
                "INSERT INTO loyalty.staff_permission (casino_id, staff_id, capabilities)
                 VALUES ($1::text::uuid, $2::text::uuid, $3)
                 ON CONFLICT ON CONSTRAINT staff_permission_pkey DO UPDATE SET capabilities = EXCLUDED.capabilities",
                &[casino, &staff, &caps],
            )
            .expect("load staff at a casino");
        }
    }
}

/// Runs the load until `cfg.duration` passes or `stop` is set.
pub fn run_load(cfg: &LoadConfig, stop: Arc<AtomicBool>) -> Log {
    // Each run credits a campaign of its own, so that credit numbers (and
    // with them the keys) of two runs never meet.
    let campaign = format!("{CAMPAIGN}-{}", cfg.run);
    let mut admin = connect_at(&cfg.server, &cfg.db);
    let campaign_casinos: Vec<Option<String>> = if cfg.casinos.is_empty() {
        vec![None]
    } else {
        cfg.casinos.iter().cloned().map(Some).collect()
    };
    for casino in &campaign_casinos {
        admin
            .execute(
                "INSERT INTO loyalty.promotion_campaign
                     (casino_id, reward_id, points_per_credit, valid_from, valid_to, credits_per_player, budget_points)
                 VALUES (coalesce($3::text::uuid, loyalty.current_casino_id()), $1, $2, now() - interval '1 hour',
                         now() + interval '10 years', 2147483647, 9000000000000)
                 ON CONFLICT ON CONSTRAINT promotion_campaign_reward_id_key DO NOTHING",
                &[&campaign, &CAMPAIGN_POINTS, casino],
            )
            .expect("the run's campaign");
    }
    let deadline = Instant::now() + cfg.duration;
    let seq = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..cfg.clients)
        .map(|t| {
            let db = cfg.db.clone();
            let server = cfg.server.clone();
            let run = cfg.run.clone();
            let stop = stop.clone();
            let seq = seq.clone();
            let players = cfg.players;
            let zipf = Zipf::new(players, cfg.zipf_s);
            let async_commit = cfg.synchronous_commit_off;
            let seed = cfg.seed.wrapping_add(t as u64 * 7919);
            let campaign = campaign.clone();
            let casino =
                (!cfg.casinos.is_empty()).then(|| cfg.casinos[t % cfg.casinos.len()].clone());
            thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(seed);
                let mut log = Log::default();
                let mut client: Option<Client> = None;
                let mut promos: Vec<(String, i32, i64)> = Vec::new();
                let token = staff_token(STAFF_HOST);
                let mut mine: Vec<i64> = Vec::new();
                let mut holds: Vec<i64> = Vec::new();
                while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                    if client.is_none() {
                        client = reconnect(&server, &db, async_commit, casino.as_deref(), &stop);
                        if client.is_none() {
                            break;
                        }
                    }
                    let c = client.as_mut().expect("connected");
                    let n = seq.fetch_add(1, Ordering::Relaxed);
                    let corr = format!("{run}-{t}-{n}");
                    let player = player_id(zipf.sample(&mut rng));
                    let roll: u32 = rng.gen_range(0..100);
                    log.ops += 1;
                    let outcome = match roll {
                        0..=26 => gameplay(c, &run, n, &player, &corr, &mut rng),
                        27..=36 => reward(c, &player, &corr, &mut rng),
                        37..=44 => token_reward(c, &player, &corr, &mut rng, &token),
                        45..=56 => promotion(c, &campaign, &player, &corr, n, &mut promos),
                        57..=62 => redemption(c, &player, &corr, &mut rng),
                        63..=65 => hold(c, &player, &corr, &mut rng, &mut holds),
                        66..=67 => capture(c, &corr, &mut rng, &mut holds),
                        68 => release(c, &corr, &mut rng, &mut holds),
                        69..=74 => adjustment(c, &player, &corr, &mut rng),
                        75..=79 => reversal(c, &corr, &mut rng, &mine),
                        80..=92 => replay(c, &campaign, &corr, &mut rng, &promos),
                        _ => bad_call(c, &player, &corr, &mut rng),
                    };
                    match outcome {
                        Outcome::Ack(a) => {
                            mine.push(a.ledger_id);
                            log.acks.push(a);
                        }
                        Outcome::Replay(id) => log.replays.push((id, corr)),
                        Outcome::Nothing => {}
                        Outcome::Refused(state) => log.refused.push((corr, state)),
                        Outcome::Wrong(msg) => log.client_errors.push(format!("{corr}: {msg}")),
                        Outcome::Lost => {
                            log.in_doubt.push(corr);
                            client = None;
                        }
                    }
                }
                log
            })
        })
        .collect();
    let mut all = Log::default();
    for h in handles {
        all.merge(h.join().expect("load thread"));
    }
    all
}

fn reconnect(
    server: &str,
    db: &str,
    async_commit: bool,
    casino: Option<&str>,
    stop: &AtomicBool,
) -> Option<Client> {
    let give_up = Instant::now() + Duration::from_secs(120);
    while Instant::now() < give_up {
        if let Ok(mut c) =
            postgres::Client::connect(&format!("{server} dbname={db}"), postgres::NoTls)
        {
            let mut setup = format!("{NO_LIMITS} SET loyalty.lock_timeout = 10000;");
            if async_commit {
                setup.push_str("SET synchronous_commit = off;");
            }
            if let Some(casino) = casino {
                setup.push_str(&format!("SET loyalty.session_casino_id = '{casino}';"));
            }
            if c.batch_execute(&setup).is_ok() {
                return Some(c);
            }
        }
        if stop.load(Ordering::Relaxed) && Instant::now() + Duration::from_secs(100) > give_up {
            return None;
        }
        thread::sleep(Duration::from_millis(200));
    }
    None
}

enum Outcome {
    Ack(Ack),
    Replay(i64),
    Nothing,
    Refused(String),
    Wrong(String),
    Lost,
}

/// Classifies an error: a server answer is a refusal with its SQLSTATE; a
/// lost connection leaves the call in doubt.
fn refused_or_lost(e: postgres::Error, expected: &[&str]) -> Outcome {
    match e.code() {
        Some(code) if expected.contains(&code.code()) => Outcome::Refused(code.code().to_string()),
        Some(code)
            if code.code() == "57P01" || code.code() == "57P02" || code.code() == "57P03" =>
        {
            Outcome::Lost
        }
        Some(code) => Outcome::Wrong(format!(
            "unexpected SQLSTATE {}: {}",
            code.code(),
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_default()
        )),
        None if e.is_closed()
            || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) =>
        {
            Outcome::Lost
        }
        None => Outcome::Wrong(format!("client error: {e}")),
    }
}

fn ack_from(what: &'static str, corr: &str, player: &str, row: &postgres::Row) -> Outcome {
    // columns: ledger_id, points_change, balance_after, replay
    let replay: bool = row.get(3);
    if replay {
        return Outcome::Wrong(format!("{what} with a fresh key answered as a replay"));
    }
    Outcome::Ack(Ack {
        what,
        corr: corr.to_string(),
        ledger_id: row.get(0),
        player: player.to_string(),
        points_change: row.get(1),
        balance_after: row.get(2),
    })
}

fn gameplay(
    c: &mut Client,
    run: &str,
    n: u64,
    player: &str,
    corr: &str,
    rng: &mut StdRng,
) -> Outcome {
    let run_hash = run
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
        & 0xffff_ffff;
    let slip = format!(
        "5a000000-{:04x}-{:04x}-0000-{n:012}",
        run_hash >> 16,
        run_hash & 0xffff
    );
    let bet = rng.gen_range(5..500).to_string();
    let secs: i32 = rng.gen_range(600..14_400);
    let res = c.query_one(
        "SELECT status, points, ledger_id, balance_after FROM loyalty.complete_rating_slip(
             $1::text::uuid, $2::text::uuid, $3::text::numeric, $4, $5::text::jsonb, p_correlation_id => $6)",
        &[&slip, &player, &bet, &secs, &TABLE_SETTINGS, &corr],
    );
    match res {
        Ok(row) => {
            let status: String = row.get(0);
            match (status.as_str(), row.get::<_, Option<i64>>(2)) {
                ("COMPLETED", Some(id)) => Outcome::Ack(Ack {
                    what: "gameplay",
                    corr: corr.to_string(),
                    ledger_id: id,
                    player: player.to_string(),
                    points_change: row.get::<_, Option<i32>>(1).unwrap_or_default(),
                    balance_after: row.get::<_, Option<i64>>(3).unwrap_or_default(),
                }),
                ("COMPLETED", None) | ("PARTIAL_COMPLETION", _) => Outcome::Nothing,
                (other, _) => Outcome::Wrong(format!("slip status {other}")),
            }
        }
        Err(e) => refused_or_lost(e, &[]),
    }
}

fn reward(c: &mut Client, player: &str, corr: &str, rng: &mut StdRng) -> Outcome {
    let points: i32 = rng.gen_range(1..500);
    let reason = format!("floor reward {corr}");
    match c.query_one(
        "SELECT ledger_id, (balance_after - balance_before)::int, balance_after, idempotent_replay
           FROM loyalty.manual_reward($1::text::uuid, $2::text::uuid, $3, $4, p_correlation_id => $5)",
        &[&player, &STAFF_HOST, &points, &reason, &corr],
    ) {
        Ok(row) => ack_from("reward", corr, player, &row),
        Err(e) => refused_or_lost(e, &[]),
    }
}

/// A campaign credit: the n-th call credits credit number n (unique), so
/// every call is a new credit.
fn promotion(
    c: &mut Client,
    campaign: &str,
    player: &str,
    corr: &str,
    n: u64,
    promos: &mut Vec<(String, i32, i64)>,
) -> Outcome {
    let sequence = (n % i32::MAX as u64) as i32 + 1;
    match c.query_one(
        "SELECT ledger_id, $3::int, balance_after, idempotent_replay
           FROM loyalty.apply_promotion($1::text::uuid, $2, $3, p_correlation_id => $4, p_sequence => $5)",
        &[&player, &campaign, &CAMPAIGN_POINTS, &corr, &sequence],
    ) {
        Ok(row) => {
            let o = ack_from("promotion", corr, player, &row);
            if let Outcome::Ack(a) = &o {
                promos.push((player.to_string(), sequence, a.ledger_id));
            }
            o
        }
        Err(e) => refused_or_lost(e, &[]),
    }
}

/// A manual reward by the staff member a token proves (no staff id named).
fn token_reward(
    c: &mut Client,
    player: &str,
    corr: &str,
    rng: &mut StdRng,
    token: &str,
) -> Outcome {
    let points: i32 = rng.gen_range(1..500);
    let reason = format!("token reward {corr}");
    let mut tx = match c.transaction() {
        Ok(tx) => tx,
        Err(e) => return refused_or_lost(e, &[]),
    };
    let result = tx
        .execute("SELECT set_config('loyalty.staff_token', $1, true)", &[&token])
        .and_then(|_| {
            tx.query_one(
                "SELECT ledger_id, (balance_after - balance_before)::int, balance_after, idempotent_replay
                   FROM loyalty.manual_reward($1::text::uuid, NULL, $2, $3, p_correlation_id => $4)",
                &[&player, &points, &reason, &corr],
            )
        });
    match result {
        Ok(row) => match tx.commit() {
            Ok(()) => ack_from("token reward", corr, player, &row),
            Err(e) => refused_or_lost(e, &[]),
        },
        Err(e) => refused_or_lost(e, &[]),
    }
}

/// An adjustment of either sign by the supervisor.
fn adjustment(c: &mut Client, player: &str, corr: &str, rng: &mut StdRng) -> Outcome {
    let points: i32 = rng.gen_range(-300..300);
    let points = if points == 0 { 1 } else { points };
    match c.query_one(
        "SELECT ledger_id, $2::int, balance_after, idempotent_replay
           FROM loyalty.adjust_points($1::text::uuid, $3::text::uuid, $2, 'goodwill correction', $4,
                                      p_correlation_id => $4)",
        &[&player, &points, &STAFF_SUPERVISOR, &corr],
    ) {
        Ok(row) => ack_from("adjustment", corr, player, &row),
        Err(e) => refused_or_lost(e, &["23514"]),
    }
}

/// Holds (SPEC section 15): some expire during the run (an expiry job runs
/// beside the load in the stress test), some are captured, some released.
fn hold(
    c: &mut Client,
    player: &str,
    corr: &str,
    rng: &mut StdRng,
    holds: &mut Vec<i64>,
) -> Outcome {
    let points: i32 = rng.gen_range(1..300);
    let lasts_ms: i32 = rng.gen_range(300..5000);
    match c.query_one(
        "SELECT hold_id FROM loyalty.hold_points($1::text::uuid, $2, $3::text::uuid, 'show tickets held', $4,
                clock_timestamp() + $5::int * interval '1 millisecond', p_correlation_id => $4)",
        &[&player, &points, &STAFF_CASHIER, &corr, &lasts_ms],
    ) {
        Ok(row) => {
            holds.push(row.get(0));
            Outcome::Nothing
        }
        Err(e) => refused_or_lost(e, &["23514"]),
    }
}

/// A capture of one of this client's holds, all or part: a REDEMPTION, or
/// 55000 when the hold expired meanwhile.
fn capture(c: &mut Client, corr: &str, rng: &mut StdRng, holds: &mut Vec<i64>) -> Outcome {
    if holds.is_empty() {
        return Outcome::Nothing;
    }
    let hold = holds.swap_remove(rng.gen_range(0..holds.len()));
    let part: Option<i32> = rng.gen_bool(0.5).then_some(1);
    match c.query_one(
        "SELECT ledger_id, (balance_after - balance_before)::int, balance_after, idempotent_replay,
                player_id::text
           FROM loyalty.capture_hold($1, $2::text::uuid, $3, p_correlation_id => $4)",
        &[&hold, &STAFF_CASHIER, &part, &corr],
    ) {
        Ok(row) => {
            let player: String = row.get(4);
            ack_from("capture", corr, &player, &row)
        }
        Err(e) => refused_or_lost(e, &["55000"]),
    }
}

fn release(c: &mut Client, corr: &str, rng: &mut StdRng, holds: &mut Vec<i64>) -> Outcome {
    if holds.is_empty() {
        return Outcome::Nothing;
    }
    let hold = holds.swap_remove(rng.gen_range(0..holds.len()));
    match c.query_one(
        "SELECT 1 FROM loyalty.release_hold($1, $2::text::uuid, 'guest changed their mind', p_correlation_id => $3)",
        &[&hold, &STAFF_CASHIER, &corr],
    ) {
        Ok(_) => Outcome::Nothing,
        Err(e) => refused_or_lost(e, &["55000"]),
    }
}

fn redemption(c: &mut Client, player: &str, corr: &str, rng: &mut StdRng) -> Outcome {
    let points: i32 = rng.gen_range(1..800);
    match c.query_one(
        "SELECT ledger_id, -$2::int, balance_after, idempotent_replay
           FROM loyalty.redeem_points($1::text::uuid, $2, $3::text::uuid, 'comp at the buffet', $4,
                                      p_correlation_id => $4)",
        &[&player, &points, &STAFF_CASHIER, &corr],
    ) {
        Ok(row) => ack_from("redemption", corr, player, &row),
        Err(e) => refused_or_lost(e, &["23514"]),
    }
}

fn reversal(c: &mut Client, corr: &str, rng: &mut StdRng, mine: &[i64]) -> Outcome {
    if mine.is_empty() {
        return Outcome::Nothing;
    }
    let target = mine[rng.gen_range(0..mine.len())];
    match c.query_one(
        "SELECT ledger_id, (balance_after - balance_before)::int, balance_after, idempotent_replay,
                player_id::text
           FROM loyalty.reverse_entry($1, $2::text::uuid, 'reversed by the load test', p_correlation_id => $3)",
        &[&target, &STAFF_SUPERVISOR, &corr],
    ) {
        Ok(row) => {
            if row.get::<_, bool>(3) {
                Outcome::Replay(row.get(0))
            } else {
                let player: String = row.get(4);
                Outcome::Ack(Ack {
                    what: "reversal",
                    corr: corr.to_string(),
                    ledger_id: row.get(0),
                    player,
                    points_change: row.get(1),
                    balance_after: row.get(2),
                })
            }
        }
        Err(e) => refused_or_lost(e, &["23514", "55000"]),
    }
}

fn replay(
    c: &mut Client,
    campaign: &str,
    corr: &str,
    rng: &mut StdRng,
    promos: &[(String, i32, i64)],
) -> Outcome {
    if promos.is_empty() {
        return Outcome::Nothing;
    }
    let (player, sequence, told) = &promos[rng.gen_range(0..promos.len())];
    match c.query_one(
        "SELECT ledger_id, idempotent_replay FROM loyalty.apply_promotion($1::text::uuid, $2, $3,
                p_correlation_id => $4, p_sequence => $5)",
        &[player, &campaign, &CAMPAIGN_POINTS, &corr, sequence],
    ) {
        Ok(row) => {
            let (id, replay): (i64, bool) = (row.get(0), row.get(1));
            if id != *told || !replay {
                Outcome::Wrong(format!(
                    "replay of ledger {told} answered ledger {id}, replay={replay}"
                ))
            } else {
                Outcome::Replay(id)
            }
        }
        Err(e) => refused_or_lost(e, &[]),
    }
}

fn bad_call(c: &mut Client, player: &str, corr: &str, rng: &mut StdRng) -> Outcome {
    let (sql, state) = match rng.gen_range(0..4) {
        0 => ("SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 0, 'PROMOTION', $2)", "22023"),
        1 => ("SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 5, 'FREEBIE', $2)", "22023"),
        2 => ("SELECT 1 FROM loyalty.manual_reward($1::text::uuid, '5aff0000-0000-0000-0006-0000000000c1', 5, 'cashier tries an award ' || $2)", "42501"),
        _ => ("SELECT 1 FROM loyalty.manual_reward($1::text::uuid, '5aff0000-0000-0000-0006-0000000000a1', 10001, 'too big a reward ' || $2)", "22003"),
    };
    match c.query_one(sql, &[&player, &corr]) {
        Ok(_) => Outcome::Wrong(format!("a bad call succeeded: {sql}")),
        Err(e) => match e.code() {
            Some(code) if code.code() == state => Outcome::Refused(state.to_string()),
            _ => refused_or_lost(e, &[]),
        },
    }
}

/// What the checker found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub rows_checked: usize,
    pub acks: usize,
    pub lost: Vec<String>,
    pub mismatched: Vec<String>,
    pub refused_present: Vec<String>,
    pub unexplained_rows: Vec<String>,
    pub in_doubt_landed: usize,
    pub drift: Vec<String>,
    pub client_errors: Vec<String>,
}

impl Verdict {
    pub fn clean(&self) -> bool {
        self.lost.is_empty()
            && self.mismatched.is_empty()
            && self.refused_present.is_empty()
            && self.unexplained_rows.is_empty()
            && self.drift.is_empty()
            && self.client_errors.is_empty()
    }
}

/// Compares the log with the database on the test server.
pub fn check(db: &str, run: &str, log: &Log) -> Verdict {
    check_at(&super::server(), db, run, log)
}

/// Compares the log with the database on `server` (after a failover: the
/// promoted standby).
pub fn check_at(server: &str, db: &str, run: &str, log: &Log) -> Verdict {
    let mut c = connect_at(server, db);
    let mut v = Verdict {
        acks: log.acks.len(),
        client_errors: log.client_errors.clone(),
        ..Verdict::default()
    };
    v.drift = c
        .query("SELECT problem || ' ' || coalesce(player_id::text, '') || ' ' || detail FROM loyalty.drift_check()", &[])
        .expect("drift_check")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let rows = c
        .query(
            "SELECT id, player_id::text, points_change, balance_after, correlation_id
               FROM loyalty.loyalty_ledger WHERE correlation_id LIKE $1 || '-%'",
            &[&run],
        )
        .expect("ledger rows");
    v.rows_checked = rows.len();
    let in_db: HashMap<i64, (String, i32, i64, String)> = rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3), r.get(4))))
        .collect();
    let mut acked_ids = HashSet::new();
    for a in &log.acks {
        acked_ids.insert(a.ledger_id);
        match in_db.get(&a.ledger_id) {
            None => v
                .lost
                .push(format!("{} {} ledger {}", a.what, a.corr, a.ledger_id)),
            Some((player, points, after, corr)) => {
                if *player != a.player
                    || *points != a.points_change
                    || *after != a.balance_after
                    || *corr != a.corr
                {
                    v.mismatched.push(format!(
                        "{} {}: told ({}, {}, {}), stored ({player}, {points}, {after}, {corr})",
                        a.what, a.corr, a.player, a.points_change, a.balance_after
                    ));
                }
            }
        }
    }
    let refused: HashSet<&str> = log.refused.iter().map(|(c, _)| c.as_str()).collect();
    let doubt: HashSet<&str> = log.in_doubt.iter().map(|s| s.as_str()).collect();
    for (id, (_, _, _, corr)) in &in_db {
        if acked_ids.contains(id) {
            continue;
        }
        if refused.contains(corr.as_str()) {
            v.refused_present
                .push(format!("refused call {corr} left ledger row {id}"));
        } else if doubt.contains(corr.as_str()) {
            v.in_doubt_landed += 1;
        } else {
            v.unexplained_rows
                .push(format!("ledger row {id} ({corr}) was never acknowledged"));
        }
    }
    v
}

/// One line per figure, for the README's Reliability section.
pub fn report(name: &str, log: &Log, v: &Verdict, extra: &str) {
    println!(
        "{name}: ops={} acknowledged={} replays={} refused={} in_doubt={} (landed {}) rows_checked={} \
         lost={} mismatched={} refused_present={} unexplained={} drift={} client_errors={} {extra}",
        log.ops,
        v.acks,
        log.replays.len(),
        log.refused.len(),
        log.in_doubt.len(),
        v.in_doubt_landed,
        v.rows_checked,
        v.lost.len(),
        v.mismatched.len(),
        v.refused_present.len(),
        v.unexplained_rows.len(),
        v.drift.len(),
        v.client_errors.len(),
    );
    for (label, items) in [
        ("lost", &v.lost),
        ("mismatched", &v.mismatched),
        ("refused_present", &v.refused_present),
        ("unexplained", &v.unexplained_rows),
        ("drift", &v.drift),
        ("client_errors", &v.client_errors),
    ] {
        for item in items.iter().take(5) {
            println!("  {label}: {item}");
        }
    }
}
