"""What a PyTorch test needs to run next to the student's code: autograd, modules, training.

A test of a torch assignment must run the student's module forward *and backward*: the
gradients exist only in the process that built the graph. So these helpers run where the
student's code runs. In the student's notebook that is the notebook itself; when the work is
graded, the same call, given the grader's stand-in for the student's class or function,
runs in the sandboxed worker, and only tensors and numbers come back::

    out, grads = harness.module_grads(CharLM, (V, E, H), {}, weights, (tokens,), dout)

This file imports nothing from seqlib: the worker loads it as ``seqlib.grading.harness``
(the only part of seqlib it has). Whatever the student's code does to it in the worker, the
grader only ever receives numbers, and checks them against its own reference.
"""

from __future__ import annotations

import functools


def remote_capable(fn):
    """Run fn where its student-code arguments live: here, or in their grading worker."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        for value in list(args) + list(kwargs.values()):
            session = getattr(value, "_seqlib_remote_session", None)
            if session is not None:
                return session.call({"$n": "seqlib_grading_harness"}, args, kwargs, what=fn.__name__,
                                    attr=[fn.__name__])
        return fn(*args, **kwargs)

    return call


def _build(cls, args, kwargs, state_dict):
    """cls(*args, **kwargs) with state_dict loaded (strict), in the state dict's float dtype."""
    import torch

    model = cls(*args, **(kwargs or {}))
    if state_dict is not None:
        state = {k: torch.as_tensor(v) for k, v in state_dict.items()}
        floats = {v.dtype for v in state.values() if v.dtype.is_floating_point}
        if len(floats) == 1:
            model = model.to(floats.pop())
        model.load_state_dict(state, strict=True)
    return model


def _tensors(values, requires_grad: bool):
    import torch

    out = []
    for v in values:
        if isinstance(v, torch.Tensor) and requires_grad and v.dtype.is_floating_point:
            v = v.detach().clone().requires_grad_(True)
        out.append(v)
    return out


def _backward(out, dout) -> None:
    import torch

    outs = out if isinstance(out, (tuple, list)) else (out,)
    douts = dout if isinstance(dout, (tuple, list)) else (dout,)
    total = 0
    for o, d in zip(outs, douts):
        if isinstance(o, torch.Tensor) and o.requires_grad:
            total = total + ((o * d).sum() if d is not None else o.sum())
    if isinstance(total, torch.Tensor):
        total.backward()


def _detach(out):
    import torch

    if isinstance(out, torch.Tensor):
        return out.detach()
    if isinstance(out, (tuple, list)):
        return type(out)(_detach(o) for o in out)
    return out


@remote_capable
def grads(fn, inputs, dout=None):
    """fn(*inputs) and the gradient of sum(out * dout) (sum(out) where dout is None) with
    respect to every floating-point tensor of inputs (None for the others).

    Returns (out, [grad of each input]); out may be a tuple of tensors, and dout then one.
    """
    inputs = _tensors(inputs, requires_grad=True)
    out = fn(*inputs)
    _backward(out, dout)
    return _detach(out), [getattr(x, "grad", None) for x in inputs]


@remote_capable
def module_grads(cls, args, kwargs, state_dict, inputs, dout=None, method=None):
    """Build cls(*args, **kwargs), load state_dict (strict: same parameter names; the model
    takes its dtype), run it (or its method) on inputs, and backpropagate sum(out * dout).

    Returns (out, {parameter name: gradient}, [gradient of each floating-point input]).
    """
    model = _build(cls, args, kwargs, state_dict)
    inputs = _tensors(inputs, requires_grad=True)
    out = (getattr(model, method) if method else model)(*inputs)
    _backward(out, dout)
    param_grads = {name: p.grad for name, p in model.named_parameters()}
    return _detach(out), param_grads, [getattr(x, "grad", None) for x in inputs]


@remote_capable
def module_state(cls, args=(), kwargs=None):
    """The parameter names and shapes of cls(*args, **kwargs): {name: shape}."""
    model = cls(*args, **(kwargs or {}))
    return {name: list(p.shape) for name, p in model.state_dict().items()}


@remote_capable
def train_steps(cls, args, kwargs, state_dict, step, batches, lr=1e-2, seed=0):
    """Build and load a model as module_grads does, then call ``step(model, optimizer, x, y,
    state) -> (loss, state)`` for each (x, y) of batches with Adam(lr), seeded.

    Returns (losses, the final state_dict). The step function is the student's: it decides
    how to detach the carried state and clip the gradients.
    """
    import torch

    torch.manual_seed(seed)
    model = _build(cls, args, kwargs, state_dict)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    state, losses = None, []
    for x, y in batches:
        loss, state = step(model, optimizer, torch.as_tensor(x), torch.as_tensor(y), state)
        losses.append(float(loss))
    return losses, {k: v.detach() for k, v in model.state_dict().items()}
