//! The one error type of the extension and its SQLSTATE mapping (SPEC section 8).
//!
//! Every failure a client can see is a `LoyaltyError`; `raise` turns it into
//! an ERROR whose DETAIL carries machine-readable `key=value` context and the
//! correlation id.  Nothing else in the crate chooses a SQLSTATE.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoyaltyError {
    /// NULL id, zero points, unknown type, reason too short, malformed input.
    #[error("{message}")]
    InvalidArgument {
        message: String,
        context: Vec<(&'static str, String)>,
    },
    /// A manual reward or adjustment above `loyalty.max_manual_reward`.
    #[error("points {points} exceed the manual reward limit of {limit}")]
    LimitExceeded { points: i64, limit: i64 },
    /// A number too large for the arithmetic (an absurd bet, a points
    /// total beyond integer range).
    #[error("{message}")]
    OutOfRange {
        message: String,
        context: Vec<(&'static str, String)>,
    },
    /// Unknown staff, missing capability, or a spoofed staff id.
    #[error("{message}")]
    PermissionDenied {
        message: String,
        context: Vec<(&'static str, String)>,
    },
    /// The staff member's rate limit is used up for the current window.
    #[error("manual reward rate limit reached for staff {staff_id}")]
    RateLimited {
        staff_id: String,
        limit: i64,
        reset_at: String,
    },
    /// The idempotency key exists for a different request.
    #[error("idempotency key {key} was already used for a different request")]
    IdempotencyConflict {
        key: String,
        existing_ledger_id: i64,
    },
    /// A rating slip completed again with different play data.
    #[error("rating slip {rating_slip_id} was already recorded with a different request")]
    SlipConflict { rating_slip_id: String },
    /// The change would take the balance below zero.
    #[error("insufficient balance: {balance} available, {requested} requested")]
    InsufficientBalance { balance: i64, requested: i64 },
    /// A slip (or other object) is unknown or not in a state that allows the operation.
    #[error("{message}")]
    InvalidState {
        message: String,
        context: Vec<(&'static str, String)>,
    },
    /// Player or ledger entry not found.
    #[error("{message}")]
    NotFound {
        message: String,
        context: Vec<(&'static str, String)>,
    },
    /// A row lock (player or staff) was not obtained within `loyalty.lock_timeout`.
    #[error("could not lock {kind} {id} within loyalty.lock_timeout")]
    LockTimeout {
        kind: &'static str,
        id: String,
        timeout_ms: i32,
    },
    /// A bug or an unexpected server condition; details go to the server log.
    #[error("internal error in loyalty_ext: {message}")]
    Internal { message: String },
}

impl LoyaltyError {
    pub fn invalid(message: impl Into<String>) -> Self {
        LoyaltyError::InvalidArgument {
            message: message.into(),
            context: vec![],
        }
    }

    pub fn invalid_with(message: impl Into<String>, context: Vec<(&'static str, String)>) -> Self {
        LoyaltyError::InvalidArgument {
            message: message.into(),
            context,
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        LoyaltyError::Internal {
            message: message.into(),
        }
    }

    /// The SQLSTATE of SPEC section 8 for this condition.
    pub fn sqlstate(&self) -> PgSqlErrorCode {
        use PgSqlErrorCode::*;
        match self {
            LoyaltyError::InvalidArgument { .. } => ERRCODE_INVALID_PARAMETER_VALUE, // 22023
            LoyaltyError::LimitExceeded { .. } => ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, // 22003
            LoyaltyError::OutOfRange { .. } => ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,   // 22003
            LoyaltyError::PermissionDenied { .. } => ERRCODE_INSUFFICIENT_PRIVILEGE, // 42501
            LoyaltyError::RateLimited { .. } => ERRCODE_CONFIGURATION_LIMIT_EXCEEDED, // 53400
            LoyaltyError::IdempotencyConflict { .. } => ERRCODE_UNIQUE_VIOLATION,    // 23505
            LoyaltyError::SlipConflict { .. } => ERRCODE_UNIQUE_VIOLATION,           // 23505
            LoyaltyError::InsufficientBalance { .. } => ERRCODE_CHECK_VIOLATION,     // 23514
            LoyaltyError::InvalidState { .. } => ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE, // 55000
            LoyaltyError::NotFound { .. } => ERRCODE_NO_DATA_FOUND,                  // P0002
            LoyaltyError::LockTimeout { .. } => ERRCODE_LOCK_NOT_AVAILABLE,          // 55P03
            LoyaltyError::Internal { .. } => ERRCODE_INTERNAL_ERROR,                 // XX000
        }
    }

    /// The five-character SQLSTATE, e.g. `22023`.
    pub fn sqlstate_code(&self) -> String {
        sqlstate_text(self.sqlstate())
    }

    /// Machine-readable context, without the correlation id.
    pub fn context(&self) -> Vec<(&'static str, String)> {
        match self {
            LoyaltyError::InvalidArgument { context, .. }
            | LoyaltyError::OutOfRange { context, .. }
            | LoyaltyError::PermissionDenied { context, .. }
            | LoyaltyError::InvalidState { context, .. }
            | LoyaltyError::NotFound { context, .. } => context.clone(),
            LoyaltyError::LimitExceeded { points, limit } => {
                vec![("points", points.to_string()), ("limit", limit.to_string())]
            }
            LoyaltyError::RateLimited {
                staff_id,
                limit,
                reset_at,
            } => vec![
                ("staff_id", staff_id.clone()),
                ("limit", limit.to_string()),
                ("remaining", "0".to_string()),
                ("reset_at", reset_at.clone()),
            ],
            LoyaltyError::IdempotencyConflict {
                key,
                existing_ledger_id,
            } => vec![
                ("idempotency_key", key.clone()),
                ("existing_ledger_id", existing_ledger_id.to_string()),
            ],
            LoyaltyError::SlipConflict { rating_slip_id } => {
                vec![("rating_slip_id", rating_slip_id.clone())]
            }
            LoyaltyError::InsufficientBalance { balance, requested } => vec![
                ("balance", balance.to_string()),
                ("requested", requested.to_string()),
            ],
            LoyaltyError::LockTimeout {
                kind,
                id,
                timeout_ms,
            } => vec![
                (
                    match *kind {
                        "staff" => "staff_id",
                        _ => "player_id",
                    },
                    id.clone(),
                ),
                ("lock_timeout_ms", timeout_ms.to_string()),
            ],
            LoyaltyError::Internal { .. } => vec![],
        }
    }

    /// The DETAIL line: `k1=v1, k2=v2, correlation_id=…`.
    pub fn detail(&self, correlation_id: &str) -> String {
        detail_line(&self.context(), correlation_id)
    }

    /// Raises this error as a Postgres ERROR.  Never returns.
    pub fn raise(self, correlation_id: &str) -> ! {
        let detail = self.detail(correlation_id);
        ErrorReport::new(self.sqlstate(), self.to_string(), "loyalty_ext")
            .set_detail(detail)
            .report(PgLogLevel::ERROR);
        unreachable!("an ERROR report does not return")
    }
}

/// The five-character text of a SQLSTATE.
pub fn sqlstate_text(code: PgSqlErrorCode) -> String {
    // Postgres packs the five characters into 6-bit fields, first lowest.
    let mut v = code as i32;
    let mut s = String::with_capacity(5);
    for _ in 0..5 {
        s.push((((v & 0x3f) as u8) + b'0') as char);
        v >>= 6;
    }
    s
}

/// Formats `key=value` pairs followed by the correlation id.
pub fn detail_line(context: &[(&'static str, String)], correlation_id: &str) -> String {
    let mut parts: Vec<String> = context.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.push(format!("correlation_id={correlation_id}"));
    parts.join(", ")
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
    fn every_condition_has_its_spec_sqlstate() {
        let cases: Vec<(LoyaltyError, &str)> = vec![
            (LoyaltyError::invalid("x"), "22023"),
            (
                LoyaltyError::LimitExceeded {
                    points: 1,
                    limit: 0,
                },
                "22003",
            ),
            (
                LoyaltyError::PermissionDenied {
                    message: "x".into(),
                    context: vec![],
                },
                "42501",
            ),
            (
                LoyaltyError::RateLimited {
                    staff_id: "s".into(),
                    limit: 10,
                    reset_at: "t".into(),
                },
                "53400",
            ),
            (
                LoyaltyError::IdempotencyConflict {
                    key: "k".into(),
                    existing_ledger_id: 1,
                },
                "23505",
            ),
            (
                LoyaltyError::InsufficientBalance {
                    balance: 1,
                    requested: 2,
                },
                "23514",
            ),
            (
                LoyaltyError::InvalidState {
                    message: "x".into(),
                    context: vec![],
                },
                "55000",
            ),
            (
                LoyaltyError::NotFound {
                    message: "x".into(),
                    context: vec![],
                },
                "P0002",
            ),
            (
                LoyaltyError::LockTimeout {
                    kind: "player",
                    id: "p".into(),
                    timeout_ms: 5000,
                },
                "55P03",
            ),
        ];
        for (err, state) in cases {
            assert_eq!(err.sqlstate_code(), state, "{err:?}");
        }
    }

    #[test]
    fn detail_ends_with_the_correlation_id() {
        let e = LoyaltyError::InsufficientBalance {
            balance: 5,
            requested: 9,
        };
        assert_eq!(
            e.detail("c-1"),
            "balance=5, requested=9, correlation_id=c-1"
        );
        assert_eq!(
            e.to_string(),
            "insufficient balance: 5 available, 9 requested"
        );
    }
}
