"""Imports and module files: each module read once, and each problem reported at its cause."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iac.diagnostics import Diagnostics
from iac.errors import ModuleFileGiven
from iac.load import load_stack
from iac.load.modules import load_module, looks_like_module

SERVER = "version: 1\ntemplates:\n  server: {image: example/server:1.0}\n"
STACK = """\
version: 1
imports: {imports}
cluster: {{name: test}}
models:
  a: {{template: server, deployments: {{v1: {{}}}}}}
"""


def load(tmp_path: Path, imports: str, **modules: str) -> tuple[list[str], list[str]]:
    """Loads a stack importing `imports`, with `modules` written beside it: the models that
    resolved, and the diagnostics (file names relative to `tmp_path`)."""
    for name, text in modules.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "stack.yaml").write_text(STACK.format(imports=imports))
    diagnostics = Diagnostics()
    stack = load_stack(str(tmp_path / "stack.yaml"), diagnostics)
    assert stack is not None
    said = [str(d).replace(f"{tmp_path}/", "") for d in diagnostics.sorted()]
    return sorted(stack.models), said


def test_a_module_imported_twice_is_read_once_and_its_templates_serve(tmp_path: Path) -> None:
    models, said = load(tmp_path, "[m/server.yaml, m/server.yaml]", **{"m/server.yaml": SERVER})
    assert models == ["a"]
    assert said == [
        "stack.yaml:2:26: error: imports[1]: 'm/server.yaml' is imported twice (first at line 2); "
        "remove this entry"
    ]


def test_a_hard_link_is_the_same_file(tmp_path: Path) -> None:
    (tmp_path / "server.yaml").write_text(SERVER)
    os.link(tmp_path / "server.yaml", tmp_path / "again.yaml")
    models, said = load(tmp_path, "[server.yaml, again.yaml]")
    assert models == ["a"]
    assert said == [
        "stack.yaml:2:24: error: imports[1]: 'again.yaml' is imported twice: it is the same file "
        "as 'server.yaml' (line 2); remove this entry"
    ]


def test_two_files_defining_one_template_still_collide(tmp_path: Path) -> None:
    _, said = load(tmp_path, "[a.yaml, b.yaml]", **{"a.yaml": SERVER, "b.yaml": SERVER})
    assert said == [
        "b.yaml:3:3: error: templates.server: template 'server' is also defined at a.yaml:3:3; "
        "rename one of them"
    ]


def test_a_folder_lists_the_module_files_it_holds(tmp_path: Path) -> None:
    files = {f"m/{n}.yaml": SERVER.replace("server", n) for n in "abcdef"}
    _, said = load(tmp_path, "[m/]", **files, **{"m/notes.txt": "not yaml"})
    assert said == [
        "stack.yaml:2:11: error: imports[0]: 'm/' is a folder; `imports` name module files: "
        "import one of 'm/a.yaml', 'm/b.yaml', 'm/c.yaml', 'm/d.yaml' (and 2 more)"
    ]


@pytest.mark.parametrize(
    ("imports", "modules", "cause"),
    [
        ("[nope.yaml]", {}, "stack.yaml:2:11: error: imports[0]: imported file"),
        ("[m.yaml]", {"m.yaml": "version: 1\ntemplates: [server]\n"}, "m.yaml:2:12: error: templates:"),
        ("[m.yaml]", {"m.yaml": "version: 1\ntemplates: {server: [\n"}, "m.yaml:3:1: error: invalid YAML"),
        ("[m.yaml]", {"m.yaml": SERVER.replace("1.0}", "1.0, port: x}")}, "m.yaml:3:45: error: templates.server.port:"),
    ],
)  # fmt: skip
def test_a_model_naming_a_template_that_failed_to_load_is_not_reported_again(
    tmp_path: Path, imports: str, modules: dict[str, str], cause: str
) -> None:
    models, said = load(tmp_path, imports, **modules)
    assert models == []
    assert len(said) == 1
    assert said[0].startswith(cause)


def test_the_valid_templates_of_a_module_with_errors_serve(tmp_path: Path) -> None:
    module = "version: 2\ntemplates:\n  server: {image: x:1}\n  broken: {image: x:1, port: x}\n"
    models, said = load(tmp_path, "[m.yaml]", **{"m.yaml": module})
    assert models == ["a"]
    assert [s.split(": error: ")[1].split(":")[0] for s in said] == [
        "version",
        "templates.broken.port",
    ]


def test_a_template_name_not_in_a_module_read_in_full_is_still_reported(tmp_path: Path) -> None:
    module = "version: 1\ntemplates:\n  other: {image: x:1}\n  broken: {image: x:1, port: x}\n"
    _, said = load(tmp_path, "[m.yaml]", **{"m.yaml": module})
    assert said[1] == (
        "stack.yaml:5:17: error: models.a.template: no template 'server' (imported: other)"
    )


def test_what_looks_like_a_module() -> None:
    assert looks_like_module({"version": 1, "templates": {}})
    assert looks_like_module({"templates": None})
    assert not looks_like_module({"version": 1, "templates": {}, "cluster": {"name": "c"}})
    assert not looks_like_module({"templates": {}, "models": {}})
    assert not looks_like_module({"version": 1, "models": {}})
    assert not looks_like_module(["templates"])


def test_a_module_file_named_as_a_stack_is_one_located_error(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("# a module\n" + SERVER)
    with pytest.raises(ModuleFileGiven) as raised:
        load_stack(str(tmp_path / "m.yaml"), Diagnostics())
    assert raised.value.file == str(tmp_path / "m.yaml")
    (error,) = raised.value.diagnostics
    assert (error.location.line, error.location.column) == (3, 1)
    assert error.message.startswith("this is a module file")


def test_load_module_checks_a_module_on_its_own(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(SERVER + "  other: {image: x:1, args: ['${nope}']}\n")
    diagnostics = Diagnostics()
    module = load_module(str(tmp_path / "m.yaml"), diagnostics)
    assert module is not None
    assert sorted(module.templates) == ["other", "server"]
    assert module.invalid == frozenset()
    (error,) = diagnostics.items
    assert "'${nope}' names no parameter of template 'other'" in error.message
