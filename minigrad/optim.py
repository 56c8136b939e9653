"""Optimizers, learning-rate schedules and gradient clipping.

The optimizers and the clipping work on the arrays in place and stay on the device: no value
comes back to the host, so a GPU training loop is never stalled by them.  What they check (that
each gradient has the shape, dtype and device of its parameter) is metadata, known without
looking at the values.  The hyper-parameters and the step counts are Python numbers, so the bias
corrections of Adam and the schedules are computed on the host without reading the device.

    SGD, Adam, AdamW, RMSprop, Adagrad       torch.optim's update rules, names and defaults
    lr_scheduler: StepLR, MultiStepLR, ExponentialLR, LambdaLR, CosineAnnealingLR,
                  ReduceLROnPlateau         torch.optim.lr_scheduler's (``scheduler.step()``
                                              after ``optimizer.step()``)
    grad_norm, clip_grad_norm, clip_grad_value, clip_scale

As in PyTorch, ``lr`` may be changed between steps (``opt.lr = ...``: that is what a schedule
does); unlike PyTorch there are no parameter groups: one ``lr`` for all parameters
(``opt.param_groups`` is that one group, a view whose ``"lr"`` can be set; a list of dicts is
refused).  Also as in PyTorch: ``step(closure)`` returns the closure's loss;
``zero_grad(set_to_none=False)`` zeros the gradients in place; ``opt.state[p]`` (a parameter, or
its index) is its state dict (``"step"``, ``"exp_avg"``, ... ; SGD's ``"momentum_buffer"``);
``model.named_parameters()`` may be given instead of ``parameters()``; ``foreach`` is accepted
and ignored (there is one implementation).
"""
from __future__ import annotations

import math
import sys
import types
from collections import Counter
from collections.abc import MutableMapping
from numbers import Real

import numpy as np

from .autograd import DeviceMismatchError, enable_grad
from .nn import _check_state, _zero_grads
from .tensor import Tensor, check_fits


class _State(list):
    """``optimizer.state``: one entry per parameter, indexed by position (None before its first
    update) or, as PyTorch's ``defaultdict(dict)``, by the parameter itself: a parameter without
    state gets an empty dict, kept, so that ``opt.state[p]["key"] = value`` stays (and then
    ``p in opt.state``, as in PyTorch)."""

    def __init__(self, params):
        super().__init__([None] * len(params))
        self._index = {id(p): i for i, p in enumerate(params)}

    def __getitem__(self, key):
        if isinstance(key, Tensor):
            if id(key) not in self._index:
                raise KeyError("optimizer.state: this tensor is not one of the optimizer's parameters")
            i = self._index[id(key)]
            s = super().__getitem__(i)
            if s is None:
                s = {}
                super().__setitem__(i, s)
            return s
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        """``p in optimizer.state``: whether parameter ``p`` has state yet (an update, or a look
        at ``opt.state[p]``), as PyTorch's dict."""
        if isinstance(key, Tensor):
            return id(key) in self._index and super().__getitem__(self._index[id(key)]) is not None
        return super().__contains__(key)


_HYPER = ("momentum", "dampening", "weight_decay", "nesterov", "betas", "eps", "amsgrad", "alpha", "centered",
          "lr_decay", "initial_accumulator_value", "maximize", "initial_lr")


class _ParamGroup(MutableMapping):
    """``optimizer.param_groups[0]``: PyTorch's one parameter group as a view of the optimizer:
    ``"params"``, ``"lr"`` and the hyper-parameters to read; ``"lr"`` (only) to set, checked
    as ``optimizer.lr = ...``."""

    def __init__(self, opt):
        self._opt = opt

    def _keys(self) -> list:
        return ["params", "lr"] + [k for k in _HYPER if hasattr(self._opt, k)]

    def __getitem__(self, key):
        if key not in self._keys():
            raise KeyError(f"{type(self._opt).__name__}.param_groups[0] has no {key!r}; it has {self._keys()}")
        return list(self._opt.params) if key == "params" else getattr(self._opt, key)

    def __setitem__(self, key, value):
        if key != "lr":
            raise TypeError(f"{type(self._opt).__name__}.param_groups[0][{key!r}] can't be set here; only 'lr' can "
                            f"(the other hyper-parameters are the constructor's)")
        self._opt.lr = value

    def __delitem__(self, key):
        raise TypeError(f"{type(self._opt).__name__}.param_groups[0]: entries can't be deleted")

    def __iter__(self):
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())


