/* What stepping two threads in lockstep costs on this machine, with no simulator.
 *
 * engram's two workers meet every step (a step of coba_large is ~13 us of work per
 * worker; a worker may be at most about a step ahead of the other). On a shared VM any
 * stall of either vCPU (a timer interrupt, a slower spell, the other tenant of a core)
 * holds up both, where two independent processes each lose only their own. This program
 * measures that tax on a synthetic step that looks like a worker's: a streaming update
 * of its half of the neurons' state and a scatter of inputs into random targets (the
 * delivery), calibrated to about the same time per step as coba_large.
 *
 * Each round runs, one after another:
 *   1t        one thread does both halves' work every step (the 1-thread run)
 *   lock1     two threads, each its half; a thread starts step n only once the other
 *             has finished step n-1 (a barrier every step)
 *   lock2     the same, but a thread may run one step further ahead (n-2), as engram's
 *             pipelined loop lets its workers
 *   lock2 w   lock2, where one thread also appends a results file's chunk pair (two
 *             pwrites of 64 KiB) to a new file every 107 steps (8,192 spikes of coba_large,
 *             whose two workers write their chunks so; a 1-thread engram run writes from
 *             a thread of its own on the idle core), in $LOCKSTEP_DIR (default .)
 *   pipe      lock2, where a thread's scatter of step n also waits until the other has
 *             updated step n-1, as an engram worker's delivery of step n-1's spikes waits
 *             for every part's update of that step (between lock1 and lock2)
 *   free      two threads, each doing its half with no waiting at all (the same work as
 *             lock1/lock2 without the synchronisation)
 *   1t x2     two threads, each doing the whole 1t work on its own copy, at once (as
 *             bench/threads.sh's "two 1-thread processes": the ceiling)
 * and the summary prints the medians over the rounds, each 2-thread form's speed-up
 * over 1t (median of the rounds' ratios, so a slow minute moves both sides) and its share
 * of the ceiling (2 x 1t / 1t x2).
 *
 * Build and run (no dependencies):
 *   gcc -O3 -march=native -pthread -o /tmp/lockstep bench/lockstep.c
 *   /tmp/lockstep [ROUNDS [STEPS [NEURONS [SCATTER]]]]
 *   /tmp/lockstep --form 1t|lock1|lock2|lock2w|pipe|free|x2 [STEPS [NEURONS [SCATTER]]]
 *   /tmp/lockstep --gaps [SECONDS]
 *   /tmp/lockstep --pingpong [TRIPS]
 * The second form runs one form once and prints "loop S s" (for x2 the mean of the two
 * threads): bench/threads.sh runs 1t, lock2 and lock2w so in every repeat, beside engram.
 * --gaps reads the time-stamp counter in a tight loop on one CPU, then on both at once,
 * for SECONDS (default 5) each, and prints how often and for how long each thread did not
 * run: what the host takes from a vCPU (two threads in lockstep lose both vCPUs' gaps).
 * Defaults: 7 rounds of 50,000 steps (coba_large's 5 s at dt 0.1 ms), 40,000 neurons,
 * 12,000 scattered inputs per step. On the 2-core AVX2 VM of the twenty-fourth session a
 * 1t step then took ~23 us (update ~14, scatter ~9), where coba_large's 1-thread step
 * took ~25 us (update ~15, delivery ~10, by `engram run --profile`).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

typedef struct {
    float *v, *g, *in;      /* state of this half: streamed every step */
    uint32_t* idx;          /* scatter targets, read in order (like CSR rows) */
    size_t n, m, pos;       /* neurons, targets in idx, read position */
    size_t per_step;        /* scattered inputs per step */
} half_t;

static size_t g_steps = 50000;
static const size_t g_write_every = 107;         /* steps per chunk pair (8,192 of coba_large's ~77 spikes a step) */
static char g_block[2][65536];             /* the two 64 KiB chunks written each time */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void* xalloc(size_t bytes) {
    void* p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) {
        fprintf(stderr, "lockstep: out of memory\n");
        exit(1);
    }
    memset(p, 0, bytes);
    return p;
}

