"""Synthetic but realistic invoice streams, made from the corpus's real signed invoices.

    .venv/bin/python bench/synth.py --docs 1000 --issuers 6 --out .bench/docs [--seed 1]

Each issuer is one real template (a signed invoice of 150-570 KiB with an
embedded XSLT) given a new, checksum-valid supplier VKN, a synthetic name and
its own invoice series.  Every document of the stream is the template with,
substituted at byte level, a new ID (series + year + continuous 9-digit
sequence, restarting each year), a new ETTN, new issue date and time, a new
customer (VKN and name, drawn from the issuer's own, skewed clientele), amounts
scaled by a random factor, and fresh random signature values, digests and
signature ``Id`` UUIDs.

Everything else -- above all the base64 stylesheet, the signer certificate,
the line items and the template's own whitespace and line endings -- is kept
byte for byte, because that is what real invoices of one issuer share and what
per-issuer dictionaries feed on.  The signature values being random, the
signatures of the output never verify: these documents are for measuring
storage and ingest, not signature checks (a signed document that fails its
check costs the inspector the same work as one that passes).

The generator never prints anything it read from a template.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"

__all__ = [
    "CORPUS",
    "MAX_TEMPLATE_BYTES",
    "MIN_TEMPLATE_BYTES",
    "Stream",
    "SynthDoc",
    "Template",
    "find_templates",
    "generate",
    "make_vkn",
    "vkn_check_digit",
    "write",
]

MIN_TEMPLATE_BYTES = 150 * 1024
MAX_TEMPLATE_BYTES = 570 * 1024
# Real templates (signed production invoices) live under these name prefixes.
TEMPLATE_GLOBS = ("efatura/vg_*.xml", "efatura/sk-*.xml", "earsiv/bdog_*.xml")
FIRST_DAY = dt.date(2024, 10, 1)  # streams cross a year end: sequences restart at 1
SPAN_DAYS = 180
CUSTOMERS_PER_ISSUER = 300

_NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
_P = rb"(?:[\w.-]+:)?"  # any (or no) namespace prefix
_B64_RUN = re.compile(rb">([A-Za-z0-9+/=\r\n]{64,})<")
_B64_VALUES = re.compile(
    rb"<" + _P + rb"(?:SignatureValue|DigestValue)\b[^>]*>([^<]+)<"
)
_UUID = re.compile(rb"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_ISSUE_TIME = re.compile(rb"<" + _P + rb"IssueTime>(\d\d:\d\d(?::\d\d)?)")
_AMOUNT = re.compile(rb"<" + _P + rb"\w*Amount\b[^>]*>([^<]*)<")
_CHAR_REF = re.compile(rb"&#[xX]?[0-9a-fA-F]+;")
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

_WORDS_A = [
    "Anadolu",
    "Boğaziçi",
    "Çukurova",
    "Ege",
    "Güneydoğu",
    "Işık",
    "Kızılırmak",
    "Marmara",
    "Özgür",
    "Şafak",
    "Toros",
    "Uludağ",
    "Yıldız",
    "Zeytin",
    "Doğa",
    "Kuzey",
    "Göktürk",
    "Ilgaz",
]
_WORDS_B = [
    "Gıda",
    "Tekstil",
    "İnşaat",
    "Makine",
    "Lojistik",
    "Kimya",
    "Yazılım",
    "Otomotiv",
    "Enerji",
    "Mobilya",
    "Ambalaj",
    "Tarım",
    "Elektrik",
    "Medikal",
    "Turizm",
    "Çelik",
]
_FORMS = ["Ltd. Şti.", "A.Ş.", "San. ve Tic. A.Ş.", "Tic. Ltd. Şti."]


# -- identifiers ------------------------------------------------------------------------


def vkn_check_digit(first9: str) -> int:
    """LAW.md "Identifiers": the tenth digit of a VKN from its first nine."""
    total = 0
    for i, ch in enumerate(first9):
        t = (int(ch) + 9 - i) % 10
        total += 9 if t == 9 else (t * 2 ** (9 - i)) % 9
    return (10 - total % 10) % 10


def make_vkn(rng: random.Random) -> str:
    """A checksum-valid VKN starting with 9: synthetic, not any real taxpayer's on purpose."""
    first9 = "9" + "".join(rng.choice("0123456789") for _ in range(8))
    return first9 + str(vkn_check_digit(first9))


