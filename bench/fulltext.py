"""Full-text query benchmark: Turkish words at 1,000,000 documents, on both engines.

    .venv/bin/python bench/fulltext.py [--docs 1000000] [--queries 400] [--engine both|tantivy|postgresql]
                                       [--rebuild] [--json]

One synthetic population, deterministic in ``--seed``: ~50,000 parties (70 %
companies named from 300 stems × sector × legal form, e.g. ``YILDIZ GIDA
SANAYİ VE TİCARET ANONİM ŞİRKETİ``; 30 % people, e.g. ``Çağrı Öztürk``),
suppliers Zipf-skewed, 1-5 line items from a vocabulary of goods and services,
half the documents with a note, issue dates over five years, 3,000 tenants.

- tantivy: N ``TextDoc``s through ``FullTextIndex.add`` in batches of 50,000
  (``bulk``, one commit each: what a rebuild does once the documents are read),
  cached under ``.bench/fulltext-<N>/`` (``--rebuild`` starts over).  Queries go
  through ``FullTextIndex.search``: the text step of a search (its page's rows
  are then read from SQL by digest, the same for every query).
- PostgreSQL: a throw-away cluster (tests/helpers/postgres.py); the same
  documents as index rows (documents, parties, holdings) and their words
  (``document_text``, the tsvector ``textsql`` makes, as the mirror writes it),
  loaded with COPY, indexes built after, VACUUM ANALYZE.  Queries go through
  ``Index.search`` with ``SearchQuery.text``: words, scope and filters in one
  query, rows included.

Query classes (first page of 100): one word as typed, two words of one name, a
3-5 letter prefix, ASCII-folded words, a word + VKN, a word + tenant scope + one
year (the filtered target, p95 <= 20 ms), a word + inspector window, and the
worst class: one or two of the most frequent words (``sirketi``, ``ticaret``,
``anonim``, ``sanayi``; up to 70 % of all documents), no filter; tantivy counts
every match exactly, PostgreSQL's page needs no count (an exact ``count(*)`` of
the same match is timed beside it).  Prints p50/p95/p99 per class, the build
time and the index size against the text bytes and the original bytes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import shutil
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from earsiv.documents.metadata import DocumentMetadata, Party
from earsiv.documents.textterms import DocumentText, fold_turkish
from earsiv.indexer.fulltext import FullTextIndex, TextDoc, TextScope
from earsiv.indexer.records import IndexRecord

BENCH_DIR = ROOT / ".bench"
FILTERED_TARGET_MS = 20.0
WORST_TARGET_MS = 50.0
REBUILD_TARGET_S = 300.0
BATCH = 50_000
SEED = 20241121
FIRST_DAY = dt.date(2020, 1, 1)
DAYS = 5 * 365
PARTIES = 50_000
TENANTS = 3_000
KINDS = (("e-fatura", 0.6), ("e-arsiv", 0.3), ("e-irsaliye", 0.1))

_ROOTS = ["YILDIZ", "GÜNEŞ", "ÖZTÜRK", "AKDENİZ", "KARADENİZ", "ANADOLU", "MARMARA", "ERCİYES", "ULUDAĞ", "TOROS", "AKSU", "KIZILIRMAK", "FIRAT", "DİCLE", "ÇINAR", "ŞAHİN", "DOĞAN", "KARTAL", "ASLAN", "KAPLAN", "BOZKURT", "ÇELİK", "DEMİR", "BAKIR", "GÜMÜŞ", "ALTIN", "ELMAS", "İNCİ", "MERCAN", "ZÜMRÜT", "PINAR", "DERYA", "DENİZ", "IRMAK", "ÇAĞLAYAN", "ŞELALE", "YAĞMUR", "BULUT", "RÜZGAR", "FIRTINA", "ŞİMŞEK", "YILDIRIM", "ŞAFAK", "SEHER", "GÖKKUŞAĞI", "LALE", "SÜMBÜL", "MENEKŞE", "GÜL", "NERGİS", "PAPATYA", "ÇİĞDEM", "KARDELEN", "ZEYTİN", "İNCİR", "ÇAM", "MEŞE", "ÇINARLI", "ÖZGÜR", "BİRLİK", "KARDEŞLER", "EKİNCİ", "BAŞAK", "ÜRETİM", "İLKE", "ÖNDER", "ÖNCÜ", "GÜVEN", "UMUT", "ŞEREF", "ONUR", "İHSAN"]
_PREFIXES = ("", "YENİ ", "ÖZ ", "BÜYÜK ", "ULUSAL ")
_SECTORS = ["GIDA", "İNŞAAT", "TEKSTİL", "OTOMOTİV", "TURİZM", "LOJİSTİK", "ENERJİ", "MAKİNA", "KİMYA", "PLASTİK", "MOBİLYA", "TARIM", "ELEKTRİK", "MADENCİLİK", "AMBALAJ", "İLAÇ", "MEDİKAL", "YAZILIM", "BİLİŞİM", "DANIŞMANLIK", "NAKLİYAT", "PETROL", "ÇİMENTO", "SERAMİK"]
_FORMS = ("ANONİM ŞİRKETİ", "LİMİTED ŞİRKETİ", "SANAYİ VE TİCARET ANONİM ŞİRKETİ", "SANAYİ VE TİCARET LİMİTED ŞİRKETİ",
          "TİCARET A.Ş.", "LTD. ŞTİ.")
_FIRST = ["Çağrı", "Şükrü", "Gülşen", "İsmail", "Özge", "Ümit", "Ayşe", "Mehmet", "Fatma", "Ahmet", "Emine", "Mustafa", "Hatice", "Hüseyin", "Zeynep", "İbrahim", "Şerife", "Ömer", "Gökhan", "Çiğdem", "Ilgın", "Işık", "Ağahan", "Doğa", "Şule", "Tuğba", "Büşra", "Müge", "Özlem", "Gönül", "Yiğit", "Ertuğrul", "Oğuz", "Sevgül", "Ülkü", "Nurşen", "Cengiz", "Çetin", "Ünal", "Erdoğan"]
_LAST = ["Öztürk", "Çelik", "Şahin", "Yıldırım", "Aydın", "Doğan", "Kılıç", "Arslan", "Koç", "Kurt", "Özdemir", "Güneş", "Aslan", "Çetin", "Kaya", "Demir", "Yılmaz", "Polat", "Işık", "Çakır", "Erdoğan", "Aktaş", "Güler", "Şimşek", "Bulut", "Taş", "Özkan", "Akgül", "Uğurlu", "Gündoğdu", "Karagöz", "Ünlü"]
_GOODS = ["DOMATES", "BİBER", "PATLICAN", "SALATALIK", "ELMA", "ARMUT", "ÜZÜM", "KAYISI", "FINDIK", "FISTIK", "ZEYTİNYAĞI", "AYÇİÇEK", "UN", "ŞEKER", "PİRİNÇ", "BULGUR", "MERCİMEK", "NOHUT", "ÇİMENTO", "KUM", "ÇAKIL", "DEMİR", "PROFİL", "SAC", "BORU", "VİDA", "SOMUN", "CIVATA", "KABLO", "ŞALTER", "PRİZ", "LAMBA", "KUMAŞ", "İPLİK", "DÜĞME", "FERMUAR", "ASTAR", "DERİ", "AYAKKABI", "ÇANTA", "KOLİ", "STREÇ", "POŞET", "ŞİŞE", "KAPAK", "ETİKET", "KAĞIT", "TONER", "KARTUŞ", "BİLGİSAYAR", "YAZICI", "MONİTÖR", "KLAVYE", "FARE", "LASTİK", "AKÜ", "MOTOR", "YAĞI", "FİLTRE", "BALATA", "İLAÇ", "ŞURUP", "ENJEKTÖR", "ELDİVEN", "MASKE", "DEZENFEKTAN", "DETERJAN", "SABUN", "ŞAMPUAN", "HAVLU", "ÇARŞAF", "YORGAN", "YASTIK"]
_SERVICES = ("DANIŞMANLIK HİZMETİ", "NAKLİYE BEDELİ", "KİRA BEDELİ", "BAKIM ONARIM", "MONTAJ İŞÇİLİĞİ",
             "YAZILIM LİSANSI", "EĞİTİM HİZMETİ", "TEMİZLİK HİZMETİ", "GÜVENLİK HİZMETİ", "REKLAM GİDERİ")
_NOTES = ("Yalnız #TUTAR# Türk Lirasıdır.", "İrsaliye yerine geçer.", "Ödeme 30 gün vadelidir.",
          "Teslimat İstanbul deposundan yapılmıştır.", "Kısmi teslimat.", "Iskonto uygulanmıştır.")


def _stems() -> list[str]:
    stems = [p + r for p in _PREFIXES for r in _ROOTS]
    return stems[:300]


class Population:
    def __init__(self, rng: random.Random) -> None:
        stems = _stems()
        self.names: list[str] = []
        self.ids: list[str] = []
        for i in range(PARTIES):
            if rng.random() < 0.7:
                name = f"{rng.choice(stems)} {rng.choice(_SECTORS)} {rng.choice(_FORMS)}"
                pid = f"9{i:09d}"
            else:
                name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
                pid = f"8{i:010d}"
            self.names.append(name)
            self.ids.append(pid)
        self.companies = [i for i, p in enumerate(self.ids) if len(p) == 10]
        self.tenants = {self.ids[i] for i in self.companies[:TENANTS]}
        # Supplier share ~ 1 / rank (a few large issuers, a long tail).
        weights = [1.0 / (r + 1) for r in range(len(self.companies))]
        total, acc, self.cum = sum(weights), 0.0, []
        for w in weights:
            acc += w / total
            self.cum.append(acc)

    def supplier(self, rng: random.Random) -> int:
        import bisect

        return self.companies[min(bisect.bisect_left(self.cum, rng.random()), len(self.companies) - 1)]


def make_doc(i: int, pop: Population, rng: random.Random) -> TextDoc:
    s = pop.supplier(rng)
    c = rng.randrange(PARTIES)
    items = []
    for _ in range(rng.randint(1, 5)):
        items.append(rng.choice(_SERVICES) if rng.random() < 0.2 else f"{rng.choice(_GOODS)} {rng.choice(_GOODS)}")
    if rng.random() < 0.5:
        items.append(rng.choice(_NOTES))
    tenants = tuple(t for t in (pop.ids[s], pop.ids[c]) if t in pop.tenants) or ("",)
    r = rng.random()
    kind = next(k for k, acc in _accumulate(KINDS) if r < acc)
    return TextDoc(
        digest=hashlib.sha256(b"fulltext-bench:%d" % i).hexdigest(),
        log_index=i,
        kind=kind,
        issue_date=FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS)),
        parties=(("supplier", pop.ids[s]), ("customer", pop.ids[c])),
        tenants=tenants,
        names=f"{pop.names[s]}\n{pop.names[c]}",
        body="\n".join(items),
    )


def _accumulate(pairs):
    acc = 0.0
    for k, p in pairs:
        acc += p
        yield k, acc


# The workload's invoices are 150-570 KiB each (DESIGN.md): the index is set against the
# smallest, as a lower bound of the original bytes.
ORIGINAL_MIN_BYTES = 150 * 1024
FREQUENT = ("sirketi", "ticaret", "anonim", "sanayi", "limited")
PG_SETTINGS = {"shared_buffers": "2GB", "maintenance_work_mem": "1GB", "max_wal_size": "8GB",
               "checkpoint_timeout": "30min", "effective_cache_size": "8GB", "random_page_cost": "1.1",
               "work_mem": "64MB"}


def docs_of(n: int, seed: int):
    rng = random.Random(seed)
    pop = Population(rng)
    for i in range(n):
        yield make_doc(i, pop, rng)


def record_of(doc: TextDoc) -> IndexRecord:
    """The SQL index's record of a bench document (what the mirror gets from the ingest)."""
    received = dt.datetime.combine(doc.issue_date, dt.time(12), dt.UTC)
    meta = DocumentMetadata(
        kind=doc.kind, root="Invoice", namespace="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
        doc_id=f"BNC{doc.issue_date.year}{doc.log_index:09d}",
        ettn=str(uuid.UUID(bytes=bytes.fromhex(doc.digest[:32]), version=4)), issue_date=doc.issue_date,
        parties=tuple(Party(role, "VKN" if len(pid) == 10 else "TCKN", pid, None) for role, pid in doc.parties),
    )
    return IndexRecord(digest=doc.digest, size=ORIGINAL_MIN_BYTES, stored_size=1000, dict_digest=None,
                       log_index=doc.log_index, received_at=received, retain_until=received + dt.timedelta(days=4000),
                       legal_hold=False, tenant=doc.tenants[0] or None, source_name=None, metadata=meta,
                       text=DocumentText(doc.names, doc.body))


