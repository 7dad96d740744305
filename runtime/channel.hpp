// goro::chan<T> — Go's channels.
//
//     goro::chan<int> c;          // make(chan int)         unbuffered
//     goro::chan<int> b{16};      // make(chan int, 16)     buffered
//     auto n = goro::chan<int>::nil();  // var n chan int   nil
//
//     co_await c.send(42);                      // c <- 42   (throws goro::channel_closed)
//     std::optional<int> v = co_await c.recv(); // v, ok := <-c   (nullopt once closed and drained)
//     while (auto v = co_await c.recv()) use(*v);   // for v := range c
//     bool sent = c.try_send(1);                // select { case c <- 1: default: }
//     auto r = c.try_recv();                    // r.status: received / empty / closed; r.value
//     c.close();  c.len();  c.cap();
//
// A chan<T> is a cheap copyable handle to a shared, reference-counted channel
// (Go's reference semantics): copies compare equal and talk to the same
// channel. The handle must outlive the operations awaited through it (the
// awaiter keeps a plain pointer, so an operation costs no refcount traffic).
// T must be nothrow-move-constructible (values are moved under the channel
// lock); move-only types work.
//
// ---- Design (after Go's runtime/chan.go) ----
//
// One lock per channel (chan_lock: a TTAS spinlock) guards everything: the
// ring buffer (capacity `cap`, `qcount` elements from `recvx`), the closed
// flag and two FIFO wait queues of parked waiters, `recvq` and `sendq`.
// A waiter record (detail::chan_waiter, Go's sudog) lives in the awaiter, in
// the parked task's frame: no allocation per blocking operation.
//
// Invariants (checked by debug_check(), used by the randomized stress test):
//   - at least one of sendq and recvq is empty (except for a select that
//     waits on both directions of one channel: not supported mixed in goro
//     either, the owner is the same task, see select.hpp);
//   - buffered: qcount > 0 implies recvq is empty;
//   - buffered: qcount < cap implies sendq is empty;
//   - unbuffered: qcount == 0;
//   - closed implies sendq and recvq are empty (close wakes everybody).
//
// send: lock; closed -> throw; a parked receiver -> move the value straight
// into the receiver's slot (direct hand-off, never through the buffer),
// mark it successful, unlock, detail::ready(receiver): it runs next on this
// processor (runnext) — this is what makes ping-pong cheap; room in the
// buffer -> enqueue at sendx; otherwise park on sendq with a pointer to the
// value in our frame.
// recv: lock; a parked sender -> unbuffered: move from the sender's value;
// buffered (buffer necessarily full): take the head, move the sender's value
// to the tail (FIFO across buffer and queue); wake the sender. Else take from
// the buffer; else closed -> nullopt; else park on recvq with a pointer to our
// std::optional<T> slot.
// close: lock; closed -> throw; set closed; unlink every waiter (receivers get
// nullopt, senders will throw channel_closed), unlock, ready them all.
//
// Memory model: the waker writes the value into the parked task's slot under
// the channel lock and then calls ready(); ready()'s queue hand-off orders
// those writes before the parked task resumes (the scheduler's queues are
// release/acquire). A buffered value is published by the lock.
//
// Parking protocol: await_ready() takes the lock and tries the operation; if it
// would block it returns false *with the lock held*; await_suspend() then sets
// resume_point and wait_reason, enqueues the waiter and unlocks — the unlock is
// the publication, and nothing in the frame is touched after it. An awaiter
// destroyed while parked (runtime shutdown) unlinks its waiter.
#pragma once

#include <algorithm>
#include <atomic>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "detail/chan_core.hpp"
#include "detail/foreign_entry.hpp"
#include "detail/frame_allocator.hpp"
#include "detail/goroutine.hpp"
#include "error.hpp"

