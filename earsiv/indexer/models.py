"""Tables of the SQL metadata index.

The same definitions serve SQLite (embedded default) and PostgreSQL, so only
portable types appear here; the Alembic migrations in ``migrations/versions``
must produce exactly this schema (a test compares them).

Everything in these tables is derived from the object store (invariant 5):
``earsiv reindex`` empties them and fills them again from the log leaves and
the original bytes.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator

__all__ = [
    "NO_DATE",
    "UTCDateTime",
    "access_events",
    "document_parties",
    "document_refs",
    "document_text",
    "documents",
    "grants",
    "holdings",
    "index_counts",
    "index_meta",
    "jobs",
    "log_bundles",
    "log_checkpoints",
    "metadata",
    "principal_tenants",
    "principals",
    "tokens",
    "web_sessions",
]

# Keyset paging orders by (sort_date DESC, digest DESC).  A document without an
# issue date sorts as if issued on this day, i.e. last: NULLs would sort first
# on PostgreSQL and last on SQLite, and a nullable sort key makes keyset
# conditions need special cases.
NO_DATE = dt.date(1, 1, 1)

# Deterministic constraint names, so that a later migration can name what it
# alters on both back-ends.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator):
    """An aware datetime, stored as UTC.

    SQLite has no time zone type: the value is stored as naive UTC text and
    read back as aware UTC.  PostgreSQL stores ``timestamptz``; its answer is
    normalised to UTC too, so both back-ends return equal values.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the index stores aware datetimes only")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# Values read from documents are unbounded strings: a hostile or sloppy
