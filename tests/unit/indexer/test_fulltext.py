"""The full-text index: Turkish folding, text extraction over the corpus, search semantics, crashes.

Oracles: Unicode's own tables for folding (the expected ASCII letters are
written by hand from the Turkish alphabet, not from the code); lxml read
independently of the extractor for the corpus's line items; the corpus's own
party names, varied at test time, for search; a subprocess killed before its
commit for crash safety.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
import subprocess
import sys
import textwrap
import threading
import unicodedata
from pathlib import Path

import pytest
from lxml import etree

from earsiv.documents.errors import InvalidDocument
from earsiv.documents.parse import NS, parse_document
from earsiv.documents.textextract import MAX_BODY_CHARS
from earsiv.documents.xmlsafe import parse_xml
from earsiv.indexer.errors import IndexFailure
from earsiv.indexer.fulltext import (
    INSPECTABLE_ROLES,
    FullTextIndex,
    TextDoc,
    TextPage,
    TextScope,
    extract_text,
    fold_turkish,
)
from tests.conftest import CORPUS, corpus_files

ROOT = Path(__file__).resolve().parents[3]


def digest(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def doc(label: str, names: str, *, body: str = "", log: int = 1, kind: str = "e-fatura",
        date: dt.date | None = dt.date(2024, 5, 1), parties=(("supplier", "1111111111"),), tenants=("9000000001",)):
    return TextDoc(digest=digest(label), log_index=log, kind=kind, issue_date=date, parties=tuple(parties),
                   tenants=tuple(tenants), names=names, body=body)


def found(page: TextPage) -> list[str]:
    return [h.digest for h in page.hits]


@pytest.fixture
def ix(tmp_path: Path):
    index = FullTextIndex(tmp_path / "ft")
    yield index
    index.close()


# --- folding ------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "folded"), [
    ("ANONİM ŞİRKETİ", "anonim sirketi"),
    ("ISPARTA", "isparta"),
    ("Isparta", "isparta"),
    ("ısparta", "isparta"),
    ("İstanbul", "istanbul"),
    ("İSTANBUL", "istanbul"),
    ("istanbul", "istanbul"),
    ("IĞDIR", "igdir"),
    ("ÇĞİÖŞÜ çğıöşü", "cgiosu cgiosu"),
    ("Âşık Îmân Ûmran", "asik iman umran"),
    ("LİMİTED ŞTİ.", "limited sti."),
    ("Çağrı Öztürk", "cagri ozturk"),
    ("", ""),
    ("123 ABC-def", "123 abc-def"),
])
def test_fold_turkish_table(text: str, folded: str) -> None:
    assert fold_turkish(text) == folded


@pytest.mark.parametrize("text", ["İSTANBUL", "ŞİRKETİ", "ÇAĞRI ÖZTÜRK", "Âşık", "ığdır", "Işık"])
def test_fold_turkish_nfd_input_folds_like_nfc(text: str) -> None:
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text or text.isascii() or "ı" in text  # the decomposed form really differs
    assert fold_turkish(nfd) == fold_turkish(text)
    assert fold_turkish(text).isascii()


def test_fold_turkish_combining_dot_after_capital_i() -> None:
    # "I" + COMBINING DOT ABOVE is how NFD spells İ; Python's lower() of İ gives "i" + the same dot.
    assert fold_turkish("I\u0307STANBUL") == "istanbul"
    assert fold_turkish("İstanbul".lower()) == "istanbul"


# --- extraction over the corpus -----------------------------------------------------------

def _parsed_corpus():
    out = []
    for path in corpus_files():
        data = path.read_bytes()
        try:
            tree = parse_xml(data, name=path.name)
        except InvalidDocument:  # the corpus's malformed files: never indexed at all
            continue
        out.append((path, data, tree, parse_document(data, name=path.name, tree=tree)))
    return out


@pytest.fixture(scope="module")
def parsed_corpus():
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing at {CORPUS}")
    items = _parsed_corpus()
    assert len(items) > 100
    return items


def test_extract_text_never_raises_and_is_bounded(parsed_corpus) -> None:
    kinds = set()
    for path, _data, tree, meta in parsed_corpus:
        names, body = extract_text(tree, meta)
        assert isinstance(names, str) and isinstance(body, str), path
        assert len(body) <= MAX_BODY_CHARS + 1, path
        kinds.add(meta.kind)
    # Every family of the corpus went through it, envelopes and berats included.
    assert {"e-fatura", "e-arsiv", "zarf", "berat", "uygulama-yaniti", "e-irsaliye"} <= kinds


def test_extract_text_holds_supplier_name_and_every_line_item(parsed_corpus) -> None:
    invoice = "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice"
    checked_lines = checked_names = 0
    for path, _data, tree, meta in parsed_corpus:
        root = tree.getroot()
        if root.tag != invoice:
            continue
        names, body = extract_text(tree, meta)
        if meta.supplier is not None and meta.supplier.name:
            assert meta.supplier.name in names, path
            checked_names += 1
        lines = root.findall("cac:InvoiceLine", NS)
        for line in lines:
            for name in line.findall("cac:Item/cbc:Name", NS):
                if name.text and name.text.strip():
                    assert " ".join(name.text.split()) in body, (path, name.text)
                    checked_lines += 1
    assert checked_names > 40 and checked_lines > 40


def test_extract_text_bounds_a_hostile_document() -> None:
    note = "<cbc:Note>" + "ŞİRKET " * 1000 + "{}</cbc:Note>"
    xml = (
        '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
        'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        + "".join(note.format(i) for i in range(200)) + "</Invoice>"
    ).encode()
    tree = parse_xml(xml)
    names, body = extract_text(tree, parse_document(xml, tree=tree))
    assert names == ""
    assert MAX_BODY_CHARS - 10_000 < len(body) <= MAX_BODY_CHARS + 1


def test_extract_text_reads_person_names_and_ledger_text() -> None:
    xml = textwrap.dedent("""\
        <Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
          xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
          xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
          <cbc:Note>Belge notu</cbc:Note>
          <cac:AccountingCustomerParty><cac:Party>
            <cac:Person><cbc:FirstName>Çağrı</cbc:FirstName><cbc:FamilyName>Öztürk</cbc:FamilyName></cac:Person>
          </cac:Party></cac:AccountingCustomerParty>
          <cac:InvoiceLine><cbc:Note>Satır notu</cbc:Note>
            <cac:Item><cbc:Description>Kırmızı</cbc:Description><cbc:Name>Elma</cbc:Name></cac:Item>
          </cac:InvoiceLine>
        </Invoice>""").encode()
    tree = parse_xml(xml)
    names, body = extract_text(tree, parse_document(xml, tree=tree))
    assert "Çağrı" in names and "Öztürk" in names
    for text in ("Belge notu", "Satır notu", "Kırmızı", "Elma"):
        assert text in body
    ledger = textwrap.dedent("""\
        <edefter:defter xmlns:edefter="http://www.edefter.gov.tr" xmlns:xbrli="http://www.xbrl.org/2003/instance"
          xmlns:gl-cor="http://www.xbrl.org/int/gl/cor/2006-10-25">
          <xbrli:xbrl><gl-cor:accountingEntries><gl-cor:entryHeader>
            <gl-cor:entryComment>Açılış kaydı</gl-cor:entryComment>
            <gl-cor:entryDetail><gl-cor:account><gl-cor:accountMainDescription>KASA</gl-cor:accountMainDescription>
              <gl-cor:accountSubDescription>Merkez kasası</gl-cor:accountSubDescription></gl-cor:account>
              <gl-cor:detailComment>Nakit</gl-cor:detailComment></gl-cor:entryDetail>
          </gl-cor:entryHeader></gl-cor:accountingEntries></xbrli:xbrl>
        </edefter:defter>""").encode()
    tree = parse_xml(ledger)
    _names, body = extract_text(tree, parse_document(ledger, tree=tree))
    for text in ("Açılış kaydı", "KASA", "Merkez kasası", "Nakit"):
        assert text in body


# --- search over the corpus ---------------------------------------------------------------

def _text_doc(i: int, data: bytes, tree, meta) -> TextDoc:
    names, body = extract_text(tree, meta)
    parties = tuple((p.role, p.id) for p in meta.parties if p.id)
    return TextDoc(digest=hashlib.sha256(data).hexdigest(), log_index=i, kind=meta.kind, issue_date=meta.issue_date,
                   parties=parties, tenants=("",), names=names, body=body)


def _variants(word: str) -> list[str]:
    folded = fold_turkish(word)
    return [word, word.lower(), word.upper(), folded, folded.upper(), folded[: max(3, len(folded) - 2)]]


def test_search_finds_corpus_documents_by_their_party_names(parsed_corpus, tmp_path: Path) -> None:
    index = FullTextIndex(tmp_path / "ft")
    docs = {}
    for i, (_path, data, tree, meta) in enumerate(parsed_corpus):
        text_doc = _text_doc(i, data, tree, meta)
        docs[text_doc.digest] = (text_doc, meta)
    index.add([d for d, _ in docs.values()], mark=len(docs))
    assert index.count() == len(docs)
    rng = random.Random(7)
    checked = 0
    for text_doc, meta in docs.values():
        words = [w for p in meta.parties if p.name for w in p.name.split() if len(w) >= 4 and w.isalpha()]
        if not words:
            continue
        word = rng.choice(words)
        for variant in _variants(word):
            page = index.search(variant, limit=1000)
            assert text_doc.digest in found(page), (variant, word)
        # Two words of the same name, one of them folded: still an AND that holds.
        if len(words) >= 2:
            assert text_doc.digest in found(index.search(f"{fold_turkish(words[0])} {words[1]}", limit=1000))
        checked += 1
    assert checked > 50
    everything = " ".join(fold_turkish(d.names + " " + d.body) for d, _ in docs.values())
    absent = next(w for w in ("qzxwvj", "xqzjwk", "jqxzvw") if w not in everything)
    assert index.search(absent) == TextPage(hits=(), total=0)
    index.close()


# --- search semantics on made-up documents ------------------------------------------------

def test_ranking_two_name_words_above_one(ix: FullTextIndex) -> None:
    ix.add([
        doc("both", "YILDIZ GIDA ANONİM ŞİRKETİ"),
        doc("one", "YILDIZ İNŞAAT ANONİM ŞİRKETİ", body="gıda kolisi taşıma"),
    ])
    page = ix.search("yildiz gida")
    assert found(page) == [digest("both"), digest("one")]
    assert page.hits[0].score > page.hits[1].score
    assert page.total == 2


def test_equal_scores_newest_first(ix: FullTextIndex) -> None:
    labels = [f"tie{i}" for i in range(6)]
    dates = [dt.date(2021, 1, 1), dt.date(2024, 1, 2), None, dt.date(2024, 1, 1), dt.date(2022, 6, 1),
             dt.date(2023, 3, 3)]
    ix.add([doc(label, "Çağrı Öztürk", date=day, log=i) for i, (label, day) in enumerate(zip(labels, dates, strict=True))])
    page = ix.search("CAGRI")
    expected = sorted(zip(labels, dates, strict=True), key=lambda x: -(x[1].toordinal() if x[1] else 0))
    assert found(page) == [digest(label) for label, _ in expected]
    # The recency weight moves a score by at most 1e-6 a day: BM25 decides whenever it differs.
    assert max(h.score for h in page.hits) / min(h.score for h in page.hits) < 1.01
    # Paging through the ties one by one gives the same order, without duplicates.
    paged = [found(ix.search("cagri", limit=1, offset=i))[0] for i in range(6)]
    assert paged == found(page)


def test_prefix_and_turkish_variants(ix: FullTextIndex) -> None:
    ix.add([doc("a", "YILDIZLAR ANONİM ŞİRKETİ", body="İSTANBUL şubesi"), doc("b", "Işık Gönül")])
    for q in ("anon", "ANONIM", "anonim sirketi", "şirket", "yıldız", "YILDIZ", "yil", "istanbul", "ISTANBUL",
              "İstanbul", "sirketi anonim"):
        assert found(ix.search(q)) == [digest("a")], q
    for q in ("ışık", "ISIK", "isik", "Işık gönül", "gonul"):
        assert found(ix.search(q)) == [digest("b")], q
    # The body matches whole words only: "istan" is no word of the body and no prefix of a name.
    assert found(ix.search("istan")) == []
    assert found(ix.search("yildiz gida")) == []  # AND of words


def test_filters_vkn_dates_kind(ix: FullTextIndex) -> None:
    ix.add([
        doc("a", "DENİZ GIDA", date=dt.date(2023, 1, 10), kind="e-fatura",
            parties=(("supplier", "1000000001"), ("customer", "2000000002"))),
        doc("b", "DENİZ GIDA", date=dt.date(2024, 2, 20), kind="e-arsiv",
            parties=(("supplier", "1000000001"), ("customer", "30000000003"))),
        doc("c", "DENİZ GIDA", date=None, kind="e-arsiv", parties=(("sender", "2000000002"),)),
    ])
    assert set(found(ix.search("deniz", vkn="2000000002"))) == {digest("a"), digest("c")}
    assert found(ix.search("deniz", vkn="30000000003")) == [digest("b")]
    assert found(ix.search("deniz", vkn="9999999999")) == []
    assert found(ix.search("deniz", date_from=dt.date(2024, 1, 1))) == [digest("b")]
    assert found(ix.search("deniz", date_to=dt.date(2023, 12, 31))) == [digest("a")]
    assert found(ix.search("deniz", date_from=dt.date(2023, 1, 10), date_to=dt.date(2023, 1, 10))) == [digest("a")]
    assert found(ix.search("deniz", date_from=dt.date(2025, 1, 1), date_to=dt.date(2020, 1, 1))) == []
    assert set(found(ix.search("deniz", kind="e-arsiv"))) == {digest("b"), digest("c")}
    assert found(ix.search("deniz", kind="e-arsiv", vkn="1000000001")) == [digest("b")]
    assert found(ix.search("deniz", kind="yevmiye")) == []


def test_scope_tenants_windows_and_union(ix: FullTextIndex) -> None:
    ix.add([
        doc("t1", "MARMARA TEKSTİL", tenants=("1000000001",), parties=(("supplier", "5000000005"),)),
        doc("t2", "MARMARA TEKSTİL", tenants=("", "2000000002"), parties=(("customer", "5000000005"),),
            date=dt.date(2022, 3, 1)),
        doc("nodate", "MARMARA TEKSTİL", tenants=("",), parties=(("supplier", "5000000005"),), date=None),
        doc("sender", "MARMARA TEKSTİL", tenants=("",), parties=(("sender", "5000000005"),), date=dt.date(2022, 3, 1)),
    ])
    q = "marmara"
    assert found(ix.search(q, scope=TextScope(tenants=frozenset({"1000000001"})))) == [digest("t1")]
    assert set(found(ix.search(q, scope=TextScope(tenants=frozenset({""}))))) == {
        digest("t2"), digest("nodate"), digest("sender")}
    assert found(ix.search(q, scope=TextScope(tenants=frozenset()))) == []
    window = (("5000000005", dt.date(2022, 1, 1), dt.date(2022, 12, 31)),)
    # Only an inspectable role counts ("sender" is not), and a document without a date never matches.
    assert "sender" not in INSPECTABLE_ROLES
    assert found(ix.search(q, scope=TextScope(windows=window))) == [digest("t2")]
    wide = (("5000000005", dt.date(2000, 1, 1), dt.date(2100, 1, 1)),)
    assert set(found(ix.search(q, scope=TextScope(windows=wide)))) == {digest("t1"), digest("t2")}
    assert found(ix.search(q, scope=TextScope(windows=()))) == []
    both = TextScope(tenants=frozenset({"1000000001"}), windows=window)
    assert set(found(ix.search(q, scope=both))) == {digest("t1"), digest("t2")}
    assert set(found(ix.search(q, scope=TextScope()))) == {digest(x) for x in ("t1", "t2", "nodate", "sender")}


def test_max_log_index_and_paging(ix: FullTextIndex) -> None:
    ix.add([doc(f"p{i}", f"KARADENİZ NAKLİYAT {'UZUN ' * (i % 5)}", log=i, date=dt.date(2020, 1, 1) + dt.timedelta(days=i))
            for i in range(57)])
    everything = found(ix.search("karadeniz", limit=1000))
    assert len(everything) == 57
    pages = [found(ix.search("karadeniz", limit=10, offset=o)) for o in range(0, 60, 10)]
    assert [d for p in pages for d in p] == everything
    assert ix.search("karadeniz", limit=10, offset=50).total == 57
    stable = found(ix.search("karadeniz", limit=1000, max_log_index=29))
    assert set(stable) == {digest(f"p{i}") for i in range(30)}
    ix.add([doc(f"late{i}", "KARADENİZ NAKLİYAT", log=100 + i, date=dt.date(2030, 1, 1)) for i in range(5)])
    # A client that paged with max_log_index sees the same list after new documents arrived.
    assert found(ix.search("karadeniz", limit=1000, max_log_index=29)) == stable
    assert len(found(ix.search("karadeniz", limit=1000))) == 62
    with pytest.raises(ValueError, match="limit"):
        ix.search("karadeniz", limit=0)
    with pytest.raises(ValueError, match="offset"):
        ix.search("karadeniz", offset=-1)


def test_upsert_replaces_and_counts_once(ix: FullTextIndex) -> None:
    ix.add([doc("u", "EGE ZEYTİN", tenants=("1000000001",))])
    only_first = TextScope(tenants=frozenset({"1000000001"}))
    assert found(ix.search("ege", scope=only_first)) == [digest("u")]
    ix.add([doc("u", "EGE ZEYTİN", tenants=("2000000002",))])
    assert found(ix.search("ege", scope=only_first)) == []
    assert found(ix.search("ege", scope=TextScope(tenants=frozenset({"2000000002"})))) == [digest("u")]
    assert ix.count() == 1
    # Within one batch the last one wins, as a later batch would.
    ix.add([doc("u", "EGE ZEYTİN", tenants=("3",)), doc("u", "EGE ZEYTİN", tenants=("4",))])
    assert ix.count() == 1
    assert found(ix.search("ege", scope=TextScope(tenants=frozenset({"4"})))) == [digest("u")]


def test_mark_reset_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ft"
    index = FullTextIndex(path)
    assert index.mark() == 0 and index.count() == 0
    index.add([doc("m1", "ANADOLU ENERJİ")], mark=10)
    index.add([], mark=11)
    assert index.mark() == 11 and index.count() == 1
    index.close()
    index = FullTextIndex(path)
    assert index.mark() == 11 and found(index.search("anadolu")) == [digest("m1")]
    index.reset()
    assert index.mark() == 0 and index.count() == 0 and found(index.search("anadolu")) == []
    index.add([doc("m2", "ANADOLU ENERJİ")], mark=3)
    assert index.mark() == 3 and found(index.search("enerji")) == [digest("m2")]
    index.close()
    with pytest.raises(ValueError, match="closed"):
        index.search("enerji")


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ft"
    FullTextIndex(path).close()
    (path / "earsiv-fulltext.json").write_text('{"format": 99}\n')
    with pytest.raises(IndexFailure, match="format 99"):
        FullTextIndex(path)


def test_an_index_a_crash_left_without_its_marker_is_emptied_and_taken_again(tmp_path: Path) -> None:
    """A kill while an earlier version made the index left tantivy's files and no marker: every
    ingest then failed.  The index is derived, so it is emptied and the log fills it again."""
    path = tmp_path / "ft"
    index = FullTextIndex(path)
    index.add([doc("c1", "ANADOLU ENERJİ")], mark=5)
    index.close()
    (path / "earsiv-fulltext.json").unlink()
    index = FullTextIndex(path)
    assert index.mark() == 0 and index.count() == 0  # empty: the catch-up reads the log from the start
    index.add([doc("c1", "ANADOLU ENERJİ")], mark=5)
    assert found(index.search("enerji")) == [digest("c1")]
    index.close()
    assert (path / "earsiv-fulltext.json").exists()


def test_the_marker_is_written_before_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash right after the marker (here: making the index fails) leaves a marked directory that opens."""
    import tantivy

    path = tmp_path / "ft"
    real = tantivy.Index

    def crash(*args, **kwargs):
        raise OSError("killed while making the index")

    monkeypatch.setattr(tantivy, "Index", type("Crashing", (), {"exists": staticmethod(real.exists),
                                                                "__new__": lambda cls, *a, **k: crash()}))
    with pytest.raises(IndexFailure):
        FullTextIndex(path)
    assert (path / "earsiv-fulltext.json").exists()
    monkeypatch.setattr(tantivy, "Index", real)
    index = FullTextIndex(path)
    assert index.count() == 0
    index.close()


