//! `loyalty.increment_player_loyalty`: the one write path (SPEC section 3).
//!
//! Per call, in the caller's transaction: resolve who calls (login role,
//! staff member, token), validate (pure, before any lock), check the
//! caller's authority, look the key up (a replay returns the original row,
//! takes no lock and writes nothing), count the change against its velocity
//! limits and its campaign, lock the player's row (creating it for a new
//! player), compute the change (pure), then insert the ledger row and update
//! the player in one statement.  A key committed by a concurrent caller after
//! the first lookup is caught by `ON CONFLICT DO NOTHING` on the ledger's
//! unique key, before anything is written, and answered as a replay.  The
//! statements are prepared once per backend and kept.

use crate::authorize::{self, Caller};
use crate::campaigns::{self, Credit};
use crate::domain::casino::Casino;
use crate::domain::error::{LockTarget, LoyaltyError};
use crate::domain::expiry::Lots;
use crate::domain::keys;
use crate::domain::request::{apply, Account, Applied, ChangeRequest, RawRequest, Route, TxType};
use crate::domain::slip;
use crate::domain::tier::Ladder;
use crate::events;
use crate::guard;
use crate::gucs;
use crate::holds;
use crate::lots;
use crate::plans::{self, required, Stmt};
use crate::probe;
use crate::slips;
use crate::tiers;
use crate::velocity;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{self, PgBuiltInOids as O};
use pgrx::prelude::*;
use pgrx::spi::SpiClient;
use std::rc::Rc;

/// What a write function returns: the player after the change and its ledger row.
#[derive(Debug, Clone)]
pub struct ChangeResult {
    pub player_id: pgrx::Uuid,
    pub balance_before: i64,
    pub balance_after: i64,
    pub tier_before: String,
    pub tier_after: String,
    pub tier_progress: i32,
    pub lifetime_points: i64,
    pub updated_at: TimestampWithTimeZone,
    pub row_locked: bool,
    pub ledger_id: i64,
    pub idempotent_replay: bool,
    pub correlation_id: String,
}

/// The arguments of a change, as the SQL surface received them.
#[derive(Debug, Clone, Default)]
pub struct ChangeArgs {
    pub player_id: Option<pgrx::Uuid>,
    pub delta: Option<i32>,
    pub tx_type: Option<String>,
    pub idempotency_key: Option<String>,
    pub reason: Option<String>,
    pub staff_id: Option<pgrx::Uuid>,
    pub rating_slip_id: Option<pgrx::Uuid>,
    pub visit_id: Option<pgrx::Uuid>,
    pub reverses_ledger_id: Option<i64>,
    pub route: Route,
    /// For a campaign credit (`apply_promotion`).
    pub campaign: Option<Credit>,
    /// The caller, when the entry point resolved it already (to derive its
    /// key from the staff member who acts, or to check authority first).
    pub caller: Option<Caller>,
    /// The casino the call names (`p_casino_id`), when the entry point has
    /// not resolved the caller.
    pub casino: Option<pgrx::Uuid>,
    /// For an EXPIRATION: the expired lots it writes off, and how much of
    /// each (`crate::lots`).
    pub expiring: Option<Vec<(i64, i64)>>,
    /// For a capture: the points its hold reserved.
    pub reserved: i64,
    /// For an EXPIRATION: the player's account and lots as its caller
    /// already read them under the player's row lock, held by this
    /// transaction (`crate::lots::expire_points`), so that they are not
    /// locked and read a second time.
    pub opened: Option<(Account, Lots)>,
}

/// Placeholder key while a required argument is missing: validation then
/// reports the missing argument, not the key.
pub const PENDING_KEY: &str = "pending";

impl ChangeArgs {
    /// The arguments of a typed entry point (manual reward, promotion,
    /// redemption, adjustment): no slip, visit or reversed entry.
    pub fn typed(
        tx_type: TxType,
        player_id: Option<pgrx::Uuid>,
        delta: Option<i32>,
        idempotency_key: Option<String>,
        reason: Option<&str>,
        staff_id: Option<pgrx::Uuid>,
    ) -> ChangeArgs {
        ChangeArgs {
            player_id,
            delta,
            tx_type: Some(tx_type.as_str().to_string()),
            idempotency_key,
            reason: reason.map(str::to_string),
            staff_id,
            route: Route::Typed,
            ..ChangeArgs::default()
        }
    }

    /// The validated request these arguments make for `caller` (SPEC
    /// section 5; `domain::request`).
    pub fn request(&self, caller: &Caller) -> Result<ChangeRequest, LoyaltyError> {
        ChangeRequest::new(
            self.raw(caller.staff.clone()),
            caller.casino.limits(gucs::limits()),
        )
    }

