"""The access model through the real `earsiv` command: principals, tokens, grants, the access log.

The access log's proofs are checked here with hashlib (RFC 9162 inclusion) and `openssl ts
-verify`, not with the archive's own verifier.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import subprocess

from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive
from earsiv.indexer.query import SearchQuery
from tests.conftest import CORPUS
from tests.helpers.rfc9162 import root_from_inclusion

DOC = "efatura/gib121_TicariFaturaOrnegi.xml"
TENANT = "1111111111"


def test_principals_tokens_grants_and_a_verifiable_access_log(cli, home, tmp_path):
    cli.run("ingest", "--tenant", TENANT, str(CORPUS / DOC))
    digest = hashlib.sha256((CORPUS / DOC).read_bytes()).hexdigest()
    with Archive.open(home) as arch:
        row = arch.index.get(digest)
    vkn, day = row.supplier_id, row.issue_date

    cli.run("principal", "add", "acme", "--role", "integrator", "--tenant", TENANT)
    cli.run("principal", "add", "ayse", "--role", "inspector")
    assert cli.run("principal", "add", "acme", "--role", "accountant", check=1).returncode == 1  # exists
    assert cli.run("principal", "add", "x", "--role", "inspector", "--tenant", TENANT, check=2).returncode == 2
    assert cli.run("principal", "add", "y", "--role", "integrator", "--tenant", "12ab", check=2).returncode == 2
    listed = {p["name"]: p for p in cli.json("principal", "list")}
    assert listed["acme"]["tenants"] == [TENANT] and listed["ayse"]["role"] == "inspector"

    made = cli.json("token", "create", "acme", "--expires", "2099-12-31")
    assert made["token"].startswith(f"earsiv_{made['id']}_")
    tokens = cli.json("token", "list")
    assert [t["id"] for t in tokens] == [made["id"]] and "token" not in tokens[0]  # never shown again
    plain = cli.run("token", "create", "ayse").stdout.decode().strip()
    assert plain.startswith("earsiv_")
    cli.run("token", "revoke", plain)  # by the token itself
    assert next(t for t in cli.json("token", "list") if t["principal"] == "ayse")["revoked_at"]

    grant = cli.json("grant", "add", "--inspector", "ayse", "--vkn", vkn, "--from", str(day), "--to", str(day),
                     "--expires", "2099-01-01", "--reference", "VDK 2026/1 inceleme emri")
    assert (grant["vkn"], grant["from"], grant["to"]) == (vkn, str(day), str(day))
    assert cli.run("grant", "add", "--inspector", "acme", "--vkn", vkn, "--from", str(day), "--to", str(day),
                   "--expires", "2099-01-01", "--reference", "x", check=1).returncode == 1  # not an inspector

    # The inspector looks (as the API would make it do), and every look is in the log.
    with Archive.open(home) as arch:
        page, events = arch.access.search(Principal("ayse", "inspector"), SearchQuery(vkn=vkn))
        assert [r.digest for r in page.rows] == [digest]
        (event,) = events  # one taxpayer's grants: one leaf
    events = cli.jsonl("access-log", "--vkn", vkn)
    assert [e["log_index"] for e in events] == [event]
    ev = events[0]
    assert ev["event"]["principal"] == "ayse" and ev["event"]["documents"] == [digest]
    assert ev["event"]["grants"][0]["reference"] == "VDK 2026/1 inceleme emri"
    proof = ev["proof"]
    leaf = proof["leaf"].encode()
    assert json.loads(leaf) == ev["event"]
    root = root_from_inclusion(event, proof["proof"]["tree_size"], leaf, [bytes.fromhex(h) for h in proof["proof"]["hashes"]])
    assert root.hex() == proof["proof"]["root"]
    checkpoint = proof["checkpoint"].encode()
    assert f"root: {root.hex()}\n" in proof["checkpoint"]  # the checkpoint states this root
    assert f"size: {proof['proof']['tree_size']}\n" in proof["checkpoint"]
    (tmp_path / "cp.txt").write_bytes(checkpoint)
    (tmp_path / "cp.tsr").write_bytes(base64.b64decode(proof["checkpoint_tsr"]))
    cert = next((home / "tsa").glob("*cert*.pem"))
    ok = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "cp.txt"), "-in", str(tmp_path / "cp.tsr"),
                         "-token_in", "-CAfile", str(cert)], capture_output=True, text=True)
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stdout + ok.stderr
    # Nobody else's events appear under another VKN.
    assert cli.jsonl("access-log", "--vkn", "9999999999") == []
    # Days are Türkiye's: the event is of today there, and of no day before.
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=3))).date()
    assert [e["log_index"] for e in cli.jsonl("access-log", "--from", str(today), "--to", str(today))] == [event]
    assert cli.jsonl("access-log", "--to", str(today - dt.timedelta(days=1))) == []

    cli.run("grant", "revoke", grant["id"])
    assert cli.json("grant", "list", "--vkn", vkn)[0]["revoked_at"]
    with Archive.open(home) as arch:
        page, _event = arch.access.search(Principal("ayse", "inspector"), SearchQuery(vkn=vkn))
        assert page.rows == ()


def test_the_cli_acts_as_a_tokens_principal(cli, home, tmp_path):
    """--token / $EARSIV_TOKEN: the same rights, scope and access log as over HTTP."""
    other = "2222222222"
    cli.run("ingest", "--tenant", other, str(CORPUS / "efatura/gib121_HASTANE.xml"))
    digest = hashlib.sha256((CORPUS / DOC).read_bytes()).hexdigest()
    hidden = hashlib.sha256((CORPUS / "efatura/gib121_HASTANE.xml").read_bytes()).hexdigest()
    cli.run("principal", "add", "acme", "--role", "integrator", "--tenant", TENANT)
    cli.run("principal", "add", "muhasebe", "--role", "accountant", "--tenant", TENANT)
    cli.run("principal", "add", "ayse", "--role", "inspector")
    integ = cli.json("token", "create", "acme")["token"]
    acct = cli.json("token", "create", "muhasebe")["token"]
    insp = cli.json("token", "create", "ayse")["token"]

    # An integrator archives for its tenant only; an accountant not at all.
    cli.run("--token", integ, "ingest", str(CORPUS / DOC))  # its one tenant by default
    assert cli.run("--token", integ, "ingest", "--tenant", other, str(CORPUS / DOC), check=1).returncode == 1
    assert cli.run("--token", acct, "ingest", str(CORPUS / DOC), check=1).returncode == 1
    # The accountant finds and fetches its tenant's document, and nothing else.
    assert [r["digest"] for r in cli.json("--token", acct, "search")] == [digest]
    out = tmp_path / "copy.xml"
    cli.run("--token", acct, "get", digest, "-o", str(out))
    assert out.read_bytes() == (CORPUS / DOC).read_bytes()
    assert cli.run("--token", acct, "get", hidden, "-o", str(out), check=1).returncode == 1  # "no such document"
    assert cli.run("--token", acct, "status", check=1).returncode == 1
    assert cli.run("--token", acct, "reindex", check=2).returncode == 2
    assert cli.run("--token", "earsiv_0123456789abcdef_" + "A" * 43, "search", check=1).returncode == 1

    # An inspector without a grant sees nothing; with one, its look is logged.
    assert cli.json("--token", insp, "search") == []
    with Archive.open(home) as arch:
        row = arch.index.get(digest)
    cli.run("grant", "add", "--inspector", "ayse", "--vkn", row.supplier_id, "--from", str(row.issue_date),
            "--to", str(row.issue_date), "--expires", "2099-01-01", "--reference", "order 7")
    assert [r["digest"] for r in cli.json("--token", insp, "search")] == [digest]
    # Each look is in a checkpoint when the command returns: a command closes the archive the
    # one way, checkpointing what it appended (read commands used to skip it).
    with Archive.open(home) as arch:
        covered = arch.index.log.latest_checkpoint().size
        looks = [r.log_index for r in arch.index.access.access_events(principal="ayse")]
    assert len(looks) == 2 and max(looks) < covered
    events = cli.jsonl("access-log", "--principal", "ayse")
    assert [e["event"]["documents"] for e in events] == [[], [digest]]
    # Its own events it may read; the accountant's tenant is not the inspected VKN, so it may not ask for it.
    assert len(cli.jsonl("--token", insp, "access-log")) == 2
    assert cli.run("--token", acct, "access-log", "--vkn", row.supplier_id, check=1).returncode == 1


def test_every_command_of_an_inspector_is_an_access_event(cli, home):
    """An inspector's command that shows nothing (a refusal, nothing found, its own grants) is logged too.

    Before, only commands that showed documents left an event: probing with `show` was traceless.
    """
    cli.run("ingest", "--tenant", TENANT, str(CORPUS / DOC))
    hidden = hashlib.sha256((CORPUS / DOC).read_bytes()).hexdigest()  # archived, but under no grant
    absent = hashlib.sha256(b"never archived").hexdigest()
    cli.run("principal", "add", "ayse", "--role", "inspector")
    insp = cli.json("token", "create", "ayse")["token"]

    for digest in (hidden, absent):
        assert cli.run("--token", insp, "show", digest, check=1).returncode == 1
    assert cli.run("--token", insp, "status", check=1).returncode == 1  # an admin's command
    cli.run("--token", insp, "grant", "list")
    events = [e["event"] for e in cli.jsonl("access-log", "--principal", "ayse")]
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("view", {"exit": 1, "error": "document-not-found"}),
        ("view", {"exit": 1, "error": "document-not-found"}),
        ("request", {"exit": 1, "error": "forbidden"}),
        ("grants", {"exit": 0}),
    ]
    assert all(e["documents"] == [] and e["grants"] == [] for e in events)
    # What was asked is in each: a probe for a hidden document reads like one for an absent one.
    assert [e["params"] for e in events[:2]] == [{"command": "show", "params": {"digest": d}} for d in (hidden, absent)]
