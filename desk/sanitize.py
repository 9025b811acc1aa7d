"""The one wall between untrusted markup and our templates.

Ticket bodies, replies, inbound e-mail and contact-form messages are written by
people we do not trust. Everything that will be rendered as HTML goes through
``clean_html`` here, with a single allow-list, so the result can be wrapped in
``Markup``. The Content-Security-Policy header is the second wall; it is not a
reason to be lax here.

This is the only module allowed to import bleach. Bleach is archived upstream;
swapping it (nh3 is the usual successor) must only mean editing this file, so
keep the public API free of bleach types:

* ``clean_html(html)``      untrusted HTML  -> safe HTML
* ``render_markdown(text)`` Markdown        -> safe HTML (raw HTML shown as text)
* ``text_to_html(text)``    plain text      -> safe HTML (paragraphs, <br>; escaped, so not re-parsed)
* ``html_to_text(html)``    any HTML        -> readable plain text (mail, search)
* ``web_link(url)``         a typed URL     -> itself if http(s), else None (shown as text)
"""

from __future__ import annotations

from html import escape
import re
import threading
from html.parser import HTMLParser

import bleach
from bleach import html5lib_shim
from markdown_it import MarkdownIt

__all__ = ["clean_html", "render_markdown", "text_to_html", "html_to_text", "web_link"]

# --- the allow-list (one, for everything) ------------------------------------

ALLOWED_TAGS = frozenset({
    "p", "br", "hr", "strong", "b", "em", "i", "u", "s",
    "blockquote", "code", "pre", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
    "span", "div",
    "details", "summary",  # the quoted history of a mail, folded away (no attributes: never "open" by script)
})
ALLOWED_ATTRIBUTES = {
    "a": ["href", "title"],
    "th": ["colspan", "rowspan"],
    "td": ["colspan", "rowspan"],
}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"

# Elements removed together with everything inside them. With strip=True bleach
# only removes the tags and keeps the text (so "<script>alert(1)</script>"
# would become the text "alert(1)"), and for style/title it would keep CSS/titles.
DROP_WITH_CONTENT = frozenset({
    "script", "style", "iframe", "object", "embed", "noscript", "template",
    "svg", "math",
    # raw-text / legacy elements whose content is never meant as readable body
    "title", "xmp", "noembed", "noframes", "plaintext",
})


class _DropWithContent(html5lib_shim.Filter):
    """Token filter: skip DROP_WITH_CONTENT elements and their whole subtree.

    It runs on the tree walker's output, which is always balanced (the parser
    already closed unclosed tags), so counting Start/End tags is enough.
    """

    def __iter__(self):
        depth = 0
        for token in super().__iter__():
            kind = token["type"]
            if depth:
                if kind == "StartTag":
                    depth += 1
                elif kind == "EndTag":
                    depth -= 1
                continue
            if kind in ("StartTag", "EmptyTag") and token["name"].lower() in DROP_WITH_CONTENT:
                depth = 1 if kind == "StartTag" else 0
                continue
            yield token


class _LinkRel(html5lib_shim.Filter):
    """Token filter (runs after sanitising): force rel on every <a>."""

    def __iter__(self):
        for token in super().__iter__():
            if token["type"] in ("StartTag", "EmptyTag") and token["name"] == "a":
                attrs = dict(token.get("data") or {})
                attrs[(None, "rel")] = LINK_REL
                token["data"] = attrs
            yield token


class _Cleaner(bleach.sanitizer.Cleaner):
    """bleach Cleaner that drops DROP_WITH_CONTENT elements with their content.

    Bleach's tokenizer turns every non-allowed tag into an empty text token
    before the tree is built, so the dangerous elements never reach a filter
    and their content is parsed as ordinary text. We therefore let the parser
    know those tags too (so <script>, <style>, <noscript>... get their real
    browser parsing rules, including raw-text content and scripting=on
    <noscript>) and remove them from the walked tree before bleach's own
    sanitizer sees it. The sanitizer's allow-list is unchanged, so anything the
    drop filter missed would still be stripped.
    """

    def __init__(self) -> None:
        super().__init__(
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            protocols=ALLOWED_PROTOCOLS,
            strip=True,
            strip_comments=True,
            filters=[_LinkRel],
        )
        self.parser = html5lib_shim.BleachHTMLParser(
            tags=ALLOWED_TAGS | DROP_WITH_CONTENT,
            strip=True,
            consume_entities=False,
            namespaceHTMLElements=False,
        )
        walk = self.walker
        self.walker = lambda tree: _DropWithContent(walk(tree))


# bleach's parser keeps state between calls: one Cleaner per thread.
_local = threading.local()


