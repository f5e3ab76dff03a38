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
