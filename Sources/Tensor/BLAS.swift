import Foundation
import COpenBLAS

/// OpenBLAS kernel selection.
///
/// OpenBLAS's DYNAMIC_ARCH builds pick a kernel family ("core") when the library loads: from a table of CPU
/// models, or from the environment variable OPENBLAS_CORETYPE. Both go wrong on this project's machines: a
/// model newer than the library falls back to the SSE3 "Prescott" kernels, and some machines export
/// OPENBLAS_CORETYPE=Haswell on AVX-512 CPUs. So `tir` chooses the core itself from the CPU's feature flags
/// (`chooseCore`) and switches to it at start-up (`configure`), via the DYNAMIC_ARCH entry points
/// `gotoblas_dynamic_quit` / `gotoblas_dynamic_init`, looked up with dlsym so other builds report "not
/// available". On an AVX-512 CPU the AVX-512 sgemm kernels ("SkylakeX", "Cooperlake") do twice the work per
/// cycle of the AVX2 ones ("Haswell"); figures in docs/PERFORMANCE.md. Results change in the last bits
/// (different summation order), not in meaning.
public enum BLAS {
    /// The OpenBLAS kernel family in use, e.g. "Haswell", "SkylakeX", "Cooperlake".
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Re-runs OpenBLAS's core selection with OPENBLAS_CORETYPE set to `coreType` (nil: auto-detect), then
    /// restores the environment variable. OpenBLAS falls back to a supported core if the CPU lacks the
    /// requested one. Returns the core name in use afterwards.
    @discardableResult
    public static func select(coreType: String?) -> String {
        #if os(Linux)
        // Already that core: no re-initialisation. Re-running the selection clears OpenBLAS's kernel table for a
        // moment, and one start-up in a few hundred crashed inside gotoblas_dynamic_init (a near-null read, seen
        // once in CI); skipping the needless case keeps that window shut where OpenBLAS chose right.
        if let coreType, !coreType.isEmpty, coreType.caseInsensitiveCompare(coreName) == .orderedSame { return coreName }
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

extension BLAS {
    /// Marks the process `loadChosenCore` started (OpenBLAS loaded with OPENBLAS_CORETYPE set), and holds the
    /// variable's value before that ("" when it was unset).
    static let reexecVariable = "TIR_BLAS_REEXEC"

    /// Lets OpenBLAS load the chosen core instead of switching cores at run time: when the core OpenBLAS loaded
    /// is not the one `chooseCore` picks, re-executes this program (same arguments, same pid) with
    /// OPENBLAS_CORETYPE set to it. Switching at run time (`select`) clears OpenBLAS's kernel table between
    /// `gotoblas_dynamic_quit` and `_init`, and a start-up crashed there (a null table read, seen on the Intel VM
    /// about once in four starts of a loaded machine, and in CI). In the re-executed process, which returns at
    /// once, OPENBLAS_CORETYPE gets its earlier value back, so child processes (the sandbox) see the environment
    /// they were meant to see. Returns when there is nothing to do or exec fails (`configure` then switches).
    public static func loadChosenCore(cpu: CPUFeatures = .current,
                                      environment: [String: String] = ProcessInfo.processInfo.environment) {
        #if os(Linux)
        if let saved = environment[reexecVariable] {
            if saved.isEmpty { unsetenv("OPENBLAS_CORETYPE") } else { setenv("OPENBLAS_CORETYPE", saved, 1) }
            unsetenv(reexecVariable)
            return
        }
        guard let core = chooseCore(for: cpu, environment: environment).core, !core.isEmpty,
              core.caseInsensitiveCompare(coreName) != .orderedSame else { return }
        setenv(reexecVariable, environment["OPENBLAS_CORETYPE"] ?? "", 1)
        setenv("OPENBLAS_CORETYPE", core, 1)
        let args = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", args)
        // exec failed: undo, and let `configure` switch at run time.
        for a in args { free(a) }
        if let saved = environment["OPENBLAS_CORETYPE"] { setenv("OPENBLAS_CORETYPE", saved, 1) } else { unsetenv("OPENBLAS_CORETYPE") }
        unsetenv(reexecVariable)
        #endif
    }
}

/// Which OpenBLAS core to run, and why (printed by `tir info` and on every start line).
public struct BLASChoice: Equatable, Sendable {
    /// The core to switch to; "" re-runs OpenBLAS's own detection without OPENBLAS_CORETYPE; nil keeps what
    /// OpenBLAS chose when it loaded.
    public var core: String?
    public var reason: String
}

extension BLAS {
    /// Environment variables, in order of precedence: TIR_BLAS_CORE=NAME forces a core;
    /// TIR_KEEP_OPENBLAS_CORETYPE=1 keeps OpenBLAS's own choice at load (which honours OPENBLAS_CORETYPE);
    /// otherwise the core follows the CPU's features and an exported OPENBLAS_CORETYPE is ignored.
    public static let forceVariable = "TIR_BLAS_CORE", keepVariable = "TIR_KEEP_OPENBLAS_CORETYPE"

    /// The core for a CPU: AVX-512 F/BW/DQ/VL with BF16 → Cooperlake, without BF16 → SkylakeX, AVX2+FMA →
    /// Haswell; older CPUs → OpenBLAS's own detection (core nil, after dropping OPENBLAS_CORETYPE).
    public static func chooseCore(for cpu: CPUFeatures, environment: [String: String]) -> BLASChoice {
        if let forced = environment[forceVariable], !forced.isEmpty {
            return BLASChoice(core: forced, reason: "\(forceVariable)=\(forced)")
        }
        if let keep = environment[keepVariable], !keep.isEmpty, keep != "0" {
            let exported = environment["OPENBLAS_CORETYPE"].map { "OPENBLAS_CORETYPE=\($0)" } ?? "OpenBLAS's own choice"
            return BLASChoice(core: nil, reason: "\(keepVariable) set: \(exported)")
        }
        if cpu.hasAVX512BF16 { return BLASChoice(core: "Cooperlake", reason: "CPU has AVX-512 with BF16") }
        if cpu.hasAVX512 { return BLASChoice(core: "SkylakeX", reason: "CPU has AVX-512") }
        if cpu.hasAVX2 { return BLASChoice(core: "Haswell", reason: "CPU has AVX2 and FMA") }
        return BLASChoice(core: "", reason: "CPU has no AVX2: OpenBLAS's own detection")
    }

    /// Cores whose sgemm uses 256-bit FMAs or wider. Landing anywhere else on an AVX2 CPU is a bug.
    static let wideCores: Set<String> = ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"]

    /// Applies `chooseCore` for this process. Call at start-up, before any BLAS call runs on another thread.
    /// Returns the core now in use and the reason.
    @discardableResult
    public static func configure(cpu: CPUFeatures = .current,
                                 environment: [String: String] = ProcessInfo.processInfo.environment)
        -> (core: String, reason: String) {
        let choice = chooseCore(for: cpu, environment: environment)
        guard let core = choice.core else { return (coreName, choice.reason) }
        var now = select(coreType: core.isEmpty ? nil : core)
        if environment[forceVariable] == nil, cpu.hasAVX2, !wideCores.contains(now) {
            now = select(coreType: "Haswell")   // OpenBLAS fell back to a generic core: never run SSE kernels
            return (now, choice.reason + "; OpenBLAS fell back, Haswell forced")
        }
        return (now, choice.reason)
    }
}
