import CMPI
import Foundation

/// A failed collective: the message names the call and MPI's own error text.
public struct DistributedError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The processes of one job, rank 0..<size, over MPI. Without an MPI launcher (no `mpirun` environment) the
/// job is a single process and no MPI function is ever called, so `tir` runs exactly as without MPI.
///
/// Every collective is deterministic: sums run in rank order 0, 1, ..., size-1 on every rank, so all ranks
/// hold bit-identical results and a rerun reproduces them (MPI_Allreduce may sum in any order). Collectives
/// are called from one thread at a time (MPI_THREAD_SERIALIZED); kernels' worker threads never call them.
public final class Cluster: @unchecked Sendable {
    public static let shared = Cluster()
    /// This process alone (rank 0 of 1, no MPI calls), for work each rank does by itself under mpirun, such
    /// as one run of a distributed sweep.
    public static let solo = Cluster(rank: 0, size: 1)

    public let rank: Int
    public let size: Int
    public var isRoot: Bool { rank == 0 }
    private let usesMPI: Bool

    /// Floats of one rank's slice per round of `sumInRankOrder` (bounds its buffers to 2 × size × this).
    static let chunk = 1 << 18

    /// True when an MPI launcher started this process (Open MPI, MPICH/Hydra or PMIx set these).
    public static func launchedByMPI(_ environment: [String: String]) -> Bool {
        ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].contains { environment[$0] != nil }
    }

    private init(rank: Int, size: Int) {
        self.rank = rank; self.size = size; usesMPI = false
    }

    private init() {
        guard Self.launchedByMPI(ProcessInfo.processInfo.environment) else {
            rank = 0; size = 1; usesMPI = false
            return
        }
        var provided: Int32 = 0
        MPI_Init_thread(nil, nil, Int32(MPI_THREAD_SERIALIZED), &provided)
        MPI_Comm_set_errhandler(tir_mpi_comm_world(), tir_mpi_errors_return())
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(tir_mpi_comm_world(), &r)
        MPI_Comm_size(tir_mpi_comm_world(), &s)
        rank = Int(r); size = Int(s); usesMPI = true
        if provided < Int32(MPI_THREAD_SERIALIZED) {
            FileHandle.standardError.write(Data("tir: this MPI library does not support calls from several threads (MPI_THREAD_SERIALIZED)\n".utf8))
            MPI_Abort(tir_mpi_comm_world(), 1)
        }
        atexit { MPI_Finalize() }
    }

    private func check(_ code: Int32, _ call: String) throws {
        guard code != tir_mpi_success() else { return }
        var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &text, &length)
        let message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw DistributedError("\(call) failed on rank \(rank) of \(size): \(message); "
                               + "another rank probably died (see its error above)")
    }

    /// buffer[i] = sum over ranks of their buffer[i], added in rank order, identical on every rank.
    /// A reduce-scatter then an all-gather, in rounds: the round's part of the buffer is cut into one slice
    /// per rank; an all-to-all hands rank r every rank's slice r, rank r sums them in rank order, and an
    /// all-gather returns the summed slices to all. Each rank sends and receives 2 (size − 1) / size of the
    /// buffer (an all-gather of whole buffers would move size − 1 times it).
    public func sumInRankOrder(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        guard usesMPI, size > 1, count > 0 else { return }
        let most = min(Self.chunk, (count + size - 1) / size)     // floats of one slice in the first round
        var slices = [Float](repeating: 0, count: size * most), gathered = slices
        var summed = [Float](repeating: 0, count: most)
        var start = 0
        while start < count {
            let per = min(most, (count - start + size - 1) / size)  // this round's slice, ceil(left / size)
            let n = min(size * per, count - start)                // floats of this round
            for r in 0..<size {                                   // slice r, zero-padded at the end
                let lo = min(n, r * per), hi = min(n, lo + per)
                for i in 0..<per { slices[r * per + i] = lo + i < hi ? buffer[start + lo + i] : 0 }
            }
            try check(MPI_Alltoall(&slices, Int32(per), tir_mpi_float(), &gathered, Int32(per), tir_mpi_float(),
                                   tir_mpi_comm_world()), "MPI_Alltoall")
            for i in 0..<per {                                    // gathered[q * per + i]: rank q's element i
                var s = gathered[i]
                for q in 1..<size { s += gathered[q * per + i] }
                summed[i] = s
            }
            try check(MPI_Allgather(&summed, Int32(per), tir_mpi_float(), &slices, Int32(per), tir_mpi_float(),
                                    tir_mpi_comm_world()), "MPI_Allgather")
            for i in 0..<n { buffer[start + i] = slices[i] }       // slices are in rank order: the round, then padding
            start += n
        }
    }

    /// Element-wise sums of small metric vectors (same length on every rank), in rank order.
    public func sumInRankOrder(_ values: [Double]) throws -> [Double] {
        guard usesMPI, size > 1 else { return values }
        let parts = try allGather(values.withUnsafeBytes { Data($0) })
        return parts.map { $0.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) } }
            .reduce([Double](repeating: 0, count: values.count)) { zip($0, $1).map(+) }
    }

    /// Every rank's bytes (any length), in rank order, on every rank.
    public func allGather(_ data: Data) throws -> [Data] {
        guard usesMPI, size > 1 else { return [data] }
        var mine = Int64(data.count)
        var lengths = [Int64](repeating: 0, count: size)
        try check(MPI_Allgather(&mine, 1, tir_mpi_int64(), &lengths, 1, tir_mpi_int64(), tir_mpi_comm_world()),
                  "MPI_Allgather")
        guard lengths.allSatisfy({ $0 <= Int64(Int32.max) }), lengths.reduce(0, +) <= Int64(Int32.max) else {
            throw DistributedError("allGather: \(lengths.reduce(0, +)) bytes exceed one MPI message (2 GiB)")
        }
        let counts = lengths.map { Int32($0) }
        var displacements = [Int32](repeating: 0, count: size)
        for r in 1..<size { displacements[r] = displacements[r - 1] + counts[r - 1] }
        var all = [UInt8](repeating: 0, count: max(1, Int(counts.reduce(0, +))))
        var send = [UInt8](data)
        if send.isEmpty { send = [0] }
        try check(MPI_Allgatherv(&send, counts[rank], tir_mpi_byte(), &all, counts, displacements, tir_mpi_byte(),
                                 tir_mpi_comm_world()), "MPI_Allgatherv")
        return (0..<size).map { r in Data(all[Int(displacements[r]) ..< Int(displacements[r] + counts[r])]) }
    }

    /// Rank `root`'s bytes on every rank.
    public func broadcast(_ data: Data, from root: Int = 0) throws -> Data {
        guard usesMPI, size > 1 else { return data }
        var length = Int64(data.count)
        try check(MPI_Bcast(&length, 1, tir_mpi_int64(), Int32(root), tir_mpi_comm_world()), "MPI_Bcast")
        var bytes = rank == root ? [UInt8](data) : [UInt8](repeating: 0, count: Int(length))
        if length > 0 {
            try check(MPI_Bcast(&bytes, Int32(length), tir_mpi_byte(), Int32(root), tir_mpi_comm_world()), "MPI_Bcast")
        }
        return Data(bytes)
    }

    /// Rank `root`'s floats in `buffer` on every rank (weights at start and after resume).
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, from root: Int = 0) throws {
        guard usesMPI, size > 1 else { return }
        var start = 0
        while start < count {
            let n = min(Int(Int32.max / 4), count - start)
            try check(MPI_Bcast(buffer + start, Int32(n), tir_mpi_float(), Int32(root), tir_mpi_comm_world()),
                      "MPI_Bcast")
            start += n
        }
    }

    /// Waits until every rank got here. Polls with sleeps instead of MPI's busy wait, so a rank that waits long
    /// (for rank 0's pretraining, for the others' last runs) does not burn its CPU (which an unbound or
    /// oversubscribed job shares with the ranks still working).
    public func barrier() throws {
        guard usesMPI, size > 1 else { return }
        var request = tir_mpi_request_null()
        try check(MPI_Ibarrier(tir_mpi_comm_world(), &request), "MPI_Ibarrier")
        var done: Int32 = 0, pause: UInt32 = 100
        while true {
            try check(MPI_Test(&request, &done, tir_mpi_status_ignore()), "MPI_Test")
            if done != 0 { return }
            usleep(pause)
            pause = min(pause * 2, 50_000)
        }
    }

    /// Ends every rank of the job (a rank that cannot go on must not leave the others waiting).
    public func abort(code: Int32 = 1) -> Never {
        if usesMPI { MPI_Abort(tir_mpi_comm_world(), code) }
        exit(code)
    }
}
