// goro::result<T> — the value-or-error_code outcome of an I/O operation.
//
// The shape follows C++23 std::expected<T, std::error_code>: `if (r)` tests
// success, `*r` / `r->` read the value, `r.error()` gives the error code, and
// `r.value()` returns the value or throws std::system_error for callers who
// prefer exceptions. result<void> carries only the error code.
#pragma once

#include <cassert>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace goro {

template <typename T>
class [[nodiscard]] result {
public:
    using value_type = T;

    template <typename U = T>
        requires std::is_constructible_v<T, U&&> && (!std::is_same_v<std::remove_cvref_t<U>, result>) &&
                 (!std::is_same_v<std::remove_cvref_t<U>, std::error_code>)
    result(U&& value) : m_state(std::in_place_index<0>, std::forward<U>(value)) {}

    result(std::error_code error) : m_state(std::in_place_index<1>, error) {
        assert(error && "a goro::result error must be a non-zero error_code");
    }

    [[nodiscard]] bool has_value() const noexcept { return m_state.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    [[nodiscard]] std::error_code error() const noexcept {
        return has_value() ? std::error_code{} : std::get<1>(m_state);
    }

    T& value() & { check(); return std::get<0>(m_state); }
    const T& value() const& { check(); return std::get<0>(m_state); }
    T&& value() && { check(); return std::get<0>(std::move(m_state)); }

    template <typename U>
    T value_or(U&& fallback) const& {
        return has_value() ? std::get<0>(m_state) : static_cast<T>(std::forward<U>(fallback));
    }

    T& operator*() & noexcept { return *std::get_if<0>(&m_state); }
    const T& operator*() const& noexcept { return *std::get_if<0>(&m_state); }
    T&& operator*() && noexcept { return std::move(*std::get_if<0>(&m_state)); }
    T* operator->() noexcept { return std::get_if<0>(&m_state); }
    const T* operator->() const noexcept { return std::get_if<0>(&m_state); }

private:
    void check() const {
        if (!has_value()) throw std::system_error(std::get<1>(m_state));
    }
    std::variant<T, std::error_code> m_state;
};

template <>
class [[nodiscard]] result<void> {
public:
    using value_type = void;
    result() noexcept = default;
    result(std::error_code error) noexcept : m_error(error) {}

    [[nodiscard]] bool has_value() const noexcept { return !m_error; }
    explicit operator bool() const noexcept { return has_value(); }
    [[nodiscard]] std::error_code error() const noexcept { return m_error; }
    void value() const {
        if (m_error) throw std::system_error(m_error);
    }

private:
    std::error_code m_error;
};

}  // namespace goro
