"""`iac render -o DIR`: the folder holds exactly the stack's objects, in files whose name
order is apply order, plus the user's own files; iac writes only what changed."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.generate import large_stack
from iac.cli import cli
from iac.compile import APPLY_ORDER, Compiled, compile_stack
from iac.program.project import iac_version
from iac.render import directory
from iac.render.directory import RECORD, cloud_file_name, file_name
from iac.render.text import to_json, to_yaml
from iac.validate import check_stack

ROOT = Path(__file__).resolve().parents[2]
GKE = ROOT / "examples" / "06-gke" / "stack.yaml"
SECRET = "apiVersion: v1\nkind: Secret\nmetadata: {name: my-secret, namespace: models}\n"
USER_FILES = {
    "050-my-secret.yaml": SECRET,  # numbered as iac numbered its files before
    "099-deployment-models-gone.yaml": "stale",  # iac's old naming, not iac's content
    "kustomization.yaml": "resources: []\n",
    "README.md": "# Rendered by iac\n",
    "cloud/notes.md": "node pools are created by `iac up`\n",
}
CLUSTER_SCOPED = {"EC2NodeClass", "NodePool", "PriorityClass", "Namespace"}


def _stack(tmp_path: Path, models: int, *, gke: bool = False) -> Path:
    """A generated stack of `models` models (about 17 objects each); on GKE, one node pool
    (a cloud resource, in DIR/cloud/)."""
    text = large_stack(models)
    if gke:
        text = text.replace(
            "provisioner: karpenter}",
            "provisioner: gke, gke: {cluster: c, location: us-central1, project: p}}",
        )
    path = tmp_path / f"stack-{models}{'-gke' if gke else ''}.yaml"
    path.write_text(text)
    return path


def _render(stack: Path, out: Path, *extra: str) -> Result:
    return CliRunner().invoke(cli, ["render", str(stack), "-o", str(out), *extra])


def _compiled(stack: Path) -> Compiled:
    return compile_stack(check_stack(str(stack)))


def _files(out: Path) -> set[str]:
    """Every file under the folder, relative (`cloud/...`)."""
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}


def _user_files(out: Path) -> None:
    for rel, text in USER_FILES.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)


def _assert_holds_exactly(out: Path, compiled: Compiled, fmt: str, users: set[str]) -> None:
    """The folder holds the compiled objects and cloud resources, each in its file, in
    files whose name order is the render's (apply) order, the record, and `users`."""
    names = [file_name(o, fmt) for o in compiled.objects]
    cloud = [f"cloud/{cloud_file_name(r, fmt)}" for r in compiled.cloud]
    assert _files(out) == set(names) | set(cloud) | {RECORD} | users
    # Name order is apply order: the n-th file in name order holds an object of the kind
    # of the render's n-th (within a kind, order does not matter to the API server).
    on_disk = sorted(f for f in _files(out) if re.fullmatch(r"\d\d-.*", f))
    assert [n.split("-")[:2] for n in on_disk] == [n.split("-")[:2] for n in names]
    load = json.loads if fmt == "json" else yaml.safe_load
    assert [load((out / n).read_text()) for n in names] == compiled.objects
    assert [load((out / n).read_text()) for n in cloud] == compiled.cloud
    record = json.loads((out / RECORD).read_text())
    assert record["files"] == sorted(names + cloud)
    assert record["iac"] == iac_version()


