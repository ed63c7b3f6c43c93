"""Container image references, as the kubelet parses them, and what is wrong with one that is
not (said with the fix)."""

from __future__ import annotations

import functools
import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from iac.spec.types import PLACEHOLDER, URL_SCHEME

# The image reference grammar of distribution/reference (reference/regexp.go), which the
# kubelet parses images with: [HOST[:PORT]/]PATH[:TAG][@DIGEST].
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_REGISTRY = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_IMAGE_NAME = re.compile(rf"^(?:{_REGISTRY}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_IMAGE_DIGEST = re.compile(
    r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$"
)
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}
"""Registered digest algorithms (opencontainers/go-digest): lower-case hex of this length."""
MAX_IMAGE_NAME = 255
"""Characters of an image's name, registry included (distribution's NameTotalLengthMax)."""


def _split_image(value: str) -> tuple[str, str | None, str | None]:
    """`host:5000/a/b:1.2@sha256:…` → (`host:5000/a/b`, `1.2`, `sha256:…`)."""
    rest, at, digest = value.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return rest[:colon], rest[colon + 1 :], digest if at else None
    return rest, None, digest if at else None


# Asked for every deployment (and level) about the few images a stack names.
@functools.lru_cache(maxsize=1024)
def image_reference_problem(value: str) -> str | None:
    """What keeps `value` from being an image reference the kubelet can pull, said with
    the fix; None when it is one."""
    name, tag, digest = _split_image(value)
    if _image_ok(name, tag, digest):
        return None
    fixes = []
    text = value
    if re.search(r"\s", text):
        fixes.append("remove the spaces")
        text = re.sub(r"\s+", "", text)
    scheme = URL_SCHEME.match(text)
    if scheme:
        fixes.append("drop the scheme")
        text = text[scheme.end() :]
    name, tag, digest = _split_image(text)
    # distribution's splitDomain: a first part with '.' or ':' (or `localhost`) is a registry.
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "", name
    if path != path.lower():
        fixes.append("repository names are lower case")
        path = path.lower()
    name = f"{registry}/{path}" if registry else path
    corrected = name + (f":{tag}" if tag is not None else "") + (f"@{digest}" if digest else "")
    if fixes and _image_ok(name, tag, digest):
        return f"'{value}' is not an image reference: {'; '.join(fixes)}: write '{corrected}'"
    if tag == "":
        why = "nothing follows ':'; write a tag (`:v1.2`) or leave the ':' out"
    elif tag is not None and not _IMAGE_TAG.match(tag):
        why = (
            f"the tag '{tag}' is not one: at most 128 letters, digits, '_', '.' and '-', not "
            "starting with '.' or '-'"
        )
    elif digest is not None and _digest_problem(digest):
        why = f"'{digest}' is not a digest: {_digest_problem(digest)}"
    elif len(name) > MAX_IMAGE_NAME:
        why = f"the name has {len(name)} characters, over the {MAX_IMAGE_NAME} allowed"
    else:
        why = (
            "write [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST], the name in lower-case letters, "
            "digits and '.', '_', '-' between them, '/' between its parts (e.g. "
            "'vllm/vllm-openai:v0.6.3')"
        )
    return f"'{value}' is not an image reference: {why}"


def _image_ok(name: str, tag: str | None, digest: str | None) -> bool:
    return (
        len(name) <= MAX_IMAGE_NAME
        and bool(_IMAGE_NAME.match(name))
        and (tag is None or bool(_IMAGE_TAG.match(tag)))
        and (digest is None or _digest_problem(digest) is None)
    )


def _digest_problem(digest: str) -> str | None:
    if not _IMAGE_DIGEST.match(digest):
        return "write ALGORITHM:HEX, like sha256: and 64 hex digits"
    algorithm, _, hex_digits = digest.partition(":")
    length = _DIGEST_HEX.get(algorithm)
    if length is not None and len(hex_digits) != length:
        return f"{algorithm} takes {length} hex digits (got {len(hex_digits)})"
    if length is not None and hex_digits != hex_digits.lower():
        return f"{algorithm} takes lower-case hex digits: write '{digest.lower()}'"
    return None


def _image(value: str) -> str:
    if PLACEHOLDER.search(value):
        return value  # a template's, checked once its parameters are filled in
    problem = image_reference_problem(value)
    if problem is not None:
        raise PydanticCustomError("image", "{problem}", {"problem": problem})
    return value


ImageReference = Annotated[
    str,
    AfterValidator(_image),
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [
                {
                    "pattern": _IMAGE_NAME.pattern[:-1] + r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
                    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
                },
                {"pattern": PLACEHOLDER.pattern},
            ],
        }
    ),
]
"""A container image as the kubelet pulls it: `[REGISTRY[:PORT]/]NAME[:TAG][@DIGEST]`
(distribution/reference's grammar). A template's image may hold `${param}`s; it is checked
once they are filled in."""
