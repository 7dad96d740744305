"""Build the Go twins and run both sides of a compare.py row (compare.py
has the overview: the figure lines every benchmark prints, the rows, the
http_hello row's wrk load). Standard library only.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.path.join(HERE, "peers", "go")

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
