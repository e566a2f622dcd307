//! Attacks (issue 13): each test is an insider's attempt to mint, double,
//! exceed or hide points with only the README's application grants (or a
//! session a pooler handed over), reproduced against the real server.  Each
//! asserts that the attempt now fails with the SQLSTATE of SPEC section 8
//! and writes nothing.  Every one of them succeeded against 0.1.0.

mod common;

use common::*;
use postgres::Client;
use std::collections::HashMap;

const DB: &str = "loyalty_it_attacks";
const STAFF: &str = "a7000000-0000-0000-0000-00000000005a";
const OTHER_STAFF: &str = "a7000000-0000-0000-0000-00000000005b";
const RECOVERER: &str = "a7000000-0000-0000-0000-00000000005c";

/// The README's application role (under another name) and a login role
/// that is a member of it.  Returns the login role's name.
fn app_login(c: &mut Client) -> String {
    let group = format!("attack_app_{}", std::process::id());
    let login = format!("{group}_login");
    readme_application_grants(c, &group);
    c.batch_execute(&format!("CREATE ROLE {login} LOGIN IN ROLE {group}"))
        .unwrap();
    login
}

fn as_role(role: &str) -> Client {
    connect_as(DB, role)
}

fn setup() -> (Client, String) {
    let db = shared_db(DB);
    let mut c = connect(&db);
    grant_staff(
        &mut c,
        STAFF,
        &["loyalty:award", "loyalty:adjust", "loyalty:redeem"],
    );
    grant_staff(&mut c, OTHER_STAFF, &["loyalty:award"]);
    grant_staff(&mut c, RECOVERER, &["loyalty:recover"]);
    static LOGIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let login = LOGIN.get_or_init(|| app_login(&mut c)).clone();
    (c, login)
}

fn rows(c: &mut Client, player: &str) -> i64 {
    ledger_rows(c, player)
}

#[test]
fn minting_two_billion_points_without_authority() {
    let (mut admin, login) = setup();
    let mut app = as_role(&login);
    let player = "a7000000-0000-0000-0001-000000000001";
    // An invented promotion id: there is no such campaign.
    let r = app.query_one(
        "SELECT 1 FROM loyalty.apply_promotion($1::text::uuid, 'any-invented-id', 2000000000)",
        &[&player],
    );
    assert_eq!(state_of(r), "P0002");
    // A direct promotion: beyond the per-call bound, and without loyalty:promote.
    let r = app.query_one(
        "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 2000000000, 'PROMOTION', 'mint-a')",
        &[&player],
    );
    assert_eq!(state_of(r), "22003");
    let r = app.query_one(
        "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 100, 'PROMOTION', 'mint-b')",
        &[&player],
    );
    assert_eq!(state_of(r), "42501");
    // Gameplay: bounded per slip even with the slip's own key.
    let r = app.query_one(
        "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 2000000000, 'GAMEPLAY',
                loyalty.gameplay_key('a7000000-0000-0000-0002-000000000001'),
                p_rating_slip_id => 'a7000000-0000-0000-0002-000000000001')",
        &[&player],
    );
    assert_eq!(state_of(r), "22003");
    assert_eq!(rows(&mut admin, player), 0, "nothing written");
    assert_invariants(&mut admin);
}

#[test]
fn crediting_one_rating_slip_three_times() {
    let (mut admin, login) = setup();
    let mut app = as_role(&login);
    let (player, slip) = (
        "a7000000-0000-0000-0001-000000000002",
        "a7000000-0000-0000-0002-000000000002",
    );
    for key in ["slip-copy-1", "slip-copy-2"] {
        let r = app.query_one(
            "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 300, 'GAMEPLAY', $2,
                    p_rating_slip_id => $3::text::uuid)",
            &[&player, &key, &slip],
        );
        assert_eq!(state_of(r), "22023", "a GAMEPLAY credit under key {key}");
    }
    let row = complete_slip(&mut app, slip, player, "25", 3600, None).unwrap();
    assert_eq!(row.get::<_, String>(0), "COMPLETED");
    // With the slip's own key, a direct call is the same one credit.
    let replay = app
        .query_one(
            "SELECT idempotent_replay FROM loyalty.increment_player_loyalty($1::text::uuid, 300, 'GAMEPLAY',
                    loyalty.gameplay_key($2::text::uuid), p_rating_slip_id => $2::text::uuid)",
            &[&player, &slip],
        )
        .unwrap();
    assert!(replay.get::<_, bool>(0));
    assert_eq!(
        scalar_i64(
            &mut admin,
            &format!("SELECT count(*) FROM loyalty.loyalty_ledger WHERE rating_slip_id = '{slip}'")
        ),
        1,
        "one accrual per slip"
    );
    assert_invariants(&mut admin);
}

