// neunet dashboard: renders the state the server pushes (Server-Sent Events on /events),
// fetches the sweep plot (/api/sweep) when the run changed and a task's detail (/api/task).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const COLOURS = {simulating: "#1f77b4", filtering: "#17becf", pulling: "#9467bd",
                   finished: "#2ca02c", failed: "#d62728", assigned: "#bbbbbb",
                   "not-assigned": "#dddddd"};
  const PLOT_CONFIG = {displaylogo: false, responsive: true,
                       modeBarButtonsToRemove: ["sendDataToCloud", "select2d", "lasso2d"]};
  // What the page holds, readable by tests and curious users: window.neunetDash.
  const dash = window.neunetDash = {state: null, sweep: null, task: null, updates: 0,
                                     streamDraws: 0, sweepDraws: 0,
                                     nBars: () => barsDrawn, nPoints: () => pointsDrawn};
  let barsDrawn = 0, pointsDrawn = 0, streamKey = "", sweepKey = "", sweepBusy = false;
  let streamDrawnAt = -1e9, streamTimer = null;
  // Fewest milliseconds between two drawings of the task stream while tasks run.
  const STREAM_MIN_MS = 2000;
  // Fewest milliseconds between two fetches of the sweep plot while tasks run.
  const SWEEP_MIN_MS = 3000;
  let sweepFetchedAt = -1e9, sweepTimer = null;
  // Where plotly.min.js is served (named by the page: versioned, cached for good).
  const PLOTLY_SRC = document.currentScript.dataset.plotly;

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

  // ---------------------------------------------------------------- the pushed state
  function render(state) {
    if (state.error) { $("conn").textContent = "server: " + state.error; return; }
    if (dash.state && dash.state.run.session !== state.run.session) resetCharts();
    dash.state = state; dash.updates += 1;
    const p = state.progress, run = state.run;
    $("run-name").textContent = run.name;
    $("run-dir").textContent = run.dir;
    document.title = "neunet: " + run.name + " " + p.finished + "/" + p.total;
    const open = p.total - p.finished - p.failed;
    const status = $("run-status");
    status.textContent = run.stopping ? "stopping" : open === 0 ? (p.failed ? "done, with failures" : "done")
      : run.live || p.running ? "running" : "stopped";
    status.className = "pill " + (run.stopping ? "stopping" : open === 0 ? (p.failed ? "failed" : "done")
      : run.live || p.running ? "running" : "stopped");
    for (const k of ["finished", "failed", "running", "queued", "total"]) $("count-" + k).textContent = p[k];
    const bar = $("progress-bar").children, total = Math.max(1, p.total);
    bar[0].style.width = (100 * p.finished / total) + "%";
    bar[1].style.width = (100 * p.failed / total) + "%";
    bar[2].style.width = (100 * p.running / total) + "%";
    $("rate").textContent = state.rate === null ? "-" : fmtNum(+state.rate.toPrecision(3));
    $("elapsed").textContent = fmtS(state.elapsed_s);
    $("eta").textContent = state.eta_s === null ? "-" : fmtS(state.eta_s);
    const dask = $("dask-link");
    if (run.dask_dashboard) { dask.href = run.dask_dashboard; dask.hidden = false; dask.textContent = "Dask dashboard: " + run.dask_dashboard; }
    renderWorkers(state.workers);
    renderFailures(state.failures, p.failed);
    renderSweepControls(state.sweep);
    if (String(state.rev) + selection() !== sweepKey) fetchSweep();
    if (!window.Plotly) return;  // the charts follow once plotly.js has loaded
    renderStream(state.stream);
  }

  function renderWorkers(workers) {
    const body = $("workers").tBodies[0];
    body.replaceChildren();
    for (const w of workers) {
      const tr = document.createElement("tr");
      tr.className = "worker";
      cell(tr, w.name);
      cell(tr, w.state, "state-" + w.state);
      cell(tr, w.slots === null || w.slots === undefined ? String(w.busy) : w.busy + " / " + w.slots);
      cell(tr, w.done); cell(tr, w.failed);
      cell(tr, w.last_seen_s === null || w.last_seen_s === undefined ? "-" : fmtS(w.last_seen_s) + " ago");
      body.appendChild(tr);
    }
    $("workers-none").hidden = workers.length > 0;
  }

  function renderFailures(groups, n) {
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
    $("failures-count").textContent = n ? "(" + n + ")" : "";
  }

  // ---------------------------------------------------------------- task stream
  function renderStream(stream) {
    // One line trace per state, a thick segment per task (start, middle, end, gap): a handful
    // of SVG paths however many bars, so a watching browser costs the sweep little CPU.
    const key = stream.n_bars + ":" + stream.t_end + ":" + stream.lanes.length + ":" + stream.t0;
    if (key === streamKey) return;
    const wait = STREAM_MIN_MS - (performance.now() - streamDrawnAt);
    if (wait > 0 && dash.state.progress.running > 0) {  // at most every STREAM_MIN_MS
      if (!streamTimer) streamTimer = setTimeout(() => { streamTimer = null; renderStream(dash.state.stream); }, wait);
      return;
    }
    streamKey = key;
    const span = Math.max(stream.t_end, 1e-3), minW = span / 400, gap = span / 1000;
    const byState = {};
    for (const [lane, s, e, code, tid] of stream.bars) {
      const st = stream.states[code];
      const t = byState[st] || (byState[st] = {x: [], y: [], customdata: []});
      const end = e - s > 3 * gap ? e - gap : Math.max(e, s + minW);  // neighbours apart
      const name = stream.lanes[lane], info = [tid, e - s, s];
      t.x.push(s, (s + end) / 2, end, null);
      t.y.push(name, name, name, null);
      t.customdata.push(info, info, info, null);
    }
    const height = $("stream").clientHeight || 300;
    const width = Math.max(2, Math.min(24, 0.7 * (height - 60) / Math.max(1, stream.lanes.length)));
    const traces = Object.entries(byState).map(([st, t]) => ({
      type: "scatter", mode: "lines", name: st, x: t.x, y: t.y, customdata: t.customdata,
      line: {color: COLOURS[st] || "#888", width: width}, connectgaps: false,
      hovertemplate: "%{customdata[0]}<br>start %{customdata[2]:.2f} s, took %{customdata[1]:.3f} s<extra>" + st + "</extra>"}));
    const layout = {margin: {l: 140, r: 10, t: 10, b: 35}, showlegend: true, hovermode: "closest",
      legend: {orientation: "h", y: -0.2}, xaxis: {title: {text: "seconds since the first bar shown"}},
      yaxis: {type: "category", categoryarray: stream.lanes, autorange: "reversed"}, uirevision: "stream"};
    Plotly.react("stream", traces, layout, PLOT_CONFIG);
    barsDrawn = stream.bars.length;
    streamDrawnAt = performance.now();
    dash.streamDraws += 1;
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
    const swept = sweep.params.filter((p) => p !== "seed");  // a per-task seed: last choice
    fillSelect($("sweep-x"), sweep.params, swept[0] || sweep.params[0] || "", false);
    fillSelect($("sweep-y"), sweep.stats, sweep.stats[0] || "", false);
    fillSelect($("sweep-c"), sweep.params, swept[1] || "", true);
    $("sweep-note").textContent = sweep.params.length ? "" : "(no parameter varies between finished tasks yet)";
  }

  async function fetchSweep(event) {
    const x = $("sweep-x").value, y = $("sweep-y").value, c = $("sweep-c").value;
    if (!x || !y || sweepBusy) return;
    const wait = SWEEP_MIN_MS - (performance.now() - sweepFetchedAt);
    if (!event && sweepKey && wait > 0 && dash.state.progress.running > 0) {
      if (!sweepTimer) sweepTimer = setTimeout(() => { sweepTimer = null; fetchSweep(); }, wait);
      return;  // while tasks run, at most every SWEEP_MIN_MS (a choice of axes: at once)
    }
    sweepFetchedAt = performance.now();
    sweepBusy = true;
    const key = String(dash.state.rev) + selection();
    try {
      const q = new URLSearchParams({x: x, y: y, c: c});
      const r = await fetch("/api/sweep?" + q.toString());
      const data = await r.json();
      if (r.ok) { drawSweep(data); sweepKey = key; }
    } finally { sweepBusy = false; }
  }

  function drawSweep(data) {
    dash.sweep = data;
    if (!window.Plotly) return;  // drawn by startCharts
    const traces = data.series.map((s) => {
      const spread = s.n.some((n) => n > 1);
      return {type: "scatter", mode: "lines+markers", name: s.name === null ? data.y : data.colour + " = " + s.name,
        x: s.x, y: s.y, customdata: s.tid.map((t, i) => [t, s.n[i]]),
        error_y: spread ? {type: "data", symmetric: false, array: s.hi.map((h, i) => h - s.y[i]),
                           arrayminus: s.lo.map((l, i) => s.y[i] - l), thickness: 1, width: 2} : undefined,
        hovertemplate: data.x + " %{x}<br>" + data.y + " %{y}<br>%{customdata[1]} task(s), e.g. %{customdata[0]}<extra></extra>"};
    });
    const layout = {margin: {l: 60, r: 10, t: 10, b: 45}, xaxis: {title: {text: data.x + (data.x_binned ? " (binned)" : "")},
      type: data.categorical_x ? "category" : "-"}, yaxis: {title: {text: data.y}}, legend: {orientation: "v"},
      uirevision: data.x + data.y + data.colour, hovermode: "closest"};
    Plotly.react("sweep", traces, layout, PLOT_CONFIG);
    pointsDrawn = data.series.reduce((n, s) => n + s.x.length, 0);
    dash.sweepDraws += 1;
    $("sweep-note").textContent = data.n_tasks + " finished tasks";
  }

  // ---------------------------------------------------------------- one task
  async function showTask(tid) {
    if (!window.Plotly) return;
    const r = await fetch("/api/task?" + new URLSearchParams({tid: tid}).toString());
    const d = await r.json();
    if (!r.ok) { $("conn").textContent = d.error || "cannot load " + tid; return; }
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
    drawRaster(d.raster);
    drawVoltage(d.voltage);
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

  function drawRaster(r) {
    if (!r) { Plotly.purge("raster"); $("raster").hidden = true; return; }
    $("raster").hidden = false;
    Plotly.react("raster", [{type: "scatter", mode: "markers", x: r.t_ms, y: r.neuron,
      marker: {symbol: "line-ns-open", size: 8, color: "#222"}, hoverinfo: "x+y"}],
      {margin: {l: 50, r: 10, t: 30, b: 40}, title: {text: "raster: " + r.n_spikes + " spikes" + (r.shown < r.n_spikes ? " (" + r.shown + " shown)" : ""), font: {size: 13}},
       xaxis: {title: {text: "time (ms)"}}, yaxis: {title: {text: "neuron"}}}, PLOT_CONFIG);
  }

  function drawVoltage(v) {
    if (!v) { Plotly.purge("voltage"); $("voltage").hidden = true; return; }
    $("voltage").hidden = false;
    Plotly.react("voltage", v.traces.map((t) => ({type: "scatter", mode: "lines", x: t.t_ms, y: t.v,
      name: "neuron " + t.neuron, line: {width: 1}})),
      {margin: {l: 50, r: 10, t: 30, b: 40}, title: {text: "voltage (" + v.traces.length + " of " + v.n_neurons + " neurons)", font: {size: 13}},
       xaxis: {title: {text: "time (ms)"}}, yaxis: {title: {text: "V"}}}, PLOT_CONFIG);
  }

  // ---------------------------------------------------------------- wiring
  function resetCharts() {  // another sweep's dashboard answered (a tab left open)
    streamKey = sweepKey = "";
    dash.sweep = null;
    barsDrawn = pointsDrawn = 0;
    $("task-panel").hidden = true;
    if (window.Plotly) { Plotly.react("stream", [], {margin: {t: 10}}); Plotly.react("sweep", [], {margin: {t: 10}}); }
    dash.sessions = (dash.sessions || 0) + 1;
  }

  function startCharts() {  // once plotly.js has run (it loads after this script)
    Plotly.newPlot("stream", [], {margin: {t: 10}}, PLOT_CONFIG);
    Plotly.newPlot("sweep", [], {margin: {t: 10}}, PLOT_CONFIG);
    $("stream").on("plotly_click", (ev) => { if (ev.points.length) showTask(ev.points[0].customdata[0]); });
    $("sweep").on("plotly_click", (ev) => { if (ev.points.length) showTask(ev.points[0].customdata[0]); });
    streamKey = "";  // the charts are empty again: draw them from the state
    barsDrawn = pointsDrawn = 0;
    if (dash.sweep) drawSweep(dash.sweep);
    if (dash.state) render(dash.state);
  }

  function loadPlotly() {  // after the figures are shown: compiling plotly.js takes a while
    if (window.Plotly || document.getElementById("plotly-js")) return;
    const script = document.createElement("script");
    script.id = "plotly-js";
    script.src = PLOTLY_SRC;
    script.addEventListener("load", startCharts);
    document.head.appendChild(script);
  }

  function start() {
    for (const id of ["sweep-x", "sweep-y", "sweep-c"]) $(id).addEventListener("change", fetchSweep);
    $("task-close").addEventListener("click", () => { $("task-panel").hidden = true; });
    fetch("/api/state").then((r) => r.json()).then(render).catch(() => {})
      .finally(() => setTimeout(loadPlotly, 0));
    const events = new EventSource("/events");
    events.onmessage = (e) => render(JSON.parse(e.data));
    events.onopen = () => { $("conn").textContent = ""; };
    events.onerror = () => { $("conn").textContent = "connection lost; retrying"; };
    dash.showTask = showTask;
  }
  start();
})();
