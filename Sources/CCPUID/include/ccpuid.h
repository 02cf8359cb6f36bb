// CPUID and XGETBV for Tensor's CPUFeatures, and a prefetch hint for the decode kernels (Swift cannot emit these
// instructions). On other architectures the CPUID functions return zeros, which decode to "no AVX2".
#ifndef CCPUID_H
#define CCPUID_H

#include <stdint.h>

/// The four registers one CPUID leaf returns.
typedef struct {
    uint32_t eax, ebx, ecx, edx;
} ccpuid_registers;

/// CPUID leaf `leaf`, subleaf `subleaf`. All zeros when the leaf is above the CPU's highest leaf (so an
/// unsupported leaf reads as "no features") or the machine is not x86-64.
ccpuid_registers ccpuid(uint32_t leaf, uint32_t subleaf);

/// XGETBV(0), the XCR0 register: which register state the OS saves and restores (bit 1 SSE, 2 AVX, 5 opmask,
/// 6 ZMM_Hi256, 7 Hi16_ZMM). 0 where the OS has not set OSXSAVE (CPUID 1 ECX bit 27), where XGETBV itself
/// would fault, and off x86-64.
uint64_t ccpuid_xgetbv0(void);


/// Asks the CPU to start loading the cache line at p into the cache (a hint: no fault, even past the end of p's
/// allocation).
static inline void ccpu_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
