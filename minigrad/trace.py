"""Trace once, replay many times: a function of tensors turned into straight-line array code.

At the paper's sizes (50 hidden units, batch 20) one array operation costs about a microsecond,
and the Python around it (a Tensor, a Node, the backward walk) costs more than that.  Yet an
update does the same thing every time its shapes are the same.  ``mg.trace(fn)`` runs ``fn``
once on stand-in arrays that write down every array call they take part in, and turns that
record into an ordinary Python function of arrays, one call per line; later calls with the same
shapes run that function instead of ``fn``:

    @mg.trace
    def step(model, x, y):
        loss = model.loss(x, y)
        loss.backward()                  # sets .grad of the model's parameters: replayed too
        return loss

    loss = step(model, x, y)             # first call: traced (and computed)
    loss = step(model, x, y)             # same shapes: replayed, no Tensor, no Node, no tape
    print(step.code(model, x, y))        # the program: forward and backward, as NumPy calls

Nothing is approximated.  With ``mg.trace(fn, optimize=False)`` a replay makes the same array
calls in the same order as ``fn`` did, so its numbers are bit-identical to running ``fn``.
(Calls whose results nothing uses are left out, and each intermediate array is freed after its
last use.)  By default the recorded program is first rewritten by the passes of
:mod:`minigrad.passes` (products that do not depend on a recurrence hoisted out of it, repeated
calls made once, stacks of slices and of elementwise results made without copying part by
part, constants computed once, 2-D products through ``dot``): the same calls on the same values
except that a hoisted product is one large matrix product where there were many small ones.
A BLAS may round a large product differently from small ones (each element is still a dot
product of the same length): with NumPy's OpenBLAS the results have been bit-identical in every
test; what is promised is agreement to a few units in the last place per product
(tests/test_trace_passes.py checks 1e-10 relative in float64, 1e-4 in float32, over whole
training updates).  ``step.code(...)`` shows the program that runs.
A program is chosen by the arguments' shapes, dtypes and memory layout (strides: a reshape
is a view of one layout and a copy of another, and the passes rely on which) and by the grad
mode (``mg.no_grad()``), besides what rule 5 lists.  Tensors made from host data inside ``fn``
(``mg.tensor([1.0, 2.0])``) are constants of the program: a result made of one is copied at
every call, and writing into one raises :class:`TraceError`.
What a replay cannot do is run Python again, so there are rules; rules 1-4 are checked, and
breaking one raises :class:`TraceError` instead of giving a wrong answer (rule 5 is kept by
tracing again where it can see a change, and says what it cannot see):

1. every tensor ``fn`` reads comes in through its arguments (tensors, Modules with their
   parameters and buffers, and lists, tuples or dicts of them); tensors it creates itself
   (``mg.zeros``) are fine;
2. ``fn`` does not look at values: no ``float()``, ``.item()``, ``if loss > 0:``, no printing
   of tensors (a replay could not take the other branch).  Decisions on shapes, dtypes and
   non-tensor arguments are fine: each new combination is traced once more.  A shape that the
   values decide (``x[mask]``, ``mg.nonzero``, ``masked_select``) is checked at every replay:
   another one traces again, or raises where the program has already written into its
   arguments (the lines after it were written for the traced shape: a count, a reshape);
3. random numbers are drawn outside ``fn`` and passed in (a trace would freeze them);
4. a replay reproduces two kinds of effect: arrays updated in place (``p.data -= lr * g``, and
   the version counts of the tensors so changed, as the traced call changed them) and the
   ``.grad`` of argument tensors.  Anything else ``fn`` leaves behind (a tensor stored on
   an object) belongs to the trace, and using it later raises.  Returned tensors carry no
   graph: run backward inside ``fn``.
   Gradient hooks (``Tensor.register_hook``) are Python too: they run while tracing, so what
   they do to a gradient is in the program and anything else they do (count, print, store)
   happens once, at the trace.  The hooks on argument tensors are part of what selects a
   program: registering or removing one traces again;
5. numbers ``fn`` reads outside its arguments are constants of the program.  Those it can see
   are part of what selects a program, so changing one traces again: the plain attributes
   (None, bools, ints, floats, strings, NumPy scalars, and tuples of them) of every Module among the
   arguments and of its sub-modules (``module.training`` included, so ``.eval()`` traces
   again), and the plain values ``fn`` closes over.  Globals, and lists, arrays or other
   objects held elsewhere, are not seen: a change to them after the trace is **not** noticed
   (pass such a value as an argument, or keep it in a Module's attribute).

The mechanism, for readers: argument tensors get a :class:`Traced` array for the duration of
the trace and a backend whose array module writes calls down (so ``mg.zeros`` inside ``fn``
lands there too).  A ``Traced`` computes with the real array inside it and appends a line such
as ``r12 = xp.tanh(r11)`` for every operation; registers ``r0, r1, ...`` are the arguments'
arrays first, then every array the function made; constants (``c0, ...``) are arrays made from
host data.  The engine itself does not know it is being traced.

No text from the user becomes code: values other than None, bools, ints and finite floats
(strings too) are constants in the program's environment, names in the header comments are
shown with repr() unless they are plain, and the ``def`` takes the function's name only when
that is a safe identifier (see :func:`_program_name`).
"""
from __future__ import annotations

import builtins
import functools
import gc
import inspect
import itertools
import keyword
import linecache
import math
import operator
import re
import weakref
from collections import OrderedDict

import numpy as np

from . import backend as _backend
from . import passes as _passes
from . import autograd as _autograd
from .autograd import DeviceMismatchError
from .backend import Backend, TraceError
from .manipulation import trace as _matrix_trace
from .passes import ALL, Facts, Line
from .tensor import Tensor


_active = None          # the _Recorder of the trace being taken, if any


def _recorder():
    if _active is None:
        raise TraceError("an array made inside a traced function was used after the function "
                         "returned: return it from the function instead of keeping it elsewhere")
    return _active


def _refuse(what):
    raise TraceError(f"{what} inside a traced function: a replay cannot look at values (it "
                     "could not take another branch); compute on tensors, or read values after "
                     "the traced function returns")


