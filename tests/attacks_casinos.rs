//! Attacks on casino isolation (issue 14, SPEC section 14): a login role
//! bound to casino A, with the README's grants (or an auditor's, or an
//! admin's), tries to read, credit, redeem, reverse, reconcile, recover and
//! trace at casino B by every path it has: naming B, reading tables and
//! views directly, colliding with B's keys, reversing B's ledger ids,
//! presenting a staff token for B, shedding its binding.  Each attempt is
//! refused (42501) or finds nothing (P0002, 55000, no rows), and casino B's
//! rows are the same afterwards.

mod common;

use common::*;
use postgres::Client;

const DB: &str = "loyalty_it_attacks_casinos";
const A: &str = "ac000000-0000-0000-0000-00000000000a";
const B: &str = "ac000000-0000-0000-0000-00000000000b";
const STAFF: &str = "ac000000-0000-0000-0000-00000000005a";
/// A player enrolled at casino B only.
const PLAYER_B: &str = "ac000000-0000-0000-0001-0000000000b1";
/// Another player of casino B, whom no attack gives an account at A.
const PLAYER_B2: &str = "ac000000-0000-0000-0001-0000000000b2";
const SLIP_B: &str = "ac000000-0000-0000-0002-0000000000b1";
const PENDING_SLIP_B: &str = "ac000000-0000-0000-0002-0000000000b2";
const KEY_SECRET: &str = "casino attack secret, for these tests only";

/// Casino B's rows, to compare before and after an attack.
fn b_state(c: &mut Client) -> String {
    c.query_one(
        "SELECT format('ledger=%s players=%s balance=%s slips=%s resolutions=%s reconciliations=%s usage=%s',
                (SELECT count(*) FROM loyalty.loyalty_ledger WHERE casino_id = $1::text::uuid),
                (SELECT count(*) FROM loyalty.player_loyalty WHERE casino_id = $1::text::uuid),
                (SELECT coalesce(sum(current_balance), 0) FROM loyalty.player_loyalty WHERE casino_id = $1::text::uuid),
                (SELECT string_agg(status, ',' ORDER BY rating_slip_id) FROM loyalty.rating_slip_accrual WHERE casino_id = $1::text::uuid),
                (SELECT count(*) FROM loyalty.accrual_resolution WHERE casino_id = $1::text::uuid),
                (SELECT count(*) FROM loyalty.reconciliation WHERE casino_id = $1::text::uuid),
                (SELECT count(*) FROM loyalty.velocity_usage WHERE casino_id = $1::text::uuid))",
        &[&B],
    )
    .unwrap()
    .get(0)
}

struct Setup {
    admin: Client,
    /// README application grants, bound to A.
    app_a: String,
    /// README application grants, bound to no casino.
    app_unbound: String,
    /// README auditor grants, bound to A.
    auditor_a: String,
    /// README admin grants, bound to A.
    admin_a: String,
    /// A ledger entry of casino B.
    b_entry: i64,
}

