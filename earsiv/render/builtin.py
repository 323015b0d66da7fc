"""Built-in HTML for every kind: the fallback that is always complete.

Used when a document carries no working stylesheet and GİB publishes none for
its kind, when a stylesheet is refused, and always for envelopes, e-Defter
ledgers (journal entries with accounts, debits, credits and totals) and
berats.  Everything is read by local name so that UBL 2.0 / TR1.0 documents
and namespace variants render alike, and every line and note is written out:
the print must be complete (LAW.md L6).
"""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal, InvalidOperation
from html import escape

from lxml import etree

from earsiv.documents.metadata import KINDS, DocumentMetadata

__all__ = ["CSS", "builtin_html", "page"]

CSS = """
body { font-family: "DejaVu Sans", sans-serif; font-size: 9pt; color: #111; margin: 0; }
h1 { font-size: 14pt; margin: 0 0 4pt; } h2 { font-size: 11pt; margin: 10pt 0 4pt; border-bottom: 1px solid #888; }
table { border-collapse: collapse; width: 100%; margin: 2pt 0 6pt; }
th, td { border: 1px solid #999; padding: 2pt 3pt; vertical-align: top; text-align: left; overflow-wrap: break-word; }
th { background: #eee; } td.n, th.n { text-align: right; white-space: nowrap; }
table.kv th { width: 28%; } .parties { display: flex; gap: 8pt; } .parties > div { flex: 1; }
.notice { border: 2px solid #b00; padding: 4pt; margin-bottom: 8pt; color: #800; }
tr.total td { font-weight: bold; background: #f4f4f4; }
table.sheet { break-inside: avoid; } table.sheet + table.sheet { break-before: page; }
tr.carry td { font-style: italic; background: #fafafa; }
"""
# Journal lines per printed sheet of a ledger (header and total lines count too): few
# enough that a sheet of two-line rows fits one A4 page, so that a sheet's totals are the
# page's totals, as on paper ledgers ("sayfa toplamı", carried forward as "nakli yekün").
SHEET_LINES = 18


