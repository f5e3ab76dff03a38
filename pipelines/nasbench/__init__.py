"""Tabular NAS benchmarks: the NAS-Bench-201 table of PyPI `analog-nasbench` and the NAS-Bench-101 tfrecord.

Both readers return plain Python rows (no tfnas types): `pipelines/` never imports `tfnas/`.
"""
from pipelines.nasbench.nb101 import model_metrics_class, read_nb101, write_nb101_records
from pipelines.nasbench.nb201 import (EDGES, OPS, convert_nb201, default_cache_dir, infer_mapping,
                                      load_nb201)

__all__ = ["EDGES", "OPS", "convert_nb201", "default_cache_dir", "infer_mapping", "load_nb201",
           "model_metrics_class", "read_nb101", "write_nb101_records"]
