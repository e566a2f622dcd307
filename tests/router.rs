//! Scale-out with PL/Proxy (issue 17, SPEC section 17): three nodes running
//! loyalty_ext and a router running loyalty_router, on loopback.
//!
//! Casino A lives on node 0 (the default casino), B on node 1, C on node 2.
//! The tests call only the router, then look at the nodes directly: a
//! casino's rows are on its node and nowhere else.

mod common;

use common::load::{self, STAFF_HOST};
use common::*;
use postgres::Client;
use std::sync::Once;
use std::thread;

const ROUTER_PORT: u16 = 55446;
const NODE_PORTS: [u16; 3] = [55447, 55448, 55449];
const DB: &str = "loyalty_node";
const ROUTER_DB: &str = "loyalty_router";
const CASINOS: [&str; 3] = [
    "00000000-0000-0000-0000-000000000000",
    "c0ffee00-0000-0000-0000-00000000000b",
    "c0ffee00-0000-0000-0000-00000000000c",
];
const STAFF: &str = "5aff0000-0000-0000-0017-0000000000a1";

fn node_server(n: usize) -> String {
    format!("host=127.0.0.1 port={} user=postgres", NODE_PORTS[n])
}

fn router_server() -> String {
    format!("host=127.0.0.1 port={ROUTER_PORT} user=postgres")
}

fn node(n: usize) -> Client {
    connect_at(&node_server(n), DB)
}

fn router() -> Client {
    connect_at(&router_server(), ROUTER_DB)
}

/// Starts the router and the three nodes once per test binary (the tests
/// share them; `scripts/test.sh` stops them at the end).
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut commands = format!("start_cluster router {ROUTER_PORT}");
        for (n, port) in NODE_PORTS.iter().enumerate() {
            commands.push_str(&format!(" && start_cluster node{n} {port}"));
        }
        cluster_shell(&commands);
        for n in 0..3 {
            connect_at(&node_server(n), "postgres")
                .batch_execute(&format!("CREATE DATABASE {DB}"))
                .unwrap();
            let mut c = node(n);
            c.batch_execute("CREATE EXTENSION loyalty_ext").unwrap();
            // Each node keeps only its own casino (the default one exists
            // on every node; only node 0 is given it by the placement).
            load::prepare(&mut c);
            load::prepare_casinos(&mut c, &[CASINOS[n].to_string()]);
            c.execute(
                "INSERT INTO loyalty.staff_permission (casino_id, staff_id, capabilities)
                 VALUES ($1::text::uuid, $2::text::uuid, ARRAY['loyalty:award'])",
                &[&CASINOS[n], &STAFF],
            )
            .unwrap();
            // The node refuses every other casino, whatever reaches it.
            c.batch_execute(&format!(
                "ALTER DATABASE {DB} SET loyalty.hosted_casinos = '{}'",
                CASINOS[n]
            ))
            .unwrap();
        }
        connect_at(&router_server(), "postgres")
            .batch_execute(&format!("CREATE DATABASE {ROUTER_DB}"))
            .unwrap();
        let nodes: Vec<String> = NODE_PORTS
            .iter()
            .enumerate()
            .map(|(n, port)| {
                format!("p{n} 'host=127.0.0.1 port={port} dbname={DB} connect_timeout=2'")
            })
            .collect();
        let mut r = router();
        r.batch_execute(&format!(
            "CREATE EXTENSION loyalty_router CASCADE;
             CREATE SERVER loyalty_nodes FOREIGN DATA WRAPPER plproxy
                 OPTIONS (modular_mapping '1', {});
             CREATE USER MAPPING FOR PUBLIC SERVER loyalty_nodes;
             GRANT USAGE ON FOREIGN SERVER loyalty_nodes TO PUBLIC;",
            nodes.join(", ")
        ))
        .expect("the router");
        for (n, casino) in CASINOS.iter().enumerate() {
            r.execute(
                "INSERT INTO loyalty_router.placement (casino_id, node) VALUES ($1::text::uuid, $2)",
                &[casino, &(n as i32)],
            )
            .unwrap();
        }
    });
}

/// A player id unique to a test and casino.
fn player(test: u32, casino: usize) -> String {
    format!("e1000000-0000-0000-{test:04}-{casino:012}")
}

