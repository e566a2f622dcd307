#!/usr/bin/env python3
"""Runs bench/router.sh's pgbench runs and reports them (see bench/router.sh).

Every run measures throughput and the CPU seconds each part used: the
router cluster, each node cluster (a postmaster's own time, its exited
children's, and its live children's, from /proc) and pgbench itself.
"""

import argparse
import os
import re
import resource
import statistics
import subprocess
import time

PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
TICK = os.sysconf("SC_CLK_TCK")


def cluster_cpu(data_dir):
    """CPU seconds used so far by the cluster whose data directory this is."""
    with open(os.path.join(data_dir, "postmaster.pid")) as f:
        pm = int(f.readline())
    total = 0
    fields = open(f"/proc/{pm}/stat").read().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime (fields 14-17 of proc(5); here 11-14).
    total += sum(int(x) for x in fields[11:15])
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == pm:
            continue
        try:
            stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == pm:  # parent pid
            total += int(stat[11]) + int(stat[12])
    return total / TICK


def run(args, port, nodes, run_no):
    parts = {"router": f"{args.base}/brouter/data"}
    for n in range(3):
        parts[f"node{n}"] = f"{args.base}/bnode{n}/data"
    before = {k: cluster_cpu(v) for k, v in parts.items()}
    own = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [PGBENCH, "-n", "-M", "prepared", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
         "-c", str(args.clients), "-j", "2", "-T", str(args.seconds),
         "-D", f"nodes={nodes}", "-D", f"run={run_no}", "-f", args.script, "bench"],
        capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"pgbench failed:\n{out.stdout}\n{out.stderr}")
    after_own = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The sessions' backends (pgbench's, and the router's PL/Proxy
    # connections to the nodes) end just after pgbench does: their CPU
    # counts once their postmaster has reaped them.
    time.sleep(2)
    cpu = {k: cluster_cpu(v) - before[k] for k, v in parts.items()}
    cpu["pgbench"] = (after_own.ru_utime + after_own.ru_stime) - (own.ru_utime + own.ru_stime)
    tps = float(re.search(r"tps = ([0-9.]+)", out.stdout).group(1))
    return tps, cpu


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--router", type=int)
    p.add_argument("--nodes", type=int, nargs=3)
    p.add_argument("--base")
    p.add_argument("--script")
    p.add_argument("--seconds", type=int)
    p.add_argument("--rounds", type=int)
    p.add_argument("--clients", type=int)
    p.add_argument("--out")
    args = p.parse_args()

    variants = [
        ("direct to node 0", args.nodes[0], 1),
        ("router, 1 node", args.router, 1),
        ("router, 2 nodes", args.router, 2),
        ("router, 3 nodes", args.router, 3),
    ]
    rows = []
    run_no = 0
    for rnd in range(1, args.rounds + 1):
        for name, port, nodes in variants:
            run_no += 1
            tps, cpu = run(args, port, nodes, run_no)
            rows.append((name, rnd, tps, cpu))
            split = " ".join(f"{k}={v:.1f}s" for k, v in cpu.items())
            print(f"{name:18} round {rnd}: {tps:9.1f} tps  cpu {split}", flush=True)

    names = [v[0] for v in variants]
    med = {n: statistics.median(r[2] for r in rows if r[0] == n) for n in names}
    parts = list(rows[0][3].keys())
    cpu = {n: {k: statistics.median(r[3][k] for r in rows if r[0] == n) for k in parts} for n in names}
    with open(args.out + ".csv", "w") as f:
        f.write("variant,round,tps," + ",".join(f"cpu_{k}_s" for k in parts) + "\n")
        for name, rnd, tps, c in rows:
            f.write(f"{name},{rnd},{tps:.1f}," + ",".join(f"{c[k]:.2f}" for k in parts) + "\n")
    lines = [
        "# loyalty_router on loopback (bench/router.sh)",
        "",
        f"{args.clients} clients, {args.seconds} s per run, {args.rounds} rounds alternated, "
        "synchronous_commit on; medians. One router and three nodes share this machine's CPUs.",
        "",
        "| variant | tps | ratio to direct | " + " | ".join(f"CPU s {k}" for k in parts) + " |",
        "|---|---|---|" + "---|" * len(parts),
    ]
    for n in names:
        lines.append(
            f"| {n} | {med[n]:.0f} | {med[n] / med[names[0]]:.2f} | "
            + " | ".join(f"{cpu[n][k]:.1f}" for k in parts)
            + " |"
        )
    lines += [
        "",
        f"Router overhead (routed / direct, same node, same run): **{med[names[1]] / med[names[0]]:.2f}**.",
        f"Aggregate through the router with 1, 2, 3 nodes: {med[names[1]]:.0f}, {med[names[2]]:.0f}, "
        f"{med[names[3]]:.0f} tps ({med[names[3]] / med[names[1]]:.2f} x one node).",
    ]
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