    fn raw(&self, staff_id: Option<String>) -> RawRequest {
        let s = |u: &Option<pgrx::Uuid>| u.as_ref().map(|u| u.to_string());
        RawRequest {
            player_id: s(&self.player_id),
            delta: self.delta,
            tx_type: self.tx_type.clone(),
            idempotency_key: self.idempotency_key.clone(),
            reason: self.reason.clone(),
            staff_id,
            rating_slip_id: s(&self.rating_slip_id),
            visit_id: s(&self.visit_id),
            reverses_ledger_id: self.reverses_ledger_id,
            route: self.route,
        }
    }
}

#[pg_extern(security_definer, volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
/// The one write path: applies one change to one player's points exactly once.
#[allow(clippy::too_many_arguments)]
fn increment_player_loyalty(
    p_player_id: Option<pgrx::Uuid>,
    p_delta_points: Option<i32>,
    p_transaction_type: Option<&str>,
    p_idempotency_key: Option<&str>,
    p_reason: default!(Option<&str>, "NULL"),
    p_staff_id: default!(Option<pgrx::Uuid>, "NULL"),
    p_rating_slip_id: default!(Option<pgrx::Uuid>, "NULL"),
    p_visit_id: default!(Option<pgrx::Uuid>, "NULL"),
    p_correlation_id: default!(Option<&str>, "NULL"),
    p_casino_id: default!(Option<pgrx::Uuid>, "NULL"),
) -> pgrx::composite_type!('static, "change_result") {
    let args = ChangeArgs {
        player_id: p_player_id,
        delta: p_delta_points,
        tx_type: p_transaction_type.map(str::to_string),
        idempotency_key: p_idempotency_key.map(str::to_string),
        reason: p_reason.map(str::to_string),
        staff_id: p_staff_id,
        rating_slip_id: p_rating_slip_id,
        visit_id: p_visit_id,
        reverses_ledger_id: None,
        route: Route::Direct,
        campaign: None,
        caller: None,
        casino: p_casino_id,
        expiring: None,
        reserved: 0,
        opened: None,
    };
    guard::write_call("increment_player_loyalty", p_correlation_id, |corr| {
        change(&args, corr)
    })
    .into_tuple()
}

/// Validates and applies one change.  Every typed write function ends here.
pub fn change(args: &ChangeArgs, correlation_id: &str) -> Result<ChangeResult, LoyaltyError> {
    let caller = match &args.caller {
        Some(caller) => caller.clone(),
        None => {
            let named = args.staff_id.map(|s| s.to_string());
            Caller::for_change(
                named.as_deref(),
                args.tx_type.as_deref(),
                args.casino,
                correlation_id,
            )?
        }
    };
    let req = args.request(&caller)?;
    let casino = caller.casino_id();
    let player_id = args
        .player_id
        .ok_or_else(|| LoyaltyError::invalid("p_player_id must not be null"))?;
    let fingerprint = req.fingerprint();

    Spi::connect_mut(|client| {
        // Authority before the key: a replay is answered only to a caller
        // who could have made the change.
        authorize::check(client, &caller, &req, correlation_id)?;
        let derived = args.route.derives_key(req.tx_type);
        let (key, prior) = settle_key(casino, &req, derived, correlation_id)?;
        if let Some(prior) = prior {
            return prior.answer(&req, &fingerprint, correlation_id);
        }
        // A slip complete_rating_slip recorded is credited by its saga only
        // (a direct call may still replay what the saga wrote, above).
        if args.route == Route::Direct && req.tx_type == TxType::Gameplay {
            if let Some(slip) = args.rating_slip_id {
                let recorded = slips::store::recorded_state(client, casino, slip, correlation_id)?;
                slip::direct_credit(&slip.to_string(), recorded)?;
            }
        }
        // Quotas after the key, so that a replay never uses any.  Their rows
        // are locked first and the key looked up again: a concurrent call
        // with the same key held them until it committed, and this call is
        // its replay, with nothing counted twice.
        let usage = match req.tx_type.velocity_kind() {
            Some(kind) if args.route.counts_velocity() => {
                Some(velocity::lock(client, &caller, kind, correlation_id)?)
            }
            _ => None,
        };
        let campaign = match &args.campaign {
            Some(credit) => Some((
                credit,
                campaigns::lock(client, casino, credit, correlation_id)?,
            )),
            None => None,
        };
        if usage.is_some() || campaign.is_some() {
            if let Some(prior) = find_by_key(casino, &key)? {
                return prior.answer(&req, &fingerprint, correlation_id);
            }
        }
        // Admitted now; the usage rows are written with the change.
        let saved = match usage {
            Some(usage) => {
                velocity::admit(&caller, usage, (req.delta as i64).abs(), correlation_id)?
            }
            None => vec![],
        };
        let campaign_id = match campaign {
            Some((credit, locked)) => Some(campaigns::admit(client, credit, locked, req.delta)?),
            None => None,
        };
        let entry = Entry {
            player_id,
            req: &req,
            args,
            key: &key,
            fingerprint: &fingerprint,
            caller: &caller,
            campaign_id,
            correlation_id,
            saved: &saved,
        };
        let written = match write_unlocked(client, &entry)? {
            Unlocked::Done(written) => written,
            Unlocked::Lock { queue } => write_locked(client, &entry, queue)?,
        };
        let Some(Written {
            applied,
            ladder,
            ledger_id,
            created_at,
        }) = written
        else {
            // A concurrent caller committed this key after our first look.
            let prior = find_by_key(casino, &key)?
                .ok_or_else(|| LoyaltyError::internal("conflicting key vanished"))?;
            return prior.answer(&req, &fingerprint, correlation_id);
        };

        announce(
            &caller.casino,
            &ladder,
            &applied,
            &req.player_id,
            req.tx_type,
            ledger_id,
            correlation_id,
        )?;
        Ok(ChangeResult {
            player_id,
            balance_before: applied.balance_before,
            balance_after: applied.balance_after,
            tier_before: applied.tier_before,
            tier_after: applied.tier_after,
            tier_progress: applied.progress_after,
            lifetime_points: applied.lifetime_after,
            updated_at: created_at,
            row_locked: true,
            ledger_id,
            idempotent_replay: false,
            correlation_id: correlation_id.to_string(),
        })
    })
}

