#pragma once
// Arrays on cache-line boundaries. The step loop splits populations into parts at
// multiples of 16 neurons (balance_even); with the arrays starting on a 64-byte line,
// no cache line of neuron state or input is written by two threads.
#include <cstddef>
#include <new>
#include <vector>

namespace engram {

template <class T, std::size_t Align = 64>
struct aligned_allocator {
    using value_type = T;
    aligned_allocator() noexcept = default;
    template <class U>
    aligned_allocator(const aligned_allocator<U, Align>&) noexcept {}
    template <class U>
    struct rebind {
        using other = aligned_allocator<U, Align>;
    };
    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(Align))); }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(Align)); }
    template <class U>
    bool operator==(const aligned_allocator<U, Align>&) const noexcept { return true; }
};

template <class T>
using aligned_vector = std::vector<T, aligned_allocator<T>>;

}  // namespace engram
