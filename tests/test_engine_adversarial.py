"""Adversarial checks of the engine, in the spirit of PyTorch's OpInfo tests.

An independent reviewer's file: values against NumPy / math references, first and second
derivatives against central differences (``mg.gradcheck`` in float64), PyTorch's conventions at
kinks and ties, dtypes (float32 stays float32, integer / bool inputs), PyTorch-habit spellings,
and composite checks (grad of grad, hvp, jacobian, retain_graph, accumulation, in-place
detection, trace replay).  Every test runs on each device (``device`` fixture).

Tests marked ``xfail(strict=True, reason="BUG: ...")`` expose defects found in review; they
are kept failing on purpose so the defect stays visible until the engine is fixed.
"""
import math

import numpy as np
import pytest

import minigrad as mg
from conftest import T

R = np.random.default_rng(20261201)


def _n(*shape):
    return R.standard_normal(shape)


def _u(lo, hi, *shape):
    return R.uniform(lo, hi, shape)


X = _n(3, 4)
X3 = _n(2, 3, 4)
COND = _n(3, 4) > 0

# (id, f, inputs): every input is a float64 array differentiated at order 1 and 2.  Squares
# (a * a) in front of linear ops make their second derivative non-trivial.
GRAD_CASES = [
    # reductions, negative axes, keepdim, tuples, PyTorch spellings
    ("sum_dim_keepdim", lambda a: a.sum(dim=-1, keepdim=True) ** 2, [X]),
    ("sum_list_axes", lambda a: (a * a).sum([0, 2]), [X3]),
    ("mean_neg_tuple_keep", lambda a: (a * a).mean(dim=(-1, -3), keepdim=True), [X3]),
    ("max_dim", lambda a: a.max(dim=1).values * a.sum(), [X]),
    ("max_dim_positional_first", lambda a: (a * a).max(1)[0], [X]),
    ("amax_dim", lambda a: a.amax(dim=1) * a.sum(), [X]),
    ("min_keepdim_neg", lambda a: a.min(dim=-2, keepdim=True).values ** 2, [X]),
    ("amin_keepdim_neg", lambda a: mg.amin(a, dim=-2, keepdim=True) ** 2, [X]),
    ("max_tuple_axes", lambda a: mg.max(a * a, axis=(0, -1)), [X3]),
    ("logsumexp_tuple_keep", lambda a: mg.logsumexp(a, dim=(0, 2), keepdim=True) ** 2, [X3]),
    ("softmax_dim0", lambda a: mg.softmax(a, dim=0) * a, [X]),
    ("softmax_neg", lambda a: mg.softmax(a, -2) ** 2, [X3]),
    ("log_softmax", lambda a: mg.log_softmax(a, dim=1) * a, [X3]),
    ("var_dim", lambda a: mg.var(a, dim=-1), [X]),
    ("var_corr2_tuple", lambda a: mg.var(a, dim=(0, 2), correction=2), [X3]),
    ("var_ddof0_keep", lambda a: mg.var(a, dim=-1, ddof=0, keepdims=True), [X3]),
    ("std_keepdim", lambda a: mg.std(a, dim=0, keepdim=True), [X]),
    ("std_list", lambda a: mg.std(a, dim=[0, 1]), [X3]),
    ("std_method_unbiased_false", lambda a: a.std(dim=1, unbiased=False), [X]),
    ("prod_dim", lambda a: mg.prod(a, dim=-1), [X]),
    ("prod_one_and_two_zeros", lambda a: mg.prod(a, dim=1), [np.array([[0., 2, 3], [0, 0, 1.5], [1, 2, 3]])]),
    ("prod_all", lambda a: mg.prod(a), [np.array([[1., 2, 0.5], [0.7, 1.1, 1.3]])]),
    ("prod_neg_tuple", lambda a: mg.prod(a, axis=(-1, 0)), [X3]),
    ("prod_keepdim", lambda a: a.prod(dim=-2, keepdim=True), [X3]),
    ("cumsum_neg", lambda a: mg.cumsum(a * a, -2), [X3]),
    ("cumsum_none", lambda a: mg.cumsum(a, None) ** 2, [X]),
    ("cumsum_method", lambda a: (a * a).cumsum(dim=1), [X]),
    ("vector_norm_2", lambda a: mg.vector_norm(a, 2, dim=-1), [X]),
    ("vector_norm_3", lambda a: mg.vector_norm(a, 3, dim=0), [X]),
    ("vector_norm_1.5_all", lambda a: mg.vector_norm(a, 1.5), [X]),
    ("vector_norm_0.5", lambda a: mg.vector_norm(a, 0.5, dim=1), [X]),
    ("vector_norm_inf", lambda a: mg.vector_norm(a, math.inf, dim=1), [X]),
    ("vector_norm_-inf", lambda a: mg.vector_norm(a, -math.inf, dim=1), [X]),
    ("vector_norm_tuple_keep", lambda a: mg.vector_norm(a, 2.5, dim=(0, -1), keepdim=True), [X3]),
    ("norm_method_keepdim", lambda a: a.norm(dim=1, keepdim=True), [X]),
    ("matrix_norm_1", lambda a: mg.norm(a, 1), [X]),
    ("matrix_norm_-1", lambda a: mg.norm(a, -1), [X]),
    ("matrix_norm_inf_neg_axes", lambda a: mg.norm(a, math.inf, axis=(-1, 0), keepdims=True), [X]),
    ("matrix_norm_-inf_swapped", lambda a: mg.norm(a, -math.inf, axis=(1, 0)), [X]),
    ("matrix_norm_fro_3d", lambda a: mg.norm(a, "fro", axis=(0, 2)), [X3]),
    ("norm_inf_1d", lambda a: mg.norm(a, math.inf), [_n(4)]),
    # elementwise
    ("sigmoid", lambda a: a.sigmoid() * a, [X]),
    ("tanh", lambda a: a.tanh() * a, [X]),
    ("exp_log", lambda a: mg.log(mg.exp(a) + 1), [X]),
    ("sqrt", lambda a: mg.sqrt(a), [_u(1, 2, 3)]),
    ("sin_cos", lambda a: mg.sin(a) * mg.cos(a), [X]),
    ("softplus_beta", lambda a: mg.softplus(a, beta=2.0), [X]),
    ("log_sigmoid", lambda a: mg.log_sigmoid(a), [X * 5]),
    ("leaky_relu", lambda a: mg.leaky_relu(a, 0.2) * a, [X]),
    ("elu", lambda a: mg.elu(a, 1.5) * a, [X]),
    ("gelu", lambda a: mg.gelu(a), [X]),
    ("gelu_tanh", lambda a: mg.gelu(a, approximate="tanh"), [X]),
    ("silu", lambda a: mg.silu(a), [X]),
    ("erf", lambda a: mg.erf(a), [X]),
    ("abs_away_from_0", lambda a: mg.abs(a) * a, [X]),
    ("relu_away_from_0", lambda a: mg.relu(a) * a, [X]),
    ("clip", lambda a: mg.clip(a, -0.5, 0.5) * a, [X]),
    ("clamp_low_only", lambda a: a.clamp(-0.5) * a, [X]),
    # binary ops: broadcasting on both sides, Python scalars on both sides
    ("pow_tensor_tensor", lambda a, b: mg.abs(a) ** b, [X, _n(4)]),
    ("pow_both_broadcast", lambda a, b: a ** b, [_u(0.5, 2, 3, 1), _n(1, 4)]),
    ("rpow", lambda a: 2.0 ** a, [X]),
    ("pow_int_exponent", lambda a: a ** 3, [X]),
    ("pow_negative_exponent", lambda a: a ** -2, [_u(0.6, 1.5, 3, 4) * np.sign(X)]),
    ("pow_fractional", lambda a: mg.abs(a) ** 1.5, [X]),
    ("div_broadcast", lambda a, b: a / b, [X, _u(1, 2, 3, 1)]),
    ("div_both_broadcast", lambda a, b: a / b, [_n(3, 1), _u(1, 2, 1, 4)]),
    ("rdiv", lambda a: 1.0 / (a * a + 1), [X]),
    ("rsub", lambda a: 3.0 - a * a, [_n(3)]),
    ("maximum_broadcast", lambda a, b: mg.maximum(a, b) * a, [X, _n(3, 1)]),
    ("maximum_both_broadcast", lambda a, b: mg.maximum(a, b) ** 2, [_n(3, 1), _n(1, 4)]),
    ("minimum_scalar_left", lambda a: mg.minimum(0.3, a) * a, [X]),
    ("logaddexp", lambda a, b: mg.logaddexp(a, b), [X, _n(4)]),
    ("logaddexp_both_broadcast", lambda a, b: mg.logaddexp(a, b), [_n(3, 1), _n(1, 4)]),
    ("logaddexp_scalar", lambda a: mg.logaddexp(a, 0.5), [X]),
    ("where", lambda a, b: mg.where(a > 0, a * a, b), [X, _n(4)]),
    ("where_scalar", lambda a: mg.where(a > 0, a * a, 0.0), [X]),
    ("where_condition_broadcasts_operands", lambda a: mg.where(COND, a * a, 2.0), [_n(4)]),
    ("where_list_condition", lambda a, b: mg.where([True, False, True, False], a, b * b), [X, _n(3, 1)]),
    # matmul
    ("matmul_2d", lambda a, b: (a @ b).tanh(), [_n(2, 3), _n(3, 2)]),
    ("matmul_batched_broadcast", lambda a, b: a @ b, [_n(1, 3, 4), _n(2, 4, 2)]),
    ("matmul_4d_broadcast", lambda a, b: a @ b, [_n(2, 1, 2, 3), _n(3, 3, 2)]),
    ("matmul_1d_left", lambda a, b: a @ b, [_n(4), _n(2, 4, 3)]),
    ("matmul_1d_right", lambda a, b: a @ b, [_n(2, 3, 4), _n(4)]),
    ("matmul_vec_vec", lambda a, b: (a @ b) * a, [_n(4), _n(4)]),
    ("matmul_transposed_self", lambda a: a.T @ a, [_n(2, 3)]),
    ("matmul_self_square", lambda a: (a @ a) + a.T @ a, [_n(3, 3)]),
    ("einsum_mm", lambda a, b: mg.einsum("ij,jk->ik", a * a, b), [X, _n(4, 2)]),
    ("einsum_implicit", lambda a, b: mg.einsum("ij,kj", a, b * b), [X, _n(2, 4)]),
    ("einsum_three", lambda a, b, c: mg.einsum("ij,j,jk->", a, b, c), [X, _n(4), _n(4, 2)]),
    ("einsum_batch", lambda a, b: mg.einsum("bij,bjk->bik", a * a, b), [X3, _n(2, 4, 2)]),
    ("einsum_perm", lambda a: mg.einsum("ijk->kji", a * a), [X3]),
    ("outer", lambda a, b: mg.outer(a * a, b), [_n(3), _n(2)]),
    # indexing and shapes (non-contiguous: transposes, negative steps)
    ("getitem_advanced_repeats", lambda a: (a * a)[[0, 0, 2], [1, 1, 3]], [X]),
    ("getitem_negative_step", lambda a: (a * a)[::-2, 1:], [X]),
    ("getitem_bool", lambda a: (a * a)[np.array([True, False, True])], [X]),
    ("getitem_bool_2d", lambda a: (a * a)[np.array([[True, False, True], [False, False, True]])], [X3]),
    ("getitem_none_ellipsis", lambda a: (a * a)[None, ..., -1], [X]),
    ("getitem_mixed", lambda a: (a * a)[1:, [0, 0, 2]], [X]),
    ("getitem_separated_advanced", lambda a: (a * a)[[0, 1], :, [3, 3]], [X3]),
    ("getitem_empty_slice", lambda a: (a * a)[1:1], [X3]),
    ("transpose_slice", lambda a: (a * a).T[1:, ::2], [X]),
    ("mT", lambda a: (a * a).mT, [X3]),
    ("permute_neg", lambda a: (a * a).permute(-1, 0, 1), [X3]),
    ("transpose_perm_tuple", lambda a: (a * a).transpose((2, 0, 1)), [X3]),
    ("swapaxes_neg", lambda a: mg.swapaxes(a * a, -1, 0), [X3]),
    ("expand", lambda a: (a * a).expand(2, 3, 4), [_n(3, 1)]),
    ("broadcast_to", lambda a: mg.broadcast_to(a * a, (2, 3, 4)), [_n(3, 1)]),
    ("unsqueeze_neg", lambda a: (a * a).unsqueeze(-1), [X]),
    ("squeeze_tuple_neg", lambda a: mg.squeeze(a * a, (-1, 0)), [_n(1, 3, 1)]),
    ("view_flat", lambda a: (a * a).view(-1), [X]),
    ("concat_neg", lambda a, b: mg.concat([a * a, b], dim=-3), [X3, X3[:1]]),
    ("stack_neg", lambda a, b: mg.stack([a * a, b], dim=-2), [X3, X3 + 1]),
    ("split_sizes", lambda a: mg.split(a * a, [1, 3], dim=-1)[1], [X]),
    ("split_int", lambda a: mg.split(a * a, 2, dim=-1)[1], [X3]),
    ("gather_repeats", lambda a: mg.gather(a * a, 1, np.array([[0, 0], [3, 1], [2, 2]])), [X]),
    ("gather_neg_dim", lambda a: mg.gather(a * a, -1, np.array([[[0, 3], [1, 1], [2, 2]], [[3, 3], [0, 0], [1, 2]]])), [X3]),
    ("take_along_axis_broadcast", lambda a: mg.take_along_axis(a * a, np.array([[[0], [3], [1]]]), 2), [X3]),
    ("take_along_axis_flat", lambda a: mg.take_along_axis(a * a, np.array([0, 5, 5]), None), [X]),
    ("masked_fill", lambda a: mg.masked_fill(a * a, np.array([True, False, True, False]), 2.0), [X]),
    ("masked_fill_tensor_value", lambda a, v: mg.masked_fill(a * a, COND, v * v), [X, np.array(1.3)]),
    ("roll_multi", lambda a: mg.roll(a * a, (1, -1), (0, -1)), [X]),
    ("roll_flat", lambda a: mg.roll(a * a, 5), [X]),
    ("flip_varargs", lambda a: (a * a).flip(0, 1), [X]),
    ("flip_neg", lambda a: mg.flip(a * a, (-1, 0)), [X3]),
    ("pad_constant", lambda a: mg.pad(a * a, (1, 2, 0, 1), value=3.0), [X]),
    ("pad_negative", lambda a: mg.pad(a * a, (-1, 2, 1, -1)), [X]),
    ("pad_3d_all", lambda a: mg.pad(a * a, (1, 0, 0, 1, 1, 1), value=-1.0), [X3]),
    ("tril_batched", lambda a: mg.tril(a * a, 1), [X3]),
    ("triu_neg_diag", lambda a: mg.triu(a * a, -1), [X3]),
    ("tile_more_reps", lambda a: mg.tile(a * a, (2, 1, 2)), [X]),
    ("tile_fewer_reps", lambda a: mg.tile(a * a, (2,)), [X3]),
    ("repeat_method", lambda a: (a * a).repeat(2, 3), [X]),
    ("repeat_interleave_dim", lambda a: mg.repeat_interleave(a * a, 2, dim=-1), [X]),
    ("repeat_interleave_flat", lambda a: mg.repeat_interleave(a * a, 3), [X]),
    ("sort_descending", lambda a: mg.sort(a * a, dim=0, descending=True).values, [X]),
    ("sort_size1", lambda a: mg.sort(a * a, dim=0).values, [_n(1, 3)]),
    ("topk_smallest", lambda a: mg.topk(a * a, 2, dim=-1, largest=False).values, [X]),
    # losses (targets differentiable where PyTorch allows it)
    ("cross_entropy", lambda a: mg.cross_entropy(a, np.array([0, 3, 1])), [X]),
    ("cross_entropy_smoothing_weight", lambda a: mg.cross_entropy(a, np.array([0, 3, 1]), label_smoothing=0.2,
                                                                  weight=np.array([1., 2, 3, 4])), [X]),
    ("cross_entropy_probabilities", lambda a, t: mg.cross_entropy(a, t), [X, _u(0.1, 0.9, 3, 4)]),
    ("cross_entropy_none", lambda a: mg.cross_entropy(a, np.array([0, 3, 1]), reduction="none"), [X]),
    ("nll_ignore_index", lambda a: mg.nll_loss(mg.log_softmax(a), np.array([0, 3, 1]), ignore_index=3), [X]),
    ("bce_prob_and_target", lambda p, t: mg.binary_cross_entropy(p, t), [_u(0.1, 0.9, 3), _u(0.1, 0.9, 3)]),
    ("bce_weight", lambda p: mg.binary_cross_entropy(p, np.array([0., 1, 0.3]), weight=np.array([2.0, 1, 3])), [_u(0.1, 0.9, 3)]),
    ("bce_logits_pos_weight", lambda a: mg.binary_cross_entropy_with_logits(a, np.array([0., 1, 0.3]),
                                                                             pos_weight=np.array([2.0, 1, 3])), [_n(3)]),
    ("bce_logits_target", lambda a, t: mg.binary_cross_entropy_with_logits(a, t), [_n(3), _u(0.1, 0.9, 3)]),
    ("mse_sum_target", lambda a, t: mg.mse(a, t, reduction="sum"), [_n(3), _n(3)]),
    # 0-d
    ("zero_d_sum", lambda a: (a * a).sum(), [np.array(1.5)]),
    ("zero_d_max", lambda a: mg.max(a * a), [np.array(1.5)]),
    ("zero_d_broadcast_mul", lambda a, b: a * b, [np.array(1.5), X]),
]


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("case", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradcheck(device, case, order):
    _, f, arrays = case
    xs = [T(a, device, requires_grad=True) for a in arrays]
    assert mg.gradcheck(f, xs, order=order)


# --------------------------------------------------------------------------- values vs NumPy
def _np_softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


VALUE_CASES = [
    ("sum_neg_keep", lambda t: t.sum(dim=-2, keepdim=True), lambda a: a.sum(axis=-2, keepdims=True)),
    ("mean_tuple", lambda t: t.mean((0, -1)), lambda a: a.mean(axis=(0, -1))),
    ("max_dim", lambda t: t.max(dim=-1).values, lambda a: a.max(axis=-1)),
    ("max_dim_indices", lambda t: t.max(dim=-1).indices, lambda a: a.argmax(axis=-1)),
    ("max_axis", lambda t: t.max(axis=-1), lambda a: a.max(axis=-1)),
    ("min_all", lambda t: t.min(), lambda a: a.min()),
    ("var", lambda t: mg.var(t, dim=1), lambda a: a.var(axis=1, ddof=1)),
    ("std_ddof0", lambda t: mg.std(t, dim=(0, 2), correction=0), lambda a: a.std(axis=(0, 2))),
    ("prod", lambda t: mg.prod(t, dim=-1), lambda a: a.prod(axis=-1)),
    ("cumsum", lambda t: mg.cumsum(t, -2), lambda a: np.cumsum(a, axis=-2)),
    ("logsumexp", lambda t: mg.logsumexp(t, dim=1), lambda a: np.log(np.exp(a).sum(axis=1))),
    ("softmax", lambda t: mg.softmax(t, dim=0), lambda a: _np_softmax(a, 0)),
    ("log_softmax", lambda t: mg.log_softmax(t, dim=-1), lambda a: np.log(_np_softmax(a, -1))),
    ("norm_all", lambda t: t.norm(), lambda a: np.sqrt((a * a).sum())),
    ("vector_norm_3", lambda t: mg.vector_norm(t, 3, dim=-1), lambda a: (np.abs(a) ** 3).sum(-1) ** (1 / 3)),
    ("vector_norm_0", lambda t: mg.vector_norm(t * (t > 0), 0, dim=-1), lambda a: (a > 0).sum(-1).astype(float)),
    ("matrix_norm_1", lambda t: mg.norm(t[0], 1), lambda a: np.linalg.norm(a[0], 1)),
    ("matrix_norm_-inf", lambda t: mg.norm(t[0], -math.inf), lambda a: np.linalg.norm(a[0], -np.inf)),
    ("argmax_keep", lambda t: t.argmax(dim=1, keepdim=True), lambda a: np.argmax(a, axis=1)[:, None]),
    ("argmin_flat", lambda t: t.argmin(), lambda a: np.argmin(a)),
    ("sigmoid", lambda t: t.sigmoid(), lambda a: 1 / (1 + np.exp(-a))),
    ("softplus", lambda t: mg.softplus(t), lambda a: np.log1p(np.exp(a))),
    ("log_sigmoid", lambda t: mg.log_sigmoid(t), lambda a: -np.log1p(np.exp(-a))),
    ("elu", lambda t: mg.elu(t, 0.7), lambda a: np.where(a > 0, a, 0.7 * np.expm1(a))),
    ("leaky_relu", lambda t: mg.leaky_relu(t, 0.1), lambda a: np.where(a > 0, a, 0.1 * a)),
    ("silu", lambda t: mg.silu(t), lambda a: a / (1 + np.exp(-a))),
    ("gelu", lambda t: mg.gelu(t), lambda a: a * 0.5 * (1 + np.vectorize(math.erf)(a / math.sqrt(2)))),
    ("gelu_tanh", lambda t: mg.gelu(t, approximate="tanh"),
     lambda a: 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3)))),
    ("logaddexp", lambda t: mg.logaddexp(t, t[:1]), lambda a: np.logaddexp(a, a[:1])),
    ("round_half_even", lambda t: mg.round(t * 2) , lambda a: np.round(a * 2)),
    ("flip_roll", lambda t: mg.roll(t.flip(0), 2, -1), lambda a: np.roll(np.flip(a, 0), 2, -1)),
    ("pad", lambda t: mg.pad(t, (1, 2)), lambda a: np.pad(a, ((0, 0), (0, 0), (1, 2)))),
    ("tile_repeat_interleave", lambda t: mg.repeat_interleave(mg.tile(t, (2, 1, 1)), 2, dim=1),
     lambda a: np.repeat(np.tile(a, (2, 1, 1)), 2, axis=1)),
    ("tril_triu", lambda t: mg.tril(t, -1) + mg.triu(t, 2), lambda a: np.tril(a, -1) + np.triu(a, 2)),
    ("einsum", lambda t: mg.einsum("bij,bkj->bik", t, t), lambda a: np.einsum("bij,bkj->bik", a, a)),
    ("matmul_1d", lambda t: t @ t[0, 0], lambda a: a @ a[0, 0]),
]


