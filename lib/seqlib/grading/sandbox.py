"""The sandbox a student's code runs in, and the trusted side of the channel to it.

A worker (seqlib/grading/worker.py, run as a script) is started by bubblewrap with:

- no network (a new, empty network namespace), new PID, IPC, UTS and user namespaces, the
  user ``nobody`` inside, and the process killed with its parent;
- a file system of the operating system (/usr, /lib), the Python installation and its
  packages, all read-only, ``/`` and ``/dev`` read-only too, and a private tmpfs at /tmp (the
  scratch folder, 64 MB) as the only writable place. The course folder is not there at all:
  not the solutions, the gradebook, other students' submissions, nor seqlib (whose reference
  implementations are the answers): wherever seqlib is installed, its folder is hidden;
- an environment of its own: bubblewrap itself is started with nothing of the grader's
  environment (its own process stays visible as /proc/1 inside), the worker with PATH, HOME
  and the thread settings only;
- a seccomp filter, installed by the worker on itself before any other code runs
  (seqlib/grading/kernel.py): no new processes (threads only), no ``memfd_create``, no
  ``ptrace``, no sockets, no namespaces. Each refusal is reported by the kernel to a
  supervisor thread here, never by the worker: the "refused" column cannot be emptied or
  forged by the student's code;
- limits (seqlib/grading/limits.py): CPU seconds, address space, the size of any file it
  writes (its printed output is such a file, so 50 MB of prints stop at the cap), open files,
  and, where the machine allows it, a cgroup capping its memory with its tmpfs and its tasks.

Where bubblewrap is missing, grading refuses to start and says how to install it, unless
``unsafe_no_sandbox`` is set (one trusted machine): then the worker is a plain child process
with the same limits and seccomp filter, but it can read everything the grader can.

``Worker`` is the grader's end: it starts the process, sends requests and reads replies, each
read and each write under a deadline; a worker that misses one, dies or breaks the protocol is
killed and reported, never waited for. A worker that cannot even start is a ``GraderFailure``:
nobody's code ran, so nobody's score may depend on it.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import site
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

from seqlib.grading import kernel
from seqlib.grading.channel import UNTRUSTED, Decoder, Encoder, ProtocolError, pack, read_message
from seqlib.grading.limits import Cgroup, Limits, limits_from_env, set_rlimits

__all__ = ["Worker", "WorkerLost", "GraderFailure", "SandboxUnavailable", "Limits", "limits_from_env",
           "check_sandbox", "worker_command", "enforcement"]

HERE = Path(__file__).parent
WORKER_FILES = {name: HERE / name for name in ("worker.py", "channel.py", "harness.py", "cells.py", "kernel.py")}
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap)"
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


class SandboxUnavailable(RuntimeError):
    """Grading cannot start: the sandbox tool is missing or cannot run here."""


class WorkerLost(BaseException):
    """The worker stopped answering: a timeout, a crash, or a broken message.

    A BaseException, so that no ``except Exception`` in a test's helper can swallow it.
    kind: "timeout", "crash" or "protocol".
    """

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


class GraderFailure(BaseException):
    """The grader itself failed (a worker that cannot start, an instructor's cell that fails):
    no student's code is to blame, so no score is recorded and the student is graded again
    on the next run. A BaseException for the same reason as WorkerLost."""


def bwrap_path() -> str | None:
    """The bubblewrap executable, or None."""
    return shutil.which("bwrap")


def _python_roots() -> list[str]:
    """Folders the worker's Python needs to read: the installation and its packages."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sysconfig.get_paths()["stdlib"],
             sysconfig.get_paths()["platstdlib"], *site.getsitepackages()}
    roots.add(os.path.dirname(os.path.realpath(sys.executable)))
    keep = []
    for r in sorted(Path(p).resolve().as_posix() for p in roots if p and os.path.isdir(p)):
        if not any(r == k or r.startswith(k + "/") for k in keep):
            keep.append(r)
    return keep


def _seqlib_dirs() -> list[str]:
    spec = find_spec("seqlib")
    return [Path(p).resolve().as_posix() for p in (spec.submodule_search_locations or [])] if spec else []


def check_sandbox() -> None:
    """Raise SandboxUnavailable, saying what to do, unless bubblewrap can start a worker here."""
    bwrap = bwrap_path()
    if bwrap is None:
        raise SandboxUnavailable(f"the grading sandbox needs bubblewrap (bwrap), which is not installed: {INSTALL_HINT}. "
                                 "(--unsafe-no-sandbox grades without it, on a machine where no submission is hostile.)")
    probe = subprocess.run([bwrap, "--unshare-all", "--uid", "65534", "--gid", "65534", "--ro-bind", "/", "/",
                            "--dev", "/dev", "--proc", "/proc", "true"], capture_output=True, text=True, timeout=30,
                           env={"PATH": "/usr/bin:/bin"})
    if probe.returncode != 0:
        raise SandboxUnavailable(
            f"bubblewrap cannot create its namespaces here ({probe.stderr.strip()[:200]}); on Debian/Ubuntu a "
            "non-root user needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or "
            "kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 24.04), or run grading as root.")


