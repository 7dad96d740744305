#include "timer_heap.hpp"

#include <ctime>

namespace goro::detail {

std::int64_t monotonic_now_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void timer_heap::sift_up(std::size_t i) noexcept {
    timer_node* node = m_nodes[i];
    while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (!less(node, m_nodes[parent])) break;
        m_nodes[i] = m_nodes[parent];
        m_nodes[i]->index = static_cast<std::uint32_t>(i);
        i = parent;
    }
    m_nodes[i] = node;
    node->index = static_cast<std::uint32_t>(i);
}

void timer_heap::sift_down(std::size_t i) noexcept {
    const std::size_t n = m_nodes.size();
    timer_node* node = m_nodes[i];
    for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && less(m_nodes[child + 1], m_nodes[child])) ++child;
        if (!less(m_nodes[child], node)) break;
        m_nodes[i] = m_nodes[child];
        m_nodes[i]->index = static_cast<std::uint32_t>(i);
        i = child;
    }
    m_nodes[i] = node;
    node->index = static_cast<std::uint32_t>(i);
}

void timer_heap::add(timer_node* node) {
    std::lock_guard guard(m_lock);
    node->sequence = m_sequence++;
    m_nodes.push_back(node);
    sift_up(m_nodes.size() - 1);
    // relaxed: the node's heap pointer is only a hint of where to lock; the
    // lock itself orders everything about the node.
    node->heap.store(this, std::memory_order_relaxed);
    publish_next();
}

bool timer_heap::remove_locked(timer_node* node) noexcept {
    const std::size_t i = node->index;
    if (i == timer_node::k_not_queued || i >= m_nodes.size() || m_nodes[i] != node) return false;
    timer_node* last = m_nodes.back();
    m_nodes.pop_back();
    if (last != node) {
        m_nodes[i] = last;
        last->index = static_cast<std::uint32_t>(i);
        sift_down(i);
        sift_up(last->index);
    }
    node->index = timer_node::k_not_queued;
    node->heap.store(nullptr, std::memory_order_relaxed);
    publish_next();
    return true;
}

bool timer_heap::remove(timer_node* node) noexcept {
    timer_heap* heap = node->heap.load(std::memory_order_relaxed);
    if (!heap) return false;
    std::lock_guard guard(heap->m_lock);
    // Re-check under the lock: the node may have fired meanwhile.
    if (node->heap.load(std::memory_order_relaxed) != heap) return false;
    return heap->remove_locked(node);
}

unsigned timer_heap::run_expired(std::int64_t now, bool stealable_only) noexcept {
    unsigned fired = 0;
    for (;;) {
        timer_node* due[32];
        unsigned count = 0;
        {
            std::lock_guard guard(m_lock);
            while (count < 32 && !m_nodes.empty() && m_nodes.front()->when <= now &&
                   (!stealable_only || m_nodes.front()->stealable)) {
                timer_node* node = m_nodes.front();
                remove_locked(node);
                due[count++] = node;
            }
        }
        // Fire outside the lock: a fire function may add or remove timers.
        for (unsigned i = 0; i < count; ++i) due[i]->fire(due[i]);
        fired += count;
        if (count < 32) return fired;
    }
}

void timer_heap::clear() noexcept {
    std::lock_guard guard(m_lock);
    for (timer_node* node : m_nodes) {
        node->index = timer_node::k_not_queued;
        node->heap.store(nullptr, std::memory_order_relaxed);
    }
    m_nodes.clear();
    publish_next();
}

std::size_t timer_heap::size() const noexcept {
    std::lock_guard guard(m_lock);
    return m_nodes.size();
}

}  // namespace goro::detail