# --------------------------------------------------------------------------- the stand-in array
class Traced:
    """An array while a function is traced: computes as the array inside (``raw``) would and
    writes the operation down.  ``reg`` is its register in the program (None: a constant)."""

    __slots__ = ("raw", "reg", "rec", "__weakref__")
    __array_ufunc__ = None          # ndarray (op) Traced -> Traced's reflected operator
    __hash__ = None

    def __init__(self, raw, reg=None, rec=None):
        self.raw, self.reg, self.rec = raw, reg, rec

    shape = property(lambda self: self.raw.shape)
    dtype = property(lambda self: self.raw.dtype)
    ndim = property(lambda self: self.raw.ndim)
    size = property(lambda self: self.raw.size)
    nbytes = property(lambda self: self.raw.nbytes)
    itemsize = property(lambda self: self.raw.itemsize)
    T = property(lambda self: _recorder().attribute(self, "T"))
    mT = property(lambda self: _recorder().attribute(self, "mT"))

    def __len__(self):
        return len(self.raw)

    def __repr__(self):
        where = "constant" if self.reg is None else f"r{self.reg}"
        return f"<traced {where}: shape {self.raw.shape}, {self.raw.dtype}>"

    def __getattr__(self, name):                      # methods: .reshape(), .sum(), .astype()...
        if name.startswith("__"):
            raise AttributeError(name)
        if name in ("item", "tolist", "tobytes", "get"):
            _refuse(f".{name}()")
        attr = getattr(self.raw, name)
        if not callable(attr):
            return attr                               # flags, strides: static facts
        return functools.partial(_recorder().method, self, name)

    def __getitem__(self, index):
        return _recorder().getitem(self, index)

    def __setitem__(self, index, value):
        _recorder().setitem(self, index, value)

    def __array__(self, *args, **kwargs):
        _refuse("conversion to a NumPy array")

    def __array_function__(self, *args, **kwargs):
        _refuse("a NumPy function called directly (not through the tensor's backend)")

    def __bool__(self):
        _refuse("bool() of an array (an `if` on a value)")

    def __float__(self):
        _refuse("float()")

    def __int__(self):
        _refuse("int()")

    def __index__(self):
        _refuse("use of an array value as a Python index")

    def __complex__(self):
        _refuse("complex()")

    def __iter__(self):
        _refuse("iteration over an array")


def _binary(symbol, fn, inplace_fn):
    def forward(self, other):
        return _recorder().binary(symbol, fn, self, other)

    def reflected(self, other):
        return _recorder().binary(symbol, fn, other, self)

    def inplace(self, other):
        return _recorder().inplace(symbol, inplace_fn, self, other)
    return forward, reflected, inplace


for _name, _symbol in {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//",
                       "mod": "%", "pow": "**", "matmul": "@", "and": "&", "or": "|",
                       "xor": "^"}.items():
    _f, _r, _i = _binary(_symbol, getattr(operator, f"{_name}_" if _name in ("and", "or") else _name),
                         getattr(operator, f"i{_name}"))
    setattr(Traced, f"__{_name}__", _f)
    setattr(Traced, f"__r{_name}__", _r)
    setattr(Traced, f"__i{_name}__", _i)

for _name, _symbol in {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}.items():
    setattr(Traced, f"__{_name}__", _binary(_symbol, getattr(operator, _name), None)[0])

for _name, _template in {"neg": "-{}", "pos": "+{}", "abs": "abs({})", "invert": "~{}"}.items():
    setattr(Traced, f"__{_name}__", (lambda t, f: lambda self: _recorder().unary(t, f, self))(
        _template, getattr(operator, _name)))


# --------------------------------------------------------------------------- the recorder
_VALUE_SHAPED = {"nonzero", "argwhere", "flatnonzero", "unique", "extract", "compress"}
"""Array functions whose result's shape depends on the values (besides ``x[mask]``)."""


class _ShapeChanged(TraceError):
    """A replay met a value-decided shape other than the traced one before it wrote anything
    (``mg.trace`` then traces again for these values)."""


def _same_shape(a, shape, what, retrace):
    """A replay's check after a call whose result's shape depends on the values (``x[mask]``):
    the lines after it were written for the traced shape (a count, a reshape).  Another shape:
    trace again (``retrace``: nothing written yet), else refuse."""
    if tuple(a.shape) != shape:
        if retrace:
            raise _ShapeChanged(what)
        raise TraceError(f"{what} gave shape {tuple(a.shape)} here but {shape} when the function "
                         "was traced, after the program had written into its arguments: a shape "
                         "that depends on the values cannot be replayed from there; compute without "
                         "it (mg.where(mask, x, 0) and a sum instead of x[mask]), or call the "
                         "function untraced")


def _name(reg: int) -> str:
    """A register as lines are recorded; renamed ``r<k>`` once unused lines are dropped."""
    return f"\x01{reg}\x02"


_NAME = re.compile("\x01(\\d+)\x02")


