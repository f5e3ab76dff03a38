"""`tfnas data synth|infer-schema|split|index|inspect`: synthetic CTR data, a schema guessed from your own click
table, 8:1:1 splits (stratified, by time or by group), hand-made folders described, files inspected.

No data command imports TensorFlow (a split of a few MB takes seconds); inspect streams through the row
reader that split uses.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

FORMATS = ("criteo", "avazu", "kdd12", "table")


def register(subparsers) -> None:
    """Add the `data` command group."""
    p = subparsers.add_parser("data", help="CTR data: synthetic generator, stratified split, inspection")
    sub = p.add_subparsers(dest="data_command", metavar="{synth,infer-schema,split,index,inspect,cache}")
    sub.required = True

    s = sub.add_parser("synth", help="write Criteo-format data from a planted click model (+ Bayes logloss)",
                       description="Deterministic in (--rows, --seed): the project's default CTR data.")
    s.add_argument("--out", default="data/generated/ctr_default", help="output directory")
    s.add_argument("--rows", type=int, default=200_000, help="total rows over train/valid/test")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--ratios", default="8:1:1", help="train:valid:test")
    s.add_argument("--base-ctr", type=float, default=None, help="target click rate (default 0.22)")
    for name in ("first_order", "pairwise", "triple", "dense"):
        s.add_argument(f"--{name.replace('_', '-')}", type=float, default=None,
                       help=f"std of the {name.replace('_', '-')} logit effects (strength)")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=_synth)

    inf = sub.add_parser("infer-schema", help="guess a table schema JSON (label, dense, categorical, multi-valued, "
                                              "missing tokens, vocab sizes) from a CSV/TSV to edit",
                         description="Read the first rows of a CSV/TSV (plain, .gz or .bz2) and write a table schema "
                                     "for --format table; every guess is printed with its reason.")
    inf.add_argument("input", help="CSV/TSV file with a header line")
    inf.add_argument("--out", default=None, help="schema file to write (default: <input name>.schema.json here)")
    inf.add_argument("--label", default=None, help="label column (default: guessed)")
    inf.add_argument("--delimiter", default=None, help="field delimiter (default: sniffed from the header)")
    inf.add_argument("--max-rows", type=int, default=100_000, help="rows to look at")
    inf.add_argument("--vocab-size", type=int, default=100_000, help="largest table size per categorical column")
    inf.add_argument("--force", action="store_true", help="overwrite an existing --out")
    inf.set_defaults(func=_infer_schema)

    sp = sub.add_parser("split", help="seeded, streaming train/valid/test split: label-stratified, --by-time or "
                                      "--by-group",
                        description="Split click logs into OUT/train|valid|test.<ext> + spec.json + dataset.json "
                                    "(layout: pipelines/ctr/folder.py).  Rows are checked as the readers check "
                                    "them; inputs are never modified.")
    sp.add_argument("input", nargs="+", help="input file(s) (plain, gzip or bz2), read in order")
    sp.add_argument("--out", required=True, help="output directory")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--format", choices=FORMATS, default="criteo")
    sp.add_argument("--ratios", default="8:1:1", help="train:valid:test")
    by = sp.add_mutually_exclusive_group()
    by.add_argument("--by-time", metavar="COLUMN", default=None,
                    help="past rows to train, later ones to valid, the latest to test (numbers or ISO 8601 times)")
    by.add_argument("--by-group", metavar="COLUMN", default=None,
                    help="all rows with one value (e.g. a user id) go to the same split")
    _table_flags(sp)
    sp.add_argument("--bad-rows", choices=("error", "skip"), default="error",
                    help="a malformed row stops the split (error) or is dropped and counted (skip)")
    sp.add_argument("--no-progress", action="store_true")
    sp.set_defaults(func=_split)

    ca = sub.add_parser("cache", help="write a binary cache of a data folder (parsed and hashed once); "
                        "`--data DIR2` trains from it", description="Parse and hash every split of a data folder "
                        "once into .npy shards (pipelines/ctr/cache.py); atomic per shard, resumable, the input is "
                        "never modified.  Unlike the other data commands it loads TensorFlow (its hashing).")
    ca.add_argument("--data", required=True, help="data folder (tfnas data synth / split / index output)")
    ca.add_argument("--out", required=True, help="cache folder to write (resumes a partial one)")
    ca.add_argument("--shard-rows", type=int, default=262_144, help="rows per .npy shard")
    ca.add_argument("--bad-rows", choices=("error", "skip"), default="error",
                    help="a malformed row stops the cache (error) or is dropped (skip)")
    ca.add_argument("--no-progress", action="store_true")
    ca.set_defaults(func=_cache)

    ix = sub.add_parser("index", help="describe a data folder you made yourself (writes spec.json, dataset.json)",
                        description="Check the train/valid/test files of a hand-made folder row by row and write "
                                    "its spec.json and dataset.json (layout: pipelines/ctr/folder.py).")
    ix.add_argument("dir", help="folder with train.<ext>, valid.<ext>, test.<ext>")
    ix.add_argument("--format", choices=FORMATS, default="table")
    _table_flags(ix)
    ix.add_argument("--bad-rows", choices=("error", "skip"), default="error")
    ix.set_defaults(func=_index)

    i = sub.add_parser("inspect", help="rows, CTR, missing rate and approx. distinct values per field")
    i.add_argument("path", nargs="+", help="file(s), or one data directory (its train split)")
    i.add_argument("--format", choices=FORMATS, default=None,
                   help="input format (default: from dataset.json, else criteo)")
    i.add_argument("--max-rows", type=int, default=None, help="stop after this many rows")
    i.add_argument("--head", type=int, default=5, help="first rows to show")
    i.add_argument("--bad-rows", choices=("error", "skip"), default="error")
    i.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _table_flags(i)
    i.set_defaults(func=_inspect)


def _table_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("table format (your own CSV/TSV/Parquet)")
    g.add_argument("--schema", default=None,
                   help="table schema JSON: write one with `tfnas data infer-schema FILE`; keys: "
                        "configs/click_log_example.schema.json, pipelines/ctr/table_schema.py")
    g.add_argument("--label", default=None, help="label column (instead of --schema)")
    g.add_argument("--dense", default="", help="comma list of dense columns")
    g.add_argument("--categorical", default="", help="comma list of categorical columns")
    g.add_argument("--multi", action="append", default=[], metavar="NAME[:SEP[:SLOTS]]",
                   help="a multi-valued column, e.g. genres:| or tags:,:5 or cats:colon (repeat the flag per "
                        "column; default separator |, 3 slots)")
    g.add_argument("--missing", default="", help="comma list of missing-value tokens, e.g. '?,NA,null'")
    g.add_argument("--delimiter", default=",", help="CSV delimiter (TSV: use a .tsv file or '\\t')")
    g.add_argument("--vocab-size", type=int, default=None,
                   help="table size of every categorical column without its own vocab_sizes entry (default 100000)")


def _table_schema(args):
    if args.format != "table":
        return None
    from pipelines.ctr.table_schema import DEFAULT_VOCAB, TableSchema
    flags = [f for f in ("label", "dense", "categorical", "multi", "missing") if getattr(args, f)]
    if args.schema:
        if flags:
            raise ValueError(f"--schema and --{', --'.join(flags)} do not go together: edit the schema file instead")
        return TableSchema.load(args.schema).with_default_vocab(args.vocab_size)
    if not args.label:
        raise ValueError("--format table needs --schema FILE (see `tfnas data infer-schema`) or --label "
                         "(with --dense/--categorical/--multi)")
    delim = "\t" if args.delimiter in ("\\t", "tab") else args.delimiter
    return TableSchema.from_flags(args.label, args.dense, args.categorical, args.multi, delimiter=delim,
                                  vocab_size=args.vocab_size or DEFAULT_VOCAB, missing=args.missing)


def _cache(args) -> int:
    if args.shard_rows < 1:
        raise ValueError(f"--shard-rows must be >= 1, got {args.shard_rows}")
    from pipelines.ctr.folder import load_info, load_spec, split_paths
    load_spec(args.data), split_paths(args.data)              # a clear error before TensorFlow loads
    import time

    from tqdm.auto import tqdm

    from pipelines.ctr.cache import write_cache
    start = time.time()
    total = load_info(args.data).get("rows")                  # all splits together, when the folder says
    bar = tqdm(total=total if isinstance(total, int) else None, desc="cache", unit=" rows", unit_scale=True,
               disable=args.no_progress)
    done = {}

    def progress(split, rows):
        done[split] = rows
        bar.update(sum(done.values()) - bar.n)
    try:
        manifest = write_cache(args.data, args.out, args.shard_rows, bad_rows=args.bad_rows, progress=progress)
    finally:
        bar.close()
    rows = ", ".join(f"{s} {v['rows']:,}" for s, v in manifest["splits"].items())
    print(f"wrote {args.out}: cache of {args.data} ({rows} rows) in {time.time() - start:.1f}s; "
          f"train with --data {args.out}")
    return 0


def _synth(args) -> int:
    import dataclasses

    from pipelines.ctr.split import parse_ratios
    from pipelines.ctr.synthetic import ClickModelConfig, write_synthetic
    overrides = {k: getattr(args, k) for k in ("first_order", "pairwise", "triple", "dense")
                 if getattr(args, k) is not None}
    if args.base_ctr is not None:
        overrides["base_ctr"] = args.base_ctr
    config = dataclasses.replace(ClickModelConfig(), **overrides)
    bayes = write_synthetic(args.out, args.rows, args.seed, config, parse_ratios(args.ratios),
                            progress=not args.no_progress)
    print(f"wrote {args.out}: Criteo format, spec.json, dataset.json, bayes.json")
    print(f"{'split':<7}{'rows':>9}{'ctr':>8}{'bayes_ll':>10}{'true_p_ll':>11}{'base_ll':>9}")
    for split, b in bayes.items():
        print(f"{split:<7}{b['rows']:>9}{b['ctr']:>8.4f}{b['bayes_logloss']:>10.4f}"
              f"{b['true_p_logloss']:>11.4f}{b['base_rate_logloss']:>9.4f}")
    return 0


def _infer_schema(args) -> int:
    from pipelines.ctr.compressed import plain_name
    from pipelines.ctr.infer import infer_schema
    schema, notes = infer_schema(args.input, label=args.label, delimiter=args.delimiter, max_rows=args.max_rows,
                                 default_vocab_size=args.vocab_size)
    out = args.out or os.path.splitext(os.path.basename(plain_name(args.input)))[0] + ".schema.json"
    if os.path.exists(out) and not args.force:
        raise FileExistsError(f"{out}: exists; pass --force to overwrite it (or --out another file)")
    if os.path.realpath(out) == os.path.realpath(args.input):
        raise ValueError(f"{out}: is the input; choose another --out")
    tmp = f"{out}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(schema.to_dict(), f, indent=1)
        f.write("\n")
    os.replace(tmp, out)
    for note in notes:
        print(f"  {note}")
    print(f"wrote {out}: label {schema.label!r}, {len(schema.dense)} dense, {len(schema.categorical)} categorical, "
          f"{len(schema.multi_valued)} multi-valued columns; edit it, then `tfnas data split {args.input} "
          f"--format table --schema {out} --out DIR`")
    return 0


def _split(args) -> int:
    from pipelines.ctr.badrows import BadRowReport
    from pipelines.ctr.schema import save_spec
    from pipelines.ctr.split import split_files
    from tfnas.runlock import RunLock
    schema = _table_schema(args)
    if schema is not None:
        spec, line_fmt = schema.spec(), None
    else:
        from pipelines.ctr.formats import default_spec
        spec = default_spec(args.format)
        line_fmt = _split_line_format(args.format, spec, args.input)
    report = BadRowReport()
    created = not os.path.exists(args.out)
    try:
        with RunLock(args.out, "tfnas data split"):
            out = split_files(args.input, args.out, args.format, args.seed, args.ratios, table_schema=schema,
                              progress=not args.no_progress, line_format=line_fmt, bad_rows=args.bad_rows,
                              report=report, by_time=args.by_time, by_group=args.by_group)
            info = {"format": args.format, "source": list(args.input), **out}
            if schema is not None:
                info["table_schema"] = schema.to_dict()
            save_spec(args.out, spec, info)
    except BaseException:
        if created and os.path.isdir(args.out) and not os.listdir(args.out):
            os.rmdir(args.out)   # a failed split leaves nothing behind, not even its empty folder
        raise
    if report.total or report.counts:
        print(f"tfnas: warning: {report.summary()}; e.g. " + "; ".join(report.examples), file=sys.stderr)
    print(json.dumps({"out": args.out, **out}))
    return 0


def _split_line_format(fmt: str, spec, inputs):
    """The reader's row checks for `fmt` (its layout detected from the first input, plain or compressed)."""
    from pipelines.ctr.formats import LINE_MODULES, check_format
    if fmt not in LINE_MODULES:
        return None
    return check_format(fmt, spec, [p for p in inputs if os.path.isfile(p)])


