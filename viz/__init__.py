"""Pictures of backpropagation through time: Graphviz graphs of recorded tapes (``graph``)."""
from .graph import draw, edge_colour, render, tape_of
