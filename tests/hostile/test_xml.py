"""Hostile and broken XML: refused with the right error, at the parser and through the CLI.

At the parser each case must raise its specific class (``NotXML``,
``HostileXML``, ``TooLarge``) quickly and with a message that says what is
wrong.  Through ``earsiv ingest`` the same files must come back ``rejected``,
named, with that message, exit code 1, and leave the archive exactly as it was
(same document count, same log size, same objects under ``store/objects``),
while a good file in the same batch is still stored.
"""

from __future__ import annotations

import hashlib
import random
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import hostile_assets as assets
import pytest
from lxml import etree

from earsiv.documents import errors
from earsiv.documents.xmlsafe import DEFAULT_MAX_BYTES, parse_xml

CASES = {c.name: c for c in assets.XML_CASES}
PASSWD = Path("/etc/passwd")


# -- at the parser ---------------------------------------------------------


# Inputs that hung libxml2 before DOCTYPEs were refused ahead of it: parsed in
# a child process with a timeout, so that a regression fails instead of hanging.
HANG_PRONE = {"parameter_entity_dev_zero"}
_CHILD = """
import sys
from earsiv.documents import errors
from earsiv.documents.xmlsafe import parse_xml
try:
    parse_xml(sys.stdin.buffer.read(), name="child.xml")
    print("accepted")
except errors.InvalidDocument as exc:
    print(type(exc).__name__, exc.detail)
"""


@pytest.mark.parametrize("name", sorted(HANG_PRONE))
def test_parser_does_not_hang_on_a_dtd_that_names_an_endless_file(name: str) -> None:
    case = CASES[name]
    try:
        out = subprocess.run([sys.executable, "-c", _CHILD], input=case.data, capture_output=True, timeout=30, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"parse_xml hung on {name}")
    kind, _, detail = out.stdout.decode().strip().partition(" ")
    assert kind == case.error and re.search(case.says, detail, re.IGNORECASE), out.stdout


@pytest.mark.parametrize("name", sorted(set(CASES) - HANG_PRONE))
def test_parser_refuses_with_its_specific_error(name: str) -> None:
    case = CASES[name]
    with pytest.raises(errors.InvalidDocument) as info:
        parse_xml(case.data, name=f"in/{name}.xml")
    exc = info.value
    assert type(exc).__name__ == case.error, exc
    assert exc.name == f"in/{name}.xml" and str(exc).startswith(f"in/{name}.xml: ")
    assert re.search(case.says, exc.detail, re.IGNORECASE), exc.detail
    assert "<string>" not in exc.detail  # lxml's internal file name is noise to a user
    # Nothing here may be expanded or fetched; each refusal is immediate.
    if PASSWD.exists():
        assert PASSWD.read_text(errors="replace").splitlines()[0] not in str(exc)


def test_vendor_errors_never_escape_on_mangled_documents() -> None:
    """Random damage to a good document: parse or raise ours, never an lxml or codec error."""
    good = assets.good_invoice(1)
    rng = random.Random(7)
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(400):
        data = bytearray(good)
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            at = rng.randrange(len(data))
            if op < 0.4:
                data[at] = rng.randrange(256)
            elif op < 0.7:
                del data[at : at + rng.randint(1, 40)]
            else:
                data[at:at] = rng.choice([b"<", b">", b"&", b"<!DOCTYPE x>", b"\x00", b"]]>", b"<!--", b"\xff\xfe"])
        try:
            parse_xml(bytes(data), name="mangled.xml")
            outcomes["parsed"] += 1
        except errors.InvalidDocument as exc:
            assert exc.name == "mangled.xml" and exc.detail
            outcomes["refused"] += 1
    # Both branches were exercised, so the property means something.
    assert outcomes["parsed"] > 10 and outcomes["refused"] > 100, outcomes