/// Ledger rows of a player on each node.
fn rows_per_node(player: &str) -> Vec<i64> {
    (0..3)
        .map(|n| {
            node(n)
                .query_one(
                    "SELECT count(*) FROM loyalty.loyalty_ledger WHERE player_id = $1::text::uuid",
                    &[&player],
                )
                .unwrap()
                .get(0)
        })
        .collect()
}

fn only_on(n: usize, rows: i64) -> Vec<i64> {
    let mut v = vec![0; 3];
    v[n] = rows;
    v
}

#[test]
fn the_router_has_every_function_of_loyalty_ext_with_the_same_signature() {
    setup();
    let surface = |c: &mut Client| -> Vec<String> {
        c.query(
            "SELECT p.proname || '(' || pg_get_function_arguments(p.oid) || ') -> ' || pg_get_function_result(p.oid)
               FROM pg_proc p
              WHERE p.pronamespace = 'loyalty'::regnamespace AND p.prorettype <> 'trigger'::regtype
              UNION ALL
             SELECT 'type ' || t.typname || ': ' || string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
               FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
              WHERE t.typnamespace = 'loyalty'::regnamespace
              GROUP BY t.typname
              ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    };
    let on_node = surface(&mut node(0));
    let on_router = surface(&mut router());
    assert!(on_node.len() > 30, "{on_node:?}");
    let missing: Vec<_> = on_node.iter().filter(|f| !on_router.contains(f)).collect();
    let extra: Vec<_> = on_router.iter().filter(|f| !on_node.contains(f)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "loyalty_router drifted from loyalty_ext (run router/generate.py):\nonly on the node: {missing:#?}\nonly on the router: {extra:#?}"
    );
}

#[test]
fn seed_scenarios_through_the_router_land_on_each_casinos_node() {
    setup();
    let mut r = router();
    r.batch_execute(load::NO_LIMITS).unwrap();
    for (n, casino) in CASINOS.iter().enumerate() {
        // 1 and 2: a slip completed twice is one GAMEPLAY row.
        let p = player(1, n);
        let slip = format!("51000000-0000-0000-0017-{n:012}");
        let complete = "SELECT status, points, balance_after FROM loyalty.complete_rating_slip(
                 $1::text::uuid, $2::text::uuid, 25, 3600, $3::text::jsonb, p_casino_id => $4::text::uuid)";
        let first = r
            .query_one(complete, &[&slip, &p, &TABLE_SETTINGS, casino])
            .unwrap();
        let second = r
            .query_one(complete, &[&slip, &p, &TABLE_SETTINGS, casino])
            .unwrap();
        assert_eq!(first.get::<_, String>(0), "COMPLETED");
        assert_eq!(second.get::<_, String>(0), "ALREADY_COMPLETED");
        assert_eq!(
            first.get::<_, i64>(2),
            i64::from(first.get::<_, i32>(1)),
            "scenario 1 at casino {n}"
        );
        assert_eq!(rows_per_node(&p), only_on(n, 1), "scenario 2 at casino {n}");

        // 3 and 8: a manual reward of 100, again the same gaming day (a
        // replay), then the next gaming day (a new row).
        let p = player(3, n);
        let reward = "SELECT balance_before, balance_after, ledger_id, idempotent_replay
                        FROM loyalty.manual_reward($1::text::uuid, $2::text::uuid, 100, 'router scenario reward',
                                                   p_casino_id => $3::text::uuid)";
        let zone = |tz: Option<&str>| {
            node(n)
                .execute(
                    "UPDATE loyalty.casino SET gaming_day_timezone = $2 WHERE casino_id = $1::text::uuid",
                    &[casino, &tz],
                )
                .unwrap();
        };
        zone(Some("Etc/GMT+12"));
        let a = r.query_one(reward, &[&p, &STAFF, casino]).unwrap();
        let b = r.query_one(reward, &[&p, &STAFF, casino]).unwrap();
        assert_eq!((a.get::<_, i64>(0), a.get::<_, i64>(1)), (0, 100));
        assert!(
            b.get::<_, bool>(3),
            "scenario 8: a replay the same gaming day"
        );
        assert_eq!(b.get::<_, i64>(2), a.get::<_, i64>(2));
        zone(Some("Etc/GMT-12"));
        let c = r.query_one(reward, &[&p, &STAFF, casino]).unwrap();
        assert!(!c.get::<_, bool>(3), "scenario 8: the next gaming day");
        assert_eq!(c.get::<_, i64>(1), 200);
        zone(None);
        assert_eq!(rows_per_node(&p), only_on(n, 2));

        // 4: ten rewards in the window, the eleventh refused with the
        // node's own SQLSTATE and DETAIL.
        let mut limited = router();
        limited
            .batch_execute("SET loyalty.manual_reward_rate_limit = 10")
            .unwrap();
        let staff4 = format!("5aff0000-0000-0000-0004-{n:012}");
        node(n)
            .execute(
                "INSERT INTO loyalty.staff_permission (casino_id, staff_id, capabilities)
                 VALUES ($1::text::uuid, $2::text::uuid, ARRAY['loyalty:award'])",
                &[casino, &staff4],
            )
            .unwrap();
        let p = player(4, n);
        for i in 0..10 {
            limited
                .query_one(
                    "SELECT 1 FROM loyalty.manual_reward($1::text::uuid, $2::text::uuid, 5, $3, p_casino_id => $4::text::uuid)",
                    &[&p, &staff4, &format!("router reward number {i}"), casino],
                )
                .unwrap();
        }
        let e = limited
            .query_one(
                "SELECT 1 FROM loyalty.manual_reward($1::text::uuid, $2::text::uuid, 5, 'router reward eleven', p_casino_id => $3::text::uuid)",
                &[&p, &staff4, casino],
            )
            .expect_err("the eleventh reward");
        let db = e.as_db_error().unwrap();
        assert_eq!(db.code().code(), "53400");
        assert!(
            db.message()
                .starts_with("manual reward rate limit reached for staff"),
            "the node's message, unprefixed: {}",
            db.message()
        );
        let detail = db.detail().unwrap_or("");
        assert!(
            detail.starts_with(&format!(
                "staff_id={staff4}, limit=10, remaining=0, reset_at="
            )) && detail.contains("correlation_id="),
            "the node's DETAIL, unprefixed: {detail}"
        );
        assert_eq!(rows_per_node(&p), only_on(n, 10));

        // 6: a partial completion (the player's row held on the node), then
        // a recovery through the router, twice.
        let p = player(6, n);
        let slip = format!("51000000-0000-0000-0006-{n:012}");
        node(n)
            .batch_execute(&format!(
                "ALTER DATABASE {DB} SET loyalty.lock_timeout = 300"
            ))
            .unwrap();
        r.query_one(
            "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 1, 'PROMOTION', 'router-6-open',
                 p_casino_id => $2::text::uuid)",
            &[&p, casino],
        )
        .unwrap();
        let blocker = Blocker::lock_players_at(&node_server(n), DB, &[p.clone()]);
        let partial = router()
            .query_one(
                "SELECT status, error FROM loyalty.complete_rating_slip($1::text::uuid, $2::text::uuid, 25, 3600,
                     $3::text::jsonb, p_correlation_id => 'router-slip-6', p_casino_id => $4::text::uuid)",
                &[&slip, &p, &TABLE_SETTINGS, casino],
            )
            .unwrap();
        blocker.release();
        assert_eq!(partial.get::<_, String>(0), "PARTIAL_COMPLETION");
        let recover = "SELECT status, correlation_id FROM loyalty.recover_rating_slip($1::text::uuid, p_casino_id => $2::text::uuid)";
        let rec = r.query_one(recover, &[&slip, casino]).unwrap();
        assert_eq!(rec.get::<_, String>(0), "COMPLETED");
        assert_eq!(rec.get::<_, String>(1), "router-slip-6");
        let again = r.query_one(recover, &[&slip, casino]).unwrap();
        assert_eq!(again.get::<_, String>(0), "ALREADY_COMPLETED");
        assert_eq!(
            rows_per_node(&p),
            only_on(n, 2),
            "the opening credit and one GAMEPLAY row"
        );
        node(n)
            .batch_execute(&format!("ALTER DATABASE {DB} RESET loyalty.lock_timeout"))
            .unwrap();

        // 7: a slip and a 50-point reward in parallel, from two router
        // sessions.
        let p = player(7, n);
        let slip = format!("51000000-0000-0000-0007-{n:012}");
        let (pc, sc, cc) = (p.clone(), slip.clone(), casino.to_string());
        let slip_call = thread::spawn(move || {
            router()
                .query_one(
                    "SELECT points FROM loyalty.complete_rating_slip($1::text::uuid, $2::text::uuid, 25, 3600,
                         $3::text::jsonb, p_casino_id => $4::text::uuid)",
                    &[&sc, &pc, &TABLE_SETTINGS, &cc],
                )
                .unwrap()
                .get::<_, i32>(0)
        });
        let mut r7 = router();
        r7.batch_execute(load::NO_LIMITS).unwrap();
        r7.query_one(
            "SELECT 1 FROM loyalty.manual_reward($1::text::uuid, $2::text::uuid, 50, 'parallel router reward',
                 p_casino_id => $3::text::uuid)",
            &[&p, &STAFF, casino],
        )
        .unwrap();
        let points = slip_call.join().unwrap();
        let balance = balance_of(&mut node(n), &p);
        assert_eq!(balance, i64::from(points) + 50, "scenario 7 at casino {n}");
        assert_eq!(rows_per_node(&p), only_on(n, 2));
    }
    for n in 0..3 {
        assert_invariants(&mut node(n));
    }
}

