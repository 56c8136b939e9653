"""minigrad: a small, readable reverse-mode autodiff engine on NumPy or CuPy.

The modules build on each other from the bottom up; each imports only the ones listed before it:

    backend      where the numbers live: NumPy on the CPU, CuPy on a GPU (``strict``: the test device)
    tensor       what a Tensor is: an array, a device, a gradient, the node that made it
    autograd     recording: grad mode, Node, Primitive (a forward and its VJPs), sum_to
    accumulate   summing the cotangents that reach one value (in bulk where that is faster)
    backward     the backward pass: one loop over the recorded nodes, last to first
    tape         the recorded nodes made visible (``with mg.Tape() as tape:``)
    ops          the core primitives, each forward next to its derivative
    elementwise, reductions, manipulation, linalg, losses   more primitives and compositions
    conv         convolution and pooling: windows gathered by index, then matmul, max, mean
    functional   grad, vjp, jvp, jacobian, hessian, hvp
    methods      attaches operators and methods (``x + y``, ``x.sum()``, ``x.backward()``) to Tensor
    nn, optim, random, gradcheck, trace   modules, optimizers, random tensors, checks, speed

    import minigrad as mg
    x = mg.tensor([[1.0, 2.0]], requires_grad=True)
    W = mg.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], requires_grad=True)
    loss = (x @ W).tanh().sum()
    loss.backward()          # x.grad, W.grad
"""
from numpy import dtype as _dtype

from .backend import Backend, BackendError, cuda_is_available, get_backend
from . import strict  # noqa: F401  (registers the "strict" device)
from .tensor import (DeviceMismatchError, Tensor, arange, as_tensor, eye, from_numpy, full, full_like,
                     linspace, ones, ones_like, tensor, zeros, zeros_like)
from .autograd import (GraphReleasedError, Node, Primitive, broadcast_to, enable_grad, inference_mode,
                       is_grad_enabled, no_grad, scope, set_grad_enabled, sum_to)
from .tape import Tape, TapeEntry
from .ops import (abs, amax, amin, astype, clip, concat, div, exp, expand_dims, getitem,
                  identity, log, log_softmax, logsumexp, matmul, max, maximum, mean, min, minimum,
                  mul, neg, permute, pow, relu, reshape, sigmoid, softmax, split, squeeze, stack,
                  sum, swapaxes, tanh, to, transpose, where)
from .elementwise import *  # noqa: F401,F403  (each module's __all__)
from .reductions import *  # noqa: F401,F403
from .manipulation import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .functional import grad, hessian, hvp, jacobian, jvp, vjp
from . import methods, ops  # noqa: F401  (Tensor's operators and methods)
from . import nn, optim
from .gradcheck import GradcheckError, gradcheck
from .nn import CheckpointError, load, save
from .optim import SGD, Adagrad, Adam, AdamW, RMSprop, clip_grad_norm, clip_grad_value, grad_norm
from .random import Generator, dropout, manual_seed, rand, rand_like, randint, randn, randn_like, rrelu
from .trace import TraceError, trace



def add(input, other, *, alpha=1):
    """``input + alpha · other``, as ``torch.add`` (the primitive ``ops.add``, after ``alpha · other``
    where alpha ≠ 1; integer tensors take an integer alpha only, as in PyTorch)."""
    return ops.add(input, methods._times_alpha(other, alpha, input))


def sub(input, other, *, alpha=1):
    """``input - alpha · other``, as ``torch.sub``."""
    return ops.sub(input, methods._times_alpha(other, alpha, input))


cat = concat
clamp = clip
div = divide        # torch.div(a, b, rounding_mode=...); true division as before without it

# PyTorch's function spellings of Tensor methods (``torch.chunk(x, 2)``, ``torch.unsqueeze(x, 0)``)
from .methods import addcdiv, addcmul, nonzero, ravel  # noqa: E402
chunk, unbind, flatten, select = methods._chunk, methods._unbind, methods._flatten, methods._select
clone, t, numel, take_along_dim = methods._clone, methods._t, methods._numel, methods._take_along_dim
mm, bmm, dot = methods._matrix("mm", 2), methods._matrix("bmm", 3), methods._matrix("dot", 1)
unsqueeze, swapdims = expand_dims, swapaxes
absolute, negative, multiply, subtract = abs, neg, mul, sub
clamp_min, clamp_max = methods._clamp_min, methods._clamp_max
# dtypes by PyTorch's names (``dtype=mg.int64``, ``mg.long``): NumPy's dtypes, which minigrad takes
float16, float32, float64, half, double = (_dtype(t) for t in ("float16", "float32", "float64",
                                                                 "float16", "float64"))
int8, int16, int32, int64, uint8, long = (_dtype(t) for t in ("int8", "int16", "int32", "int64",
                                                               "uint8", "int64"))
bool = _dtype("bool")  # noqa: A001  (mg.bool, as torch.bool; the builtin is untouched elsewhere)
eq, ne, lt, le, gt, ge = (methods._compare(n) for n in ("equal", "not_equal", "less", "less_equal",
                                                        "greater", "greater_equal"))

__version__ = "0.1.0"