class _Recorder:
    """The program being written: one line per array operation, in execution order."""

    def __init__(self, inner: Backend):
        self.inner = inner
        self.lines = []                    # the program so far: passes.Line, one per call
        self.facts = Facts()               # shapes, dtypes and memory of the registers (for passes)
        self._refs = {}                    # register -> weak reference to its Traced
        self.n = 0                         # registers so far
        self.env = {"xp": inner.xp, "backend": inner}
        self._names = {}                   # id(constant) -> its name in env
        self.made = []                     # weak references to the arrays the function made
        self.array_types = (np.generic, type(inner.xp.zeros(0)))

    # ----- values and how the program names them
    def register(self, raw, operands=()) -> Traced:
        """A new register holding ``raw``, computed from the registers ``operands`` (what the
        passes are told about it: its shape and dtype, and the memory it lives in)."""
        self.n += 1
        t = Traced(raw, self.n - 1, self)
        self.made.append(weakref.ref(t))
        self._refs[t.reg] = self.made[-1]
        facts = self.facts
        if isinstance(raw, self.array_types[1]):
            facts.shape[t.reg], facts.dtype[t.reg] = raw.shape, raw.dtype
            facts.roots[t.reg] = self._memory(raw, operands) or {t.reg}
            if getattr(raw, "base", None) is None and getattr(raw.flags, "writeable", True):
                facts.owners.add(t.reg)               # its own, writable memory (not broadcast_to)
        elif isinstance(raw, np.generic) or type(raw) in (int, float, bool, complex):
            facts.scalars.add(t.reg)
        return t

    def _memory(self, raw, operands) -> set:
        """The roots of the operands whose arrays ``raw`` may share memory with (a view)."""
        share = getattr(self.inner.xp, "may_share_memory", None)
        roots = set()
        for r in operands:
            ref = self._refs.get(r)
            t = ref() if ref is not None else None
            if t is None or r not in self.facts.roots:
                continue                              # freed, or not an array: no memory to share
            if share is None or share(raw, t.raw):    # (no test available: assume a view)
                roots |= self.facts.roots[r]
        return roots

    def target(self, obj):
        """The memory a line writes when it writes into ``obj`` (ALL: cannot tell)."""
        if type(obj) is Traced and obj.reg is not None and obj.reg in self.facts.roots:
            return set(self.facts.roots[obj.reg])
        return ALL

    def constant(self, obj) -> str:
        name = self._names.get(id(obj))
        if name is None:
            name = self._names[id(obj)] = f"c{len(self._names)}"
            self.env[name] = obj
        return name

    def expr(self, obj, uses) -> str:
        """Python source for ``obj`` as an operand; registers it reads are added to ``uses``."""
        if type(obj) is Traced:
            if obj.reg is None:
                return self.constant(obj.raw)
            if obj.rec is not self:
                raise TraceError("an array from an earlier trace was used inside this one: it "
                                 "was kept outside the function that made it")
            uses.append(obj.reg)
            return _name(obj.reg)
        if type(obj) in (tuple, list):
            inner = ", ".join(self.expr(o, uses) for o in obj)
            if type(obj) is list:
                return f"[{inner}]"
            return f"({inner},)" if len(obj) == 1 else f"({inner})"
        if type(obj) is slice:
            return f"slice({self.expr(obj.start, uses)}, {self.expr(obj.stop, uses)}, {self.expr(obj.step, uses)})"
        if obj is None or type(obj) is bool:           # literals only where repr() is safe code
            return repr(obj)
        if type(obj) is int or (type(obj) is float and math.isfinite(obj)):
            return repr(obj) if obj >= 0 else f"({obj!r})"
        if isinstance(obj, self.array_types[1]):
            raise TraceError("an array that did not come in through the traced function's "
                             "arguments was used in it (a tensor held by a closure or a "
                             "module attribute?): pass it as an argument")
        return self.constant(obj)

    def index_expr(self, index, uses) -> str:
        """An index as it is written between brackets: ``r3[0]``, ``r3[:, 1:5]``."""
        parts = index if type(index) is tuple else (index,)
        out = []
        for p in parts:
            if type(p) is slice and not any(type(v) is Traced for v in (p.start, p.stop, p.step)):
                bound = [("" if v is None else repr(v) if type(v) is int else self.expr(v, uses))
                         for v in (p.start, p.stop, p.step)]   # np.int64, __index__: constants
                out.append(":".join(bound if bound[2] else bound[:2]))
            elif p is Ellipsis:
                out.append("...")
            elif type(p) is np.ndarray:           # a host index array: a constant
                out.append(self.constant(p))
            else:
                out.append(self.expr(p, uses))
        return ", ".join(out) if out else "()"

    @staticmethod
    def unwrap(obj):
        if type(obj) is Traced:
            return obj.raw
        if type(obj) in (tuple, list):
            return type(obj)(_Recorder.unwrap(o) for o in obj)
        if type(obj) is slice:
            return slice(*(_Recorder.unwrap(v) for v in (obj.start, obj.stop, obj.step)))
        return obj

    def of_constant(self, obj) -> bool:
        """Whether ``obj`` is a constant of the program (host data made into an array inside the
        function) or may be a view of one: every run would hand out, or write into, that one array."""
        if type(obj) is not Traced:
            return False
        if obj.reg is None:
            return True
        share = getattr(self.inner.xp, "may_share_memory", None)
        return any(isinstance(c, self.array_types[1]) and (share is None or share(obj.raw, c))
                   for c in self.env.values())

    def shape_guard(self, result, what: str):
        """After a call whose result's shape depends on the values (``x[mask]``, ``nonzero``):
        a line that checks, at every run, that the shape is the traced one (the lines after it
        may have been written for that shape: a count, a reshape).  If not, the function is
        traced again when the program has written nothing into its arguments so far (the
        arguments are as they came in), else TraceError."""
        for t in (result if type(result) in (tuple, list) else (result,)):
            if type(t) is Traced and t.reg is not None and t.reg in self.facts.shape:
                shape = tuple(int(d) for d in t.raw.shape)
                retrace = not any(_passes._writes_any(line, {-1}) for line in self.lines)
                self.lines.append(Line(f"{self.constant(_same_shape)}({_name(t.reg)}, {shape!r}, "
                                       f"{self.constant(what)}, {retrace})", None, [t.reg], True, set()))
        return result

    def writable(self, target: Traced, what: str) -> None:
        if type(target) is not Traced or target.reg is None:
            raise TraceError(f"{what} writes into an array that is not part of the trace (a "
                             "constant, or an array held outside the function's arguments)")
        if target.rec is not self:
            raise TraceError("an array from an earlier trace was written inside this one")
        if self.of_constant(target):
            raise TraceError(f"{what} writes into a tensor made from host data inside the traced "
                             "function (mg.tensor([...])): that array is a constant of the program, "
                             "shared by every run; make it with mg.zeros / mg.full and write into "
                             "that, or pass it in as an argument")

    # ----- one line of the program
    def emit(self, text, raw, uses, effect=False, writes=ALL, op=None, operands=None):
        """Append ``register = text`` (value ``raw``) and return the stand-in for it.  ``writes``:
        the memory an effect writes into; ``op``: the call as the passes see it (see
        passes.Line); ``operands``: the registers ``raw`` may be a view of (default ``uses``)."""
        operands = uses if operands is None else operands
        if raw is None:
            self.lines.append(Line(text, None, uses, True, writes))
            return None
        if isinstance(raw, self.array_types) or type(raw) in (int, float, bool, complex):
            t = self.register(raw, operands)
            self.lines.append(Line(f"{_name(t.reg)} = {text}", t.reg, uses, effect, writes, op))
            return t
        if type(raw) in (tuple, list) and any(isinstance(x, self.array_types) for x in raw):
            whole = self.register(raw)
            self.lines.append(Line(f"{_name(whole.reg)} = {text}", whole.reg, uses, effect, writes))
            return type(raw)(self.emit(f"{_name(whole.reg)}[{i}]", x, [whole.reg], operands=operands)
                             if isinstance(x, self.array_types) else x for i, x in enumerate(raw))
        if effect:
            self.lines.append(Line(text, None, uses, True, writes))
        return raw                                    # a dtype, a shape: static

    def arguments(self, args, kwargs, uses) -> str:
        """``a, b, key=c``: the arguments of a call as source (keywords must be Python names)."""
        for k in kwargs:
            if not k.isidentifier():
                raise TraceError(f"a keyword argument named {k!r} cannot be written in a program")
        return ", ".join([self.expr(a, uses) for a in args] +
                         [f"{k}={self.expr(v, uses)}" for k, v in kwargs.items()])

    def call(self, text, fn, args, kwargs, effect=False):
        uses = []
        source = self.arguments(args, kwargs, uses)
        writes = ALL
        if "out" in kwargs:
            self.writable(kwargs["out"], f"{text}(out=...)")
            effect, writes = True, self.target(kwargs["out"])
        elif effect and args:
            writes = self.target(args[0])             # copyto, put, scatter_add...: the first
        raw = fn(*self.unwrap(args), **{k: self.unwrap(v) for k, v in kwargs.items()})
        out = self.emit(f"{text}({source})", raw, uses, effect, writes, self._op(text, args, kwargs))
        if text.rsplit(".", 1)[-1] in _VALUE_SHAPED and uses:
            self.shape_guard(out, f"{text}()")
        return out

    # elementwise NumPy functions the passes may call with out= (all are ufuncs)
    _UFUNCS = {"tanh", "exp", "log", "log1p", "expm1", "sqrt", "square", "negative", "absolute",
               "sin", "cos", "add", "subtract", "multiply", "divide", "true_divide", "maximum",
               "minimum", "reciprocal", "sign"}
    _OPERATOR_UFUNCS = {"+": "add", "-": "subtract", "*": "multiply", "/": "true_divide"}

    def _op(self, text, args, kwargs):
        """The call as the passes see it (passes.Line.op), or None."""
        fn = text[3:] if text.startswith("xp.") else None
        registers = all(type(a) is Traced and a.reg is not None for a in args)
        if fn == "matmul" and len(args) == 2 and not kwargs and registers:
            return ("matmul", args[0].reg, args[1].reg)
        if (fn == "concatenate" and len(args) == 1 and type(args[0]) in (list, tuple)
                and kwargs in ({}, {"axis": 0})
                and all(type(a) is Traced and a.reg is not None for a in args[0])):
            return ("concatenate", [a.reg for a in args[0]])
        if fn in self._UFUNCS and not kwargs:
            return self._ufunc(fn, args)
        return None

    def _ufunc(self, fn, operands):
        """("ufunc", fn, sources) when every operand is a register or a number literal."""
        sources = []
        for a in operands:
            if type(a) is Traced and a.reg is not None:
                sources.append(_name(a.reg))
            elif type(a) in (int, float) and math.isfinite(a):
                sources.append(repr(a) if a >= 0 else f"({a!r})")
            else:
                return None
        return ("ufunc", fn, sources)

    def binary(self, symbol, fn, a, b):
        uses = []
        text = f"{self.expr(a, uses)} {symbol} {self.expr(b, uses)}"
        op = None
        if symbol == "@" and all(type(v) is Traced and v.reg is not None for v in (a, b)):
            op = ("matmul", a.reg, b.reg)
        elif symbol in self._OPERATOR_UFUNCS:
            op = self._ufunc(self._OPERATOR_UFUNCS[symbol], (a, b))
        return self.emit(text, fn(self.unwrap(a), self.unwrap(b)), uses, op=op)

    def unary(self, template, fn, a):
        uses = []
        op = self._ufunc("negative", (a,)) if template == "-{}" else None
        return self.emit(template.format(self.expr(a, uses)), fn(a.raw), uses, op=op)

    def inplace(self, symbol, fn, a, b):
        self.writable(a, f"`{symbol}=`")
        uses = []
        text = f"{self.expr(a, uses)} {symbol}= {self.expr(b, uses)}"
        raw = fn(a.raw, self.unwrap(b))
        if raw is not a.raw:                          # an immutable value (a Python number)
            return self.binary(symbol, getattr(operator, fn.__name__[1:]), a, b)
        self.lines.append(Line(text, None, uses, True, self.target(a)))
        return a

    def attribute(self, a, name):
        uses = []
        return self.emit(f"{self.expr(a, uses)}.{name}", getattr(a.raw, name), uses)

    _IN_PLACE_METHODS = {"fill", "sort", "put", "itemset", "partition", "resize", "setfield"}

    def method(self, a, name, *args, **kwargs):
        uses = []
        source = self.arguments(args, kwargs, uses)
        effect = name in self._IN_PLACE_METHODS or "out" in kwargs
        writes = ALL
        if effect:
            self.writable(a, f".{name}()")
            writes = self.target(a)
            if "out" in kwargs:
                out = self.target(kwargs["out"])
                writes = ALL if out is ALL or writes is ALL else writes | out
        raw = getattr(a.raw, name)(*self.unwrap(args), **{k: self.unwrap(v) for k, v in kwargs.items()})
        out = self.emit(f"{self.expr(a, uses)}.{name}({source})", raw, uses, effect, writes)
        if name in _VALUE_SHAPED and uses:
            self.shape_guard(out, f".{name}()")
        return out

    def getitem(self, a, index):
        uses = []
        text = f"{self.expr(a, uses)}[{self.index_expr(index, uses)}]"
        op, k = None, index[0] if type(index) is tuple and len(index) == 1 else index
        if type(a) is Traced and a.reg is not None and type(k) in (int, np.intp, np.int64):
            op = ("index", a.reg, int(k))                 # a[k]: for passes.hoist_products
        out = self.emit(text, a.raw[self.unwrap(index)], uses, op=op)
        parts = index if type(index) is tuple else (index,)
        if any(type(p) is Traced and p.reg is not None and p.raw.dtype == bool and p.raw.ndim for p in parts):
            self.shape_guard(out, "indexing with a boolean mask (x[mask])")
        return out

    def setitem(self, a, index, value):
        self.writable(a, "item assignment")
        uses = []
        text = f"{self.expr(a, uses)}[{self.index_expr(index, uses)}] = {self.expr(value, uses)}"
        a.raw[self.unwrap(index)] = self.unwrap(value)
        self.lines.append(Line(text, None, uses, True, self.target(a)))

    # ----- the finished program
    @staticmethod
    def _needed(lines, out_uses):
        """The lines that are effects or lead to the results (``out_uses``), in order."""
        live = set(out_uses)
        kept = []
        for line in reversed(lines):
            if line.effect or line.defined in live:
                kept.append(line)
                live.update(line.uses)
        kept.reverse()
        return kept

    def source(self, inputs: list, outputs: list, name: str, optimize: bool = True) -> str:
        """The program as Python source: unused lines dropped, the passes of
        :mod:`minigrad.passes` applied (``optimize``), arrays freed after last use."""
        out_uses = []
        returned = [self.expr(o, out_uses) + (".copy()" if self.of_constant(o) else "") for o in outputs]
        kept = self._needed(self.lines, out_uses)
        n_recorded = len(kept)
        if optimize:
            self.facts.next_register, self.facts.env, self.facts.constant = self.n, self.env, self.constant
            for run_pass in (_passes.PASSES if optimize is True else optimize):
                kept = run_pass(kept, self.facts, set(out_uses))
            kept = self._needed(kept, out_uses)        # what a pass left unused goes too
        last = {}
        for i, line in enumerate(kept):
            for r in line.uses:
                last[r] = i
            if line.defined is not None:
                last[line.defined] = max(last.get(line.defined, i), i)
        n_inputs = len(inputs)
        number = {i: i for i in range(n_inputs)}      # registers renumbered in order of appearance
        for line in kept:
            if line.defined is not None and line.defined not in number:
                number[line.defined] = len(number)
        rename = functools.partial(_NAME.sub, lambda m: f"r{number[int(m.group(1))]}")
        keep_alive = set(out_uses)
        body = []
        for i, line in enumerate(kept):
            body.append("    " + rename(line.text))
            dead = sorted({r for r in line.uses + [line.defined] if r is not None and last[r] == i}
                          - keep_alive, key=number.get)
            if dead:
                body.append("    del " + ", ".join(f"r{number[r]}" for r in dead))
        returned = [rename(r) for r in returned]
        params = ", ".join(f"r{i}" for i in range(n_inputs))
        what = (f"{len(kept)} array operations on the inputs (the {n_recorded} recorded, rewritten "
                "by minigrad.passes)" if optimize else f"{len(kept)} array operations on the inputs")
        head = [f"def {name}({params}):", f"    # {what}"]
        head += [f"    #   r{i}: {what}" for i, what in enumerate(inputs)]
        return "\n".join(head + body + [f"    return ({', '.join(returned)}{',' if len(returned) == 1 else ''})", ""])