NASTY = [
    "", " ", "\x00", "\t\n", '"', "'", '"unbalanced', "(", ")", "((a", "a)", "*", "?", "a*", "*a", "a:b", "text:anonim",
    ":", "AND", "OR", "NOT", "anonim AND", "OR anonim", "NOT anonim", "a AND OR NOT b", "[a TO b]", "{a TO}", "^2",
    "anonim^", "~", "anonim~2", "\\", "\\\\", "/regex/", "%", "_", "__", "-", "+anonim -sirket", "!!!", "...", "@#$%^&",
    "\u200b", "\ufeff", "\U0001f600", "é" * 300, "İ" * 50, "a" * 10_000, "anonim " * 2000, "ı̇̇̇", "\ud7ff",
    "<xml/>", "'; DROP TABLE x; --", "0", "-1", "1e308", "NaN", "None", "null", "text:\"a b\"~3",
]


def test_hostile_queries_never_raise(ix: FullTextIndex) -> None:
    ix.add([doc("n", "ANONİM ŞİRKETİ", body="text notu")])
    rng = random.Random(11)
    alphabet = "aİıI*?:()[]{}\"'\\^~!-+ _\t\n\x00ş\u0307" + "".join(chr(c) for c in range(0x2000, 0x2010))
    randoms = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(200)]
    for q in NASTY + randoms:
        page = ix.search(q)
        assert isinstance(page, TextPage)
        assert set(found(page)) <= {digest("n")}
    for q in ("", "!!!", "...", "(", "*", "\u200b"):
        assert ix.search(q) == TextPage(hits=(), total=0)
    # Query syntax is not interpreted: these words are plain words.
    assert found(ix.search("anonim AND")) == []  # "and" is no word of the document
    assert found(ix.search("text:anonim")) == [digest("n")]  # "text" is a body word, "anonim" a name


