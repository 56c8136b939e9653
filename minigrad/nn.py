"""Modules and Parameters: named bundles of trainable tensors.

A :class:`Module` finds its parameters by looking at its attributes: every :class:`Parameter`,
every sub-Module, and lists/tuples/dicts of them.  ``named_parameters()`` yields dotted names
(``"layers.0.W_rec"``) in the order attributes were set, which is also the order of
``state_dict()``, so checkpoints are stable.

PyTorch's everyday modules, with its names, arguments and state-dict keys: the containers
:class:`Sequential`, :class:`ModuleList`, :class:`ModuleDict` (their modules are attributes named
"0", "1", ... or by key, so a nested model's keys are PyTorch's ``"2.0.weight"``);
:class:`Conv1d`, :class:`Conv2d` (PyTorch's initialization), :class:`MaxPool1d`/``2d``,
:class:`AvgPool1d`/``2d`` (minigrad.conv); :class:`Embedding`, :class:`LayerNorm`; activation
modules (:class:`Tanh`, :class:`ReLU`, :class:`GELU`, :class:`Softmax`, ...); the loss modules
:class:`MSELoss`, :class:`L1Loss`, :class:`CrossEntropyLoss`, :class:`NLLLoss`,
:class:`BCEWithLogitsLoss` (minigrad's loss functions, classes last); :class:`Linear` with
PyTorch's ``weight`` (out_features, in_features) and ``bias``.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import zipfile
import zlib
from collections import namedtuple

import numpy as np

from .backend import Backend, get_backend
from .tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that a Module trains: ``requires_grad`` is on by default.  Its data is a
    copy of ``data``, as every Tensor's (``nn.Parameter(t)`` in PyTorch shares t's memory; here
    training never writes into the array or tensor it was made from)."""

    __slots__ = ()

    def __init__(self, data, dtype=None, device=None, requires_grad: bool = True, name=None):
        super().__init__(data, dtype=dtype, device=device, requires_grad=requires_grad, name=name)


class CheckpointError(ValueError):
    """A state dict or checkpoint file does not fit the model (or is not a checkpoint)."""


class IncompatibleKeys(namedtuple("IncompatibleKeys", "missing_keys unexpected_keys")):
    """What :meth:`Module.load_state_dict` returns, as PyTorch's: the model's keys the state
    dict lacked and the state dict's keys the model lacks (both empty unless ``strict=False``)."""

    def __repr__(self):
        return "<All keys matched successfully>" if self == ([], []) else super().__repr__()


class _Parameters(list):
    """What ``parameters()`` returns: a list (``params[0]``, ``len``, an argument ``mg.trace``
    takes as a list) that is also an iterator over itself, so that PyTorch's
    ``next(model.parameters())`` gives the first parameter."""

    _next = 0

    def __next__(self):
        if self._next >= len(self):
            raise StopIteration
        self._next += 1
        return self[self._next - 1]


def _check_state(who: str, state) -> None:
    """A one-line TypeError unless ``state`` is a dict (what a ``state_dict()`` or ``mg.load``
    returned): a path or None would otherwise fail obscurely."""
    if not isinstance(state, dict):
        hint = "; to read a file use mg.load(path)" if isinstance(state, str) else ""
        raise TypeError(f"{who}: state must be a dict such as state_dict() or mg.load(path) returns, got "
                        f"{type(state).__name__}{hint}")


def _zero_grads(params, set_to_none: bool) -> None:
    """``grad = None`` for each parameter, or zeros written into its gradient tensor (detached
    first if it is part of a graph, as PyTorch's ``zero_grad(set_to_none=False)``)."""
    from .autograd import no_grad
    for p in params:
        if set_to_none or p.grad is None:
            p.grad = None
            continue
        g = p.grad if p.grad.is_leaf else p.grad.detach()
        g.requires_grad = False
        with no_grad():
            g.zero_()
        p._grad = g                      # its own .grad, zeroed, kept as it is: if p.data was replaced by
                                         # another shape since, the next backward refuses it in one line


