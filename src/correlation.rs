//! Correlation ids (SPEC section 7): argument, else `loyalty.correlation_id`,
//! else one id generated per transaction.

use crate::domain::error::LoyaltyError;
use crate::domain::text::{check_text, MAX_CORRELATION_CHARS};
use crate::gucs;
use pgrx::pg_sys;
use std::cell::RefCell;

thread_local! {
    /// The id generated for the current local transaction, if any.
    static GENERATED: RefCell<Option<(pg_sys::LocalTransactionId, String)>> = const { RefCell::new(None) };
}

/// Resolves the correlation id of a call.  An over-long or control-character
/// id is an error; the error itself then carries a generated id.
pub fn resolve(argument: Option<&str>) -> Result<String, LoyaltyError> {
    if let Some(arg) = argument.filter(|a| !a.trim().is_empty()) {
        check_text("p_correlation_id", arg, MAX_CORRELATION_CHARS)?;
        return Ok(arg.to_string());
    }
    if let Some(setting) = gucs::correlation_id() {
        check_text("loyalty.correlation_id", &setting, MAX_CORRELATION_CHARS)?;
        return Ok(setting);
    }
    Ok(generated())
}

/// The generated id of the current transaction (one per transaction).
pub fn generated() -> String {
    // SAFETY: MyProc is set for every backend that can run SQL.
    let lxid = unsafe { (*pg_sys::MyProc).lxid };
    GENERATED.with(|cell| {
        let mut slot = cell.borrow_mut();
        match slot.as_ref() {
            Some((x, id)) if *x == lxid => id.clone(),
            _ => {
                let id = new_uuid_v7();
                *slot = Some((lxid, id.clone()));
                id
            }
        }
    })
}

/// A time-ordered UUID (version 7).  The random part comes from a
/// per-backend generator seeded once from the strong random source:
/// correlation ids need to be unique, not secret, and the strong source
/// costs a system call per id.
fn new_uuid_v7() -> String {
    thread_local! {
        static STATE: RefCell<Option<pg_sys::pg_prng_state>> = const { RefCell::new(None) };
    }
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let (hi, lo) = STATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let state = slot.get_or_insert_with(|| {
            let mut state = pg_sys::pg_prng_state { s0: 0, s1: 0 };
            // SAFETY: fills the 16-byte state it is given; falls back to a
            // time-and-pid seed when no strong source is available.
            unsafe {
                let filled = pg_sys::pg_strong_random(
                    (&mut state as *mut pg_sys::pg_prng_state).cast(),
                    std::mem::size_of::<pg_sys::pg_prng_state>(),
                );
                if !filled || !pg_sys::pg_prng_seed_check(&mut state) {
                    let nanos = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos() as u64)
                        .unwrap_or(0);
                    pg_sys::pg_prng_seed(&mut state, nanos ^ (u64::from(std::process::id()) << 32));
                }
            }
            state
        });
        // SAFETY: the state was seeded above.
        unsafe { (pg_sys::pg_prng_uint64(state), pg_sys::pg_prng_uint64(state)) }
    });
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&hi.to_le_bytes());
    random[8..].copy_from_slice(&lo.to_le_bytes()[..2]);
    crate::domain::keys::format_uuid_v7(unix_ms, random)
}