def build_tantivy(path: Path, n: int, seed: int) -> dict:
    if path.exists():
        shutil.rmtree(path)
    ix = FullTextIndex(path)
    started = time.perf_counter()
    batch, text_bytes = [], 0
    for doc in docs_of(n, seed):
        batch.append(doc)
        text_bytes += len(doc.names.encode()) + len(doc.body.encode())
        if len(batch) == BATCH:
            ix.add(batch, mark=doc.log_index + 1, bulk=True)
            batch = []
            print(f"\r  tantivy: {doc.log_index + 1:,} documents in {time.perf_counter() - started:.0f} s",
                  end="", file=sys.stderr, flush=True)
    if batch:
        ix.add(batch, mark=batch[-1].log_index + 1, bulk=True)
    ix.close()
    print(file=sys.stderr)
    info = {"docs": n, "seed": seed, "build_s": round(time.perf_counter() - started, 1), "text_bytes": text_bytes,
            "bytes": sum(p.stat().st_size for p in path.iterdir() if p.is_file())}
    (path / "bench-build.json").write_text(json.dumps(info))
    return info


def queries(seed: int, n: int) -> list[tuple[str, str, dict]]:
    """(class, text, filters) in a fixed order; each class gets n / 8 queries."""
    pop = Population(random.Random(seed))
    rng = random.Random(seed + 1)
    out = []
    per = max(1, n // 8)
    words = lambda name: [w for w in name.replace(".", " ").split() if len(w) > 2]
    company = lambda: pop.names[rng.choice(pop.companies)]
    for _ in range(per):
        w = rng.choice(words(company()))
        out.append(("one word", rng.choice([w, w.lower(), w.title()]), {}))
        ws = words(pop.names[rng.randrange(PARTIES)])
        out.append(("two words", " ".join(ws[:2]), {}))
        w = rng.choice(words(company()))
        out.append(("prefix 3-5", fold_turkish(w)[: rng.randint(3, 5)], {}))
        out.append(("ascii-folded", " ".join(fold_turkish(x) for x in words(company())[:2]), {}))
        s = pop.supplier(rng)
        out.append(("+ vkn", rng.choice(words(pop.names[s])).lower(), {"vkn": pop.ids[s]}))
        tenants = frozenset(rng.sample(sorted(pop.tenants), rng.randint(1, 3)))
        start = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS - 365))
        out.append(("+ tenant + date", rng.choice(words(company())),
                    {"tenants": tenants, "date_from": start, "date_to": start + dt.timedelta(days=365)}))
        start = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS - 365))
        window = ((pop.ids[s], start, start + dt.timedelta(days=365)),)
        out.append(("+ inspector window", rng.choice(words(pop.names[s])), {"windows": window}))
        out.append(("worst: frequent words", " ".join(rng.sample(FREQUENT, rng.randint(1, 2))), {}))
    return out