class Module:
    """Base class of models: subclass it, set Parameters/Modules as attributes, define forward.

    ``training`` (True until ``eval()``) says whether layers such as :class:`Dropout` are in
    training mode; ``train()`` and ``eval()`` set it on the module and every sub-module.

    As in PyTorch, an attribute that holds a Parameter can only be given a Parameter or None, one
    that holds a Module a Module, a Parameter or None (``m.weight = m.weight * 2`` would otherwise
    drop the weight from ``parameters()`` and ``state_dict()`` without a word);
    change a parameter's values with ``m.weight.data = ...`` or in place under ``mg.no_grad()``.

    Differences from PyTorch, kept on purpose: parameters come in the order their attributes
    were set (PyTorch: a module's own parameters before its sub-modules'); lists, tuples and
    dicts of modules or parameters are found too (PyTorch needs ModuleList/ModuleDict);
    ``state_dict()`` holds host NumPy copies, not the parameters' own (aliased) tensors;
    ``parameters()`` is a list; ``state_dict()`` lists the buffers after all the parameters.
    Not offered: hooks."""

    training = True            # a class default: subclasses need not call an __init__
    _buffers = ()              # names of Tensor attributes that to() moves too (a loss's weight)
    _buffer_names = {}         # register_buffer's: {name: persistent}, replaced (never changed in place)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def __setattr__(self, name: str, value) -> None:
        old = vars(self).get(name)
        allowed = (Parameter, type(None)) if isinstance(old, Parameter) else (Parameter, Module, type(None))
        if name in self._buffer_names:
            if isinstance(value, Parameter):           # a Parameter replaces the buffer, as in PyTorch
                object.__setattr__(self, "_buffer_names", {k: v for k, v in self._buffer_names.items() if k != name})
            elif not isinstance(value, (Tensor, type(None))):
                raise TypeError(f"{type(self).__name__}.{name} is a buffer: assign a Tensor or None, got "
                                f"{type(value).__name__}")
        if isinstance(old, (Parameter, Module)) and not isinstance(value, allowed):
            kind = Parameter if isinstance(old, Parameter) else Module
            takes = " or ".join(t.__name__ for t in allowed[:-1])
            hint = "" if kind is Module else f" (to change its values: {name}.data = ..., or in place under no_grad)"
            raise TypeError(f"{type(self).__name__}.{name} is a {kind.__name__}: assign a {takes} or None, "
                            f"got {type(value).__name__}{hint}")
        object.__setattr__(self, name, value)

    # ----------------------------------------------------------------- walking the tree
    def _members(self):
        """(name, Module or Parameter) of every attribute holding one, or a list/tuple/dict of
        them (named ``"layers.0"``, ``"heads.key"``), in the order the attributes were set."""
        for key, value in vars(self).items():
            if isinstance(value, (Module, Parameter)):
                yield key, value
            elif isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    if isinstance(v, (Module, Parameter)):
                        yield f"{key}.{i}", v
            elif isinstance(value, dict):
                for k, v in value.items():
                    if isinstance(v, (Module, Parameter)):
                        yield f"{key}.{k}", v

    def named_children(self):
        """(name, module) of the direct sub-modules, each once, as PyTorch's (parameters are
        not children)."""
        seen = set()
        for key, value in self._members():
            if isinstance(value, Module) and id(value) not in seen:
                seen.add(id(value))
                yield key, value

    def children(self):
        return (m for _, m in self.named_children())

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """(name, Parameter) pairs in the order the attributes were set, named as PyTorch's:
        ``"lin.weight"``, with ``prefix`` and a dot in front if given (``prefix="model"``:
        ``"model.lin.weight"``).  A parameter held twice (tied weights) comes once, under its
        first name, unless ``remove_duplicate=False``; ``recurse=False``: this module's own
        parameters only."""
        seen = set()
        for name, p in self._named_parameters(prefix, recurse):
            if not remove_duplicate or id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _named_parameters(self, prefix: str, recurse: bool):
        for key, value in self._members():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, Parameter):
                yield name, value
            elif recurse:
                yield from value._named_parameters(name, True)

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Keep ``tensor`` (a Tensor, not a Parameter, or None) as the attribute ``name``: a
        constant of the module (running statistics, a mask).  ``to()`` moves and converts it
        with the parameters (replacing it by the converted tensor); if ``persistent``,
        ``state_dict()`` holds it (after the parameters) and ``load_state_dict`` copies into it.
        It is not a parameter: not trained, not in ``parameters()``.  PyTorch's method."""
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{type(self).__name__}.register_buffer: name must be a non-empty string without '.', "
                           f"got {name!r}")
        if name not in self._buffer_names and hasattr(self, name):
            raise KeyError(f"{type(self).__name__}.register_buffer: attribute {name!r} already exists")
        if isinstance(tensor, Parameter) or not isinstance(tensor, (Tensor, type(None))):
            raise TypeError(f"{type(self).__name__}.register_buffer: {name!r} must be a Tensor (not a Parameter) or "
                            f"None, got {type(tensor).__name__}")
        object.__setattr__(self, "_buffer_names", {**self._buffer_names, name: bool(persistent)})
        object.__setattr__(self, name, tensor)

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """(name, Tensor) of the registered buffers that are not None: this module's, then its
        sub-modules' (named as :meth:`named_parameters`)."""
        seen = set()
        for name, t, _ in self._named_buffers(prefix, recurse):
            if not remove_duplicate or id(t) not in seen:
                seen.add(id(t))
                yield name, t

    def buffers(self, recurse: bool = True) -> list:
        return [t for _, t in self.named_buffers(recurse=recurse)]

    def _named_buffers(self, prefix: str, recurse: bool):
        for key, persistent in self._buffer_names.items():
            if vars(self).get(key) is not None:
                yield (f"{prefix}.{key}" if prefix else key), vars(self)[key], persistent
        if recurse:
            for key, m in self._members():
                if isinstance(m, Module):
                    yield from m._named_buffers(f"{prefix}.{key}" if prefix else key, True)

    def _state_tensors(self) -> dict:
        """{key: Tensor} of what state_dict holds: every parameter under each of its names,
        then the persistent buffers."""
        found = dict(self.named_parameters(remove_duplicate=False))
        found.update((name, t) for name, t, persistent in self._named_buffers("", True) if persistent)
        return found

    def parameters(self, recurse: bool = True) -> list:
        """The parameters of :meth:`named_parameters`, each once: a list that ``next()`` also
        takes (PyTorch's ``next(model.parameters())``)."""
        return _Parameters(p for _, p in self.named_parameters(recurse=recurse))

    def named_modules(self, prefix: str = "", _seen=None):
        """(name, module) of this module (named ``prefix``, "" by default) and every sub-module
        below it, each once, depth first in attribute order: PyTorch's ``named_modules``."""
        _seen = set() if _seen is None else _seen
        if id(self) in _seen:
            return
        _seen.add(id(self))
        yield prefix, self
        for key, m in self.named_children():
            yield from m.named_modules(f"{prefix}.{key}" if prefix else key, _seen)

    def modules(self):
        """This module and every sub-module below it (each once), depth first."""
        return (m for _, m in self.named_modules())

    def train(self, mode: bool = True) -> "Module":
        """Set training mode (``mode=False``: evaluation mode) on this module and all its
        sub-modules, as PyTorch's ``Module.train``; returns the module itself."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"train: mode is True or False, got {mode!r}")
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> "Module":
        """``train(False)``: evaluation mode (Dropout passes its input through)."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget accumulated gradients (backward() adds into .grad): ``grad = None``, or with
        ``set_to_none=False`` zeros written into the gradient tensors (PyTorch's option)."""
        _zero_grads(self.parameters(), set_to_none)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        """Set ``requires_grad`` of every parameter (``False``: freeze the module); returns it."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self, fn) -> "Module":
        """Call ``fn(module)`` on every sub-module, then on this one (PyTorch's order: each
        child's tree before its parent); returns this module.  ``model.apply(init_weights)``."""
        if not callable(fn):
            raise TypeError(f"{type(self).__name__}.apply: fn must be a function of a module, got {type(fn).__name__}")
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self, device=None, dtype=None) -> "Module":
        """Move every parameter to ``device`` and/or convert its floating-point data to ``dtype``,
        in place: ``m.to("cuda")``, ``m.to(np.float32)``, ``m.to("cuda", np.float32)``.

        The Parameter objects stay the same; their gradients are dropped.  Do it before making
        the optimizer: an optimizer's momentum buffers are not moved or converted.  A module's
        constant tensors, its buffers (:meth:`register_buffer`) and those named in ``_buffers``
        (a loss's class ``weight``), are replaced by moved or converted copies, as PyTorch's.
        """
        if device is not None and not isinstance(device, (str, Backend)):
            device, dtype = None, device                 # m.to(np.float32), as in PyTorch
        dtype = None if dtype is None else np.dtype(dtype)
        if dtype is not None and not np.issubdtype(dtype, np.floating):
            raise TypeError(f"Module.to: dtype must be a floating-point type such as np.float32, got {dtype}")
        backend = None if device is None else get_backend(device)
        for p in self.parameters():
            if backend is not None and p.backend is not backend:
                p.data, p.backend, p.grad = backend.asarray(p.numpy()), backend, None
            if dtype is not None and p.dtype != dtype and np.issubdtype(p.dtype, np.floating):
                p.data, p.grad = p.data.astype(dtype), None
        for m in self.modules():
            for key in m._buffers + tuple(m._buffer_names):
                t = getattr(m, key, None)
                if isinstance(t, Tensor) and not isinstance(t, Parameter):      # Parameters: moved above
                    floating = dtype is not None and np.issubdtype(t.dtype, np.floating)
                    setattr(m, key, Tensor(t, dtype=dtype if floating else None, device=backend))
        return self

    def float(self) -> "Module":
        """``to(np.float32)``."""
        return self.to(dtype=np.float32)

    def double(self) -> "Module":
        """``to(np.float64)``."""
        return self.to(dtype=np.float64)

    def half(self) -> "Module":
        """``to(np.float16)``."""
        return self.to(dtype=np.float16)

    def cpu(self) -> "Module":
        """``to("cpu")``."""
        return self.to("cpu")

    def cuda(self) -> "Module":
        """``to("cuda")``."""
        return self.to("cuda")

    # ----------------------------------------------------------------- saving
    def state_dict(self) -> dict:
        """{name: NumPy array copy} of every parameter (on the host, whatever the device), under
        every name it has, as PyTorch's (tied weights appear under each of their names), then
        of every persistent buffer (:meth:`register_buffer`)."""
        return {name: t.numpy().copy() for name, t in self._state_tensors().items()}

    def load_state_dict(self, state: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (or Tensors) into the parameters and persistent buffers, in place (onto
        their device, in their dtype; the Parameter objects stay, and so do tensors that alias
        them, as PyTorch's ``copy_``).  Returns ``IncompatibleKeys(missing_keys,
        unexpected_keys)``, as PyTorch.

        Raises CheckpointError naming the keys that are missing or unexpected (``strict``) or of
        the wrong shape (always); nothing is modified unless everything fits.
        """
        _check_state(f"{type(self).__name__}.load_state_dict", state)
        params = self._state_tensors()
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if strict and (missing or unexpected):
            raise CheckpointError(f"state dict does not match {type(self).__name__}: missing {missing}, "
                                  f"unexpected {unexpected}")
        arrays = {k: (v.numpy() if isinstance(v, Tensor) else np.asarray(v)) for k, v in state.items() if k in params}
        wrong = [f"{k}: checkpoint {a.shape}, model {params[k].shape}" for k, a in arrays.items()
                 if a.shape != params[k].shape]
        if wrong:
            raise CheckpointError("shape mismatch: " + "; ".join(wrong))
        values = {}
        for k, a in arrays.items():
            if a.dtype.kind not in "biuf":
                raise CheckpointError(f"{k}: the checkpoint holds dtype {a.dtype}, not numbers")
            values[k] = Tensor(a.astype(params[k].dtype, copy=False), device=params[k].device)
        from .autograd import no_grad
        with no_grad():
            for k, v in values.items():
                t = params[k]
                if getattr(getattr(t.data, "flags", None), "writeable", True):
                    t.copy_(v)
                else:                                      # a read-only array (np.load's mmap): replace it
                    t.data = v.data
        return IncompatibleKeys(missing, unexpected)

    def save(self, path) -> None:
        """Write the state dict to an ``.npz`` file (plain arrays, no pickle)."""
        save(self.state_dict(), path)

    def load(self, path) -> "Module":
        self.load_state_dict(load(path))
        return self

    def __repr__(self):
        lines = [f"{type(self).__name__}("]
        for name, p in self.named_parameters():
            lines.append(f"  {name}: {p.shape} {p.dtype} on {p.device}")
        return "\n".join(lines + [")"])


# What mg.load accepts; raise these (mg.nn.MAX_...) to read bigger checkpoints you trust.
MAX_CHECKPOINT_BYTES = 2 ** 31    # all arrays together, uncompressed: 2 GiB
MAX_ARRAYS = 10_000               # members of the .npz
MAX_TEXT_CHARS = 2 ** 22          # a 0-d string array (the run's JSON "meta"): 4 Mi characters
MAX_RATIO = 100                   # how far a deflated member over 1 MiB may inflate

_EXPECTED = "expected an .npz of numeric arrays (and 0-d strings) as mg.save writes it"


def _parameter_places(module: Module, prefix: str = ""):
    """(name, holder, key, parameter) for every place a parameter is held, under every name
    (:meth:`Module.named_parameters` with ``remove_duplicate=False``): the attribute ``key`` of
    a Module ``holder``, or ``holder[key]`` of a list, tuple or dict attribute."""
    for key, value in vars(module).items():
        if isinstance(value, (list, tuple, dict)):
            pairs = [(f"{prefix}{key}.{k}", value, k, v)
                     for k, v in (value.items() if isinstance(value, dict) else enumerate(value))]
        else:
            pairs = [(f"{prefix}{key}", module, key, value)]
        for name, holder, k, v in pairs:
            if isinstance(v, Parameter):
                yield name, holder, k, v
            elif isinstance(v, Module):
                yield from _parameter_places(v, name + ".")


def _put(holder, key, value) -> None:
    if isinstance(holder, Module):
        object.__setattr__(holder, key, value)       # past __setattr__'s Parameter rule, on purpose
    else:
        holder[key] = value


@contextlib.contextmanager
def reparametrized(module: Module, tensors: dict):
    """Inside the ``with`` block, the parameters of ``module`` named in ``tensors`` (as
    :meth:`Module.named_parameters` names them: ``"encoder.cell.W"``, ``"layers.0.W"`` for a
    list) are those tensors, any Tensors (a gradient check's leaves, perturbed weights); after
    it, the Parameters again, whatever happened inside.  A parameter held in several places
    (tied weights) is replaced in every place, as ``torch.func.functional_call`` does
    (``tie_weights=True``); two different tensors for one parameter are refused.  Assigning a
    plain Tensor to a Parameter's attribute is refused (PyTorch's rule); this is the way to run
    a module on other weights, as ``torch.func.functional_call`` does."""
    if not isinstance(tensors, dict):
        raise TypeError(f"reparametrized: tensors must be a dict {{name: Tensor}} (names as named_parameters() "
                        f"gives them), got {type(tensors).__name__}")
    places = list(_parameter_places(module))
    parameter_of = {name: p for name, _, _, p in places}
    new = {}                                         # id(parameter) -> the tensor that replaces it
    for name, t in tensors.items():
        if name not in parameter_of:
            raise KeyError(f"reparametrized: {type(module).__name__} has no parameter {name!r}")
        if not isinstance(t, Tensor):
            raise TypeError(f"reparametrized: {name} must be a Tensor, got {type(t).__name__}")
        if new.setdefault(id(parameter_of[name]), t) is not t:
            raise ValueError(f"reparametrized: {name!r} is tied to a parameter given another tensor "
                             "under another name; give one tensor for it")
    swaps = [(holder, key, p) for _, holder, key, p in places if id(p) in new]
    if any(isinstance(holder, tuple) for holder, _, _ in swaps):
        raise TypeError("reparametrized: a parameter held in a tuple can't be replaced; hold it in a list")
    done = []
    try:
        for holder, key, p in swaps:
            _put(holder, key, new[id(p)])
            done.append((holder, key, p))
        yield module
    finally:
        for holder, key, p in done:
            _put(holder, key, p)


def functional_call(module: Module, tensors: dict, args=(), kwargs=None):
    """``module(*args, **kwargs)`` with the parameters named in ``tensors`` replaced by those
    tensors for this call (:func:`reparametrized`): ``torch.func.functional_call``.  A single
    Tensor as ``args`` is one argument."""
    args = (args,) if isinstance(args, Tensor) else tuple(args)
    with reparametrized(module, tensors):
        return module(*args, **(kwargs or {}))


def _refusal(dtype: np.dtype, shape: tuple):
    """Why an array of this dtype and shape cannot be in a checkpoint; None if it can."""
    if dtype.hasobject:
        return f"holds Python objects (dtype {dtype}), which a checkpoint never does"
    if dtype.kind == "U" and shape == ():
        return None if dtype.itemsize <= 4 * MAX_TEXT_CHARS else \
            f"is a string of more than MAX_TEXT_CHARS = {MAX_TEXT_CHARS} characters"
    if dtype.kind not in "biufc":
        return f"has dtype {dtype} {shape}: not bool, int, float or complex (nor a 0-d string)"
    return None


def save(state: dict, path) -> None:
    """Save a dict of arrays (NumPy arrays or Tensors) to ``.npz``, without pickle: numeric
    arrays, and 0-d strings such as a JSON string of metadata (what :func:`load` reads back)."""
    arrays = {k: (v.numpy() if isinstance(v, Tensor) else np.asarray(v)) for k, v in state.items()}
    for k, v in arrays.items():
        problem = _refusal(v.dtype, v.shape)
        if problem or not (str(k).isprintable() and 0 < len(str(k)) <= 256):
            raise TypeError(f"save: entry {k!r} {problem or 'needs a name of 1 to 256 printable characters'}")
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _check_npz(z: zipfile.ZipFile) -> None:
    """Raise CheckpointError unless ``z`` looks like an .npz that :func:`save` wrote.  Nothing
    is decompressed beyond the .npy headers, and nothing allocated, before all of this holds:

    - at most MAX_ARRAYS members, each named ``<key>.npy`` once (``key`` 1 to 256 printable
      characters), not encrypted, stored or deflated;
    - their sizes as the zip directory declares them (zipfile never inflates a member beyond
      that) add up to at most MAX_CHECKPOINT_BYTES; a stored member's two sizes agree; a
      deflated member over 1 MiB inflates at most MAX_RATIO times (a "zip bomb" would not);
    - each member's .npy header (format 1.0 or 2.0, parsed without pickle) declares a dtype
      :func:`_refusal` accepts (numbers, or a 0-d string of at most MAX_TEXT_CHARS characters;
      never objects) and a shape whose bytes exactly fill the rest of the member.
    """
    infos = z.infolist()
    if len(infos) > MAX_ARRAYS:
        raise CheckpointError(f"{len(infos)} members, more than MAX_ARRAYS = {MAX_ARRAYS}")
    if len({i.filename for i in infos}) < len(infos):
        raise CheckpointError("a member name appears twice")
    total = 0
    for info in infos:
        name, key = info.filename, info.filename[:-4]
        if not (name.endswith(".npy") and key.isprintable() and 0 < len(key) <= 256):
            raise CheckpointError(f"member {name!r} is not named <key>.npy (1 to 256 printable characters)")
        if info.flag_bits & 1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise CheckpointError(f"{name} is encrypted or compressed with method {info.compress_type}")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise CheckpointError(f"{name}: stored member of {info.compress_size} bytes declares {info.file_size}")
        if info.file_size > max(2 ** 20, MAX_RATIO * info.compress_size):
            raise CheckpointError(f"{name}: {info.compress_size} compressed bytes would inflate to "
                                  f"{info.file_size} (more than MAX_RATIO = {MAX_RATIO} times)")
        total += info.file_size
        if total > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(f"arrays of more than MAX_CHECKPOINT_BYTES = {MAX_CHECKPOINT_BYTES} bytes")
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    for info in infos:
        with z.open(info) as f:
            try:
                shape, _, dtype = readers[np.lib.format.read_magic(f)](f)
            except (ValueError, KeyError, EOFError):       # numpy's words may suggest pickle
                raise CheckpointError(f"{info.filename}: not an .npy array of format 1.0 or 2.0") from None
            problem = _refusal(dtype, shape)
            if problem:
                raise CheckpointError(f"{info.filename} {problem}")
            size, held = math.prod(shape) * dtype.itemsize, info.file_size - f.tell()
            if min(shape, default=0) < 0 or size != held:
                raise CheckpointError(f"{info.filename}: shape {shape} of {dtype} needs {size} bytes, "
                                      f"the member holds {held}")


def load(path) -> dict:
    """Read a dict of NumPy arrays written by :func:`save`.  The file is checked first (see
    :func:`_check_npz`); anything else is a one-line CheckpointError saying what is wrong."""
    try:
        with open(path, "rb") as file:
            if file.read(6) == b"\x93NUMPY":
                raise CheckpointError("a single .npy array (np.save), not an .npz of named arrays")
            with zipfile.ZipFile(file) as z:
                _check_npz(z)
                arrays = {}
                for info in z.infolist():
                    with z.open(info) as f:
                        arrays[info.filename[:-4]] = np.lib.format.read_array(f, allow_pickle=False)
                return arrays
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:   # CheckpointError too
        what = " ".join(str(e).split()) or type(e).__name__
        raise CheckpointError(f"{path}: not a readable minigrad checkpoint: {what}; {_EXPECTED}") from e


def _torch_uniform(shape, bound: float, generator, dtype, device) -> Parameter:
    """A Parameter of U(-bound, bound) samples from ``generator`` (else the device's default
    generator, seeded by ``mg.manual_seed``)."""
    from .random import rand
    u = rand(*shape, generator=generator, dtype=dtype, device=device)
    return Parameter(u.data * (2 * bound) - bound, device=u.device)


class Linear(Module):
    """PyTorch's ``nn.Linear``: ``y = x Wᵀ + b`` with ``weight`` W of shape (out_features,
    in_features) and ``bias`` b of shape (out_features,), both U(-1/√in_features, 1/√in_features)
    as PyTorch draws them, from ``generator`` or the device's default generator (seeded by
    ``mg.manual_seed``); state-dict keys ``weight`` and ``bias``, as PyTorch's.

    ``dtype=None`` is the device's default float (float64 on "cpu" and "strict", float32 on
    "cuda").  The input must have the layer's dtype: nothing is cast silently; convert the
    layer once with ``layer.to(np.float32)`` (``.float()``, ``.double()``) or the input.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None,
                 generator=None):
        for what, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"Linear: {what} must be a non-negative int, got {v!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        bound = 1.0 / math.sqrt(in_features) if in_features else 0.0
        self.weight = _torch_uniform((out_features, in_features), bound, generator, dtype, device)
        self.bias = _torch_uniform((out_features,), bound, generator, dtype, device) if bias else None

    def forward(self, x):
        if isinstance(x, Tensor) and x.dtype != self.weight.dtype:
            fix = f"the input with x.astype(np.{self.weight.dtype})"
            if np.issubdtype(x.dtype, np.floating):
                fix = f"the layer once with .to(np.{x.dtype}), or {fix}"
            raise TypeError(f"Linear({self.in_features}, {self.out_features}): the layer is {self.weight.dtype}, "
                            f"the input {x.dtype}; minigrad does not cast silently: convert {fix}")
        if isinstance(x, Tensor) and (x.ndim == 0 or x.shape[-1] != self.in_features):
            raise ValueError(f"Linear({self.in_features}, {self.out_features}): the input's last axis must have "
                             f"{self.in_features} features, got shape {x.shape}")
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias


