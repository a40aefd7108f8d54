// neunet dashboard charts, drawn with uPlot on canvases (a redraw costs milliseconds): the task
// stream, the sweep plot, a task's raster and voltage. window.neunetCharts.
"use strict";
(function () {
  // Colour of each task state, and of the sweep plot's colour groups.
  const STATE_COLOURS = {simulating: "#1f77b4", filtering: "#17becf", pulling: "#9467bd",
    finished: "#2ca02c", failed: "#d62728", assigned: "#bbbbbb", "not-assigned": "#dddddd"};
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  // CSS pixels within which a click or hover picks the nearest point.
  const PICK_PX = 20;
  const AXIS = {stroke: "#444", grid: {stroke: "#eee", width: 1}, ticks: {stroke: "#ccc", width: 1}};
  // A series that draws nothing (charts drawn by a hook still need one for their y scale).
  const NOTHING = {stroke: "transparent", points: {show: false}, paths: () => null};

  function fmt(v) {
    if (typeof v !== "number") return String(v);
    return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : String(+v.toPrecision(6));
  }

  function make(el, opts, data) {  // a uPlot as wide as `el` (followed), as high as it was
    const u = new uPlot(Object.assign({width: el.clientWidth || 600, height: el.clientHeight || 300}, opts), data, el);
    const follow = new ResizeObserver(() => {
      const w = el.clientWidth;
      if (w && w !== u.width) u.setSize({width: w, height: u.height});
    });
    follow.observe(el);
    const destroy = u.destroy.bind(u);
    u.destroy = () => { follow.disconnect(); destroy(); };
    return u;
  }

  function clip(u) {  // draw inside the plotting area only
    const ctx = u.ctx, b = u.bbox;
    ctx.save(); ctx.beginPath(); ctx.rect(b.left, b.top, b.width, b.height); ctx.clip();
    return ctx;
  }

  function tip(el) {  // a hover note over a chart
    const div = document.createElement("div");
    div.className = "tip"; div.hidden = true;
    el.appendChild(div);
    return (text, left, top) => {
      if (!text) { div.hidden = true; return; }
      div.textContent = text; div.hidden = false;
      div.style.left = (left + 12) + "px"; div.style.top = (top + 12) + "px";
    };
  }

  // ---------------------------------------------------------------- task stream
  function stream(el, onPick) {
    let data = {lanes: [], bars: [], states: [], t_end: 1}, zoomed = false;
    const pad = () => ({lo: 0, hi: Math.max(1, data.lanes.length)});
    const laneY = (lane) => data.lanes.length - lane - 0.5;  // lane 0 at the top
    const u = make(el, {
      legend: {show: false}, cursor: {y: false, points: {show: false}, drag: {x: true, y: false}},
      scales: {x: {time: false}, y: {range: () => [pad().lo, pad().hi]}},
      series: [{}, NOTHING],
      axes: [Object.assign({label: "seconds since the first bar shown", size: 40, labelSize: 18}, AXIS),
        Object.assign({size: 150, splits: () => data.lanes.map((_, i) => laneY(i)),
          values: (_, splits) => splits.map((v) => data.lanes[data.lanes.length - 1 - Math.floor(v)] || "")}, AXIS)],
      hooks: {draw: [drawBars], setSelect: [() => { zoomed = true; }]},
    }, [[0, 1], [0, 1]]);
    u.over.addEventListener("dblclick", () => { zoomed = false; });
    const note = tip(el);
    u.over.addEventListener("mousemove", () => {
      const b = barAt(u.cursor.left, u.cursor.top);
      note(b && b[4] + " — " + data.states[b[3]] + ", took " + fmt(b[2] - b[1]) + " s, started " + fmt(b[1]) + " s",
           u.cursor.left + u.bbox.left / uPlot.pxRatio, u.cursor.top);
    });
    u.over.addEventListener("mouseleave", () => note(null));
    u.over.addEventListener("click", () => {
      const b = barAt(u.cursor.left, u.cursor.top);
      if (b) onPick(b[4]);
    });

    function drawBars(u) {
      const ctx = clip(u), px = uPlot.pxRatio, n = Math.max(1, data.lanes.length);
      const h = Math.max(2 * px, Math.min(24 * px, 0.7 * u.bbox.height / n));
      const minW = 1.5 * px, gap = 2 * px;  // back-to-back tasks stay apart
      const byState = {};
      for (const b of data.bars) (byState[b[3]] || (byState[b[3]] = [])).push(b);
      for (const [code, bars] of Object.entries(byState)) {
        ctx.fillStyle = STATE_COLOURS[data.states[code]] || "#888";
        for (const b of bars) {
          const x0 = u.valToPos(b[1], "x", true), x1 = u.valToPos(b[2], "x", true);
          const y = u.valToPos(laneY(b[0]), "y", true);
          const w = x1 - x0 > 3 * gap ? x1 - x0 - gap : Math.max(x1 - x0, minW);  // neighbours apart
          ctx.fillRect(x0, y - h / 2, w, h);
        }
      }
      ctx.restore();
    }

    function barAt(left, top) {  // the bar under a point of the plotting area (CSS px)
      if (left < 0 || !data.bars.length) return null;
      const lane = data.lanes.length - 1 - Math.floor(u.posToVal(top, "y"));
      let best = null, bestD = 4;
      for (const b of data.bars) {
        if (b[0] !== lane) continue;
        const x0 = u.valToPos(b[1], "x"), x1 = Math.max(u.valToPos(b[2], "x"), x0 + 1.5);
        const d = left < x0 ? x0 - left : left > x1 ? left - x1 : 0;
        if (d < bestD) { best = b; bestD = d; }
      }
      return best;
    }

    return {
      draw(s) {
        data = s;
        u.setData([[0, Math.max(s.t_end, 1e-3)], [0, 1]], !zoomed);
      },
      clear() { zoomed = false; this.draw({lanes: [], bars: [], states: [], t_end: 1}); },
      nBars: () => data.bars.length,
      centreOf(state) {  // offset of a bar's middle from the chart's centre (for a real click)
        const code = data.states.indexOf(state);
        const b = data.bars.find((b) => b[3] === code);
        if (!b) return null;
        const over = u.over.getBoundingClientRect(), box = el.getBoundingClientRect();
        const x = over.left + (u.valToPos(b[1], "x") + Math.max(u.valToPos(b[2], "x"), u.valToPos(b[1], "x") + 1.5)) / 2;
        const y = over.top + u.valToPos(laneY(b[0]), "y");
        return [Math.round(x - box.left - box.width / 2), Math.round(y - box.top - box.height / 2), b[4]];
      },
    };
  }

  // ---------------------------------------------------------------- sweep plot
  function sweep(el, onPick) {
    let u = null, points = [], n = 0;
    const note = tip(el);

    function build(d) {  // aligned columns of every colour group, with their ranges and tasks
      const cats = d.categorical_x ? [...new Set(d.series.flatMap((s) => s.x))].sort() : null;
      const xOf = (x) => cats ? cats.indexOf(x) : x;
      const xs = [...new Set(d.series.flatMap((s) => s.x.map(xOf)))].sort((a, b) => a - b);
      const at = new Map(xs.map((x, i) => [x, i]));
      const cols = [xs], extra = [];
      for (const s of d.series) {
        const y = new Array(xs.length).fill(null), e = new Array(xs.length).fill(null);
        s.x.forEach((x, i) => { const k = at.get(xOf(x)); y[k] = s.y[i]; e[k] = [s.lo[i], s.hi[i], s.n[i], s.tid[i]]; });
        cols.push(y); extra.push(e);
      }
      return {cats, cols, extra};
    }

    function options(d, b) {
      const lo = Math.min(...d.series.flatMap((s) => s.lo.filter((v) => v !== null)));
      const hi = Math.max(...d.series.flatMap((s) => s.hi.filter((v) => v !== null)));
      const x = Object.assign({label: d.x + (d.x_binned ? " (binned)" : ""), size: 40, labelSize: 18}, AXIS);
      if (b.cats) Object.assign(x, {splits: () => b.cats.map((_, i) => i), values: (_, s) => s.map((v) => b.cats[v])});
      const legend = d.series.length > 1 || d.series[0].name !== null;
      return {
        height: (el.clientHeight || 300) - (legend ? 40 : 0), legend: {show: legend, live: false},
        cursor: {points: {show: false}, drag: {x: true, y: true}},
        scales: {x: b.cats ? {time: false, range: () => [-0.5, b.cats.length - 0.5]} : {time: false},
                 y: {range: (_, mn, mx) => uPlot.rangeNum(Math.min(mn, lo), Math.max(mx, hi), 0.1, true)}},
        series: [{}].concat(d.series.map((s, i) => ({label: s.name === null ? d.y : d.colour + " = " + s.name,
          stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true,
          points: {show: true, size: 6, fill: PALETTE[i % PALETTE.length]}}))),
        axes: [x, Object.assign({label: d.y, size: 60, labelSize: 18}, AXIS)],
        hooks: {draw: [(u) => whiskers(u, b.extra)]},
      };
    }

    function whiskers(u, extra) {  // each point's range over its tasks
      const ctx = clip(u), px = uPlot.pxRatio;
      extra.forEach((col, k) => {
        if (!u.series[k + 1].show) return;
        ctx.strokeStyle = PALETTE[k % PALETTE.length]; ctx.lineWidth = px;
        ctx.beginPath();
        col.forEach((e, i) => {
          if (!e || e[2] < 2 || e[0] === null) return;
          const x = u.valToPos(u.data[0][i], "x", true);
          ctx.moveTo(x, u.valToPos(e[0], "y", true)); ctx.lineTo(x, u.valToPos(e[1], "y", true));
          ctx.moveTo(x - 2 * px, u.valToPos(e[0], "y", true)); ctx.lineTo(x + 2 * px, u.valToPos(e[0], "y", true));
          ctx.moveTo(x - 2 * px, u.valToPos(e[1], "y", true)); ctx.lineTo(x + 2 * px, u.valToPos(e[1], "y", true));
        });
        ctx.stroke();
      });
      ctx.restore();
    }

    function nearest(left, top) {  // [series, index] of the point nearest a cursor position
      let best = null, bestD = PICK_PX;
      for (let k = 1; u && k < u.series.length; k++) {
        if (!u.series[k].show) continue;
        u.data[k].forEach((y, i) => {
          if (y === null) return;
          const d = Math.hypot(u.valToPos(u.data[0][i], "x") - left, u.valToPos(y, "y") - top);
          if (d < bestD) { best = [k, i]; bestD = d; }
        });
      }
      return best;
    }

    function attach(b, d) {
      u.over.addEventListener("mousemove", () => {
        const p = nearest(u.cursor.left, u.cursor.top), e = p && b.extra[p[0] - 1][p[1]];
        note(e && d.x + " " + (b.cats ? b.cats[u.data[0][p[1]]] : fmt(u.data[0][p[1]])) + ", " + d.y + " " + fmt(u.data[p[0]][p[1]]) +
          " (" + e[2] + " task" + (e[2] > 1 ? "s, e.g. " : " ") + e[3] + ")", u.cursor.left + u.bbox.left / uPlot.pxRatio, u.cursor.top);
      });
      u.over.addEventListener("mouseleave", () => note(null));
      u.over.addEventListener("click", () => {
        const p = nearest(u.cursor.left, u.cursor.top);
        if (p) onPick(b.extra[p[0] - 1][p[1]][3]);
      });
    }

    return {
      draw(d) {
        const b = build(d);
        n = d.series.reduce((m, s) => m + s.x.length, 0);
        const shape = JSON.stringify([d.x, d.y, d.colour, d.categorical_x, d.x_binned, d.series.map((s) => s.name), b.cats]);
        if (u && shape === points) { u.setData(b.cols); return; }  // same axes and groups: new values only
        if (u) u.destroy();
        points = shape;
        if (!d.series.length) { u = null; return; }
        u = make(el, options(d, b), b.cols);
        attach(b, d);
      },
      clear() { if (u) u.destroy(); u = null; points = []; n = 0; },
      nPoints: () => n,
    };
  }

  // ---------------------------------------------------------------- one task
  function raster(el) {
    let r = null, u = null;
    function ticks(u) {
      if (!r) return;
      const ctx = clip(u), px = uPlot.pxRatio, h = Math.max(2 * px, Math.min(8 * px, 0.8 * u.bbox.height / Math.max(1, r.span)));
      ctx.fillStyle = "#222";
      for (let i = 0; i < r.t_ms.length; i++) {
        ctx.fillRect(u.valToPos(r.t_ms[i], "x", true), u.valToPos(r.neuron[i], "y", true) - h / 2, px, h);
      }
      ctx.restore();
    }
    return {
      draw(d) {
        r = d;
        if (u) u.destroy();
        u = null;
        el.hidden = !d;
        if (!d) return;
        const tLo = Math.min(...d.t_ms), tHi = Math.max(...d.t_ms), nLo = Math.min(...d.neuron), nHi = Math.max(...d.neuron);
        r.span = nHi - nLo + 1;
        u = make(el, {height: (el.clientHeight || 260) - 30, title: "raster: " + d.n_spikes + " spikes" + (d.shown < d.n_spikes ? " (" + d.shown + " shown)" : ""),
          legend: {show: false}, cursor: {points: {show: false}}, scales: {x: {time: false}, y: {range: () => [nLo - 0.5, nHi + 0.5]}},
          series: [{}, NOTHING], axes: [Object.assign({label: "time (ms)", size: 40, labelSize: 18}, AXIS),
            Object.assign({label: "neuron", size: 50, labelSize: 18}, AXIS)], hooks: {draw: [ticks]}},
        [[tLo, tHi > tLo ? tHi : tLo + 1], [nLo, nHi]]);
      },
      drawn: () => (r && u ? r.t_ms.length : 0),
    };
  }

  function voltage(el) {
    let u = null, n = 0;
    return {
      draw(v) {
        if (u) u.destroy();
        u = null; n = 0;
        el.hidden = !v;
        if (!v || !v.traces.length) return;
        const data = uPlot.join(v.traces.map((t) => [t.t_ms, t.v]));
        u = make(el, {height: (el.clientHeight || 260) - 60, title: "voltage (" + v.traces.length + " of " + v.n_neurons + " neurons)",
          scales: {x: {time: false}}, cursor: {points: {show: false}},
          series: [{label: "t (ms)"}].concat(v.traces.map((t, i) => ({label: "neuron " + t.neuron,
            stroke: PALETTE[i % PALETTE.length], width: 1, spanGaps: true, points: {show: false}}))),
          axes: [Object.assign({label: "time (ms)", size: 40, labelSize: 18}, AXIS),
            Object.assign({label: "V", size: 50, labelSize: 18}, AXIS)]}, data);
        n = v.traces.length;
      },
      drawn: () => n,
    };
  }

  window.neunetCharts = {stream, sweep, raster, voltage, STATE_COLOURS};
})();