# document must be archived and flagged (invariant 7), not fail on VARCHAR(n).
_Str = sa.String

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("kind", _Str(), nullable=False),
    sa.Column("root", _Str(), nullable=False),
    sa.Column("namespace", _Str()),
    sa.Column("profile", _Str()),
    sa.Column("type_code", _Str()),
    sa.Column("doc_id", _Str()),
    sa.Column("ettn", _Str()),
    # lower-cased ETTN: UUIDs compare case-insensitively, and an index on a
    # plain column is portable where an expression index is not quite.
    sa.Column("ettn_key", _Str()),
    sa.Column("issue_date", sa.Date()),
    sa.Column("sort_date", sa.Date(), nullable=False),
    sa.Column("issue_time", _Str()),
    sa.Column("currency", _Str()),
    # Amounts twice: the TEXT column is the exact value (str(Decimal), read
    # back as an equal Decimal with the same exponent); the Numeric column
    # serves range queries.  PostgreSQL's NUMERIC is exact, but SQLite keeps
    # NUMERIC as a 64-bit float, which would silently change 17+ digit amounts.
    sa.Column("payable_amount", _Str()),
    sa.Column("payable_amount_num", sa.Numeric(asdecimal=False)),
    sa.Column("tax_amount", _Str()),
    sa.Column("series", _Str()),
    sa.Column("year", sa.Integer()),
    sa.Column("sequence", sa.BigInteger()),
    sa.Column("supplier_scheme", _Str()),
    sa.Column("supplier_id", _Str()),
    sa.Column("supplier_name", sa.Text()),
    sa.Column("customer_scheme", _Str()),
    sa.Column("customer_id", _Str()),
    sa.Column("customer_name", sa.Text()),
    sa.Column("signed", sa.Boolean(), nullable=False),
    sa.Column("stylesheets", sa.Integer(), nullable=False),
    sa.Column("line_count", sa.Integer(), nullable=False),
    # Displayed with every row: kept here so that a page is one query.
    sa.Column("flags", sa.JSON(), nullable=False),
    sa.Column("refs", sa.JSON(), nullable=False),
    sa.Column("edefter_vkn", _Str()),
    sa.Column("edefter_period_start", sa.Date()),
    sa.Column("edefter_period_end", sa.Date()),
    sa.Column("edefter_ledger_type", _Str()),
    sa.Column("edefter_control_number", _Str()),
    sa.Column("edefter_berat_guid", _Str()),
    sa.Column("edefter_entry_count", sa.Integer()),
    sa.Column("edefter_seal", _Str()),
    sa.Column("edefter_gib_approved", sa.Boolean()),
    sa.Column("signature_status", _Str(), nullable=False),
    sa.Column("signature_reason", sa.Text()),
    sa.Column("signer_subject", sa.Text()),
    sa.Column("signer_id", _Str()),
    sa.Column("signing_time", UTCDateTime()),
    sa.Column("cert_not_before", UTCDateTime()),
    sa.Column("cert_not_after", UTCDateTime()),
    sa.Column("cert_valid_at_signing", sa.Boolean()),
    sa.Column("signature_references", sa.Integer()),
    sa.Column("signature_details", sa.JSON(none_as_null=True)),  # SQL NULL until inspected
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("stored_size", sa.BigInteger(), nullable=False),
    sa.Column("dict_digest", sa.String(64)),
    sa.Column("log_index", sa.BigInteger(), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("retain_until", UTCDateTime(), nullable=False),
    sa.Column("legal_hold", sa.Boolean(), nullable=False),
    sa.Column("tenant", _Str()),
    sa.Column("source_name", sa.Text()),
    # The blob's alternative key (FORMAT.md §4), when an orphan held the usual one.  Last:
    # migrations add columns at the end, and the schema test compares column order too.
    sa.Column("blob_alt", sa.String(16)),
    # What a consistent signature is besides consistent (issue 17, migration 0006): trusted or
    # untrusted (and why), the path to the root, the set of roots it was judged against, and
    # whether the signer's VKN/TCKN is the supplier's.  NULL unless signature_status is consistent.
    sa.Column("signature_trust", sa.String(16)),
    sa.Column("signature_trust_reason", sa.String(32)),
    sa.Column("signature_chain", sa.JSON(none_as_null=True)),
    sa.Column("signature_trust_store", sa.String(16)),
    sa.Column("signer_relation", sa.String(16)),
    # A waybill's actual despatch date (LAW.md L12): the responses report's 7 days run from it.
    sa.Column("despatch_date", sa.Date()),
    # When the blob was disposed of after its retention (a `disposal` leaf, FORMAT.md §5), and that leaf.
    sa.Column("disposed_at", UTCDateTime()),
    sa.Column("disposal_index", sa.BigInteger()),
    # The supplier's ID in its index_key form (bounded, like doc_id): what the serial report's index is led by.
    # supplier_id itself is unbounded (a hostile document's multi-KB ID is archived, never indexed as is).
    sa.Column("supplier_key", _Str()),
    # Sort keys of the find page's lists (``sortkeys``, migration 0013): bytes compared byte by byte
    # on both databases, so the database orders a list as ``sortkeys`` defines (Turkish alphabetical
    # order, an amount's exact value), not by its collation or its float.
    sa.Column("sort_id", sa.LargeBinary()),
    sa.Column("sort_supplier", sa.LargeBinary()),
    sa.Column("sort_customer", sa.LargeBinary()),
    sa.Column("sort_amount", sa.LargeBinary()),
    # The payable amount as integer units of its scale (``sortkeys.amount_units``), which SQLite adds
    # exactly where its NUMERIC would not; NULL for none or past 18 digits (added from the text).
    sa.Column("payable_units", sa.BigInteger()),
    sa.Column("payable_scale", sa.Integer()),
    # One leaf per document: two rows with one log position mean a broken
    # reindex, which must fail loudly.
    sa.UniqueConstraint("log_index"),
    # Listing pages: each filter that can drive a query leads an index whose
    # tail is the keyset order, so a page is a range scan that stops early.
    sa.Index(None, "sort_date", "digest"),
    sa.Index(None, "kind", "sort_date", "digest"),
    sa.Index(None, "tenant", "sort_date", "digest"),
    sa.Index(None, "ettn_key"),
    sa.Index(None, "doc_id"),
    sa.Index(None, "edefter_vkn", "edefter_period_start"),
    sa.Index(None, "edefter_seal"),
    sa.Index(None, "signature_status", "log_index"),
    # The serial report (L11): one issuer's numbers in order, with what the report filters on, is a
    # range scan of this index alone.
    sa.Index(None, "supplier_key", "series", "year", "sequence", "issue_date", "kind"),
)