fn setup() -> Setup {
    let db = shared_db(DB);
    let mut admin = connect(&db);
    static ROLES: std::sync::OnceLock<(String, String, String, String, i64)> =
        std::sync::OnceLock::new();
    let (app_a, app_unbound, auditor_a, admin_a, b_entry) = ROLES
        .get_or_init(|| {
            let tag = std::process::id();
            let group = format!("casino_attack_app_{tag}");
            readme_application_grants(&mut admin, &group);
            let readme = std::fs::read_to_string("README.md").unwrap();
            let roles = &readme[readme.find("## Roles and GRANTs").unwrap()..];
            let block = roles.split("```sql\n").nth(1).unwrap();
            let rest = &block[block.find("-- Auditor").unwrap()..block.find("```").unwrap()];
            let auditor_group = format!("casino_attack_auditor_{tag}");
            let admin_group = format!("casino_attack_admin_{tag}");
            admin
                .batch_execute(
                    &rest
                        .replace("loyalty_auditor", &auditor_group)
                        .replace("loyalty_admin", &admin_group),
                )
                .expect("the README's auditor and admin grants");
            let app_a = format!("{group}_a");
            let app_unbound = format!("{group}_any");
            let auditor_a = format!("{auditor_group}_a");
            let admin_a = format!("{admin_group}_a");
            admin
                .batch_execute(&format!(
                    "INSERT INTO loyalty.casino (casino_id, name) VALUES ('{A}', 'Casino A'), ('{B}', 'Casino B');
                     CREATE ROLE {app_a} LOGIN IN ROLE {group};
                     ALTER ROLE {app_a} SET loyalty.session_casino_id = '{A}';
                     CREATE ROLE {app_unbound} LOGIN IN ROLE {group};
                     CREATE ROLE {auditor_a} LOGIN IN ROLE {auditor_group};
                     ALTER ROLE {auditor_a} SET loyalty.session_casino_id = '{A}';
                     CREATE ROLE {admin_a} LOGIN IN ROLE {admin_group};
                     ALTER ROLE {admin_a} SET loyalty.session_casino_id = '{A}';
                     INSERT INTO loyalty.staff_permission (casino_id, staff_id, capabilities)
                     SELECT c, '{STAFF}', ARRAY['loyalty:award', 'loyalty:redeem', 'loyalty:adjust',
                                                'loyalty:recover', 'loyalty:promote']
                       FROM unnest(ARRAY['{A}', '{B}']::uuid[]) c;
                     INSERT INTO loyalty.trusted_key (kid, algorithm, key) VALUES ('casino-attacks', 'HS256', '{KEY_SECRET}');
                     INSERT INTO loyalty.promotion_campaign (casino_id, reward_id, points_per_credit, valid_from, valid_to, budget_points)
                     VALUES ('{B}', 'b-only-winter', 100, now() - interval '1 hour', now() + interval '1 day', 10000);"
                ))
                .expect("casinos, roles, staff");
            // Casino B's business: a slip credited, a manual reward, an
            // adjustment under an explicit key, a campaign credit, and a
            // slip still pending.
            admin
                .batch_execute(&format!(
                    "SELECT loyalty.complete_rating_slip('{SLIP_B}', '{PLAYER_B}', 25, 3600,
                            '{{\"house_edge\": 2, \"average_rounds_per_hour\": 60}}', p_casino_id => '{B}');
                     SELECT loyalty.manual_reward('{PLAYER_B}', '{STAFF}', 100, 'birthday dinner at the steakhouse',
                            p_casino_id => '{B}');
                     SELECT loyalty.adjust_points('{PLAYER_B}', '{STAFF}', 50, 'goodwill for a slow table', 'b-adjust-1',
                            p_casino_id => '{B}');
                     SELECT loyalty.apply_promotion('{PLAYER_B}', 'b-only-winter', 100, p_casino_id => '{B}');
                     SELECT loyalty.increment_player_loyalty('{PLAYER_B2}', 100, 'PROMOTION', 'b2-welcome',
                            p_casino_id => '{B}');
                     INSERT INTO loyalty.rating_slip_accrual
                         (casino_id, rating_slip_id, player_id, average_bet, duration_seconds, game_settings,
                          request_fingerprint, correlation_id)
                     VALUES ('{B}', '{PENDING_SLIP_B}', '{PLAYER_B}', 25, 3600,
                             '{{\"house_edge\": 2, \"average_rounds_per_hour\": 60}}', 'seeded', 'casino-b-pending');"
                ))
                .expect("casino B's business");
            let b_entry = scalar_i64(
                &mut admin,
                &format!("SELECT min(id) FROM loyalty.loyalty_ledger WHERE casino_id = '{B}'"),
            );
            (app_a, app_unbound, auditor_a, admin_a, b_entry)
        })
        .clone();
    Setup {
        admin,
        app_a,
        app_unbound,
        auditor_a,
        admin_a,
        b_entry,
    }
}

fn token(staff: &str, casino: Option<&str>) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("casino-attacks".into());
    let mut claims = serde_json::json!({"sub": staff, "exp": exp});
    if let Some(c) = casino {
        claims["casino"] = c.into();
    }
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(KEY_SECRET.as_bytes()),
    )
    .unwrap()
}

