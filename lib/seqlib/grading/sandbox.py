"""The sandbox a student's code runs in, and the trusted side of the channel to it.

A worker (seqlib/grading/worker.py, run as a script) is started by bubblewrap with:

- no network (a new, empty network namespace), new PID, IPC, UTS and user namespaces, the
  user ``nobody`` inside, and the process killed with its parent;
- a file system of the operating system (/usr, /lib), the Python installation and its
  packages, all read-only, and a private tmpfs at /tmp (the scratch folder, 64 MB) as the
  only writable place. The course folder is not there at all: not the solutions, the
  gradebook, other students' submissions, nor seqlib (whose reference implementations are
  the answers): wherever seqlib is installed, its folder is hidden;
- limits: CPU seconds, address space, the size of any file it writes (its printed output is
  such a file, so 50 MB of prints stop at the cap), open files.

Where bubblewrap is missing, grading refuses to start and says how to install it, unless
``unsafe_no_sandbox`` is set (one trusted machine): then the worker is a plain child process
with the same limits and audit hook, but it can read everything the grader can.

``Worker`` is the grader's end: it starts the process, sends requests and reads replies, each
under a deadline; a worker that misses one, dies or breaks the protocol is killed and
reported, never waited for.
"""

from __future__ import annotations

import os
import resource
import select
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from seqlib.grading.channel import Encoder, ProtocolError, decode, pack, read_message

WORKER_SCRIPT = Path(__file__).with_name("worker.py")
HARNESS = Path(__file__).with_name("harness.py")
CHANNEL = Path(__file__).with_name("channel.py")
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap)"


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


@dataclass(frozen=True)
class Limits:
    """What one worker may use. call_seconds: wall-clock seconds for one request; load_seconds:
    for running one cell's top level; start_seconds: for the worker to start (imports)."""

    cpu_seconds: int = 120
    memory_bytes: int = 1 << 30  # NumPy work; a torch worker gets TORCH_MEMORY (seqlib.grading.job)
    output_bytes: int = 8 << 20
    scratch_bytes: int = 64 << 20
    open_files: int = 256
    call_seconds: float = 30.0
    load_seconds: float = 10.0
    start_seconds: float = 60.0


def limits_from_env(**overrides) -> Limits:
    """Limits, with seconds overridden by $SEQLIB_CALL_TIMEOUT, $SEQLIB_LOAD_TIMEOUT and memory
    by $SEQLIB_WORKER_MEMORY_MB where set, then by overrides."""
    values = {}
    for var, key, cast in (("SEQLIB_CALL_TIMEOUT", "call_seconds", float),
                           ("SEQLIB_LOAD_TIMEOUT", "load_seconds", float),
                           ("SEQLIB_WORKER_MEMORY_MB", "memory_bytes", lambda v: int(float(v)) << 20)):
        if os.environ.get(var):
            values[key] = cast(os.environ[var])
    values.update(overrides)
    return Limits(**values)


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
                            "--dev", "/dev", "--proc", "/proc", "true"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        raise SandboxUnavailable(
            f"bubblewrap cannot create its namespaces here ({probe.stderr.strip()[:200]}); on Debian/Ubuntu a "
            "non-root user needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or "
            "kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu 24.04), or run grading as root.")


def worker_command(torch: bool, sandbox: bool, limits: Limits) -> list[str]:
    """The command line that starts one worker."""
    python = sys.executable  # the venv's own path (a link), so that Python finds its pyvenv.cfg
    script = ["-I"]
    args = ["--torch"] if torch else []
    if not sandbox:
        return [sys.executable, *script, str(WORKER_SCRIPT), "--scratch", "{scratch}", "--harness", str(HARNESS), *args]
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
    cmd += ["--ro-bind", str(WORKER_SCRIPT), "/worker/worker.py", "--ro-bind", str(CHANNEL), "/worker/channel.py",
            "--ro-bind", str(HARNESS), "/worker/harness.py",
            "--chdir", "/tmp", "--clearenv",
            "--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp", "--setenv", "PATH", "/usr/bin:/bin",
            "--setenv", "OMP_NUM_THREADS", "1", "--setenv", "OPENBLAS_NUM_THREADS", "1",
            "--setenv", "MKL_NUM_THREADS", "1", "--setenv", "PYTHONHASHSEED", "0"]
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # this machine's BLAS settings, if any
        if var in os.environ:
            cmd += ["--setenv", var, os.environ[var]]
    return cmd + ["--", python, *script, "/worker/worker.py", "--scratch", "/tmp", "--harness", "/worker/harness.py",
                  *args]


