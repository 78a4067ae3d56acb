// Colour hints on the colorize page (Zhang et al. 2017, as their ideepcolor GUI): for a model that takes hints,
// click the photo to place one, pick its colour, drag it, remove it; download and load them in the format of
// `colorize predict --hints` ({"photo.jpg": [{"x", "y", "color" | "ab", "size"}...]}, the photo's own pixels).
// Kept apart from page.js (photos), which calls setUpHints, hintsOf, hintsResultShown and showHintTool.
"use strict";

const HINT_DELAY_MS = 300; // after the last change, the result is asked for again
const MAX_PAGE_HINTS = 100; // the server's MAX_HINTS (colorize/serve/hints.py)
const hintTool = { takes: false };

// The side of a placed hint's square in the photo's pixels: Zhang et al.'s 6 px test patches at 256 px, scaled to
// the photo's shorter side (the CLI's default of 24 is that for a photo of about 1000 px).
function hintSize(photo) {
  return Math.max(1, Math.round((Math.min(photo.width, photo.height) * 6) / 256));
}

function toHex(r, g, b) {
  return `#${[r, g, b].map((v) => Math.round(v).toString(16).padStart(2, "0")).join("")}`;
}

// An sRGB colour to show an `ab` hint by (its L* is the photo's; 65 is only for the swatch), clipped to the gamut.
function abSwatch(a, b) {
  const L = 65;
  const fy = (L + 16) / 116;
  const f = (t) => (t > 6 / 29 ? t ** 3 : 3 * (6 / 29) ** 2 * (t - 4 / 29));
  const [x, y, z] = [0.95047 * f(fy + a / 500), f(fy), 1.08883 * f(fy - b / 200)];
  const linear = [3.2406 * x - 1.5372 * y - 0.4986 * z, -0.9689 * x + 1.8758 * y + 0.0415 * z,
    0.0557 * x - 0.204 * y + 1.057 * z];
  const gamma = (c) => (c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055);
  return toHex(...linear.map((c) => 255 * Math.min(1, Math.max(0, gamma(c)))));
}

function hintColour(hint) {
  if (typeof hint.color === "string") return hint.color;
  if (Array.isArray(hint.ab)) return abSwatch(Number(hint.ab[0]), Number(hint.ab[1]));
  return "#808080";
}

// The colorized result's colour at photo pixel (x, y), read from the picture the page shows.
function resultColour(card, x, y) {
  const image = $(".after", card);
  const photo = card.photo;
  if (!image.complete || !image.naturalWidth) return "#808080";
  const width = image.naturalWidth;
  const height = image.naturalHeight;
  if (!card.hints.pixels) {
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(image, 0, 0);
    card.hints.pixels = context;
  }
  const px = Math.min(width - 1, Math.floor((x * width) / photo.width));
  const py = Math.min(height - 1, Math.floor((y * height) / photo.height));
  const [r, g, b] = card.hints.pixels.getImageData(px, py, 1, 1).data;
  return toHex(r, g, b);
}

// The photo pixel under a pointer event: the layer covers the picture exactly (same aspect ratio), at any scale.
function photoPoint(card, event) {
  const rect = $(".hint-layer", card).getBoundingClientRect();
  const photo = card.photo;
  const clamp = (v, n) => Math.min(n - 1, Math.max(0, Math.floor(v * n)));
  return {
    x: clamp((event.clientX - rect.left) / rect.width, photo.width),
    y: clamp((event.clientY - rect.top) / rect.height, photo.height),
  };
}

function hintsMessage(card, text) {
  $(".hints-message", card).textContent = text;
}

