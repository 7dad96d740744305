#!/usr/bin/env python3
"""How long tasks waited to run once they could, from a goro execution
trace (GORO_TRACE=out.json): the scheduler-latency view of Go's
`go tool trace`, exact where goro::metrics() samples.

For each wake-up (an unpark event: a channel, a mutex, a timer, I/O, a
join...) it takes the wait until the task's next run, and for each spawn
the wait until its first run. It prints them grouped by what the task had
waited for (its park reason; "start" for a spawn), by time window, and
whether another processor than the one that readied the task ran it (a
steal, or the global queue):

    python3 scripts/trace_waits.py out.json [--window MS] [--json]

The trace keeps the last options::trace_events events of each processor
(a ring): a wake-up whose run fell out of the ring is not counted, nor a
run whose wake-up did. Standard library only.
"""

import argparse
import json
import math
import sys


def load(path):
    with open(path) as f:
        data = json.load(f)
    return data["traceEvents"] if isinstance(data, dict) else data


def quantile(sorted_values, q):
    """Nearest rank: the smallest value with at least q of them at or below it."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def waits(events):
    """[(ready_ts_us, wait_us, reason, other_processor)] from a trace's events."""
    timed = sorted((e for e in events if "ts" in e), key=lambda e: (e["ts"], 0 if e.get("ph") != "X" else 1))
    pending = {}  # g -> (ts, track, reason): readied, not run yet
    starts = {}  # spawn flow id -> (ts, track)
    out = []
    for e in timed:
        cat, ph = e.get("cat"), e.get("ph")
        if cat == "unpark":
            a = e.get("args", {})
            # No reason: the task's park fell out of the ring.
            pending[a.get("g")] = (e["ts"], e.get("tid"), a.get("reason") or "(park not in the trace)")
        elif cat == "spawn" and ph == "s":
            starts[e.get("id")] = (e["ts"], e.get("tid"))
        elif cat == "spawn" and ph == "f":
            s = starts.pop(e.get("id"), None)
            if s:
                out.append((s[0], e["ts"] - s[0], "start", s[1] != e.get("tid")))
        elif cat == "run" and ph == "X":
            p = pending.pop(e.get("args", {}).get("g"), None)
            if p:
                out.append((p[0], e["ts"] - p[0], p[2], p[1] != e.get("tid")))
    return out


def summary(values):
    v = sorted(w for _, w, _, _ in values)
    other = sum(1 for x in values if x[3])
    return {
        "count": len(v),
        "min_us": v[0] if v else 0.0,
        "p50_us": quantile(v, 0.5),
        "p90_us": quantile(v, 0.9),
        "p99_us": quantile(v, 0.99),
        "max_us": v[-1] if v else 0.0,
        "other_processor": other / len(v) if v else 0.0,
    }


def report(ws, window_ms):
    by_reason = {}
    for w in ws:
        by_reason.setdefault(w[2], []).append(w)
    result = {"all": summary(ws), "reasons": {r: summary(v) for r, v in sorted(by_reason.items())}, "windows": []}
    if ws:
        t0 = min(w[0] for w in ws)
        span_ms = (max(w[0] for w in ws) - t0) / 1000.0
        width = window_ms if window_ms else max(span_ms / 20.0, 0.001)
        result["window_ms"] = width
        by_window = {}
        for w in ws:
            by_window.setdefault(int((w[0] - t0) / 1000.0 / width), []).append(w)
        for k in sorted(by_window):
            result["windows"].append(dict(start_ms=k * width, **summary(by_window[k])))
    return result


def print_table(result, path):
    a = result["all"]
    print(f"{path}: {a['count']} waits from runnable to running")
    head = f"{'':24} {'count':>8} {'p50 us':>10} {'p90 us':>10} {'p99 us':>10} {'max us':>10} {'other P':>8}"
    print(head)

    def row(name, s):
        print(f"{name:24.24} {s['count']:8d} {s['p50_us']:10.1f} {s['p90_us']:10.1f} {s['p99_us']:10.1f} "
              f"{s['max_us']:10.1f} {100 * s['other_processor']:7.0f}%")

    for r, s in result["reasons"].items():
        row(r, s)
    row("all", a)
    if result["windows"]:
        print(f"\nby the time it became runnable ({result['window_ms']:.3g} ms windows, from the first):")
        print(head.replace(" " * 24, f"{'from ms':>24}", 1))
        for w in result["windows"]:
            row(f"{w['start_ms']:24.3f}", w)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trace")
    ap.add_argument("--window", type=float, default=0, help="window width in ms (default: a twentieth of the span)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    result = report(waits(load(args.trace)), args.window)
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
    else:
        print_table(result, args.trace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
