# The Python fork-server that runs as PID 1 inside each bubblewrap sandbox: `python3 -I -c SOURCE CONFIG_JSON`.
# This file is the source; scripts/embed-fork-server.sh copies it into ForkServerSource.swift, so the binary
# carries it (no resource bundle to ship next to a copied binary). A test checks that the two are equal.
#
# Why a fork-server: interpreter start-up dominates a print(1) snippet, and forking a warm interpreter is many
# times cheaper. Every snippet gets a fresh child, so snippets never see each other's Python state.
#
# Protocol on fd 0/1 (one AF_UNIX stream socket), all integers little-endian:
#   hello    server -> Swift: "TIRH" u32 n, n bytes of JSON (uid, gid, pid, caps, net, seccomp, python,
#                             preloaded)
#   request  Swift -> server: "TIRQ" u32 n, n bytes of UTF-8 source
#   response server -> Swift: "TIRR" u8 kind, u8 flags, i32 code, f64 wall, f64 cpu, u32 nOut, u32 nErr,
#                             nOut bytes of stdout, nErr bytes of stderr (both already capped)
#   kind: 0 exited (code = exit status), 1 killed by signal (code = signal), 2 wall-clock timeout,
#         3 output limit, 4 CPU limit, 5 memory limit (MemoryError),
#         6 the child could not be set up before the snippet ran (a sandbox failure; stderr says why)
#   flags: bit 0 stdout truncated, bit 1 stderr truncated, bit 2 worker dirty (replace it)
# EOF on the socket ends the server; PID 1 dying makes the kernel kill everything left in the namespace.
#
# Why PID 1: the kernel drops signals sent to a namespace's init from inside the namespace unless init has
# a handler, so a snippet cannot kill its server (SIGKILL/SIGTERM to PID 1 or its parent are ignored), and
# kill(-1, SIGKILL) from PID 1 kills every other process in the namespace, setsid daemons included.
# PR_SET_DUMPABLE 0 keeps snippets (same uid) from ptracing the server or opening /proc/1/fd/*.
import os, sys, signal, struct, json, time, gc, io, types, builtins, linecache, traceback, select, resource, ctypes
import atexit, shutil

CFG = json.loads(sys.argv[1])
signal.signal(signal.SIGINT, signal.SIG_IGN)      # init only receives signals it has handlers for
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(4, 0, 0, 0, 0)                         # PR_SET_DUMPABLE = 0
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

os.environ.update(CFG["env"])                     # e.g. OPENBLAS_NUM_THREADS=1: a preloaded numpy must not
                                                  # start threads in the server, or forked children may hang
PRELOADED = []
for _m in CFG["preload"]:
    try:
        __import__(_m)
        PRELOADED.append(_m)
    except Exception:
        pass

SOCK = 0
CAP = CFG["outputCap"]
KILL_BYTES = CFG["outputKill"]
WIPE = ["/tmp", "/dev/shm"]
MARK = b"\n...[%d bytes truncated]...\n"

def send(b):
    view = memoryview(b)
    while view:
        n = os.write(1, view)
        view = view[n:]

def recv_exact(n):
    buf = bytearray()
    while len(buf) < n:
        b = os.read(SOCK, n - len(buf))
        if not b:
            os._exit(0)                           # Swift closed the socket: shut down
        buf += b
    return bytes(buf)

class Capture:
    # Keeps the first cap/2 and the last cap/2 bytes of a stream; the middle never leaves this process.
    def __init__(self):
        self.head = bytearray(); self.tail = bytearray(); self.total = 0
        self.headmax = CAP // 2; self.tailmax = CAP - CAP // 2
    def add(self, b):
        self.total += len(b)
        room = self.headmax - len(self.head)
        if room > 0:
            self.head += b[:room]; b = b[room:]
        if b:
            self.tail += b
            extra = len(self.tail) - self.tailmax
            if extra > 0:
                del self.tail[:extra]
    def result(self):
        if self.total <= CAP:
            return bytes(self.head + self.tail), False
        dropped = self.total - len(self.head) - len(self.tail)
        return bytes(self.head) + (MARK % dropped) + bytes(self.tail), True

def exit_status_of(e):
    code = e.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write(str(code) + "\n")
    except Exception:
        pass
    return 1

