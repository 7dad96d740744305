// intrusive_list — a doubly linked list threaded through its elements' own
// prev/next fields: no allocation, O(1) unlink of any element. For the
// drivers' lists (epoll's registrations, an io_uring ring's operations in
// flight). The list is its head pointer; the fields are named at each call
// (so that the element's type may be incomplete where the head is
// declared). Not thread-safe: the owner's lock or thread guards it.
//
//     list_push_front<&io_request::ring_prev, &io_request::ring_next>(m_requests, req);
#pragma once

namespace goro::detail {

template <auto Prev, auto Next, typename T>
void list_push_front(T*& head, T& x) noexcept {
    x.*Prev = nullptr;
    x.*Next = head;
    if (head) head->*Prev = &x;
    head = &x;
}

/// x must be in the list. Leaves its links null.
template <auto Prev, auto Next, typename T>
void list_erase(T*& head, T& x) noexcept {
    if (x.*Prev)
        (x.*Prev)->*Next = x.*Next;
    else
        head = x.*Next;
    if (x.*Next) (x.*Next)->*Prev = x.*Prev;
    x.*Prev = nullptr;
    x.*Next = nullptr;
}

}  // namespace goro::detail
