"""S3: artifacts in an S3 bucket through the minio SDK (imported lazily), with sha256 in object metadata.

Uploads stream from disk in parts (minio multipart, parts in flight bounded), so memory stays small.
The digest goes into x-amz-meta-sha256. Files up to STREAM_HASH_MIN bytes (and above 5 GiB) are hashed
first and uploaded with the metadata in one go. Larger files are hashed while they upload (one read
of the file instead of two) and the digest is then attached by a server-side self-copy with
metadata REPLACE, which S3 servers do without moving data. Either way the object appears at its key
only when complete (single PUT and multipart completion are atomic; a failed multipart upload is
aborted), and get() verifies the bytes against the ArtifactRef's digest while streaming.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from flowpack._errors import ArtifactIntegrityError, StoreError

from . import _archive
from ._base import (
    ArtifactNotFoundError,
    ArtifactRef,
    BucketNotFoundError,
    Sha256Pipe,
    Store,
    StoreAuthError,
    StoreUnreachableError,
    check_key,
    hash_file,
)

META = "x-amz-meta-sha256"
AUTH_CODES = {"SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "InvalidToken", "ExpiredToken",
              "InvalidSecurity", "AuthorizationHeaderMalformed"}
MAX_COPY = 5 << 30  # largest object a single CopyObject may copy


class _HashingReader:
    """Wraps a file so every byte read is hashed (in a helper thread) and counted."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self.hasher = Sha256Pipe()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        if data:
            self.hasher.update(data)
            self.size += len(data)
        return data


