/* tpe-plugins report: unpacks plotly.js, then draws linked figures and a sortable table from
   the JSON in #report-data. Plain JavaScript, no other dependency. */
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const main = document.getElementById("report");
  const several = D.metrics.length > 1;
  const KEY = "tpe-report:" + location.pathname;
  const saved = JSON.parse(sessionStorage.getItem(KEY) || "{}");
  let objective = Math.min(saved.objective || 0, D.metrics.length - 1);
  let selection = null; // Set of trial ids chosen in a figure, or null for all
  const finished = D.trials.filter((t) => t.value !== null);
  const GREY = "#bbbbbb", BLUE = "#1f77b4", RED = "#d62728", ORANGE = "#ff7f0e";
  const config = {responsive: true, displaylogo: false};

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(5);
    return String(v);
  }
  function tag(t) { return "trial " + t.id + (t.label ? " (" + t.label + ")" : ""); }
  function hover(t) {
    const lines = ["<b>" + tag(t) + "</b> · " + t.state];
    if (t.value) D.metrics.forEach((m, j) => lines.push(m + " = " + fmt(t.value[j])));
    if (t.feasible === false) lines.push("infeasible");
    for (const p of D.params) lines.push(p.name + " = " + fmt(t.params[p.name]));
    return lines.join("<br>");
  }
  const HT = "%{hovertext}<extra></extra>";
  const better = (a, b) => (D.modes[objective] === "min" ? a < b : a > b);
  const val = (t) => t.value[objective];
  const metric = () => D.metrics[objective] + " (" + D.modes[objective] + ")";

  /* ------------------------------------------------------------------ layout of the page */
  function header() {
    main.innerHTML = "";
    const h = el("h1", {}, "Search report ");
    const s = el("span", {class: "status " + (D.live ? "live" : "finished"), id: "status"},
      D.live ? "live: refreshes every " + D.refresh_s + " s" : "finished");
    h.appendChild(s);
    main.appendChild(h);
    const counts = Object.entries(D.states).map(([k, n]) => n + " " + k).join(", ");
    main.appendChild(el("p", {}, "Source: " + D.source + ". " + D.trials.length +
      " trials (" + counts + "). Objective" + (several ? "s: " : ": ") +
      D.metrics.map((m, j) => m + " (" + D.modes[j] + ")").join(", ") +
      ". Updated " + D.updated + "."));
    const best = D.trials.find((t) => t.best);
    if (best) main.appendChild(el("p", {id: "best"}, "Best: " + D.metrics[0] + " = " +
      fmt(best.value[0]) + ", " + tag(best) + ": " +
      D.params.map((p) => p.name + "=" + fmt(best.params[p.name])).join(", ")));
    if (several) main.appendChild(el("p", {id: "best"}, D.trials.filter((t) => t.front).length +
      " trials on the Pareto front (red)" + (D.constraints ? ", feasible ones only" : "") + "."));
    const notes = [...D.notes];
    if (Object.keys(D.constants).length) notes.push("constants (not parameters): " +
      Object.entries(D.constants).map(([k, v]) => k + "=" + fmt(v)).join(", "));
    if (notes.length) main.appendChild(el("p", {class: "note"}, notes.join(". ") + "."));
    if (several) {
      const p = el("p", {}, "Show objective: ");
      const sel = el("select", {id: "objective"});
      D.metrics.forEach((m, j) => { const o = el("option", {value: j}, m); sel.appendChild(o); });
      sel.value = objective;
      sel.addEventListener("change", () => { objective = +sel.value; remember(); drawAll(); });
      p.appendChild(sel);
      p.appendChild(el("span", {class: "note"},
        " (history, importance, parallel coordinates, slices and curves)"));
      main.appendChild(p);
    }
  }
  function section(id, title, note) {
    main.appendChild(el("h2", {}, title));
    if (note) main.appendChild(el("p", {class: "note"}, note));
    const div = el("div", {id: id, class: "fig"});
    main.appendChild(div);
    return div;
  }

  /* ------------------------------------------------------------------ figures */
  function paretoFigure() {
    const ok = finished.filter((t) => t.feasible !== false);
    const bad = finished.filter((t) => t.feasible === false);
    const m = D.metrics.length;
    const lab = (j) => D.metrics[j] + " (" + D.modes[j] + ")";
    if (m === 2) {
      const dom = ok.filter((t) => !t.front), fr = ok.filter((t) => t.front)
        .sort((a, b) => a.value[0] - b.value[0]);
      const pts = (ts, name, color, extra) => Object.assign({type: "scatter", mode: "markers",
        name: name, x: ts.map((t) => t.value[0]), y: ts.map((t) => t.value[1]),
        hovertext: ts.map(hover), hovertemplate: HT, customdata: ts.map((t) => t.id),
        marker: {color: color, size: 8}}, extra || {});
      const traces = [pts(dom, "dominated", GREY),
        pts(fr, "Pareto front", RED, {mode: "lines+markers",
        line: {shape: D.modes[0] === "min" ? "hv" : "vh", width: 1}})];
      if (bad.length) traces.push(pts(bad, "infeasible", GREY,
        {marker: {color: GREY, size: 8, symbol: "x-thin", line: {width: 2, color: "#888"}}}));
      return [traces, {xaxis: {title: {text: lab(0)}}, yaxis: {title: {text: lab(1)}},
        margin: {t: 20}, height: 430, hovermode: "closest"}];
    }
    const all = ok.concat(bad);
    const trace = {type: "splom", dimensions: D.metrics.map((name, j) => ({label: lab(j),
      values: all.map((t) => t.value[j])})), hovertext: all.map(hover), hovertemplate: HT,
      customdata: all.map((t) => t.id), diagonal: {visible: false}, showupperhalf: false,
      marker: {size: 7, color: all.map((t) => (t.feasible === false ? "#dddddd" :
        t.front ? RED : GREY)), symbol: all.map((t) => (t.feasible === false ? "x" : "circle"))}};
    return [[trace], {height: 220 * m, margin: {t: 20}, hovermode: "closest",
      dragmode: "select"}];
  }
  function historyFigure() {
    const groups = [["complete", BLUE, "circle"], ["stopped", ORANGE, "triangle-down"],
      ["pruned", ORANGE, "triangle-down"], ["running", "#9467bd", "circle-open"],
      ["paused", "#9467bd", "circle-open"]];
    const traces = [];
    const feas = finished.filter((t) => t.feasible !== false);
    for (const [state, color, symbol] of groups) {
      const ts = feas.filter((t) => t.state === state);
      if (ts.length) traces.push(scatterOf(ts, (t) => t.id, state, {color: color,
        symbol: symbol, size: 7}));
    }
    const bad = finished.filter((t) => t.feasible === false);
    if (bad.length) traces.push(scatterOf(bad, (t) => t.id, "infeasible",
      {color: GREY, symbol: "x", size: 7}));
    const bx = [], by = [];
    let b = null;
    for (const t of [...feas].sort((p, q) => p.id - q.id)) {
      if (b === null || better(val(t), b)) b = val(t);
      bx.push(t.id); by.push(b);
    }
    traces.push({type: "scatter", mode: "lines", name: "best so far", x: bx, y: by,
      line: {shape: "hv", color: RED}, hoverinfo: "skip"});
    return [traces, {xaxis: {title: {text: "trial"}, zeroline: false}, yaxis: {title: {text: metric()}},
      margin: {t: 20}, height: 360, hovermode: "closest"}];
  }
  function scatterOf(ts, x, name, marker, extra) {
    return Object.assign({type: "scatter", mode: "markers", name: name, x: ts.map(x),
      y: ts.map(val), hovertext: ts.map(hover), hovertemplate: HT,
      customdata: ts.map((t) => t.id), marker: marker,
      selected: {marker: {color: RED, size: 9}}, unselected: {marker: {opacity: 0.15}}},
    extra || {});
  }
  function importanceFigure(div) {
    if (D.importance.error) {
      div.classList.remove("fig");
      div.appendChild(el("p", {class: "error", id: "importance-missing"}, D.importance.error));
      return null;
    }
    const scores = D.importance.scores[objective];
    const names = Object.keys(scores).sort((a, b) => scores[a] - scores[b]);
    return [[{type: "bar", orientation: "h", y: names, x: names.map((n) => scores[n]),
      text: names.map((n) => (100 * scores[n]).toFixed(1) + "%"), textposition: "auto",
      hovertemplate: "%{y}: %{x:.1%} of the variance explained alone<extra></extra>",
      marker: {color: BLUE}}],
    {xaxis: {title: {text: "share of importance (fANOVA main effects, random forest)"},
      tickformat: ".0%"}, margin: {t: 20, l: 140}, height: 90 + 30 * names.length}];
  }
  function axisValues(p, ts) {
    if (p.kind === "num") {
      return {values: ts.map((t) => { const v = t.params[p.name];
        return v === null || v === undefined ? NaN : (p.log ? Math.log10(v) : v); }),
      label: p.name + (p.log ? " (log10)" : "")};
    }
    return {values: ts.map((t) => p.levels.indexOf(fmt(t.params[p.name]))),
      tickvals: p.levels.map((_, i) => i), ticktext: p.levels, label: p.name};
  }
  function parcoordsFigure() {
    const ts = finished.filter((t) => t.feasible !== false);
    const dims = D.params.map((p) => axisValues(p, ts));
    dims.push({label: D.metrics[objective], values: ts.map(val)});
    const reverse = D.modes[objective] === "max";
    return [[{type: "parcoords", dimensions: dims, line: {color: ts.map(val),
      colorscale: "Viridis", reversescale: !reverse, showscale: true,
      colorbar: {title: {text: D.metrics[objective]}}}, ids: ts.map((t) => String(t.id))}],
    {margin: {t: 50, l: 70, r: 40}, height: 420}, ts];
  }
  function slicesFigure() {
    const n = D.params.length, cols = Math.min(3, n), rows = Math.ceil(n / cols);
    const layout = {height: 260 * rows + 40, margin: {t: 30}, showlegend: false,
      hovermode: "closest", dragmode: "select", annotations: []};
    const traces = [];
    const gap = 0.06, w = (1 - gap * (cols - 1)) / cols, h = (1 - 0.12 * (rows - 1)) / rows;
    D.params.forEach((p, i) => {
      const r = Math.floor(i / cols), c = i % cols, k = i === 0 ? "" : String(i + 1);
      const ts = finished.filter((t) => t.params[p.name] !== null &&
        t.params[p.name] !== undefined);
      const x0 = c * (w + gap), y1 = 1 - r * (h + 0.12);
      layout["xaxis" + k] = {domain: [x0, x0 + w], anchor: "y" + k,
        type: p.kind === "cat" ? "category" : (p.log ? "log" : "linear"),
        categoryorder: "array", categoryarray: p.levels};
      layout["yaxis" + k] = {domain: [Math.max(0, y1 - h), y1], anchor: "x" + k,
        title: c === 0 ? {text: D.metrics[objective]} : undefined};
      layout.annotations.push({text: "<b>" + p.name + "</b>", xref: "paper", yref: "paper",
        x: x0 + w / 2, y: y1, yanchor: "bottom", showarrow: false});
      traces.push(scatterOf(ts, (t) => (p.kind === "cat" ? fmt(t.params[p.name]) :
        t.params[p.name]), p.name, {size: 7, color: ts.map((t) => t.id),
        colorscale: "Blues", cmin: -0.3 * D.trials.length, cmax: D.trials.length,
        symbol: ts.map((t) => (t.feasible === false ? "x" : "circle"))},
      {xaxis: "x" + k, yaxis: "y" + k}));
    });
    return [traces, layout];
  }
  function curvesFigure() {
    const ts = D.trials.filter((t) => t.curve.length > 0);
    const best = new Set([...finished].filter((t) => t.feasible !== false)
      .sort((a, b) => (better(val(a), val(b)) ? -1 : 1)).slice(0, 5).map((t) => t.id));
    const traces = ts.map((t) => {
      const stopped = t.state === "stopped" || t.state === "pruned";
      const n = t.curve.length;
      return {type: "scatter", mode: "lines+markers", name: tag(t),
        x: t.curve.map((p) => p[0]), y: t.curve.map((p) => p[1]),
        hovertext: t.curve.map((p) => hover(t) + "<br>step " + p[0] + ": " + fmt(p[1])),
        hovertemplate: HT, customdata: t.curve.map(() => t.id),
        line: {width: best.has(t.id) ? 2.5 : 1, dash: stopped ? "dot" : "solid",
          color: best.has(t.id) ? RED : (stopped ? ORANGE : BLUE)},
        opacity: best.has(t.id) ? 1 : 0.55,
        marker: {size: t.curve.map((_, i) => (i === n - 1 && stopped ? 10 : 3)),
          symbol: t.curve.map((_, i) => (i === n - 1 && stopped ? "x" : "circle"))}};
    });
    const shapes = D.rungs.map((r) => ({type: "line", x0: r, x1: r, yref: "paper", y0: 0,
      y1: 1, line: {dash: "dash", color: "#999", width: 1}}));
    return [traces, {showlegend: false, shapes: shapes, hovermode: "closest",
      xaxis: {title: {text: "step" + (D.rungs.length ? " (dashed: rungs)" : "")}},
      yaxis: {title: {text: D.metrics[0]}}, margin: {t: 20}, height: 400}];
  }
  function rungsFigure() {
    const at = (t, r) => { let v = null; for (const [s, y] of t.curve) if (s <= r) v = y;
      return v; };
    const reached = (t) => (t.curve.length ? t.curve[t.curve.length - 1][0] : 0);
    const go = {x: [], y: [], hovertext: [], customdata: []};
    const stop = {x: [], y: [], hovertext: [], customdata: []};
    D.rungs.forEach((r, i) => {
      const next = i + 1 < D.rungs.length ? D.rungs[i + 1] : Infinity;
      for (const t of D.trials) {
        if (reached(t) < r) continue;
        const v = at(t, r);
        if (v === null) continue;
        const g = t.state === "stopped" && reached(t) < next ? stop : go;
        g.x.push("rung " + r); g.y.push(v); g.customdata.push(t.id);
        g.hovertext.push(hover(t) + "<br>at step " + r + ": " + fmt(v));
      }
    });
    const mk = (g, name, color, symbol) => Object.assign({type: "box", name: name,
      boxpoints: "all", jitter: 0.5, pointpos: 0, fillcolor: "rgba(0,0,0,0)",
      line: {color: "rgba(0,0,0,0)"}, marker: {color: color, symbol: symbol, size: 8},
      hovertemplate: HT}, g);
    return [[mk(go, "went on", BLUE, "circle"), mk(stop, "stopped here", ORANGE, "x")],
      {boxmode: "group", yaxis: {title: {text: D.metrics[0]}}, margin: {t: 20}, height: 360,
        hovermode: "closest"}];
  }

  /* ------------------------------------------------------------------ table */
  let sortKey = "id", sortDir = 1;
  function columns() {
    const cols = [{key: "id", name: "trial", get: (t) => t.id}];
    if (D.trials.some((t) => t.label)) cols.push({key: "label", name: "Tune id",
      get: (t) => t.label, text: true});
    cols.push({key: "state", name: "state", get: (t) => t.state, text: true});
    D.metrics.forEach((m, j) => cols.push({key: "m" + j, name: m,
      get: (t) => (t.value ? t.value[j] : null)}));
    if (several) cols.push({key: "front", name: "front", get: (t) => (t.front ? "yes" : ""),
      text: true});
    if (D.constraints) cols.push({key: "feasible", name: "feasible",
      get: (t) => (t.feasible ? "yes" : "no"), text: true});
    for (const p of D.params) cols.push({key: "p:" + p.name, name: p.name,
      get: (t) => t.params[p.name], text: p.kind === "cat"});
    return cols;
  }
  function drawTable(wrap) {
    const cols = columns();
    const rows = D.trials.filter((t) => selection === null || selection.has(t.id));
    const col = cols.find((c) => c.key === sortKey) || cols[0];
    rows.sort((a, b) => {
      const x = col.get(a), y = col.get(b);
      if (x === y) return a.id - b.id;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * sortDir;
    });
    const table = el("table", {id: "trials"});
    const head = el("tr");
    for (const c of cols) {
      const th = el("th", {"data-key": c.key}, c.name);
      if (c.key === sortKey) th.className = sortDir > 0 ? "asc" : "desc";
      th.addEventListener("click", () => {
        sortDir = sortKey === c.key ? -sortDir : 1; sortKey = c.key; drawTable(wrap);
      });
      head.appendChild(th);
    }
    table.appendChild(head);
    for (const t of rows) {
      const tr = el("tr", {"data-id": t.id, class: t.front || t.best ? "front" : ""});
      for (const c of cols) tr.appendChild(el("td", {class: c.text ? "t" : ""}, fmt(c.get(t))));
      table.appendChild(tr);
    }
    wrap.innerHTML = "";
    const info = el("p", {class: "note", id: "selection-info"}, selection === null ?
      "All " + D.trials.length + " trials; click a column to sort. Brush an axis of the " +
      "parallel coordinates, or select points in the slices, to filter." :
      rows.length + " of " + D.trials.length + " trials selected. ");
    if (selection !== null) {
      const b = el("button", {id: "clear-selection"}, "show all");
      b.addEventListener("click", () => select(null));
      info.appendChild(b);
    }
    wrap.appendChild(info);
    const box = el("div", {class: "tablewrap"});
    box.appendChild(table);
    wrap.appendChild(box);
  }

  /* ------------------------------------------------------------------ linking */
  function select(ids) {
    selection = ids;
    for (const id of ["fig-history", "fig-slices", "fig-pareto"]) {
      const gd = document.getElementById(id);
      if (!gd || !gd.data) continue;
      const sel = gd.data.map((tr) => (ids === null || !tr.customdata ? null :
        tr.customdata.map((c, i) => (ids.has(c) ? i : -1)).filter((i) => i >= 0)));
      Plotly.restyle(gd, {selectedpoints: sel});
    }
    drawTable(document.getElementById("table"));
  }
  function linkParcoords(gd, ts) {
    gd.on("plotly_restyle", () => {
      const dims = gd.data[0].dimensions;
      const inRange = (v, r) => {
        const ranges = Array.isArray(r[0]) ? r : [r];
        return ranges.some(([a, b]) => v >= a && v <= b);
      };
      const active = dims.filter((d) => d.constraintrange && d.constraintrange.length);
      if (!active.length) { select(null); return; }
      const ids = new Set();
      ts.forEach((t, i) => {
        if (active.every((d) => inRange(d.values[i], d.constraintrange))) ids.add(t.id);
      });
      select(ids);
    });
  }
  function linkSelect(gd) {
    gd.on("plotly_selected", (ev) => {
      if (!ev || !ev.points) return;
      select(new Set(ev.points.map((p) => p.customdata)));
    });
    gd.on("plotly_deselect", () => select(null));
  }

  /* ------------------------------------------------------------------ drawing */
  const drawn = [];
  function plot(div, fig) {
    if (!fig) return;
    Plotly.newPlot(div, fig[0], fig[1], config);
    drawn.push(div.id);
  }
  function drawAll() {
    header();
    if (!finished.length) {
      main.appendChild(el("p", {}, "No trial has finished yet."));
      done();
      return;
    }
    if (several) {
      const div = section("fig-pareto", "Pareto front",
        "Red: trials no other dominates" + (D.constraints ? " (feasible ones)" : "") +
        "; grey: dominated" + (D.constraints ? "; crosses: infeasible" : "") + "." +
        (D.metrics.length > 2 ? " One panel per pair of objectives." : ""));
      plot(div, paretoFigure());
      linkSelect(div);
    }
    const hist = section("fig-history", "Optimisation history: " + metric(),
      D.constraints ? "Crosses: infeasible trials (the best-so-far line skips them)." : "");
    plot(hist, historyFigure());
    linkSelect(hist);
    if (D.params.length) {
      const imp = section("fig-importance", "Parameter importance: " + D.metrics[objective],
        "fANOVA on a random forest fitted to the finished trials: the share of the value's " +
        "variance each parameter explains alone. Constants are left out.");
      plot(imp, importanceFigure(imp));
      const pc = section("fig-parcoords", "Parallel coordinates",
        "One line per finished trial, coloured by " + D.metrics[objective] +
        ". Drag along an axis to select; the slices and the table follow.");
      const fig = parcoordsFigure();
      plot(pc, fig);
      linkParcoords(pc, fig[2]);
      const sl = section("fig-slices", "Slices: " + D.metrics[objective] +
        " against each parameter", "Darker: later trials. Box- or lasso-select points to " +
        "filter the table.");
      plot(sl, slicesFigure());
      linkSelect(sl);
    }
    if (D.trials.some((t) => t.curve.length > 1)) {
      plot(section("fig-curves", "Learning curves: " + D.metrics[0],
        "Red: the 5 best trials" + (D.rungs.length ? "; dotted with a cross: stopped by the " +
        "scheduler at a rung" : "") + "."), curvesFigure());
    }
    if (D.rungs.length) {
      plot(section("fig-rungs", "Values at each rung", "The value each trial had at each " +
        "rung it reached: crosses were stopped there, circles went on."), rungsFigure());
    }
    main.appendChild(el("h2", {}, "Trials"));
    const wrap = el("div", {id: "table"});
    main.appendChild(wrap);
    drawTable(wrap);
    if (selection !== null) select(selection);
    done();
  }
  function done() {
    document.body.dataset.figures = drawn.join(",");
    document.body.dataset.ready = "1";
    window.scrollTo(0, saved.scroll || 0);
  }
  function remember() {
    sessionStorage.setItem(KEY, JSON.stringify({objective: objective, scroll: window.scrollY}));
  }
  window.addEventListener("beforeunload", remember);

  async function loadPlotly() {
    const b64 = document.getElementById("plotly-gz").textContent;
    const raw = atob(b64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    if (typeof DecompressionStream === "undefined") {
      throw new Error("this browser cannot unpack the embedded plotly.js " +
        "(DecompressionStream is missing); open the report in a current browser");
    }
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    const code = await new Response(stream).text();
    const s = document.createElement("script");
    s.textContent = code;
    document.head.appendChild(s);
  }
  loadPlotly().then(drawAll).catch((err) => {
    main.appendChild(el("p", {class: "error", id: "report-error"}, "Report error: " + err));
    document.body.dataset.ready = "error";
    throw err;
  });
})();