class Optimizer:
    """What the optimizers share: the parameters (leaf tensors, each once), ``lr`` (checked on
    every change, schedules' too), ``zero_grad()``, and the per-parameter state with its
    ``state_dict()``.

    A subclass names its per-parameter buffers in ``_buffers`` (zero at the first step of a
    parameter unless ``_initial_value`` says otherwise) and writes ``_update(p, g, state)``;
    ``state["step"]`` counts the updates that parameter had.  A parameter whose ``grad`` is None
    is skipped and its state left as it was, as in PyTorch.
    """
    _buffers: tuple = ()

    def __init__(self, params, lr: float):
        who = type(self).__name__
        self.params = _parameters(who, params)
        if not self.params:
            raise ValueError(f"{who} got an empty parameter list")
        for i, p in enumerate(self.params):
            if not p.is_leaf:
                raise ValueError(f"{who}: can't optimize {_label(i, p)}: it is not a leaf but the result of "
                                 f"{p.node.op.name}; optimize the leaf tensors it is computed from")
        self.lr = lr
        self.state = _State(self.params)

    @property
    def param_groups(self) -> list:
        """``[group]``: the one parameter group, a view (see :class:`_ParamGroup`)."""
        return [_ParamGroup(self)]

    def add_param_group(self, group) -> None:
        raise TypeError(f"{type(self).__name__}: parameter groups are not supported (one lr for all "
                        f"parameters); make a second optimizer for these parameters")

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value) -> None:                    # checked on every change (schedules too)
        who = type(self).__name__
        if not (_number(who, "lr", value) >= 0 and math.isfinite(value)):
            raise ValueError(f"{who}: lr must be non-negative and finite, got {value}")
        self._lr = float(value)                     # a Python float: a NumPy scalar would promote float32 arrays

    def zero_grad(self, set_to_none: bool = True) -> None:
        """``grad = None`` for every parameter (``set_to_none=False``: zeros, in place)."""
        _zero_grads(self.params, set_to_none)

    def _closure(self, closure):
        """The loss ``closure()`` returns, computed with grad mode on (PyTorch's step(closure))."""
        if closure is None:
            return None
        if not callable(closure):
            raise TypeError(f"{type(self).__name__}.step: closure must be a function that computes the loss "
                            f"and its gradients, got {type(closure).__name__}")
        with enable_grad():
            return closure()

    def _gradients(self) -> list:
        """``[(i, p, g)]`` for the parameters that have a gradient (``g`` its array); all are
        checked first, so a bad one changes nothing."""
        who = f"{type(self).__name__}.step"
        grads = [None if p.grad is None else _check_grad(who, i, p).data for i, p in enumerate(self.params)]
        return [(i, p, g) for i, (p, g) in enumerate(zip(self.params, grads)) if g is not None]

    def _initial_value(self) -> float:
        return 0.0

    def _needed(self) -> tuple:
        """The buffers this optimizer's options use (all of ``_buffers`` unless an option is off)."""
        return self._buffers

    def step(self, closure=None):
        """One update of every parameter that has a gradient; with ``closure`` (a function that
        zeroes the gradients, computes the loss, calls backward and returns the loss), the
        closure first, its loss returned, as PyTorch."""
        loss = self._closure(closure)
        updates = self._gradients()
        self._check_buffers(i for i, _, _ in updates)
        for i, p, g in updates:
            s = self.state[i]
            if s is None or "step" not in s:            # (a dict made by opt.state[p]: filled in,
                xp = p.backend.xp                       #  keeping a buffer the caller put there)
                s = self.state[i] = {} if s is None else s
                s["step"] = 0
                for name in self._needed():
                    if name not in s:
                        s[name] = xp.full_like(p.data, self._initial_value())
            s["step"] += 1
            self._update(p, g, s)
        return loss

    def _update(self, p: Tensor, g, s: dict) -> None:
        raise NotImplementedError

    def _check_buffers(self, indices, names=None) -> None:
        """Every buffer of ``state[i]`` (i in ``indices``) must be an array of the parameter's
        shape, dtype and device, since the update writes into it in place: one a caller put
        there (``opt.state[p]["exp_avg"] = ...``) is checked before anything is changed (a
        Tensor is taken as its array)."""
        who = f"{type(self).__name__}.step"
        for i in indices:
            s, p = self.state[i], self.params[i]
            if not s or p.backend.tracing:              # (a trace refuses buffers made outside it)
                continue
            for name in self._needed() if names is None else names:
                if name in s:
                    s[name] = _fitting_buffer(who, i, p, name, s[name])

    def state_dict(self) -> dict:
        """Host arrays, flat, for ``mg.save``/``np.savez`` (no pickle): ``optimizer`` (the class
        name), ``params`` (their number), ``lr`` (and ``initial_lr`` once a schedule was made),
        and per parameter i that has state ``step.i`` and each buffer ``<name>.i``.  The other
        hyper-parameters come from the constructor.  A state that holds no step (made by looking
        at ``opt.state[p]``, or holding only what the caller put there) is not saved: PyTorch's
        (pickled) state_dict would keep it."""
        out = {"optimizer": np.array(type(self).__name__), "params": np.array(len(self.params)),
               "lr": np.array(self.lr)} | _initial_lr(self)
        for i, (p, s) in enumerate(zip(self.params, self.state)):
            if s is not None and "step" in s:
                out[f"step.{i}"] = np.array(s["step"])
                out.update({f"{name}.{i}": p.backend.to_host(s[name]) for name in self._needed()})
        return out

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state`` (what :meth:`state_dict` returned, possibly through a file):
        the next ``step()`` is the one the saved optimizer would have made.  A state of another
        optimizer class, of another number of parameters, or with a buffer of the wrong shape is
        refused, and then nothing is changed."""
        who, n = f"{type(self).__name__}.load_state_dict", len(self.params)
        name = type(self).__name__
        _check_state(who, state)
        tag = state.get("optimizer")
        if tag is None:
            raise ValueError(f"{who}: this state_dict has no 'optimizer' entry (SGD's has none); "
                             f"load one that a {name}'s state_dict() returned")
        if str(np.asarray(tag)) != name:
            raise ValueError(f"{who}: this is the state_dict of {np.asarray(tag)}, not of {name}")
        count = int(np.asarray(state.get("params", -1)))
        if count != n:
            raise ValueError(f"{who}: this state_dict is for {count} parameters, this {name} has {n}")
        allowed = {"optimizer", "params", "lr", "initial_lr"} | {f"{b}.{i}" for b in ("step",) + self._needed() for i in range(n)}
        unexpected = sorted(set(state) - allowed)
        if unexpected:
            raise ValueError(f"{who}: unexpected entry {unexpected[0]!r}; this {name} keeps step.i and "
                             f"{', '.join(b + '.i' for b in self._needed())} (i < {n}): saved with other options?")
        for i, p in enumerate(self.params):
            have = [b for b in self._needed() if f"{b}.{i}" in state]
            if f"step.{i}" not in state and have:
                raise ValueError(f"{who}: {have[0]}.{i} is there but not step.{i}")
            if f"step.{i}" in state:
                for b in self._needed():
                    if f"{b}.{i}" not in state:
                        raise ValueError(f"{who}: step.{i} is there but not {b}.{i}")
                    if np.shape(state[f"{b}.{i}"]) != p.shape:
                        raise ValueError(f"{who}: {b}.{i} has shape {np.shape(state[f'{b}.{i}'])} but "
                                         f"{_label(i, p)} has {p.shape}")
        _load_lr(self, state)
        for i, p in enumerate(self.params):
            if f"step.{i}" not in state:
                self.state[i] = None
                continue
            s = {"step": int(np.asarray(state[f"step.{i}"]))}
            for b in self._needed():
                s[b] = p.backend.asarray(state[f"{b}.{i}"], dtype=p.data.dtype).copy()   # its own: updated in place
            self.state[i] = s


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (heavy-ball) momentum: ``torch.optim.SGD``.

    ``v ← momentum · v + g`` then ``p ← p - lr · v``; with ``momentum=0`` simply
    ``p ← p - lr · g``, the paper's MSGD.  PyTorch's other options, in its order of
    application (λ = ``weight_decay``, τ = ``dampening``, μ = ``momentum``):

        g ← -g if ``maximize``                       (ascent: before the decay, so that
        g ← g + λ p                                   the decay still pulls p towards 0)
        v ← g on the first step, else μ v + (1 - τ) g
        g ← g + μ v if ``nesterov`` else v           (with μ > 0)
        p ← p - lr · g

    ``nesterov=True`` needs μ > 0 and τ = 0, as in PyTorch; ``lr`` is 1e-3 by default, as in
    PyTorch 2.x.  The momentum buffer v of parameter p is ``state[p]["momentum_buffer"]``
    (PyTorch's name; replace it and the next step starts from yours), read by position through
    ``velocity[i]`` (a read-only tuple).

    ``params`` are leaf tensors (``model.parameters()``), each once.  A leaf that does not
    require grad (a frozen parameter) is accepted, as in PyTorch: it gets no gradient, so
    ``step()`` leaves it alone.  A non-leaf is refused: it is recomputed from others, so an
    update to it would be lost.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False, foreach=None):
        super().__init__(params, lr)
        if not 0 <= _number("SGD", "momentum", momentum) < 1:
            raise ValueError(f"SGD: momentum must be a number in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        if not 0 <= _number("SGD", "dampening", dampening) <= 1:
            raise ValueError(f"SGD: dampening must be a number in [0, 1], got {dampening}")
        if not 0 <= _number("SGD", "weight_decay", weight_decay) < math.inf:
            raise ValueError(f"SGD: weight_decay must be a non-negative number, got {weight_decay}")
        if nesterov and (momentum == 0 or dampening != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")
        self.dampening, self.weight_decay = float(dampening), float(weight_decay)
        self.nesterov, self.maximize = bool(nesterov), bool(maximize)

    @property
    def velocity(self) -> tuple:
        """The momentum buffer of each parameter by position, None before its first momentum
        step: ``state[i]["momentum_buffer"]``, read-only (change the state to change it)."""
        return tuple(None if s is None else s.get("momentum_buffer") for s in self.state)

    def step(self, closure=None):
        """Update every parameter that has a gradient; all gradients are checked first, so a
        bad one changes nothing.  ``closure``: as :meth:`Optimizer.step`."""
        loss = self._closure(closure)
        updates = self._gradients()
        self._check_buffers((i for i, _, _ in updates), ("momentum_buffer",) if self.momentum else ())
        for i, p, g in updates:
            if self.maximize:
                g = -g
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if self.momentum:
                s = self.state[i]
                v = None if s is None else s.get("momentum_buffer")
                if v is None:
                    v = g.copy()
                elif p.backend.tracing:                 # mg.trace: a buffer made outside is refused, untouched
                    v = self.momentum * v + (1 - self.dampening) * g
                else:                                   # in place, as PyTorch's buf.mul_(μ).add_(g, alpha=1 - τ):
                    v *= self.momentum                  # a reference to state[p]["momentum_buffer"] stays live
                    v += (1 - self.dampening) * g
                self.state[p]["momentum_buffer"] = v
                g = g + self.momentum * v if self.nesterov else v
            p.data -= self.lr * g
        return loss

    def state_dict(self) -> dict:
        """Host arrays (for checkpoints): ``lr`` (a schedule changes it), ``initial_lr`` once a
        schedule was made, and ``velocity.i`` for each parameter i that has a momentum buffer.
        No ``optimizer`` entry, so that checkpoints written before the other optimizers load."""
        out = {"lr": np.array(self.lr)} | _initial_lr(self)
        return out | {f"velocity.{i}": p.backend.to_host(v)
                      for i, (p, v) in enumerate(zip(self.params, self.velocity)) if v is not None}

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state``; another optimizer's state, an index beyond the parameters or a
        velocity of another shape is refused, and then nothing is changed."""
        _check_state("SGD.load_state_dict", state)
        tag, n = state.get("optimizer"), len(self.params)
        if tag is not None and str(np.asarray(tag)) != "SGD":
            raise ValueError(f"SGD.load_state_dict: this is the state_dict of {np.asarray(tag)}, not of SGD")
        unexpected = sorted(set(state) - {f"velocity.{i}" for i in range(n)} - {"optimizer", "lr", "initial_lr"})
        if unexpected:
            raise ValueError(f"SGD.load_state_dict: unexpected entry {unexpected[0]!r}; SGD keeps velocity.i "
                             f"for its {n} parameters (i < {n})")
        for i, p in enumerate(self.params):
            v = state.get(f"velocity.{i}")
            if v is not None and np.shape(v) != p.shape:
                raise ValueError(f"SGD.load_state_dict: velocity.{i} has shape {np.shape(v)} but "
                                 f"{_label(i, p)} has {p.shape}")
        _load_lr(self, state)
        for i, p in enumerate(self.params):
            v = state.get(f"velocity.{i}")
            # a copy of its own: step() updates it in place, and asarray may return the caller's array
            self.state[i] = None if v is None else {"momentum_buffer": p.backend.asarray(v, dtype=p.data.dtype).copy()}


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): ``torch.optim.Adam``, with its defaults.

    With g the gradient, t the parameter's step count (1 at its first update), λ =
    ``weight_decay``, β₁, β₂ = ``betas``, ε = ``eps``; m, v start at 0:

        g ← -g if ``maximize``
        g ← g + λ p                                  (L2 penalty in the gradient; see AdamW)
        m ← β₁ m + (1 - β₁) g                       (first moment)
        v ← β₂ v + (1 - β₂) g²                      (second moment, elementwise)
        v̂ ← max(v̂, v) if ``amsgrad`` else v         (AMSGrad keeps the largest v seen)
        p ← p - lr / (1 - β₁ᵗ) · m / (√v̂ / √(1 - β₂ᵗ) + ε)

    the last line being ``p - lr · m̂ / (√v̂ₜ + ε)`` with the bias-corrected moments, written as
    PyTorch evaluates it (so that the same numbers come out).  State per parameter:
    ``exp_avg`` (m), ``exp_avg_sq`` (v), ``max_exp_avg_sq`` (with ``amsgrad``).
    """
    _buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False, foreach=None):
        super().__init__(params, lr)
        who = type(self).__name__
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"{who}: betas must be a pair of numbers (beta1, beta2), got {betas!r}") from None
        for k, b in enumerate((beta1, beta2)):
            if not 0 <= _number(who, f"betas[{k}]", b) < 1:
                raise ValueError(f"{who}: betas[{k}] must be a number in [0, 1), got {b}")
        self.betas = (float(beta1), float(beta2))
        self.eps = _non_negative(who, "eps", eps)
        self.weight_decay = _non_negative(who, "weight_decay", weight_decay)
        self.amsgrad, self.maximize = bool(amsgrad), bool(maximize)

    def _needed(self) -> tuple:
        return self._buffers if self.amsgrad else self._buffers[:2]

    def _update(self, p: Tensor, g, s: dict) -> None:
        xp, t, lr = p.backend.xp, s["step"], self.lr
        beta1, beta2 = self.betas
        if self.maximize:
            g = -g
        if self.weight_decay:
            if self._decoupled:
                p.data *= 1 - lr * self.weight_decay
            else:
                g = g + self.weight_decay * p.data
        m = _keep(p, s, "exp_avg", s["exp_avg"] + (1 - beta1) * (g - s["exp_avg"]))     # torch's lerp
        v = _keep(p, s, "exp_avg_sq", beta2 * s["exp_avg_sq"] + (1 - beta2) * (g * g))
        if self.amsgrad:
            v = _keep(p, s, "max_exp_avg_sq", xp.maximum(s["max_exp_avg_sq"], v))
        denom = xp.sqrt(v) / math.sqrt(1 - beta2 ** t) + self.eps
        p.data -= lr / (1 - beta1 ** t) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): ``torch.optim.AdamW``.

    As :class:`Adam` except for λ = ``weight_decay`` (default 0.01), which shrinks the parameter
    directly instead of entering the gradient (and so the moments):

        p ← p · (1 - lr · λ)                         (first, then Adam's update with λ = 0)
    """

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False, foreach=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e; centered: Graves, 2013): ``torch.optim.RMSprop``.

    With α = ``alpha``, ε = ``eps``, λ = ``weight_decay``, μ = ``momentum``; v, ḡ, b start at 0:

        g ← -g if ``maximize``
        g ← g + λ p
        v ← α v + (1 - α) g²                        (mean square)
        ḡ ← α ḡ + (1 - α) g   and   d ← √(v - ḡ²) + ε   if ``centered`` (an estimate of the variance)
                                    d ← √v + ε         else
        b ← μ b + g / d,  p ← p - lr · b            if μ > 0
        p ← p - lr · g / d                          else

    State per parameter: ``square_avg`` (v), ``grad_avg`` (ḡ, centered), ``momentum_buffer`` (b).
    """
    _buffers = ("square_avg", "grad_avg", "momentum_buffer")

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False, foreach=None):
        super().__init__(params, lr)
        if not 0 <= _number("RMSprop", "alpha", alpha) <= 1:
            raise ValueError(f"RMSprop: alpha must be a number in [0, 1], got {alpha}")
        if not 0 <= _number("RMSprop", "momentum", momentum) < 1:
            raise ValueError(f"RMSprop: momentum must be a number in [0, 1), got {momentum}")
        self.alpha, self.momentum = float(alpha), float(momentum)
        self.eps = _non_negative("RMSprop", "eps", eps)
        self.weight_decay = _non_negative("RMSprop", "weight_decay", weight_decay)
        self.centered, self.maximize = bool(centered), bool(maximize)

    def _needed(self) -> tuple:
        return ("square_avg",) + (("grad_avg",) if self.centered else ()) + \
            (("momentum_buffer",) if self.momentum else ())

    def _update(self, p: Tensor, g, s: dict) -> None:
        xp, lr, alpha = p.backend.xp, self.lr, self.alpha
        if self.maximize:
            g = -g
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        v = _keep(p, s, "square_avg", alpha * s["square_avg"] + (1 - alpha) * (g * g))
        if self.centered:
            mean = _keep(p, s, "grad_avg", s["grad_avg"] + (1 - alpha) * (g - s["grad_avg"]))   # torch's lerp
            d = xp.sqrt(v - mean * mean) + self.eps
        else:
            d = xp.sqrt(v) + self.eps
        if self.momentum:
            b = _keep(p, s, "momentum_buffer", self.momentum * s["momentum_buffer"] + g / d)
            p.data -= lr * b
        else:
            p.data -= lr * (g / d)


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer, 2011): ``torch.optim.Adagrad``.

    With t the parameter's step count (1 at its first update), η = ``lr_decay``, λ =
    ``weight_decay``, ε = ``eps``; the sum s starts at ``initial_accumulator_value``:

        g ← -g if ``maximize``
        g ← g + λ p
        s ← s + g²                                  (elementwise, never forgets)
        p ← p - lr / (1 + (t - 1) η) · g / (√s + ε)

    State per parameter: ``sum`` (s).
    """
    _buffers = ("sum",)

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, foreach=None, *,
                 maximize: bool = False):
        super().__init__(params, lr)
        self.lr_decay = _non_negative("Adagrad", "lr_decay", lr_decay)
        self.weight_decay = _non_negative("Adagrad", "weight_decay", weight_decay)
        self.initial_accumulator_value = _non_negative("Adagrad", "initial_accumulator_value",
                                                       initial_accumulator_value)
        self.eps = _non_negative("Adagrad", "eps", eps)
        self.maximize = bool(maximize)

    def _initial_value(self) -> float:
        return self.initial_accumulator_value

    def _update(self, p: Tensor, g, s: dict) -> None:
        xp = p.backend.xp
        if self.maximize:
            g = -g
        if self.weight_decay:
            g = g + self.weight_decay * p.data
        lr = self.lr / (1 + (s["step"] - 1) * self.lr_decay)
        total = _keep(p, s, "sum", s["sum"] + g * g)
        p.data -= lr * (g / (xp.sqrt(total) + self.eps))


