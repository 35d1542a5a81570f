// lading's web UI: progress for uploads and tasks, and uploads that resume (tus 1.0). The
// pages work without it, less well.
"use strict";

(function () {
  const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

  function size(bytes) {
    let value = bytes, unit = 0;
    while (value >= 1024 && unit < UNITS.length - 1) { value /= 1024; unit += 1; }
    return unit === 0 ? bytes + " B" : value.toFixed(1) + " " + UNITS[unit];
  }

  function duration(seconds) {
    if (!isFinite(seconds)) return "";
    if (seconds < 60) return Math.ceil(seconds) + " s";
    const minutes = Math.floor(seconds / 60);
    return minutes + " min " + Math.round(seconds % 60) + " s";
  }

  // The JSON error the UI's endpoints answer with, as a sentence.
  function problemOf(status, text) {
    try {
      return JSON.parse(text).error.message;
    } catch (ignored) {
      return "the server answered " + status;
    }
  }

  // What an upload shows: its bar, its line, its problem, and the link to what is next.
  function shower(form, file, page) {
    const box = form.querySelector("[data-progress]");
    const bar = box.querySelector("progress");
    const text = box.querySelector("[data-progress-text]");
    const problem = box.querySelector("[data-progress-problem]");
    const done = box.querySelector("[data-progress-done]");
    let started = performance.now(), base = 0;
    box.hidden = false;
    problem.hidden = true;
    text.textContent = "Starting the upload of " + size(file.size) + "…";
    return {
      // Bytes the server held before this attempt count in the bar, not in the speed.
      from: function (offset) { started = performance.now(); base = offset; },
      say: function (line) { text.textContent = line; },
      show: function (loaded) {
        const seconds = (performance.now() - started) / 1000;
        const speed = seconds > 0 ? (loaded - base) / seconds : 0;
        const percent = file.size ? Math.floor((100 * loaded) / file.size) : 100;
        const left = speed > 0 ? (file.size - loaded) / speed : Infinity;
        bar.value = percent;
        bar.textContent = percent + "%";
        text.textContent = percent + "% · " + size(loaded) + " of " + size(file.size) +
          " · " + size(speed) + "/s" + (left > 0 && isFinite(left) ? " · about " + duration(left) + " left" : "");
      },
      finish: function () {
        const seconds = (performance.now() - started) / 1000;
        bar.value = 100;
        bar.textContent = "100%";
        text.textContent = "100% · uploaded " + size(file.size) + " in " + duration(seconds) +
          ", checksums computed: the artifact is active.";
        const link = done.querySelector("a");
        link.href = page();
        done.hidden = false;
        link.focus();
      },
      fail: function (message, resumable) {
        problem.textContent = message + (resumable ?
          " Choose the same file and upload again: it resumes where it stopped." : "");
        problem.hidden = false;
        const link = done.querySelector("a");
        if (page()) {
          link.href = page();
          link.textContent = "Open the artifact (it waits for its data)";
          done.hidden = false;
        }
        form.querySelector("button[type=submit]").disabled = false;
      },
    };
  }

  // Send a File as the body of one PUT: the browser streams it from disk. The server
  // offers no resumable uploads.
  function sendFile(form, url, file, page) {
    const shown = shower(form, file, function () { return page; });
    const request = new XMLHttpRequest();
    request.open("PUT", url);
    request.setRequestHeader("Content-Type", "application/octet-stream");
    request.setRequestHeader("Accept", "application/json");
    request.upload.onprogress = function (event) {
      if (event.lengthComputable) shown.show(event.loaded);
    };
    request.onload = function () {
      if (request.status >= 200 && request.status < 300) {
        shown.finish();
      } else {
        shown.fail("The upload failed: " + problemOf(request.status, request.responseText), false);
      }
    };
    request.onerror = function () { shown.fail("The upload failed: the connection was lost.", false); };
    request.send(file);
  }

  // Resumable uploads, tus 1.0 (https://tus.io/protocols/resumable-upload): the upload is
  // created empty and its URL kept in localStorage, keyed by the file's name, size and
  // modification time and by where it goes, before any byte is sent; the file then goes
  // in PATCH requests of CHUNK bytes (slices of the File: the browser reads them from
  // disk). A request cut off or answered 5xx, 423 or 409 is retried from the offset the
  // server holds (HEAD), after a backoff, RETRIES times in a row; after a page reload,
  // choosing the same file again resumes it.
  const TUS = "1.0.0";
  const CHUNK = 64 * 1024 * 1024;
  const RETRIES = 8;
  const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
  const FINISH_POLL_MS = 2000, FINISH_TRIES = 900;  // half an hour for a large finish
  const KEPT = "lading-upload:";

  function tusRequest(method, url, headers, body, onprogress) {
    return new Promise(function (resolve, reject) {
      const request = new XMLHttpRequest();
      request.open(method, url);
      request.setRequestHeader("Tus-Resumable", TUS);
      request.setRequestHeader("Accept", "application/json");
      Object.keys(headers).forEach(function (name) { request.setRequestHeader(name, headers[name]); });
      if (onprogress) {
        request.upload.onprogress = function (event) { onprogress(event.loaded); };
      }
      request.onload = function () { resolve(request); };
      request.onerror = request.ontimeout = request.onabort = function () {
        const lost = new Error("the connection was lost");
        lost.transient = true;
        reject(lost);
      };
      request.send(body === undefined ? null : body);
    });
  }

  function refused(request) {
    const error = new Error(problemOf(request.status, request.responseText));
    error.status = request.status;
    error.transient = request.status >= 500 || request.status === 423 || request.status === 409;
    return error;
  }

  function metadata(fields) {
    return Object.keys(fields).map(function (key) {
      // btoa takes Latin-1: the UTF-8 bytes of the value, one character each.
      const bytes = new TextEncoder().encode(fields[key]);
      let latin = "";
      bytes.forEach(function (byte) { latin += String.fromCharCode(byte); });
      return key + " " + btoa(latin);
    }).join(",");
  }

  function keyOf(file, target) {
    return KEPT + JSON.stringify([target, file.name, file.size, file.lastModified]);
  }

  function remembered(key) {
    try {
      const kept = JSON.parse(window.localStorage.getItem(key));
      return kept && typeof kept.url === "string" ? kept : null;
    } catch (ignored) {
      return null;  // storage refused or damaged: the upload starts over
    }
  }

  function remember(key, kept) {
    try { window.localStorage.setItem(key, JSON.stringify(kept)); } catch (ignored) { /* private mode */ }
  }

  function forget(key) {
    try { window.localStorage.removeItem(key); } catch (ignored) { /* private mode */ }
  }

  function offsetOf(request) {
    const offset = Number(request.getResponseHeader("Upload-Offset"));
    if (!Number.isInteger(offset) || offset < 0) throw new Error("the server said no offset");
    return offset;
  }

  // Where a kept upload stands: its offset, or null when the server keeps it no longer.
  function standing(url) {
    return tusRequest("HEAD", url, {}).then(function (request) {
      if (request.status === 404 || request.status === 410) return null;
      if (request.status !== 200 && request.status !== 204) throw refused(request);
      return offsetOf(request);
    });
  }

  function wait(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  // Send the file from ``offset`` until the server has made the artifact of it: the
  // answer to the PATCH that brings the last byte. When that answer was lost (the server
  // holds every byte, the page was not told), an empty PATCH at the end asks for it; 409
  // then means another request (the lost one) is still finishing it: asked again later.
  function sendFrom(kept, file, offset, shown) {
    let failures = 0, finishing = 0;
    shown.from(offset);
    function next(at) {
      const end = Math.min(at + CHUNK, file.size);
      const headers = { "Upload-Offset": String(at), "Content-Type": "application/offset+octet-stream" };
      return tusRequest("PATCH", kept.url, headers, file.slice(at, end), function (loaded) {
        shown.show(at + loaded);
      }).then(function (request) {
        if (at === file.size && request.status === 409 && finishing < FINISH_TRIES) {
          finishing += 1;
          shown.say("The server is making the artifact of the upload…");
          return wait(FINISH_POLL_MS).then(function () { return next(at); });
        }
        if (request.status !== 204 && request.status !== 200) throw refused(request);
        const moved = offsetOf(request);
        if (moved > at) failures = 0;
        shown.show(moved);
        return moved >= file.size ? moved : next(moved);
      }).catch(function (error) {
        if (!error.transient || failures >= RETRIES) throw error;
        failures += 1;
        shown.say("The connection was lost at " + size(at) + ": trying again (" + failures + " of " + RETRIES + ")…");
        return wait(BACKOFF_MS[Math.min(failures - 1, BACKOFF_MS.length - 1)])
          .then(function () { return standing(kept.url); })
          .catch(function (lost) { if (lost.transient) return at; throw lost; })
          .then(function (held) {
            if (held === null) throw new Error("the server no longer keeps this upload");
            shown.from(held);
            return next(held);
          });
      });
    }
    return next(offset);
  }

  // Upload ``file`` with tus: resume the upload kept for it and ``target``, if the server
  // still keeps it, else create the artifact (``create()``, a promise of {id, page}) and a
  // new upload into it.
  function sendResumably(form, file, target, uploads, create) {
    const key = keyOf(file, target);
    let kept = remembered(key);
    const shown = shower(form, file, function () { return kept ? kept.page : ""; });
    const earlier = kept;
    const begin = kept ? standing(kept.url).catch(function () { return null; }) : Promise.resolve(null);

    // A new upload into ``artifact``, kept before its first byte.
    function into(artifact) {
      const fields = { artifact: artifact.id, filename: file.name };
      const headers = { "Upload-Length": String(file.size), "Upload-Metadata": metadata(fields) };
      return tusRequest("POST", uploads, headers).then(function (request) {
        if (request.status !== 201) throw refused(request);
        const location = request.getResponseHeader("Location");
        if (!location) throw new Error("the server did not say where the upload is");
        kept = { url: new URL(location, uploads).href, page: artifact.page, artifact: artifact.id };
        remember(key, kept);
        return 0;
      });
    }

    return begin.then(function (offset) {
      if (offset !== null) {
        shown.say("Resuming the upload from " + size(offset) + " of " + size(file.size) + "…");
        return offset;
      }
      forget(key);
      kept = null;
      if (!earlier) return create().then(into);
      // The server no longer keeps the upload (it expired): its artifact takes a new one
      // while it waits for data, else a new artifact is made.
      return into({ id: earlier.artifact, page: earlier.page }).catch(function (error) {
        if (error.status >= 400 && error.status < 500) return create().then(into);
        throw error;
      });
    }).then(function (offset) {
      return sendFrom(kept, file, offset, shown);
    }).then(function () {
      forget(key);
      shown.finish();
    }).catch(function (error) {
      const resumable = Boolean(kept) && (error.transient || error.status >= 500);
      if (kept && !resumable) forget(key);
      shown.fail("The upload failed: " + error.message + ".", resumable);
    });
  }

  // The artifact the upload page's fields describe, created without its data.
  function creator(form, file) {
    return function () {
      const fields = new URLSearchParams();
      new FormData(form).forEach(function (value, name) {
        if (typeof value === "string") fields.append(name, value);
      });
      fields.append("filename", file.name);
      return fetch(form.dataset.upload, {
        method: "POST",
        headers: { "Accept": "application/json" },
        body: fields,
      }).then(function (response) {
        return response.text().then(function (text) {
          if (!response.ok) throw new Error("the artifact could not be created: " + problemOf(response.status, text));
          return JSON.parse(text);
        });
      });
    };
  }

  // The upload page: create the artifact, then send its data (resumably, where the
  // server offers it).
  document.querySelectorAll("form[data-upload]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const file = form.querySelector("input[type=file]").files[0];
      const problem = form.querySelector("[data-progress-problem]");
      problem.hidden = true;
      form.querySelector("button[type=submit]").disabled = true;
      const create = creator(form, file);
      if (form.dataset.uploads) {
        sendResumably(form, file, form.dataset.uploads, new URL(form.dataset.uploads, location.href).href, create);
        return;
      }
      create().then(function (created) {
        sendFile(form, created.data, file, created.page);
      }).catch(function (error) {
        form.querySelector("[data-progress]").hidden = false;
        problem.textContent = "The upload failed: " + error.message + ".";
        problem.hidden = false;
        form.querySelector("button[type=submit]").disabled = false;
      });
    });
  });

  // A queued artifact's page: send its data.
  document.querySelectorAll("form[data-upload-data]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      form.querySelector("button[type=submit]").disabled = true;
      const file = form.querySelector("input[type=file]").files[0];
      if (form.dataset.uploads) {
        const artifact = { id: form.dataset.artifact, page: form.dataset.page };
        sendResumably(form, file, form.dataset.uploads + "#" + artifact.id,
          new URL(form.dataset.uploads, location.href).href, function () { return Promise.resolve(artifact); });
        return;
      }
      sendFile(form, form.dataset.uploadData, file, form.dataset.page);
    });
  });

  // A task's page: follow it until it ends.
  document.querySelectorAll("[data-task]").forEach(function (box) {
    if (box.hasAttribute("data-finished")) return;
    const bar = box.querySelector("progress");
    const status = box.querySelector("[data-task-status]");
    const text = box.querySelector("[data-task-text]");
    const done = box.querySelector("[data-task-done]");
    const every = Number(box.dataset.pollMs) || 1000;

    function show(task) {
      status.textContent = task.status;
      status.className = "status status-" + task.status;
      if (task.status === "success") {
        bar.value = 100;
      } else if (task.total_bytes) {
        bar.value = Math.floor((100 * task.done_bytes) / task.total_bytes);
      }
      let line = size(task.done_bytes) + (task.total_bytes ? " of " + size(task.total_bytes) : "");
      if (task.status === "success") line = "100% · " + line;
      text.textContent = line + (task.message ? ": " + task.message : "");
      if (task.finished) {
        if (task.artifact) done.hidden = false;
      } else {
        setTimeout(poll, every);
      }
    }

    function poll() {
      fetch(box.dataset.task, { headers: { "Accept": "application/json" } })
        .then(function (response) {
          return response.text().then(function (body) {
            if (!response.ok) {
              var problem = new Error(problemOf(response.status, body));
              // Signed out, or the task is gone: asking again will not help.
              problem.final = [401, 403, 404].indexOf(response.status) >= 0;
              throw problem;
            }
            show(JSON.parse(body));
          });
        })
        .catch(function (error) {
          if (error.final) {
            text.textContent = "Cannot follow the task: " + error.message + ".";
            return;
          }
          text.textContent = "Cannot follow the task: " + error.message + ". Trying again…";
          setTimeout(poll, every * 3);
        });
    }

    setTimeout(poll, every);
  });
})();
