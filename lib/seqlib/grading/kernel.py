"""A seccomp filter that a grading worker installs on itself, and the grader's supervisor of it.

Bubblewrap already hides the file system and the network; this filter closes what is left
in the kernel's own interface: a student's code can no longer start processes, create
sockets or anonymous files, trace or read other processes, make namespaces or mounts, or
reach rarely needed kernel features (BPF, io_uring, keys, modules ...), whatever it calls
(Python, ctypes, a compiled extension). The refusal is made by the kernel, so no Python
trick gets around it.

Two modes. ``install(notify=False)``: a refused call fails with EPERM, silently.
``install(notify=True)``: a refused call is held by the kernel and reported on a "listener"
file descriptor; the worker sends that fd to the grader (``send_listener``), whose
``Supervisor`` records what was tried and answers EPERM. The worker must not keep the fd: a
process holding its own listener could answer "go ahead" to itself.

Standard library only: this file is loaded in the sandbox as a plain module named
``kernel``, before NumPy or anything else. x86-64 Linux only (syscall numbers differ per
architecture; elsewhere ``available()`` says so).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import platform
import select
import socket
import struct
import subprocess
import sys
import threading
from functools import lru_cache

# ----------------------------------------------------------------- x86-64 syscall numbers
# From the kernel's arch/x86/entry/syscalls/syscall_64.tbl (= asm/unistd_64.h).
SYSCALL_NUMBERS = {
    "socket": 41, "socketpair": 53, "clone": 56, "fork": 57, "vfork": 58, "execve": 59,
    "ptrace": 101, "personality": 135, "pivot_root": 155, "chroot": 161, "mount": 165,
    "umount2": 166, "init_module": 175, "delete_module": 176, "kexec_load": 246,
    "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272, "perf_event_open": 298,
    "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
    "finit_module": 313, "seccomp": 317, "memfd_create": 319, "kexec_file_load": 320,
    "bpf": 321, "execveat": 322, "userfaultfd": 323, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429,
    "fsopen": 430, "fsmount": 432, "fspick": 433, "pidfd_open": 434, "clone3": 435,
    "pidfd_getfd": 438, "mount_setattr": 442, "memfd_secret": 447,
}

# What the filter refuses, and under which heading a refusal is reported.
REFUSED = {
    **dict.fromkeys(("fork", "vfork", "execve", "execveat", "clone"), "process"),  # clone: see below
    **dict.fromkeys(("memfd_create", "memfd_secret"), "memfd"),
    **dict.fromkeys(("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
                     "pidfd_open"), "ptrace"),
    **dict.fromkeys(("socket", "socketpair"), "socket"),
    **dict.fromkeys(("unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree",
                     "move_mount", "fsopen", "fsmount", "fspick", "mount_setattr"), "namespace"),
    **dict.fromkeys(("bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
                     "io_uring_setup", "io_uring_enter", "io_uring_register", "kexec_load",
                     "kexec_file_load", "init_module", "finit_module", "delete_module",
                     "personality"), "kernel"),
}
_NAMES = {nr: name for name, nr in SYSCALL_NUMBERS.items()}

# ----------------------------------------------------------------- kernel constants
AUDIT_ARCH_X86_64 = 0xC000003E  # EM_X86_64 | 64-bit | little-endian
X32_SYSCALL_BIT = 0x40000000
CLONE_THREAD = 0x00010000
AF_UNIX = 1
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER, SECCOMP_GET_ACTION_AVAIL, SECCOMP_GET_NOTIF_SIZES = 1, 2, 3
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
RET_KILL_PROCESS, RET_ERRNO = 0x80000000, 0x00050000
RET_USER_NOTIF, RET_ALLOW = 0x7FC00000, 0x7FFF0000

# Classic BPF opcodes (linux/filter.h): load a 32-bit word of seccomp_data, jump, return.
BPF_LD_W_ABS, BPF_JEQ_K, BPF_JSET_K, BPF_RET_K = 0x20, 0x15, 0x45, 0x06
# struct seccomp_data: int nr; u32 arch; u64 ip; u64 args[6] (little-endian: low word first)
OFF_NR, OFF_ARCH, OFF_ARG0_LOW = 0, 4, 16


def _iowr(nr: int, size: int) -> int:
    """The _IOWR('!', nr, size) ioctl number: direction read|write, size, type '!', nr."""
    return (3 << 30) | (size << 16) | (ord("!") << 8) | nr


NOTIF = struct.Struct("<QII iIQ6Q")  # struct seccomp_notif: id, pid, flags, seccomp_data
NOTIF_RESP = struct.Struct("<QqiI")  # struct seccomp_notif_resp: id, val, error, flags
SECCOMP_IOCTL_NOTIF_RECV = _iowr(0, NOTIF.size)       # 0xc0502100
SECCOMP_IOCTL_NOTIF_SEND = _iowr(1, NOTIF_RESP.size)  # 0xc0182101

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_SECCOMP = SYSCALL_NUMBERS["seccomp"]


def _seccomp(op: int, flags: int, arg) -> int:
    """The raw seccomp(2) system call (glibc has no wrapper); raises OSError on failure."""
    ret = _libc.syscall(ctypes.c_long(_SYS_SECCOMP), ctypes.c_long(op), ctypes.c_long(flags), arg)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


# ----------------------------------------------------------------- the BPF program
def program(notify: bool, unix_sockets: bool = False) -> bytes:
    """The filter as struct sock_filter[] bytes: {u16 code; u8 jt; u8 jf; u32 k} each.

    unix_sockets: allow socket() and socketpair() of the AF_UNIX family (for a worker in its
    own network namespace and mount namespace, where such a socket reaches nothing: glibc's
    user lookups try the nscd socket first, and honest code does user lookups).

    Instructions are written with labels; jump offsets are resolved at the end (a jump's
    offset counts the instructions it skips).
    """
    refuse = RET_USER_NOTIF if notify else RET_ERRNO | errno.EPERM
    code = [  # (opcode, jump-if-true label, jump-if-false label, k)
        (BPF_LD_W_ABS, None, None, OFF_ARCH),
        (BPF_JEQ_K, None, "kill", AUDIT_ARCH_X86_64),  # syscall numbers of i386 etc. differ
        (BPF_LD_W_ABS, None, None, OFF_NR),
        (BPF_JSET_K, "eperm", None, X32_SYSCALL_BIT),  # x32 calls reach the same kernel code
        # clone3's flags are in memory that a filter cannot read; glibc then falls back to clone
        (BPF_JEQ_K, "enosys", None, SYSCALL_NUMBERS["clone3"]),
        (BPF_JEQ_K, "clone", None, SYSCALL_NUMBERS["clone"]),
    ]
    if unix_sockets:
        code += [(BPF_JEQ_K, "family", None, SYSCALL_NUMBERS[name]) for name in ("socket", "socketpair")]
    code += [(BPF_JEQ_K, "refuse", None, SYSCALL_NUMBERS[name]) for name in REFUSED if name != "clone"]
    code += [
        (BPF_RET_K, None, None, RET_ALLOW),
        ("clone", BPF_LD_W_ABS, None, None, OFF_ARG0_LOW),  # clone's flags, the low 32 bits
        (BPF_JSET_K, "allow", "refuse", CLONE_THREAD),  # a thread: allowed; a process: not
        ("family", BPF_LD_W_ABS, None, None, OFF_ARG0_LOW),  # socket's and socketpair's domain
        (BPF_JEQ_K, "allow", "refuse", AF_UNIX),
        ("allow", BPF_RET_K, None, None, RET_ALLOW),
        ("refuse", BPF_RET_K, None, None, refuse),
        ("enosys", BPF_RET_K, None, None, RET_ERRNO | errno.ENOSYS),
        ("eperm", BPF_RET_K, None, None, RET_ERRNO | errno.EPERM),
        ("kill", BPF_RET_K, None, None, RET_KILL_PROCESS),
    ]
    # A 5-tuple starts with its label; drop the labels, remembering where each one is.
    labels = {ins[0]: i for i, ins in enumerate(code) if len(ins) == 5}
    code = [ins[1:] if len(ins) == 5 else ins for ins in code]
    out = bytearray()
    for i, (op, jt, jf, k) in enumerate(code):
        jt, jf = ((labels[j] - i - 1) if j else 0 for j in (jt, jf))
        out += struct.pack("<HBBI", op, jt, jf, k)
    return bytes(out)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


# ----------------------------------------------------------------- installing it
def _platform_reason() -> str | None:
    if sys.platform != "linux":
        return f"seccomp is Linux-only (this is {sys.platform})"
    if platform.machine() not in ("x86_64", "AMD64"):
        return f"the seccomp filter is written for x86-64 (this machine is {platform.machine()})"
    return None


@lru_cache(maxsize=None)
def available() -> str | None:
    """None when a notifying seccomp filter can be installed here, else a one-line reason.

    Installs nothing in this process: it asks the kernel (GET_ACTION_AVAIL, GET_NOTIF_SIZES),
    then installs the filter for real in a short child Python, which also catches a process
    that already runs under a listener of its own (the kernel allows one per process tree).
    """
    reason = _platform_reason()
    if reason:
        return reason
    try:
        _seccomp(SECCOMP_GET_ACTION_AVAIL, 0, ctypes.byref(ctypes.c_uint32(RET_USER_NOTIF)))
        sizes = (ctypes.c_uint16 * 3)()  # struct seccomp_notif_sizes (kernel 5.0 and later)
        _seccomp(SECCOMP_GET_NOTIF_SIZES, 0, sizes)
    except OSError as err:
        return f"this kernel has no seccomp user notification (seccomp(2): {err.strerror})"
    if sizes[0] < NOTIF.size or sizes[1] < NOTIF_RESP.size:
        return f"unexpected seccomp notification sizes {list(sizes)}"
    try:
        probe = subprocess.run([sys.executable, "-I", "-S", os.path.abspath(__file__), "--probe"],
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        return f"could not start the seccomp probe: {err}"
    if probe.returncode != 0:
        said = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        return f"installing a seccomp filter failed: {said[:200]}"
    return None


def install(notify: bool, unix_sockets: bool = False) -> int | None:
    """Install the filter on the calling process; return the listener fd when notify.
    unix_sockets: see program().

    Call it before the process has a second thread. A filter applies to the thread that
    installs it and to threads and processes started after; SECCOMP_FILTER_FLAG_TSYNC would
    extend it to existing threads, but the kernel refuses TSYNC together with NEW_LISTENER
    (except with TSYNC_ESRCH, kernel 5.7+), and a worker has no business having threads yet.
    So install() refuses to run when /proc/self/task shows another thread (for example
    OpenBLAS's, started by importing NumPy without OPENBLAS_NUM_THREADS=1).
    """
    reason = _platform_reason()
    if reason:
        raise OSError(errno.ENOSYS, reason)
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        threads = 1  # no /proc: nothing to check against
    if threads > 1:
        raise OSError(errno.EBUSY, f"seccomp filter not installed: this process already has {threads} "
                                   "threads, which the filter would not cover")
    # Without no_new_privs an unprivileged process may not install a filter; it also makes
    # a set-uid program unable to gain privileges (there are none to run, but still).
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                   ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(err)}")
    code = program(notify, unix_sockets)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = _SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    try:
        fd = _seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER if notify else 0,
                      ctypes.byref(prog))
    except OSError as err:
        why = {errno.EBUSY: "a seccomp listener is already installed on this process or a parent",
               errno.EINVAL: "the kernel refused the filter or the listener flag (too old?)",
               errno.EACCES: "no_new_privs is not set"}.get(err.errno, err.strerror)
        raise OSError(err.errno, f"seccomp(SECCOMP_SET_MODE_FILTER) failed: {why}") from None
    return fd if notify else None


# ----------------------------------------------------------------- passing the listener
def send_listener(sock_fd: int, listener_fd: int) -> None:
    """Worker side: send the listener over an inherited AF_UNIX socket, then close both here.

    The filter refuses creating sockets, not using one that is already open: sendmsg works.
    """
    sock = socket.socket(fileno=sock_fd)
    try:
        socket.send_fds(sock, [b"L"], [listener_fd])
    finally:
        sock.close()
        os.close(listener_fd)


def receive_listener(sock: socket.socket, timeout: float) -> int:
    """Grader side: the listener fd that the worker sends on sock, within timeout seconds."""
    before = sock.gettimeout()
    sock.settimeout(timeout)
    try:
        # MSG_CMSG_CLOEXEC: a copy inherited by another child would keep the filter's
        # notifications waiting after the supervisor is gone, instead of failing with ENOSYS.
        msg, fds, flags, _ = socket.recv_fds(sock, 16, 4, socket.MSG_CMSG_CLOEXEC)
    except TimeoutError:
        raise TimeoutError(f"the worker sent no seccomp listener within {timeout:g} s") from None
    except OSError as err:
        raise OSError(err.errno, f"receiving the seccomp listener failed: {err.strerror or err}") from None
    finally:
        sock.settimeout(before)
    for extra in fds[1:]:
        os.close(extra)
    if not fds or msg != b"L" or flags & socket.MSG_CTRUNC:
        if fds:
            os.close(fds[0])
        what = "closed the channel" if not msg else f"sent {msg[:16]!r} with {len(fds)} fds"
        raise OSError(errno.EPROTO, f"expected the seccomp listener from the worker, which {what}")
    return fds[0]


# ----------------------------------------------------------------- the supervisor
class Supervisor:
    """Answers the filter's notifications with EPERM and records what was refused.

    A daemon thread waits on the listener (polling with a short timeout, so that stop() is
    prompt). events(): the first max_events distinct {"kind": category, "detail": syscall};
    count: how many refusals in all. Once the supervisor is gone (stopped, or the grader
    died) the kernel answers every notification with ENOSYS: a refusal still.
    The thread ends by itself when no process uses the filter any more (POLLHUP: the worker
    has exited and been reaped).
    """

    def __init__(self, listener_fd: int, max_events: int = 50):
        self.fd, self.max_events = listener_fd, max_events
        self._events: list[dict] = []
        self._count = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seccomp-supervisor", daemon=True)
        self._thread.start()

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def events(self) -> list[dict]:
        with self._lock:
            return [dict(e) for e in self._events]

    def stop(self) -> None:
        """End the thread and close the listener."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(5)

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        try:
            while not self._stop.is_set():
                ready = poller.poll(100)  # milliseconds; EINTR is retried by Python (PEP 475)
                revents = ready[0][1] if ready else 0
                if revents & select.POLLIN:
                    self._answer_one()
                elif revents & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                    return
        finally:
            os.close(self.fd)

    def _answer_one(self) -> None:
        buf = bytearray(NOTIF.size)  # the kernel wants it zeroed
        try:
            fcntl.ioctl(self.fd, SECCOMP_IOCTL_NOTIF_RECV, buf, True)
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.EINTR):  # the caller died or was interrupted
                return
            raise
        notif_id, _pid, _flags, nr, _arch, _ip, *_args = NOTIF.unpack(buf)
        name = _NAMES.get(nr, f"syscall {nr}")
        event = {"kind": REFUSED.get(name, "kernel"), "detail": name}
        with self._lock:
            self._count += 1
            if len(self._events) < self.max_events and event not in self._events:
                self._events.append(event)
        try:
            fcntl.ioctl(self.fd, SECCOMP_IOCTL_NOTIF_SEND,
                        bytearray(NOTIF_RESP.pack(notif_id, 0, -errno.EPERM, 0)), True)
        except OSError as err:
            if err.errno not in (errno.ENOENT, errno.EINTR):  # ENOENT: it died meanwhile
                raise


if __name__ == "__main__" and sys.argv[1:] == ["--probe"]:  # available()'s child process
    try:
        os.close(install(True))
    except OSError as err:
        sys.exit(str(err))
