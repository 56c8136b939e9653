"""Every figure, produced from real data and checked for what it shows (not only that a file
appeared)."""
import csv

import matplotlib
import numpy as np
import pytest

import minigrad as mg
import rnn
from viz import plots
from rnn.esn import ESN

matplotlib.use("Agg")


def lines(ax):
    return [l for l in ax.get_lines() if len(l.get_xdata()) > 1]


def test_gradient_norms_of_a_real_run_with_threshold(tmp_path):
    from tasks.train import TrainConfig, Trainer
    Trainer(TrainConfig(task="temporal_order", length=20, hidden=20, method="msgd-c", clip=0.1, lr=0.1,
                        eval_every=50, eval_size=100, max_updates=150)).train(out=tmp_path / "run", progress=False)
    norms = np.fromfile(tmp_path / "run" / "grad_norms.f32", dtype=np.float32)
    assert len(norms) == 150
    fig = plots.from_run(tmp_path / "run", path=tmp_path / "g.png")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "update" and "msgd-c" in ax.get_title()
    series = ax.get_lines()
    np.testing.assert_allclose(series[0].get_ydata(), norms)
    threshold = [l for l in series if np.allclose(l.get_ydata(), 0.1) and l.get_linestyle() == "--"]
    assert threshold                                              # mu drawn as a dashed line
    clipped = series[-1]
    assert 0 < len(clipped.get_xdata()) == (norms > 0.1).sum()
    assert (tmp_path / "g.png").stat().st_size > 5000


def test_error_norms_and_heatmap_and_spectra_from_a_real_chain(tmp_path):
    cell = rnn.RNNCell(3, 8, init="smart_tanh", seed=0)
    x = mg.tensor(np.random.default_rng(0).standard_normal((30, 4, 3)))
    run = rnn.unroll(cell, x)
    chain = rnn.JacobianChain(cell, x, run, loss=(run.hiddens[-1] ** 2).sum())
    other = rnn.RNNCell(3, 8, init="basic_tanh", seed=0)
    other_run = rnn.unroll(other, x)
    other_chain = rnn.JacobianChain(other, x, other_run, loss=(other_run.hiddens[-1] ** 2).sum())
    fig = plots.error_norms_over_time({"smart tanh": chain.grad_norms.mean(1),
                                       "basic tanh": other_chain.grad_norms.mean(1)}, path=tmp_path / "e.png")
    ax = fig.axes[0]
    assert len(lines(ax)) == 2 and ax.get_yscale() == "log"
    np.testing.assert_allclose(lines(ax)[0].get_ydata(), chain.grad_norms.mean(1))
    np.testing.assert_allclose(lines(ax)[1].get_ydata(), other_chain.grad_norms.mean(1))
    assert lines(ax)[1].get_ydata()[0] < lines(ax)[0].get_ydata()[0]     # basic tanh vanishes faster
    logs = chain.norms(0, log10=True)
    fig = plots.jacobian_heatmap(logs, path=tmp_path / "h.png")
    image = fig.axes[0].get_images()[0].get_array()
    assert image.shape == (31, 31) and image.mask[3, 10] and not image.mask[10, 3]
    assert np.isclose(image[30, 0], logs[30, 0])
    sv = {i: chain.singular_values(i).mean(0) for i in (1, 15, 30)}
    fig = plots.singular_value_spectra(sv, path=tmp_path / "s.png")
    assert len(lines(fig.axes[0])) == 3 + 1                    # three steps and the line at 1
    assert np.allclose(sorted(lines(fig.axes[0])[0].get_ydata(), reverse=True), sv[1][np.argsort(-sv[1])])


def test_error_cliff_clipping_keeps_the_step_short(tmp_path):
    fig = plots.error_cliff(path=tmp_path / "c.png")
    unclipped, clipped = fig.paths["without clipping"], fig.paths["clipped at 1"]
    assert np.max(np.abs(np.diff(clipped))) <= 0.05 + 1e-9           # lr x mu
    assert np.max(np.abs(np.diff(unclipped))) > 100 * 0.05           # thrown off the wall
    assert abs(clipped[-1] - 4.82) < 0.1                              # stays by the minimum
    w = np.linspace(4.3, 5.6, 3000)
    loss = plots.one_unit_rnn_loss(w)
    assert loss.max() / loss.min() > 1e3                              # a wall
    g = plots.one_unit_rnn_gradient(5.2)                              # BPTT against differences
    fd = (plots.one_unit_rnn_loss(5.2 + 1e-6) - plots.one_unit_rnn_loss(5.2 - 1e-6)) / 2e-6
    assert np.isclose(g, fd, rtol=1e-6)


def test_echo_state_figure(tmp_path):
    rng = np.random.default_rng(0)
    u = rng.uniform(-1, 1, (200, 1))
    d = {}
    for rho in (0.8, 1.5):
        esn = ESN(1, units=60, spectral_radius=rho, lr=0.4, input_scaling=0.5, seed=1)
        a = esn.run(u, mg.tensor(rng.uniform(-1, 1, (1, 60)))).numpy()
        b = esn.run(u, mg.tensor(rng.uniform(-1, 1, (1, 60)))).numpy()
        d[f"spectral radius {rho}"] = np.linalg.norm(a - b, axis=-1)[:, 0]
    fig = plots.echo_state(d, path=tmp_path / "esn.png")
    contracting, chaotic = lines(fig.axes[0])
    assert contracting.get_ydata()[-1] < 1e-8 < chaotic.get_ydata()[-1]


