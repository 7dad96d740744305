#!/usr/bin/env python3
"""Run every goro benchmark next to its Go twin and print the ratio.

    python3 benchmarks/compare.py [--rounds N] [--goro-dir build-release/benchmarks]
                                  [--only name,name] [--skip-http] [--markdown]
    python3 benchmarks/compare.py --suite --peers DIR [--threads 1,2,4] ...
        (goro's ports of the C++ runtime suite next to libfork and
        TooManyCooks: see benchmarks/suite/compare_suite.py --help)

Each benchmark program (goro and Go alike) prints one line per figure on
stdout:  `<figure_name> <value> <unit>`  with unit one of ms, ns/op, MB, threads, count
(lower is better) or Mmsg/s, req/s (higher is better). Other stdout lines are ignored.

For every row (benchmark, procs) the goro and the Go program are run
interleaved (goro, go, goro, go, ...) --rounds times each; the table shows the
median and the min-max spread of each figure per side, and "goro speedup over
Go": go/goro for lower-is-better units, goro/go for higher-is-better ones, so
a value > 1 always means goro did better.

Procs: "all" rows run with GORO_MAXPROCS and GOMAXPROCS unset (both runtimes
use every usable CPU); pinned rows set both variables (pingpong at 1 and 2).
Figures of pinned rows are named <figure>@p<procs>. The I/O rows (tcp_echo,
idle_conns, hog, http_hello) run twice: with goro's automatic netpoller (io_uring
where it works) and with GORO_NETPOLL=epoll ("all/epoll", figures
<figure>@epoll).

The http_hello row starts each server (goro: <goro-dir>/../samples/http_hello),
waits for its `listening <addr>` line, loads it with
`wrk -t2 -c64 -d<duration> http://<addr>/`, reads `Requests/sec:` and kills it.

Standard library only.
"""

import argparse
import os
import re
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# The modules beside this file (sys.path[0] only when it runs as a script,
# and not under python3 -P or -I):
sys.path.insert(0, HERE)

from compare_runs import Side, build_go, log, run_env, run_http_once, run_once  # noqa: E402
from compare_table import header_line, markdown_table, plain_table, summarize  # noqa: E402


# Benchmarks in table order. The figure each one prints is documented in
# benchmarks/peers/go/README.md.
BENCHMARKS = [
    "skynet",
    "spawn_join",
    "fib",
    "timers",
    "sleepers",
    "idle_tasks",
    "pingpong",
    "chan_throughput",
    "mutex",
    "select",
    "skynet_chan",
    "tcp_echo",
    "tcp_echo_deadline",
    "idle_conns",
    "hog",
]
HTTP = "http_hello"
# Extra rows with pinned procs (the default-procs row always exists).
PINNED = {"pingpong": [1, 2]}
# I/O rows run once per netpoller driver: the default row lets goro choose
# (io_uring where it works), the "epoll" row forces GORO_NETPOLL=epoll. The
# Go twin runs again next to each (its numbers show the run-to-run noise).
DRIVER_ROWS = {"tcp_echo", "tcp_echo_deadline", "idle_conns", "hog", HTTP}
# Rows that run another row's programs (goro's and the Go twin) with extra
# environment: tcp_echo_deadline is tcp_echo whose server arms a read
# deadline before every read, as samples/echo_server does (Go's
# SetReadDeadline), to show what a deadline costs.
VARIANTS = {"tcp_echo_deadline": ("tcp_echo", {"TCP_ECHO_DEADLINE": "1"})}

# ---------------------------------------------------------------- main


def resolve_dir(path):
    if os.path.isabs(path):
        return path
    cand = os.path.abspath(path)
    if os.path.isdir(cand):
        return cand
    alt = os.path.join(REPO, path)
    if os.path.isdir(alt):
        return alt
    return cand


