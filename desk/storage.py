"""The one door to stored files: attachments, quarantined attachments and privacy exports.

Every file has a key, `<area>/<path>`:

    attachments/ab/cd/<sha256>   an attachment's bytes, stored once by content
    quarantine/<sha256>          an attachment a virus scan found infected (never served)
    exports/<id>-<token>.zip     a privacy export

Two backends, chosen per app from its settings when a file is first touched (nothing is
opened at import time or when the app is built):

- `local` (the default): each area is a folder — attachments → ATTACHMENT_DIR (the layout
  the desk always had, so files stored before keep working), quarantine →
  ATTACHMENT_DIR/quarantine (the same file system, so quarantining is a rename), exports →
  EXPORT_DIR. Several machines need these folders on shared storage.
- `s3` (STORAGE_BACKEND=s3): objects `S3_PREFIX + key` in S3_BUCKET of any S3-compatible
  store (S3_ENDPOINT_URL for one that is not AWS), through boto3. Every web and worker
  machine reads and writes the same bucket.

Downloads are streamed through the app on both backends (`send`), never redirected to a
presigned URL: the desk's own access checks, quarantine check, headers (`attachment`, the
sniffed type, nosniff, the CSP) are on every byte, the object store needs no public
endpoint, and no bearer URL can leak from a browser's history. The cost is a web worker
busy for the length of a download, bounded by ATTACHMENT_MAX_BYTES for attachments.

A write is all or nothing: `writer()` hands out a seekable temporary file and the key
takes its bytes only when the block ends without an exception (local: a rename in the
same folder; S3: one upload, multipart when large). Storage that cannot be reached raises
StorageUnavailable, which pages answer with a 503 that says so and mail intake with
"try again later".
"""
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from flask import Flask, current_app, send_file

AREAS = ("attachments", "quarantine", "exports")
BACKENDS = ("local", "s3")
CHUNK = 1 << 16


class Missing(FileNotFoundError):
    """Nothing is stored under that key."""


class StorageUnavailable(RuntimeError):
    """The storage could not be reached or refused the request (not a missing key)."""


def check_key(key: str) -> str:
    """A key the desk made: a known area and plain path segments, never a way out of them."""
    parts = key.split("/") if isinstance(key, str) else []
    if len(parts) < 2 or parts[0] not in AREAS or any(
            p in ("", ".", "..") or "\\" in p or "\x00" in p for p in parts):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class LocalStorage:
    """Files in folders; the folders are read from the app's settings on each call."""

    name = "local"

    def __init__(self, config):
        self.config = config

    def _roots(self) -> dict[str, Path]:
        attachments = Path(self.config["ATTACHMENT_DIR"])
        return {"attachments": attachments, "quarantine": attachments / "quarantine",
                "exports": Path(self.config["EXPORT_DIR"])}

    def path(self, key: str) -> Path:
        area, rest = check_key(key).split("/", 1)
        return self._roots()[area] / rest

    def describe(self) -> str:
        return f"local folders {self.config['ATTACHMENT_DIR']} and {self.config['EXPORT_DIR']}"

    @contextmanager
    def writer(self, key: str, *, private: bool = False) -> Iterator[BinaryIO]:
        path = self.path(key)
        path.parent.mkdir(mode=0o700 if private else 0o777, parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
        fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
        try:
            with os.fdopen(fd, "w+b") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    def put(self, key: str, data, *, private: bool = False) -> None:
        with self.writer(key, private=private) as fh:
            _write(fh, data)

    @contextmanager
    def open(self, key: str, *, seekable: bool = False) -> Iterator[BinaryIO]:
        try:
            fh = open(self.path(key), "rb")
        except (FileNotFoundError, NotADirectoryError):
            raise Missing(key) from None
        with fh:
            yield fh

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int | None:
        try:
            return self.path(key).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    def delete(self, key: str) -> bool:
        try:
            self.path(key).unlink()
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def move(self, key: str, target: str) -> bool:
        source, dest = self.path(key), self.path(target)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, dest)
        except FileNotFoundError:
            return False
        return True

    def keys(self, prefix: str) -> list[str]:
        """Every key that starts with `prefix` (`<area>/…`), half-written files included."""
        area = _area(prefix)
        roots = self._roots()
        root = roots[area]
        # A folder of another area inside this one (the quarantine) is that area's.
        nested = {r for name, r in roots.items() if name != area and root in r.parents}
        found = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if Path(folder, d) not in nested]
            for name in files:
                key = f"{area}/{Path(folder, name).relative_to(root).as_posix()}"
                if key.startswith(prefix):
                    found.append(key)
        return sorted(found)

    def send(self, key: str, *, mimetype: str, download_name: str, max_age: int | None = None):
        path = self.path(key)
        if not path.is_file():
            raise Missing(key)
        return send_file(path, mimetype=mimetype, as_attachment=True, download_name=download_name,
                         max_age=max_age)