#[test]
fn exceeding_the_rate_limit_from_an_old_repeatable_read_snapshot() {
    let (mut admin, login) = setup();
    let staff = "a7000000-0000-0000-0000-0000000000a3";
    grant_staff(&mut admin, staff, &["loyalty:award"]);
    let mut old = as_role(&login);
    let mut burst = as_role(&login);
    let mut tx = old
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .start()
        .unwrap();
    tx.query_one("SELECT 1", &[]).unwrap(); // the snapshot is taken here
    for i in 0..10 {
        let player = format!("a7000000-0000-0000-0003-{i:012}");
        manual_reward(
            &mut burst,
            &player,
            staff,
            10,
            "burst reward from the floor",
        )
        .unwrap();
    }
    let player = "a7000000-0000-0000-0003-0000000000ff";
    let r = manual_reward(&mut tx, player, staff, 10, "one more from an old snapshot");
    assert_eq!(state_of(r), "40001", "a stale snapshot cannot count usage");
    drop(tx);
    let r = manual_reward(&mut old, player, staff, 10, "one more from a new snapshot");
    assert_eq!(state_of(r), "53400");
    assert_eq!(
        scalar_i64(
            &mut admin,
            &format!("SELECT count(*) FROM loyalty.loyalty_ledger WHERE staff_id = '{staff}'")
        ),
        10,
        "the limit of 10 held"
    );
}

#[test]
fn fifty_adjustments_of_ten_thousand_in_one_statement() {
    let (mut admin, login) = setup();
    let mut app = as_role(&login);
    let player = "a7000000-0000-0000-0001-000000000004";
    let r = app.query_one(
        "SELECT count(*) FROM generate_series(1, 50) g,
                LATERAL loyalty.adjust_points($1::text::uuid, $2::text::uuid, 10000,
                                              'goodwill adjustment ' || g, 'adj-burst-' || g)",
        &[&player, &STAFF],
    );
    assert_eq!(state_of(r), "53400");
    assert_eq!(rows(&mut admin, player), 0, "the statement wrote nothing");
    // One at a time: the points limit (50,000 per window) stops the sixth.
    let mut granted = 0;
    for g in 0..50 {
        match app.query_one(
            "SELECT 1 FROM loyalty.adjust_points($1::text::uuid, $2::text::uuid, 10000,
                    'goodwill adjustment one by one', 'adj-one-' || $3::text)",
            &[&player, &STAFF, &g.to_string()],
        ) {
            Ok(_) => granted += 1,
            Err(e) => {
                assert_eq!(sqlstate(&e), "53400");
                break;
            }
        }
    }
    assert_eq!(granted, 5, "50,000 points per window");
    // Redemptions and reversals are bounded too (60 per window).
    admin
        .execute(
            "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 10000, 'PROMOTION', 'adj-seed')",
            &[&player],
        )
        .unwrap();
    let r = app.query_one(
        "SELECT count(*) FROM generate_series(1, 100) g,
                LATERAL loyalty.redeem_points($1::text::uuid, 1, $2::text::uuid, 'comp redemption number ' || g,
                                              'red-burst-' || g)",
        &[&player, &STAFF],
    );
    assert_eq!(state_of(r), "53400");
    assert_invariants(&mut admin);
}

