"""`iac render -o DIR`: one file per object, named so that name order is apply order, and a
record of the files iac wrote, so that it replaces and removes those and nothing else.

Users commit the folder for Argo CD or Flux, or run `kubectl apply -f DIR`; all of them read
every `.yaml`, `.yml` and `.json` file in it, in name (byte) order. So:

- **Names.** An object is `RR-KIND-NAME.EXT`, or `RR-KIND-NAMESPACE.NAME.EXT` when it has a
  namespace; `RR` is its kind's rank in `iac.compile.APPLY_ORDER` (`01-ec2nodeclass-...`,
  `04-namespace-models.yaml`, `12-deployment-models.llama-3-8b-v1.yaml`). Name order is
  apply order at any size, and a file's name depends on its object alone: a stack that grows
  from 10 to 10,000 objects renames no file. Objects of one kind sort by namespace and name,
  in byte order (where `llama-v1.yaml` comes before `llama.yaml`, unlike the compiler's
  order): the order of objects of one kind does not matter to the API server. A namespace
  holds no `.`, so no two objects get one name.
  A cloud resource is `cloud/PROVIDER-KIND-NAME.EXT` (`cloud/gcp-nodepool-gpu-h100.yaml`).
- **The record.** `DIR/.iac-render` (JSON; a name none of those tools reads as a manifest)
  lists the files the render wrote, with the stack (relative to DIR) and iac's version. A
  recorded file is iac's: rewritten when its object changes, removed when the object leaves
  the stack (and `cloud/` with its last file, when nothing else is in it). Any other file is
  the user's: never removed, never overwritten; a render whose file name is taken by such a
  file is refused, naming it. Files at other names are kept, and the ones kubectl reads
  are named on stderr (they are applied with the stack's).
- **No record yet** (a folder rendered by an iac that kept none, with `NNN-kind-...` names,
  or whose record was deleted): a file is taken as iac's when it holds one object labelled
  `app.kubernetes.io/managed-by: iac` under the name iac gives that object, in either
  naming (for a cloud resource: its `type` and `name` give its file name). Those not in the
  render are removed, so an old render's objects are not applied again; anything else is
  the user's, as above.
- **Only changes are written.** A file is written only when its bytes differ from what is
  on disk (a file that was there is replaced through a temporary file renamed over it, so
  it is never seen half-written): an unchanged render touches nothing, mtimes included.
  Before a render adds files it records them (with the files it is about to remove), so an
  interrupted render leaves every file it wrote recorded, and the next one, of whatever
  stack, finishes the job.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from iac.compile import APPLY_ORDER
from iac.compile.labels import MANAGED_BY
from iac.errors import IacError
from iac.render import yaml_text
from iac.render.text import to_json

RECORD = ".iac-render"
"""The record of the files `iac render -o` wrote, in the output folder."""
CLOUD_DIR = "cloud"
"""Subfolder of the output folder holding the cloud resources (kubectl does not descend)."""

_RANK = {kind: f"{rank:02d}" for rank, kind in enumerate(APPLY_ORDER, start=1)}
"""Kind → the two-digit prefix of its files: its place in apply order."""
assert len(_RANK) < 100, "file names hold a two-digit rank"
_UNSAFE = re.compile(r"[^a-z0-9.-]")
_ENTRY = re.compile(r"(?:cloud/)?[a-z0-9][a-z0-9.-]*\.(?:yaml|json)")
"""A file name iac writes (either naming): what a record may list, and what may be iac's."""
_LEGACY = re.compile(r"\d{3,}-(.+)")
"""An earlier iac's names: `{index:03d}-` (growing to four digits and more), then the rest."""
_MANIFEST = (".yaml", ".yml", ".json")
"""Extensions kubectl, Argo CD and Flux read in a folder."""
_TEMPORARY = ".iac-tmp"
"""Suffix of the temporary file a write goes through (`.NAME.iac-tmp`)."""
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def file_name(obj: Mapping[str, Any], fmt: str = "yaml") -> str:
    """`12-deployment-models.llama-3-8b-v3.yaml`: kind rank, kind, namespace, name."""
    kind = obj["kind"]
    rank = _RANK.get(kind)
    if rank is None:
        raise ValueError(f"kind {kind!r} has no place in iac.compile.APPLY_ORDER")
    metadata = obj["metadata"]
    name = _clean(metadata["name"])
    if "namespace" in metadata:
        name = f"{_clean(metadata['namespace'])}.{name}"
    return f"{rank}-{_clean(kind)}-{name}.{fmt}"


def cloud_file_name(resource: Mapping[str, Any], fmt: str = "yaml") -> str:
    """`gcp-nodepool-gpu-h100.yaml`: provider, resource kind and name (in `cloud/`)."""
    return _cloud_stem(resource) + "." + fmt


