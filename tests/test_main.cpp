#if defined(ENGRAM_TSAN)
// Under ThreadSanitizer (the tsan preset) TBB, which is not instrumented, runs on the
// calling thread only: its own threads' synchronisation is invisible to the sanitizer,
// which would report the data they hand over as races.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <tbb/global_control.h>

int main(int argc, char* argv[]) {
    const tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
    return Catch::Session().run(argc, argv);
}
#else
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#endif
