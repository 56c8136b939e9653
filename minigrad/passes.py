"""Passes of the trace compiler: rewrite a recorded program so that it runs faster.

``mg.trace`` (see :mod:`minigrad.trace`) writes down the array calls of one run of a function as
a list of :class:`Line` s, one call each.  Before that list becomes Python source, the passes
below rewrite it.  None of them knows what the program computes (an RNN, an MLP...): each
looks for a pattern of array calls and checks, from what the recorder noted about every array
(its shape, its dtype, which arrays share its memory, which lines write into arrays in place),
that the rewritten program computes the same values.  ``mg.trace(fn, optimize=False)`` skips
them all.

They run in this order (``PASSES``); what each buys on the paper's RNN update is measured in
``bench/trace_speed.py`` (bench/RESULTS.md):

1. :func:`fold_constants`: lines that read no input (``xp.ones(()) / 20`` and the broadcast of
   it that starts the backward pass, an initial state of zeros) are computed once, when the
   program is made, and read as constants.
2. :func:`share_common_calls`: a call made twice on the same operands (``W.T`` at every step of
   a backward pass, the same ``concatenate`` of the step gradients for three weight gradients)
   is made once and its result used twice.
3. :func:`hoist_products`: products ``x[k] @ W`` of slices of one 3-D array by one matrix, with
   nothing writing into either between the first product and the last, become one product of
   a block of the array, made where the first of them was:
   ``(x[0:16].reshape(16 * B, n) @ W).reshape(16, B, m)``, each original result a slice of it.
   In an unrolled recurrent network these are the input products of all steps, which do not
   depend on the recurrence: one large matrix product per 16 steps instead of 16 small ones.
   (The recurrence's own products ``h_t @ W`` are left alone: h_t is no slice of an array
   that exists beforehand.)
4. :func:`stack_slices`: ``concatenate([x[k], x[k + 1], ...])`` of consecutive slices of one
   array (the inputs of 16 steps stacked for a weight gradient) becomes one slice of it,
   reshaped and copied.
5. :func:`stack_in_place`: ``concatenate([a_1, ..., a_n])`` of arrays that elementwise calls
   made (the step gradients and hidden states that the backward pass stacks to multiply them
   together) lets those calls write their results straight into the stacked array
   (``out=``), so nothing is copied.
6. :func:`products_by_dot`: a product of two 2-D float matrices is called through ``xp.dot``,
   which reaches the same BLAS routine as ``xp.matmul`` with less work per call.

Measured and left out: writing elementwise results into operands that die there
(``xp.add(a, b, out=a)``, fewer fresh arrays): no gain in float64, 1% slower in float32.

Numbers: every pass but hoisting makes the same calls (or, for ``dot``, the same BLAS call) on
the same values, so it changes no bit; an elementwise call gives the same numbers whether or
not it writes into ``out``.  Hoisting makes one matrix product where there were many, and a
BLAS may block a large product differently from a small one; each element is still a dot
product of the same length, and with OpenBLAS (NumPy's wheels) the results have been
bit-identical in every test, but that is the BLAS's choice, not a promise: expect at most a
few units in the last place per product.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

ALL = None          # ``Line.writes`` when the recorder could not tell which array a line writes


class Line:
    """One line of a recorded program.

    ``text`` is the source, its registers written ``\\x01<n>\\x02`` (renamed later); ``defined``
    the register it assigns (None for a bare effect such as ``r3 -= r7``); ``uses`` the
    registers it reads; ``effect`` whether it writes into an array in place (such lines are
    always kept); ``writes`` the memory it writes (a set of roots, see :class:`Facts`; ALL
    when unknown); ``op`` what the passes need to know about the call, or None:

    * ``("index", base, k)``: ``base[k]`` with an int k,
    * ``("matmul", a, b)``: ``a @ b`` of two registers,
    * ``("ufunc", name, operands)``: an elementwise NumPy ufunc called on operand sources
      (``xp.tanh(r3)``, ``r3 + r4``, ``1 - r5``), rewritable as ``xp.<name>(..., out=...)``,
    * ``("concatenate", parts)``: ``xp.concatenate([...])`` of registers along axis 0.
    """

    __slots__ = ("text", "defined", "uses", "effect", "writes", "op")

    def __init__(self, text, defined, uses, effect, writes=ALL, op=None):
        self.text, self.defined, self.uses, self.effect = text, defined, uses, effect
        self.writes, self.op = writes, op

    def __repr__(self):
        return f"Line({_show(self.text)!r})"


class Facts:
    """What the recorder saw of every register's value during the trace.

    ``shape[r]``, ``dtype[r]``: of arrays only (registers holding Python or NumPy scalars have
    none).  ``roots[r]``: the memory r's array lives in, as a set of registers: ``{r}`` for an
    array of its own, the roots of the operand it is a view of otherwise (``W.T`` lives in
    ``W``'s memory).  The function's inputs all share one root, ``-1``: two arguments may well
    be views of one array.
    """

    def __init__(self):
        self.shape, self.dtype, self.roots = {}, {}, {}
        self.scalars = set()            # registers holding a number (Python or NumPy scalar)
        self.owners = set()             # arrays that owned their (writable) memory when traced
        self.next_register = 0          # registers the passes make are numbered from here
        self.env = {}                   # the program's names: xp, backend, constants c0, ...
        self.constant = None            # value -> the name of a new constant in env (recorder's)

    def new_register(self) -> int:
        self.next_register += 1
        return self.next_register - 1


def name(reg: int) -> str:
    """A register as it appears in a line's text."""
    return f"\x01{reg}\x02"


_NAME = re.compile("\x01(\\d+)\x02")


def _show(text):
    return _NAME.sub(lambda m: f"r{m.group(1)}", text)


# --------------------------------------------------------------------------- shared checks
def _writes_any(line, roots) -> bool:
    """Whether ``line`` may write into memory that lives in one of ``roots``."""
    return line.effect and (line.writes is ALL or bool(line.writes & roots))


def _rename(line, old, new):
    """Make ``line`` read register ``new`` where it read ``old``."""
    line.text = line.text.replace(name(old), name(new))
    line.uses = [new if r == old else r for r in line.uses]
    if line.op is not None:
        line.op = _rename_op(line.op, old, new)


def _rename_op(op, old, new):
    kind = op[0]
    if kind == "index":
        return (kind, new if op[1] == old else op[1], op[2])
    if kind == "matmul":
        return (kind, *(new if r == old else r for r in op[1:]))
    if kind == "ufunc":
        return (kind, op[1], [s.replace(name(old), name(new)) for s in op[2]])
    if kind == "concatenate":
        return (kind, [new if r == old else r for r in op[1]])
    return op


# --------------------------------------------------------------------------- 2. shared calls
def share_common_calls(lines, facts, keep_alive):
    """A line that repeats an earlier line's call (same text, same operands) reads the earlier
    result instead.  Safe when the two results would be equal wherever the second is read:

    * views of an operand (``W.T``): the same view of the same array, whatever is written;
    * otherwise: when nothing writes the operands' memory between the two calls, and (for
      arrays of their own) nothing ever writes into either result and the caller does not get
      both (as results, or views of them): one array standing for two would show a write into
      one in both.
    """
    written = _all_writes(lines)
    seen = {}                       # the call (the text right of "=") -> its line's index in out
    alias = {}                      # dropped register -> the register read instead
    out, effects = [], []           # effects: the lines of out that write, in order
    for line in lines:
        for old in [r for r in line.uses if r in alias]:
            _rename(line, old, alias[old])
        if line.effect or line.defined is None or line.defined in keep_alive:
            if line.effect:
                effects.append(line)
            out.append((line, len(effects)))
            continue
        call = line.text.split(" = ", 1)[1]
        j = seen.get(call)
        if j is not None and _same_value(out[j], effects, line, facts, written, keep_alive):
            alias[line.defined] = out[j][0].defined
            facts.roots.pop(line.defined, None)
            continue
        seen[call] = len(out)
        out.append((line, len(effects)))
    return [line for line, _ in out]


def _all_writes(lines):
    """The roots that some line writes into (ALL when a line's target is unknown)."""
    written = set()
    for line in lines:
        if line.effect:
            if line.writes is ALL:
                return ALL
            written |= line.writes
    return written


def _same_value(earlier, effects, line, facts, written, keep_alive=frozenset()) -> bool:
    """Whether ``line`` may read the result of ``earlier`` (a line and the number of writing
    lines before it) instead of making its own."""
    first, n_effects = earlier
    a, b = first.defined, line.defined
    ra, rb = facts.roots.get(a), facts.roots.get(b)
    if ra is not None and ra == rb and ra != {a}:          # the same view of the same operand
        return True
    operands = set()
    for r in first.uses:
        operands |= facts.roots.get(r, set())               # scalars: no memory to write
    if any(_writes_any(x, operands) for x in effects[n_effects:]):    # written in between
        return False
    if a in facts.scalars and b in facts.scalars:           # numbers: nothing can write them
        return True
    if _observable(a, facts, keep_alive) and _observable(b, facts, keep_alive):
        return False                                        # two results the caller gets: two arrays
    return ra == {a} and rb == {b} and written is not ALL and not ({a, b} & written)


def _observable(r, facts, keep_alive) -> bool:
    """Whether the caller gets ``r``'s memory: r is a result, or a result is a view of it."""
    return r in keep_alive or any(r in facts.roots.get(o, ()) for o in keep_alive)


# --------------------------------------------------------------------------- 3. hoisted products
def hoist_products(lines, facts, keep_alive, min_fraction=0.5, block_size=16):
    """``x[k] @ W`` for many k (``x`` 3-D, ``W`` 2-D) -> one product before the first of them.

    The group is the products with the same ``x`` and ``W`` and different k, from the first
    one up to the first line that may write into ``x``'s or ``W``'s memory (after it, a
    product would see other values).  ``x`` and ``W`` are defined before the first product
    (it reads them), so the whole product can be made there.  Worth it when the group covers
    at least ``min_fraction`` of x's slices.  The products are made in blocks of up to
    ``block_size`` consecutive slices (``x[lo:hi]``), each where the first product it replaces
    was: a block's result is kept until its last slice is read, so blocks bound the memory
    (16 steps' products, not T), and a product of 16 x 20 rows is already large enough for
    the BLAS.  (The engine batches the weight gradients by 16 steps too: accumulate.Product.)
    """
    index_of = {line.defined: line.op for line in lines if line.op and line.op[0] == "index"}
    groups = {}                                   # (x, W) -> [line numbers of the products]
    closed = set()
    for i, line in enumerate(lines):
        if line.effect:                           # a write ends the groups whose memory it touches
            for key in groups:
                if _writes_any(line, facts.roots.get(key[0], {-1}) | facts.roots.get(key[1], {-1})):
                    closed.add(key)
        op = line.op
        if op is None or op[0] != "matmul" or op[1] not in index_of:
            continue
        _, x, k = index_of[op[1]]
        W = op[2]
        if len(facts.shape.get(x, ())) != 3 or len(facts.shape.get(W, ())) != 2:
            continue
        key = (x, W)
        if key in closed:
            continue                              # (a later group after the write: not sought)
        groups.setdefault(key, []).append(i)
    replaced = {}
    for (x, W), members in groups.items():
        T, B, n = facts.shape[x]
        taken, chosen = set(), []
        for i in members:
            k = index_of[lines[i].op[1]][2] % T
            if k not in taken:                    # the same slice twice: two arrays, not one
                taken.add(k)
                chosen.append((i, k))
        if len(chosen) < 2 or len(chosen) < min_fraction * T:
            continue
        m = facts.shape[W][1]
        for block in _blocks(chosen, block_size):
            if len(block) < 2:
                continue
            lo, hi = min(k for _, k in block), max(k for _, k in block) + 1
            P = facts.new_register()
            first = block[0][0]
            x_text = name(x) if (lo, hi) == (0, T) else f"{name(x)}[{lo}:{hi}]"
            rows = f"{x_text}.reshape(({(hi - lo) * B}, {n}))"
            product = Line(f"{name(P)} = xp.matmul({rows}, {name(W)}).reshape(({hi - lo}, {B}, {m}))",
                           P, [x, W], False)
            replaced.setdefault(first, []).append(product)
            facts.shape[P], facts.roots[P] = (hi - lo, B, m), {P}
            facts.dtype[P] = facts.dtype[lines[first].defined]
            for i, k in block:
                line = lines[i]
                line.text, line.uses = f"{name(line.defined)} = {name(P)}[{k - lo}]", [P]
                line.op = ("index", P, k - lo)
                facts.roots[line.defined] = {P}
    out = []
    for i, line in enumerate(lines):
        out.extend(replaced.get(i, ()))
        out.append(line)
    return out


def _blocks(chosen, size):
    """Split ``[(line, k), ...]`` (in program order) into runs of at most ``size`` whose k's
    are consecutive integers (in any order), so that each run is one slice ``x[lo:hi]``."""
    blocks = []
    for i, k in chosen:
        block = blocks[-1] if blocks else None
        if block is not None and len(block) < size:
            ks = [j for _, j in block] + [k]
            if max(ks) - min(ks) + 1 == len(ks):
                block.append((i, k))
                continue
        blocks.append([(i, k)])
    return blocks


# --------------------------------------------------------------------------- 4. slices restacked
def stack_slices(lines, facts, keep_alive):
    """``xp.concatenate([x[k], x[k + 1], ..., x[k + n - 1]])`` (or counting down) of consecutive
    slices of one array -> ``x[k:k + n].reshape(...).copy()``: one slice of x, a fresh copy as
    the concatenation was.  Both read x where the concatenation is, so they see the same values;
    the slices themselves are then often read by nothing else and dropped.  (In the backward
    pass of a recurrent network: the inputs of 16 steps, stacked for one weight gradient.)"""
    index_of = {line.defined: line.op for line in lines if line.op and line.op[0] == "index"}
    for line in lines:
        op = line.op
        if op is None or op[0] != "concatenate" or len(op[1]) < 2 or line.defined not in facts.shape:
            continue
        parts = [index_of.get(a) for a in op[1]]
        if any(p is None for p in parts) or len({p[1] for p in parts}) != 1:
            continue
        x = parts[0][1]
        shape = facts.shape.get(x)
        if not shape or len(shape) < 2:
            continue
        ks = [p[2] % shape[0] for p in parts]
        step = ks[1] - ks[0]
        n = len(ks)
        if step not in (1, -1) or ks != [ks[0] + i * step for i in range(n)]:
            continue
        stop = ks[-1] + step
        bounds = f"{ks[0]}:{stop}" if step == 1 else (f"{ks[0]}:{stop}:-1" if stop >= 0 else f"{ks[0]}::-1")
        dims = ", ".join(str(d) for d in facts.shape[line.defined])
        line.text = f"{name(line.defined)} = {name(x)}[{bounds}].reshape(({dims},)).copy()"
        line.uses, line.op = [x], None
        facts.roots[line.defined] = {line.defined}
    return lines


# --------------------------------------------------------------------------- 5. stacking in place
def stack_in_place(lines, facts, keep_alive):
    """``c = xp.concatenate([a_1, ..., a_n])`` where every ``a_i`` was made by an elementwise
    call: an empty array for ``c`` is made before the first of those calls, each writes its
    result into its rows of it (``out=c[rows]``), and the concatenation is gone.

    Safe when the parts have one shape and c's dtype, each part is used in no other stack, no
    part is a result of the program, and nothing ever writes into a part or into c (they now
    share memory).
    """
    written = _all_writes(lines)
    if written is ALL:
        return lines
    where = {line.defined: i for i, line in enumerate(lines) if line.defined is not None}
    viewed = Counter(root for r, roots in facts.roots.items() for root in roots if root != r)
    used, plans = set(), []
    for c_line in lines:
        op = c_line.op
        if op is None or op[0] != "concatenate":
            continue
        parts, c = op[1], c_line.defined
        if len(parts) < 2 or len(set(parts)) != len(parts) or used & set(parts) or c not in facts.shape:
            continue
        makers = [lines[where[a]] if a in where else None for a in parts]
        shape = facts.shape.get(parts[0])
        if not all(m is not None and m.op is not None and m.op[0] == "ufunc" for m in makers):
            continue
        if not shape or any(facts.shape.get(a) != shape or facts.dtype.get(a) != facts.dtype[c]
                            or facts.roots.get(a) != {a} or a not in facts.owners or viewed[a]
                            for a in parts):
            continue
        if written & (set(parts) | {c}) or keep_alive & set(parts):
            continue                              # (a result that is a part would share c's memory)
        used |= set(parts)
        plans.append((c_line, parts, makers, shape))
    if not plans:
        return lines
    before = {}                                   # line index -> lines to insert before it
    for c_line, parts, makers, shape in plans:
        c, rows = c_line.defined, shape[0]
        buffer = facts.new_register()
        dims = ", ".join(str(d) for d in (rows * len(parts),) + tuple(shape[1:]))
        first = min(where[a] for a in parts)
        before.setdefault(first, []).append(
            Line(f"{name(buffer)} = xp.empty(({dims},), dtype={np.dtype(facts.dtype[c]).name!r})",
                 buffer, [], False))
        facts.shape[buffer], facts.dtype[buffer] = facts.shape[c], facts.dtype[c]
        facts.roots[buffer] = {buffer}
        for i, (a, maker) in enumerate(zip(parts, makers)):
            ufunc, operands = maker.op[1], maker.op[2]
            maker.text = (f"{name(a)} = xp.{ufunc}({', '.join(operands)}, "
                          f"out={name(buffer)}[{i * rows}:{(i + 1) * rows}])")
            maker.uses = maker.uses + [buffer]
            maker.op = None                       # now writes a fixed place: not to be rewritten
            maker.effect, maker.writes = True, {buffer}     # kept even if nothing reads a_i
            facts.roots[a] = {buffer}
        c_line.text, c_line.uses, c_line.op = f"{name(c)} = {name(buffer)}", [buffer], None
        facts.roots[c] = {buffer}
    out = []
    for i, line in enumerate(lines):
        out.extend(before.get(i, ()))
        out.append(line)
    return out


# --------------------------------------------------------------------------- 6. products by dot
def products_by_dot(lines, facts, keep_alive):
    """``xp.matmul(a, b)`` (or ``a @ b``) of two 2-D float32/float64 matrices -> ``xp.dot(a, b)``.

    For 2-D float arrays NumPy's ``dot`` and ``matmul`` hand the product to the same BLAS
    routine (gemm), so the numbers are the same; ``dot`` gets there with less work per call
    (about 0.4 microseconds less here, on products that take 2-4 microseconds)."""
    for line in lines:
        op = line.op
        if op is None or op[0] != "matmul" or line.defined not in facts.shape:
            continue
        a, b = op[1], op[2]
        shapes = facts.shape.get(a), facts.shape.get(b)
        if all(s is not None and len(s) == 2 and min(s) > 1 for s in shapes) and all(
                np.dtype(facts.dtype[r]) in (np.float32, np.float64) for r in (a, b)):
            line.text = f"{name(line.defined)} = xp.dot({name(a)}, {name(b)})"
    return lines


# --------------------------------------------------------------------------- 1. constants
def fold_constants(lines, facts, keep_alive):
    """Lines that read no register (``xp.arange(20)``, ``xp.ones(()) / 20``, a broadcast of that)
    compute the same array at every replay: they are computed once, now, and the program reads
    the result as a constant.  Not for arrays that something writes into or that the program
    returns (a constant is shared by all replays), nor for ``xp.empty`` (no values)."""
    written = _all_writes(lines)
    values, out = {}, []
    for line in lines:
        r = line.defined
        foldable = (r is not None and not line.effect and all(u in values for u in line.uses)
                    and "empty" not in line.text and (r in facts.scalars or (
                        r in facts.shape and written is not ALL and r not in written
                        and not any(r in facts.roots.get(o, ()) for o in keep_alive)))
                    and r not in keep_alive)
        if foldable:
            scope = dict(facts.env)
            scope.update({f"_r{u}": values[u] for u in line.uses})
            rhs = _NAME.sub(lambda m: f"_r{m.group(1)}", line.text.split(" = ", 1)[1])
            try:
                value = eval(rhs, scope)              # the recorder's own text, constants only
            except Exception:                        # (cannot happen: it ran while tracing)
                foldable = False
        if not foldable:
            for u in [u for u in line.uses if u in values]:
                line.text = line.text.replace(name(u), facts.constant(values[u]))
                line.uses = [v for v in line.uses if v != u]
                line.op = None
            out.append(line)
            continue
        if hasattr(value, "flags") and hasattr(value.flags, "writeable"):
            try:
                value.flags.writeable = False         # a write into a constant would raise
            except ValueError:
                pass
        values[r] = value
    return out


PASSES = [fold_constants, share_common_calls, hoist_products, stack_slices, stack_in_place, products_by_dot]
