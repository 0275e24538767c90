"""seqlib: the library of *Sequence Models from Scratch*.

Every concept of the course lives here twice, with the same module names:

- ``seqlib.numpy``: forward and hand-written backward passes in NumPy, following the
  ``*_forward(...) -> (out, cache)`` / ``*_backward(dout, cache)`` contract;
- ``seqlib.torch``: the same equations as ``torch.nn`` modules, on CPU or GPU.

Framework-free parts sit beside them: ``seqlib.cells`` (the cells by name), ``seqlib.gradcheck``
(finite differences), ``seqlib.shapes`` (argument checking), ``seqlib.decode`` (greedy, sampling,
beam search) and ``seqlib.grading`` (nbgrader helpers). ``seqlib.train`` (TrainConfig, Trainer)
trains the PyTorch models on the tasks of ``seqlib.tasks``; ``python -m seqlib`` is the command
line over all of it.

Shape letters, used in every docstring of the library:

=====  ==========================================
N      batch size (sequences processed together)
T      time steps
D      input features at one step
H      hidden units
V      vocabulary size
L      layers of a stacked network
=====  ==========================================

Everything is batch-first: a sequence batch is (N, T, D), never (T, N, D).
"""

__version__ = "0.1.0"
