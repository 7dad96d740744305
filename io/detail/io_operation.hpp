// io_operation, remote_cancel — the records a driver keeps for an operation
// in flight. Internal; shared by the io_uring and epoll drivers and io_op.hpp.
#pragma once

#include <cstdint>

namespace goro::detail {

/// An operation a driver completes. io_uring: its address is the SQE's
/// user_data and `complete` runs, on the owning processor's thread, with the
/// CQE's res and flags.
struct io_operation {
    void (*complete)(io_operation* self, int res, unsigned flags) noexcept = nullptr;
};

/// A request that the driver holding an operation cancel it: posted by any
/// thread to the driver's mailbox (io_uring's SINGLE_ISSUER forbids other
/// threads to submit the cancellation themselves; the epoll driver completes
/// its operations on its owner thread only), or used directly by the owner.
/// The node lives next to the operation it cancels (io/detail/io_op.hpp).
///
/// io_uring: it is also the io_operation of every IORING_OP_ASYNC_CANCEL made
/// from it: `complete` receives the cancellation's result (0: found and
/// cancelled; -EALREADY: running, interrupted; -ENOENT: not found, because
/// the target completed or because it was between two states in the kernel,
/// e.g. an async poll that fired and was being handed to an io-wq worker).
/// So the node, and the operation around it, must stay valid until every
/// such cancellation has completed: `in_flight` counts them.
struct remote_cancel : io_operation {
    std::uint64_t target = 0;
    remote_cancel* prev = nullptr;  // mailbox links: guarded by the mailbox lock
    remote_cancel* next = nullptr;
    bool queued = false;            // guarded by the mailbox lock
    // io_uring: ASYNC_CANCELs made from this node and not yet completed.
    // Owner thread only: incremented by cancel_local, decremented by
    // `complete`. Always 0 with the epoll driver.
    unsigned in_flight = 0;
};

/// A driver's mailbox of cancellations: a doubly linked list of nodes, under
/// the driver's lock (the caller holds it). push() returns false when the
/// node is queued already (asked twice before the owner drained it).
struct cancel_mailbox {
    remote_cancel* head = nullptr;

    bool push(remote_cancel* node) noexcept {
        if (node->queued) return false;
        node->queued = true;
        node->prev = nullptr;
        node->next = head;
        if (head) head->prev = node;
        head = node;
        return true;
    }
    /// Takes `node` out if it is queued.
    void remove(remote_cancel* node) noexcept {
        if (!node->queued) return;
        if (node->prev)
            node->prev->next = node->next;
        else
            head = node->next;
        if (node->next) node->next->prev = node->prev;
        node->prev = node->next = nullptr;
        node->queued = false;
    }
    /// Takes the first node out; null when empty.
    remote_cancel* pop() noexcept {
        remote_cancel* node = head;
        if (node) remove(node);
        return node;
    }
};

/// A file's registration with a driver (the epoll driver registers each
/// socket once). Released, with the file's lock held or from its destructor,
/// just before the descriptor is closed: after release() the driver never
/// touches the file or the descriptor again.
struct file_registration {
    virtual void release(int fd) noexcept = 0;

protected:
    ~file_registration() = default;
};

}  // namespace goro::detail