def _index(args) -> int:
    from pipelines.ctr.badrows import BadRowReport
    from pipelines.ctr.index import index_folder
    report = BadRowReport()
    info = index_folder(args.dir, args.format, _table_schema(args), bad_rows=args.bad_rows, report=report)
    if report.counts:
        print(f"tfnas: warning: {report.summary()}; e.g. " + "; ".join(report.examples), file=sys.stderr)
    print(json.dumps({"dir": args.dir, "rows": info["rows"], "positives": info["positives"]}))
    return 0


def _inspect(args) -> int:
    from pipelines.ctr.folder import load_info, load_spec, split_paths
    from pipelines.ctr.formats import default_spec
    from pipelines.ctr.stats import format_report, inspect_files
    paths, spec, fmt, info = list(args.path), None, args.format, {}
    if len(paths) == 1 and os.path.isdir(paths[0]):
        data_dir = paths[0]
        info = load_info(data_dir)
        fmt = fmt or info.get("format", "criteo")
        spec = load_spec(data_dir)
        paths = split_paths(data_dir)["train"]
    elif spec is None and os.path.exists(os.path.join(os.path.dirname(os.path.abspath(paths[0])), "spec.json")):
        data_dir = os.path.dirname(os.path.abspath(paths[0]))  # a file inside a synth/split output
        info = load_info(data_dir)
        fmt = fmt or info.get("format", "criteo")
        if fmt != "table":
            spec = load_spec(data_dir)
    fmt = fmt or "criteo"
    args.format = fmt
    if fmt == "table" and not (args.schema or args.label) and info.get("table_schema"):
        from pipelines.ctr.table_schema import TableSchema
        schema = TableSchema.from_dict(info["table_schema"], where=f"{data_dir}/dataset.json: table_schema")
    else:
        schema = _table_schema(args)
    if spec is None:
        spec = schema.spec() if schema is not None else default_spec(fmt)
    stats = inspect_files(paths, fmt, spec, max_rows=args.max_rows, head=args.head, bad_rows=args.bad_rows,
                          table_schema=schema)
    print(json.dumps(stats, indent=1) if args.json else format_report(stats))
    return 0