class Dropout(Module):
    """``nn.Dropout(p)``: :func:`minigrad.dropout` while ``training``, the identity after
    ``eval()``.  The mask comes from ``generator`` (an ``mg.Generator`` on the input's device)
    or the default generator of the input's device (seeded by ``mg.manual_seed``)."""

    def __init__(self, p: float = 0.5, inplace: bool = False, generator=None):
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability, 0 <= p <= 1, got {p!r}")
        if inplace:
            raise ValueError("Dropout: inplace=True is not supported (minigrad's ops make new tensors)")
        self.p, self.generator = float(p), generator

    def forward(self, x):
        from .random import dropout
        return dropout(x, self.p, self.training, self.generator)

    def __repr__(self):
        return f"Dropout(p={self.p})"


# =========================================================================== containers
class _Container(Module):
    """Modules kept as attributes named by their key ("0", "1", ... or a ModuleDict's keys), so
    that :meth:`Module.named_parameters` gives PyTorch's keys: ``"0.weight"``, ``"1.bias"``."""

    def _items(self):
        return [(k, v) for k, v in vars(self).items() if isinstance(v, Module)]

    def _set(self, key: str, module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: {key!r} must be a Module, got {type(module).__name__}")
        if not key or "." in key or (key not in vars(self) and (hasattr(type(self), key) or key == "training")):
            raise KeyError(f"{type(self).__name__}: {key!r} cannot name a module (empty, with a '.', or the "
                           "name of an attribute)")
        setattr(self, key, module)

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self):
        lines = [f"{type(self).__name__}("]
        for key, m in self._items():
            lines += [f"  ({key}): " + repr(m).replace("\n", "\n  ")]
        return "\n".join(lines + [")"])


