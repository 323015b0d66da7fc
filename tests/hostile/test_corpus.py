"""The whole shared corpus through ``earsiv ingest``: exactly the two malformed files are refused.

SOURCES.md marks two files "NOT well-formed"; every other document must be
archived (stored, duplicate or conflict: imperfect documents are flagged, not
rejected), and ``earsiv get`` must give each one back byte for byte.
``gib-rules/`` holds GİB's schemas and rules, not documents, and SOURCES.md is
the corpus's own description; neither is ingested.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
MALFORMED = {
    "efatura/responses/gibpkt_7_UYGULAMA_YANITI_IADE.xml",
    "eirsaliye/responses/izjv_draft-receiptAdvice.xml",
}

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")


def _documents() -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(CORPUS):
        rel = Path(dirpath).relative_to(CORPUS)
        if rel == Path("."):
            dirnames[:] = [d for d in dirnames if d != "gib-rules"]
            filenames = [f for f in filenames if f != "SOURCES.md"]
        found += [Path(dirpath) / f for f in filenames]
    return sorted(found)


def test_sources_md_still_marks_the_same_two_files_malformed() -> None:
    text = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    marked = set(re.findall(r"^- `([^`]+)` .*MALFORMED", text, re.MULTILINE))
    assert marked == MALFORMED


def test_whole_corpus_is_archived_except_the_two_malformed(home) -> None:
    docs = _documents()
    assert len(docs) > 90 and all(d.is_file() for d in docs)
    tops = sorted({CORPUS / d.relative_to(CORPUS).parts[0] for d in docs})
    run = home.ingest(*tops, timeout=300)
    assert run.returncode == 1  # the two malformed files
    by_path = run.by_path()
    assert set(by_path) == {str(d) for d in docs}, "every file is answered, exactly once"
    rejected = {str(Path(p).relative_to(CORPUS)) for p, r in by_path.items() if r["status"] == "rejected"}
    assert rejected == MALFORMED, {p: by_path[str(CORPUS / p)]["error"] for p in rejected ^ MALFORMED}
    for rel in MALFORMED:
        assert by_path[str(CORPUS / rel)]["error"].startswith("not well-formed XML")
    status = home.status()
    stored = {r["digest"] for r in by_path.values() if r["status"] in ("stored", "conflict")}
    assert status["documents"] == len(stored)
    for doc in docs:
        r = by_path[str(doc)]
        if r["status"] == "rejected":
            continue
        assert r["status"] in ("stored", "duplicate", "conflict"), r
        data = doc.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        assert r["digest"] == digest, doc
        assert hashlib.sha256(home.get(digest)).hexdigest() == digest, doc
