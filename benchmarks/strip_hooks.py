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
# note_ready and note_created are gone since the ready hooks (issue 15's
# fifth cut: the start's trace test is in start_on, below); older
# checkouts have them.
for sig in ['inline void stat_add(', 'inline void note_ready(', 'inline void note_run(',
            'inline void note_run_end(', 'inline void note_created(', 'inline void note_steal(']:
    if sig in ('inline void note_ready(', 'inline void note_created(') and sig not in s:
        continue
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
# The readies' hooks (goroutine_lifecycle.cpp): before issue 15's fifth
# cut, a countdown inlined in both branches of ready_with; since, the
# hook mark's branches in ready() and ready_local() (stripped: the code as
# it was without hooks).
p = root + '/runtime/goroutine_lifecycle.cpp'
s = open(p).read()
old = "        if (Note && --p->stats.ready_countdown == 0) [[unlikely]] {"
if old in s:
    assert s.count(old) == 1
    s = s.replace(old, "        if (false) {")
    old = "    if (Note && --p->stats.ready_countdown == 0) [[unlikely]] {"
    assert s.count(old) == 1
    s = s.replace(old, "    if (false) {")
else:
    old = """    if (p.stats.trace) [[unlikely]] {
        start_traced(g, p);
        return;
    }
"""
    assert s.count(old) == 1
    s = s.replace(old, "")
    old = "        if (displaced) ready_displacing(p, g, displaced);"
    assert s.count(old) == 1
    s = s.replace(old, """        if (displaced) {
            push_local(p, displaced);
            wakep(p.rt);
        }""")
    old = """        if (p.netpoll_readied != k_netpoll_idle) [[unlikely]] {
            ready_local_counted(p, g);
            return;
        }
        push_local(p, g);
        wakep(p.rt);"""
    assert s.count(old) == 1
    s = s.replace(old, """        push_local(p, g);
        if (p.netpoll_readied != k_netpoll_idle) [[unlikely]] {
            ++p.netpoll_readied;
            return;
        }
        wakep(p.rt);""")
    # The loop's arming, in its fairness branch, and the runnext test that
    # reads the hook mark as empty (scheduler.cpp).
    p2 = root + '/runtime/scheduler.cpp'
    s2 = open(p2).read()
    old = """            // The latency sample's arming (arm_ready_hooks), in this branch
            // so that its count costs the rounds between nothing.
            if (--p.stats.intervals_to_sample == 0) [[unlikely]] {
                if (goroutine* g = arm_ready_hooks(p)) {
                    --p.tick;  // the interval's checks below run next round
                    inherit = true;  // taken from runnext, in the current slice
                    return g;
                }
            }
"""
    # Since the fairness tick counts runs (processor::runs, which is also
    # goro::metrics' runs: no counter of its own to strip), the arm leaves
    # fairness_due as it is instead of taking one off the tick.
    new = """            // The latency sample's arming (arm_ready_hooks), in this branch
            // so that its count costs the rounds between nothing.
            if (--p.stats.intervals_to_sample == 0) [[unlikely]] {
                if (goroutine* g = arm_ready_hooks(p)) {
                    // fairness_due left as it is: the interval's checks
                    // below run next round.
                    inherit = true;  // taken from runnext, in the current slice
                    return g;
                }
            }
"""
    if old not in s2:
        old = new
    assert s2.count(old) == 1
    s2 = s2.replace(old, "")
    old = "        if (runnext_holds(p.runnext.load(std::memory_order_relaxed))) {"
    assert s2.count(old) == 1
    s2 = s2.replace(old, "        if (p.runnext.load(std::memory_order_relaxed)) {")
    open(p2, 'w').write(s2)
open(p, 'w').write(s)
print("stripped")
