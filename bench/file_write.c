/* What one spike-chunk write costs the kernel, without HDF5.
 *
 * A results file gets its spikes as pairs of 64 KiB chunks (8,192 timestamps and 8,192
 * node ids). This writes COUNT blocks of SIZE bytes (default 488 x 128 KiB, coba_large's
 * 5 s) to PATH with pwrite, one after another, and prints the wall and CPU time (user +
 * system, getrusage) per block, in one of four ways:
 *
 *   new        the file truncated first: every block allocates page-cache pages, as a
 *              growing results file does
 *   overwrite  the file kept: the blocks land on pages already cached by an earlier run
 *              of the same size (run `new` first), so only the copy remains
 *   direct     O_DIRECT: no page cache; the block goes to the device from this buffer
 *              (fails on file systems without it, such as tmpfs)
 *   falloc     as new, but the file's blocks are reserved first with one
 *              fallocate(FALLOC_FL_KEEP_SIZE) for all COUNT blocks (its CPU time is
 *              printed apart): the writes then find their extents allocated
 *
 * Build and run (no dependencies):
 *   gcc -O2 -o /tmp/file_write bench/file_write.c
 *   for m in new overwrite direct falloc; do /tmp/file_write bench/out/fw.bin $m; done; rm bench/out/fw.bin
 *   /tmp/file_write /dev/shm/fw.bin new        (tmpfs)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double wall_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu_now(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) + (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) * 1e-6;
}

int main(int argc, char** argv) {
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s PATH new|overwrite|direct|falloc [COUNT [SIZE_KIB]]\n", argv[0]);
        return 2;
    }
    const char* path = argv[1];
    const char* mode = argv[2];
    const long count = argc > 3 ? strtol(argv[3], NULL, 10) : 488;
    const long kib = argc > 4 ? strtol(argv[4], NULL, 10) : 128;
    int flags = O_WRONLY | O_CREAT;
    if (strcmp(mode, "new") == 0) flags |= O_TRUNC;
    else if (strcmp(mode, "direct") == 0) flags |= O_TRUNC | O_DIRECT;
    else if (strcmp(mode, "falloc") == 0) flags |= O_TRUNC;
    else if (strcmp(mode, "overwrite") != 0) {
        fprintf(stderr, "%s: mode '%s': give new, overwrite, direct or falloc\n", argv[0], mode);
        return 2;
    }
    if (count <= 0 || kib <= 0 || kib % 4) {
        fprintf(stderr, "%s: COUNT must be positive and SIZE_KIB a positive multiple of 4\n", argv[0]);
        return 2;
    }
    const size_t size = (size_t)kib * 1024;
    void* buf = NULL;
    if (posix_memalign(&buf, 4096, size)) {
        fprintf(stderr, "%s: cannot allocate %zu bytes\n", argv[0], size);
        return 1;
    }
    memset(buf, 0x5a, size);
    const int fd = open(path, flags, 0644);
    if (fd < 0) {
        fprintf(stderr, "%s: open %s (%s): %s\n", argv[0], path, mode, strerror(errno));
        return 1;
    }
    if (strcmp(mode, "falloc") == 0) {
        const double f0 = cpu_now();
        if (fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)count * (off_t)size) != 0) {
            fprintf(stderr, "%s: fallocate %s: %s\n", argv[0], path, strerror(errno));
            return 1;
        }
        printf("fallocate of %ld x %ld KiB: %.1f us CPU\n", count, kib, (cpu_now() - f0) * 1e6);
    }
    const double w0 = wall_now(), c0 = cpu_now();
    for (long i = 0; i < count; ++i) {
        if (pwrite(fd, buf, size, (off_t)i * (off_t)size) != (ssize_t)size) {
            fprintf(stderr, "%s: pwrite %s at block %ld: %s\n", argv[0], path, i, strerror(errno));
            return 1;
        }
    }
    const double w1 = wall_now(), c1 = cpu_now();
    close(fd);
    free(buf);
    printf("%-9s %ld x %ld KiB: %.1f us wall, %.1f us CPU per block\n", mode, count, kib, (w1 - w0) / (double)count * 1e6,
           (c1 - c0) / (double)count * 1e6);
    return 0;
}
