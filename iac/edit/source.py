"""A stack file's bytes as written, and writing an edited version of them back.

Everything a YAML library would normalise is kept: a byte order mark, CRLF line breaks, a
missing final newline. The file is read as bytes and written as bytes; the text the edits
work on is the decoded file without its byte order mark.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass

from iac.errors import IacError

BOM = "\ufeff"
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
"""YAML 1.1's line breaks, as PyYAML and libyaml count lines."""


@dataclass(frozen=True)
class Source:
    """One stack file as read from disk."""

    path: str
    raw: bytes
    bom: str
    """The byte order mark the file starts with, or ''."""
    body: str
    """The decoded text after the byte order mark: what the edits change."""

    @property
    def newline(self) -> str:
        """The file's line break (its first one; `\\n` in a file of one line)."""
        found = _LINE_BREAK.search(self.body)
        return found.group() if found else "\n"

    def encode(self, body: str) -> bytes:
        """The file's bytes with `body` in place of its text."""
        return (self.bom + body).encode("utf-8")


def read(path: str) -> Source:
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # the loader reported it already, located
        raise IacError(f"{path} is not valid UTF-8; save it as UTF-8") from None
    bom = BOM if text.startswith(BOM) else ""
    return Source(path, raw, bom, text[len(bom) :])


def write_atomically(source: Source, data: bytes) -> None:
    """Replace the file with `data` in one rename, unless it changed since it was read."""
    with open(source.path, "rb") as handle:
        current = handle.read()
    if hashlib.sha256(current).digest() != hashlib.sha256(source.raw).digest():
        raise IacError(
            f"{source.path} changed on disk while iac was editing it; nothing was written. "
            "Run the command again."
        )
    directory = os.path.dirname(os.path.abspath(source.path))
    handle_fd, temp = tempfile.mkstemp(prefix=".iac-", suffix=".yaml", dir=directory)
    try:
        with os.fdopen(handle_fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp, os.stat(source.path).st_mode & 0o777)
        os.replace(temp, source.path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def unified_diff(path: str, before: str, after: str) -> str:
    """The unified diff of two versions of a file, line breaks as written (a CRLF line
    shows its CR) and a last line without a break marked as `diff` and `git` mark it."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=path,
        tofile=path,
    )
    return "".join(
        line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n"
        for line in lines
    )