@pytest.mark.parametrize("case", VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_values_match_numpy(device, case):
    _, f, ref = case
    a = _n(2, 3, 4)
    got = f(T(a, device)).numpy()
    want = np.asarray(ref(a))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_erf_matches_math(device):
    a = np.linspace(-7, 7, 2001)
    got = mg.erf(T(a, device)).numpy()
    np.testing.assert_allclose(got, [math.erf(v) for v in a], rtol=0, atol=4e-16)


def test_sort_and_topk_values_and_ties(device):
    a = np.array([[2., 1, 2, 1, 3], [0, 0, -1, 5, 0]])
    s = mg.sort(T(a, device), dim=-1, descending=True)
    np.testing.assert_array_equal(s.indices.numpy(), [[4, 0, 2, 1, 3], [3, 0, 1, 4, 2]])   # stable
    np.testing.assert_array_equal(s.values.numpy(), -np.sort(-a, axis=-1))
    s = T(a, device).sort(dim=1)
    np.testing.assert_array_equal(s.indices.numpy(), np.argsort(a, axis=1, kind="stable"))
    assert s.indices.dtype == np.int64
    k = T(a, device).topk(2, dim=-1)
    np.testing.assert_array_equal(k.values.numpy(), [[3, 2], [5, 0]])


# --------------------------------------------------------------------------- kinks and ties
def _grad(f, a, device):
    x = T(a, device, requires_grad=True)
    y = f(x)
    (y if y.size == 1 else y.sum()).backward()
    return x.grad.numpy()


KINKS = [
    ("abs_at_0", mg.abs, [0., -1, 1], [0., -1, 1]),
    ("relu_at_0", mg.relu, [0., -1, 1], [0., 0, 1]),
    ("leaky_relu_at_0", lambda x: mg.leaky_relu(x, 0.1), [0., -1, 1], [0.1, 0.1, 1]),
    ("elu_at_0", lambda x: mg.elu(x, 0.5), [0.], [0.5]),
    ("clamp_at_bounds", lambda x: x.clamp(-1, 1), [-1., 1, 0, 2, -3], [0., 0, 1, 0, 0]),
    ("clamp_tensor_bounds_tie_half", lambda x: x.clamp(mg.tensor(-1.0, device=x.device), mg.tensor(1.0, device=x.device)), [-1., 1, 0, 2], [0.5, 0.5, 1, 0]),
    ("max_all_ties_share", lambda x: x.max(), [1., 3, 3], [0., 0.5, 0.5]),
    ("min_dim_ties_first", lambda x: x.min(dim=0).values, [[1., 3], [1, 2]], [[1., 0], [0, 1]]),
    ("amin_dim_ties_share", lambda x: x.amin(dim=0), [[1., 3], [1, 2]], [[0.5, 0], [0.5, 1]]),
    ("min_axis_ties_share", lambda x: x.min(axis=0), [[1., 3], [1, 2]], [[0.5, 0], [0.5, 1]]),
    ("maximum_tie_half", lambda x: mg.maximum(x, 1.0), [1., 3, 0], [0.5, 1, 0]),
    ("minimum_tie_half", lambda x: mg.minimum(x, 1.0), [1., 3, 0], [0.5, 0, 1]),
    ("norm_at_0", lambda x: x.norm(), [0., 0], [0., 0]),
    ("vector_norm_3_at_0", lambda x: mg.vector_norm(x, 3), [0., 0], [0., 0]),
    ("vector_norm_1_at_0", lambda x: mg.vector_norm(x, 1), [0., 2], [0., 1]),
    ("vector_norm_inf_ties", lambda x: mg.vector_norm(x, math.inf), [-2., 2, 1], [-0.5, 0.5, 0]),
    ("std_constant", lambda x: x.std(), [1., 1, 1], [0., 0, 0]),
    ("prod_two_zeros", lambda x: x.prod(), [0., 0, 2], [0., 0, 0]),
    ("prod_one_zero", lambda x: x.prod(), [0., 3, 2], [6., 0, 0]),
    ("pow_0_to_0", lambda x: x ** 0.0, [0.], [0.]),
    ("pow_0_to_1", lambda x: x ** 1, [0.], [1.]),
    ("floor_round_sign_zero_grad", lambda x: mg.floor(x) + mg.round(x) + mg.sign(x) + mg.ceil(x), [0.5, -1.5], [0., 0]),
    ("sort_ties_route_gradient", lambda x: mg.sort(x).values * mg.tensor([1., 2, 3, 4], device=x.device),
     [2., 1, 2, 1], [3., 1, 4, 2]),
]


@pytest.mark.parametrize("case", KINKS, ids=[c[0] for c in KINKS])
def test_pytorch_convention_at_kinks_and_ties(device, case):
    _, f, a, want = case
    np.testing.assert_array_equal(_grad(f, np.array(a), device), want)


def test_pow_tensor_exponent_at_zero_base(device):
    a, b = T([0., 0, 0], device, True), T([0., 1, 2], device, True)
    (a ** b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0., 1, 0])
    np.testing.assert_array_equal(b.grad.numpy(), [0., 0, 0])     # PyTorch masks log(0) there