def test_logistic_map_settles_on_a_four_cycle(tmp_path):
    fig = plots.logistic_map(3.5, path=tmp_path / "m.png")
    right = fig.axes[1]
    traj = lines(right)[0].get_ydata()
    assert np.allclose(traj[-4:], traj[-8:-4], atol=1e-3) and not np.allclose(traj[-2:], traj[-4:-2], atol=1e-3)


def test_success_rate_from_a_sweep_csv(tmp_path):
    """Figure 7's layout from a real (tiny) sweep: the plotted rates are the CSV's."""
    from tasks.cli import main
    assert main(["sweep", "--lengths", "10", "14", "--seeds", "0", "1", "--methods", "msgd", "msgd-cr",
                 "--inits", "sigmoid", "smart-tanh", "--hidden", "8", "--eval-every", "100", "--eval-size", "200",
                 "--max-updates", "400", "--lr", "0.1", "--workers", "2", "--out", str(tmp_path / "sw"), "--quiet"]) == 0
    path = tmp_path / "sw" / "sweep.csv"
    rows = list(csv.DictReader(open(path)))
    assert {r["success"] for r in rows} == {"True", "False"}          # both outcomes occur
    fig = plots.success_rate(path, path=tmp_path / "f7.png")
    assert [ax.get_title() for ax in fig.axes] == ["sigmoid", "smart tanh"]
    for ax, init in zip(fig.axes, ("sigmoid", "smart_tanh")):
        series = {l.get_label(): l for l in lines(ax)}
        assert set(series) == {"MSGD", "MSGD-CR"}
        for method in ("msgd", "msgd-cr"):
            expected = [np.mean([r["success"] == "True" for r in rows
                                 if r["init"] == init and r["method"] == method and int(r["length"]) == t])
                        for t in (10, 14)]
            np.testing.assert_allclose(series[method.upper()].get_ydata(), expected)
            np.testing.assert_array_equal(series[method.upper()].get_xdata(), [10, 14])
    empty = tmp_path / "empty.csv"
    empty.write_text("task,length,init,method,seed,success\n")
    with pytest.raises(ValueError, match="holds no runs"):
        plots.success_rate(empty)


def test_success_rate_draws_msgd_r_and_skips_rows_that_are_not_results(tmp_path):
    """MSGD-R (the paper's fourth method) gets its line; a CSV row the sweep marks as not a
    result (counted False: the cell raised, or ran other code) is no failure."""
    path = tmp_path / "sweep.csv"
    path.write_text("task,length,init,method,seed,success,counted\n"
                    "temporal_order,50,smart_tanh,msgd-r,0,True,True\n"
                    "temporal_order,50,smart_tanh,msgd-r,1,False,True\n"
                    "temporal_order,50,smart_tanh,msgd-r,2,,False\n"
                    "temporal_order,50,smart_tanh,msgd-cr,0,True,True\n"
                    "temporal_order,50,smart_tanh,msgd-cr,1,,False\n"
                    "temporal_order,100,smart_tanh,msgd-r,0,False,True\n"
                    "temporal_order,100,smart_tanh,msgd-cr,0,True,True\n"
                    "temporal_order,100,smart_tanh,msgd-cr,1,False,True\n")
    fig = plots.success_rate(path)
    series = {l.get_label(): list(l.get_ydata()) for l in lines(fig.axes[0])}
    assert series == {"MSGD-CR": [1.0, 0.5], "MSGD-R": [0.5, 0.0]}


def test_jacobian_heatmap_of_several_models_shares_one_colour_scale(tmp_path):
    """{label: log10 norms}: one panel per model, every panel on the scale of the largest
    |log10 norm| of all, so that one model's vanishing is not drawn as pale as another's."""
    import matplotlib.pyplot as plt
    a = np.full((3, 3), np.nan)
    a[[0, 1, 2], [0, 1, 2]] = 0.0
    a[1, 0], a[2, 1], a[2, 0] = -1.0, -2.0, -6.0                # vanishing: 1e-6 over two steps
    b = np.where(np.isnan(a), np.nan, 0.5)                       # mildly expanding everywhere
    fig = plots.jacobian_heatmap({"msgd": a, "msgd-cr": b}, path=tmp_path / "h.png", title="both")
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert [ax.get_title() for ax in panels] == ["msgd", "msgd-cr"]
    for ax in panels:
        assert ax.get_images()[0].norm.vmin == -6.0 and ax.get_images()[0].norm.vmax == 6.0
    assert panels[1].get_images()[0].get_array()[2, 0] == 0.5
    assert fig.get_suptitle() == "both" and (tmp_path / "h.png").stat().st_size > 5000
    plt.close(fig)
    with pytest.raises(ValueError, match="no norms to draw"):
        plots.jacobian_heatmap({})