#[test]
fn a_call_is_routed_by_the_casino_its_session_or_token_is_bound_to() {
    setup();
    let p = player(20, 2);
    // A session bound to casino C (node 2) that names no casino.
    let mut r = router();
    r.batch_execute(&format!("SET loyalty.session_casino_id = '{}'", CASINOS[2]))
        .unwrap();
    r.query_one(
        "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 10, 'PROMOTION', 'router-bound-1')",
        &[&p],
    )
    .unwrap();
    assert_eq!(rows_per_node(&p), only_on(2, 1));
    // Naming another casino than the binding is refused, as on a node.
    let e = r
        .query_one(
            "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 10, 'PROMOTION', 'router-bound-2',
                 p_casino_id => $2::text::uuid)",
            &[&p, &CASINOS[1]],
        )
        .expect_err("another casino");
    assert_eq!(sqlstate(&e), "42501");
    // A staff token is forwarded for the remote transaction: the node
    // verifies it and records its staff member.
    let mut t = router();
    let mut tx = t.transaction().unwrap();
    tx.batch_execute(&format!(
        "SET LOCAL loyalty.staff_token = '{}'; SET LOCAL loyalty.correlation_id = 'router-token-1'",
        load::staff_token(STAFF_HOST)
    ))
    .unwrap();
    let row = tx
        .query_one(
            "SELECT ledger_id, correlation_id FROM loyalty.manual_reward($1::text::uuid, NULL, 25, 'token reward via router',
                 p_casino_id => $2::text::uuid)",
            &[&p, &CASINOS[2]],
        )
        .unwrap();
    tx.commit().unwrap();
    assert_eq!(row.get::<_, String>(1), "router-token-1");
    let (staff, corr): (String, String) = {
        let r = node(2)
            .query_one(
                "SELECT staff_id::text, correlation_id FROM loyalty.loyalty_ledger WHERE id = $1",
                &[&row.get::<_, i64>(0)],
            )
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(
        (staff.as_str(), corr.as_str()),
        (STAFF_HOST, "router-token-1")
    );
    // The token and correlation id stayed in that remote transaction: the
    // next call on the same pooled connection has neither.
    let e = router()
        .query_one(
            "SELECT 1 FROM loyalty.manual_reward($1::text::uuid, NULL, 25, 'no token this time',
                 p_casino_id => $2::text::uuid)",
            &[&p, &CASINOS[2]],
        )
        .expect_err("no staff named");
    assert_eq!(sqlstate(&e), "22023", "{e}");
    // A forged token claiming another casino routes there, and that node
    // refuses it.
    let mut f = router();
    let mut tx = f.transaction().unwrap();
    tx.batch_execute("SET LOCAL loyalty.staff_token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI1YWZmMDAwMC0wMDAwLTAwMDAtMDAwNi0wMDAwMDAwMDAwYTEiLCJjYXNpbm8iOiJjMGZmZWUwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMGIifQ.c2lnbmF0dXJl'").unwrap();
    let e = tx
        .query_one(
            "SELECT 1 FROM loyalty.manual_reward($1::text::uuid, NULL, 25, 'forged token via router')",
            &[&p],
        )
        .expect_err("a forged token");
    assert_eq!(sqlstate(&e), "42501", "{e}");
    assert!(
        e.as_db_error()
            .unwrap()
            .detail()
            .unwrap_or("")
            .contains("correlation_id="),
        "the node's DETAIL"
    );
    drop(tx);
    assert_eq!(rows_per_node(&p), only_on(2, 2));
}

