"""Which Pulumi stack holds what of a sharded stack (`iac.program.shards`), and the program
run per Pulumi stack under mocks: the union of what the stacks register is what `iac render`
prints, each object once."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime.sync_await import _sync_await

from benchmarks.generate import large_stack
from iac.compile import compile_stack
from iac.errors import IacError
from iac.program.deploy import Deployed, deploy, deploy_paced
from iac.program.layout import owner
from iac.program.shards import (
    Part,
    part_of_stack,
    parts,
    release_of,
    select,
    shard_of,
    split,
    split_name,
)
from iac.validate import check_stack
from tests.support.program_helpers import run_program

MODELS = 12
SHARDS = 4


@pytest.fixture(scope="module")
def stack_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sharded") / "dev.yaml"
    path.write_text(large_stack(MODELS, shards=SHARDS))
    return path


def test_a_model_s_shard_depends_on_its_name_and_the_count_only() -> None:
    # crc32: the same on every machine and Python (unlike hash(), which is salted).
    assert [shard_of(f"model-{i:04d}", 3) for i in range(6)] == [2, 1, 1, 1, 1, 2]
    assert shard_of("llama-3-8b", 10) == shard_of("llama-3-8b", 10)


def test_stack_names_are_the_base_and_a_zero_padded_shard_number() -> None:
    assert [p.stack_name("dev") for p in parts(3)] == ["dev", "dev.s00", "dev.s01", "dev.s02"]
    assert Part(7, 200).stack_name("prod") == "prod.s007"
    assert [p.stack_name("dev") for p in parts(1)] == ["dev"]
    assert split_name("dev.s07") == ("dev", 7)
    assert split_name("team.dev") == ("team.dev", None)
    assert part_of_stack("dev.s02", 3) == Part(2, 3)
    assert part_of_stack("dev", 3) == Part(None, 3)


@pytest.mark.parametrize(
    ("name", "count", "message"),
    [
        (
            "dev.s05",
            3,
            "Pulumi stack dev.s05 names shard 5 of stack dev, whose stack file declares "
            "cluster.shards: 3: its model shards are dev.s00 .. dev.s02. Select one of those, "
            "or change cluster.shards",
        ),
        (
            "dev.s01",
            1,
            "Pulumi stack dev.s01 names shard 1 of stack dev, whose stack file declares "
            "cluster.shards: 1: it is applied as the one Pulumi stack dev. Select one of "
            "those, or change cluster.shards",
        ),
        (
            "dev.s1",
            3,
            None,
        ),
    ],
)
def test_a_stack_name_that_does_not_fit_the_count_is_an_error(
    name: str, count: int, message: str | None
) -> None:
    if message is None:  # not a shard's name at all: the stack of the cluster
        assert part_of_stack(name, count) == Part(None, count)
        return
    with pytest.raises(IacError) as raised:
        part_of_stack(name, count)
    assert str(raised.value) == message


def test_every_object_is_in_exactly_one_part(stack_file: Path) -> None:
    compiled = compile_stack(check_stack(str(stack_file)))
    seen = Counter(id(obj) for part in parts(SHARDS) for obj in select(compiled, part).objects)
    assert set(seen.values()) == {1}
    assert len(seen) == len(compiled.objects)
    for part in parts(SHARDS)[1:]:
        assert {owner(obj) for obj in select(compiled, part).objects} <= {
            f"model-{i:04d}"
            for i in range(MODELS)
            if shard_of(f"model-{i:04d}", SHARDS) == part.index
        }
    assert {owner(obj) for obj in select(compiled, parts(SHARDS)[0]).objects} == {None}


def test_a_shard_s_release_output_holds_its_own_models(stack_file: Path) -> None:
    release = compile_stack(check_stack(str(stack_file))).release
    whole_release = release.to_dict()
    for part in parts(SHARDS)[1:]:
        mine = release_of(release, part).to_dict()
        assert mine == {
            **whole_release,
            "models": {
                m: v
                for m, v in whole_release["models"].items()
                if shard_of(m, SHARDS) == part.index
            },
        }
    assert release_of(release, parts(SHARDS)[0]) == release


def test_split_gives_each_part_what_select_gives_it(stack_file: Path) -> None:
    compiled = compile_stack(check_stack(str(stack_file)))
    held = split(compiled, SHARDS)
    assert sorted(held, key=lambda i: -1 if i is None else i) == [p.index for p in parts(SHARDS)]
    for part in parts(SHARDS):
        assert held[part.index].objects == [
            obj
            for obj in compiled.objects
            if (owner(obj) is None) == (part.index is None)
            and (owner(obj) is None or shard_of(str(owner(obj)), SHARDS) == part.index)
        ]
        assert held[part.index].cloud == (compiled.cloud if part.index is None else [])
    assert split(compiled, 1) == {None: compiled}


def test_the_program_run_per_pulumi_stack_registers_the_rendered_objects_once(
    stack_file: Path,
) -> None:
    compiled = compile_stack(check_stack(str(stack_file)))
    expected = Counter(
        (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        for obj in compiled.objects
    )
    registered: Counter[tuple[str, str | None, str]] = Counter()
    for part in parts(SHARDS):
        run = run_program(stack_file, stack=part.stack_name("dev"))
        for registration in run.kubernetes():
            metadata = registration.inputs["metadata"]
            registered[
                (registration.inputs["kind"], metadata.get("namespace"), metadata["name"])
            ] += 1
        if part.index is not None:  # a model shard's outputs show its own models
            mine = {f"model-{i:04d}" for i in range(MODELS) if part.holds(f"model-{i:04d}")}
            assert set(run.exports["release"]["models"]) == mine
            assert set(run.exports["endpoints"]) == mine
    assert registered == expected


def test_the_program_refuses_a_shard_the_stack_file_does_not_declare(stack_file: Path) -> None:
    with pytest.raises(pulumi.RunError, match="names shard 9 of stack dev"):
        run_program(stack_file, stack="dev.s09")


@pytest.mark.parametrize("index", [None, 1])
def test_iac_ups_paced_registration_registers_what_deploy_registers(
    stack_file: Path, index: int | None
) -> None:
    """`iac up`'s inline program hands the event loop a turn after each resource
    (`deploy_paced`); what it registers, with every option, is `deploy`'s."""
    compiled = compile_stack(check_stack(str(stack_file)))
    part = Part(index, SHARDS)

    def plain() -> Deployed:
        return deploy(compiled, part=part)

    def paced() -> Deployed:
        return _sync_await(deploy_paced(compiled, part=part))

    # Compared regardless of the order the RPCs reach the engine, which the turns change
    # (the engine orders the steps by their dependencies), and of the order the SDK lists a
    # resource's dependencies in (it gathers them in a set).
    runs = [
        {
            r.urn: dataclasses.replace(r, dependencies=tuple(sorted(r.dependencies)))
            for r in run_program(None, entry=entry).registrations
        }
        for entry in (plain, paced)
    ]
    assert runs[0] == runs[1]
    assert sum(r.type.startswith("kubernetes:") for r in runs[1].values()) == len(
        select(compiled, part).objects
    )