def _tantivy_args(kw: dict) -> dict:
    out = {k: v for k, v in kw.items() if k in ("vkn", "date_from", "date_to")}
    if "tenants" in kw or "windows" in kw:
        out["scope"] = TextScope(tenants=kw.get("tenants"), windows=kw.get("windows"))
    return out


def run_tantivy(path: Path, qs) -> dict:
    ix = FullTextIndex(path)
    for _cls, text, kw in qs[:40]:  # warm: as a running server would be
        ix.search(text, **_tantivy_args(kw))
    times: dict[str, list[float]] = {}
    hits: dict[str, list[int]] = {}
    for cls, text, kw in qs:
        t0 = time.perf_counter()
        page = ix.search(text, **_tantivy_args(kw))
        times.setdefault(cls, []).append((time.perf_counter() - t0) * 1000)
        hits.setdefault(cls, []).append(page.total)
    docs = ix.count()
    ix.close()
    return {"docs": docs, "classes": _summary(times, hits)}


def pg_load(url: str, n: int, seed: int) -> dict:
    import psycopg
    import sqlalchemy as sa

    from earsiv.indexer.db import Index
    from earsiv.indexer.models import document_parties, document_text, documents, holdings, metadata
    from earsiv.indexer.rows import document_values, holding_values, party_values
    from earsiv.indexer.textsql import tsvector_literal

    index = Index(url)
    index.upgrade()
    index.close()
    engine = sa.create_engine(url)
    secondary = [ix for table in metadata.sorted_tables for ix in table.indexes]
    with engine.begin() as conn:
        for ix in secondary:
            ix.drop(conn)
    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def copy(raw, table, rows):
        names = [c.name for c in table.columns]
        json_cols = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row([json.dumps(row[c]) if c in json_cols and row.get(c) is not None else row.get(c) for c in names])

    started = time.perf_counter()
    with psycopg.connect(dsn) as raw:
        batch = []
        for doc in docs_of(n, seed):
            batch.append(doc)
            if len(batch) == BATCH or doc.log_index == n - 1:
                recs = [record_of(d) for d in batch]
                copy(raw, documents, [document_values(r) for r in recs])
                copy(raw, document_parties, [p for r in recs for p in party_values(r)])
                held = []
                for d, r in zip(batch, recs, strict=True):
                    for t in dict.fromkeys(d.tenants):
                        held.append({**holding_values(r), "tenant": t})
                copy(raw, holdings, held)
                copy(raw, document_text, [{"digest": r.digest, "terms": tsvector_literal(r.text)} for r in recs])
                raw.commit()
                batch = []
                print(f"\r  PostgreSQL: {doc.log_index + 1:,} documents in {time.perf_counter() - started:.0f} s",
                      end="", file=sys.stderr, flush=True)
    loaded = time.perf_counter() - started
    print(f"\n  building {len(secondary)} indexes ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    gin = 0.0
    with engine.begin() as conn:
        for ix in secondary:
            t1 = time.perf_counter()
            ix.create(conn)
            if ix.table is document_text:
                gin = time.perf_counter() - t1
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")
        text_bytes = conn.exec_driver_sql("SELECT pg_total_relation_size('document_text')").scalar()
    engine.dispose()
    return {"load_s": round(loaded, 1), "indexes_s": round(time.perf_counter() - t0, 1), "gin_s": round(gin, 1),
            "bytes": int(text_bytes)}


def run_postgresql(url: str, qs) -> dict:
    import sqlalchemy as sa

    from earsiv.indexer.db import Index
    from earsiv.indexer.query import SearchQuery
    from earsiv.indexer.textsql import tsquery_literal

    index = Index(url)
    for _cls, text, kw in qs[:40]:
        index.search(SearchQuery(text=text, **kw))
    times: dict[str, list[float]] = {}
    hits: dict[str, list[int]] = {}
    counts: list[float] = []
    count_sql = sa.text("SELECT count(*) FROM document_text WHERE terms @@ CAST(:q AS tsquery)")
    for cls, text, kw in qs:
        t0 = time.perf_counter()
        page = index.search(SearchQuery(text=text, **kw))
        times.setdefault(cls, []).append((time.perf_counter() - t0) * 1000)
        hits.setdefault(cls, []).append(len(page.rows))
        if cls.startswith("worst"):
            with index.db.read("count") as conn:
                t0 = time.perf_counter()
                conn.execute(count_sql, {"q": tsquery_literal(text)}).scalar()
                counts.append((time.perf_counter() - t0) * 1000)
    index.close()
    out = _summary(times, hits)
    out["worst, exact count(*) beside"] = {"p50_ms": _p(counts, 50), "p95_ms": _p(counts, 95),
                                           "p99_ms": _p(counts, 99), "mean_hits": None}
    return {"classes": out}


def _summary(times, hits) -> dict:
    return {c: {"p50_ms": _p(ts, 50), "p95_ms": _p(ts, 95), "p99_ms": _p(ts, 99),
                "mean_hits": round(sum(hits[c]) / len(hits[c]), 1)} for c, ts in times.items()}


def _p(values: list[float], pct: int) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))], 2)


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _verdict(classes: dict) -> dict:
    filtered = classes["+ tenant + date"]["p95_ms"]
    worst = classes["worst: frequent words"]["p95_ms"]
    return {"filtered_p95": f"{'PASS' if filtered <= FILTERED_TARGET_MS else 'FAIL'} ({filtered} ms <= {FILTERED_TARGET_MS})",
            "worst_p95": f"{'PASS' if worst <= WORST_TARGET_MS else 'FAIL'} ({worst} ms <= {WORST_TARGET_MS})"}