def test_a_stack_growing_past_999_objects_and_shrinking_leaves_its_objects_and_the_users(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    _user_files(out)
    users = set(USER_FILES)
    small, large = _stack(tmp_path, 3), _stack(tmp_path, 62)
    large_gke = _stack(tmp_path, 62, gke=True)

    result = _render(small, out)
    assert result.exit_code == 0, result.output
    _assert_holds_exactly(out, _compiled(small), "yaml", users)
    assert result.stderr.splitlines()[-1] == (
        "kept 3 files iac did not write (`kubectl apply -f "
        f"{out}` applies them too): 050-my-secret.yaml, 099-deployment-models-gone.yaml, "
        "kustomization.yaml"
    )
    small_files = _files(out) - users
    os.utime(out / file_name(_compiled(small).objects[0]), ns=(0, 0))

    result = _render(large, out)  # 3 → 62 models: 1,050 objects
    assert result.exit_code == 0, result.output
    compiled = _compiled(large)
    assert len(compiled.objects) > 999
    _assert_holds_exactly(out, compiled, "yaml", users)
    # Crossing 999 renamed nothing: each file of the small render is still there, and the
    # one whose object did not change (the EC2NodeClass) was not even rewritten.
    assert small_files <= _files(out)
    assert (out / file_name(compiled.objects[0])).stat().st_mtime_ns == 0

    result = _render(large_gke, out)  # the same on GKE: a node pool in cloud/
    assert result.exit_code == 0, result.output
    _assert_holds_exactly(out, _compiled(large_gke), "yaml", users)

    result = _render(small, out)  # 62 → 3 models, no cloud resource left
    assert result.exit_code == 0, result.output
    _assert_holds_exactly(out, _compiled(small), "yaml", users)
    assert (out / "cloud" / "notes.md").read_text() == USER_FILES["cloud/notes.md"]

    (out / "cloud" / "notes.md").unlink()
    for stack in (large_gke, small):
        assert _render(stack, out).exit_code == 0
    assert not (out / "cloud").exists()  # emptied by iac: removed
    _assert_holds_exactly(out, _compiled(small), "yaml", users - {"cloud/notes.md"})


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_an_unchanged_render_touches_nothing(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out"
    _user_files(out)
    assert _render(GKE, out, "--format", fmt).exit_code == 0
    paths = [out, *out.rglob("*")]
    for path in paths:
        os.utime(path, ns=(10**18, 10**18))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"") for p in paths}

    result = _render(GKE, out, "--format", fmt)
    assert result.exit_code == 0, result.output
    compiled = _compiled(GKE)
    assert (
        f"{len(compiled.objects)} objects in {out} and {len(compiled.cloud)} cloud resources "
        f"in {out}/cloud: no file changed"
    ) in result.stderr.splitlines()
    after = {p: (p.stat().st_mtime_ns, p.read_bytes() if p.is_file() else b"") for p in paths}
    assert after == before
    assert {out, *out.rglob("*")} == set(paths)


def test_json_files_replace_yaml_files_in_the_same_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _user_files(out)
    stack = _stack(tmp_path, 62, gke=True)
    assert _render(stack, out).exit_code == 0
    result = _render(stack, out, "--format", "json")
    assert result.exit_code == 0, result.output
    compiled = _compiled(stack)
    _assert_holds_exactly(out, compiled, "json", set(USER_FILES))
    files = len(compiled.objects) + 1
    assert (
        f"{len(compiled.objects)} objects in {out} and 1 cloud resource in {out}/cloud: "
        f"{files} written, {files} removed, 0 unchanged"
    ) in result.stderr.splitlines()