def _company(rng: random.Random) -> str:
    return f"{rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)} {rng.choice(_FORMS)}"


def _xml_text(s: str) -> bytes:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode()


# -- templates --------------------------------------------------------------------------


def find_templates(
    corpus: Path = CORPUS,
    *,
    min_bytes: int = MIN_TEMPLATE_BYTES,
    max_bytes: int = MAX_TEMPLATE_BYTES,
) -> list[Path]:
    """Signed invoices with an embedded stylesheet, one per real supplier, by file name."""
    chosen: dict[str, Path] = {}
    for pattern in TEMPLATE_GLOBS:
        for path in sorted(corpus.glob(pattern)):
            if not min_bytes <= path.stat().st_size <= max_bytes:
                continue
            root = etree.fromstring(
                path.read_bytes(),
                etree.XMLParser(resolve_entities=False, huge_tree=True),
            )
            signed = root.find(".//ds:Signature", _NS) is not None
            xslt = root.xpath(
                "cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject/text()",
                namespaces=_NS,
            )
            supplier = root.xpath(
                "string(cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID)",
                namespaces=_NS,
            ).strip()
            if signed and any(len(t) > 1000 for t in xslt) and supplier:
                chosen.setdefault(
                    supplier, path
                )  # several invoices of one supplier: the first
    return sorted(chosen.values())


@dataclass(frozen=True, slots=True)
class _Slot:
    field: str  # what goes here; see Template.render
    original: bytes


def _span(data: bytes, element: bytes) -> tuple[int, int] | None:
    start = re.search(rb"<" + _P + element + rb"\b", data)
    if start is None:
        return None
    end = re.compile(rb"</" + _P + element + rb">").search(data, start.end())
    return (start.start(), end.end()) if end else None


