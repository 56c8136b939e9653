"""Recurrent networks built from minigrad's public API only.

``cells``      RNNCell (tanh / sigmoid / relu / linear, leaky units), LeakyRNNCell (the paper's music cell), LSTMCell, GRUCell
               (Cho's reset-before, or PyTorch's reset_after=True); ``load_torch`` loads a PyTorch cell's weights
``init``       the paper's sigmoid, basic_tanh, smart_tanh; identity, orthogonal, uniform
``sequence``   unroll, output heads, SequenceModel (stacked layers)
``regularizer`` the Omega regularizer (closed form and generic), schedules of alpha
``jacobian``   JacobianChain: per-step Jacobians, their products, norms, spectra, dE/ds_k
``packed``     many models as one: parameters stacked along a leading model axis
``attention``  seq2seq with additive (Bahdanau) or dot-product attention: Embedding, Encoder, AdditiveAttention,
               DotProductAttention, Decoder, Seq2Seq
``ntm``        Neural Turing Machine: content/location addressing, read, write (Graves et al. 2014)
``dynamics``   the one-unit map's fixed points and bifurcations, RNN fixed points, Lyapunov exponents
``esn``        Echo State Network with a ridge-regression or gradient-trained readout
"""
from . import init
from .cells import CELLS, GRUCell, LeakyRNNCell, LSTMCell, RNNCell
from .init import scale_to_spectral_radius, spectral_radius
from .sequence import HEADS, Head, SequenceModel, Unrolled, hidden_of, unroll
from .regularizer import omega_closed_form, omega_generic, state_gradients
from .jacobian import JacobianChain
from . import dynamics
from .dynamics import find_fixed_points, largest_lyapunov_exponent, lyapunov_spectrum
from .esn import ESN
from .packed import finite_per_model, model_count, stack_models, unstack_into
from . import ntm
from .attention import AdditiveAttention, Decoder, DotProductAttention, Embedding, Encoder, Seq2Seq
from .ntm import NTM, FeedForwardController
