"""The OpenAPI description is complete, and malformed requests never cause a 500.

The fuzzing uses schemathesis (generation only; requests go to the app in
process) with a fixed example budget and derandomised, so a run takes
seconds and fails the same way twice.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from earsiv.api.http import create_app
from earsiv.archive.archive import Archive
from tests.helpers.auth import bearer, make_principal

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
PROBLEM = "application/problem+json"
OPERATIONS = {
    "ingestDocuments": ("post", "/v1/documents"),
    "searchDocuments": ("get", "/v1/documents"),
    "getDocument": ("get", "/v1/documents/{digest}"),
    "getOriginal": ("get", "/v1/documents/{digest}/original"),
    "verifyDocument": ("post", "/v1/documents/{digest}/verify"),
    "getEvidence": ("get", "/v1/documents/{digest}/evidence"),
    "getPackage": ("get", "/v1/packages"),
    "getReport": ("get", "/v1/reports/{name}"),
    "printDocument": ("get", "/v1/documents/{digest}/print"),
    "getStatus": ("get", "/v1/status"),
    "getHealth": ("get", "/healthz"),
    "setLegalHold": ("put", "/v1/documents/{digest}/legal-hold"),
    "getMe": ("get", "/v1/me"),
    "addPrincipal": ("post", "/v1/principals"),
    "listPrincipals": ("get", "/v1/principals"),
    "changePrincipal": ("patch", "/v1/principals/{name}"),
    "createToken": ("post", "/v1/principals/{name}/tokens"),
    "listTokens": ("get", "/v1/tokens"),
    "revokeToken": ("delete", "/v1/tokens/{token_id}"),
    "addGrant": ("post", "/v1/grants"),
    "listGrants": ("get", "/v1/grants"),
    "revokeGrant": ("delete", "/v1/grants/{grant_id}"),
    "getAccessLog": ("get", "/v1/access-log"),
    "exportDocumentsCsv": ("get", "/v1/documents.csv"),
    "createJob": ("post", "/v1/jobs"),
    "listJobs": ("get", "/v1/jobs"),
    "getJob": ("get", "/v1/jobs/{job_id}"),
    "getJobResult": ("get", "/v1/jobs/{job_id}/result"),
    "deleteJob": ("delete", "/v1/jobs/{job_id}"),
}
KNOWN = "efatura/gib121_TicariFaturaOrnegi.xml"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("openapi") / "home"
    Archive.init(home).close()
    app = create_app(home)
    # Generated requests are sent as each role in turn (and as nobody, and
    # with a forged token), so every role's code paths meet hostile input.
    vkn = "1234567890"
    tokens = {role: make_principal(home, f"st-{role}", role, (vkn,) if role in ("integrator", "accountant") else ())
              for role in ("admin", "integrator", "accountant", "inspector")}
    with Archive.open(home) as arch:
        arch.access.add_grant("st-inspector", vkn, dt.date(2000, 1, 1), dt.date(2030, 12, 31),
                              dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "schemathesis", by="test")
    with TestClient(app, headers=bearer(tokens["admin"])) as c:
        r = c.post("/v1/documents", content=(CORPUS / KNOWN).read_bytes(),
                   headers={"Content-Type": "application/xml"}, params={"tenant": vkn})
        assert r.status_code == 200
        yield app, c, tokens


@pytest.fixture(scope="module")
def spec(served) -> dict:
    _app, c, _tokens = served
    r = c.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            yield method, path, op


def _resolve(spec: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else schema


def test_operation_ids_are_stable_and_complete(spec):
    found = {op["operationId"]: (method, path) for method, path, op in _operations(spec)}
    assert found == OPERATIONS
    assert all(op.get("summary") for _m, _p, op in _operations(spec))


def test_every_success_response_has_a_schema(spec):
    for method, path, op in _operations(spec):
        ((status, ok),) = [(s, r) for s, r in op["responses"].items() if s in ("200", "201", "202", "204")]
        if status == "204":  # no content (DELETE /v1/jobs/{id}): nothing to describe
            assert not ok.get("content"), (method, path)
            continue
        assert ok["content"], (method, path)
        for media, body in ok["content"].items():
            schema = body.get("schema")
            assert schema, (method, path, media)
            if media == "application/json":
                resolved = _resolve(spec, schema)
                if resolved.get("type") == "array":
                    resolved = _resolve(spec, resolved["items"])
                assert resolved.get("properties"), (method, path)  # a real model, not "any"


def test_error_responses_are_documented_as_problems(spec):
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    for method, path, op in _operations(spec):
        errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
        takes_input = bool(op.get("parameters") or op.get("requestBody"))
        if takes_input:
            assert "422" in errors, (method, path)
        if "{digest}" in path:
            assert "404" in errors, (method, path)
        if op["operationId"] != "getHealth":
            assert "503" in errors, (method, path)
        for status, resp in errors.items():
            assert list(resp["content"]) == [PROBLEM], (method, path, status)
            schema = resp["content"][PROBLEM]["schema"]
            variants = schema.get("anyOf", [schema])
            for v in variants:
                assert {"type", "title", "status", "detail"} <= set(_resolve(spec, v)["required"]), (method, path, status)


def test_ingest_documents_all_three_body_forms(spec):
    body = spec["paths"]["/v1/documents"]["post"]["requestBody"]["content"]
    assert {"application/xml", "text/xml", "application/zip", "multipart/form-data"} <= set(body)
    assert "files" in body["multipart/form-data"]["schema"]["properties"]
    params = {p["name"]: p for p in spec["paths"]["/v1/documents"]["get"]["parameters"]}
    assert {"vkn", "from", "to", "kind", "profile", "type", "id", "ettn", "limit", "cursor"} <= set(params)


def test_docs_page(served):
    _app, c, _tokens = served
    r = c.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()


def _lifespan_elsewhere(app):
    """The app for schemathesis' own client: the test's TestClient already runs its lifespan."""

    async def wrapper(scope, receive, send):
        if scope["type"] == "lifespan":
            # Refusing the scope before reading a message means "no lifespan
            # support" to ASGI servers, so the archive is not opened twice.
            raise RuntimeError("lifespan is run by the test's TestClient")
        await app(scope, receive, send)

    return wrapper


def _check(spec: dict, op: dict, response) -> None:
    status = response.status_code
    assert status < 500, f"{status}: {response.text[:500]}"
    documented = set(op["responses"])
    if status >= 400:
        (ctype,) = response.headers["content-type"]  # schemathesis keeps each header as a list
        assert ctype.startswith(PROBLEM), response.text[:300]
        body = response.json()
        assert {"type", "title", "status", "detail"} <= body.keys()
        assert body["status"] == status
        # 404/405 for a path that no longer matches any route (an encoded
        # slash in a generated digest) come from routing, not from the route.
        assert str(status) in documented or status in (404, 405), (status, body)
    else:
        assert str(status) in documented, status


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
@pytest.mark.parametrize("mode", [GenerationMode.NEGATIVE, GenerationMode.POSITIVE], ids=["malformed", "wellformed"])
def test_no_500_for_any_generated_request(served, spec, operation_id, mode):
    app, _c, tokens = served
    credentials = [bearer(t) for t in tokens.values()] + [{}, bearer("earsiv_0123456789abcdef_" + "A" * 43)]
    schema = schemathesis.openapi.from_dict(spec)
    (op,) = [r.ok() for r in schema.get_all_operations() if r.ok().definition.raw["operationId"] == operation_id]
    raw = op.definition.raw
    if mode == GenerationMode.NEGATIVE and not (raw.get("parameters") or raw.get("requestBody")):
        pytest.skip("nothing to malform: the operation takes no input")
    target = _lifespan_elsewhere(app)
    known = hashlib.sha256((CORPUS / KNOWN).read_bytes()).hexdigest()

    @settings(max_examples=25, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data):
        case = data.draw(op.as_strategy(generation_mode=mode))
        if "digest" in (case.path_parameters or {}) and data.draw(st.booleans()):
            case.path_parameters["digest"] = known  # reach the code behind the 404 too
        headers = data.draw(st.sampled_from(credentials))
        _check(spec, raw, case.call(app=target, base_url="http://testserver", headers=headers))

    run()
