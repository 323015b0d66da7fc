"""The trust store through the archive: configured roots reach the index, searches, prints and CSVs.

Real components: an archive home on disk, the SQLite index, the real ingest with its signature
checks, the real Provenance footer.  The roots are the test CA of
``tests/unit/documents/test_signature_trust.py``.
"""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization

from earsiv.archive.archive import Archive
from earsiv.archive.config import load_config
from earsiv.archive.errors import ConfigError
from earsiv.archive.export import provenance
from earsiv.archive.ingest import Source
from earsiv.archive.trust import load_trust, shipped_roots
from earsiv.indexer.query import SearchQuery
from tests.conftest import CORPUS
from tests.unit.documents.test_signature import sign
from tests.unit.documents.test_signature_trust import (
    OTHER_VKN,
    SIGNED_AT,
    carrying,
    invoice,
    issuing,
    key,
    root,
    seal,
    signed_by,
)

REAL = "efatura/sk-akgips_20251120150604701835.xml"  # a real invoice with a Kamu SM seal


def pem(*certs) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def test_nothing_is_shipped_as_a_root_and_nothing_claims_to_be_kamu_sm():
    assert shipped_roots() == []
    assert load_trust(None).roots == () and load_trust(None).id == "none"


def test_a_pem_bundle_or_a_directory_is_a_trust_store(tmp_path):
    bundle = tmp_path / "roots.pem"
    bundle.write_bytes(pem(root(), issuing()))
    trust = load_trust(bundle)
    assert (len(trust.roots), len(trust.intermediates)) == (1, 1)
    folder = tmp_path / "dir"
    folder.mkdir()
    (folder / "root.crt").write_bytes(root().public_bytes(serialization.Encoding.DER))
    (folder / "notes.txt").write_text("not a certificate, not read")
    assert load_trust(folder).id == trust.id


