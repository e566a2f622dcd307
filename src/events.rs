//! Notable events (SPEC sections 7 and 16): a line in the server log with
//! the correlation id, switched by `loyalty.log_events`, and, for the kinds
//! a consumer reads, a row of the outbox `loyalty.event` written in the
//! same transaction as the change (`claim_events`, `ack_events` in
//! `sql/events.sql`).

use crate::domain::error::LoyaltyError;
use crate::domain::text::field;
use crate::gucs;
use crate::plans::{self, Stmt};
use pgrx::pg_sys::PgBuiltInOids as O;
use pgrx::prelude::*;

/// Writes one `loyalty event=<kind> correlation_id=<id> k=v …` line at LOG
/// level: it reaches the server log, not the client.  Values that are caller
/// text are quoted (`text::field`), so they cannot forge another field.
pub fn emit(kind: &str, correlation_id: &str, context: &[(&str, String)]) {
    if !gucs::log_events() {
        return;
    }
    let mut line = format!(
        "loyalty event={kind} {}",
        field("correlation_id", correlation_id)
    );
    for (k, v) in context {
        line.push(' ');
        line.push_str(&field(k, v));
    }
    ereport!(
        PgLogLevel::LOG,
        PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
        line
    );
}

static OUTBOX: Stmt = Stmt {
    args: &[O::TEXTOID, O::TEXTOID, O::TEXTOID, O::TEXTOID, O::TEXTOID],
    sql: "\
INSERT INTO loyalty.event (kind, casino_id, player_id, payload, correlation_id)
VALUES ($1, $2::uuid, $3::uuid, $4::jsonb, $5)",
};

/// An event consumers read (SPEC 16): written to the outbox in the
/// change's own transaction, so it exists exactly when the change does, and
/// logged like every notable event (whatever `loyalty.log_events` says, the
/// outbox row is written).
pub fn publish(
    kind: &str,
    correlation_id: &str,
    casino_id: &str,
    player_id: Option<&str>,
    context: &[(&str, String)],
) -> Result<(), LoyaltyError> {
    let payload = payload(context);
    Spi::connect_mut(|c| {
        plans::run(
            c,
            &OUTBOX,
            &[
                kind.into(),
                casino_id.into(),
                player_id.into(),
                payload.into(),
                correlation_id.into(),
            ],
        )
        .map(|_| ())
    })?;
    emit(kind, correlation_id, context);
    Ok(())
}

/// Fields whose values are numbers in a payload; every other value is a
/// string, whatever it looks like (an SQLSTATE such as 40001, a tier named
/// 1000), so a consumer sees one type per field.
const NUMERIC_FIELDS: &[&str] = &[
    "ledger_id",
    "reconciliation_id",
    "hold_id",
    "points",
    "held",
    "lots",
    "attempts",
    "points_change",
    "balance_after",
];

/// The event's payload: its fields as a JSON object.
fn payload(context: &[(&str, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = context
        .iter()
        .map(|(k, v)| {
            let value = match v.parse::<i64>() {
                Ok(n) if NUMERIC_FIELDS.contains(k) => serde_json::Value::from(n),
                _ => serde_json::Value::from(v.as_str()),
            };
            (k.to_string(), value)
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}
