"""Web pages for people: accountants, inspectors, integrators' staff and operators (``/ui``), in Turkish
first and English second, rendered on the server, running no script, loading nothing from elsewhere.

    pages.py     the way in (``/``), sign in and out, find, open by any name, a document, its downloads
    takeaway.py  a result list as CSV or XLSX for Turkish Excel, a ZIP of originals and PDFs
    people.py    an inspector's grants, packages and access log (with filters and proofs); the status page
    admin.py     the operator's forms: principals, tokens, grants, legal holds
    reportpages.py  the compliance reports as tables and the API's files
    forms.py     the find form as a ``SearchQuery``; dates as people type them
    render.py    templates, the pages' policy (CSP) and headers, the form token check
    sheets.py    Turkish CSV and XLSX
    docs.py      ``/docs`` offline (Swagger UI from the ``swagger-ui-bundle`` package)

Sessions are checked where tokens are (``earsiv/api/http/auth.py``), so every page passes the
same rate limits and access trail as the API, and calls the same use cases.
"""
__all__: list[str] = []
