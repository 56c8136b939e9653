"""minigrad: a small, readable reverse-mode autodiff engine on NumPy or CuPy.

Start reading here, then ``tensor.py`` (what a Tensor is), ``autograd.py`` (nodes, tapes and
the backward pass), ``ops.py`` (every primitive with its derivative), ``functional.py``
(grad, vjp, jacobian, hvp), ``backend.py`` (NumPy / CuPy), ``nn.py`` and ``optim.py``.

    import minigrad as mg
    x = mg.tensor([[1.0, 2.0]], requires_grad=True)
    W = mg.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], requires_grad=True)
    loss = (x @ W).tanh().sum()
    loss.backward()          # x.grad, W.grad
"""
from . import nn, optim
from .autograd import (DeviceMismatchError, GraphReleasedError, Node, Primitive, Tape, TapeEntry,
                       enable_grad, is_grad_enabled, no_grad, scope)
from .backend import Backend, BackendError, cuda_is_available, get_backend
from .functional import grad, hvp, jacobian, vjp
from .gradcheck import GradcheckError, gradcheck
from .nn import CheckpointError, load, save
from .ops import (abs, add, astype, broadcast_to, clip, concat, cross_entropy, div, exp,
                  expand_dims, getitem, identity, log, log_softmax, logsumexp, matmul, max, maximum, mean,
                  min, minimum, mse, mul, neg, permute, pow, relu, reshape, sigmoid, softmax,
                  split, squeeze, stack, sub, sum, sum_to, swapaxes, tanh, transpose, where)
from .elementwise import *  # noqa: F401,F403  (each module's __all__)
from .reductions import *  # noqa: F401,F403
from .manipulation import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .optim import SGD, clip_grad_norm, grad_norm
from .random import Generator
from .trace import TraceError, trace
from .tensor import (Tensor, arange, eye, full, ones, ones_like, tensor, zeros, zeros_like)

__version__ = "0.1.0"