def _clean(text: str) -> str:
    return _UNSAFE.sub("-", text.lower())


def _cloud_stem(resource: Mapping[str, Any]) -> str:
    token = resource["type"]
    provider, kind = token.split(":", 1)[0], token.rsplit(":", 1)[-1].lower()
    return _UNSAFE.sub("-", f"{provider}-{kind}-{resource['name']}")


def _legacy_rest(obj: Mapping[str, Any], fmt: str) -> str:
    """An earlier iac's name of an object, after its `NNN-` index."""
    metadata = obj["metadata"]
    parts = [obj["kind"].lower()]
    if "namespace" in metadata:
        parts.append(metadata["namespace"])
    parts.append(metadata["name"])
    return _UNSAFE.sub("-", "-".join(parts)) + "." + fmt


@dataclass(frozen=True, slots=True)
class DirectoryRender:
    """What `write_directory` did. Paths are relative to the folder (`cloud/...`)."""

    objects: int
    cloud: int
    written: tuple[str, ...]
    """Files created or rewritten (their content changed)."""
    unchanged: int
    """Files of the render already holding exactly its content (left untouched)."""
    removed: tuple[str, ...]
    """Files iac wrote that the render no longer has."""
    adopted: int
    """Of `removed`: files of an earlier render without a record, found by their content."""
    kept: tuple[str, ...]
    """Manifests (`.yaml`, `.yml`, `.json`) in the folder that iac did not write, left as
    they are; `kubectl apply -f DIR` applies them too."""
    previous_stack: str | None
    """The stack the record named (relative to the folder) when it differs from this
    render's, else None."""


class FolderConflict(IacError):
    """Files the render would overwrite that iac did not write."""

    def __init__(self, directory: str, paths: list[str], *, recorded: bool) -> None:
        shown = [os.path.join(directory, p) for p in paths]
        one = len(paths) == 1
        it = "it" if one else "them"
        record = os.path.join(directory, RECORD)
        why = (
            f"not in {record}"
            if recorded
            else f"there is no {record}, and it holds no object iac renders under that name"
        )
        listed = "".join(f"\n  {p}" for p in shown[:10])
        more = "" if len(shown) <= 10 else f"\n  ... and {len(shown) - 10} more"
        super().__init__(
            f"iac render: {len(paths)} file{'' if one else 's'} in {directory} would be "
            f"overwritten, and iac did not write {it} ({why}):{listed}{more}\n"
            f"Nothing was written. Move {it} out of {directory} (or delete {it}) and render "
            f"again:\n  rm {' '.join(shlex.quote(p) for p in shown)}"
        )


def write_directory(
    objects: Iterable[dict[str, Any]],
    directory: str,
    fmt: str = "yaml",
    *,
    cloud: Iterable[dict[str, Any]] = (),
    stack: str | None = None,
    version: str = "",
) -> DirectoryRender:
    """Make `directory` hold the render: one file per object and per cloud resource (in
    `cloud/`), the record, and whatever else the user keeps there (see the module's
    docstring). `stack` and `version` go into the record. Raises FolderConflict, before
    writing anything, when a file of the render is taken by a file iac did not write."""
    items, resources = list(objects), list(cloud)
    files = _planned(items, resources, fmt)
    writer = yaml_text.Writer()

    def content(item: dict[str, Any]) -> bytes:
        return (to_json(item) if fmt == "json" else writer.dump(item)).encode()

    record_path = os.path.join(directory, RECORD)
    record = _read_record(record_path, directory)
    owned = set(record["files"]) if record is not None else set()
    present, folders = _listing(directory)
    _refuse_conflicts(directory, files, content, record is not None, owned, present, folders)
    removed, adopted, kept = _leftovers(directory, files, record is not None, owned, present)
    stack_entry = _relative(stack, directory) if stack is not None else None

    os.makedirs(directory, exist_ok=True)
    if files.keys() - owned or adopted:
        # Record what is about to be written or removed first: interrupted anywhere after
        # this, every file iac wrote is in the record, and the next render finishes.
        interim = sorted(owned | files.keys() | set(adopted))
        _write(record_path, _record_bytes(version, stack_entry, interim))
    if resources:
        os.makedirs(os.path.join(directory, CLOUD_DIR), exist_ok=True)
    written, unchanged = _write_files(directory, files, content, present)
    _remove(directory, removed)
    new_record = _record_bytes(version, stack_entry, sorted(files))
    if not _holds(record_path, new_record):
        _write(record_path, new_record)

    previous = record["stack"] if record is not None else None
    return DirectoryRender(
        objects=len(items),
        cloud=len(resources),
        written=tuple(written),
        unchanged=unchanged,
        removed=tuple(removed),
        adopted=len(adopted),
        kept=tuple(kept),
        previous_stack=previous if previous not in (None, stack_entry) else None,
    )


