//! Hostile input (issue 6, item 5): every SQL function of the extension is
//! called with random arguments drawn from hostile pools — extreme integers,
//! NULLs, empty, huge and odd strings, malformed JSON, values of the wrong
//! type.  Every call must either succeed or fail with an expected SQLSTATE;
//! none may crash the server, return XX000, or show panic text; a failed
//! call writes nothing.

mod common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;

const DB: &str = "loyalty_it_fuzz";

/// Argument pools by kind, as SQL expressions.
fn pool(kind: &str) -> Vec<&'static str> {
    let common = vec![
        "NULL",
        "''",
        "'   '",
        "repeat('x', 1048576)",
        "E'\\\\x01\\\\x7f'",
        "'🎰💰'",
        "'1; DROP TABLE loyalty.loyalty_ledger; --'",
    ];
    let specific: Vec<&'static str> = match kind {
        "uuid" => vec![
            "'00000000-0000-0000-0000-000000000000'::uuid",
            "'f0220000-0000-0000-0000-000000000001'::uuid",
            "'57aff000-0000-0000-0000-0000000000f1'::uuid",
            "'not-a-uuid'",
            "42",
        ],
        "int" => vec![
            "0",
            "1",
            "-1",
            "2147483647",
            "-2147483648",
            "10000",
            "10001",
            "2147483648",
            "'abc'",
            "1.5",
        ],
        "bigint" => vec![
            "0",
            "-1",
            "9223372036854775807",
            "-9223372036854775808",
            "1",
            "'x'",
        ],
        "numeric" => vec![
            "0",
            "-0.01",
            "'NaN'",
            "'Infinity'",
            "1e100",
            "1e-100",
            "99999999999999999999999999999999",
            "25",
            "'1,5'",
        ],
        "text" => vec![
            "'PROMOTION'",
            "'MANUAL_BONUS'",
            "'REVERSAL'",
            "'a reason that is long enough'",
            "E'tab\\there'",
            "repeat('é', 5000)",
            "'06:00'",
            "'UTC'",
        ],
        "jsonb" => vec![
            "'{}'::jsonb",
            "'[]'::jsonb",
            "'null'::jsonb",
            "'{\"house_edge\": 2, \"average_rounds_per_hour\": 60}'::jsonb",
            "'{\"house_edge\": 1e400, \"average_rounds_per_hour\": 60}'::jsonb",
            "'{\"house_edge\": \"2\", \"average_rounds_per_hour\": -60}'::jsonb",
            "'{\"house_edge\": {\"a\": [1]}, \"average_rounds_per_hour\": true}'::jsonb",
            "'{\"house_edge\": 2,'",
        ],
        "timestamptz" => vec![
            "now()",
            "'-infinity'::timestamptz",
            "'infinity'::timestamptz",
            "'4713-01-01 BC'::timestamptz",
            "'yesterday'",
        ],
        "uuid[]" => vec![
            "ARRAY[]::uuid[]",
            "ARRAY[NULL]::uuid[]",
            "ARRAY['f0220000-0000-0000-0000-000000000001', 'f0220000-0000-0000-0000-000000000001']::uuid[]",
            "ARRAY(SELECT ('f0220000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid FROM generate_series(1, 2000) g)",
            "'{not-a-uuid}'",
            "ARRAY[ARRAY['f0220000-0000-0000-0000-000000000001'::uuid]]",
        ],
        "interval" => vec![
            "'0 seconds'::interval",
            "'-1 day'::interval",
            "'178000000 years'::interval",
            "'not an interval'",
        ],
        "bigint[]" => vec![
            "ARRAY[]::bigint[]",
            "ARRAY[NULL]::bigint[]",
            "ARRAY[9223372036854775807, -1]::bigint[]",
            "ARRAY(SELECT generate_series(1, 20000))::bigint[]",
        ],
        "date" => vec![
            "'2026-01-01'::date",
            "'infinity'::date",
            "'-infinity'::date",
            "'2026-02-30'",
        ],
        _ => vec![],
    };
    common.into_iter().chain(specific).collect()
}

/// The pool kind of an argument type, as `pg_proc` names it.
fn kind_of(sql_type: &str) -> Option<&'static str> {
    Some(match sql_type {
        "uuid" => "uuid",
        "integer" => "int",
        "bigint" => "bigint",
        "numeric" => "numeric",
        "text" => "text",
        "jsonb" => "jsonb",
        "timestamp with time zone" => "timestamptz",
        "date" => "date",
        "uuid[]" => "uuid[]",
        "interval" => "interval",
        "bigint[]" => "bigint[]",
        _ => return None,
    })
}

