// The staff queue by keyboard (issue 13): j and k move the focus down and up the tickets'
// references, Enter opens the focused one (it is a link), / goes to the search box. Keys
// typed into a field are left alone. Single-key shortcuts can get in the way of speech
// input, so the check box under the list turns them off (WCAG 2.1.4), remembered per browser.
(function () {
  "use strict";
  var table = document.querySelector("table.queue");
  var toggle = document.getElementById("queue-keys");
  if (!table || !toggle) return;
  var search = document.querySelector("form.search input[type=search]");
  var KEY = "desk.queueKeys";

  try { toggle.checked = window.localStorage.getItem(KEY) !== "off"; } catch (e) { /* storage blocked: keep on */ }
  toggle.addEventListener("change", function () {
    try { window.localStorage.setItem(KEY, toggle.checked ? "on" : "off"); } catch (e) { /* not remembered */ }
  });

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  document.addEventListener("keydown", function (event) {
    if (!toggle.checked || event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return;
    if (event.key === "/" && search) {
      event.preventDefault();
      search.focus();
      search.select();
      return;
    }
    if (event.key !== "j" && event.key !== "k") return;
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody a.ref"));
    if (!rows.length) return;
    var at = rows.indexOf(document.activeElement);
    var step = event.key === "j" ? 1 : -1;
    var next = at === -1 ? (step === 1 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, at + step));
    event.preventDefault();
    rows[next].focus();
  });
})();
