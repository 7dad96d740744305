"""scripts/trace_view.py draws a real trace: the tennis sample's, on two
processors. The page is checked as text (a track per processor, a box per
run, the hand-off arrows), then loaded in a real headless browser (Debian's
chromium) whose screenshot must show the tracks' background and the runs'
colour. Without chromium that half is skipped, loudly (exit 77: meson's
skip), after the text checks passed.

    python3 tests/trace_view_test.py <trace_view.py> <tennis sample binary>
"""

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB or RGBA PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("not a PNG: " + path)
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            if depth != 8 or ctype not in (2, 6):
                fail(f"unexpected PNG format depth={depth} colour type={ctype}")
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 255
            elif ftype == 2:
                line[i] = (line[i] + b) & 255
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def main():
    viewer, tennis = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="goro-trace-view-")
    try:
        trace = os.path.join(tmp, "tennis.json")
        page = os.path.join(tmp, "tennis.html")
        env = dict(os.environ, GORO_TRACE=trace, GORO_MAXPROCS="2")
        subprocess.run([tennis], env=env, check=True, stdout=subprocess.DEVNULL, timeout=60)
        subprocess.run([sys.executable, viewer, trace, "-o", page, "--title", "tennis, 2 processors"],
                       check=True, timeout=60)
        text = open(page).read()
        if text.count('class="track"') != 2:
            fail("expected a track per processor (2)")
        if 'class="run"' not in text or "tennis.cpp:" not in text:
            fail("no run boxes named by the spawn site")
        if 'class="flow handoff"' not in text:
            fail("no channel hand-off arrows")
        print("page: ok (%d runs, %d hand-offs)" % (text.count('class="run"'), text.count('class="flow handoff"')))
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if not browser:
            print("SKIP: chromium is missing (Debian: apt-get install chromium): the page was not loaded in a browser")
            return 77
        shot = os.path.join(tmp, "shot.png")
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1250,200", f"--screenshot={shot}", "file://" + page],
                       check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, _, rows = png_pixels(shot)
        colours = {}
        for row in rows:
            for px in row:
                colours[px] = colours.get(px, 0) + 1
        track = colours.get((0xF4, 0xF4, 0xF4), 0)
        runs = sum(n for px, n in colours.items() if px in ((0x4E, 0x79, 0xA7), (0xF2, 0x8E, 0x2B), (0x59, 0xA1, 0x4F)))
        print(f"screenshot: {track} track pixels, {runs} run pixels")
        if track < 1000:
            fail("the screenshot shows no tracks")
        if runs < 20:
            fail("the screenshot shows no runs")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
