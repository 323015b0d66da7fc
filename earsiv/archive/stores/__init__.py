"""Object stores: the interface (base), the local write-once directory, S3 with Object Lock and its self-test."""

__all__: list[str] = []
