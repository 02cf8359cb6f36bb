import Distributed
import Foundation
import Model
import Training

/// A piece of an experiment's work that any process sharing the output directory may take: one run
/// (arm, seed) or the probe of a condition's base.
struct WorkItem {
    /// Unique within the output directory: its claim is `claims/<name>.lock`.
    var name: String
    /// Whether the work is on disk already (a finished run with the same settings and base).
    var isDone: () -> Bool
    var work: () async throws -> Void
}

/// What one process did of the work.
public struct WorkShare: Equatable, Sendable {
    /// Items this process did, found done, and left to other processes that held them.
    public var ran = 0, done = 0, others = 0

    static func + (a: WorkShare, b: WorkShare) -> WorkShare {
        WorkShare(ran: a.ran + b.ran, done: a.done + b.done, others: a.others + b.others)
    }
}

/// Does every item that is not done and that no other process holds, in order. The ranks of an mpirun job
/// that share the output directory divide the work this way without a message: an exclusive lock on the
/// item's claim file marks it taken, and a process that dies releases it, so a rerun takes the item up again
/// (a run resumes from its last checkpoint). A process skips what another holds and never comes back to it:
/// the holder finishes it, or the job ends with the holder, or `requireDone` names it afterwards.
func doShare(of items: [WorkItem], claims: URL) async throws -> WorkShare {
    var share = WorkShare()
    for item in items {
        if item.isDone() { share.done += 1; continue }
        guard let claim = try RunLock.attempt(claims.appendingPathComponent(item.name + ".lock")) else {
            share.others += 1
            continue
        }
        if item.isDone() { share.done += 1; continue }   // finished by another between the check and the claim
        try await item.work()
        withExtendedLifetime(claim) {}
        share.ran += 1
    }
    return share
}

/// After every rank is done: items still not done were held by a process outside the job (another
/// invocation on the same output directory), and a report without them would be silently partial.
func requireDone(_ items: [WorkItem], claims: URL) throws {
    let left = items.filter { !$0.isDone() }.map(\.name)
    guard left.isEmpty else {
        throw ConfigError("\(left.count) item(s) were not finished (\(left.prefix(4).joined(separator: ", "))): another process "
                          + "holds their claims in \(claims.path); let it finish, then run this command again")
    }
}

/// Creates the output directory `dir` (rank 0) and, under mpirun, checks that every rank sees it (rank 0
/// writes a token there): the ranks share their work through it, so it must be on a file system all hosts
/// mount (NFS or the like).
public func prepareOutput(_ dir: URL, cluster: Cluster) throws {
    if cluster.isRoot { try makeDirectory(dir) }
    guard cluster.size > 1 else { return }
    let file = dir.appendingPathComponent(".ranks-check")
    var token = Data()
    if cluster.isRoot {
        token = Data(UUID().uuidString.utf8)
        try token.write(to: file, options: .atomic)
    }
    try cluster.barrier()
    token = try cluster.broadcast(token)
    let sees = (try? Data(contentsOf: file)) == token
    let host = ProcessInfo.processInfo.hostName
    let blind = try cluster.allGather(Data((sees ? "" : host).utf8)).enumerated()
        .compactMap { r, d in d.isEmpty ? nil : "rank \(r) on \(String(decoding: d, as: UTF8.self))" }
    guard blind.isEmpty else {
        throw ConfigError("\(dir.path) must be one directory every rank sees (a file system all hosts mount, such as NFS): "
                          + "\(blind.joined(separator: ", ")) does not see what rank 0 wrote there")
    }
}
