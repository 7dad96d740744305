#!/usr/bin/env python3
"""benchmarks/chart.py: a markdown table's ratio column becomes one bar per
row (speedups as they are, times inverted with --lower-is-better), in an
SVG that parses as XML. And benchmarks/compare.py's --chart (write_chart):
the rows of a run's table become the same chart, one bar per row with a
speedup, labelled with the benchmark and its processors.

    python3 tests/chart_test.py benchmarks/chart.py   (compare.py beside it)
"""
import importlib.util
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

TABLE = """# Some results

| benchmark | goro | Go | goro/Go |
|---|---:|---:|---:|
| skynet | 20 ms | 880 ms | 44.0× |
| select | 316 ns | 312 ns | 0.99x |
| ping-pong, 1 / 2 procs | 54 / 53 ns | 238 / 252 ns | 4.4× / 4.7× |
| worst echo round trip while a task computes for 2 s (hog, spin; 2026-11-29 05:17) | 30 ms | 20 ms | 0.65× |
| not measured | - | - | - |

| 1 thread | goro | libfork | goro/libfork |
|---|---:|---:|---:|
| fib | 10 s | 4 s | 2.50× |
"""


# Rows as compare_table.summarize makes them (the keys write_chart reads):
# a speedup per row, "-" where a side did not run, "unit mismatch" where the
# two sides disagree; "procs" is "-" for rows without a processor count.
COMPARE_ROWS = [
    {"benchmark": "skynet", "procs": "all", "unit": "ms", "speedup": "44.00x"},
    {"benchmark": "pingpong", "procs": "1", "unit": "ns/op", "speedup": "0.50x"},
    {"benchmark": "timers", "procs": "all", "unit": "ms", "speedup": "-"},
    {"benchmark": "idle_tasks", "procs": "all", "unit": "MB", "speedup": "unit mismatch"},
    {"benchmark": "http_hello", "procs": "-", "unit": "req/s", "speedup": "1.25x"},
]
COMPARE_HEAD = ("2026-12-01 08:00, nproc 2, Some CPU, kernel 6.1, go1.22, "
                "3 interleaved rounds per row: median (min-max)")


def svg_texts_and_bars(path):
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    texts = [t.text for t in root.iter(ns + "text")]
    bars = [r for r in root.iter(ns + "rect") if r.get("fill") != "white"]
    return texts, bars


def check_compare_chart(chart):
    """compare.py's write_chart on a small synthetic table."""
    compare_path = os.path.join(os.path.dirname(os.path.abspath(chart)), "compare.py")
    spec = importlib.util.spec_from_file_location("compare_under_test", compare_path)
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    with tempfile.TemporaryDirectory() as tmp:
        svg = os.path.join(tmp, "compare.svg")
        compare.write_chart(svg, COMPARE_ROWS, COMPARE_HEAD)
        assert os.path.getsize(svg) > 0, "write_chart wrote nothing"
        texts, bars = svg_texts_and_bars(svg)
        # The title: the run's date and time, the head's first field.
        assert "goro against Go, 2026-12-01 08:00" in texts, texts
        assert "against Go" in texts, texts
        # One bar per row with a speedup, labelled with its processors
        # where the row has a count; none for "-" or "unit mismatch".
        labels = [t for t in texts if t in ("skynet (all procs)", "pingpong (1 procs)", "http_hello")]
        assert labels == ["skynet (all procs)", "pingpong (1 procs)", "http_hello"], texts
        assert not any(t and (t.startswith("timers") or t.startswith("idle_tasks")) for t in texts), texts
        values = [t for t in texts if t in ("44.00×", "0.50×", "1.25×")]
        assert values == ["44.00×", "0.50×", "1.25×"], texts
        assert len(bars) == 3, f"{len(bars)} bars, expected 3"
        colours = [b.get("fill") for b in bars]
        assert colours == ["#2a7ab9", "#d0543c", "#2a7ab9"], colours


def main():
    chart = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        md = os.path.join(tmp, "results.md")
        svg = os.path.join(tmp, "chart.svg")
        with open(md, "w", encoding="utf-8") as f:
            f.write(TABLE)
        subprocess.run([sys.executable, chart, "-o", svg, "--table", md, "goro/Go", "against Go",
                        "--table", md, "goro/libfork", "against libfork", "--lower-is-better"], check=True)
        root = ET.parse(svg).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        texts = [t.text for t in root.iter(ns + "text")]
        bars = [r for r in root.iter(ns + "rect") if r.get("fill") != "white"]
        labels = [t for t in texts if t and t.endswith("×") and t[0].isdigit() and t not in ("1×", "10×", "100×", "0.1×", "0.01×")]
        expect = ["44.00×", "0.99×", "4.40×", "0.65×", "0.40×"]
        assert labels == expect, f"bar labels {labels}, expected {expect}"
        assert len(bars) == 5, f"{len(bars)} bars, expected 5 (the unmeasured row has none)"
        # Every row label (right-aligned at x) fits inside the picture:
        # at 12 px sans-serif a character is at least 6 px wide.
        for t in root.iter(ns + "text"):
            if t.get("text-anchor") == "end":
                assert float(t.get("x")) >= 6 * len(t.text), f"label {t.text!r} at x={t.get('x')} is cut off"
        assert "against Go" in texts and "against libfork" in texts, texts
        # goro faster: blue, to the right of 1x; slower: red, to the left.
        colours = [b.get("fill") for b in bars]
        assert colours == ["#2a7ab9", "#d0543c", "#2a7ab9", "#d0543c", "#d0543c"], colours
    check_compare_chart(chart)
    print("chart_test: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