def test_second_derivative_at_kinks_is_zero_not_nan(device):
    for f, a in [(lambda x: x.norm(), [0., 0]), (lambda x: x.std(), [1., 1]), (mg.abs, [0.]), (mg.relu, [0.]),
                 (lambda x: mg.vector_norm(x, 1.5), [0., 1.])]:
        x = T(a, device, True)
        (g,) = mg.grad(f(x).sum(), [x], create_graph=True)
        assert np.all(np.isfinite(g.numpy()))
        if g.requires_grad:                       # abs, relu: a constant gradient, no graph
            (h,) = mg.grad((g * g).sum() + g.sum(), [x], allow_unused=True, materialize_grads=True)
            assert np.all(np.isfinite(h.numpy()))


# --------------------------------------------------------------------------- extreme values
def test_extreme_values_stay_finite(device):
    big = np.array([-1e3, 1e3])
    for f in (mg.sigmoid, mg.tanh, mg.softplus, mg.log_sigmoid, mg.elu, mg.silu, mg.gelu, mg.erf,
              lambda x: mg.gelu(x, approximate="tanh"), lambda x: mg.logsumexp(x, 0), lambda x: mg.softmax(x)[0],
              lambda x: mg.log_softmax(x, 0)[1], lambda x: mg.logaddexp(x, 0.0),
              lambda x: mg.binary_cross_entropy_with_logits(x, np.array([1., 0])),
              lambda x: mg.cross_entropy(x.reshape(1, 2), np.array([1]))):
        x = T(big, device, True)
        y = f(x)
        assert np.all(np.isfinite(y.numpy()))
        (y if y.size == 1 else y.sum()).backward()
        assert np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(mg.logsumexp(T([1e3, 1e3], device), 0).numpy(), 1e3 + math.log(2))
    np.testing.assert_allclose(mg.softplus(T(big, device)).numpy(), [0., 1e3])
    np.testing.assert_allclose(mg.log_sigmoid(T(big, device)).numpy(), [-1e3, 0.])