/// A change ready to be written: everything but the player's row.
struct Entry<'a> {
    player_id: pgrx::Uuid,
    req: &'a ChangeRequest,
    args: &'a ChangeArgs,
    key: &'a str,
    fingerprint: &'a str,
    caller: &'a Caller,
    campaign_id: Option<i64>,
    correlation_id: &'a str,
    /// The velocity usage rows as the change leaves them (locked).
    saved: &'a [velocity::Saved],
}

/// What `write_unlocked` did.
enum Unlocked {
    /// Wrote the change, or (`None`) found its key committed meanwhile by
    /// a concurrent caller.
    Done(Option<Written>),
    /// Left it to `write_locked`; `queue`: the player is being changed by
    /// another transaction right now.
    Lock { queue: bool },
}

/// A change written: the player after it and its ledger row.
struct Written {
    applied: Applied,
    ladder: Rc<Ladder>,
    ledger_id: i64,
    created_at: TimestampWithTimeZone,
}

impl Entry<'_> {
    /// The arguments of `WRITE` (and the first 21 of `SWAP`).
    fn write_args(&self, applied: &Applied) -> Vec<DatumWithOid<'_>> {
        let req = self.req;
        vec![
            self.player_id.into(),
            req.delta.into(),
            req.tx_type.as_str().into(),
            req.reason.as_deref().into(),
            self.args.rating_slip_id.into(),
            self.args.visit_id.into(),
            self.key.into(),
            self.fingerprint.into(),
            req.staff_id.as_deref().into(),
            applied.balance_before.into(),
            applied.balance_after.into(),
            applied.tier_before.as_str().into(),
            applied.tier_after.as_str().into(),
            applied.progress_after.into(),
            applied.lifetime_after.into(),
            self.correlation_id.into(),
            req.reverses_ledger_id.into(),
            self.caller.role.as_str().into(),
            self.campaign_id.into(),
            self.args.campaign.as_ref().map(|c| c.sequence).into(),
            self.caller.casino_id().into(),
        ]
    }
}

