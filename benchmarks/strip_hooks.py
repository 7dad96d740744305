#!/usr/bin/env python3
"""Strips goro's observability hooks (metrics counters, latency sampling,
trace checks, the dump's wait clock) from a checkout, for an A/B of their
cost when nobody asks: python3 benchmarks/strip_hooks.py <checkout>."""
import re, sys
root = sys.argv[1]
p = root + '/runtime/detail/processor_stats.hpp'
s = open(p).read()
def empty_body(s, sig):
    i = s.index(sig)
    j = s.index('{', i)
    depth = 0
    k = j
    while True:
        if s[k] == '{': depth += 1
        elif s[k] == '}':
            depth -= 1
            if depth == 0: break
        k += 1
    return s[:j] + '{\n}' + s[k+1:]
for sig in ['inline void stat_add(', 'inline void note_ready(', 'inline void note_run(',
            'inline void note_run_end(', 'inline void note_created(', 'inline void note_steal(']:
    s = empty_body(s, sig)
open(p, 'w').write(s)
p = root + '/runtime/detail/goroutine.hpp'
s = open(p).read()
old = """    const std::uint32_t word = g_park_word.load(std::memory_order_relaxed);
    g->wait_since_ms.store(word, std::memory_order_relaxed);
    g->wait_reason.store(reason, std::memory_order_relaxed);
    if (word & k_park_traced) [[unlikely]]
        trace_park(g, reason);"""
# Since issue 15's fourth cut note_waiting returns g, and its trace call
# takes the reason only.
new = """    const std::uint32_t word = g_park_word.load(std::memory_order_relaxed);
    g->wait_since_ms.store(word, std::memory_order_relaxed);
    g->wait_reason.store(reason, std::memory_order_relaxed);
    if (word & k_park_traced) [[unlikely]] {
        goroutine* current = trace_park(reason);
        GORO_ASSERT(current == g);
        return current;
    }
    return g;"""
if old in s:
    s = s.replace(old, "    g->wait_reason.store(reason, std::memory_order_relaxed);")
else:
    assert new in s
    s = s.replace(new, "    g->wait_reason.store(reason, std::memory_order_relaxed);\n    return g;")
open(p, 'w').write(s)
# The run loop's one trace test (when a thread takes a processor).
p = root + '/runtime/scheduler.cpp'
s = open(p).read()
old = """    if (p.stats.trace) [[unlikely]]
        return worker_loop_traced(p, m);
"""
assert old in s
s = s.replace(old, "")
open(p, 'w').write(s)
# The readies' countdown, inlined in both branches of ready_with
# (goroutine_lifecycle.cpp).
p = root + '/runtime/goroutine_lifecycle.cpp'
s = open(p).read()
old = "        if (Note && --p->stats.ready_countdown == 0) [[unlikely]] {"
assert s.count(old) == 1
s = s.replace(old, "        if (false) {")
old = "    if (Note && --p->stats.ready_countdown == 0) [[unlikely]] {"
assert s.count(old) == 1
s = s.replace(old, "    if (false) {")
open(p, 'w').write(s)
print("stripped")
