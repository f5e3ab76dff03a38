"""Every command's --help states each option's default (issue: defaults were only in the source)."""
import argparse

from tfnas.cli import build_parser


def _leaf_parsers(parser, path=()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from _leaf_parsers(child, path + (name,))


def test_every_option_default_is_in_its_help():
    missing, checked = [], 0
    for path, parser in _leaf_parsers(build_parser()):
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            if (not action.option_strings or action.default in (None, False, argparse.SUPPRESS)
                    or isinstance(action.default, (list, tuple)) or "default" in (action.help or "").lower()
                    or action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction)):
                continue
            checked += 1
            if str(action.default) not in text:
                missing.append(f"tfnas {' '.join(path)} {action.option_strings[0]} (default {action.default!r})")
    assert checked > 50 and not missing, missing


def test_every_option_says_what_it_does():
    """No option is left with no text or with its default alone (shared options take tfnas/option_help.py)."""
    bare = []
    for path, parser in _leaf_parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            text = (action.help or "").strip()
            if not text or text.lower().startswith("default:"):
                bare.append(f"tfnas {' '.join(path)} {action.option_strings[0]}")
    assert not bare, bare