def child(src, tmpdir, out_w, err_w, ready_w):
    # Runs in the forked child; never returns. Writes b"1" to ready_w once set up, or b"E" and the reason,
    # and closes it before the snippet runs, so the snippet cannot fake a set-up failure.
    try:
        os.setsid()                               # own session + process group
        libc.prctl(4, 1, 0, 0, 0)                 # normal /proc/self for the snippet
        nul = os.open("/dev/null", os.O_RDONLY)
        os.dup2(nul, 0); os.dup2(out_w, 1); os.dup2(err_w, 2)
        os.closerange(3, ready_w)                 # the socket to Swift and the pipes' other ends
        os.closerange(ready_w + 1, 65536)
        os.chdir(tmpdir)
        for lim, v in ((resource.RLIMIT_AS, CFG["memoryBytes"]), (resource.RLIMIT_FSIZE, CFG["maxFileBytes"]),
                       (resource.RLIMIT_NOFILE, CFG["maxOpenFiles"]), (resource.RLIMIT_NPROC, CFG["maxProcesses"])):
            resource.setrlimit(lim, (v, v))
        cpu = CFG["cpuSeconds"]
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))   # SIGXCPU, then SIGKILL one second later
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()
        os.environ.update(CFG["env"])
        os.environ["HOME"] = tmpdir; os.environ["TMPDIR"] = tmpdir
        sys.stdin = sys.__stdin__ = open(0, "r", encoding="utf-8", closefd=False)
        sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = sys.__stderr__ = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
        sys.argv = ["<snippet>"]
        sys.path.insert(0, tmpdir)
        main = types.ModuleType("__main__")
        main.__builtins__ = builtins
        sys.modules["__main__"] = main
        linecache.cache["<snippet>"] = (len(src), None, src.splitlines(True), "<snippet>")
        os.write(ready_w, b"1")
        os.close(ready_w)
    except BaseException as e:
        try:
            os.write(ready_w, b"E" + repr(e).encode("utf-8", "replace")[:1000])
        except BaseException:
            pass
        os._exit(125)
    rc = 0
    try:
        exec(compile(src, "<snippet>", "exec"), main.__dict__)
    except SystemExit as e:
        rc = exit_status_of(e)
    except BaseException as e:
        try:
            traceback.print_exception(type(e), e, e.__traceback__.tb_next if e.__traceback__ else None)
        except BaseException:
            pass
        rc = 1
    try:                                          # what the interpreter does at exit
        if "threading" in sys.modules:
            sys.modules["threading"]._shutdown()
        atexit._run_exitfuncs()
    except BaseException:
        pass
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except BaseException:
            if rc == 0:
                rc = 120                          # as CPython when flushing stdout fails
    os._exit(rc)

def kill_all_and_reap(pid):
    # kill(-1) from PID 1 hits every other process in the namespace; loop until we have no children left.
    status = None; ru = None
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            p, st, r = os.wait4(-1, 0)
        except ChildProcessError:
            return status, ru
        if p == pid:
            status, ru = st, r

def chmod_and_retry(func, path, exc_info):
    try:
        os.chmod(os.path.dirname(path) or "/", 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
        func(path)
    except Exception:
        pass

def wipe():
    # Leave /tmp, /dev/shm and SysV IPC as the next snippet must find them: empty. Returns False if not clean.
    clean = True
    for d in WIPE:
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            continue
        for n in names:
            p = os.path.join(d, n)
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p, onerror=chmod_and_retry)
                else:
                    os.unlink(p)
            except Exception:
                pass
        if os.listdir(d):
            clean = False
    for kind, ctl in (("shm", libc.shmctl), ("sem", libc.semctl), ("msg", libc.msgctl)):
        try:
            lines = open("/proc/sysvipc/" + kind).read().splitlines()[1:]
        except Exception:
            continue
        for line in lines:
            ident = int(line.split()[1])
            if kind == "sem":
                ctl(ident, 0, 0)                  # IPC_RMID = 0
            else:
                ctl(ident, 0, None)
    return clean

