"""`--store` on the command line: where a run's artifacts live, as `s3://bucket/prefix` or a local folder (a resumed
run's default: the store the run it resumes recorded, flowpack._store.recorded_store).

An S3 store takes its endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (`http://host:port` for plain HTTP),
else MINIO_ENDPOINT, else AWS's own (s3.<AWS_REGION>.amazonaws.com); its credentials from AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY or MINIO_ACCESS_KEY / MINIO_SECRET_KEY (read by fp.S3 itself); the Kubernetes secret Argo
steps read them from is FLOWPACK_S3_SECRET (default flowpack-s3). FLOWPACK_STORE gives the default for --store.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from ._errors import StoreError, UsageError
from ._store import S3, LocalStore, Store, run_store

HELP = ("where artifacts live: s3://BUCKET/PREFIX (endpoint from AWS_ENDPOINT_URL or MINIO_ENDPOINT, credentials "
        "from AWS_* or MINIO_* variables) or a local folder; default: with --resume the store of the run resumed, "
        "else $FLOWPACK_STORE")


def add_option(parser) -> None:
    """Add --store to a subcommand's parser."""
    parser.add_argument("--store", metavar="s3://BUCKET/PREFIX|FOLDER", default=None, help=HELP)


def store_from(text: str | None, *, remote: bool = False):
    """The store `text` names (or $FLOWPACK_STORE when text is None; None when neither is set).

    remote=True (for Argo) refuses a local folder, which the cluster's steps can't reach."""
    if text is None:
        text = os.environ.get("FLOWPACK_STORE") or None
        if text is None:
            return None
    if text.startswith("s3://"):
        return _s3(text)
    if "://" in text:
        raise UsageError(f"--store {text!r}: use s3://BUCKET/PREFIX or a local folder")
    if remote:
        raise UsageError(f"--store {text!r}: Argo's steps can't read a folder on this machine; "
                         f"give an S3 bucket, s3://BUCKET/PREFIX")

    return LocalStore(text)


def resumed_store(run_dir: str | Path, run_id: str) -> Store | None:
    """The store run `run_id` (in `run_dir`) recorded, where the steps a resume reuses keep their outputs (an S3
    store's credentials from this process's environment); None when its record can't be read or names no store."""
    try:
        return run_store(Path(run_dir) / run_id)
    except StoreError as exc:
        raise UsageError(f"--resume {run_id}: {exc}; give its store with --store") from None


def _s3(text: str):
    url = urlsplit(text)
    if not url.netloc:
        raise UsageError(f"--store {text!r}: no bucket; use s3://BUCKET/PREFIX")
    endpoint, secure = _endpoint()
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    if endpoint is None:
        endpoint = f"s3.{region}.amazonaws.com" if region else "s3.amazonaws.com"
    return S3(endpoint, url.netloc, prefix=url.path.strip("/"), secure=secure, region=region,
              secret_name=os.environ.get("FLOWPACK_S3_SECRET") or "flowpack-s3")


def _endpoint() -> tuple[str | None, bool]:
    """(host[:port], secure) from the environment; (None, True) when no endpoint is set."""
    for var in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "MINIO_ENDPOINT"):
        value = (os.environ.get(var) or "").strip()
        if not value:
            continue
        if "://" not in value:
            secure = os.environ.get("MINIO_SECURE", "true").lower() not in ("0", "false", "no")
            return value.strip("/"), secure
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.netloc or url.path.strip("/"):
            raise UsageError(f"{var}={value!r}: give http(s)://HOST[:PORT] (no path)")
        return url.netloc, url.scheme == "https"
    return None, True
