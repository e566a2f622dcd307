//! Staff identity through a real PgBouncer in transaction pooling mode
//! (issue 13, SPEC 10): `scripts/test.sh` starts one in front of the test
//! server (`LOYALTY_TEST_PGBOUNCER`) with two server connections per pool,
//! so that many clients share them.  Each transaction proves its staff
//! member with `SET LOCAL loyalty.staff_token`; the ledger attributes every
//! credit to the token's staff member and the application's login role, and
//! nothing of one client's transaction (its token, the tokens verified in
//! that server session) speaks for the next client on the same server
//! connection.
//!
//! The clients use the simple query protocol only, as applications behind a
//! transaction pooler without prepared-statement support must.

mod common;

use common::load::{prepare, staff_token, NO_LIMITS, STAFF_HOST, STAFF_SUPERVISOR};
use common::*;
use postgres::{Client, NoTls, SimpleQueryMessage};
use std::collections::{HashMap, HashSet};

const DB: &str = "loyalty_it_pooler";
/// In the pooler's user list (scripts/test.sh).
const LOGIN: &str = "loyalty_pooled_app";
const CLIENTS: usize = 6;
const ROUNDS: usize = 12;

fn through_pgbouncer(user: &str) -> Client {
    let bouncer = std::env::var("LOYALTY_TEST_PGBOUNCER").expect(
        "LOYALTY_TEST_PGBOUNCER is not set: run scripts/test.sh, which starts PgBouncer and sets it",
    );
    Client::connect(&format!("{bouncer} user={user} dbname={DB}"), NoTls)
        .unwrap_or_else(|e| panic!("connect through PgBouncer as {user}: {e}"))
}

/// The values of the first row a simple query returned.
fn first_row(messages: &[SimpleQueryMessage]) -> Vec<String> {
    messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or_default().to_string())
                    .collect(),
            ),
            _ => None,
        })
        .expect("a row")
}

fn player(client: usize) -> String {
    format!("b0000000-0000-0000-0013-{client:012}")
}

/// The application's login role, as the README grants it, with a token
/// required for every staff-performed change and the velocity limits out of
/// the way (they are the attack tests' subject).
fn setup() -> Client {
    fresh_db(DB);
    let mut admin = connect(DB);
    prepare(&mut admin);
    let group = format!("pooled_app_group_{}", std::process::id());
    readme_application_grants(&mut admin, &group);
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{LOGIN}') THEN
                 CREATE ROLE {LOGIN} LOGIN;
               END IF;
             END $$;
             GRANT {group} TO {LOGIN};
             ALTER ROLE {LOGIN} IN DATABASE {DB} SET loyalty.require_staff_token = on;"
        ))
        .unwrap();
    for set in NO_LIMITS
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let setting = set.trim_start_matches("SET ");
        admin
            .batch_execute(&format!(
                "ALTER ROLE {LOGIN} IN DATABASE {DB} SET {setting}"
            ))
            .unwrap();
    }
    admin
}

