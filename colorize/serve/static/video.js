// Videos on the colorize page: upload, poll the progress, then play and offer the download.
// Kept apart from page.js (photos): a video dropped anywhere is caught here before page.js sees the drop.
"use strict";

const VIDEO_SUFFIXES = [".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts"];

function isVideo(file) {
  const name = file.name.toLowerCase();
  return file.type.startsWith("video/") || VIDEO_SUFFIXES.some((suffix) => name.endsWith(suffix));
}

function videoStatus(text, bad = false) {
  const status = document.getElementById("video-status");
  status.textContent = text;
  status.classList.toggle("bad", bad);
}

async function videoJson(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

async function colorizeVideo(file) {
  const progress = document.getElementById("video-progress");
  const player = document.getElementById("video-player");
  const download = document.getElementById("video-download");
  player.hidden = download.hidden = true;
  player.removeAttribute("src");
  progress.hidden = false;
  progress.value = 0;
  videoStatus(`${file.name}: uploading…`);
  const model = document.getElementById("model") ? document.getElementById("model").value : "";
  try {
    const job = await videoJson(`api/videos${model ? `?model=${encodeURIComponent(model)}` : ""}`, {
      method: "POST",
      headers: {"X-Filename": encodeURIComponent(file.name)},
      body: file,
    });
    const started = Date.now();
    for (;;) {
      const state = await videoJson(`api/videos/${job.id}`);
      if (state.state === "error") throw new Error(state.error);
      const total = state.frames || job.frames || 1;
      progress.value = state.done / total;
      const seconds = (Date.now() - started) / 1000;
      const rate = state.done / Math.max(seconds, 1e-3);
      const left = rate > 0 ? Math.round((total - state.done) / rate) : "?";
      if (state.state === "done") {
        const url = `api/videos/${job.id}/colorized.mp4`;
        player.src = url;
        player.hidden = false;
        download.href = `${url}?download=1`;
        download.dataset.frames = String(state.frames);
        download.hidden = false;
        videoStatus(`${file.name}: ${state.frames} frames colorized${state.error ? ` (${state.error})` : ""}`);
        progress.value = 1;
        return;
      }
      videoStatus(`${file.name}: ${state.done} of ${total} frames, ${rate.toFixed(1)} frames/s, ${left} s left`);
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
  } catch (err) {
    progress.hidden = true;
    videoStatus(err.message, true);
  }
}

window.addEventListener("DOMContentLoaded", () => {
  const input = document.getElementById("video-file");
  input.addEventListener("change", () => {
    if (input.files.length) colorizeVideo(input.files[0]);
    input.value = "";
  });
  fetch("api/videos/limits").then((r) => r.json()).then((limits) => {
    document.getElementById("video-limits").textContent = `up to ${limits.describe}`;
  }).catch(() => {});
  // Capture phase: runs before page.js's photo drop handler, which then never sees a video.
  window.addEventListener("drop", (event) => {
    const files = event.dataTransfer ? Array.from(event.dataTransfer.files) : [];
    if (files.length && files.every(isVideo)) {
      event.preventDefault();
      event.stopPropagation();
      colorizeVideo(files[0]);
    }
  }, true);
});
