// Compare runs: parallel coordinates with range brushing, a param-vs-metric scatter,
// overlaid metric histories and a table of the runs kept by the brushed ranges.
// The data is the page's own JSON data block; the state (axes, colour, ranges...) is
// kept in the URL so the view can be shared.
import { plotlyText, toNumber } from './app.js';
import { CONFIG, fetchJSON, traces } from './charts.js';
import { ParallelCoordinates } from './parcoords.js';

performance.mark('compare:module');
const data = JSON.parse(document.getElementById('compare-data').textContent);
performance.mark('compare:data');
const runs = data.runs;
const state = {
  dims: [...data.dims],
  color: data.color,
  x: data.x,
  y: data.y,
  metric: data.metric,
  brush: data.brush, // column -> [[lo, hi], ...]
  onlyDiffering: true,
  rowsShown: 100,
};
let kept = runs.map((_, i) => i);

const isNumber = (cid) => data.kinds[cid] === 'number';

function categories(cid) {
  return [...new Set(data.columns[cid].filter((v) => v !== null).map(String))].sort();
}

/** The values of a column as numbers for plotting (categories become their index). */
function plotValues(cid) {
  const values = data.columns[cid];
  if (isNumber(cid)) return values.map(toNumber);
  const index = new Map(categories(cid).map((c, i) => [c, i]));
  return values.map((v) => (v === null ? null : index.get(String(v))));
}

function label(cid) {
  return cid.slice(cid.indexOf('.') + 1);
}

function saveState() {
  const params = new URLSearchParams(window.location.search);
  for (const key of ['dim', 'color', 'x', 'y', 'metric', 'brush']) params.delete(key);
  state.dims.forEach((d) => params.append('dim', d));
  if (state.color) params.set('color', state.color);
  if (state.x) params.set('x', state.x);
  if (state.y) params.set('y', state.y);
  if (state.metric) params.set('metric', state.metric);
  for (const [cid, ranges] of Object.entries(state.brush)) {
    for (const [lo, hi] of ranges) params.append('brush', `${cid}:${lo}:${hi}`);
  }
  window.history.replaceState(null, '', `${window.location.pathname}?${params}`);
}

// -- which runs the brushed ranges keep ---------------------------------------------
function computeKept() {
  const tests = Object.entries(state.brush)
    .filter(([cid, ranges]) => ranges.length && data.columns[cid])
    .map(([cid, ranges]) => [plotValues(cid), ranges]);
  kept = runs.map((_, i) => i).filter((i) => tests.every(([values, ranges]) => {
    const v = values[i];
    return v !== null && ranges.some(([lo, hi]) => v >= lo && v <= hi);
  }));
  const note = document.querySelector('[data-kept-note]');
  if (note) note.textContent = `${kept.length.toLocaleString()} of ${runs.length.toLocaleString()} runs kept`;
  document.body.dataset.kept = String(kept.length);
}

// -- parallel coordinates ----------------------------------------------------------
let pc = null;
function drawParcoords() {
  const el = document.getElementById('parcoords');
  const dims = state.dims.filter((cid) => data.columns[cid]).map((cid) => ({
    id: cid,
    label: label(cid),
    values: plotValues(cid),
    categories: isNumber(cid) ? undefined : categories(cid),
  }));
  pc = new ParallelCoordinates(el, {
    dims,
    color: state.color && data.columns[state.color] ? { values: plotValues(state.color) } : null,
    brush: state.brush,
    names: runs.map((r) => r.name || r.run_id),
    onBrush: (brush) => {
      state.brush = brush;
      update();
    },
  });
  const select = document.querySelector('[data-range-dim]');
  if (select) {
    select.replaceChildren(...dims.map((d) => {
      const option = document.createElement('option');
      option.value = d.id;
      option.textContent = d.label;
      return option;
    }));
  }
  document.body.dataset.parcoords = 'ready';
}

