//! Reads of one row by a unique index, as direct probes without a planned
//! statement: the idempotency-key lookup (`ledger_by_key`) and the player's
//! row (`player`).
//!
//! Every call looks its key up before taking any lock, so that read is on
//! the path of every new change and is all a replay does; the player's row
//! is read the same way before the one statement that writes it (see
//! `crate::ledger`).  Going through the executor costs a plan-cache check,
//! executor start-up and shut-down and a copy of the result into an SPI
//! tuple table; a probe opens the table and its index itself, scans for the
//! one key under the snapshot a statement would get (a new one per call in
//! READ COMMITTED, after a command-counter increment so earlier writes of
//! the same transaction are seen), and copies out the columns it needs.
//! Locks, buffer pins and the snapshot are released on an error by the
//! transaction's resource owner, as for any statement.

use crate::domain::error::LoyaltyError;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::CStr;

/// The columns of a ledger row that answer a replay or name a conflict.
pub struct KeyRow {
    pub id: i64,
    pub player_id: pgrx::Uuid,
    pub request_fingerprint: String,
    pub transaction_type: String,
    pub balance_before: i64,
    pub balance_after: i64,
    pub tier_before: String,
    pub tier_after: String,
    pub tier_progress_after: i32,
    pub lifetime_points_after: i64,
    pub created_at: TimestampWithTimeZone,
    pub correlation_id: String,
}

const COLUMNS: [&CStr; 12] = [
    c"id",
    c"player_id",
    c"request_fingerprint",
    c"transaction_type",
    c"balance_before",
    c"balance_after",
    c"tier_before",
    c"tier_after",
    c"tier_progress_after",
    c"lifetime_points_after",
    c"created_at",
    c"correlation_id",
];

/// The ledger row with this idempotency key at this casino, if one is
/// visible.
pub fn ledger_by_key(casino: &str, key: &str) -> Result<Option<KeyRow>, LoyaltyError> {
    let casino = crate::casinos::uuid(casino)?;
    let key = key.into_datum().expect("a &str always converts to a datum");
    // SAFETY: `probe` hands `decode` a slot whose COLUMNS are deformed.
    unsafe {
        probe(
            c"loyalty_ledger",
            c"loyalty_ledger_idempotency_key_key",
            casino,
            (key, pg_sys::F_TEXTEQ, pg_sys::TEXTOID),
            &COLUMNS,
            |slot, attnums| decode(slot, attnums),
        )
    }
}

/// The player's row as a change reads it before writing.
pub struct PlayerRow {
    pub current_balance: i64,
    pub lifetime_points: i64,
    pub tier: String,
    pub tier_progress: i32,
    pub held_points: i64,
    pub updated_at: TimestampWithTimeZone,
    /// A transaction still in progress is changing or has locked the row:
    /// a write now would wait for it.
    pub busy: bool,
}

const PLAYER_COLUMNS: [&CStr; 6] = [
    c"current_balance",
    c"lifetime_points",
    c"tier",
    c"tier_progress",
    c"held_points",
    c"updated_at",
];

/// The player's row at this casino, if one is visible (not locked).
pub fn player(casino: &str, player: pgrx::Uuid) -> Result<Option<PlayerRow>, LoyaltyError> {
    let casino = crate::casinos::uuid(casino)?;
    let player = player
        .into_datum()
        .expect("a uuid always converts to a datum");
    // SAFETY: `probe` hands the closure a slot whose PLAYER_COLUMNS are deformed.
    unsafe {
        probe(
            c"player_loyalty",
            c"player_loyalty_pkey",
            casino,
            (player, pg_sys::F_UUID_EQ, pg_sys::UUIDOID),
            &PLAYER_COLUMNS,
            |slot, a| {
                Ok(PlayerRow {
                    current_balance: value(slot, a[0], PLAYER_COLUMNS[0])?,
                    lifetime_points: value(slot, a[1], PLAYER_COLUMNS[1])?,
                    tier: value(slot, a[2], PLAYER_COLUMNS[2])?,
                    tier_progress: value(slot, a[3], PLAYER_COLUMNS[3])?,
                    held_points: value(slot, a[4], PLAYER_COLUMNS[4])?,
                    updated_at: value(slot, a[5], PLAYER_COLUMNS[5])?,
                    busy: busy(slot),
                })
            },
        )
    }
}