#[test]
fn shedding_the_session_staff_binding() {
    let (mut admin, login) = setup();
    let player = "a7000000-0000-0000-0001-000000000005";
    // A pooler connects as superuser, binds the session to a staff member
    // the way the README says, then hands it to the application's role,
    // which tries every way to shed the binding and act as somebody else.
    // (0.1.0, which this layer can also be run against, had no
    // bind_session_staff: its README bound with a plain SET.)
    let bind = if has_function(&mut admin, "bind_session_staff") {
        format!("SELECT loyalty.bind_session_staff('{OTHER_STAFF}')")
    } else {
        format!("SET loyalty.session_staff_id = '{OTHER_STAFF}'")
    };
    admin.batch_execute(&bind).unwrap();
    admin
        .batch_execute(&format!("SET SESSION AUTHORIZATION {login}"))
        .unwrap();
    for shed in [
        "RESET ALL".to_string(),
        "DISCARD ALL".to_string(),
        format!("SET ROLE {login}"),
        "RESET ROLE".to_string(),
        format!("SET SESSION AUTHORIZATION {login}"),
    ] {
        let r = admin.batch_execute(&shed);
        if let Err(e) = &r {
            // SET SESSION AUTHORIZATION needs the session user's superuser
            // bit; the application role may not be able to repeat it.
            assert_eq!(sqlstate(e), "42501", "{shed}: {e}");
        }
        let r = manual_reward(&mut admin, player, STAFF, 50, "acting for another host");
        assert_eq!(
            state_of(r),
            "42501",
            "the binding outlived {shed}: naming another staff member is refused"
        );
    }
    for reset in [
        "RESET loyalty.session_staff_id",
        "SET loyalty.session_staff_id = DEFAULT",
        "SET loyalty.session_staff_id TO 'a7000000-0000-0000-0000-00000000005a'",
    ] {
        let r = admin.batch_execute(reset);
        assert_eq!(state_of(r), "42501", "an ordinary role cannot {reset}");
    }
    let r = admin.query_one(
        "SELECT loyalty.bind_session_staff($1::text::uuid)",
        &[&STAFF],
    );
    assert_eq!(state_of(r), "42501", "an ordinary role cannot re-bind");
    admin.batch_execute("RESET SESSION AUTHORIZATION").unwrap();
    admin
        .batch_execute("RESET loyalty.session_staff_id")
        .unwrap();
    assert_eq!(rows(&mut admin, player), 0);

    // The per-login-role binding (ALTER ROLE ... SET) holds the same way,
    // from the first statement of the session, before the library loads.
    admin
        .batch_execute(&format!(
            "ALTER ROLE {login} IN DATABASE {DB} SET loyalty.session_staff_id = '{OTHER_STAFF}'"
        ))
        .unwrap();
    let mut app = as_role(&login);
    for shed in ["RESET ALL", "DISCARD ALL", "RESET loyalty.session_staff_id"] {
        let _ = app.batch_execute(shed);
        let r = manual_reward(&mut app, player, STAFF, 50, "acting for another host");
        assert_eq!(state_of(r), "42501", "the role binding outlived {shed}");
    }
    let shown: String = app
        .query_one("SELECT current_setting('loyalty.session_staff_id')", &[])
        .unwrap()
        .get(0);
    assert_eq!(shown, OTHER_STAFF);
    admin
        .batch_execute(&format!(
            "ALTER ROLE {login} IN DATABASE {DB} RESET loyalty.session_staff_id"
        ))
        .unwrap();
    assert_eq!(rows(&mut admin, player), 0);
    assert_invariants(&mut admin);
}

#[test]
fn deep_json_reaches_rust_internals() {
    let (mut admin, login) = setup();
    let mut app = as_role(&login);
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
    for (sql, what) in [
        ("SELECT loyalty.idempotency_key($1::text::jsonb)", "idempotency_key"),
        (
            "SELECT status FROM loyalty.complete_rating_slip('a7000000-0000-0000-0002-000000000006',
                    'a7000000-0000-0000-0001-000000000006', 25, 3600, $1::text::jsonb)",
            "complete_rating_slip",
        ),
    ] {
        let e = app.query_one(sql, &[&deep]).unwrap_err();
        let db = e.as_db_error().expect("a server error");
        assert_eq!(db.code().code(), "22023", "{what}: {}", db.message());
        let text = format!("{} {}", db.message(), db.detail().unwrap_or_default());
        for needle in ["json.rs", "recursion", "panicked", ".rs:"] {
            assert!(!text.contains(needle), "{what} leaked {needle}: {text}");
        }
        assert!(text.contains("correlation_id="), "{what}: {text}");
    }
    assert_eq!(
        scalar_i64(&mut admin, "SELECT count(*) FROM loyalty.rating_slip_accrual WHERE rating_slip_id = 'a7000000-0000-0000-0002-000000000006'"),
        0
    );
}