def _ln(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _kids(el, name: str):
    return [c for c in el if _ln(c) == name]


def _kid(el, *path: str):
    for name in path:
        if el is None:
            return None
        el = next((c for c in el if _ln(c) == name), None)
    return el


def _t(el, *path: str) -> str:
    node = _kid(el, *path) if path else el
    return " ".join("".join(node.itertext()).split()) if node is not None else ""


def _amount(el) -> str:
    if el is None:
        return ""
    text = _t(el)
    cur = el.get("currencyID") or el.get("unitCode") or ""
    return f"{text} {cur}".strip()


def _e(text) -> str:
    return escape(str(text or ""), quote=True)


def page(title: str, body: str, *, extra_css: str = "") -> str:
    return (f'<!DOCTYPE html><html lang="tr"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{CSS}{extra_css}</style></head><body>{body}</body></html>")


def _kv(rows) -> str:
    cells = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows if v not in (None, ""))
    return f'<table class="kv">{cells}</table>' if cells else ""


def _party(party, title: str) -> str:
    if party is None:
        return ""
    p = _kid(party, "Party") if _kid(party, "Party") is not None else party
    name = _t(p, "PartyName", "Name") or " ".join(filter(None, (_t(p, "Person", "FirstName"), _t(p, "Person", "FamilyName"))))
    ids = [f"{i.get('schemeID') or 'ID'}: {_t(i)}" for pi in _kids(p, "PartyIdentification") for i in _kids(pi, "ID")]
    addr = _kid(p, "PostalAddress")
    address = " ".join(filter(None, (_t(addr, n) for n in ("StreetName", "BuildingNumber", "CitySubdivisionName", "CityName", "PostalZone")))) if addr is not None else ""
    country = _t(addr, "Country", "Name") if addr is not None else ""
    rows = [("Ünvan / Ad", name), *(("Kimlik", i) for i in ids), ("Vergi dairesi", _t(p, "PartyTaxScheme", "TaxScheme", "Name")),
            ("Adres", " ".join(filter(None, (address, country)))), ("E-posta", _t(p, "Contact", "ElectronicMail")),
            ("Telefon", _t(p, "Contact", "Telephone"))]
    return f"<div><h2>{_e(title)}</h2>{_kv(rows)}</div>"


_LINES = ("InvoiceLine", "CreditNoteLine", "DespatchLine", "ReceiptLine")
_PARTIES = (("AccountingSupplierParty", "Satıcı"), ("AccountingCustomerParty", "Alıcı"),
            ("DespatchSupplierParty", "Gönderen"), ("DeliveryCustomerParty", "Alıcı"),
            ("SenderParty", "Gönderen"), ("ReceiverParty", "Alıcı"), ("BuyerCustomerParty", "Alıcı (nihai)"),
            ("SellerSupplierParty", "Satıcı (nihai)"))


def _ubl_body(root, md: DocumentMetadata | None) -> str:
    kind = md.kind if md else "other"
    out = [f"<h1>{_e(KINDS.get(kind, kind).split('(')[0].strip())} — {_e(_t(root, 'ID') or '(no ID)')}</h1>"]
    out.append(_kv([("Belge türü", kind), ("Belge no (ID)", _t(root, "ID")), ("ETTN (UUID)", _t(root, "UUID")),
                    ("Senaryo (ProfileID)", _t(root, "ProfileID")),
                    ("Tip", _t(root, "InvoiceTypeCode") or _t(root, "DespatchAdviceTypeCode") or _t(root, "ReceiptAdviceTypeCode") or _t(root, "CreditNoteTypeCode")),
                    ("Tarih", " ".join(filter(None, (_t(root, "IssueDate"), _t(root, "IssueTime"))))),
                    ("Para birimi", _t(root, "DocumentCurrencyCode")), ("Satır sayısı", _t(root, "LineCountNumeric"))]))
    parties = [_party(_kid(root, name), title) for name, title in _PARTIES if _kid(root, name) is not None]
    if parties:
        out.append(f'<div class="parties">{"".join(parties)}</div>')
    refs = []
    for name in ("BillingReference", "DespatchDocumentReference", "OrderReference", "ReceiptDocumentReference", "AdditionalDocumentReference"):
        for ref in _kids(root, name):
            target = _kid(ref, "InvoiceDocumentReference") if name == "BillingReference" else ref
            refs.append((name, _t(target, "ID"), _t(target, "IssueDate"), _t(target, "DocumentType") or _t(target, "DocumentTypeCode")))
    if refs:
        rows = "".join(f"<tr><td>{_e(a)}</td><td>{_e(b)}</td><td>{_e(c)}</td><td>{_e(d)}</td></tr>" for a, b, c, d in refs)
        out.append(f"<h2>Referanslar</h2><table><tr><th>Tür</th><th>No</th><th>Tarih</th><th>Açıklama</th></tr>{rows}</table>")
    lines = [ln for name in _LINES for ln in _kids(root, name)]
    if lines:
        out.append('<h2>Kalemler</h2><table><thead><tr><th>#</th><th>Mal / hizmet</th><th class="n">Miktar</th>'
                   '<th class="n">Birim fiyat</th><th>Vergi</th><th class="n">Tutar</th></tr></thead><tbody>')
        for ln in lines:
            qty = next((c for c in ln if _ln(c).endswith("Quantity")), None)
            item = _kid(ln, "Item")
            desc = " — ".join(filter(None, (_t(item, "Name"), _t(item, "Description"), _t(item, "BrandName"), _t(item, "ModelName"))))
            notes = " ".join(_t(n) for n in _kids(ln, "Note"))
            taxes = "; ".join(f"{_t(s, 'TaxCategory', 'TaxScheme', 'Name')} %{_t(s, 'Percent')} {_amount(_kid(s, 'TaxAmount'))}"
                              for tt in _kids(ln, "TaxTotal") for s in _kids(tt, "TaxSubtotal"))
            out.append(f"<tr><td>{_e(_t(ln, 'ID'))}</td><td>{_e(desc)}{'<br>' + _e(notes) if notes else ''}</td>"
                       f'<td class="n">{_e(_amount(qty))}</td><td class="n">{_e(_amount(_kid(ln, "Price", "PriceAmount")))}</td>'
                       f'<td>{_e(taxes)}</td><td class="n">{_e(_amount(_kid(ln, "LineExtensionAmount")))}</td></tr>')
        out.append("</tbody></table>")
    taxes = [(f"{_t(s, 'TaxCategory', 'TaxScheme', 'Name')} %{_t(s, 'Percent')} (matrah {_amount(_kid(s, 'TaxableAmount'))})",
              _amount(_kid(s, "TaxAmount"))) for name in ("TaxTotal", "WithholdingTaxTotal") for tt in _kids(root, name) for s in _kids(tt, "TaxSubtotal")]
    totals = _kid(root, "LegalMonetaryTotal")
    money = [(_ln(c), _amount(c)) for c in totals] if totals is not None else []
    if taxes or money:
        out.append("<h2>Vergiler ve toplamlar</h2>" + _kv(taxes + money))
    response = _kid(root, "DocumentResponse")
    if response is not None:
        out.append("<h2>Yanıt</h2>" + _kv([("Yanıt kodu", _t(response, "Response", "ResponseCode")),
                                           ("Açıklama", _t(response, "Response", "Description")),
                                           ("Yanıtlanan belge", _t(response, "DocumentReference", "ID"))]))
    notes = [_t(n) for n in _kids(root, "Note")]
    if notes:
        out.append("<h2>Notlar</h2>" + "".join(f"<p>{_e(n)}</p>" for n in notes))
    return "".join(out)


def _envelope_body(root) -> str:
    header = _kid(root, "StandardBusinessDocumentHeader")
    rows = []
    for role in ("Sender", "Receiver"):
        holder = _kid(header, role)
        if holder is not None:
            contacts = "; ".join(f"{_t(ci, 'ContactTypeIdentifier')}: {_t(ci, 'Contact')}" for ci in _kids(holder, "ContactInformation"))
            rows.append((role, f"{_t(holder, 'Identifier')} {contacts}"))
    ident = _kid(header, "DocumentIdentification")
    rows += [("Zarf ETTN", _t(ident, "InstanceIdentifier")), ("Zarf türü", _t(ident, "Type")),
             ("Oluşturma", _t(ident, "CreationDateAndTime"))]
    out = ["<h1>Zarf (StandardBusinessDocument)</h1>", _kv(rows)]
    contents = [el for el in root.iter() if _ln(el) in ("Invoice", "CreditNote", "DespatchAdvice", "ReceiptAdvice", "ApplicationResponse")]
    for doc in contents:
        if any(_ln(a) in ("Invoice", "CreditNote", "DespatchAdvice", "ReceiptAdvice", "ApplicationResponse") for a in doc.iterancestors()):
            continue
        out.append('<div style="break-before: page"></div>' + _ubl_body(doc, None))
    return "".join(out)


def _dec(text: str) -> Decimal:
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _ledger_body(root, md: DocumentMetadata | None) -> str:
    xbrl = _kid(root, "xbrl")
    entries = _kid(xbrl, "accountingEntries")
    info = _kid(entries, "documentInfo")
    ent = _kid(entries, "entityInformation")
    title = "Yevmiye defteri" if _t(info, "entriesType") == "journal" else "Büyük defter (kebir)" if _t(info, "entriesType") == "ledger" else "e-Defter"
    ident = _t(xbrl, "context", "entity", "identifier")
    out = [f"<h1>{_e(title)} — {_e(_t(info, 'uniqueID'))}</h1>",
           _kv([("VKN/TCKN", ident), ("Ünvan", _t(ent, "organizationIdentifiers", "organizationIdentifier")),
                ("Faaliyet", _t(ent, "businessDescription")), ("Dönem", f"{_t(info, 'periodCoveredStart')} – {_t(info, 'periodCoveredEnd')}"),
                ("Oluşturma", _t(info, "creationDate")), ("Hazırlayan", _t(ent, "accountantInformation", "accountantName")),
                ("Yazılım", _t(info, "sourceApplication"))])]
    by_account: OrderedDict[str, list] = OrderedDict()
    lines: list[tuple[str, Decimal, Decimal]] = []  # (row html, debit, credit) of every journal line
    for header in _kids(entries, "entryHeader"):
        number = _t(header, "entryNumberCounter") or _t(header, "entryNumber")
        lines.append(((f'<tr class="total"><td colspan="7">Fiş {_e(number)} — {_e(_t(header, "enteredDate"))} '
                      f'{_e(_t(header, "entryComment"))} ({_e(_t(header, "enteredBy"))})</td></tr>'), Decimal(0), Decimal(0)))
        entry_d = entry_c = Decimal(0)
        for d in _kids(header, "entryDetail"):
            account = _kid(d, "account")
            acc = " ".join(filter(None, (_t(account, "accountMainID"), _t(account, "accountMainDescription"))))
            sub = " ".join(filter(None, (_t(account, "accountSub", "accountSubID"), _t(account, "accountSub", "accountSubDescription"))))
            amount = _t(d, "amount")
            debit = _t(d, "debitCreditCode").upper().startswith("D")
            value = _dec(amount)
            entry_d, entry_c = (entry_d + value, entry_c) if debit else (entry_d, entry_c + value)
            slot = by_account.setdefault(acc, [Decimal(0), Decimal(0)])
            slot[0 if debit else 1] += value
            doc = " ".join(filter(None, (_t(d, "documentType"), _t(d, "documentNumber"), _t(d, "documentDate"))))
            lines.append(((f"<tr><td>{_e(number)}/{_e(_t(d, 'lineNumber'))}</td><td>{_e(_t(d, 'postingDate'))}</td>"
                          f"<td>{_e(acc)}{'<br>' + _e(sub) if sub else ''}</td><td>{_e(_t(d, 'detailComment'))}</td><td>{_e(doc)}</td>"
                          f'<td class="n">{_e(amount if debit else "")}</td><td class="n">{_e("" if debit else amount)}</td></tr>'),
                          value if debit else Decimal(0), Decimal(0) if debit else value))
        stated_d, stated_c = _t(header, "totalDebit"), _t(header, "totalCredit")
        lines.append(((f'<tr class="total"><td colspan="5">Fiş {_e(number)} toplamı'
                      f'{" (belgede: " + _e(stated_d) + " / " + _e(stated_c) + ")" if stated_d or stated_c else ""}</td>'
                      f'<td class="n">{entry_d:.2f}</td><td class="n">{entry_c:.2f}</td></tr>'), Decimal(0), Decimal(0)))
    out.append("<h2>Kayıtlar</h2>")
    out.extend(_ledger_sheets(lines))
    rows = "".join(f'<tr><td>{_e(a)}</td><td class="n">{d:.2f}</td><td class="n">{c:.2f}</td><td class="n">{d - c:.2f}</td></tr>'
                   for a, (d, c) in by_account.items())
    out.append(f'<h2>Hesap özeti</h2><table><tr><th>Hesap</th><th class="n">Borç</th><th class="n">Alacak</th><th class="n">Bakiye</th></tr>{rows}</table>')
    return "".join(out)


def _ledger_sheets(lines: list[tuple[str, Decimal, Decimal]]) -> list[str]:
    """The journal as sheets of SHEET_LINES lines, each with its own totals and the running total."""
    head = ('<table class="sheet"><thead><tr><th>Fiş / satır</th><th>Tarih</th><th>Hesap</th><th>Açıklama</th>'
            '<th>Belge</th><th class="n">Borç</th><th class="n">Alacak</th></tr></thead><tbody>')
    out = []
    carried_d = carried_c = Decimal(0)
    chunks = [lines[i : i + SHEET_LINES] for i in range(0, len(lines), SHEET_LINES)] or [[]]
    for n, chunk in enumerate(chunks, start=1):
        rows = [head]
        if n > 1:
            rows.append(f'<tr class="carry"><td colspan="5">Önceki sayfadan devreden (nakli yekün)</td>'
                        f'<td class="n">{carried_d:.2f}</td><td class="n">{carried_c:.2f}</td></tr>')
        page_d = sum((d for _h, d, _c in chunk), Decimal(0))
        page_c = sum((c for _h, _d, c in chunk), Decimal(0))
        rows.extend(h for h, _d, _c in chunk)
        carried_d, carried_c = carried_d + page_d, carried_c + page_c
        rows.append(f'<tr class="total page-total"><td colspan="5">Sayfa {n} toplamı</td>'
                    f'<td class="n">{page_d:.2f}</td><td class="n">{page_c:.2f}</td></tr>')
        label = "Genel toplam" if n == len(chunks) else "Nakli yekün (sonraki sayfaya devreden)"
        rows.append(f'<tr class="total running"><td colspan="5">{label}</td>'
                    f'<td class="n">{carried_d:.2f}</td><td class="n">{carried_c:.2f}</td></tr></tbody></table>')
        out.append("".join(rows))
    return out


def _berat_body(root, md: DocumentMetadata | None) -> str:
    xbrl = _kid(root, "xbrl")
    entries = _kid(xbrl, "accountingEntries")
    info = _kid(entries, "documentInfo")
    ent = _kid(entries, "entityInformation")
    ed = md.edefter if md else None
    sig = _t(root, "SignatureValue")
    rows = [("Berat no", _t(info, "uniqueID")), ("Defter türü", _t(info, "entriesType")),
            ("VKN/TCKN", _t(xbrl, "context", "entity", "identifier")),
            ("Ünvan", _t(ent, "organizationIdentifiers", "organizationIdentifier")),
            ("Dönem", f"{_t(info, 'periodCoveredStart')} – {_t(info, 'periodCoveredEnd')}"),
            ("Oluşturma", _t(info, "creationDate")), ("Kayıt sayısı", _t(ent, "numberOfEntries") or (ed.entry_count if ed else "")),
            ("Berat GUID", ed.berat_guid if ed else ""), ("Mühür özeti (sha256)", ed.seal if ed else ""),
            ("GİB onayı", ("var (karşı imza)" if ed.gib_approved else "yok") if ed else ""),
            ("Defter imza değeri", (sig[:64] + "…") if len(sig) > 64 else sig)]
    if xbrl is None:
        rows = [("Not", "berat does not follow GİB's edefter.xsd; its text follows")]
        return "<h1>e-Defter beratı</h1>" + _kv(rows) + _generic_body(root)
    return f"<h1>e-Defter beratı — {_e(_t(info, 'uniqueID'))}</h1>" + _kv(rows)


def _generic_body(root) -> str:
    rows = []
    for el in root.iter():
        if not isinstance(el.tag, str) or len(el) or not (el.text or "").strip():
            continue
        if _ln(el) in ("EmbeddedDocumentBinaryObject", "SignatureValue", "X509Certificate", "EncapsulatedTimeStamp"):
            continue
        path = "/".join(_ln(a) for a in reversed(list(el.iterancestors())))
        rows.append((f"{path}/{_ln(el)}".lstrip("/"), " ".join(el.text.split())))
    return _kv(rows)


def builtin_html(tree: etree._ElementTree, md: DocumentMetadata | None, *, notice: str = "") -> str:
    """A complete HTML page for *tree*; *notice* (text) is shown above it."""
    root = tree.getroot()
    kind = md.kind if md else "other"
    if kind in ("yevmiye", "kebir"):
        body = _ledger_body(root, md)
    elif kind == "berat":
        body = _berat_body(root, md)
    elif kind == "zarf":
        body = _envelope_body(root)
    elif md is not None and md.namespace and "oasis:names:specification:ubl" in md.namespace:
        body = _ubl_body(root, md)
    else:
        body = f"<h1>{_e(_ln(root))}</h1>" + _generic_body(root)
    if notice:
        body = f'<div class="notice">{_e(notice)}</div>' + body
    return page(f"{kind} {md.doc_id if md and md.doc_id else ''}".strip(), body)
