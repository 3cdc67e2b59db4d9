// labelwise labeling page: plain JS, no build step. Talks to the JSON API of server.py.
"use strict";
const params = new URLSearchParams(location.search);
if (params.get("token")) sessionStorage.setItem("labelwise-token", params.get("token"));
const token = sessionStorage.getItem("labelwise-token") || "";
const $ = (id) => document.getElementById(id);
const annotatorInput = $("annotator");
annotatorInput.value = params.get("annotator") || localStorage.getItem("labelwise-annotator") || "default";
let config = null, current = null, busy = false, pollTimer = null;

function annotator() { return annotatorInput.value.trim() || "default"; }
annotatorInput.addEventListener("change", () => {
  localStorage.setItem("labelwise-annotator", annotator());
  loadNext();
});

async function api(path, body) {
  const opts = { headers: {} };
  if (token) opts.headers["X-Labelwise-Token"] = token;
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
    b.innerHTML = "";
    b.append(c);
    if (i < 9) { const k = document.createElement("kbd"); k.textContent = i + 1; b.append(k); }
    b.addEventListener("click", () => submit(c));
    box.append(b);
  });
}

function renderProgress(p) {
  $("counts").textContent = `${p.n_labeled_items} of ${p.n_items} items labeled` +
    (p.mine !== undefined ? ` · ${p.mine} by you` : "");
  drawChart(p.history.filter((h) => h.cv_accuracy !== null));
}

function drawChart(points) {
  const svg = $("chart"), W = 300, H = 160, L = 34, B = 22, T = 8, R = 8;
  const ns = "http://www.w3.org/2000/svg";
  svg.innerHTML = "";
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" });
  el("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" });
  el("text", { x: 2, y: T + 8 }, "100%");
  el("text", { x: 8, y: H - B }, "0%");
  el("text", { x: W - 60, y: H - 4 }, "labels");
  if (!points.length) {
    el("text", { x: L + 10, y: H / 2 }, "after two classes are labeled");
    $("chart-last").textContent = "";
    return;
  }
  const xmax = Math.max(...points.map((p) => p.n_labels), 1);
  const x = (n) => L + (W - L - R) * n / xmax;
  const y = (a) => H - B - (H - B - T) * a;
  el("polyline", { class: "line", points: points.map((p) => `${x(p.n_labels)},${y(p.cv_accuracy)}`).join(" ") });
  points.forEach((p) => el("circle", { cx: x(p.n_labels), cy: y(p.cv_accuracy), r: 3 }));
  el("text", { x: W - R - 20, y: H - B + 12 }, String(xmax));
  const last = points[points.length - 1];
  $("chart-last").textContent = `${(100 * last.cv_accuracy).toFixed(1)}% with ${last.n_labels} labels (round ${last.round})`;
}

async function showItem(item) {
  current = item;
  $("batch").textContent = item.round ? `round ${item.round} · item ${item.position} of ${item.batch_size} in this batch · ${item.id}` : item.id;
  $("message").hidden = true;
  const img = $("image"), txt = $("text");
  if (item.modality === "image") {
    txt.hidden = true;
    img.src = `api/items/${item.idx}/content` + (token ? `?token=${encodeURIComponent(token)}` : "");
    img.alt = item.id;
    img.hidden = false;
  } else {
    img.hidden = true;
    const data = await api(`api/items/${item.idx}/content`);
    txt.textContent = data.text;
    txt.hidden = false;
  }
  setButtons(true);
  // announce the item only once it is on screen: keys pressed before that are still ignored
  // (an action is in flight), so a reader of data-idx never races the text being fetched
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
  $("message").hidden = false;
  $("message").textContent = text;
  setButtons(false);
}

async function loadNext() {
  clearTimeout(pollTimer);
  try {
    const out = await api(`api/next?annotator=${encodeURIComponent(annotator())}`);
    renderProgress(out.progress);
    if (out.item) {
      await showItem(out.item);
    } else if (out.state === "waiting") {
      showEmpty("preparing the next batch…" + (out.worker_error ? ` (${out.worker_error})` : ""));
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
  if (/^[1-9]$/.test(e.key) && config && Number(e.key) <= config.classes.length) {
    const label = config.classes[Number(e.key) - 1];
    const b = document.querySelector(`#classes button[data-label="${CSS.escape(label)}"]`);
    if (b) { b.classList.add("flash"); setTimeout(() => b.classList.remove("flash"), 150); }
    submit(label);
  } else if (e.key === "s") {
    $("skip").click();
  } else if (e.key === "u" || e.key === "Backspace") {
    e.preventDefault();
    $("undo").click();
  }
});

(async function start() {
  try {
    config = await api("api/config");
    $("project").textContent = `labelwise · ${config.project}`;
    document.title = `labelwise · ${config.project}`;
    renderButtons();
    await loadNext();
    setTimeout(heartbeat, 15000);
  } catch (e) {
    setStatus(e.message, true);
  }
})();
