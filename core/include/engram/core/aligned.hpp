#pragma once
// Arrays on cache-line boundaries. The step loop splits populations into parts at
// multiples of 16 neurons (balance_even); with the arrays starting on a 64-byte line,
// no cache line of neuron state or input is written by two threads.
//
// Arrays of 32 MiB and more (the synapse rows of large networks, their ring buffers)
// start on a 2 MiB boundary and are marked for transparent huge pages (madvise; Linux's
// default THP mode is "madvise"): delivery and construction touch them at random, and
// with 4 KiB pages nearly every such access also missed the TLB.
#include <cstddef>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

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
    static constexpr std::size_t huge = std::size_t(2) << 20;  // one huge page
    static constexpr bool large(std::size_t bytes) { return bytes >= (std::size_t(32) << 20); }
    T* allocate(std::size_t n) {
        const std::size_t bytes = n * sizeof(T);
        if (!large(bytes)) return static_cast<T*>(::operator new(bytes, std::align_val_t(Align)));
        const std::size_t rounded = (bytes + huge - 1) / huge * huge;
        void* p = ::operator new(rounded, std::align_val_t(huge));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        ::madvise(p, rounded, MADV_HUGEPAGE);  // advice only: without THP the pages stay small
#endif
        return static_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t n) noexcept {
        if (large(n * sizeof(T))) ::operator delete(p, std::align_val_t(huge));
        else ::operator delete(p, std::align_val_t(Align));
    }
    template <class U>
    bool operator==(const aligned_allocator<U, Align>&) const noexcept { return true; }
};

template <class T>
using aligned_vector = std::vector<T, aligned_allocator<T>>;

}  // namespace engram
