//! High availability (issue 17, SPEC section 17): streaming replication.
//!
//! Each test makes its own primary and hot standby on loopback with the
//! functions of `scripts/common.sh` (`start_cluster`, `start_standby`:
//! `pg_basebackup -R -X stream`, `make_synchronous`), and removes them.
//!
//! - A primary killed with `kill -9` mid-load and a promoted synchronous
//!   standby lose no acknowledged change: the clients (the mixed load of
//!   `common::load`, which logs a call only once it is acknowledged) follow
//!   the failover through a two-host connection string with
//!   `target_session_attrs=read-write`, and keep writing on the new primary.
//! - The negative control: a standby that lags (its WAL receiver paused, as
//!   a slow link would) and is asynchronous loses acknowledged changes, and
//!   the checker reports them.
//! - A hot standby answers the audit functions and refuses every change
//!   with 25006, as a `BEGIN READ ONLY` transaction on a primary does.
//!
//! CI size: 6 s of load before the kill, 4 s after; `LOYALTY_LONG=1`: 30 s
//! and 15 s.

mod common;

use common::load::{self, LoadConfig};
use common::*;
use postgres::Client;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const DB: &str = "loyalty_ha";

fn long() -> bool {
    std::env::var("LOYALTY_LONG").is_ok_and(|v| v == "1")
}

/// A primary and its hot standby, stopped when dropped.
struct Pair {
    primary: String,
    standby: String,
    primary_port: u16,
    standby_port: u16,
}

impl Pair {
    /// `synchronous`: every commit waits for the standby's flush.
    fn start(name: &str, primary_port: u16, synchronous: bool) -> Pair {
        let pair = Pair {
            primary: format!("{name}_primary"),
            standby: format!("{name}_standby"),
            primary_port,
            standby_port: primary_port + 1,
        };
        let mut commands = format!(
            "start_cluster {p} {pp} && start_standby {s} {p} {sp}",
            p = pair.primary,
            s = pair.standby,
            pp = pair.primary_port,
            sp = pair.standby_port
        );
        if synchronous {
            commands.push_str(&format!(
                " && make_synchronous {} {}",
                pair.primary, pair.standby
            ));
        }
        cluster_shell(&commands);
        // Made on the primary after the standby streams: the database and
        // the extension reach the standby through replication.
        let mut admin = connect_at(&pair.primary_server(), "postgres");
        admin
            .batch_execute(&format!("CREATE DATABASE {DB}"))
            .expect("create database");
        let mut c = connect_at(&pair.primary_server(), DB);
        c.batch_execute("CREATE EXTENSION loyalty_ext")
            .expect("create extension");
        load::prepare(&mut c);
        load::prepare_casinos(&mut c, &casinos());
        c.batch_execute(
            "UPDATE loyalty.casino SET expiry_policy = 'fixed', expiry_months = 12
              WHERE casino_id = 'c0ffee00-0000-0000-0000-0000000000c2'",
        )
        .unwrap();
        pair
    }

    fn primary_server(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres", self.primary_port)
    }

    fn standby_server(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres", self.standby_port)
    }

    /// What an application configured for failover uses: both hosts, and
    /// only the one that accepts writes.
    fn failover_server(&self) -> String {
        format!(
            "host=127.0.0.1,127.0.0.1 port={},{} user=postgres target_session_attrs=read-write connect_timeout=2",
            self.primary_port, self.standby_port
        )
    }

    fn data(&self, name: &str) -> String {
        format!("{}/{name}/data", cluster_base())
    }

    fn kill_primary(&self) {
        kill_9(&self.data(&self.primary));
    }

    fn promote_standby(&self) {
        cluster_ctl(&self.standby, &["promote"]);
    }

    /// Waits until the standby has replayed everything the primary wrote.
    fn caught_up(&self) {
        let mut p = connect_at(&self.primary_server(), "postgres");
        let mut s = connect_at(&self.standby_server(), "postgres");
        let lsn: String = p
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .unwrap()
            .get(0);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let done: bool = s
                .query_one(
                    "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                    &[&lsn],
                )
                .unwrap()
                .get(0);
            if done {
                return;
            }
            assert!(Instant::now() < deadline, "the standby did not catch up");
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        cluster_shell(&format!(
            "stop_cluster {} && stop_cluster {}",
            self.primary, self.standby
        ));
    }
}

/// The stress test's three casinos (SPEC section 14); the last keeps lots.
fn casinos() -> Vec<String> {
    vec![
        "00000000-0000-0000-0000-000000000000".into(),
        "c0ffee00-0000-0000-0000-0000000000c1".into(),
        "c0ffee00-0000-0000-0000-0000000000c2".into(),
    ]
}