/// Finds the one row of `loyalty.<table>` whose unique `index` on
/// (casino_id, second column) holds (`casino`, `second`), and lets `decode`
/// copy `columns` out of it.
unsafe fn probe<T, const N: usize>(
    table_name: &CStr,
    index_name: &CStr,
    casino: pgrx::Uuid,
    second: (pg_sys::Datum, u32, pg_sys::Oid),
    columns: &[&CStr; N],
    decode: impl FnOnce(*mut pg_sys::TupleTableSlot, &[i32; N]) -> Result<T, LoyaltyError>,
) -> Result<Option<T>, LoyaltyError> {
    let schema = pg_sys::get_namespace_oid(c"loyalty".as_ptr(), false);
    let table_oid = pg_sys::get_relname_relid(table_name.as_ptr(), schema);
    let index_oid = pg_sys::get_relname_relid(index_name.as_ptr(), schema);
    if table_oid == pg_sys::InvalidOid || index_oid == pg_sys::InvalidOid {
        return Err(LoyaltyError::internal(format!(
            "loyalty.{} or its index {} is missing",
            table_name.to_string_lossy(),
            index_name.to_string_lossy()
        )));
    }
    let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
    let table = pg_sys::table_open(table_oid, lock);
    let index = pg_sys::index_open(index_oid, lock);

    // The index must be what the scan keys assume: (casino_id uuid, the
    // second column's type), unique.
    let form = (*index).rd_index;
    let keys_ok = (*form).indnkeyatts >= 2
        && (*form).indisunique
        && *(*index).rd_opcintype.add(0) == pg_sys::UUIDOID
        && *(*index).rd_opcintype.add(1) == second.2;
    if !keys_ok {
        pg_sys::index_close(index, lock);
        pg_sys::table_close(table, lock);
        return Err(LoyaltyError::internal(format!(
            "index loyalty.{} is not the unique (casino_id, …) index the probe reads",
            index_name.to_string_lossy()
        )));
    }
    let attnums = column_numbers((*table).rd_att, table_name, columns)?;

    pg_sys::CommandCounterIncrement();
    let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetTransactionSnapshot());

    let mut scankeys: [pg_sys::ScanKeyData; 2] = std::mem::zeroed();
    let casino_datum = casino
        .into_datum()
        .expect("a uuid always converts to a datum");
    pg_sys::ScanKeyInit(
        &mut scankeys[0],
        1,
        pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
        pg_sys::Oid::from(pg_sys::F_UUID_EQ),
        casino_datum,
    );
    pg_sys::ScanKeyInit(
        &mut scankeys[1],
        2,
        pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
        pg_sys::Oid::from(second.1),
        second.0,
    );
    // Search with the index's own collation, not ScanKeyInit's default.
    scankeys[1].sk_collation = *(*index).rd_indcollation.add(1);

    let scan = pg_sys::index_beginscan(table, index, snapshot, 2, 0);
    pg_sys::index_rescan(scan, scankeys.as_mut_ptr(), 2, std::ptr::null_mut(), 0);
    let slot = pg_sys::table_slot_create(table, std::ptr::null_mut());
    let found = pg_sys::index_getnext_slot(scan, pg_sys::ScanDirection::ForwardScanDirection, slot);
    let row = if found {
        let last = attnums.iter().copied().max().unwrap_or(1);
        pg_sys::slot_getsomeattrs_int(slot, last);
        Some(decode(slot, &attnums))
    } else {
        None
    };

    pg_sys::ExecDropSingleTupleTableSlot(slot);
    pg_sys::index_endscan(scan);
    pg_sys::UnregisterSnapshot(snapshot);
    // Like a statement, keep the locks until the end of the transaction.
    pg_sys::index_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
    pg_sys::table_close(table, pg_sys::NoLock as pg_sys::LOCKMODE);
    row.transpose()
}