/// Every write and read function, each naming casino B.
fn calls_naming_b() -> Vec<String> {
    let p = PLAYER_B;
    let s = STAFF;
    vec![
        format!("SELECT * FROM loyalty.increment_player_loyalty('{p}', 300, 'GAMEPLAY', loyalty.gameplay_key('{SLIP_B}'), p_rating_slip_id => '{SLIP_B}', p_casino_id => '{B}')"),
        format!("SELECT * FROM loyalty.manual_reward('{p}', '{s}', 100, 'birthday dinner at the steakhouse', p_casino_id => '{B}')"),
        format!("SELECT * FROM loyalty.apply_promotion('{p}', 'b-only-winter', 100, p_sequence => 2, p_casino_id => '{B}')"),
        format!("SELECT * FROM loyalty.apply_promotion_batch('b-only-winter', ARRAY['{p}', '{PLAYER_B2}']::uuid[], p_casino_id => '{B}')"),
        format!("SELECT * FROM loyalty.redeem_points('{p}', 10, '{s}', 'buffet comp for two guests', 'a-redeems-b', p_casino_id => '{B}')"),
        format!("SELECT * FROM loyalty.adjust_points('{p}', '{s}', -50, 'goodwill taken back again', 'a-adjusts-b', p_casino_id => '{B}')"),
        format!("SELECT * FROM loyalty.reverse_entry((SELECT NULL::bigint) , '{s}', 'wrong guest credited here', p_casino_id => '{B}')"),
        format!("SELECT * FROM loyalty.complete_rating_slip('{SLIP_B}', '{p}', 25, 3600, '{{\"house_edge\": 2, \"average_rounds_per_hour\": 60}}', p_casino_id => '{B}')"),
        format!("SELECT * FROM loyalty.recover_rating_slip('{PENDING_SLIP_B}', p_casino_id => '{B}')"),
        format!("SELECT * FROM loyalty.rate_limit_status('{s}', p_casino_id => '{B}')"),
    ]
}

#[test]
fn naming_another_casino_in_every_write_function() {
    let mut s = setup();
    let before = b_state(&mut s.admin);
    let mut app = connect_as(DB, &s.app_a);
    for call in calls_naming_b() {
        // reverse_entry names B's entry (the NULL placeholder above would be
        // 22023 before the casino is checked).
        let call = call.replace("(SELECT NULL::bigint) ", &s.b_entry.to_string());
        assert_eq!(state_of(app.batch_execute(&call)), "42501", "{call}");
    }
    // validate_reward reports its refusal as a row.
    let r = app
        .query_one(
            "SELECT valid, sqlstate FROM loyalty.validate_reward(100, 'birthday dinner at the steakhouse',
                 $1::text::uuid, p_casino_id => $2::text::uuid)",
            &[&STAFF, &B],
        )
        .unwrap();
    assert_eq!(
        (r.get::<_, bool>(0), r.get::<_, Option<String>>(1)),
        (false, Some("42501".to_string()))
    );
    assert_eq!(b_state(&mut s.admin), before, "casino B unchanged");
}

#[test]
fn reading_another_casino_directly_and_through_audit_functions() {
    let s = setup();
    let mut auditor = connect_as(DB, &s.auditor_a);
    // Direct reads of every table and view that holds B's rows: nothing.
    for table in [
        "loyalty_ledger",
        "player_loyalty",
        "rating_slip_accrual",
        "promotion_campaign",
        "staff_permission",
        "velocity_usage",
        "tier",
        "casino",
        "ledger_totals",
        "pending_accruals",
        "reconciliation",
        "accrual_resolution",
    ] {
        let n = scalar_i64(
            &mut auditor,
            &format!("SELECT count(*) FROM loyalty.{table} WHERE casino_id = '{B}'"),
        );
        assert_eq!(
            n, 0,
            "{table}: casino B's rows are invisible to A's auditor"
        );
    }
    // Its own casino's rows are visible (the policy is not "nothing").
    assert!(scalar_i64(&mut auditor, "SELECT count(*) FROM loyalty.tier") > 0);
    // The audit functions: naming B is refused, not naming it finds nothing.
    for call in [
        format!("SELECT * FROM loyalty.trace('casino-b-pending', '{B}')"),
        format!("SELECT * FROM loyalty.drift_check('{B}')"),
        format!("SELECT * FROM loyalty.player_statement('{PLAYER_B2}', p_casino_id => '{B}')"),
        format!("SELECT * FROM loyalty.balance_at('{PLAYER_B2}', now(), '{B}')"),
    ] {
        assert_eq!(state_of(auditor.batch_execute(&call)), "42501", "{call}");
    }
    assert_eq!(
        scalar_i64(
            &mut auditor,
            "SELECT count(*) FROM loyalty.trace('casino-b-pending')"
        ),
        0
    );
    assert_eq!(
        scalar_i64(
            &mut auditor,
            &format!("SELECT count(*) FROM loyalty.player_statement('{PLAYER_B2}')")
        ),
        0
    );
    assert_eq!(
        scalar_i64(
            &mut auditor,
            &format!("SELECT balance FROM loyalty.balance_at('{PLAYER_B2}', now())")
        ),
        0
    );
    // A placeholder set before anything loaded the library, in a fresh
    // session, does not move the auditor to B: the library discards it.
    let mut fresh = connect_as(DB, &s.auditor_a);
    let _ = fresh.batch_execute(&format!("SET loyalty.session_casino_id = '{B}'"));
    assert_eq!(
        scalar_i64(
            &mut fresh,
            &format!("SELECT count(*) FROM loyalty.loyalty_ledger WHERE casino_id = '{B}'")
        ),
        0,
        "a placeholder does not rebind the session"
    );
}

