#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <cblas.h>
#include <lapacke.h>

/// The CPUs this process may run on (its affinity mask: mpirun's binding, taskset, cgroup cpusets), or 0
/// when the mask cannot be read. Swift's Glibc module does not export sched_getaffinity.
static inline int tir_affinity_cpus(void) {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    return CPU_COUNT(&set);
#else
    return 0;
#endif
}

/// A spin-wait hint for the worker pool (x86 `pause`, Arm `yield`): lets the sibling hyperthread run and
/// saves power while a worker polls for the next job.
static inline void tir_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Software prefetch for streaming kernels: the hardware prefetcher stops at 4 KB page boundaries, and a
/// KV-cache head spans several pages.
static inline void tir_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
