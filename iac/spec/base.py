"""The base of every stack file model: strict about unknown keys, documented where declared."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SpecModel(BaseModel):
    """Strict, immutable, documented by attribute docstrings (they reach the JSON schema).

    Strict: a number written as text (`"8000"`), a whole number written as a decimal
    (`2.0`) or a boolean where a number goes is refused, as the JSON schema refuses it;
    the few types that take another form on purpose (durations, CPU, environment values)
    convert it themselves.

    `model_fields_set` keeps which keys were written; the loader layers stack defaults,
    templates, models and deployments by it, so an unset key inherits and a set one wins.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        populate_by_name=True,
        validate_default=False,
        # Values as YAML reads them, as the JSON schema says: `port: "8000"` is text, not a
        # number (editors mark it, so `iac validate` does too), and `.inf` or `.nan` is no
        # count or price.
        strict=True,
        allow_inf_nan=False,
    )