def _legacy_render(compiled: Compiled, out: Path, fmt: str = "yaml") -> list[str]:
    """What `iac render -o` wrote before it kept a record: `{index:03d}-kind-...` names
    (four digits from the 1,000th object on), and no record."""
    names = []
    for index, obj in enumerate(compiled.objects, start=1):
        metadata = obj["metadata"]
        parts = [f"{index:03d}", obj["kind"].lower()]
        parts += [metadata["namespace"]] if "namespace" in metadata else []
        name = re.sub(r"[^a-z0-9.-]", "-", "-".join([*parts, metadata["name"]])) + "." + fmt
        names.append(name)
    for index, resource in enumerate(compiled.cloud, start=1):
        token = resource["type"]
        parts = [f"{index:03d}", token.split(":", 1)[0], token.rsplit(":", 1)[-1].lower()]
        names.append("cloud/" + re.sub(r"[^a-z0-9.-]", "-", "-".join([*parts, resource["name"]])))
        names[-1] += "." + fmt
    items = [*compiled.objects, *compiled.cloud]
    for name, item in zip(names, items, strict=True):
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(to_json(item) if fmt == "json" else to_yaml(item))
    return names


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_folder_an_earlier_iac_rendered_is_taken_over(tmp_path: Path, fmt: str) -> None:
    """No record yet: the files holding an object iac renders, under the name the earlier
    iac gave it, are iac's (all removed: the render has new names); others stay."""
    out = tmp_path / "out"
    _user_files(out)
    large, small = _stack(tmp_path, 62, gke=True), _stack(tmp_path, 3)
    legacy = _legacy_render(_compiled(large), out, fmt)
    assert any(re.fullmatch(r"1\d{3}-prometheusrule-.*", name) for name in legacy)
    # Not iac's: its label was edited away, so it stays (and is named on stderr).
    edited = next(n for n in legacy if "-deployment-" in n)
    (out / edited).write_text((out / edited).read_text().replace("managed-by", "owner"))

    result = _render(small, out, "--format", fmt)
    assert result.exit_code == 0, result.output
    _assert_holds_exactly(out, _compiled(small), fmt, set(USER_FILES) | {edited})
    assert (
        f"removed {len(legacy) - 1} files an earlier iac render wrote (recognised by content: "
        f"no {out}/.iac-render yet)"
    ) in result.stderr.splitlines()


def test_an_interrupted_render_is_finished_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted while writing or removing: every file iac wrote is recorded before it is
    written, so whatever the next render is (here: the stack before the interrupted
    change), the folder holds exactly its objects and the user's files."""
    out = tmp_path / "out"
    _user_files(out)
    large, small = _stack(tmp_path, 62), _stack(tmp_path, 3)
    real_write, real_remove = directory._write, os.remove

    def interrupted(stack: Path, name: str, replacement: Any, at: int) -> None:
        calls = 0

        def stop_at(*args: Any, **kwargs: Any) -> None:
            nonlocal calls
            calls += 1
            if calls == at:
                raise KeyboardInterrupt
            replacement(*args, **kwargs)

        owner = directory.os if name == "remove" else directory
        with monkeypatch.context() as patch:
            patch.setattr(owner, name, stop_at)
            assert _render(stack, out).exit_code == 1  # click: "Aborted!"
        assert calls == at

    _legacy_render(_compiled(small), out)  # no record yet
    interrupted(large, "_write", real_write, at=300)
    assert _render(small, out).exit_code == 0
    _assert_holds_exactly(out, _compiled(small), "yaml", set(USER_FILES))

    interrupted(large, "_write", real_write, at=300)  # with a record
    assert _render(small, out).exit_code == 0
    _assert_holds_exactly(out, _compiled(small), "yaml", set(USER_FILES))

    assert _render(large, out).exit_code == 0
    interrupted(small, "remove", real_remove, at=500)
    assert _render(small, out).exit_code == 0
    _assert_holds_exactly(out, _compiled(small), "yaml", set(USER_FILES))


def test_a_file_iac_did_not_write_in_the_way_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    small, larger = _stack(tmp_path, 3), _stack(tmp_path, 4)
    assert _render(small, out).exit_code == 0
    mine = out / "12-deployment-models.model-0003-v1.yaml"
    mine.write_text("# my own deployment\n")
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}

    result = _render(larger, out)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-4:] == [
        f"iac render: 1 file in {out} would be overwritten, and iac did not write it (not in "
        f"{out}/.iac-render):",
        f"  {mine}",
        f"Nothing was written. Move it out of {out} (or delete it) and render again:",
        f"  rm {mine}",
    ]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    mine.unlink()
    assert _render(larger, out).exit_code == 0


