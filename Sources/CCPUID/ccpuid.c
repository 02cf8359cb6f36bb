#include "ccpuid.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

ccpuid_registers ccpuid(uint32_t leaf, uint32_t subleaf) {
    ccpuid_registers r = {0, 0, 0, 0};
    // __get_cpuid_count checks the highest (basic or extended) leaf first and returns 0 above it.
    if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) {
        r.eax = r.ebx = r.ecx = r.edx = 0;
    }
    return r;
}

uint64_t ccpuid_xgetbv0(void) {
    ccpuid_registers leaf1 = ccpuid(1, 0);
    if (!(leaf1.ecx & (1u << 27))) return 0;   // OSXSAVE clear: XGETBV raises #UD
    uint32_t eax, edx;
    // xgetbv spelled as bytes: assemblers and -march levels without XSAVE still accept it.
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

#else

ccpuid_registers ccpuid(uint32_t leaf, uint32_t subleaf) {
    (void)leaf; (void)subleaf;
    ccpuid_registers r = {0, 0, 0, 0};
    return r;
}

uint64_t ccpuid_xgetbv0(void) { return 0; }

#endif