def main():
    if "--suite" in sys.argv[1:]:
        # The C++ runtime suite (tzcnt/runtime-benchmarks): its own runner.
        sys.path.insert(0, os.path.join(HERE, "suite"))
        import compare_suite
        compare_suite.main(sys.argv[1:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5,
                    help="runs per side per row, interleaved (default 5)")
    ap.add_argument("--goro-dir", default="build-release/benchmarks",
                    help="directory holding the goro benchmark binaries")
    ap.add_argument("--only", default="",
                    help="comma-separated benchmark names (e.g. skynet,pingpong,http_hello)")
    ap.add_argument("--skip-http", action="store_true", help="skip the http_hello row")
    ap.add_argument("--markdown", action="store_true",
                    help="also print a markdown table for benchmarks/RESULTS.md")
    ap.add_argument("--chart", metavar="SVG",
                    help="also draw the speedups over Go as a bar chart (benchmarks/chart.py)")
    ap.add_argument("--http-rounds", type=int, default=3,
                    help="interleaved wrk runs per side (default 3)")
    ap.add_argument("--http-duration", default="10s",
                    help="wrk -d duration (default 10s)")
    ap.add_argument("--timeout", type=float, default=120,
                    help="seconds before one run is killed (default 120)")
    ap.add_argument("--go-dir", metavar="DIR",
                    help="Go twins built beforehand (`go build -o DIR/<name> ./<name>` in "
                         "benchmarks/peers/go), for a machine without Go; a twin missing "
                         "there is built when `go` is on PATH")
    args = ap.parse_args()
    if args.rounds < 1 or args.http_rounds < 1:
        ap.error("--rounds and --http-rounds must be >= 1")

    known = BENCHMARKS + [HTTP]
    selected = known
    if args.only:
        want = [w.strip().split("@")[0] for w in args.only.split(",") if w.strip()]
        unknown = [w for w in want if w not in known]
        if unknown:
            ap.error(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(known)}")
        selected = [n for n in known if n in want]
    if args.skip_http:
        selected = [n for n in selected if n != HTTP]

    http_ok = HTTP in selected
    if http_ok and shutil.which("wrk") is None:
        log("compare: wrk not found on PATH; skipping the http_hello row")
        http_ok = False
        selected = [n for n in selected if n != HTTP]

    goro_dir = resolve_dir(args.goro_dir)
    tmp = tempfile.mkdtemp(prefix="goro-peers-")
    try:
        go_names = sorted({VARIANTS.get(n, (n,))[0] for n in selected})
        go_bins = {}
        if args.go_dir:
            for n in go_names:
                p = os.path.join(resolve_dir(args.go_dir), n)
                if os.path.isfile(p) and os.access(p, os.X_OK):
                    go_bins[n] = p
        go_bins.update(build_go([n for n in go_names if n not in go_bins], tmp))
        for n in selected:
            if n in VARIANTS:
                go_bins[n] = go_bins.get(VARIANTS[n][0])

        def goro_bin(name):
            name = VARIANTS.get(name, (name,))[0]
            if name == HTTP:
                p = os.path.join(os.path.dirname(goro_dir), "samples", HTTP)
            else:
                p = os.path.join(goro_dir, name)
            return p if os.path.isfile(p) and os.access(p, os.X_OK) else None

        table = []
        notes = []
        for name in selected:
            if name == HTTP:
                continue
            rows = [(procs, None) for procs in [None] + PINNED.get(name, [])]
            if name in DRIVER_ROWS:
                rows.append((None, "epoll"))
            for procs, driver in rows:
                label = "all" if procs is None else str(procs)
                suffix = "" if procs is None else f"@p{procs}"
                if driver:
                    label += "/" + driver
                    suffix += "@" + driver
                goro = Side(goro_bin(name))
                go = Side(go_bins.get(name))
                if goro.missing:
                    log(f"compare: {name}: goro binary missing in {goro_dir}")
                if go.missing:
                    log(f"compare: {name}: Go twin missing (build failed)")
                env = run_env(procs)
                if driver:
                    env["GORO_NETPOLL"] = driver
                if name in VARIANTS:
                    env.update(VARIANTS[name][1])
                for r in range(args.rounds):
                    for tag, side in (("goro", goro), ("go", go)):
                        if side.missing:
                            continue
                        lbl = f"{name}{suffix} {tag} round {r + 1}/{args.rounds}"
                        log(f"compare: {lbl}")
                        run_once(side, lbl, env, args.timeout)
                table.extend(summarize(name, label, suffix, goro, go, args.rounds))
                for tag, side in (("goro", goro), ("Go", go)):
                    for n in side.notes:
                        notes.append(f"{name}{suffix} {tag}: {n}")

        for driver in ([None, "epoll"] if http_ok else []):
            label = "all" if not driver else "all/" + driver
            suffix = "" if not driver else "@" + driver
            extra = {"GORO_NETPOLL": driver} if driver else {}
            goro = Side(goro_bin(HTTP))
            go = Side(go_bins.get(HTTP))
            if goro.missing:
                log(f"compare: http_hello: goro server missing in "
                    f"{os.path.join(os.path.dirname(goro_dir), 'samples')}")
            wrk_timeout = args.timeout + parse_duration(args.http_duration)
            for r in range(args.http_rounds):
                for tag, side in (("goro", goro), ("go", go)):
                    if side.missing:
                        continue
                    lbl = f"http_hello{suffix} {tag} round {r + 1}/{args.http_rounds}"
                    log(f"compare: {lbl}")
                    run_http_once(side, lbl, args.http_duration, wrk_timeout,
                                  extra if tag == "goro" else None)
            table.extend(summarize(HTTP, label, suffix, goro, go, args.http_rounds))
            for tag, side in (("goro", goro), ("Go", go)):
                for n in sorted(set(side.notes)):
                    notes.append(f"http_hello{suffix} {tag}: {n}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    head = header_line(args.rounds,
                       (args.http_rounds, args.http_duration) if http_ok else None)
    print(head)
    print()
    print(plain_table(table))
    if notes:
        print()
        for n in notes:
            print("note: " + n)
    if args.chart:
        write_chart(args.chart, table, head)
    if args.markdown:
        print()
        print(head)
        print()
        print(markdown_table(table))
        if notes:
            print()
            for n in notes:
                print("- " + n)
    return 0


def write_chart(path, table, head):
    """Draws the rows' speedups over Go (benchmarks/chart.py)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import chart
    bars = []
    for r in table:
        ratio = chart.parse_ratio(r["speedup"])
        if ratio:
            label = r["benchmark"] + (f" ({r['procs']} procs)" if r["procs"] not in ("-", "") else "")
            bars.append((label, ratio))
    with open(path, "w", encoding="utf-8") as f:
        f.write(chart.draw([("against Go", bars)], "goro against Go, " + head.split(",")[0]))
    log(f"chart: {path}")


def parse_duration(s):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", s)
    if not m:
        return 60.0
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


if __name__ == "__main__":
    try:
        sys.stdout.reconfigure(errors="replace")
    except AttributeError:
        pass
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
