"""The worker's seccomp filter (seqlib.grading.kernel): what it refuses, what it lets through.

Every filter is installed in a child Python (a filter cannot be removed, and it would cover
the rest of the test run): the child copies the sandbox's layout (kernel.py as a plain
module, imported before NumPy), tries forbidden and honest things and prints a JSON report;
the test runs the Supervisor on the listener the child sends it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

import pytest

from seqlib.grading import kernel

CHILD = r'''
import ctypes, errno, json, os, socket, subprocess, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel

mode, sock_fd, scratch = sys.argv[1], int(sys.argv[2]), sys.argv[3]
libc = ctypes.CDLL(None, use_errno=True)
report = {}


def attempt(fn):
    """The errno name a refused call failed with, or "ok"."""
    try:
        fn()
    except OSError as err:
        return errno.errorcode.get(err.errno, str(err.errno))
    return "ok"


def checked(ret):
    if ret == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def spawn():
    os.waitpid(os.posix_spawn("/bin/true", ["true"], {}), 0)


def forbidden():
    tries = {
        "fork": fork,
        "subprocess": lambda: subprocess.run(["true"], check=True),
        "posix_spawn": spawn,
        "execv": lambda: os.execv("/nonexistent/program", ["x"]),  # ENOENT without the filter
        "memfd_create": lambda: os.close(os.memfd_create("x")),
        "socket": lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close(),
        "socketpair": lambda: [s.close() for s in socket.socketpair()],
        "ptrace": lambda: checked(libc.ptrace(ctypes.c_long(0), ctypes.c_long(0), None, None)),  # TRACEME
        "unshare": lambda: checked(libc.unshare(ctypes.c_int(0x10000000))),  # CLONE_NEWUSER
    }
    if hasattr(os, "unshare"):
        tries["os.unshare"] = lambda: os.unshare(os.CLONE_NEWUSER)
    return {name: attempt(fn) for name, fn in tries.items()}


def honest():
    out = []
    t = threading.Thread(target=lambda: out.append(sum(range(1000))))
    t.start()
    t.join()
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as pool:
        squares = list(pool.map(lambda x: x * x, range(20)))
    import numpy as np  # after install(), as in the worker
    product = np.ones((200, 200)) @ np.ones((200, 200))
    start = time.perf_counter()
    time.sleep(0.01)
    path = os.path.join(scratch, "scratch.txt")
    with open(path, "w") as f:
        f.write("hello")
    with open(path) as f:
        text = f.read()
    return {"thread": out == [499500], "pool": squares[-1] == 361, "numpy": float(product[0, 0]) == 200.0,
            "sleep": time.perf_counter() - start >= 0.01, "file": text == "hello"}


def torch_work():
    import torch
    done = []
    for n in (1, 2):
        torch.set_num_threads(n)
        x = torch.randn(256, 256, requires_grad=True)
        loss = ((x @ x).tanh() * torch.linspace(0, 1, 256)).sum() + (x.exp() * 2).mean()
        loss.backward()
        big = torch.ones(1_000_000).mul(3).sum().item()  # large enough to be split among threads
        done.append(torch.get_num_threads() == n and bool(torch.isfinite(x.grad).all()) and big == 3e6)
    return done


if mode == "plain":
    report["installed"] = kernel.install(False)
else:
    kernel.send_listener(sock_fd, kernel.install(True))
if mode == "stopped":
    sys.stdin.readline()  # the test stops the supervisor first
if mode == "torch":
    report["torch"] = torch_work()
else:
    report["forbidden"] = forbidden()
    report["honest"] = honest()
print(json.dumps(report))
'''

CATEGORIES = {"process", "memfd", "ptrace", "socket", "namespace", "kernel"}


@pytest.fixture
def notify_ok():
    reason = kernel.available()
    if reason:
        pytest.skip(reason)


class Child:
    """A child Python running CHILD in mode; sock: the test's end of its AF_UNIX socket."""

    def __init__(self, tmp_path, mode: str):
        shutil.copy(kernel.__file__, tmp_path / "kernel.py")
        (tmp_path / "child.py").write_text(CHILD)
        self.sock, theirs = socket.socketpair()
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-I", str(tmp_path / "child.py"), mode, str(theirs.fileno()),
                                      str(tmp_path)], pass_fds=[theirs.fileno()], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        theirs.close()

    def report(self, stdin: str = "", timeout: float = 60) -> dict:
        try:
            out, err = self.proc.communicate(stdin, timeout=timeout)
        finally:
            self.proc.kill()
            self.proc.wait()
            self.sock.close()
        assert self.proc.returncode == 0, err[-2000:]
        return json.loads(out.strip().splitlines()[-1])


