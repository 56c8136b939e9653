"""Einstein summation, and the outer product.

``einsum("ij,jk->ik", a, b)`` names every axis with a letter: letters shared by operands are
multiplied elementwise, letters missing from the output are summed over.  Its derivative is
the neatest in the engine: the output is linear in each operand, so the VJP for operand ``i``
is *another einsum*, of the cotangent ``ḡ`` (subscripts: the output's) with the other
operands, producing operand ``i``'s subscripts.  For a matrix product:

    out = einsum("ij,jk->ik", a, b)     ā = einsum("ik,jk->ij", ḡ, b) = ḡ bᵀ
                                        b̄ = einsum("ik,ij->jk", ḡ, a) = aᵀ ḡ

A letter that only operand ``i`` has and the output lacks (``"ij,j->j"``: i is summed within
``a`` alone) is in neither ``ḡ`` nor the others; each of those elements contributed with
weight 1, so the VJP is broadcast along that axis.

A letter repeated within one operand (``"ii->i"``, ``"ii"``, ``"bii->bi"``) reads a diagonal:
the operand is first replaced by the diagonal, picked by index arrays (a :func:`minigrad.getitem`,
whose gradient writes ḡ back into the diagonal and leaves zeros elsewhere), and the letter
then appears once.  Operands without a repeated letter take the same path as before.
"""
from __future__ import annotations

import numpy as np

from . import ops
from .autograd import Primitive
from .tensor import Tensor

__all__ = ["einsum", "outer", "mv", "addmm", "linear", "inner"]


def _einsum_forward(xp, *operands, inputs, output):
    """out = Σ over the letters not in ``output`` of Π_i operand_i[its letters]

    x̄ᵢ = einsum(ḡ with the other operands -> operand i's letters), broadcast along the
    letters found in operand i alone (see the module docstring)."""
    return xp.einsum(",".join(inputs) + "->" + output, *operands)


def _einsum_vjp(i, g, out, *operands, inputs, output):
    others = [k for k in range(len(operands)) if k != i]
    available = set(output).union(*(inputs[k] for k in others))
    mine = inputs[i]
    kept = "".join(c for c in mine if c in available)
    grad = einsum(",".join([output] + [inputs[k] for k in others]) + "->" + kept,
                  g, *(operands[k] for k in others))
    if kept != mine:                   # letters summed within operand i alone: broadcast back
        missing = tuple(d for d, c in enumerate(mine) if c not in available)
        grad = ops.broadcast_to(ops.expand_dims(grad, missing), operands[i].shape)
    return grad


einsum_ = Primitive(_einsum_forward, name="einsum", save="inputs")
einsum_.defvjp_argnum(_einsum_vjp)


def _parse(subscripts: str, operands) -> tuple:
    """``"ij,jk->ik"`` (or implicit ``"ij,jk"``) -> (("ij", "jk"), "ik"), checked against the
    operands' shapes.  Implicit output: the letters used exactly once, in alphabetical order."""
    spec = subscripts.replace(" ", "")
    if "." in spec:
        spec = _expand_ellipsis(spec, subscripts, operands)
    if spec.count("->") > 1:
        raise ValueError(f"einsum: more than one '->' in {subscripts!r}")
    lhs, arrow, output = spec.partition("->")
    inputs = tuple(lhs.split(","))
    letters = "".join(inputs)
    if not all(c.isascii() and c.isalpha() for c in letters + output):
        raise ValueError(f"einsum: subscripts must be letters, commas and '->', got {subscripts!r}")
    if len(inputs) != len(operands):
        raise ValueError(f"einsum: {subscripts!r} names {len(inputs)} operands, {len(operands)} given")
    if not arrow:
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(set(output)) != len(output):
        raise ValueError(f"einsum: output subscripts {output!r} repeat a letter")
    unknown = set(output) - set(letters)
    if unknown:
        raise ValueError(f"einsum: output letter(s) {''.join(sorted(unknown))} of {subscripts!r} "
                         "appear in no operand")
    sizes, first = {}, {}
    for k, (term, x) in enumerate(zip(inputs, operands)):
        if len(term) != x.ndim:
            raise ValueError(f"einsum: operand {k} has {x.ndim} dimensions, its subscripts "
                             f"{term!r} name {len(term)}")
        for c, n in zip(term, x.shape):
            first.setdefault(c, k)
            if sizes.setdefault(c, n) != n:
                same = (f": it is repeated within {term!r} (a diagonal), which needs equal sizes"
                        if first[c] == k else "")
                raise ValueError(f"einsum: letter {c!r} has size {sizes[c]} in one operand and {n} "
                                 f"in operand {k} (shape {x.shape}){same}")
    return inputs, output


