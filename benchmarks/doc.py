"""Put a benchmark's figures into its section of a markdown file, keeping the text around it."""

from __future__ import annotations

import re
from pathlib import Path


def replace_section(path: Path, name: str, text: str) -> None:
    """Replace what is between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->` in
    `path` with `text`; append the section (with its markers) when there is none."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    section = f"{start}\n{text.rstrip()}\n{end}"
    current = path.read_text() if path.exists() else ""
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: section, current, count=1)
    else:
        updated = (current.rstrip() + "\n\n" if current.strip() else "") + section + "\n"
    path.write_text(updated)


def section_rows(path: Path, name: str) -> list[str]:
    """The table rows (lines starting `| ` and a digit) now in section `name` of `path`."""
    text = path.read_text() if path.exists() else ""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    if start not in text or end not in text:
        return []
    section = text.split(start, 1)[1].split(end, 1)[0]
    return [line for line in section.splitlines() if line[:2] == "| " and line[2:3].isdigit()]