def test_textdoc_validates_itself() -> None:
    with pytest.raises(ValueError, match="digest"):
        doc("x", "a").__class__(digest="ABC", log_index=1, kind="e-fatura", issue_date=None, parties=(),
                                tenants=(), names="", body="")
    with pytest.raises(ValueError, match="log_index"):
        TextDoc(digest=digest("x"), log_index=-1, kind="e-fatura", issue_date=None, parties=(), tenants=(),
                names="", body="")
    with pytest.raises(ValueError, match="parties"):
        TextDoc(digest=digest("x"), log_index=1, kind="e-fatura", issue_date=None, parties=(("supplier",),),
                tenants=(), names="", body="")
    with pytest.raises(ValueError, match="kind"):
        TextDoc(digest=digest("x"), log_index=1, kind="~mark", issue_date=None, parties=(), tenants=(),
                names="", body="")


def test_searches_from_threads_while_one_thread_adds(ix: FullTextIndex) -> None:
    ix.add([doc(f"base{i}", "TOROS ÇİMENTO", log=i) for i in range(20)])
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                page = ix.search("toros", limit=1000)
                assert len(page.hits) >= 20
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for batch in range(10):
        ix.add([doc(f"new{batch}-{i}", "TOROS ÇİMENTO", log=100 + batch * 10 + i) for i in range(10)], mark=batch)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert len(found(ix.search("toros", limit=1000))) == 120 and ix.mark() == 9


