//! The conditions a client can see (SPEC section 8), without Postgres.
//!
//! Each condition has one SQLSTATE (`sqlstate`), a lowercase message
//! (`Display`) and machine-readable `key=value` context for the DETAIL line.
//! Nothing else in the crate chooses a SQLSTATE; `crate::report` raises a
//! condition as a PostgreSQL ERROR.

use crate::domain::text::field;
use crate::domain::velocity::{Measure, Scope, VelocityKind};

/// The row a lock wait was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockTarget {
    Player,
    Staff,
    RatingSlip,
    /// A campaign's row (its budget).
    Campaign,
    /// A staff member's or login role's velocity usage row.
    VelocityUsage,
}

impl LockTarget {
    /// How the message names it.
    pub fn noun(self) -> &'static str {
        match self {
            LockTarget::Player => "player",
            LockTarget::Staff => "staff",
            LockTarget::RatingSlip => "rating slip",
            LockTarget::Campaign => "campaign",
            LockTarget::VelocityUsage => "velocity usage of",
        }
    }

    /// The DETAIL key of its id.
    pub fn detail_key(self) -> &'static str {
        match self {
            LockTarget::Player => "player_id",
            LockTarget::Staff => "staff_id",
            LockTarget::RatingSlip => "rating_slip_id",
            LockTarget::Campaign => "reward_id",
            LockTarget::VelocityUsage => "actor",
        }
    }
}

