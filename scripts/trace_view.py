#!/usr/bin/env python3
"""Draw a goro execution trace (GORO_TRACE=out.json) as a self-contained
HTML page with an SVG timeline: a row per processor and blocking-pool
thread, a box per task run (coloured by spawn site, labelled when wide
enough), and the flow arrows: channel hand-offs (red), spawns (green) and
other wake-ups (grey). No network is needed to view it.

    python3 scripts/trace_view.py out.json -o out.html [--title T] [--svg out.svg]

Standard library only.
"""

import argparse
import html
import json
import sys

COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac"]
FLOW = {"handoff": "#d62728", "spawn": "#2ca02c", "ready": "#7f7f7f"}
ROW, GAP, LEFT, TOP, WIDTH = 34, 10, 90, 40, 1100


def load(path):
    with open(path) as f:
        data = json.load(f)
    return data["traceEvents"] if isinstance(data, dict) else data


def render(events, title):
    names = {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            names[e["tid"]] = e["args"]["name"]
    tracks = sorted(names)
    row_of = {tid: i for i, tid in enumerate(tracks)}
    slices = [e for e in events if e.get("ph") == "X" and e.get("tid") in row_of]
    flows = {}
    for e in events:
        if e.get("ph") in ("s", "f"):
            flows.setdefault(e["id"], {})[e["ph"]] = e
    if slices:
        t0 = min(e["ts"] for e in slices)
        t1 = max(e["ts"] + e["dur"] for e in slices)
    else:
        t0, t1 = 0.0, 1.0
    span = max(t1 - t0, 1e-3)

    def x(ts):
        return LEFT + (ts - t0) / span * WIDTH

    def y(tid):
        return TOP + row_of[tid] * (ROW + GAP)

    site_colour = {}
    out = []
    height = TOP + len(tracks) * (ROW + GAP) + 40
    out.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{LEFT + WIDTH + 20}" height="{height}" '
               f'font-family="sans-serif" font-size="11">')
    out.append('<defs>' + "".join(
        f'<marker id="arrow-{k}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
        f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{c}"/></marker>'
        for k, c in FLOW.items()) + '</defs>')
    out.append(f'<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{html.escape(title)}</text>')
    for tid in tracks:
        yy = y(tid)
        out.append(f'<rect class="track" x="{LEFT}" y="{yy}" width="{WIDTH}" height="{ROW}" fill="#f4f4f4"/>')
        out.append(f'<text x="8" y="{yy + ROW / 2 + 4}" font-weight="bold">{html.escape(names[tid])}</text>')
    for e in slices:
        site = e["name"]
        colour = "#9e9e9e" if e.get("cat") == "blocking" else site_colour.setdefault(
            site, COLOURS[len(site_colour) % len(COLOURS)])
        xx, w = x(e["ts"]), max(e["dur"] / span * WIDTH, 0.8)
        yy = y(e["tid"])
        tip = html.escape(f'{site} (goroutine {e.get("args", {}).get("g", "?")}), {e["dur"]:.1f} us')
        out.append(f'<rect class="run" x="{xx:.2f}" y="{yy + 3}" width="{w:.2f}" height="{ROW - 6}" '
                   f'fill="{colour}"><title>{tip}</title></rect>')
        if w > 60:
            label = html.escape(site if len(site) * 6 < w else site[: max(int(w / 6) - 1, 1)])
            out.append(f'<text x="{xx + 3:.2f}" y="{yy + ROW / 2 + 4}" fill="white" '
                       f'pointer-events="none">{label}</text>')
    for pair in flows.values():
        s, f = pair.get("s"), pair.get("f")
        if not s or not f or s["tid"] not in row_of or f["tid"] not in row_of:
            continue
        colour = FLOW.get(s.get("cat"), "#7f7f7f")
        y1 = y(s["tid"]) + ROW / 2
        y2 = y(f["tid"]) + ROW / 2
        if s["tid"] == f["tid"]:
            y1, y2 = y1 - ROW / 2 + 2, y2 - ROW / 2 + 2
        out.append(f'<line class="flow {s.get("cat")}" x1="{x(s["ts"]):.2f}" y1="{y1:.1f}" x2="{x(f["ts"]):.2f}" '
                   f'y2="{y2:.1f}" stroke="{colour}" stroke-width="1.2" '
                   f'marker-end="url(#arrow-{s.get("cat") if s.get("cat") in FLOW else "ready"})"/>')
    ly = height - 16
    lx = LEFT
    for cat, label in (("handoff", "channel hand-off"), ("spawn", "spawn"), ("ready", "wake-up")):
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 24}" y2="{ly}" stroke="{FLOW[cat]}" stroke-width="2"/>'
                   f'<text x="{lx + 30}" y="{ly + 4}">{label}</text>')
        lx += 150
    out.append(f'<text x="{LEFT + WIDTH}" y="{ly + 4}" text-anchor="end">{span:.0f} us</text>')
    out.append('</svg>')
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("-o", "--output", required=True, help="the HTML page to write")
    ap.add_argument("--svg", help="also write the SVG alone")
    ap.add_argument("--title", default=None)
    args = ap.parse_args()
    svg = render(load(args.trace), args.title or args.trace)
    with open(args.output, "w") as f:
        f.write('<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>goro trace</title></head>\n'
                '<body style="margin:8px;background:white">\n' + svg + '\n</body></html>\n')
    if args.svg:
        with open(args.svg, "w") as f:
            f.write(svg + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