def wait_ended(sup: kernel.Supervisor, seconds: float = 5) -> bool:
    deadline = time.monotonic() + seconds
    while sup.running and time.monotonic() < deadline:
        time.sleep(0.02)
    return not sup.running


def assert_refused(forbidden: dict, allowed=("EPERM",)):
    assert forbidden, "no forbidden call was tried"
    for name, result in forbidden.items():
        assert result in allowed, f"{name}: {result} (expected {' or '.join(allowed)})"


def assert_honest(honest: dict):
    assert honest and all(honest.values()), honest


# ----------------------------------------------------------------- behaviour, in children
def test_notify_mode_refuses_and_reports(tmp_path, notify_ok):
    child = Child(tmp_path, "notify")
    sup = kernel.Supervisor(kernel.receive_listener(child.sock, 30))
    try:
        report = child.report()
        assert wait_ended(sup), "the supervisor did not end when its worker did (POLLHUP)"
    finally:
        sup.stop()
    assert_refused(report["forbidden"])
    assert_honest(report["honest"])
    events = sup.events()
    kinds = {e["kind"] for e in events}
    details = {e["detail"] for e in events}
    assert {"process", "memfd", "socket", "ptrace", "namespace"} <= kinds, events
    assert {"clone", "execve", "memfd_create", "socket", "socketpair", "ptrace", "unshare"} <= details, events
    assert details & {"vfork", "clone"}, events  # subprocess: vfork, or clone without CLONE_THREAD
    assert "clone3" not in details  # answered ENOSYS by the filter itself: pthread_create falls back
    assert all(kernel.REFUSED[e["detail"]] == e["kind"] for e in events), events
    assert len(events) == len({(e["kind"], e["detail"]) for e in events})  # distinct
    assert sup.count >= len(report["forbidden"])


def test_plain_mode_refuses_without_supervisor(tmp_path, notify_ok):
    report = Child(tmp_path, "plain").report()
    assert report["installed"] is None
    assert_refused(report["forbidden"])
    assert_honest(report["honest"])


def test_refused_after_supervisor_stopped(tmp_path, notify_ok):
    child = Child(tmp_path, "stopped")
    sup = kernel.Supervisor(kernel.receive_listener(child.sock, 30))
    sup.stop()  # closes the listener: the kernel now answers ENOSYS (a child would hang if not)
    assert not sup.running
    report = child.report("go\n", timeout=30)
    assert_refused(report["forbidden"], ("ENOSYS", "EPERM"))
    assert_honest(report["honest"])
    assert sup.events() == [] and sup.count == 0


def test_torch_honest_work_is_not_refused(tmp_path, notify_ok):
    pytest.importorskip("torch")
    child = Child(tmp_path, "torch")
    sup = kernel.Supervisor(kernel.receive_listener(child.sock, 30))
    try:
        report = child.report(timeout=120)
    finally:
        sup.stop()
    assert report["torch"] == [True, True]
    assert sup.events() == [] and sup.count == 0


# ----------------------------------------------------------------- in this process, nothing installed
def test_available_installs_nothing_here():
    before = open("/proc/self/status").read() if os.path.exists("/proc/self/status") else ""
    reason = kernel.available()
    assert reason is None or (isinstance(reason, str) and reason and "\n" not in reason)
    if "Seccomp:\t0" in before:
        assert "Seccomp:\t0" in open("/proc/self/status").read()


def test_receive_listener_timeout_and_eof():
    ours, theirs = socket.socketpair()
    try:
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="no seccomp listener"):
            kernel.receive_listener(ours, 0.2)
        assert time.monotonic() - start < 5
        theirs.close()
        with pytest.raises(OSError, match="closed the channel"):
            kernel.receive_listener(ours, 5)
    finally:
        ours.close()
        theirs.close()


def test_ioctl_numbers():
    assert kernel.SECCOMP_IOCTL_NOTIF_RECV == 0xC0502100
    assert kernel.SECCOMP_IOCTL_NOTIF_SEND == 0xC0182101


