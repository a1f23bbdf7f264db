// Consent pages: a print button for receipts. Loaded as a file (the CSP forbids inline script).
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
