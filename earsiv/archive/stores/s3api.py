"""The edge of the S3 store: where a bucket is, the client that talks to it, and its errors.

Every call to the server goes through :meth:`S3Api.call`, which translates
botocore's exceptions into ours (``raise … from exc``): a server's answer
becomes :class:`S3Failure` (its S3 error code kept for the caller to decide
on), anything else a :class:`StoreError`.  ``stores.s3`` (the store) and
``stores.s3selftest`` (the bucket's self-test) both build on it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlparse

from earsiv.archive.errors import StoreError, StoreUnavailable

__all__ = ["COMPLIANCE", "DEFAULT_WORKERS", "S3Api", "S3Failure", "S3Location", "b64_sha256", "checksum_problem"]

COMPLIANCE = "COMPLIANCE"
DEFAULT_WORKERS = 16
_SESSION = None  # made on first use, never at import
_SESSION_LOCK = threading.Lock()
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True, slots=True)
class S3Location:
    """``s3://BUCKET?endpoint=http://127.0.0.1:8333&region=us-east-1`` (both query parts optional)."""

    bucket: str
    endpoint: str | None = None
    region: str | None = None
    workers: int = DEFAULT_WORKERS

    def __post_init__(self) -> None:
        if not _BUCKET_RE.match(self.bucket) or ".." in self.bucket:
            raise ValueError(f"{self.bucket!r} is not a valid S3 bucket name")
        if self.endpoint is not None and urlparse(self.endpoint).scheme not in ("http", "https"):
            raise ValueError(f"S3 endpoint {self.endpoint!r} must be http(s)://host:port")
        if not 1 <= self.workers <= 256:
            raise ValueError(f"workers={self.workers} is out of range 1..256")

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlparse(url)
        if parts.scheme != "s3" or not parts.netloc or parts.path not in ("", "/"):
            raise ValueError(f"{url!r} is not s3://BUCKET[?endpoint=…&region=…]")
        query = parse_qs(parts.query, strict_parsing=bool(parts.query))
        unknown = set(query) - {"endpoint", "region", "workers"}
        if unknown:
            raise ValueError(f"{url!r}: unknown setting(s) {', '.join(sorted(unknown))}")
        one = {k: v[-1] for k, v in query.items()}
        return cls(parts.netloc, one.get("endpoint"), one.get("region"), int(one.get("workers", DEFAULT_WORKERS)))

    @property
    def url(self) -> str:
        query = {k: v for k, v in (("endpoint", self.endpoint), ("region", self.region)) if v}
        return f"s3://{self.bucket}" + (f"?{urlencode(query, safe=':/')}" if query else "")


class S3Failure(StoreError):
    """The server answered with an error; ``code`` is S3's name for it (``NoSuchKey``, ``412``, …).

    Callers turn it into a specific error before it leaves the store (see
    :meth:`S3Api.fail`); being a StoreError it is still one of ours should a
    path forget to.
    """

    def __init__(self, operation: str, key: str | None, code: str, message: str) -> None:
        super().__init__(f"S3 {operation} failed: {message}", name=key)
        self.operation, self.key, self.code, self.message = operation, key, code, message


class S3Api:
    """One bucket's client, with botocore's exceptions translated at the edge."""

    def __init__(self, location: S3Location, client=None) -> None:
        self.location = location
        self.bucket = location.bucket
        self.url = location.url
        self._owns_client = client is None
        self.client = client if client is not None else _make_client(location)

    def call(self, operation: str, key: str | None = None, /, **kwargs) -> dict:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **({"Key": key} if key is not None else {}), **kwargs)
        except NoCredentialsError as exc:
            raise StoreError(f"no S3 credentials for {self.url}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from exc
        except ClientError as exc:
            raise S3Failure(operation, key, _error_code(exc), str(exc)) from exc
        except (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError) as exc:
            raise StoreUnavailable(
                f"the store {self.url} does not answer (S3 {operation} of {key or self.bucket}: {exc}). Nothing "
                f"acknowledged is lost: a document is acknowledged only once the store has it. Run the command "
                f"again when the store answers", name=key) from exc
        except BotoCoreError as exc:
            raise StoreError(f"S3 {operation} of {key or self.bucket} at {self.url} failed: {exc}", name=key) from exc

    def fail(self, failure: S3Failure) -> StoreError:
        """The error a user can act on for an answer no caller had a use for."""
        if failure.code in ("NoSuchBucket",):
            return StoreError(f"bucket {self.bucket} does not exist at {self.url}; create it with Object Lock enabled")
        if failure.code in ("AccessDenied", "403"):
            return StoreError(f"S3 {failure.operation} was denied on {self.url}: {failure.message}", name=failure.key)
        return StoreError(f"S3 {failure.operation} failed on {self.url}: {failure.message}", name=failure.key)

    def close(self) -> None:
        """Close the connection pool of a client made here (one handed in belongs to its maker)."""
        if self._owns_client:
            self.client.close()


def b64_sha256(data: bytes) -> tuple[str, str]:
    """SHA-256 of *data* as S3 wants it (base64) and as we keep it in metadata (hex)."""
    digest = hashlib.sha256(data).digest()
    return base64.b64encode(digest).decode("ascii"), digest.hex()


def checksum_problem(resp: dict, data: bytes) -> str | None:
    """What is wrong with *data* against the SHA-256 a GET response says it was stored with, or None."""
    b64, hexdigest = b64_sha256(data)
    want_b64 = resp.get("ChecksumSHA256")
    want_hex = (resp.get("Metadata") or {}).get("sha256")
    if want_b64 is None and want_hex is None:
        return "has no SHA-256 checksum to check it against"
    if (want_b64 is not None and want_b64 != b64) or (want_hex is not None and want_hex != hexdigest):
        return "does not match its SHA-256 checksum: damaged"
    return None


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")


def _make_client(location: S3Location):
    import boto3
    from botocore.config import Config as BotoConfig

    global _SESSION
    config = BotoConfig(
        max_pool_connections=location.workers + 4,
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
        # We send ChecksumSHA256 ourselves; no extra CRC32 per request.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_supported",
        s3={"addressing_style": "path"},
    )
    # The standard variables are read at every open (a session would cache
    # the first ones it saw); without them boto3's usual chain applies.
    keys = {}
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        keys = {
            "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
            "aws_session_token": os.environ.get("AWS_SESSION_TOKEN"),
        }
    try:
        with _SESSION_LOCK:  # one session per process: it caches the parsed API models
            if _SESSION is None:
                _SESSION = boto3.session.Session()
            return _SESSION.client("s3", endpoint_url=location.endpoint, region_name=location.region, config=config, **keys)
    except Exception as exc:  # botocore raises many unrelated types while configuring
        raise StoreError(f"cannot make an S3 client for {location.url}: {exc}") from exc
