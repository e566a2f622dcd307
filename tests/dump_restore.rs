//! pg_dump of a database using the extension restores into a fresh one
//! with the ledger, balances, tiers, permissions and saga state intact
//! (issue 5), and the restored database keeps working.

mod common;

use common::*;
use std::process::Command;

const SRC: &str = "loyalty_it_dump_src";
const DST: &str = "loyalty_it_dump_dst";

fn pg_bin(name: &str) -> String {
    format!("/usr/lib/postgresql/15/bin/{name}")
}

fn conn_args() -> Vec<String> {
    // LOYALTY_TEST_PG looks like "host=127.0.0.1 port=55433 user=postgres"
    let server = server();
    let get = |k: &str| {
        server
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")).map(str::to_string))
            .unwrap_or_default()
    };
    vec![
        "-h".into(),
        get("host"),
        "-p".into(),
        get("port"),
        "-U".into(),
        get("user"),
    ]
}

/// Every table of the extension as one ordered text digest.
fn digest(c: &mut postgres::Client) -> Vec<(String, String)> {
    [
        "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM loyalty.loyalty_ledger t",
        "SELECT md5(string_agg(t::text, '|' ORDER BY casino_id, player_id)) FROM loyalty.player_loyalty t",
        "SELECT md5(string_agg(t::text, '|' ORDER BY casino_id, threshold)) FROM loyalty.tier t",
        "SELECT md5(string_agg(t::text, '|' ORDER BY casino_id, staff_id)) FROM loyalty.staff_permission t",
        "SELECT md5(string_agg(t::text, '|' ORDER BY casino_id, rating_slip_id)) FROM loyalty.rating_slip_accrual t",
        "SELECT md5(string_agg(t::text, '|' ORDER BY casino_id)) FROM loyalty.casino t",
        "SELECT md5(string_agg(t::text, '|' ORDER BY hold_id)) FROM loyalty.point_hold t",
        "SELECT md5(string_agg(t::text, '|' ORDER BY id)) FROM loyalty.reconciliation t",
    ]
    .iter()
    .map(|q| {
        let v: Option<String> = c.query_one(*q, &[]).unwrap().get(0);
        (q.to_string(), v.unwrap_or_default())
    })
    .collect()
}

#[test]
fn a_dump_restores_into_a_fresh_database_intact() {
    fresh_db(SRC);
    let mut c = connect(SRC);
    let staff = "5aff0000-0000-0000-00d0-000000000001";
    grant_staff(
        &mut c,
        staff,
        &["loyalty:award", "loyalty:adjust", "loyalty:redeem"],
    );
    c.batch_execute(
        "SET loyalty.manual_reward_rate_limit = 1000;
         UPDATE loyalty.tier SET multiplier = 1.30 WHERE name = 'SILVER';
         INSERT INTO loyalty.tier VALUES ('DIAMOND', 50000, 2.50);
         -- The default casino's own settings, and a second casino with its
         -- own ladder, staff and a player (SPEC section 14).
         UPDATE loyalty.casino SET max_manual_reward = 9000, gaming_day_timezone = 'America/New_York'
          WHERE casino_id = '00000000-0000-0000-0000-000000000000';
         INSERT INTO loyalty.casino (casino_id, name, gaming_day_timezone)
         VALUES ('d0000000-0000-0000-0000-0000000000cb', 'dump casino B', 'America/Los_Angeles');
         UPDATE loyalty.tier SET multiplier = 1.75 WHERE casino_id = 'd0000000-0000-0000-0000-0000000000cb' AND name = 'GOLD';",
    )
    .unwrap();
    c.execute(
        "INSERT INTO loyalty.staff_permission (casino_id, staff_id, capabilities)
         VALUES ('d0000000-0000-0000-0000-0000000000cb', $1::text::uuid, ARRAY['loyalty:award'])",
        &[&staff],
    )
    .unwrap();
    c.execute(
        "SELECT 1 FROM loyalty.manual_reward('d0000000-0000-0000-00d0-000000000001', $1::text::uuid, 250,
                'a reward at casino B before the dump', p_casino_id => 'd0000000-0000-0000-0000-0000000000cb')",
        &[&staff],
    )
    .unwrap();
    for i in 0..20 {
        let player = format!("d0000000-0000-0000-00d0-{:012}", i % 5);
        manual_reward(
            &mut c,
            &player,
            staff,
            100 + i,
            &format!("dump test reward number {i}"),
        )
        .unwrap();
    }
    complete_slip(
        &mut c,
        "51000000-0000-0000-00d0-000000000001",
        "d0000000-0000-0000-00d0-000000000001",
        "25",
        3600,
        Some("dump-slip"),
    )
    .unwrap();
    let last: i64 = c
        .query_one("SELECT max(id) FROM loyalty.loyalty_ledger", &[])
        .unwrap()
        .get(0);
    c.query_one(
        "SELECT 1 FROM loyalty.reverse_entry($1, $2::text::uuid, 'reversed before the dump')",
        &[&last, &staff],
    )
    .unwrap();
    c.query_one(
        "SELECT 1 FROM loyalty.reconcile_player('d0000000-0000-0000-00d0-000000000002', $1::text::uuid, 'checked before the dump')",
        &[&staff],
    )
    .unwrap();
    // A hold open across the dump (SPEC section 15).
    c.execute(
        "SELECT 1 FROM loyalty.hold_points('d0000000-0000-0000-00d0-000000000003', 50, $1::text::uuid,
                'two tickets for the late show', 'dump-hold', now() + interval '1 day')",
        &[&staff],
    )
    .unwrap();
    let before = digest(&mut c);
    let next_id_before: i64 = c
        .query_one("SELECT max(id) FROM loyalty.loyalty_ledger", &[])
        .unwrap()
        .get(0);

    let dump = format!("{}/loyalty_it_dump.custom", std::env::temp_dir().display());
    let out = Command::new(pg_bin("pg_dump"))
        .args(conn_args())
        .args(["-Fc", "-f", &dump, SRC])
        .output()
        .expect("pg_dump");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut admin = connect("postgres");
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {DST} WITH (FORCE)"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {DST}"))
        .unwrap();
    let out = Command::new(pg_bin("pg_restore"))
        .args(conn_args())
        .args(["--exit-on-error", "-d", DST, &dump])
        .output()
        .expect("pg_restore");
    assert!(
        out.status.success(),
        "pg_restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut r = connect(DST);
    r.batch_execute("SET loyalty.manual_reward_rate_limit = 1000")
        .unwrap();
    let after = digest(&mut r);
    for ((q, b), (_, a)) in before.iter().zip(after.iter()) {
        assert_eq!(b, a, "restored data differs for: {q}");
    }
    assert_invariants(&mut r);
    // The restored database keeps working: the ledger's identity continues
    // past the restored rows, and replays still recognise restored keys.
    let row = manual_reward(
        &mut r,
        "d0000000-0000-0000-00d0-000000000001",
        staff,
        77,
        "first reward after the restore",
    )
    .unwrap();
    assert!(
        row.get::<_, i64>(2) > next_id_before,
        "identity sequence restored"
    );
    let replay = manual_reward(
        &mut r,
        "d0000000-0000-0000-00d0-000000000000",
        staff,
        100,
        "dump test reward number 0",
    )
    .unwrap();
    assert!(
        replay.get::<_, bool>(3),
        "a key from before the dump is still a replay"
    );
    assert_invariants(&mut r);
    let _ = std::fs::remove_file(&dump);
    println!(
        "pg_dump/pg_restore: {} tables identical, drift_check empty, writes continue",
        after.len()
    );
}
