// The colorize page: upload photos, show gray / colorized / original, change colour strength and model.
// Colour hints, for a model that takes them, are static/hints.js's (setUpHints, hintsOf, ...).
// Plain browser JavaScript, no build step and nothing fetched from elsewhere: the page must work offline.
"use strict";

const state = { models: [], model: 0, maxBytes: 50e6, maxPixels: 100e6, queue: Promise.resolve() };
const $ = (selector, root = document) => root.querySelector(selector);

function formatMB(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

// fetch() that throws an Error carrying the server's {"error": ...} message.
async function request(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new Error("the server did not answer (is it still running?)");
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const body = await response.json();
      if (body && body.error) message = body.error;
    } catch (_) { /* not JSON: keep the status line */ }
    throw new Error(message);
  }
  return response;
}

function percent(value) {
  return value === null || value === undefined ? "–" : `${(100 * value).toFixed(1)} %`;
}

// ---- the model: menu, name and test-table row
async function loadModels() {
  const data = await (await request("api/models")).json();
  state.models = data.models;
  state.maxBytes = data.limits.max_bytes;
  state.maxPixels = data.limits.max_pixels;
  $("#limits").textContent = `up to ${state.maxBytes / 1e6} MB and ${state.maxPixels / 1e6} megapixels each`;
  const select = $("#model");
  for (const model of data.models) {
    const option = document.createElement("option");
    option.value = String(model.index);
    option.textContent = model.label;
    select.append(option);
  }
  $("#model-choice").hidden = data.models.length < 2;
  select.value = String(data.default);
  select.addEventListener("change", () => chooseModel(Number(select.value)));
  await chooseModel(data.default);
}

async function chooseModel(index) {
  const previous = state.shown;
  const status = $("#status");
  status.classList.remove("bad");
  status.textContent = "loading the model…";
  state.model = index;
  let model;
  try {
    model = await (await request(`api/models/${index}`)).json();
  } catch (err) {
    if (state.model !== index) return;
    // Keep the model that works: its name, its menu entry, its pictures.
    status.textContent = err.message;
    status.classList.add("bad");
    if (previous !== undefined) {
      state.model = previous;
      $("#model").value = String(previous);
    } else {
      $("#model-info").replaceChildren("no model could be loaded");
    }
    return;
  }
  if (state.model !== index) return;
  status.textContent = "";
  state.shown = index;
  showModel(model);
  showHintTool(Boolean(model.takes_hints));
  for (const card of document.querySelectorAll(".card")) {
    if (card.photo) colorize(card);
  }
}

function showModel(model) {
  const info = $("#model-info");
  const title = document.createElement("div");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = model.name;
  title.append(name, ` · trained at ${model.image_size} px`);
  const source = document.createElement("div");
  source.className = "source";
  source.textContent = model.measured_with && model.measured_with !== model.source
    ? `${model.source} (test row measured with ${model.measured_with})`
    : model.source;
  const parts = [title];
  if (model.accuracy.length) {
    const table = document.createElement("table");
    table.className = "scores";
    const head = table.insertRow();
    const corner = document.createElement("th");
    corner.textContent = "test set";
    head.append(corner);
    for (const column of model.accuracy) {
      const th = document.createElement("th");
      th.textContent = column.metric.replace("pixel_acc", "pixel accuracy ");
      head.append(th);
    }
    for (const [label, key] of [[model.name, "model"], ["all-gray", "gray"]]) {
      const row = table.insertRow();
      const th = document.createElement("th");
      th.textContent = label;
      row.append(th);
      for (const column of model.accuracy) row.insertCell().textContent = percent(column[key]);
    }
    parts.push(table);
  } else {
    const none = document.createElement("div");
    none.textContent = "no test results beside this model (run colorize test to get its row)";
    parts.push(none);
  }
  parts.push(source);
  info.replaceChildren(...parts);
}

// ---- photos
function newCard(name) {
  const card = $("#card-template").content.firstElementChild.cloneNode(true);
  $(".name", card).textContent = name;
  card.token = 0;
  $("#cards").prepend(card);
  return card;
}

function setState(card, stateName, message) {
  clearInterval(card.ticker);
  card.dataset.state = stateName;
  $(".message", card).textContent = message;
}

// A large scan takes a while: say what is happening and for how long, once a second, until the next state.
// progress() may add what is known (bytes sent or received); the message is replaced by setState.
function showProgress(card, stateName, text, progress = () => "") {
  setState(card, stateName, `${text}…`);
  const started = Date.now();
  card.ticker = setInterval(() => {
    const seconds = Math.round((Date.now() - started) / 1000);
    const extra = progress();
    $(".message", card).textContent = `${text}… ${seconds} s${extra ? `, ${extra}` : ""}`;
  }, 1000);
}

// POST a file with XMLHttpRequest, whose upload events tell how much has been sent (fetch() has none).
function send(url, file, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onerror = () => reject(new Error("the server did not answer (is it still running?)"));
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && body) resolve(body);
      else reject(new Error(body && body.error ? body.error : `${xhr.status} ${xhr.statusText}`));
    };
    xhr.send(file);
  });
}

