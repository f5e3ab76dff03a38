"""`tfnas data infer-schema`: label, dense vs categorical, multi-valued by separator, missing tokens, time
columns left out, vocab sizes; the written schema loads and splits (TensorFlow-free)."""
import json

import pytest

from pipelines.ctr.example_log import write_example_log
from pipelines.ctr.infer import infer_schema
from pipelines.ctr.table_schema import MultiValued, TableSchema


def test_infer_example_log(tmp_path):
    path = write_example_log(str(tmp_path / "clicks.csv"), 600, 0)
    schema, notes = infer_schema(path)
    assert schema.label == "clicked"
    assert schema.dense == ("price", "capital-gain")
    assert schema.categorical == ("user_id", "ad-id", "device type", "region")
    assert schema.multi_valued == (MultiValued("genres", "|", 3),)
    assert schema.missing_values == ("?", "NA")
    assert "ts: left out (a time column; split on it with --by-time ts)" in notes
    assert schema.vocab_sizes["device type"] == 2 * 4 + 1 and schema.vocab_sizes["genres"] == 2 * 8 + 1
    assert TableSchema.from_dict(schema.to_dict()) == schema


def test_infer_ratings_tsv_with_comma_genres_and_weak_missing(tmp_path):
    rows = ["userId\tmovieId\trating\tliked\tgenres\ttimestamp\tyear"]
    for i in range(200):
        genres = ",".join(["Drama", "Comedy", "War"][: 1 + i % 3])
        year = "-" if i % 10 == 0 else str(1950 + i % 60)
        rows.append(f"{i % 17}\t{100 + i % 23}\t{1 + i % 5}\t{int(i % 5 >= 3)}\t{genres}\t{1_600_000_000 + i}\t{year}")
    (tmp_path / "ratings.tsv").write_text("\n".join(rows) + "\n")
    schema, notes = infer_schema(str(tmp_path / "ratings.tsv"))
    assert schema.delimiter == "\t" and schema.label == "liked"
    assert schema.categorical == ("userId", "movieId")       # numeric ids stay categorical
    assert schema.dense == ("rating", "year") and schema.missing_values == ("-",)
    assert schema.multi_valued == (MultiValued("genres", ",", 3),)
    assert any(n.startswith("timestamp: left out") for n in notes)
    schema2, _ = infer_schema(str(tmp_path / "ratings.tsv"), label="rating")
    assert schema2.label == "rating" and "liked" in schema2.dense


def test_infer_errors(tmp_path):
    (tmp_path / "a.csv").write_text("a,b\nx,1.5\ny,2.5\n")
    with pytest.raises(ValueError, match="cannot guess the label column.*--label"):
        infer_schema(str(tmp_path / "a.csv"))
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(ValueError, match="file is empty"):
        infer_schema(str(tmp_path / "e.csv"))
    with pytest.raises(ValueError, match=r"--label 'z' is not a column"):
        infer_schema(str(tmp_path / "a.csv"), label="z")


def test_cli_infer_writes_editable_schema_and_refuses_overwrite(tmp_path, capsys, monkeypatch):
    from tfnas.cli import main
    path = write_example_log(str(tmp_path / "clicks.csv"), 300, 1)
    monkeypatch.chdir(tmp_path)
    assert main(["data", "infer-schema", path, "--vocab-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "genres: multi-valued, separator '|'" in out and "wrote clicks.schema.json" in out
    data = json.loads((tmp_path / "clicks.schema.json").read_text())
    assert data["default_vocab_size"] == 8 and data["vocab_sizes"]["user_id"] == 8   # capped by --vocab-size
    assert main(["data", "infer-schema", path]) == 1
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["data", "split", path, "--format", "table", "--schema", "clicks.schema.json", "--out", "d",
                 "--no-progress"]) == 0
    assert json.loads((tmp_path / "d" / "spec.json").read_text())["vocab_sizes"][:2] == [8, 8]