def _cleaner() -> _Cleaner:
    cleaner = getattr(_local, "cleaner", None)
    if cleaner is None:
        cleaner = _local.cleaner = _Cleaner()
    return cleaner


def clean_html(html: str) -> str:
    """Return ``html`` reduced to the allow-list; safe to wrap in ``Markup``."""
    if not html:
        return ""
    return _cleaner().clean(str(html))


# --- Markdown ----------------------------------------------------------------

# Raw HTML off: typed "<b>" shows up as text. markdown-it also refuses
# javascript:/vbscript:/file:/data: link targets; clean_html is the backstop.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False})
for _rule in ("table", "strikethrough"):
    try:
        _md.enable(_rule)
    except (KeyError, ValueError):  # not available in this markdown-it version
        pass


def render_markdown(text: str) -> str:
    """Render Markdown (CommonMark + tables + ~~strike~~) to safe HTML."""
    if not text:
        return ""
    return clean_html(_md.render(str(text)))


# --- plain text <-> HTML -----------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


# The control characters clean_html turns into "?" (bleach's INVISIBLE_CHARACTERS: C0 but
# tab, newline and carriage return), so that text_to_html gives what it would.
_INVISIBLE = dict.fromkeys([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)], "?")


def text_to_html(text: str) -> str:
    """Plain text -> HTML: blank lines make paragraphs, single newlines <br>.

    Every character of the text is escaped and the only tags are our own <p> and <br>, so
    the result is already what clean_html would return (a fixed point of it, property-tested
    in tests/test_sanitize.py) and does not go through the parser again: that pass was a
    twentieth of a ticket's intake (issue 11)."""
    if not text:
        return ""
    text = str(text).replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(text) if p.strip()]
    return "\n".join(
        "<p>" + "<br>\n".join(escape(line.translate(_INVISIBLE)) for line in p.split("\n")) + "</p>"
        for p in paragraphs
    )


_BLOCK_TAGS = frozenset({
    "p", "div", "blockquote", "pre", "ul", "ol", "table",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr",
})


class _TextExtractor(HTMLParser):
    """Tags -> whitespace: blocks become paragraphs, <li> "- ", links "text (url)"."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._links: list[tuple[str | None, int]] = []
        self._first_cell = True
        self._pre = 0

    def handle_starttag(self, tag, attrs):
        self._pre += tag == "pre"
        if tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag == "tr":
            self.parts.append("\n")
            self._first_cell = True
        elif tag in ("td", "th"):
            self.parts.append("" if self._first_cell else "\t")
            self._first_cell = False
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        elif tag == "a":
            self._links.append((dict(attrs).get("href"), len(self.parts)))

    def handle_endtag(self, tag):
        self._pre -= tag == "pre" and self._pre > 0
        if tag == "a" and self._links:
            href, start = self._links.pop()
            label = "".join(self.parts[start:]).strip()
            if href and href.removeprefix("mailto:") != label:
                self.parts.append(f" ({href})")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self._pre:  # outside <pre> whitespace collapses, as in a browser
            data = re.sub(r"\s+", " ", data)
            previous = next((p for p in reversed(self.parts) if p), "\n")
            if previous[-1].isspace():
                data = data.lstrip(" ")
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable plain text for e-mail bodies and search (cleans first)."""
    if not html:
        return ""
    extractor = _TextExtractor()
    extractor.feed(clean_html(html))
    extractor.close()
    text = "".join(extractor.parts).replace("\xa0", " ")
    text = re.sub(r"[ \t]+(?=\n)|[ ]+(?=\t)", "", text)  # trailing blanks
    text = re.sub(r"\n{3,}", "\n\n", text)           # at most one blank line
    return text.strip()


def csv_cell(value: str) -> str:
    """A CSV cell a spreadsheet would run as a formula (= + - @, tab, CR first) kept as text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# Characters a browser drops from a URL before reading its scheme: C0 controls and space
# at either end, tab and newlines anywhere ("java\tscript:" is javascript:).
_URL_IGNORED = re.compile(r"[\t\n\r]")
_URL_EDGES = "".join(map(chr, range(0x21)))


def web_link(url: str | None) -> str | None:
    """`url` when a browser would open it as a web page (http or https), else None, so a
    link someone else typed (an order's link, a reported URL) is only ever an <a href>
    that cannot run script; anything else is shown as text."""
    if not isinstance(url, str):
        return None
    seen = _URL_IGNORED.sub("", url).strip(_URL_EDGES)
    scheme, colon, _ = seen.partition(":")
    return url if colon and scheme.lower() in ("http", "https") else None
