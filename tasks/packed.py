"""Many runs as one computation: S training runs of one setting (different seeds; also different
initializations of one activation, or alpha) trained together, every parameter with a leading
model axis (:func:`rnn.stack_models`).

At the paper's sizes an update is hundreds of tiny array calls, each costing more in overhead
than in arithmetic; packed, each call does the work of S models (``bench/packed.py`` measures
the gain).  Each run is still its own run, exactly as :class:`tasks.train.Trainer` would train
it alone:

* its own data: the minibatch of update u of run s is generated from ``(seed_s, 0, u)``, its
  test sets from ``(seed_s, 1, u)`` and ``(seed_s, 3, u)``, as in a separate run, bit for bit
  (the same NumPy streams, only made cheaper: the generators' seeding for 64 updates ahead in
  a few array calls, the draws of all runs turned into symbols and one-hot inputs at once; see
  :meth:`tasks.synthetic.Task.stacked_batch`);
* its own loss (the head's mean over its own batch), gradient norm, clipping with the fallback,
  Omega (over its own (step, sequence) pairs) and alpha: everything reduced per model;
* its own evaluations, success checks, outcome ("success", "budget", "interrupted",
  "diverged at update N: ..."), log, gradient norms and checkpoint, in its own run folder, in
  the very format of a separate run: ``minigrad train --resume`` can continue any one alone.

A run that has ended (success, budget, divergence) stays in the pack with its gradient masked
to zero (its weights do not change; a diverged run's are set to zero so no NaN is computed);
the others go on.  Trajectories equal the separate runs' up to rounding: the forward pass is
bit-identical (the batched product makes the same product per model), the weight gradients and
norms are summed in another order (differences of a few ulp, 1e-17 on gradients of order 0.1
in float64), which the chaotic dynamics of training amplify only slowly (tests/test_packed.py
states and checks the tolerance for every method).

Only fixed-length training packs: runs of a variable-length setting, or of a task that jitters
every minibatch's length (addition, multiplication), draw a different length per run and
update, so their batches cannot be stacked; they train alone.
"""
from __future__ import annotations

import signal
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

import minigrad as mg
import rnn
from rnn import regularizer

from .runfiles import RunFiles
from .synthetic import Task, get_task, pcg64_states, seed_value
from .train import (CLIPPED, FALLBACK_NORM, FINITE_CHECK_EVERY, REGULARIZED, STOP_SIGNALS, RunError,
                    Trainer, TrainConfig, diverged, prepare_run)

# Settings that may differ between the runs of one pack; every other TrainConfig field must be
# equal (the shapes, the method and the schedule of evaluations are shared).
MAY_DIFFER = ("seed", "init", "alpha", "alpha_schedule", "alpha_beta", "alpha_every", "alpha_delay")


STREAM_CHUNK = 64      # updates ahead whose training generators are seeded at once, per run


def packable(config: TrainConfig) -> str | None:
    """Why runs of ``config`` cannot be packed, or None if they can."""
    task = get_task(config.task)
    if config.max_length is not None:
        return "variable-length training draws a length per run and update"
    if type(task).default_length is not Task.default_length:
        return f"{task.name} jitters the length of every minibatch per run"
    if config.halve_lr:
        return "halving the learning rate gives each run its own rate"
    if config.method in REGULARIZED and config.cell != "rnn":
        return "Omega of a gated cell is not packed yet (its generic form reduces over all models)"
    return None


def check_pack(configs) -> list:
    """The configs validated, and checked to differ only in :data:`MAY_DIFFER` (with one
    activation); raises RunError naming what is wrong."""
    configs = [replace(c).validate() for c in configs]
    if not configs:
        raise RunError("a pack needs at least one run")
    first = configs[0]
    why = packable(first)
    if why:
        raise RunError(f"cannot pack runs of this setting: {why}")
    shared = {k: v for k, v in asdict(first).items() if k not in MAY_DIFFER}
    for c in configs[1:]:
        diff = [f"{k}: {shared[k]!r} and {v!r}" for k, v in asdict(c).items() if k in shared and v != shared[k]]
        if diff:
            raise RunError("runs packed together may differ only in " + ", ".join(MAY_DIFFER) + "; these differ in "
                           + "; ".join(diff))
    if first.cell == "rnn":
        activations = {rnn.init.ACTIVATION_OF[c.init] for c in configs}
        if len(activations) > 1:
            raise RunError(f"runs packed together must share their activation; the inits give {sorted(activations)}")
    if len({(c.seed, c.init, c.alpha) for c in configs}) < len(configs):
        raise RunError("two runs of the pack are the same run (same seed, init and alpha)")
    return configs


