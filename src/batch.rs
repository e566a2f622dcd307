//! `loyalty.apply_promotion_batch`: one campaign credited to many players
//! in one call (SPEC section 12), each player's credit exactly once, locked
//! and audited, at close to the cost of set-based SQL doing the same writes.
//!
//! The rules are those of `apply_promotion` (`crate::campaigns`,
//! `domain::campaign`, `domain::request`), applied to every player in turn
//! in Rust; only the reads and writes are set-based:
//! 1. the campaign's row is locked, as one credit locks it: every credit of
//!    the campaign, single or batched, queues behind it, so the budget is
//!    exact and a credit another session committed meanwhile is seen;
//! 2. the players' credit keys are looked up in one statement: a key held
//!    by the same request is a replay, by another request of the same type
//!    a conflict (23505).  A campaign that has credited nothing yet has
//!    nothing to replay, and its run skips the lookup unless step 5 finds
//!    a key held (then the run is decided again, from step 2, with it);
//! 3. each remaining credit is admitted against the campaign's budget, in
//!    player-id order;
//! 4. the admitted players' rows are created if missing and locked, in one
//!    statement each, in player-id order (two batches never deadlock), and
//!    each credit is computed from its locked row (`domain::request::apply`);
//! 5. one statement inserts every ledger row (without a per-row check
//!    for held keys: a held key fails it, in a subtransaction, and a
//!    statement that skips held keys replaces it) and updates each
//!    credited player's row from its ledger row; one more counts the
//!    points against the campaign.
//!
//! A key held by a row of another type (squatted, see
//! `ledger::settle_key`), a key committed by another session between steps
//! 3 and 5, and every credit at a casino that keeps lots (SPEC section 15)
//! go through the single-credit path instead (`ledger::change`), which
//! settles such keys and records lots.

use crate::authorize::Caller;
use crate::campaigns::{self, Credit};
use crate::domain::campaign::Campaign;
use crate::domain::error::{LockTarget, LoyaltyError};
use crate::domain::keys;
use crate::domain::request::{apply, Account, Applied, Route, TxType};
use crate::domain::text::{check_text, MAX_KEY_CHARS};
use crate::events;
use crate::guard;
use crate::ledger::{self, ChangeArgs};
use crate::plans::{self, required, Stmt};
use crate::subxact::{self, Failure};
use crate::tiers;
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use pgrx::PgSqlErrorCode;
use std::collections::HashMap;

type Uuid = pgrx::Uuid;

/// How a lock timeout names the players of a batch.
const BATCH: &str = "(one of the batch)";

/// The most players one call credits.
const MAX_PLAYERS: usize = 1_000_000;

