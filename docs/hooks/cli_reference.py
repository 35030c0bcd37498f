"""MkDocs hook: the command line's reference, generated from `kt_wandb.cli`'s own argparse parser at build time."""

from __future__ import annotations

import argparse
from typing import Any

MARKER = "<!-- cli-reference -->"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps its subcommands there; no public accessor
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_reference() -> str:
    """Markdown: `kt-wandb --help`, then each subcommand's help, in a section of its own."""
    from kt_wandb.cli import _parser

    parser = _parser()
    parts = [f"```text\n{parser.format_help()}```\n"]
    for name, sub in _subparsers(parser).items():
        parts.append(f"## kt-wandb {name}\n\n```text\n{sub.format_help()}```\n")
    return "\n".join(parts)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return markdown.replace(MARKER, cli_reference()) if MARKER in markdown else markdown