# --------------------------------------------------------------------------- the tracing backend
class _Function:
    """``xp.<name>`` while tracing: calls the real function and writes the call down."""

    _IN_PLACE = {"copyto", "put", "place", "putmask", "fill_diagonal"}

    def __init__(self, text, fn):
        self.text, self.fn = text, fn
        self.effect = text.rsplit(".", 1)[-1] in self._IN_PLACE

    def __call__(self, *args, **kwargs):
        return _recorder().call(self.text, self.fn, args, kwargs, self.effect)


class _Namespace:
    """The array module (or a submodule such as ``xp.linalg``) seen through the recorder."""

    def __init__(self, prefix, module):
        self._prefix, self._module = prefix, module
        self.__name__ = f"traced({prefix})"

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "random":
            raise TraceError("random numbers inside a traced function would be drawn once and "
                             "frozen into the trace: draw them outside and pass them in")
        attr = getattr(self._module, name)
        if not callable(attr) and hasattr(attr, "__name__") and not isinstance(attr, type):
            value = _Namespace(f"{self._prefix}.{name}", attr)         # a submodule
        elif callable(attr) and not isinstance(attr, type):
            value = _Function(f"{self._prefix}.{name}", attr)
        else:
            value = attr                                                # dtypes, constants
        setattr(self, name, value)
        return value