def _expand_ellipsis(spec: str, subscripts: str, operands) -> str:
    """``"...ij,jk->...ik"`` with letters for the axes ``...`` stands for: letters no operand uses,
    the same letter for the same axis counted from the right (an operand with fewer such axes
    takes the last ones), as in NumPy.  The implicit output puts them first.  Those axes must
    match in size exactly, as every other axis here (no size-1 broadcasting)."""
    lhs, arrow, output = spec.partition("->")
    terms = lhs.split(",")
    if spec.count(".") != 3 * spec.count("...") or any(t.count("...") > 1 for t in terms + [output]):
        raise ValueError(f"einsum: '.' may only appear as one '...' per operand, in {subscripts!r}")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: {subscripts!r} names {len(terms)} operands, {len(operands)} given")
    widths = []
    for k, (term, x) in enumerate(zip(terms, operands)):
        named = len(term.replace("...", ""))
        if "..." not in term:
            widths.append(0)
        elif x.ndim < named:
            raise ValueError(f"einsum: operand {k} has {x.ndim} dimensions, fewer than the {named} "
                             f"letters of {term!r}")
        else:
            widths.append(x.ndim - named)
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in spec]
    ellipsis = "".join(free[:max(widths)])
    terms = [t.replace("...", ellipsis[len(ellipsis) - w:]) for t, w in zip(terms, widths)]
    if not arrow:
        letters = "".join(t for t in terms)
        once = sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ellipsis)
        output = ellipsis + "".join(once)
    elif "..." in output:
        output = output.replace("...", ellipsis)
    elif ellipsis:
        raise ValueError(f"einsum: the operands' '...' stand for {len(ellipsis)} axes but the output of "
                         f"{subscripts!r} has no '...' to put them (NumPy's rule)")
    return ",".join(terms) + "->" + output


