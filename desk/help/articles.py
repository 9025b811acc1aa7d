"""Help articles: found on disk, parsed and rendered once per process, on first use.

An article is `articles/<locale>/<slug>.md`: a front matter between two `---` lines, then
Markdown. The front matter is `key: value` lines:

    ---
    title: The 3-day claim window
    summary: One sentence shown in the index, the search results and the suggestions.
    topic: orders
    order: 1
    rules: terms-7-claim-window, terms-13-window
    ---

`topic` is one of the ids in `articles/<locale>/_topics.txt` (`id: Title` lines, in the
order the index shows them); `order` (optional, English only) places the article in its
topic. English is complete and decides which article explains a rule;
another locale may translate any of the articles (same slug, same topic, same rules) and an
article it lacks is shown in English with a note saying so.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app, has_app_context, has_request_context, url_for
from flask_babel import get_locale
from markupsafe import Markup

from desk.links import public_url
from desk.sanitize import html_to_text, render_markdown

DEFAULT_LOCALE = "en"
ROOT = Path(__file__).parent / "articles"
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LOCALE = re.compile(r"^[a-z]{2,3}(?:_[A-Z]{2})?$")
REQUIRED = ("title", "summary", "topic", "rules")


class ArticleError(ValueError):
    """An article file the help center cannot read: a broken front matter, a missing field."""


@dataclass(frozen=True)
class Article:
    slug: str
    locale: str
    title: str
    summary: str
    topic: str
    rules: tuple[str, ...]
    order: int
    html: str                      # rendered Markdown, cleaned by desk.sanitize
    text: str = field(repr=False)  # the same as plain text, for search


@dataclass(frozen=True)
class Library:
    """Every article of one locale, with English standing in for those it lacks."""
    locale: str
    articles: dict[str, Article]   # slug -> article, in the index's order
    topics: dict[str, str]         # topic id -> title, in the index's order

    def in_topic(self, topic: str) -> list[Article]:
        return [a for a in self.articles.values() if a.topic == topic]


def current_locale() -> str:
    """The reader's language, as Flask-Babel chose it for this request (desk.i18n);
    English outside an app (nothing to choose from)."""
    if not has_app_context():
        return DEFAULT_LOCALE
    chosen = get_locale()
    return str(chosen) if chosen else DEFAULT_LOCALE


def parse(source: str, slug: str, locale: str) -> Article:
    """One article file's text -> an Article (its Markdown rendered and cleaned)."""
    lines = source.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---" or "---" not in (l.strip() for l in lines[1:]):
        raise ArticleError(f"{locale}/{slug}.md: the front matter must open and close with a '---' line")
    end = next(i for i, l in enumerate(lines[1:], 1) if l.strip() == "---")
    meta = {}
    for line in lines[1:end]:
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise ArticleError(f"{locale}/{slug}.md: front matter line {line!r} is not 'key: value'")
        meta[key.strip()] = value.strip()
    missing = [k for k in REQUIRED if not meta.get(k)]
    if missing:
        raise ArticleError(f"{locale}/{slug}.md: front matter lacks {', '.join(missing)}")
    body = "\n".join(lines[end + 1:])
    html = render_markdown(body)
    rules = tuple(r.strip() for r in meta["rules"].split(",") if r.strip())
    try:
        order = int(meta.get("order") or 100)
    except ValueError:
        raise ArticleError(f"{locale}/{slug}.md: order must be a whole number") from None
    return Article(slug=slug, locale=locale, title=meta["title"], summary=meta["summary"], topic=meta["topic"],
                   rules=rules, order=order, html=html, text=html_to_text(html))


def _read_topics(folder: Path) -> dict[str, str]:
    path = folder / "_topics.txt"
    if not path.is_file():
        return {}
    topics = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, title = line.partition(":")
        if sep and key.strip():
            topics[key.strip()] = title.strip()
    return topics


def _read_folder(folder: Path, locale: str) -> dict[str, Article]:
    if not folder.is_dir():
        return {}
    return {p.stem: parse(p.read_text(encoding="utf-8"), p.stem, locale)
            for p in sorted(folder.glob("*.md")) if SLUG.match(p.stem)}


@functools.lru_cache(maxsize=32)
def _library(root: str, locale: str) -> Library:
    english = _read_folder(Path(root) / DEFAULT_LOCALE, DEFAULT_LOCALE)
    # es_MX reads es/ when there is no es_MX/ (pt_BR has a folder of its own).
    folder = locale if (Path(root) / locale).is_dir() else locale.split("_")[0]
    own = _read_folder(Path(root) / folder, locale) if folder != DEFAULT_LOCALE else {}
    topics = {**_read_topics(Path(root) / DEFAULT_LOCALE), **_read_topics(Path(root) / folder)}
    # English decides which articles exist and their order (by topic, then `order`).
    rank = {topic: i for i, topic in enumerate(topics)}
    order = sorted(english, key=lambda s: (rank.get(english[s].topic, len(rank)), english[s].order, s))
    articles = {slug: own.get(slug, english[slug]) for slug in order}
    used = {a.topic for a in articles.values()}
    return Library(locale, articles, {k: v for k, v in topics.items() if k in used})


def _root() -> str:
    # A setting only so a test can point the help center at articles of its own.
    if has_app_context():
        return str(current_app.config.get("HELP_ARTICLES_DIR") or ROOT)
    return str(ROOT)


def library(locale: str | None = None) -> Library:
    """The articles for `locale` (the reader's, when left out), loaded on first use."""
    locale = locale or current_locale()
    if not LOCALE.match(locale):
        locale = DEFAULT_LOCALE
    return _library(_root(), locale)


def rule_map() -> dict[str, str]:
    """rule id -> the slug of the English article that explains it (the first one that names it)."""
    out: dict[str, str] = {}
    for article in library(DEFAULT_LOCALE).articles.values():
        for rule in article.rules:
            out.setdefault(rule, article.slug)
    return out


def article_url(rule: str, external: bool = False) -> str | None:
    """`/help/<slug>#<rule>` for the article that explains `rule` (None for a rule it lacks);
    `external=True` (or no request, as in a job) makes it absolute with PUBLIC_URL, for the API and mail."""
    slug = rule_map().get(rule)
    if slug is None:
        return None
    if external or not has_request_context():
        # From PUBLIC_URL, not the request: mail and jobs link to articles too.
        return public_url(f"/help/{slug}#{rule}")
    return url_for("help.article", slug=slug, _anchor=rule)


def rule_link(rule: str | None) -> Markup:
    """A rule id as staff and customers see it: in <code>, linked to its article when there is one."""
    if not rule:
        return Markup("")
    url = article_url(rule)
    code = Markup("<code>{}</code>").format(rule)
    return Markup('<a href="{}" class="rule-link">{}</a>').format(url, code) if url else code
