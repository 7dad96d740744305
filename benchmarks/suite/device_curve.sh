#!/usr/bin/env bash
# The C++ suite's scaling curve (1, 2, 4, 8, 16 threads) on a machine that
# has no compilers: build everything here, carry it there, run it there.
#
#   bash benchmarks/suite/device_curve.sh prepare PEERS_DIR
#       Here, in the repository: builds goro's suite ports for x86-64-v3
#       (a g++ release build in build-device-v3), the peers for x86-64-v3
#       from PEERS_DIR (compare_suite.py's layout; clang-19), and copies
#       the binaries, with the shared libraries they load, into .dev (git
#       ignores it). Prints the size of .dev: the device tool carries at
#       most 64 MiB.
#
#   bash benchmarks/suite/device_curve.sh run [THREADS] [ROUNDS] [ONLY] [TIMEOUT]
#       There, in the repository root, with .dev carried: runs
#       compare_suite.py on what prepare built, every system on the carried
#       tcmalloc, interleaved, and prints the markdown table. Defaults:
#       1,2,4,8,16 threads, 1 round, skynet,fib,nqueens,matmul, 40 s a run.
#       With the device tool: run with carry [".dev"] and a timeout that
#       fits its per-call limit. One round of the default should take
#       4-5 minutes on 16 cores (an estimate from the 2026-11-30 16-core
#       tables in benchmarks/RESULTS.md; the 1-thread runs are half of it).
#
# x86-64-v3 (AVX2) for every system, so that one build runs on both
# machines; matmul's leaf is vectorized by it alike for goro and the peers.
set -euo pipefail

root=$(git rev-parse --show-toplevel)
dev="$root/.dev"
benches=(skynet fib nqueens matmul)
march=x86-64-v3

prepare() {
    local peers=${1:?usage: device_curve.sh prepare PEERS_DIR}
    peers=$(cd "$peers" && pwd)
    local build="$root/build-device-v3"
    rm -rf "$dev"
    mkdir -p "$dev/lib" "$dev/goro" "$dev/peers/bin-$march"
    [ -d "$build" ] || meson setup "$build" "$root" --buildtype=release -Dcpp_args=-march=$march
    local targets=()
    for b in "${benches[@]}"; do
        targets+=("benchmarks/suite_$b" "benchmarks/suite_${b}_bulk" "benchmarks/suite_${b}_fj")
    done
    ninja -C "$build" "${targets[@]}"
    cp "${targets[@]/#/$build/}" "$dev/goro/"
    # The peers, built by compare_suite.py's own rule into PEERS_DIR/bin-x86-64-v3.
    (cd "$root/benchmarks/suite" && python3 - "$peers" "$march" "${benches[@]}" <<'EOF'
import sys
import compare_suite as c
peers, march, benches = sys.argv[1], sys.argv[2], sys.argv[3:]
for system in ("libfork", "tmc"):
    for bench in benches:
        print(c.build_peer(system, bench, peers, "clang++-19", march, False))
EOF
    )
    for b in "${benches[@]}"; do
        cp "$peers/bin-$march/libfork_$b" "$peers/bin-$march/tmc_$b" "$dev/peers/bin-$march/"
    done
    # What the binaries load that a bare machine may lack, or have older.
    local libs=(libtcmalloc_minimal.so.4 libhwloc.so.15 libudev.so.1 liburing.so.2 libfmt.so.9
                libstdc++.so.6 libgcc_s.so.1)
    for l in "${libs[@]}"; do
        cp -L "/usr/lib/x86_64-linux-gnu/$l" "$dev/lib/$l"
    done
    du -sh "$dev"
}

run() {
    local threads=${1:-1,2,4,8,16} rounds=${2:-1} only=${3:-skynet,fib,nqueens,matmul} timeout=${4:-40}
    [ -d "$dev/goro" ] || { echo "device_curve.sh: no .dev/goro: run prepare here first, and carry .dev" >&2; exit 2; }
    echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), kernel $(uname -r), $(date -u '+%F %T') UTC"
    export LD_LIBRARY_PATH="$dev/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    python3 "$root/benchmarks/compare.py" --suite --peers "$dev/peers" --no-build --march $march \
        --tcmalloc "$dev/lib/libtcmalloc_minimal.so.4" --malloc tcmalloc \
        --goro-dir "$dev/goro" --systems goro,goro_bulk,goro_fj,libfork,tmc \
        --threads "$threads" --rounds "$rounds" --only "$only" --timeout "$timeout" --markdown
}

case "${1:-}" in
    prepare) shift; prepare "$@" ;;
    run) shift; run "$@" ;;
    *) echo "usage: device_curve.sh prepare PEERS_DIR | run [THREADS] [ROUNDS] [ONLY] [TIMEOUT]" >&2; exit 2 ;;
esac
