"""Object stores: the interface (base), the local write-once directory, S3 with Object Lock (s3, its edge s3api,
its self-test s3selftest) and when a server runs that self-test (schedule)."""

__all__: list[str] = []
