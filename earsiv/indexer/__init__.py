"""Understanding documents: XML safety, kinds and metadata, signatures, the SQL index."""

__all__: list[str] = []