# One row per party of a document (supplier, customer, despatch, delivery,
# sender, receiver, e-Defter owner).  sort_date is copied from the document so
# that "this VKN, these dates, newest first" is one range scan of one index.
document_parties = sa.Table(
    "document_parties",
    metadata,
    sa.Column(
        "digest", sa.String(64), sa.ForeignKey("documents.digest", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("role", _Str(), nullable=False),
    sa.Column("scheme", _Str()),
    sa.Column("party_id", _Str()),
    sa.Column("name", sa.Text()),
    sa.Column("sort_date", sa.Date(), nullable=False),
    sa.Index(None, "party_id", "sort_date", "digest"),
)

# A document's words for PostgreSQL text search (docs/DECISIONS.md, "Full text"): one
# tsvector of lexemes made by documents.textterms (folded words, their stems, and each name
# word marked ``^`` for prefix search), written with the document's rows in the same
# transaction and searched through a GIN index.  On SQLite the table stays empty: the
# embedded engine (tantivy) keeps the words outside the database.
document_text = sa.Table(
    "document_text",
    metadata,
    sa.Column(
        "digest", sa.String(64), sa.ForeignKey("documents.digest", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("terms", sa.Text().with_variant(postgresql.TSVECTOR(), "postgresql"), nullable=False),
    sa.Index(None, "terms", postgresql_using="gin"),
)

document_refs = sa.Table(
    "document_refs",
    metadata,
    sa.Column(
        "digest", sa.String(64), sa.ForeignKey("documents.digest", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("ref_type", _Str(), nullable=False),
    sa.Column("ref_id", _Str()),
    sa.Column("ref_ettn", _Str()),
    sa.Index(None, "ref_id"),
    sa.Index(None, "ref_ettn"),
)

index_meta = sa.Table(
    "index_meta",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)


# A tenant's holding of a document (FORMAT.md "Holding"): one blob, one row per
# taxpayer it was archived for.  tenant "" is a holding without a taxpayer
# (archived by an operator).
holdings = sa.Table(
    "holdings",
    metadata,
    sa.Column(
        "digest", sa.String(64), sa.ForeignKey("documents.digest", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("tenant", _Str(), primary_key=True),  # in its index_key form, like documents.tenant
    sa.Column("log_index", sa.BigInteger(), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("retain_until", UTCDateTime(), nullable=False),
    sa.Column("legal_hold", sa.Boolean(), nullable=False),
    sa.Column("source_name", sa.Text()),
    # The document's sort_date, copied: a search within a tenant walks the tenant's holdings newest
    # first by the index below, so its cost follows what the tenant holds, not the archive.
    sa.Column("sort_date", sa.Date(), nullable=False),
    # A tenant's holdings in log order: the hand-back export (``export-tenant``) walks them a page at a time.
    sa.Index(None, "tenant", "log_index"),
    sa.Index(None, "tenant", "sort_date", "digest"),
    # SQLite: the rows live in the primary key's b-tree, not beside it (a third less space).
    sqlite_with_rowid=False,
)

# Principals, tokens and grants are log leaves like everything else, so these
# rows are derived too: a reindex gives the same people the same rights.
principals = sa.Table(
    "principals",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("disabled", sa.Boolean(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("log_index", sa.BigInteger(), nullable=False),
)

principal_tenants = sa.Table(
    "principal_tenants",
    metadata,
    sa.Column("name", sa.String(64), sa.ForeignKey("principals.name", ondelete="CASCADE"), primary_key=True),
    sa.Column("tenant", sa.String(11), primary_key=True),
)

# Only the sha256 of a token is kept; the token itself is shown once.
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("principal", sa.String(64), sa.ForeignKey("principals.name", ondelete="CASCADE"), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime()),
    sa.Column("revoked_at", UTCDateTime()),
    sa.Column("log_index", sa.BigInteger(), nullable=False),
    sa.Index(None, "principal"),
)

grants = sa.Table(
    "grants",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("inspector", sa.String(64), sa.ForeignKey("principals.name", ondelete="CASCADE"), nullable=False),
    sa.Column("vkn", sa.String(11), nullable=False),
    sa.Column("date_from", sa.Date(), nullable=False),
    sa.Column("date_to", sa.Date(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("reference", sa.Text(), nullable=False),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime()),
    sa.Column("log_index", sa.BigInteger(), nullable=False),
    sa.Index(None, "inspector"),
    sa.Index(None, "vkn"),
)

# One row per (access event, VKN it concerned): "what was shown of this
# taxpayer" is a range scan.  The event itself is the log leaf at log_index.
access_events = sa.Table(
    "access_events",
    metadata,
    sa.Column("log_index", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("vkn", sa.String(11), primary_key=True),
    sa.Column("principal", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("documents", sa.Integer(), nullable=False),
    sa.Index(None, "vkn", "log_index"),
    sa.Index(None, "principal", "log_index"),
)

# Where the log's objects are (FORMAT.md §6, §7), so that finding a leaf's bundle or the
# latest checkpoint is one lookup, never a listing.  Derived like the rest: every row
# mirrors an object in the store, and ``reindex`` lists the store to fill them again.
log_bundles = sa.Table(
    "log_bundles",
    metadata,
    sa.Column("first", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("count", sa.Integer(), nullable=False),
)

# One row per checkpoint: "made" while its objects are being written (a crash then leaves a
# row that the next checkpoint finishes or drops), "signed" once body and signature are
# stored, "stamped" once its time-stamp token is.
log_checkpoints = sa.Table(
    "log_checkpoints",
    metadata,
    sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("state", sa.String(8), nullable=False),
    sa.Column("time", UTCDateTime()),
    sa.Index(None, "state", "size"),
)

# Running totals of the documents table (how many, bytes, per kind, per signature status),
# kept by the writes that change them, so that ``status`` reads a few rows instead of
# scanning millions.  Derived: the same rows give the same totals.
index_counts = sa.Table(
    "index_counts",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.BigInteger(), nullable=False),
)

# What the audit found and what repair put back (FORMAT.md §5, audit entries): one row per
# finding leaf, closed by the leaf of the repair that restored that copy of the object.
# Derived like the rest; ``damage-report`` and ``status`` read the open ones.
audit_findings = sa.Table(
    "audit_findings",
    metadata,
    sa.Column("log_index", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("object", sa.String(300), nullable=False),
    sa.Column("copy", sa.String(8), nullable=False),
    sa.Column("problem", sa.Text(), nullable=False),
    sa.Column("detected_at", UTCDateTime(), nullable=False),
    sa.Column("repaired_at", UTCDateTime()),
    sa.Column("repair_index", sa.BigInteger()),
    sa.Index(None, "object", "copy"),
    sa.Index(None, "repaired_at", "log_index"),
)


# Signed-in browser sessions of the web pages (``earsiv/archive/sessions.py``).  The one table
# that mirrors no log leaf: a session is no fact about the archive, so it is not in the log, not
# in ``Index.dump`` and not rebuilt; a reindex empties it (everyone signs in again).  It lives in
# the index database because that is what every ``serve`` process of one archive shares.  Only
# the sha256 of a session's secret is kept, as for tokens.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("principal", sa.String(64), nullable=False),
    sa.Column("token_id", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Index(None, "expires_at"),
)

# Bulk take-away jobs (``archive/jobs.py``): not derived from the log either, like web_sessions.
jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("principal", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("query", sa.Text(), nullable=False),  # the search it was made from, JSON
    sa.Column("label", sa.String(200), nullable=False),  # period and tenant, for the result's file name
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("done", sa.BigInteger(), nullable=False),
    sa.Column("total", sa.BigInteger(), nullable=True),
    sa.Column("skipped", sa.BigInteger(), nullable=False),
    sa.Column("node", sa.String(200), nullable=False),  # the serve process (host and home) that runs it
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("size", sa.BigInteger(), nullable=True),
    sa.Column("sha256", sa.String(64), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("digests", sa.Text(), nullable=True),  # an inspector's: exactly the documents its access event named
    sa.Column("event", sa.String(200), nullable=True),  # that access event's log indexes
    sa.Index(None, "principal", "created_at"),
    sa.Index(None, "state", "node"),
)
