"""Describe a data folder made by hand (`tfnas data index`): check every row of its train/valid/test files
the way `tfnas data split` does, count rows and clicks, and write its spec.json and dataset.json.

The files themselves are only read.  A folder that already has a dataset.json is refused (it is described).
"""
from __future__ import annotations

import os

from pipelines.ctr.badrows import BadRowError, BadRowReport, check_policy
from pipelines.ctr.folder import SPLITS, split_paths
from pipelines.ctr.formats import check_format, default_spec
from pipelines.ctr.schema import save_spec
from pipelines.ctr.split import _Reader, apply_bad_row_policy


def index_folder(data_dir: str, fmt: str, table_schema=None, bad_rows: str = "error",
                 report: BadRowReport | None = None) -> dict:
    """Check and count `data_dir`'s split files; write spec.json and dataset.json; return the dataset info."""
    check_policy(bad_rows)
    report = report if report is not None else BadRowReport()
    data_dir = os.fspath(data_dir)
    if os.path.exists(os.path.join(data_dir, "dataset.json")):
        raise FileExistsError(f"{os.path.join(data_dir, 'dataset.json')}: exists; this folder is already described")
    if fmt == "table" and table_schema is None:
        raise ValueError("index: --format table needs --schema FILE (see `tfnas data infer-schema`) or --label")
    paths = split_paths(data_dir)
    for split in ("train", "valid"):
        if not paths[split]:
            raise FileNotFoundError(f"{data_dir}: no {split} file (expected {split}.csv, {split}.txt, ...)")
    if fmt == "table":
        spec, line_format = table_schema.spec(), None
    else:
        spec = default_spec(fmt)
        line_format = check_format(fmt, spec, paths["train"])
    reader = _Reader(fmt, table_schema, line_format, None, None)
    rows, pos = {}, {}
    for split in SPLITS:
        rows[split] = pos[split] = 0
        for path in paths[split]:
            for _, _, start, (keep, labels, _, problems) in reader.read(path, bad_rows, report):
                apply_bad_row_policy(problems, path, start, bad_rows, report)
                rows[split] += int(keep.sum())
                pos[split] += int(labels[keep].sum())
    if rows["train"] == 0:
        raise BadRowError(f"{data_dir}: 0 usable training rows ({report.summary()})")
    info = {"format": fmt, "source": "tfnas data index", "rows": rows, "positives": pos,
            "bad_rows": report.to_dict()}
    if table_schema is not None:
        info["table_schema"] = table_schema.to_dict()
    save_spec(data_dir, spec, info)
    return info