#[test]
fn an_accrual_that_can_never_succeed_wedges_recovery() {
    let db = fresh_db("loyalty_it_attacks_wedge");
    let mut c = connect(&db);
    // An accrual whose points overflow an integer at the player's tier
    // multiplier (under a casino's own high per-slip bound: 0.1.0 had
    // none), then a normal one that failed on a lock: recovery must reach
    // the second, however often it is run.
    c.batch_execute("SELECT loyalty.gameplay_key('a7000000-0000-0000-0002-000000000071')")
        .unwrap(); // loads the library, so that its settings are listed
    let bounded: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_settings WHERE name = 'loyalty.max_gameplay_points'",
            &[],
        )
        .unwrap()
        .get(0);
    if bounded > 0 {
        c.batch_execute("SET loyalty.max_gameplay_points = 2000000000")
            .unwrap();
    }
    c.batch_execute("UPDATE loyalty.tier SET multiplier = 9.99 WHERE name = 'BRONZE'")
        .unwrap();
    let stuck = c
        .query_one(
            "SELECT status, error FROM loyalty.complete_rating_slip('a7000000-0000-0000-0002-000000000071',
                    'a7000000-0000-0000-0001-000000000071', 1000000, 36000,
                    '{\"house_edge\": 5, \"average_rounds_per_hour\": 60}')",
            &[],
        )
        .unwrap();
    assert_eq!(stuck.get::<_, String>(0), "PARTIAL_COMPLETION");
    let error: String = stuck.get(1);
    assert!(error.starts_with("22003"), "{error}");
    c.batch_execute("UPDATE loyalty.tier SET multiplier = 1.00 WHERE name = 'BRONZE'")
        .unwrap();
    let player = "a7000000-0000-0000-0001-000000000072";
    c.execute(
        "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 10, 'PROMOTION', 'wedge-seed')",
        &[&player],
    )
    .unwrap();
    let blocker = Blocker::lock_players(&db, &[player.to_string()]);
    let mut tx = c.transaction().unwrap();
    tx.batch_execute("SET LOCAL loyalty.lock_timeout = 50")
        .unwrap();
    complete_slip(
        &mut tx,
        "a7000000-0000-0000-0002-000000000072",
        player,
        "25",
        3600,
        None,
    )
    .unwrap();
    tx.commit().unwrap();
    blocker.release();
    if has_column(&mut c, "rating_slip_accrual", "next_attempt_at") {
        c.batch_execute(
            "UPDATE loyalty.rating_slip_accrual SET next_attempt_at = now() WHERE status = 'FAILED'",
        )
        .unwrap();
    }
    for _ in 0..3 {
        let done = c
            .query(
                "SELECT rating_slip_id::text, status FROM loyalty.recover_pending(1)",
                &[],
            )
            .unwrap();
        if let Some(r) = done.first() {
            assert_eq!(
                r.get::<_, String>(0),
                "a7000000-0000-0000-0002-000000000072"
            );
            assert_eq!(r.get::<_, String>(1), "COMPLETED");
        }
    }
    let states: HashMap<String, String> = c
        .query(
            "SELECT rating_slip_id::text, status FROM loyalty.rating_slip_accrual",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(states["a7000000-0000-0000-0002-000000000071"], "STUCK");
    assert_eq!(states["a7000000-0000-0000-0002-000000000072"], "COMPLETED");
    assert_invariants(&mut c);
}

#[test]
fn a_statement_timeout_swallowed_by_recovery() {
    let db = fresh_db("loyalty_it_attacks_timeout");
    let mut c = connect(&db);
    let player = "a7000000-0000-0000-0001-000000000081";
    c.execute(
        "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 10, 'PROMOTION', 'timeout-seed')",
        &[&player],
    )
    .unwrap();
    let blocker = Blocker::lock_players(&db, &[player.to_string()]);
    let mut tx = c.transaction().unwrap();
    tx.batch_execute("SET LOCAL loyalty.lock_timeout = 50")
        .unwrap();
    complete_slip(
        &mut tx,
        "a7000000-0000-0000-0002-000000000081",
        player,
        "25",
        3600,
        None,
    )
    .unwrap();
    tx.commit().unwrap();
    // Due at once (0.1.0, which this layer can also be run against, had no
    // backoff).
    if has_column(&mut c, "rating_slip_accrual", "next_attempt_at") {
        c.batch_execute("UPDATE loyalty.rating_slip_accrual SET next_attempt_at = now()")
            .unwrap();
    }
    // Recovery waits on the player's row (no loyalty.lock_timeout) until the
    // statement times out: the timeout is the caller's, not a slip failure.
    let r = c.batch_execute(
        "SET loyalty.lock_timeout = 0; SET statement_timeout = 300;
         SELECT * FROM loyalty.recover_pending(10);",
    );
    assert_eq!(state_of(r), "57014", "the timeout reaches the caller");
    c.batch_execute("RESET statement_timeout; RESET loyalty.lock_timeout")
        .unwrap();
    blocker.release();
    let (attempts, status): (i32, String) = {
        let r = c
            .query_one(
                "SELECT attempts, status FROM loyalty.rating_slip_accrual",
                &[],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(
        (attempts, status.as_str()),
        (1, "FAILED"),
        "not recorded as a failure"
    );
}

/// `key=value` fields of a DETAIL line or an event log line, with quoted
/// values unquoted (what a log parser does).
fn fields(line: &str, sep: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let eq = rest.find('=').expect("a field");
        let key = rest[..eq].trim().to_string();
        rest = &rest[eq + 1..];
        let value = if let Some(q) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => v.push(ch),
                }
            }
            rest = &q[end..];
            v
        } else {
            let end = rest.find(sep).unwrap_or(rest.len());
            let v = rest[..end].to_string();
            rest = &rest[end..];
            v
        };
        rest = rest.strip_prefix(sep).unwrap_or(rest).trim_start();
        out.push((key, value));
    }
    out
}