class Template:
    """One real invoice cut into literal bytes and the slots a new document fills."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = path.read_bytes()
        data = self.data
        root = etree.fromstring(
            data, etree.XMLParser(resolve_entities=False, huge_tree=True)
        )

        def text(xpath: str) -> str:
            return root.xpath(f"string({xpath})", namespaces=_NS).strip()

        self.doc_id = text("cbc:ID")
        self.ettn = text("cbc:UUID")
        self.issue_date = text("cbc:IssueDate")
        self.ettn_upper = self.ettn.upper() == self.ettn

        sup_span = _span(data, rb"AccountingSupplierParty")
        cus_span = _span(data, rb"AccountingCustomerParty")
        lmt_span = _span(data, rb"LegalMonetaryTotal")
        if not (
            self.doc_id
            and self.ettn
            and self.issue_date
            and sup_span
            and cus_span
            and lmt_span
        ):
            raise ValueError(
                f"{path.name}: not a usable template (ID, UUID, IssueDate, parties, totals)"
            )
        sup_id, sup_names = _party_values(data[sup_span[0] : sup_span[1]])
        cus_id, cus_names = _party_values(data[cus_span[0] : cus_span[1]])
        if sup_id is None or cus_id is None:
            raise ValueError(f"{path.name}: a party without a VKN/TCKN")

        protected = [m.span(1) for m in _B64_RUN.finditer(data)]
        taken: list[tuple[int, int, _Slot]] = []

        def claim(
            start: int, end: int, slot: _Slot, *, outside: tuple[int, int] | None = None
        ) -> None:
            if outside and start < outside[1] and outside[0] < end:
                return
            for a, b, *_ in taken:
                if start < b and a < end:
                    return
            taken.append((start, end, slot))

        # Order is priority: an earlier claim wins an overlap.
        for m in _B64_VALUES.finditer(data):
            taken.append((*m.span(1), _Slot("random-b64", m.group(1))))
        taken_b64 = list(taken)
        for a, b in protected:
            if not any(a < y and x < b for x, y, _ in taken_b64):
                taken.append((a, b, _Slot("literal", data[a:b])))
        m = _ISSUE_TIME.search(data)
        if m:
            claim(*m.span(1), _Slot("time", m.group(1)))
        for m in _AMOUNT.finditer(data, cus_span[1], lmt_span[1]):
            claim(*m.span(1), _Slot("amount", m.group(1)))
        for value, field in ((self.doc_id, "id"), (self.issue_date, "date")):
            for m in re.finditer(re.escape(value.encode()), data):
                claim(*m.span(), _Slot(field, m.group()))
        for m in _UUID.finditer(data):
            claim(*m.span(), _Slot("uuid", m.group().lower()))
        for value, field in [(sup_id, "supplier-id")] + [
            (n, "supplier-name") for n in sup_names
        ]:
            for m in re.finditer(re.escape(value), data):
                claim(*m.span(), _Slot(field, value), outside=cus_span)
        for value, field in [(cus_id, "customer-id")] + [
            (n, "customer-name") for n in cus_names
        ]:
            for m in re.finditer(re.escape(value), data):
                claim(*m.span(), _Slot(field, value), outside=sup_span)

        taken.sort(key=lambda t: t[0])
        self._parts: list[bytes | _Slot] = []
        pos = 0
        for start, end, slot in taken:
            self._parts.append(data[pos:start])
            self._parts.append(data[start:end] if slot.field == "literal" else slot)
            pos = end
        self._parts.append(data[pos:])
        self.slot_counts: dict[str, int] = {}
        for part in self._parts:
            if isinstance(part, _Slot):
                self.slot_counts[part.field] = self.slot_counts.get(part.field, 0) + 1

    def ettn_as_written(self, ettn: str) -> str:
        """*ettn* in the letter case this template writes its ETTN in (both occur in real data)."""
        return ettn.upper() if self.ettn_upper else ettn.lower()

    def render(
        self,
        rng: random.Random,
        *,
        doc_id: str,
        ettn: str,
        issue_date: dt.date,
        issue_time: str,
        supplier_id: str,
        supplier_name: str,
        customer_id: str,
        customer_name: str,
        factor: Decimal,
    ) -> bytes:
        """The template with every slot filled; *ettn* replaces the template's ETTN wherever it occurs."""
        uuids: dict[bytes, bytes] = {
            self.ettn.lower().encode(): self.ettn_as_written(ettn).encode()
        }
        values = {
            "id": doc_id.encode(),
            "date": issue_date.isoformat().encode(),
            "supplier-id": supplier_id.encode(),
            "supplier-name": _xml_text(supplier_name),
            "customer-id": customer_id.encode(),
            "customer-name": _xml_text(customer_name),
        }
        out: list[bytes] = []
        for part in self._parts:
            if isinstance(part, bytes):
                out.append(part)
                continue
            field = part.field
            if field in values:
                out.append(values[field])
            elif field == "uuid":
                new = uuids.get(part.original)
                if new is None:
                    new = uuids[part.original] = str(
                        uuid.UUID(int=rng.getrandbits(128), version=4)
                    ).encode()
                out.append(new)
            elif field == "time":
                out.append(issue_time.encode()[: len(part.original)])
            elif field == "amount":
                out.append(_scale(part.original, factor))
            elif field == "random-b64":
                out.append(_random_b64_like(part.original, rng))
            else:  # pragma: no cover - every field is handled above
                raise AssertionError(field)
        return b"".join(out)


def _party_values(party: bytes) -> tuple[bytes | None, list[bytes]]:
    """The VKN/TCKN and the name(s) of a party, as the raw bytes written in the template."""
    pid = re.search(
        rb"<" + _P + rb"ID\s+schemeID=\"(?:VKN|TCKN)\"\s*>\s*([^<\s]+)\s*<", party
    )
    names = re.findall(rb"<" + _P + rb"PartyName>\s*<" + _P + rb"Name>([^<]+)<", party)
    names += re.findall(rb"<" + _P + rb"(?:FirstName|FamilyName)>([^<]+)<", party)
    names = sorted({n for n in names if len(n.strip()) >= 3}, key=len, reverse=True)
    return (pid.group(1) if pid else None), names


def _scale(original: bytes, factor: Decimal) -> bytes:
    text = original.strip()
    try:
        value = Decimal(text.decode())
    except (InvalidOperation, UnicodeDecodeError):
        return original
    exponent = (
        Decimal(1).scaleb(value.as_tuple().exponent)
        if value.as_tuple().exponent < 0
        else Decimal(1)
    )
    return str((value * factor).quantize(exponent)).encode()