class _ListLike(_Container):
    """Shared by :class:`Sequential` and :class:`ModuleList`: modules by position, ``m[i]``
    (negative too), ``m[a:b]``, ``m[i] = module``, ``del m[i]`` and ``insert`` / ``pop``
    (which renumber the keys "0", "1", ..., as PyTorch), ``append``, ``extend``, iteration."""

    def _index(self, index) -> int:
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -n <= index < n:
            raise IndexError(f"{type(self).__name__}: index {index!r} out of range for {n} modules")
        return int(index) % n

    def _renumber(self, modules) -> None:
        """Hold exactly ``modules``, keyed "0", "1", ... in that order."""
        for key, _ in self._items():
            delattr(self, key)
        for i, m in enumerate(modules):
            self._set(str(i), m)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self._slice(self._items()[index])
        return self._items()[self._index(index)][1]

    def __setitem__(self, index, module) -> None:
        self._set(self._items()[self._index(index)][0], module)

    def __delitem__(self, index) -> None:
        modules = list(self)
        del modules[index if isinstance(index, slice) else self._index(index)]
        self._renumber(modules)

    def __iter__(self):
        return iter([m for _, m in self._items()])

    def append(self, module):
        self._set(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module) -> None:
        """Put ``module`` before position ``index`` (``len(self)``: at the end)."""
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or not -len(self) <= index <= len(self):
            raise IndexError(f"{type(self).__name__}.insert: index {index!r} out of range for {len(self)} modules")
        modules = list(self)
        modules.insert(int(index), module)
        self._renumber(modules)

    def pop(self, index: int = -1):
        module = self[index]
        del self[index]
        return module