def test_scores_are_bm25_and_pages_walk_one_list(tmp_path: Path) -> None:
    """Over several commits with replaced (deleted) documents: more name words matched score higher,
    scores never rise down the list, and small pages walk exactly the list that one large page gives."""
    rng = random.Random(5)
    stems = ["YILDIZ", "YILMAZ", "GÜNEŞ", "GÜNDOĞDU", "ÇELİK", "ÇELİKER"]
    tails = ["GIDA", "İNŞAAT", "ANONİM ŞİRKETİ", "LTD. ŞTİ.", "SANAYİ VE TİCARET A.Ş."]
    index = FullTextIndex(tmp_path / "ft")
    for batch in range(4):
        docs = []
        for i in range(150):
            n = rng.randrange(400)  # re-drawn numbers replace earlier documents
            names = " ".join(rng.sample(stems, rng.randint(1, 2)) + rng.sample(tails, rng.randint(1, 2)))
            date = None if rng.random() < 0.1 else dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(40))
            docs.append(doc(f"o{n}", names, body=rng.choice(["", "gıda kolisi", "çelik profil"]), log=batch * 1000 + i,
                            date=date, parties=(("supplier", f"10000000{n % 7:02d}"),)))
        index.add(docs)
    assert index.count() < 600  # some were replaced
    for words, vkn in ([["yil"], None], [["YILDIZ"], None], [["çelik"], None], [["gida"], "1000000003"],
                       [["gün", "anonim"], None], [["celik", "gida"], None], [["y", "sirketi"], "1000000001"]):
        whole = index.search(" ".join(words), vkn=vkn, limit=1000)
        assert whole.hits and whole.total == len(whole.hits), words
        scores = [h.score for h in whole.hits]
        assert scores == sorted(scores, reverse=True)
        paged = [h for o in range(0, len(whole.hits), 7)
                 for h in index.search(" ".join(words), vkn=vkn, limit=7, offset=o).hits]
        assert paged == list(whole.hits), words
    index.close()