#[test]
fn reversing_another_casinos_ledger_id() {
    let mut s = setup();
    let before = b_state(&mut s.admin);
    let mut app = connect_as(DB, &s.app_a);
    let r = app.query_one(
        "SELECT ledger_id FROM loyalty.reverse_entry($1, $2::text::uuid, 'wrong guest credited here')",
        &[&s.b_entry, &STAFF],
    );
    assert_eq!(state_of(r), "P0002", "B's entry does not exist for A");
    assert_eq!(b_state(&mut s.admin), before);
    assert_eq!(
        scalar_i64(
            &mut s.admin,
            &format!(
                "SELECT count(*) FROM loyalty.loyalty_ledger WHERE reverses_ledger_id = {}",
                s.b_entry
            )
        ),
        0
    );
}

#[test]
fn colliding_with_another_casinos_keys() {
    let mut s = setup();
    let before = b_state(&mut s.admin);
    let mut app = connect_as(DB, &s.app_a);
    // B's adjustment key, the same request: at A it is A's own new change,
    // never an answer with B's row.
    let b_row: i64 = scalar_i64(
        &mut s.admin,
        &format!("SELECT id FROM loyalty.loyalty_ledger WHERE casino_id = '{B}' AND idempotency_key = 'b-adjust-1'"),
    );
    let r = app
        .query_one(
            "SELECT ledger_id, idempotent_replay, balance_before FROM loyalty.adjust_points(
                 $1::text::uuid, $2::text::uuid, 50, 'goodwill for a slow table', 'b-adjust-1')",
            &[&PLAYER_B, &STAFF],
        )
        .expect("A's own adjustment");
    let (id, replay, before_balance): (i64, bool, i64) = (r.get(0), r.get(1), r.get(2));
    assert_ne!(id, b_row, "not B's row");
    assert!(!replay, "not a replay of B's change");
    assert_eq!(
        before_balance, 0,
        "A's account of the player, not B's balance"
    );
    // The same manual reward as B's (same derived key): A's own.
    let r = app
        .query_one(
            "SELECT idempotent_replay, balance_before FROM loyalty.manual_reward(
                 $1::text::uuid, $2::text::uuid, 100, 'birthday dinner at the steakhouse')",
            &[&PLAYER_B, &STAFF],
        )
        .expect("A's own reward");
    assert!(!r.get::<_, bool>(0));
    // B's slip recorded at A is A's own slip: B's is not completed twice.
    let r = app
        .query_one(
            "SELECT status, points FROM loyalty.complete_rating_slip($1::text::uuid, $2::text::uuid, 25, 3600,
                 '{\"house_edge\": 2, \"average_rounds_per_hour\": 60}')",
            &[&SLIP_B, &PLAYER_B],
        )
        .expect("A's slip");
    assert_eq!(r.get::<_, String>(0), "COMPLETED");
    // B's campaign does not exist at A.
    let r = app.query_one(
        "SELECT 1 FROM loyalty.apply_promotion($1::text::uuid, 'b-only-winter', 100, p_sequence => 3)",
        &[&PLAYER_B],
    );
    assert_eq!(state_of(r), "P0002");
    assert_eq!(b_state(&mut s.admin), before, "casino B unchanged");
    assert_invariants(&mut s.admin);
}

