// While a ticket is being written, list help articles that match it (GET /help/suggest).
// Without this script the form works the same; the list just stays empty.
(function () {
  "use strict";
  var box = document.querySelector(".help-suggest[data-suggest-url]");
  if (!box || !window.fetch) { return; }
  var list = box.querySelector("ul"), title = box.querySelector("p");
  var fields = box.getAttribute("data-suggest-from").split(" ")
    .map(function (id) { return document.getElementById(id); })
    .filter(Boolean);
  var MAX = 200;  // desk.help.search.MAX_QUERY: longer queries are refused with a 400
  var timer = null, last = "", seq = 0;

  function query() {
    var text = fields.map(function (f) { return f.value; }).join(" ").replace(/\s+/g, " ").trim();
    return text.slice(0, MAX);
  }

  function show(results) {
    list.textContent = "";
    results.forEach(function (r) {
      var li = document.createElement("li"), a = document.createElement("a"), p = document.createElement("p");
      a.href = r.url;
      a.target = "_blank";
      a.rel = "noopener";
      a.textContent = r.title;
      p.className = "muted small";
      p.textContent = r.summary;
      li.appendChild(a);
      li.appendChild(p);
      list.appendChild(li);
    });
    title.hidden = results.length === 0;
  }

  function ask() {
    var q = query();
    if (q === last) { return; }
    last = q;
    if (q.length < 3) { show([]); return; }
    var mine = ++seq;
    fetch(box.getAttribute("data-suggest-url") + "?q=" + encodeURIComponent(q), {headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : {results: []}; })
      .then(function (data) { if (mine === seq) { show(data.results || []); } })
      .catch(function () { /* suggestions are a convenience: a failed fetch changes nothing */ });
  }

  fields.forEach(function (f) {
    f.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, 400);
    });
  });
  ask();
})();