/// Every callable function of schema `loyalty` with its argument types, read
/// from `pg_proc` so that a new function is fuzzed without being listed
/// here.  Trigger functions are not callable and are left out.
fn functions(c: &mut postgres::Client) -> Vec<(String, Vec<&'static str>)> {
    let rows = c
        .query(
            "SELECT p.proname::text,
                    coalesce((SELECT array_agg(format_type(t, NULL) ORDER BY i)
                                FROM unnest(p.proargtypes) WITH ORDINALITY AS a(t, i)), '{}')
               FROM pg_proc p
              WHERE p.pronamespace = 'loyalty'::regnamespace
                AND p.prorettype <> 'trigger'::regtype
              ORDER BY 1, 2",
            &[],
        )
        .unwrap();
    let mut out = Vec::new();
    for r in rows {
        let name: String = r.get(0);
        let types: Vec<String> = r.get(1);
        let kinds = types
            .iter()
            .map(|t| {
                kind_of(t).unwrap_or_else(|| {
                    panic!("loyalty.{name} takes a {t}, which no pool covers: add one to fuzz it")
                })
            })
            .collect();
        out.push((name, kinds));
    }
    out
}

/// SQLSTATEs a hostile call may legitimately end with: SPEC section 8, and
/// PostgreSQL's own refusals of malformed literals and mistyped calls
/// before the extension runs.
const EXPECTED: &[&str] = &[
    "22023", "22003", "42501", "53400", "23505", "23514", "55000", "P0002", "55P03", // SPEC 8
    "22P02", "22007", "22008", "22009", "22021", "22P05", "42883", "42725", "42804", "42846",
    "22004", // input/type
];

#[test]
fn hostile_arguments_to_every_function() {
    fresh_db(DB);
    let mut c = connect(DB);
    grant_staff(
        &mut c,
        "57aff000-0000-0000-0000-0000000000f1",
        &["loyalty:award", "loyalty:redeem", "loyalty:adjust"],
    );
    // Some state for the functions to find.
    c.batch_execute(
        "SELECT 1 FROM loyalty.increment_player_loyalty('f0220000-0000-0000-0000-000000000001', 500, 'PROMOTION', 'fuzz-seed');
         INSERT INTO loyalty.promotion_campaign (reward_id, points_per_credit, valid_from, valid_to, budget_points)
         VALUES ('promo', 10, now() - interval '1 hour', now() + interval '1 hour', 100000);",
    )
    .unwrap();
    let long = std::env::var("LOYALTY_LONG").is_ok_and(|v| v == "1");
    let per_function = if long { 2000 } else { 150 };
    let mut rng = StdRng::seed_from_u64(0xf022);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut tried = 0;
    let functions = functions(&mut c);
    assert!(
        functions.len() >= 22,
        "pg_proc listed only {} functions",
        functions.len()
    );
    for (name, kinds) in &functions {
        for _ in 0..per_function {
            let args: Vec<&str> = kinds
                .iter()
                .map(|k| {
                    let p = pool(k);
                    p[rng.gen_range(0..p.len())]
                })
                .collect();
            let sql = format!("SELECT * FROM loyalty.{name}({})", args.join(", "));
            let before: i64 = c
                .query_one("SELECT count(*) FROM loyalty.loyalty_ledger", &[])
                .unwrap()
                .get(0);
            let result = c.batch_execute(&sql);
            tried += 1;
            let after: i64 = match c.query_one("SELECT count(*) FROM loyalty.loyalty_ledger", &[]) {
                Ok(r) => r.get(0),
                Err(e) => panic!(
                    "the server did not survive `{}`: {e}",
                    &sql[..sql.len().min(300)]
                ),
            };
            match result {
                Ok(()) => {
                    assert!(
                        after - before <= 1,
                        "one call wrote {} rows: {sql:.300}",
                        after - before
                    );
                    *outcomes.entry("ok".into()).or_default() += 1;
                }
                Err(e) => {
                    let db = e
                        .as_db_error()
                        .unwrap_or_else(|| panic!("no server error for `{sql:.300}`: {e}"));
                    let state = db.code().code().to_string();
                    let text = format!("{} {}", db.message(), db.detail().unwrap_or_default());
                    for needle in ["panicked", "backtrace", "RUST_", ".rs:", "unwrap()"] {
                        assert!(
                            !text.contains(needle),
                            "panic text reached the client: {text}"
                        );
                    }
                    assert!(
                        EXPECTED.contains(&state.as_str()),
                        "unexpected SQLSTATE {state} ({text:.200}) for `{sql:.300}`"
                    );
                    assert_eq!(before, after, "a failed call wrote rows: {sql:.300}");
                    *outcomes.entry(state).or_default() += 1;
                }
            }
        }
    }
    // A fresh connection still works: no crash, no restart.
    let mut fresh = connect(DB);
    fresh.batch_execute("SELECT 1").unwrap();
    assert_invariants(&mut fresh);
    println!(
        "fuzz: {tried} hostile calls over {} functions; outcomes {outcomes:?}; server up, drift_check empty",
        functions.len()
    );
}
