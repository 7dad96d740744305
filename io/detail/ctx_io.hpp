// ctx_io — an I/O awaitable bound to a goro::context: cancelling the context
// (or its deadline passing) cancels the operation on the ring, and the
// operation returns the context's error (context::err()).
//
// ctx_io<Op> wraps any awaitable request on a file (stream_io, accept_io,
// connect_io, recv_from_io, send_to_io, file_io) and adds a ctx_callback, in
// the same frame (no allocation), that is registered with the context while
// the operation may be parked:
//
//   await_ready    a context already done fails at once: no system call, not
//                  even the non-blocking fast path.
//   await_suspend  registers the callback, then starts the request (io_start).
//                  Registering first means a cancel can never be missed: one
//                  that runs before io_start publishes the request is recorded
//                  in it (ctx_res) and io_start fails the request at once.
//   callback       runs on the cancelling thread, under the context's lock:
//                  cancel_for_context() cancels the request on its ring through
//                  the cancel path close() and deadlines use (io/detail/io_op.hpp).
//   await_resume   unregisters (which waits for a callback running on another
//                  thread, so the frame outlives it) and reports the result;
//                  -ECANCELED caused by the context becomes context_errc::canceled
//                  or context_errc::deadline_exceeded.
//   ~ctx_io        unregisters if the frame is destroyed while parked (runtime
//                  shutdown: the ring was drained first, so the request is no
//                  longer on it).
//
// A context that can never be cancelled (background()) registers nothing.
#pragma once

#include <coroutine>
#include <system_error>
#include <utility>

#include "../../runtime/context.hpp"
#include "io_op.hpp"

namespace goro::detail {

/// The request outcome (k_res_ctx_*) standing for a done context's error.
[[nodiscard]] inline int context_res(std::error_code e) noexcept {
    return e == context_errc::deadline_exceeded ? k_res_ctx_deadline : k_res_ctx_canceled;
}

template <typename Op>
class [[nodiscard]] ctx_io : public Op, private ctx_callback {
public:
    /// Builds Op from args and binds it to ctx (copied: the handle keeps the
    /// context's node alive while the callback is registered with it).
    template <typename... Args>
    explicit ctx_io(const context& ctx, Args&&... args) noexcept : Op(std::forward<Args>(args)...), m_ctx(ctx) {
        ctx_callback::fn = &on_cancel;
    }
    ctx_io(const ctx_io&) = delete;
    ctx_io& operator=(const ctx_io&) = delete;
    ~ctx_io() { unregister(); }

    bool await_ready() noexcept {
        if (const std::error_code e = m_ctx.err()) {
            this->res = context_res(e);  // done already: fail without any I/O
            return true;
        }
        return false;
    }

    bool await_suspend(std::coroutine_handle<> h) {
        if (!ctx_register(m_ctx, this)) {  // done since await_ready
            this->res = context_res(m_ctx.err());
            return false;
        }
        m_registered = true;
        bool parked;
        try {
            parked = Op::await_suspend(h);
        } catch (...) {  // no runtime here: nothing was started
            unregister();
            throw;
        }
        // Parked: the frame now belongs to the completion (and the task may
        // already run elsewhere); touch nothing. Finished at once: stop
        // listening to the context before resuming.
        if (!parked) unregister();
        return parked;
    }

    decltype(auto) await_resume() {
        unregister();
        return Op::await_resume();
    }

private:
    static void on_cancel(ctx_callback* cb) noexcept {
        auto* self = static_cast<ctx_io*>(cb);
        // err() is already set: cancel() stores it before running callbacks.
        cancel_for_context(*self, context_res(self->m_ctx.err()));
    }

    // Awaiting thread only. Waits for a callback running on another thread.
    void unregister() noexcept {
        if (m_registered) {
            ctx_unregister(m_ctx, this);
            m_registered = false;
        }
    }

    context m_ctx;
    bool m_registered = false;  // the awaiting thread's own bookkeeping
};

}  // namespace goro::detail