def _print(title: str, result: dict) -> None:
    print(title)
    print(f"{'':32}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  matches/page")
    for c, r in result["classes"].items():
        print(f"{c:32}{r['p50_ms']:9.2f}{r['p95_ms']:9.2f}{r['p99_ms']:9.2f}  {r['mean_hits']}")
    for k, v in result["verdict"].items():
        print(f"  {k}: {v}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--engine", choices=("both", "tantivy", "postgresql"), default="both")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    qs = queries(args.seed, args.queries)
    out: dict = {"docs": args.docs, "queries": len(qs), "load_at_start": _load()}
    if args.engine in ("both", "tantivy"):
        size = f"{args.docs // 1_000_000}M" if args.docs % 1_000_000 == 0 else f"{args.docs // 1000}k"
        path = BENCH_DIR / f"fulltext-tantivy-{size}"
        info_file = path / "bench-build.json"
        info = json.loads(info_file.read_text()) if info_file.exists() and not args.rebuild else None
        if info is None or info.get("seed") != args.seed:
            info = build_tantivy(path, args.docs, args.seed)
        res = run_tantivy(path, qs)
        res["build"] = info
        res["verdict"] = _verdict(res["classes"])
        res["verdict"]["rebuild"] = (f"{'PASS' if info['build_s'] <= REBUILD_TARGET_S else 'FAIL'} "
                                     f"({info['build_s']} s <= {REBUILD_TARGET_S})")
        out["tantivy"] = res
        out["load_after_tantivy"] = _load()
    if args.engine in ("both", "postgresql"):
        from tests.helpers.postgres import running_cluster

        with running_cluster(settings=PG_SETTINGS) as cluster:
            url = cluster.create_database("bench")
            info = pg_load(url, args.docs, args.seed)
            res = run_postgresql(url, qs)
        res["build"] = info
        res["verdict"] = _verdict(res["classes"])
        out["postgresql"] = res
        out["load_at_end"] = _load()
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{args.docs:,} documents, {len(qs)} queries; load average {out['load_at_start']} at the start")
    if "tantivy" in out:
        b = out["tantivy"]["build"]
        _print(f"\ntantivy: built in {b['build_s']} s; index {b['bytes'] / 2**20:.0f} MiB = "
               f"{b['bytes'] / b['text_bytes']:.2f} x the text, {b['bytes'] / (args.docs * ORIGINAL_MIN_BYTES):.4f} "
               f"x the originals (150 KiB each)", out["tantivy"])
    if "postgresql" in out:
        b = out["postgresql"]["build"]
        _print(f"\nPostgreSQL: COPY {b['load_s']} s, indexes {b['indexes_s']} s (GIN {b['gin_s']} s); "
               f"document_text with its GIN index {b['bytes'] / 2**20:.0f} MiB = "
               f"{b['bytes'] / (args.docs * ORIGINAL_MIN_BYTES):.4f} x the originals", out["postgresql"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
