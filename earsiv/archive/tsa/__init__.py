"""Time-stamping: RFC 3161 authorities (built-in, HTTP, Kamu SM), token verification, token fields."""

__all__: list[str] = []
