"""Authorization matrix: every endpoint of the OpenAPI spec × every kind of caller × every relation of the target.

One archive serves the module.  Two synthetic tenants (``T1``, ``T2``) hold real corpus documents,
archived over HTTP by their integrators; one document is held by both.  Inspectors hold grants
on VKNs that really occur in those documents, computed here from the parsed files: active ones,
one that expired, one that was revoked, and periods that leave some of the VKN's documents out.

The oracle of who may see what is written here from LAW.md's rules and the parsed documents
(tenant-linked principals: what their tenants hold; inspectors: documents where a granted VKN is
an inspectable party and the issue date is in an active grant's period), never from the API's
own answers.  Every row of the matrix asserts zero leaks: a document a caller may not see answers
404 exactly as a digest the archive never heard of, and appears in no listing, package or log.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import re
import subprocess
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from earsiv.api.http import create_app
from earsiv.archive.archive import Archive
from earsiv.documents.metadata import DocumentMetadata
from earsiv.documents.parse import parse_document
from tests.conftest import CORPUS
from tests.helpers.auth import bearer
from tests.helpers.rfc9162 import root_from_inclusion
from tests.helpers.web import csrf_of, sign_in

T1, T2 = "1111111111", "2222222222"  # synthetic tenants: the VKNs two integrators archive for
# LAW.md: the parties an inspector's grant reaches (not the sender or receiver of an envelope or response).
INSPECTABLE = ("supplier", "customer", "despatch-supplier", "delivery-customer", "owner")
EVENT = "Earsiv-Access-Event"
ABSENT = hashlib.sha256(b"a document this archive never received").hexdigest()

# key -> (corpus file, tenants holding it, in the order they archive it)
DOCS: dict[str, tuple[str, tuple[str, ...]]] = {
    "a-supplier": ("efatura/gib121_TicariFaturaOrnegi.xml", (T1,)),
    "a-customer-shared": ("efatura/gib121_IadeFaturasiOrnegi.xml", (T1, T2)),
    "a-supplier-t2": ("efatura/gib121_TemelFaturaOrnegi.xml", (T2,)),
    "a-receiver-only": ("efatura/responses/gib121_KabulUygulamaYanitiOrnegi.xml", (T1,)),
    "a-outside-period": ("eirsaliye/gib121_Irsaliye-Ornek1.xml", (T2,)),
    "b-expired-grant": ("efatura/gib121_TEVKIFAT.xml", (T1,)),
    "c-revoked-grant": ("efatura/gib121_ISTISNA-2.xml", (T2,)),
    "e-supplier": ("efatura/gibpkt_2_TICARI_FATURA.xml", (T2,)),
    "e-envelope-only": ("efatura/envelopes/gibpkt_2_TICARI_FATURA_ZARF.xml", (T1,)),
    "e-response-only": ("efatura/responses/gibpkt_2_UYGULAMA_YANITI_KABUL.xml", (T2,)),
    # Archived by A itself (its integrator): the one document an inspector of A sees that A holds.
    # Its ETTN is that of a-supplier (T1's) and others: a conflict each archiving caller sees in part.
    "a-held-by-a": ("efatura/ubltr_BasicInvoiceNoTime.xml", ("A",)),
}
UNSTORED = "efatura/gib121_HASTANE.xml"  # never archived: refused and unauthenticated uploads use it

# One archive for the module and some 2,000 requests (inspector ones append and fsync a log leaf): ~40 s.
pytestmark = pytest.mark.slow

ROLES = {"admin": "admin", "int1": "integrator", "int2": "integrator", "intA": "integrator", "intE": "integrator",
         "acc1": "accountant", "insp1": "inspector", "insp2": "inspector"}
CALLERS = tuple(ROLES)
BAD_CALLERS = ("none", "garbage", "expired", "revoked", "disabled")
ONE_PER_ROLE = ("admin", "int1", "acc1", "insp1")


# -- the world -------------------------------------------------------------

@dataclass(frozen=True)
class Doc:
    key: str
    rel: str
    tenants: tuple[str, ...]
    data: bytes
    digest: str
    meta: DocumentMetadata

    def party_ids(self, roles: tuple[str, ...] | None = None) -> set[str]:
        return {p.id for p in self.meta.parties if p.id and (roles is None or p.role in roles)}

    def filename(self, tenant: str) -> str:
        return f"{tenant}-{Path(self.rel).name}"


@dataclass(frozen=True)
class Grant:
    id: str
    inspector: str
    vkn: str
    start: dt.date
    end: dt.date
    active: bool


@dataclass
class World:
    client: TestClient
    home: Path
    tokens: dict[str, str]
    tenants: dict[str, tuple[str, ...]]
    docs: dict[str, Doc]
    grants: dict[str, Grant]
    vkn: dict[str, str]
    admin_token_id: str
    spare: dict[str, Any] = field(default_factory=dict)

    def headers(self, caller: str) -> dict[str, str]:
        return {} if caller == "none" else bearer(self.tokens[caller])

    def call(self, caller: str, method: str, url: str, **kw) -> Response:
        return self.client.request(method, url, headers={**kw.pop("headers", {}), **self.headers(caller)}, **kw)

    def admin(self, method: str, url: str, **kw) -> Response:
        return self.call("admin", method, url, **kw)

    def covering(self, caller: str, doc: Doc) -> set[str]:
        """The active grants of *caller* that reach *doc* (LAW.md): VKN as inspectable party, date in period."""
        date = doc.meta.issue_date
        return {g.id for g in self.grants.values() if g.inspector == caller and g.active and date is not None
                and g.vkn in doc.party_ids(INSPECTABLE) and g.start <= date <= g.end}

    def holds(self, caller: str, doc: Doc) -> bool:
        """Whether one of *caller*'s tenants holds *doc*."""
        return bool(set(doc.tenants) & set(self.tenants[caller]))

    def sees(self, caller: str, doc: Doc) -> bool:
        role = ROLES[caller]
        if role == "admin":
            return True
        if role == "inspector":
            return bool(self.covering(caller, doc))
        # What its tenants hold, and what is in their name (what an inspector of them could be shown).
        return self.holds(caller, doc) or bool(doc.party_ids(INSPECTABLE) & set(self.tenants[caller]))

    def flagged(self, caller: str, doc: Doc) -> bool:
        """Whether *doc*, shown to *caller*, is flagged not-held-by-taxpayer: no taxpayer it is shown in the
        name of (an inspector's covering grants, a tenant principal's own) holds it."""
        role = ROLES[caller]
        if role == "admin":
            return False
        if role == "inspector":
            return not {g.vkn for g in self.grants.values() if g.id in self.covering(caller, doc)} & set(doc.tenants)
        return not self.holds(caller, doc)

    def visible(self, caller: str) -> set[str]:
        return {d.digest for d in self.docs.values() if self.sees(caller, d)}

    def event(self, index: int) -> dict:
        """The access event at log *index*, read back as the admin."""
        r = self.admin("GET", "/v1/access-log", params={"after": index - 1, "limit": 10, "proofs": "false"})
        assert r.status_code == 200, r.text
        found = [e for e in r.json()["events"] if e["log_index"] == index]
        assert len(found) == 1, f"no access event at log index {index}"
        return found[0]

    def events(self, r: Response, caller: str, action: str, shown: list[str]) -> list[dict]:
        """The access event *r*'s header names, read back as the admin and checked: one leaf per taxpayer
        whose grants the request used, each naming *caller*, *action*, that taxpayer's grants only, and
        (in the order shown) exactly the documents of *shown* those grants reach."""
        indexes = [int(i) for i in r.headers[EVENT].split(", ")]
        assert indexes == list(range(indexes[0], indexes[0] + len(indexes)))  # one bundle: all or none
        parts = [self.event(i) for i in indexes]
        for p in parts:
            e = p["event"]
            assert e["principal"] == caller and e["action"] == action
            vkns = {g["vkn"] for g in e["grants"]}
            assert len(vkns) <= 1 and sorted(vkns) == p["vkns"], p  # one taxpayer's part, nobody else's
            ids = {g["id"] for g in e["grants"]}
            if len(parts) > 1:
                by_digest = {d.digest: d for d in self.docs.values()}
                assert e["documents"] == [d for d in shown if self.covering(caller, by_digest[d]) & ids], p
        assert {d for p in parts for d in p["event"]["documents"]} == set(shown)
        if len(parts) == 1:
            assert parts[0]["event"]["documents"] == shown
        return parts


def _grant(arch: Archive, inspector: str, vkn: str, start: dt.date, end: dt.date, *, expires_at: dt.datetime,
           now: dt.datetime | None = None, revoke: bool = False) -> Grant:
    g = arch.access.add_grant(inspector, vkn, start, end, expires_at, f"inspection order for {vkn}", by="matrix", now=now)
    if revoke:
        arch.access.revoke_grant(g.id, by="matrix")
    return Grant(g.id, inspector, vkn, start, end, active=not revoke and expires_at > dt.datetime.now(dt.UTC))