def _refuse_conflicts(
    directory: str,
    files: dict[str, dict[str, Any]],
    content: Callable[[dict[str, Any]], bytes],
    recorded: bool,
    owned: set[str],
    present: set[str],
    folders: set[str],
) -> None:
    """Raise FolderConflict for a file of the render at a name iac did not record (or a
    folder there): refused, unless it holds the same bytes, or (no record yet) what iac
    renders under that name."""
    conflicts = sorted(files.keys() & folders)
    for rel in sorted((files.keys() & present) - owned):
        same = _holds(os.path.join(directory, rel), content(files[rel]))
        if not same and (recorded or not _rendered_by_iac(directory, rel)):
            conflicts.append(rel)
    if conflicts:
        raise FolderConflict(directory, conflicts, recorded=recorded)


def _leftovers(
    directory: str,
    files: dict[str, dict[str, Any]],
    recorded: bool,
    owned: set[str],
    present: set[str],
) -> tuple[list[str], list[str], list[str]]:
    """The files present that this render does not write: those to remove (iac wrote them
    before, or, with no record yet, they look rendered by iac: adopted), the adopted among
    them, and the manifests kept (the user's own, at the top of the folder)."""
    others = present - files.keys()
    stale = sorted(others & owned)
    adopted = (
        []
        if recorded
        else sorted(r for r in others if _ENTRY.fullmatch(r) and _rendered_by_iac(directory, r))
    )
    kept = sorted(
        r for r in others - owned - set(adopted) if "/" not in r and r.endswith(_MANIFEST)
    )
    return stale + adopted, adopted, kept


def _write_files(
    directory: str,
    files: dict[str, dict[str, Any]],
    content: Callable[[dict[str, Any]], bytes],
    present: set[str],
) -> tuple[list[str], int]:
    """Write each file of the render whose bytes changed: the files written, and how many
    were left as they were."""
    written, unchanged = [], 0
    for rel, item in files.items():
        data, path = content(item), os.path.join(directory, rel)
        if rel not in present:
            _write(path, data, replace=False)
        elif _holds(path, data):
            unchanged += 1
            continue
        else:
            _write(path, data)
        written.append(rel)
    return written, unchanged


def _remove(directory: str, removed: list[str]) -> None:
    """Remove the files the render no longer holds, and the cloud folder if that empties it."""
    for rel in removed:
        with contextlib.suppress(FileNotFoundError):  # gone already: nothing to do
            os.remove(os.path.join(directory, rel))
    cloud_folder = os.path.join(directory, CLOUD_DIR)
    emptied = any(r.startswith(CLOUD_DIR + "/") for r in removed)
    if emptied and os.path.isdir(cloud_folder) and not os.listdir(cloud_folder):
        os.rmdir(cloud_folder)  # iac emptied it; a folder holding a user's file stays


def _planned(
    objects: list[dict[str, Any]], resources: list[dict[str, Any]], fmt: str
) -> dict[str, dict[str, Any]]:
    """File (relative path) → what it holds: objects in apply order, then cloud resources.
    Raises IacError when two would share a file (which the compiler should have refused)."""
    files: dict[str, dict[str, Any]] = {}
    for obj in objects:
        metadata = obj["metadata"]
        what = f"{obj['kind']} {metadata.get('namespace', '')}/{metadata['name']}"
        _claim(files, file_name(obj, fmt), obj, what)
    for resource in resources:
        name = f"{CLOUD_DIR}/{cloud_file_name(resource, fmt)}"
        _claim(files, name, resource, f"{resource['type']} {resource['name']}")
    return files


def _claim(files: dict[str, dict[str, Any]], name: str, item: dict[str, Any], what: str) -> None:
    found = files.setdefault(name, item)
    if found is not item:
        raise IacError(f"iac render: two objects would be written to {name}; the second: {what}")


def _listing(directory: str) -> tuple[set[str], set[str]]:
    """Files (relative paths) in the folder and in its `cloud/`, and the subfolders of
    either. Removes temporary files an interrupted write left (`.NAME.iac-tmp`)."""
    files: set[str] = set()
    folders: set[str] = set()
    for prefix in ("", CLOUD_DIR + "/"):
        try:
            scan = os.scandir(os.path.join(directory, prefix))
        except (FileNotFoundError, NotADirectoryError):
            continue
        with scan:
            for entry in scan:
                rel = prefix + entry.name
                if entry.is_dir():
                    folders.add(rel)
                elif entry.name.startswith(".") and entry.name.endswith(_TEMPORARY):
                    os.remove(entry.path)
                else:
                    files.add(rel)
    return files, folders