def enforcement(sandbox: bool = True) -> str:
    """One line: what holds a worker in on this machine (printed with every class run)."""
    parts = ["bubblewrap namespaces, read-only file system" if sandbox else "NO namespaces (--unsafe-no-sandbox)"]
    reason = kernel.available()
    parts.append("seccomp with kernel-reported refusals" if reason is None else f"NO seccomp ({reason})")
    parts.append(Cgroup.support())
    return "; ".join(parts)


def worker_command(torch: bool, sandbox: bool, limits: Limits) -> list[str]:
    """The command line that starts one worker (its channel to the seccomp supervisor is added
    by Worker)."""
    python = sys.executable  # the venv's own path (a link), so that Python finds its pyvenv.cfg
    args = ["--torch"] if torch else []
    if not sandbox:
        return [python, "-I", str(WORKER_FILES["worker.py"]), "--scratch", "{scratch}", "--unsafe", *args]
    cmd = [bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session", "--uid", "65534", "--gid", "65534",
           "--cap-drop", "ALL", "--hostname", "sandbox"]
    for d in ("/usr", "/bin", "/lib", "/lib32", "/lib64", "/etc/alternatives"):
        if os.path.exists(d):
            cmd += ["--ro-bind", d, d]
    for f in ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group"):
        if os.path.exists(f):
            cmd += ["--ro-bind", f, f]
    # The scratch tmpfs first: a Python or a virtual environment under /tmp (a clone in /tmp,
    # say) is then bound on top of it instead of being hidden by it.
    cmd += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.scratch_bytes), "--tmpfs", "/tmp"]
    for root in _python_roots():
        if not root.startswith("/usr/"):
            cmd += ["--ro-bind", root, root]
    for d in _seqlib_dirs():  # the reference answers: hidden wherever they are installed
        if any(d == r or d.startswith(r.rstrip("/") + "/") for r in _python_roots() + ["/usr"]):
            cmd += ["--tmpfs", d]
    for name, path in WORKER_FILES.items():
        cmd += ["--ro-bind", str(path), f"/worker/{name}"]
    # Nothing writable but /tmp: not / (bubblewrap's own tmpfs), not /dev (its /dev/shm would
    # be memory outside every limit).
    cmd += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp", "--clearenv",
            "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp", "--setenv", "PATH", "/usr/bin:/bin"]
    for var, value in THREAD_ENV.items():
        cmd += ["--setenv", var, value]
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # this machine's BLAS settings, if any
        if var in os.environ:
            cmd += ["--setenv", var, os.environ[var]]
    return cmd + ["--", python, "-I", "/worker/worker.py", "--scratch", "/tmp", *args]


