"""Searching the help articles: ranked by where the words occur, with a snippet of the
article around the first match, its matches marked. Small enough (a few dozen articles) to
scan in memory on each query; the articles themselves are cached (desk.help.articles)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup, escape

from desk.errors import DeskError
from desk.help.articles import Article, library

MAX_QUERY = 200          # characters: a question, not a document
SNIPPET = 160            # characters of article text around the first match
MIN_WORD = 2
# Words that occur in nearly every article and would rank everything alike.
STOP = frozenset("""a an and are as at be but by can do does for from has have how i if in is it its my
    me no not of on or our so than that the their them then there this to was we what when where which
    who why will with you your""".split())

WEIGHTS = {"title": 6, "summary": 3, "rules": 5, "text": 1}


class QueryTooLong(DeskError):
    status = 400
    code = "query_too_long"


@dataclass(frozen=True)
class Hit:
    article: Article
    score: int
    snippet: Markup


def terms_of(query: str) -> list[str]:
    """The words of a query worth looking for, lower-cased, each once, in order. Rule ids
    (terms-7-claim-window) stay whole so pasting one from a decision finds its article."""
    if len(query) > MAX_QUERY:
        raise QueryTooLong(f"The search is {len(query)} characters long; please use at most {MAX_QUERY}.")
    words = re.findall(r"(?:terms|aup|privacy)-[\w.-]+|\w+", query.lower())
    return list(dict.fromkeys(w for w in words if len(w) >= MIN_WORD and w not in STOP))


def _pattern(term: str) -> re.Pattern:
    # A word that starts with the term: "refund" finds "refunds", a half-typed "withdr" finds "withdrawal".
    return re.compile(r"(?<!\w)" + re.escape(term), re.IGNORECASE)


def _score(article: Article, patterns: list[re.Pattern]) -> tuple[int, int]:
    fields = {"title": article.title, "summary": article.summary, "rules": " ".join(article.rules),
              "text": article.text}
    matched = score = 0
    for pattern in patterns:
        found = {name: len(pattern.findall(value)) for name, value in fields.items()}
        if any(found.values()):
            matched += 1
        score += sum(WEIGHTS[name] * min(count, 5) for name, count in found.items())
    return matched, score


def snippet(text: str, patterns: list[re.Pattern], width: int = SNIPPET) -> Markup:
    """Up to `width` characters of `text` around its first match, escaped, each match in <mark>."""
    text = " ".join(text.split())  # one line: paragraphs and headings run together in a snippet
    starts = [m.start() for p in patterns for m in [p.search(text)] if m]
    begin = max(0, min(starts) - width // 3) if starts else 0
    if begin:
        space = text.find(" ", begin)
        begin = space + 1 if 0 <= space < begin + 20 else begin
    piece = text[begin:begin + width]
    spans = sorted((m.start(), m.end()) for p in patterns for m in p.finditer(piece))
    out, at = [], 0
    for start, end in spans:
        if start < at:
            continue
        end = max(end, start)
        # Mark the whole word the term starts.
        while end < len(piece) and piece[end].isalnum():
            end += 1
        out += [escape(piece[at:start]), Markup("<mark>{}</mark>").format(piece[start:end])]
        at = end
    out.append(escape(piece[at:]))
    prefix = "… " if begin else ""
    suffix = " …" if begin + width < len(text) else ""
    return Markup(prefix) + Markup("").join(out) + Markup(suffix)


def search(query: str, locale: str | None = None, limit: int | None = None) -> list[Hit]:
    """The articles matching `query`, best first: most of the query's words, then the
    weighted count of where they occur (title, rule ids, summary, text)."""
    patterns = [_pattern(t) for t in terms_of(query)]
    if not patterns:
        return []
    ranked = []
    for position, article in enumerate(library(locale).articles.values()):
        matched, score = _score(article, patterns)
        if matched:
            ranked.append((-matched, -score, position, article))
    ranked.sort(key=lambda r: r[:3])
    return [Hit(a, -score, snippet(a.text, patterns)) for _, score, _, a in ranked[:limit]]