// -- scatter -------------------------------------------------------------------------
function drawScatter() {
  const el = document.getElementById('scatter');
  if (!state.x || !state.y) return;
  const xs = plotValues(state.x);
  const ys = plotValues(state.y);
  const keptSet = new Set(kept);
  const names = runs.map((r) => plotlyText(r.name));
  const pick = (cond) => runs.map((_, i) => i).filter(cond);
  const on = pick((i) => keptSet.has(i));
  const off = pick((i) => !keptSet.has(i));
  const trace = (idx, c, name) => ({
    x: idx.map((i) => xs[i]), y: idx.map((i) => ys[i]), text: idx.map((i) => names[i]),
    customdata: idx, type: 'scatter', mode: 'markers', name,
    marker: { color: c, size: 7, opacity: 0.85 }, hovertemplate: '%{text}<br>%{x}, %{y}<extra></extra>',
  });
  const axis = (cid) => {
    const spec = { title: { text: plotlyText(label(cid)) }, automargin: true };
    if (!isNumber(cid)) {
      const cats = categories(cid);
      Object.assign(spec, { tickvals: cats.map((_, i) => i), ticktext: cats.map(plotlyText) });
    }
    return spec;
  };
  window.Plotly.react(el, [trace(off, '#c5ccd6', 'other runs'), trace(on, '#1f77b4', 'kept runs')], {
    margin: { l: 60, r: 15, t: 10, b: 50 }, xaxis: axis(state.x), yaxis: axis(state.y), showlegend: false,
    hovermode: 'closest', font: { size: 11 },
  }, CONFIG);
  if (!el.dataset.watching) {
    el.dataset.watching = '1';
    el.on('plotly_click', (event) => {
      const i = event.points?.[0]?.customdata;
      if (i !== undefined) window.location.assign(runs[i].url);
    });
  }
}

// -- metric histories ------------------------------------------------------------------
let historyRequest = 0;
async function drawHistory() {
  const el = document.getElementById('history');
  const note = document.querySelector('[data-history-note]');
  if (!state.metric) return;
  const ids = kept.slice(0, data.max_histories).map((i) => runs[i].run_id);
  if (note) note.textContent = kept.length > ids.length ? `first ${ids.length} of ${kept.length} kept runs` : '';
  const request = ++historyRequest;
  const url = new URL(data.history_url, window.location.origin);
  url.searchParams.set('runs', ids.join(','));
  url.searchParams.set('key', state.metric);
  url.searchParams.set('points', '300');
  const found = ids.length ? await fetchJSON(url) : { series: {} };
  if (request !== historyRequest) return;
  const all = [];
  ids.forEach((id, n) => {
    const series = found.series[id];
    if (!series) return;
    const name = runs.find((r) => r.run_id === id).name;
    all.push(...traces(series, { name, colorIndex: n, showBand: false }));
  });
  for (const t of all) if (t.mode === 'markers') t.marker.size = 7;
  window.Plotly.react(el, all, {
    margin: { l: 55, r: 15, t: 10, b: 40 }, xaxis: { title: { text: 'step' } }, showlegend: ids.length <= 10,
    legend: { font: { size: 10 } }, hovermode: 'closest', font: { size: 11 },
  }, CONFIG);
  document.body.dataset.history = 'ready';
}

// -- the table ---------------------------------------------------------------------------
function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function format(value) {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  return String(value);
}