def test_tiny_values(device):
    t = np.array([1e-300, -3e-310])
    np.testing.assert_array_equal(_grad(mg.abs, t, device), [1., -1])
    np.testing.assert_allclose(mg.gelu(T(t, device)).numpy(), t / 2, rtol=1e-15)
    np.testing.assert_allclose(_grad(mg.log_sigmoid, t, device), [0.5, 0.5])
    np.testing.assert_allclose(mg.erf(T(t, device)).numpy(), t * 2 / math.sqrt(math.pi), rtol=1e-15)


def test_bce_clamps_log_like_pytorch(device):
    p = T([0., 1.], device, True)
    loss = mg.binary_cross_entropy(p, np.array([1., 0]), reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [100., 100.])
    loss.sum().backward()
    assert np.all(np.isfinite(p.grad.numpy()))


# --------------------------------------------------------------------------- dtypes
FLOAT32_FNS = [lambda x: x * 2.5, lambda x: 2.5 ** x, lambda x: x / 3, lambda x: 1 - x, mg.erf, lambda x: x.norm(),
               lambda x: x.std(), mg.gelu, mg.softplus, lambda x: mg.logsumexp(x), lambda x: mg.prod(x),
               lambda x: x.mean(), mg.sqrt, lambda x: mg.where(x > 1, x, 0.5), lambda x: mg.clip(x, 0.5, 1.5),
               mg.leaky_relu, mg.elu, mg.silu, mg.log_sigmoid, lambda x: mg.logaddexp(x, 1.0),
               lambda x: mg.maximum(x, 1.5), lambda x: x ** 1.5, lambda x: mg.vector_norm(x, 3),
               lambda x: mg.vector_norm(x, math.inf), lambda x: mg.norm(x.reshape(1, 2), 1), mg.var,
               lambda x: mg.pad(x, (1, 1), value=0.5), lambda x: mg.masked_fill(x, np.array([True, False]), 3.0),
               lambda x: mg.cross_entropy(x.reshape(1, 2), np.array([1]), label_smoothing=0.1),
               lambda x: mg.binary_cross_entropy(x / 3, np.array([1., 0])), lambda x: mg.mse(x, np.array([1., 2])),
               lambda x: mg.binary_cross_entropy_with_logits(x, np.array([1., 0])), lambda x: mg.cumsum(x, 0),
               lambda x: x @ x, lambda x: mg.softmax(x) * np.array([1., 2])]