static void half_init(half_t* h, size_t n, size_t per_step, uint64_t seed) {
    h->n = n;
    h->per_step = per_step;
    h->v = xalloc(n * sizeof(float));
    h->g = xalloc(n * sizeof(float));
    h->in = xalloc(n * sizeof(float));
    h->m = per_step * 128; /* 3 MB of targets per half at the defaults, as a coba_large part holds 3.2 MB of rows */
    h->idx = xalloc(h->m * sizeof(uint32_t));
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < h->m; ++i) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        h->idx[i] = (uint32_t)(x % n);
    }
    for (size_t i = 0; i < n; ++i) h->v[i] = -60.0f + (float)(i % 100) * 0.1f;
    h->pos = 0;
}

/* One step of one half: the update (decay, integrate, threshold count), then the scatter. */
static unsigned half_update(half_t* h) {
    float* restrict v = h->v;
    float* restrict g = h->g;
    float* restrict in = h->in;
    unsigned spikes = 0;
    for (size_t i = 0; i < h->n; ++i) {
        g[i] = g[i] * 0.98f + in[i];
        in[i] = 0.0f;
        /* exponential Euler towards the equilibrium of the leak (-60 mV) and the synapse
         * (0 mV), its exponential by a polynomial, as a conductance-based LIF update */
        const float gl = 0.005f, gs = 0.0001f * g[i];
        const float x = -(gl + gs);
        const float e = 1.0f + x * (1.0f + x * (0.5f + x * (1.0f / 6 + x * (1.0f / 24 + x * (1.0f / 120)))));
        const float vinf = (gl * -60.0f + gs * 0.0f) / (gl + gs);
        const float nv = vinf + (v[i] - vinf) * e;
        const int s = nv > -50.0f;
        spikes += (unsigned)s;
        v[i] = s ? -60.0f : nv;
    }
    return spikes;
}
static void half_scatter(half_t* h) {
    float* restrict in = h->in;
    const uint32_t* idx = h->idx + h->pos;
    for (size_t j = 0; j < h->per_step; ++j) in[idx[j]] += 0.01f;
    h->pos += h->per_step;
    if (h->pos + h->per_step > h->m) h->pos = 0;
}
static unsigned half_step(half_t* h) {
    const unsigned spikes = half_update(h);
    half_scatter(h);
    return spikes;
}

typedef struct {
    _Alignas(64) atomic_ulong done;     /* steps finished */
    _Alignas(64) atomic_ulong updated;  /* steps whose update is done (PIPE) */
} counter_t;

typedef struct {
    int id, mode, slack;
    int fd;           /* >= 0: after every g_write_every-th step, write a chunk pair here */
    half_t* mine[2];  /* halves this thread steps each step */
    int count;
    counter_t* c;     /* [2] */
    double seconds;
    unsigned sink;    /* the spikes counted, kept so that no update can be left out */
    off_t written;
} job_t;

enum { SOLO, LOCK, PIPE, FREE };

/* Waits until *c >= need (pause, then yield), keeping what it read in *seen. */
static void wait_for(atomic_ulong* c, unsigned long need, unsigned long* seen) {
    unsigned spins = 0;
    while (*seen < need) {
        *seen = atomic_load_explicit(c, memory_order_acquire);
        if (*seen >= need) break;
        if (++spins < 4096) _mm_pause(); else sched_yield();
    }
}

static void* worker(void* p) {
    job_t* j = p;
    const double t0 = now();
    unsigned sink = 0;
    const int other = 1 - j->id;
    unsigned long seen = 0, seen_updated = 0;
    for (size_t n = 1; n <= g_steps; ++n) {
        if (j->mode == LOCK || j->mode == PIPE) {
            /* start step n once the other has finished step n - slack */
            const unsigned long need = n > (size_t)j->slack ? n - (size_t)j->slack : 0;
            wait_for(&j->c[other].done, need, &seen);
        }
        if (j->mode == PIPE) {
            /* engram's pipelined workers: the delivery of step n takes the spikes of step
             * n-1 of every part, so it waits for the other's update of n-1 */
            sink += half_update(j->mine[0]);
            atomic_store_explicit(&j->c[j->id].updated, n, memory_order_release);
            wait_for(&j->c[other].updated, n - 1, &seen_updated);
            half_scatter(j->mine[0]);
        } else {
            for (int k = 0; k < j->count; ++k) sink += half_step(j->mine[k]);
        }
        if (j->fd >= 0 && n % g_write_every == 0) {
            /* appended to a growing file, as a results file's chunks are (two pwrites) */
            for (int b = 0; b < 2; ++b) {
                if (pwrite(j->fd, g_block[b], sizeof g_block[b], j->written) != (ssize_t)sizeof g_block[b]) {
                    perror("lockstep: pwrite");
                    exit(1);
                }
                j->written += (off_t)sizeof g_block[b];
            }
        }
        if (j->mode == LOCK || j->mode == PIPE) atomic_store_explicit(&j->c[j->id].done, n, memory_order_release);
    }
    j->seconds = now() - t0;
    j->sink = sink;
    return NULL;
}