def run(src, seq):
    tmpdir = "/tmp/run%d" % seq
    os.mkdir(tmpdir, 0o700)
    out_r, out_w = os.pipe()                      # O_CLOEXEC by default in Python
    err_r, err_w = os.pipe()
    ready_r, ready_w = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        child(src, tmpdir, out_w, err_w, ready_w)
    os.close(out_w); os.close(err_w); os.close(ready_w)
    pidfd = os.pidfd_open(pid)
    caps = {out_r: Capture(), err_r: Capture()}
    poller = select.poll()
    for fd in (out_r, err_r, pidfd):
        poller.register(fd, select.POLLIN)
    open_fds = {out_r, err_r}
    deadline = t0 + CFG["timeout"]
    reason = None
    exited = False
    while reason is None and not exited:
        left = deadline - time.monotonic()
        if left <= 0:
            reason = 2
            break
        for fd, ev in poller.poll(max(1, int(left * 1000))):
            if fd == pidfd:
                exited = True
                continue
            b = os.read(fd, 65536)
            if not b:
                poller.unregister(fd); open_fds.discard(fd)
                continue
            caps[fd].add(b)
            if caps[out_r].total + caps[err_r].total > KILL_BYTES:
                reason = 3
    status, ru = kill_all_and_reap(pid)
    wall = time.monotonic() - t0
    for fd in list(open_fds):                     # every writer is dead now: read what is left, up to EOF
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            caps[fd].add(b)
    ready = os.read(ready_r, 2048)
    for fd in (out_r, err_r, pidfd, ready_r):
        os.close(fd)
    out, out_t = caps[out_r].result()
    err, err_t = caps[err_r].result()
    cpu = (ru.ru_utime + ru.ru_stime) if ru else 0.0
    if ready != b"1":
        reason, code = 6, 0
        err, err_t = b"the snippet's process could not be set up: " + (ready[1:] or b"it died first"), False
    elif reason is None:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            reason, code = 1, sig
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= CFG["cpuSeconds"]):
                reason = 4
        else:
            reason, code = 0, os.WEXITSTATUS(status)
            if code == 1 and err.rstrip().rsplit(b"\n", 1)[-1].startswith(b"MemoryError"):
                reason = 5
    else:
        code = signal.SIGKILL
    flags = (1 if out_t else 0) | (2 if err_t else 0) | (0 if wipe() and reason != 6 else 4)
    send(struct.pack("<4sBBiddII", b"TIRR", reason, flags, code, wall, cpu, len(out), len(err)) + out + err)

def hello():
    status = open("/proc/self/status").read()
    caps = [l.split()[1] for l in status.splitlines() if l.startswith(("CapEff", "CapPrm", "CapBnd"))]
    try:
        net = [name for _, name in __import__("socket").if_nameindex()]
    except Exception:
        net = []
    seccomp = [int(l.split()[1]) for l in status.splitlines() if l.startswith("Seccomp:")]
    info = {"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(), "caps": caps, "net": net,
            "seccomp": seccomp[0] if seccomp else -1,
            "python": sys.version.split()[0], "preloaded": PRELOADED}
    b = json.dumps(info).encode()
    send(b"TIRH" + struct.pack("<I", len(b)) + b)

def warm_up():
    # Touch what every child touches (compiler, exec, text I/O, tracebacks) before gc.freeze, so the pages
    # are settled before forking (fewer copy-on-write faults per snippet).
    quiet = {"__name__": "__warm__", "__builtins__": builtins, "print": lambda *a, **k: None}
    for text in ("print(1)", "x = [i * i for i in range(10)]\ny = {'a': x}\n", "import math\nz = math.sqrt(2) + 1/3"):
        exec(compile(text, "<warm>", "exec"), dict(quiet))
    try:
        exec(compile("1/0", "<warm>", "exec"), {})
    except ZeroDivisionError as e:
        traceback.format_exception(type(e), e, e.__traceback__)
    with open(os.open("/dev/null", os.O_WRONLY), "w", encoding="utf-8") as f:
        f.write("x\n")

warm_up()
hello()
nul = os.open("/dev/null", os.O_WRONLY)
os.dup2(nul, 2); os.close(nul)                    # start-up errors went to Swift; from now on nobody reads fd 2
gc.collect(); gc.freeze()                         # fewer copy-on-write faults in the children
seq = 0
while True:
    magic, n = struct.unpack("<4sI", recv_exact(8))
    if magic != b"TIRQ":
        os._exit(3)
    src = recv_exact(n).decode("utf-8", "replace")
    seq += 1
    run(src, seq)
