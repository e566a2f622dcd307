#!/usr/bin/env python3
"""Turns the benchmark's raw runs into the comparison table: median tps,
mean and p99 latency per variant, and the ratios ext/raw,
ext/raw-in-a-function, ext/plpgsql, ext/client, all from one run.  Writes Markdown and CSV, prints Markdown."""
import csv
import statistics
import sys
from collections import defaultdict

runs_csv, bulk_csv, sizes_csv, out_md, out_csv, machine = sys.argv[1:7]

runs = defaultdict(list)
for r in csv.DictReader(open(runs_csv)):
    runs[(r["workload"], r["sync"], int(r["clients"]), r["variant"])].append(r)

def med(rows, key):
    return statistics.median(float(r[key]) for r in rows)

groups = defaultdict(dict)
for (w, s, c, v), rows in runs.items():
    groups[(w, s, c)][v] = (med(rows, "tps"), med(rows, "mean_ms"), med(rows, "p99_ms"))

order = ["uniform", "zipf", "hot", "replay", "slip", "reward", "events"]
lines = [f"Machine: {machine}", "",
         "| workload | sync commit | clients | variant | tps | mean ms | p99 ms | ext/raw | ext/raw in a function | ext/plpgsql | ext/client |",
         "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
table = []
for (w, s, c) in sorted(groups, key=lambda k: (k[1] != "on", order.index(k[0]), k[2])):
    g = groups[(w, s, c)]
    ext = g.get("ext")
    for v in ["raw", "rawfn", "plpgsql", "client", "ext", "extev"]:
        if v not in g:
            continue
        tps, mean, p99 = g[v]
        ratios = ["", "", "", ""]
        if v == "ext":
            for i, other in enumerate(["raw", "rawfn", "plpgsql", "client"]):
                if other in g and g[other][0] > 0:
                    ratios[i] = f"{ext[0] / g[other][0]:.2f}"
        label = {"raw": "raw" if w != "replay" else "raw (unique-index lookup)",
                 "rawfn": "raw in a function",
                 "extev": "ext, balance events on"}.get(v, v)
        lines.append(f"| {w} | {s} | {c} | {label} | {tps:.0f} | {mean:.2f} | {p99:.2f} | " + " | ".join(ratios) + " |")
        table.append([w, s, c, v, f"{tps:.1f}", f"{mean:.3f}", f"{p99:.3f}"] + ratios)

hot = {c: groups[("hot", "on", c)]["ext"][0] for c in (1, 2, 8, 32) if ("ext" in groups.get(("hot", "on", c), {}))}
if 2 in hot and 32 in hot:
    lines += ["", f"Single hot player, ext: tps at 32 clients / tps at 2 clients = {hot[32] / hot[2]:.2f}"]

reward = groups.get(("reward", "on", 8), {}).get("ext")
increment = groups.get(("uniform", "on", 8), {}).get("ext")
if reward and increment:
    lines += ["", f"manual_reward (token, velocity-limited) / increment_player_loyalty (uniform), ext: {reward[0] / increment[0]:.2f}"]

events = groups.get(("events", "on", 8), {})
if "ext" in events and "extev" in events:
    lines += ["", f"Outbox (SPEC 16): increments at a casino with balance_events on / off: {events['extev'][0] / events['ext'][0]:.2f}"
                  " (the notable kinds add an insert only to the changes they report: none to a plain increment)"]

bulk_runs = defaultdict(list)
for r in csv.DictReader(open(bulk_csv)):
    bulk_runs[r["variant"]].append(float(r["seconds"]))
bulk = {v: statistics.median(secs) for v, secs in bulk_runs.items()}
if "ext" in bulk:
    lines += ["", "Bulk promotion, one call crediting 100,000 players (ext: apply_promotion_batch; median seconds of the alternated runs):", "",
              "| variant | seconds | variant time / ext time |", "|---|---:|---:|"]
    for v, sec in bulk.items():
        lines.append(f"| {v} | {sec:.2f} | {sec / bulk['ext']:.2f} |")

sizes = [row for row in csv.reader(open(sizes_csv)) if row]
lines += ["", "Ledger after the run:", "", "| measure | value |", "|---|---:|"]
lines += [f"| {k} | {v} |" for k, v in sizes]

md = "\n".join(lines) + "\n"
open(out_md, "w").write(md)
with open(out_csv, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["workload", "sync", "clients", "variant", "tps", "mean_ms", "p99_ms", "ext_over_raw", "ext_over_rawfn", "ext_over_plpgsql", "ext_over_client"])
    w.writerows(table)
print(md)
