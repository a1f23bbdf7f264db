// Voice prompts: record in the browser (MediaRecorder) with a level meter (Web Audio AnalyserNode), listen back,
// record again, then send the take with a progress bar. The check results arrive through upload.js's status
// polling ("datadam:status" events). Browsers without MediaRecorder keep the plain file upload form.
(function () {
  "use strict";
  var root = document.getElementById("set");
  if (!root) { return; }
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var canRecord = !!(window.MediaRecorder && navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  var TYPES = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/mp4", "audio/webm"];
  // the timer's words come from the page, in the contributor's language ("{s} s", "{s}초")
  var secondsFormat = root.dataset.msgSeconds || "{s} s";

  function pickType() {
    for (var i = 0; i < TYPES.length; i++) {
      if (MediaRecorder.isTypeSupported && MediaRecorder.isTypeSupported(TYPES[i])) { return TYPES[i]; }
    }
    return "";
  }

  function extension(type) {
    if (type.indexOf("ogg") >= 0) { return "ogg"; }
    if (type.indexOf("mp4") >= 0) { return "m4a"; }
    return "webm";
  }

  function badgeClass(state) {
    return { passed: "ok", accepted: "ok", failed: "bad", rejected: "bad", needs_review: "warn" }[state] || "";
  }

  function showClip(section, clip) {
    var box = section.querySelector('[data-role="clip"]');
    if (!box || !clip) { return; }
    box.hidden = false;
    var badge = box.querySelector('[data-role="state"]');
    badge.textContent = clip.state_label;
    badge.className = "badge " + badgeClass(clip.state);
    var audio = box.querySelector('[data-role="stored-audio"]');
    if (audio.getAttribute("src") !== clip.audio_url) { audio.setAttribute("src", clip.audio_url); }
    var notes = box.querySelector('[data-role="notes"]');
    notes.textContent = "";
    clip.notes.forEach(function (n) {
      var li = document.createElement("li");
      li.className = "note " + n.verdict;
      var strong = document.createElement("strong");
      strong.textContent = n.text;
      li.appendChild(strong);
      if (n.advice) { li.appendChild(document.createTextNode(" " + n.advice)); }
      notes.appendChild(li);
    });
  }

  function Recorder(section) {
    var ui = {};
    ["recorder", "record", "stop", "timer", "level", "take", "take-audio", "send", "again", "progress", "error"]
      .forEach(function (name) { ui[name] = section.querySelector('[data-role="' + name + '"]'); });
    var maxSeconds = parseFloat(section.dataset.maxSeconds || "60") + 2;
    var state = { stream: null, recorder: null, chunks: [], blob: null, type: "", ctx: null, raf: 0, started: 0 };

    function error(text) { ui.error.textContent = text || ""; ui.error.hidden = !text; }

    function meterLoop(analyser) {
      var buffer = new Float32Array(analyser.fftSize);
      function tick() {
        analyser.getFloatTimeDomainData(buffer);
        var sum = 0;
        for (var i = 0; i < buffer.length; i++) { sum += buffer[i] * buffer[i]; }
        ui.level.value = Math.min(1, Math.sqrt(sum / buffer.length) * 4);
        var elapsed = (performance.now() - state.started) / 1000;
        ui.timer.textContent = secondsFormat.replace("{s}", elapsed.toFixed(1));
        if (elapsed > maxSeconds) { stop(); return; }
        state.raf = window.requestAnimationFrame(tick);
      }
      tick();
    }

    function release() {
      window.cancelAnimationFrame(state.raf);
      if (state.stream) { state.stream.getTracks().forEach(function (t) { t.stop(); }); }
      if (state.ctx) { state.ctx.close(); }
      state.stream = null; state.ctx = null;
      ui.level.value = 0;
    }

    function start() {
      error("");
      ui.take.hidden = true;
      navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false } })
        .then(function (stream) {
          state.stream = stream;
          state.type = pickType();
          state.chunks = [];
          state.recorder = state.type ? new MediaRecorder(stream, { mimeType: state.type }) : new MediaRecorder(stream);
          state.type = state.recorder.mimeType || state.type || "audio/webm";
          state.recorder.addEventListener("dataavailable", function (e) { if (e.data.size) { state.chunks.push(e.data); } });
          state.recorder.addEventListener("stop", finished);
          var Ctx = window.AudioContext || window.webkitAudioContext;
          if (Ctx) {
            state.ctx = new Ctx();
            var analyser = state.ctx.createAnalyser();
            analyser.fftSize = 2048;
            state.ctx.createMediaStreamSource(stream).connect(analyser);
            state.started = performance.now();
            meterLoop(analyser);
          }
          state.recorder.start();
          ui.record.disabled = true;
          ui.stop.disabled = false;
          ui.stop.focus();
        })
        .catch(function () { error(section.closest("#set").dataset.msgMic || "Microphone not available."); });
    }

    function stop() {
      if (state.recorder && state.recorder.state !== "inactive") { state.recorder.stop(); }
      ui.stop.disabled = true;
      ui.record.disabled = false;
    }

    function finished() {
      release();
      state.blob = new Blob(state.chunks, { type: state.type });
      var old = ui["take-audio"].getAttribute("src");
      if (old) { URL.revokeObjectURL(old); }
      ui["take-audio"].setAttribute("src", URL.createObjectURL(state.blob));
      ui.take.hidden = false;
      ui.send.disabled = false;
      ui["take-audio"].focus();
    }

    function send() {
      if (!state.blob) { return; }
      var data = new FormData();
      data.append("audio", state.blob, "recording." + extension(state.type));
      var xhr = new XMLHttpRequest();
      xhr.open("POST", section.dataset.uploadUrl);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      ui.progress.hidden = false;
      ui.progress.value = 0;
      ui.send.disabled = true;
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { ui.progress.value = Math.round(100 * e.loaded / e.total); }
      });
      xhr.addEventListener("load", function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        ui.progress.hidden = true;
        if (xhr.status === 201 && body && body.clip) {
          ui.take.hidden = true;
          showClip(section, body.clip);
          document.dispatchEvent(new CustomEvent("datadam:changed"));
        } else {
          ui.send.disabled = false;  // the take stays here: send it again or record a new one
          error(body && body.message ? body.message + " " + (body.advice || "") : root.dataset.msgFailed);
        }
      });
      xhr.addEventListener("error", function () {
        ui.progress.hidden = true; ui.send.disabled = false; error(root.dataset.msgNetwork);
      });
      xhr.send(data);
    }

    ui.recorder.hidden = false;
    ui.record.addEventListener("click", start);
    ui.stop.addEventListener("click", stop);
    ui.again.addEventListener("click", start);
    ui.send.addEventListener("click", send);
  }

  if (canRecord) {
    Array.prototype.forEach.call(root.querySelectorAll("section.voice-prompt"), function (section) {
      if (section.querySelector('[data-role="recorder"]')) { new Recorder(section); }
    });
  }

  document.addEventListener("datadam:status", function (e) {
    (e.detail.voice || []).forEach(function (v) {
      var section = root.querySelector('section.voice-prompt[data-prompt="' + CSS.escape(v.key) + '"]');
      if (section && v.clip) { showClip(section, v.clip); }
    });
  });
})();