@pytest.mark.parametrize("k", range(len(FLOAT32_FNS)))
def test_float32_stays_float32(device, k):
    x = T([1., 2], device, True, dtype=np.float32)
    y = FLOAT32_FNS[k](x)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


INT_CASES = [
    ("sum", lambda: mg.tensor([1, 2, 3]).sum(), "int64", 6),
    ("mean", lambda: mg.tensor([1, 2, 3]).mean(), "float64", 2.0),
    ("sqrt", lambda: mg.sqrt(mg.tensor([4])), "float64", [2.0]),
    ("true_div", lambda: mg.tensor([1, 2]) / 2, "float64", [0.5, 1.0]),
    ("int_div_int", lambda: mg.tensor([1, 2]) / mg.tensor([2, 2]), "float64", [0.5, 1.0]),
    ("mul_half", lambda: mg.tensor([1, 2]) * 0.5, "float64", [0.5, 1.0]),
    ("bool_plus_1", lambda: mg.tensor([True, False]) + 1, "int64", [2, 1]),
    ("bool_sum", lambda: mg.tensor([True, True]).sum(), "int64", 2),
    ("pow_int", lambda: mg.tensor([1, 2]) ** 2, "int64", [1, 4]),
    ("rpow_int", lambda: 2 ** mg.tensor([1, 2]), "int64", [2, 4]),
    ("rpow_float", lambda: 2.5 ** mg.tensor([1, 2]), "float64", [2.5, 6.25]),
    ("int_max_dim", lambda: mg.tensor([[1, 2]]).max(dim=1).values, "int64", [2]),
    ("int_max_dim_indices", lambda: mg.tensor([[1, 2]]).max(dim=1).indices, "int64", [1]),
    ("prod", lambda: mg.prod(mg.tensor([2, 3])), "int64", 6),
    ("cumsum", lambda: mg.cumsum(mg.tensor([1, 2]), 0), "int64", [1, 3]),
    ("std", lambda: mg.tensor([1, 2]).std(), "float64", math.sqrt(0.5)),
    ("norm", lambda: mg.tensor([3, 4]).norm(), "float64", 5.0),
    ("abs", lambda: mg.abs(mg.tensor([-1, 2])), "int64", [1, 2]),
    ("relu", lambda: mg.relu(mg.tensor([-1, 2])), "int64", [0, 2]),
    ("exp", lambda: mg.exp(mg.tensor([0])), "float64", [1.0]),
    ("clip_int", lambda: mg.clip(mg.tensor([1, 5]), 0, 3), "int64", [1, 3]),
    ("maximum_float_scalar", lambda: mg.maximum(mg.tensor([1, 5]), 2.5), "float64", [2.5, 5.0]),
    ("where_float_scalar", lambda: mg.where(mg.tensor([True, False]), mg.tensor([1, 2]), 0.5), "float64", [1.0, 0.5]),
    ("int_minus_bool", lambda: mg.tensor([1, 2]) - True, "int64", [0, 1]),
    ("int_matmul", lambda: mg.tensor([[1, 2]]) @ mg.tensor([[1], [2]]), "int64", [[5]]),
    ("float_tensor_pow_int_tensor", lambda: mg.tensor([2.]) ** mg.tensor([2]), "float64", [4.0]),
    ("floor_int_kept", lambda: mg.floor(mg.tensor([3])), "int64", [3]),
    ("var_int", lambda: mg.var(mg.tensor([1, 2, 4])), "float64", 7 / 3),
    ("argmax_int64", lambda: mg.tensor([[1., 2]]).argmax(), "int64", 1),
    ("rsub_float_int", lambda: 0.5 - mg.tensor([1]), "float64", [-0.5]),
]


@pytest.mark.parametrize("case", INT_CASES, ids=[c[0] for c in INT_CASES])
def test_integer_and_bool_inputs(case):
    _, f, dtype, value = case
    r = f()
    assert str(r.dtype) == dtype
    np.testing.assert_allclose(r.numpy(), value, rtol=1e-15)


def test_float_dtypes_are_not_mixed(device):
    a, b = T([1.], device, dtype=np.float32), T([1.], device)
    for op in (lambda: a + b, lambda: a @ b, lambda: b ** a):
        with pytest.raises(TypeError):
            op()


# --------------------------------------------------------------------------- PyTorch spellings
def test_pytorch_habit_spellings(device):
    a = _n(2, 3)
    x = T(a, device)
    np.testing.assert_allclose(x.sum(1, True).numpy(), a.sum(1, keepdims=True))
    np.testing.assert_allclose(x.sum(dim=1, keepdim=True).numpy(), a.sum(1, keepdims=True))
    np.testing.assert_allclose(x.mean(dim=-1).numpy(), a.mean(-1))
    np.testing.assert_allclose(x.max(1).values.numpy(), a.max(1))
    np.testing.assert_array_equal(x.max(1).indices.numpy(), a.argmax(1))
    np.testing.assert_allclose(x.var(dim=1, unbiased=False).numpy(), a.var(1))
    np.testing.assert_allclose(x.std(1).numpy(), a.std(1, ddof=1))
    np.testing.assert_allclose(x.softmax(dim=-1).numpy(), _np_softmax(a, -1))
    np.testing.assert_allclose(x.logsumexp(dim=0).numpy(), np.log(np.exp(a).sum(0)))
    np.testing.assert_allclose(x.prod(dim=1).numpy(), a.prod(1))
    np.testing.assert_allclose(x.cumsum(1).numpy(), a.cumsum(1))
    np.testing.assert_allclose(x.norm(2, 1).numpy(), np.linalg.norm(a, axis=1))
    np.testing.assert_allclose(x.norm(p="fro").numpy(), np.linalg.norm(a))
    assert x.transpose(0, 1).shape == (3, 2) and x.transpose(-1, -2).shape == (3, 2)
    assert x.unsqueeze(dim=0).shape == (1, 2, 3) and x.unsqueeze(-1).shape == (2, 3, 1)
    assert x.reshape(-1, 1).shape == (6, 1) and x.view(3, 2).shape == (3, 2)
    assert x[None].squeeze().shape == (2, 3) and x[None].squeeze(0).shape == (2, 3)
    assert x.argmax(dim=1).dtype == np.int64


# --------------------------------------------------------------------------- composite checks
def test_third_derivative_of_cube(device):
    x = T([1., 2], device, True)
    (g,) = mg.grad((x ** 3).sum(), [x], create_graph=True)
    (h,) = mg.grad(g.sum(), [x], create_graph=True)
    (t,) = mg.grad(h.sum(), [x])
    np.testing.assert_array_equal(g.numpy(), [3., 12])
    np.testing.assert_array_equal(h.numpy(), [6., 12])
    np.testing.assert_array_equal(t.numpy(), [6., 6])


def test_grad_of_grad_through_many_ops(device):
    def f(a, b):
        h = mg.softmax(a @ b, dim=-1) * mg.gelu(a).sum(-1, keepdims=True)
        return mg.logsumexp(h * h, dim=0).sum() + mg.vector_norm(mg.sigmoid(b), 3) + mg.prod(mg.tanh(a), dim=0).sum()

    def g(a, b):                                  # the gradient, itself checked by differences
        ga, gb = mg.grad(f(a, b), [a, b], create_graph=True)
        return (ga * ga).sum() + (gb * mg.sin(b)).sum()

    xs = [T(_n(3, 2), device, True), T(_n(2, 4), device, True)]
    assert mg.gradcheck(g, xs, order=1)
    assert mg.gradcheck(f, xs, order=2)


