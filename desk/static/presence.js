/* Who else has this ticket open (desk.tickets.presence): asks the desk every few seconds,
   which also renews this agent's own mark, and says "replying" while the agent types in
   the reply box. The desk writes the words; this only shows them. No inline script: the
   Content-Security-Policy allows scripts from the desk's own origin only. */
(function () {
  "use strict";
  var box = document.getElementById("presence");
  if (!box || !window.fetch) {
    return;
  }
  var url = box.getAttribute("data-url");
  var token = box.getAttribute("data-csrf");
  var every = Math.max(1, parseInt(box.getAttribute("data-poll"), 10) || 12) * 1000;
  var lastTyped = 0;

  function show(answer) {
    var others = (answer && answer.others) || [];
    while (box.firstChild) {
      box.removeChild(box.firstChild);
    }
    others.forEach(function (other) {
      var line = document.createElement("p");
      line.className = "presence-line " + (other.state === "replying" ? "replying" : "viewing");
      line.textContent = other.text;  // text, never markup: names are typed by people
      box.appendChild(line);
    });
  }

  function ask(method, body) {
    var headers = {"Accept": "application/json"};
    if (method === "POST") {
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      headers["X-CSRFToken"] = token;
    }
    return fetch(url, {method: method, headers: headers, body: body, credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) { if (answer) { show(answer); } })
      .catch(function () { /* presence is a courtesy: a failed ask changes nothing */ });
  }

  function typing() {
    var now = Date.now();
    if (now - lastTyped >= every) {
      lastTyped = now;
      ask("POST", "state=replying");
    }
  }

  var reply = document.querySelector("form[data-presence-reply] textarea");
  if (reply) {
    reply.addEventListener("focus", typing);
    reply.addEventListener("input", typing);
  }
  ask("GET");
  window.setInterval(function () { ask("GET"); }, every);
}());