def _year(d: dt.date) -> tuple[dt.date, dt.date]:
    return dt.date(d.year, 1, 1), dt.date(d.year, 12, 31)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    docs = {}
    for key, (rel, tenants) in DOCS.items():
        data = (CORPUS / rel).read_bytes()
        meta = parse_document(data, name=rel)
        if tenants == ("A",):  # archived by A itself: its VKN is the supplier of a-supplier, which it supplies too
            tenants = (meta.supplier.id,)
        docs[key] = Doc(key, rel, tenants, data, hashlib.sha256(data).hexdigest(), meta)
    # The taxpayers under inspection, taken from the documents themselves.
    supplier = {k: next(p.id for p in d.meta.parties if p.role == "supplier") for k, d in docs.items()
                if any(p.role == "supplier" for p in d.meta.parties)}
    vkn = {"A": supplier["a-supplier"], "B": supplier["b-expired-grant"], "C": supplier["c-revoked-grant"],
           "E": supplier["e-supplier"]}
    e_day = docs["e-supplier"].meta.issue_date
    period_a, period_e = _year(docs["a-supplier"].meta.issue_date), (e_day.replace(day=1), e_day.replace(day=28))
    # The fixture means what its names say: check the relations against the parsed files.
    assert docs["a-customer-shared"].meta.parties and vkn["A"] in docs["a-customer-shared"].party_ids(("customer",))
    assert vkn["A"] in docs["a-receiver-only"].party_ids() and vkn["A"] not in docs["a-receiver-only"].party_ids(INSPECTABLE)
    assert period_a[0] <= docs["a-receiver-only"].meta.issue_date <= period_a[1]
    assert vkn["A"] in docs["a-outside-period"].party_ids(INSPECTABLE)
    assert not period_a[0] <= docs["a-outside-period"].meta.issue_date <= period_a[1]
    for k in ("e-envelope-only", "e-response-only"):
        assert vkn["E"] in docs[k].party_ids() and vkn["E"] not in docs[k].party_ids(INSPECTABLE)
        assert period_e[0] <= docs[k].meta.issue_date <= period_e[1]
    assert period_e[0] <= docs["e-supplier"].meta.issue_date <= period_e[1]
    assert len(set(vkn.values()) | {T1, T2}) == 6
    assert docs["a-held-by-a"].tenants == (vkn["A"],) and period_a[0] <= docs["a-held-by-a"].meta.issue_date <= period_a[1]

    home = tmp_path_factory.mktemp("authz") / "home"
    now = dt.datetime.now(dt.UTC)
    past = now - dt.timedelta(days=2)
    tenants = {"admin": (), "int1": (T1,), "int2": (T2,), "intA": (vkn["A"],), "intE": (vkn["E"],), "acc1": (T1,),
               "insp1": (), "insp2": ()}
    with Archive.init(home) as arch:
        ac = arch.access
        for name, tns in tenants.items():
            ac.add_principal(name, ROLES[name], tns, by="matrix")
        for name, role, tns in (("int-off", "integrator", (T1,)), ("spare", "accountant", (T2,)),
                                ("insp-spare", "inspector", ())):
            ac.add_principal(name, role, tns, by="matrix")
        new = {name: ac.create_token(name, by="matrix") for name in tenants}
        tokens = {name: t.token for name, t in new.items()}
        # Bad tokens of good principals: one expired (made "two days ago", valid for an hour), one revoked,
        # and a token of a principal disabled after it was made.
        tokens["expired"] = ac.create_token("int1", past + dt.timedelta(hours=1), by="matrix", now=past).token
        revoked = ac.create_token("int1", by="matrix")
        ac.revoke_token(revoked.id, by="matrix")
        tokens["revoked"] = revoked.token
        tokens["disabled"] = ac.create_token("int-off", by="matrix").token
        ac.set_principal("int-off", disabled=True, by="matrix")
        tokens["garbage"] = "earsiv_0123456789abcdef_" + "x" * 43
        later = now + dt.timedelta(days=1)
        grants = {
            "insp1-A": _grant(arch, "insp1", vkn["A"], *period_a, expires_at=later),
            "insp1-E": _grant(arch, "insp1", vkn["E"], *period_e, expires_at=later),
            "insp1-B-expired": _grant(arch, "insp1", vkn["B"], *_year(docs["b-expired-grant"].meta.issue_date),
                                      expires_at=past + dt.timedelta(hours=1), now=past),
            "insp1-C-revoked": _grant(arch, "insp1", vkn["C"], *_year(docs["c-revoked-grant"].meta.issue_date),
                                      expires_at=later, revoke=True),
            "insp2-C": _grant(arch, "insp2", vkn["C"], *_year(docs["c-revoked-grant"].meta.issue_date), expires_at=later),
        }
        assert not grants["insp1-B-expired"].active and not grants["insp1-C-revoked"].active
    # Some 2,000 requests in a minute, inspectors' included: room for them under the rate limits
    # (test_rate_limits below checks the limits on a home of its own).
    cfg = home / "config.toml"
    cfg.write_text(re.sub(r"(?m)^((inspector|access_log)_(per_minute|burst)) = .*$", r"\1 = 100000",
                          cfg.read_text(encoding="utf-8")), encoding="utf-8")
    with TestClient(create_app(home)) as client:
        w = World(client, home, tokens, tenants, docs, grants, vkn, new["admin"].id)
        _archive_all(w)
        yield w


def _archive_all(w: World) -> None:
    """Each tenant's integrator archives its documents over HTTP; the shared one twice, T1 first.

    Many of the documents share one ETTN (GİB's samples reuse it): each answer names the earlier
    ones the archiving integrator may see, and no other (it once named every one, so T2's
    integrator learnt the digests of T1's documents), and says conflict only when it names one."""
    integrator = {T1: "int1", T2: "int2", w.vkn["A"]: "intA"}
    archived: list[Doc] = []
    for doc in w.docs.values():
        for n, tenant in enumerate(doc.tenants):
            # int1 has one tenant, so it may leave `tenant` out; int2 names it.
            params = {} if tenant == T1 else {"tenant": tenant}
            caller = integrator[tenant]
            r = w.call(caller, "POST", "/v1/documents", content=doc.data, params=params,
                       headers={"Content-Type": "application/xml", "X-Filename": doc.filename(tenant)})
            assert r.status_code == 200, r.text
            (res,) = r.json()["results"]
            assert res["digest"] == doc.digest
            if n == 0:
                twins = {d.digest for d in archived if d.meta.ettn and doc.meta.ettn
                         and d.meta.ettn.lower() == doc.meta.ettn.lower()}
                seen = {d.digest for d in archived if d.digest in twins and w.sees(caller, d)}
                assert set(res["conflicts_with"]) == seen and res["shared"] is False, res
                assert res["status"] == ("conflict" if seen else "stored"), res
                w.spare.setdefault("conflicts", []).append((caller, doc.key, twins, seen))
            else:  # the same bytes for a second tenant: one blob, a holding of its own
                assert res["status"] == "stored" and res["shared"] is True, res
        archived.append(doc)


# -- the rows: one per endpoint ----------------------------------------------

Req = tuple[str, dict[str, Any]]  # url, keyword arguments of the request


@dataclass(frozen=True)
class Row:
    build: Callable[[World, str], Req]
    allowed: frozenset[str]  # roles that get a success
    ok: int = 200
    after: Callable[[World, str, Response], None] | None = None  # checks the answer and that a refusal changed nothing


def _self(caller: str) -> str:
    return caller if caller in ROLES else "spare"


def _ingest(w: World, caller: str) -> Req:
    if caller in ROLES:  # bytes already held by T1: a success is a duplicate and changes nothing
        return "/v1/documents", {"content": w.docs["a-supplier"].data, "params": {"tenant": T1},
                                 "headers": {"Content-Type": "application/xml"}}
    return "/v1/documents", {"content": (CORPUS / UNSTORED).read_bytes(), "params": {"tenant": T1},
                             "headers": {"Content-Type": "application/xml"}}


def _after_ingest(w: World, caller: str, r: Response) -> None:
    if r.status_code == 200:
        assert [x["status"] for x in r.json()["results"]] == ["duplicate"]
    unstored = hashlib.sha256((CORPUS / UNSTORED).read_bytes()).hexdigest()
    assert w.admin("GET", f"/v1/documents/{unstored}").status_code == 404


def _after_me(w: World, caller: str, r: Response) -> None:
    me = r.json()
    assert (me["name"], me["role"], me["tenants"]) == (caller, ROLES[caller], sorted(w.tenants[caller]))
    assert {g["id"] for g in me["grants"]} == {g.id for g in w.grants.values() if g.inspector == caller and g.active}


def _principal(w: World, name: str) -> dict | None:
    return next((p for p in w.admin("GET", "/v1/principals").json() if p["name"] == name), None)


def _add_principal(w: World, caller: str) -> Req:
    w.spare["n"] = w.spare.get("n", 0) + 1
    return "/v1/principals", {"json": {"name": f"new-{caller}-{w.spare['n']}", "role": "admin"}}


def _after_add_principal(w: World, caller: str, r: Response) -> None:
    name = f"new-{caller}-{w.spare['n']}"
    assert (_principal(w, name) is not None) == (r.status_code == 201)


def _change_principal(w: World, caller: str) -> Req:
    # Anyone but the admin tries to link itself to every tenant; the admin changes a spare principal.
    name = "spare" if caller == "admin" else _self(caller)
    return f"/v1/principals/{name}", {"json": {"tenants": [T1, T2, w.vkn["A"]]}}