/* Runs `threads` jobs at once; returns the slowest one's time (the 2-thread run's
 * wall time) or, for independent copies, the mean (as threads.sh averages two processes). */
static double run(job_t* jobs, int threads, int mean) {
    counter_t c[2];
    for (int i = 0; i < 2; ++i) {
        atomic_init(&c[i].done, 0);
        atomic_init(&c[i].updated, 0);
    }
    pthread_t t[2];
    for (int i = 0; i < threads; ++i) {
        jobs[i].c = c;
        if (pthread_create(&t[i], NULL, worker, &jobs[i]) != 0) {
            fprintf(stderr, "lockstep: cannot start a thread\n");
            exit(1);
        }
    }
    for (int i = 0; i < threads; ++i) pthread_join(t[i], NULL);
    double worst = 0.0, sum = 0.0;
    for (int i = 0; i < threads; ++i) {
        if (jobs[i].seconds > worst) worst = jobs[i].seconds;
        sum += jobs[i].seconds;
    }
    return mean ? sum / threads : worst;
}

static int cmp(const void* a, const void* b) {
    const double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}
static double median(double* x, int n) {
    double* s = malloc((size_t)n * sizeof(double));
    memcpy(s, x, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), cmp);
    const double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

enum { K = 7, FREE_FORM = 5, CEILING = 6 };
static const char* const name[K] = {"1t", "lock1", "lock2", "lock2 w", "pipe", "free", "1t x2"};
static const char* const flag[K] = {"1t", "lock1", "lock2", "lock2w", "pipe", "free", "x2"};

/* The file that "lock2 w" appends its chunks to: new for each run, removed after it. */
static int open_chunk_file(char* path, size_t size) {
    const char* dir = getenv("LOCKSTEP_DIR");
    snprintf(path, size, "%s/lockstep.%ld.bin", dir && *dir ? dir : ".", (long)getpid());
    const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    return fd;
}

/* One run of form k on the halves a, b (and a2, b2 for the ceiling's second thread). */
static double run_form(int k, half_t* a, half_t* b, half_t* a2, half_t* b2) {
    job_t j[2] = {{.id = 0, .fd = -1}, {.id = 1, .fd = -1}};
    if (k == 0 || k == CEILING) {  /* one thread both halves; the ceiling: two such on their own copies */
        j[0].mode = j[1].mode = SOLO;
        j[0].mine[0] = a, j[0].mine[1] = b, j[0].count = 2;
        j[1].mine[0] = a2, j[1].mine[1] = b2, j[1].count = 2;
        return k == 0 ? run(j, 1, 0) : run(j, 2, 1);
    }
    j[0].mine[0] = a, j[1].mine[0] = b;
    j[0].count = j[1].count = 1;
    j[0].mode = j[1].mode = k == FREE_FORM ? FREE : k == 4 ? PIPE : LOCK;
    j[0].slack = j[1].slack = k == 1 ? 1 : 2;
    char path[4096];
    if (k == 3) j[0].fd = open_chunk_file(path, sizeof path);
    const double t = run(j, 2, 0);
    if (k == 3) {
        close(j[0].fd);
        unlink(path);
    }
    return t;
}

/* --gaps: what the host takes from each vCPU. Threads (1 or 2, each on its own CPU) read
 * the time-stamp counter in a tight loop for `seconds` and sort every gap between two reads
 * longer than 0.2 us by length: time the thread did not run (an interrupt, an exit to the
 * hypervisor, another task). */
typedef struct {
    int cpu;
    double seconds, ghz;
    unsigned long long count[8];
    double lost[8];
} gaps_t;