/// Extra `key=value` pairs of a condition's DETAIL.
pub type Context = Vec<(&'static str, String)>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoyaltyError {
    /// NULL id, zero points, unknown type, reason too short, malformed input.
    #[error("{message}")]
    InvalidArgument { message: String, context: Context },
    /// A change above its per-call bound (`loyalty.max_manual_reward`,
    /// `loyalty.max_gameplay_points`, `loyalty.max_promotion_points`).
    #[error("points {points} exceed the {what} limit of {limit}")]
    LimitExceeded {
        what: &'static str,
        points: i64,
        limit: i64,
    },
    /// A number too large for the arithmetic (an absurd bet, a points
    /// total beyond integer range).
    #[error("{message}")]
    OutOfRange { message: String, context: Context },
    /// Unknown staff, missing capability, or a spoofed staff id.
    #[error("{message}")]
    PermissionDenied { message: String, context: Context },
    /// A velocity limit of a staff member or a login role is used up for
    /// the current window.
    #[error(
        "{} {} limit reached for {} {actor}",
        .kind.noun(),
        match .measure { Measure::Count => "rate", Measure::Points => "points" },
        .scope.as_str()
    )]
    RateLimited {
        kind: VelocityKind,
        scope: Scope,
        actor: String,
        measure: Measure,
        limit: i64,
        used: i64,
        requested: i64,
        reset_at: String,
    },
    /// A campaign's budget or a player's credits of it are used up.
    #[error("{message}")]
    Exhausted { message: String, context: Context },
    /// The idempotency key exists for a different request.
    #[error("idempotency key {key} was already used for a different request")]
    IdempotencyConflict {
        key: String,
        existing_ledger_id: i64,
    },
    /// A hold's idempotency key reused for a different hold request.
    #[error("idempotency key {key} was already used for a different hold")]
    HoldConflict { key: String, existing_hold_id: i64 },
    /// A rating slip completed again with different play data.
    #[error("rating slip {rating_slip_id} was already recorded with a different request")]
    SlipConflict { rating_slip_id: String },
    /// The change would take the balance below zero, or below the points
    /// held (`balance` is what is available: the balance less `held`).
    #[error("insufficient balance: {balance} available, {requested} requested")]
    InsufficientBalance {
        balance: i64,
        held: i64,
        /// Points in expired lots not yet written off.
        expired: i64,
        requested: i64,
    },
    /// A slip (or other object) is unknown or not in a state that allows the operation.
    #[error("{message}")]
    InvalidState { message: String, context: Context },
    /// Player or ledger entry not found.
    #[error("{message}")]
    NotFound { message: String, context: Context },
    /// A row lock was not obtained within `loyalty.lock_timeout`.
    #[error("could not lock {} {id} within loyalty.lock_timeout", .target.noun())]
    LockTimeout {
        target: LockTarget,
        id: String,
        timeout_ms: i32,
    },
    /// A change asked of a read-only transaction: `BEGIN READ ONLY`,
    /// `default_transaction_read_only`, or a hot standby.
    #[error(
        "cannot execute loyalty.{function}() in a read-only transaction{}",
        if *.standby { " (this server is a hot standby: send changes to the primary)" } else { "" }
    )]
    ReadOnly {
        function: &'static str,
        standby: bool,
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

    pub fn invalid_with(message: impl Into<String>, context: Context) -> Self {
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

    /// The five-character SQLSTATE of SPEC section 8 for this condition.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            LoyaltyError::InvalidArgument { .. } => "22023", // invalid_parameter_value
            LoyaltyError::LimitExceeded { .. } => "22003",   // numeric_value_out_of_range
            LoyaltyError::OutOfRange { .. } => "22003",
            LoyaltyError::PermissionDenied { .. } => "42501", // insufficient_privilege
            LoyaltyError::RateLimited { .. } => "53400",      // configuration_limit_exceeded
            LoyaltyError::Exhausted { .. } => "53400",
            LoyaltyError::IdempotencyConflict { .. } => "23505", // unique_violation
            LoyaltyError::SlipConflict { .. } => "23505",
            LoyaltyError::HoldConflict { .. } => "23505",
            LoyaltyError::InsufficientBalance { .. } => "23514", // check_violation
            LoyaltyError::InvalidState { .. } => "55000",        // object_not_in_prerequisite_state
            LoyaltyError::NotFound { .. } => "P0002",            // no_data_found
            LoyaltyError::LockTimeout { .. } => "55P03",         // lock_not_available
            LoyaltyError::ReadOnly { .. } => "25006",            // read_only_sql_transaction
            LoyaltyError::Internal { .. } => "XX000",            // internal_error
        }
    }

    /// Machine-readable context, without the correlation id.
    pub fn context(&self) -> Context {
        match self {
            LoyaltyError::InvalidArgument { context, .. }
            | LoyaltyError::OutOfRange { context, .. }
            | LoyaltyError::PermissionDenied { context, .. }
            | LoyaltyError::InvalidState { context, .. }
            | LoyaltyError::Exhausted { context, .. }
            | LoyaltyError::NotFound { context, .. } => context.clone(),
            LoyaltyError::LimitExceeded { points, limit, .. } => {
                vec![("points", points.to_string()), ("limit", limit.to_string())]
            }
            LoyaltyError::RateLimited {
                scope,
                actor,
                measure: Measure::Count,
                limit,
                reset_at,
                ..
            } => vec![
                (scope.detail_key(), actor.clone()),
                ("limit", limit.to_string()),
                ("remaining", "0".to_string()),
                ("reset_at", reset_at.clone()),
            ],
            LoyaltyError::RateLimited {
                scope,
                actor,
                measure: Measure::Points,
                limit,
                used,
                requested,
                reset_at,
                ..
            } => vec![
                (scope.detail_key(), actor.clone()),
                ("points_limit", limit.to_string()),
                ("points_remaining", (limit - used).max(0).to_string()),
                ("requested", requested.to_string()),
                ("reset_at", reset_at.clone()),
            ],
            LoyaltyError::HoldConflict {
                key,
                existing_hold_id,
            } => vec![
                ("idempotency_key", key.clone()),
                ("existing_hold_id", existing_hold_id.to_string()),
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
            LoyaltyError::InsufficientBalance {
                balance,
                held,
                expired,
                requested,
            } => {
                let mut c = vec![("balance", balance.to_string())];
                if *held > 0 {
                    c.push(("held", held.to_string()));
                }
                if *expired > 0 {
                    c.push(("expired", expired.to_string()));
                }
                c.push(("requested", requested.to_string()));
                c
            }
            LoyaltyError::LockTimeout {
                target,
                id,
                timeout_ms,
            } => vec![
                (target.detail_key(), id.clone()),
                ("lock_timeout_ms", timeout_ms.to_string()),
            ],
            LoyaltyError::ReadOnly { standby, .. } => {
                vec![(
                    "server",
                    if *standby { "standby" } else { "primary" }.to_string(),
                )]
            }
            LoyaltyError::Internal { .. } => vec![],
        }
    }

    /// The DETAIL line: `k1=v1, k2=v2, correlation_id=…`.
    pub fn detail(&self, correlation_id: &str) -> String {
        detail_line(&self.context(), correlation_id)
    }
}

