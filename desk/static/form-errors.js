// A form came back with errors: take the focus to the summary above it (_error_summary.html),
// so keyboard and screen-reader users start at the list of what to fix, each linked to its field.
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
