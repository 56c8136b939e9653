"""The "strict" device: NumPy that behaves like a GPU array library about the host.

CuPy refuses to turn a device array into a NumPy array behind your back
(``numpy.asarray(cupy_array)`` raises) and refuses to mix its arrays with NumPy arrays in one
operation.  Code that passes its tests on NumPy can therefore still break on a GPU.  This module
catches those mistakes on any machine: a :class:`StrictArray` wraps an ``ndarray`` and

* refuses ``numpy.asarray(a)``, NumPy functions and ufuncs called on it (``np.tanh(a)``),
* refuses to be combined with a plain ``ndarray`` (``a + np.ones(3)``) or to take a Python list
  of numbers where an array is expected (``xp.maximum(a, [0.0, 1.0])``),
* refuses every implicit trip to the host: ``float(a)``, ``int(a)``, ``bool(a)`` (so
  ``if a > 0:``), ``a.item()``, ``a.tolist()``.  CuPy allows those (it synchronizes silently);
  forbidding them here proves the training loop has no *hidden* host round-trip.

The only ways across are explicit: ``StrictBackend.asarray(host_data)`` and
``StrictBackend.to_host(a)``.  The namespace ``StrictBackend.xp`` offers every NumPy function,
unwrapping and rewrapping as it goes.  This is test machinery, not part of the engine proper.

Every function, array method and generator method called through this device is noted in
:data:`CALLS` with the keywords it was given; ``tests/test_cupy_api.py`` checks them against
CuPy's own list, so a call CuPy lacks (``linalg.vector_norm``, ``clip(min=...)``) is found
without a GPU too.
"""
from __future__ import annotations

import numpy as np

from .backend import Backend, register_device


class HostConversionError(TypeError):
    """An array of the strict device was about to be converted to host data implicitly."""


def _refuse(what: str):
    raise HostConversionError(
        f"implicit {what} of a 'strict' device array is not allowed (CuPy would refuse it or "
        "silently synchronize with the GPU); use backend.to_host() or Tensor.numpy()/.item()"
    )


_NUMBERS = (float, complex, bool, np.floating, np.complexfloating, np.bool_)   # ints may be shapes, axes


def _unwrap(obj, allow_host: bool = False):
    """StrictArray -> ndarray, recursively through lists and tuples; refuse host ndarrays and
    Python sequences of numbers (unless ``allow_host``: the array creators take host data)."""
    if isinstance(obj, StrictArray):
        return obj._a
    if isinstance(obj, np.ndarray) and not allow_host:
        raise TypeError(
            "a host numpy.ndarray was mixed with a 'strict' device array; move it first with "
            "backend.asarray() (CuPy refuses this mix too)"
        )
    if isinstance(obj, (list, tuple)):
        if not allow_host and any(isinstance(o, _NUMBERS) for o in obj):
            raise TypeError(
                f"a Python sequence of numbers ({type(obj).__name__}) was passed to a 'strict' device "
                "function where an array is expected; CuPy refuses it: make it an array first with "
                "backend.asarray()"
            )
        return type(obj)(_unwrap(o, allow_host) for o in obj)
    return obj


def _wrap(obj):
    if isinstance(obj, np.ndarray):
        return StrictArray(obj)
    if isinstance(obj, np.generic):          # NumPy returns scalars where CuPy gives 0-d arrays
        return StrictArray(np.asarray(obj))
    if isinstance(obj, tuple):
        return tuple(_wrap(o) for o in obj)
    if isinstance(obj, list):
        return [_wrap(o) for o in obj]
    return obj


CALLS: set = set()
"""``(name, keywords)`` of every call made through the strict device: ``("tanh", ())``,
``("linalg.svd", ("compute_uv",))``, ``("ndarray.sum", ("axis", "keepdims"))``."""


def _wrapped(fn, allow_host=False, name=None):
    def call(*args, **kwargs):
        CALLS.add((name, tuple(sorted(kwargs))))
        args = [_unwrap(a, allow_host) for a in args]
        kwargs = {k: _unwrap(v, allow_host) for k, v in kwargs.items()}
        return _wrap(fn(*args, **kwargs))
    call.__name__ = getattr(fn, "__name__", "strict_call")
    return call


