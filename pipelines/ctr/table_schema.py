"""The declared layout of a user's own click table (TensorFlow-free, so `tfnas data` commands stay fast).

Keys of a schema JSON (see configs/click_log_example.schema.json):
  label            column; a number, > 0 means click (counts allowed)
  dense            numeric columns (empty or a missing token = missing)
  categorical      string / id columns
  multi_valued     columns holding several values, e.g. "Action|Comedy": a name, or
                   {"name", "sep" (any string, default "|"), "slots" (default 3), "sort" (default false)}
  missing_values   tokens read as missing in every feature column, e.g. ["?", "NA", "null"]
  vocab_sizes      {column: table size}; a multi-valued column's size applies to each of its slots
  default_vocab_size   table size of every other categorical column (default 100000)
  file_format      "auto" (from the extension) | "csv" | "tsv" | "parquet";  delimiter (CSV, default ",")
Every mistake raises SchemaError naming the key, e.g. `multi_valued[0].slots: expected a positive integer`.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
from typing import Sequence

from pipelines.ctr.schema import FeatureSpec

NUMBER = re.compile(r"\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\s*")
SEPARATOR_WORDS = {"pipe": "|", "comma": ",", "colon": ":", "semicolon": ";", "space": " ", "tab": "\t",
                   "slash": "/"}
DEFAULT_VOCAB = 100_000


class SchemaError(ValueError):
    """A table schema mistake; the message names the key (and the file when loaded from one)."""


def _names(value, key: str, what: str = "column name") -> tuple[str, ...]:
    if isinstance(value, str):
        raise SchemaError(f"{key}: expected a list of {what}s, got the string {value!r}")
    if not isinstance(value, (list, tuple)):
        raise SchemaError(f"{key}: expected a list of {what}s, got {type(value).__name__}")
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v:
            raise SchemaError(f"{key}[{i}]: expected a {what} (non-empty string), got {v!r}")
    return tuple(value)


def _positive_int(value, key: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SchemaError(f"{key}: expected an integer >= {low}, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class MultiValued:
    """A column holding up to `slots` values separated by `sep` (any non-empty string)."""

    name: str
    sep: str = "|"
    slots: int = 3
    sort: bool = False

    @classmethod
    def parse(cls, value, key: str) -> MultiValued:
        """From a schema entry: a column name, or an object with name/sep/slots/sort."""
        if isinstance(value, MultiValued):
            return value
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict):
            raise SchemaError(f"{key}: expected a column name or an object with 'name', got {value!r}")
        unknown = sorted(set(value) - {"name", "sep", "slots", "sort"})
        if unknown:
            raise SchemaError(f"{key}: unknown keys {unknown} (allowed: name, sep, slots, sort)")
        if not isinstance(value.get("name"), str) or not value.get("name"):
            raise SchemaError(f"{key}.name: expected a column name, got {value.get('name')!r}")
        sep = value.get("sep", "|")
        if not isinstance(sep, str) or not sep:
            raise SchemaError(f"{key}.sep: expected a non-empty string, got {sep!r}")
        sort = value.get("sort", False)
        if not isinstance(sort, bool):
            raise SchemaError(f"{key}.sort: expected true or false, got {sort!r}")
        return cls(value["name"], SEPARATOR_WORDS.get(sep, sep), _positive_int(value.get("slots", 3), f"{key}.slots"),
                   sort)

    @classmethod
    def from_flag(cls, text: str) -> MultiValued:
        """`NAME`, `NAME:SEP` or `NAME:SEP:SLOTS`; SEP is everything between the first ':' and a trailing
        ':<digits>', so `tags:,`, `tags:::2` (sep ':') and `genres:|` all work; words such as `pipe`,
        `comma`, `colon`, `semicolon`, `space`, `tab` name separators too."""
        name, colon, rest = text.partition(":")
        if not name:
            raise SchemaError(f"--multi {text!r}: expected NAME[:SEP[:SLOTS]]")
        if not colon:
            return cls(name)
        m = re.fullmatch(r"(.+):([0-9]+)", rest, re.S)
        sep, slots = (m.group(1), int(m.group(2))) if m else (rest, 3)
        if not sep:
            raise SchemaError(f"--multi {text!r}: empty separator; write e.g. {name}:| or {name}:comma")
        if slots < 1:
            raise SchemaError(f"--multi {text!r}: slots must be >= 1")
        return cls(name, SEPARATOR_WORDS.get(sep, sep), slots)

    def tokens(self, value: str, missing: frozenset = frozenset()) -> list[str]:
        """The first `slots` tokens of a cell (sorted first when `sort`), missing tokens dropped."""
        toks = [t for t in value.split(self.sep) if t and t not in missing] if value else []
        if self.sort:
            toks.sort()
        return toks[:self.slots]


@dataclasses.dataclass(frozen=True)
class TableSchema:
    """Declared layout of a user's click table."""

    label: str
    dense: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    multi_valued: tuple[MultiValued, ...] = ()
    file_format: str = "auto"          # "csv" | "tsv" | "parquet" | "auto" (from the file extension)
    delimiter: str = ","
    vocab_sizes: dict = dataclasses.field(default_factory=dict)  # per column (or slot); others: the default
    default_vocab_size: int = DEFAULT_VOCAB
    missing_values: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.label, str) or not self.label:
            raise SchemaError(f"label: expected a column name, got {self.label!r}")
        set_ = object.__setattr__
        set_(self, "dense", _names(self.dense, "dense"))
        set_(self, "categorical", _names(self.categorical, "categorical"))
        mv = self.multi_valued
        if isinstance(mv, (str, dict)) or not isinstance(mv, (list, tuple)):
            raise SchemaError(f"multi_valued: expected a list of column names or objects, got {mv!r}")
        set_(self, "multi_valued", tuple(MultiValued.parse(m, f"multi_valued[{i}]") for i, m in enumerate(mv)))
        if self.file_format not in ("csv", "tsv", "parquet", "auto"):
            raise SchemaError(f"file_format: expected csv, tsv, parquet or auto, got {self.file_format!r}")
        if self.file_format == "tsv":
            set_(self, "delimiter", "\t")
        if self.delimiter in ("\\t", "tab"):
            set_(self, "delimiter", "\t")
        if not isinstance(self.delimiter, str) or len(self.delimiter) != 1:
            raise SchemaError(f"delimiter: expected one character, got {self.delimiter!r}")
        set_(self, "missing_values",
             _names(self.missing_values, "missing_values", "missing-value token") if self.missing_values else ())
        _positive_int(self.default_vocab_size, "default_vocab_size", 2)
        if not isinstance(self.vocab_sizes, dict):
            raise SchemaError(f"vocab_sizes: expected an object {{column: size}}, got {self.vocab_sizes!r}")
        sparse = set(self.categorical) | set(self.sparse_names) | {m.name for m in self.multi_valued}
        for k, v in self.vocab_sizes.items():
            if k not in sparse:
                raise SchemaError(f"vocab_sizes.{k}: not a categorical or multi-valued column "
                                  f"(those are {sorted(self.categorical + tuple(m.name for m in self.multi_valued))})")
            _positive_int(v, f"vocab_sizes.{k}", 2)
        seen = {}
        for key in ("label", "dense", "categorical", "multi_valued"):
            cols = [self.label] if key == "label" else ([m.name for m in self.multi_valued]
                                                         if key == "multi_valued" else getattr(self, key))
            for c in cols:
                if c in seen:
                    raise SchemaError(f"{key}: column {c!r} is already declared under {seen[c]}")
                seen[c] = key

    # ------------------------------------------------------------------ derived layout
    @property
    def sparse_names(self) -> tuple[str, ...]:
        return self.categorical + tuple(f"{m.name}_{i + 1}" for m in self.multi_valued for i in range(m.slots))

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns read from the file."""
        return (self.label, *self.dense, *self.categorical, *(m.name for m in self.multi_valued))

    def check_header(self, header: Sequence[str], where: str) -> None:
        """A declared column missing from the file's header is an error naming the schema key that declares it."""
        keys = [("label", [self.label]), ("dense", self.dense), ("categorical", self.categorical),
                ("multi_valued", [m.name for m in self.multi_valued])]
        missing = [f"{key}: {c!r}" for key, cols in keys for c in cols if c not in header]
        if missing:
            raise ValueError(f"{where}: schema column(s) not in the header ({'; '.join(missing)}); "
                             f"header: {list(header)}")

    def vocab_size(self, sparse_name: str) -> int:
        """Table size of one sparse feature (a slot `tags_2` inherits the size given for `tags`)."""
        if sparse_name in self.vocab_sizes:
            return int(self.vocab_sizes[sparse_name])
        for m in self.multi_valued:
            if sparse_name.startswith(m.name + "_") and m.name in self.vocab_sizes:
                return int(self.vocab_sizes[m.name])
        return int(self.default_vocab_size)

    def spec(self) -> FeatureSpec:
        """The FeatureSpec this table produces."""
        names = self.sparse_names
        return FeatureSpec(self.dense, names, tuple(self.vocab_size(n) for n in names), label_name=self.label)

    def with_default_vocab(self, size: int | None) -> TableSchema:
        """The same schema with another default table size (the `--vocab-size` flag); None keeps it."""
        return self if size is None else dataclasses.replace(self, default_vocab_size=size)

    def format_of(self, path: str) -> str:
        if self.file_format != "auto":
            return self.file_format
        base = os.path.basename(path).lower()
        for ext in (".gz", ".bz2"):
            base = base[:-len(ext)] if base.endswith(ext) else base
        ext = os.path.splitext(base)[1]
        return {".parquet": "parquet", ".pq": "parquet", ".tsv": "tsv"}.get(ext, "csv")

    def delimiter_of(self, path: str) -> str:
        return "\t" if self.format_of(path) == "tsv" else self.delimiter

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["dense"], d["categorical"] = list(self.dense), list(self.categorical)
        d["multi_valued"] = [dataclasses.asdict(m) for m in self.multi_valued]
        d["missing_values"] = list(self.missing_values)
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "table schema") -> TableSchema:
        if not isinstance(d, dict):
            raise SchemaError(f"{where}: expected a JSON object with at least 'label', got {type(d).__name__}")
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise SchemaError(f"{where}: unknown keys {unknown} (allowed: "
                              f"{', '.join(f.name for f in dataclasses.fields(cls))})")
        if "label" not in d:
            raise SchemaError(f"{where}: key 'label' (the click column) is required")
        try:
            return cls(**d)
        except SchemaError as exc:
            raise SchemaError(f"{where}: {exc}") from None

    @classmethod
    def load(cls, path: str) -> TableSchema:
        """Read a schema JSON file."""
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise SchemaError(f"{path}:{e.lineno}: invalid JSON: {e.msg}") from None
        return cls.from_dict(data, where=path)

    @classmethod
    def from_flags(cls, label: str, dense: str = "", categorical: str = "", multi: str | Sequence[str] = "",
                   delimiter: str = ",", vocab_size: int = DEFAULT_VOCAB, missing: str = "") -> TableSchema:
        """From CLI flags: comma lists of columns; `multi` one `NAME[:SEP[:SLOTS]]` per item (a list, for a
        repeated --multi flag; a plain string is one item, so a ',' separator is expressible)."""
        def split(text: str) -> tuple[str, ...]:
            return tuple(x.strip() for x in text.split(",") if x.strip())

        items = [multi] if isinstance(multi, str) else list(multi or ())
        mv = tuple(MultiValued.from_flag(m) for m in items if m)
        return cls(label, split(dense), split(categorical), mv, delimiter=delimiter, default_vocab_size=vocab_size,
                   missing_values=split(missing))

    # ------------------------------------------------------------------ row checks (used by `data split`)
    def header_index(self, header: Sequence[str], where: str) -> dict[str, int]:
        """{column: position} for the declared columns; a missing one is an error naming the file."""
        self.check_header(header, where)
        return {c: list(header).index(c) for c in self.columns}