class _TracingBackend(_Namespace, Backend):
    """A backend whose arrays are :class:`Traced`: it stands in for ``inner`` during a trace."""

    tracing = True            # values cannot be read back (see check_index_range for the checks that do)

    def __init__(self, inner: Backend):
        _Namespace.__init__(self, "xp", inner.xp)
        self.inner, self.xp = inner, self
        self.name, self.device, self.default_float = inner.name, inner.device, inner.default_float

    def asarray(self, data, dtype=None):
        if type(data) is Traced:
            return _recorder().call("xp.asarray", self.inner.asarray, (data,),
                                    {} if dtype is None else {"dtype": dtype})
        return Traced(self.inner.asarray(data, dtype=dtype))          # host data: a constant

    def to_host(self, a):
        _refuse("copying an array to the host (.numpy(), .item(), print)")

    def scatter_add(self, target, index, values):
        _recorder().writable(target, "scatter_add")
        _recorder().call("backend.scatter_add", self.inner.scatter_add, (target, index, values), {}, True)

    def check_index_range(self, index, n, name, axis):
        """An index made from the arguments: checked on every replay (the program calls the
        real backend's check, one read back); a constant one: checked now, once."""
        if type(index) is Traced and index.reg is not None:
            _recorder().call("backend.check_index_range", self.inner.check_index_range, (index, n, name, axis), {},
                             True)
        else:
            self.inner.check_index_range(index.raw if type(index) is Traced else index, n, name, axis)

    def rng(self, seed):
        raise TraceError("random numbers inside a traced function would be drawn once and frozen "
                         "into the trace: draw them outside and pass them in")

    def synchronize(self):
        pass

    def __repr__(self):
        return f"<minigrad tracing backend over {self.inner!r}>"