class S3(Store):
    """An S3 bucket (optionally under a key prefix) as an artifact store."""

    STREAM_HASH_MIN = 64 << 20  # files larger than this are hashed while uploading (see module doc)
    PART_SIZE = 0  # multipart part size in bytes; 0 lets minio choose (5 MiB up to ~48 GiB files)

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        prefix: str = "",
        secure: bool = True,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        cert_check: bool = True,
        *,
        secret_name: str = "flowpack-s3",
        session_token: str | None = None,
        create_bucket: bool = False,
    ) -> None:
        if "://" in endpoint or "/" in endpoint.strip("/"):
            raise StoreError(
                f"S3(endpoint={endpoint!r}): give host[:port] only, without scheme or path; "
                "use secure=False for plain http"
            )
        if not bucket:
            raise StoreError("S3(bucket=''): a bucket name is required")
        self.endpoint = endpoint.strip("/")
        self.bucket = bucket
        self.prefix = check_key(prefix.strip("/"), "prefix") + "/" if prefix.strip("/") else ""
        self.secure = secure
        self.region = region
        self.cert_check = cert_check
        self.secret_name = secret_name
        env = os.environ
        if access_key is None and secret_key is None:
            if env.get("AWS_ACCESS_KEY_ID"):
                access_key, secret_key = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
                self._cred_source = "env AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
            elif env.get("MINIO_ACCESS_KEY"):
                access_key, secret_key = env.get("MINIO_ACCESS_KEY"), env.get("MINIO_SECRET_KEY")
                self._cred_source = "env MINIO_ACCESS_KEY / MINIO_SECRET_KEY"
            else:
                self._cred_source = "none given (anonymous)"
            if session_token is None:
                session_token = env.get("AWS_SESSION_TOKEN")
        else:
            self._cred_source = "arguments access_key= / secret_key="
        if bool(access_key) != bool(secret_key):
            raise StoreError(
                f"S3: access key and secret key must be given together (source: {self._cred_source}); "
                "pass both access_key= and secret_key=, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        self._access_key = access_key or None
        self._secret_key = secret_key or None
        self._session_token = session_token
        self._client_obj = None
        if create_bucket:
            self.create_bucket()

    # --- description ----------------------------------------------------------------------------
    def __repr__(self) -> str:
        return (f"S3(endpoint={self.endpoint!r}, bucket={self.bucket!r}, prefix={self.prefix!r}, "
                f"secure={self.secure!r})")

    def describe(self) -> dict:
        """Where artifacts live, without credentials (for run records)."""
        return {"type": "s3", "endpoint": self.endpoint, "bucket": self.bucket, "prefix": self.prefix,
                "secure": self.secure, "region": self.region}

    def to_argo(self, key: str) -> dict:
        """Argo S3 artifact location for `key`; credentials only as Kubernetes secret references."""
        s3: dict = {
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "key": self.prefix + check_key(key),
            "insecure": not self.secure,
            "accessKeySecret": {"name": self.secret_name, "key": "accesskey"},
            "secretKeySecret": {"name": self.secret_name, "key": "secretkey"},
        }
        if self.region:
            s3["region"] = self.region
        return {"s3": s3}

    # --- client and errors ----------------------------------------------------------------------
    @property
    def _client(self):
        """The minio client, built on first use (minio and urllib3 are imported lazily)."""
        if self._client_obj is None:
            import certifi  # lazy: the S3 client loads only when an S3 store is used
            import urllib3
            from minio import Minio  # lazy: the S3 client loads only when an S3 store is used

            http = urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=10, read=300),
                maxsize=10,
                cert_reqs="CERT_REQUIRED" if self.cert_check else "CERT_NONE",
                ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
                retries=urllib3.Retry(total=5, connect=2, other=0, backoff_factor=0.2,
                                      status_forcelist=[500, 502, 503, 504]),
            )
            self._client_obj = Minio(
                self.endpoint, access_key=self._access_key, secret_key=self._secret_key,
                session_token=self._session_token, secure=self.secure, region=self.region,
                http_client=http, cert_check=self.cert_check,
            )
        return self._client_obj

    def _object(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _error(self, exc: BaseException, what: str) -> StoreError:
        """Translate a minio/urllib3 error into a StoreError that says what to check (never the secret)."""
        from minio.error import S3Error  # lazy: the S3 client loads only when an S3 store is used
        from urllib3.exceptions import HTTPError, SSLError

        where = f"S3 endpoint {self.endpoint!r} (secure={self.secure})"
        if isinstance(exc, S3Error):
            code = exc.code or ""
            if code in AUTH_CODES:
                who = f"access key {self._access_key!r}" if self._access_key else "no credentials"
                err: StoreError = StoreAuthError(
                    f"{what}: {where} refused the request ({code}: {exc.message}) with {who} "
                    f"(from {self._cred_source}). Check the access_key=/secret_key= arguments or the env vars "
                    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or MINIO_ACCESS_KEY/MINIO_SECRET_KEY), and that "
                    f"this key may use bucket {self.bucket!r}"
                )
            elif code == "NoSuchBucket":
                err = BucketNotFoundError(
                    f"{what}: bucket {self.bucket!r} does not exist at {where}. Create it with "
                    "S3(..., create_bucket=True) or store.create_bucket(), or fix bucket="
                )
            elif code in ("NoSuchKey", "NoSuchObject"):
                err = ArtifactNotFoundError(f"{what}: no object in bucket {self.bucket!r} at {where}")
            else:
                err = StoreError(f"{what}: {where} answered {code}: {exc.message}")
        elif isinstance(exc, (HTTPError, OSError)):
            reason = getattr(exc, "reason", None) or exc
            hint = "check the host and port, that the server runs, and secure= (https or http)"
            if isinstance(reason, SSLError) or "SSL" in str(reason):
                hint = ("TLS failed: if the server speaks plain http use secure=False; if its certificate is "
                        "private, point SSL_CERT_FILE at its CA (cert_check=False only for testing)")
            err = StoreUnreachableError(f"{what}: cannot reach {where}: {reason}. {hint}")
        else:
            err = StoreError(f"{what}: {exc}")
        if self._secret_key:  # belt and braces: no message may carry the secret
            err.args = tuple(str(a).replace(self._secret_key, "***") for a in err.args)
        return err

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from minio.error import MinioException  # lazy: the S3 client loads only when an S3 store is used
        from urllib3.exceptions import HTTPError

        try:
            yield
        except (MinioException, HTTPError, ConnectionError) as exc:
            raise self._error(exc, what) from None

    # --- bucket ---------------------------------------------------------------------------------
    def create_bucket(self) -> None:
        """Create the bucket if it does not exist yet."""
        with self._errors(f"S3.create_bucket({self.bucket!r})"):
            if not self._client.bucket_exists(self.bucket):
                self._client.make_bucket(self.bucket, location=self.region)

    # --- Store primitives -----------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        """True when an object is stored under `key`."""
        try:
            with self._errors(f"S3.exists({key!r})"):
                self._client.stat_object(self.bucket, self._object(key))
            return True
        except ArtifactNotFoundError:
            return False

    def put(self, src: Path, key: str, *, move: bool = False) -> ArtifactRef:
        """Upload a file, or a directory as tar.gz, to `key`; streamed; returns the ref with its sha256."""
        src = Path(src)
        name = self._object(key)
        if src.is_dir():
            with _archive.spooled(src, None, deterministic=False) as (tmp, sha, size):
                self._upload(tmp, name, sha, key)
            if move:
                shutil.rmtree(src)
            return ArtifactRef(key, sha, size, "dir")
        if not src.is_file():
            raise StoreError(f"S3.put(src={str(src)!r}): no such file or directory")
        size = src.stat().st_size
        if size <= self.STREAM_HASH_MIN or size > MAX_COPY:
            sha, size = hash_file(src)
            self._upload(src, name, sha, key)
        else:
            sha, size = self._upload_hashing(src, name, size, key)
        if move:
            src.unlink()
        return ArtifactRef(key, sha, size, "file")

    def _put_known(self, path: Path, key: str, sha256: str, size: int, *, move: bool) -> None:
        self._upload(path, self._object(key), sha256, key)
        if move:
            path.unlink()

    def _upload(self, path: Path, name: str, sha256: str, key: str) -> None:
        """Upload a file whose digest is known, with the digest as metadata (multipart when large)."""
        with self._errors(f"S3.put(key={key!r})"):
            self._client.fput_object(self.bucket, name, str(path), metadata={META: sha256},
                                     part_size=self.PART_SIZE)

    def _upload_hashing(self, path: Path, name: str, size: int, key: str) -> tuple[str, int]:
        """Upload while hashing, then attach the digest by a metadata-only self-copy."""
        from minio.commonconfig import REPLACE, CopySource  # lazy: the S3 client loads only when an S3 store is used

        what = f"S3.put(key={key!r})"
        with open(path, "rb") as f:
            reader = _HashingReader(f)
            try:
                with self._errors(what):
                    self._client.put_object(self.bucket, name, reader, size,
                                            part_size=self.PART_SIZE)
            finally:
                sha = reader.hasher.hexdigest()
        try:
            with self._errors(what):
                self._client.copy_object(self.bucket, name, CopySource(self.bucket, name),
                                         metadata={META: sha}, metadata_directive=REPLACE)
        except StoreError:
            self._remove_quietly(name)
            raise
        return sha, reader.size

    def _remove_quietly(self, name: str) -> None:
        try:
            self._client.remove_object(self.bucket, name)
        except Exception:  # noqa: BLE001, S110 - best effort cleanup; the original failure is being raised
            pass

    @contextmanager
    def open_unverified(self, key: str) -> Iterator[BinaryIO]:
        """The object at `key` (under this store's prefix), streamed (see Store.open_unverified)."""
        what = f"S3.open_unverified({key!r})"
        with self._errors(what):
            resp = self._client.get_object(self.bucket, self._object(key))
        try:
            with self._errors(what):
                yield resp
        finally:
            resp.close()
            resp.release_conn()

    @contextmanager
    def _open(self, ref: ArtifactRef) -> Iterator[BinaryIO]:
        """Stream the object; fail early when its recorded digest differs from the ref's."""
        what = f"S3.get({ref.key!r})"
        with self._errors(what):
            resp = self._client.get_object(self.bucket, self._object(ref.key))
        try:
            recorded = resp.headers.get(META)
            if recorded and recorded != ref.sha256:
                raise ArtifactIntegrityError(
                    f"{what}: the object's recorded sha256 {recorded} differs from the ref's {ref.sha256}; "
                    "the key was overwritten with other content"
                )
            with self._errors(what):
                yield resp
        finally:
            resp.close()
            resp.release_conn()