def test_create_graph_backward_twice_matches_differences(device):
    a = np.array([0.3, 0.7])

    x = T(a, device, True)
    y = mg.tanh(mg.sin(x) * mg.exp(x)).sum()
    y.backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.sum().backward()

    def grad_sum(v):
        u = np.sin(v) * np.exp(v)
        return ((1 - np.tanh(u) ** 2) * (np.cos(v) + np.sin(v)) * np.exp(v)).sum()

    eps = 1e-6
    numeric = [(grad_sum(a + eps * e) - grad_sum(a - eps * e)) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(x.grad.numpy(), numeric, rtol=1e-6)


def test_hvp_and_jacobian_of_gradient_agree(device):
    f = lambda a: (mg.softmax(a) * a).sum() + mg.logsumexp(a * a, dim=0)    # noqa: E731
    x = T([0.3, 0.7, -0.2], device, True)
    v = T([1., 0.5, -1], device)
    H = mg.jacobian(lambda a: mg.grad(f(a), [a], create_graph=True)[0], x).numpy()
    np.testing.assert_allclose(H, H.T, atol=1e-14)
    np.testing.assert_allclose(mg.hvp(f, x, v)[1].numpy(), H @ v.numpy(), atol=1e-14)


def test_jacobian_closed_forms(device):
    A = _n(3, 4)
    x = T(_n(4), device, True)
    J = mg.jacobian(lambda a: mg.tanh(mg.tensor(A, device=device) @ a), x).numpy()
    np.testing.assert_allclose(J, (1 - np.tanh(A @ x.numpy()) ** 2)[:, None] * A, atol=1e-15)
    y = T(_n(2, 3), device, True)
    J = mg.jacobian(lambda a: mg.softmax(a, dim=-1), y).numpy()
    s = _np_softmax(y.numpy(), -1)
    ref = np.zeros((2, 3, 2, 3))
    for i in range(2):
        ref[i, :, i, :] = np.diag(s[i]) - np.outer(s[i], s[i])
    np.testing.assert_allclose(J, ref, atol=1e-15)


def test_retain_graph_and_accumulation(device):
    x = T([1., 2], device, True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp([1., 2]) * (1 + np.array([1., 2])))
    with pytest.raises(mg.GraphReleasedError):
        y.backward()
    x = T([1., 2], device, True)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5., 7])


def test_same_tensor_in_both_operands(device):
    x = T([1., 2], device, True)
    mg.maximum(x, x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1., 1])
    W = T(_n(3, 3), device, True)
    assert mg.gradcheck(lambda w: w @ w @ w.T, [W], order=2)


def test_many_uses_of_one_leaf_bulk_paths_match_recorded_paths(device):
    """The deferred Product / Scattered / bulk-sum paths (no create_graph) give the same
    gradient as the recorded paths (create_graph), for each pattern on its own."""
    W = T(_n(3, 40), device, True)
    b = T(_n(1, 4), device, True)
    xs = [T(_n(2, 3), device) for _ in range(20)]
    zs = [T(_n(50, 1, 4), device) for _ in range(20)]

    def f(W, b):
        return sum((x @ W).tanh().sum() + (W[k % 3] ** 2).sum() + W[[0, 0, 2]].sum() for k, x in enumerate(xs)) \
            + sum((z + b).tanh().sum() for z in zs)

    eager = mg.grad(f(W, b), [W, b])
    recorded = mg.grad(f(W, b), [W, b], create_graph=True)
    for e, r in zip(eager, recorded):
        np.testing.assert_allclose(e.numpy(), r.numpy(), rtol=1e-12, atol=1e-12)


def test_leaf_broadcast_then_matmul_product(device):
    """Was a crash: Cotangents.flush read items[0].g when a leaf's first deferred term was a
    bulk-sum Tensor and a later one a matmul Product."""
    W = T(_n(3, 4), device, True)
    A = T(_n(2, 3), device)
    Z = T(_n(5, 3, 4), device)
    y = (A @ W).sum() + (Z + W).sum()         # backward meets Z + W (deferred sum) first, then A @ W
    y.backward()
    np.testing.assert_allclose(W.grad.numpy(), np.broadcast_to(A.numpy().sum(0)[:, None] + 5, (3, 4)), rtol=1e-12)


ZERO_D_RESULTS = {
    "sum": lambda x: x.sum(), "max": lambda x: x.max(), "getitem": lambda x: x[0], "norm": lambda x: x.norm(),
    "prod": lambda x: mg.prod(x), "mean": lambda x: x.mean(),
    "grad_of_0d_leaf_broadcast": lambda x: _broadcast_leaf_grad(),
}


def _broadcast_leaf_grad():
    b = mg.tensor(1.0, requires_grad=True)
    (mg.tensor(np.ones((2, 3))) * b).sum().backward()
    return b.grad


# Fixed (the bug this found): BUG: on the CPU a 0-d result holds a NumPy scalar (numpy.float64), not
#  a 0-d array: np.sum/np.max with all axes return scalars and Tensor._wrap keeps them (also the
#  .grad of a 0-d leaf, via Cotangents.flush / _sum_to). np.asarray(t) then raises 'object __array__
#  method not producing an array' and t.data[...] = v raises TypeError
@pytest.mark.parametrize("op", list(ZERO_D_RESULTS))
def test_zero_d_results_hold_arrays_on_cpu(op):
    t = ZERO_D_RESULTS[op](mg.tensor([1., 2.]))
    assert t.shape == ()
    assert isinstance(t.data, np.ndarray)
    assert np.asarray(t).shape == ()


# --------------------------------------------------------------------------- in-place changes
def _changes(device):
    def assign(w):
        w.data = np.array([5., 5]) if device == "cpu" else mg.tensor([5., 5], device=device).data

    return [assign, lambda w: w.add_(1.0), lambda w: w.mul_(2.0), lambda w: w.__setitem__(0, 7.0),
            lambda w: w.detach().sub_(1.0), lambda w: w.zero_(), lambda w: w.copy_(mg.tensor([3., 3], device=device))]


@pytest.mark.parametrize("k", range(7))
def test_in_place_change_of_saved_value_raises(device, k):
    x = T([1., 2], device, True)
    w = T([1., 2], device)
    y = (x * w).sum()
    _changes(device)[k](w)
    with pytest.raises(RuntimeError, match="in place"):
        y.backward()


VIEWS = {"slice": lambda w: w[:], "reshape": lambda w: w.reshape(2, 1), "transpose": lambda w: w.T,
         "unsqueeze": lambda w: w.unsqueeze(0), "identity": mg.identity, "int_index": lambda w: w[0:1]}


# Fixed (the bug this found): BUG (silently wrong gradient): x[i] = v on a view (slice, reshape,
#  transpose, unsqueeze, identity...) writes into the buffer of the tensor it views, but only the
#  view's version cell is bumped (views get a fresh [version, stamp] cell; only detach() shares it).
#  A node that saved the base (or the view, when the base is written) backpropagates the changed
#  values without an error (PyTorch: views share the version counter)
@pytest.mark.parametrize("direction", ["write_view_saved_base", "write_base_saved_view"])
@pytest.mark.parametrize("view", list(VIEWS))
def test_in_place_write_through_a_view_is_detected(device, view, direction):
    x = T([1., 2], device, True)
    w = T([3., 4], device)
    if direction == "write_view_saved_base":
        loss = (x * w).sum()
        VIEWS[view](w)[0] = 100.0
    else:
        v = VIEWS[view](w)
        loss = (x * v.reshape(-1)[:1]).sum()
        w[0] = 100.0
    try:
        loss.backward()
    except RuntimeError as e:
        assert "in place" in str(e)
        return
    np.testing.assert_array_equal(x.grad.numpy(), [3., 4] if direction == "write_view_saved_base" else [3., 0])


