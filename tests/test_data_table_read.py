"""The table reader with missing-value tokens and gzip/bz2 input (the tf.data side of the click-log path)."""
import bz2
import gzip
import math

import numpy as np

from pipelines.ctr.dataset import make_dataset
from pipelines.ctr.table_schema import TableSchema

ROWS = ["y,price,region,tags", "1,?,NA,a|?|b", "0,2.5,north,", "1,3,?,c"]
SCHEMA = TableSchema("y", ("price",), ("region",), ({"name": "tags", "sep": "|", "slots": 2},),
                     missing_values=("?", "NA"))


def read(path):
    batch = next(iter(make_dataset(str(path), "table", SCHEMA.spec(), 8, table_schema=SCHEMA, processed=False)))
    return {k: v.numpy() for k, v in batch.items()}


def test_missing_tokens_and_compressed_tables(tmp_path):
    text = "\n".join(ROWS) + "\n"
    (tmp_path / "t.csv").write_text(text)
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "t.csv.bz2").write_bytes(bz2.compress(text.encode()))
    plain = read(tmp_path / "t.csv")
    assert math.isnan(plain["dense"][0, 0]) and plain["dense"][1, 0] == 2.5
    assert plain["categorical"].tolist() == [[b"", b"a", b"b"], [b"north", b"", b""], [b"", b"c", b""]]
    for name in ("t.csv.gz", "t.csv.bz2"):
        other = read(tmp_path / name)
        np.testing.assert_array_equal(other["categorical"], plain["categorical"])
        np.testing.assert_array_equal(np.isnan(other["dense"]), np.isnan(plain["dense"]))
    processed = next(iter(make_dataset(str(tmp_path / "t.csv.gz"), "table", SCHEMA.spec(), 8, table_schema=SCHEMA)))
    assert processed["sparse"].numpy()[0, 0] == 0 and processed["dense"].numpy()[0, 0] == 0.0  # missing -> bucket 0