def einsum(subscripts: str, *operands: Tensor) -> Tensor:
    """Einstein summation over Tensors, NumPy's notation: ``einsum("bij,bjk->bik", a, b)``
    (batched matrix product), ``einsum("i,i", u, v)`` (dot product), ``einsum("ij->ji", a)``.

    Supported: explicit (``->``) and implicit outputs, any number of operands, batch letters,
    contractions, ``...`` for the leading axes (``einsum("...ij,jk->...ik", a, w)``), a letter
    repeated within one operand (diagonals and traces: ``"ii->i"``, ``"ii"``, ``"bii->bi"``; the
    sizes it names must be equal).  All operands must have one dtype (no silent upcast) and sizes must match exactly
    (no broadcasting of size-1 axes).  The operands may also come as one list, as PyTorch's
    ``einsum("ij,jk", [a, b])``."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])            # einsum("ij,jk", [a, b]), as PyTorch accepts
    if not operands:
        raise ValueError("einsum needs at least one operand")
    if not all(isinstance(x, Tensor) for x in operands):
        raise TypeError("einsum: operands must be Tensors")
    dtypes = {x.dtype for x in operands}
    if len(dtypes) > 1:
        raise TypeError(f"einsum: dtype mismatch ({', '.join(sorted(map(str, dtypes)))}); minigrad does "
                        "not upcast silently: convert operands with .astype()")
    inputs, output = _parse(subscripts, operands)
    if any(len(set(term)) != len(term) for term in inputs):
        operands, inputs = zip(*(_diagonal(x, term) for x, term in zip(operands, inputs)))
    return einsum_(*operands, inputs=tuple(inputs), output=output)


def _diagonal(x: Tensor, term: str) -> tuple:
    """For an operand whose subscripts repeat a letter (``"iij"``): its diagonal, with the
    letters once each in the order of their first appearance (``"ij"``:
    ``out[i, j] = x[i, i, j]``), picked by one index array per axis (a getitem: the gradient is
    ḡ written into the diagonal, zeros elsewhere; second derivatives too).  Other operands
    are returned as they are."""
    letters = "".join(dict.fromkeys(term))
    if letters == term:
        return x, term
    xp, k = x.backend, len(letters)
    grid = tuple(xp.arange(x.shape[d]).reshape(tuple(-1 if e == letters.index(c) else 1 for e in range(k)))
                 for d, c in enumerate(term))
    return ops.getitem(x, grid), letters


def outer(a: Tensor, b: Tensor) -> Tensor:
    """``out[i, j] = a[i] b[j]`` for 1-D ``a`` and ``b`` (a column times a row, by broadcasting:
    ā = Σ_j ḡ[i, j] b[j],  b̄ = Σ_i ḡ[i, j] a[i])."""
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"outer: needs two 1-D tensors, got shapes {a.shape} and {b.shape}")
    return ops.mul(ops.reshape(a, (a.shape[0], 1)), ops.reshape(b, (1, b.shape[0])))


def mv(A: Tensor, v: Tensor) -> Tensor:
    """The matrix-vector product ``A v`` of a 2-D ``A`` and a 1-D ``v`` (:func:`minigrad.matmul`)."""
    if A.ndim != 2 or v.ndim != 1:
        raise ValueError(f"mv: needs a 2-D and a 1-D tensor, got shapes {A.shape} and {v.shape}")
    return ops.matmul(A, v)


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta=1, alpha=1) -> Tensor:
    """``beta · input + alpha · (mat1 @ mat2)`` (``torch.addmm``; ``input`` broadcasts to the
    product's shape).  With ``beta = 0`` the input's values are not read at all (a NaN or ∞
    there does not spread) and its gradient is zeros (not None), as in PyTorch.  A composition:
    input̄ = β ḡ, mat1̄ = α ḡ mat2ᵀ, mat2̄ = α mat1ᵀ ḡ."""
    if mat1.ndim != 2 or mat2.ndim != 2:
        raise ValueError(f"addmm: mat1 and mat2 must be 2-D, got shapes {mat1.shape} and {mat2.shape}")
    product = ops.matmul(mat1, mat2)
    if alpha != 1:
        product = product * alpha
    if beta == 0:
        ops.broadcast_to(input, product.shape)             # must fit all the same (PyTorch checks)
        if not input.requires_grad:
            return product
        nothing = input.backend.zeros(np.broadcast_shapes(input.shape, product.shape), dtype=bool)
        return product + ops.where(nothing, input, 0.0)    # adds 0; input̄ = ḡ [False] = 0
    return product + (input if beta == 1 else input * beta)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x Wᵀ + b with W of shape (out, in), as ``F.linear``."""
    out = ops.matmul(x, ops.swapaxes(weight, -1, -2) if weight.ndim >= 2 else weight)
    return out if bias is None else out + bias


def inner(a: Tensor, b: Tensor) -> Tensor:
    """Σ over the last axes of a and b (``torch.inner``): a (..., n), b (..., n) ->
    a.shape[:-1] + b.shape[:-1]; one product of (A, n) by (n, B)."""
    if a.ndim == 0 or b.ndim == 0:
        return ops.mul(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"inner: the last dimensions of shapes {a.shape} and {b.shape} differ")
    n = a.shape[-1]
    out = ops.matmul(ops.reshape(a, (-1, n)), ops.transpose(ops.reshape(b, (-1, n))))
    return ops.reshape(out, a.shape[:-1] + b.shape[:-1])