_TRACING: dict = {}


def _tracing_backend(inner: Backend) -> _TracingBackend:
    tb = _TRACING.get(inner)
    if tb is None:
        tb = _TRACING[inner] = _TracingBackend(inner)
    return tb


# --------------------------------------------------------------------------- arguments
def _flatten(obj, tensors, index, key):
    """Collect the tensors in ``obj`` (each once, in order) and describe its structure in ``key``."""
    from .nn import Module, _Parameters
    if isinstance(obj, Tensor):
        if id(obj) not in index:
            if obj._node is not None:
                raise TraceError("a traced function's tensor arguments must be leaves; this one "
                                 f"(shape {obj.shape}) has a graph: pass .detach()")
            index[id(obj)] = len(tensors)
            tensors.append(obj)
        g = obj.grad
        key.append(("T", index[id(obj)], obj.shape, obj.dtype, obj._data.strides, obj.requires_grad,
                    obj.backend, None if g is None else (g.shape, g.dtype, g._data.strides),
                    tuple(map(_Same, obj._hooks or ()))))
    elif isinstance(obj, Module):
        key.append(("M", obj, _plain_attributes(obj)))       # rule 5: its numbers select too
        for p in obj.parameters():
            _flatten(p, tensors, index, key)
        for b in obj.buffers():                               # register_buffer's tensors
            _flatten(b, tensors, index, key)
    elif type(obj) in (tuple, list, _Parameters):          # _Parameters: model.parameters()
        key.append((type(obj), len(obj)))
        for o in obj:
            _flatten(o, tensors, index, key)
    elif type(obj) is dict:
        key.append((dict, tuple(obj)))
        for o in obj.values():
            _flatten(o, tensors, index, key)
    else:
        try:
            hash(obj)
        except TypeError:
            raise TraceError(f"a traced function's arguments must be tensors, Modules, lists, "
                             f"tuples or dicts of them, or hashable values; got a "
                             f"{type(obj).__name__}") from None
        key.append(("V", type(obj), _token(obj)))


def _token(v):
    """``v`` as a key entry that tells apart what ``==`` does not: 0.0 and -0.0, and a NaN from
    itself (NaN != NaN would make every call trace again)."""
    if type(v) is float:
        return ("float", v.hex())
    if _is_numpy_number(v):
        return ("numpy", v.dtype.str, v.tobytes())      # every bit: -0.0 and 0.0, NaN alike
    if type(v) is tuple:
        return tuple(map(_token, v))
    return v


_PLAIN_TYPES = frozenset((type(None), bool, int, float, complex, str))


def _is_plain(v) -> bool:
    return (type(v) in _PLAIN_TYPES or _is_numpy_number(v)
            or (type(v) is tuple and all(map(_is_plain, v))))


def _is_numpy_number(v) -> bool:
    """A NumPy bool, integer, float or complex scalar (``np.float64`` is a float subclass)."""
    return isinstance(v, np.generic) and v.dtype.kind in "biufc"


def _plain_attributes(module) -> tuple:
    """The plain attributes (numbers, strings, None, tuples of them) of ``module`` and of its
    sub-modules, by name: values a forward pass may read that the program would freeze.  (On
    every call of a traced function: kept to one pass over the attributes.)"""
    out = []
    for m in module.modules():
        for k, v in vars(m).items():
            t = type(v)
            if t in _PLAIN_TYPES:
                out.append((k, t, v.hex() if t is float else v))
            elif _is_numpy_number(v) or (t is tuple and _is_plain(v)):
                out.append((k, t, _token(v)))
    return tuple(out)


def _closure_values(fn) -> tuple:
    """The plain values ``fn`` closes over (rule 5), as a key entry."""
    cells = getattr(fn, "__closure__", None) or ()
    out = []
    for i, cell in enumerate(cells):
        try:
            v = cell.cell_contents
        except ValueError:                   # an empty cell (a name not yet assigned)
            continue
        if _is_plain(v):
            out.append((i, type(v), _token(v)))
    return tuple(out)