def split_row(line: str, delimiter: str) -> list[str]:
    """Fields of one CSV/TSV line; quoted fields (with the delimiter inside) take the slow csv path."""
    if '"' in line:
        return next(csv.reader([line], delimiter=delimiter))
    return line.split(delimiter)


class RowChecker:
    """The table reader's row checks for text lines: field count, label, dense numbers (missing tokens
    allowed); `check(fields)` returns (reason code, message) for a bad row, else None."""

    def __init__(self, schema: TableSchema, header: Sequence[str], where: str):
        self.schema = schema
        self.n_fields = len(header)
        self.index = schema.header_index(header, where)
        self.missing = frozenset(schema.missing_values) | {""}

    def check(self, fields: Sequence[str]) -> tuple[int, str] | None:
        if len(fields) > self.n_fields:
            return 1, f"expected {self.n_fields} fields, found {len(fields)}"
        label = self.field(fields, self.schema.label)
        if label == "" or not NUMBER.fullmatch(label) or float(label) < 0:
            return 3, f"field {self.schema.label}: {label!r} is not a non-negative number"
        for c in self.schema.dense:
            v = self.field(fields, c)
            if v not in self.missing and not NUMBER.fullmatch(v):
                return 2, f"field {c}: {v!r} is not a number"
        return None

    def field(self, fields: Sequence[str], column: str) -> str:
        i = self.index[column]
        return fields[i] if i < len(fields) else ""   # too few fields: trailing values empty, like pandas
