"""AutoShrink's CNN macro settings (search proxy, ShrinkCNN) and the calls into the core DAG-cell builder.

The models are the core builder's plain functional models of built-in Keras layers (Conv2D,
SeparableConv2D, BatchNormalization, ReLU, Concatenate, MaxPooling2D, Add), so they serialise, export to
SavedModel and convert to TFLite; layer names and weights are those AutoShrink built before the move.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from tfnas.autoshrink.cell import check_cell
from tfnas.builders import dag_cells
from tfnas.builders.dag_cells import CellStack, DagCellBuilder, Stage
from tfnas.builders.ops import OpContext
from tfnas.graph import Architecture


def make_divisible(value: float, divisor: int = 4) -> int:
    """Round `value` to the nearest multiple of `divisor` (at least `divisor`), as the reference does."""
    return max(int(round(value / divisor)), 1) * divisor


@dataclasses.dataclass(frozen=True)
class Macro:
    """How cells are stacked: stem, per-stage scale / repeats / pooling, head, regularisation."""

    scales: Sequence[float] = (1.0, 2.0, 4.0)
    replicate: Sequence[int] = (1, 1, 1)
    pools: Sequence[int] = (1, 2, 2)
    channel_scale: float = 1.0
    stem_filters: int = 32
    stem_strides: int = 1
    head_filters: int = 0          # 0: no 1x1 head conv before global pooling
    residual: bool = True
    weight_decay: float = 1e-5
    dropout: float = 0.0
    bn_momentum: float = 0.9       # Keras' 0.99 lags far behind on proxies with a few steps per epoch

    def __post_init__(self):
        if not (len(self.scales) == len(self.replicate) == len(self.pools)):
            raise ValueError(f"Macro: scales {list(self.scales)}, replicate {list(self.replicate)} and pools "
                             f"{list(self.pools)} must have the same length (one entry per stage)")

    def stage_filters(self, base_filters: int = 16) -> list[int]:
        """Branch filters of each stage: make_divisible(int(base × scale × channel_scale))."""
        return [make_divisible(int(base_filters * s * self.channel_scale)) for s in self.scales]

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in dataclasses.asdict(self).items()}


# The reference's search proxy: 3 stages of one cell, scales 1/2/4, pools 1/2/2, residual, L2 1e-5.
PROXY = Macro()
# ShrinkCNN (reference build_imagenet.py): 5 stages [1,3,4,6,4], scales 16×[.5,1,2,4,8]×1.4, head 1280.
SHRINK_CNN = Macro(scales=(0.5, 1.0, 2.0, 4.0, 8.0), replicate=(1, 3, 4, 6, 4), pools=(1, 2, 2, 2, 2),
                   channel_scale=1.4, stem_filters=32, stem_strides=2, head_filters=1280, residual=True,
                   weight_decay=5e-5)


def apply_cell(x, arch: Architecture, filters: int, strides: int = 1, residual: bool = True,
               weight_decay: float = 0.0, name: str = "cell", bn_momentum: float = 0.9):
    """Apply one AutoShrink cell to `x` through the core builder (concat joins, max-pool reduction)."""
    check_cell(arch)
    return dag_cells.apply_cell(x, arch, filters, strides=strides, residual=residual,
                                ctx=OpContext(weight_decay=weight_decay, bn_momentum=bn_momentum), name=name)


def stack_config(arch: Architecture, macro: Macro = PROXY) -> CellStack:
    """The core builder's `CellStack` for `macro` around `arch` (stage filters from the cell's base filters)."""
    stages = [Stage(f, int(reps), strides=int(pool))
              for reps, pool, f in zip(macro.replicate, macro.pools, macro.stage_filters(cell_base_filters(arch)))]
    return CellStack(stages=stages, stem_filters=make_divisible(macro.stem_filters * macro.channel_scale),
                     stem_strides=macro.stem_strides, head_filters=macro.head_filters, residual=macro.residual,
                     weight_decay=macro.weight_decay, bn_momentum=macro.bn_momentum, dropout=macro.dropout,
                     join="concat", output_join="concat", reduce="max_pool", output="classes")


def cell_base_filters(arch: Architecture) -> int:
    """Per-node filters at scale 1 (the 'filters' attribute of the cell's ops; 16 by default)."""
    values = {int(arch.attrs(n).get("filters", 16)) for n in arch.nodes if n != 0}
    return max(values) if values else 16


def build_cnn(arch: Architecture, input_shape: Sequence[int], num_classes: int, macro: Macro = PROXY,
              name: str = "autoshrink_cnn"):
    """Stem → stages of stacked cells → [1x1 head] → global average pool → logits (no softmax)."""
    check_cell(arch)
    return DagCellBuilder(stack_config(arch, macro)).build(arch, input_shape, num_classes, name=name)


def small_shrink_cnn(width: float = 0.25, depth: Sequence[int] = (1, 1, 2, 2, 1), head_filters: int = 256) -> Macro:
    """A CPU-sized ShrinkCNN: same 5-stage layout, fewer cells, narrower, smaller head, stem stride 1."""
    return dataclasses.replace(SHRINK_CNN, channel_scale=SHRINK_CNN.channel_scale * width, replicate=tuple(depth),
                               head_filters=head_filters, stem_strides=1)