class Sequential(_ListLike):
    """``nn.Sequential(m0, m1, ...)`` (or one dict of named modules): ``forward`` feeds each
    module's output to the next.  Indexing and editing as :class:`ModuleList`; a slice
    ``seq[a:b]`` is a Sequential that keeps the keys, as PyTorch's."""

    def __init__(self, *modules):
        if len(modules) == 1 and isinstance(modules[0], dict):
            for key, m in modules[0].items():
                self._set(str(key), m)
        else:
            for i, m in enumerate(modules):
                self._set(str(i), m)

    def _slice(self, items):
        return Sequential(dict(items))

    def forward(self, x):
        for m in self:
            x = m(x)
        return x


class ModuleList(_ListLike):
    """``nn.ModuleList([...])``: a list of modules whose parameters the parent finds, named
    ``"0.weight"``, ...; ``m[i]``, ``m[a:b]`` (a ModuleList numbered from 0), ``m[i] = module``,
    ``del m[i]``, ``len``, iteration, ``append``, ``extend``, ``insert``, ``pop``."""

    def __init__(self, modules=None):
        self.extend(modules or [])

    def _slice(self, items):
        return ModuleList([m for _, m in items])


class ModuleDict(_Container):
    """``nn.ModuleDict({name: module})``: parameters named ``"name.weight"``; ``d[name]``,
    ``d[name] = m``, ``del d[name]``, ``pop``, ``update``, ``in``, ``len``, ``keys()``,
    ``values()``, ``items()``, iteration over keys."""

    def __init__(self, modules=None):
        for key, m in dict(modules or {}).items():
            self._set(str(key), m)

    def __getitem__(self, key: str):
        found = dict(self._items())
        if key not in found:
            raise KeyError(f"ModuleDict: no module {key!r}; it has {list(found)}")
        return found[key]

    def __setitem__(self, key: str, module) -> None:
        self._set(str(key), module)

    def __contains__(self, key) -> bool:
        return key in dict(self._items())

    def __iter__(self):
        return iter(self.keys())

    def keys(self):
        return [k for k, _ in self._items()]

    def values(self):
        return [m for _, m in self._items()]

    def items(self):
        return self._items()

    def __delitem__(self, key: str) -> None:
        self[key]                                            # KeyError naming the keys if absent
        delattr(self, key)

    def pop(self, key: str):
        module = self[key]
        delattr(self, key)
        return module

    def update(self, modules) -> None:
        """Add or replace modules from a dict or (key, module) pairs."""
        for key, m in dict(modules).items():
            self._set(str(key), m)


