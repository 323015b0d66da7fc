"""Interfaces: the `earsiv` command and the HTTP API. No business rules here."""

__all__: list[str] = []
