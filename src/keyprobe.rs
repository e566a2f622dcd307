//! The idempotency-key lookup as a direct probe of the ledger's unique
//! index, without a planned statement.
//!
//! Every call looks its key up before taking any lock, so this read is on
//! the path of every new change and is all a replay does.  Going through
//! the executor costs a plan-cache check, executor start-up and shut-down
//! and a copy of the result into an SPI tuple table; this probe opens the
//! table and `loyalty_ledger_idempotency_key_key` itself, scans for the one
//! key under the snapshot a statement would get (a new one per call in READ
//! COMMITTED, after a command-counter increment so earlier writes of the
//! same transaction are seen), and copies out the columns it needs.  Locks,
//! buffer pins and the snapshot are released on an error by the
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
pub fn find(casino: &str, key: &str) -> Result<Option<KeyRow>, LoyaltyError> {
    let casino = crate::casinos::uuid(casino)?;
    // SAFETY: every pointer below comes from PostgreSQL for this call and is
    // used only before the matching close/end/drop; values are copied out
    // of the slot before it is dropped.
    unsafe {
        let schema = pg_sys::get_namespace_oid(c"loyalty".as_ptr(), false);
        let table_oid = pg_sys::get_relname_relid(c"loyalty_ledger".as_ptr(), schema);
        let index_oid =
            pg_sys::get_relname_relid(c"loyalty_ledger_idempotency_key_key".as_ptr(), schema);
        if table_oid == pg_sys::InvalidOid || index_oid == pg_sys::InvalidOid {
            return Err(LoyaltyError::internal(
                "loyalty.loyalty_ledger or its idempotency key index is missing",
            ));
        }
        let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
        let table = pg_sys::table_open(table_oid, lock);
        let index = pg_sys::index_open(index_oid, lock);

        let attnums = column_numbers((*table).rd_att)?;

        pg_sys::CommandCounterIncrement();
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetTransactionSnapshot());

        // The index is (casino_id, idempotency_key).
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
        let key_datum = key.into_datum().expect("a &str always converts to a datum");
        pg_sys::ScanKeyInit(
            &mut scankeys[1],
            2,
            pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
            pg_sys::Oid::from(pg_sys::F_TEXTEQ),
            key_datum,
        );
        // Search with the index's own collation, not ScanKeyInit's default.
        scankeys[1].sk_collation = *(*index).rd_indcollation.add(1);

        let scan = pg_sys::index_beginscan(table, index, snapshot, 2, 0);
        pg_sys::index_rescan(scan, scankeys.as_mut_ptr(), 2, std::ptr::null_mut(), 0);
        let slot = pg_sys::table_slot_create(table, std::ptr::null_mut());
        let found =
            pg_sys::index_getnext_slot(scan, pg_sys::ScanDirection::ForwardScanDirection, slot);
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
}

/// Attribute numbers of COLUMNS in the ledger's tuple descriptor.
unsafe fn column_numbers(desc: pg_sys::TupleDesc) -> Result<[i32; 12], LoyaltyError> {
    let mut numbers = [0i32; 12];
    let attrs = (*desc).attrs.as_slice((*desc).natts as usize);
    for (slot, name) in numbers.iter_mut().zip(COLUMNS) {
        let position = attrs
            .iter()
            .position(|a| !a.attisdropped && CStr::from_ptr(a.attname.data.as_ptr()) == name)
            .ok_or_else(|| {
                LoyaltyError::internal(format!(
                    "loyalty.loyalty_ledger has no column {}",
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