@pytest.mark.parametrize("content", [b"", b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", b"\x00"])
def test_a_trust_store_that_holds_no_certificate_is_refused_by_name(tmp_path, content):
    bad = tmp_path / "bad.pem"
    bad.write_bytes(content)
    with pytest.raises(ConfigError, match="bad.pem"):
        load_trust(bad)
    with pytest.raises(ConfigError, match="missing.pem"):
        load_trust(tmp_path / "missing.pem")


def test_config_file_then_environment(home, tmp_path):
    (home / "roots.pem").write_bytes(pem(root()))
    text = (home / "config.toml").read_text()
    assert "[signatures]" in text and '\ntrust = ""\n' in text  # what `earsiv init` writes
    (home / "config.toml").write_text(text.replace('trust = ""', 'trust = "roots.pem"'))
    assert load_config(home, env={}).signature_trust == str(home / "roots.pem")
    other = tmp_path / "elsewhere.pem"
    assert load_config(home, env={"EARSIV_SIGNATURE_TRUST": str(other)}).signature_trust == str(other)
    with pytest.raises(ConfigError, match="elsewhere.pem"):  # opening the archive reads it, loudly
        Archive(load_config(home, env={"EARSIV_SIGNATURE_TRUST": str(other)}))


@pytest.fixture
def archive(home):
    (home / "roots.pem").write_bytes(pem(root(), issuing()))
    cfg = load_config(home, env={"EARSIV_SIGNATURE_TRUST": str(home / "roots.pem")})
    arch = Archive(cfg)
    docs = {
        "supplier": carrying(signed_by(seal())),
        "other": sign(key("seal"), seal(OTHER_VKN), signing_time=SIGNED_AT,
                      doc=invoice().replace("TST2024000000001", "TST2024000000002")),
        "real": (CORPUS / REAL).read_bytes(),
    }
    results = {name: r for name, r in zip(docs, arch.ingest([Source(f"{n}.xml", d) for n, d in docs.items()],
                                                          check_signatures=True), strict=True)}
    arch.inspect_pending()
    yield arch, {name: r.digest for name, r in results.items()}
    arch.close()


def test_the_index_keeps_the_three_answers_and_searches_them(archive):
    arch, digests = archive
    rows = {name: arch.index.get(d) for name, d in digests.items()}
    got = {n: (r.signature_status, r.signature_trust, r.signature_trust_reason, r.signer_relation)
           for n, r in rows.items()}
    assert got == {"supplier": ("consistent", "trusted", None, "supplier"),
                   "other": ("consistent", "trusted", None, "other"),
                   "real": ("consistent", "untrusted", "unknown-root", "other")}
    assert rows["supplier"].signature_trust_store == arch.trust.id
    assert rows["supplier"].to_json()["signature"] == "consistent; trusted root; signer is the supplier"

    def found(**kw):
        return {r.digest for r in arch.index.search(SearchQuery(**kw)).rows}
    assert found(signature_trust="trusted") == {digests["supplier"], digests["other"]}
    assert found(signature_trust="trusted", signer_relation="supplier") == {digests["supplier"]}
    assert found(signature_status="consistent") == set(digests.values())
    with pytest.raises(ValueError, match="signature=consistent.*trust=trusted.*signer=supplier"):
        SearchQuery(signature_status="valid")
    assert arch.status().to_json()["signature_trust"]["store"] == arch.trust.id


def test_the_print_footer_says_what_was_checked(archive):
    arch, digests = archive
    footers = {n: "\n".join(provenance(arch, d)[0].lines()) for n, d in digests.items()}
    assert "İmza: tutarlı, güvenilir kök, imzacı = satıcı" in footers["supplier"]
    assert "İmza: tutarlı, güvenilir kök, imzacı ≠ satıcı" in footers["other"]
    assert "İmza: tutarlı, güvenilir köke bağlanmıyor, imzacı ≠ satıcı" in footers["real"]
    assert not any("geçerli" in f.replace("geçerlilik", "") for f in footers.values())


def test_the_package_manifest_and_the_http_csv_carry_the_three_answers(archive):
    from earsiv.api.http.exports import CSV_FIELDS, _values
    from earsiv.archive.package.build import MANIFEST_FIELDS, _row_values

    arch, digests = archive
    row = arch.index.get(digests["real"])
    assert {"signature_status", "signature_trust", "signer_relation", "signature"} <= set(CSV_FIELDS)
    assert {"signature_status", "signature_trust", "signer_relation", "signature"} <= set(MANIFEST_FIELDS)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerow(_values(row))
    line = next(csv.DictReader(io.StringIO(buf.getvalue())))
    assert (line["signature_status"], line["signature_trust"], line["signer_relation"]) == \
        ("consistent", "untrusted", "other")
    assert line["signature"] == "consistent; untrusted: does not chain to a configured root; signer is not the supplier"
    manifest = _row_values(row, "x", 0, None, True)
    assert manifest["signature"] == line["signature"] and manifest["signature_trust"] == "untrusted"


def test_migration_0006_sends_old_valid_verdicts_back_for_inspection(archive):
    from alembic import command
    from alembic.config import Config

    from earsiv.indexer.db import MIGRATIONS

    arch, digests = archive
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with arch.index.db.write("downgrade") as conn:  # an index as 0005 left it, with a 'valid' verdict
        config.attributes["connection"] = conn
        command.downgrade(config, "0005")
        conn.execute(sa.text("UPDATE documents SET signature_status = 'valid' WHERE digest = :d"),
                     {"d": digests["supplier"]})
        conn.execute(sa.text("UPDATE index_counts SET key = 'signature/valid', value = 1 "
                             "WHERE key = 'signature/consistent'"))
    arch.index.upgrade()
    assert arch.index.get(digests["supplier"]).signature_status == "pending"
    assert arch.index.stats().by_signature_status.get("valid") is None
    assert arch.index.stats().pending_signatures == 1
    arch.inspect_pending()
    assert arch.index.get(digests["supplier"]).signature_trust == "trusted"
