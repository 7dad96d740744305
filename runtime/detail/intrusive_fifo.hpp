// intrusive_fifo — the doubly linked FIFO behind every queue of parked tasks:
// channel wait queues (chan_core.hpp) and the sync primitives' wait lists
// (wait_list.hpp). Internal.
//
// Node is a waiter record living in the frame of the parked task (no
// allocation per blocking operation) with `next`, `prev` and `queued` fields.
// The list never owns its nodes. Every operation, and every field it touches,
// is guarded by the lock of the primitive that owns the list; `queued` lets a
// waiter that wakes (or is destroyed) learn under that lock whether it is
// still linked, so it can unlink itself exactly once.
#pragma once

namespace goro::detail {

template <typename Node>
struct intrusive_fifo {
    Node* head = nullptr;
    Node* tail = nullptr;

    bool empty() const noexcept { return head == nullptr; }

    void push_back(Node* w) noexcept {
        w->next = nullptr;
        w->prev = tail;
        if (tail)
            tail->next = w;
        else
            head = w;
        tail = w;
        w->queued = true;
    }

    void push_front(Node* w) noexcept {
        w->prev = nullptr;
        w->next = head;
        if (head)
            head->prev = w;
        else
            tail = w;
        head = w;
        w->queued = true;
    }

    /// w must be linked into this list.
    void unlink(Node* w) noexcept {
        if (w->prev)
            w->prev->next = w->next;
        else
            head = w->next;
        if (w->next)
            w->next->prev = w->prev;
        else
            tail = w->prev;
        w->next = w->prev = nullptr;
        w->queued = false;
    }

    Node* pop_front() noexcept {
        Node* w = head;
        if (w) unlink(w);
        return w;
    }
};

}  // namespace goro::detail
