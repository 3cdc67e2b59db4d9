// labelwise labeling page: plain JS, no build step. Talks to the JSON API of server.py.
"use strict";
const params = new URLSearchParams(location.search);
// a personal (or shared) link carries ?token= once; the tab keeps it and sends it as a header
if (params.get("token")) sessionStorage.setItem("labelwise-token", params.get("token"));
const token = sessionStorage.getItem("labelwise-token") || "";
const $ = (id) => document.getElementById(id);
const annotatorInput = $("annotator");
annotatorInput.value = params.get("annotator") || localStorage.getItem("labelwise-annotator") || "default";
// keys of the class buttons: 1-9, then letters except s (skip) and u (undo)
const KEYS = "123456789abcdefghijklmnopqrtvwxyz";
let config = null, current = null, busy = false, pollTimer = null;

function annotator() { return annotatorInput.value.trim() || "default"; }
annotatorInput.addEventListener("change", () => {
  localStorage.setItem("labelwise-annotator", annotator());
  loadNext();
});

function authHeaders() { return token ? { "X-Labelwise-Token": token } : {}; }

async function api(path, body) {
  const opts = { headers: authHeaders() };
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function setStatus(text, isError) {
  $("status").textContent = text || "";
  $("status").className = isError ? "error" : "";
}

function renderButtons() {
  const box = $("classes");
  box.innerHTML = "";
  config.classes.forEach((c, i) => {
    const b = document.createElement("button");
    b.dataset.label = c;
    b.append(c);
    if (i < KEYS.length) { const k = document.createElement("kbd"); k.textContent = KEYS[i]; b.append(k); }
    b.addEventListener("click", () => submit(c));
    box.append(b);
  });
}

function renderProgress(p) {
  $("counts").textContent = `${p.n_labeled_items} of ${p.n_items} items labeled` +
    (p.mine !== undefined ? ` · ${p.mine} by you` : "");
  drawChart(p.history.filter((h) => h.cv_accuracy !== null));
  // when to stop: stabilizing predictions (the model has stopped changing), with its numbers
  const stop = $("stopping");
  stop.hidden = !p.stopping;
  if (p.stopping) {
    stop.textContent = p.stopping.message;
    stop.classList.toggle("stopped", p.stopping.stopped_changing);
  }
}

function drawChart(points) {
  const svg = $("chart"), W = 300, H = 160, L = 34, B = 26, T = 8, R = 10;
  const ns = "http://www.w3.org/2000/svg";
  svg.innerHTML = "";
  const el = (tag, attrs, text, parent) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    (parent || svg).append(e);
    return e;
  };
  el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" });
  el("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" });
  el("text", { x: 2, y: T + 8 }, "100%");
  el("text", { x: 8, y: H - B }, "0%");
  el("text", { x: W - R, y: H - 2, "text-anchor": "end" }, "labels");
  if (!points.length) {
    el("text", { x: L + 10, y: H / 2 }, "after two classes are labeled");
    $("chart-last").textContent = "";
    return;
  }
  // one point per label count: rounds prepared on the same labels share one estimate
  const byCount = new Map(points.map((p) => [p.n_labels, p]));
  points = [...byCount.values()].sort((a, b) => a.n_labels - b.n_labels);
  const xmin = points[0].n_labels, xmax = points[points.length - 1].n_labels, pad = 14;
  const x = (n) => xmax === xmin ? (L + W - R) / 2 : L + pad + (W - L - R - 2 * pad) * (n - xmin) / (xmax - xmin);
  const y = (a) => H - B - (H - B - T) * a;
  el("polyline", { class: "line", points: points.map((p) => `${x(p.n_labels)},${y(p.cv_accuracy)}`).join(" ") });
  let lastTick = -Infinity;
  points.forEach((p, i) => {
    const c = el("circle", { cx: x(p.n_labels), cy: y(p.cv_accuracy), r: 3 });
    el("title", {}, `round ${p.round}: ${(100 * p.cv_accuracy).toFixed(1)}%, cross-validated on ${p.n_labels} labels`, c);
    // each estimate's label count under its point (thinned where they would overlap)
    const last = i === points.length - 1;
    if (x(p.n_labels) - lastTick >= 22 || last) {
      el("text", { x: x(p.n_labels), y: H - B + 11, "text-anchor": "middle", class: "tick" }, String(p.n_labels));
      lastTick = x(p.n_labels);
    }
  });
  const last = points[points.length - 1];
  $("chart-last").textContent = `${(100 * last.cv_accuracy).toFixed(1)}%, cross-validated on ` +
    `${last.n_labels} labels (round ${last.round})` + (last.n_labels < 30 ? ": few labels, a rough estimate" : "");
}

