"""`tfnas` command line: one sub-command group per area, each registered by a module in tfnas/commands/."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMAND_MODULES = ("data", "ctr", "export", "nasrec", "autoshrink", "eda")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfnas", description="Neural architecture search on TensorFlow/Keras: NASRec (CTR), AutoShrink, "
                                  "routability data from a real EDA flow.")
    parser.add_argument("--version", action="version", version=f"tfnas {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"tfnas.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tfnas.commands.{name}":
                continue  # area not installed in this build
            raise
        module.register(subparsers)
    return parser


def _version() -> str:
    from tfnas import __version__
    return __version__


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        if os.environ.get("TFNAS_DEBUG"):
            raise
        print(f"tfnas: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
