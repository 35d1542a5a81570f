"""Schemathesis against the OpenAPI document of every face, in-process: no answer is a
5xx, every answer is one its document describes (status, content type, headers, body
schema), and every request it says is invalid is refused.

Each operation gets ``LADING_FUZZ_EXAMPLES`` cases that the document says are valid
(``DEFAULT_EXAMPLES`` by default: over 10,000 cases in all), and a quarter as many that it
says are not, where it constrains something (schemathesis' positive and negative
modes), against a catalogue seeded afresh after each operation that may change it
(``tests.api.seeds``): path parameters name seeded things about half of the time.
Generation is derandomized, so a failure reproduces; every failure is collected and
reported with a curl command, not only the first one. For a longer run by hand:
``LADING_FUZZ_EXAMPLES=600 pytest tests/api/test_fuzz.py -s`` (about 51,000 cases).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.testclient import TestClient

from lading.app import create_app
from lading.faces import DOCUMENTS as FACES
from tests.api.seeds import Pools, seed_metadefs, seeder, world_settings
from tests.portal import new_token
from tests.raw_asgi import HOST, send

# The fuzzing tier, its harness's own checks too (make check does not import schemathesis).
pytestmark = pytest.mark.fuzz

DEFAULT_EXAMPLES = 120
EXAMPLES = int(os.environ.get("LADING_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
# No 5xx; the status, type, headers and body the document gives; and a request the
# document says is invalid refused with a 4xx (so that the documents say what is refused:
# any 4xx, 413 for too many properties as well as 400).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance,
          negative_data_rejection]  # fmt: skip
CONFIG = {"checks": {"negative_data_rejection": {"expected-statuses": ["4XX"]}}}
BASE_URL = f"http://{HOST.decode()}"
# The cases each face makes at least at DEFAULT_EXAMPLES (10,250 in all were made, with
# Hypothesis 6.170; some operations have few distinct cases to make, no parameters, so
# Hypothesis stops early there).
# The Glance v2 face's metadata definitions are fuzzed apart from its images (two runs
# side by side); their floor is METADEFS_FLOOR.
METADEFS = "/v2/metadefs"
METADEFS_FLOOR = 3400  # 3,542 made with Hypothesis 6.170
RUNS = [*(pytest.param(face, False, id=face) for face in FACES),
        pytest.param("glance-v2", True, id="glance-v2-metadefs")]  # fmt: skip
FLOOR = {"glance-v2": 2980, "glance-v1": 940, "visor": 940, "pnda": 615, "click": 850,
         "osm": 1410, "pypi": 900, "ui": 2060, "service": 235, "tus": 820}  # fmt: skip
CI_CASES = 10_000
TRANSPORT_KEYS = ("method", "url", "headers", "params", "cookies", "data", "json", "files")

# tus's PATCH bodies are bytes, under the media type tus gives them.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
for patch_type in ("2.1", "2.0"):  # JSON, under the media type Glance's PATCH takes
    schemathesis.serializer.alias(f"application/openstack-images-v{patch_type}-json-patch",
                                  "application/json")  # fmt: skip
# Bytes, under the media type tus' PATCH takes (the tus face, and the UI's uploads).
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


@dataclass(slots=True)
class Findings:
    cases: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # what failed -> how to reproduce

    def add(self, what: str, reproduce: str) -> None:
        self.failures.setdefault(what, reproduce)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """The seeded world's settings (``tests.api.seeds``), with an administrator's token."""
    settings = world_settings(tmp_path / "data", tmp_path / "catalogue.db")
    with TestClient(create_app(settings), base_url=BASE_URL) as test_client:
        token = new_token(test_client, "fuzz", "admin")
        # The UI's actions must come from its own pages.
        test_client.headers.update({"x-auth-token": token, "origin": BASE_URL})
        yield test_client


def test_the_ci_sized_run_makes_over_ten_thousand_cases() -> None:
    assert set(FLOOR) == set(FACES) and sum(FLOOR.values()) >= CI_CASES


def test_a_form_field_negated_from_text_is_no_finding() -> None:
    """What CI once met: ``version`` "negated" to null in a form, sent as the text null."""
    failure = AcceptedNegativeData(
        operation="POST /click/uploads", status_code=201, expected_statuses=["4XX"],
        message="Invalid data should have been rejected\nExpected: 4XX\nInvalid component: "
        "in body - violates `type` at /properties/version (was string, became null)",
    )  # fmt: skip
    form = requests.Request("POST", BASE_URL, files={"file": ("f", b"x")},
                            data={"version": "null"}).prepare()  # fmt: skip
    assert _text_in_a_form(Response(201, {}, b"{}", form, 0.0, verify=True), failure)
    as_json = requests.Request("POST", BASE_URL, json={"version": None}).prepare()
    assert not _text_in_a_form(Response(201, {}, b"{}", as_json, 0.0, verify=True), failure)


@pytest.mark.parametrize(("face", "metadefs"), RUNS)
def test_fuzzing_finds_no_server_error_and_no_answer_off_the_document(
    client: TestClient, face: str, metadefs: bool
) -> None:
    document = client.get(f"/openapi/{face}.json").json()
    schema = schemathesis.openapi.from_dict(document, config=schemathesis.Config.from_dict(CONFIG))
    seed = seed_metadefs if metadefs else seeder(face)
    findings = Findings()
    started, cpu = time.monotonic(), time.process_time()
    pools, used = seed(client), False
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # every operation of lading's documents loads
        operation = result.ok()
        if face == "glance-v2" and operation.path.startswith(METADEFS) != metadefs:
            continue
        modes = [GenerationMode.POSITIVE]
        if negatable(document, operation.path, operation.method):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            if used:  # the last run may have deleted, unpublished, filled what was seeded
                pools = seed(client)
            examples = EXAMPLES if mode.is_positive else EXAMPLES // 4
            fuzz(operation.as_strategy(mode), examples, operation, pools, client, findings)
            used = operation.method.upper() not in ("GET", "HEAD")
    elapsed = time.monotonic() - started
    cpu = time.process_time() - cpu
    print(
        f"{face}: {findings.cases} cases in {elapsed:.1f} s, {cpu:.1f} s of CPU "
        f"({findings.cases / elapsed:.0f}/s)"
    )
    assert not findings.failures, "\n\n".join(
        f"{what}\n  {reproduce}" for what, reproduce in findings.failures.items()
    )
    floor = METADEFS_FLOOR if metadefs else FLOOR[face]
    assert findings.cases >= floor * min(EXAMPLES, DEFAULT_EXAMPLES) // DEFAULT_EXAMPLES


def fuzz(
    cases: st.SearchStrategy[Any],
    examples: int,
    operation: Any,
    pools: Pools,
    client: TestClient,
    findings: Findings,
) -> None:
    """Up to ``examples`` cases of one operation, every failure recorded in ``findings``."""
    seeded = {parameter.name: pools[parameter.name] for parameter in operation.path_parameters
              if pools.get(parameter.name)}  # fmt: skip
    # Every path parameter aimed at something seeded, or each one either generated (None)
    # or seeded.
    aims = st.one_of(
        st.fixed_dictionaries({name: st.sampled_from(values) for name, values in seeded.items()}),
        st.fixed_dictionaries(
            {name: st.one_of(st.none(), st.sampled_from(values)) for name, values in seeded.items()}
        ),
    )
    headers = dict(client.headers)

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=cases, aimed=aims)
    def run(case: Any, aimed: dict[str, str | None]) -> None:
        path = case.meta.components.get(ParameterLocation.PATH) if case.meta else None
        for name, value in aimed.items():
            if value is not None and not (path and path.mode.is_negative):
                case.path_parameters[name] = value
        findings.cases += 1
        try:
            response = call(client, case, headers)
        except Exception as exc:  # the app gave no answer at all
            what = f"{operation.label}: {type(exc).__name__}: {exc}"
            findings.add(what, case.as_curl_command(headers, base_url=BASE_URL))
            return
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except BaseExceptionGroup as failed:  # schemathesis' FailureGroup
            for failure in failed.exceptions:
                what = f"{operation.label}: {response.status_code} {type(failure).__name__}"
                message = " ".join(str(failure).split())[:300]
                if _text_in_a_form(response, failure):
                    continue
                findings.add(f"{what}: {message}", case.as_curl_command(headers, base_url=BASE_URL))

    run()


def _text_in_a_form(response: Response, failure: BaseException) -> bool:
    """Whether a form field "negated" from a string to another type was accepted: a
    multipart form carries only text, so ``null``, ``true`` or ``3`` arrive as the strings
    they are written as, which are valid."""
    content_type = response.request.headers.get("content-type") or ""
    form = isinstance(content_type, str) and content_type.startswith("multipart/form-data")
    said = " ".join(str(failure).split())
    return form and isinstance(failure, AcceptedNegativeData) and "(was string, became" in said


def negatable(document: dict[str, Any], path: str, method: str) -> bool:
    """Whether schemathesis can make requests that the document says are invalid: a body
    or a parameter constrained beyond "a string", or "an object of strings" (a plain string
    in a path, a header or a form field can be anything: trying to negate it only burns
    time)."""
    item = document["paths"][path]
    operation = item[method.lower()]
    for content in operation.get("requestBody", {}).get("content", {}).values():
        if _constrained(content.get("schema", {})):
            return True
    for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
        if "$ref" in parameter:
            parameter = document["components"]["parameters"][parameter["$ref"].rpartition("/")[2]]
        if _constrained(parameter.get("schema", {})):
            return True
    return False


def _constrained(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "object" and not schema.get("required"):
        return any(_constrained(value) for value in schema.get("properties", {}).values())
    plain = schema.get("type") == "string" and set(schema) <= {"type", "description", "format"}
    return not plain or schema.get("format") not in (None, "binary")


def call(client: TestClient, case: Any, headers: dict[str, str]) -> Response:
    """The case, serialized as schemathesis would send it, straight to the app."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    prepared = requests.Request(
        **{key: kwargs[key] for key in TRANSPORT_KEYS if key in kwargs}
    ).prepare()
    raw_headers = [
        (name.encode("latin-1"), _octets(value)) for name, value in prepared.headers.items()
    ]
    body = prepared.body or b""
    assert isinstance(body, str | bytes), body  # requests prepares a whole body, never a stream
    started = time.perf_counter()
    answer = send(client, case.method.upper(), prepared.path_url.encode("latin-1"), raw_headers,
                  body.encode() if isinstance(body, str) else body)  # fmt: skip
    answered: dict[str, list[str]] = {}
    for name, value in answer.headers:
        answered.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    return Response(answer.status, answered, answer.body, prepared, time.perf_counter() - started,
                    verify=True)  # fmt: skip


def _octets(value: str | bytes) -> bytes:
    """A header value as a client puts it on the wire (UTF-8 where Latin-1 cannot)."""
    if isinstance(value, bytes):
        return value
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")
