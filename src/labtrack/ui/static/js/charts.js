// Metric charts: a history from the server (every point, or min/max/mean per bucket of
// steps for long histories), drawn with Plotly; smoothing and the x axis are local.
import { plotlyText, toNumber } from './app.js';

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

export function color(i) {
  return PALETTE[i % PALETTE.length];
}

/** Exponential moving average with debiasing (as TensorBoard's smoothing). */
export function smooth(values, weight) {
  if (!weight) return values;
  let last = 0;
  let n = 0;
  return values.map((v) => {
    if (v === null) return null;
    n += 1;
    last = last * weight + (1 - weight) * v;
    return last / (1 - weight ** n);
  });
}

function xValues(steps, stamps, mode, t0) {
  if (mode === 'time') return stamps.map((t) => new Date(t));
  if (mode === 'relative') return stamps.map((t) => (t - t0) / 1000);
  return steps;
}

/** Plotly traces for one history (`data` is the JSON twin of a metric page). */
export function traces(data, { x = 'step', smoothing = 0, name = '', colorIndex = 0, showBand = true } = {}) {
  const c = color(colorIndex);
  const label = plotlyText(name || data.key);
  if (data.buckets) {
    const b = data.buckets;
    const steps = b.step_first.map((s, i) => (s + b.step_last[i]) / 2);
    const t0 = b.timestamp[0] ?? 0;
    const xs = xValues(steps, b.timestamp, x, t0);
    const mean = b.mean.map(toNumber);
    const out = [];
    if (showBand) {
      out.push({ x: xs, y: b.min.map(toNumber), type: 'scatter', mode: 'lines', line: { width: 0, color: c }, hoverinfo: 'skip', showlegend: false, name: `${label} min` });
      out.push({ x: xs, y: b.max.map(toNumber), type: 'scatter', mode: 'lines', line: { width: 0, color: c }, fill: 'tonexty', fillcolor: `${c}33`, hoverinfo: 'skip', showlegend: false, name: `${label} max` });
    }
    out.push({ x: xs, y: smooth(mean, smoothing), type: 'scatter', mode: 'lines', line: { color: c, width: 1.5 }, name: label, meta: { steps } });
    return out;
  }
  const p = data.points;
  const t0 = p.timestamp[0] ?? 0;
  const xs = xValues(p.step, p.timestamp, x, t0);
  const ys = p.value.map(toNumber);
  const single = ys.length <= 1;
  const out = [];
  if (smoothing > 0) {
    out.push({ x: xs, y: ys, type: 'scatter', mode: 'lines', line: { color: c, width: 1 }, opacity: 0.25, hoverinfo: 'skip', showlegend: false, name: `${label} raw` });
  }
  out.push({ x: xs, y: smooth(ys, smoothing), type: 'scatter', mode: single ? 'markers' : 'lines', line: { color: c, width: 1.5 }, marker: { color: c }, name: label, meta: { steps: p.step } });
  return out;
}

export function layout({ x = 'step', logy = false, title = '' } = {}) {
  const xTitle = { step: 'step', time: 'time', relative: 'seconds since start' }[x];
  return {
    title: title ? { text: plotlyText(title), font: { size: 13 } } : undefined,
    margin: { l: 55, r: 15, t: title ? 30 : 10, b: 40 },
    xaxis: { title: { text: xTitle }, type: x === 'time' ? 'date' : 'linear', automargin: true },
    yaxis: { type: logy ? 'log' : 'linear', automargin: true },
    showlegend: false,
    hovermode: 'closest',
    paper_bgcolor: '#fff',
    plot_bgcolor: '#fff',
    font: { family: 'system-ui, sans-serif', size: 11 },
  };
}

export const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ['lasso2d', 'select2d'] };

export async function fetchJSON(url) {
  const response = await fetch(url, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
  if (!response.ok) {
    let message = `${response.status}`;
    try {
      message = (await response.json()).message ?? message;
    } catch {
      // not JSON
    }
    throw new Error(message);
  }
  return response.json();
}