def _random_b64_like(original: bytes, rng: random.Random) -> bytes:
    """Random base64 characters in the shape of *original*.

    Line breaks, padding and character references (some signers write
    ``&#13;`` inside their base64) are kept.
    """
    out = bytearray(original)
    keep = {i for m in _CHAR_REF.finditer(original) for i in range(*m.span())}
    for i, ch in enumerate(original):
        if ch in _B64_ALPHABET and i not in keep:
            out[i] = _B64_ALPHABET[rng.getrandbits(6)]
    return bytes(out)


# -- streams ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SynthDoc:
    name: str  # file name: global order, then the invoice ID
    data: bytes
    issuer: int
    template: str  # template file name (for tests; never printed by the bench)
    doc_id: str
    ettn: str
    issue_date: dt.date
    supplier_vkn: str
    supplier_name: str
    customer_vkn: str
    customer_name: str


@dataclass(slots=True)
class _Issuer:
    template: Template
    vkn: str
    name: str
    series: str
    customers: list[tuple[str, str]]
    weights: list[float]
    next_seq: int
    year: int | None = None


def _streams(
    rng: random.Random, issuers: int, corpus: Path, templates: list[Template] | None
) -> tuple[list[_Issuer], list[float]]:
    """The issuers (template, VKN, name, series, clientele) and their shares of the documents."""
    if templates is None:
        paths = find_templates(corpus)
        if not paths:
            raise FileNotFoundError(f"no template invoices under {corpus}")
        order = list(range(len(paths)))
        rng.shuffle(order)
        templates = [Template(paths[order[i % len(paths)]]) for i in range(issuers)]
    series_seen: set[str] = set()
    streams: list[_Issuer] = []
    for i in range(issuers):
        series = None
        while series is None or series in series_seen:
            series = "".join(
                rng.choice("ABCDEFGHJKLMNPRSTUVYZ") for _ in range(2)
            ) + rng.choice("ABCDEFGHJKLMNPRSTUVYZ0123456789")
        series_seen.add(series)
        customers = [
            (make_vkn(rng), _company(rng)) for _ in range(CUSTOMERS_PER_ISSUER)
        ]
        weights = [1.0 / (r + 1) for r in range(CUSTOMERS_PER_ISSUER)]
        streams.append(
            _Issuer(
                templates[i % len(templates)],
                make_vkn(rng),
                _company(rng),
                series,
                customers,
                weights,
                next_seq=rng.randrange(1, 50_000),
            )
        )
    share = [rng.uniform(0.5, 1.5) for _ in streams]
    return streams, share


def _next_id(s: _Issuer, day: dt.date) -> str:
    """The issuer's next invoice number on *day* (müteselsil: a new year starts a new sequence)."""
    if s.year != day.year:
        if s.year is not None:
            s.next_seq = 1
        s.year = day.year
    doc_id = f"{s.series}{day.year:04d}{s.next_seq:09d}"
    s.next_seq += 1
    return doc_id


def _make(
    rng: random.Random, k: int, i: int, s: _Issuer, day: dt.date, doc_id: str
) -> SynthDoc:
    ettn = s.template.ettn_as_written(
        str(uuid.UUID(int=rng.getrandbits(128), version=4))
    )
    cust_vkn, cust_name = rng.choices(s.customers, weights=s.weights)[0]
    when = f"{rng.randrange(8, 19):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
    factor = Decimal(str(round(rng.lognormvariate(0, 0.8), 4))) or Decimal("0.01")
    data = s.template.render(
        rng,
        doc_id=doc_id,
        ettn=ettn,
        issue_date=day,
        issue_time=when,
        supplier_id=s.vkn,
        supplier_name=s.name,
        customer_id=cust_vkn,
        customer_name=cust_name,
        factor=factor,
    )
    return SynthDoc(
        f"{k:07d}-{doc_id}.xml",
        data,
        i,
        s.template.path.name,
        doc_id,
        ettn,
        day,
        s.vkn,
        s.name,
        cust_vkn,
        cust_name,
    )


