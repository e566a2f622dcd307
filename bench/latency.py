#!/usr/bin/env python3
"""Reads one pgbench run (its output and per-transaction logs) and prints
`<prefix>,tps,mean_ms,p99_ms` as a CSV line."""
import glob
import re
import sys

out, log_prefix, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(out).read()
m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", text)
tps = float(m.group(1)) if m else 0.0
lat = []
for f in glob.glob(log_prefix + ".*"):
    for line in open(f):
        parts = line.split()
        if len(parts) >= 3:
            lat.append(int(parts[2]) / 1000.0)
lat.sort()
mean = sum(lat) / len(lat) if lat else 0.0
p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0.0
print(f"{prefix},{tps:.1f},{mean:.3f},{p99:.3f}")