// ---- what page.js calls
function setUpHints(card) {
  card.hints = { list: [], selected: -1, timer: null, pixels: null, drag: null };
  const layer = $(".hint-layer", card);
  const picker = $(".hint-colour input", card);
  $(".hint-mode input", card).addEventListener("change", (event) => setPlacing(card, event.target.checked));
  layer.addEventListener("pointerdown", (event) => startDrag(card, event));
  layer.addEventListener("pointermove", (event) => moveDrag(card, event));
  layer.addEventListener("pointerup", (event) => endDrag(card, event));
  layer.addEventListener("pointercancel", (event) => endDrag(card, event));
  layer.addEventListener("keydown", (event) => {
    if ((event.key === "Delete" || event.key === "Backspace") && card.hints.selected >= 0) {
      event.preventDefault();
      removeHint(card, card.hints.selected);
    }
  });
  for (const type of ["input", "change"]) {
    picker.addEventListener(type, () => {
      const hint = card.hints.list[card.hints.selected];
      if (!hint || hint.color === picker.value) return;
      delete hint.ab;
      hint.color = picker.value;
      hintsChanged(card);
    });
  }
  $(".hints-file", card).addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";
    if (file) loadHints(card, file);
  });
  showHintTool(hintTool.takes, [card]);
  renderHints(card);
}

// {query, count}: the hints to send with the card's picture request (none for a model that takes none).
function hintsOf(card) {
  const list = card.hints ? card.hints.list : [];
  if (!hintTool.takes || !list.length) return { query: "", count: 0 };
  return { query: `&hints=${encodeURIComponent(JSON.stringify(list))}`, count: list.length };
}

function hintsResultShown(card) {
  if (card.hints) card.hints.pixels = null; // read the new picture next time
}

function showHintTool(takes, cards = document.querySelectorAll(".card")) {
  hintTool.takes = takes;
  for (const card of cards) {
    if (!card.hints) continue;
    $(".hints-tool", card).hidden = !takes;
    $(".no-hints", card).hidden = takes;
    $(".hint-layer", card).hidden = !takes;
    if (!takes && card.classList.contains("placing")) {
      $(".hint-mode input", card).checked = false;
      setPlacing(card, false);
    }
  }
}

// ---- placing, moving, removing
function setPlacing(card, on) {
  card.classList.toggle("placing", on);
  // While placing, the whole photo shows the colorized result (whose colour a new hint starts from).
  $(".compare", card).style.setProperty("--split", on ? "0%" : `${$(".divider", card).value}%`);
  if (on) $(".hint-layer", card).focus({ preventScroll: true });
}

function startDrag(card, event) {
  if (!card.classList.contains("placing") || event.button !== 0) return;
  event.preventDefault();
  const layer = $(".hint-layer", card);
  layer.focus({ preventScroll: true });
  const marker = event.target.closest(".hint-marker");
  let index;
  if (marker) {
    index = Number(marker.dataset.index);
  } else {
    if (card.hints.list.length >= MAX_PAGE_HINTS) {
      hintsMessage(card, `at most ${MAX_PAGE_HINTS} hints per photo`);
      return;
    }
    const { x, y } = photoPoint(card, event);
    card.hints.list.push({ x, y, color: resultColour(card, x, y), size: hintSize(card.photo) });
    index = card.hints.list.length - 1;
  }
  layer.setPointerCapture(event.pointerId);
  card.hints.drag = { index, pointer: event.pointerId, changed: !marker };
  selectHint(card, index);
}

function moveDrag(card, event) {
  const drag = card.hints.drag;
  if (!drag || drag.pointer !== event.pointerId) return;
  const hint = card.hints.list[drag.index];
  const { x, y } = photoPoint(card, event);
  if (x === hint.x && y === hint.y) return;
  hint.x = x;
  hint.y = y;
  drag.changed = true;
  renderHints(card);
}

function endDrag(card, event) {
  const drag = card.hints.drag;
  if (!drag || drag.pointer !== event.pointerId) return;
  card.hints.drag = null;
  if (drag.changed) hintsChanged(card);
}

function selectHint(card, index) {
  card.hints.selected = index;
  const picker = $(".hint-colour input", card);
  const hint = card.hints.list[index];
  picker.disabled = !hint;
  if (hint) picker.value = hintColour(hint);
  renderHints(card);
}

function removeHint(card, index) {
  card.hints.list.splice(index, 1);
  const selected = card.hints.selected;
  selectHint(card, selected === index ? -1 : selected > index ? selected - 1 : selected);
  hintsChanged(card);
}