def generate(
    n: int,
    *,
    issuers: int = 6,
    seed: int = 1,
    corpus: Path = CORPUS,
    templates: list[Template] | None = None,
) -> Iterator[SynthDoc]:
    """*n* documents from *issuers* per-issuer streams, interleaved, deterministic in *seed*."""
    if n < 0 or issuers < 1:
        raise ValueError("need n >= 0 and at least one issuer")
    rng = random.Random(seed)
    streams, share = _streams(rng, issuers, corpus, templates)
    for k in range(n):
        day = FIRST_DAY + dt.timedelta(days=SPAN_DAYS * k // max(n, 1))
        i = rng.choices(range(issuers), weights=share)[0]
        s = streams[i]
        yield _make(rng, k, i, s, day, _next_id(s, day))


class Stream:
    """An endless archive's worth of documents: document *k* is the same whenever it is asked for.

    ``generate`` spreads a fixed number of documents over six months from one
    random generator, so its k-th document depends on every one before it and
    on how many are asked for.  A benchmark that grows one archive over hours,
    in chunks and across restarts, needs the k-th document without rendering
    the k before it: here the issuers come from *seed* as in ``generate``, and
    document *k* from its own generator seeded with (seed, k).  Only the
    issuers' invoice sequences carry over from one document to the next; they
    are found again by replaying which issuer each earlier document had (a
    few microseconds per document, nothing rendered).

    Dates advance with the position, *per_day* documents a day from *first_day*
    (default: 300 a day from 2016-01-01, so a million documents end in 2025),
    so a later document never falls into an earlier period: a query about the
    first documents' period finds the same documents however far the archive
    has grown.
    """

    def __init__(
        self,
        *,
        issuers: int = 6,
        seed: int = 1,
        corpus: Path = CORPUS,
        first_day: dt.date = dt.date(2016, 1, 1),
        per_day: int = 300,
    ) -> None:
        if issuers < 1 or per_day < 1:
            raise ValueError("need at least one issuer and one document a day")
        self.issuers, self.seed, self.corpus = issuers, seed, corpus
        self.first_day, self.per_day = first_day, per_day
        self._streams, self._share = _streams(
            random.Random(seed), issuers, corpus, None
        )
        self._first = [(s.next_seq, s.year) for s in self._streams]
        self._pos = 0  # the sequences are those after document _pos - 1

    @property
    def supplier_vkns(self) -> list[str]:
        return [s.vkn for s in self._streams]

    def _reset(self) -> None:
        for s, (seq, year) in zip(self._streams, self._first, strict=True):
            s.next_seq, s.year = seq, year
        self._pos = 0

    def day(self, k: int) -> dt.date:
        return self.first_day + dt.timedelta(days=k // self.per_day)

    def _rng(self, k: int) -> random.Random:
        return random.Random(f"earsiv-synth-stream/{self.seed}/{k}")

    def _issuer(self, rng: random.Random) -> int:
        return rng.choices(range(self.issuers), weights=self._share)[0]

    def docs(self, start: int, count: int) -> Iterator[SynthDoc]:
        """Documents *start* .. *start* + *count* - 1."""
        if start < 0 or count < 0:
            raise ValueError("need start >= 0 and count >= 0")
        if start < self._pos:
            self._reset()
        while self._pos < start:  # replay the sequences, render nothing
            day = self.day(self._pos)
            _next_id(self._streams[self._issuer(self._rng(self._pos))], day)
            self._pos += 1
        for k in range(start, start + count):
            rng = self._rng(k)
            i = self._issuer(rng)
            s = self._streams[i]
            day = self.day(k)
            doc = _make(rng, k, i, s, day, _next_id(s, day))
            self._pos = k + 1
            yield doc


def write(
    n: int, out_dir: Path, *, issuers: int = 6, seed: int = 1, corpus: Path = CORPUS
) -> tuple[int, int]:
    """Write *n* documents into *out_dir*; return (files, bytes)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = total = 0
    for doc in generate(n, issuers=issuers, seed=seed, corpus=corpus):
        (out_dir / doc.name).write_bytes(doc.data)
        files += 1
        total += len(doc.data)
    return files, total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--issuers", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    args = ap.parse_args(argv)
    files, total = write(
        args.docs, args.out, issuers=args.issuers, seed=args.seed, corpus=args.corpus
    )
    print(f"{files} documents, {total} bytes, {args.issuers} issuers -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
