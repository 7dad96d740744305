#!/usr/bin/env python3
"""benchmarks/chart.py: a markdown table's ratio column becomes one bar per
row (speedups as they are, times inverted with --lower-is-better), in an
SVG that parses as XML.

    python3 tests/chart_test.py benchmarks/chart.py
"""
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
| not measured | - | - | - |

| 1 thread | goro | libfork | goro/libfork |
|---|---:|---:|---:|
| fib | 10 s | 4 s | 2.50× |
"""


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
        expect = ["44.00×", "0.99×", "4.40×", "0.40×"]
        assert labels == expect, f"bar labels {labels}, expected {expect}"
        assert len(bars) == 4, f"{len(bars)} bars, expected 4 (the unmeasured row has none)"
        assert "against Go" in texts and "against libfork" in texts, texts
        # goro faster: blue, to the right of 1x; slower: red, to the left.
        colours = [b.get("fill") for b in bars]
        assert colours == ["#2a7ab9", "#d0543c", "#2a7ab9", "#d0543c"], colours
    print("chart_test: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