# --------------------------------------------------------------------------- learning-rate schedules
class LRScheduler:
    """What the schedules share, as ``torch.optim.lr_scheduler.LRScheduler``: ``step()`` once per
    epoch (or update), *after* ``optimizer.step()``; it advances ``last_epoch`` and sets
    ``optimizer.lr``.  ``base_lr`` is the optimizer's lr when its first schedule was made (kept
    as ``optimizer.initial_lr`` and not replaced, so that a second schedule or ``last_epoch >=
    0`` starts from it too, as in PyTorch); ``get_last_lr()`` the lr the last ``step()`` set, as
    a one-element list as in PyTorch (one element: there are no parameter groups here).

    The constructor takes a first step itself: ``last_epoch`` goes from -1 (the default) to 0,
    or from k to k + 1 when resuming.  As in PyTorch 2.13 that step leaves the lr as it is for
    the chainable schedules (ExponentialLR, CosineAnnealingLR: not one decay ahead of a resumed
    run); LambdaLR sets its closed form, StepLR and MultiStepLR apply a milestone that falls on it.
    Each schedule computes its next lr from the optimizer's current one where PyTorch does (the
    "chainable" form), so a change made to ``optimizer.lr`` in between carries on as there.
    """

    def __init__(self, optimizer, last_epoch: int = -1):
        who = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{who}: optimizer must be a minigrad optimizer (mg.optim.SGD, Adam, ...), "
                            f"got {type(optimizer).__name__}")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"{who}: last_epoch must be an integer >= -1 (-1: a new schedule), got {last_epoch!r}")
        self.optimizer = optimizer
        if not hasattr(optimizer, "initial_lr"):       # set by the first schedule only, as in torch
            if last_epoch == -1:
                optimizer.initial_lr = optimizer.lr
            else:
                raise ValueError(f"{who}: last_epoch={last_epoch} continues a schedule, but the optimizer has no "
                                 f"initial_lr; load the optimizer's state_dict (it keeps initial_lr), or make the "
                                 f"schedule with last_epoch=-1 and load its state_dict")
        self.base_lr = float(optimizer.initial_lr)
        self.last_epoch = last_epoch
        self._step_count = 0
        self._initial = True                 # the constructor's step (torch's _is_initial)
        try:
            self.step()
        finally:
            del self._initial

    _initial = False

    def get_lr(self) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self._step_count += 1
        self.last_epoch += 1
        self.optimizer.lr = self.get_lr()
        self._last_lr = [self.optimizer.lr]

    def get_last_lr(self) -> list:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Everything but the optimizer (and functions), as PyTorch's."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer" and not callable(v)}

    def load_state_dict(self, state: dict) -> None:
        _check_state(f"{type(self).__name__}.load_state_dict", state)
        missing = sorted(set(self.state_dict()) - set(state))
        if missing:
            raise ValueError(f"{type(self).__name__}.load_state_dict: {missing[0]!r} is missing; load what "
                             f"a {type(self).__name__}'s state_dict() returned")
        self.__dict__.update({k: v for k, v in state.items() if k != "optimizer"})