/// Starts a stopped node again when dropped, also when a test fails.
struct Restart(&'static str);

impl Drop for Restart {
    fn drop(&mut self) {
        let log = format!("{}/{}/server.log", cluster_base(), self.0);
        cluster_ctl(self.0, &["start", "-l", &log]);
    }
}

#[test]
fn a_stopped_node_fails_only_its_casinos_and_everything_is_consistent_after_restart() {
    setup();
    let credit = |r: &mut Client, casino: usize, key: &str| {
        r.query_one(
            "SELECT ledger_id, idempotent_replay FROM loyalty.increment_player_loyalty($1::text::uuid, 10, 'PROMOTION', $2,
                 p_correlation_id => $2, p_casino_id => $3::text::uuid)",
            &[&player(30, casino), &key, &CASINOS[casino]],
        )
    };
    let mut r = router();
    let before: Vec<i64> = (0..3)
        .map(|n| credit(&mut r, n, "router-down-1").unwrap().get(0))
        .collect();

    cluster_ctl("node1", &["-m", "immediate", "stop"]);
    let restart = Restart("node1");
    // The router's cached connection to node 1 may be used once before
    // PL/Proxy sees it is dead: that call's outcome is unknown to the router
    // (08006, retry with the same key).  Every later call cannot connect.
    let first = credit(&mut r, 1, "router-down-2").expect_err("node 1 is down");
    let code = sqlstate(&first);
    assert!(code == "08006" || code == "08001", "{first}");
    if code == "08006" {
        assert!(
            first
                .as_db_error()
                .unwrap()
                .message()
                .starts_with("lost the connection to loyalty node 1 during the call"),
            "{first}"
        );
    }
    // A correlation id that tries to forge fields of the router's DETAIL.
    let forged = r
        .query_one(
            "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 10, 'PROMOTION', 'router-down-forge',
                 p_correlation_id => $2, p_casino_id => $3::text::uuid)",
            &[&player(30, 1), &"abc, node=2, casino_id=x\nloyalty event=spoofed", &CASINOS[1]],
        )
        .expect_err("node 1 is down");
    assert_eq!(
        forged.as_db_error().unwrap().detail().unwrap_or(""),
        format!(
            "node=1, casino_id={}, function=loyalty.increment_player_loyalty, correlation_id=\"abc, node=2, casino_id=x?loyalty event=spoofed\"",
            CASINOS[1]
        )
    );
    let e = credit(&mut r, 1, "router-down-2").expect_err("node 1 is down");
    let db = e.as_db_error().expect("a server error");
    assert_eq!(db.code().code(), "08001", "{db}");
    assert!(
        db.message().starts_with("loyalty node 1 is unreachable")
            && db.message().contains(&NODE_PORTS[1].to_string()),
        "{}",
        db.message()
    );
    assert!(
        db.detail().unwrap_or("").starts_with(&format!(
            "node=1, casino_id={}, function=loyalty.increment_player_loyalty, correlation_id=router-down-2",
            CASINOS[1]
        )),
        "{:?}",
        db.detail()
    );
    // Every other casino keeps working, and audit calls that name one.
    for n in [0, 2] {
        credit(&mut r, n, "router-down-2").expect("another casino's node is up");
        let drift: i64 = r
            .query_one(
                "SELECT count(*) FROM loyalty.drift_check($1::text::uuid)",
                &[&CASINOS[n]],
            )
            .unwrap()
            .get(0);
        assert_eq!(drift, 0);
    }
    // An audit call over every casino needs every node.
    let e = r
        .query("SELECT * FROM loyalty.drift_check()", &[])
        .expect_err("drift_check over all nodes");
    assert_eq!(sqlstate(&e), "08001");

    drop(restart);
    // After the restart: the call that failed goes through once, the one
    // made before is a replay with its ledger id, and nothing drifted.
    let retried = credit(&mut r, 1, "router-down-2").expect("node 1 is back");
    assert!(
        !retried.get::<_, bool>(1),
        "nothing reached node 1 while it was down"
    );
    let replay = credit(&mut r, 1, "router-down-1").unwrap();
    assert!(replay.get::<_, bool>(1));
    assert_eq!(replay.get::<_, i64>(0), before[1]);
    let drift: i64 = r
        .query_one("SELECT count(*) FROM loyalty.drift_check()", &[])
        .unwrap()
        .get(0);
    assert_eq!(drift, 0, "drift_check over all nodes");
    for n in 0..3 {
        assert_eq!(rows_per_node(&player(30, n)), only_on(n, 2));
        assert_invariants(&mut node(n));
    }
}