function drawTable() {
  const table = document.getElementById('compare-table');
  const params = state.onlyDiffering ? data.differing_params : data.params;
  const cols = [...params.map((k) => `params.${k}`), ...data.metrics.map((k) => `metrics.${k}`)];
  const head = document.createElement('tr');
  for (const text of ['Run', ...cols.map(label)]) {
    const th = document.createElement('th');
    th.scope = 'col';
    th.textContent = text;
    head.append(th);
  }
  cols.forEach((cid, i) => {
    if (cid.startsWith('params.') && data.differing_params.includes(cid.slice(7))) head.children[i + 1].classList.add('differs');
  });
  table.tHead.replaceChildren(head);
  const body = document.createDocumentFragment();
  const sortBy = state.color && data.columns[state.color] && isNumber(state.color) ? plotValues(state.color) : null;
  const order = [...kept];
  if (sortBy) order.sort((a, b) => (sortBy[a] ?? Infinity) - (sortBy[b] ?? Infinity));
  for (const i of order.slice(0, state.rowsShown)) {
    const row = document.createElement('tr');
    const first = document.createElement('td');
    const link = document.createElement('a');
    link.href = runs[i].url;
    link.textContent = runs[i].name || runs[i].run_id;
    first.append(link);
    row.append(first);
    for (const cid of cols) {
      const value = data.columns[cid][i];
      const td = cell(row, format(value), typeof value === 'number' ? 'num' : '');
      if (cid.startsWith('params.') && data.differing_params.includes(cid.slice(7))) td.classList.add('differs');
    }
    body.append(row);
  }
  table.tBodies[0].replaceChildren(body);
  const more = document.querySelector('[data-more-rows]');
  if (more) {
    more.hidden = kept.length <= state.rowsShown;
    more.textContent = `Show more runs (${Math.min(kept.length, state.rowsShown).toLocaleString()} of ${kept.length.toLocaleString()} shown)`;
  }
}

function update() {
  computeKept();
  saveState();
  drawTable();
  if (!window.Plotly) return; // drawn once Plotly.js has loaded
  drawScatter();
  drawHistory().catch((error) => {
    const note = document.querySelector('[data-history-note]');
    if (note) note.textContent = `Could not load the histories: ${error.message}`;
  });
}

function loadPlotly() {
  return new Promise((resolve, reject) => {
    if (window.Plotly) {
      resolve();
      return;
    }
    const script = document.createElement('script');
    script.src = document.querySelector('meta[name="plotly-src"]').content;
    script.onload = resolve;
    script.onerror = () => reject(new Error('Plotly.js did not load'));
    document.head.append(script);
  });
}

function wire() {
  for (const box of document.querySelectorAll('[data-dims] input[type="checkbox"]')) {
    box.addEventListener('change', () => {
      state.dims = [...document.querySelectorAll('[data-dims] input:checked')].map((b) => b.value);
      for (const cid of Object.keys(state.brush)) if (!state.dims.includes(cid)) delete state.brush[cid];
      drawParcoords();
      update();
    });
  }
  const on = (selector, fn) => document.querySelector(selector)?.addEventListener('change', (e) => fn(e.target));
  on('[data-color]', (el) => { state.color = el.value; drawParcoords(); update(); });
  on('[data-scatter-x]', (el) => { state.x = el.value; update(); });
  on('[data-scatter-y]', (el) => { state.y = el.value; update(); });
  on('[data-history-metric]', (el) => { state.metric = el.value; update(); });
  on('[data-only-differing]', (el) => { state.onlyDiffering = el.checked; drawTable(); });
  document.querySelector('[data-clear-brush]')?.addEventListener('click', () => pc?.clear());
  document.querySelector('[data-range-form]')?.addEventListener('submit', (event) => {
    event.preventDefault();
    const form = event.target;
    const id = form.querySelector('[data-range-dim]').value;
    const lo = Number(form.querySelector('[data-range-lo]').value);
    const hi = Number(form.querySelector('[data-range-hi]').value);
    if (!id || !Number.isFinite(lo) || !Number.isFinite(hi)) return;
    pc?.setRanges(id, [...(state.brush[id] ?? []), [Math.min(lo, hi), Math.max(lo, hi)]]);
  });
  let resizing = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(drawParcoords, 200);
  });
  document.querySelector('[data-more-rows]')?.addEventListener('click', () => {
    state.rowsShown += 200;
    drawTable();
  });
}

if (runs.length) {
  performance.mark('compare:start');
  wire();
  drawParcoords();
  performance.mark('compare:parcoords');
  update();
  performance.mark('compare:table');
  loadPlotly().then(update);
}
