"""Many models as one: the parameters of S models of one architecture stacked along a leading
model axis, so that S independent models train as one computation.

At the paper's sizes (50 units, batch 20) one array call costs about a microsecond and does
little work, so S separate runs pay S times the per-call overhead for S small products.  Packed,
each call does the work of all S models: ``h @ W_rec`` with h (S, B, N) and W_rec (S, N, N) is
the engine's batched matrix product (one (B, N) x (N, N) product per model), a bias of shape
(S, 1, N) broadcasts over each model's batch.  The cells and heads are the same code
(:mod:`rnn.cells`, :class:`rnn.Head`): nothing in them knows about the model axis.

The models stay independent: nothing mixes the slices of different models, and the gradient of
the sum of the models' losses with respect to model s's parameters is the gradient of model s's
own loss.  Everything that is a single number per run (the loss, the gradient norm used for
clipping, Omega) must therefore be reduced per model, over every axis but the model axis: the
training loop (:mod:`tasks.packed`) does that.

    models = [rnn.SequenceModel(6, 50, 4, seed=s) for s in range(5)]
    packed = rnn.stack_models(models)           # W_rec: (5, 50, 50), b: (5, 1, 50)
    out = packed(x)                             # x: (T, 5, B, 6): each model's own batch
    rnn.unstack_into(packed, models)            # the trained weights back into the models
"""
from __future__ import annotations

import copy

import minigrad as mg  # noqa: F401  (the engine the parameters live in)
from minigrad.nn import Module, Parameter


def _stacked(params) -> Parameter:
    """One Parameter holding ``params`` along a new leading axis; a vector (a bias) becomes
    (S, 1, n), so that it broadcasts over each model's batch rather than across the models.
    A parameter that is not trained (``requires_grad`` off, as leak factors) stays so."""
    first = params[0]
    shapes = {p.shape for p in params}
    if len(shapes) > 1:
        raise ValueError(f"stack_models: parameter {first.name!r} has different shapes across the models: "
                         f"{sorted(shapes)}")
    if len({(p.dtype, p.device) for p in params}) > 1:
        raise ValueError(f"stack_models: parameter {first.name!r} differs in dtype or device across the models")
    xp = first.backend.xp
    data = xp.stack([p.data for p in params])
    if first.ndim == 1:
        data = data.reshape(len(params), 1, first.shape[0])
    return Parameter(data, device=first.device, requires_grad=first.requires_grad, name=first.name)


def _stack_module(modules):
    """A shallow copy of ``modules[0]`` whose Parameters (and those of its sub-modules) are the
    stacked Parameters of all ``modules``; everything else (sizes, activation, leak factors) is
    shared and must be the same in all of them."""
    first = modules[0]
    if len({type(m) for m in modules}) > 1:
        raise ValueError("stack_models: the models are not of one architecture")
    packed = copy.copy(first)
    for key, value in vars(first).items():
        others = [getattr(m, key) for m in modules]
        if isinstance(value, Parameter):
            setattr(packed, key, _stacked(others))
        elif isinstance(value, Module):
            setattr(packed, key, _stack_module(others))
        elif isinstance(value, (list, tuple)) and any(isinstance(v, (Module, Parameter)) for v in value):
            if len({len(o) for o in others}) > 1:
                raise ValueError(f"stack_models: the models have different numbers of {key}")
            parts = [(_stack_module if isinstance(v, Module) else _stacked)([o[i] for o in others])
                     for i, v in enumerate(value)]
            setattr(packed, key, type(value)(parts))
        elif isinstance(value, (str, int, float, bool, type(None))) and any(o != value for o in others):
            raise ValueError(f"stack_models: the models differ in {key!r} ({value!r} and "
                             f"{next(o for o in others if o != value)!r}); only parameter values may differ")
    return packed


def stack_models(models) -> Module:
    """One model of the same architecture whose every parameter holds the ``models``' parameters
    along a leading model axis (a model count S of at least 1).  Its inputs are (T, S, B, n_in),
    its states (S, B, N), its outputs (S, B, n_out) (or (T, S, B, n_out) for an every-step head).
    The original models are left as they are (see :func:`unstack_into`)."""
    models = list(models)
    if not models:
        raise ValueError("stack_models: no models given")
    return _stack_module(models)


def model_count(packed: Module) -> int:
    """S, the number of models packed in ``packed`` (the length of the model axis)."""
    return packed.parameters()[0].shape[0]


def unstack_into(packed: Module, models, which=None) -> None:
    """Copy each model's slice of ``packed``'s parameters into ``models`` (all of them, or the
    indices in ``which``), on their device."""
    packed_params = dict(packed.named_parameters())
    for s in range(len(models)) if which is None else which:
        for name, p in models[s].named_parameters():
            slice_ = packed_params[name].data[s]
            p.data = slice_.reshape(p.shape).copy()


def finite_per_model(packed: Module):
    """A (S, P) device array of bools: whether parameter p of model s is finite (nothing is read
    to the host)."""
    params = packed.parameters()
    xp = params[0].backend.xp
    S = params[0].shape[0]
    return xp.stack([xp.isfinite(p.data).reshape(S, -1).all(axis=1) for p in params], axis=1)


__all__ = ["stack_models", "unstack_into", "model_count", "finite_per_model"]