#[test]
fn recovering_reconciling_and_resolving_in_another_casino() {
    let mut s = setup();
    let before = b_state(&mut s.admin);
    let mut adm = connect_as(DB, &s.admin_a);
    // B's pending slip is not A's to recover, resolve or see.
    let recovered = adm
        .query(
            "SELECT rating_slip_id::text FROM loyalty.recover_pending(100)",
            &[],
        )
        .expect("recover A's own");
    assert!(
        recovered
            .iter()
            .all(|r| r.get::<_, String>(0) != PENDING_SLIP_B),
        "B's slip recovered from A"
    );
    for (call, state) in [
        (format!("SELECT * FROM loyalty.recover_pending(100, '{B}')"), "42501"),
        (format!("SELECT * FROM loyalty.recover_rating_slip('{PENDING_SLIP_B}')"), "55000"),
        (
            format!("SELECT * FROM loyalty.resolve_accrual('{PENDING_SLIP_B}', '{STAFF}', 'abandon', 'guest disputed the rating', p_casino_id => '{B}')"),
            "42501",
        ),
        (
            format!("SELECT * FROM loyalty.resolve_accrual('{PENDING_SLIP_B}', '{STAFF}', 'abandon', 'guest disputed the rating')"),
            "55000",
        ),
        (
            format!("SELECT * FROM loyalty.reconcile_player('{PLAYER_B2}', '{STAFF}', 'checking another casino', '{B}')"),
            "42501",
        ),
        (
            format!("SELECT * FROM loyalty.reconcile_player('{PLAYER_B2}', '{STAFF}', 'checking another casino')"),
            "P0002",
        ),
    ] {
        assert_eq!(state_of(adm.batch_execute(&call)), state, "{call}");
    }
    // The admin's edits without naming a casino touch A's rows only; a row
    // for B cannot be written at all.
    adm.batch_execute("UPDATE loyalty.tier SET multiplier = 1.33 WHERE name = 'SILVER'")
        .unwrap();
    assert_eq!(
        scalar_i64(
            &mut s.admin,
            &format!(
                "SELECT count(*) FROM loyalty.tier WHERE casino_id = '{B}' AND multiplier = 1.33"
            )
        ),
        0
    );
    let r = adm.batch_execute(&format!(
        "INSERT INTO loyalty.staff_permission (casino_id, staff_id, capabilities)
         VALUES ('{B}', 'ac000000-0000-0000-0000-0000000000ee', ARRAY['loyalty:award'])"
    ));
    assert_eq!(
        state_of(r),
        "42501",
        "row-level security refuses a row for B"
    );
    assert_eq!(
        scalar_i64(
            &mut s.admin,
            &format!("SELECT count(*) FROM loyalty.rating_slip_accrual WHERE casino_id = '{B}' AND rating_slip_id = '{PENDING_SLIP_B}' AND status = 'PENDING'")
        ),
        1
    );
    assert_eq!(b_state(&mut s.admin), before, "casino B unchanged");
}

/// The SQLSTATE of `sql` (or "ok") in a transaction that sets `token`.
fn state_with_token(
    c: &mut Client,
    token: &str,
    sql: &str,
    params: &[&(dyn postgres::types::ToSql + Sync)],
) -> String {
    let mut tx = c.transaction().unwrap();
    tx.execute(
        "SELECT set_config('loyalty.staff_token', $1, true)",
        &[&token],
    )
    .unwrap();
    state_of(tx.query_one(sql, params))
}