def test_size_limit_is_checked_before_parsing(monkeypatch) -> None:
    from lxml import etree

    def must_not_parse(*args, **kwargs):
        raise AssertionError("the parser was called on input over the size limit")

    monkeypatch.setattr(etree, "fromstring", must_not_parse)
    monkeypatch.setattr(etree, "XMLParser", must_not_parse)
    text_node = b"<Invoice><cbc:Note>" + b"A" * DEFAULT_MAX_BYTES + b"</cbc:Note></Invoice>"
    with pytest.raises(errors.TooLarge, match=rf"{len(text_node)} bytes is over the limit of {DEFAULT_MAX_BYTES} bytes"):
        parse_xml(text_node, name="huge_text_node.xml")
    with pytest.raises(errors.TooLarge, match="over the limit of 100 bytes"):
        parse_xml(assets.good_invoice(1), name="small_limit.xml", max_bytes=100)


def test_a_text_node_over_libxml2s_10mb_default_is_accepted_under_the_limit() -> None:
    # Embedded attachments (base64 PDFs) can exceed libxml2's default 10 MB
    # text-node bound; a well-formed document under our limit is archived.
    blob = b"QUJD" * (3 * 1024 * 1024)  # 12 MiB of base64
    data = assets.good_invoice(2, extra="  <cbc:Note>" + blob.decode() + "</cbc:Note>\n")
    tree = parse_xml(data, name="big_attachment.xml")
    assert len(tree.getroot()[-2].text) == len(blob)


def test_moderate_nesting_is_accepted_and_depth_is_bounded() -> None:
    assert parse_xml(b"<a>" * 300 + b"</a>" * 300, name="deep300.xml").getroot().tag == "a"
    with pytest.raises(errors.TooLarge, match="nested deeper"):
        parse_xml(b"<a>" * 5000 + b"</a>" * 5000, name="deep5000.xml")


def test_utf16_with_bom_is_xml() -> None:
    data = '\ufeff<?xml version="1.0" encoding="UTF-16"?><Invoice>şğ</Invoice>'.encode("utf-16-le")
    assert parse_xml(data, name="utf16.xml").getroot().text == "şğ"


def test_xinclude_is_an_element_not_an_instruction() -> None:
    data = assets.xinclude_invoice(3, "file:///etc/passwd")
    root = parse_xml(data, name="xinclude.xml").getroot()
    inc = root.find("{http://www.w3.org/2001/XInclude}include")
    assert inc is not None and inc.get("href") == "file:///etc/passwd" and len(inc) == 0 and not inc.text
    assert b"root:" not in etree.tostring(root)


# -- through the CLI -------------------------------------------------------