#[test]
fn staff_tokens_through_pgbouncer_in_transaction_mode() {
    let mut admin = setup_once();
    let staff_of = |client: usize, round: usize| {
        if (client + round).is_multiple_of(2) {
            STAFF_HOST
        } else {
            STAFF_SUPERVISOR
        }
    };
    // Every third transaction carries no token: with a token required it
    // must be refused, whatever the transaction before it on the same server
    // connection set or verified.
    let carries_token = |round: usize| round % 3 != 2;

    let outcomes = parallel(CLIENTS, |client, barrier| {
        let mut c = through_pgbouncer(LOGIN);
        barrier.wait();
        let mut seen = Vec::new();
        for round in 0..ROUNDS {
            let corr = format!("pooled-{client}-{round}");
            let reward = format!(
                "SELECT pg_backend_pid(), r.ledger_id
                   FROM loyalty.manual_reward('{}', NULL, 10, 'pooled floor reward',
                                              p_sequence => {}, p_correlation_id => '{corr}') r",
                player(client),
                round + 1
            );
            if carries_token(round) {
                let token = staff_token(staff_of(client, round));
                let out = c
                    .simple_query(&format!(
                        "BEGIN; SET LOCAL loyalty.staff_token = '{token}'; {reward}; COMMIT;"
                    ))
                    .unwrap_or_else(|e| panic!("{corr}: {e}"));
                let row = first_row(&out);
                seen.push((round, Some(row[0].clone()), "ok".to_string()));
            } else {
                let r = c.simple_query(&format!("BEGIN; {reward}; COMMIT;"));
                let state = match r {
                    Ok(_) => "ok".to_string(),
                    Err(e) => {
                        c.simple_query("ROLLBACK").unwrap();
                        sqlstate(&e)
                    }
                };
                seen.push((round, None, state));
            }
        }
        seen
    });

    // The tokenless transactions were refused; the others credited.
    let mut backends: HashMap<String, HashSet<usize>> = HashMap::new();
    for (client, seen) in outcomes.iter().enumerate() {
        for (round, backend, state) in seen {
            let expected = if carries_token(*round) { "ok" } else { "42501" };
            assert_eq!(state, expected, "client {client} round {round}");
            if let Some(pid) = backend {
                backends.entry(pid.clone()).or_default().insert(client);
            }
        }
    }
    assert!(
        backends.values().any(|clients| clients.len() > 1),
        "PgBouncer shared no server connection among clients: {backends:?}"
    );

    // Every credit is the token's staff member's, by the login role.
    let rows = admin
        .query(
            "SELECT correlation_id, staff_id::text, actor_role
               FROM loyalty.loyalty_ledger WHERE correlation_id LIKE 'pooled-%'",
            &[],
        )
        .unwrap();
    let tokened = (0..ROUNDS).filter(|r| carries_token(*r)).count();
    assert_eq!(rows.len(), CLIENTS * tokened);
    for row in rows {
        let corr: String = row.get(0);
        let parts: Vec<usize> = corr
            .trim_start_matches("pooled-")
            .split('-')
            .map(|p| p.parse().unwrap())
            .collect();
        let staff: Option<String> = row.get(1);
        let actor: String = row.get(2);
        assert_eq!(
            staff.as_deref(),
            Some(staff_of(parts[0], parts[1])),
            "{corr}"
        );
        assert_eq!(actor, LOGIN, "{corr}");
    }
    assert_invariants(&mut admin);
}

#[test]
fn a_token_naming_one_staff_member_cannot_act_for_another_through_pgbouncer() {
    let mut admin = setup_once();
    let mut c = through_pgbouncer(LOGIN);
    let token = staff_token(STAFF_HOST);
    let r = c.simple_query(&format!(
        "BEGIN; SET LOCAL loyalty.staff_token = '{token}';
         SELECT * FROM loyalty.manual_reward('{}', '{STAFF_SUPERVISOR}', 10, 'acting for the supervisor');
         COMMIT;",
        player(99)
    ));
    let state = match r {
        Ok(_) => "ok".to_string(),
        Err(e) => {
            c.simple_query("ROLLBACK").unwrap();
            sqlstate(&e)
        }
    };
    assert_eq!(state, "42501");
    // A session-level SET of the binding is the superuser's alone.
    let r = c.simple_query(&format!(
        "SET loyalty.session_staff_id = '{STAFF_SUPERVISOR}'"
    ));
    assert_eq!(
        r.map(|_| "ok".to_string()).unwrap_or_else(|e| sqlstate(&e)),
        "42501"
    );
    assert_eq!(ledger_rows(&mut admin, &player(99)), 0);
}

/// The tests of this file share one database (set up by whichever runs
/// first).
fn setup_once() -> Client {
    static DONE: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if !*done {
        *done = true;
        return setup();
    }
    connect(DB)
}
