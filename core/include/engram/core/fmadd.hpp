#pragma once
// a * b + c with a rounding that does not depend on the compiler's contraction choices.
#include <cmath>

namespace engram {

// a * b + c, rounded once on targets with fused multiply-add and twice elsewhere, whatever
// the compiler's contraction choices: for values that optimised kernels and reference
// code must compute alike (GCC vectorises it).
template <class T>
inline T fmadd(T a, T b, T c) {
#if defined(__FMA__)
    return std::fma(a, b, c);
#else
    return a * b + c;
#endif
}

}  // namespace engram