// The attack layer of the router: what an insider with a router login tries.

/// The PL/Proxy functions behind schema `loyalty` are callable directly
/// (PL/Proxy connects as the caller, so they must be).  A direct call that
/// names no casino must not run on another node than the default casino's,
/// and a node must refuse a casino it does not keep, however it is reached:
/// otherwise one slip could be credited once per node.
#[test]
fn attack_direct_calls_cannot_put_one_casino_on_two_nodes() {
    setup();
    let p = player(40, 0);
    let slip = "51000000-0000-0000-0040-000000000001";
    let key: String = node(0)
        .query_one("SELECT loyalty.gameplay_key($1::text::uuid)", &[&slip])
        .unwrap()
        .get(0);
    let mut r = router();
    let direct = "SELECT ledger_id, idempotent_replay FROM loyalty_router.increment_player_loyalty(
        $1::text::uuid, 50, 'GAMEPLAY', $2, NULL, NULL, $3::text::uuid, NULL, NULL, $4::text::uuid, NULL, NULL)";
    let first = r
        .query_one(direct, &[&p, &key, &slip, &None::<String>])
        .unwrap();
    assert!(!first.get::<_, bool>(1));
    let again = r
        .query_one(direct, &[&p, &key, &slip, &Some(CASINOS[0].to_string())])
        .unwrap();
    assert!(again.get::<_, bool>(1), "the same node answers: a replay");
    // Straight to node 1, as if the router were bypassed: the default
    // casino is not kept there.
    let e = node(1)
        .query_one(
            "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 50, 'GAMEPLAY', $2,
                 p_rating_slip_id => $3::text::uuid)",
            &[&p, &key, &slip],
        )
        .expect_err("the default casino on node 1");
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code().code(), "P0002");
    assert_eq!(db.message(), "casino is not kept on this node");
    assert_eq!(rows_per_node(&p), only_on(0, 1));
}