// The body of a response as a Blob, counting the bytes received so far into counter.received.
async function readBody(response, counter) {
  if (!response.body || !response.body.getReader) return response.blob();
  const reader = response.body.getReader();
  const parts = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    counter.received += value.length;
  }
  return new Blob(parts, { type: response.headers.get("Content-Type") || "image/png" });
}

function addFiles(files) {
  for (const file of files) {
    const card = newCard(file.name);
    setState(card, "uploading", "waiting…");
    // One upload at a time: the server colorizes one photo at a time anyway.
    state.queue = state.queue.then(() => upload(file, card));
  }
}

async function upload(file, card) {
  if (file.size > state.maxBytes) {
    setState(card, "error", `${file.name}: ${formatMB(file.size)}; photos may be at most ${state.maxBytes / 1e6} MB`);
    return;
  }
  let sent = 0;
  showProgress(card, "uploading", `uploading ${formatMB(file.size)}`, () =>
    sent < file.size ? `${Math.round((100 * sent) / file.size)} % sent` : "reading the photo");
  let photo;
  try {
    photo = await send(
      "api/photos",
      file,
      { "Content-Type": "application/octet-stream", "X-Filename": encodeURIComponent(file.name) },
      (loaded) => { sent = loaded; },
    );
  } catch (err) {
    const message = err.message.includes(file.name) ? err.message : `${file.name}: ${err.message}`;
    setState(card, "error", message);
    return;
  }
  showPhoto(card, photo);
  await colorize(card);
}

function showPhoto(card, photo) {
  card.photo = photo;
  card.dataset.id = photo.id;
  $(".size", card).textContent = `${photo.width} × ${photo.height}`;
  const compare = $(".compare", card);
  compare.style.setProperty("--ratio", String(photo.width / photo.height));
  compare.style.setProperty("--max-width", `${2 * photo.width}px`);
  $(".before", card).src = `api/photos/${photo.id}/gray.png`;
  const divider = $(".divider", compare);
  divider.addEventListener("input", () => compare.style.setProperty("--split", `${divider.value}%`));
  const strength = $(".strength input", card);
  let timer = null;
  strength.addEventListener("input", () => {
    $(".strength output", card).textContent = Number(strength.value).toFixed(2);
    clearTimeout(timer);
    timer = setTimeout(() => colorize(card), 250);
  });
  if (photo.has_color) {
    const original = $(".original", card);
    $("img", original).src = `api/photos/${photo.id}/original.png`;
    original.hidden = false;
  }
  compare.hidden = false;
  $(".side", card).hidden = false;
  setUpHints(card);
}

async function colorize(card) {
  const photo = card.photo;
  const strength = Number($(".strength input", card).value).toFixed(2);
  const model = state.model;
  const hints = hintsOf(card);
  const url = `api/photos/${photo.id}/colorized.png?model=${model}&strength=${strength}${hints.query}`;
  const token = ++card.token;
  const counter = { received: 0 };
  const megapixels = (photo.width * photo.height) / 1e6;
  showProgress(card, "working", `colorizing ${megapixels.toFixed(1)} megapixels`, () =>
    counter.received ? `${formatMB(counter.received)} received` : "");
  // A newer strength, model or hint set supersedes this one: abort the old request, so the server drops its job.
  if (card.pending) card.pending.abort();
  card.pending = new AbortController();
  try {
    const blob = await readBody(await request(url, { signal: card.pending.signal }), counter);
    if (token !== card.token) return; // a newer strength, model or hint set was asked for meanwhile
    const after = $(".after", card);
    if (after.src.startsWith("blob:")) URL.revokeObjectURL(after.src);
    after.src = URL.createObjectURL(blob);
    await after.decode();
    hintsResultShown(card);
  } catch (err) {
    if (token !== card.token) return;
    setState(card, "error", err.message.includes(photo.name) ? err.message : `${photo.name}: ${err.message}`);
    return;
  }
  if (token !== card.token) return;
  const download = $(".download", card);
  download.href = `${url}&download=1`;
  download.textContent = `Download PNG (${photo.width} × ${photo.height})`;
  const label = state.models[model] ? state.models[model].label : String(model);
  const given = hints.count ? ` with ${hints.count} colour hint${hints.count > 1 ? "s" : ""}` : "";
  setState(card, "done", `colorized by ${label} at colour strength ${strength}${given}`);
}

// ---- picking and dropping files
function setUpDrop() {
  const drop = $("#drop");
  const input = $("#files");
  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = "";
  });
  // A file dropped anywhere must not make the browser leave the page to show it.
  for (const type of ["dragover", "drop"]) window.addEventListener(type, (event) => event.preventDefault());
  drop.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      input.click();
    }
  });
  drop.addEventListener("dragover", () => drop.classList.add("over"));
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    drop.classList.remove("over");
    addFiles(event.dataTransfer.files);
  });
}

window.addEventListener("DOMContentLoaded", () => {
  setUpDrop();
  loadModels().catch((err) => {
    $("#status").textContent = err.message;
    $("#status").classList.add("bad");
  });
});