fn config(server: String, run: &str, seed: u64) -> LoadConfig {
    LoadConfig {
        server,
        db: DB.to_string(),
        run: run.to_string(),
        clients: 8,
        duration: Duration::from_secs(3600),
        players: 500,
        zipf_s: 1.1,
        seed,
        synchronous_commit_off: false,
        casinos: casinos(),
    }
}

/// Ledger rows of this run written at or after `since` (a timestamptz as
/// text, read from the server).
fn rows_since(server: &str, run: &str, since: &str) -> i64 {
    connect_at(server, DB)
        .query_one(
            "SELECT count(*) FROM loyalty.loyalty_ledger
              WHERE correlation_id LIKE $1 || '-%' AND created_at >= $2::text::timestamptz",
            &[&run, &since],
        )
        .unwrap()
        .get(0)
}

#[test]
fn failover_to_a_synchronous_standby_loses_no_acknowledged_change() {
    let (before, after) = if long() { (30, 15) } else { (6, 4) };
    let pair = Pair::start("ha_sync", 55436, true);
    let cfg = config(pair.failover_server(), "failover", 0x5eed_0017);
    let stop = Arc::new(AtomicBool::new(false));
    let loader = {
        let stop = stop.clone();
        let cfg = config(pair.failover_server(), "failover", 0x5eed_0017);
        thread::spawn(move || load::run_load(&cfg, stop))
    };
    thread::sleep(Duration::from_secs(before));
    pair.kill_primary();
    let killed = Instant::now();
    pair.promote_standby();
    let promoted_at: String = connect_at(&pair.standby_server(), DB)
        .query_one("SELECT now()::text", &[])
        .unwrap()
        .get(0);
    println!(
        "failover: primary killed (kill -9) after {before} s of load; standby promoted {} ms later",
        killed.elapsed().as_millis()
    );
    thread::sleep(Duration::from_secs(after));
    stop.store(true, Ordering::Relaxed);
    let log = loader.join().expect("load");

    let v = load::check_at(&pair.standby_server(), &cfg.db, &cfg.run, &log);
    let written_after = rows_since(&pair.standby_server(), &cfg.run, &promoted_at);
    load::report(
        "failover",
        &log,
        &v,
        &format!("synchronous standby, kill -9 after {before} s, rows written on the new primary={written_after}"),
    );
    assert!(v.acks > 100, "the load ran before the failover");
    assert!(
        v.clean(),
        "an acknowledged change was lost, changed or doubled by the failover (see above)"
    );
    assert!(
        written_after > 20,
        "the clients kept writing on the promoted standby ({written_after} rows)"
    );
    assert_invariants(&mut connect_at(&pair.standby_server(), DB));
}

/// An asynchronous standby acknowledges nothing: commits return once the
/// primary's WAL is flushed.  Stopped (as a standby that lost its link
/// would stop receiving) while the load goes on, it misses the last seconds
/// of acknowledged changes; started again and promoted after the primary
/// dies, it has lost them, and the checker must say so.  If it did not, it
/// could not be trusted to report real losses.
#[test]
fn negative_control_lagging_async_standby_loses_acknowledged_changes_and_the_checker_sees_it() {
    let pair = Pair::start("ha_async", 55438, false);
    let cfg = config(pair.failover_server(), "lagging", 0x5eed_0018);
    let stop = Arc::new(AtomicBool::new(false));
    let loader = {
        let stop = stop.clone();
        let cfg = config(pair.failover_server(), "lagging", 0x5eed_0018);
        thread::spawn(move || load::run_load(&cfg, stop))
    };
    thread::sleep(Duration::from_secs(2));
    cluster_ctl(&pair.standby, &["-m", "immediate", "stop"]);
    thread::sleep(Duration::from_secs(3));
    pair.kill_primary();
    let log = format!("{}/{}/server.log", cluster_base(), pair.standby);
    cluster_ctl(&pair.standby, &["start", "-l", &log]);
    pair.promote_standby();
    thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let log = loader.join().expect("load");
    let v = load::check_at(&pair.standby_server(), &cfg.db, &cfg.run, &log);
    load::report(
        "negative-control-failover",
        &log,
        &v,
        "asynchronous standby, stopped 3 s before kill -9 of the primary",
    );
    // An acknowledged change is missing from the promoted standby: reported
    // as lost, or as mismatched once the new primary handed its ledger id to
    // another change.
    assert!(
        !v.lost.is_empty() || !v.mismatched.is_empty(),
        "a lagging asynchronous standby must lose acknowledged changes, and the checker must report them"
    );
    // What the standby has is consistent; only acknowledged work is missing.
    assert!(
        v.drift.is_empty(),
        "invariants hold on the promoted standby: {:?}",
        v.drift
    );
}

