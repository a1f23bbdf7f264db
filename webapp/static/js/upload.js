// The set page: uploads with a progress bar per file (choose or drag and drop), photo cards updated in place as
// the checks finish (the status is polled every second while anything is being checked), remove / replace /
// ask a person without a page reload. Without this script every form still works with a page reload.
// Loaded as a file (the CSP forbids inline script); no framework, no CDN.
(function () {
  "use strict";
  var root = document.getElementById("set");
  if (!root || !window.fetch || !window.FormData) { return; }
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var msg = root.dataset;
  var template = document.getElementById("photo-card-template");
  var pollTimer = null;
  var POLL_MS = 1000;
  var SLOW_POLL_MS = 5000;
  var quickPolls = 0;  // about a minute at 1 s after each change, then every 5 s while anything is still checked

  function withId(pattern, id) { return pattern.replace("__ID__", encodeURIComponent(id)); }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function badgeClass(state) {
    return { passed: "ok", accepted: "ok", failed: "bad", rejected: "bad", needs_review: "warn" }[state] || "";
  }

  function errorText(body, fallback) {
    if (body && body.message) { return body.advice ? body.message + " " + body.advice : body.message; }
    return fallback;
  }

  function readJson(xhrOrText) {
    try { return JSON.parse(xhrOrText); } catch (e) { return null; }
  }

  // --- status polling --------------------------------------------------------------------------------------
  function schedule(delay) {
    if (delay === 0) { quickPolls = 0; }
    if (pollTimer) {
      if (delay !== 0) { return; }
      window.clearTimeout(pollTimer);
    }
    var wait = delay === undefined ? (quickPolls++ < 60 ? POLL_MS : SLOW_POLL_MS) : delay;
    pollTimer = window.setTimeout(function () { pollTimer = null; refresh(); }, wait);
  }

  function refresh() {
    fetch(root.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (status) { if (status) { apply(status); } })
      .catch(function () { schedule(POLL_MS * 5); });
  }

  function apply(status) {
    var state = root.querySelector('[data-role="set-state"]');
    if (state) { state.textContent = status.state_label; }
    if (root.dataset.state && root.dataset.state !== status.state) { window.location.reload(); return; }
    root.dataset.state = status.state;
    status.brackets.forEach(applyBracket);
    applyMissing(status);
    document.dispatchEvent(new CustomEvent("datadam:status", { detail: status }));
    if (status.checking) { schedule(); }
  }

  function applyBracket(bracket) {
    var section = root.querySelector('section.bracket[data-bracket="' + CSS.escape(bracket.key) + '"]');
    if (!section) { return; }
    var meter = section.querySelector('[data-role="meter"]');
    if (meter) { meter.value = bracket.usable; }
    var count = section.querySelector('[data-role="count"]');
    if (count) { count.textContent = bracket.count_label; }
    var list = section.querySelector('[data-role="photos"]');
    var seen = {};
    bracket.photos.forEach(function (p) {
      seen[p.id] = true;
      var card = list.querySelector('[data-photo-id="' + CSS.escape(p.id) + '"]');
      if (!card) { card = newCard(p); list.appendChild(card); }
      renderCard(card, p);
    });
    Array.prototype.forEach.call(list.querySelectorAll("[data-photo-id]"), function (card) {
      if (!seen[card.dataset.photoId] && !card.contains(document.activeElement)) { card.remove(); }
    });
    // a full bracket offers "Replace" on its photos instead of the upload form (kept while files wait in it);
    // photos that did not pass the checks and photos a reviewer rejected each get their own words
    var form = section.querySelector("form.upload");
    var hint = section.querySelector('[data-role="full-hint"]');
    var fix = section.querySelector('[data-role="fix-hint"]');
    var rejected = section.querySelector('[data-role="rejected-hint"]');
    if (form && hint && fix) {
      var full = bracket.photos.length >= bracket.required && !form.querySelector(".pending-item");
      form.hidden = full;
      hint.hidden = !full || bracket.failed > 0 || bracket.rejected > 0;
      fix.hidden = !full || !bracket.failed;
    }
    if (rejected) { applyRejected(rejected, bracket); }
  }

  function applyRejected(box, bracket) {
    box.hidden = !bracket.rejected;
    var count = box.querySelector('[data-role="rejected-count"]');
    if (count) { count.textContent = count.dataset.format.replace("{n}", String(bracket.rejected)); }
    var reasons = box.querySelector('[data-role="rejected-reasons"]');
    if (reasons) {
      reasons.textContent = "";
      (bracket.rejected_reasons || []).forEach(function (r) { reasons.appendChild(el("li", "note rejected", r)); });
    }
  }

  function applyMissing(status) {
    var list = root.querySelector('[data-role="missing"]');
    if (list) {
      list.textContent = "";
      status.missing.forEach(function (m) { list.appendChild(el("li", "", m.text)); });
    }
    var button = root.querySelector('[data-role="submit"]');
    if (button) {
      button.disabled = !status.ready;
      button.setAttribute("aria-disabled", status.ready ? "false" : "true");
    }
    var hint = root.querySelector('[data-role="ready-hint"]');
    if (hint) { hint.hidden = !status.ready; }
  }

  // --- photo cards -----------------------------------------------------------------------------------------
  function newCard(p) {
    var card = template.content.firstElementChild.cloneNode(true);
    ["id", "for", "action", "src"].forEach(function (attr) {
      Array.prototype.forEach.call(card.querySelectorAll("[" + attr + "]"), function (node) {
        node.setAttribute(attr, node.getAttribute(attr).split("__ID__").join(p.id));
      });
    });
    card.id = "photo-" + p.id;
    card.dataset.photoId = p.id;
    return card;
  }

  function renderCard(card, p) {
    card.dataset.state = p.state;
    card.className = "photo-card state-" + p.state;
    var badge = card.querySelector('[data-role="state"]');
    badge.textContent = p.state_label;
    badge.className = "badge " + badgeClass(p.state);
    var thumb = card.querySelector('[data-role="thumb"]');
    if (thumb.getAttribute("src") !== p.thumb_url) { thumb.setAttribute("src", p.thumb_url); }
    card.querySelector('[data-role="age"]').textContent = p.age_label;
    var notes = card.querySelector('[data-role="notes"]');
    notes.textContent = "";
    p.notes.forEach(function (n) {
      var li = el("li", "note " + n.verdict);
      li.appendChild(el("strong", "", n.text));
      if (n.advice) { li.appendChild(document.createTextNode(" ")); li.appendChild(el("span", "", n.advice)); }
      notes.appendChild(li);
    });
    var yours = card.querySelector('[data-role="your-note"]');
    if (yours) {
      yours.hidden = !p.your_note;
      yours.querySelector('[data-role="your-note-text"]').textContent = p.your_note || "";
    }
    var show = { "delete": p.actions["delete"], replace: p.actions.replace, review: p.actions.request_review,
                 appeal: p.actions.appeal };
    Object.keys(show).forEach(function (name) {
      var node = card.querySelector('[data-action="' + name + '"]');
      if (node && !node.contains(document.activeElement)) { node.hidden = !show[name]; }
    });
  }

  function cardError(form, text) {
    var box = form.querySelector('[data-role="error"]');
    if (box) { box.textContent = text; box.hidden = !text; }
    else if (text) { window.alert(text); }
  }

  // --- uploading ---------------------------------------------------------------------------------------------
  function sendFile(options) {
    // options: file, bracket, age, replaces, onProgress(percent), onDone(photo), onError(text, retryable)
    var data = new FormData();
    data.append("bracket", options.bracket);
    data.append("file", options.file, options.file.name || "photo.jpg");
    if (options.age) { data.append("age_years", options.age); }
    if (options.replaces) { data.append("replaces", options.replaces); }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", root.dataset.uploadUrl);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { options.onProgress(Math.round(100 * e.loaded / e.total)); }
    });
    xhr.addEventListener("load", function () {
      var body = readJson(xhr.responseText);
      if (xhr.status === 201 && body && body.photo) { options.onDone(body.photo); }
      // a refusal of this file (4xx) will not change on a retry; a server or network failure may
      else {
        options.onError(errorText(body, msg.msgFailed), xhr.status >= 500 || xhr.status === 429, body && body.reason);
      }
    });
    xhr.addEventListener("error", function () { options.onError(msg.msgNetwork, true); });
    xhr.send(data);
  }

  function pendingItem(form, file) {
    var li = el("li", "pending-item");
    var preview = el("img", "preview");
    preview.alt = "";
    preview.width = 64;
    preview.height = 64;
    preview.addEventListener("error", function () { preview.classList.add("broken"); });
    preview.src = URL.createObjectURL(file);
    var info = el("div", "pending-info");
    info.appendChild(el("span", "name", file.name));
    var ageLabel = el("label", "age");
    ageLabel.appendChild(el("span", "", msg.msgAge + " "));
    var age = el("input");
    age.type = "number"; age.min = "0"; age.max = "120"; age.inputMode = "numeric";
    var formAge = form.querySelector('input[name="age_years"]');
    if (formAge && formAge.value) { age.value = formAge.value; }
    ageLabel.appendChild(age);
    var progress = el("progress");
    progress.max = 100; progress.value = 0; progress.hidden = true;
    var status = el("p", "pending-status");
    status.setAttribute("role", "status");
    var actions = el("div", "actions");
    var retry = el("button", "secondary", msg.msgRetry);
    retry.type = "button"; retry.hidden = true;
    var remove = el("button", "link", msg.msgRemove);
    remove.type = "button";
    actions.appendChild(retry); actions.appendChild(remove);
    [ageLabel, progress, status, actions].forEach(function (n) { info.appendChild(n); });
    li.appendChild(preview); li.appendChild(info);
    var item = { li: li, file: file, age: age, progress: progress, status: status, retry: retry, busy: false,
                 ageRefused: false };
    retry.addEventListener("click", function () { startItem(form, item); });
    age.addEventListener("input", function () {
      if (!item.ageRefused) { return; }  // the server refused the age given: a corrected age may go again
      item.ageRefused = false;
      item.status.textContent = "";
      item.li.classList.remove("refused", "failed");
      item.retry.hidden = false;
      syncButton(form);
    });
    remove.addEventListener("click", function () { URL.revokeObjectURL(preview.src); li.remove(); syncButton(form); });
    li.datadamItem = item;
    return li;
  }

  // One upload at a time: on a phone's connection each file then finishes (and is checked) as early as
  // possible, and the server sees the files in the order chosen (a full bracket refuses the extra ones).
  var queue = [];
  var sending = false;

  function startItem(form, item) {
    if (item.busy) { return; }
    item.busy = true;
    item.retry.hidden = true;
    item.li.classList.remove("failed");
    item.progress.hidden = false;
    item.progress.value = 0;
    item.status.textContent = msg.msgQueued;
    queue.push(function () { sendItem(form, item); });
    pump();
  }

  function pump() {
    if (sending || !queue.length) { return; }
    sending = true;
    queue.shift()();
  }

  function next() { sending = false; pump(); }

  function sendItem(form, item) {
    item.status.textContent = msg.msgUploading;
    sendFile({
      file: item.file, bracket: form.dataset.bracket, age: item.age.value,
      onProgress: function (pct) { item.progress.value = pct; },
      onDone: function (photo) {
        next();
        item.li.remove();
        syncButton(form);
        var list = form.closest("section.bracket").querySelector('[data-role="photos"]');
        var card = newCard(photo);
        list.appendChild(card);
        renderCard(card, photo);
        schedule(0);
      },
      onError: function (text, retryable, reason) {
        next();
        item.busy = false;
        item.progress.hidden = true;
        item.status.textContent = text;
        item.li.classList.add("failed");
        item.retry.hidden = !retryable;  // the file stays listed either way: nothing chosen is lost
        item.li.classList.toggle("refused", !retryable);
        item.ageRefused = reason === "age_outside_bracket" || reason === "age_above_own";
        syncButton(form);
      }
    });
  }

  function syncButton(form) {
    var button = form.querySelector('[data-role="upload-button"]');
    var waiting = form.querySelectorAll(".pending-item:not(.refused)").length;
    button.disabled = waiting === 0;
  }

  function addFiles(form, files) {
    var list = form.querySelector('[data-role="pending"]');
    var skipped = [];
    Array.prototype.forEach.call(files, function (file) {
      if (file.type && file.type.indexOf("image/") !== 0 && !/\.(heic|heif)$/i.test(file.name)) {
        skipped.push(file.name);  // not a photo: say so rather than drop it silently
        return;
      }
      list.appendChild(pendingItem(form, file));
    });
    var note = form.querySelector('[data-role="skipped"]');
    if (note) {
      note.textContent = skipped.length ? msg.msgNotPhoto + " " + skipped.join(", ") : "";
      note.hidden = skipped.length === 0;
    }
    syncButton(form);
  }

  function enhanceUploadForm(form) {
    var input = form.querySelector('input[type="file"]');
    var ageField = form.querySelector('[data-role="age-field"]');
    if (ageField) { ageField.hidden = true; }  // each chosen file gets its own age field instead
    var button = form.querySelector('[data-role="upload-button"]');
    button.textContent = msg.msgUploadN;
    syncButton(form);
    input.addEventListener("change", function () { addFiles(form, input.files); input.value = ""; });
    var zone = form.closest("section.bracket");
    zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("dragging"); });
    zone.addEventListener("dragleave", function () { zone.classList.remove("dragging"); });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      zone.classList.remove("dragging");
      if (e.dataTransfer && e.dataTransfer.files) { addFiles(form, e.dataTransfer.files); }
    });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      Array.prototype.forEach.call(form.querySelectorAll(".pending-item:not(.refused)"), function (li) {
        startItem(form, li.datadamItem);  // a file the server refused stays listed but is not sent again
      });
    });
  }

  // --- card actions ------------------------------------------------------------------------------------------
  function cardOf(node) { return node.closest("[data-photo-id]"); }

  function deletePhoto(form) {
    var card = cardOf(form);
    if (!window.confirm(msg.msgConfirmRemove)) { return; }
    fetch(withId(root.dataset.photoUrl, card.dataset.photoId), {
      method: "DELETE", credentials: "same-origin", headers: { "X-CSRFToken": csrf, Accept: "application/json" }
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (body) {
        if (r.ok) { card.remove(); schedule(0); } else { window.alert(errorText(body, msg.msgFailed)); }
      });
    }).catch(function () { window.alert(msg.msgNetwork); });
  }

  function askReview(form) {
    var card = cardOf(form);
    fetch(withId(root.dataset.reviewUrl, card.dataset.photoId), {
      method: "POST", credentials: "same-origin", body: new FormData(form),
      headers: { "X-CSRFToken": csrf, Accept: "application/json" }
    }).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (body) {
        if (r.ok && body && body.photo) {
          renderCard(card, body.photo);
          cardError(form, "");
          // sent: the form goes (renderCard keeps a focused form open), and the card's notes say a person looks
          var asked = card.querySelector('[data-action="review"]');
          if (asked && !body.photo.actions.request_review) {
            // the focus was in the form: move it to the card's new state, so it is read out and kept in place
            var state = card.querySelector('[data-role="state"]');
            if (state) { state.setAttribute("tabindex", "-1"); state.focus(); }
            asked.hidden = true;
          }
          schedule(0);
        }
        else { cardError(form, errorText(body, msg.msgFailed)); }
      });
    }).catch(function () { cardError(form, msg.msgNetwork); });
  }

  function replacePhoto(form) {
    var card = cardOf(form);
    var input = form.querySelector('input[type="file"]');
    if (!input.files.length) { input.focus(); return; }
    var progress = el("progress");
    progress.max = 100;
    form.appendChild(progress);
    sendFile({
      file: input.files[0], bracket: card.closest("section.bracket").dataset.bracket,
      age: form.querySelector('input[name="age_years"]').value, replaces: card.dataset.photoId,
      onProgress: function (pct) { progress.value = pct; },
      onDone: function (photo) {
        var fresh = newCard(photo);
        card.replaceWith(fresh);
        renderCard(fresh, photo);
        schedule(0);
      },
      onError: function (text) { progress.remove(); cardError(form, text); }
    });
  }

  root.addEventListener("submit", function (e) {
    var form = e.target;
    var action = form.closest("[data-action]");
    if (!action || !cardOf(form)) { return; }
    var name = action.dataset.action;
    if (name === "delete") { e.preventDefault(); deletePhoto(form); }
    else if (name === "review") { e.preventDefault(); askReview(form); }
    else if (name === "replace") { e.preventDefault(); replacePhoto(form); }
    // appeals post normally: the page reloads with the confirmation
  });

  document.addEventListener("datadam:changed", function () { schedule(0); });
  Array.prototype.forEach.call(root.querySelectorAll("form.upload"), enhanceUploadForm);
  if (root.dataset.checking === "true") { schedule(); }
})();
