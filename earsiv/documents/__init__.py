"""Understanding documents (pure: bytes to values): XML safety, kinds and UBL-TR/e-Defter metadata, identifiers, XAdES inspection, text extraction."""

__all__: list[str] = []
