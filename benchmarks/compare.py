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
import datetime
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PEERS = os.path.join(HERE, "peers", "go")

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

LOWER_IS_BETTER = {"ms", "ns/op", "MB", "threads", "count"}
HIGHER_IS_BETTER = {"Mmsg/s", "req/s"}
UNITS = LOWER_IS_BETTER | HIGHER_IS_BETTER
FIGURE_RE = re.compile(
    r"^\s*([A-Za-z0-9_.@/-]+)\s+([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s+(\S+)\s*$"
)
WRK_RE = re.compile(r"^\s*Requests/sec:\s*([0-9.]+)", re.M)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_figures(stdout):
    """Return [(name, value, unit)] for every contract line in stdout."""
    out = []
    for line in stdout.splitlines():
        m = FIGURE_RE.match(line)
        if m and m.group(3) in UNITS:
            out.append((m.group(1), float(m.group(2)), m.group(3)))
    return out


def tail(text, lines=8):
    text = (text or "").rstrip()
    if not text:
        return "    | (no output)"
    return "\n".join("    | " + l for l in text.splitlines()[-lines:])


def as_text(b):
    if b is None:
        return ""
    if isinstance(b, bytes):
        return b.decode("utf-8", "replace")
    return b


# ---------------------------------------------------------------- building


