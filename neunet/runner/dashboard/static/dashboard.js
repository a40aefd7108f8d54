// neunet dashboard: renders the state the server pushes (Server-Sent Events on /events),
// fetches the sweep plot (/api/sweep) when the run changed and a task's detail (/api/task).
// Cheap to watch: a pushed state changes only the text and rows that differ, the task
// stream is redrawn at most every STREAM_MIN_MS and the sweep plot fetched at most every
// SWEEP_MIN_MS while tasks run, and neither while it is out of sight.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const C = window.neunetCharts;
  // What the page holds, readable by tests and curious users: window.neunetDash. `marks`:
  // milliseconds from navigation start to the counts shown and each chart first drawn.
  const dash = window.neunetDash = {state: null, sweep: null, task: null, updates: 0,
                                     streamDraws: 0, sweepDraws: 0, marks: {},
                                     nBars: () => charts.stream.nBars(), nPoints: () => charts.sweep.nPoints()};
  let streamKey = "", sweepKey = "", sweepBusy = false, shown = {};
  let streamDrawnAt = -1e9, streamTimer = null;
  // Fewest milliseconds between two drawings of the task stream while tasks run.
  const STREAM_MIN_MS = 2000;
  // Fewest milliseconds between two fetches of the sweep plot while tasks run.
  const SWEEP_MIN_MS = 3000;
  let sweepFetchedAt = -1e9, sweepTimer = null;
  const visible = {stream: true, sweep: true};
  const charts = dash.charts = {stream: C.stream($("stream"), showTask), sweep: C.sweep($("sweep"), showTask),
                                raster: C.raster($("raster")), voltage: C.voltage($("voltage"))};

  function fmtS(s) {
    if (s === null || s === undefined) return "-";
    s = Math.round(s);
    if (s >= 3600) return Math.floor(s / 3600) + "h" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m";
    if (s >= 60) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
    return s + "s";
  }
  function fmtNum(v) {
    if (v === null || v === undefined) return "-";
    if (typeof v !== "number") return String(v);
    return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : String(+v.toPrecision(6));
  }
  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }
  function tidLink(tid) {
    const a = document.createElement("a");
    a.className = "tid"; a.textContent = tid.slice(0, 12); a.dataset.tid = tid; a.title = tid;
    a.addEventListener("click", () => showTask(tid));
    return a;
  }

  function setText(id, text) {  // touch the page only where it changes
    const el = $(id), t = String(text);
    if (shown[id] !== t) { el.textContent = t; shown[id] = t; }
  }
  function setWidth(el, key, pct) {
    if (shown[key] !== pct) { el.style.width = pct; shown[key] = pct; }
  }

  // ---------------------------------------------------------------- the pushed state
  function render(state) {
    if (state.error) { setText("conn", "server: " + state.error); return; }
    if (dash.state && dash.state.run.session !== state.run.session) resetCharts();
    dash.state = state; dash.updates += 1;
    const p = state.progress, run = state.run;
    setText("run-name", run.name);
    setText("run-dir", run.dir);
    const title = "neunet: " + run.name + " " + p.finished + "/" + p.total;
    if (document.title !== title) document.title = title;
    const open = p.total - p.finished - p.failed;
    const word = run.stopping ? "stopping" : open === 0 ? (p.failed ? "done, with failures" : "done")
      : run.live || p.running ? "running" : "stopped";
    setText("run-status", word);
    $("run-status").className = "pill " + (word === "done, with failures" ? "failed" : word);
    for (const k of ["finished", "failed", "running", "queued", "total"]) setText("count-" + k, p[k]);
    const bar = $("progress-bar").children, total = Math.max(1, p.total);
    ["finished", "failed", "running"].forEach((k, i) => setWidth(bar[i], "bar-" + k, (100 * p[k] / total).toFixed(2) + "%"));
    setText("rate", state.rate === null ? "-" : fmtNum(+state.rate.toPrecision(3)));
    setText("elapsed", fmtS(state.elapsed_s));
    setText("eta", state.eta_s === null ? "-" : fmtS(state.eta_s));
    if (p.total && !dash.marks.counts) dash.marks.counts = performance.now();
    const dask = $("dask-link");
    if (run.dask_dashboard && dask.hidden) { dask.href = run.dask_dashboard; dask.hidden = false; dask.textContent = "Dask dashboard: " + run.dask_dashboard; }
    renderWorkers(state.workers);
    renderFailures(state.failures, p.failed);
    renderSweepControls(state.sweep);
    if (String(state.rev) + selection() !== sweepKey) fetchSweep();
    renderStream(state.stream);
  }

  function fillRows(body, rows, cls) {  // rows of cell texts, reusing the table's cells
    while (body.rows.length > rows.length) body.deleteRow(-1);
    rows.forEach((cells, i) => {
      const tr = body.rows[i] || body.insertRow();
      if (cls) tr.className = cls;
      cells.forEach((c, j) => {
        const td = tr.cells[j] || tr.insertCell(), text = String(c[0]);
        if (td.textContent !== text) td.textContent = text;
        if (c[1] && td.className !== c[1]) td.className = c[1];
      });
    });
  }

  function renderWorkers(workers) {
    fillRows($("workers").tBodies[0], workers.map((w) => [[w.name], [w.state, "state-" + w.state],
      [w.slots === null || w.slots === undefined ? w.busy : w.busy + " / " + w.slots], [w.done], [w.failed],
      [w.last_seen_s === null || w.last_seen_s === undefined ? "-" : fmtS(w.last_seen_s) + " ago"]]), "worker");
    $("workers-none").hidden = workers.length > 0;
  }

  function renderFailures(groups, n) {
    const key = JSON.stringify(groups);
    setText("failures-count", n ? "(" + n + ")" : "");
    if (shown.failures === key) return;
    shown.failures = key;
    const body = $("failures").tBodies[0];
    body.replaceChildren();
    for (const g of groups) {
      const tr = document.createElement("tr");
      cell(tr, g.count); cell(tr, g.failure_class); cell(tr, g.reason, "reason");
      const td = cell(tr, "");
      for (const tid of g.tids) { td.appendChild(tidLink(tid)); td.appendChild(document.createTextNode(" ")); }
      body.appendChild(tr);
    }
    $("failures-none").hidden = groups.length > 0;
  }

  // ---------------------------------------------------------------- task stream
  function renderStream(stream) {
    const key = stream.n_bars + ":" + stream.t_end + ":" + stream.lanes.length + ":" + stream.t0;
    if (key === streamKey || !visible.stream || document.hidden) return;  // drawn when seen
    const wait = STREAM_MIN_MS - (performance.now() - streamDrawnAt);
    if (wait > 0 && dash.state.progress.running > 0) {  // at most every STREAM_MIN_MS
      if (!streamTimer) streamTimer = setTimeout(() => { streamTimer = null; renderStream(dash.state.stream); }, wait);
      return;
    }
    streamKey = key;
    charts.stream.draw(stream);
    streamDrawnAt = performance.now();
    dash.streamDraws += 1;
    if (stream.n_bars && !dash.marks.stream) dash.marks.stream = performance.now();
  }

  // ---------------------------------------------------------------- sweep plot
  function selection() { return $("sweep-x").value + "|" + $("sweep-y").value + "|" + $("sweep-c").value; }

  function fillSelect(select, names, fallback, blank) {
    const want = [...(blank ? [""] : []), ...names];
    const have = [...select.options].map((o) => o.value);
    if (want.join("\n") === have.join("\n")) return;
    const keep = select.value;
    select.replaceChildren(...want.map((n) => new Option(n === "" ? "(none)" : n, n)));
    select.value = want.includes(keep) && keep !== "" ? keep : fallback;
  }

  function renderSweepControls(sweep) {
    const d = sweep.default || [sweep.params[0] || "", sweep.stats[0] || "", null];
    fillSelect($("sweep-x"), sweep.params, d[0], false);
    fillSelect($("sweep-y"), sweep.stats, d[1], false);
    fillSelect($("sweep-c"), sweep.params, d[2] || "", true);
    setText("sweep-note", sweep.params.length ? (dash.sweep ? finishedTasks(dash.sweep.n_tasks) : "")
      : "(no parameter varies between finished tasks yet)");
  }

  async function fetchSweep(event) {
    const x = $("sweep-x").value, y = $("sweep-y").value, c = $("sweep-c").value;
    if (!x || !y || sweepBusy || offline || (!event && (!visible.sweep || document.hidden))) return;
    const wait = SWEEP_MIN_MS - (performance.now() - sweepFetchedAt);
    if (!event && sweepKey && wait > 0 && dash.state.progress.running > 0) {
      if (!sweepTimer) sweepTimer = setTimeout(() => { sweepTimer = null; fetchSweep(); }, wait);
      return;  // while tasks run, at most every SWEEP_MIN_MS (a choice of axes: at once)
    }
    sweepFetchedAt = performance.now();
    sweepBusy = true;
    const key = String(dash.state.rev) + selection();
    try {
      const r = await fetch("/api/sweep?" + new URLSearchParams({x: x, y: y, c: c}).toString());
      const data = await r.json();
      if (r.ok) { drawSweep(data); sweepKey = key; }
    } catch (e) {
      setText("conn", "cannot load the sweep plot; retrying");  // the server went meanwhile
    } finally { sweepBusy = false; }
  }

  const finishedTasks = (n) => n + (n === 1 ? " finished task" : " finished tasks");

  function drawSweep(data) {
    dash.sweep = data;
    charts.sweep.draw(data);
    dash.sweepDraws += 1;
    setText("sweep-note", finishedTasks(data.n_tasks));
    if (data.n_tasks && !dash.marks.sweep) dash.marks.sweep = performance.now();
  }

  // ---------------------------------------------------------------- one task
  async function showTask(tid) {
    const r = await fetch("/api/task?" + new URLSearchParams({tid: tid}).toString());
    const d = await r.json();
    if (!r.ok) { setText("conn", d.error || "cannot load " + tid); return; }
    dash.task = d;
    $("task-panel").hidden = false;
    $("task-tid").textContent = d.tid;
    $("task-state").textContent = d.row.status;
    const row = d.row;
    $("task-info").textContent = [row.worker ? "worker " + row.worker : "", row.real_s !== null ? "took " + fmtNum(row.real_s) + " s" : "",
      "attempts " + row.attempts, row.failure_class ? row.failure_class + ": " + row.reason : ""].filter(Boolean).join("; ");
    const varying = new Set((dash.state && dash.state.sweep.params) || []);
    fillTable($("task-params"), Object.entries(d.params).sort((a, b) => varying.has(b[0]) - varying.has(a[0])), varying);
    fillTable($("task-summary"), Object.entries(d.summary), new Set());
    $("task-data").textContent = d.data || "";
    charts.raster.draw(d.raster);
    charts.voltage.draw(d.voltage);
    $("task-panel").scrollIntoView({behavior: "instant", block: "start"});
  }

  function fillTable(table, entries, bold) {
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const [k, v] of entries) {
      const tr = document.createElement("tr");
      if (bold.has(k)) tr.className = "varies";
      cell(tr, k); cell(tr, typeof v === "object" && v !== null ? JSON.stringify(v).slice(0, 120) : fmtNum(v));
      body.appendChild(tr);
    }
  }

  // ---------------------------------------------------------------- wiring
  function resetCharts() {  // another sweep's dashboard answered (a tab left open): start over
    streamKey = sweepKey = "";
    dash.sweep = null;
    charts.stream.clear();
    charts.sweep.clear();
    $("task-panel").hidden = true;
    dash.sessions = (dash.sessions || 0) + 1;
  }

  function watchVisibility() {  // charts out of sight are not redrawn (they are when seen)
    const seen = new IntersectionObserver((entries) => {
      for (const e of entries) visible[e.target.id] = e.isIntersecting;
      if (dash.state) render(dash.state);
    });
    seen.observe($("stream")); seen.observe($("sweep"));
    document.addEventListener("visibilitychange", () => { if (!document.hidden && dash.state) render(dash.state); });
  }

  function start() {
    for (const id of ["sweep-x", "sweep-y", "sweep-c"]) $(id).addEventListener("change", fetchSweep);
    $("task-close").addEventListener("click", () => { $("task-panel").hidden = true; });
    const legend = $("stream-legend");
    for (const [st, colour] of Object.entries(C.STATE_COLOURS)) {
      const span = document.createElement("span");
      span.innerHTML = "<i></i>"; span.firstChild.style.background = colour;
      span.appendChild(document.createTextNode(st));
      legend.appendChild(span);
    }
    watchVisibility();
    fetch("/api/state").then((r) => r.json()).then(render).catch(() => {});
    listen();
    // a page left (or kept in the back-forward cache) gives its connection back: a browser
    // has only six per server, and an open event stream holds one
    window.addEventListener("pagehide", () => { if (events) events.close(); events = null; });
    window.addEventListener("pageshow", (e) => { if (e.persisted) listen(); });
    dash.showTask = showTask;
  }

  let events = null;
  let offline = false;  // the event stream is down: the server is gone or restarting
  function listen() {
    events = new EventSource("/events");
    events.onmessage = (e) => render(JSON.parse(e.data));
    events.onopen = () => { offline = false; setText("conn", ""); };
    events.onerror = () => { goOffline(); setText("conn", "connection lost; retrying"); };
    events.addEventListener("bye", () => { goOffline(); setText("conn", "coordinator stopped"); });
  }
  // no fetches while the server is gone (they could only fail); the stream reconnects by itself
  function goOffline() {
    offline = true;
    if (sweepTimer) { clearTimeout(sweepTimer); sweepTimer = null; }
  }
  start();
})();