# =========================================================================== layers without parameters
class _Function(Module):
    """A module that applies one function; ``repr`` shows its arguments as PyTorch does."""

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "training" and not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Identity(_Function):
    """Returns its input (any constructor arguments are ignored, as PyTorch)."""

    def __init__(self, *args, **kwargs):
        pass

    def forward(self, x):
        return x


class Flatten(_Function):
    """``x.flatten(start_dim, end_dim)``: by default every axis after the batch axis into one."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)


class Tanh(_Function):
    """tanh(x), elementwise."""

    def forward(self, x):
        return x.tanh()


class Sigmoid(_Function):
    """σ(x) = 1 / (1 + e^{-x}), elementwise."""

    def forward(self, x):
        return x.sigmoid()


class ReLU(_Function):
    """max(x, 0), elementwise (gradient 0 at 0, as PyTorch)."""

    def __init__(self, inplace: bool = False):
        if inplace:
            raise ValueError("ReLU: inplace=True is not supported (minigrad's ops make new tensors)")

    def forward(self, x):
        return x.relu()


class LeakyReLU(_Function):
    """x where x > 0, ``negative_slope`` · x elsewhere."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        if inplace:
            raise ValueError("LeakyReLU: inplace=True is not supported (minigrad's ops make new tensors)")
        self.negative_slope = negative_slope

    def forward(self, x):
        from .elementwise import leaky_relu
        return leaky_relu(x, self.negative_slope)