class _Same:
    """A gradient hook in a program's key: equal only to itself (hashable or not), and kept
    alive by the key, so that its id cannot pass to another function."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __eq__(self, other):
        return type(other) is _Same and other.obj is self.obj

    def __hash__(self):
        return id(self.obj)


def _argument_names(fn, args, kwargs) -> dict:
    """id(tensor) -> a name for the program's header: the parameter it was passed as (its
    keyword, for ``**kwargs``), or its dotted name inside a Module argument (``layers.0.W_rec``).
    These are user text: the header shows them through :func:`_label`."""
    from .nn import Module
    try:
        signature = inspect.signature(fn)
        bound = signature.bind(*args, **kwargs).arguments
    except (TypeError, ValueError):
        bound = {}
    names = {}
    for arg_name, value in bound.items():
        if signature.parameters[arg_name].kind is inspect.Parameter.VAR_KEYWORD:
            pairs = value.items()
        else:
            pairs = [(arg_name, value)]
        for name, v in pairs:
            if isinstance(v, Tensor):
                names.setdefault(id(v), name)
            elif isinstance(v, Module):
                names.update((id(p), n) for n, p in v.named_parameters())
                names.update((id(b), n) for n, b in v.named_buffers())
    return names


_PLAIN = re.compile(r"[A-Za-z0-9_.\-]+")


def _label(text) -> str:
    """User text (a tensor's name, a dtype) as the header comments show it: as it is when it is
    plain (ASCII letters, digits, ``_.-``), else its repr(), which is one line whatever the text
    holds (newlines, quotes, NUL are escaped), so it can never end the comment."""
    text = str(text)
    return text if _PLAIN.fullmatch(text) else repr(text)


def _program_name(fn) -> str:
    """The name for the program's ``def``: the function's own when it is an ASCII identifier,
    not a keyword, and hides nothing the program reads (``xp``, ``backend``, constants ``c0``...,
    builtins such as ``slice``, dunders); else ``"traced"``.  (ASCII: Python binds a name like
    ``ﬁx`` as ``fix``.)"""
    name = getattr(fn, "__name__", None)
    ok = (type(name) is str and name.isascii() and name.isidentifier() and not keyword.iskeyword(name)
          and name not in ("xp", "backend") and not re.fullmatch(r"c\d+", name)
          and not hasattr(builtins, name) and not name.startswith("__"))
    return name if ok else "traced"


def _outputs(obj, leaves):
    """Replace every tensor or array in the result by a slot number; return the template."""
    if isinstance(obj, Tensor):
        leaves.append(obj.data)
        return _Slot(len(leaves) - 1)
    if type(obj) is Traced:
        leaves.append(obj)
        return _Slot(len(leaves) - 1, raw=True)
    if type(obj) in (tuple, list):
        return type(obj)(_outputs(o, leaves) for o in obj)
    if type(obj) is dict:
        return {k: _outputs(v, leaves) for k, v in obj.items()}
    return obj


class _Slot:
    __slots__ = ("i", "raw")

    def __init__(self, i, raw=False):
        self.i, self.raw = i, raw


def _fill(template, values, backend):
    if type(template) is _Slot:
        v = values[template.i]
        return v if template.raw else Tensor._wrap(v, backend)
    if type(template) in (tuple, list):
        return type(template)(_fill(t, values, backend) for t in template)
    if type(template) is dict:
        return {k: _fill(v, values, backend) for k, v in template.items()}
    return template


# --------------------------------------------------------------------------- programs
def _check_nothing_kept(rec):
    """Rule 4: an array the function made and stored somewhere (an optimizer's momentum, an
    attribute) would never be updated by a replay; refuse rather than replay wrongly."""
    alive = [r for r in rec.made if r() is not None]
    if alive:
        gc.collect()                                   # reference cycles are not "kept"
        alive = [r for r in alive if r() is not None and not _only_in_finished_frames(r)]
    if alive:
        kept = [r() for r in alive]
        where = ", ".join(f"r{t.reg} {t.raw.shape}" for t in kept[:5])
        raise TraceError(
            f"the traced function kept {len(kept)} array(s) it made ({where}) somewhere other "
            "than its return value, e.g. an optimizer's momentum buffers or an attribute: a "
            "replay would never update them.  Return such values, or keep that part outside "
            "the traced function")


def _only_in_finished_frames(ref, limit: int = 10_000) -> bool:
    """True when every chain of references that holds the array ``ref`` points to ends in the
    local variables of a frame that has finished running (a profiler's stack samples, a stored
    traceback): no code can reach the array through them to use it again, so the function did
    not "keep" it.  Anything else (a container, an attribute, a reference from C) counts as kept."""
    running = set()
    frame = inspect.currentframe()
    while frame is not None:                           # this check's own frames hold it too
        running.add(id(frame))
        frame = frame.f_back
    todo, seen = [ref()], set()
    while todo:
        holders = [h for h in gc.get_referrers(todo.pop()) if id(h) not in running and h is not todo]
        if not holders:
            return False
        for h in holders:
            if not inspect.isframe(h) and id(h) not in seen:
                seen.add(id(h))
                todo.append(h)
        del holders, h                                 # so that they do not hold the next one
        if len(seen) > limit:
            return False
    return True


_programs_made = itertools.count()


class Program:
    """One traced function for one combination of argument shapes: its source and how to run it."""

    def __init__(self, source, env, name, backend, template, n_results, grad_inputs, grad_targets, bumps=()):
        self.source = source
        filename = f"<minigrad.trace {name} #{next(_programs_made)}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        namespace = dict(env)
        exec(compile(source, filename, "exec"), namespace)
        self.fn = namespace[name]
        self.backend, self.template, self.n_results = backend, template, n_results
        self.grad_inputs = grad_inputs        # argument tensors whose .grad is read
        self.grad_targets = grad_targets      # argument tensors whose .grad the program sets
        self.bumps = bumps                    # (argument k, n): the trace changed it in place n times
        self.n_lines = source.count("\n")

    def run(self, tensors):
        swapped = tensors + [tensors[i].grad for i in self.grad_inputs]
        values = self.fn(*[t.data for t in swapped])
        for k, n in self.bumps:               # as the eager call would: its in-place changes counted,
            for _ in range(n):                # so a graph or a record (rnn.Unrolled) made before sees them
                swapped[k]._bump()
        for i, g in zip(self.grad_targets, values[self.n_results:]):
            tensors[i]._grad = None if g is None else Tensor._wrap(g, self.backend)
        return _fill(self.template, values, self.backend)


class trace:
    """``mg.trace(fn)``: ``fn`` traced once per combination of argument shapes, then replayed.

    See the module's docstring for what a replay reproduces and the rules it checks.
    ``mg.trace(A)`` with a Tensor ``A`` is PyTorch's ``torch.trace``, the sum of a matrix's
    diagonal (:func:`minigrad.manipulation.trace`): a function is traced, a matrix summed.
    ``.code(*args)`` returns the program for those arguments (tracing them if needed);
    ``.programs`` counts the traces kept (at most ``max_programs``, least recently used first
    out).  ``optimize``: True (default) runs the passes of :mod:`minigrad.passes` over each
    program, False runs the calls as recorded, a list of pass functions runs just those (in
    that order: how ``bench/trace_speed.py`` measures what each pass buys).
    """

    def __init__(self, fn, *, max_programs: int = 64, optimize: bool = True):
        functools.update_wrapper(self, fn)
        self.fn, self.max_programs, self.optimize = fn, max_programs, optimize
        self._programs: OrderedDict = OrderedDict()

    def __new__(cls, fn=None, **kwargs):
        if fn is None:                                 # @mg.trace(max_programs=...)
            return lambda f: cls(f, **kwargs)
        if isinstance(fn, Tensor):                     # torch.trace(A): the matrix's trace
            if kwargs:
                raise TypeError(f"mg.trace(A) of a Tensor is the matrix trace and takes no options, "
                                f"got {', '.join(kwargs)}")
            return _matrix_trace(fn)
        if not callable(fn):
            raise TypeError(f"mg.trace takes a function to trace, or a 2-D Tensor for the sum of its "
                            f"diagonal; got a {type(fn).__name__}")
        return super().__new__(cls)

    @property
    def programs(self) -> int:
        return len(self._programs)

    def __call__(self, *args, **kwargs):
        if _active is not None:                        # inside another trace: part of it
            return self.fn(*args, **kwargs)
        program, tensors, result = self._program(args, kwargs)
        if result is not None:
            return result[0]
        try:
            return program.run(tensors)
        except _ShapeChanged:                          # a shape decided by values: trace again
            self._programs.pop(program.key, None)
            program, tensors, result = self._program(args, kwargs)
            return program.run(tensors) if result is None else result[0]

    def code(self, *args, **kwargs) -> str:
        """The straight-line program this function runs for these arguments."""
        return self._program(args, kwargs)[0].source

    def _program(self, args, kwargs):
        tensors, key = [], [("C", _closure_values(self.fn)), ("G", _autograd.is_grad_enabled())]
        _flatten((args, kwargs), tensors, {}, key)
        key = tuple(key)
        program = self._programs.get(key)
        if program is not None:
            self._programs.move_to_end(key)
            return program, tensors, None
        program, result = self._trace(args, kwargs, tensors)
        program.key = key
        self._programs[key] = program
        if len(self._programs) > self.max_programs:
            self._programs.popitem(last=False)
        return program, tensors, (result,)

    def _trace(self, args, kwargs, tensors):
        global _active
        inner = tensors[0].backend if tensors else _backend.get_backend(None)
        for t in tensors:
            if t.backend is not inner:
                raise TraceError(f"a traced function's tensors must be on one device; got "
                                 f"{inner.device!r} and {t.backend.device!r}")
        tb, rec = _tracing_backend(inner), _Recorder(inner)
        grad_inputs = [i for i, t in enumerate(tensors) if t.grad is not None]
        swapped = tensors + [tensors[i].grad for i in grad_inputs]   # data -> Traced, for the trace
        saved = [(t, t._data, t.backend) for t in swapped]
        versions = [t._version[0] for t in swapped]   # in-place changes counted while tracing: replayed too
        inputs = []
        for t in swapped:
            t._data, t.backend = rec.register(t._data), tb      # a swap, not a change: no version
            inputs.append(t.data)
            if t._data.reg in rec.facts.roots:
                rec.facts.roots[t._data.reg] = {-1}    # arguments may be views of one array
        rec.made.clear()                               # what the function makes comes next
        grads_before = [t.grad for t in tensors]
        device_key = _backend._normalize(inner.device)
        registry = _backend._BACKENDS
        previous_backend = registry.get(device_key)
        _active = rec
        registry[device_key] = tb                      # mg.zeros(...) inside fn: traced too
        try:
            try:
                result = self.fn(*args, **kwargs)
            except DeviceMismatchError as e:
                raise TraceError(
                    "a tensor that did not come in through the traced function's arguments was "
                    "used in it (a parameter held by a closure or a module attribute?): pass it, "
                    "or the Module or list holding it, as an argument") from e
            for t, x in zip(tensors, inputs):
                if t.data is not x:
                    raise TraceError("the traced function replaced .data of an argument tensor; "
                                     "update it in place (p.data -= ...) or return the new value")
            leaves = []
            template = _outputs(result, leaves)
            grad_arrays = dict(zip(grad_inputs, inputs[len(tensors):]))   # tensor index -> its .grad's input
            grad_targets, grad_values = [], []
            for i, (t, before) in enumerate(zip(tensors, grads_before)):
                g = t.grad
                if g is before and (g is None or g.data is grad_arrays[i]):
                    continue                           # unchanged (in-place updates are in the program)
                grad_targets.append(i)
                grad_values.append(None if g is None else g.data)
            name = _program_name(self.fn)
            names = _argument_names(self.fn, args, kwargs)
            described = [f"{_label(names.get(id(t)) or t.name or 'tensor')} {tuple(map(int, t.shape))} "
                         f"{_label(t.dtype)}" for t in tensors]
            described += [f".grad of r{i}" for i in grad_inputs]
            source = rec.source(described, leaves + grad_values, name, self.optimize)
            # a result that is (a view of) a constant: a copy, as a replay returns (see source)
            returned = lambda v: rec.unwrap(v).copy() if rec.of_constant(v) else rec.unwrap(v)   # noqa: E731
            values = [returned(v) for v in leaves]
            final_grads = [returned(v) for v in grad_values]
            n_results = len(leaves)
            del result, leaves, grad_values
        except BaseException:
            for t, before in zip(tensors, grads_before):
                t._grad = before                       # nothing of the failed trace is kept
            raise
        finally:
            _active = None
            if previous_backend is None:
                registry.pop(device_key, None)
            else:
                registry[device_key] = previous_backend
            for t, data, backend in saved:             # arrays updated in place stay updated
                t._data, t.backend = data, backend
        for i, g in zip(grad_targets, final_grads):
            tensors[i]._grad = None if g is None else Tensor._wrap(g, inner)
        _check_nothing_kept(rec)
        bumps = [(k, t._version[0] - v) for k, (t, v) in enumerate(zip(swapped, versions)) if t._version[0] != v]
        program = Program(source, rec.env, name, inner, template, n_results, grad_inputs, grad_targets, bumps)
        return program, _fill(template, values, inner)