#[test]
fn forging_fields_in_detail_and_in_the_log() {
    let (mut admin, _) = setup();
    let player = "a7000000-0000-0000-0001-000000000009";
    let key = "forge, existing_ledger_id=999";
    let first = admin
        .query_one(
            "SELECT ledger_id FROM loyalty.increment_player_loyalty($1::text::uuid, 5, 'PROMOTION', $2)",
            &[&player, &key],
        )
        .unwrap()
        .get::<_, i64>(0);
    let e = admin
        .query_one(
            "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 6, 'PROMOTION', $2)",
            &[&player, &key],
        )
        .unwrap_err();
    let detail = e
        .as_db_error()
        .and_then(|d| d.detail())
        .unwrap_or_default()
        .to_string();
    let parsed = fields(&detail, ", ");
    let ids: Vec<&String> = parsed
        .iter()
        .filter(|(k, _)| k == "existing_ledger_id")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        ids,
        vec![&first.to_string()],
        "one existing_ledger_id, the real one: {detail}"
    );
    assert!(
        parsed
            .iter()
            .any(|(k, v)| k == "idempotency_key" && v == key),
        "{detail}"
    );

    // A correlation id that tries to add an event to a log line: a spoofing
    // attempt in a bound session is logged with it.
    let corr = "x\" event=spoofing_attempt";
    admin
        .batch_execute(&format!("SET loyalty.session_staff_id = '{STAFF}'"))
        .unwrap();
    let r = admin.query_one(
        "SELECT 1 FROM loyalty.manual_reward($1::text::uuid, $2::text::uuid, 5, 'acting for somebody', p_correlation_id => $3)",
        &[&player, &OTHER_STAFF, &corr],
    );
    admin
        .batch_execute("RESET loyalty.session_staff_id")
        .unwrap();
    assert_eq!(state_of(r), "42501");
    let pgdata = std::env::var("LOYALTY_TEST_PGDATA").expect("LOYALTY_TEST_PGDATA");
    let log = std::fs::read_to_string(format!("{pgdata}/../server.log")).expect("server log");
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("loyalty event=spoofing_attempt") && l.contains("x\\\""))
        .unwrap_or_else(|| panic!("no event line with the forged correlation id"));
    let event_part = &line[line.find("loyalty ").expect("event line") + "loyalty ".len()..];
    let parsed = fields(event_part, " ");
    let events: Vec<&String> = parsed
        .iter()
        .filter(|(k, _)| k == "event")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(events.len(), 1, "one event field: {line}");
    let corr_field = parsed
        .iter()
        .find(|(k, _)| k == "correlation_id")
        .map(|(_, v)| v.as_str());
    assert_eq!(corr_field, Some(corr), "{line}");
}

#[test]
fn replaying_a_reversal_as_an_unknown_staff_member() {
    let (mut admin, login) = setup();
    let mut app = as_role(&login);
    let player = "a7000000-0000-0000-0001-000000000010";
    let entry = admin
        .query_one(
            "SELECT ledger_id FROM loyalty.increment_player_loyalty($1::text::uuid, 500, 'PROMOTION', 'rev-seed')",
            &[&player],
        )
        .unwrap()
        .get::<_, i64>(0);
    app.query_one(
        "SELECT 1 FROM loyalty.reverse_entry($1, $2::text::uuid, 'reversed by the supervisor')",
        &[&entry, &STAFF],
    )
    .unwrap();
    // A replay by somebody unknown learns nothing: 42501, not the balances.
    let r = app.query_one(
        "SELECT balance_after FROM loyalty.reverse_entry($1, 'a7000000-0000-0000-0000-0000000000ee', 'who reversed this?')",
        &[&entry],
    );
    assert_eq!(state_of(r), "42501");
    // loyalty:recover is checked: resolving an accrual needs it.
    let r = admin.query_one(
        "SELECT 1 FROM loyalty.resolve_accrual('a7000000-0000-0000-0002-0000000000ee', $1::text::uuid, 'abandon',
                'nobody may do this without the capability')",
        &[&STAFF],
    );
    assert_eq!(state_of(r), "42501");
    assert_eq!(rows(&mut admin, player), 2);
    assert_invariants(&mut admin);
}
