"""The paper's experiments: synthetic tasks (``synthetic``); training and the command line follow."""
from .synthetic import TASKS, Batch, Sampler, Task, get_task
