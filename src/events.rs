//! Notable events written to the server log with their correlation id
//! (SPEC section 7), switched by `loyalty.log_events`.

use crate::domain::text::field;
use crate::gucs;
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