class PackedTrainer:
    """Train the runs of ``configs`` (see :func:`check_pack`) as one computation.

    ``PackedTrainer(configs)`` starts them afresh; :meth:`for_folders` makes or resumes them in
    their run folders.  ``train(outs)`` runs until every run has ended or a stop is asked, and
    returns their RunStates.  ``members[s]`` is a :class:`Trainer` of run s alone: it holds the
    run's state, and its model receives run s's weights whenever they are logged or saved.
    """

    TRAIN, EVAL, CHECK = Trainer.TRAIN, Trainer.EVAL, Trainer.CHECK

    def __init__(self, configs, members=None):
        self.configs = check_pack(configs)
        self.members = members or [Trainer(replace(c, trace=False)) for c in self.configs]
        c = self.config = self.configs[0]
        self.task = self.members[0].task
        self.S = len(self.members)
        self.model = rnn.stack_models([m.model for m in self.members])
        self.params = self.model.parameters()
        self.backend = self.params[0].backend
        self.xp = self.backend.xp
        self.opt = mg.SGD(self.params, lr=c.lr)
        self.W_rec = getattr(self.model.cell, "W_rec", None)
        self.closed_form = isinstance(self.model.cell, rnn.RNNCell) and self.model.cell.leak is None
        self._stop_requested = False
        self.stop_signal = None
        self._gradients = mg.trace(self.gradients) if c.trace else self.gradients
        self._states, self._generators = {}, {}      # the training streams' generators (see _train_rngs)
        # a finished run's weights are frozen; a diverged one's are zeroed (no NaN arithmetic)
        for s, m in enumerate(self.members):
            if diverged(m.state.outcome):
                for p in self.params:
                    p.data[s] = 0

    @classmethod
    def for_folders(cls, outs, configs, resume: bool = False, force: bool = False) -> "PackedTrainer":
        """The pack of runs in folders ``outs`` (one per config), each new or resumed from its
        checkpoint exactly as :func:`tasks.train.prepare_run` does for a run alone."""
        if len(outs) != len(configs):
            raise RunError(f"{len(outs)} folders for {len(configs)} runs")
        configs = check_pack(configs)
        members = []
        for out, c in zip(outs, configs):
            folder = Path(out)
            has = (folder / "checkpoint.npz").exists()
            try:
                m = prepare_run(folder, replace(c, trace=False), resume=resume and has, force=force or not has)
            except RunError as e:
                if not (resume and has and "diverged" in str(e)):
                    raise
                m = Trainer.from_checkpoint(folder / "checkpoint.npz", replace(c, trace=False))
            members.append(m)
        return cls(configs, members)

    # ----------------------------------------------------------------- data
    def _rngs(self, keys):
        """Run s's generator of the stream ``(seed_s,) + keys[s]`` for each run in ``keys``
        (what its :class:`Sampler` would draw from), None for the others."""
        rng = self.backend.rng
        return [rng(seed_value((self.members[s].config.seed,) + tuple(keys[s]))) if s in keys else None
                for s in range(self.S)]

    def _train_rngs(self, stepping):
        """:meth:`_rngs` of the training stream, update ``state.update`` of each run in
        ``stepping``.  With NumPy on the CPU the generators' starting states are computed
        :data:`STREAM_CHUNK` updates ahead for all runs at once
        (:func:`tasks.synthetic.pcg64_states`: NumPy's own seeding, vectorized) and set into one
        reused generator per run: the same streams as ``default_rng(seed_value(key))``."""
        members = self.members
        keys = {s: (self.TRAIN, members[s].state.update) for s in stepping}
        if self.xp is not np or self._states is False:
            return self._rngs(keys)
        want = [(s, keys[s][1]) for s in stepping]
        if any(w not in self._states for w in want):
            ahead = [(s, u + k) for s, u in want for k in range(STREAM_CHUNK)]
            entropy = [(members[s].config.seed, self.TRAIN, u) for s, u in ahead]
            states = pcg64_states(entropy) if all(0 <= v <= 0xFFFFFFFF for e in entropy for v in e) else None
            if states is None:
                self._states = False
                return self._rngs(keys)
            self._states = dict(zip(ahead, states))
        rngs = [None] * self.S
        for s, u in want:
            g = self._generators.get(s)
            if g is None:
                g = self._generators[s] = np.random.Generator(np.random.PCG64(0))
            g.bit_generator.state = self._states.pop((s, u))
            rngs[s] = g
        return rngs

    def _batch(self, rngs, size):
        """Inputs (T, S, size, n_in) and targets of the runs whose generator is in ``rngs``,
        zeros for the others: bit for bit each run's ``Sampler.batch(size)`` stacked."""
        c = self.config
        return self.task.stacked_batch(size, c.length, rngs, device=c.device, dtype=c.dtype)

    # ----------------------------------------------------------------- one update
    def update(self, stepping):
        """One SGD update of the runs in ``stepping`` (the others' gradients are zero);
        returns device tensors of shape (S,): loss, grad norm, clipped, fallback, omega."""
        c = self.config
        members = self.members
        batch = self._batch(self._train_rngs(stepping), c.batch_size)
        inputs, targets = batch.inputs, batch.targets
        dtype = self.params[0].dtype
        alpha = None
        if c.method in REGULARIZED:
            alpha = mg.tensor([members[s].alpha_at(members[s].state.update + 1) for s in range(self.S)],
                              dtype=dtype, device=c.device)
        mask = None                             # every run steps: nothing to mask (a program without it)
        if len(stepping) < self.S:
            mask = np.zeros(self.S, dtype=bool)
            mask[list(stepping)] = True
            mask = mg.tensor(mask, device=c.device)
        result = self._gradients(self.model, inputs, targets, alpha, mask, c.method, c.clip)
        self.opt.lr = members[stepping[0]].state.lr
        self.opt.step()
        self.opt.zero_grad()
        return result

    def losses(self, outputs, targets):
        """Each run's loss, the head's mean over that run's own batch: shape (S,)."""
        kind = self.model.head.kind
        if kind == "last_linear":
            per = mg.mse(outputs, targets, reduction="none")               # (S, n, 1)
            return per.reshape(self.S, -1).mean(-1)
        per = mg.cross_entropy(outputs, targets, reduction="none")          # (S, n) or (T, S, n)
        if kind == "every_softmax":
            per = per.swapaxes(0, 1)
        return per.reshape(self.S, -1).mean(-1)

    def gradients(self, model, inputs, targets, alpha, mask, method, clip):
        """The packed counterpart of :meth:`Trainer.gradients`: per-run losses, gradients,
        Omega, norms, clipping and fallback; runs outside ``mask`` get zero gradients (None:
        every run steps)."""
        xp = inputs.backend                     # (while traced, the backend that writes calls down)
        outputs, runs = model.run(inputs)
        losses = self.losses(outputs, targets)
        total = losses.sum()                    # d total / d (run s's weights) = d loss_s / d them
        params = model.parameters()
        omega = None
        if method in REGULARIZED:
            grads, deltas = regularizer.state_gradients(total, runs[0], params)
            omega, d_omega = regularizer.omega_closed_form(model.cell.W_rec, runs[0].hiddens[1:], deltas,
                                                           model.cell.activation)
            for p, g in zip(params, grads):
                p.grad = g + alpha.reshape(-1, 1, 1) * d_omega if p is model.cell.W_rec else g
        else:
            total.backward()
        S = self.S
        sums = [(p.grad.data * p.grad.data).reshape(S, -1).sum(axis=1) for p in params if p.grad is not None]
        n = sums[0]
        for s in sums[1:]:
            n = n + s
        n = xp.sqrt(n)
        on = None if mask is None else mask.data
        clipped = bad = None
        if method in CLIPPED:
            bad = ~xp.isfinite(n) | (n > FALLBACK_NORM)
            clipped = xp.isfinite(n) & (n > clip)
            scale = xp.where(clipped, clip / xp.where(clipped, n, 1), 1).astype(n.dtype)
            clipped = clipped & ~bad
        W_rec = getattr(model.cell, "W_rec", None)
        for p in params:
            if p.grad is None:
                continue
            shape = (S,) + (1,) * (p.ndim - 1)
            g = p.grad.data
            if method in CLIPPED:
                fallback = 0.02 * p.data if p is W_rec else 0
                g = xp.where(bad.reshape(shape), fallback, g * scale.reshape(shape))
            if on is not None:
                g = xp.where(on.reshape(shape), g, 0)
            p.grad = mg.Tensor(g, device=p.device)
        wrap = lambda a: None if a is None else mg.Tensor(a, device=inputs.device)   # noqa: E731
        return losses.detach(), wrap(n), wrap(clipped), wrap(bad), omega

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, which, size=None, keys=None):
        """{run: fraction wrong} over ``size`` fresh sequences per run in ``which``, run s's from
        the seed ``(seed_s,) + keys[s]``, as :meth:`Trainer.evaluate` draws them."""
        c = self.config
        size = size or c.eval_size
        rngs = self._rngs({s: keys[s] for s in which})
        wrong = None
        with mg.no_grad():
            for start in range(0, size, c.eval_batch):
                n = min(c.eval_batch, size - start)
                batch = self._batch(rngs, n)
                w = self.task.wrong(self.model(batch.inputs), batch.targets)            # (S, n)
                w = w.astype(np.float64).reshape(self.S, -1).sum(-1)
                wrong = w if wrong is None else wrong + w
        counts = wrong.numpy()
        return {s: float(counts[s]) / size for s in which}

    # ----------------------------------------------------------------- the loop
    request_stop = Trainer.request_stop         # the SIGINT and SIGTERM handler: stop after this update

    @property
    def exit_status(self) -> int:
        """0 when every run ended with success or budget; 128 + the signal when stopped by one
        (130 for ``stop``); else 1 (a run diverged)."""
        outcomes = [m.state.outcome for m in self.members]
        if "interrupted" in outcomes:
            return 128 + int(self.stop_signal or signal.SIGINT)
        return 1 if any(diverged(o) for o in outcomes) else 0

    def _sync(self, which):
        """Run s's weights into members[s].model, for s in ``which``."""
        rnn.unstack_into(self.model, [m.model for m in self.members], which)

    def train(self, outs=None, progress: bool = True, stop=None) -> list:
        """Train until every run has ended or a stop is asked (Ctrl-C, SIGTERM, ``stop()``);
        with ``outs`` (a folder per run), log and checkpoint each run in its folder.  Returns
        the runs' states, each with its ``outcome``."""
        c, S, xp = self.config, self.S, self.xp
        members = self.members
        states = [m.state for m in members]
        loggers = [RunFiles(o) for o in outs] if outs else [None] * S
        if outs and len(outs) != S:
            raise RunError(f"{len(outs)} folders for {S} runs")
        start_weights = {}
        active = []
        for s, (m, st) in enumerate(zip(members, states)):
            if diverged(st.outcome) or st.done or st.update >= c.max_updates:
                continue
            st.outcome = None
            active.append(s)
            if loggers[s] and not loggers[s].checkpoint_path.exists():
                start_weights[s] = (replace(st, history=list(st.history)), [p.data.copy() for p in m.params])
        # each run's period sums, continued from its checkpoint's partial sum as a run alone does
        dtype = self.params[0].dtype
        loss_sum = xp.asarray([st.loss_sum if st.update % c.eval_every else 0.0 for st in states], dtype=dtype)
        clipped = xp.zeros(S)
        fallbacks = xp.zeros(S)
        norms = [[] for _ in range(S)]          # each run's norms of this period (device scalars)
        flags = []                              # (update row of (S, P) finiteness, runs stepping)
        last = {}
        own_last = {}                           # run -> its last update's (norm, omega), for a final evaluation
        pending = set()                         # runs that updated since their last evaluation in this call
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=c.max_updates * S, initial=sum(st.update for st in states), unit="upd",
                       desc=f"{c.task} T={c.length} {c.method} x{S}")
        previous = {}
        for sig in STOP_SIGNALS:
            try:
                previous[sig] = signal.signal(sig, self.request_stop)
            except ValueError:
                break
        start = time.perf_counter()
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                while active and not self._stop_requested:
                    u = min(states[s].update for s in active)
                    stepping = [s for s in active if states[s].update == u]   # all of them, unless resumed unevenly
                    loss, norm, was_clipped, fell_back, omega = self.update(stepping)
                    on = xp.zeros(S, dtype=bool)
                    on[stepping] = True
                    loss_sum = xp.where(on, loss_sum + loss.data, loss_sum)
                    if was_clipped is not None:
                        clipped = clipped + (was_clipped.data & on)
                        fallbacks = fallbacks + (fell_back.data & on)
                    flags.append((rnn.finite_per_model(self.model), stepping))
                    last = {"norm": norm, "omega": omega}
                    for s in stepping:
                        states[s].update += 1
                        norms[s].append(norm.data[s])
                        own_last[s] = last
                        pending.add(s)
                    if bar is not None:
                        bar.update(len(stepping))
                    u += 1
                    evaluate = [s for s in stepping if u % c.eval_every == 0]
                    check = [s for s in stepping if u % c.eval_every and c.check_every and u % c.check_every == 0]
                    if evaluate or check or u % FINITE_CHECK_EVERY == 0:
                        for s, update, names in self._non_finite(flags):
                            self._diverged(s, update, names, loggers[s], norms[s], time.perf_counter() - start,
                                           start_weights.get(s))
                            active.remove(s)
                        flags = []
                        evaluate = [s for s in evaluate if s in active]
                        check = [s for s in check if s in active]
                    confirmed = {}
                    if check:
                        passed = [s for s, e in self.evaluate(check, c.check_size, {s: (self.CHECK, u) for s in check}).items()
                                  if members[s]._check_passes(e)]
                        if passed:
                            full = self.evaluate(passed, None, {s: (self.EVAL, u) for s in passed})
                            confirmed = {s: e for s, e in full.items() if members[s]._below_target(e)}
                    evaluate = sorted(set(evaluate) | set(confirmed))
                    if evaluate:
                        need = [s for s in evaluate if s not in confirmed]
                        errors = {**(self.evaluate(need, None, {s: (self.EVAL, u) for s in need}) if need else {}),
                                  **confirmed}
                        self._log_evaluations(evaluate, errors, loss_sum, clipped, fallbacks, last, norms, loggers,
                                              time.perf_counter() - start)
                        for s in evaluate:
                            pending.discard(s)
                            loss_sum[s] = 0
                            clipped[s] = fallbacks[s] = 0
                            norms[s] = []
                            if states[s].outcome is not None:
                                active.remove(s)
                            elif states[s].update >= c.max_updates:
                                states[s].outcome = "budget"
                                active.remove(s)
                    for s in [s for s in active if states[s].update >= c.max_updates]:
                        active.remove(s)                # ended between evaluations: handled below
                    if bar is not None and u % 50 == 0:
                        bar.set_postfix(loss=f"{float(loss.data[stepping].mean()):.4f}", running=len(active))
                    if stop is not None and not self._stop_requested and stop():
                        self._stop_requested = True
                for s, update, names in self._non_finite(flags):
                    self._diverged(s, update, names, loggers[s], norms[s], time.perf_counter() - start,
                                   start_weights.get(s))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            if bar is not None:
                bar.close()
        ended = [s for s in range(S) if states[s].outcome is None]      # stopped, or at budget between evaluations
        if ended:
            self._sync(ended)
            sums, nclip, nfall = (self.backend.to_host(a) for a in (loss_sum, clipped, fallbacks))
            for s in ended:
                st = states[s]
                if st.update % c.eval_every:
                    st.loss_sum = float(sums[s])
                    st.clipped += int(nclip[s])
                    st.fallbacks += int(nfall[s])
            # at the budget between evaluations: the final model evaluated, as a run alone does
            final = [s for s in ended if s in pending and states[s].update >= c.max_updates and not states[s].done]
            finals = self._final_evaluations(final, own_last, time.perf_counter() - start) if final else {}
            for s in ended:
                st = states[s]
                st.outcome = "success" if st.done else "budget" if st.update >= c.max_updates else "interrupted"
                if loggers[s]:
                    loggers[s].append_norms(self._host(norms[s]))
                    if s in finals:
                        loggers[s].log(finals[s][0])
                    loggers[s].checkpoint(members[s])
                    if s in finals and st.done and (finals[s][1] is None or st.last_error < finals[s][1]):
                        loggers[s].keep_copy("best.npz")
                    loggers[s].plot(force=True)
        return states

    def _final_evaluations(self, which, own_last, elapsed) -> dict:
        """:meth:`Trainer._final_evaluation` of the runs in ``which`` (their weights synced):
        {run: (log row, best error before it)}."""
        errors = self.evaluate(which, None, {s: (self.EVAL, self.members[s].state.update) for s in which})
        host = self.backend.to_host
        out = {}
        for s in which:
            m = self.members[s]
            norm, omega = own_last[s]["norm"], own_last[s]["omega"]
            m.last = {"norm": mg.tensor(host(norm.data)[s]),
                      "omega": None if omega is None else mg.tensor(host(omega.data)[s])}
            out[s] = m._final_evaluation(elapsed, errors[s])
        return out

    def _non_finite(self, flags):
        """(run, first update whose weights were not finite, parameter names) for each run
        that stopped being finite in ``flags``; that run's weights are zeroed and frozen."""
        if not flags:
            return []
        table = self.backend.to_host(self.xp.stack([f for f, _ in flags]))      # (updates, S, P)
        found = []
        names = [name for name, _ in self.model.named_parameters()]
        plain = [p.name for p in self.members[0].params]
        if None not in plain and len(set(plain)) == len(plain):
            names = plain
        for s in range(self.S):
            rows = [i for i, (_, stepping) in enumerate(flags) if s in stepping]
            bad = [i for i in rows if not table[i, s].all()]
            if not bad:
                continue
            i = bad[0]
            update = self.members[s].state.update - (len(rows) - rows.index(i)) + 1
            found.append((s, update, [n for n, f in zip(names, table[i, s]) if not f]))
            for p in self.params:
                p.data[s] = 0
        return found

    def _host(self, norms):
        """A run's gradient norms (device scalars) as one host array (one transfer)."""
        return self.backend.to_host(self.xp.stack(norms)) if norms else np.zeros(0)

    def _diverged(self, s, update, names, logger, norms, elapsed, start_weights):
        """Run s stopped being finite at ``update``: its outcome, log row and checkpoint say so,
        as for a run alone (:meth:`Trainer._diverged`)."""
        member = self.members[s]
        kept = norms[: update - (member.state.update - len(norms))]
        member._diverged(update, names, logger, self._host(kept), elapsed, start_weights)

    def _log_evaluations(self, which, errors, loss_sum, clipped, fallbacks, last, norms, loggers, elapsed):
        """Log the evaluation of each run in ``which`` (its test error in ``errors``), as a run
        alone logs it: state, row, checkpoint, best copy, snapshot, plot."""
        self._sync(which)
        host = self.backend.to_host
        sums, nclip, nfall = host(loss_sum), host(clipped), host(fallbacks)
        norm = host(last["norm"].data)
        omega = None if last["omega"] is None else host(last["omega"].data)
        for s in which:
            m, st, logger = self.members[s], self.members[s].state, loggers[s]
            st.loss_sum = float(sums[s])
            st.clipped += int(nclip[s])
            st.fallbacks += int(nfall[s])
            m.last = {"norm": mg.tensor(norm[s]), "omega": None if omega is None else mg.tensor(omega[s])}
            previous_best = st.best_error
            row = m._evaluation_row(elapsed, errors[s])
            if st.done:
                st.outcome = "success"
            elif st.update >= self.config.max_updates:
                st.outcome = "budget"
            if logger:
                logger.append_norms(self._host(norms[s]))
                logger.log(row)
                logger.checkpoint(m)
                if previous_best is None or st.last_error < previous_best:
                    logger.keep_copy("best.npz")
                logger.snapshot(m)
                logger.plot()