# --- crashes ------------------------------------------------------------------------------

CHILD = """
import datetime as dt, hashlib, os, sys
from pathlib import Path
import tantivy
from earsiv.indexer import fulltext
from earsiv.indexer.fulltext import FullTextIndex, TextDoc

class Crash:
    def __init__(self, writer):
        self.writer = writer

    def __getattr__(self, name):
        if name == "commit":
            os._exit(9)  # the process dies with the batch written but not committed, holding the lock
        return getattr(self.writer, name)

ix = FullTextIndex(Path(sys.argv[1]))
opened = ix._writer
ix._writer = lambda heap: Crash(opened(heap))
docs = [TextDoc(digest=hashlib.sha256(f"crash{i}".encode()).hexdigest(), log_index=100 + i, kind="e-fatura",
                issue_date=dt.date(2024, 1, 1), parties=(), tenants=("",), names="ULUDAĞ KAYAK", body="")
        for i in range(50)]
ix.add(docs, mark=150)
"""


def test_writer_killed_before_commit_loses_only_its_batch(tmp_path: Path) -> None:
    path = tmp_path / "ft"
    index = FullTextIndex(path)
    committed = [doc(f"ok{i}", "ULUDAĞ KAYAK", log=i) for i in range(10)]
    index.add(committed, mark=10)
    index.close()

    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 9, proc.stderr.decode()
    assert (path / ".tantivy-writer.lock").exists()  # left behind, as after a real crash

    index = FullTextIndex(path)
    assert index.mark() == 10  # the mark did not move without its documents
    assert set(found(index.search("uludag", limit=1000))) == {d.digest for d in committed}
    # The caller re-adds from the mark: the lock does not block it, and doing it twice changes nothing.
    redo = [doc(f"crash{i}", "ULUDAĞ KAYAK", log=100 + i, date=dt.date(2024, 1, 1), parties=(), tenants=("",))
            for i in range(50)]
    index.add(redo, mark=150)
    first = found(index.search("uludag", limit=1000))
    index.add(redo, mark=150)
    assert found(index.search("uludag", limit=1000)) == first
    assert index.count() == 60 and index.mark() == 150
    index.close()