/// The common case, in one statement and without a lock statement before
/// it: the player's row is read (`probe::player`, no lock), the change is
/// computed from it, and `SWAP` updates the row only if it still holds what
/// was read (taking the row lock as any update does) and inserts the ledger
/// row only if the update happened.  The result depends on nothing else of
/// the row, so a row unchanged in those columns is as good as a locked one.
///
/// `Unlocked::Lock`: this path does not apply, and the caller takes the
/// locked one: a new player, a casino that keeps lots, a capture, held
/// points (their expired holds are swept under the lock), a row another
/// transaction is changing right now (a hot player: see `queue_for`), a
/// change the row as read refuses (the locked path decides on the current
/// row), or a row changed since it was read.  `Unlocked::Done(None)`: a
/// concurrent caller committed the same key between the lookup and the
/// insert; the player's update is undone (the row is locked by then) and
/// the caller answers from that row.
fn write_unlocked(client: &mut SpiClient<'_>, e: &Entry<'_>) -> Result<Unlocked, LoyaltyError> {
    let casino = e.caller.casino_id();
    let plain = Unlocked::Lock { queue: false };
    if e.caller.casino.expiry.keeps_lots() || e.args.route == Route::Capture {
        return Ok(plain);
    }
    let Some(row) = probe::player(casino, e.player_id)? else {
        return Ok(plain);
    };
    if row.busy {
        return Ok(Unlocked::Lock { queue: true });
    }
    if row.held_points != 0 {
        return Ok(plain);
    }
    let ladder = tiers::ladder(client, casino)?;
    let account = Account {
        balance: row.current_balance,
        lifetime_points: row.lifetime_points,
        tier: row.tier.clone(),
        held: 0,
        expired: 0,
    };
    let Ok(applied) = apply(&account, e.req.delta, &ladder) else {
        return Ok(plain);
    };
    let mut args = e.write_args(&applied);
    args.push(row.lifetime_points.into());
    let swap = swap_for(e.saved.len())?;
    for saved in e.saved {
        args.extend(velocity::save_args(saved));
    }
    let (updated, entry) =
        guard::with_lock_timeout(LockTarget::Player, &e.player_id, e.correlation_id, || {
            let rows = plans::run(client, swap, &args)?;
            let r = rows.first();
            let updated = required::<i64>(r.get(1)?, "updated")?;
            let id: Option<i64> = r.get(2)?;
            let at: Option<TimestampWithTimeZone> = r.get(3)?;
            Ok::<_, LoyaltyError>((updated, id.zip(at)))
        })?;
    match (updated, entry) {
        (0, _) => Ok(plain),
        (_, Some((ledger_id, created_at))) => Ok(Unlocked::Done(Some(Written {
            applied,
            ladder,
            ledger_id,
            created_at,
        }))),
        (_, None) => {
            plans::run(
                client,
                &RESTORE,
                &[
                    casino.into(),
                    e.player_id.into(),
                    row.current_balance.into(),
                    row.lifetime_points.into(),
                    row.tier.as_str().into(),
                    row.tier_progress.into(),
                    row.updated_at.into(),
                ],
            )?;
            Ok(Unlocked::Done(None))
        }
    }
}

/// Every other case: lock the player's row (creating it for a new player,
/// sweeping expired holds; after queueing for it when `queue`), apply the
/// casino's expiry to it, compute the change, then insert the ledger row
/// and update the player in one statement.  `Ok(None)`: a concurrent
/// caller committed the same key.
fn write_locked(
    client: &mut SpiClient<'_>,
    e: &Entry<'_>,
    queue: bool,
) -> Result<Option<Written>, LoyaltyError> {
    let casino = e.caller.casino_id();
    let (args, req) = (e.args, e.req);
    let (account, ladder, lots) = match &args.opened {
        Some((account, lots)) if args.route == Route::Expiration => (
            account.clone(),
            tiers::ladder(client, casino)?,
            Some(lots.clone()),
        ),
        _ => {
            let (mut account, ladder) = guard::one_lock_wait(|| {
                if queue {
                    guard::with_lock_timeout(
                        LockTarget::Player,
                        &e.player_id,
                        e.correlation_id,
                        || queue_for(casino, e.player_id),
                    )?;
                }
                lock_player_swept(
                    client,
                    casino,
                    e.player_id,
                    e.correlation_id,
                    args.route != Route::Capture,
                )
            })?;
            // Under an expiry policy: the player's lots, and expired points
            // are not available (SPEC section 15).
            let lots = lots::for_change(
                client,
                &e.caller.casino,
                e.player_id,
                &mut account,
                args.route,
                args.reserved,
            )?;
            (account, ladder, lots)
        }
    };
    let applied = apply(&account, req.delta, &ladder)?;
    let debit = -(req.delta as i64);
    let consumed = match (&lots, &args.expiring) {
        (Some(_), Some(expiring)) => expiring.clone(),
        (Some(l), None) if debit > 0 && args.route == Route::Capture => {
            l.consume_capture(debit, args.reserved, guard::now())?
        }
        (Some(l), None) if debit > 0 => l.consume(debit, guard::now())?,
        _ => vec![],
    };
    let row = plans::run(client, &WRITE, &e.write_args(&applied))?;
    if row.is_empty() {
        return Ok(None);
    }
    // Counted only once the change is written: a call that turned out to
    // be a replay uses no quota.
    velocity::save(client, e.saved)?;
    let row = row.first();
    let ledger_id = required::<i64>(row.get(1)?, "id")?;
    let created_at = required::<TimestampWithTimeZone>(row.get(2)?, "created_at")?;
    if lots.is_some() {
        lots::record(
            client,
            &e.caller.casino,
            e.player_id,
            ledger_id,
            created_at,
            req.delta,
            &consumed,
        )?;
    }
    Ok(Some(Written {
        applied,
        ladder,
        ledger_id,
        created_at,
    }))
}