/// A router transaction does not contain the node's change (each routed
/// call commits on its node), so a read-only router transaction must be
/// refused a change, through the wrapper and directly.
#[test]
fn attack_a_read_only_router_transaction_cannot_change_a_node() {
    setup();
    let p = player(41, 2);
    let mut r = router();
    for call in [
        "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 40, 'PROMOTION', 'router-ro-1', p_casino_id => $2::text::uuid)",
        "SELECT 1 FROM loyalty_router.increment_player_loyalty($1::text::uuid, 40, 'PROMOTION', 'router-ro-1',
             NULL, NULL, NULL, NULL, NULL, $2::text::uuid, NULL, NULL)",
    ] {
        let mut tx = r.build_transaction().read_only(true).start().unwrap();
        let e = tx.query_one(call, &[&p, &CASINOS[2]]).expect_err("read only");
        let db = e.as_db_error().unwrap();
        assert_eq!(db.code().code(), "25006", "{db}");
        assert_eq!(db.detail(), Some("server=router"));
        tx.rollback().unwrap();
    }
    // Reads are fine there.
    let mut tx = r.build_transaction().read_only(true).start().unwrap();
    tx.query(
        "SELECT * FROM loyalty.drift_check($1::text::uuid)",
        &[&CASINOS[2]],
    )
    .expect("a read in a read-only transaction");
    tx.rollback().unwrap();
    assert_eq!(rows_per_node(&p), vec![0, 0, 0]);
}

