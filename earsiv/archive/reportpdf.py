"""Our own reports as PDF: markup the archive wrote (never a document's), laid out by WeasyPrint.

The damage report, the compliance reports and the disposal certificate are made here, so that
one place says what such a layout may fetch: nothing but ``data:`` URLs.
"""

from __future__ import annotations

__all__ = ["report_pdf"]


def report_pdf(markup: str) -> bytes:
    """*markup* (HTML the archive made, values escaped) as a PDF; nothing is fetched."""
    import logging

    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    fetcher = URLFetcher(allowed_protocols=("data",), fail_on_errors=False, timeout=1)
    return HTML(string=markup, url_fetcher=fetcher, base_url="data:,").write_pdf()
