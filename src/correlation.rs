//! Correlation ids (SPEC section 7): argument, else `loyalty.correlation_id`,
//! else one id generated per transaction.

use crate::domain::request::{check_text, MAX_CORRELATION_CHARS};
use crate::error::LoyaltyError;
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
    if let Some(setting) = gucs::text(&gucs::CORRELATION_ID) {
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
                let id = new_uuid_v4();
                *slot = Some((lxid, id.clone()));
                id
            }
        }
    })
}

fn new_uuid_v4() -> String {
    let mut b = [0u8; 16];
    // SAFETY: writes exactly 16 bytes into a 16-byte buffer.
    let ok = unsafe { pg_sys::pg_strong_random(b.as_mut_ptr().cast(), b.len()) };
    if !ok {
        // Not secret material: fall back to time and pid for uniqueness.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b.copy_from_slice(&(t ^ ((std::process::id() as u128) << 64)).to_le_bytes());
    }
    crate::domain::keys::format_uuid_v4(b)
}