namespace goro {

/// "send on closed channel": a send (plain, or a chosen select case) on a closed
/// channel, also when the channel is closed while the sender waits.
struct channel_closed : runtime_error {
    channel_closed() : runtime_error("send on closed channel") {}
};

/// "close of closed channel".
struct close_of_closed_channel : runtime_error {
    close_of_closed_channel() : runtime_error("close of closed channel") {}
};

/// "close of nil channel".
struct close_of_nil_channel : runtime_error {
    close_of_nil_channel() : runtime_error("close of nil channel") {}
};

/// "makechan: size out of range": a negative (or absurdly large) capacity.
struct bad_channel_size : runtime_error {
    bad_channel_size() : runtime_error("makechan: size out of range") {}
};

/// Outcome of chan<T>::try_recv().
enum class recv_status : std::uint8_t {
    received,  // a value was taken (try_recv_result::value holds it)
    empty,     // nothing ready (also: a nil channel); the channel is open
    closed,    // the channel is closed and drained
};

/// Result of chan<T>::try_recv(): `if (auto r = c.try_recv()) use(*r.value);`
template <typename T>
struct try_recv_result {
    recv_status status = recv_status::empty;
    std::optional<T> value;  // engaged iff status == received
    explicit operator bool() const noexcept { return status == recv_status::received; }
};

template <typename T>
class chan;

namespace detail {

template <typename T, typename F>
struct recv_case;
template <typename T, typename F>
struct send_case;

/// The channel object shared by all handles. Fields guarded by `lock` unless noted.
template <typename T>
struct chan_state {
    // Handles referencing this channel. relaxed increment (a new handle is
    // made from an existing one, which keeps the object alive); acq_rel
    // decrement so that the last owner sees every other owner's writes
    // before destroying.
    std::atomic<std::uint32_t> refs{1};
    chan_lock lock;
    bool closed = false;
    // A timer's channel (time.hpp): a one-slot buffer inside, but presented
    // as unbuffered by len() and cap(), as Go 1.23 does for timer channels.
    // Set once at creation, before the handle is shared.
    bool timer_channel = false;
    const std::size_t cap;
    // Elements in the buffer. Written under lock; read racily by len()
    // (relaxed: len() is a snapshot, as in Go).
    std::atomic<std::size_t> qcount{0};
    std::size_t sendx = 0;  // next slot to fill
    std::size_t recvx = 0;  // next slot to take
    wait_queue recvq;       // parked receivers
    wait_queue sendq;       // parked senders

    explicit chan_state(std::size_t capacity) noexcept : cap(capacity) {}

    T* buffer() noexcept {
        return reinterpret_cast<T*>(reinterpret_cast<unsigned char*>(this) + buffer_offset());
    }
    static constexpr std::size_t buffer_offset() noexcept {
        return (sizeof(chan_state) + alignof(T) - 1) / alignof(T) * alignof(T);
    }
    static constexpr bool k_pooled = alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__ &&
                                     alignof(chan_state) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__;

    static chan_state* create(std::size_t capacity) {
        constexpr std::size_t k_max = (std::size_t{1} << 40);
        if (capacity > k_max / (sizeof(T) ? sizeof(T) : 1)) throw bad_channel_size();
        const std::size_t bytes = buffer_offset() + capacity * sizeof(T);
        void* mem;
        if constexpr (k_pooled)
            mem = allocate_frame(bytes);
        else
            mem = ::operator new(bytes, std::align_val_t{std::max(alignof(T), alignof(chan_state))});
        return ::new (mem) chan_state(capacity);
    }

