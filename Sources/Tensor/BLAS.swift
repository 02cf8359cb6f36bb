import Foundation
import COpenBLAS

/// OpenBLAS kernel selection.
///
/// OpenBLAS's DYNAMIC_ARCH builds pick a kernel family ("core") when the library loads: from the CPU, or from
/// the environment variable OPENBLAS_CORETYPE when it is set. On an AVX-512 CPU the AVX-512 sgemm kernels
/// ("SkylakeX", "Cooperlake") do twice the work per cycle of the AVX2 ones ("Haswell", "Zen"); measured
/// figures in docs/PERFORMANCE.md.
///
/// The process environment of this project's machines sets OPENBLAS_CORETYPE=Haswell, so by default the AVX2
/// kernels run. `useWidestKernels()` is an explicit opt-in that re-runs OpenBLAS's own core selection without
/// that override (via the DYNAMIC_ARCH entry points `gotoblas_dynamic_quit` / `gotoblas_dynamic_init`, looked
/// up with dlsym so other builds just report "not available"). Call it at start-up, before any BLAS call runs
/// on another thread. Results change in the last bits (different summation order), not in meaning.
public enum BLAS {
    /// The OpenBLAS kernel family in use, e.g. "Haswell", "SkylakeX", "Cooperlake".
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Switches OpenBLAS to the kernels it would choose for this CPU on its own (ignoring OPENBLAS_CORETYPE),
    /// and returns the core name now in use. No-op (returns the current core) when the library is not a
    /// DYNAMIC_ARCH build. Not thread-safe: no BLAS call may run concurrently.
    @discardableResult
    public static func useWidestKernels() -> String {
        select(coreType: nil)
    }

    /// Re-runs OpenBLAS's core selection with OPENBLAS_CORETYPE set to `coreType` (nil: auto-detect), then
    /// restores the environment variable. OpenBLAS falls back to a supported core if the CPU lacks the
    /// requested one. Returns the core name in use afterwards.
    @discardableResult
    public static func select(coreType: String?) -> String {
        #if os(Linux)
        guard let handle = dlopen(nil, RTLD_NOW),
              let quit = dlsym(handle, "gotoblas_dynamic_quit"),
              let initCore = dlsym(handle, "gotoblas_dynamic_init") else { return coreName }
        typealias VoidFn = @convention(c) () -> Void
        let saved = getenv("OPENBLAS_CORETYPE").map { String(cString: $0) }
        if let coreType { setenv("OPENBLAS_CORETYPE", coreType, 1) } else { unsetenv("OPENBLAS_CORETYPE") }
        unsafeBitCast(quit, to: VoidFn.self)()
        unsafeBitCast(initCore, to: VoidFn.self)()
        // Restore: child processes (the sandbox) see the environment they were meant to see.
        if let saved { setenv("OPENBLAS_CORETYPE", saved, 1) } else { unsetenv("OPENBLAS_CORETYPE") }
        #endif
        return coreName
    }
}
