"""Table schema: multi-valued columns with any separator, missing tokens, vocab sizes, one-line errors that
name the key; serving input names for awkward column names (all TensorFlow-free)."""
import json

import pytest

from pipelines.ctr.table_schema import MultiValued, SchemaError, TableSchema


@pytest.mark.parametrize("flag,want", [
    ("genres:|", ("genres", "|", 3)),
    ("genres", ("genres", "|", 3)),
    ("tags:,:5", ("tags", ",", 5)),
    ("tags:::2", ("tags", ":", 2)),
    ("tags::", ("tags", ":", 3)),
    ("cats:pipe:4", ("cats", "|", 4)),
    ("kw:comma", ("kw", ",", 3)),
    ("kw: ", ("kw", " ", 3)),
    ("tags:|:2", ("tags", "|", 2)),
])
def test_multi_flag_any_separator(flag, want):
    m = MultiValued.from_flag(flag)
    assert (m.name, m.sep, m.slots) == want


@pytest.mark.parametrize("flag", ["genres:", ":|", "g:|:0"])
def test_multi_flag_errors_are_clean(flag):
    with pytest.raises(SchemaError, match="--multi"):
        MultiValued.from_flag(flag)


def test_repeated_multi_flags_and_missing():
    s = TableSchema.from_flags("y", "a", "c", ["g:|", "k:,:2"], missing="?,NA")
    assert s.sparse_names == ("c", "g_1", "g_2", "g_3", "k_1", "k_2")
    assert s.missing_values == ("?", "NA")
    assert MultiValued("g", "|", 2).tokens("b|?|a|c", frozenset({"?"})) == ["b", "a"]
    assert MultiValued("g", "|", 2, sort=True).tokens("b|a|c") == ["a", "b"]


def test_multi_valued_as_plain_names_and_vocab_sizes():
    s = TableSchema.from_dict({"label": "y", "categorical": ["u"], "multi_valued": ["genres"],
                               "vocab_sizes": {"u": 50, "genres": 20}, "default_vocab_size": 1000})
    assert s.multi_valued == (MultiValued("genres"),)
    spec = s.spec()
    assert spec.sparse_names == ("u", "genres_1", "genres_2", "genres_3")
    assert spec.vocab_sizes == (50, 20, 20, 20)
    assert s.with_default_vocab(77).spec().vocab_sizes == (50, 20, 20, 20)
    assert TableSchema("y", (), ("a", "b"), vocab_sizes={"a": 9}).with_default_vocab(77).spec().vocab_sizes == (9, 77)
    assert TableSchema.from_dict(s.to_dict()) == s
    json.dumps(s.to_dict())


@pytest.mark.parametrize("schema,key", [
    ({"label": "y", "multi_valued": "genres"}, "multi_valued"),
    ({"label": "y", "multi_valued": [{"name": "g", "sep": ""}]}, r"multi_valued\[0\]\.sep"),
    ({"label": "y", "multi_valued": [{"name": "g", "slots": "3"}]}, r"multi_valued\[0\]\.slots"),
    ({"label": "y", "multi_valued": [{"name": "g", "separator": "|"}]}, r"multi_valued\[0\]: unknown keys"),
    ({"label": "y", "multi_valued": [3]}, r"multi_valued\[0\]"),
    ({"label": "y", "dense": "a,b"}, "dense: expected a list"),
    ({"label": "y", "categorical": ["a", 3]}, r"categorical\[1\]"),
    ({"label": "y", "categorical": ["a"], "vocab_sizes": {"b": 10}}, r"vocab_sizes\.b: not a categorical"),
    ({"label": "y", "categorical": ["a"], "vocab_sizes": {"a": 1}}, r"vocab_sizes\.a: expected an integer >= 2"),
    ({"label": "y", "categorical": ["a"], "vocab_sizes": [10]}, "vocab_sizes: expected an object"),
    ({"label": "y", "default_vocab_size": "big"}, "default_vocab_size"),
    ({"label": "y", "missing_values": "?"}, "missing_values"),
    ({"label": "y", "dense": ["a"], "categorical": ["a"]}, "categorical: column 'a' is already declared under dense"),
    ({"label": "y", "dense": ["y"]}, "dense: column 'y' is already declared under label"),
    ({"label": "y", "file_format": "xlsx"}, "file_format"),
    ({"label": "y", "delimiter": ",,"}, "delimiter"),
    ({"label": "y", "colums": []}, r"unknown keys \['colums'\]"),
    ({"dense": ["a"]}, "'label'"),
    (["y"], "expected a JSON object"),
])
def test_schema_mistakes_name_the_key(tmp_path, schema, key):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(schema))
    with pytest.raises(SchemaError, match=key) as e:
        TableSchema.load(str(path))
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_schema_bad_json_names_file_line(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"label": "y",\n "dense": [a]}')
    with pytest.raises(SchemaError, match=r"s\.json:2: invalid JSON"):
        TableSchema.load(str(path))


def test_cli_schema_error_is_one_line(tmp_path, capsys):
    from tfnas.cli import main
    (tmp_path / "t.csv").write_text("y,g\n1,a|b\n")
    (tmp_path / "s.json").write_text(json.dumps({"label": "y", "multi_valued": [{"name": "g", "slots": 0}]}))
    assert main(["data", "split", str(tmp_path / "t.csv"), "--format", "table", "--schema", str(tmp_path / "s.json"),
                 "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "multi_valued[0].slots: expected an integer >= 1, got 0" in err


def test_signature_names_keep_valid_and_sanitise_the_rest():
    from pipelines.ctr.schema import FeatureSpec
    from tfnas.export.ctr import describe_renames, signature_names
    spec = FeatureSpec(("I1", "capital-gain", "capital_gain"), ("device type", "1st"), (10, 10))
    names = signature_names(spec)
    assert names == {"I1": "I1", "capital-gain": "capital_gain_2", "capital_gain": "capital_gain",
                     "device type": "device_type", "1st": "f_1st"}
    assert len(set(names.values())) == len(names)
    assert "'device type' -> 'device_type'" in describe_renames(spec)
    assert describe_renames(FeatureSpec(("I1",), ("C1",), (10,))) is None


def test_broken_table_schema_in_dataset_json_names_file_and_key(tmp_path):
    """A hand-edited dataset.json with a bad table_schema: one line naming the file and the key."""
    import json

    from pipelines.ctr.dataset import make_split_dataset
    from pipelines.ctr.schema import FeatureSpec, save_spec
    (tmp_path / "train.csv").write_text("clicked,price\n1,2\n")
    (tmp_path / "valid.csv").write_text("clicked,price\n0,3\n")
    save_spec(tmp_path, FeatureSpec(("price",), (), ()),
              {"format": "table", "table_schema": {"label": "clicked", "dense": "price"}})
    with pytest.raises(ValueError, match=r"dataset\.json: table_schema: dense: expected a list of column names"):
        make_split_dataset(tmp_path, "train", 4)
    info = json.loads((tmp_path / "dataset.json").read_text())
    del info["table_schema"]
    (tmp_path / "dataset.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match=r"dataset\.json: table_schema: expected a JSON object"):
        make_split_dataset(tmp_path, "train", 4)
