#!/usr/bin/env python3
"""goro's ports of tzcnt/runtime-benchmarks next to the suite's C++ peers.

    python3 benchmarks/compare.py --suite --peers DIR [--threads 1,2]
        [--rounds 5] [--only skynet,fib,nqueens,matmul,channel,io_socket_st]
        [--goro-dir build-release/benchmarks]
        [--systems goro,goro_bulk,goro_fj,libfork,tmc,tbb] [--malloc auto|tcmalloc|glibc] [--markdown]

(or this file directly, with the same options). DIR holds the peers'
sources, checked out by the user (this script downloads nothing):

    DIR/runtime-benchmarks   github.com/tzcnt/runtime-benchmarks (cpp/<runtime>/<bench>.cpp)
    DIR/libfork              github.com/ConorWilliams/libfork at tag v3.8.0 (the suite's pin)
    DIR/TooManyCooks         github.com/tzcnt/TooManyCooks

The system tbb (oneTBB; skynet, fib, nqueens, matmul) needs no checkout:
it builds against Debian's libtbb-dev (-ltbb), as the suite's CMake finds
the system's TBB.

Each peer is compiled once into DIR/bin (again when its source is newer)
with the flags of the suite's CMake presets: clang++ (--cxx), -O3 -DNDEBUG
-march=native, libhwloc (Debian libhwloc-dev); TooManyCooks' channel and
io_socket_st also need standalone asio (Debian libasio-dev) and are skipped,
with a note, without it. A peer that has no version of a benchmark (libfork:
channel, io_socket_st) is left out of that benchmark's rows. The suite links
tcmalloc into every peer when it finds it, and so does this script by
default (--malloc auto: LD_PRELOAD=libtcmalloc_minimal.so.4, Debian
libtcmalloc-minimal4, when it is installed); --malloc glibc runs every
system on the system allocator, --malloc tcmalloc insists on tcmalloc. goro runs
on the same allocator as the peers (its task frames come from its own pool
either way; matmul's matrices do not). The table's title says which
allocator ran: it moves the peers' fork-join rows a lot (TooManyCooks'
skynet runs about 1.6x faster with tcmalloc). For matmul, build goro's
benchmarks with the peers' -march=native too (meson setup ...
-Dcpp_args=-march=native): its leaf loop is vectorized arithmetic.

For every round, thread count and benchmark, every system runs once, in
turn (interleaved, so that a busy machine slows them alike). Each program
prints `duration: N us` and `max_rss: N KiB`; the table shows, per system,
the median duration and its range, the median peak RSS, and the ratio
goro / system (above 1: goro is slower or bigger). The system goro_bulk is
goro's port written with goro::join_all (suite_<bench>_bulk: skynet,
nqueens, fib and matmul): one suspension of the parent for all its
children, as TooManyCooks' spawn_many (fib: both branches started as
goroutines and joined at once, as its spawn_tuple; matmul: the four
products of a round, as its spawn_tuple); its own ratio column is
goro_bulk / system. --threads takes a list
(1,2,4,8,16) so that one command records the scaling curve on a bigger
machine. For io_socket_st the suite passes the thread count as the number
of connections (every system runs a server thread and a client thread), so
its "threads" column is the connection count. A program that exits non-zero
or prints an error or FAIL line counts as failed. Standard library only.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# The suite's arguments for each benchmark (build_and_bench_all.py), T = threads.
ARGS = {
    "skynet": ["{T}"],
    "fib": ["39", "{T}"],
    "nqueens": ["{T}"],
    "matmul": ["2048", "{T}"],
    # The suite's config argument: the multi-threaded executor (TooManyCooks
    # reads argv[4] whenever it gets two arguments; that is the first
    # environment string here, never "asio", so it runs multi-threaded).
    "channel": ["{T}", "mt"],
    "io_socket_st": ["{T}"],
}
# Benchmarks whose TooManyCooks version includes standalone asio.
NEEDS_ASIO = {"channel", "io_socket_st"}
ASIO_HEADER = "/usr/include/asio.hpp"
PEERS = {
    "libfork": {
        "dir": "libfork",
        "std": "gnu++23",
        "flags": ["-DLF_USE_HWLOC"],
        "benches": {"skynet", "fib", "nqueens", "matmul"},
    },
    "tmc": {
        "dir": "TooManyCooks",
        "std": "gnu++20",
        "flags": ["-DTMC_PRIORITY_COUNT=1", "-DTMC_TRIVIAL_TASK", "-DTMC_USE_HWLOC"],
        "benches": {"skynet", "fib", "nqueens", "matmul", "channel", "io_socket_st"},
    },
    # oneTBB from Debian's libtbb-dev: headers and library are the system's,
    # so there is no checkout under DIR (the suite's own CMake finds it the
    # same way, with find_package).
    "tbb": {
        "dir": None,
        "std": "gnu++20",
        "flags": [],
        "libs": ["-ltbb"],
        "benches": {"skynet", "fib", "nqueens", "matmul"},
    },
}
SUITE_DIR = {"libfork": "libfork", "tmc": "TooManyCooks", "tbb": "tbb"}
# goro_bulk: goro's ports that join their children with goro::join_all
# (suite_<bench>_bulk), the form of TooManyCooks' spawn_many.
GORO_BULK = {"skynet", "fib", "nqueens", "matmul"}
# goro_fj: the same four with goro::fj::all (suite_<bench>_fj): children
# run in place, made goroutines only when a processor wants work.
GORO_VARIANTS = {"goro_bulk": "_bulk", "goro_fj": "_fj"}
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
DURATION_RE = re.compile(r"duration:\s*(\d+)\s*us")
RSS_RE = re.compile(r"max_rss:\s*(\d+)\s*KiB")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def build_peer(system, bench, peers_dir, cxx, march, no_build):
    spec = PEERS[system]
    # -march=native binaries go to DIR/bin, others to DIR/bin-<march>
    # (e.g. x86-64-v3 for a machine whose processor is not this one's).
    out_dir = os.path.join(peers_dir, "bin" if march == "native" else "bin-" + march)
    out = os.path.join(out_dir, f"{system}_{bench}")
    if no_build:
        if not os.path.exists(out):
            log(f"--no-build: {out} not found: {system} left out of the {bench} rows")
            return None
        return out
    src = os.path.join(peers_dir, "runtime-benchmarks", "cpp", SUITE_DIR[system], bench + ".cpp")
    if not os.path.exists(src):
        raise SystemExit(f"compare_suite: {src} not found (see --help for the layout of --peers)")
    includes = []
    if spec["dir"] is not None:
        include = os.path.join(peers_dir, spec["dir"], "include")
        if not os.path.isdir(include):
            raise SystemExit(f"compare_suite: {include} not found (see --help for the layout of --peers)")
        includes.append("-I" + include)
    os.makedirs(out_dir, exist_ok=True)
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return out
    cmd = [cxx, "-std=" + spec["std"], "-O3", "-DNDEBUG", "-march=" + march, *spec["flags"],
           "-I" + os.path.join(peers_dir, "runtime-benchmarks", "cpp", "2common"), *includes]
    if bench == "nqueens":
        cmd.append("-falign-loops=64")
    cmd += [src, "-o", out, "-pthread", *spec.get("libs", ["-lhwloc"])]
    log("building " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"compare_suite: building {system} {bench} failed:\n{r.stderr[-3000:]}")
    return out


def run_once(binary, bench, threads, preload, timeout):
    args = [a.replace("{T}", str(threads)) for a in ARGS[bench]]
    env = dict(os.environ)
    env.pop("GORO_MAXPROCS", None)
    if preload:
        env["LD_PRELOAD"] = preload
    # Through a small shell that forks the program rather than exec'ing it:
    # Linux carries ru_maxrss across execve, so a program exec'd from this
    # Python process (about 18 MB resident) would report at least that as
    # its own peak (`exit $?` keeps the shell from exec'ing the last command).
    cmd = ["/bin/sh", "-c", '"$@"; exit $?', "sh", binary, *args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"  {os.path.basename(binary)} {' '.join(args)}: timed out after {timeout} s")
        return None
    d, m = DURATION_RE.search(r.stdout), RSS_RE.search(r.stdout)
    low = r.stdout.lower()
    if r.returncode != 0 or not d or not m or "error" in low or "fail" in low:
        log(f"  {os.path.basename(binary)} {' '.join(args)}: failed (status {r.returncode})\n"
            f"{r.stdout[-800:]}{r.stderr[-800:]}")
        return None
    return int(d.group(1)) / 1e6, int(m.group(1))


def fmt_s(v):
    return f"{v:.3f}" if v < 10 else f"{v:.2f}"


def table(rows, markdown):
    head = ["bench", "threads", "system", "median s", "range s", "peak RSS MiB", "goro / system (time)",
            "goro / system (RSS)", "goro_bulk / system (time)", "goro_fj / system (time)"]
    lines = []
    if markdown:
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for r in rows:
            lines.append("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
        for r in [head, *rows]:
            lines.append("  ".join(str(x).ljust(w) for x, w in zip(r, widths)))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", action="store_true", help=argparse.SUPPRESS)  # compare.py's switch
    ap.add_argument("--peers", required=True, help="directory of the peers' checkouts (see above)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default="", help="comma-separated benchmarks (default: every port)")
    ap.add_argument("--systems", default="goro,goro_bulk,libfork,tmc",
                    help="comma-separated: goro, goro_bulk (its join_all ports, where there are), "
                         "goro_fj (its fj::all ports), libfork, tmc, tbb (oneTBB, Debian libtbb-dev)")
    ap.add_argument("--goro-dir", default="build-release/benchmarks",
                    help="goro's benchmark build directory (holds suite_<bench>)")
    ap.add_argument("--cxx", default="clang++-19", help="compiler for the peers (the suite's preset: clang)")
    ap.add_argument("--malloc", choices=("auto", "tcmalloc", "glibc"), default="auto",
                    help="every system's allocator (goro's task frames come from its own pool): tcmalloc "
                         "preloaded when installed (auto, as the suite links it), always (tcmalloc), "
                         "or never (glibc)")
    ap.add_argument("--march", default="native",
                    help="the peers' -march (the suite's: native); another value builds into "
                         "DIR/bin-<march>, for binaries that must run on another processor")
    ap.add_argument("--no-build", action="store_true",
                    help="run the peers' binaries already in DIR/bin (or bin-<march>) without "
                         "looking for their sources or a compiler")
    ap.add_argument("--tcmalloc", default=TCMALLOC, metavar="PATH",
                    help=f"the tcmalloc library to preload (default {TCMALLOC})")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args(argv)

    try:
        threads = [int(t) for t in a.threads.split(",") if t]
    except ValueError:
        raise SystemExit("compare_suite: --threads takes integers, e.g. 1,2,4")
    if not threads or min(threads) < 1:
        raise SystemExit("compare_suite: --threads takes positive integers")
    benches = [b for b in (a.only.split(",") if a.only else ARGS) if b]
    for b in benches:
        if b not in ARGS:
            raise SystemExit(f"compare_suite: no port of {b!r} (have {', '.join(ARGS)})")
    systems = [s for s in a.systems.split(",") if s]
    for s in systems:
        if s != "goro" and s not in GORO_VARIANTS and s not in PEERS:
            raise SystemExit(f"compare_suite: unknown system {s!r}")
    tcmalloc = os.path.abspath(a.tcmalloc)
    if a.malloc == "tcmalloc" and not os.path.exists(tcmalloc):
        raise SystemExit(f"compare_suite: --malloc tcmalloc: {tcmalloc} not found (Debian libtcmalloc-minimal4)")
    use_tcmalloc = a.malloc == "tcmalloc" or (a.malloc == "auto" and os.path.exists(tcmalloc))
    if a.malloc == "auto" and not use_tcmalloc:
        log(f"{tcmalloc} not found (Debian libtcmalloc-minimal4): every system runs on glibc "
            "malloc, which slows the peers' fork-join rows (the suite links tcmalloc)")
    goro_dir = a.goro_dir if os.path.isabs(a.goro_dir) else os.path.join(REPO, a.goro_dir)
    peers_dir = os.path.abspath(a.peers)

    binaries = {}
    for b in benches:
        for s in systems:
            if s == "goro" or s in GORO_VARIANTS:
                if s in GORO_VARIANTS and b not in GORO_BULK:
                    continue
                path = os.path.join(goro_dir, "suite_" + b + GORO_VARIANTS.get(s, ""))
                if not os.path.exists(path):
                    raise SystemExit(f"compare_suite: {path} not found (build goro's benchmarks first)")
                binaries[(s, b)] = path
            elif b not in PEERS[s]["benches"]:
                log(f"{s} has no {b} in the suite: left out of its rows")
            elif s == "tmc" and b in NEEDS_ASIO and not a.no_build and not os.path.exists(ASIO_HEADER):
                log(f"skipping tmc {b}: {ASIO_HEADER} not found (Debian libasio-dev)")
            else:
                path = build_peer(s, b, peers_dir, a.cxx, a.march, a.no_build)
                if path:
                    binaries[(s, b)] = path

    results = {key: [] for key in ((s, b, t) for s in systems for b in benches for t in threads)}
    for rnd in range(a.rounds):
        for t in threads:
            for b in benches:
                for s in systems:
                    if (s, b) not in binaries:
                        continue
                    # Every system on the same allocator, as the suite links
                    # tcmalloc into each: goro's frames come from its own pool
                    # either way, but its other allocations (matmul's
                    # matrices) then cost what the peers' cost.
                    preload = tcmalloc if use_tcmalloc else None
                    r = run_once(binaries[(s, b)], b, t, preload, a.timeout)
                    log(f"round {rnd + 1}/{a.rounds} {b} T={t} {s}: "
                        + (f"{r[0]:.3f} s, {r[1]} KiB" if r else "failed"))
                    if r:
                        results[(s, b, t)].append(r)

    rows = []
    for b in benches:
        for t in threads:
            g = results.get(("goro", b, t)) or []
            g_time = statistics.median(x[0] for x in g) if g else None
            g_rss = statistics.median(x[1] for x in g) if g else None
            gb = results.get(("goro_bulk", b, t)) or []
            gb_time = statistics.median(x[0] for x in gb) if gb else None
            gf = results.get(("goro_fj", b, t)) or []
            gf_time = statistics.median(x[0] for x in gf) if gf else None
            for s in systems:
                runs = results.get((s, b, t)) or []
                if not runs:
                    continue
                times = [x[0] for x in runs]
                med, rss = statistics.median(times), statistics.median(x[1] for x in runs)
                ratio_t = f"{g_time / med:.2f}" if g_time and s != "goro" else "-"
                ratio_m = f"{g_rss / rss:.2f}" if g_rss and s != "goro" else "-"
                ratio_b = f"{gb_time / med:.2f}" if gb_time and s != "goro_bulk" else "-"
                ratio_f = f"{gf_time / med:.2f}" if gf_time and s != "goro_fj" else "-"
                rows.append([b, str(t), s, fmt_s(med), f"{fmt_s(min(times))}-{fmt_s(max(times))}",
                             f"{rss / 1024:.1f}", ratio_t, ratio_m, ratio_b, ratio_f])
    print(f"# runtime-benchmarks ports, {a.rounds} rounds interleaved, threads {a.threads}; "
          f"peers built by {a.cxx} -march={a.march}, allocator (every system): {'tcmalloc' if use_tcmalloc else 'glibc malloc'}")
    print(table(rows, a.markdown))


if __name__ == "__main__":
    main()
