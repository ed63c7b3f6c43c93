"""Build hook: compiles the C walk of the YAML writer (`iac/render/_yaml_walk.c`).

Hatchling builds the pure-Python package; this hook adds the one extension module, with
setuptools' compiler driver (which knows each platform's flags). A wheel gets the module
inside it and a platform tag; an editable install (`pip install -e .`, what `make setup`
runs) gets it beside its source, where the checkout is imported from.

Without a C compiler the build still succeeds, with a warning: `iac.render.yaml_text` then
walks in Python, which writes the same text, about twice as slowly. Set
`IAC_REQUIRE_NATIVE=1` to make that a build error instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "iac.render._yaml_walk"
SOURCE = Path("iac", "render", "_yaml_walk.c")


class NativeWalkHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        self._workdir = Path(tempfile.mkdtemp(prefix="iac-native-"))
        try:
            built = _compile(root, self._workdir)
        except Exception as error:  # any failure to compile means "no extension"
            if os.environ.get("IAC_REQUIRE_NATIVE") == "1":
                raise
            self.app.display_warning(
                f"iac: the C walk of the YAML writer was not built ({error}); "
                "iac will write YAML with its Python walk (same output, slower)."
            )
            return
        relative = SOURCE.parent / built.name
        if version == "editable":
            # The editable install imports the checkout: put the module beside its source.
            shutil.copy2(built, root / relative)
        else:
            build_data["force_include"][str(built)] = relative.as_posix()
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """The wheel holds the module now (or the checkout does): the build folder goes."""
        workdir = getattr(self, "_workdir", None)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def _compile(root: Path, out: Path) -> Path:
    """The compiled module, built under `out`."""
    from setuptools import Distribution, Extension

    extension = Extension(MODULE, [str(root / SOURCE)])
    distribution = Distribution({"name": "iac", "ext_modules": [extension]})
    command: Any = distribution.get_command_obj("build_ext")
    command.build_lib = str(out / "lib")
    command.build_temp = str(out / "temp")
    command.ensure_finalized()
    command.run()
    return Path(command.get_ext_fullpath(MODULE))