class StrictArray:
    """An ndarray that will not leave the (pretend) device without being asked."""

    __slots__ = ("_a",)

    def __init__(self, a: np.ndarray):
        self._a = a if type(a) is np.ndarray else np.asarray(a)   # NumPy scalars become 0-d

    # --- the refusals -------------------------------------------------------------------
    def __array__(self, *args, **kwargs):
        _refuse("conversion to numpy (numpy.asarray)")

    def __array_ufunc__(self, *args, **kwargs):
        _refuse("use of a NumPy ufunc (call it from backend.xp instead)")

    def __array_function__(self, *args, **kwargs):
        _refuse("use of a NumPy function (call it from backend.xp instead)")

    def __float__(self):
        _refuse("float()")

    def __int__(self):
        _refuse("int()")

    def __index__(self):
        _refuse("use as a Python index")

    def __bool__(self):
        _refuse("bool() (an `if` on an array value)")

    def __complex__(self):
        _refuse("complex()")

    def item(self, *args):
        _refuse(".item()")

    def tolist(self):
        _refuse(".tolist()")

    def __iter__(self):
        _refuse("iteration")

    # --- the explicit way out -------------------------------------------------------------
    def get(self) -> np.ndarray:
        """Copy to a host NumPy array, as ``cupy.ndarray.get()`` does."""
        return self._a.copy()

    # --- everything else behaves like the ndarray inside ------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    T = property(lambda self: StrictArray(self._a.T))
    mT = property(lambda self: StrictArray(self._a.mT))

    def __len__(self):
        return len(self._a)

    def __repr__(self):
        return f"StrictArray(shape={self._a.shape}, dtype={self._a.dtype})"

    def __getattr__(self, name):
        if name.startswith("__"):     # __array_interface__, __array_struct__, __dlpack__...
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return _wrapped(attr, name="ndarray." + name)
        CALLS.add(("ndarray." + name, None))
        return _wrap(attr)

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index)])

    def __setitem__(self, index, value):
        self._a[_unwrap(index)] = _unwrap(value)

    __hash__ = None


def _binary(name):
    method = getattr(np.ndarray, name)

    def op(self, other):
        result = method(self._a, _unwrap(other))
        if result is NotImplemented:
            return result
        return self if name.startswith("__i") else _wrap(result)
    op.__name__ = name
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
              "and", "or", "xor", "lt", "le", "gt", "ge", "eq", "ne"):
    for _form in (f"__{_name}__", f"__r{_name}__", f"__i{_name}__"):
        if hasattr(np.ndarray, _form) and _form != "__imatmul__":   # CuPy has no in-place @=
            setattr(StrictArray, _form, _binary(_form))

for _name in ("__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(StrictArray, _name, (lambda m: lambda self: StrictArray(m(self._a)))(getattr(np.ndarray, _name)))


class _StrictNamespace:
    """``numpy`` with every function unwrapping StrictArrays and wrapping results."""

    _CREATORS = {"asarray", "array", "asanyarray", "ascontiguousarray"}

    def __init__(self, module, prefix=""):
        self._module = module
        self._prefix = prefix                                # "linalg." inside np.linalg
        self.__name__ = f"strict({module.__name__})"

    def __getattr__(self, name):
        attr = getattr(self._module, name)
        if isinstance(attr, type(np)):                      # a submodule: np.linalg, np.fft
            wrapped = _StrictNamespace(attr, prefix=f"{self._prefix}{name}.")
        elif callable(attr) and not isinstance(attr, type):  # functions and ufuncs; not dtypes
            wrapped = _wrapped(attr, allow_host=name in self._CREATORS, name=self._prefix + name)
        else:
            wrapped = attr
        setattr(self, name, wrapped)                         # cache for speed
        return wrapped


class _StrictGenerator:
    def __init__(self, seed):
        self._g = np.random.default_rng(seed)

    def __getattr__(self, name):
        return _wrapped(getattr(self._g, name), name="Generator." + name)


class StrictBackend(Backend):
    """NumPy on the CPU, refusing implicit host conversions like a GPU library."""

    name = device = "strict"
    default_float = np.dtype(np.float64)

    def __init__(self):
        self.xp = _StrictNamespace(np)

    def asarray(self, data, dtype=None):
        if isinstance(data, StrictArray):
            return data if dtype is None else StrictArray(data._a.astype(dtype, copy=False))
        return StrictArray(np.array(data, dtype=dtype, copy=True))     # host -> device copies

    def to_host(self, a):
        if not isinstance(a, StrictArray):
            raise TypeError(f"strict backend: to_host expects a StrictArray, got {type(a).__name__}")
        return a.get()

    def scatter_add(self, target, index, values):
        np.add.at(target._a, _unwrap(index), _unwrap(values))

    def rng(self, seed):
        CALLS.add(("random.default_rng", ()))               # what Backend.rng calls on CuPy
        return _StrictGenerator(seed)


register_device("strict", StrictBackend)