fn signal(pid: i32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid}");
}

/// Functions of schema `loyalty` that change nothing in the database and so
/// must answer on a hot standby (audit, status and pure helpers).  Every
/// other volatile function changes the ledger and must be refused there.
const VOLATILE_READERS: &[&str] = &["bind_session_staff"];

#[test]
fn hot_standby_answers_audit_reads_and_refuses_every_change_with_25006() {
    let pair = Pair::start("ha_reads", 55436, true);
    let player = "a1000000-0000-0000-0000-000000000001";
    let staff = load::STAFF_HOST;
    let mut p = connect_at(&pair.primary_server(), DB);
    p.batch_execute(load::NO_LIMITS).unwrap();
    let credited = p
        .query_one(
            "SELECT ledger_id, balance_after FROM loyalty.increment_player_loyalty(
                 $1::text::uuid, 70, 'PROMOTION', 'ha-reads-1', 'standby reads', NULL, NULL, NULL, 'ha-reads-corr')",
            &[&player],
        )
        .expect("a credit on the primary");
    manual_reward(&mut p, player, staff, 30, "standby reads test")
        .expect("a reward on the primary");
    pair.caught_up();

    let mut s = connect_at(&pair.standby_server(), DB);
    // The audit functions answer, with what the primary wrote.
    let trace = s
        .query("SELECT * FROM loyalty.trace('ha-reads-corr')", &[])
        .expect("trace on a standby");
    assert!(!trace.is_empty(), "trace finds the credit on the standby");
    let statement: i64 = s
        .query_one(
            "SELECT count(*) FROM loyalty.player_statement($1::text::uuid)",
            &[&player],
        )
        .expect("player_statement on a standby")
        .get(0);
    assert_eq!(statement, 2);
    let at: i64 = s
        .query_one(
            "SELECT balance FROM loyalty.balance_at($1::text::uuid, now())",
            &[&player],
        )
        .expect("balance_at on a standby")
        .get(0);
    assert_eq!(at, credited.get::<_, i64>(1) + 30);
    let drift: i64 = s
        .query_one("SELECT count(*) FROM loyalty.drift_check()", &[])
        .expect("drift_check on a standby")
        .get(0);
    assert_eq!(drift, 0);
    s.query("SELECT * FROM loyalty.liability()", &[])
        .expect("liability on a standby");
    let used: i64 = s
        .query_one(
            "SELECT used::bigint FROM loyalty.rate_limit_status($1::text::uuid)",
            &[&staff],
        )
        .expect("rate_limit_status on a standby")
        .get(0);
    assert_eq!(used, 1, "the reward counts on the standby too");
    for read in [
        "SELECT * FROM loyalty.player_account('a1000000-0000-0000-0000-000000000001')",
        "SELECT loyalty.gaming_day()",
        "SELECT loyalty.base_tier()",
        "SELECT * FROM loyalty.validate_reward(5, 'a reason long enough', '5aff0000-0000-0000-0006-0000000000a1')",
        "SELECT loyalty.bind_session_staff('5aff0000-0000-0000-0006-0000000000a1')",
    ] {
        s.query(read, &[])
            .unwrap_or_else(|e| panic!("{read} on a standby: {e}"));
    }

    // Every function that changes the ledger is refused with 25006 before it
    // does anything, on the standby and in a read-only transaction on the
    // primary alike.  Found from the catalog, so a new one is checked too.
    let writers: Vec<(String, String)> = s
        .query(
            "SELECT p.proname::text,
                    'SELECT * FROM loyalty.' || quote_ident(p.proname) || '(' ||
                    coalesce((SELECT string_agg('NULL::' || format_type(t, NULL), ', ' ORDER BY i)
                                FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, i)), '') || ')'
               FROM pg_proc p
              WHERE p.pronamespace = 'loyalty'::regnamespace AND p.provolatile = 'v'
                AND p.prorettype <> 'trigger'::regtype AND NOT p.proname = ANY($1)
              ORDER BY 1",
            &[&VOLATILE_READERS],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(writers.len() >= 17, "the write functions: {writers:?}");
    for (name, call) in &writers {
        let e = s
            .query(call.as_str(), &[])
            .expect_err(&format!("{name} on a standby"));
        let db = e.as_db_error().expect("a server error");
        assert_eq!(db.code().code(), "25006", "{name} on a standby: {db}");
        assert!(
            db.message().contains(&format!("loyalty.{name}()"))
                && db.message().contains("hot standby"),
            "{name}: {}",
            db.message()
        );
        assert!(db.detail().unwrap_or("").contains("correlation_id="));

        let mut t = p.build_transaction().read_only(true).start().unwrap();
        let e = t
            .query(call.as_str(), &[])
            .expect_err(&format!("{name} read only"));
        assert_eq!(sqlstate(&e), "25006", "{name} in BEGIN READ ONLY: {e}");
        t.rollback().unwrap();
    }

    // A session on the standby that asks for a read-write transaction gets
    // none: PostgreSQL itself refuses it (0A000).
    let e = s
        .batch_execute("BEGIN READ WRITE")
        .expect_err("read-write on a standby");
    assert_eq!(sqlstate(&e), "0A000");
    drop(s);
    // Nothing reached the primary's ledger either.
    let rows: i64 = p
        .query_one(
            "SELECT count(*) FROM loyalty.loyalty_ledger WHERE player_id = $1::text::uuid",
            &[&player],
        )
        .unwrap()
        .get(0);
    assert_eq!(rows, 2);
}

