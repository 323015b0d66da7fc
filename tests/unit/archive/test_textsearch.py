"""The full-text lag as `status` reads it: from the noted mark while tantivy's opstamp is the one noted."""

from __future__ import annotations

import json

from earsiv.archive.archive import Archive
from earsiv.archive.sources import expand
from earsiv.indexer.query import SearchQuery
from tests.conftest import CORPUS

DOCS = [CORPUS / "efatura/gib121_TicariFaturaOrnegi.xml", CORPUS / "efatura/gib121_HASTANE.xml"]


def test_the_lag_is_read_without_opening_the_full_text_index(tmp_path):
    home = tmp_path / "home"
    with Archive.init(home) as arch:
        list(arch.ingest(expand(DOCS[:1])))
        arch.text.catch_up()
    note = home / "cache" / "fulltext-mark.json"
    assert json.loads(note.read_text())["mark"] > 0

    with Archive.open(home) as arch:
        assert arch.text.lag() == 0
        assert arch.text._fulltext is None  # tantivy not opened
        # Leaves the ingest did not hand over (another process's, a crash's) are caught up from the log.
        arch.set_legal_hold(_digest(arch), True, "test")
        behind = arch.text.lag()
        assert behind > 0 and arch.text._fulltext is None
        assert arch.text.catch_up() == behind
        assert arch.text.lag() == 0


def _digest(arch) -> str:
    return arch.index.search(SearchQuery(limit=1)).rows[0].digest


def test_the_ingest_feeds_the_index_without_reading_documents_again(tmp_path):
    home = tmp_path / "home"
    with Archive.init(home) as arch:
        def unread(digest):
            raise AssertionError(f"{digest} was read back for its words")

        arch.text.read = unread
        results = list(arch.ingest(expand(DOCS)))
    with Archive.open(home) as arch:
        assert arch.text.lag() == 0  # taken in beside the ingest, before it closed
        page = arch.search(SearchQuery(text="hastane"))
        assert {r.digest for r in page.rows} <= {r.digest for r in results}
        assert page.rows


def test_a_note_of_another_generation_is_not_believed(tmp_path):
    home = tmp_path / "home"
    with Archive.init(home) as arch:
        list(arch.ingest(expand(DOCS)))
        arch.text.catch_up()
    note = home / "cache" / "fulltext-mark.json"
    saved = json.loads(note.read_text())
    note.write_text(json.dumps({"mark": 0, "opstamp": saved["opstamp"] + 99}))  # not the index's commit
    with Archive.open(home) as arch:
        assert arch.text.lag() == 0  # read from the index itself
        assert arch.text._fulltext is not None
    assert json.loads(note.read_text()) == saved  # and noted again
