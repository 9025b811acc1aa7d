"""Link normalisation for overlapping orders (terms-11-overlap).

Terms §11 "Overlapping Orders on the same link": two orders overlap when they
target the same link at the same time. Customers paste the same target in many
shapes (share links, mobile hosts, tracking parameters), so links are compared
after ``normalize_link``:

* scheme and host lower-cased, http treated as https, default ports dropped;
* ``www.``, ``m.``, ``mobile.`` and ``web.`` host prefixes dropped;
* fragment, tracking parameters (``utm_*``, ``igshid``, ``si``, ``fbclid``, ...),
  duplicate slashes and the trailing slash removed; remaining parameters sorted;
* the path keeps its case, except where the platform ignores case (usernames on
  Instagram, TikTok, Telegram, X and YouTube handles); ids that are
  case-sensitive (YouTube video ids, Instagram post codes, Telegram invite
  hashes, short links) keep theirs;
* per-platform canonical forms: every YouTube video link becomes
  ``https://youtube.com/watch?v=ID``, ``instagram.com/reel(s)/CODE`` and
  ``/tv/CODE`` become ``/p/CODE``, ``twitter.com`` becomes ``x.com``, ``t.me/s/name`` becomes
  ``t.me/name``, and so on (see the platform functions below).

Pure function: no Flask, no database, no network (short links such as
``vm.tiktok.com/XYZ`` are kept as they are, they cannot be resolved offline).
Never raises: garbage comes back stripped and lower-cased. Linear in the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Callable

RULE = "terms-11-overlap"

# Parameters that say who shared a link or how it was opened, never what it points to.
# "s" and "t" are not here: only X uses them for tracking (and X drops its whole query).
_TRACKING = frozenset({
    "igshid", "igsh", "si", "feature", "fbclid", "gclid", "mibextid", "ref", "ref_src",
    "is_from_webapp", "sender_device", "_t", "_r", "lang",
})
_HOST_PREFIXES = ("www.", "m.", "mobile.", "web.")
_DEFAULT_PORTS = frozenset({80, 443})  # http's and https's: both are one target

# A scheme is letters before ":"; "host:8080" is a port, not a scheme.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(?![0-9])")
_HOST = re.compile(r"[\w-]+(?:\.[\w-]+)*|\[[0-9a-f:.]+\]")


@dataclass(frozen=True)
class _Link:
    host: str
    port: str                   # "" or ":8080"
    segments: tuple[str, ...]   # non-empty path segments: duplicate and trailing slashes are gone
    query: tuple[str, ...]      # "key=value" pairs, tracking already removed

    def __str__(self) -> str:
        path = "".join("/" + s for s in self.segments)
        query = "&".join(sorted(self.query, key=lambda pair: pair.partition("=")[::2]))
        return f"https://{self.host}{self.port}{path}{'?' + query if query else ''}"


# --- YouTube --------------------------------------------------------------------

# Video ids are 11 characters of base64url and case-sensitive. The two reserved
# words happen to be 11 characters long too ("/embed/videoseries?list=...").
_VIDEO_ID = re.compile(r"([A-Za-z0-9_-]{11})(?![A-Za-z0-9_-])")
_NOT_VIDEO_IDS = frozenset({"videoseries", "live_stream"})
_VIDEO_PATHS = frozenset({"shorts", "embed", "live", "v", "e"})
# Tabs of a channel page are the same channel ("/@name/videos" is "/@name").
_CHANNEL_TABS = frozenset({
    "featured", "videos", "shorts", "streams", "playlists", "about", "podcasts", "releases",
})


def _video_id(text: str) -> str | None:
    # re.match takes the leading id, so a mangled "v=ID?si=..." still finds it.
    m = _VIDEO_ID.match(text)
    return m.group(1) if m and m.group(1) not in _NOT_VIDEO_IDS else None


def _watch(link: _Link, video: str) -> _Link:
    # Shorts, embeds, live and youtu.be links all play the same video id: one form.
    return replace(link, host="youtube.com", segments=("watch",), query=(f"v={video}",))


def _param(link: _Link, key: str) -> str:
    for pair in link.query:
        k, _, value = pair.partition("=")
        if k == key:
            return value
    return ""


def _channel(link: _Link, head: tuple[str, ...], rest: tuple[str, ...]) -> _Link:
    if len(rest) == 1 and rest[0].lower() in _CHANNEL_TABS:
        rest = ()
    return replace(link, segments=head + rest)


def _youtube(link: _Link) -> _Link:
    segs = link.segments
    first = segs[0].lower() if segs else ""
    if first == "watch" and (video := _video_id(_param(link, "v"))):
        return _watch(link, video)  # keeps v only: t=, list=, index=, si= all go
    if first in _VIDEO_PATHS and len(segs) > 1 and (video := _video_id(segs[1])):
        return _watch(link, video)
    if first.startswith("@"):  # handles are case-insensitive
        return _channel(link, (first,), segs[1:])
    if first in ("channel", "c", "user") and len(segs) > 1:  # UC... ids are case-sensitive
        return _channel(link, (first, segs[1]), segs[2:])
    return link


def _youtu_be(link: _Link) -> _Link:
    video = _video_id(link.segments[0]) if link.segments else None
    return _watch(link, video) if video else link


# --- Instagram ------------------------------------------------------------------

# A post, a reel and an IGTV video with the same code are the same media on Instagram,
# so all of them compare as /p/CODE (an overlap written once as /reel/ is still found).
_IG_MEDIA = {"p": "p", "reel": "p", "reels": "p", "tv": "p"}


def _instagram(link: _Link) -> _Link:
    segs = link.segments
    # Newer share links put the author first: /<user>/p/<code> is the post /p/<code>.
    if len(segs) >= 3 and segs[1].lower() in _IG_MEDIA:
        segs = segs[1:]
    if len(segs) >= 2 and segs[0].lower() in _IG_MEDIA:
        # Post codes are case-sensitive; anything after the code (/embed, /c/<id>) is the same post.
        return replace(link, segments=(_IG_MEDIA[segs[0].lower()], segs[1]), query=())
    # Usernames, tags, stories (/stories/<user>/<digits>): case-insensitive.
    # The query (igsh, img_index, hl) never changes the target.
    return replace(link, segments=tuple(s.lower() for s in segs), query=())


# --- TikTok -------------------------------------------------------------------------

def _tiktok(link: _Link) -> _Link:
    segs = list(link.segments)
    if segs and segs[0].startswith("@"):
        segs[0] = segs[0].lower()
        if len(segs) >= 3 and segs[1].lower() in ("video", "photo"):
            segs = [segs[0], segs[1].lower(), segs[2]]
    return replace(link, segments=tuple(segs), query=())  # the query is share tracking


def _short_link(link: _Link) -> _Link:
    # vm.tiktok.com/ZMabc: the code is case-sensitive and resolving it needs the network.
    return replace(link, query=())


# --- Telegram ---------------------------------------------------------------------

def _telegram(link: _Link) -> _Link:
    segs = list(link.segments)
    if segs and segs[0].lower() == "s":  # t.me/s/<name> is the web preview of t.me/<name>
        segs = segs[1:]
    if segs and not segs[0].startswith("+"):  # "+hash" invites are case-sensitive
        segs[0] = segs[0].lower()              # usernames (and "joinchat", "c") are not
    # Post numbers are kept; ?single, ?comment= only change the view.
    return replace(link, segments=tuple(segs), query=())


# --- X / Twitter -----------------------------------------------------------------

def _x(link: _Link) -> _Link:
    segs = list(link.segments)
    if segs:
        segs[0] = segs[0].lower()  # the username (or "i"); space/broadcast ids further on keep case
    for i, seg in enumerate(segs[:3]):  # <user>/status/<id>, i/web/status/<id>
        if seg.lower() in ("status", "statuses") and i + 1 < len(segs):
            segs = segs[:i] + ["status", segs[i + 1]]  # /photo/1, /video/1, /analytics: same post
            break
    return replace(link, host="x.com", segments=tuple(segs), query=())  # ?s=20&t=...: share tracking


def _same(link: _Link) -> _Link:
    return link


# Alias host (after prefix stripping) -> (canonical host, platform function).
_PLATFORMS: dict[str, tuple[str, Callable[[_Link], _Link]]] = {
    "youtube.com": ("youtube.com", _youtube),
    "youtube-nocookie.com": ("youtube.com", _youtube),
    "youtu.be": ("youtu.be", _youtu_be),
    "instagram.com": ("instagram.com", _instagram),
    "instagr.am": ("instagram.com", _instagram),
    "tiktok.com": ("tiktok.com", _tiktok),
    "vm.tiktok.com": ("vm.tiktok.com", _short_link),
    "vt.tiktok.com": ("vt.tiktok.com", _short_link),
    "t.me": ("t.me", _telegram),
    "telegram.me": ("t.me", _telegram),
    "telegram.dog": ("t.me", _telegram),
    "twitter.com": ("x.com", _x),
    "x.com": ("x.com", _x),
    "facebook.com": ("facebook.com", _same),  # Facebook paths and ids keep their case
    "fb.com": ("facebook.com", _same),
}


# --- parsing ----------------------------------------------------------------------

def _strip_prefixes(host: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _HOST_PREFIXES:
            # Only while a registrable name remains: "m.me" stays "m.me".
            if host.startswith(prefix) and "." in host[len(prefix):]:
                host, changed = host[len(prefix):], True
    return host


def _is_tracking(pair: str) -> bool:
    key = pair.partition("=")[0].lower()
    return key.startswith("utm_") or key in _TRACKING


def _parse(text: str) -> _Link | None:
    """Split ``text`` into a _Link, or None when it is not an http(s) link."""
    if not text.isprintable() or " " in text:
        return None
    m = _SCHEME.match(text)
    if m:
        if m.group(1).lower() not in ("http", "https"):
            return None  # javascript:, mailto:, tg://, ftp://
        rest = text[m.end():].lstrip("/")  # also forgives "https:/host" and "http:host"
    else:
        rest = text.lstrip("/")  # "instagram.com/p/x" and "//host/x"
    rest = rest.partition("#")[0]
    rest, _, query = rest.partition("?")
    authority, _, path = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if at and not m:
        return None  # "@user" or "user@host" without a scheme: a handle or an e-mail
    # (user:password@ is dropped: it never changes the target, and should not be stored)
    if hostport.startswith("["):
        host, bracket, port = hostport.partition("]")
        host += bracket
        if port and not port.startswith(":"):
            return None
        port = port[1:]
    else:
        host, _, port = hostport.partition(":")
    host = host.lower().rstrip(".")
    if not host or not _HOST.fullmatch(host) or not (port == "" or port.isdigit()):
        return None
    if not m and "." not in host and host != "localhost":
        return None  # "hello" is a word, not a host
    number = int(port) if port else 443
    if number > 65535:
        return None
    return _Link(
        host=_strip_prefixes(host),
        port="" if number in _DEFAULT_PORTS else f":{number}",
        segments=tuple(s for s in path.split("/") if s),
        query=tuple(p for p in query.split("&") if p and not _is_tracking(p)),
    )


def normalize_link(raw: str) -> str:
    """The canonical form of ``raw`` for overlap comparison (terms-11-overlap).

    Two links target the same thing when their normalised forms are equal.
    Returns "" for empty input and the stripped, lower-cased input when it is
    not an http(s) link.
    """
    text = (raw or "").strip()
    if not text:
        return ""
    link = _parse(text)
    if link is None:
        return text.lower()
    canonical, platform = _PLATFORMS.get(link.host, (link.host, _same))
    return str(platform(replace(link, host=canonical)))