/// Queues for a hot player: takes a transaction-level advisory lock on
/// the player (`keys::player_queue_key`, its fourth field 0x4c59 so that no
/// `pg_advisory_*` call can hold it) before waiting for the row lock.
/// Waiters for one row lock are woken together each time it is released
/// and race for it again; waiters for a heavyweight lock are granted it in
/// turn.  Taken only by a change that found the row being changed by
/// another transaction, never while holding the row itself, so that the
/// holder of the advisory lock waits only for the row, and the row's holder
/// never for the advisory lock.  Released at commit or rollback.
fn queue_for(casino: &str, player: pgrx::Uuid) -> Result<(), LoyaltyError> {
    let casino = crate::casinos::uuid(casino)?;
    let (high, low) = keys::player_queue_key(casino.as_bytes(), player.as_bytes());
    // SAFETY: a lock tag built as SET_LOCKTAG_ADVISORY does; the lock is
    // transaction-level and released by the lock manager at transaction end.
    unsafe {
        let tag = pg_sys::LOCKTAG {
            locktag_field1: pg_sys::MyDatabaseId.into(),
            locktag_field2: high,
            locktag_field3: low,
            locktag_field4: QUEUE_LOCK_FIELD4,
            locktag_type: pg_sys::LockTagType::LOCKTAG_ADVISORY as u8,
            locktag_lockmethodid: pg_sys::USER_LOCKMETHOD as u8,
        };
        pg_sys::LockAcquire(
            &tag,
            pg_sys::ExclusiveLock as pg_sys::LOCKMODE,
            false,
            false,
        );
    }
    Ok(())
}

/// `objsubid` of a player's queue lock in `pg_locks` ('LY').
const QUEUE_LOCK_FIELD4: u16 = 0x4c59;

/// What a written change tells consumers (SPEC 16) and the log (SPEC 7): a
/// tier upgrade when it raised the tier; every balance change where the
/// casino asks for them (`loyalty.casino.balance_events`).
pub(crate) fn announce(
    casino: &Casino,
    ladder: &Ladder,
    applied: &Applied,
    player_id: &str,
    tx_type: TxType,
    ledger_id: i64,
    correlation_id: &str,
) -> Result<(), LoyaltyError> {
    if applied.tier_after != applied.tier_before
        && ladder.rank(&applied.tier_after) > ladder.rank(&applied.tier_before)
    {
        events::publish(
            "tier_upgrade",
            correlation_id,
            &casino.id,
            Some(player_id),
            &[
                ("player_id", player_id.to_string()),
                ("tier_before", applied.tier_before.clone()),
                ("tier_after", applied.tier_after.clone()),
                ("ledger_id", ledger_id.to_string()),
            ],
        )?;
    }
    if casino.balance_events {
        events::publish(
            "balance_changed",
            correlation_id,
            &casino.id,
            Some(player_id),
            &[
                ("player_id", player_id.to_string()),
                ("ledger_id", ledger_id.to_string()),
                ("transaction_type", tx_type.as_str().to_string()),
                (
                    "points_change",
                    (applied.balance_after - applied.balance_before).to_string(),
                ),
                ("balance_after", applied.balance_after.to_string()),
                ("tier_after", applied.tier_after.clone()),
            ],
        )?;
    }
    Ok(())
}

/// The key a change is written under, and the row already holding it if
/// any.  A derived key (`Route::derives_key`) held by a row of another type
/// was squatted by a caller who chose it for a redemption or an adjustment,
/// to block this change (a slip's credit, a reversal, a campaign credit):
/// the change moves to `keys::displaced_key`, following the squatters as
/// far as they go, deterministically, so a replay arrives at the same key.
fn settle_key(
    casino: &str,
    req: &ChangeRequest,
    derived: bool,
    corr: &str,
) -> Result<(String, Option<PriorEntry>), LoyaltyError> {
    let mut key = req.idempotency_key.clone();
    loop {
        match find_by_key(casino, &key)? {
            Some(prior) if derived && prior.tx_type != req.tx_type.as_str() => {
                events::emit(
                    "key_squatted",
                    corr,
                    &[
                        ("idempotency_key", key.clone()),
                        ("held_by_ledger_id", prior.result.ledger_id.to_string()),
                        ("held_by_type", prior.tx_type.clone()),
                    ],
                );
                key = keys::displaced_key(&key, prior.result.ledger_id);
            }
            found => return Ok((key, found)),
        }
    }
}

/// A ledger row found by its idempotency key.
struct PriorEntry {
    result: ChangeResult,
    player_id: String,
    fingerprint: String,
    tx_type: String,
}

