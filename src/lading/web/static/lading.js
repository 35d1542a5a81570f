// lading's web UI: progress for uploads and tasks. The pages work without it, less well.
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

  // Send a File as the body of a PUT: the browser streams it from disk.
  function sendFile(form, url, file, page) {
    const box = form.querySelector("[data-progress]");
    const bar = box.querySelector("progress");
    const text = box.querySelector("[data-progress-text]");
    const problem = box.querySelector("[data-progress-problem]");
    const done = box.querySelector("[data-progress-done]");
    const started = performance.now();
    box.hidden = false;
    text.textContent = "Starting the upload of " + size(file.size) + "…";

    const request = new XMLHttpRequest();
    request.open("PUT", url);
    request.setRequestHeader("Content-Type", "application/octet-stream");
    request.setRequestHeader("Accept", "application/json");
    request.upload.onprogress = function (event) {
      if (!event.lengthComputable) return;
      const seconds = (performance.now() - started) / 1000;
      const speed = seconds > 0 ? event.loaded / seconds : 0;
      const percent = Math.floor((100 * event.loaded) / event.total);
      const left = speed > 0 ? (event.total - event.loaded) / speed : Infinity;
      bar.value = percent;
      bar.textContent = percent + "%";
      text.textContent = percent + "% · " + size(event.loaded) + " of " + size(event.total) +
        " · " + size(speed) + "/s" + (left > 0 && isFinite(left) ? " · about " + duration(left) + " left" : "");
    };
    request.onload = function () {
      if (request.status >= 200 && request.status < 300) {
        const seconds = (performance.now() - started) / 1000;
        bar.value = 100;
        bar.textContent = "100%";
        text.textContent = "100% · uploaded " + size(file.size) + " in " + duration(seconds) +
          ", checksums computed: the artifact is active.";
        const link = done.querySelector("a");
        link.href = page;
        done.hidden = false;
        link.focus();
      } else {
        fail("The upload failed: " + problemOf(request.status, request.responseText));
      }
    };
    request.onerror = function () { fail("The upload failed: the connection was lost."); };
    request.send(file);

    function fail(message) {
      problem.textContent = message;
      problem.hidden = false;
      const link = done.querySelector("a");
      link.href = page;
      link.textContent = "Open the artifact (it waits for its data)";
      done.hidden = false;
      form.querySelector("button[type=submit]").disabled = false;
    }
  }

  // The upload page: create the artifact, then send its data.
  document.querySelectorAll("form[data-upload]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const input = form.querySelector("input[type=file]");
      const file = input.files[0];
      const fields = new URLSearchParams();
      new FormData(form).forEach(function (value, name) {
        if (typeof value === "string") fields.append(name, value);
      });
      fields.append("filename", file.name);
      const problem = form.querySelector("[data-progress-problem]");
      problem.hidden = true;
      form.querySelector("button[type=submit]").disabled = true;
      fetch(form.dataset.upload, {
        method: "POST",
        headers: { "Accept": "application/json" },
        body: fields,
      }).then(function (response) {
        return response.text().then(function (text) {
          if (!response.ok) throw new Error(problemOf(response.status, text));
          const created = JSON.parse(text);
          sendFile(form, created.data, file, created.page);
        });
      }).catch(function (error) {
        form.querySelector("[data-progress]").hidden = false;
        problem.textContent = "The artifact could not be created: " + error.message;
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
