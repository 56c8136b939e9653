"""Pictures of backpropagation through time.

``graph``  Graphviz graphs of recorded tapes (unrolled BPTT, gradient norms on the edges)
``plots``  matplotlib figures: gradient norms, dE/dh_k, Jacobian heat maps and spectra, the
           error cliff, the echo-state property, the logistic map, Figure 7's success rates
``attention`` attention weights as heat maps, learning curves of translation runs
``diagnostics`` training diagnostics over a run: histogram of log10 ||dE/ds_k||, saturation, Lyapunov
``gradient_paths`` the figure of minigrad compare: ||dE/ds_k|| and the Jacobian chain of five models
``dynamics`` the one-unit RNN's bifurcation diagram and basins, fixed points, Lyapunov exponents
``memory``   the NTM's read and write weightings over time, copy-task learning curves
"""
from . import attention, diagnostics, dynamics, gradient_paths, memory, plots
from .graph import draw, edge_colour, render, tape_of