impl PriorEntry {
    /// The same request again is a replay; anything else under this key is
    /// a conflict (23505).
    fn answer(
        self,
        req: &ChangeRequest,
        fingerprint: &str,
        correlation_id: &str,
    ) -> Result<ChangeResult, LoyaltyError> {
        if self.fingerprint != fingerprint {
            events::emit(
                "idempotency_conflict",
                correlation_id,
                &[
                    ("idempotency_key", req.idempotency_key.clone()),
                    ("existing_ledger_id", self.result.ledger_id.to_string()),
                    ("existing_player_id", self.player_id),
                    ("existing_type", self.tx_type),
                ],
            );
            return Err(LoyaltyError::IdempotencyConflict {
                key: req.idempotency_key.clone(),
                existing_ledger_id: self.result.ledger_id,
            });
        }
        events::emit(
            "idempotent_replay",
            correlation_id,
            &[
                ("idempotency_key", req.idempotency_key.clone()),
                ("ledger_id", self.result.ledger_id.to_string()),
                (
                    "original_correlation_id",
                    self.result.correlation_id.clone(),
                ),
            ],
        );
        Ok(self.result)
    }
}

/// The ledger row holding this key at this casino, if any (a direct index
/// probe: `probe`).
fn find_by_key(casino: &str, key: &str) -> Result<Option<PriorEntry>, LoyaltyError> {
    Ok(probe::ledger_by_key(casino, key)?.map(|r| PriorEntry {
        result: ChangeResult {
            player_id: r.player_id,
            balance_before: r.balance_before,
            balance_after: r.balance_after,
            tier_before: r.tier_before,
            tier_after: r.tier_after,
            tier_progress: r.tier_progress_after,
            lifetime_points: r.lifetime_points_after,
            updated_at: r.created_at,
            row_locked: false,
            ledger_id: r.id,
            idempotent_replay: true,
            correlation_id: r.correlation_id,
        },
        player_id: r.player_id.to_string(),
        fingerprint: r.request_fingerprint,
        tx_type: r.transaction_type,
    }))
}

/// Locks the player's row (`FOR UPDATE`), creating it first for a new
/// player; returns it with the tier ladder.  Waits at most
/// `loyalty.lock_timeout`.
pub(crate) fn lock_player(
    client: &mut SpiClient<'_>,
    casino: &str,
    player_id: pgrx::Uuid,
    correlation_id: &str,
) -> Result<(Account, Rc<Ladder>), LoyaltyError> {
    lock_player_swept(client, casino, player_id, correlation_id, true)
}

/// `lock_player`, sweeping the player's expired holds or (`sweep` false:
/// a capture, which swept them under the same lock before it checked its
/// hold) not.
fn lock_player_swept(
    client: &mut SpiClient<'_>,
    casino: &str,
    player_id: pgrx::Uuid,
    correlation_id: &str,
    sweep: bool,
) -> Result<(Account, Rc<Ladder>), LoyaltyError> {
    let ladder = tiers::ladder(client, casino)?;
    if let Some(account) = lock_row(client, casino, player_id, correlation_id, sweep)? {
        return Ok((account, ladder));
    }
    // New player: insert the row; a concurrent creator makes this wait for
    // its commit and then do nothing.
    guard::with_lock_timeout(LockTarget::Player, &player_id, correlation_id, || {
        plans::run(
            client,
            &CREATE,
            &[
                casino.into(),
                player_id.into(),
                ladder.base().name.as_str().into(),
            ],
        )
    })?;
    let account = lock_row(client, casino, player_id, correlation_id, sweep)?
        .ok_or_else(|| LoyaltyError::internal("player row not found after creation"))?;
    Ok((account, ladder))
}

/// The player's row, locked (`FOR UPDATE`, waiting at most
/// `loyalty.lock_timeout`), the player's expired holds swept; `None` for a
/// player without one.
pub(crate) fn lock_existing(
    client: &mut SpiClient<'_>,
    casino: &str,
    player_id: pgrx::Uuid,
    correlation_id: &str,
) -> Result<Option<Account>, LoyaltyError> {
    lock_row(client, casino, player_id, correlation_id, true)
}

