// Review page: progressive enhancement of the per-photo decisions (the page works without it).
// - the reason and comment of a photo show only once "reject" is chosen for it;
// - one button accepts every photo that has no decision yet.
// Loaded as a file: the CSP forbids inline script.
(function () {
  "use strict";
  var fieldsets = Array.prototype.slice.call(document.querySelectorAll("[data-photo-decision]"));
  if (!fieldsets.length) { return; }

  function chosen(fieldset) {
    var checked = fieldset.querySelector("input[type=radio]:checked");
    return checked ? checked.value : "";
  }

  function sync(fieldset) {
    var details = fieldset.querySelector("[data-reject-details]");
    var hasError = fieldset.classList.contains("has-error");
    if (details) { details.hidden = chosen(fieldset) !== "reject" && !hasError; }
  }

  fieldsets.forEach(function (fieldset) {
    sync(fieldset);
    fieldset.addEventListener("change", function () { sync(fieldset); });
  });

  var acceptRest = document.querySelector("[data-accept-rest]");
  if (acceptRest) {
    acceptRest.hidden = false;
    acceptRest.addEventListener("click", function () {
      var count = 0;
      fieldsets.forEach(function (fieldset) {
        if (chosen(fieldset)) { return; }
        var accept = fieldset.querySelector("input[type=radio][value=accept]");
        if (accept) { accept.checked = true; sync(fieldset); count += 1; }
      });
      var status = document.querySelector("[data-accept-status]");
      if (status) { status.textContent = (status.getAttribute("data-message") || "").replace("{n}", String(count)); }
    });
  }
})();