class GELU(_Function):
    """x Φ(x) (``approximate="tanh"``: the tanh approximation), as :func:`minigrad.gelu`."""

    def __init__(self, approximate: str = "none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        from .elementwise import gelu
        return gelu(x, self.approximate)


class Softmax(_Function):
    """softmax over ``dim`` (which must be given: PyTorch's implicit choice is deprecated)."""

    def __init__(self, dim: int):
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"Softmax: dim must be an int, got {dim!r}")
        self.dim = int(dim)

    def forward(self, x):
        from .ops import softmax
        return softmax(x, self.dim)


class LogSoftmax(Softmax):
    """log softmax over ``dim``."""

    def forward(self, x):
        from .ops import log_softmax
        return log_softmax(x, self.dim)


# =========================================================================== convolution and pooling
class _ConvNd(Module):
    _nd = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", device=None, dtype=None,
                 generator=None):
        from .conv import _conv_pads, _ints
        name, nd = type(self).__name__, self._nd
        for what, v in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: {what} must be a positive int, got {v!r}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels {in_channels} and out_channels {out_channels} must both be "
                             f"divisible by groups={groups}")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', "
                             f"got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.kernel_size = _ints(name, "kernel_size", kernel_size, nd, 1)
        self.stride, self.dilation = _ints(name, "stride", stride, nd, 1), _ints(name, "dilation", dilation, nd, 1)
        _conv_pads(name, padding, self.kernel_size, self.stride, self.dilation)     # checks it
        self.padding = padding if isinstance(padding, str) else _ints(name, "padding", padding, nd, 0)
        self.padding_mode = padding_mode
        fan_in = in_channels // groups * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)       # kaiming_uniform(a=√5): √(6 / ((1 + 5) fan_in)) = 1/√fan_in
        self.weight = _torch_uniform((out_channels, in_channels // groups) + self.kernel_size, bound,
                                     generator, dtype, device)
        self.bias = _torch_uniform((out_channels,), bound, generator, dtype, device) if bias else None

    def forward(self, x):
        """The convolution; for a padding_mode other than "zeros", x is padded in that mode
        first (the same amounts) and convolved without padding, as PyTorch."""
        from . import conv
        f = conv.conv1d if self._nd == 1 else conv.conv2d
        padding = self.padding
        if self.padding_mode != "zeros":
            pads = conv._conv_pads(type(self).__name__, self.padding, self.kernel_size, self.stride, self.dilation)
            x, padding = conv._pad_spatial(x, pads, mode=self.padding_mode), 0
        return f(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)

    def __repr__(self):
        extra = "" if self.padding in ((0,) * self._nd, "valid") else f", padding={self.padding}"
        extra += "" if self.stride == (1,) * self._nd else f", stride={self.stride}"
        extra += "" if self.dilation == (1,) * self._nd else f", dilation={self.dilation}"
        extra += "" if self.groups == 1 else f", groups={self.groups}"
        extra += ", bias=False" if self.bias is None else ""
        return (f"{type(self).__name__}({self.in_channels}, {self.out_channels}, "
                f"kernel_size={self.kernel_size}{extra})")


class Conv1d(_ConvNd):
    """``nn.Conv1d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True, padding_mode="zeros")``: :func:`minigrad.conv1d` with a weight
    (out, in/groups, k) and a bias (out,), both drawn as PyTorch draws them:
    U(-1/√fan_in, 1/√fan_in), fan_in = in/groups · k (the weight's kaiming_uniform with a = √5
    has exactly this bound), from ``generator`` or the device's default generator."""
    _nd = 1


class Conv2d(_ConvNd):
    """``nn.Conv2d``: :func:`minigrad.conv2d` with a weight (out, in/groups, kH, kW) and a bias,
    drawn from U(±1/√fan_in), fan_in = in/groups · kH · kW, as PyTorch; see :class:`Conv1d`."""
    _nd = 2


class MaxPool1d(_Function):
    """``nn.MaxPool1d(kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
    ceil_mode=False)``: :func:`minigrad.max_pool1d`."""
    _nd = 1

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, x):
        from . import conv
        f = conv.max_pool1d if self._nd == 1 else conv.max_pool2d
        return f(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode, self.return_indices)


class MaxPool2d(MaxPool1d):
    """``nn.MaxPool2d``: :func:`minigrad.max_pool2d` (same arguments as :class:`MaxPool1d`)."""
    _nd = 2


