// stocksync progress page: the runs list at "/", one run's live progress at "/runs/<id>".
// Reads the JSON API; live updates come from the run's event stream, or polling every 2 s.
"use strict";

const TOKEN_KEY = "stocksync.apiToken";
const POLL_MS = 2000;
const ACTIVE = new Set(["planning", "pending", "running", "paused"]);
const $ = (selector) => document.querySelector(selector);

// ---- helpers -------------------------------------------------------------------------------

function storedToken() {
  try { return localStorage.getItem(TOKEN_KEY) || ""; } catch (e) { return ""; }
}

async function api(method, path) {
  const headers = { Accept: "application/json" };
  const token = storedToken();
  if (method !== "GET" && token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path, { method, headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((body.error && body.error.message) || response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

function notice(text) {
  const el = $("#notice");
  el.textContent = text || "";
  el.hidden = !text;
}

const number = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("en-US"));
const pad = (n) => String(n).padStart(2, "0");

function when(iso) {  // local time as 2026-10-30 17:05:09
  if (!iso) return "—";
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `
    + `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function seconds(s) {
  if (s === null || s === undefined) return "—";
  if (s < 1) return s === 0 ? "0 s" : "< 1 s";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h) return `${h} h ${m} min`;
  return m ? `${m} min ${r} s` : `${r} s`;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

// The store this server reads and writes: "sim" (the simulated market) or "main" (real data).
function showStore(store) {
  const badge = $("#store");
  if (!store) return;
  badge.hidden = false;
  badge.className = `store ${store}`;
  badge.textContent = store === "sim" ? "store: sim (simulated market)" : `store: ${store}`;
}

// ---- the runs list -------------------------------------------------------------------------

let listPage = 1;
let listTimer = null;

async function showList() {
  $("#list-view").hidden = false;
  clearTimeout(listTimer);
  try {
    const data = await api("GET", `/api/v1/runs?page=${listPage}&per_page=20`);
    notice("");
    showStore(data.store);
    for (const run of data.items.filter((r) => ACTIVE.has(r.status))) {
      // the list has stored counts; an active run's live ones are in its own view
      const live = await api("GET", `/api/v1/runs/${run.id}`);
      for (const key of ["total", "success", "failed", "skipped", "rows_written"]) {
        run[key] = live[key];
      }
    }
    const body = $("#runs");
    body.replaceChildren();
    for (const run of data.items) {
      const row = document.createElement("tr");
      const link = document.createElement("a");
      link.href = `/runs/${run.id}`;
      link.textContent = `#${run.id}`;
      cell(row, "").appendChild(link);
      const badge = document.createElement("span");
      badge.className = `status ${run.status}`;
      badge.textContent = run.status;
      cell(row, "").appendChild(badge);
      cell(row, `${run.start_date} → ${run.end_date}`, "nowrap");
      for (const key of ["total", "success", "failed", "skipped", "rows_written"]) {
        cell(row, number(run[key]), "num");
      }
      cell(row, when(run.created_at), "nowrap");
      cell(row, seconds(run.duration_s), "num");
      cell(row, run.message || "");
      body.appendChild(row);
    }
    const pages = Math.max(1, Math.ceil(data.total / data.per_page));
    $("#no-runs").hidden = data.total > 0;
    $("#page-info").textContent = `page ${data.page} of ${pages} · ${data.total} runs`;
    $("#newer").disabled = data.page <= 1;
    $("#older").disabled = data.page >= pages;
    if (data.items.some((run) => ACTIVE.has(run.status))) listTimer = setTimeout(showList, 5000);
  } catch (error) {
    notice(`Could not load runs: ${error.message}`);
  }
}

// ---- one run -------------------------------------------------------------------------------

let stream = null;
let pollTimer = null;
let finished = false;
let shownFailed = -1;

function render(view) {
  const spec = view.spec || {};
  const text = {
    ...view,
    status: view.status,
    range: `${spec.start_date || "?"} → ${spec.end_date || "?"}`,
    periods: (spec.periods || []).join(", "),
    sources: (spec.sources || []).join(", "),
    percent: `${view.percent}%`,
    eta_s: ACTIVE.has(view.status) ? seconds(view.eta_s) : "—",
    started_at: when(view.started_at),
    finished_at: when(view.finished_at),
    duration_s: seconds(view.duration_s),
    current_date: view.current_date || "—",
    message: view.message || "",
    error: view.error || "",
  };
  for (const key of ["total", "done", "success", "failed", "skipped", "pending", "rows_written"]) {
    text[key] = number(view[key]);
  }
  for (const el of document.querySelectorAll("[data-field]")) {
    el.textContent = text[el.dataset.field] ?? "";
  }
  $("#run-status").className = `status ${view.status}`;
  showStore(view.store);
  document.body.dataset.runStatus = view.status;
  document.title = `Run ${view.id} · ${view.percent}% · ${view.status} · stocksync`;

  const total = Math.max(view.total, 1);
  for (const part of ["success", "skipped", "failed"]) {
    $(`.seg.${part}`).style.width = `${(100 * view[part]) / total}%`;
  }
  $(".bar").setAttribute("aria-valuenow", String(view.percent));

  const active = ACTIVE.has(view.status);
  $('[data-action="pause"]').disabled = !(view.status === "running" || view.status === "pending");
  $('[data-action="resume"]').disabled = !active;
  $('[data-action="retry-failed"]').disabled = view.failed === 0 || view.status === "cancelled";
  $('[data-action="cancel"]').disabled = !active;

  if (view.failed !== shownFailed) {
    shownFailed = view.failed;
    loadFailed(view.id);
  }
}

async function loadFailed(runId) {
  try {
    const data = await api("GET", `/api/v1/runs/${runId}/items?status=failed&per_page=200`);
    const body = $("#failed-items");
    body.replaceChildren();
    for (const item of data.items) {
      const row = document.createElement("tr");
      cell(row, item.unit);
      cell(row, item.period);
      cell(row, item.trade_date || `${item.code} ${item.start_date} → ${item.end_date}`);
      cell(row, number(item.attempts), "num");
      cell(row, item.source || "—");
      cell(row, item.error || "", "err");
      body.appendChild(row);
    }
    $("#no-failed").hidden = data.total > 0;
    $("#failed-count").textContent = data.total ? `(${data.total})` : "";
  } catch (error) {
    notice(`Could not load failed units: ${error.message}`);
  }
}

function stopFollowing() {
  if (stream) stream.close();
  stream = null;
  clearTimeout(pollTimer);
}

function poll(runId) {
  $("#live").textContent = `polling every ${POLL_MS / 1000} s`;
  const tick = async () => {
    try {
      const view = await api("GET", `/api/v1/runs/${runId}`);
      notice("");
      render(view);
      if (!ACTIVE.has(view.status)) {
        $("#live").textContent = "finished";
        return;
      }
    } catch (error) {
      notice(error.message);
      if (error.status === 404) return;
    }
    pollTimer = setTimeout(tick, POLL_MS);
  };
  tick();
}

function follow(runId) {
  stopFollowing();
  finished = false;
  if (!window.EventSource) return poll(runId);
  stream = new EventSource(`/api/v1/runs/${runId}/events`);
  stream.addEventListener("open", () => { $("#live").textContent = "streaming"; });
  stream.addEventListener("progress", (event) => render(JSON.parse(event.data)));
  stream.addEventListener("end", (event) => {
    finished = true;
    stopFollowing();
    render(JSON.parse(event.data));
    $("#live").textContent = "finished";
  });
  stream.addEventListener("error", () => {
    if (finished) return;
    stopFollowing();  // stream unavailable or dropped: fall back to polling
    poll(runId);
  });
}

async function act(runId, action) {
  if (action === "cancel" && !confirm(`Cancel run ${runId} for good? · 确定取消?`)) return;
  const result = $("#action-result");
  result.textContent = `${action}…`;
  try {
    const body = await api("POST", `/api/v1/runs/${runId}/${action}`);
    result.textContent = body.requeued !== undefined
      ? `${action}: ${body.requeued} unit(s) queued`
      : `${action}: done`;
    shownFailed = -1;
    follow(runId);  // the run may be live again (resume, retry-failed)
  } catch (error) {
    result.textContent = "";
    notice(error.status === 401
      ? `${error.message} — enter the server's API token at the top right.`
      : `${action} failed: ${error.message}`);
  }
}

function showRun(runId) {
  $("#run-view").hidden = false;
  document.title = `Run ${runId} · stocksync`;
  for (const button of document.querySelectorAll("[data-action]")) {
    button.addEventListener("click", () => act(runId, button.dataset.action));
  }
  follow(runId);
}

// ---- start ---------------------------------------------------------------------------------

function setUpToken() {
  const input = $("#token");
  const state = $("#token-state");
  input.value = storedToken();
  state.textContent = input.value ? "saved" : "";
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    try {
      if (input.value) localStorage.setItem(TOKEN_KEY, input.value);
      else localStorage.removeItem(TOKEN_KEY);
      state.textContent = input.value ? "saved" : "cleared";
    } catch (e) {
      state.textContent = "cannot store the token in this browser";
    }
  });
}

setUpToken();
$("#newer").addEventListener("click", () => { listPage -= 1; showList(); });
$("#older").addEventListener("click", () => { listPage += 1; showList(); });
const match = location.pathname.match(/^\/runs\/(\d+)\/?$/);
if (match) showRun(Number(match[1]));
else showList();
