"""Values that would break or leak, refused with the exact fix (issue #21, item 1): host
names, image references, memory quantities, credentials written inline."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from iac.spec.container import ContainerFields, Resources
from iac.spec.images import image_reference_problem
from iac.spec.types import hostname_corrections, is_hostname
from iac.validate.credentials import credential_kind


@pytest.mark.parametrize(
    ("written", "fixes", "corrected"),
    [
        ("https://models.example.com/", ["drop the scheme"], "models.example.com"),
        ("Models.Example.com", ["host names are lower case"], "models.example.com"),
        ("models.example.com:443", ["drop the port"], "models.example.com"),
        ("models.example.com/v1", ["drop the path"], "models.example.com"),
        ("models.example.com/", ["drop the trailing '/'"], "models.example.com"),
        ("models_example.com", ["'_' cannot be in a host name (use '-')"], "models-example.com"),
        ("models.example.com.", ["drop the trailing dot"], "models.example.com"),
        (
            "HTTPS://Chat.Example.com:8443/v1/",
            ["drop the scheme, the port and the path", "host names are lower case"],
            "chat.example.com",
        ),
        ("models.example.com", [], "models.example.com"),
    ],
)
def test_hostname_mistakes_are_named_with_the_corrected_value(
    written: str, fixes: list[str], corrected: str
) -> None:
    assert hostname_corrections(written) == (fixes, corrected)
    assert is_hostname(corrected)


@pytest.mark.parametrize("value", ["10.0.0.1", "localhost", "a" * 64 + ".example.com", "-a.com"])
def test_what_no_correction_makes_a_host_name(value: str) -> None:
    assert not is_hostname(value)


@pytest.mark.parametrize(
    "image",
    [
        "ubuntu",
        "ubuntu:24.04",
        "vllm/vllm-openai:v0.6.3",
        "registry.internal:5000/team/server_x:1.0-rc.1",
        "localhost/server:dev",
        "a__b/c--d/e.f:TAG_1.x",
        "[fd00::1]:5000/server:1",
        "vllm/vllm-openai@sha256:" + "0" * 64,
        "x:1@sha512:" + "a" * 128,
        "x@blake3:" + "A" * 40,  # an algorithm go-digest does not register: the grammar only
    ],
)
def test_image_references_distribution_accepts(image: str) -> None:
    assert image_reference_problem(image) is None


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("vllm/vllm-openai: v0.6", "remove the spaces: write 'vllm/vllm-openai:v0.6'"),
        ("Vllm/Server:1", "repository names are lower case: write 'vllm/server:1'"),
        ("https://ghcr.io/a/b:1", "drop the scheme: write 'ghcr.io/a/b:1'"),
        ("x:", "nothing follows ':'"),
        ("x:" + "t" * 129, "the tag '" + "t" * 129 + "' is not one"),
        ("x:.hidden", "the tag '.hidden' is not one"),
        ("x@sha256:" + "A" * 64, "sha256 takes lower-case hex digits: write 'sha256:aaaa"),
        ("x@sha256:" + "a" * 63, "sha256 takes 64 hex digits (got 63)"),
        ("x@sha256:abc", "'sha256:abc' is not a digest: write ALGORITHM:HEX"),
        ("a" * 256, "the name has 256 characters, over the 255 allowed"),
        ("a//b", "write [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST]"),
        ("-a/b", "write [REGISTRY[:PORT]/]NAME[:TAG][@DIGEST]"),
    ],
)
def test_image_references_distribution_refuses(image: str, problem: str) -> None:
    found = image_reference_problem(image)
    assert found is not None
    assert found.startswith(f"'{image}' is not an image reference: ")
    assert problem in found


def test_a_templates_image_is_checked_once_filled() -> None:
    assert ContainerFields.model_validate({"image": "${registry}/server:1"}).image
    with pytest.raises(ValidationError, match="not an image reference"):
        ContainerFields.model_validate({"image": "registry/Server:1"})


@pytest.mark.parametrize(
    ("memory", "message"),
    [
        (64, "'64' has no unit, so Kubernetes would read it as 64 bytes: write '64Gi'"),
        ("64", "'64' has no unit"),
        (0.5, "'0.5' has no unit"),
        ("512m", "write '512Mi'"),
        ("64GB", "write '64Gi'"),
        ("64GiB", "write '64Gi'"),
        ("16gi", "write '16Gi'"),
        (True, "true is not a memory quantity"),
        ("lots", "'lots' is not a memory quantity; write e.g. '64Gi'"),
    ],
)
def test_memory_needs_a_unit(memory: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Resources.model_validate({"memory": memory})
    assert message in info.value.errors()[0]["msg"]


@pytest.mark.parametrize("memory", ["64Gi", "512Mi", "1.5Ti", "100M", "1G", "300k"])
def test_memory_with_a_unit(memory: str) -> None:
    assert Resources.model_validate({"memory": memory}).memory == memory


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("HF_TOKEN", "hf_" + "a1B2" * 9, "a Hugging Face token"),
        ("ANYTHING", "Bearer hf_" + "a1B2" * 9, "a Hugging Face token"),
        ("OPENAI_API_KEY", "sk-proj-" + "x" * 40, "an API key (sk-...)"),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", "an AWS access key"),
        ("GH", "ghp_" + "a" * 36, "a GitHub token"),
        ("KEY", "-----BEGIN RSA PRIVATE KEY-----\nMIIE...", "a private key"),
        ("DATABASE_URL", "postgres://app:s3cret@db:5432/app", "a password in a URL"),
        ("HF_TOKEN", "plain-text", "a credential, by its name"),
        ("db_password", "hunter2", "a credential, by its name"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG", "a credential, by its name"),
    ],
)
def test_credentials_are_recognised(name: str, value: str, kind: str) -> None:
    assert credential_kind(name, value) == kind


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TOKENIZERS_PARALLELISM", "false"),
        ("MAX_NUM_BATCHED_TOKENS", "8192"),
        ("HF_TOKEN_PATH", "/var/run/secrets/hf/token"),
        ("HF_TOKEN", ""),
        ("HF_TOKEN", "$(FROM_ANOTHER_VARIABLE)"),
        ("USE_AUTH_TOKEN", "true"),
        ("API_KEY_FILE", "./key"),
        ("DATABASE_URL", "postgres://db:5432/app"),
        ("HF_HOME", "/models/hf-cache"),
    ],
)
def test_settings_that_are_not_credentials(name: str, value: str) -> None:
    assert credential_kind(name, value) is None
