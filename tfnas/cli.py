"""`tfnas` command line: one sub-command group per area, each registered by a module in tfnas/commands/."""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

COMMAND_MODULES = ("data", "ctr", "export", "nasrec", "autoshrink", "eda", "nasgem", "routability", "routenas",
                   "flnet")


class _DefaultsHelp(argparse.HelpFormatter):
    """Each option's help ends with its default (none shown for options without one)."""

    def _get_help_string(self, action):
        text = (action.help or "").strip()
        if (action.default in (None, argparse.SUPPRESS) or "default" in text.lower() or not action.option_strings
                or action.default is False and action.nargs == 0):
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Every (sub)command's --help shows each option's default: sub-parsers are made with the parent's
    class, so this reaches all of them without each command module asking for it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _DefaultsHelp)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        # argparse prints nothing for an option without help text, so its default would stay hidden: shared
        # options get their common text (tfnas/option_help.py), any other its default at least
        if kwargs.get("help") is None and args and str(args[0]).startswith("-"):
            from tfnas.option_help import COMMON_HELP
            long_name = next((a for a in args if str(a).startswith("--")), args[0])
            if long_name in COMMON_HELP:
                kwargs["help"] = COMMON_HELP[long_name]
            elif kwargs.get("default") not in (None, False):
                kwargs["help"] = "default: %(default)s"
        return super().add_argument(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tfnas", description="Neural architecture search on TensorFlow/Keras: NASRec (CTR), AutoShrink, "
                                  "routability data from a real EDA flow.")
    parser.add_argument("--version", action="version", version=f"tfnas {_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (also: TFNAS_DEBUG=1)")
    parser.add_argument("--verbose", dest="tf_verbose", action="store_true",
                        help="keep TensorFlow's start-up and C++ log lines (hidden by default)")
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


def quiet_tensorflow(verbose: bool = False) -> None:
    """Hide TensorFlow's start-up noise (CUDA factory lines on CPU, oneDNN notes, deprecation warnings) unless
    `verbose`; must run before TensorFlow is imported.  Real errors still reach the user as exceptions."""
    if verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import logging
    import warnings
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    for module in ("tensorflow", "keras", "tensorflow_recommenders", "tensorflow_federated"):
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
        warnings.filterwarnings("ignore", category=UserWarning, module=module)


def _version() -> str:
    from tfnas import __version__
    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_tensorflow(verbose=getattr(args, "tf_verbose", False))
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(_locked(func, args) or 0)
    except KeyboardInterrupt:
        if _debug(args):
            raise
        print("tfnas: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our stdout went away (`tfnas ... | head`): stop quietly, as Unix tools do.
        _silence_stdout()
        return 141
    except Exception as exc:  # noqa: BLE001 - every error is one line unless --debug
        if _debug(args):
            raise
        print(f"tfnas: error: {error_line(exc)}", file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise BrokenPipeError again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# Long commands that own a run folder, and the argument naming it: one writer per folder (tfnas/runlock.py).
# A sub-command can also declare its own with `set_defaults(lock_arg="out")`.  `data split` locks in its handler.
LOCKED = {("ctr", "train"): "logdir", ("ctr", "leaderboard"): "logdir", ("autoshrink", "search-cnn"): "out",
          ("autoshrink", "search-rnn"): "out", ("eda", "generate"): "out"}


def _locked(func, args):
    """Run `func(args)` holding the run lock of its run folder, if the command has one."""
    sub = getattr(args, f"{args.command}_command", None) if args.command else None
    arg = getattr(args, "lock_arg", None) or LOCKED.get((args.command, sub))
    folder = getattr(args, arg, None) if arg else None
    if not folder:
        return func(args)
    from tfnas.runlock import RunLock
    with RunLock(folder, f"tfnas {args.command} {sub}"):
        return func(args)


# Errors whose message is the whole story (file:line: field: reason); others get their type name and a hint.
_EXPECTED = (ValueError, OSError, RuntimeError)


def error_line(exc: BaseException) -> str:
    """One line for the user: the message of an expected error, else `Type: message (--debug ...)`."""
    if isinstance(exc, RecursionError):
        return "input nested too deeply to process (rerun with --debug for the traceback)"
    if isinstance(exc, FileNotFoundError) and exc.filename and str(exc.filename) not in str(exc.strerror or ""):
        return f"{exc.filename}: {exc.strerror or 'no such file'}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, _EXPECTED):
        return text
    inner = _input_error_inside_tensorflow(str(exc))
    if inner is not None:
        return inner
    return f"{type(exc).__name__}: {text} (rerun with --debug for the traceback)"


# A reader's error raised inside a tf.data py_function reaches Python wrapped in a TensorFlow OpError
# whose message holds the whole inner traceback; its last line is "<module>.<Error>: <message>".
_WRAPPED_INPUT_ERROR = re.compile(r"^\S*\b(BadRowError|SchemaError|DataError): (.+)$", re.MULTILINE)


def _input_error_inside_tensorflow(message: str):
    """The file:line message of a reader error wrapped by TensorFlow, else None."""
    found = _WRAPPED_INPUT_ERROR.findall(message)
    return found[-1][1].strip() if found else None


def _debug(args) -> bool:
    return bool(getattr(args, "debug", False) or os.environ.get("TFNAS_DEBUG"))

if __name__ == "__main__":
    sys.exit(main())
