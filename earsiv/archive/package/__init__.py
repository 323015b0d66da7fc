"""Inspection packages: the BagIt builder, its verifier, the stand-alone verifier shipped inside, ISO 9660."""

__all__: list[str] = []
