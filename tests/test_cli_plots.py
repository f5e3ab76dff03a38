"""PNG plots that read right (issue 15 "Plots"): NASRec's search plots put integer ticks on the generation axis and
no offset ("+1.1093e3") on the value axis."""
import pytest


@pytest.fixture
def axes_of(monkeypatch):
    """Run a plot function and return its Axes (drawn, not closed), captured at savefig."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.figure
    seen = []
    original = matplotlib.figure.Figure.savefig

    def savefig(fig, *args, **kwargs):
        original(fig, *args, **kwargs)
        seen.extend(fig.axes)
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return seen


def test_nasrec_search_plots_integer_generations_and_no_offset(tmp_path, axes_of):
    from tfnas.nasrec.plots import plot_metric_vs_flops, plot_search_progress
    plot_search_progress([1109.31, 1109.30, 1109.29], str(tmp_path / "p.png"))
    ax = axes_of[-1]
    ticks = [t for t in ax.get_xticks() if -1 <= t <= 1]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    assert ax.yaxis.get_offset_text().get_text() == ""
    plot_metric_vs_flops([1e4, 2e4, 3e4], [1109.31, 1109.30, 1109.29], str(tmp_path / "f.png"), highlight=[0])
    assert axes_of[-1].yaxis.get_offset_text().get_text() == ""
    assert (tmp_path / "p.png").stat().st_size > 2000 and (tmp_path / "f.png").stat().st_size > 2000


def test_pareto_plot_marks_a_one_model_front_and_labels_flops(tmp_path, axes_of):
    """A front of one model is still drawn (a ring, no line of one point); a narrow FLOPs range is a linear axis
    with more than one labelled tick, a wide one is log."""
    from tfnas.nasrec.pareto import plot_front
    one = {"nasrec_0": {"kind": "nasrec", "flops": 2.1e5, "val_logloss": 0.452},
           "dlrm": {"kind": "baseline", "flops": 2.5e5, "val_logloss": 0.455}}
    plot_front(one, str(tmp_path / "one.png"))
    ax = axes_of[-1]
    assert "Pareto front (one model)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.get_xscale() == "linear"
    assert sum(1 for t in ax.get_xticklabels() if t.get_text()) >= 2
    wide = {**one, "tiny": {"kind": "baseline", "flops": 3e3, "val_logloss": 0.47}}
    plot_front(wide, str(tmp_path / "wide.png"))
    assert axes_of[-1].get_xscale() == "log"
    assert "Pareto front" in [t.get_text() for t in axes_of[-1].get_legend().get_texts()]


def test_cell_drawing_joins_every_leaf_to_the_output(tmp_path, axes_of):
    """A leaf (an active node without active successors) feeds the cell output, so the drawing links each leaf
    to an 'out' box: node 2 below must not read as a dead end."""
    from tfnas.autoshrink.plots import plot_cell
    from tfnas.graph import Architecture
    ops = ["input", "sep_conv_3x3", "conv_1x1", "conv_1x1"]
    arch = Architecture({i: {"op": o} for i, o in enumerate(ops)}, [(0, 1), (0, 2), (1, 3), (0, 3)])
    plot_cell(arch, str(tmp_path / "c.png"))
    ax = axes_of[-1]
    assert [t.get_text() for t in ax.texts if t.get_text() == "out"] == ["out"]
    to_out = [a for a in ax.texts if a.get_text() == "" and hasattr(a, "arrow_patch")]
    assert len(to_out) == 2                     # leaves 2 and 3
    assert ax.get_title().startswith("cell: 4 edges, 4 active nodes")