class AvgPool1d(_Function):
    """``nn.AvgPool1d(kernel_size, stride=None, padding=0, ceil_mode=False,
    count_include_pad=True)``: :func:`minigrad.avg_pool1d`."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x):
        from .conv import avg_pool1d
        return avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


class AvgPool2d(AvgPool1d):
    """``nn.AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False,
    count_include_pad=True, divisor_override=None)``: :func:`minigrad.avg_pool2d`."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x):
        from .conv import avg_pool2d
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          self.divisor_override)


# =========================================================================== layers with parameters
class Embedding(Module):
    """``nn.Embedding(num_embeddings, embedding_dim, padding_idx=None)``: ``weight[indices]``,
    weight (num_embeddings, embedding_dim) drawn from N(0, 1) as PyTorch (from ``generator`` or
    the device's default generator), the row ``padding_idx`` zero.  Indices are integers in
    [0, num_embeddings) (others are refused, as PyTorch); the gradient adds ḡ into each looked-up
    row (repeats add up), except the ``padding_idx`` row, which gets none.  PyTorch's
    ``max_norm``, ``scale_grad_by_freq`` and ``sparse`` are refused (not implemented)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False, *, device=None,
                 dtype=None, generator=None):
        for what, v in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"Embedding: {what} must be a positive int, got {v!r}")
        for what, v in (("max_norm", max_norm), ("scale_grad_by_freq", scale_grad_by_freq), ("sparse", sparse)):
            if v not in (None, False):
                raise ValueError(f"Embedding: {what}={v!r} is not supported (only the default); renormalize "
                                 "the weight yourself")
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
                raise TypeError(f"Embedding: padding_idx must be an int or None, got {padding_idx!r}")
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within [-{num_embeddings}, {num_embeddings}), "
                                 f"got {padding_idx}")
            padding_idx = int(padding_idx) % num_embeddings
        from .random import randn
        self.num_embeddings, self.embedding_dim, self.padding_idx = int(num_embeddings), int(embedding_dim), padding_idx
        w = randn(num_embeddings, embedding_dim, generator=generator, dtype=dtype, device=device)
        if padding_idx is not None:
            w.data[padding_idx] = 0
        self.weight = Parameter(w.data, device=w.device)

    def forward(self, indices):
        from . import ops
        from .manipulation import index_select
        if not isinstance(indices, Tensor) or indices.dtype.kind not in "iu":
            what = f"dtype {indices.dtype}" if isinstance(indices, Tensor) else type(indices).__name__
            raise TypeError(f"Embedding: indices must be an integer tensor, got {what}")
        rows = index_select(self.weight, 0, ops.reshape(indices, (-1,)))
        if self.padding_idx is not None:
            keep = (indices.data.reshape(-1) != self.padding_idx)[:, None]
            rows = ops.where(keep, rows, rows.detach())                  # same values, no gradient there
        return ops.reshape(rows, indices.shape + (self.embedding_dim,))

    def __repr__(self):
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}{pad})"


class LayerNorm(Module):
    """``nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True)``:
    :func:`minigrad.layer_norm` over the last axes, weight 1 and bias 0 to start."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        from .tensor import ones, zeros
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        if not shape or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be a positive int or ints, got {normalized_shape!r}")
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps, self.elementwise_affine = float(eps), elementwise_affine
        self.weight = self.bias = None
        if elementwise_affine:
            self.weight = Parameter(ones(self.normalized_shape, dtype=dtype, device=device).data, device=device)
            if bias:
                self.bias = Parameter(zeros(self.normalized_shape, dtype=dtype, device=device).data, device=device)

    def forward(self, x):
        from .losses import layer_norm
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def __repr__(self):
        return f"LayerNorm({self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine})"


# =========================================================================== losses
class _Loss(_Function):
    def __init__(self, reduction: str = "mean"):
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction


class MSELoss(_Loss):
    """:func:`minigrad.mse` (shapes must be equal: no broadcasting, unlike PyTorch's warning)."""

    def forward(self, input, target):
        from .losses import mse
        return mse(input, target, self.reduction)


class L1Loss(_Loss):
    """:func:`minigrad.l1_loss`: |input - target|, reduced."""

    def forward(self, input, target):
        from .losses import l1_loss
        return l1_loss(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """:func:`minigrad.cross_entropy`, with its documented differences from PyTorch: classes on
    the **last** axis (the same as PyTorch's for (N, C) logits), ``ignore_index`` None by
    default (PyTorch: -100).  ``to()`` moves and converts a ``weight`` tensor with the model (it is
    not in ``state_dict()``, unlike PyTorch's buffer)."""

    _buffers = ("weight",)

    def __init__(self, weight=None, ignore_index=None, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.weight, self.ignore_index, self.label_smoothing = weight, ignore_index, label_smoothing

    def forward(self, input, target):
        from .losses import cross_entropy
        return cross_entropy(input, target, self.reduction, label_smoothing=self.label_smoothing,
                             ignore_index=self.ignore_index, weight=self.weight)


class NLLLoss(_Loss):
    """:func:`minigrad.nll_loss` (log-probabilities, classes last; ``ignore_index`` None by default;
    ``to()`` moves ``weight``, as :class:`CrossEntropyLoss`)."""

    _buffers = ("weight",)

    def __init__(self, weight=None, ignore_index=None, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input, target):
        from .losses import nll_loss
        return nll_loss(input, target, self.reduction, ignore_index=self.ignore_index, weight=self.weight)


class BCEWithLogitsLoss(_Loss):
    """:func:`minigrad.binary_cross_entropy_with_logits` (``weight``, ``pos_weight`` as PyTorch;
    ``to()`` moves them, as :class:`CrossEntropyLoss`)."""

    _buffers = ("weight", "pos_weight")

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input, target):
        from .losses import binary_cross_entropy_with_logits
        return binary_cross_entropy_with_logits(input, target, self.reduction, pos_weight=self.pos_weight,
                                                weight=self.weight)
