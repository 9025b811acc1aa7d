"""A small client for a ClamAV daemon (clamd): PING, VERSION and INSTREAM.

Written here rather than taken from PyPI: the `clamd` and `pyclamd` packages have had no
release for years, and the protocol is a page long (clamd(8), "INSTREAM"). Commands are
sent in the null-terminated form (`zINSTREAM\\0`); a stream goes as chunks, each a 4-byte
big-endian length and that many bytes, ended by a zero length. clamd answers one line:

    stream: OK
    stream: Eicar-Test-Signature FOUND
    INSTREAM size limit exceeded. ERROR

Where clamd listens: CLAMD_SOCKET (a unix socket path) or CLAMD_HOST and CLAMD_PORT. Set
neither and scanning is off. Nothing connects before a call.
"""
import socket
import struct
from dataclasses import dataclass

CHUNK = 1 << 16  # bytes per INSTREAM chunk (clamd's StreamMaxLength bounds the total)


class ClamdError(OSError):
    """clamd could not be reached, or answered with an error: the scan must be tried again."""


@dataclass(frozen=True)
class Verdict:
    infected: bool
    signature: str | None  # the signature's name when infected


@dataclass(frozen=True)
class Clamd:
    socket_path: str | None = None
    host: str | None = None
    port: int = 3310
    timeout: float = 60.0

    @classmethod
    def from_config(cls, config) -> "Clamd | None":
        """The daemon the settings name, or None when scanning is off."""
        if config.get("CLAMD_SOCKET"):
            return cls(socket_path=config["CLAMD_SOCKET"], timeout=config.get("CLAMD_TIMEOUT", 60))
        if config.get("CLAMD_HOST"):
            return cls(host=config["CLAMD_HOST"], port=int(config.get("CLAMD_PORT") or 3310),
                       timeout=config.get("CLAMD_TIMEOUT", 60))
        return None

    def describe(self) -> str:
        return f"unix:{self.socket_path}" if self.socket_path else f"{self.host}:{self.port}"

    def _connect(self) -> socket.socket:
        try:
            if self.socket_path:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(self.socket_path)
                return sock
            return socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise ClamdError(f"clamd at {self.describe()} cannot be reached: {exc}") from exc

    def _ask(self, command: bytes, stream=None) -> str:
        failure, reply = None, b""
        with self._connect() as sock:
            try:
                sock.sendall(b"z" + command + b"\0")
                if stream is not None:
                    while chunk := stream.read(CHUNK):
                        sock.sendall(struct.pack("!L", len(chunk)) + chunk)
                    sock.sendall(struct.pack("!L", 0))
            except OSError as exc:
                # clamd stops reading past its StreamMaxLength and says why: read that.
                failure = exc
            try:
                while not reply.endswith(b"\0"):
                    part = sock.recv(4096)
                    if not part:
                        break
                    reply += part
            except OSError as exc:
                failure = failure or exc
        text = reply.rstrip(b"\0").decode("utf-8", "replace").strip()
        if failure is not None and not text:
            raise ClamdError(f"clamd at {self.describe()} broke off: {failure}") from failure
        return text

    def ping(self) -> bool:
        return self._ask(b"PING") == "PONG"

    def version(self) -> str:
        return self._ask(b"VERSION")

    def instream(self, stream) -> Verdict:
        """Scan the bytes a binary file object gives (read to its end, in chunks)."""
        reply = self._ask(b"INSTREAM", stream)
        if reply.endswith(" FOUND"):
            name = reply.removeprefix("stream:").removesuffix(" FOUND").strip()
            return Verdict(True, name or "unknown")
        if reply == "stream: OK":
            return Verdict(False, None)
        raise ClamdError(f"clamd at {self.describe()} answered: {reply or 'nothing'}")