#[test]
fn presenting_a_staff_token_for_another_casino() {
    let mut s = setup();
    let before = b_state(&mut s.admin);
    let reward = "SELECT 1 FROM loyalty.manual_reward($1::text::uuid, NULL, 100, 'birthday dinner at the steakhouse')";
    // Bound to A, with a token the identity service issued for B.
    let mut app = connect_as(DB, &s.app_a);
    assert_eq!(
        state_with_token(&mut app, &token(STAFF, Some(B)), reward, &[&PLAYER_B]),
        "42501"
    );
    // Unbound, with a token for A: the token binds; naming B is refused.
    let mut any = connect_as(DB, &s.app_unbound);
    assert_eq!(
        state_with_token(
            &mut any,
            &token(STAFF, Some(A)),
            "SELECT 1 FROM loyalty.redeem_points($1::text::uuid, 10, NULL, 'buffet comp for two guests',
                    'token-a-names-b', p_casino_id => $2::text::uuid)",
            &[&PLAYER_B, &B],
        ),
        "42501"
    );
    // A token whose casino claim is not a casino id is refused.
    assert_eq!(
        state_with_token(
            &mut any,
            &token(STAFF, Some("casino b")),
            reward,
            &[&PLAYER_B]
        ),
        "42501"
    );
    // The token for A does act at A (the refusals above are the casino's).
    assert_eq!(
        state_with_token(&mut any, &token(STAFF, Some(A)), reward, &[&PLAYER_B]),
        "ok"
    );
    assert_eq!(b_state(&mut s.admin), before, "casino B unchanged");
}

#[test]
fn shedding_the_casino_binding() {
    let mut s = setup();
    let before = b_state(&mut s.admin);
    let player = "ac000000-0000-0000-0001-0000000000a9";
    // Before anything loaded the library: a placeholder for B.
    let mut app = connect_as(DB, &s.app_a);
    let _ = app.batch_execute(&format!("SET loyalty.session_casino_id = '{B}'"));
    app.query_one(
        "SELECT 1 FROM loyalty.manual_reward($1::text::uuid, $2::text::uuid, 100, 'birthday dinner at the steakhouse')",
        &[&player, &STAFF],
    )
    .expect("a reward at the session's casino");
    // Once loaded: SET is refused; RESET ALL, DISCARD ALL and SET ROLE keep A.
    assert_eq!(
        state_of(app.batch_execute(&format!("SET loyalty.session_casino_id = '{B}'"))),
        "42501"
    );
    app.batch_execute("RESET ALL").unwrap();
    app.batch_execute("DISCARD ALL").unwrap();
    app.query_one(
        "SELECT 1 FROM loyalty.manual_reward($1::text::uuid, $2::text::uuid, 100, 'birthday dinner at the steakhouse', 2)",
        &[&player, &STAFF],
    )
    .expect("a second reward");
    let casinos: Vec<String> = s
        .admin
        .query(
            "SELECT DISTINCT casino_id::text FROM loyalty.loyalty_ledger WHERE player_id = $1::text::uuid",
            &[&player],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(casinos, vec![A.to_string()], "every change at A");
    assert_eq!(b_state(&mut s.admin), before, "casino B unchanged");
}

/// A connection as `role` with these startup options (`options=`).
fn connect_with_options(role: &str, options: &str) -> Result<Client, postgres::Error> {
    let server: String = server()
        .split_whitespace()
        .filter(|kv| !kv.starts_with("user="))
        .collect::<Vec<_>>()
        .join(" ");
    Client::connect(
        &format!("{server} user={role} dbname={DB} options='{options}'"),
        postgres::NoTls,
    )
}

#[test]
fn shedding_the_binding_through_the_connection_options() {
    // Found by a cold review: a client's `-c` outranks ALTER ROLE's value,
    // and the library discards the client's value when it loads, leaving
    // the built-in default: the session was unbound.
    let mut s = setup();
    let before = b_state(&mut s.admin);
    for options in [
        "-c loyalty.session_casino_id=",
        &format!("-c loyalty.session_casino_id={B}"),
        "-c loyalty.require_staff_token=off",
        "--loyalty.max-manual-reward=2000000000",
    ] {
        let mut app =
            connect_with_options(&s.app_a, options).expect("the server accepts the options");
        let r = app.query_one(
            "SELECT 1 FROM loyalty.redeem_points($1::text::uuid, 10, $2::text::uuid, 'buffet comp for two guests',
                    'shed-by-options', p_casino_id => $3::text::uuid)",
            &[&PLAYER_B, &STAFF, &B],
        );
        assert_eq!(state_of(r), "42501", "{options}: the session runs nothing");
        let mut auditor = connect_with_options(&s.auditor_a, options).unwrap();
        let r = auditor.query_one(
            "SELECT count(*) FROM loyalty.loyalty_ledger WHERE casino_id = $1::text::uuid",
            &[&B],
        );
        assert_eq!(state_of(r), "42501", "{options}: direct reads refused too");
    }
    // A setting anyone may set is fine in the options.
    let mut app = connect_with_options(&s.app_a, "-c loyalty.lock_timeout=2000").unwrap();
    app.query_one("SELECT loyalty.gaming_day()", &[])
        .expect("a user-settable option is accepted");
    assert_eq!(b_state(&mut s.admin), before, "casino B unchanged");
}