def test_in_place_change_of_saved_output_and_leaf_raise(device):
    x = T([1., 2], device, True)
    y = mg.exp(x)
    s = y.sum()
    y.data = y.data * 0
    with pytest.raises(RuntimeError, match="in place"):
        s.backward()
    x = T([1., 2], device, True)
    s = (x * x).sum()
    x.data = x.data + 1
    with pytest.raises(RuntimeError, match="in place"):
        s.backward()


def test_in_place_change_of_unsaved_value_is_fine(device):
    x = T([1., 2], device, True)
    s = (x + 1).sum() + mg.tanh(x).sum()          # add keeps nothing, tanh keeps its output
    x.data = x.data + 1
    s.backward()
    np.testing.assert_allclose(x.grad.numpy(), 1 + 1 - np.tanh([1., 2]) ** 2)


def test_in_place_on_requires_grad_refused(device):
    x = T([1., 2], device, True)
    with pytest.raises(RuntimeError):
        x.add_(1.0)
    with pytest.raises(RuntimeError):
        x[0] = 1.0


def test_optimizer_loops_do_not_trip_detection(device):
    W = mg.nn.Parameter(np.array([[1., 2], [3, 4]]), device=device)
    opt = mg.SGD([W], lr=0.1)
    v = mg.tensor([1., 1], device=device)
    ref = np.array([[1., 2], [3, 4]])
    for _ in range(3):
        loss = ((W @ v).tanh() ** 2).sum()
        W.grad = None
        loss.backward()
        t = np.tanh(ref @ [1., 1])
        ref = ref - 0.1 * (2 * t * (1 - t * t))[:, None] * np.ones((1, 2))
        opt.step()
    np.testing.assert_allclose(W.numpy(), ref, rtol=1e-12)
    x = T([1., 2], device, True)
    for _ in range(3):
        (x * x).sum().backward()
        with mg.no_grad():
            x.data = x.data - 0.1 * x.grad.data
        x.grad = None
    np.testing.assert_allclose(x.numpy(), np.array([1., 2]) * 0.8 ** 3)


# --------------------------------------------------------------------------- trace replay
def _update(p, x):
    z = x @ p["W"]
    h = mg.gelu(z) + mg.softplus(z, beta=2.0)
    h = mg.flip(mg.roll(mg.pad(h, (1, 1)), 1, -1), -1)
    loss = (mg.logsumexp(mg.sort(h, dim=-1).values, dim=-1).mean() + mg.vector_norm(mg.topk(h, 2, dim=-1).values, 3)
            + mg.std(h, dim=0).sum() + mg.prod(mg.tanh(h), dim=-1).sum() + mg.cumsum(h, -1).var()
            + mg.einsum("ij,ij->", h, h) * 0.01 + mg.gather(h, 1, p["idx"]).sum() + mg.tril(h[:, :3]).sum()
            + mg.erf(h).sum() + mg.tile(h, (1, 2)).mean() + mg.repeat_interleave(h, 2, dim=0).max()
            + mg.masked_fill(h, h.data > 0, 0.5).sum() + mg.maximum(h, 0.1).sum() + mg.clip(h, -0.2, 0.2).sum()
            + mg.log_softmax(h, dim=0).sum() * 0.1 + mg.norm(h, 1) + mg.where(h > 0, h, 0.0).sum())
    loss.backward()
    for q in (p["W"],):
        q.data -= 0.1 * q.grad.data
        q.grad = None
    return {"loss": loss}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_trace_replay_bit_identical_with_many_ops(device, dtype):
    results = []
    for traced in (False, True):
        p = {"W": mg.nn.Parameter(np.random.default_rng(0).standard_normal((3, 4)).astype(dtype), device=device),
             "idx": mg.tensor(np.zeros((5, 1), dtype=np.int64), device=device)}
        step = mg.trace(_update) if traced else _update
        losses = [step(p, T(np.random.default_rng(i).standard_normal((5, 3)), device, dtype=dtype))["loss"].numpy()
                  for i in range(4)]
        results.append((losses, p["W"].numpy()))
    (l0, w0), (l1, w1) = results
    for a, b in zip(l0, l1):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(w0, w1)


# --------------------------------------------------------------------------- defects found (xfail)
# Fixed (the bug this found): BUG: max/min (and vector_norm inf) with a NaN in the slice give NaN
#  gradients to every element: _extreme_vjp counts x == out, which is 0 when out is NaN, then
#  divides by it (PyTorch: the gradient goes to the NaN)
def test_max_with_nan_routes_gradient_to_the_nan(device):
    x = T([1., np.nan, 2.], device, True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0., 1, 0])


# Fixed (the bug this found): BUG (missing feature): dim=0 / dim=-1 on a 0-d tensor is refused
#  (ops._axes range check; PyTorch accepts both for reductions and softmax)
@pytest.mark.parametrize("op", ["sum0", "sum-1", "max0", "mean-1", "softmax", "logsumexp", "cumsum", "prod0"])
def test_zero_d_tensor_accepts_dim_0_and_minus_1(device, op):
    x = T(2.0, device, True)
    f = {"sum0": lambda: x.sum(dim=0), "sum-1": lambda: x.sum(dim=-1), "max0": lambda: x.max(dim=0).values,
         "mean-1": lambda: x.mean(dim=-1), "softmax": lambda: mg.softmax(x, dim=-1),
         "logsumexp": lambda: mg.logsumexp(x, dim=0), "cumsum": lambda: mg.cumsum(x, 0),
         "prod0": lambda: mg.prod(x, dim=0)}[op]
    y = f()
    assert y.shape == ()
    y.backward()
    assert x.grad.shape == ()


def test_softmax_family_on_size_zero_along_a_nonempty_dim(device):
    x = T(np.zeros((0, 3)), device, True)
    y = mg.softmax(x, dim=-1).sum() + mg.log_softmax(x, dim=1).sum() + mg.logsumexp(x, dim=1).sum()
    y.backward()
    assert x.grad.shape == (0, 3)


# Fixed (was a missing feature): softmax / log_softmax / logsumexp along a size-0 dim raised (xp.max
#  of an empty array has no identity); PyTorch returns an empty result (softmax) or -inf (logsumexp)
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_softmax_family_along_a_size_zero_dim(device, op):
    x = T(np.zeros((0, 3)), device, True)
    if op == "logsumexp":
        y = mg.logsumexp(x, dim=0)
        np.testing.assert_array_equal(y.numpy(), [-np.inf] * 3)
    else:
        y = getattr(mg, op)(x, dim=0)
        assert y.shape == (0, 3)
    y.sum().backward()
    assert x.grad.shape == (0, 3)


def test_reductions_over_size_zero(device):
    x = T(np.zeros((0, 3)), device, True)
    y = x.sum(dim=0).sum() + mg.prod(x, dim=0).sum() + mg.cumsum(x, 0).sum() + x.norm(dim=0).sum() \
        + (x @ T(np.ones((3, 2)), device)).sum()
    np.testing.assert_array_equal(mg.prod(x, dim=0).numpy(), [1., 1, 1])
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((0, 3)))
    with pytest.raises(ValueError):
        x.max()


# Fixed (the bug this found): BUG (missing feature): x.clamp(min=..., max=...) (PyTorch's keywords)
#  raises TypeError: clip() takes low/high
def test_clamp_min_max_keywords(device):
    x = T([-1., 0.5, 2], device)
    np.testing.assert_array_equal(x.clamp(min=0).numpy(), [0, 0.5, 2])
    np.testing.assert_array_equal(x.clamp(max=1).numpy(), [-1, 0.5, 1])


