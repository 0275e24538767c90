"""What one grading worker may use, and the kernel mechanisms that hold it to that.

Every worker gets resource limits (``setrlimit``) before it starts: CPU seconds, address space
(which covers every thread's stack and every mapping, so a thread bomb or a large array both
end in ``MemoryError``), the size of any file it writes (its printed output is one), open
files, no core dumps. Its scratch ``/tmp`` is a tmpfs of a fixed size, and the seccomp filter
(seqlib/grading/kernel.py) refuses the ways around these: new processes (each would get
limits of its own), ``memfd_create`` (memory outside the address space), sockets.

Where the machine allows it (root, or a delegated cgroup), the worker also runs in a cgroup of
its own, which bounds what rlimits cannot see together: the memory of the process *and* of its
scratch tmpfs, and the number of tasks (threads included). ``Cgroup.support()`` says which
holds here; the summary of a class run prints it.
"""

from __future__ import annotations

import os
import resource
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """What one worker may use. call_seconds: wall-clock seconds for one request; load_seconds:
    for running one cell's top level; start_seconds: for the worker to start (imports)."""

    cpu_seconds: int = 120
    memory_bytes: int = 1 << 30  # NumPy work; a torch worker gets TORCH_MEMORY (seqlib.grading.job)
    output_bytes: int = 8 << 20
    scratch_bytes: int = 64 << 20
    open_files: int = 256
    tasks: int = 64  # threads (BLAS, torch) of the worker and of bubblewrap; no processes: seccomp
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


def set_rlimits(limits: Limits) -> None:
    """Apply limits to the calling process (a worker, between fork and exec)."""
    for res, value in ((resource.RLIMIT_CPU, limits.cpu_seconds), (resource.RLIMIT_AS, limits.memory_bytes),
                       (resource.RLIMIT_FSIZE, limits.output_bytes), (resource.RLIMIT_NOFILE, limits.open_files),
                       (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (value, value))


class Cgroup:
    """One worker's cgroup: memory (its own and its tmpfs pages) and tasks, enforced by the kernel.

    ``Cgroup.create(limits)`` returns None where no writable cgroup hierarchy with the memory
    and pids controllers is found; ``support()`` says which holds. The group is made under the
    grader's own group (so a limit set on the grader still holds above it), entered by the
    worker between fork and exec (``enter``), and removed after the worker is killed.
    """

    ROOT = Path("/sys/fs/cgroup")

    def __init__(self, dirs: list[Path], procs: list[Path]):
        self.dirs, self.procs = dirs, procs

    # ---- where the machine allows it
    @classmethod
    def _own(cls, controller: str | None) -> Path | None:
        """The grader's own group in the hierarchy of controller (None: the cgroup v2 one)."""
        try:
            lines = Path("/proc/self/cgroup").read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            _, names, path = line.split(":", 2)
            if controller is None and names == "":
                # cgroup v2 only where it is the whole hierarchy (a hybrid's has no controllers)
                return cls.ROOT / path.lstrip("/") if (cls.ROOT / "cgroup.controllers").exists() else None
            if controller is not None and controller in names.split(","):
                return cls.ROOT / controller / path.lstrip("/")
        return None

    @classmethod
    def _layout(cls):
        """("v1", memory dir, pids dir) or ("v2", dir, None) where the grader may make groups; else None."""
        memory, pids = cls._own("memory"), cls._own("pids")
        if memory and pids and os.access(memory, os.W_OK) and os.access(pids, os.W_OK):
            return "v1", memory, pids
        unified = cls._own(None)
        if unified and os.access(unified, os.W_OK):
            wanted = {"memory", "pids"}
            try:
                have = set((unified / "cgroup.controllers").read_text().split())
            except OSError:
                return None
            if wanted <= have:
                return "v2", unified, None
        return None

    @classmethod
    def support(cls) -> str:
        """One line: what bounds a worker's memory and tasks on this machine."""
        layout = cls._layout()
        if layout is not None:
            return (f"cgroup {layout[0]}: memory (the worker's and its scratch tmpfs) and tasks are capped per worker "
                    "by the kernel, on top of rlimits and seccomp")
        return ("no writable cgroup (not root, or no delegated cgroup): memory is bounded by RLIMIT_AS (every "
                "thread and mapping) plus the fixed-size scratch tmpfs, processes are refused by seccomp; tasks "
                "(threads) are bounded only through RLIMIT_AS")

    @classmethod
    def create(cls, limits: Limits) -> "Cgroup | None":
        layout = cls._layout()
        if layout is None:
            return None
        name = f"seqlib-worker-{uuid.uuid4().hex[:12]}"
        memory = limits.memory_bytes + limits.scratch_bytes + (64 << 20)  # + the kernel's own bookkeeping
        try:
            if layout[0] == "v1":
                mem, pids = layout[1] / name, layout[2] / name
                mem.mkdir()
                pids.mkdir()
                (mem / "memory.limit_in_bytes").write_text(str(memory))
                (pids / "pids.max").write_text(str(limits.tasks))
                return cls([mem, pids], [mem / "cgroup.procs", pids / "cgroup.procs"])
            parent = layout[1] / "seqlib-grading"
            if not parent.exists():
                parent.mkdir()
            (layout[1] / "cgroup.subtree_control").write_text("+memory +pids")
            (parent / "cgroup.subtree_control").write_text("+memory +pids")
            group = parent / name
            group.mkdir()
            (group / "memory.max").write_text(str(memory))
            if (group / "memory.swap.max").exists():
                (group / "memory.swap.max").write_text("0")
            (group / "pids.max").write_text(str(limits.tasks))
            return cls([group], [group / "cgroup.procs"])
        except OSError:
            return None

    def enter(self) -> None:
        """Move the calling process into the group (called between fork and exec)."""
        pid = str(os.getpid())
        for procs in self.procs:
            with open(procs, "w") as f:
                f.write(pid)

    def kill(self) -> None:
        """SIGKILL every process in the group (those bubblewrap started in a session of its own too)."""
        for procs in self.procs:
            try:
                pids = [int(p) for p in procs.read_text().split()]
            except (OSError, ValueError):
                continue
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def remove(self) -> None:
        """Kill what is left in the group and remove it (a group can go once it is empty)."""
        for attempt in range(50):
            self.kill()
            left = []
            for d in self.dirs:
                try:
                    d.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(d)
            self.dirs = left
            if not left:
                return
            time.sleep(0.02)
