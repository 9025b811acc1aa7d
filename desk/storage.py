"""The one door to stored files: attachments, quarantined attachments, privacy exports and
evidence snapshots.

Every file has a key, `<area>/<path>`:

    attachments/ab/cd/<sha256>   an attachment's bytes, stored once by content
    quarantine/<sha256>          an attachment a virus scan found infected (never served)
    exports/<id>-<token>.zip     a privacy export
    evidence/<kind>/<case id>/<seq>-<sha256>.json   an evidence snapshot (write-once)

Two backends, chosen per app from its settings when a file is first touched (nothing is
opened at import time or when the app is built):

- `local` (the default): each area is a folder — attachments → ATTACHMENT_DIR (the layout
  the desk always had, so files stored before keep working), quarantine →
  ATTACHMENT_DIR/quarantine (the same file system, so quarantining is a rename), exports →
  EXPORT_DIR, evidence → EVIDENCE_DIR. Several machines need these folders on shared storage.
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

A write may be exclusive (`exclusive=True`, evidence): the key is taken only if nothing is
stored under it yet, else Exists is raised and what is stored stays (local: a hard link,
which fails on an existing name; S3: a PUT with `If-None-Match: *`, one request, so an
exclusive object is at most 5 GB — after a HEAD that refuses early on a store that ignores
the condition). A key may also be a LateKey, named when the block ends: for a key named
after the content's hash, known only once it is written.
"""
import logging
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from flask import Flask, current_app, send_file
from sqlalchemy import event as orm_event
from sqlalchemy.orm import Session

AREAS = ("attachments", "quarantine", "exports", "evidence")
BACKENDS = ("local", "s3")
CHUNK = 1 << 16
log = logging.getLogger(__name__)


class Missing(FileNotFoundError):
    """Nothing is stored under that key."""


class Exists(FileExistsError):
    """An exclusive write found something stored under its key already (it stays)."""


class LateKey:
    """A key whose folder is known when writing starts and whose name only when it ends
    (named after the content's hash): `folder` (`<area>/…`), then `name()`."""

    def __init__(self, folder: str, name: Callable[[], str]):
        check_key(f"{folder}/-")
        self.folder, self.name = folder, name

    def __call__(self) -> str:
        return check_key(f"{self.folder}/{self.name()}")


def _final(key: "str | LateKey") -> str:
    return key() if isinstance(key, LateKey) else key


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
                "exports": Path(self.config["EXPORT_DIR"]), "evidence": Path(self.config["EVIDENCE_DIR"])}

    def path(self, key: str) -> Path:
        area, rest = check_key(key).split("/", 1)
        return self._roots()[area] / rest

    def describe(self) -> str:
        return (f"local folders {self.config['ATTACHMENT_DIR']}, {self.config['EXPORT_DIR']} and "
                f"{self.config['EVIDENCE_DIR']}")

    @contextmanager
    def writer(self, key: "str | LateKey", *, private: bool = False,
               exclusive: bool = False) -> Iterator[BinaryIO]:
        mode = 0o700 if private else 0o777
        folder = self.path(f"{key.folder}/-" if isinstance(key, LateKey) else key).parent
        folder.mkdir(mode=mode, parents=True, exist_ok=True)
        partial = folder / f".{secrets.token_hex(8)}.part"
        fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
        try:
            with os.fdopen(fd, "w+b") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            final = _final(key)
            path = self.path(final)
            path.parent.mkdir(mode=mode, parents=True, exist_ok=True)
            if exclusive:
                try:  # a link fails on an existing name, where a rename would replace it
                    os.link(partial, path)
                except FileExistsError:
                    raise Exists(final) from None
            else:
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

    def _upload_once(self, key: str, fh) -> None:
        """One PUT that takes the key only if it is free. The HEAD first refuses at once on
        a store that would ignore the condition (then a race between two writers remains)."""
        from botocore.exceptions import ClientError

        if self.exists(key):
            raise Exists(key)
        try:
            self._do("upload", key, lambda: self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=fh,
                                                                   IfNoneMatch="*"))
        except StorageUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") in (
                    "PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise Exists(key) from None
            raise

    @contextmanager
    def writer(self, key: "str | LateKey", *, private: bool = False,
               exclusive: bool = False) -> Iterator[BinaryIO]:
        # Spooled in the system's temporary folder (TMPDIR), then uploaded; who may read
        # the object is the bucket's policy (`private` is for local files).
        if not isinstance(key, LateKey):
            check_key(key)
        with tempfile.TemporaryFile() as fh:
            yield fh
            fh.flush()
            fh.seek(0)
            final = check_key(_final(key))
            (self._upload_once if exclusive else self._upload)(final, fh)

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


# Keys to delete once the session's transaction has committed: an object the rows stop
# naming (an erasure's unredacted document) must outlive a rollback that names it again.
AFTER_COMMIT = "storage_delete_after_commit"


def delete_after_commit(session, key: str) -> None:
    """Delete `key` from the app's storage when `session` commits; a rollback keeps it."""
    session.info.setdefault(AFTER_COMMIT, []).append((get_storage(), key))


@orm_event.listens_for(Session, "after_commit")
def _delete_committed(session) -> None:
    for storage, key in session.info.pop(AFTER_COMMIT, []):
        try:
            storage.delete(key)
        except StorageUnavailable as exc:  # committed already: the object outlives it, said loudly
            log.error("could not delete %s after the commit that stopped naming it: %s", key, exc)


@orm_event.listens_for(Session, "after_transaction_end")
def _forget_rolled_back(session, transaction) -> None:
    if transaction.parent is None:  # ended without a commit (after_commit took them otherwise)
        session.info.pop(AFTER_COMMIT, None)


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