def _limit(limits: Limits):
    def apply():
        for res, value in ((resource.RLIMIT_CPU, limits.cpu_seconds), (resource.RLIMIT_AS, limits.memory_bytes),
                           (resource.RLIMIT_FSIZE, limits.output_bytes), (resource.RLIMIT_NOFILE, limits.open_files),
                           (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(res, (value, value))
    return apply


class Worker:
    """One sandboxed worker process and the channel to it.

    request(header, values) sends a message and returns (reply header, arrays), answering the
    worker's callbacks on the way with callbacks[id](*args); it raises WorkerLost when the
    worker does not answer within limits.call_seconds, dies, or sends something malformed.
    """

    def __init__(self, torch: bool = False, sandbox: bool = True, limits: Limits = Limits()):
        self.limits = limits
        self.sandboxed = sandbox
        self.torch_module = None
        if torch:
            import torch as torch_module
            self.torch_module = torch_module
        scratch = None
        if not sandbox:
            import tempfile
            scratch = tempfile.mkdtemp(prefix="seqlib-worker-")
        self.scratch = scratch
        cmd = [c.replace("{scratch}", scratch or "") for c in worker_command(torch, sandbox, limits)]
        env = None
        if not sandbox:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "SEQLIB"))}
            env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
        import tempfile

        self.errors = tempfile.TemporaryFile()  # what bubblewrap or Python say before the worker runs
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
                                     preexec_fn=_limit(limits), start_new_session=True, env=env, cwd=scratch)
        self.started = time.perf_counter()
        self.requests = 0
        self.lost: WorkerLost | None = None

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
                   "SIGSEGV": " (segmentation fault)"}.get(sig, "")
            return f"the worker died from {sig}{why}"
        said = b""
        try:
            self.errors.seek(0)
            said = self.errors.read()[-300:]
        except (OSError, ValueError):
            pass
        return f"the worker exited with status {code}" + (f": {said.decode(errors='replace').strip()}" if said else "")

    def _send(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerLost("crash", self._death()) from None

    def request(self, header: dict, enc: Encoder | None = None, callbacks: dict | None = None,
                seconds: float | None = None):
        """Send header (encoded by enc, whose arrays travel with it) and wait for the reply.

        Returns (reply header, arrays). Callbacks from the worker are answered on the way with
        callbacks[id](*args).
        """
        if self.lost is not None:
            raise self.lost
        self._seconds = seconds or self.limits.call_seconds
        deadline = time.perf_counter() + self._seconds
        try:
            self._send(pack(header, enc.arrays if enc is not None else []))
            self.requests += 1
            while True:
                try:
                    reply, arrays = read_message(lambda n: self._read_exact(n, deadline))
                except ProtocolError as err:
                    raise WorkerLost("protocol", str(err)) from None
                if reply.get("op") != "callback":
                    return reply, arrays
                self._answer_callback(reply, arrays, callbacks or {})
        except WorkerLost as lost:
            self.lost = lost
            self.kill()
            raise

    def _answer_callback(self, reply, arrays, callbacks):
        k = reply.get("id")
        if k not in callbacks:
            raise WorkerLost("protocol", f"a callback to unknown function {k!r}")
        enc = Encoder(None, self.torch_module)
        try:
            args = decode(reply.get("args", []), arrays, None, self.torch_module)
            kwargs = decode(reply.get("kwargs", {"$d": {}}), arrays, None, self.torch_module)
            answer = {"ok": enc.plain(callbacks[k](*args, **kwargs))}
        except ProtocolError as err:
            raise WorkerLost("protocol", str(err)) from None
        except Exception as err:  # noqa: BLE001 - the grader's function failed on the worker's input
            answer, enc = {"error": type(err).__name__, "message": str(err)[:500]}, Encoder()
        self._send(pack(answer, enc.arrays))

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
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None
        try:
            self.errors.close()
        except OSError:
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
