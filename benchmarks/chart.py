#!/usr/bin/env python3
"""Draw benchmark ratios as a self-contained SVG bar chart (no network, no
libraries beyond Python's own).

Each bar is one benchmark's speedup of goro over another runtime (> 1: goro
is better), on a log scale centred on 1x, so that 2x faster and 2x slower
are bars of the same length on either side.

    # from a markdown table (README.md's, RESULTS.md's, compare.py --markdown):
    python3 benchmarks/chart.py -o docs/bench.svg \\
        --table README.md "goro/Go" "against Go" \\
        --table README.md "goro/libfork" "against libfork" --lower-is-better

    # compare.py draws the run it just made:
    python3 benchmarks/compare.py --chart out.svg

A --table names a file, the header of the ratio column, and the panel's
title; the first markdown table in the file with that column is used. The
cells are read as "44.6x" / "44.6×" (the first figure of "3.2× / 3.0×").
--lower-is-better (after the --table it applies to) says the column is
goro's time over the other's, so the bar shows its inverse.
"""
import argparse
import html
import math
import re
import sys

RATIO = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*[x×]")


def parse_ratio(cell):
    m = RATIO.search(cell)
    return float(m.group(1)) if m else None


def read_table(path, column):
    """The (label, cell) pairs of the first markdown table with `column`."""
    lines = open(path, encoding="utf-8").read().splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            continue
        header = [c.strip() for c in line.strip().strip("|").split("|")]
        if column not in header or i + 1 >= len(lines) or not lines[i + 1].startswith("|"):
            continue
        col = header.index(column)
        rows = []
        for row in lines[i + 2:]:
            if not row.startswith("|"):
                break
            cells = [c.strip() for c in row.strip().strip("|").split("|")]
            if len(cells) > col:
                rows.append((cells[0], cells[col]))
        return rows
    raise SystemExit(f"chart.py: no markdown table with a column '{column}' in {path}")


def bars_from_table(path, column, lower_is_better=False):
    bars = []
    for label, cell in read_table(path, column):
        r = parse_ratio(cell)
        if r is None or r <= 0:
            continue
        bars.append((label, 1.0 / r if lower_is_better else r))
    return bars


def draw(panels, title):
    """panels: [(panel title, [(label, speedup)])] -> SVG text."""
    bar_h, gap, top, plot_w = 18, 6, 56, 440
    # The label column fits the longest label (about 6.3 px a character at
    # 12 px sans-serif; the labels are right-aligned against the axis).
    longest = max((len(label) for _, bars in panels for label, _ in bars), default=0)
    label_w = max(330, round(6.3 * longest) + 16)
    width = label_w + plot_w + 90
    ratios = [r for _, bars in panels for _, r in bars] or [1.0]
    span = max(1.0, max(abs(math.log10(r)) for r in ratios))
    span = math.ceil(span * 2) / 2  # half decades
    centre = label_w + plot_w / 2

    def x_of(r):
        return centre + (math.log10(r) / span) * (plot_w / 2)

    rows = sum(len(b) for _, b in panels) + len(panels)
    height = top + rows * (bar_h + gap) + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
        f"{html.escape(title)}</text>",
        f'<text x="{width / 2}" y="40" text-anchor="middle" fill="#555">'
        "speedup of goro, log scale: right of 1× goro is faster (or smaller), left slower</text>",
    ]
    # Decade grid lines.
    k = -span
    while k <= span + 1e-9:
        x = x_of(10 ** k)
        out.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 30}" '
                   f'stroke="{"#333" if abs(k) < 1e-9 else "#ddd"}"/>')
        if abs(k - round(k)) < 1e-9:  # label whole decades only
            out.append(f'<text x="{x:.1f}" y="{height - 14}" text-anchor="middle" fill="#555">'
                       f"{10 ** round(k):g}×</text>")
        k += 0.5
    y = top
    for panel_title, bars in panels:
        out.append(f'<text x="8" y="{y + bar_h - 4}" font-weight="bold">{html.escape(panel_title)}</text>')
        y += bar_h + gap
        for label, r in bars:
            x0, x1 = sorted((centre, x_of(r)))
            colour = "#2a7ab9" if r >= 1 else "#d0543c"
            out.append(f'<text x="{label_w - 8}" y="{y + bar_h - 5}" text-anchor="end">'
                       f"{html.escape(label)}</text>")
            out.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{bar_h}" '
                       f'fill="{colour}"/>')
            tx = x1 + 4 if r >= 1 else x0 - 4
            anchor = "start" if r >= 1 else "end"
            out.append(f'<text x="{tx:.1f}" y="{y + bar_h - 5}" text-anchor="{anchor}">{r:.2f}×</text>')
            y += bar_h + gap
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    ap = argparse.ArgumentParser(description="Draw benchmark ratios as an SVG bar chart.")
    ap.add_argument("-o", "--output", required=True, help="the SVG file to write")
    ap.add_argument("--title", default="goro's benchmarks")
    ap.add_argument("--table", nargs=3, action="append", default=[], metavar=("FILE", "COLUMN", "TITLE"),
                    help="a markdown table's ratio column, drawn as one panel")
    ap.add_argument("--lower-is-better", action="append_const", const=True, dest="lower_flags",
                    help="the last --table's column is goro's time over the other's")
    # Pair each --lower-is-better with the --table before it.
    panels, lower = [], set()
    tables = 0
    for a in argv:
        if a == "--table":
            tables += 1
        elif a == "--lower-is-better":
            lower.add(tables - 1)
    args = ap.parse_args(argv)
    for i, (path, column, title) in enumerate(args.table):
        panels.append((title, bars_from_table(path, column, i in lower)))
    if not panels:
        ap.error("give at least one --table")
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(draw(panels, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