def test_a_live_writer_elsewhere_is_not_overridden(tmp_path: Path) -> None:
    """The lock is an OS lock, released by the kernel when its holder dies, so a stale file
    never blocks; a live holder does, and the second writer fails cleanly after waiting."""
    path = tmp_path / "ft"
    index = FullTextIndex(path)
    holder = index._ix.writer(heap_size=15_000_000, num_threads=1)
    try:
        other = FullTextIndex(path)
        with pytest.raises(IndexFailure, match="lock"):
            other_add_quick(other)
        other.close()
    finally:
        holder.rollback()
        del holder
    index.add([doc("after", "ERCİYES")])
    assert found(index.search("erciyes")) == [digest("after")]
    index.close()


def other_add_quick(index: FullTextIndex) -> None:
    import earsiv.indexer.fulltext as ft

    saved = ft._LOCK_TIMEOUT
    ft._LOCK_TIMEOUT = 0.2
    try:
        index.add([doc("blocked", "ERCİYES")])
    finally:
        ft._LOCK_TIMEOUT = saved


def test_extract_text_accepts_element_or_tree() -> None:
    xml = b'<x xmlns="urn:other"><y>Metin</y></x>'
    tree = parse_xml(xml)
    meta = parse_document(xml, tree=tree)
    assert extract_text(tree, meta) == extract_text(tree.getroot(), meta) == ("", "")
    assert isinstance(etree.QName(tree.getroot()).localname, str)