def _holds(path: str, data: bytes) -> bool:
    """Whether the file at `path` holds exactly `data` (reads at most one byte more)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, IsADirectoryError):
        return False
    try:
        chunks, size, limit = [], 0, len(data) + 1
        while size < limit:
            chunk = os.read(fd, limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks) == data


def _write(path: str, data: bytes, *, replace: bool = True) -> None:
    """Write `data` to `path`. `replace`: through a temporary file renamed over it, so a
    file that was there is never seen half-written. A new file is written in place (half
    the cost); an interrupted render leaves it recorded, and the next one rewrites it."""
    folder, name = os.path.split(path)
    temporary = os.path.join(folder, f".{name}{_TEMPORARY}") if replace else path
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    if replace:
        os.replace(temporary, path)


def _rendered_by_iac(directory: str, rel: str) -> bool:
    """Whether the file holds what iac renders under its name: one object labelled
    `managed-by: iac` whose name (either naming) is the file's, or, in `cloud/`, a cloud
    resource whose type and name give the file's name."""
    path = os.path.join(directory, rel)
    folder, name = posixpath.split(rel)
    fmt = name.rpartition(".")[2]
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        data = json.loads(text) if fmt == "json" else _yaml_head(text, folder == CLOUD_DIR)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError):
        return False
    if not isinstance(data, dict):
        return False
    legacy = _LEGACY.fullmatch(name)
    try:
        if folder == CLOUD_DIR:
            if not isinstance(data.get("type"), str) or not isinstance(data.get("name"), str):
                return False
            ours = _cloud_stem(data) + "." + fmt
            return name == ours or (legacy is not None and legacy.group(1) == ours)
        metadata = data.get("metadata")
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str):
            return False
        labels = metadata.get("labels")
        if not isinstance(labels, dict) or labels.get(MANAGED_BY) != "iac":
            return False
        if legacy is not None and legacy.group(1) == _legacy_rest(data, fmt):
            return True
        return name == file_name(data, fmt)
    except (KeyError, TypeError, AttributeError, ValueError):
        return False


def _yaml_head(text: str, cloud: bool) -> Any:
    """The keys before the object's body, read without parsing the rest (a large
    Deployment takes a thousand times longer): `apiVersion`, `kind` and the `metadata`
    block, or a cloud resource's `type` and `name`. A file holding several documents is
    not one iac wrote."""
    if "\n---" in text or "\n..." in text:
        return None
    if cloud:
        end = text.find("\nproperties:")
    else:
        start = text.find("\nmetadata:\n")
        if start < 0:
            return None
        after = re.compile(r"\n[^ \n]").search(text, start + len("\nmetadata:\n"))
        end = after.start() if after else len(text)
    return yaml.load(text[: end if end >= 0 else len(text)], Loader=_Loader)


def _relative(stack: str, directory: str) -> str:
    """The stack's path as the record holds it: relative to the folder, `/`-separated (the
    same on every clone of a repository holding both)."""
    relative = os.path.relpath(os.path.abspath(stack), os.path.abspath(directory))
    return relative.replace(os.sep, "/")


def _record_bytes(version: str, stack: str | None, files: list[str]) -> bytes:
    record = {
        "about": (
            "Written by `iac render -o`: the files it wrote in this folder, which it "
            "replaces and removes; it leaves every other file alone. Do not edit."
        ),
        "iac": version,
        "stack": stack,
        "files": files,
    }
    return (json.dumps(record, indent=1) + "\n").encode()


def _read_record(path: str, directory: str) -> dict[str, Any] | None:
    """The record in the folder, None when there is none; an IacError when it cannot be
    trusted (it decides which files are removed)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad_record(path, directory, str(exc)) from exc
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise _bad_record(path, directory, f"not JSON: {exc}") from exc
    if not isinstance(record, dict) or not isinstance(record.get("files"), list):
        raise _bad_record(path, directory, "no `files` list")
    for entry in record["files"]:
        if not isinstance(entry, str) or not _ENTRY.fullmatch(entry):
            raise _bad_record(path, directory, f"{entry!r} is not a file name iac writes")
    if not isinstance(record.get("stack"), str | None):
        raise _bad_record(path, directory, "`stack` is not a path")
    return record


def _bad_record(path: str, directory: str, reason: str) -> IacError:
    return IacError(
        f"iac render: {path} is not a record iac can trust ({reason}). It lists the files "
        f"iac wrote in {directory}, the ones it may replace or remove. Delete it to render "
        "again: iac then takes as its own only the files holding an object it renders, "
        "under the name it gives that object, and leaves every other file alone."
    )
