"""The base of every stack file model: strict about unknown keys, documented where declared."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SpecModel(BaseModel):
    """Strict, immutable, documented by attribute docstrings (they reach the JSON schema).

    `model_fields_set` keeps which keys were written; the loader layers stack defaults,
    templates, models and deployments by it, so an unset key inherits and a set one wins.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        populate_by_name=True,
        validate_default=False,
    )