def test_party_cities_are_searchable_on_any_keyboard(tmp_path):
    """A city typed as İSTANBUL, ISTANBUL or istanbul finds the invoices of parties there."""
    found = []
    for path in sorted((CORPUS / "efatura").glob("*.xml")):
        data = path.read_bytes()
        try:
            tree = parse_xml(data, name=path.name)
            meta = parse_document(data, name=path.name, tree=tree)
        except InvalidDocument:  # only documents the archive keeps matter here
            continue
        # The seller's and buyer's addresses (a signature's SignatoryParty has one too: not a party's).
        cities = [c.text for holder in ("AccountingSupplierParty", "AccountingCustomerParty")
                  for c in tree.iterfind(f".//{{*}}{holder}//{{*}}PostalAddress/{{*}}CityName") if c.text and "İ" in c.text]
        if cities:
            found.append((hashlib.sha256(data).hexdigest(), meta, tree, cities[0]))
    assert found, "the corpus has invoices with a dotted-İ city"
    ix = FullTextIndex(tmp_path / "ft")
    docs = []
    for i, (digest, meta, tree, _city) in enumerate(found):
        names, body = extract_text(tree, meta)
        docs.append(TextDoc(digest=digest, log_index=i, kind=meta.kind, issue_date=meta.issue_date, parties=(),
                            tenants=("",), names=names, body=body))
    ix.add(docs, mark=len(docs))
    for digest, _meta, _tree, city in found:
        word = max(city.split(), key=len)
        for typed in (word, word.replace("İ", "I"), fold_turkish(word), word.lower()):
            assert digest in {h.digest for h in ix.search(typed, limit=1000).hits}, typed
    ix.close()