/// A call cut off while its commit waited for the synchronous standby is in
/// doubt, and its caller retries with the same key.  The retry is a replay
/// and writes nothing, so PostgreSQL would let it commit without waiting:
/// the caller would be told "done" for a change the standby does not have,
/// and a failover then would lose it.  The replay must wait for the
/// standby as the original's commit did.
#[test]
fn a_replay_of_a_change_the_standby_lacks_waits_for_the_standby() {
    let pair = Pair::start("ha_replay", 55436, true);
    let player = "a1000000-0000-0000-0000-0000000000b1";
    let receiver: i32 = connect_at(&pair.standby_server(), "postgres")
        .query_one("SELECT pid FROM pg_stat_wal_receiver", &[])
        .expect("the standby's WAL receiver")
        .get(0);
    let call = "SELECT ledger_id, idempotent_replay FROM loyalty.increment_player_loyalty(
                    $1::text::uuid, 500, 'PROMOTION', 'ha-replay-1', 'in doubt, then retried')";
    let mut admin = connect_at(&pair.primary_server(), DB);
    signal(receiver, "STOP");
    let waiting = |admin: &mut Client, n: i64| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep' AND query LIKE '%ha-replay-1%'",
                &[],
            )
            .unwrap()
            .get::<_, i64>(0)
            < n
        {
            assert!(Instant::now() < deadline, "no call waits for the standby");
            thread::sleep(Duration::from_millis(50));
        }
    };
    // The original: committed here, waiting for the standby; cut off.
    let server = pair.primary_server();
    let original = thread::spawn(move || {
        connect_at(&server, DB)
            .query_one(call, &[&player])
            .map(|r| r.get::<_, i64>(0))
    });
    waiting(&mut admin, 1);
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE wait_event = 'SyncRep' AND query LIKE '%ha-replay-1%'",
            &[],
        )
        .unwrap();
    assert!(
        original.join().unwrap().is_err(),
        "the original's caller never learns the outcome"
    );
    // The retry: a replay of the committed change; not acknowledged while
    // the standby lacks it.
    let server = pair.primary_server();
    let (tx, rx) = std::sync::mpsc::channel();
    let retry = thread::spawn(move || {
        let r = connect_at(&server, DB).query_one(call, &[&player]);
        let _ = tx.send(());
        r.map(|r| (r.get::<_, i64>(0), r.get::<_, bool>(1)))
    });
    waiting(&mut admin, 1);
    thread::sleep(Duration::from_millis(500));
    assert!(
        rx.try_recv().is_err(),
        "the replay was acknowledged while the standby lacked the change it reports"
    );
    signal(receiver, "CONT");
    let (ledger_id, replay) = retry.join().unwrap().expect("the retry, once replicated");
    assert!(replay, "the retry is a replay");
    pair.caught_up();
    let on_standby: i64 = connect_at(&pair.standby_server(), DB)
        .query_one(
            "SELECT count(*) FROM loyalty.loyalty_ledger WHERE id = $1",
            &[&ledger_id],
        )
        .unwrap()
        .get(0);
    assert_eq!(on_standby, 1, "what the retry was told is on the standby");
}