function showAssist(item) {
  document.querySelectorAll("#classes button.suggested").forEach((b) => b.classList.remove("suggested"));
  const s = item.suggestion;
  $("suggestion").hidden = !s;
  if (s) {
    $("suggestion").innerHTML = "";
    $("suggestion").append("model suggests ");
    const strong = document.createElement("strong");
    strong.textContent = `${s.label} (${Math.round(100 * s.probability)}%)`;
    const k = document.createElement("kbd");
    k.textContent = "Enter";
    $("suggestion").append(strong, " · ", k, " to accept");
    const b = document.querySelector(`#classes button[data-label="${CSS.escape(s.label)}"]`);
    if (b) b.classList.add("suggested");
  }
  $("why").hidden = !item.why;
  $("why").textContent = item.why ? `why this item: ${item.why}` : "";
}

let imageUrl = null;
async function loadImage(idx, alt) {
  // fetched with the token header (an <img src> cannot send one), shown from a blob URL
  const res = await fetch(`api/items/${idx}/content`, { headers: authHeaders() });
  if (!res.ok) {
    const data = await res.json().catch(() => ({ error: res.statusText }));
    throw new Error(data.error || res.statusText);
  }
  const url = URL.createObjectURL(await res.blob());
  const img = $("image");
  img.src = url;
  img.alt = alt;
  await img.decode().catch(() => {});
  if (imageUrl) URL.revokeObjectURL(imageUrl);
  imageUrl = url;
}

async function showItem(item) {
  current = item;
  $("batch").textContent = item.round ? `round ${item.round} · item ${item.position} of ${item.batch_size} in this batch · ${item.id}` : item.id;
  $("message").hidden = true;
  const img = $("image"), txt = $("text");
  if (item.modality === "image") {
    txt.hidden = true;
    await loadImage(item.idx, item.id);
    img.hidden = false;
  } else {
    img.hidden = true;
    const data = await api(`api/items/${item.idx}/content`);
    txt.textContent = data.text;
    txt.hidden = false;
  }
  showAssist(item);
  setButtons(true);
  // announce the item only once it is on screen: keys pressed before that are still ignored
  // (an action is in flight), so a reader of data-idx never races the content being fetched
  $("item").dataset.idx = item.idx;
  $("item").dataset.round = item.round ?? "";
}

function setButtons(on) {
  document.querySelectorAll("#classes button, #skip").forEach((b) => { b.disabled = !on; });
}

function showEmpty(text) {
  current = null;
  $("item").dataset.idx = "";
  $("image").hidden = true;
  $("text").hidden = true;
  $("suggestion").hidden = true;
  $("why").hidden = true;
  $("message").hidden = false;
  $("message").textContent = text;
  setButtons(false);
}

function renderModel(model) {
  // which model ranked the items being handed out (and, in a warm-start project, the one it
  // started from: the message says so), which one trains, and any problem
  const el = $("model");
  el.hidden = !model;
  if (!model) return;
  el.textContent = model.message;
  el.title = model.warm_start
    ? "warm start: each model starts from the previous one instead of from scratch, so the " +
      "picks depend on the earlier rounds too (an option of this project)"
    : "";
  el.classList.toggle("problem", Boolean(model.problem));
}

