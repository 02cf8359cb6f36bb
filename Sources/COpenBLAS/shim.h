#include <cblas.h>
#include <lapacke.h>

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
