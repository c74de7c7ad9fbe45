// recycle web front end: the only script. Live job progress and confirm-before-remove.
// Served from this package (no CDN); the pages work without it (reload for progress).
"use strict";

function pollProgress(box) {
  const url = box.dataset.statusUrl;
  const bar = document.getElementById("bar");
  const label = document.getElementById("bar-label");
  const text = document.getElementById("bar-text");
  const tick = async () => {
    let job;
    try {
      const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.redirected) { window.location.reload(); return; } // signed out: the page says so
      if (!r.ok) { text.textContent = "Could not read progress (HTTP " + r.status + "); reload the page."; return; }
      job = await r.json();
    } catch (e) {
      text.textContent = "Connection lost; retrying…";
      setTimeout(tick, 3000);
      return;
    }
    if (job.status !== "queued" && job.status !== "running") { window.location.reload(); return; }
    if (job.total > 0) {
      bar.max = job.total;
      bar.value = Math.min(job.done, job.total);
    } else {
      bar.removeAttribute("value"); // no count yet: an indeterminate bar
    }
    label.textContent = job.task || job.status;
    text.textContent = job.status + (job.total ? ": " + job.done + " of " + job.total : "");
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 500);
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("progress");
  if (box) pollProgress(box);
  document.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (ev) => { if (!window.confirm(f.dataset.confirm)) ev.preventDefault(); });
  });
});
