#!/usr/bin/env python3
"""A/B: the same goro benchmarks from two builds, interleaved.

    python3 benchmarks/ab.py BEFORE_DIR AFTER_DIR spawn_join,fib,pingpong [--rounds 7] [--procs 1,2]

Each round runs every benchmark once from each build, the order alternating
from round to round, so that a machine that gets busier or quieter during
the run shifts both sides alike. Prints a markdown table per figure: median
(min–max) of each side and after/before of the medians (for a time, < 1 is
faster; for a rate such as req/s, > 1 is faster). A directory may carry one
environment setting, "DIR|NAME=VALUE" (e.g. "build/benchmarks|GORO_NETPOLL=epoll").
--cpu adds, per benchmark, the CPU time the run took (user and system, from
the child's rusage): on a machine that other work loads, the CPU a fixed
amount of work costs moves less than its rate does.
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys

FIGURE = re.compile(r"^(\S+)\s+([0-9.eE+-]+)\s+(\S+)\s*$")


def run(side, name, procs, timeout, cpu=False):
    env = dict(os.environ, GORO_MAXPROCS=procs)
    path = side
    if "|" in side:
        path, setting = side.split("|", 1)
        key, value = setting.split("=", 1)
        env[key] = value
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([os.path.join(path, name)], env=env, capture_output=True, text=True, timeout=timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        print(f"ab.py: {side} {name} failed (exit {p.returncode}): {p.stderr[-400:]}", file=sys.stderr)
    figures = {}
    for line in p.stdout.splitlines():
        m = FIGURE.match(line)
        if m:
            figures[m.group(1)] = (float(m.group(2)), m.group(3))
    if cpu and p.returncode == 0:
        figures[name + "_cpu_user"] = (after.ru_utime - before.ru_utime, "s")
        figures[name + "_cpu_sys"] = (after.ru_stime - before.ru_stime, "s")
        figures[name + "_cpu"] = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, "s")
    return figures


def main(argv):
    ap = argparse.ArgumentParser(description="Run goro benchmarks from two builds interleaved.")
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("names", help="comma-separated benchmark binaries")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--procs", default="1,2", help="GORO_MAXPROCS values, comma-separated")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--cpu", action="store_true", help="also report each run's CPU time (user, system, both)")
    args = ap.parse_args(argv)
    print("| figure | procs | unit | before | after | after/before |")
    print("|---|---:|---|---:|---:|---:|")
    for procs in args.procs.split(","):
        for name in args.names.split(","):
            values = {args.before: {}, args.after: {}}
            units = {}
            for r in range(args.rounds):
                order = (args.before, args.after) if r % 2 == 0 else (args.after, args.before)
                for side in order:
                    for key, (v, unit) in run(side, name, procs, args.timeout, args.cpu).items():
                        values[side].setdefault(key, []).append(v)
                        units[key] = unit
            for key, a in values[args.before].items():
                b = values[args.after].get(key)
                if not b:
                    continue
                ma, mb = statistics.median(a), statistics.median(b)
                ratio = f"{mb / ma:.2f}" if ma else "-"  # a CPU figure may be 0.00 s (cpu_sys)
                print(f"| {key} | {procs} | {units[key]} | {ma:.4g} ({min(a):.4g}–{max(a):.4g}) | "
                      f"{mb:.4g} ({min(b):.4g}–{max(b):.4g}) | {ratio} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