@pytest.fixture(scope="module")
def cli_runs(module_home, tmp_path_factory):
    """One archive; ingest all bad files alone, then bad files with a good one among them."""
    home = module_home
    inputs = tmp_path_factory.mktemp("xml-inputs")
    bad = []
    for case in assets.XML_CASES:
        p = inputs / f"{case.name}.xml"
        p.write_bytes(case.data)
        bad.append(p)
    # Over the 64 MiB document limit; sparse, so the test does not write 64 MiB.
    huge = inputs / "huge_text_node.xml"
    with open(huge, "wb") as fh:
        fh.write(b"<Invoice><cbc:Note>")
        fh.seek(DEFAULT_MAX_BYTES + 1)
        fh.write(b"</cbc:Note></Invoice>")
    bad.append(huge)
    good1, good2 = inputs / "good_first.xml", inputs / "good_among_bad.xml"
    good1.write_bytes(assets.good_invoice(101))
    good2.write_bytes(assets.good_invoice(102))
    baseline = home.ingest(good1)
    assert baseline.returncode == 0 and baseline.results[0]["status"] == "stored", baseline
    before = home.snapshot()
    alone = home.ingest(*bad)
    after_alone = home.snapshot()
    mixed = home.ingest(*bad[: len(bad) // 2], good2, *bad[len(bad) // 2 :])
    after_mixed = home.snapshot()
    return {
        "home": home,
        "bad": bad,
        "good": good2,
        "before": before,
        "alone": alone,
        "after_alone": after_alone,
        "mixed": mixed,
        "after_mixed": after_mixed,
    }


def test_bad_files_alone_leave_the_archive_unchanged(cli_runs) -> None:
    run = cli_runs["alone"]
    assert run.returncode == 1, run.stderr
    assert [r["path"] for r in run.results] == [str(p) for p in cli_runs["bad"]]
    assert {r["status"] for r in run.results} == {"rejected"}
    before, after = cli_runs["before"], cli_runs["after_alone"]
    assert (after.documents, after.log_size) == (before.documents, before.log_size)
    assert after.objects == before.objects, sorted(before.new_objects(after))
    home = cli_runs["home"]
    assert list(home.cwd.iterdir()) == [] and list(home.tmp.iterdir()) == [], "written outside the home"


def test_a_good_file_among_bad_ones_is_stored(cli_runs) -> None:
    run, home = cli_runs["mixed"], cli_runs["home"]
    assert run.returncode == 1
    by_path = run.by_path()
    assert len(by_path) == len(cli_runs["bad"]) + 1
    good = by_path.pop(str(cli_runs["good"]))
    data = cli_runs["good"].read_bytes()
    assert good["status"] == "stored" and good["digest"] == hashlib.sha256(data).hexdigest()
    assert {r["status"] for r in by_path.values()} == {"rejected"}
    before, after = cli_runs["after_alone"], cli_runs["after_mixed"]
    assert after.documents == before.documents + 1
    assert after.log_size == before.log_size + 2  # its leaf and its first holding's
    assert home.get(good["digest"]) == data
    # Of the bad files, no byte reached the store.
    new_blobs = {k for k in before.new_objects(after) if k.startswith("blobs/")}
    assert new_blobs == {f"blobs/{good['digest'][:2]}/{good['digest']}"}


@pytest.mark.parametrize("name", sorted(CASES) + ["huge_text_node"])
def test_cli_rejects_each_with_a_clear_error(cli_runs, name: str) -> None:
    path = next(p for p in cli_runs["bad"] if p.stem == name)
    for run in (cli_runs["alone"], cli_runs["mixed"]):
        result = run.by_path()[str(path)]
        assert result["status"] == "rejected"
        assert result["error"], result
        if name == "huge_text_node":
            assert re.search(rf"\d+ bytes is over the limit of {DEFAULT_MAX_BYTES} bytes", result["error"])
        else:
            assert re.search(CASES[name].says, result["error"], re.IGNORECASE), result["error"]
        if result["digest"] is not None:
            assert result["digest"] == hashlib.sha256(path.read_bytes()).hexdigest()
            assert f"blobs/{result['digest'][:2]}/{result['digest']}" not in cli_runs["after_mixed"].objects


def test_passwd_never_reaches_output_or_archive(cli_runs) -> None:
    if not PASSWD.exists():
        pytest.skip("no /etc/passwd on this system")
    lines = [ln for ln in PASSWD.read_text(errors="replace").splitlines() if len(ln) > 12]
    home = cli_runs["home"]
    haystacks = [cli_runs["alone"].stdout, cli_runs["alone"].stderr, cli_runs["mixed"].stdout, cli_runs["mixed"].stderr]
    # Uncompressed parts of the home (index, log leaves, checkpoints) as text.
    for p in home.path.rglob("*"):
        if p.is_file() and "blobs" not in p.parts:
            haystacks.append(p.read_bytes().decode("latin-1"))
    for text in haystacks:
        for line in lines[:5]:
            assert line not in text


def test_xinclude_document_is_archived_as_is_and_nothing_is_fetched(home, tmp_path) -> None:
    hits: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            hits.append(conn.recv(1024))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = server.getsockname()[1]
        http_doc = tmp_path / "xinclude_http.xml"
        file_doc = tmp_path / "xinclude_passwd.xml"
        http_doc.write_bytes(assets.xinclude_invoice(201, f"http://127.0.0.1:{port}/secret.xml"))
        file_doc.write_bytes(assets.xinclude_invoice(202, "file:///etc/passwd"))
        run = home.ingest(http_doc, file_doc)
    finally:
        stop.set()
        thread.join(2)
        server.close()
    assert run.returncode == 0, run.stdout + run.stderr
    assert hits == [], "the archive fetched an XInclude target"
    for doc in (http_doc, file_doc):
        r = run.by_path()[str(doc)]
        assert r["status"] == "stored", r
        assert home.get(r["digest"]) == doc.read_bytes()