fn lock_row(
    client: &mut SpiClient<'_>,
    casino: &str,
    player_id: pgrx::Uuid,
    correlation_id: &str,
    sweep: bool,
) -> Result<Option<Account>, LoyaltyError> {
    guard::with_lock_timeout(LockTarget::Player, &player_id, correlation_id, || {
        let rows = plans::run(client, &LOCK, &[casino.into(), player_id.into()])?;
        if rows.is_empty() {
            return Ok(None);
        }
        let r = rows.first();
        Ok(Some(Account {
            balance: required(r.get(1)?, "current_balance")?,
            lifetime_points: required(r.get(2)?, "lifetime_points")?,
            tier: required(r.get(3)?, "tier")?,
            held: required(r.get(4)?, "held_points")?,
            expired: 0,
        }))
    })
    .and_then(|account| match account {
        // An expired hold releases itself before anything reads the
        // points held (the row is locked now).
        Some(mut a) if sweep && a.held > 0 => {
            let expired: i64 = holds::sweep(client, casino, player_id, correlation_id)?
                .iter()
                .map(|(_, points)| *points as i64)
                .sum();
            a.held -= expired;
            Ok(Some(a))
        }
        other => Ok(other),
    })
}

/// The player's row, locked.
static LOCK: Stmt = Stmt {
    args: &[O::TEXTOID, O::UUIDOID],
    sql: "\
SELECT p.current_balance, p.lifetime_points, p.tier, p.held_points
  FROM loyalty.player_loyalty p
 WHERE p.casino_id = $1::uuid AND p.player_id = $2
   FOR UPDATE OF p",
};

/// A new player's row, in the ladder's base tier.
static CREATE: Stmt = Stmt {
    args: &[O::TEXTOID, O::UUIDOID, O::TEXTOID],
    sql: "\
INSERT INTO loyalty.player_loyalty (casino_id, player_id, tier) VALUES ($1::uuid, $2, $3)
    ON CONFLICT (casino_id, player_id) DO NOTHING",
};

/// Ledger insert and player update in one statement; the update runs only
/// when the insert did (the key was new).
static WRITE: Stmt = Stmt {
    args: WRITE_ARGS.as_slice().split_at(21).0,
    sql: "\
WITH entry AS (
    INSERT INTO loyalty.loyalty_ledger
        (player_id, points_change, transaction_type, reason, rating_slip_id, visit_id,
         idempotency_key, request_fingerprint, staff_id, balance_before, balance_after,
         tier_before, tier_after, tier_progress_after, lifetime_points_after, correlation_id,
         reverses_ledger_id, actor_role, campaign_id, campaign_credit, casino_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::uuid, $10, $11, $12, $13, $14, $15, $16, $17,
            $18, $19, $20, $21::uuid)
    ON CONFLICT (casino_id, idempotency_key) DO NOTHING
    RETURNING id, created_at
), player AS (
    UPDATE loyalty.player_loyalty p
       SET current_balance = $11, lifetime_points = $15, tier = $13,
           tier_progress = $14, updated_at = entry.created_at
      FROM entry
     WHERE p.casino_id = $21::uuid AND p.player_id = $1
)
SELECT id, created_at FROM entry",
};

/// The player's update and the ledger insert of `SWAP`.
macro_rules! swap_head {
    () => {
        "\
WITH player AS (
    UPDATE loyalty.player_loyalty p
       SET current_balance = $11, lifetime_points = $15, tier = $13,
           tier_progress = $14, updated_at = clock_timestamp()
     WHERE p.casino_id = $21::uuid AND p.player_id = $1
       AND p.current_balance = $10 AND p.lifetime_points = $22 AND p.tier = $12
       AND p.held_points = 0
 RETURNING p.updated_at
), entry AS (
    INSERT INTO loyalty.loyalty_ledger
        (player_id, points_change, transaction_type, reason, rating_slip_id, visit_id,
         idempotency_key, request_fingerprint, staff_id, balance_before, balance_after,
         tier_before, tier_after, tier_progress_after, lifetime_points_after, correlation_id,
         reverses_ledger_id, actor_role, campaign_id, campaign_credit, casino_id, created_at)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9::uuid, $10, $11, $12, $13, $14, $15, $16, $17,
           $18, $19, $20, $21::uuid, player.updated_at
      FROM player
    ON CONFLICT (casino_id, idempotency_key) DO NOTHING
    RETURNING id, created_at
)"
    };
}

/// One velocity usage row of `SWAP`, its seven parameters from `$first`
/// (scope, actor, kind, casino, times, points, counts), written only if
/// the ledger row was.
macro_rules! swap_usage {
    (1, 23) => {
        ", usage_1 AS (
    UPDATE loyalty.velocity_usage SET event_at = $27, event_points = $28, event_count = $29
     WHERE casino_id = $26::uuid AND scope = $23 AND actor = $24 AND kind = $25
       AND EXISTS (SELECT 1 FROM entry)
)"
    };
    (2, 30) => {
        ", usage_2 AS (
    UPDATE loyalty.velocity_usage SET event_at = $34, event_points = $35, event_count = $36
     WHERE casino_id = $33::uuid AND scope = $30 AND actor = $31 AND kind = $32
       AND EXISTS (SELECT 1 FROM entry)
)"
    };
}