#[test]
fn a_casino_admin_changing_the_groups_login_role_capabilities() {
    // Found by a cold review: login-role capabilities are global, and an
    // admin bound to A could give B's application loyalty:promote.
    let s = setup();
    let mut adm = connect_as(DB, &s.admin_a);
    for sql in [
        "INSERT INTO loyalty.role_permission VALUES ('casino_attack_other_app', ARRAY['loyalty:promote'])",
        "UPDATE loyalty.role_permission SET capabilities = ARRAY['loyalty:accrue', 'loyalty:promote']",
        "DELETE FROM loyalty.role_permission",
    ] {
        let r = adm.execute(sql, &[]);
        match r {
            Err(e) => assert_eq!(sqlstate(&e), "42501", "{sql}"),
            Ok(n) => assert_eq!(n, 0, "{sql}: no row changed"),
        }
    }
    // It still reads them.
    assert!(scalar_i64(&mut adm, "SELECT count(*) FROM loyalty.role_permission") > 0);
}

#[test]
fn a_casino_admin_raising_its_limits_above_the_servers() {
    // Found by a cold review: the admin may edit its casino's row, and a
    // per-casino limit replaced the superuser-only setting.
    let mut s = setup();
    let mut adm = connect_as(DB, &s.admin_a);
    let changed = adm
        .execute(
            "UPDATE loyalty.casino SET max_manual_reward = 2000000000, manual_reward_points_limit = 2000000000,
                    role_manual_reward_points_limit = 2000000000, manual_reward_rate_window = 1",
            &[],
        )
        .expect("the admin edits its casino's settings");
    assert_eq!(changed, 1, "its own casino only");
    let mut app = connect_as(DB, &s.app_a);
    let r = app.query_one(
        "SELECT 1 FROM loyalty.manual_reward('ac000000-0000-0000-0001-0000000000a8', $1::text::uuid, 1500000000,
                'a reward far above the server limit')",
        &[&STAFF],
    );
    assert_eq!(
        state_of(r),
        "22003",
        "the server's max_manual_reward still holds"
    );
    // Tightening works.
    adm.execute("UPDATE loyalty.casino SET max_manual_reward = 50", &[])
        .unwrap();
    let r = app.query_one(
        "SELECT 1 FROM loyalty.manual_reward('ac000000-0000-0000-0001-0000000000a8', $1::text::uuid, 60,
                'a reward above the casino limit')",
        &[&STAFF],
    );
    assert_eq!(state_of(r), "22003", "the casino's lower limit applies");
    s.admin
        .batch_execute(&format!(
            "UPDATE loyalty.casino SET max_manual_reward = NULL, manual_reward_points_limit = NULL,
                    role_manual_reward_points_limit = NULL, manual_reward_rate_window = NULL
              WHERE casino_id = '{A}'"
        ))
        .unwrap();
}

#[test]
fn the_application_computes_its_casinos_gaming_day_and_keys() {
    // Found by a cold review: gaming_day and manual_reward_key read
    // loyalty.casino with the caller's rights, which the application role
    // does not have (permission denied in a fresh session).
    let s = setup();
    let mut app = connect_as(DB, &s.app_a);
    app.query_one("SELECT loyalty.gaming_day()", &[])
        .expect("gaming_day for the application");
    app.query_one(
        "SELECT loyalty.manual_reward_key($1::text::uuid, $2::text::uuid, 100, 'birthday dinner at the steakhouse')",
        &[&PLAYER_B, &STAFF],
    )
    .expect("manual_reward_key for the application");
}