def _after_change_principal(w: World, caller: str, r: Response) -> None:
    if caller == "admin":
        assert r.json()["tenants"] == sorted([T1, T2, w.vkn["A"]])
        assert w.admin("PATCH", "/v1/principals/spare", json={"tenants": [T2]}).status_code == 200
    elif caller in ROLES:
        assert _principal(w, caller)["tenants"] == sorted(w.tenants[caller])
    assert _principal(w, "spare")["tenants"] == [T2]


def _create_token(w: World, caller: str) -> Req:
    return f"/v1/principals/{'spare' if caller == 'admin' else _self(caller)}/tokens", {"json": {}}


def _after_create_token(w: World, caller: str, r: Response) -> None:
    if r.status_code == 201:
        assert r.json()["principal"] == "spare" and r.json()["token"].startswith("earsiv_")


def _revoke_token(w: World, caller: str) -> Req:
    if caller == "admin":  # a token of its own making
        made = w.admin("POST", "/v1/principals/spare/tokens", json={})
        assert made.status_code == 201
        return f"/v1/tokens/{made.json()['id']}", {}
    return f"/v1/tokens/{w.admin_token_id}", {}  # everyone else tries to lock the admin out


def _after_revoke_token(w: World, caller: str, r: Response) -> None:
    if caller == "admin":
        assert r.json()["revoked_at"] is not None
    assert w.admin("GET", "/v1/me").status_code == 200