def go_env():
    env = os.environ.copy()
    tmp = tempfile.gettempdir()
    if not env.get("HOME") or not os.access(env.get("HOME"), os.W_OK):
        env.setdefault("GOPATH", os.path.join(tmp, "goro-peers-gopath"))
    if not env.get("GOCACHE"):
        cache = ""
        try:
            cache = subprocess.run(["go", "env", "GOCACHE"], env=env,
                                   capture_output=True, text=True,
                                   timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
        writable = False
        if cache and cache != "off":
            try:
                os.makedirs(cache, exist_ok=True)
                writable = os.access(cache, os.W_OK)
            except OSError:
                writable = False
        if not writable:
            env["GOCACHE"] = os.path.join(tmp, "goro-peers-gocache")
    # No dependencies: never touch the network.
    env.setdefault("GOPROXY", "off")
    env.setdefault("GOFLAGS", "")
    env["GO111MODULE"] = "on"
    return env


def build_go(names, outdir):
    """Build the Go twins; return {name: path or None}."""
    built = {}
    if shutil.which("go") is None:
        log("compare: `go` not found on PATH; Go twins are missing")
        return {n: None for n in names}
    env = go_env()
    for n in names:
        dst = os.path.join(outdir, n)
        log(f"compare: go build {n}")
        try:
            p = subprocess.run(["go", "build", "-o", dst, "./" + n], cwd=PEERS,
                               env=env, capture_output=True, text=True,
                               timeout=600)
            ok = p.returncode == 0 and os.path.isfile(dst)
            err = p.stderr
        except (OSError, subprocess.SubprocessError) as e:
            ok, err = False, str(e)
        if ok:
            built[n] = dst
        else:
            log(f"compare: go build {n} failed:\n{tail(err, 20)}")
            built[n] = None
    return built


# ---------------------------------------------------------------- running


def run_env(procs):
    env = os.environ.copy()
    for k in ("GORO_MAXPROCS", "GOMAXPROCS", "TCP_ECHO_DEADLINE"):
        env.pop(k, None)
    if procs is not None:
        env["GORO_MAXPROCS"] = str(procs)
        env["GOMAXPROCS"] = str(procs)
    return env


class Side:
    """Results of one side (goro or Go) of one row."""

    def __init__(self, binary):
        self.binary = binary
        self.values = {}   # figure -> [values]
        self.units = {}    # figure -> unit
        self.order = []    # figures in first-seen order
        self.runs = 0
        self.failed = 0
        self.notes = []

    @property
    def missing(self):
        return self.binary is None

    def add(self, figures):
        for name, value, unit in figures:
            if name not in self.values:
                self.values[name] = []
                self.order.append(name)
            self.values[name].append(value)
            prev = self.units.setdefault(name, unit)
            if prev != unit:
                self.notes.append(f"{name}: unit changed {prev} -> {unit}")


def run_once(side, label, env, timeout):
    side.runs += 1
    try:
        p = subprocess.run([side.binary], env=env, capture_output=True,
                           text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        side.failed += 1
        log(f"compare: {label}: timed out after {timeout}s\n{tail(as_text(e.stderr))}")
        return
    except OSError as e:
        side.failed += 1
        log(f"compare: {label}: could not run: {e}")
        return
    if p.returncode != 0:
        side.failed += 1
        log(f"compare: {label}: exit status {p.returncode}\n{tail(p.stderr)}")
        return
    figs = parse_figures(p.stdout)
    if not figs:
        side.failed += 1
        log(f"compare: {label}: no figure lines on stdout\n{tail(p.stdout)}")
        return
    side.add(figs)


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_port(preferred=18080):
    if port_free(preferred):
        return preferred
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port_free(port):
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def stop(proc):
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except OSError:
            pass


def run_http_once(side, label, duration, timeout, extra_env=None):
    side.runs += 1
    try:
        port = pick_port()
    except RuntimeError as e:
        side.failed += 1
        log(f"compare: {label}: {e}")
        return
    addr = f"127.0.0.1:{port}"
    env = run_env(None)
    env.update(extra_env or {})
    env["HTTP_ADDR"] = addr
    errf = tempfile.TemporaryFile(mode="w+")
    try:
        proc = subprocess.Popen([side.binary], env=env, stdout=subprocess.PIPE,
                                stderr=errf, stdin=subprocess.DEVNULL,
                                text=True, bufsize=1)
    except OSError as e:
        side.failed += 1
        errf.close()
        log(f"compare: {label}: could not run: {e}")
        return
    try:
        # Wait for the `listening <addr>` line without blocking forever.
        found = {}

        def reader():
            for line in proc.stdout:
                if line.startswith("listening"):
                    parts = line.split()
                    found["addr"] = parts[1] if len(parts) > 1 else addr
                    break
            # Keep draining so the server never blocks on a full pipe.
            for _ in proc.stdout:
                pass

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        deadline = time.monotonic() + 15
        while "addr" not in found and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if "addr" not in found:
            side.failed += 1
            errf.seek(0)
            why = "exited" if proc.poll() is not None else "never printed `listening`"
            log(f"compare: {label}: server {why}\n{tail(errf.read())}")
            return
        target = found["addr"]
        host, _, p = target.rpartition(":")
        if host in ("", "0.0.0.0", "[::]", "::"):
            target = f"127.0.0.1:{p}"
        cmd = ["wrk", "-t2", "-c64", f"-d{duration}", f"http://{target}/"]
        try:
            w = subprocess.run(cmd, capture_output=True, text=True,
                               timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            side.failed += 1
            log(f"compare: {label}: wrk timed out after {timeout}s")
            return
        if proc.poll() is not None:
            side.failed += 1
            errf.seek(0)
            log(f"compare: {label}: server died under load (status {proc.returncode})\n{tail(errf.read())}")
            return
        m = WRK_RE.search(w.stdout)
        if w.returncode != 0 or not m:
            side.failed += 1
            log(f"compare: {label}: wrk failed (status {w.returncode})\n{tail(w.stdout + w.stderr)}")
            return
        for bad in ("Non-2xx or 3xx responses", "Socket errors"):
            if bad in w.stdout:
                line = [l for l in w.stdout.splitlines() if bad in l][0].strip()
                side.notes.append(line)
                log(f"compare: {label}: wrk reports: {line}")
        side.add([("http_hello", float(m.group(1)), "req/s")])
    finally:
        stop(proc)
        errf.close()


# ---------------------------------------------------------------- table


def fmt_num(v):
    a = abs(v)
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}"


def summarize(row_name, procs_label, suffix, goro, go, rounds):
    """Return table lines (list of dicts) for one row."""
    figs = list(goro.order)
    for f in go.order:
        if f not in figs:
            figs.append(f)
    lines = []
    if not figs:
        figs = [None]
    for f in figs:
        name = row_name if f is None else f + suffix
        unit = goro.units.get(f) or go.units.get(f) or "-"
        cells = {"benchmark": name, "procs": procs_label, "unit": unit}
        meds = {}
        for key, side in (("goro", goro), ("go", go)):
            vals = side.values.get(f, []) if f is not None else []
            if side.missing:
                cells[key + "_median"] = "missing"
                cells[key + "_spread"] = "-"
            elif not vals:
                cells[key + "_median"] = "failed" if side.failed else "-"
                cells[key + "_spread"] = f"{side.failed}/{side.runs} failed" if side.failed else "-"
            else:
                med = statistics.median(vals)
                meds[key] = med
                cells[key + "_median"] = fmt_num(med)
                spread = f"{fmt_num(min(vals))}-{fmt_num(max(vals))}"
                if len(vals) < rounds:
                    spread += f" (n={len(vals)})"
                cells[key + "_spread"] = spread
        gu, ou = goro.units.get(f), go.units.get(f)
        if "goro" in meds and "go" in meds:
            if gu != ou:
                cells["speedup"] = "unit mismatch"
            elif meds["goro"] == 0 or meds["go"] == 0:
                cells["speedup"] = "-"
            elif unit in HIGHER_IS_BETTER:
                cells["speedup"] = f"{meds['goro'] / meds['go']:.2f}x"
            else:
                cells["speedup"] = f"{meds['go'] / meds['goro']:.2f}x"
        else:
            cells["speedup"] = "-"
        lines.append(cells)
    return lines


COLUMNS = [
    ("benchmark", "benchmark"),
    ("procs", "procs"),
    ("unit", "unit"),
    ("goro_median", "goro median"),
    ("goro_spread", "goro spread"),
    ("go_median", "Go median"),
    ("go_spread", "Go spread"),
    ("speedup", "speedup over Go"),
]
NUMERIC = {"goro_median", "go_median", "speedup"}


def plain_table(rows):
    widths = {k: len(h) for k, h in COLUMNS}
    for r in rows:
        for k, _ in COLUMNS:
            widths[k] = max(widths[k], len(r[k]))
    out = []
    hdr = "  ".join(h.ljust(widths[k]) for k, h in COLUMNS)
    out.append(hdr.rstrip())
    out.append("  ".join("-" * widths[k] for k, _ in COLUMNS))
    for r in rows:
        cells = []
        for k, _ in COLUMNS:
            cells.append(r[k].rjust(widths[k]) if k in NUMERIC else r[k].ljust(widths[k]))
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def markdown_table(rows):
    out = ["| " + " | ".join(h for _, h in COLUMNS) + " |"]
    out.append("|" + "|".join("---:" if k in NUMERIC else "---" for k, _ in COLUMNS) + "|")
    for r in rows:
        cells = []
        for k, _ in COLUMNS:
            v = r[k]
            if k.endswith("_spread"):
                v = v.replace("-", "–") if v not in ("-",) and "failed" not in v else v
            cells.append(v)
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def nproc():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 0


def go_version():
    try:
        return subprocess.run(["go", "version"], capture_output=True, text=True,
                              timeout=30).stdout.strip().replace("go version ", "")
    except (OSError, subprocess.SubprocessError):
        return "go ?"


def header_line(rounds, http=None):
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (f"{now}, nproc {nproc()}, {cpu_model()}, kernel {platform.release()},"
            f" {go_version()}, {rounds} interleaved rounds per row"
            + (f" ({http[0]} for http_hello, wrk -t2 -c64 -d{http[1]})" if http else "")
            + ": median (min-max)")


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
        go_bins = build_go(sorted({VARIANTS.get(n, (n,))[0] for n in selected}), tmp)
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