/// What `SWAP` returns.
macro_rules! swap_tail {
    () => {
        "
SELECT (SELECT count(*) FROM player), (SELECT id FROM entry), (SELECT created_at FROM entry)"
    };
}

/// `write_unlocked`'s one statement: the player's row is updated only if it
/// still holds the balance, lifetime points and tier it was read with and
/// no held points ($22: the lifetime points read); the ledger row is
/// inserted only if the update happened, and the velocity usage rows the
/// change counts against ($23–$36, locked before; none when NULL) are
/// written only if the ledger row was.  Returns how many rows were
/// updated and the new ledger row's id and time (none when a concurrent
/// caller holds the key).
static SWAP: Stmt = Stmt {
    args: WRITE_ARGS.as_slice().split_at(22).0,
    sql: concat!(swap_head!(), swap_tail!()),
};

/// `SWAP` for a change counted against one velocity usage row.
static SWAP_COUNTED_ONCE: Stmt = Stmt {
    args: WRITE_ARGS.as_slice().split_at(29).0,
    sql: concat!(swap_head!(), swap_usage!(1, 23), swap_tail!()),
};

/// `SWAP` for a change counted against two velocity usage rows.
static SWAP_COUNTED_TWICE: Stmt = Stmt {
    args: &WRITE_ARGS,
    sql: concat!(
        swap_head!(),
        swap_usage!(1, 23),
        swap_usage!(2, 30),
        swap_tail!()
    ),
};

/// The statement for a change counted against `rows` usage rows: a plain
/// change's statement names no usage table at all.
fn swap_for(rows: usize) -> Result<&'static Stmt, LoyaltyError> {
    match rows {
        0 => Ok(&SWAP),
        1 => Ok(&SWAP_COUNTED_ONCE),
        2 => Ok(&SWAP_COUNTED_TWICE),
        _ => Err(LoyaltyError::internal("more than two velocity usage rows")),
    }
}

/// The parameters of `WRITE` ($1–$21), of `SWAP` (and $22, the lifetime
/// points read) and of its usage rows ($23–$36).
const WRITE_ARGS: [O; 36] = [
    O::UUIDOID,
    O::INT4OID,
    O::TEXTOID,
    O::TEXTOID,
    O::UUIDOID,
    O::UUIDOID,
    O::TEXTOID,
    O::TEXTOID,
    O::TEXTOID,
    O::INT8OID,
    O::INT8OID,
    O::TEXTOID,
    O::TEXTOID,
    O::INT4OID,
    O::INT8OID,
    O::TEXTOID,
    O::INT8OID,
    O::TEXTOID,
    O::INT8OID,
    O::INT4OID,
    O::TEXTOID,
    O::INT8OID,
    // Up to two velocity usage rows (`velocity::save_args`).
    O::TEXTOID,
    O::TEXTOID,
    O::TEXTOID,
    O::TEXTOID,
    O::TIMESTAMPTZARRAYOID,
    O::INT8ARRAYOID,
    O::INT4ARRAYOID,
    O::TEXTOID,
    O::TEXTOID,
    O::TEXTOID,
    O::TEXTOID,
    O::TIMESTAMPTZARRAYOID,
    O::INT8ARRAYOID,
    O::INT4ARRAYOID,
];

/// Puts the player's row back as `write_unlocked` read it, when the
/// ledger insert of its statement found the key taken.
static RESTORE: Stmt = Stmt {
    args: &[
        O::TEXTOID,
        O::UUIDOID,
        O::INT8OID,
        O::INT8OID,
        O::TEXTOID,
        O::INT4OID,
        O::TIMESTAMPTZOID,
    ],
    sql: "\
UPDATE loyalty.player_loyalty
   SET current_balance = $3, lifetime_points = $4, tier = $5, tier_progress = $6, updated_at = $7
 WHERE casino_id = $1::uuid AND player_id = $2",
};

impl ChangeResult {
    /// The `loyalty.change_result` row.
    pub fn into_tuple(self) -> pgrx::composite_type!('static, "change_result") {
        guard::row_tuple(
            guard::RowType::Change,
            vec![
                self.player_id.into_datum(),
                self.balance_before.into_datum(),
                self.balance_after.into_datum(),
                self.tier_before.into_datum(),
                self.tier_after.into_datum(),
                self.tier_progress.into_datum(),
                self.lifetime_points.into_datum(),
                self.updated_at.into_datum(),
                self.row_locked.into_datum(),
                self.ledger_id.into_datum(),
                self.idempotent_replay.into_datum(),
                self.correlation_id.into_datum(),
            ],
        )
    }
}