# ----------------------------------------------------------------- the BPF program, interpreted here
def run_filter(prog: bytes, nr: int, arch: int = kernel.AUDIT_ARCH_X86_64, arg0: int = 0) -> int:
    """What the filter returns for one call: a small classic-BPF interpreter (the four opcodes
    the program uses; any other one fails the test)."""
    data = struct.pack("<iIQ6Q", nr, arch, 0x401000, arg0, 0, 0, 0, 0, 0)
    code = [struct.unpack_from("<HBBI", prog, i) for i in range(0, len(prog), 8)]
    pc, acc = 0, 0
    for _ in range(len(code)):  # no loops in classic BPF: each step moves forward
        op, jt, jf, k = code[pc]
        if op == 0x20:  # ld [k]
            acc, pc = struct.unpack_from("<I", data, k)[0], pc + 1
        elif op == 0x15:  # jeq #k
            pc += 1 + (jt if acc == k else jf)
        elif op == 0x45:  # jset #k
            pc += 1 + (jt if acc & k else jf)
        elif op == 0x06:  # ret #k
            return k
        else:
            raise AssertionError(f"unexpected opcode {op:#x} at {pc}")
    raise AssertionError("ran off the end")


def test_program_decisions():
    nr = kernel.SYSCALL_NUMBERS
    eperm, enosys = kernel.RET_ERRNO | 1, kernel.RET_ERRNO | 38
    for notify, refusal in ((True, kernel.RET_USER_NOTIF), (False, eperm)):
        prog = kernel.program(notify)
        assert len(prog) % 8 == 0 and len(prog) // 8 < 256
        assert prog[:8] == struct.pack("<HBBI", 0x20, 0, 0, 4)  # it starts by loading the arch
        for arch in (0x40000003, 0xC00000B7):  # i386, aarch64: killed, whatever the number
            for n in (0, 1, 60, nr["socket"]):
                assert run_filter(prog, n, arch) == kernel.RET_KILL_PROCESS
        assert run_filter(prog, 0x40000000 | 1) == eperm  # x32 write
        assert run_filter(prog, 0x40000000 | nr["socket"]) == eperm
        for n in (0, 1, 3, 9, 11, 202, 231, 257, 318):  # read write close mmap munmap futex exit_group openat getrandom
            assert run_filter(prog, n) == kernel.RET_ALLOW, n
        for name in kernel.REFUSED:
            assert run_filter(prog, nr[name]) == refusal, name
        thread_flags = 0x3D0F00  # what glibc's pthread_create passes: CLONE_VM | ... | CLONE_THREAD | ...
        assert run_filter(prog, nr["clone"], arg0=thread_flags) == kernel.RET_ALLOW
        assert run_filter(prog, nr["clone"], arg0=17) == refusal  # fork: SIGCHLD only
        assert run_filter(prog, nr["clone"], arg0=0x4111) == refusal  # posix_spawn: VM | VFORK | SIGCHLD
        assert run_filter(prog, nr["clone"], arg0=kernel.CLONE_THREAD << 32) == refusal  # high word ignored
        assert run_filter(prog, nr["clone3"]) == enosys
        # In the sandbox's own network and mount namespaces an AF_UNIX socket reaches nothing: allowed
        # there (glibc's user lookups try nscd's socket), every other family still refused.
        assert run_filter(prog, nr["socket"], arg0=1) == refusal
        unix = kernel.program(notify, unix_sockets=True)
        for name in ("socket", "socketpair"):
            assert run_filter(unix, nr[name], arg0=1) == kernel.RET_ALLOW  # AF_UNIX
            for family in (2, 10, 16, 17):  # AF_INET, AF_INET6, AF_NETLINK, AF_PACKET
                assert run_filter(unix, nr[name], arg0=family) == refusal
        assert run_filter(unix, nr["fork"]) == refusal


def test_refused_table():
    required = {
        "process": {"fork", "vfork", "execve", "execveat", "clone"},
        "memfd": {"memfd_create", "memfd_secret"},
        "ptrace": {"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "pidfd_open"},
        "socket": {"socket", "socketpair"},
        "namespace": {"unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount",
                      "fsopen"},
        "kernel": {"bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "io_uring_setup",
                   "io_uring_enter", "io_uring_register", "kexec_load", "init_module", "finit_module",
                   "delete_module", "personality"},
    }
    for category, names in required.items():
        for name in names:
            assert kernel.REFUSED.get(name) == category, name
    assert set(kernel.REFUSED.values()) <= CATEGORIES
    assert "clone3" not in kernel.REFUSED
    # spot checks against asm/unistd_64.h, where the headers are installed
    header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
    if os.path.exists(header):
        defined = dict(line.split()[1:3] for line in open(header) if line.startswith("#define __NR_"))
        for name, number in kernel.SYSCALL_NUMBERS.items():
            assert int(defined[f"__NR_{name}"]) == number, name
