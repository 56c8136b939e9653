"""Modules and Parameters: named bundles of trainable tensors.

A :class:`Module` finds its parameters by looking at its attributes: every :class:`Parameter`,
every sub-Module, and lists/tuples/dicts of them.  ``named_parameters()`` yields dotted names
(``"layers.0.W_rec"``) in the order attributes were set, which is also the order of
``state_dict()``, so checkpoints are stable.
"""
from __future__ import annotations

import math
import numbers
import zipfile
import zlib

import numpy as np

from .backend import Backend, get_backend
from .tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that a Module trains: ``requires_grad`` is on by default."""

    __slots__ = ()

    def __init__(self, data, dtype=None, device=None, requires_grad: bool = True, name=None):
        super().__init__(data, dtype=dtype, device=device, requires_grad=requires_grad, name=name)


class CheckpointError(ValueError):
    """A state dict or checkpoint file does not fit the model (or is not a checkpoint)."""


class Module:
    """Base class of models: subclass it, set Parameters/Modules as attributes, define forward.

    ``training`` (True until ``eval()``) says whether layers such as :class:`Dropout` are in
    training mode; ``train()`` and ``eval()`` set it on the module and every sub-module."""

    training = True            # a class default: subclasses need not call an __init__

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ----------------------------------------------------------------- walking the tree
    def named_children(self):
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

    def named_parameters(self, prefix: str = ""):
        """(name, Parameter) pairs in the order the attributes were set, each parameter once."""
        seen = set()
        for key, value in self.named_children():
            if isinstance(value, Module):
                pairs = value.named_parameters(f"{prefix}{key}.")
            else:
                pairs = [(f"{prefix}{key}", value)]
            for name, p in pairs:
                if id(p) not in seen:
                    seen.add(id(p))
                    yield name, p

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def modules(self):
        """This module and every sub-module below it (each once), depth first."""
        seen, stack = set(), [self]
        while stack:
            m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield m
            stack.extend(reversed([v for _, v in m.named_children() if isinstance(v, Module)]))

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

    def zero_grad(self) -> None:
        """Forget accumulated gradients (backward() adds into .grad)."""
        for p in self.parameters():
            p.grad = None

    def to(self, device=None, dtype=None) -> "Module":
        """Move every parameter to ``device`` and/or convert its floating-point data to ``dtype``,
        in place: ``m.to("cuda")``, ``m.to(np.float32)``, ``m.to("cuda", np.float32)``.

        The Parameter objects stay the same; their gradients are dropped.  Do it before making
        the optimizer: an optimizer's momentum buffers are not moved or converted.
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
        return self

    def float(self) -> "Module":
        """``to(np.float32)``."""
        return self.to(dtype=np.float32)

    def double(self) -> "Module":
        """``to(np.float64)``."""
        return self.to(dtype=np.float64)

    # ----------------------------------------------------------------- saving
    def state_dict(self) -> dict:
        """{name: NumPy array copy} of every parameter (on the host, whatever the device)."""
        return {name: p.numpy().copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy arrays into the parameters (onto their device, in their dtype).

        Raises CheckpointError naming the keys that are missing, unexpected or of the wrong
        shape; nothing is modified unless everything fits.
        """
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        if strict and (missing or unexpected):
            raise CheckpointError(f"state dict does not match {type(self).__name__}: missing {missing}, "
                                  f"unexpected {unexpected}")
        wrong = [f"{k}: checkpoint {np.shape(state[k])}, model {p.shape}"
                 for k, p in params.items() if k in state and tuple(np.shape(state[k])) != p.shape]
        if wrong:
            raise CheckpointError("shape mismatch: " + "; ".join(wrong))
        for k, p in params.items():
            if k in state:
                p.data = p.backend.asarray(np.asarray(state[k]), dtype=p.data.dtype)

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


class Linear(Module):
    """``y = x @ W + b`` (row vectors, as in the paper), W of shape (n_in, n_out).

    ``dtype=None`` is the device's default float (float64 on "cpu" and "strict", float32 on
    "cuda").  The input must have the layer's dtype: nothing is cast silently; convert the
    layer once with ``layer.to(np.float32)`` (``.float()``, ``.double()``) or the input.
    """

    def __init__(self, n_in: int, n_out: int, bias: bool = True, rng=None, dtype=None, device=None):
        from .random import Generator
        rng = rng or Generator(0, device=device)
        bound = 1.0 / np.sqrt(n_in)
        self.W = Parameter(rng.uniform((n_in, n_out), -bound, bound, dtype=dtype), name="W")
        self.b = Parameter(rng.uniform((n_out,), -bound, bound, dtype=dtype), name="b") if bias else None

    def forward(self, x):
        if isinstance(x, Tensor) and x.dtype != self.W.dtype:
            fix = f"the input with x.astype(np.{self.W.dtype})"
            if np.issubdtype(x.dtype, np.floating):
                fix = f"the layer once with .to(np.{x.dtype}), or {fix}"
            raise TypeError(f"Linear{self.W.shape}: the layer is {self.W.dtype}, the input {x.dtype}; "
                            f"minigrad does not cast silently: convert {fix}")
        y = x @ self.W
        return y if self.b is None else y + self.b


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