/// One player's line of the result.
type Line = (
    Option<Uuid>,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// What became of one player's credit.
#[derive(Debug, Clone)]
enum Outcome {
    Credited { ledger_id: i64, balance_after: i64 },
    Replayed { ledger_id: i64, balance_after: i64 },
    Refused(Failure),
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// Credits a registered, current campaign to every player of p_player_ids in one call (each player's first credit of the campaign, at the campaign's points): one row per array element, in order, saying whether it was credited, replayed (credited before) or refused, and why (its SQLSTATE).
#[allow(clippy::type_complexity)]
fn apply_promotion_batch(
    p_reward_id: Option<&str>,
    p_player_ids: Option<Vec<Option<Uuid>>>,
    p_correlation_id: default!(Option<&str>, "NULL"),
    p_casino_id: default!(Option<Uuid>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(player_id, Option<Uuid>),
        name!(outcome, String),
        name!(ledger_id, Option<i64>),
        name!(balance_after, Option<i64>),
        name!(sqlstate, Option<String>),
        name!(message, Option<String>),
    ),
> {
    let lines = guard::write_call("apply_promotion_batch", p_correlation_id, |corr| {
        let reward_id = p_reward_id
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| LoyaltyError::invalid("p_reward_id must not be null or blank"))?;
        check_text("p_reward_id", reward_id, MAX_KEY_CHARS)?;
        let players =
            p_player_ids.ok_or_else(|| LoyaltyError::invalid("p_player_ids must not be null"))?;
        if players.len() > MAX_PLAYERS {
            return Err(LoyaltyError::invalid_with(
                format!("p_player_ids may hold at most {MAX_PLAYERS} players"),
                vec![("players", players.len().to_string())],
            ));
        }
        let caller = Caller::resolve(None, false, p_casino_id, corr)?;
        let outcomes = Spi::connect_mut(|c| credit_all(c, &caller, reward_id, &players, corr))?;
        let count = |f: fn(&Outcome) -> bool| outcomes.values().filter(|o| f(o)).count();
        events::emit(
            "promotion_batch",
            corr,
            &[
                ("reward_id", reward_id.to_string()),
                ("players", players.len().to_string()),
                (
                    "credited",
                    count(|o| matches!(o, Outcome::Credited { .. })).to_string(),
                ),
                (
                    "replayed",
                    count(|o| matches!(o, Outcome::Replayed { .. })).to_string(),
                ),
                (
                    "refused",
                    count(|o| matches!(o, Outcome::Refused(_))).to_string(),
                ),
            ],
        );
        Ok(lines_in_order(&players, outcomes))
    });
    TableIterator::new(lines)
}

/// The result, one line per element of the argument, in its order: a
/// player named twice is credited once, and replayed the second time.
fn lines_in_order(players: &[Option<Uuid>], outcomes: HashMap<Uuid, Outcome>) -> Vec<Line> {
    let mut seen = std::collections::HashSet::new();
    players
        .iter()
        .map(|p| {
            let Some(p) = p else {
                let e = LoyaltyError::invalid("a player id must not be null");
                return (
                    None,
                    "refused".into(),
                    None,
                    None,
                    Some(e.sqlstate().into()),
                    Some(e.to_string()),
                );
            };
            let first = seen.insert(*p);
            match outcomes.get(p) {
                Some(Outcome::Credited {
                    ledger_id,
                    balance_after,
                }) if first => (
                    Some(*p),
                    "credited".into(),
                    Some(*ledger_id),
                    Some(*balance_after),
                    None,
                    None,
                ),
                Some(Outcome::Credited {
                    ledger_id,
                    balance_after,
                })
                | Some(Outcome::Replayed {
                    ledger_id,
                    balance_after,
                }) => (
                    Some(*p),
                    "replayed".into(),
                    Some(*ledger_id),
                    Some(*balance_after),
                    None,
                    None,
                ),
                Some(Outcome::Refused(e)) => (
                    Some(*p),
                    "refused".into(),
                    None,
                    None,
                    Some(e.sqlstate.clone()),
                    Some(e.message.clone()),
                ),
                None => (
                    Some(*p),
                    "refused".into(),
                    None,
                    None,
                    Some("XX000".into()),
                    Some("no outcome".into()),
                ),
            }
        })
        .collect()
}

/// The arguments of one player's credit, as `apply_promotion` makes them.
fn credit_args(player: Uuid, credit: &Credit, points: i32, caller: &Caller) -> ChangeArgs {
    let key = keys::campaign_credit_key(&player.to_string(), &credit.reward_id, credit.sequence);
    let mut args = ChangeArgs::typed(
        TxType::Promotion,
        Some(player),
        Some(points),
        Some(key),
        None,
        None,
    );
    args.route = Route::Campaign;
    args.campaign = Some(credit.clone());
    args.caller = Some(caller.clone());
    args
}

/// One player's credit through the single-credit path, in a
/// subtransaction: a refusal rolls back whatever the path did before it
/// refused (the campaign's count), as it would for a single call.
fn credit_one(player: Uuid, credit: &Credit, points: i32, caller: &Caller, corr: &str) -> Outcome {
    match subxact::run(|| ledger::change(&credit_args(player, credit, points, caller), corr)) {
        Ok(r) if r.idempotent_replay => Outcome::Replayed {
            ledger_id: r.ledger_id,
            balance_after: r.balance_after,
        },
        Ok(r) => Outcome::Credited {
            ledger_id: r.ledger_id,
            balance_after: r.balance_after,
        },
        Err(failure) => Outcome::Refused(failure),
    }
}

/// A credit computed for the bulk write.
struct Pending {
    player: Uuid,
    /// The player's id as text (`keys::uuid_text`).
    text: String,
    key: String,
    fingerprint: String,
    applied: Applied,
}

fn credit_all(
    c: &mut SpiClient<'_>,
    caller: &Caller,
    reward_id: &str,
    players: &[Option<Uuid>],
    corr: &str,
) -> Result<HashMap<Uuid, Outcome>, LoyaltyError> {
    let casino = caller.casino_id();
    let credit = Credit {
        reward_id: reward_id.to_string(),
        sequence: 1,
    };
    let mut ids: Vec<Uuid> = players.iter().flatten().copied().collect();
    ids.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    ids.dedup();
    let texts: Vec<String> = ids.iter().map(|p| keys::uuid_text(p.as_bytes())).collect();

    // 1. The campaign, locked; campaign-wide refusals (unknown, not
    // running) fail the call: they would refuse every player alike.
    let locked = campaigns::lock(c, casino, &credit, corr)?;
    let (campaign_id, campaign) = campaigns::found(&credit, locked)?;
    let points = campaign.points_per_credit;
    campaign
        .admit(credit.sequence, points, guard::now())
        .or_else(|e| match e {
            // Budget is decided per player below.
            LoyaltyError::Exhausted { .. } => Ok(()),
            e => Err(e),
        })?;
    if caller.casino.expiry.keeps_lots() {
        return Ok(ids
            .into_iter()
            .map(|p| (p, credit_one(p, &credit, points, caller, corr)))
            .collect());
    }
    // A campaign that has credited nothing yet (its count is exact under
    // its lock) has no credit to replay: its keys are not looked up, unless
    // the insert finds one held by another request.  Then the whole run is
    // decided again, with every key looked up: the budget admits players
    // knowing which of them are refused for their key.  Races that remain
    // (found by a review; none credits twice or over the budget): a key
    // another session inserts while the run is decided again is found only
    // by the insert, and its player's share of the budget is then unspent
    // by this run (a later player may be refused 53400 with budget left;
    // running the batch again credits it); a session waiting on a key the
    // first insert had written takes it when that insert is rolled back,
    // as if it had come first (its player refused, 23505, as a squatted
    // key is); a player created by the first attempt and then refused
    // keeps its empty row.
    let set = Set {
        caller,
        credit: &credit,
        campaign_id,
        ids: &ids,
        texts: &texts,
        corr,
    };
    let look_up = campaign.credited_points > 0;
    match credit_set(c, &set, campaign.clone(), look_up)? {
        Some(outcomes) => Ok(outcomes),
        None => credit_set(c, &set, campaign, true)?.ok_or_else(|| {
            LoyaltyError::internal("a batch found a held key after looking keys up")
        }),
    }
}

/// What steps 2 to 5 of a run work on.
struct Set<'a> {
    caller: &'a Caller,
    credit: &'a Credit,
    campaign_id: i64,
    /// The players, in id order, without repeats, and their ids as text.
    ids: &'a [Uuid],
    texts: &'a [String],
    corr: &'a str,
}

/// Steps 2 to 5 of a run.  `None`: the campaign's keys were not looked up
/// (`look_up` false) and one of them is held by another request; nothing
/// was written.
fn credit_set(
    c: &mut SpiClient<'_>,
    set: &Set<'_>,
    mut campaign: Campaign,
    look_up: bool,
) -> Result<Option<HashMap<Uuid, Outcome>>, LoyaltyError> {
    let Set {
        caller,
        credit,
        campaign_id,
        ids,
        texts,
        corr,
    } = *set;
    let casino = caller.casino_id();
    let points = campaign.points_per_credit;
    let reward_id = credit.reward_id.as_str();
    let mut outcomes = HashMap::with_capacity(ids.len());

    // 2. The keys already in the ledger: replays and conflicts need no
    // lock (a credit of this campaign by another session waits for its
    // row, which this call holds).
    let keys: Vec<String> = texts
        .iter()
        .map(|p| keys::campaign_credit_key(p, reward_id, credit.sequence))
        .collect();
    let mut held: HashMap<String, (i64, i64, String, String)> = HashMap::new();
    let known = if look_up {
        Some(plans::run(c, &KEYS, &[casino.into(), keys.clone().into()])?)
    } else {
        None
    };
    for r in known.into_iter().flatten() {
        held.insert(
            required(r.get(1)?, "idempotency_key")?,
            (
                required(r.get(2)?, "id")?,
                required(r.get(3)?, "balance_after")?,
                required(r.get(4)?, "request_fingerprint")?,
                required(r.get(5)?, "transaction_type")?,
            ),
        );
    }

    // 3. Each new credit, in player order, admitted under the budget.  The
    // request is the same for every player but the player and its key:
    // validated once (for the first player) and fingerprinted per player.
    let mut admitted = Vec::new();
    let mut one_by_one = Vec::new();
    let mut template = None;
    for ((player, text), key) in ids.iter().copied().zip(texts).zip(keys) {
        let req = match &mut template {
            Some(req) => req,
            None => match credit_args(player, credit, points, caller).request(caller) {
                Ok(req) => template.insert(req),
                Err(e) => {
                    // Nothing in the request depends on the player: every
                    // player would be refused alike.
                    return Err(e);
                }
            },
        };
        req.player_id = text.clone();
        req.idempotency_key = key.clone();
        let fingerprint = req.fingerprint();
        match held.get(&key) {
            Some((_, _, _, tx_type)) if tx_type != TxType::Promotion.as_str() => {
                one_by_one.push(player);
                continue;
            }
            Some((ledger_id, balance_after, fp, _)) if *fp == fingerprint => {
                outcomes.insert(
                    player,
                    Outcome::Replayed {
                        ledger_id: *ledger_id,
                        balance_after: *balance_after,
                    },
                );
                continue;
            }
            Some((ledger_id, ..)) => {
                outcomes.insert(
                    player,
                    Outcome::Refused(
                        LoyaltyError::IdempotencyConflict {
                            key: key.clone(),
                            existing_ledger_id: *ledger_id,
                        }
                        .into(),
                    ),
                );
                continue;
            }
            None => {}
        }
        if let Err(e) = campaign.admit(credit.sequence, points, guard::now()) {
            outcomes.insert(player, Outcome::Refused(e.into()));
            continue;
        }
        campaign.credited_points += points as i64;
        admitted.push((player, std::mem::take(&mut req.player_id), key, fingerprint));
    }

    // 4. The admitted players' rows, created if need be, then locked (in
    // player order), and each credit computed from its locked row.
    let ladder = tiers::ladder(c, casino)?;
    let players: Vec<Uuid> = admitted.iter().map(|(p, ..)| *p).collect();
    // Each wait (for a player another session is creating or changing)
    // lasts at most loyalty.lock_timeout.
    let mut accounts = HashMap::with_capacity(players.len());
    lock_players(c, casino, players.clone(), &mut accounts, corr)?;
    if accounts.len() < players.len() {
        let missing: Vec<Uuid> = players
            .iter()
            .filter(|p| !accounts.contains_key(*p))
            .copied()
            .collect();
        guard::with_lock_timeout(LockTarget::Player, &BATCH, corr, || {
            plans::run(
                c,
                &CREATE,
                &[
                    casino.into(),
                    missing.clone().into(),
                    ladder.base().name.as_str().into(),
                ],
            )
        })?;
        lock_players(c, casino, missing, &mut accounts, corr)?;
    }
    let mut pending = Vec::with_capacity(admitted.len());
    for (player, text, key, fingerprint) in admitted {
        let account = accounts
            .get(&player)
            .ok_or_else(|| LoyaltyError::internal("a batch player has no row after creation"))?;
        match apply(account, points, &ladder) {
            Ok(applied) => pending.push(Pending {
                player,
                text,
                key,
                fingerprint,
                applied,
            }),
            Err(e) => {
                outcomes.insert(player, Outcome::Refused(e.into()));
            }
        }
    }

    // 5. The writes.
    let Some(credited) = write(c, caller, campaign_id, points, &pending, look_up, corr)? else {
        return Ok(None);
    };
    let mut total = 0i64;
    for p in &pending {
        match credited.get(&p.player) {
            Some(ledger_id) => {
                total += points as i64;
                ledger::announce(
                    &caller.casino,
                    &ladder,
                    &p.applied,
                    &p.text,
                    TxType::Promotion,
                    *ledger_id,
                    corr,
                )?;
                outcomes.insert(
                    p.player,
                    Outcome::Credited {
                        ledger_id: *ledger_id,
                        balance_after: p.applied.balance_after,
                    },
                );
            }
            // Its key was committed by another session meanwhile.
            None => one_by_one.push(p.player),
        }
    }
    if total > 0 {
        campaigns::count(c, campaign_id, total)?;
    }
    for p in one_by_one {
        outcomes.insert(p, credit_one(p, credit, points, caller, corr));
    }
    Ok(Some(outcomes))
}

/// Locks the rows of `players` that exist (in player-id order) and adds
/// them to `accounts`.
fn lock_players(
    c: &mut SpiClient<'_>,
    casino: &str,
    players: Vec<Uuid>,
    accounts: &mut HashMap<Uuid, Account>,
    corr: &str,
) -> Result<(), LoyaltyError> {
    for r in guard::with_lock_timeout(LockTarget::Player, &BATCH, corr, || {
        plans::run(c, &LOCK, &[casino.into(), players.into()])
    })? {
        let player: Uuid = required(r.get(1)?, "player_id")?;
        accounts.insert(
            player,
            Account {
                balance: required(r.get(2)?, "current_balance")?,
                lifetime_points: required(r.get(3)?, "lifetime_points")?,
                tier: required(r.get(4)?, "tier")?,
                held: 0,
                expired: 0,
            },
        );
    }
    Ok(())
}

/// Inserts the ledger rows of `pending` and updates their players; returns
/// the ledger id of each player whose row was inserted.  A key held by
/// another request skips its player when the keys were `looked_up` (a
/// commit since the lookup), and writes nothing otherwise (`None`).
fn write(
    c: &mut SpiClient<'_>,
    caller: &Caller,
    campaign_id: i64,
    points: i32,
    pending: &[Pending],
    looked_up: bool,
    corr: &str,
) -> Result<Option<HashMap<Uuid, i64>>, LoyaltyError> {
    let mut inserted = HashMap::with_capacity(pending.len());
    if pending.is_empty() {
        return Ok(Some(inserted));
    }
    let col = |f: fn(&Pending) -> String| pending.iter().map(f).collect::<Vec<String>>();
    let players: Vec<Uuid> = pending.iter().map(|p| p.player).collect();
    let before: Vec<i64> = pending.iter().map(|p| p.applied.balance_before).collect();
    let progress: Vec<i32> = pending.iter().map(|p| p.applied.progress_after).collect();
    let lifetime: Vec<i64> = pending.iter().map(|p| p.applied.lifetime_after).collect();
    let casino = caller.casino_id();
    let args = [
        casino.into(),
        points.into(),
        corr.into(),
        caller.role.as_str().into(),
        campaign_id.into(),
        players.into(),
        col(|p| p.key.clone()).into(),
        col(|p| p.fingerprint.clone()).into(),
        before.into(),
        col(|p| p.applied.tier_before.clone()).into(),
        col(|p| p.applied.tier_after.clone()).into(),
        progress.into(),
        lifetime.into(),
    ];
    let written = |c: &mut SpiClient<'_>, stmt: &'static Stmt| {
        plans::run(c, stmt, &args)?
            .map(|r| {
                Ok((
                    required::<Uuid>(r.get(1)?, "player_id")?,
                    required::<i64>(r.get(2)?, "id")?,
                ))
            })
            .collect::<Result<Vec<_>, LoyaltyError>>()
    };
    // Every key is new but for a rare one another request holds: the plain
    // insert fails on it (rolled back), and after a lookup is replaced by
    // one that skips held keys, at the price of a check per row.  A key
    // another session is inserting makes either wait (at most
    // loyalty.lock_timeout) for its commit.
    let rows =
        guard::with_lock_timeout(LockTarget::Player, &BATCH, corr, || {
            match subxact::unless(PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION, || {
                written(c, &INSERT_NEW)
            }) {
                Some(rows) => rows.map(Some),
                None if looked_up => written(c, &INSERT).map(Some),
                None => Ok(None),
            }
        })?;
    let Some(rows) = rows else {
        return Ok(None);
    };
    inserted.extend(rows);
    Ok(Some(inserted))
}

/// The players without a row, created in the ladder's base tier, in
/// player-id order.
static CREATE: Stmt = Stmt {
    args: &[O::TEXTOID, O::UUIDARRAYOID, O::TEXTOID],
    sql: "\
INSERT INTO loyalty.player_loyalty (casino_id, player_id, tier)
SELECT $1::uuid, p, $3 FROM unnest($2::uuid[]) AS p ORDER BY p
    ON CONFLICT (casino_id, player_id) DO NOTHING",
};

/// The players' rows, locked in player-id order.
static LOCK: Stmt = Stmt {
    args: &[O::TEXTOID, O::UUIDARRAYOID],
    sql: "\
SELECT p.player_id, p.current_balance, p.lifetime_points, p.tier
  FROM loyalty.player_loyalty p
 WHERE p.casino_id = $1::uuid AND p.player_id = ANY ($2)
 ORDER BY p.player_id
   FOR UPDATE OF p",
};

/// The ledger rows holding any of the keys.
static KEYS: Stmt = Stmt {
    args: &[O::TEXTOID, O::TEXTARRAYOID],
    sql: "\
SELECT idempotency_key, id, balance_after, request_fingerprint, transaction_type
  FROM loyalty.loyalty_ledger
 WHERE casino_id = $1::uuid AND idempotency_key = ANY ($2)",
};

/// The ledger rows of the credits ($6–$13, one array element per player),
/// then (`insert_tail`) each credited player's row as its ledger row left
/// it, in the same statement.
macro_rules! insert_head {
    () => {
        "\
WITH entry AS (
INSERT INTO loyalty.loyalty_ledger
    (casino_id, player_id, points_change, transaction_type, idempotency_key, request_fingerprint,
     balance_before, balance_after, tier_before, tier_after, tier_progress_after,
     lifetime_points_after, correlation_id, actor_role, campaign_id, campaign_credit)
SELECT $1::uuid, u.player_id, $2, 'PROMOTION', u.key, u.fingerprint,
       u.before, u.before + $2, u.tier_before, u.tier_after, u.progress,
       u.lifetime, $3, $4, $5, 1
  FROM unnest($6::uuid[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[],
              $12::int[], $13::bigint[])
       AS u(player_id, key, fingerprint, before, tier_before, tier_after, progress, lifetime)"
    };
}

/// See `insert_head`.
macro_rules! insert_tail {
    () => {
        "
RETURNING player_id, id, created_at, balance_after, lifetime_points_after, tier_after,
          tier_progress_after
), player AS (
    UPDATE loyalty.player_loyalty p
       SET current_balance = e.balance_after, lifetime_points = e.lifetime_points_after,
           tier = e.tier_after, tier_progress = e.tier_progress_after, updated_at = e.created_at
      FROM entry e
     WHERE p.casino_id = $1::uuid AND p.player_id = e.player_id
)
SELECT player_id, id FROM entry"
    };
}

/// The ledger rows of `INSERT`, when every key is new.
static INSERT_NEW: Stmt = Stmt {
    args: INSERT.args,
    sql: concat!(insert_head!(), insert_tail!()),
};

/// Every credit's ledger row; a key held by another request (committed
/// meanwhile by another session, or of another type) is skipped, and that
/// player credited one by one.
static INSERT: Stmt = Stmt {
    args: &[
        O::TEXTOID,
        O::INT4OID,
        O::TEXTOID,
        O::TEXTOID,
        O::INT8OID,
        O::UUIDARRAYOID,
        O::TEXTARRAYOID,
        O::TEXTARRAYOID,
        O::INT8ARRAYOID,
        O::TEXTARRAYOID,
        O::TEXTARRAYOID,
        O::INT4ARRAYOID,
        O::INT8ARRAYOID,
    ],
    sql: concat!(
        insert_head!(),
        "
    ON CONFLICT (casino_id, idempotency_key) DO NOTHING",
        insert_tail!()
    ),
};