// After every change: the markers, the list and the download now; the result once changes pause.
function hintsChanged(card) {
  hintsMessage(card, "");
  renderHints(card);
  clearTimeout(card.hints.timer);
  card.hints.timer = setTimeout(() => colorize(card), HINT_DELAY_MS);
}

function renderHints(card) {
  const { list, selected } = card.hints;
  const photo = card.photo;
  const markers = [];
  const items = [];
  list.forEach((hint, index) => {
    const colour = hintColour(hint);
    const marker = document.createElement("span");
    marker.className = `hint-marker${index === selected ? " selected" : ""}`;
    marker.dataset.index = String(index);
    // In % of the layer, which is the picture: the marker stays on its pixel at any display size.
    marker.style.left = `${(100 * Number(hint.x)) / photo.width}%`;
    marker.style.top = `${(100 * Number(hint.y)) / photo.height}%`;
    marker.style.background = colour;
    marker.title = `hint ${index + 1}: (${hint.x}, ${hint.y})`;
    markers.push(marker);

    const item = document.createElement("li");
    item.className = index === selected ? "selected" : "";
    const pick = document.createElement("button");
    pick.type = "button";
    pick.className = "hint-pick";
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colour;
    const what = typeof hint.color === "string" ? hint.color : `a*b* ${hint.ab}`;
    pick.append(swatch, `(${hint.x}, ${hint.y}) ${what}`);
    pick.addEventListener("click", () => selectHint(card, index));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "hint-remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `remove hint ${index + 1}`);
    remove.addEventListener("click", () => removeHint(card, index));
    item.append(pick, remove);
    items.push(item);
  });
  $(".hint-layer", card).replaceChildren(...markers);
  $(".hint-list", card).replaceChildren(...items);
  $(".hints-count", card).textContent = list.length
    ? `${list.length} hint${list.length > 1 ? "s" : ""}`
    : "none yet: tick the box, then click the photo";
  offerDownload(card);
}

// ---- the hints file: downloaded and loaded in the CLI's format, keyed by the photo's file name
function offerDownload(card) {
  const link = $(".hints-download", card);
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  const text = JSON.stringify({ [card.photo.name]: card.hints.list }, null, 2);
  link.href = URL.createObjectURL(new Blob([`${text}\n`], { type: "application/json" }));
  link.download = `${card.photo.name.replace(/\.[^.]*$/, "") || "photo"}-hints.json`;
}

async function loadHints(card, file) {
  const name = card.photo.name;
  let data;
  try {
    data = JSON.parse(await file.text());
  } catch (err) {
    hintsMessage(card, `${file.name}: not a JSON file (${err.message})`);
    return;
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) {
    hintsMessage(card, `${file.name}: must be an object {"photo name": [hints]}`);
    return;
  }
  const names = Object.keys(data);
  const key = name in data ? name : names.length === 1 ? names[0] : null;
  if (key === null) {
    const listed = names.slice(0, 5).join(", ") + (names.length > 5 ? ", …" : "");
    hintsMessage(card, `${file.name}: no hints for ${name} (it names ${listed || "no photo"})`);
    return;
  }
  const entries = data[key];
  if (!Array.isArray(entries) || entries.some((e) => !e || typeof e !== "object" || Array.isArray(e))) {
    hintsMessage(card, `${file.name}: the hints of ${key} must be a list of {x, y, color|ab[, size]} objects`);
    return;
  }
  if (entries.length > MAX_PAGE_HINTS) {
    hintsMessage(card, `${file.name}: ${entries.length} hints for ${key}; at most ${MAX_PAGE_HINTS} per photo`);
    return;
  }
  // As the file has them: the server checks each one (a bad one is refused by name) before any work.
  card.hints.list = entries.map((entry) => ({ ...entry }));
  selectHint(card, -1);
  hintsChanged(card);
  hintsMessage(card, `${entries.length} hint${entries.length === 1 ? "" : "s"} loaded from ${file.name}`);
}