def _positive_int(who: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{who}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _gamma(who: str, gamma) -> float:
    if not 0 < _number(who, "gamma", gamma) <= 1:
        raise ValueError(f"{who}: gamma must be a number in (0, 1] (the factor of each decay), got {gamma}")
    return float(gamma)


class StepLR(LRScheduler):
    """``lr = base_lr · γ^⌊epoch / step_size⌋``: the lr times γ every ``step_size`` epochs."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = _positive_int("StepLR", "step_size", step_size)
        self.gamma = _gamma("StepLR", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        lr = self.optimizer.lr
        if self.last_epoch == 0 or self.last_epoch % self.step_size:
            return lr
        return lr * self.gamma


class MultiStepLR(LRScheduler):
    """``lr = base_lr · γ^(number of milestones <= epoch)``: the lr times γ at each milestone
    (a milestone given twice counts twice, as in PyTorch)."""

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        try:
            ms = [_positive_int("MultiStepLR", "each milestone", m) for m in milestones]
        except TypeError:
            raise TypeError(f"MultiStepLR: milestones must be a list of positive integers, got "
                            f"{type(milestones).__name__}") from None
        self.milestones = Counter(ms)
        self.gamma = _gamma("MultiStepLR", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        lr = self.optimizer.lr
        if self.last_epoch not in self.milestones:
            return lr
        return lr * self.gamma ** self.milestones[self.last_epoch]


class ExponentialLR(LRScheduler):
    """``lr = base_lr · γ^epoch``."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = _gamma("ExponentialLR", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        return self.optimizer.lr if self._initial else self.optimizer.lr * self.gamma


class LambdaLR(LRScheduler):
    """``lr = base_lr · lr_lambda(epoch)``, ``lr_lambda`` any function of the epoch (an int).
    Its state_dict leaves the function out (as PyTorch's does for lambdas)."""

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        if not callable(lr_lambda):
            raise TypeError(f"LambdaLR: lr_lambda must be a function of the epoch, got {type(lr_lambda).__name__}")
        self.lr_lambda = lr_lambda
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        factor = self.lr_lambda(self.last_epoch)
        if isinstance(factor, bool) or not isinstance(factor, Real):
            raise TypeError(f"LambdaLR: lr_lambda({self.last_epoch}) must return a number, got {type(factor).__name__}")
        return self.base_lr * factor


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing (SGDR without restarts, Loshchilov & Hutter, 2017):

        lr = η_min + (base_lr - η_min) · (1 + cos(π · epoch / T_max)) / 2

    from base_lr at epoch 0 to ``eta_min`` at ``T_max``, then back up (a cosine, as PyTorch).
    Computed as PyTorch does, step by step from the current lr."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = _positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = _non_negative("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        lr, e, T, lo = self.optimizer.lr, self.last_epoch, self.T_max, self.eta_min
        if self._initial:
            return lr
        if (e - 1 - T) % (2 * T) == 0:                       # the bottom: the ratio below would be 0/0
            return lr + (self.base_lr - lo) * (1 - math.cos(math.pi / T)) / 2
        return (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (lr - lo) + lo


class ReduceLROnPlateau:
    """Multiply the lr by ``factor`` when a metric has stopped improving for more than
    ``patience`` epochs: ``torch.optim.lr_scheduler.ReduceLROnPlateau``.  ``step(metric)`` after
    each evaluation (the metric is a number on the host: reading it is the caller's choice).

    Better means, with ``threshold`` θ: ``mode="min"``: below best·(1 - θ) (``threshold_mode
    ="rel"``) or best - θ (``"abs"``); ``mode="max"``: above best·(1 + θ) or best + θ.  After a
    reduction, ``cooldown`` epochs pass before bad epochs count again; the lr never goes below
    ``min_lr``, and a change smaller than ``eps`` is not made.  The paper's schedule for the
    natural tasks (halve the lr when the validation error went up) is ``factor=0.5, patience=0,
    threshold=0``.
    """

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8):
        who = "ReduceLROnPlateau"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{who}: optimizer must be a minigrad optimizer (mg.optim.SGD, Adam, ...), "
                            f"got {type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"{who}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{who}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if not 0 < _number(who, "factor", factor) < 1:
            raise ValueError(f"{who}: factor must be a number in (0, 1), got {factor}")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{who}: {name} must be a non-negative integer, got {value!r}")
        self.optimizer, self.mode, self.threshold_mode = optimizer, mode, threshold_mode
        self.factor, self.patience, self.cooldown = float(factor), int(patience), int(cooldown)
        self.threshold = _non_negative(who, "threshold", threshold)
        self.min_lr = _non_negative(who, "min_lr", min_lr)
        self.eps = _non_negative(who, "eps", eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs, self.cooldown_counter, self.last_epoch = 0, 0, 0
        self._last_lr = [optimizer.lr]

    def is_better(self, a: float, best: float) -> bool:
        rel, theta = self.threshold_mode == "rel", self.threshold
        if self.mode == "min":
            return a < best * (1 - theta) if rel else a < best - theta
        return a > best * (theta + 1) if rel else a > best + theta

    def step(self, metrics) -> None:
        if isinstance(metrics, Tensor):
            metrics = metrics.item()                  # an explicit read, the caller's metric
        current = float(_number("ReduceLROnPlateau.step", "metrics", metrics))
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old = self.optimizer.lr
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [self.optimizer.lr]

    def get_last_lr(self) -> list:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    load_state_dict = LRScheduler.load_state_dict


# ``mg.optim.lr_scheduler.StepLR`` and ``from minigrad.optim.lr_scheduler import StepLR``, as in torch
lr_scheduler = types.ModuleType(__name__ + ".lr_scheduler", "Learning-rate schedules, as torch.optim.lr_scheduler.")
for _cls in (LRScheduler, StepLR, MultiStepLR, ExponentialLR, LambdaLR, CosineAnnealingLR, ReduceLROnPlateau):
    setattr(lr_scheduler, _cls.__name__, _cls)
lr_scheduler.__all__ = [c for c in vars(lr_scheduler) if not c.startswith("_")]
sys.modules[lr_scheduler.__name__] = lr_scheduler
del _cls

def grad_norm(params, norm_type: float = 2.0) -> Tensor:
    """The global norm of all gradients taken as one vector, a 0-d tensor on the device:
    ``sqrt(Σ_params ||grad||²)`` by default; ``norm_type`` p: ``(Σ |g|ᵖ)^(1/p)``, ``inf``:
    ``max |g|`` (PyTorch's ``norm_type``)."""
    return _grad_norm("grad_norm", _parameters("grad_norm", params), norm_type)


def _grad_norm(who: str, params: list, norm_type: float = 2.0) -> Tensor:
    p = _number(who, "norm_type", norm_type)
    if not p > 0:
        raise ValueError(f"{who}: norm_type must be positive (2 is the usual norm, inf the largest "
                         f"|g|), got {norm_type}")
    grads = [_check_grad(who, i, q) for i, q in enumerate(params) if q.grad is not None]
    if not grads:
        raise ValueError(f"{who}: no parameter has a gradient (call backward() first)")
    devices = list(dict.fromkeys(g.device for g in grads))
    if len(devices) > 1:
        raise DeviceMismatchError(f"{who}: the gradients are on several devices ({', '.join(map(repr, devices))}); "
                                  f"move the model to one with .to(device)")
    xp = grads[0].backend
    if p == float("inf"):                         # max |g| over every element (0 for no elements)
        parts = [xp.max(xp.abs(g.data)) for g in grads if g.data.size]
        return Tensor._wrap(xp.max(xp.stack(parts)) if parts else xp.zeros((), dtype=grads[0].data.dtype), xp)
    total = None
    for g in grads:
        s = xp.sum(g.data * g.data) if p == 2 else xp.sum(xp.abs(g.data) ** p)
        total = s if total is None else total + s
    return Tensor._wrap(xp.sqrt(total) if p == 2 else total ** (1 / p), xp)


def clip_scale(norm: Tensor, max_norm: float):
    """``(scale, clipped)`` as device arrays: ``max_norm / norm`` where a finite norm exceeds
    ``max_norm`` (then ``clipped`` is True), else 1.  No value leaves the device."""
    xp, n = norm.backend, norm.data
    clipped = xp.isfinite(n) & (n > max_norm)
    return xp.where(clipped, max_norm / xp.where(clipped, n, 1), 1).astype(n.dtype), clipped


def clip_grad_norm(params, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach=None) -> Tensor:
    """Rescale all gradients together so their global norm is at most ``max_norm``.

    If ``||g|| > max_norm`` every gradient is multiplied by ``max_norm / ||g||`` (the paper's
    clipping, Algorithm 1; PyTorch divides by ``||g|| + 1e-6``, a relative difference of about
    1e-6 / ||g||).  ``norm_type`` chooses the norm as in :func:`grad_norm` (2 by default, as the
    paper).  Returns the norm *before* clipping as a 0-d tensor, left on the device.  A NaN or
    infinite norm is not an error here: the gradients are left untouched and the returned norm
    reports it; what to do then is the caller's choice (the paper replaces the update, see the
    training loop).  ``error_if_nonfinite=True`` raises instead, as PyTorch's option does: that
    reads the norm back to the host (one synchronization per call).

    Differences from ``torch.nn.utils.clip_grad_norm_``: the ``+ 1e-6`` above; a non-finite norm
    leaves the gradients as they are (PyTorch multiplies them by ``max_norm / (nan or inf)``, so
    they become NaN or 0); ``norm_type`` must be positive (PyTorch also takes 0, the count of
    non-zero elements); no gradient at all is an error (PyTorch returns 0); a single tensor must
    be put in a list.  ``foreach`` is accepted and ignored (one implementation).
    """
    if not _number("clip_grad_norm", "max_norm", max_norm) > 0:
        raise ValueError(f"clip_grad_norm: max_norm must be positive, got {max_norm}")
    params = _parameters("clip_grad_norm", params)
    norm = _grad_norm("clip_grad_norm", params, norm_type)
    xp = norm.backend
    if error_if_nonfinite and not math.isfinite(float(norm.backend.to_host(norm.data))):
        raise RuntimeError(f"clip_grad_norm: the total norm of order {norm_type} of the gradients is "
                           f"{norm.backend.to_host(norm.data)}, so they can't be clipped; "
                           f"error_if_nonfinite=False leaves them as they are")
    scale, _ = clip_scale(norm, max_norm)
    for p in params:
        if p.grad is None:
            continue
        if p.grad.requires_grad:               # a differentiable gradient: keep it in the graph
            p.grad = p.grad * Tensor._wrap(scale, xp)
        else:
            p.grad.data *= scale
    return norm


def clip_grad_value(params, clip_value: float, foreach=None) -> None:
    """Clip every gradient elementwise to ``[-clip_value, clip_value]``, in place:
    ``torch.nn.utils.clip_grad_value_`` (``clip_value`` must be positive here; PyTorch takes any
    number).  Parameters without a gradient are skipped; NaN stays NaN.  ``foreach`` is accepted
    and ignored."""
    if not (_number("clip_grad_value", "clip_value", clip_value) > 0):
        raise ValueError(f"clip_grad_value: clip_value must be positive, got {clip_value}")
    params = _parameters("clip_grad_value", params)
    grads = [(p, _check_grad("clip_grad_value", i, p)) for i, p in enumerate(params) if p.grad is not None]
    c = float(clip_value)
    for p, g in grads:
        if g.requires_grad:                      # a differentiable gradient: keep it in the graph
            p.grad = g.clip(-c, c)
        else:
            g.data = g.backend.xp.clip(g.data, -c, c)


clip_grad_norm_, clip_grad_value_ = clip_grad_norm, clip_grad_value      # torch.nn.utils' spellings


def _initial_lr(opt) -> dict:
    """``{"initial_lr": ...}`` once a schedule has set it (see :class:`LRScheduler`), else ``{}``."""
    return {"initial_lr": np.array(opt.initial_lr)} if hasattr(opt, "initial_lr") else {}


def _load_lr(opt, state: dict) -> None:
    """Set ``lr`` and ``initial_lr`` from a state_dict that has them (``lr`` checked first)."""
    if "lr" in state:
        opt.lr = float(np.asarray(state["lr"]))
    if "initial_lr" in state:
        opt.initial_lr = float(np.asarray(state["initial_lr"]))


# --------------------------------------------------------------------------- argument checks
def _number(who: str, name: str, value):
    """``value`` if it is a real number (Python or NumPy scalar, not a bool), else TypeError."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{who}: {name} must be a number, got {type(value).__name__}")
    return value


def _non_negative(who: str, name: str, value) -> float:
    """``value`` as a float if it is a finite number >= 0, else a one-line error."""
    if not (_number(who, name, value) >= 0 and math.isfinite(value)):
        raise ValueError(f"{who}: {name} must be a non-negative finite number, got {value}")
    return float(value)


def _parameters(who: str, params) -> list:
    """``params`` as a list of Tensors, each once, or a clear error."""
    if isinstance(params, Tensor):
        raise TypeError(f"{who}: params must be an iterable of Tensors such as model.parameters(), "
                        f"got a single Tensor: put it in a list")
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"{who}: params must be an iterable of Tensors such as model.parameters(), "
                        f"got {type(params).__name__}") from None
    if any(isinstance(p, dict) for p in params):
        raise TypeError(f"{who}: parameter groups (dicts) are not supported: one lr for all parameters; "
                        f"make one optimizer per group")
    if params and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in params):
        params = [p for _, p in params]                 # model.named_parameters(), as PyTorch 2.13 takes
    seen = set()
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{who}: parameter {i} is not a Tensor (got {type(p).__name__})")
        if id(p) in seen:
            raise ValueError(f"{who}: {_label(i, p)} is in the list twice (it would count twice)")
        seen.add(id(p))
    return params


def _label(i: int, p: Tensor) -> str:
    return f"parameter {i}" + (f" ({p.name!r})" if p.name else "")


def _fitting_buffer(who: str, i: int, p: Tensor, name: str, value):
    """``value`` (an optimizer buffer of parameter i) as an array of p's shape, dtype and device,
    or a one-line error saying what it is and what it must be."""
    array = value.data if isinstance(value, Tensor) else value
    if type(array) is not type(p.data) or array.shape != p.shape or array.dtype != p.dtype:
        got = (f"a {type(value).__name__}" if not hasattr(array, "shape") else
               f"{type(value).__name__} of shape {tuple(array.shape)}, dtype {array.dtype}")
        raise TypeError(f"{who}: state[{_label(i, p)}][{name!r}] must be an array of the parameter's shape "
                        f"{tuple(p.shape)}, dtype {p.dtype} and device ({type(p.data).__name__}), got {got}")
    return array


def _keep(p: Tensor, s: dict, name: str, value):
    """``s[name] = value`` written into the buffer already there, as PyTorch updates its state in
    place (``exp_avg.lerp_(g, 1 - β₁)``): a reference to ``opt.state[p][name]`` stays live.  The
    values are the same bit for bit.  While ``mg.trace`` records, the buffer (made outside) is
    replaced, as before, and the trace refuses it."""
    if p.backend.tracing:
        s[name] = value
    else:
        s[name][...] = value
    return s[name]


def _check_grad(who: str, i: int, p: Tensor) -> Tensor:
    """``p.grad`` if it fits ``p`` exactly (same shape, dtype and device), else a clear error.
    Nothing is broadcast or converted.  ``p.grad = g`` is checked when made, so what this still
    catches is ``p.data = v`` of another shape or dtype since."""
    g = p.grad
    check_fits(g, p, f"{who}: the gradient of {_label(i, p)}", "the parameter")
    return g