# Fixed (the bug this found): BUG (missing feature / unclear error): clip with Tensor bounds raises
#  "operand 'Tensor' does not support ufuncs" from xp.clip (PyTorch accepts tensor min/max)
def test_clip_with_tensor_bounds(device):
    x = T([-1., 0.5, 2], device, True)
    y = mg.clip(x, T([0., 0, 0], device), 1.0)
    np.testing.assert_array_equal(y.numpy(), [0, 0.5, 1])


# Fixed (the bug this found): BUG (missing feature): x.expand(-1, 3) (PyTorch: -1 keeps the size)
#  raises from broadcast_to
def test_expand_minus_one(device):
    x = T([[1.], [2.]], device)
    assert x.expand(-1, 3).shape == (2, 3)


# Fixed (the bug this found): PyTorch divergence: squeeze(dim) of a dim whose size is not 1 raises
#  here; PyTorch returns the tensor unchanged
def test_squeeze_non_unit_dim_is_a_no_op(device):
    x = T(np.ones((1, 2)), device)
    assert x.squeeze(1).shape == (1, 2)


def test_numpy_scalars_do_not_upcast_float32_in_binary_ops(device):
    x = T([0.2, 2.], device, True, dtype=np.float32)
    for f in (lambda: x * np.float64(2), lambda: mg.maximum(x, np.float64(0.5)), lambda: x ** np.float32(2.0),
              lambda: mg.where(x > 1, x, np.float64(0.5)), lambda: x - np.float64(1), lambda: np.float64(1) / (x + 1)):
        y = f()
        assert y.dtype == np.float32
        y.sum().backward()
        assert x.grad.dtype == np.float32
        x.grad = None


# Fixed (the bug this found): BUG: a NumPy float64 scalar as pow's exponent or as a clip bound
#  upcasts float32 data to float64 (NumPy 2 / NEP 50 promotion: ops.pow takes the _power path, whose
#  forward computes x ** exponent with the np.float64 as given; _clip passes the bounds to xp.clip
#  unconverted); the float32 leaf then receives a float64 .grad
@pytest.mark.parametrize("op", ["pow", "clip_low", "clip_high"])
def test_numpy_float64_scalar_keeps_float32(device, op):
    x = T([0.2, 2.], device, True, dtype=np.float32)
    y = {"pow": lambda: x ** np.float64(2.0), "clip_low": lambda: mg.clip(x, np.float64(0.5), 1.0),
         "clip_high": lambda: mg.clip(x, 0.5, np.float64(1.0))}[op]()
    y.sum().backward()
    assert (y.dtype, x.grad.dtype) == (np.float32, np.float32)


# Fixed (the bug this found): BUG: concat / stack of float32 and float64 tensors upcast silently to
#  float64 (xp.concatenate / xp.stack promote; no dtype check as in the binary ops, matmul and
#  einsum), and the float32 leaf receives a float64 .grad; the documented rule is that two floating
#  dtypes are an error
@pytest.mark.parametrize("op", ["concat", "stack"])
def test_concat_stack_refuse_mixed_float_dtypes(device, op):
    a = T([1., 2], device, True, dtype=np.float32)
    b = T([1., 2], device, True)
    with pytest.raises(TypeError):
        getattr(mg, op)([a, b])


# Fixed (the bug this found): BUG (silently wrong gradient): x[i] = value and x.copy_(value) with a
#  value that requires grad (and x.add_(value)) take its data and drop its graph without a word
#  (methods._setitem / _copy_ read value._data): a loss reaching the value through x gets no
#  gradient for it. PyTorch records the write; refusing such a value would at least make it loud
@pytest.mark.parametrize("op", ["setitem", "copy_", "add_"])
def test_writing_a_differentiable_value_into_a_tensor(device, op):
    w = T([2.], device, True)
    buf = T([0., 0, 0], device)
    try:
        if op == "setitem":
            buf[0:1] = w * 1
        else:
            buf = T([0.], device)
            getattr(buf, op)(w * 1)
    except (RuntimeError, TypeError, ValueError):
        return                                    # refusing is fine
    loss = (buf * 3).sum() + w.sum()
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [4.])


def test_argmax_argmin_ties_take_the_first(device):
    x = T([[1., 3, 3, 0, 0]], device)
    assert x.argmax().item() == 1 and x.argmin(dim=1).numpy().tolist() == [3]


def test_grad_wrt_intermediate_and_vjp(device):
    x = T([0.5, -1.0], device, True)
    h = mg.tanh(x)
    y = (h * h * x).sum()
    gh, gx = mg.grad(y, [h, x], retain_graph=True)
    np.testing.assert_allclose(gh.numpy(), 2 * np.tanh(x.numpy()) * x.numpy())
    t = np.tanh(x.numpy())
    np.testing.assert_allclose(gx.numpy(), t * t + 2 * t * (1 - t * t) * x.numpy())
    y.backward()                                   # the graph was retained
    np.testing.assert_allclose(x.grad.numpy(), gx.numpy())
    out, fn = mg.vjp(lambda a, b: a * b + mg.sin(a), T([1., 2], device), T([3., 4], device))
    ga, gb = fn(mg.tensor([1., 1], device=device))
    np.testing.assert_allclose(ga.numpy(), [3 + math.cos(1), 4 + math.cos(2)])
    np.testing.assert_array_equal(gb.numpy(), [1., 2])


def test_gradient_penalty_double_backward(device):
    """A WGAN-GP-style loss: the norm of an input gradient, itself backpropagated into weights."""
    W = T(_n(3, 2), device, True)
    x = T(_n(4, 3), device, True)

    def penalty(W, x):
        (gx,) = mg.grad(mg.softplus(x @ W).sum(), [x], create_graph=True)
        return ((gx.norm(dim=1) - 1) ** 2).mean()

    assert mg.gradcheck(penalty, [W, x], order=1)
    p = penalty(W, x)
    p.backward()
    assert W.grad.shape == (3, 2) and x.grad.shape == (4, 3)


# Fixed (the bug this found): BUG (silently wrong gradient): mg.tensor(ndarray) does not copy
#  (Tensor.__init__: backend.asarray shares the caller's array on the CPU; torch.tensor always
#  copies). Refilling one NumPy buffer per batch and calling backward once on the summed losses
#  backpropagates the last batch's data for every batch, without an error
def test_tensor_from_a_reused_numpy_buffer():
    W = mg.tensor([1., 1.], requires_grad=True)
    buf = np.empty(2)
    total = 0
    for batch in ([1., 2.], [10., 20.]):
        buf[:] = batch
        total = total + (mg.tensor(buf) * W).sum()
    total.backward()
    np.testing.assert_array_equal(W.grad.numpy(), [11., 22.])


# Fixed (the bug this found): BUG (silently lost update): in-place methods (add_, sub_, mul_, div_,
#  zero_, copy_) rebind the tensor's array (methods._in_place / _zero_ / _copy_: self.data = new
#  array) instead of writing into it, so on an alias from detach() they change only the alias:
#  p.detach().sub_(lr * g) leaves p as it was, although the error for p.sub_ recommends '.detach()'
#  (and the shared version cell still bumps p, so graphs that saved p refuse to backpropagate
#  although p did not change). x.detach()[i] = v does write through, as in PyTorch
@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_", "zero_", "copy_"])
def test_in_place_method_on_detached_alias_changes_the_original(device, op):
    p = mg.nn.Parameter(np.array([1., 2.]), device=device)
    d = p.detach()
    arg = {"add_": (1.0,), "sub_": (1.0,), "mul_": (3.0,), "div_": (2.0,), "zero_": (),
           "copy_": (mg.tensor([5., 5.], device=device),)}[op]
    getattr(d, op)(*arg)
    np.testing.assert_array_equal(p.numpy(), d.numpy())


def test_setitem_on_detached_alias_writes_through(device):
    p = mg.nn.Parameter(np.array([1., 2.]), device=device)
    p.detach()[0] = 7.0
    np.testing.assert_array_equal(p.numpy(), [7., 2.])