function waitingNote(out) {
  const p = out.progress;
  if (out.model && out.model.problem) return `preparing the next batch… (${out.model.problem})`;
  if (out.worker_error) return `preparing the next batch… (${out.worker_error})`;
  if (out.worker_busy) return `preparing the next batch: training on ${p.n_labeled_items} labels…`;
  if (p.round !== null && p.batch_done < p.batch_size)
    return "the rest of this batch is with other annotators; waiting for them or the next batch…";
  return "preparing the next batch…";
}

async function loadNext() {
  clearTimeout(pollTimer);
  try {
    const out = await api(`api/next?annotator=${encodeURIComponent(annotator())}`);
    renderProgress(out.progress);
    renderModel(out.model);
    if (out.item) {
      await showItem(out.item);
    } else if (out.state === "waiting") {
      showEmpty(waitingNote(out));
      pollTimer = setTimeout(loadNext, 500);
    } else {
      $("batch").textContent = "";
      showEmpty("all items are labeled or skipped: nothing left to do");
    }
  } catch (e) {
    setStatus(e.message, true);
    pollTimer = setTimeout(loadNext, 2000);
  }
}

async function act(fn, okText) {
  if (busy) return;
  busy = true;
  try {
    await fn();
    setStatus(okText);
    await loadNext();
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    busy = false;
  }
}

// keep the lease on the item shown while the page is open; if it went to someone else (the tab
// slept past the lease), show the next one
async function heartbeat() {
  let wait = 15;
  try {
    const out = await api("api/heartbeat", { annotator: annotator() });
    wait = Math.max(1, Math.min(15, out.lease_seconds / 4));
    if (current && !busy && !out.held.includes(current.idx)) loadNext();
  } catch (e) { /* the next beat retries */ }
  setTimeout(heartbeat, wait * 1000);
}

function submit(label) {
  if (!current) return;
  const item = current;
  const b = document.querySelector(`#classes button[data-label="${CSS.escape(label)}"]`);
  if (b) { b.classList.add("flash"); setTimeout(() => b.classList.remove("flash"), 150); }
  act(() => api("api/label", { item: item.idx, label, annotator: annotator() }),
      `saved: ${item.id} = ${label}`);
}

$("skip").addEventListener("click", () => {
  if (!current) return;
  const item = current;
  act(() => api("api/skip", { item: item.idx, annotator: annotator() }), `skipped ${item.id}`);
});
$("undo").addEventListener("click", () => act(async () => {
  const out = await api("api/undo", { annotator: annotator() });
  setStatus(`undone: ${out.label}`);
}, "undone: your last label is back"));

document.addEventListener("keydown", (e) => {
  if (e.target === annotatorInput || e.ctrlKey || e.metaKey || e.altKey) return;
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  const i = key.length === 1 ? KEYS.indexOf(key) : -1;
  if (config && i >= 0 && i < config.classes.length) {
    e.preventDefault();
    submit(config.classes[i]);
  } else if (key === "Enter") {
    e.preventDefault();  // not also a click on a focused button
    if (current && current.suggestion) submit(current.suggestion.label);
  } else if (key === "s") {
    $("skip").click();
  } else if (key === "u" || key === "Backspace") {
    e.preventDefault();
    $("undo").click();
  }
});

(async function start() {
  try {
    config = await api("api/config");
    $("project").textContent = `labelwise · ${config.project}`;
    document.title = `labelwise · ${config.project}`;
    if (config.account) {  // a personal link: the server names the annotator, not the page
      annotatorInput.value = config.account;
      annotatorInput.readOnly = true;
      annotatorInput.title = "signed in by your personal link";
    }
    renderButtons();
    await loadNext();
    setTimeout(heartbeat, 15000);
  } catch (e) {
    setStatus(e.message, true);
  }
})();