/// Formats `key=value` fields followed by the correlation id, each value
/// quoted where it could be mistaken for a separator (`text::field`).
pub fn detail_line(context: &[(&'static str, String)], correlation_id: &str) -> String {
    let mut parts: Vec<String> = context.iter().map(|(k, v)| field(k, v)).collect();
    parts.push(field("correlation_id", correlation_id));
    parts.join(", ")
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
                    what: "manual reward",
                    points: 1,
                    limit: 0,
                },
                "22003",
            ),
            (
                LoyaltyError::OutOfRange {
                    message: "x".into(),
                    context: vec![],
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
                    kind: VelocityKind::ManualReward,
                    scope: Scope::Staff,
                    actor: "s".into(),
                    measure: Measure::Count,
                    limit: 10,
                    used: 10,
                    requested: 1,
                    reset_at: "t".into(),
                },
                "53400",
            ),
            (
                LoyaltyError::Exhausted {
                    message: "x".into(),
                    context: vec![],
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
                LoyaltyError::SlipConflict {
                    rating_slip_id: "s".into(),
                },
                "23505",
            ),
            (
                LoyaltyError::InsufficientBalance {
                    balance: 1,
                    held: 0,
                    expired: 0,
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
                LoyaltyError::ReadOnly {
                    function: "manual_reward",
                    standby: true,
                },
                "25006",
            ),
            (
                LoyaltyError::LockTimeout {
                    target: LockTarget::Player,
                    id: "p".into(),
                    timeout_ms: 5000,
                },
                "55P03",
            ),
            (LoyaltyError::internal("x"), "XX000"),
        ];
        for (err, state) in cases {
            assert_eq!(err.sqlstate(), state, "{err:?}");
        }
    }

    #[test]
    fn detail_ends_with_the_correlation_id() {
        let e = LoyaltyError::InsufficientBalance {
            balance: 5,
            held: 0,
            expired: 0,
            requested: 9,
        };
        assert_eq!(
            e.detail("c-1"),
            "balance=5, requested=9, correlation_id=c-1"
        );
        let held = LoyaltyError::InsufficientBalance {
            balance: 5,
            held: 20,
            expired: 0,
            requested: 9,
        };
        assert_eq!(
            held.detail("c-1"),
            "balance=5, held=20, requested=9, correlation_id=c-1"
        );
        assert_eq!(
            e.to_string(),
            "insufficient balance: 5 available, 9 requested"
        );
    }

    #[test]
    fn a_lock_timeout_names_its_target() {
        let timeout = |target| LoyaltyError::LockTimeout {
            target,
            id: "0b000000-0000-0000-0000-000000000001".into(),
            timeout_ms: 200,
        };
        for (target, message, detail) in [
            (
                LockTarget::Player,
                "could not lock player 0b000000-0000-0000-0000-000000000001 within loyalty.lock_timeout",
                "player_id=0b000000-0000-0000-0000-000000000001, lock_timeout_ms=200, correlation_id=c",
            ),
            (
                LockTarget::Staff,
                "could not lock staff 0b000000-0000-0000-0000-000000000001 within loyalty.lock_timeout",
                "staff_id=0b000000-0000-0000-0000-000000000001, lock_timeout_ms=200, correlation_id=c",
            ),
            (
                LockTarget::RatingSlip,
                "could not lock rating slip 0b000000-0000-0000-0000-000000000001 within loyalty.lock_timeout",
                "rating_slip_id=0b000000-0000-0000-0000-000000000001, lock_timeout_ms=200, correlation_id=c",
            ),
        ] {
            let e = timeout(target);
            assert_eq!(e.to_string(), message);
            assert_eq!(e.detail("c"), detail);
        }
    }

    #[test]
    fn a_change_on_a_standby_says_where_to_send_it() {
        let on_standby = LoyaltyError::ReadOnly {
            function: "manual_reward",
            standby: true,
        };
        assert_eq!(
            on_standby.to_string(),
            "cannot execute loyalty.manual_reward() in a read-only transaction \
             (this server is a hot standby: send changes to the primary)"
        );
        assert_eq!(on_standby.detail("c"), "server=standby, correlation_id=c");
        let read_only = LoyaltyError::ReadOnly {
            function: "manual_reward",
            standby: false,
        };
        assert_eq!(
            read_only.to_string(),
            "cannot execute loyalty.manual_reward() in a read-only transaction"
        );
    }
}