/// Attribute numbers of `columns` in the table's tuple descriptor.
unsafe fn column_numbers<const N: usize>(
    desc: pg_sys::TupleDesc,
    table: &CStr,
    columns: &[&CStr; N],
) -> Result<[i32; N], LoyaltyError> {
    let mut numbers = [0i32; N];
    let attrs = (*desc).attrs.as_slice((*desc).natts as usize);
    for (slot, name) in numbers.iter_mut().zip(columns) {
        let position = attrs
            .iter()
            .position(|a| !a.attisdropped && CStr::from_ptr(a.attname.data.as_ptr()) == *name)
            .ok_or_else(|| {
                LoyaltyError::internal(format!(
                    "loyalty.{} has no column {}",
                    table.to_string_lossy(),
                    name.to_string_lossy()
                ))
            })?;
        *slot = position as i32 + 1;
    }
    Ok(numbers)
}

/// Copies the row's columns out of the slot (its attributes are deformed).
unsafe fn decode(
    slot: *mut pg_sys::TupleTableSlot,
    attnums: &[i32; 12],
) -> Result<KeyRow, LoyaltyError> {
    let [id, player_id, fingerprint, tx_type, before, after, tier_before, tier_after, progress, lifetime, created_at, corr] =
        *attnums;
    Ok(KeyRow {
        id: value(slot, id, COLUMNS[0])?,
        player_id: value(slot, player_id, COLUMNS[1])?,
        request_fingerprint: value(slot, fingerprint, COLUMNS[2])?,
        transaction_type: value(slot, tx_type, COLUMNS[3])?,
        balance_before: value(slot, before, COLUMNS[4])?,
        balance_after: value(slot, after, COLUMNS[5])?,
        tier_before: value(slot, tier_before, COLUMNS[6])?,
        tier_after: value(slot, tier_after, COLUMNS[7])?,
        tier_progress_after: value(slot, progress, COLUMNS[8])?,
        lifetime_points_after: value(slot, lifetime, COLUMNS[9])?,
        created_at: value(slot, created_at, COLUMNS[10])?,
        correlation_id: value(slot, corr, COLUMNS[11])?,
    })
}

/// One column of a deformed slot.
unsafe fn value<T: FromDatum>(
    slot: *mut pg_sys::TupleTableSlot,
    attnum: i32,
    column: &CStr,
) -> Result<T, LoyaltyError> {
    let i = (attnum - 1) as usize;
    let datum = *(*slot).tts_values.add(i);
    let is_null = *(*slot).tts_isnull.add(i);
    T::from_polymorphic_datum(datum, is_null, pg_sys::InvalidOid).ok_or_else(|| {
        LoyaltyError::internal(format!("unexpected NULL in {}", column.to_string_lossy()))
    })
}

/// Whether the version of the row in `slot` (a heap slot on a buffer) is
/// being updated, deleted or locked by another transaction still in
/// progress (one `xmax`, not this transaction's; a multixact of several
/// lockers is not looked into).
unsafe fn busy(slot: *mut pg_sys::TupleTableSlot) -> bool {
    let slot = slot as *mut pg_sys::BufferHeapTupleTableSlot;
    let buffer = (*slot).buffer;
    let tuple = (*slot).base.tuple;
    if tuple.is_null() || (*tuple).t_data.is_null() || buffer == pg_sys::InvalidBuffer as i32 {
        return false;
    }
    pg_sys::LockBuffer(buffer, pg_sys::BUFFER_LOCK_SHARE as i32);
    let header = (*tuple).t_data;
    let infomask = (*header).t_infomask as u32;
    let xmax = (*header).t_choice.t_heap.t_xmax;
    pg_sys::LockBuffer(buffer, pg_sys::BUFFER_LOCK_UNLOCK as i32);
    infomask & (pg_sys::HEAP_XMAX_INVALID | pg_sys::HEAP_XMAX_IS_MULTI) == 0
        && xmax != pg_sys::InvalidTransactionId
        && !pg_sys::TransactionIdIsCurrentTransactionId(xmax)
        && pg_sys::TransactionIdIsInProgress(xmax)
}