def _clean_env() -> dict:
    """The environment bubblewrap (or an unsandboxed worker) starts with: nothing of the grader's."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", **THREAD_ENV}
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            env[var] = os.environ[var]
    return env


class Worker:
    """One sandboxed worker process and the channel to it.

    request(header, values) sends a message and returns (reply header, arrays), answering the
    worker's callbacks on the way with callbacks[id](*args); it raises WorkerLost when the
    worker does not answer within limits.call_seconds, dies, or sends something malformed.
    The constructor raises GraderFailure when the worker cannot be started at all.
    """

    def __init__(self, torch: bool = False, sandbox: bool = True, limits: Limits = Limits()):
        self.limits = limits
        self.sandboxed = sandbox
        self.torch_module = None
        if torch:
            import torch as torch_module
            self.torch_module = torch_module
        self.scratch = None if sandbox else tempfile.mkdtemp(prefix="seqlib-worker-")
        self.cgroup = Cgroup.create(limits)
        self.supervisor = None
        self.lost: WorkerLost | None = None
        self.requests = 0
        self.progress: dict[str, int] = {}  # cell id -> the last top-level statement it started
        cmd = [c.replace("{scratch}", self.scratch or "") for c in worker_command(torch, sandbox, limits)]
        ours, theirs = (None, None) if kernel.available() else socket.socketpair()
        if theirs is not None:
            cmd.append(f"--kernel-fd={theirs.fileno()}")
        cgroup = self.cgroup

        def prepare():  # in the child, between fork and exec
            set_rlimits(limits)
            if cgroup is not None:
                cgroup.enter()

        self.errors = tempfile.TemporaryFile()  # what bubblewrap or Python say before the worker runs
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
                                         preexec_fn=prepare, start_new_session=True, env=_clean_env(),
                                         cwd=self.scratch, pass_fds=(theirs.fileno(),) if theirs else ())
        except OSError as err:
            self._cleanup()
            raise GraderFailure(f"the grading worker could not be started: {err}") from None
        finally:
            if theirs is not None:
                theirs.close()
        os.set_blocking(self.proc.stdin.fileno(), False)  # writes wait in select, under a deadline
        self.started = time.perf_counter()
        if ours is not None:
            try:
                self.supervisor = kernel.Supervisor(kernel.receive_listener(ours, limits.start_seconds))
            except (OSError, TimeoutError) as err:
                self.kill()
                raise GraderFailure(f"the grading worker did not install its seccomp filter: {err}; "
                                    f"{self._death()}") from None
            finally:
                ours.close()

    def refusals(self) -> list[dict]:
        """What the kernel refused this worker so far (reported to the supervisor, not by the worker)."""
        return self.supervisor.events() if self.supervisor is not None else []

    # ---- framing with a deadline
    def _read_exact(self, n: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()
        chunks, left = [], n
        while left:
            wait = deadline - time.perf_counter()
            if wait <= 0:
                raise WorkerLost("timeout", f"no answer within {self._seconds:.3g} s")
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                continue
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                raise WorkerLost("crash", self._death())
            chunks.append(b)
            left -= len(b)
        return b"".join(chunks)

    def _send(self, data: bytes, deadline: float) -> None:
        """Write data to the worker, waiting at most until deadline (a worker busy in the
        student's code does not read, and a full pipe would otherwise block the grader)."""
        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        while view:
            wait = deadline - time.perf_counter()
            if wait <= 0:
                raise WorkerLost("timeout", f"the worker did not read its request within {self._seconds:.3g} s")
            _, ready, _ = select.select([], [fd], [], wait)
            if not ready:
                continue
            try:
                view = view[os.write(fd, view[:1 << 20]):]
            except BlockingIOError:
                continue
            except OSError:
                raise WorkerLost("crash", self._death()) from None

    def _death(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "closed its channel"
        if code > 128 and self.sandboxed:
            code = 128 - code  # bubblewrap reports a child killed by signal k as 128 + k
        if code < 0:
            sig = signal.Signals(-code).name
            why = {"SIGKILL": " (killed: out of memory or its own doing)", "SIGXCPU": " (CPU-time limit)",
                   "SIGSEGV": " (segmentation fault)", "SIGSYS": " (a system call the sandbox forbids)"}.get(sig, "")
            return f"the worker died from {sig}{why}"
        said = b""
        try:
            self.errors.seek(0)
            said = self.errors.read()[-300:]
        except (OSError, ValueError):
            pass
        return f"the worker exited with status {code}" + (f": {said.decode(errors='replace').strip()}" if said else "")

    def request(self, header: dict, enc: Encoder | None = None, callbacks: dict | None = None,
                seconds: float | None = None):
        """Send header (encoded by enc, whose arrays travel with it) and wait for the reply.

        Returns (reply header, its arrays). Callbacks from the worker are answered
        on the way with callbacks[id](*args). Every read and write shares one deadline.
        """
        if self.lost is not None:
            raise self.lost
        self._seconds = seconds or self.limits.call_seconds
        deadline = time.perf_counter() + self._seconds
        try:
            self._send(pack(header, enc.arrays if enc is not None else []), deadline)
            self.requests += 1
            while True:
                try:
                    reply, arrays = read_message(lambda n: self._read_exact(n, deadline), UNTRUSTED)
                except ProtocolError as err:
                    raise WorkerLost("protocol", str(err)) from None
                if not isinstance(reply, dict):
                    raise WorkerLost("protocol", "a reply that is not an object")
                if reply.get("op") == "progress":  # a cell's top-level statement starts
                    if isinstance(reply.get("statement"), int) and len(self.progress) < 10_000:
                        self.progress[str(reply.get("cell"))[:200]] = reply["statement"]
                    continue
                if reply.get("op") != "callback":
                    return reply, arrays
                self._answer_callback(reply, arrays, callbacks or {}, deadline)
        except WorkerLost as lost:
            self.lost = lost
            self.kill()
            raise

    def _answer_callback(self, reply, arrays, callbacks, deadline):
        k = reply.get("id")
        if not isinstance(k, int) or k not in callbacks:
            raise WorkerLost("protocol", f"a callback to unknown function {str(k)[:40]}")
        enc = Encoder(None, self.torch_module)
        try:
            dec = Decoder(arrays, None, self.torch_module, UNTRUSTED)
            args = dec(reply.get("args", []))
            kwargs = dec(reply.get("kwargs", {"$d": {}}))
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise ProtocolError("callback arguments are not a list and a dict")
            # The grader's function runs under the test's deadline (seqlib.grading.job's alarm),
            # on arguments bounded like every reply (UNTRUSTED caps).
            answer = {"ok": enc.plain(callbacks[k](*args, **kwargs))}
        except ProtocolError as err:
            raise WorkerLost("protocol", str(err)) from None
        except Exception as err:  # noqa: BLE001 - the grader's function failed on the worker's input
            answer, enc = {"error": type(err).__name__, "message": str(err)[:500]}, Encoder()
        self._send(pack(answer, enc.arrays), deadline)

    def kill(self) -> None:
        """End the worker and everything it started, now."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self._cleanup()

    def _cleanup(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None
        if self.cgroup is not None:
            self.cgroup.remove()
        try:
            self.errors.close()
        except (OSError, AttributeError):
            pass

    def close(self) -> None:
        """Let the worker end (EOF on its channel), killing it if it lingers."""
        if self.proc.poll() is None and self.lost is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
