/// The 50 snippets a soak cycles through: 39 ordinary ones (most of a rollout's tool calls) and one of each
/// hostile kind from AdversarialTests, each with the outcome it must get every time.
enum SoakMix {
    struct Case: Sendable {
        let name: String
        let code: String
        let expected: @Sendable (SandboxResult) -> Bool
    }

    static let cases: [Case] = {
        var ordinary: [Case] = (0..<25).map { i in
            Case(name: "arithmetic", code: "print(\(i) * 4817 - 95)") { $0.status == .ok && $0.stdout == "\(i * 4817 - 95)\n" }
        }
        ordinary += Array(repeating: Case(name: "exception", code: "x = [1, 2]\nprint(x[5])") {
            $0.status == .error && $0.stderr.hasSuffix("IndexError: list index out of range\n")
        }, count: 5)
        ordinary += Array(repeating: Case(name: "library", code: """
            import math, fractions
            try:
                import numpy
                dot = int(numpy.arange(4) @ numpy.arange(4))
            except ImportError:
                dot = 14
            print(math.factorial(12), fractions.Fraction(3, 9), dot)
            """) { $0.status == .ok && $0.stdout == "479001600 1/3 14\n" }, count: 5)
        // Nothing left by the previous snippets: only the server and this snippet, only this snippet's dir.
        ordinary += Array(repeating: Case(name: "census", code: """
            import os
            pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())
            print(pids == sorted([1, os.getpid()]), os.listdir('/tmp') == [os.path.basename(os.getcwd())])
            """) { $0.status == .ok && $0.stdout == "True True\n" }, count: 4)
        // Interleave: a hostile snippet after every three or four ordinary ones.
        var out: [Case] = []
        var hostileLeft = hostile[...]
        for (i, c) in ordinary.enumerated() {
            out.append(c)
            if i % 4 == 3, let h = hostileLeft.popFirst() { out.append(h) }
        }
        out += hostileLeft
        return out
    }()

    static let hostile: [Case] = [
        Case(name: "fork bomb", code: """
            import os
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
            """) { $0.status == .timeout },
        Case(name: "infinite loop", code: "while True: pass") { $0.status == .timeout },
        Case(name: "memory hog", code: "x = bytearray(8 * 1024**3)") { $0.status == .memoryLimit },
        Case(name: "memory in children", code: """
            import os, time
            r, w = os.pipe()
            started = 0
            for i in range(8):
                try:
                    if os.fork() == 0:
                        x = b'\\x01' * (100 << 20)
                        os.write(w, b'1')
                        time.sleep(60)
                        os._exit(0)
                    started += 1
                except OSError:
                    pass
            print(started, sum(os.read(r, 1) == b'1' for _ in range(started)))
            """) { $0.status == .ok && $0.stdout.split(separator: " ").count == 2 },
        Case(name: "huge file", code: """
            with open('big.bin', 'wb') as f:
                for _ in range(1000):
                    f.write(b'x' * (1 << 20))
            """) { $0.status == .error && $0.stderr.contains("File too large") },
        Case(name: "network", code: """
            import socket
            for host, port in [('127.0.0.1', 22), ('1.1.1.1', 53)]:
                try:
                    socket.create_connection((host, port), timeout=0.2).close()
                    print('CONNECTED')
                except OSError:
                    pass
            print(sorted(n for _, n in socket.if_nameindex()))
            """) { $0.status == .ok && $0.stdout == "['lo']\n" },
        Case(name: "denied syscalls", code: """
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            out = []
            for nr in \(["io_uring_setup", "bpf", "unshare", "keyctl"].map { SyscallNumbers.byName[$0] ?? 0 }):
                ctypes.set_errno(0)
                out.append((libc.syscall(ctypes.c_long(nr), ctypes.c_long(0), ctypes.c_long(0)), ctypes.get_errno()))
            print(out)
            """) { $0.status == .ok && $0.stdout == "[(-1, 38), (-1, 1), (-1, 1), (-1, 1)]\n" },
        Case(name: "output flood", code: "while True: print('spam' * 100)") { $0.status == .outputLimit },
        Case(name: "setsid daemon", code: """
            import os
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv('/usr/bin/sleep', ['sleep', '600'])
                os._exit(0)
            print('daemonised')
            """) { $0.status == .ok && $0.stdout == "daemonised\n" },
        Case(name: "thread bomb", code: """
            import threading, time
            for i in range(10000):
                threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
            """) { $0.status == .error && $0.stderr.contains("can't start new thread") },
        Case(name: "segfault", code: "import ctypes\nctypes.string_at(0)") { $0.status == .signaled },
    ]
}