def _grant_body(w: World, inspector: str, vkn: str) -> dict:
    return {"inspector": inspector, "vkn": vkn, "from": "2000-01-01", "to": "2030-12-31",
            "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat(), "reference": "matrix"}


def _add_grant(w: World, caller: str) -> Req:
    # Anyone but the admin tries to give insp1 everything of T1, the admin grants a spare inspector.
    inspector = "insp-spare" if caller == "admin" else "insp1"
    return "/v1/grants", {"json": _grant_body(w, inspector, T1)}


def _after_add_grant(w: World, caller: str, r: Response) -> None:
    held = {g["inspector"] for g in w.admin("GET", "/v1/grants", params={"vkn": T1}).json()}
    assert "insp1" not in held
    if r.status_code == 201:
        assert r.json()["inspector"] == "insp-spare" and r.json()["active"] is True


def _revoke_grant(w: World, caller: str) -> Req:
    if caller == "admin":
        made = w.admin("POST", "/v1/grants", json=_grant_body(w, "insp-spare", T2))
        assert made.status_code == 201
        return f"/v1/grants/{made.json()['id']}", {}
    return f"/v1/grants/{w.grants['insp1-A'].id}", {}  # everyone else tries to end insp1's inspection


def _after_revoke_grant(w: World, caller: str, r: Response) -> None:
    if caller == "admin":
        assert r.json()["revoked_at"] is not None and r.json()["active"] is False
    (a,) = [g for g in w.admin("GET", "/v1/grants", params={"vkn": w.vkn["A"]}).json() if g["inspector"] == "insp1"]
    assert a["active"] is True


def _after_list_grants(w: World, caller: str, r: Response) -> None:
    if r.status_code != 200:
        return
    ids = {g["id"] for g in r.json()}
    if caller == "admin":
        assert {g.id for g in w.grants.values()} <= ids
    else:  # an inspector lists its own, expired and revoked ones included, and nobody else's
        assert ids == {g.id for g in w.grants.values() if g.inspector == caller}


def _after_access_log(w: World, caller: str, r: Response) -> None:
    for e in r.json()["events"]:
        if ROLES[caller] == "inspector":
            assert e["event"]["principal"] == caller
        elif ROLES[caller] != "admin":  # its taxpayers' part of each event, nobody else's
            assert set(e["vkns"]) <= set(w.tenants[caller])
            assert {g["vkn"] for g in e["event"]["grants"]} <= set(w.tenants[caller])


def _csv_digests(r: Response) -> list[str]:
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"].startswith("text/csv")
    return [row["digest"] for row in csv.DictReader(io.StringIO(r.content.decode("utf-8")))]


def _after_csv(w: World, caller: str, r: Response) -> None:
    digests = _csv_digests(r)
    assert len(digests) == len(set(digests)) and set(digests) == w.visible(caller)
    if ROLES[caller] == "inspector":  # the whole list is one access event (a leaf per taxpayer)
        w.events(r, caller, "export", digests)
    else:
        assert EVENT not in r.headers


def _package(w: World, caller: str) -> Req:
    g = w.grants["insp1-A"]
    return "/v1/packages", {"params": {"vkn": g.vkn, "from": str(g.start), "to": str(g.end)}}


def _report(w: World, caller: str) -> Req:
    """A report of one's own taxpayer (a tenant's principal), of a granted VKN and period (an inspector)."""
    g = w.grants["insp1-A"]
    vkn = w.tenants[caller][0] if w.tenants.get(caller) else g.vkn
    return "/v1/reports/serials", {"params": {"vkn": vkn, "from": str(g.start), "to": str(g.end)}}


def _after_report(w: World, caller: str, r: Response) -> None:
    assert r.json()["report"] == "serials"
    g = w.grants["insp1-A"]
    if ROLES[caller] == "inspector":
        event = w.event(int(r.headers[EVENT]))["event"]
        assert (event["action"], [x["id"] for x in event["grants"]]) == ("report", [g.id])
        assert set(event["documents"]) <= w.visible(caller)
    elif ROLES[caller] != "admin":  # another taxpayer's report is refused
        other = w.call(caller, "GET", "/v1/reports/serials",
                       params={"vkn": g.vkn, "from": str(g.start), "to": str(g.end)})
        _is_problem(other, 403)


def _job_done(w: World, caller: str, job_id: str) -> dict:
    for _ in range(600):  # rounds, not seconds
        job = w.call(caller, "GET", f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never ended: {job}")


def _job_digests(w: World, caller: str, job: dict) -> list[str]:
    r = w.call(caller, "GET", job["links"]["result"])
    assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf"), r.text[:300]
    rows = list(csv.reader(io.StringIO(r.content[3:].decode("utf-8")), delimiter=";"))
    assert rows[0][14] == "Özet / Digest"
    return [row[14] for row in rows[1:]]


def _job(w: World, caller: str) -> str:
    """A done CSV job of *caller*'s (a bad caller: an id that is nobody's)."""
    if caller not in ROLES:
        return "0" * 32
    r = w.call(caller, "POST", "/v1/jobs", json={"kind": "csv"})
    assert r.status_code == 202, r.text
    return _job_done(w, caller, r.json()["id"])["id"]


def _after_create_job(w: World, caller: str, r: Response) -> None:
    if r.status_code != 202:
        return
    job = _job_done(w, caller, r.json()["id"])
    assert job["state"] == "done", job
    digests = _job_digests(w, caller, job)
    assert len(digests) == len(set(digests)) and set(digests) == w.visible(caller)
    if ROLES[caller] == "inspector":  # the whole job is one access event, made with it
        w.events(r, caller, "export", digests)
    for other in CALLERS:  # a job is its principal's alone
        if other != caller:
            theirs = w.call(other, "GET", f"/v1/jobs/{job['id']}")
            assert theirs.status_code == 404 and theirs.json()["type"] == "urn:earsiv:problem:not-found", theirs.text


def _get(url: str, **kw) -> Callable[[World, str], Req]:
    return lambda w, caller: (url, kw)


EVERYONE = frozenset(("admin", "integrator", "accountant", "inspector"))
ADMIN = frozenset(("admin",))

OTHER_ROWS: dict[tuple[str, str], Row] = {
    ("POST", "/v1/documents"): Row(_ingest, frozenset(("admin", "integrator")), after=_after_ingest),
    ("GET", "/v1/documents"): Row(_get("/v1/documents"), EVERYONE),
    ("GET", "/v1/documents.csv"): Row(_get("/v1/documents.csv"), EVERYONE, after=_after_csv),
    ("GET", "/v1/packages"): Row(_package, frozenset(("admin", "inspector"))),
    ("GET", "/v1/reports/{name}"): Row(_report, EVERYONE, after=_after_report),
    ("GET", "/v1/status"): Row(_get("/v1/status"), ADMIN),
    ("GET", "/healthz"): Row(_get("/healthz"), EVERYONE),
    ("GET", "/v1/me"): Row(_get("/v1/me"), EVERYONE, after=_after_me),
    ("GET", "/v1/principals"): Row(_get("/v1/principals"), ADMIN),
    ("POST", "/v1/principals"): Row(_add_principal, ADMIN, 201, _after_add_principal),
    ("PATCH", "/v1/principals/{name}"): Row(_change_principal, ADMIN, after=_after_change_principal),
    ("POST", "/v1/principals/{name}/tokens"): Row(_create_token, ADMIN, 201, _after_create_token),
    ("GET", "/v1/tokens"): Row(_get("/v1/tokens"), ADMIN),
    ("DELETE", "/v1/tokens/{token_id}"): Row(_revoke_token, ADMIN, after=_after_revoke_token),
    ("POST", "/v1/grants"): Row(_add_grant, ADMIN, 201, _after_add_grant),
    ("GET", "/v1/grants"): Row(_get("/v1/grants"), frozenset(("admin", "inspector")), after=_after_list_grants),
    ("DELETE", "/v1/grants/{grant_id}"): Row(_revoke_grant, ADMIN, after=_after_revoke_grant),
    ("GET", "/v1/access-log"): Row(_get("/v1/access-log", params={"proofs": "false"}), EVERYONE,
                                   after=_after_access_log),
    ("POST", "/v1/jobs"): Row(lambda w, c: ("/v1/jobs", {"json": {"kind": "csv"}}), EVERYONE, 202, _after_create_job),
    ("GET", "/v1/jobs"): Row(_get("/v1/jobs"), EVERYONE),
    ("GET", "/v1/jobs/{job_id}"): Row(lambda w, c: (f"/v1/jobs/{_job(w, c)}", {}), EVERYONE),
    ("GET", "/v1/jobs/{job_id}/result"): Row(lambda w, c: (f"/v1/jobs/{_job(w, c)}/result", {}), EVERYONE),
    ("DELETE", "/v1/jobs/{job_id}"): Row(lambda w, c: (f"/v1/jobs/{_job(w, c)}", {}), EVERYONE, 204),
}

# Document rows: (action an inspector's access event names, request).  PUT legal-hold is admin-only.
DOC_ROWS: dict[tuple[str, str], tuple[str | None, Callable[[str], tuple[str, dict]]]] = {
    ("GET", "/v1/documents/{digest}"): ("view", lambda d: (f"/v1/documents/{d}", {})),
    ("GET", "/v1/documents/{digest}/original"): ("original", lambda d: (f"/v1/documents/{d}/original", {})),
    ("POST", "/v1/documents/{digest}/verify"): ("verify", lambda d: (f"/v1/documents/{d}/verify", {})),
    ("GET", "/v1/documents/{digest}/evidence"): ("evidence", lambda d: (f"/v1/documents/{d}/evidence", {})),
    ("GET", "/v1/documents/{digest}/print"): ("print", lambda d: (f"/v1/documents/{d}/print", {"params": {"format": "html"}})),
    ("PUT", "/v1/documents/{digest}/legal-hold"): (None, lambda d: (f"/v1/documents/{d}/legal-hold",
                                                                    {"json": {"on": False, "reason": "matrix"}})),
}


def _is_unshown(e: dict, caller: str, action: str, status: int, path: str) -> None:
    """An access event of a request that showed nothing: what was asked, what was answered, no grant, no document."""
    event = e["event"]
    assert (event["principal"], event["role"], event["action"]) == (caller, "inspector", action), event
    assert event["grants"] == [] and event["documents"] == [], event
    assert event["outcome"] == {"status": status}, event
    assert event["params"]["path"] == path.split("?")[0], event


def _is_problem(r: Response, status: int) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    code = {401: "unauthenticated", 403: "forbidden", 404: "document-not-found"}[status]
    assert body["type"] == f"urn:earsiv:problem:{code}", body
    return body


def test_every_endpoint_of_the_spec_has_a_row(world):
    spec = world.client.app.openapi()
    endpoints = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert endpoints == set(OTHER_ROWS) | set(DOC_ROWS), "an endpoint without a matrix row, or a row without endpoint"
    assert not set(OTHER_ROWS) & set(DOC_ROWS)


ALL_ROWS = sorted(set(OTHER_ROWS) | set(DOC_ROWS))


@pytest.mark.parametrize("caller", BAD_CALLERS)
@pytest.mark.parametrize("endpoint", ALL_ROWS, ids=lambda e: f"{e[0]} {e[1]}")
def test_no_valid_token_is_401(world, endpoint, caller):
    method, path = endpoint
    if endpoint in DOC_ROWS:
        url, kw = DOC_ROWS[endpoint][1](world.docs["a-supplier"].digest)
    else:
        url, kw = OTHER_ROWS[endpoint].build(world, caller)
    r = world.call(caller, method, url, **kw)
    if path == "/healthz":
        assert r.status_code == 200
        return
    body = _is_problem(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert EVENT.lower() not in {k.lower() for k in r.headers}
    assert world.docs["a-supplier"].digest not in r.text
    if endpoint in OTHER_ROWS and OTHER_ROWS[endpoint].after and method != "GET":
        OTHER_ROWS[endpoint].after(world, caller, r)  # nothing happened
    assert body["type"] == "urn:earsiv:problem:unauthenticated"


@pytest.mark.parametrize("caller", ONE_PER_ROLE)
@pytest.mark.parametrize("endpoint", sorted(OTHER_ROWS), ids=lambda e: f"{e[0]} {e[1]}")
def test_roles(world, endpoint, caller):
    row = OTHER_ROWS[endpoint]
    url, kw = row.build(world, caller)
    r = world.call(caller, endpoint[0], url, **kw)
    if ROLES[caller] in row.allowed:
        assert r.status_code == row.ok, r.text[:500]
    else:
        _is_problem(r, 403)
    if ROLES[caller] == "inspector" and endpoint[1] != "/healthz":
        # Every request of an inspector is an event, answered or refused: one leaf per taxpayer
        # whose grants it used (a search under two taxpayers' grants: two).
        events = [world.event(int(i))["event"] for i in r.headers[EVENT].split(", ")]
        assert all(e["principal"] == caller for e in events)
        assert len({g["vkn"] for e in events for g in e["grants"]}) == len([e for e in events if e["grants"]])
        if r.status_code == 403:
            assert [(e["outcome"], e["documents"]) for e in events] == [({"status": 403}, [])], events
    else:
        assert EVENT not in r.headers
    if row.after:
        row.after(world, caller, r)


TARGETS = (*DOCS, "absent")


def _target(w: World, key: str) -> tuple[str, Doc | None]:
    return (ABSENT, None) if key == "absent" else (w.docs[key].digest, w.docs[key])


def _check_content(w: World, caller: str, endpoint: tuple[str, str], doc: Doc, r: Response) -> None:
    path = endpoint[1]
    if path == "/v1/documents/{digest}":
        assert r.json()["digest"] == doc.digest
        holders = {h["tenant"] for h in r.json()["holdings"]}
        role = ROLES[caller]
        assert holders == (set(doc.tenants) if role == "admin" else set() if role == "inspector"
                           else set(doc.tenants) & set(w.tenants[caller]))
        assert ("not-held-by-taxpayer" in r.json()["flags"]) == w.flagged(caller, doc)
    elif path.endswith("/original"):
        assert r.content == doc.data
    elif path.endswith("/verify"):
        assert r.json() == {"digest": doc.digest, "ok": True, "failures": []}
    elif path.endswith("/evidence"):
        with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
            assert zf.read(f"evidence-{doc.digest[:16]}/original.xml") == doc.data
            leaf = json.loads(zf.read(f"evidence-{doc.digest[:16]}/leaf.json"))
        assert leaf["digest"] == doc.digest
        if ROLES[caller] in ("integrator", "accountant"):  # the caller's own holding, never another tenant's
            assert leaf.get("tenant") in w.tenants[caller], leaf
    elif path.endswith("/print"):
        assert r.headers["content-type"].startswith("text/html") and (doc.meta.doc_id or "<") in r.text


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", sorted(DOC_ROWS), ids=lambda e: f"{e[0]} {e[1]}")
def test_documents(world, endpoint, caller, target):
    action, build = DOC_ROWS[endpoint]
    digest, doc = _target(world, target)
    url, kw = build(digest)
    r = world.call(caller, endpoint[0], url, **kw)
    if action is None:  # legal hold: admins only, and a refusal says nothing about the document
        if ROLES[caller] != "admin":
            assert digest not in _is_problem(r, 403)["detail"]
        elif doc is None:
            _is_problem(r, 404)
        else:
            assert r.status_code == 200 and {h["tenant"] for h in r.json()["holdings"]} == set(doc.tenants)
        return
    if doc is not None and endpoint[1].endswith("/evidence") and world.sees(caller, doc) \
            and ROLES[caller] in ("integrator", "accountant") and not world.holds(caller, doc):
        # In its taxpayer's name but held by another: its evidence would prove another's holding.
        assert doc.digest in _is_problem(r, 403)["detail"] and EVENT not in r.headers
        return
    if doc is None or not world.sees(caller, doc):
        body = _is_problem(r, 404)
        # Indistinguishable from a digest nobody ever archived: existence is not revealed.
        missing = world.call(caller, endpoint[0], build(ABSENT)[0], **build(ABSENT)[1])
        assert body == {k: (v.replace(ABSENT, digest) if isinstance(v, str) else v) for k, v in missing.json().items()}
        if ROLES[caller] != "inspector":
            assert EVENT.lower() not in {k.lower() for k in r.headers}
            return
        # Was traceless: an inspector's probe that is answered 404 is an access event, and it reads
        # the same whether the document exists (hidden from it) or was never archived.
        probe, absent = world.event(int(r.headers[EVENT])), world.event(int(missing.headers[EVENT]))
        _is_unshown(probe, caller, action, 404, url)
        _is_unshown(absent, caller, action, 404, build(ABSENT)[0])
        assert probe["vkns"] == absent["vkns"] == []
        return
    assert r.status_code == 200, r.text[:500]
    _check_content(world, caller, endpoint, doc, r)
    if ROLES[caller] != "inspector":
        assert EVENT.lower() not in {k.lower() for k in r.headers}
        return
    parts = world.events(r, caller, action, [doc.digest])
    assert {g["id"] for e in parts for g in e["event"]["grants"]} == world.covering(caller, doc)
    assert {v for e in parts for v in e["vkns"]} == {g.vkn for g in world.grants.values()
                                                     if g.id in world.covering(caller, doc)}


@pytest.mark.parametrize("caller", CALLERS)
def test_if_none_match_reveals_nothing(world, caller):
    """A 304 would confirm that the archive holds the document: only for those who may see it."""
    for doc in world.docs.values():
        r = world.call(caller, "GET", f"/v1/documents/{doc.digest}/original",
                       headers={"If-None-Match": f'"{doc.digest}"'})
        if not world.sees(caller, doc):
            _is_problem(r, 404)
        elif ROLES[caller] == "inspector":  # every download of an inspector is an access event
            assert r.status_code == 200 and r.content == doc.data and EVENT in r.headers
        else:
            assert r.status_code == 304


# -- listings -----------------------------------------------------------------

def _pages(w: World, caller: str, params: dict, limit: int = 3) -> list[tuple[list[dict], Response]]:
    pages, cursor = [], None
    while True:
        r = w.call(caller, "GET", "/v1/documents", params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        pages.append((r.json()["documents"], r))
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return pages


@pytest.mark.parametrize("caller", CALLERS)
def test_search_pages_show_exactly_what_the_caller_may_see(world, caller):
    pages = _pages(world, caller, {})
    digests = [d["digest"] for docs, _r in pages for d in docs]
    assert len(digests) == len(set(digests))
    assert set(digests) == world.visible(caller)
    by_digest = {d.digest: d for d in world.docs.values()}
    role = ROLES[caller]
    for docs, r in pages:
        for d in docs:
            holders = {h["tenant"] for h in d["holdings"]}
            doc = by_digest[d["digest"]]
            assert ("not-held-by-taxpayer" in d["flags"]) == world.flagged(caller, doc), (caller, doc.key)
            if role == "admin":
                assert holders == set(doc.tenants)
            elif role == "inspector":
                assert holders == set()
            else:  # the shared document shows this tenant's holding, under the name it sent
                assert holders == set(doc.tenants) & set(world.tenants[caller])
                assert {h["source_name"] for h in d["holdings"]} == {doc.filename(t) for t in holders}
        if role == "inspector":
            parts = world.events(r, caller, "search", [d["digest"] for d in docs])
            assert {g["id"] for e in parts for g in e["event"]["grants"]} == {
                g.id for g in world.grants.values() if g.inspector == caller and g.active}
        else:
            assert EVENT not in r.headers


def _all_vkns(w: World) -> list[str]:
    return sorted({p.id for d in w.docs.values() for p in d.meta.parties if p.scheme in ("VKN", "TCKN")} | {T1, T2})


# Every query parameter of the listings, and where the scope test below exercises it.  A parameter added to
# the spec without a line here fails test_every_listing_parameter_is_exercised.
LISTING_PARAMETERS = {"vkn", "from", "to", "kind", "profile", "type", "id", "ettn", "q", "tenant", "limit", "cursor",
                      "max", "signature", "trust", "signer"}


def test_every_listing_parameter_is_exercised(world):
    spec = world.client.app.openapi()["paths"]
    for path in ("/v1/documents", "/v1/documents.csv"):
        names = {p["name"] for p in spec[path]["get"].get("parameters", ()) if p["in"] == "query"}
        assert names <= LISTING_PARAMETERS, f"{path}: no scope check for {names - LISTING_PARAMETERS}"


def _listed(w: World, caller: str, params: dict) -> set[str]:
    """What the paged search and the CSV export show for *params*; they must agree."""
    paged = [d["digest"] for docs, _r in _pages(w, caller, params, limit=1000) for d in docs]
    exported = _csv_digests(w.call(caller, "GET", "/v1/documents.csv", params={**params, "max": 1000}))
    assert len(paged) == len(set(paged)) and sorted(paged) == sorted(exported), params
    return set(paged)


def _words(doc: Doc) -> list[str]:
    """A few words of the document's party names, for the full-text filter."""
    names = " ".join(p.name or "" for p in doc.meta.parties)
    return [w for w in dict.fromkeys(names.split()) if len(w) >= 5 and w.isalpha()][:2]


@pytest.mark.parametrize("caller", CALLERS)
def test_search_filters_never_widen_the_scope(world, caller):
    role = ROLES[caller]
    for v in _all_vkns(world):
        got = _listed(world, caller, {"vkn": v})
        if role == "inspector":
            # For an inspector `vkn` names the taxpayer under inspection: only grants on that VKN apply.
            want = {d.digest for d in world.docs.values() if any(
                g.vkn == v and g.id in world.covering(caller, d) for g in world.grants.values())}
        else:
            want = {d.digest for d in world.docs.values() if world.sees(caller, d) and v in d.party_ids()}
        assert got == want, v
    for tenant in (T1, T2, world.vkn["A"]):
        if role == "admin" or tenant in world.tenants[caller]:
            got = _listed(world, caller, {"tenant": tenant})
            assert got == {d.digest for d in world.docs.values() if tenant in d.tenants and world.sees(caller, d)}
        else:  # asking what another tenant holds is asking about that tenant (inspectors see no holdings at all)
            for path in ("/v1/documents", "/v1/documents.csv"):
                body = _is_problem(world.call(caller, "GET", path, params={"tenant": tenant}), 403)
                assert not any(d.digest in body["detail"] for d in world.docs.values())
    for doc in world.docs.values():
        for params in ({"id": doc.meta.doc_id}, {"ettn": doc.meta.ettn}, {"kind": doc.meta.kind},
                       {"profile": doc.meta.profile}, {"type": doc.meta.type_code},
                       {"from": str(doc.meta.issue_date), "to": str(doc.meta.issue_date)}):
            if None in params.values():
                continue
            got = _listed(world, caller, params)
            assert got <= world.visible(caller), params
            assert (doc.digest in got) == world.sees(caller, doc), params
    # The signature verdicts narrow, never widen; every visible document has exactly one status.
    by_status = [_listed(world, caller, {"signature": s})
                 for s in ("consistent", "invalid", "unsigned", "unverifiable", "pending")]
    assert sorted(d for got in by_status for d in got) == sorted(world.visible(caller))
    for params in ({"trust": "trusted"}, {"trust": "untrusted"}, {"signer": "supplier"}, {"signer": "other"},
                   {"signer": "unknown"}):
        assert _listed(world, caller, params) <= by_status[0], params  # asked of consistent signatures only


def _paged(w: World, caller: str, params: dict) -> set[str]:
    return {d["digest"] for docs, _r in _pages(w, caller, params, limit=1000) for d in docs}


def _text_caught_up(w: World) -> None:
    """Wait for the server's worker to take every log entry into the full-text index (it trails the log)."""
    for _ in range(300):
        if w.admin("GET", "/v1/status").json()["pending"]["fulltext"] == 0:
            return
        time.sleep(0.1)
    raise AssertionError("the full-text index did not catch up in 30 s")


@pytest.mark.parametrize("caller", CALLERS)
def test_full_text_search_never_widens_the_scope(world, caller):
    # Was flaky: run first in a worker, it searched before the background full-text indexing had begun.
    _text_caught_up(world)
    findable = 0
    for doc in world.docs.values():
        for word in _words(doc):
            got = _paged(world, caller, {"q": word})
            assert got <= world.visible(caller), word
            if doc.digest in _paged(world, "admin", {"q": word}):  # findable at all: then exactly by who may see it
                findable += 1
                assert (doc.digest in got) == world.sees(caller, doc), word
    assert findable  # the check above ran for some document


@pytest.mark.parametrize("caller", ["admin", "int2", "insp1"])
def test_csv_export_with_full_text_is_scoped(world, caller):
    # Was a 500: the export passed a full-text query to Index.search (ValueError).
    for doc in world.docs.values():
        for word in _words(doc):
            assert _listed(world, caller, {"q": word}) <= world.visible(caller)


@pytest.mark.parametrize(("caller", "other"), [("int1", T2), ("int2", T1), ("acc1", T2)])
def test_tenant_filter_tells_nothing_about_other_tenants(world, caller, other):
    # Was a leak: int1 asking `tenant=T2` was shown the shared document, so it learnt that T2 holds it.
    r = world.call(caller, "GET", "/v1/documents", params={"tenant": other})
    if r.status_code != 403:
        assert r.status_code == 200 and r.json()["documents"] == [], [d["doc_id"] for d in r.json()["documents"]]
    r = world.call(caller, "GET", "/v1/documents.csv", params={"tenant": other})
    assert r.status_code == 403 or _csv_digests(r) == []


# -- packages -----------------------------------------------------------------

def _manifest_order(content: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        (manifest,) = [n for n in zf.namelist() if n.endswith("/data/manifest.csv")]
        return [r["digest"] for r in csv.DictReader(io.StringIO(zf.read(manifest).decode("utf-8")))]


def _package_digests(content: bytes) -> tuple[set[str], set[str]]:
    """(digests of manifest.csv, digests named anywhere in the zip's file names)."""
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        names = zf.namelist()
        (manifest,) = [n for n in names if n.endswith("/data/manifest.csv")]
        rows = list(csv.DictReader(io.StringIO(zf.read(manifest).decode("utf-8"))))
    return {r["digest"] for r in rows}, {part for n in names for part in n.split("/") if len(part) == 64}


PACKAGE_CASES = {
    # name: (caller, grant whose VKN is asked, (from, to) or None for the grant's period, allowed?)
    "A-in-period": ("insp1", "insp1-A", None, True),
    "A-wider-period-is-cut": ("insp1", "insp1-A", (dt.date(2000, 1, 1), dt.date(2030, 12, 31)), True),
    "A-outside-period": ("insp1", "insp1-A", (dt.date(2016, 1, 1), dt.date(2016, 12, 31)), False),
    "E-envelope-not-included": ("insp1", "insp1-E", None, True),
    "B-expired-grant": ("insp1", "insp1-B-expired", None, False),
    "C-revoked-grant": ("insp1", "insp1-C-revoked", None, False),
    "C-other-inspector": ("insp2", "insp2-C", None, True),
    "A-not-granted": ("insp2", "insp1-A", None, False),
}


@pytest.mark.parametrize("case", PACKAGE_CASES)
def test_inspector_packages(world, case):
    caller, grant, period, allowed = PACKAGE_CASES[case]
    g = world.grants[grant]
    start, end = period or (g.start, g.end)
    r = world.call(caller, "GET", "/v1/packages", params={"vkn": g.vkn, "from": str(start), "to": str(end)})
    if not allowed:
        _is_problem(r, 403)
        _is_unshown(world.event(int(r.headers[EVENT])), caller, "package", 403, "/v1/packages")
        return
    assert r.status_code == 200, r.text[:500]
    want = {d.digest for d in world.docs.values()
            if any(x.vkn == g.vkn and x.id in world.covering(caller, d) for x in world.grants.values())
            and start <= d.meta.issue_date <= end}
    assert want  # each allowed case shows something, so "nothing leaked" is not "nothing shown"
    in_manifest, named = _package_digests(r.content)
    assert in_manifest == want
    assert named <= want
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:  # which of them the taxpayer itself holds
        (manifest,) = [n for n in zf.namelist() if n.endswith("/data/manifest.csv")]
        held = {row["digest"]: row["held_by_taxpayer"] for row in csv.DictReader(io.StringIO(zf.read(manifest).decode()))}
    assert held == {d.digest: "yes" if g.vkn in d.tenants else "no" for d in world.docs.values() if d.digest in want}
    (e,) = world.events(r, caller, "package", _manifest_order(r.content))
    assert {x["vkn"] for x in e["event"]["grants"]} == {g.vkn}


@pytest.mark.parametrize("vkn", ["A", "T1"])
@pytest.mark.parametrize("caller", ["int1", "intA", "acc1"])
def test_tenant_principals_get_no_packages(world, caller, vkn):
    v = {"T1": T1}.get(vkn) or world.vkn[vkn]
    r = world.call(caller, "GET", "/v1/packages", params={"vkn": v, "from": "2000-01-01", "to": "2030-12-31"})
    _is_problem(r, 403)


# -- access log ---------------------------------------------------------------

def _log(w: World, caller: str, **params) -> Response:
    return w.call(caller, "GET", "/v1/access-log", params={"proofs": "false", "limit": 1000, **params})


def test_access_log_is_shown_to_the_inspected_taxpayer_only(world):
    doc = world.docs["a-supplier"]
    r = world.call("insp1", "GET", f"/v1/documents/{doc.digest}")
    a_event = int(r.headers[EVENT])
    r = world.call("insp2", "GET", f"/v1/documents/{world.docs['c-revoked-grant'].digest}")
    c_event = int(r.headers[EVENT])
    # From just before these two: the module's world has made over a thousand events before them (a page's most).
    since = min(a_event, c_event) - 1

    def log(caller: str, **params) -> Response:
        return _log(world, caller, after=since, **params)

    def indexes(r: Response) -> set[int]:
        assert r.status_code == 200, r.text
        return {e["log_index"] for e in r.json()["events"]}

    assert {a_event, c_event} <= indexes(log("admin"))
    assert a_event in indexes(log("insp1")) and c_event not in indexes(log("insp1"))
    assert c_event in indexes(log("insp2")) and a_event not in indexes(log("insp2"))
    # A's integrator (linked to A) reads what inspectors were shown of A, and nothing about C.
    for params in ({"vkn": world.vkn["A"]}, {}):
        seen = indexes(log("intA", **params))
        assert a_event in seen and c_event not in seen
    # Principals of other taxpayers: 403 when they name A, and nothing of A when they do not.
    for caller in ("int1", "int2", "acc1"):
        _is_problem(log(caller, vkn=world.vkn["A"]), 403)
        _is_problem(log(caller, vkn=world.vkn["C"]), 403)
        assert not indexes(log(caller)) & {a_event, c_event}
        assert not indexes(log(caller, vkn=world.tenants[caller][0])) & {a_event, c_event}
    # An inspector asking for another taxpayer's events gets only its own (none about A for insp2).
    assert not indexes(log("insp2", vkn=world.vkn["A"]))


def test_each_taxpayer_reads_its_own_part_of_a_request_with_its_proof(world):
    """insp1 searches under its grants for A and E at once: A's integrator reads A's part and E's integrator
    E's, each without the other's inspection order or documents, each proven by its own leaf."""
    r = world.call("insp1", "GET", "/v1/documents", params={"limit": 1000})
    assert r.status_code == 200, r.text
    shown = [d["digest"] for d in r.json()["documents"]]
    parts = world.events(r, "insp1", "search", shown)
    assert len(parts) == 2 and {v for p in parts for v in p["vkns"]} == {world.vkn["A"], world.vkn["E"]}
    indexes = {p["log_index"] for p in parts}
    by_digest = {d.digest: d for d in world.docs.values()}
    for caller, mine, other in (("intA", "A", "E"), ("intE", "E", "A")):
        got = world.call(caller, "GET", "/v1/access-log", params={"after": min(indexes) - 1, "limit": 10})
        assert got.status_code == 200, got.text
        (e,) = [e for e in got.json()["events"] if e["log_index"] in indexes]
        assert e["vkns"] == [world.vkn[mine]] and not e["redacted"]
        mine_ids = {g.id for g in world.grants.values() if g.inspector == "insp1" and g.active and g.vkn == world.vkn[mine]}
        assert {g["id"] for g in e["event"]["grants"]} == mine_ids
        assert e["event"]["documents"] == [d for d in shown if world.covering("insp1", by_digest[d]) & mine_ids]
        text = json.dumps(e)
        other_ids = {g.id for g in world.grants.values() if g.vkn == world.vkn[other]}
        assert not any(i in text for i in other_ids) and f"inspection order for {world.vkn[other]}" not in text
        assert not any(d in text for d in shown if d not in e["event"]["documents"])
        proof = e["proof"]
        leaf = proof["leaf"].encode("utf-8")
        assert json.loads(leaf) == e["event"]
        root = root_from_inclusion(proof["proof"]["log_index"], proof["proof"]["tree_size"], leaf,
                                   [bytes.fromhex(h) for h in proof["proof"]["hashes"]])
        assert root.hex() == proof["proof"]["root"] and f"root: {root.hex()}\n" in proof["checkpoint"]
    for caller in ("int1", "int2", "acc1"):
        seen = _log(world, caller, after=min(indexes) - 1).json()["events"]  # from these on: a page holds 1,000
        assert not {e["log_index"] for e in seen} & indexes


def test_an_access_event_proves_itself_with_standard_tools(world, tmp_path):
    doc = world.docs["a-customer-shared"]
    r = world.call("insp1", "GET", f"/v1/documents/{doc.digest}/evidence")
    assert r.status_code == 200
    index = int(r.headers[EVENT])
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        tsa_cert = zf.read(f"evidence-{doc.digest[:16]}/tsa-anchors.pem")
    r = world.call("insp1", "GET", "/v1/access-log", params={"after": index - 1, "limit": 1})
    assert r.status_code == 200, r.text
    (e,) = [x for x in r.json()["events"] if x["log_index"] == index]
    proof = e["proof"]
    leaf = proof["leaf"].encode("utf-8")
    assert e["event"]["documents"] == [doc.digest] and e["event"]["principal"] == "insp1"
    assert '"principal":"insp1"' in proof["leaf"] and doc.digest in proof["leaf"]
    root = root_from_inclusion(proof["proof"]["log_index"], proof["proof"]["tree_size"], leaf,
                                [bytes.fromhex(h) for h in proof["proof"]["hashes"]])
    assert root.hex() == proof["proof"]["root"]
    assert f"root: {root.hex()}\n" in proof["checkpoint"] and f"size: {proof['proof']['tree_size']}\n" in proof["checkpoint"]
    # The proof has teeth: another leaf does not reach the root.
    assert root_from_inclusion(proof["proof"]["log_index"], proof["proof"]["tree_size"], leaf.replace(b"insp1", b"insp2"),
                                [bytes.fromhex(h) for h in proof["proof"]["hashes"]]) != root
    (tmp_path / "checkpoint.txt").write_text(proof["checkpoint"], encoding="utf-8", newline="")
    (tmp_path / "checkpoint.tsr").write_bytes(base64.b64decode(proof["checkpoint_tsr"]))
    (tmp_path / "tsa-cert.pem").write_bytes(tsa_cert)
    (tmp_path / "other.txt").write_text(proof["checkpoint"] + "x", encoding="utf-8", newline="")

    def ts_verify(data: str) -> subprocess.CompletedProcess:
        return subprocess.run(["openssl", "ts", "-verify", "-data", data, "-in", "checkpoint.tsr", "-token_in",
                               "-CAfile", "tsa-cert.pem"], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                              check=False)

    out = ts_verify("checkpoint.txt")
    assert out.returncode == 0 and "Verification: OK" in out.stdout, out.stderr
    assert ts_verify("other.txt").returncode != 0


# -- ingest refusals and shared holdings ----------------------------------------

@pytest.mark.parametrize(("caller", "tenant"), [("int1", T2), ("int2", T1), ("intA", T1), ("int1", "3333333333"),
                                                ("acc1", T1), ("acc1", None), ("insp1", None), ("insp1", T1)])
def test_refused_ingest_stores_nothing(world, caller, tenant):
    data = (CORPUS / UNSTORED).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    before = world.admin("GET", "/v1/status").json()
    files = [("files", (Path(UNSTORED).name, data, "application/xml"))]
    r = world.call(caller, "POST", "/v1/documents", files=files, params={"tenant": tenant} if tenant else {})
    _is_problem(r, 403)
    after = world.admin("GET", "/v1/status").json()
    assert (after["documents"], after["bytes_original"]) == (before["documents"], before["bytes_original"])
    _is_problem(world.admin("GET", f"/v1/documents/{digest}"), 404)
    meta = parse_document(data)
    assert not world.admin("GET", "/v1/documents", params={"id": meta.doc_id}).json()["documents"]


def test_shared_document_is_one_blob_two_holdings(world):
    doc = world.docs["a-customer-shared"]
    admin = world.admin("GET", f"/v1/documents/{doc.digest}").json()
    assert [(h["tenant"], h["source_name"]) for h in admin["holdings"]] == [(t, doc.filename(t)) for t in doc.tenants]
    assert (world.home / "store" / "objects" / "blobs" / doc.digest[:2] / doc.digest).is_file()
    assert len([p for p in (world.home / "store").rglob(f"*{doc.digest}*") if p.is_file()]) == 1
    for caller, tenant in (("int1", T1), ("int2", T2), ("acc1", T1)):
        holdings = world.call(caller, "GET", f"/v1/documents/{doc.digest}").json()["holdings"]
        assert [(h["tenant"], h["source_name"]) for h in holdings] == [(tenant, doc.filename(tenant))]


# What a second tenant of shared bytes must not learn about the first tenant's holding (its VKN, the
# file name it sent).  Each was a leak when this test was written: the original's Content-Disposition
# used the first holding's file name, and the evidence leaf (also inside the PDF) named the first tenant.
def _other_holding_marks(world: World) -> tuple[Doc, list[bytes]]:
    doc = world.docs["a-customer-shared"]
    return doc, [T1.encode(), doc.filename(T1).encode()]


def test_shared_original_does_not_name_the_other_tenants_file(world):
    doc, marks = _other_holding_marks(world)
    r = world.call("int2", "GET", f"/v1/documents/{doc.digest}/original")
    assert r.status_code == 200 and r.content == doc.data
    assert not any(m.decode() in r.headers["content-disposition"] for m in marks), r.headers["content-disposition"]


def test_shared_evidence_does_not_name_the_other_tenant(world):
    doc, marks = _other_holding_marks(world)
    r = world.call("int2", "GET", f"/v1/documents/{doc.digest}/evidence")
    assert r.status_code == 200
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        texts = {n: zf.read(n) for n in zf.namelist() if not n.endswith("original.xml")}
    assert not [n for n, t in texts.items() if any(m in t for m in marks)]


def test_shared_print_does_not_name_the_other_tenant(world):
    from pypdf import PdfReader

    doc, marks = _other_holding_marks(world)
    r = world.call("int2", "GET", f"/v1/documents/{doc.digest}/print")
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")
    attached = PdfReader(io.BytesIO(r.content)).attachments
    leaked = [name for name, blobs in attached.items() for b in blobs if b != doc.data and any(m in b for m in marks)]
    assert not leaked


def test_inspectors_see_no_holdings_and_no_tenant(world):
    """An inspector sees documents through grants; who archived them is not its business."""
    for doc in world.docs.values():
        if world.sees("insp1", doc):
            body = world.call("insp1", "GET", f"/v1/documents/{doc.digest}").json()
            assert body["holdings"] == []
            assert not any(doc.filename(t) in str(body) for t in doc.tenants)


def test_matrix_is_not_vacuous(world):
    """Each relation the brief names occurs, so a row's 404 is a real refusal and a 200 a real grant."""
    sees = {(c, k) for c in CALLERS for k, d in world.docs.items() if world.sees(c, d)}
    for key in ("a-supplier", "a-customer-shared", "a-supplier-t2", "e-supplier"):
        assert ("insp1", key) in sees
    for key in ("a-receiver-only", "a-outside-period", "b-expired-grant", "c-revoked-grant", "e-envelope-only",
                "e-response-only"):
        assert ("insp1", key) not in sees
    assert ("insp2", "c-revoked-grant") in sees
    assert ("int1", "a-customer-shared") in sees and ("int2", "a-customer-shared") in sees
    assert ("int1", "a-supplier-t2") not in sees and ("int2", "a-supplier") not in sees
    # A's integrator sees what is in A's name, held by A or not (a grant is not a holding); only one is A's own.
    assert {k for c, k in sees if c == "intA"} == {"a-supplier", "a-customer-shared", "a-supplier-t2",
                                                   "a-outside-period", "a-held-by-a"}
    assert {k for k, d in world.docs.items() if world.sees("intA", d) and not world.flagged("intA", d)} == {"a-held-by-a"}
    assert {k for k, d in world.docs.items() if world.sees("insp1", d) and not world.flagged("insp1", d)} == {"a-held-by-a"}
    # Conflicts: some answer named an earlier document with the same ETTN, some kept one quiet (another's).
    conflicts = world.spare["conflicts"]
    assert any(seen for _c, _k, _t, seen in conflicts)
    assert any(twins - seen for _c, _k, twins, seen in conflicts)


# -- inspectors: every request is an event; the rate limits ------------------------------------

PROBES = [
    # (method, url, kwargs, status, action): each showed nothing, and each used to leave no trace.
    ("GET", "/v1/documents/not-a-digest", {}, 422, "view"),
    ("GET", f"/v1/documents/{ABSENT}/print", {"params": {"format": "docx"}}, 422, "print"),
    ("GET", "/v1/documents", {"params": {"from": "2020-13-01"}}, 422, "search"),
    ("GET", "/v1/documents", {"params": {"tenant": T1}}, 403, "search"),
    ("GET", "/v1/status", {}, 403, "request"),
    ("POST", "/v1/grants", {"json": {"nothing": 1}}, 422, "request"),
    ("DELETE", "/v1/documents", {}, 405, "request"),
    ("GET", "/v1/nowhere", {"params": {"vkn": "1234567890"}}, 404, "request"),
]


@pytest.mark.parametrize(("method", "url", "kw", "status", "action"), PROBES, ids=lambda v: str(v)[:40])
def test_every_inspector_request_is_an_access_event(world, method, url, kw, status, action):
    r = world.call("insp1", method, url, **kw)
    assert r.status_code == status, r.text[:300]
    e = world.event(int(r.headers[EVENT]))
    _is_unshown(e, "insp1", action, status, url)
    assert e["vkns"] == []  # no grant named: nothing about a taxpayer is told to the taxpayers' principals
    if "params" in kw:  # what was asked is in the event
        assert [list(p) for p in kw["params"].items()] == e["event"]["params"]["query"]
    # The event is proved like any other.
    r = world.call("insp1", "GET", "/v1/access-log", params={"after": int(r.headers[EVENT]) - 1, "limit": 1})
    assert r.json()["events"][0]["proof"]["proof"]["log_index"] == e["log_index"]


def test_rate_limits_per_principal(tmp_path):
    """Each inspector request and each read of the access log is kept for years: both are rate limited."""
    home = tmp_path / "home"
    with Archive.init(home) as arch:
        for name, role, tns in (("ins", "inspector", ()), ("ins2", "inspector", ()), ("acc", "accountant", (T1,)),
                                ("adm", "admin", ())):
            arch.access.add_principal(name, role, tns, by="test")
        tokens = {n: arch.access.create_token(n, by="test").token for n in ("ins", "ins2", "acc", "adm")}
    cfg = home / "config.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("inspector_burst = 30", "inspector_burst = 3")
                   .replace("access_log_burst = 10", "access_log_burst = 2"), encoding="utf-8")
    with TestClient(create_app(home)) as client:
        def get(who: str, url: str, **kw) -> Response:
            return client.get(url, headers=bearer(tokens[who]), **kw)

        assert [get("ins", "/v1/me").status_code for _ in range(3)] == [200] * 3
        before = get("adm", "/v1/access-log", params={"proofs": "false", "limit": 1000}).json()["events"]
        r = get("ins", "/v1/documents")
        assert r.status_code == 429 and r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"] == "urn:earsiv:problem:too-many-requests"
        assert 1 <= int(r.headers["retry-after"]) <= 2  # 60 a minute: a token a second
        assert EVENT not in r.headers  # refused before it was anything: no event, no write
        after = get("adm", "/v1/access-log", params={"proofs": "false", "limit": 1000}).json()["events"]
        assert len(after) == len(before)
        assert get("ins2", "/v1/me").status_code == 200  # per principal
        assert all(get("adm", "/v1/me").status_code == 200 for _ in range(10))  # admins are not limited...
        # ... but reading the access log (which may make a checkpoint and pay for its stamp) is, for everyone.
        codes = [get("acc", "/v1/access-log", params={"proofs": "false"}).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        assert client.get("/v1/me").status_code == 401  # no token: refused before any limit


# -- the pages: the same rules through a signed-in session ----------------------------------

@pytest.fixture(scope="module")
def browsers(world):
    """One signed-in browser per caller (its own cookies) on the module's app."""
    out = {}
    for caller in CALLERS:
        c = TestClient(world.client.app)
        sign_in(c, world.tokens[caller])
        out[caller] = c
    return out


def _page_digests(text: str) -> set[str]:
    return set(re.findall(r'href="/ui/documents/([0-9a-f]{64})"', text))


@pytest.mark.parametrize("caller", CALLERS)
def test_pages_show_exactly_what_the_api_shows(world, browsers, caller):
    """Every document's page, frame and original, for every caller: 200 exactly when the oracle says it
    may see it, else 404 as for a digest never archived; an inspector's every page is an access event."""
    c = browsers[caller]
    for doc in [*world.docs.values(), None]:
        digest = doc.digest if doc else ABSENT
        allowed = doc is not None and world.sees(caller, doc)
        for url in (f"/ui/documents/{digest}", f"/ui/documents/{digest}/frame",
                    f"/ui/documents/{digest}/download/xml"):
            r = c.get(url)
            assert r.status_code == (200 if allowed else 404), (caller, url, r.status_code)
            if ROLES[caller] == "inspector":
                assert r.headers.get(EVENT), (caller, url)
                if allowed:
                    world.events(r, caller, {"frame": "print", "xml": "original"}.get(url.rsplit("/", 1)[1], "view"),
                                 [digest])
            if not allowed:
                assert digest not in r.text.replace(f"/ui/documents/{digest}", "")
    listed = c.get("/ui/documents", params={"all": "1"})
    assert listed.status_code == 200
    assert _page_digests(listed.text) == world.visible(caller)
    rows = list(csv.reader(io.StringIO(c.get("/ui/export.csv", params={"all": "1"}).content.decode("utf-8-sig")),
                           delimiter=";"))
    assert {row[14] for row in rows[1:]} == world.visible(caller)
    for key, doc in world.docs.items():  # by a short digest prefix, by number, by ETTN: never wider
        for ref in (doc.digest[:8], doc.meta.doc_id, doc.meta.ettn):
            if not ref:
                continue
            r = c.get("/ui/open", params={"ref": ref}, follow_redirects=False)
            shown = _page_digests(r.text) | set(re.findall(r"/ui/documents/([0-9a-f]{64})", r.headers.get("location", "")))
            assert shown <= world.visible(caller), (caller, key, ref)
            if ref == doc.digest[:8]:
                assert (doc.digest in shown) == world.sees(caller, doc), (caller, key)


@pytest.mark.parametrize("caller", CALLERS)
def test_page_forms_need_the_session_form_token(world, browsers, caller):
    c = browsers[caller]
    assert c.post("/ui/packages", data={"grant": "x"}, follow_redirects=False).status_code == 403
    assert c.post("/ui/sign-out", data={"csrf": "f" * 64}, follow_redirects=False).status_code == 403
    assert c.get("/ui/documents", follow_redirects=False).status_code == 200  # still signed in


def test_status_page_is_the_admins(world, browsers):
    for caller in CALLERS:
        r = browsers[caller].get("/ui/status")
        assert r.status_code == (200 if ROLES[caller] == "admin" else 403), caller


def _operator_forms(world) -> list[tuple[str, dict]]:
    """Every operator form, filled in so that an admin's would succeed (on principals no other row uses)."""
    token = world.admin("GET", "/v1/tokens", params={"principal": "spare"}).json()
    if not token:
        assert world.admin("POST", "/v1/principals/spare/tokens", json={}).status_code == 201
        token = world.admin("GET", "/v1/tokens", params={"principal": "spare"}).json()
    grant = next(g for g in world.grants.values() if g.active)
    return [("/ui/principals", {"name": "made-on-a-page", "role": "admin"}),
            ("/ui/principals/spare", {"state": "disable"}),
            ("/ui/principals/spare", {"tenants": T1}),
            ("/ui/principals/spare/tokens", {}),
            (f"/ui/tokens/{token[0]['id']}/revoke", {}),
            ("/ui/grants", {"inspector": "insp-spare", "vkn": T1, "from": "01.01.2025", "to": "31.12.2025",
                            "expires": "31.12.2099", "reference": "made on a page"}),
            (f"/ui/grants/{grant.id}/revoke", {}),
            ("/ui/legal-hold", {"digest": world.docs["a-supplier"].digest, "state": "on", "reason": "page"})]


@pytest.mark.parametrize("caller", CALLERS)
def test_operator_pages_are_the_admins(world, browsers, caller):
    """The operator's pages and every form on them, for every caller: an admin's page, everyone else's 403 (the
    API's answer to the same use case) with the form token, and nothing changed."""
    c = browsers[caller]
    admin = ROLES[caller] == "admin"
    assert c.get("/ui/principals").status_code == (200 if admin else 403)
    assert ('action="/ui/grants"' in c.get("/ui/grants").text) == admin if ROLES[caller] in ("admin", "inspector") \
        else c.get("/ui/grants").status_code == 403
    if admin:
        return  # an admin's forms change the module's world: tests/integration/test_web_operator.py makes them
    csrf = csrf_of(c.get("/ui/access-log").text)
    forms = _operator_forms(world)
    before = (world.admin("GET", "/v1/principals").json(), world.admin("GET", "/v1/tokens").json(),
              world.admin("GET", "/v1/grants").json(),
              world.admin("GET", f"/v1/documents/{world.docs['a-supplier'].digest}").json()["holdings"])
    for url, data in forms:
        r = c.post(url, data={**data, "csrf": csrf}, follow_redirects=False)
        assert r.status_code == 403, (caller, url, r.status_code)
    after = (world.admin("GET", "/v1/principals").json(), world.admin("GET", "/v1/tokens").json(),
             world.admin("GET", "/v1/grants").json(),
             world.admin("GET", f"/v1/documents/{world.docs['a-supplier'].digest}").json()["holdings"])
    assert [json.dumps(x, sort_keys=True) for x in after] == [json.dumps(x, sort_keys=True) for x in before]


@pytest.mark.parametrize("caller", CALLERS)
def test_report_pages_answer_as_the_api(world, browsers, caller):
    """The report page and its files for every caller and taxpayer: the status the API gives for the same report."""
    c = browsers[caller]
    for vkn in (T1, T2, world.vkn["A"], world.vkn["E"]):
        api = world.call(caller, "GET", "/v1/reports/serials", params={"vkn": vkn, "from": "2000-01-01",
                                                                          "to": "2030-12-31", "format": "csv"})
        params = {"report": "serials", "vkn": vkn, "from": "01.01.2000", "to": "31.12.2030"}
        assert c.get("/ui/reports", params=params).status_code == api.status_code, (caller, vkn)
        got = c.get("/ui/reports/file", params={**params, "format": "csv"})
        assert got.status_code == api.status_code, (caller, vkn)
        if api.status_code == 200:
            assert got.content.decode("utf-8-sig").splitlines()[0] == api.content.decode("utf-8-sig").splitlines()[0]


@pytest.mark.parametrize("caller", CALLERS)
def test_access_log_pages_and_proofs_are_those_of_the_api(world, browsers, caller):
    """The access log page lists the events the API lists to the caller; a proof is handed out for each the
    caller may read whole, and for no other (404, as for an event that does not exist)."""
    c = browsers[caller]
    r = world.call("insp1", "GET", f"/v1/documents/{world.docs['a-supplier'].digest}")
    assert r.status_code == 200
    page = c.get("/ui/access-log")  # before the API's answer: an inspector's reading is an event of its own
    assert page.status_code == 200
    mine = {e["log_index"]: e for e in _log(world, caller).json()["events"]}
    every = {e["log_index"] for e in _log(world, "admin").json()["events"]}
    listed = set(map(int, re.findall(r"<tr><td>(\d+)</td>", page.text)))
    first = sorted(mine)[:50]
    assert listed == set(first[:len(listed)]) and (len(listed) == 50 or len(mine) - len(listed) <= 1), caller
    whole = [i for i in first if not mine[i]["redacted"]]
    if whole:
        got = c.get(f"/ui/access-log/{whole[-1]}/proof")
        assert got.status_code == 200 and got.json()["log_index"] == whole[-1]
    for index in sorted(every - set(mine))[:3]:
        assert c.get(f"/ui/access-log/{index}/proof").status_code == 404, (caller, index)
