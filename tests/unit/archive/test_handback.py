"""The hand-back export: everything a tenant holds and nothing else, in volumes that verify, resumable."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile

import bagit
import pytest

from earsiv.archive.access import Principal
from earsiv.archive.archive import Archive
from earsiv.archive.errors import Forbidden, VerificationError
from earsiv.archive.ingest import Source
from earsiv.archive.package import tenant as tenant_export
from earsiv.archive.package.verify import verify_package
from earsiv.archive.service import ArchiveService
from earsiv.errors import InvalidInput
from tests.assets.edefter.make_edefter import build as build_edefter
from tests.conftest import CORPUS

OPERATOR = Principal.operator("ops")
A, B = "1234567803", "3333333331"
A_FILES = ["efatura/sk-akgips_20251120150604701835.xml", "efatura/sk-akgips_20251120150604712956.xml",
           "efatura/vg_ATM2025000001677-satis.xml", "eirsaliye/gib121_Irsaliye-Ornek1.xml"]
OLD = "efatura/gib121_TicariFaturaOrnegi.xml"  # 2009: disposed of before the export
B_ONLY = "efatura/sk-fullboard_20251120150654847473.xml"


@pytest.fixture
def world(tmp_path):
    home = tmp_path / "home"
    Archive.init(home).close()
    with ArchiveService.open(home) as svc:
        files = [(p, (CORPUS / p).read_bytes()) for p in A_FILES] + sorted(build_edefter().items())
        held = {r.digest for r in svc.ingest(OPERATOR, [Source(n, d) for n, d in files], A)}
        (old,) = svc.ingest(OPERATOR, [Source(OLD, (CORPUS / OLD).read_bytes())], A)
        (b_only,) = svc.ingest(OPERATOR, [Source(B_ONLY, (CORPUS / B_ONLY).read_bytes())], B)
        today = dt.date.today()
        plan = svc.disposal_plan(OPERATOR, A, today, "TTK 82 ended")
        svc.dispose(OPERATOR, A, today, "TTK 82 ended", plan.digest, tmp_path / "cert")
        # An inspection of A: an access event the export hands back with its proof.
        svc.add_principal(OPERATOR, "insp", "inspector")
        svc.add_grant(OPERATOR, "insp", A, dt.date(2025, 1, 1), dt.date(2025, 12, 31),
                      dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "order 7")
        from earsiv.archive.service import search_query

        svc.search(Principal("insp", "inspector"), search_query(vkn=A))
        yield svc, held, old.digest, b_only.digest, tmp_path


def _digests(volume) -> list[str]:
    with zipfile.ZipFile(volume) as zf:
        name = next(n for n in zf.namelist() if n.endswith("data/manifest.json"))
        return [row["digest"] for row in json.loads(zf.read(name))["documents"]]


def test_everything_the_tenant_holds_and_nothing_else_in_volumes_that_verify(world):
    svc, held, old, b_only, tmp = world
    out = tmp / "handback"
    result = svc.export_tenant(OPERATOR, A, out, volume_documents=4)
    assert len(result.volumes) == 3 and result.documents == len(held) == 10
    seen = [d for v in result.volumes for d in _digests(out / v["file"])]
    assert sorted(seen) == sorted(held)  # each once; not B's, not the disposed one
    assert old not in seen and b_only not in seen
    state = json.loads((out / tenant_export.STATE_FILE).read_text())
    assert state["complete"] and state["disposed"] == [{"digest": old, "disposal_leaf": state["disposed"][0]["disposal_leaf"]}]
    for v in result.volumes:
        assert verify_package(out / v["file"]).ok
        assert hashlib.sha256((out / v["file"]).read_bytes()).hexdigest() == v["sha256"]
        with zipfile.ZipFile(out / v["file"]) as zf:  # and the Library of Congress's validator agrees
            zf.extractall(tmp / "bags" / v["file"])
        (bag_dir,) = (tmp / "bags" / v["file"]).iterdir()
        bagit.Bag(str(bag_dir)).validate()
        assert "Primary-Store-Location: location not stated" in (bag_dir / "bag-info.txt").read_text()
    events = [json.loads(x) for x in (out / f"access-log-{A}.jsonl").read_text().splitlines()]
    assert events and all(e["proof"] and A in e["vkns"] for e in events)
    assert any(e["event"]["principal"] == "insp" for e in events)


def test_a_stopped_export_is_taken_up_where_it_stopped(world, monkeypatch):
    svc, held, _old, _b, tmp = world
    out = tmp / "handback"
    real = tenant_export.build_package
    calls = {"n": 0}

    def crash_on_second(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(*args, **kw)

    monkeypatch.setattr(tenant_export, "build_package", crash_on_second)
    with pytest.raises(OSError):
        svc.export_tenant(OPERATOR, A, out, volume_documents=4)
    first = json.loads((out / tenant_export.STATE_FILE).read_text())["volumes"]
    assert len(first) == 1
    monkeypatch.setattr(tenant_export, "build_package", real)
    result = svc.export_tenant(OPERATOR, A, out, volume_documents=4)
    assert result.resumed and result.volumes[0] == first[0]
    seen = [d for v in result.volumes for d in _digests(out / v["file"])]
    assert sorted(seen) == sorted(held)
    # A finished volume that changed is not trusted on the next run.
    vol = out / result.volumes[0]["file"]
    vol.write_bytes(vol.read_bytes()[:-10])
    with pytest.raises(VerificationError, match="changed"):
        svc.export_tenant(OPERATOR, A, out, volume_documents=4)


def test_only_admins_export_and_only_to_a_folder(world):
    svc, _held, _old, _b, tmp = world
    with pytest.raises(Forbidden):
        svc.export_tenant(Principal("int", "integrator", frozenset({A})), A, tmp / "x")
    with pytest.raises(InvalidInput):
        svc.export_tenant(OPERATOR, A, "s3://bucket/handback")