    void release() noexcept {
        if (refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
        // Waiters still linked belong to frames not yet destroyed (shutdown
        // destroys them in any order): detach them so that their destructors
        // do not touch this freed channel.
        for (wait_queue* q : {&recvq, &sendq})
            while (chan_waiter* w = q->head) q->unlink(w);
        std::size_t n = qcount.load(std::memory_order_relaxed);
        for (std::size_t i = 0, x = recvx; i < n; ++i, x = (x + 1 == cap ? 0 : x + 1)) buffer()[x].~T();
        const std::size_t bytes = buffer_offset() + cap * sizeof(T);
        this->~chan_state();
        if constexpr (k_pooled)
            free_frame(this, bytes);
        else
            ::operator delete(this, std::align_val_t{std::max(alignof(T), alignof(chan_state))});
    }

    // ---- operations with the lock held ----

    void push_buffer(T&& v) noexcept {
        ::new (static_cast<void*>(buffer() + sendx)) T(std::move(v));
        if (++sendx == cap) sendx = 0;
        qcount.store(qcount.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    void pop_buffer(std::optional<T>& out) noexcept {
        T* p = buffer() + recvx;
        out.emplace(std::move(*p));
        p->~T();
        if (++recvx == cap) recvx = 0;
        qcount.store(qcount.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    }

    enum class op : std::uint8_t { done, closed, block };

    /// Tries to send `v` (lock held). On `done`, *wake is the receiver to
    /// ready() after unlocking (or null). `closed`: nothing happened.
    op send_locked(T& v, goroutine** wake) noexcept {
        if (closed) return op::closed;
        if (chan_waiter* r = recvq.dequeue()) {
            // Direct hand-off: straight into the parked receiver's slot.
            static_cast<std::optional<T>*>(r->elem)->emplace(std::move(v));
            r->success = true;
            *wake = r->g;
            return op::done;
        }
        if (qcount.load(std::memory_order_relaxed) < cap) {
            push_buffer(std::move(v));
            *wake = nullptr;
            return op::done;
        }
        return op::block;
    }

    /// Tries to receive into `out` (lock held). `done`: out holds a value and
    /// *wake is a sender to ready() (or null). `closed`: closed and drained.
    op recv_locked(std::optional<T>& out, goroutine** wake) noexcept {
        if (chan_waiter* s = sendq.dequeue()) {
            T* src = static_cast<T*>(s->elem);
            if (cap == 0) {
                out.emplace(std::move(*src));
            } else {
                // The buffer is full: take the head, the sender's value goes to the tail.
                pop_buffer(out);
                push_buffer(std::move(*src));
            }
            s->success = true;
            *wake = s->g;
            return op::done;
        }
        if (qcount.load(std::memory_order_relaxed) > 0) {
            pop_buffer(out);
            *wake = nullptr;
            return op::done;
        }
        if (closed) return op::closed;
        return op::block;
    }

    /// Closes the channel; the woken waiters are chained through `next` into
    /// the returned list (ready them after unlocking). Lock held.
    chan_waiter* close_locked() {
        if (closed) {
            lock.unlock();
            throw close_of_closed_channel();
        }
        closed = true;
        chan_waiter* list = nullptr;
        // Receivers get nullopt (their slot stays empty); senders will throw.
        for (wait_queue* q : {&recvq, &sendq}) {
            while (chan_waiter* w = q->dequeue()) {
                w->success = false;
                w->next = list;
                list = w;
            }
        }
        return list;
    }

    /// Checks the invariants listed at the top of channel.hpp (lock held).
    bool invariants_hold() const noexcept {
        const std::size_t n = qcount.load(std::memory_order_relaxed);
        if (!sendq.empty() && !recvq.empty()) return false;
        if (n > cap) return false;
        if (cap == 0 && n != 0) return false;
        if (n > 0 && !recvq.empty()) return false;
        if (cap > 0 && n < cap && !sendq.empty()) return false;
        if (closed && (!sendq.empty() || !recvq.empty())) return false;
        if (cap > 0 && (sendx >= cap || recvx >= cap)) return false;
        if (cap > 0 && (recvx + n) % cap != sendx) return false;
        return true;
    }

    /// Unlinks a waiter (lock held) if it is still queued on q.
    static void unlink_if_queued(wait_queue& q, chan_waiter& w) noexcept {
        if (w.queued) q.unlink(&w);
    }
};

// Shared by send_awaiter and recv_awaiter.

// await_suspend with the channel's lock held (taken by await_ready, which
// found nothing to pair with): park the current goroutine on q with `elem`
// as its slot, and publish it by unlocking. After the unlock the frame
// belongs to the waker, so the caller sets its own "parked" flag first.
template <typename T>
void park_on(chan_state<T>* ch, wait_queue& q, chan_waiter& w, void* elem, std::coroutine_handle<> h,
             const char* reason, const char* api) {
    goroutine* self;
    try {
        self = prepare_park(h, reason, api);
    } catch (...) {
        ch->lock.unlock();
        throw;
    }
    w.g = self;
    w.elem = elem;
    q.push_back(&w);
    ch->lock.unlock();  // publication
}

// An awaiter destroyed while parked (runtime shutdown, threads stopped). If
// the waiter is no longer queued (woken but never resumed, or detached by
// the channel's destruction) the channel may already be gone: do not touch it.
template <typename T>
void unpark_on_destroy(chan_state<T>* ch, wait_queue& q, chan_waiter& w) noexcept {
    if (!w.queued) return;
    ch->lock.lock();
    chan_state<T>::unlink_if_queued(q, w);
    ch->lock.unlock();
}

template <typename T>
class [[nodiscard]] send_awaiter {
public:
    send_awaiter(chan_state<T>* ch, T&& v) noexcept : m_ch(ch), m_value(std::move(v)) {}
    send_awaiter(const send_awaiter&) = delete;
    send_awaiter& operator=(const send_awaiter&) = delete;
    ~send_awaiter() {
        if (m_parked) unpark_on_destroy(m_ch, m_ch->sendq, m_waiter);
    }

    bool await_ready() {
        if (!m_ch) return false;  // nil channel: block forever
        m_ch->lock.lock();
        goroutine* wake = nullptr;
        switch (m_ch->send_locked(m_value, &wake)) {
            case chan_state<T>::op::done:
                m_ch->lock.unlock();
                if (wake) ready(wake);
                return true;
            case chan_state<T>::op::closed:
                m_ch->lock.unlock();
                throw channel_closed();
            case chan_state<T>::op::block:
                break;
        }
        return false;  // lock held until await_suspend
    }

    void await_suspend(std::coroutine_handle<> h) {
        if (!m_ch) {
            // Parked forever, published to nobody (a deadlock if alone).
            prepare_park(h, "chan send (nil chan)", "goro::chan::send");
            return;
        }
        m_parked = true;
        park_on(m_ch, m_ch->sendq, m_waiter, &m_value, h, "chan send", "goro::chan::send");
    }

    void await_resume() {
        if (!m_parked) return;
        m_parked = false;
        if (!m_waiter.success) throw channel_closed();
    }

private:
    chan_state<T>* m_ch;
    T m_value;
    chan_waiter m_waiter;
    bool m_parked = false;
};

template <typename T>
class [[nodiscard]] recv_awaiter {
public:
    explicit recv_awaiter(chan_state<T>* ch) noexcept : m_ch(ch) {}
    recv_awaiter(const recv_awaiter&) = delete;
    recv_awaiter& operator=(const recv_awaiter&) = delete;
    ~recv_awaiter() {
        if (m_parked) unpark_on_destroy(m_ch, m_ch->recvq, m_waiter);
    }

    bool await_ready() {
        if (!m_ch) return false;
        m_ch->lock.lock();
        goroutine* wake = nullptr;
        switch (m_ch->recv_locked(m_slot, &wake)) {
            case chan_state<T>::op::done:
                m_ch->lock.unlock();
                if (wake) ready(wake);
                return true;
            case chan_state<T>::op::closed:
                m_ch->lock.unlock();
                return true;  // m_slot stays empty
            case chan_state<T>::op::block:
                break;
        }
        return false;  // lock held until await_suspend
    }

    void await_suspend(std::coroutine_handle<> h) {
        if (!m_ch) {
            prepare_park(h, "chan receive (nil chan)", "goro::chan::recv");
            return;
        }
        m_parked = true;
        park_on(m_ch, m_ch->recvq, m_waiter, &m_slot, h, "chan receive", "goro::chan::recv");
    }

    std::optional<T> await_resume() noexcept {
        m_parked = false;
        return std::move(m_slot);
    }

private:
    chan_state<T>* m_ch;
    std::optional<T> m_slot;
    chan_waiter m_waiter;
    bool m_parked = false;
};

struct no_callback {
    template <typename... A>
    void operator()(A&&...) const noexcept {}
};

}  // namespace detail

template <typename T>
class chan {
    static_assert(std::is_nothrow_move_constructible_v<T>, "goro::chan<T>: T must be nothrow-move-constructible");
    static_assert(std::is_object_v<T> && !std::is_const_v<T>, "goro::chan<T>: T must be a non-const object type");

public:
    using value_type = T;

    /// make(chan T): an unbuffered channel.
    chan() : m_state(detail::chan_state<T>::create(0)) {}

    /// make(chan T, capacity): a buffered channel (capacity 0 = unbuffered).
    explicit chan(std::size_t capacity) : m_state(detail::chan_state<T>::create(capacity)) {}

    /// make(chan T, n) with a signed size: throws goro::bad_channel_size
    /// ("makechan: size out of range") when n < 0.
    template <typename I>
        requires(std::is_integral_v<I> && std::is_signed_v<I>)
    explicit chan(I capacity) : m_state(detail::chan_state<T>::create(checked(capacity))) {}

    /// A nil channel: send and receive block forever, close throws.
    static chan nil() noexcept { return chan(nullptr); }

    chan(const chan& other) noexcept : m_state(other.m_state) {
        // relaxed: `other` keeps the state alive while we add our reference.
        if (m_state) m_state->refs.fetch_add(1, std::memory_order_relaxed);
    }
    chan(chan&& other) noexcept : m_state(std::exchange(other.m_state, nullptr)) {}
    chan& operator=(const chan& other) noexcept {
        if (this != &other) {
            chan tmp(other);
            std::swap(m_state, tmp.m_state);
        }
        return *this;
    }
    chan& operator=(chan&& other) noexcept {
        if (this != &other) {
            chan tmp(std::move(other));
            std::swap(m_state, tmp.m_state);
        }
        return *this;
    }
    ~chan() {
        if (m_state) m_state->release();
    }

    /// co_await c.send(v): c <- v. Throws goro::channel_closed if the channel
    /// is closed, also when it is closed while the sender waits.
    [[nodiscard]] detail::send_awaiter<T> send(T value) const noexcept {
        return detail::send_awaiter<T>(m_state, std::move(value));
    }

    /// co_await c.recv(): the next value, or nullopt once closed and drained.
    [[nodiscard]] detail::recv_awaiter<T> recv() const noexcept { return detail::recv_awaiter<T>(m_state); }

    /// Non-blocking send: true if the value was handed to a receiver or
    /// buffered; false when it would block (the value is then dropped) or the
    /// channel is nil. Throws goro::channel_closed on a closed channel, as a
    /// select with a send case and a default does in Go.
    bool try_send(T value) const {
        if (!m_state) return false;
        const detail::foreign_entry entry;  // may be called from any thread
        m_state->lock.lock();
        goroutine_ptr wake = nullptr;
        const auto r = m_state->send_locked(value, &wake);
        m_state->lock.unlock();
        if (r == detail::chan_state<T>::op::closed) throw channel_closed();
        if (r == detail::chan_state<T>::op::block) return false;
        if (wake) detail::ready(wake);
        return true;
    }

    /// Non-blocking receive: {received, value}, {empty} (nothing ready, or a
    /// nil channel) or {closed} (closed and drained).
    try_recv_result<T> try_recv() const {
        try_recv_result<T> out;
        if (!m_state) return out;
        const detail::foreign_entry entry;  // may be called from any thread
        m_state->lock.lock();
        goroutine_ptr wake = nullptr;
        const auto r = m_state->recv_locked(out.value, &wake);
        m_state->lock.unlock();
        if (r == detail::chan_state<T>::op::done) {
            out.status = recv_status::received;
            if (wake) detail::ready(wake);
        } else if (r == detail::chan_state<T>::op::closed) {
            out.status = recv_status::closed;
        }
        return out;
    }

    /// close(c). Throws close_of_closed_channel / close_of_nil_channel.
    /// Wakes every parked receiver (they get nullopt) and sender (they throw).
    void close() const {
        if (!m_state) throw close_of_nil_channel();
        const detail::foreign_entry entry;  // may be called from any thread
        m_state->lock.lock();
        detail::chan_waiter* woken = m_state->close_locked();  // unlocks itself if it throws
        m_state->lock.unlock();
        detail::ready_chain(woken);
    }

    /// Number of buffered elements (a snapshot); 0 for nil and for timer
    /// channels (which look unbuffered, as in Go 1.23).
    std::size_t len() const noexcept {
        if (!m_state || m_state->timer_channel) return 0;
        return m_state->qcount.load(std::memory_order_relaxed);
    }
    /// Buffer capacity; 0 for unbuffered, nil and timer channels.
    std::size_t cap() const noexcept { return m_state && !m_state->timer_channel ? m_state->cap : 0; }

    bool is_nil() const noexcept { return m_state == nullptr; }
    explicit operator bool() const noexcept { return m_state != nullptr; }
    friend bool operator==(const chan& a, const chan& b) noexcept { return a.m_state == b.m_state; }

    /// A select receive case (see select.hpp): `f` is called with the
    /// std::optional<T> received (nullopt: closed), or with no argument.
    template <typename F = detail::no_callback>
    [[nodiscard]] detail::recv_case<T, F> recv_case(F f = {}) const noexcept {
        return detail::recv_case<T, F>(m_state, std::move(f));
    }
    /// A select send case: the value is evaluated (moved into the case) when
    /// the select is built; if another case wins it is destroyed with the select.
    template <typename F = detail::no_callback>
    [[nodiscard]] detail::send_case<T, F> send_case(T value, F f = {}) const noexcept {
        return detail::send_case<T, F>(m_state, std::move(value), std::move(f));
    }

    /// Test hook: checks the channel invariants listed in channel.hpp under the lock.
    bool debug_check() const noexcept {
        if (!m_state) return true;
        m_state->lock.lock();
        const bool ok = m_state->invariants_hold();
        m_state->lock.unlock();
        return ok;
    }

    /// Internal (time.hpp): the channel of a timer or ticker. One slot inside,
    /// so the firing never blocks; len() and cap() report 0 as for an
    /// unbuffered channel.
    static chan make_timer_channel_() {
        chan c(std::size_t{1});
        c.m_state->timer_channel = true;
        return c;
    }

private:
    using goroutine_ptr = detail::goroutine*;
    explicit chan(std::nullptr_t) noexcept : m_state(nullptr) {}
    template <typename I>
    static std::size_t checked(I n) {
        if (n < 0) throw bad_channel_size();
        return static_cast<std::size_t>(n);
    }

    detail::chan_state<T>* m_state;
};

}  // namespace goro

#include "select.hpp"  // recv_case / send_case definitions