class S3Storage:
    """Objects in an S3-compatible bucket, through one boto3 client per process."""

    name = "s3"

    def __init__(self, config):
        self.bucket = config["S3_BUCKET"]
        self.prefix = config.get("S3_PREFIX") or ""
        self.endpoint = config.get("S3_ENDPOINT_URL") or None
        self.region = config.get("S3_REGION") or None
        self._credentials = (config.get("S3_ACCESS_KEY_ID") or None, config.get("S3_SECRET_ACCESS_KEY") or None)
        self._client, self._pid = None, None

    @property
    def client(self):
        if self._client is None or self._pid != os.getpid():  # a forked work horse builds its own
            import boto3
            from botocore.config import Config

            key_id, secret = self._credentials
            # Stores other than AWS (MinIO, Ceph, a test server) are addressed by path.
            config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                            s3={"addressing_style": "path" if self.endpoint else "auto"})
            # Unset keys: boto3's own chain (AWS_* variables, ~/.aws, an instance role).
            self._client = boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                                        aws_access_key_id=key_id, aws_secret_access_key=secret, config=config)
            self._pid = os.getpid()
        return self._client

    def describe(self) -> str:
        where = f" at {self.endpoint}" if self.endpoint else ""
        return f"S3 bucket {self.bucket}{where}, prefix {self.prefix!r}"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _do(self, what: str, key: str, call):
        """Run one S3 call: a missing object is Missing, any other failure StorageUnavailable."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return call()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise Missing(key) from None
            raise StorageUnavailable(f"S3 refused to {what} {key}: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"S3 could not be reached to {what} {key}: {exc}") from exc

    def _upload(self, key: str, fh) -> None:
        # upload_fileobj: one PUT, or a multipart upload of 8 MB parts for a large file.
        self._do("upload", key, lambda: self.client.upload_fileobj(fh, self.bucket, self._key(key)))

    @contextmanager
    def writer(self, key: str, *, private: bool = False) -> Iterator[BinaryIO]:
        # Spooled in the system's temporary folder (TMPDIR), then uploaded; who may read
        # the object is the bucket's policy (`private` is for local files).
        check_key(key)
        with tempfile.TemporaryFile() as fh:
            yield fh
            fh.flush()
            fh.seek(0)
            self._upload(key, fh)

    def put(self, key: str, data, *, private: bool = False) -> None:
        if isinstance(data, (bytes, bytearray, memoryview)):
            self._do("write", key, lambda: self.client.put_object(Bucket=self.bucket, Key=self._key(key),
                                                                  Body=bytes(data)))
        else:
            self._upload(key, data)

    def _get(self, key: str) -> dict:
        return self._do("read", key, lambda: self.client.get_object(Bucket=self.bucket, Key=self._key(key)))

    @contextmanager
    def open(self, key: str, *, seekable: bool = False) -> Iterator[BinaryIO]:
        if seekable:  # a ZIP is read from its end: a local copy
            with tempfile.TemporaryFile() as fh:
                self._do("download", key, lambda: self.client.download_fileobj(self.bucket, self._key(key), fh))
                fh.seek(0)
                yield fh
            return
        body = self._get(key)["Body"]
        try:
            yield body
        finally:
            body.close()

    def _head(self, key: str) -> dict | None:
        try:
            return self._do("look up", key, lambda: self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
        except Missing:
            return None

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int | None:
        head = self._head(key)
        return None if head is None else head["ContentLength"]

    def _delete(self, key: str) -> None:
        self._do("delete", key, lambda: self.client.delete_object(Bucket=self.bucket, Key=self._key(key)))

    def delete(self, key: str) -> bool:
        if not self.exists(key):  # S3 deletes a missing key without a word; the count wants to know
            return False
        self._delete(key)
        return True

    def move(self, key: str, target: str) -> bool:
        if not self.exists(key):
            return False
        source = {"Bucket": self.bucket, "Key": self._key(key)}
        # A managed copy (multipart beyond 5 GB), then the original goes.
        self._do("copy", target, lambda: self.client.copy(source, self.bucket, self._key(target)))
        self._delete(key)
        return True

    def keys(self, prefix: str) -> list[str]:
        _area(prefix)
        found = []

        def listing():
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                              Prefix=self.prefix + prefix):
                found.extend(item["Key"][len(self.prefix):] for item in page.get("Contents", []))

        self._do("list", prefix, listing)
        return sorted(found)

    def send(self, key: str, *, mimetype: str, download_name: str, max_age: int | None = None):
        found = self._get(key)
        response = send_file(found["Body"], mimetype=mimetype, as_attachment=True, download_name=download_name,
                             conditional=False, etag=(found.get("ETag") or "").strip('"') or False,
                             last_modified=found.get("LastModified"), max_age=max_age)
        response.content_length = found["ContentLength"]
        return response


def _area(prefix: str) -> str:
    area = prefix.split("/", 1)[0]
    if area not in AREAS:
        raise ValueError(f"not a storage area: {area!r}")
    return area


def _write(fh, data) -> None:
    if isinstance(data, (bytes, bytearray, memoryview)):
        fh.write(data)
    else:
        shutil.copyfileobj(data, fh, CHUNK)


def build(config) -> LocalStorage | S3Storage:
    return S3Storage(config) if config.get("STORAGE_BACKEND") == "s3" else LocalStorage(config)


def get_storage(app: Flask | None = None) -> LocalStorage | S3Storage:
    """The app's storage, built on first use from its settings."""
    app = app or current_app._get_current_object()
    storage = app.extensions.get("desk_storage")
    if storage is None:
        storage = app.extensions["desk_storage"] = build(app.config)
    return storage