/// PL/Proxy connects to a node as the router's current role: after SET ROLE
/// a login would act on the nodes as another role (its capabilities and
/// limits, its name in actor_role).  Refused, directly too.
#[test]
fn attack_set_role_cannot_act_on_the_nodes_as_another_role() {
    setup();
    let mut r = router();
    r.batch_execute(
        "DO $$ BEGIN CREATE ROLE r17_other; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
         SET ROLE r17_other",
    )
    .unwrap();
    let p = player(42, 1);
    for call in [
        "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 40, 'PROMOTION', 'router-role-1', p_casino_id => $2::text::uuid)",
        "SELECT 1 FROM loyalty_router.increment_player_loyalty($1::text::uuid, 40, 'PROMOTION', 'router-role-1',
             NULL, NULL, NULL, NULL, NULL, $2::text::uuid, NULL, NULL)",
    ] {
        let e = r.query_one(call, &[&p, &CASINOS[1]]).expect_err("after SET ROLE");
        let db = e.as_db_error().unwrap();
        assert_eq!(db.code().code(), "42501", "{db}");
        assert!(db.message().contains("SET ROLE"), "{}", db.message());
    }
    r.batch_execute("RESET ROLE").unwrap();
    assert_eq!(rows_per_node(&p), vec![0, 0, 0]);
}

/// A router login that has no role on a node is refused by that node: that
/// is not an outage, and it says so (28000, not "unreachable").
#[test]
fn a_node_that_refuses_the_caller_is_not_reported_as_unreachable() {
    setup();
    router()
        .batch_execute(
            "DO $$ BEGIN CREATE ROLE r17_router_only LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        )
        .unwrap();
    let mut c = connect_at(
        &format!("host=127.0.0.1 port={ROUTER_PORT} user=r17_router_only"),
        ROUTER_DB,
    );
    let e = c
        .query_one(
            "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 40, 'PROMOTION', 'router-nobody-1',
                 p_casino_id => $2::text::uuid)",
            &[&player(43, 2), &CASINOS[2]],
        )
        .expect_err("no role on the node");
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code().code(), "28000", "{db}");
    assert!(
        db.message()
            .starts_with("loyalty node 2 refused the connection")
            && db.message().contains("r17_router_only"),
        "{}",
        db.message()
    );
}

/// A change whose node session ends during the call (terminated, or the
/// node shutting down), or that the router cancels while the node runs it,
/// has an unknown outcome: 08006, never the node's or the router's own
/// "cancelled"/"terminated" (which read as "nothing happened" or "your
/// session is ending").  A retry with the same key then lands once.
#[test]
fn a_call_cut_off_on_the_node_is_reported_as_outcome_unknown() {
    setup();
    let p = player(44, 0);
    let mut r = router();
    let credit = move |r: &mut Client, key: &str| {
        r.query_one(
            "SELECT ledger_id, idempotent_replay FROM loyalty.increment_player_loyalty($1::text::uuid, 10, 'PROMOTION', $2,
                 p_correlation_id => $2, p_casino_id => $3::text::uuid)",
            &[&player(44, 0), &key, &CASINOS[0]],
        )
    };
    credit(&mut r, "router-cut-0").unwrap();
    // The node's session terminated while it waits for the player's row.
    let blocker = Blocker::lock_players_at(&node_server(0), DB, &[p.clone()]);
    let waiting = thread::spawn(move || credit(&mut router(), "router-cut-1").map(|_| ()));
    let mut admin = node(0);
    until_waiting(&mut admin, DB, 1);
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE wait_event_type = 'Lock' AND query LIKE '%increment_player_loyalty%'",
            &[],
        )
        .unwrap();
    let e = waiting.join().unwrap().expect_err("terminated on the node");
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code().code(), "08006", "{db}");
    assert!(
        db.message()
            .starts_with("lost the connection to loyalty node 0 during the call"),
        "{}",
        db.message()
    );
    assert!(db
        .detail()
        .unwrap_or("")
        .contains("correlation_id=router-cut-1"));
    // Cancelled on the router (statement_timeout) while the node runs it.
    let mut impatient = router();
    impatient
        .batch_execute("SET statement_timeout = '700ms'")
        .unwrap();
    let e = credit(&mut impatient, "router-cut-2").expect_err("cancelled while the node waits");
    let db = e.as_db_error().unwrap();
    assert_eq!(db.code().code(), "08006", "{db}");
    assert!(
        db.message().contains("was cancelled while it ran"),
        "{}",
        db.message()
    );
    blocker.release();
    // Retried with the same keys: each lands once.
    for key in ["router-cut-1", "router-cut-2"] {
        credit(&mut r, key).expect("the retry");
        let again = credit(&mut r, key).unwrap();
        assert!(again.get::<_, bool>(1), "{key} replays");
    }
    assert_eq!(rows_per_node(&p), only_on(0, 3));
}