def test_without_a_record_a_file_in_the_way_is_iacs_only_when_it_holds_its_object(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    namespace = out / "04-namespace-models.yaml"
    namespace.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: models}\n")
    result = _render(GKE, out)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-4:] == [
        f"iac render: 1 file in {out} would be overwritten, and iac did not write it (there "
        f"is no {out}/.iac-render, and it holds no object iac renders under that name):",
        f"  {namespace}",
        f"Nothing was written. Move it out of {out} (or delete it) and render again:",
        f"  rm {namespace}",
    ]
    assert _files(out) == {namespace.name}
    # The same object with iac's label (and another label since): iac's, overwritten.
    earlier = copy.deepcopy(_compiled(GKE).objects[0])
    assert file_name(earlier) == namespace.name
    earlier["metadata"]["labels"]["team"] = "serving"
    namespace.write_text(to_yaml(earlier))
    assert _render(GKE, out).exit_code == 0
    _assert_holds_exactly(out, _compiled(GKE), "yaml", set())


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (
            "{not json",
            "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        ('{"files": ["../outside.yaml"]}', "'../outside.yaml' is not a file name iac writes"),
        ('{"files": "01-namespace-x.yaml"}', "no `files` list"),
    ],
)
def test_a_record_iac_cannot_trust_is_refused(tmp_path: Path, record: str, reason: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / RECORD).write_text(record)
    (tmp_path / "outside.yaml").write_text("kept")
    result = _render(GKE, out)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        f"iac render: {out}/.iac-render is not a record iac can trust ({reason}). It lists "
        f"the files iac wrote in {out}, the ones it may replace or remove. Delete it to "
        "render again: iac then takes as its own only the files holding an object it "
        "renders, under the name it gives that object, and leaves every other file alone."
    )
    assert _files(out) == {RECORD}
    assert (tmp_path / "outside.yaml").read_text() == "kept"


def test_the_record_names_the_stack_and_is_no_manifest(tmp_path: Path) -> None:
    out = tmp_path / "rendered" / "prod"
    assert _render(GKE, out).exit_code == 0
    record = json.loads((out / RECORD).read_text())
    assert record["stack"] == os.path.relpath(GKE, out)
    assert not RECORD.endswith((".yaml", ".yml", ".json"))  # kubectl apply -f DIR skips it
    other = _stack(tmp_path, 3)
    result = _render(other, out)
    assert f"note: {out} held the render of {GKE}; it now holds {other}'s" in (
        result.stderr.splitlines()
    )


_LABELS = st.lists(st.sampled_from(["a", "b0"]), min_size=1, max_size=3).map("-".join)
"""DNS labels made of few parts, so that namespaces and names often share prefixes and a
namespace joined to a name can spell another namespace joined to another name."""


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(("Namespace", "Service", "Deployment", "HTTPRoute")),
            _LABELS,
            st.one_of(_LABELS, st.tuples(_LABELS, _LABELS).map(".".join)),
        ),
        max_size=30,
    )
)
def test_file_names_sort_in_apply_order_and_never_collide(
    objects: list[tuple[str, str, str]],
) -> None:
    """Any objects (random kinds, namespaces, names): in name order, kinds come in apply
    order; distinct objects get distinct names; never an earlier iac's `NNN-` name."""

    def obj(kind: str, namespace: str, name: str) -> dict[str, Any]:
        if kind in CLUSTER_SCOPED:
            return {"kind": kind, "metadata": {"name": name}}
        return {"kind": kind, "metadata": {"name": name, "namespace": namespace}}

    items = {(k, "" if k in CLUSTER_SCOPED else ns, n): obj(k, ns, n) for k, ns, n in objects}
    rank = {kind: index for index, kind in enumerate(APPLY_ORDER)}
    compiler_order = sorted(items, key=lambda key: (rank[key[0]], key[1], key[2]))
    names = {key: file_name(items[key]) for key in compiler_order}
    assert len(set(names.values())) == len(names)
    by_name = sorted(compiler_order, key=lambda key: names[key])
    assert [k[0] for k in by_name] == [k[0] for k in compiler_order]
    assert not any(re.fullmatch(r"\d{3,}-.*", name) for name in names.values())
