"""The full-text lag as `status` reads it: from the noted mark while whoosh's table of contents is the one noted."""

from __future__ import annotations

import json

from earsiv.archive.archive import Archive
from earsiv.archive.sources import expand
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
        assert arch.text._fulltext is None  # whoosh not opened
        list(arch.ingest(expand(DOCS[1:])))  # the SQL index moves on, the full-text index not yet
        behind = arch.text.lag()
        assert behind > 0 and arch.text._fulltext is None
        assert arch.text.catch_up() == behind
        assert arch.text.lag() == 0


def test_a_note_of_another_generation_is_not_believed(tmp_path):
    home = tmp_path / "home"
    with Archive.init(home) as arch:
        list(arch.ingest(expand(DOCS)))
        arch.text.catch_up()
    note = home / "cache" / "fulltext-mark.json"
    saved = json.loads(note.read_text())
    note.write_text(json.dumps({"mark": 0, "toc": "_fulltext_999.toc"}))  # what whoosh no longer has
    with Archive.open(home) as arch:
        assert arch.text.lag() == 0  # read from whoosh itself
        assert arch.text._fulltext is not None
    assert json.loads(note.read_text()) == saved  # and noted again