static void* gaps_thread(void* p) {
    gaps_t* g = p;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(g->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    static const double bound_ns[8] = {1e3, 5e3, 2e4, 1e5, 1e6, 1e7, 1e8, 1e300};
    const unsigned long long end = __rdtsc() + (unsigned long long)(g->seconds * g->ghz * 1e9);
    unsigned long long last = __rdtsc();
    for (;;) {
        const unsigned long long t = __rdtsc();
        const double ns = (double)(t - last) / g->ghz;
        if (ns > 200) {
            int b = 0;
            while (ns > bound_ns[b]) ++b;
            ++g->count[b];
            g->lost[b] += ns;
        }
        last = t;
        if (t > end) break;
    }
    return NULL;
}

static int gaps(double seconds) {
    /* the counter's rate against the monotonic clock */
    const double w0 = now();
    const unsigned long long c0 = __rdtsc();
    while (now() - w0 < 0.2) {}
    const double ghz = (double)(__rdtsc() - c0) / ((now() - w0) * 1e9);
    static const char* const label[8] = {"0.2-1 us", "1-5 us", "5-20 us", "20-100 us", "0.1-1 ms", "1-10 ms", "10-100 ms", "over 0.1 s"};
    printf("gaps in a %.1f s read loop of the time-stamp counter (%.2f GHz), per CPU: count (time lost)\n", seconds, ghz);
    for (int threads = 1; threads <= 2; ++threads) {
        gaps_t g[2];
        memset(g, 0, sizeof g);
        pthread_t t[2];
        for (int i = 0; i < threads; ++i) {
            g[i].cpu = i, g[i].seconds = seconds, g[i].ghz = ghz;
            if (pthread_create(&t[i], NULL, gaps_thread, &g[i]) != 0) {
                fprintf(stderr, "lockstep: cannot start a thread\n");
                return 1;
            }
        }
        for (int i = 0; i < threads; ++i) pthread_join(t[i], NULL);
        for (int i = 0; i < threads; ++i) {
            double total = 0.0;
            printf("%d thread(s), CPU %d:", threads, i);
            for (int b = 0; b < 8; ++b) {
                if (g[i].count[b]) printf("  %s %llu (%.1f ms)", label[b], g[i].count[b], g[i].lost[b] * 1e-6);
                total += g[i].lost[b];
            }
            printf("  -> %.1f ms, %.2f %%\n", total * 1e-6, 100.0 * total * 1e-9 / seconds);
        }
    }
    return 0;
}

/* --pingpong: how far apart the host has put the two vCPUs. Two threads, one pinned to each
 * CPU, hand a cache line back and forth `trips` times; each trip moves the line between
 * the cores twice. On the 2-core EPYC VMs a round trip took 60-200 ns in most minutes and
 * 340-650 ns in others, and coba_large's two workers then took about 1.25 x (update) and
 * 2.2 x (delivery) as long (docs/performance.md, "Twenty-ninth session"). */
static _Atomic unsigned long g_ball __attribute__((aligned(64)));
typedef struct {
    int cpu;
    unsigned long trips;
} pong_t;

static void* pong_thread(void* p) {
    const pong_t* q = p;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(q->cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    for (unsigned long i = 0; i < q->trips; ++i) {  /* odd values are this thread's to answer */
        while (atomic_load_explicit(&g_ball, memory_order_acquire) != 2 * i + 1) _mm_pause();
        atomic_store_explicit(&g_ball, 2 * i + 2, memory_order_release);
    }
    return 0;
}

static int pingpong(unsigned long trips) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    atomic_store(&g_ball, 0);
    pong_t q = {1, trips};
    pthread_t t;
    if (pthread_create(&t, NULL, pong_thread, &q)) {
        fprintf(stderr, "lockstep: cannot start a thread\n");
        return 1;
    }
    const double t0 = now();
    for (unsigned long i = 0; i < trips; ++i) {
        atomic_store_explicit(&g_ball, 2 * i + 1, memory_order_release);
        while (atomic_load_explicit(&g_ball, memory_order_acquire) != 2 * i + 2) _mm_pause();
    }
    const double t1 = now();
    pthread_join(t, NULL);
    printf("pingpong: %lu round trips between CPU 0 and CPU 1: %.0f ns each\n", trips, (t1 - t0) / (double)trips * 1e9);
    return 0;
}

static int usage(const char* argv0) {
    fprintf(stderr,
            "usage: %s [ROUNDS [STEPS [NEURONS [SCATTER]]]]\n"
            "       %s --form 1t|lock1|lock2|lock2w|pipe|free|x2 [STEPS [NEURONS [SCATTER]]]\n"
            "       %s --gaps [SECONDS]\n"
            "       %s --pingpong [TRIPS]\n",
            argv0, argv0, argv0, argv0);
    return 2;
}

int main(int argc, char** argv) {
    if (argc > 1 && strcmp(argv[1], "--gaps") == 0) {
        const double seconds = argc > 2 ? atof(argv[2]) : 5.0;
        if (argc > 3 || !(seconds > 0)) return usage(argv[0]);
        return gaps(seconds);
    }
    if (argc > 1 && strcmp(argv[1], "--pingpong") == 0) {
        const long trips = argc > 2 ? atol(argv[2]) : 100000;
        if (argc > 3 || trips <= 0) return usage(argv[0]);
        return pingpong((unsigned long)trips);
    }
    int form = -1, at = 1;
    if (argc > 1 && strcmp(argv[1], "--form") == 0) {
        if (argc < 3) return usage(argv[0]);
        for (int k = 0; k < K; ++k)
            if (strcmp(argv[2], flag[k]) == 0) form = k;
        if (form < 0) return usage(argv[0]);
        at = 3;
    }
    const int rounds = form >= 0 ? 1 : argc > at ? atoi(argv[at++]) : 7;
    if (argc > at) g_steps = (size_t)atol(argv[at++]);
    const size_t neurons = argc > at ? (size_t)atol(argv[at++]) : 40000;
    const size_t scatter = argc > at ? (size_t)atol(argv[at++]) : 12000;
    if (rounds < 1 || rounds > 1000 || g_steps < 1 || neurons < 32 || argc > at) return usage(argv[0]);
    /* halves A, B (the network), and a second copy of both for the ceiling's other thread */
    half_t a, b, a2, b2;
    half_init(&a, neurons / 2, scatter / 2, 1);
    half_init(&b, neurons / 2, scatter / 2, 2);
    if (form < 0 || form == CEILING) {
        half_init(&a2, neurons / 2, scatter / 2, 3);
        half_init(&b2, neurons / 2, scatter / 2, 4);
    }
    if (form >= 0) {
        printf("lockstep %s: %zu steps, %zu neurons, %zu scattered inputs per step: loop %.4f s\n", flag[form], g_steps,
               neurons, scatter, run_form(form, &a, &b, &a2, &b2));
        return 0;
    }

    double* t[K];
    for (int k = 0; k < K; ++k) t[k] = calloc((size_t)rounds, sizeof(double));
    printf("%d rounds of %zu steps, %zu neurons, %zu scattered inputs per step\n", rounds, g_steps, neurons, scatter);
    for (int r = 0; r < rounds; ++r) {
        for (int k = 0; k < K; ++k) t[k][r] = run_form(k, &a, &b, &a2, &b2);
        printf("  round %d:", r + 1);
        for (int k = 0; k < K; ++k) printf("  %s %.3f s", name[k], t[k][r]);
        printf("\n");
        fflush(stdout);
    }
    double* ratio[K];
    const int R = rounds;
    for (int k = 0; k < K; ++k) ratio[k] = calloc((size_t)rounds, sizeof(double));
    for (int r = 0; r < R; ++r) {
        for (int k = 1; k < CEILING; ++k) ratio[k][r] = t[0][r] / t[k][r];
        ratio[CEILING][r] = 2.0 * t[0][r] / t[CEILING][r];
    }
    const double ceiling = median(ratio[CEILING], R);
    printf("%-7s %9s %9s %12s %10s\n", "form", "median s", "us/step", "speed-up", "of ceiling");
    for (int k = 0; k < K; ++k) {
        const double m = median(t[k], rounds);
        if (k == 0) {
            printf("%-7s %9.3f %9.2f %11s\n", name[k], m, m / (double)g_steps * 1e6, "1.00x");
        } else {
            const double s = median(ratio[k], R);
            printf("%-7s %9.3f %9.2f %10.2fx %9.0f %%\n", name[k], m, m / (double)g_steps * 1e6, s, 100.0 * s / ceiling);
        }
    }
    printf("(speed-up: median over rounds of 1t / form, for 1t x2 of 2 x 1t / its mean thread time: the ceiling)\n");
    return 0;
}
