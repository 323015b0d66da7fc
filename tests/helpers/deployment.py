"""A deployment of the archive as the end-to-end suite sees it: a home, its command, and its store.

``tests/e2e/test_core.py`` is written against this, so that the same test functions run on
the embedded default (a local directory and SQLite) and on the scale-out pair (SeaweedFS with
Object Lock and PostgreSQL, ``tests/integration/s3/test_core_scaleout.py``).  What a test
looks at in the store it asks here (``keys``, ``read``), never under HOME/store; a test that
damages bytes in place (which S3 does not allow through its API) asks ``damage`` and is
listed as embedded-only with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import Cli

__all__ = ["Embedded", "ScaleOut"]


@dataclass
class Embedded:
    home: Path

    name = "embedded"

    @property
    def cli(self) -> Cli:
        return Cli(self.home)

    @property
    def objects(self) -> Path:
        return self.home / "store" / "objects"

    def keys(self, prefix: str = "") -> list[str]:
        return sorted(p.relative_to(self.objects).as_posix() for p in self.objects.rglob("*")
                      if p.is_file() and p.relative_to(self.objects).as_posix().startswith(prefix))

    def read(self, key: str) -> bytes:
        return (self.objects / key).read_bytes()

    def damage(self, key: str, edit: Callable[[bytes], bytes]) -> None:
        path = self.objects / key
        path.chmod(0o644)
        path.write_bytes(edit(path.read_bytes()))

    def lose_index(self) -> None:
        for p in self.home.glob("index.sqlite*"):
            p.unlink()


@dataclass
class ScaleOut:
    home: Path
    client: object  # a plain boto3 client with the bucket owner's keys
    bucket: str

    name = "scale-out"

    @property
    def cli(self) -> Cli:
        return Cli(self.home)

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted({v["Key"] for page in pages for v in page.get("Versions", [])
                       if not v["Key"].startswith("canary/")})

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def damage(self, key: str, edit: Callable[[bytes], bytes]) -> None:
        raise NotImplementedError("S3 with Object Lock lets no one change a stored object in place")

    def lose_index(self) -> None:
        from earsiv.archive.archive import Archive

        with Archive.open(self.home) as arch:
            arch.index.reset()  # the PostgreSQL index lost: everything must come back from the bucket
