"""scripts/trace_waits.py: the waits from runnable to running in a trace.

First a trace written here, whose every wait is known: the figures must
come out exactly. Then a real one, the tennis sample's on two processors:
every wake-up whose run is in the trace is counted once, with its park's
reason, and no wait is negative.

    python3 tests/trace_waits_test.py <trace_waits.py> <tennis sample binary>
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run_script(script, trace, *extra):
    out = subprocess.run([sys.executable, script, trace, "--json", *extra], check=True, timeout=120,
                         stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)


def expect(what, got, want):
    if abs(got - want) > 1e-9:
        fail(f"{what}: {got}, expected {want}")


def synthetic(script, tmp):
    # Task 7 sleeps and is readied on P0 at 100 us, runs on P1 at 130 (30,
    # another processor). Task 8 waits on a channel, readied on P1 at 200,
    # runs there at 201 (1). Task 9 is readied at 300 and again (after
    # running at 310: 10) at 500, run at 540 (40), both on P0. A spawn on
    # P0 at 50 first runs on P0 at 52 (2). Task 10 is readied at 600 and
    # never runs in the trace: not counted.
    ev = [
        {"name": "park: sleep", "cat": "park", "ph": "i", "tid": 0, "ts": 10, "args": {"g": 7, "reason": "sleep"}},
        {"name": "unpark", "cat": "unpark", "ph": "i", "tid": 0, "ts": 100, "args": {"g": 7, "by": 0, "reason": "sleep"}},
        {"name": "a", "cat": "run", "ph": "X", "tid": 1, "ts": 130, "dur": 5, "args": {"g": 7}},
        {"name": "unpark", "cat": "unpark", "ph": "i", "tid": 1, "ts": 200,
         "args": {"g": 8, "by": 3, "reason": "chan receive"}},
        {"name": "b", "cat": "run", "ph": "X", "tid": 1, "ts": 201, "dur": 1, "args": {"g": 8}},
        {"name": "unpark", "cat": "unpark", "ph": "i", "tid": 0, "ts": 300,
         "args": {"g": 9, "by": 3, "reason": "chan receive"}},
        {"name": "c", "cat": "run", "ph": "X", "tid": 0, "ts": 310, "dur": 1, "args": {"g": 9}},
        {"name": "unpark", "cat": "unpark", "ph": "i", "tid": 0, "ts": 500,
         "args": {"g": 9, "by": 3, "reason": "chan receive"}},
        {"name": "c", "cat": "run", "ph": "X", "tid": 0, "ts": 540, "dur": 1, "args": {"g": 9}},
        {"name": "spawn", "cat": "spawn", "ph": "s", "id": 1, "tid": 0, "ts": 50},
        {"name": "spawn", "cat": "spawn", "ph": "f", "bp": "e", "id": 1, "tid": 0, "ts": 52},
        {"name": "d", "cat": "run", "ph": "X", "tid": 0, "ts": 52, "dur": 1, "args": {"g": 11}},
        {"name": "unpark", "cat": "unpark", "ph": "i", "tid": 0, "ts": 600, "args": {"g": 10, "by": 3, "reason": "mutex"}},
    ]
    path = os.path.join(tmp, "synthetic.json")
    with open(path, "w") as f:
        json.dump({"traceEvents": ev}, f)
    r = run_script(script, path, "--window", "0.25")
    a = r["all"]
    expect("count", a["count"], 5)  # 30, 1, 10, 40, 2
    expect("p50", a["p50_us"], 10)
    expect("max", a["max_us"], 40)
    expect("min", a["min_us"], 1)
    expect("other processor", a["other_processor"], 1 / 5)
    reasons = r["reasons"]
    if sorted(reasons) != ["chan receive", "sleep", "start"]:
        fail(f"reasons: {sorted(reasons)}")
    expect("chan receive count", reasons["chan receive"]["count"], 3)
    expect("chan receive p50", reasons["chan receive"]["p50_us"], 10)
    expect("chan receive max", reasons["chan receive"]["max_us"], 40)
    expect("sleep wait", reasons["sleep"]["max_us"], 30)
    expect("sleep other", reasons["sleep"]["other_processor"], 1)
    expect("start wait", reasons["start"]["max_us"], 2)
    # 0.25 ms windows from the first ready (the spawn, 50 us): [50, 300)
    # holds the spawn and the readies at 100 and 200, [300, 550) those at
    # 300 and 500.
    counts = [(w["start_ms"], w["count"]) for w in r["windows"]]
    if counts != [(0.0, 3), (0.25, 2)]:
        fail(f"windows: {counts}")
    print("synthetic trace: ok")


def tennis(script, binary, tmp):
    trace = os.path.join(tmp, "tennis.json")
    env = dict(os.environ, GORO_TRACE=trace, GORO_MAXPROCS="2")
    subprocess.run([binary], env=env, check=True, stdout=subprocess.DEVNULL, timeout=60)
    with open(trace) as f:
        events = json.load(f)["traceEvents"]
    # Wake-ups followed by a run of the same task: what the script must count.
    runs = sorted((e["ts"], e["args"]["g"]) for e in events if e.get("cat") == "run")
    expected = 0
    for e in events:
        if e.get("cat") == "unpark":
            g, ts = e["args"]["g"], e["ts"]
            if any(rg == g and rts >= ts for rts, rg in runs):
                expected += 1
    spawns = sum(1 for e in events if e.get("cat") == "spawn" and e.get("ph") == "f")
    r = run_script(script, trace)
    got = r["all"]["count"]
    if got != expected + spawns:
        fail(f"tennis: {got} waits, expected {expected} wake-ups and {spawns} starts")
    if expected == 0 or "chan send" not in r["reasons"] and "chan receive" not in r["reasons"]:
        fail(f"tennis: no channel waits among {sorted(r['reasons'])}")
    if r["all"]["min_us"] < 0:
        fail("a negative wait")
    text = subprocess.run([sys.executable, script, trace], check=True, timeout=60, stdout=subprocess.PIPE,
                          text=True).stdout
    if "waits from runnable to running" not in text or "all" not in text:
        fail("the table is missing")
    print(f"tennis: ok ({got} waits: {expected} wake-ups, {spawns} starts)")


def main():
    script, binary = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="goro-trace-waits-")
    try:
        synthetic(script, tmp)
        tennis(script, binary, tmp)
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