# --- what matches: textterms, shared by both engines ---------------------------------------

def test_words_drop_a_suffix_after_an_apostrophe() -> None:
    from earsiv.documents.textterms import words

    assert words("Ankara'ya İSTANBUL’DA Koç'un ısparta`dan") == ["ankara", "istanbul", "koc", "isparta"]
    assert words("I\u0307STANBUL ŞAHİN".lower()) == ["istanbul", "sahin"]  # a combining dot stays in its word
    assert words("a" * 300) == ["a" * 100]


def test_stems_meet_both_ways_and_names_match_by_prefix(ix: FullTextIndex) -> None:
    from earsiv.documents.textterms import query_terms

    (fatura,) = query_terms("fatura")
    (faturalar,) = query_terms("FATURALAR")
    assert (fatura.stem, faturalar.stem) == ("fatur", "fatura")  # Snowball's: one stem alone would miss
    ix.add([doc("plural", "EGE TİCARET", body="faturalar ekte"), doc("single", "EGE TİCARET", body="fatura bedeli"),
            doc("city", "MARMARA LTD", body="Ankara'ya sevkiyat")])
    assert set(found(ix.search("fatura"))) == {digest("plural"), digest("single")}
    assert set(found(ix.search("faturalar"))) == {digest("plural"), digest("single")}
    assert found(ix.search("Ankara'dan")) == [digest("city")]
    assert set(found(ix.search("tic"))) == {digest("plural"), digest("single")}  # a name word's prefix
    assert found(ix.search("sevk")) == []  # a body word's prefix is not a word


def test_identifiers_are_filters_not_words(ix: FullTextIndex) -> None:
    ix.add([doc("v", "EGE TİCARET", parties=(("supplier", "1234567890"),))])
    assert found(ix.search("1234567890")) == []
    assert found(ix.search("ege", vkn="1234567890")) == [digest("v")]
