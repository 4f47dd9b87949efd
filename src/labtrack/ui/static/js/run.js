// The run page and the metric page: one chart per metric, lazily loaded, with shared
// controls (x axis, smoothing, log scale) kept in the URL. Zooming in (drag on a chart)
// loads that window again at full detail; a double click zooms back out.
import { CONFIG, fetchJSON, layout, traces } from './charts.js';

const controls = document.querySelector('[data-chart-controls]');
const charts = [...document.querySelectorAll('.chart[data-metric-url]')];
const state = new URLSearchParams(window.location.search);
const settings = {
  x: ['step', 'time', 'relative'].includes(state.get('x')) ? state.get('x') : 'step',
  smoothing: Math.min(Math.max(Number(state.get('smooth')) || 0, 0), 0.99),
  logy: state.get('logy') === '1',
};
const loaded = new Map(); // chart element -> data
let pending = 0;

function saveState() {
  const params = new URLSearchParams(window.location.search);
  const set = (key, value, fallback) => (value === fallback ? params.delete(key) : params.set(key, value));
  set('x', settings.x, 'step');
  set('smooth', String(settings.smoothing), '0');
  set('logy', settings.logy ? '1' : '0', '0');
  const query = params.toString();
  window.history.replaceState(null, '', `${window.location.pathname}${query ? `?${query}` : ''}${window.location.hash}`);
}

function draw(el) {
  const data = loaded.get(el);
  if (!data) return;
  const note = document.querySelector('[data-chart-note]');
  if (note && data.downsampled) {
    const [lo, hi] = data.range;
    note.textContent = `${data.count.toLocaleString()} points; steps ${lo}–${hi} shown as min, max and mean of ${data.buckets.mean.length} buckets. Zoom in for detail.`;
  } else if (note && data.range) {
    note.textContent = `Every point of steps ${data.range[0]}–${data.range[1]} (${data.points.step.length.toLocaleString()} points).`;
  }
  window.Plotly.react(el, traces(data, { x: settings.x, smoothing: settings.smoothing }), layout({ x: settings.x, logy: settings.logy }), CONFIG);
}

async function load(el, range) {
  const url = new URL(el.dataset.metricUrl, window.location.origin);
  if (range) {
    url.searchParams.set('from', String(Math.floor(range[0])));
    url.searchParams.set('to', String(Math.ceil(range[1])));
  }
  pending += 1;
  document.body.dataset.chartsPending = String(pending);
  try {
    loaded.set(el, await fetchJSON(url));
    draw(el);
    el.dataset.loaded = 'true';
  } catch (error) {
    el.textContent = `Could not load this chart: ${error.message}`;
  } finally {
    pending -= 1;
    document.body.dataset.chartsPending = String(pending);
  }
}

function stepsInView(el, event) {
  const data = loaded.get(el);
  const range = event['xaxis.range'];
  const lo = range ? range[0] : event['xaxis.range[0]'];
  const hi = range ? range[1] : event['xaxis.range[1]'];
  if (!data || lo === undefined || hi === undefined) return null;
  const trace = el.data.find((t) => t.meta && t.meta.steps);
  if (!trace) return null;
  const asNumber = (v) => (settings.x === 'time' ? new Date(v).getTime() : Number(v));
  const [a, b] = [asNumber(lo), asNumber(hi)];
  const xs = trace.x.map((v) => (v instanceof Date ? v.getTime() : typeof v === 'string' ? new Date(v).getTime() : v));
  const steps = trace.meta.steps.filter((_, i) => xs[i] >= a && xs[i] <= b);
  if (steps.length === 0) return null;
  const span = data.buckets ? Math.max(1, Math.ceil((data.range[1] - data.range[0]) / data.buckets.mean.length)) : 0;
  return [Math.min(...steps) - span, Math.max(...steps) + span];
}

function watchZoom(el) {
  el.on('plotly_relayout', (event) => {
    if (event['xaxis.autorange']) {
      load(el, null);
      return;
    }
    const steps = stepsInView(el, event);
    if (steps && loaded.get(el)?.downsampled) load(el, steps);
  });
}

function start() {
  if (!window.Plotly) return;
  if (controls) {
    const xSelect = controls.querySelector('[data-x]');
    const slider = controls.querySelector('[data-smooth]');
    const output = controls.querySelector('[data-smooth-value]');
    const logy = controls.querySelector('[data-logy]');
    xSelect.value = settings.x;
    slider.value = String(settings.smoothing);
    output.textContent = String(settings.smoothing);
    logy.checked = settings.logy;
    const redraw = () => {
      saveState();
      for (const el of loaded.keys()) draw(el);
    };
    xSelect.addEventListener('change', () => { settings.x = xSelect.value; redraw(); });
    slider.addEventListener('input', () => { settings.smoothing = Number(slider.value); output.textContent = slider.value; redraw(); });
    logy.addEventListener('change', () => { settings.logy = logy.checked; redraw(); });
    controls.querySelector('[data-reset-zoom]')?.addEventListener('click', () => charts.forEach((el) => load(el, null)));
  }
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting) {
        observer.unobserve(entry.target);
        load(entry.target, null).then(() => {
          if (entry.target.hasAttribute('data-zoomable')) watchZoom(entry.target);
        });
      }
    }
  }, { rootMargin: '200px' });
  charts.forEach((el) => observer.observe(el));
}

start();
