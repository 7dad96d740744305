// The blocking pool: OS threads for goro::blocking calls.
//
// Threads are created on demand (when a job is queued and the idle pool
// threads are fewer than the queued jobs) up to options::max_threads - procs,
// and exit after options::blocking_idle_timeout without work. Jobs are served FIFO; at the
// cap they wait in the queue, their tasks parked. Every thread is joined:
// retired threads by the next thread creation or at shutdown, live ones at
// shutdown (after the job they are running returns; queued jobs that never
// started are dropped, and their tasks are destroyed with the others).
//
// Deadlock detection counts jobs in flight (blocking_in_flight): the counter
// is raised by the submitting (running) processor before the job is queued and
// lowered under sched_lock in the same critical section that queues the
// waiter back, so a detector holding sched_lock sees one or the other.

#include <fmt/core.h>

#include <chrono>
#include <system_error>

#include "blocking.hpp"
#include "detail/machine.hpp"
#include "detail/scheduler_state.hpp"

namespace goro::detail {
namespace {

struct pool_thread_record {
    std::thread thread;
    bool exited = false;
};

// All pool threads of the running runtime; guarded by pool.lock. Kept outside
// blocking_pool so that the header stays light.
std::vector<std::unique_ptr<pool_thread_record>>& records() {
    static std::vector<std::unique_ptr<pool_thread_record>> all;
    return all;
}

void finish_job(runtime_state& rt, blocking_job* job) noexcept {
    processor* to_wake = nullptr;
    {
        std::lock_guard guard(rt.sched_lock);
        global_push_locked(rt, job->waiter);
        // release: the job's outcome, written by this thread, is published to
        // the processor that pops the waiter (it takes sched_lock too).
        rt.blocking_in_flight.fetch_sub(1, std::memory_order_release);
        if (rt.nspinning.load(std::memory_order_seq_cst) == 0 && rt.idle_head) {
            to_wake = rt.idle_head;
            rt.idle_head = to_wake->idle_next;
            to_wake->idle_next = nullptr;
            to_wake->idle = false;
            to_wake->handed_spinning = true;
            rt.npidle.store(rt.npidle.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
            rt.nspinning.fetch_add(1, std::memory_order_seq_cst);
        }
    }
    if (to_wake && !to_wake->wake_pending.exchange(true, std::memory_order_acq_rel)) to_wake->netpoll->wake();
}

void pool_thread_main(runtime_state& rt, pool_thread_record* self) {
    blocking_pool& pool = rt.pool;
    std::unique_lock guard(pool.lock);
    for (;;) {
        if (pool.stopping) break;
        if (blocking_job* job = pool.head) {
            pool.head = job->next;
            if (!pool.head) pool.tail = nullptr;
            --pool.queued;
            guard.unlock();
            const std::int64_t traced = trace_blocking_begin(rt);
            job->run(job);
            trace_blocking_end(rt, traced);
            finish_job(rt, job);  // job (in the waiter's frame) may be gone after this
            guard.lock();
            continue;
        }
        ++pool.idle;
        const bool woke = pool.work_ready.wait_for(guard, rt.opts.blocking_idle_timeout,
                                                   [&] { return pool.stopping || pool.head; });
        --pool.idle;
        if (!woke) break;  // idle too long: retire
    }
    --pool.threads;
    self->exited = true;
    pool.thread_exited.notify_all();
}

}  // namespace

void pool_submit(runtime_state& rt, blocking_job* job) {
    blocking_pool& pool = rt.pool;
    rt.blocking_in_flight.fetch_add(1, std::memory_order_relaxed);
    std::unique_lock guard(pool.lock);
    job->next = nullptr;
    if (pool.tail)
        pool.tail->next = job;
    else
        pool.head = job;
    pool.tail = job;
    ++pool.queued;
    if (pool.queued <= pool.idle) {
        // Every queued job, this one included, has an idle thread to wake
        // (each notify unblocks a different waiter).
        pool.work_ready.notify_one();
        return;
    }
    // Spare machines (hand-off) share the cap; they leave one thread to the
    // pool while it has none (runtime/handoff.cpp).
    if (pool.max_threads == 0 || (pool.threads > 0 && thread_cap_reached_locked(rt))) {
        if (pool.max_threads == 0) {
            // No pool thread can ever exist: fail this call instead of hanging.
            pool.head = pool.tail = nullptr;
            pool.queued = 0;
            rt.blocking_in_flight.fetch_sub(1, std::memory_order_relaxed);
            throw bad_configuration(fmt::format(
                "goro::blocking: no thread is left for the blocking pool (max_threads == procs == {}); "
                "raise options::max_threads",
                rt.nprocs));
        }
        return;  // at the cap: the job waits for a thread to free up
    }
    // Join the records of threads that retired.
    auto& all = records();
    for (auto it = all.begin(); it != all.end();) {
        if ((*it)->exited) {
            (*it)->thread.join();
            it = all.erase(it);
        } else {
            ++it;
        }
    }
    auto record = std::make_unique<pool_thread_record>();
    pool_thread_record* raw = record.get();
    try {
        raw->thread = std::thread([&rt, raw] { pool_thread_main(rt, raw); });
    } catch (const std::system_error& e) {
        if (pool.threads > 0) return;  // an existing thread will get to it
        // Unqueue the job (it is the only one: no thread means none queued before).
        pool.head = pool.tail = nullptr;
        pool.queued = 0;
        rt.blocking_in_flight.fetch_sub(1, std::memory_order_relaxed);
        throw startup_error(fmt::format("goro::blocking: cannot create a pool thread: {}", e.what()));
    }
    ++pool.threads;
    all.push_back(std::move(record));
}

void pool_shutdown(runtime_state& rt) noexcept {
    blocking_pool& pool = rt.pool;
    std::unique_lock guard(pool.lock);
    pool.stopping = true;
    pool.head = pool.tail = nullptr;  // queued jobs never start
    pool.queued = 0;
    pool.work_ready.notify_all();
    pool.thread_exited.wait(guard, [&] { return pool.threads == 0; });
    auto all = std::move(records());
    records().clear();
    guard.unlock();
    for (auto& r : all) r->thread.join();
}

}  // namespace goro::detail
