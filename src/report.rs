//! Raising a condition of the core (`domain::error::LoyaltyError`) as a
//! PostgreSQL ERROR, and reading the SQLSTATE of an ERROR PostgreSQL raised.

use crate::domain::error::LoyaltyError;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// `raise`: report a condition as an ERROR with its SQLSTATE, message and
/// DETAIL (context and correlation id).  Never returns.
pub trait Raise {
    fn raise(self, correlation_id: &str) -> !;
}

impl Raise for LoyaltyError {
    fn raise(self, correlation_id: &str) -> ! {
        let detail = self.detail(correlation_id);
        ErrorReport::new(error_code(self.sqlstate()), self.to_string(), "loyalty_ext")
            .set_detail(detail)
            .report(PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return")
    }
}

/// The error code of a five-character SQLSTATE.
fn error_code(sqlstate: &str) -> PgSqlErrorCode {
    // PostgreSQL packs the five characters into 6-bit fields, first lowest.
    let packed = sqlstate.bytes().enumerate().fold(0i32, |acc, (i, b)| {
        acc | ((b.wrapping_sub(b'0') as i32 & 0x3f) << (6 * i))
    });
    PgSqlErrorCode::from(packed)
}

/// The five-character text of an error code, e.g. `22023`.
pub fn sqlstate_text(code: PgSqlErrorCode) -> String {
    let mut v = code as i32;
    let mut s = String::with_capacity(5);
    for _ in 0..5 {
        s.push((((v & 0x3f) as u8) + b'0') as char);
        v >>= 6;
    }
    s
}

impl From<pgrx::spi::SpiError> for LoyaltyError {
    fn from(e: pgrx::spi::SpiError) -> Self {
        LoyaltyError::internal(format!("spi: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_round_trip_through_error_codes() {
        for (state, code) in [
            ("22023", PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE),
            ("22003", PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
            ("42501", PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE),
            (
                "53400",
                PgSqlErrorCode::ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
            ),
            ("23505", PgSqlErrorCode::ERRCODE_UNIQUE_VIOLATION),
            ("23514", PgSqlErrorCode::ERRCODE_CHECK_VIOLATION),
            (
                "55000",
                PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            ),
            ("P0002", PgSqlErrorCode::ERRCODE_NO_DATA_FOUND),
            ("55P03", PgSqlErrorCode::ERRCODE_LOCK_NOT_AVAILABLE),
            ("XX000", PgSqlErrorCode::ERRCODE_INTERNAL_ERROR),
        ] {
            assert_eq!(error_code(state), code, "{state}");
            assert_eq!(sqlstate_text(code), state);
        }
    }
}
