"""Editing a stack file in place: comments, order, quoting and indentation kept, written
atomically, and never over a change someone else made meanwhile."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.util import load_yaml_guess_indent

from iac.errors import IacError


@dataclass
class Document:
    """A stack file loaded for editing."""

    path: str
    text: str
    data: Any
    yaml: YAML

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def dump(self) -> str:
        out = io.StringIO()
        self.yaml.dump(self.data, out)
        return out.getvalue()


def load(path: str) -> Document:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    _, indent, block_seq_indent = load_yaml_guess_indent(text)
    yaml = YAML()  # round-trip mode: comments and layout survive
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines
    indent = indent or 2
    offset = block_seq_indent or 0
    yaml.indent(mapping=indent, sequence=indent + offset, offset=offset)
    return Document(path, text, yaml.load(text), yaml)


def write_atomically(document: Document, text: str) -> None:
    """Replace the file with `text` in one rename, unless it changed since it was read."""
    with open(document.path, encoding="utf-8") as handle:
        current = handle.read()
    if hashlib.sha256(current.encode()).hexdigest() != document.digest:
        raise IacError(
            f"{document.path} changed on disk while iac was editing it; nothing was written. "
            "Run the command again."
        )
    directory = os.path.dirname(os.path.abspath(document.path))
    handle_fd, temp = tempfile.mkstemp(prefix=".iac-", suffix=".yaml", dir=directory)
    try:
        with os.fdopen(handle_fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, os.stat(document.path).st_mode & 0o777)
        os.replace(temp, document.path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
