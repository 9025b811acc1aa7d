"""The help center's pages and the suggestions the ticket forms ask for while typing."""
from flask import Blueprint, abort, jsonify, render_template, request, url_for
from markupsafe import Markup

from desk.help.articles import library
from desk.help.search import MAX_QUERY, QueryTooLong, search as find
from desk.policy.clauses import explain

bp = Blueprint("help", __name__, url_prefix="/help")

SUGGESTIONS = 5


@bp.route("")
def index():
    return render_template("help/index.html", lib=library(), max_query=MAX_QUERY)


@bp.route("/<slug>")
def article(slug):
    lib = library()
    found = lib.articles.get(slug)
    if found is None:
        abort(404)
    # Each rule the article explains: its anchor, the Terms' own words and the plain words.
    return render_template("help/article.html", lib=lib, article=found, rules=explain(found.rules),
                           body=Markup(found.html),  # cleaned by desk.sanitize when loaded
                           fallback=found.locale != lib.locale, topic=lib.topics.get(found.topic))


@bp.route("/search")
def search():
    query = request.args.get("q", "").strip()
    hits = find(query) if query else []
    return render_template("help/search.html", query=query, hits=hits, max_query=MAX_QUERY)


@bp.route("/suggest")
def suggest():
    query = request.args.get("q", "").strip()
    try:
        hits = find(query, limit=SUGGESTIONS) if query else []
    except QueryTooLong as exc:
        return jsonify(exc.to_dict()), exc.status
    return jsonify({"query": query, "results": [
        {"slug": h.article.slug, "title": h.article.title, "summary": h.article.summary,
         "url": url_for("help.article", slug=h.article.slug)} for h in hits]})
