"""Every error class is mapped at both edges: an exit code and one line at the CLI, a problem document over HTTP.

The classes are found, not listed: every module of the package is imported and every
subclass of ``EarsivError`` is checked, so a new error class cannot be forgotten.  Over
HTTP none may fall through to a 500 except those that mean a print failed (``RenderError``
and its ``StylesheetRefused``: not the client's fault and not an outage either) and the
bare root ``EarsivError`` (raising it is a bug: nothing says what went wrong).
"""

from __future__ import annotations

import importlib
import inspect

import click
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from earsiv.api.cli.common import Group
from earsiv.api.http.problems import PROBLEM_JSON, install_problem_handlers
from earsiv.errors import EarsivError, InvalidInput
from tests.unit.test_layering import modules

MAY_BE_500 = {"EarsivError", "RenderError", "StylesheetRefused"}
MESSAGE = "what went wrong,\nover two lines"


def _error_classes() -> list[type[EarsivError]]:
    for _path, name in modules():
        importlib.import_module(name)
    found, todo = set(), [EarsivError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("earsiv") and cls not in found:
            found.add(cls)
            todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


# Error classes whose constructor is not (message, *, name=None): how to make one.
_MAKE = {
    "S3Failure": lambda cls: cls("PutObject", "blobs/ab/cd", "InternalError", MESSAGE),
}


def _instance(cls: type[EarsivError]) -> EarsivError:
    if cls.__name__ in _MAKE:
        return _MAKE[cls.__name__](cls)
    params = inspect.signature(cls.__init__).parameters
    assert list(params)[:2] == ["self", "message"] and "name" in params, (
        f"{cls.__module__}.{cls.__qualname__} has a constructor of its own: add it to _MAKE")
    return cls(MESSAGE, name="the-thing")


CLASSES = _error_classes()


def test_the_walk_finds_the_error_classes():
    names = {c.__name__ for c in CLASSES}
    assert {"EarsivError", "InvalidInput", "ArchiveError", "VerificationError", "DocumentError", "NotXML",
            "IndexerError", "IndexFailure", "RenderError", "StylesheetRefused", "S3Failure"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_the_cli_maps_it_to_its_exit_code_with_one_line(cls):
    assert cls.exit_code in (1, 2, 3), f"{cls.__qualname__}.exit_code is {cls.exit_code}"
    exc = _instance(cls)

    @click.group(cls=Group)
    def cli() -> None:
        pass

    @cli.command()
    def boom() -> None:
        raise exc

    result = CliRunner().invoke(cli, ["boom"])
    assert result.exit_code == cls.exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("earsiv: error: "), result.stderr
    assert "what went wrong, over two lines" in lines[0]


@pytest.fixture(scope="module")
def client():
    app = FastAPI()
    install_problem_handlers(app)
    errors = {f"{c.__module__}.{c.__qualname__}": c for c in CLASSES}

    @app.get("/raise/{name}")
    def raise_it(name: str) -> None:
        raise _instance(errors[name])

    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__qualname__)
def test_http_maps_it_to_a_problem_document(client, cls):
    r = client.get(f"/raise/{cls.__module__}.{cls.__qualname__}")
    assert r.headers["content-type"] == PROBLEM_JSON
    body = r.json()
    assert body["status"] == r.status_code and body["detail"] and body["title"]
    assert body["type"] == f"urn:earsiv:problem:{cls.code}", "the problem type is the class's code"
    if cls.__name__ in MAY_BE_500:
        assert r.status_code == 500
    else:
        assert 400 <= r.status_code < 600 and r.status_code != 500, f"{cls.__qualname__} falls through to 500"
    if r.status_code == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_what_a_user_typed_is_a_422_and_exit_2():
    assert InvalidInput.exit_code == 2
    assert issubclass(InvalidInput, EarsivError) and not issubclass(InvalidInput, ValueError)
