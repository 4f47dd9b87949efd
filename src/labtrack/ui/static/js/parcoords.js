// Parallel coordinates in SVG, with range brushing on every axis.
//
// Plotly's parcoords trace draws with WebGL through regl, which compiles its draw calls
// with `new Function`: it would need 'unsafe-eval' in the page's Content-Security-Policy
// and a working WebGL. This one is plain SVG (one path per run), so the page keeps a
// strict CSP and works anywhere. Drag along an axis to keep a range; drag again on the
// same axis to add another; click a range to remove it.
//
// Labels stay readable: an axis title or a category that does not fit the room it has
// (the gap to the next axis) is cut with an ellipsis and shows whole on hover; titles
// too long for one row alternate between two rows; an axis with more categories than
// fit its height labels every k-th one; the left margin makes room for the first
// axis's categories.

const SVG = 'http://www.w3.org/2000/svg';
const VIRIDIS = ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'];
const MARGIN = { top: 52, right: 40, bottom: 24, left: 40 };
const MAX_LEFT = 160; // the widest the first axis's labels may make the left margin
const TITLE_ROWS = [16, 32]; // px above the axes' top: one row, or two alternating
const LINE = 13; // px a tick label needs vertically

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.append(node);
  return node;
}

function mix(a, b, t) {
  const pa = [1, 3, 5].map((i) => parseInt(a.slice(i, i + 2), 16));
  const pb = [1, 3, 5].map((i) => parseInt(b.slice(i, i + 2), 16));
  return `#${pa.map((v, i) => Math.round(v + (pb[i] - v) * t).toString(16).padStart(2, '0')).join('')}`;
}

export function viridis(t) {
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  return mix(VIRIDIS[i], VIRIDIS[i + 1], x - i);
}

/** Put `text` in `node`, cut with an ellipsis to `width` px; true if it was cut. */
function fit(node, text, width) {
  node.textContent = text;
  if (!(width > 0) || node.getComputedTextLength() <= width) return false;
  let lo = 0;
  let hi = text.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    node.textContent = `${text.slice(0, mid)}…`;
    if (node.getComputedTextLength() <= width) lo = mid;
    else hi = mid - 1;
  }
  node.textContent = `${text.slice(0, lo)}…`;
  return true;
}

function labelled(node, text, width) {
  if (fit(node, text, width)) el('title', {}, node).textContent = text;
  return node;
}

/** The indexes of the categories to label: all, or every k-th where they would crowd. */
function shownCategories(count, height) {
  const step = Math.max(1, Math.ceil((LINE * Math.max(count - 1, 1)) / Math.max(height, 1)));
  const out = [];
  for (let i = 0; i < count; i += step) out.push(i);
  if (count > 1 && out[out.length - 1] !== count - 1 && step > 1) out[out.length - 1] = count - 1;
  return out;
}

function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function formatTick(v) {
  if (Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0)) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

/**
 * dims: [{id, label, values: (number|null)[], categories?: string[]}]
 * color: {values: (number|null)[], label} or null
 * brush: {id: [[lo, hi], ...]}; onBrush(brush) is called after every change.
 */
export class ParallelCoordinates {
  constructor(container, { dims, color, brush = {}, names = [], onBrush = () => {} }) {
    this.container = container;
    this.dims = dims;
    this.color = color;
    this.brush = structuredClone(brush);
    this.names = names;
    this.onBrush = onBrush;
    this.n = dims.length ? dims[0].values.length : 0;
    this.render();
  }

  scale(dim) {
    const finite = dim.values.filter((v) => v !== null && Number.isFinite(v));
    let lo = dim.categories ? 0 : Math.min(...finite);
    let hi = dim.categories ? Math.max(dim.categories.length - 1, 0) : Math.max(...finite);
    if (!finite.length) { lo = 0; hi = 1; }
    if (hi === lo) { lo -= 0.5; hi += 0.5; }
    const top = MARGIN.top;
    const bottom = this.height - MARGIN.bottom;
    return {
      lo, hi,
      y: (v) => bottom - ((v - lo) / (hi - lo)) * (bottom - top),
      value: (y) => lo + ((bottom - y) / (bottom - top)) * (hi - lo),
    };
  }

  kept() {
    const tests = Object.entries(this.brush)
      .map(([id, ranges]) => [this.dims.find((d) => d.id === id), ranges])
      .filter(([dim, ranges]) => dim && ranges.length);
    const out = [];
    for (let i = 0; i < this.n; i += 1) {
      if (tests.every(([dim, ranges]) => {
        const v = dim.values[i];
        return v !== null && ranges.some(([lo, hi]) => v >= lo && v <= hi);
      })) out.push(i);
    }
    return out;
  }

  /** Width in px of the widest of `texts` at the class's font (the svg must be attached). */
  measure(texts, className) {
    const probe = el('text', { class: className, x: 0, y: -100 }, this.svg);
    let widest = 0;
    for (const text of texts) {
      probe.textContent = text;
      widest = Math.max(widest, probe.getComputedTextLength());
    }
    probe.remove();
    return widest;
  }

  /** The anchor of axis j's title: the end axes' titles stay inside the chart. */
  anchor(j) {
    const last = this.dims.length - 1;
    if (last < 1) return 'middle';
    return j === 0 ? 'start' : j === last ? 'end' : 'middle';
  }

  /** The px axis j's title may take without reaching a neighbour's on its row. */
  titleRoom(j) {
    if (this.dims.length < 2) return Infinity;
    const reach = this.rows * this.gap; // to the next title on the same row
    return (this.anchor(j) === 'middle' ? reach : reach / 2) - 8;
  }

  render() {
    const width = Math.max(this.container.clientWidth, 320);
    this.height = Math.max(this.container.clientHeight, 240);
    const svg = el('svg', { width, height: this.height, viewBox: `0 0 ${width} ${this.height}`, class: 'pc' });
    this.svg = svg;
    this.container.replaceChildren(svg); // attached first, so labels can be measured
    const first = this.dims[0];
    const firstLabels = first?.categories
      ? shownCategories(first.categories.length, this.height - MARGIN.top - MARGIN.bottom).map((i) => first.categories[i])
      : [];
    this.left = Math.min(Math.max(MARGIN.left, this.measure(firstLabels, 'pc-tick') + 12), MAX_LEFT, width / 4);
    this.gap = this.dims.length > 1 ? (width - this.left - MARGIN.right) / (this.dims.length - 1) : width - this.left - MARGIN.right;
    this.x = this.dims.map((_, i) => this.left + i * this.gap);
    this.scales = this.dims.map((d) => this.scale(d));
    // Titles alternate between two rows when one row would run them into each other.
    this.rows = 1;
    const wide = this.dims.some((d, j) => this.measure([d.label], 'pc-label') > this.titleRoom(j));
    if (wide && this.dims.length > 2) this.rows = 2;

    const colors = this.colorFor();
    this.back = el('g', { class: 'pc-back' }, svg);
    this.front = el('g', { class: 'pc-front' }, svg);
    this.paths = [];
    for (let i = 0; i < this.n; i += 1) {
      let d = '';
      let pen = 'M';
      this.dims.forEach((dim, j) => {
        const v = dim.values[i];
        if (v === null || !Number.isFinite(v)) { pen = 'M'; return; }
        d += `${pen}${this.x[j].toFixed(1)},${this.scales[j].y(v).toFixed(1)}`;
        pen = 'L';
      });
      const path = el('path', { d, fill: 'none', 'stroke-width': 1.2, 'data-color': colors[i], class: 'pc-line' });
      const title = el('title', {}, path);
      title.textContent = this.names[i] ?? '';
      this.paths.push(path);
    }
    this.dims.forEach((dim, j) => this.drawAxis(dim, j));
    this.update(false);
  }

  colorFor() {
    if (!this.color) return new Array(this.n).fill('#1f77b4');
    const finite = this.color.values.filter((v) => v !== null && Number.isFinite(v));
    const lo = Math.min(...finite);
    const hi = Math.max(...finite);
    return this.color.values.map((v) => (v === null || !Number.isFinite(v) ? '#9aa3b0' : viridis(hi > lo ? (v - lo) / (hi - lo) : 0.5)));
  }

  drawAxis(dim, j) {
    const g = el('g', { class: 'pc-axis', 'data-dim': dim.id }, this.svg);
    const x = this.x[j];
    const s = this.scales[j];
    el('line', { x1: x, x2: x, y1: MARGIN.top, y2: this.height - MARGIN.bottom, stroke: '#4a5568', 'stroke-width': 1 }, g);
    const ticks = dim.categories ? dim.categories.map((_, i) => i) : niceTicks(s.lo, s.hi);
    const named = dim.categories
      ? new Set(shownCategories(ticks.length, this.height - MARGIN.top - MARGIN.bottom))
      : null;
    // Tick labels sit left of the axis, in the room up to the previous axis (or the edge).
    const room = (j === 0 ? this.left : this.gap) - 10;
    for (const t of ticks) {
      const y = s.y(t);
      el('line', { x1: x - 4, x2: x, y1: y, y2: y, stroke: '#4a5568' }, g);
      if (named && !named.has(t)) continue;
      const text = el('text', { x: x - 6, y: y + 3, 'text-anchor': 'end', class: 'pc-tick' }, g);
      labelled(text, dim.categories ? dim.categories[t] : formatTick(t), room);
    }
    const row = this.rows === 2 ? TITLE_ROWS[j % 2] : TITLE_ROWS[0];
    const label = el('text', { x, y: MARGIN.top - row, 'text-anchor': this.anchor(j), class: 'pc-label' }, g);
    fit(label, dim.label, this.titleRoom(j));
    el('title', {}, label).textContent = dim.label;
    this.brushLayer = this.brushLayer || {};
    this.brushLayer[dim.id] = el('g', { class: 'pc-brushes' }, g);
    const hit = el('rect', {
      x: x - 12, y: MARGIN.top, width: 24, height: this.height - MARGIN.top - MARGIN.bottom,
      fill: 'transparent', class: 'pc-hit', 'data-dim': dim.id,
    }, g);
    this.drawBrushes(dim, j);
    this.wireBrush(hit, dim, j);
  }

  drawBrushes(dim, j) {
    const layer = this.brushLayer[dim.id];
    layer.replaceChildren();
    const s = this.scales[j];
    for (const [index, [lo, hi]] of (this.brush[dim.id] ?? []).entries()) {
      const y1 = s.y(Math.min(hi, s.hi));
      const y2 = s.y(Math.max(lo, s.lo));
      const rect = el('rect', {
        x: this.x[j] - 8, y: Math.min(y1, y2), width: 16, height: Math.max(Math.abs(y2 - y1), 2),
        class: 'pc-brush', fill: '#1f4e79', 'fill-opacity': 0.25, stroke: '#1f4e79', 'data-index': index,
      }, layer);
      el('title', {}, rect).textContent = `${dim.label}: ${formatTick(lo)} to ${formatTick(hi)} (click to remove)`;
    }
  }

  wireBrush(hit, dim, j) {
    const s = this.scales[j];
    let start = null;
    let preview = null;
    const yOf = (event) => {
      const box = this.svg.getBoundingClientRect();
      const y = event.clientY - box.top;
      return Math.min(Math.max(y, MARGIN.top), this.height - MARGIN.bottom);
    };
    hit.addEventListener('pointerdown', (event) => {
      event.preventDefault();
      hit.setPointerCapture(event.pointerId);
      start = yOf(event);
      preview = el('rect', { x: this.x[j] - 8, y: start, width: 16, height: 0, class: 'pc-brush', fill: '#1f4e79', 'fill-opacity': 0.15 }, this.brushLayer[dim.id]);
    });
    hit.addEventListener('pointermove', (event) => {
      if (start === null) return;
      const y = yOf(event);
      preview.setAttribute('y', String(Math.min(start, y)));
      preview.setAttribute('height', String(Math.abs(y - start)));
    });
    hit.addEventListener('pointerup', (event) => {
      if (start === null) return;
      const y = yOf(event);
      const ranges = this.brush[dim.id] ?? [];
      if (Math.abs(y - start) < 3) {
        const v = s.value(y);
        const rest = ranges.filter(([lo, hi]) => !(v >= lo && v <= hi));
        if (rest.length === ranges.length) { this.drawBrushes(dim, j); start = null; return; }
        this.setRanges(dim.id, rest);
      } else {
        const a = s.value(start);
        const b = s.value(y);
        this.setRanges(dim.id, [...ranges, [Math.min(a, b), Math.max(a, b)]]);
      }
      start = null;
    });
  }

  setRanges(id, ranges) {
    if (ranges.length) this.brush[id] = ranges;
    else delete this.brush[id];
    const j = this.dims.findIndex((d) => d.id === id);
    if (j >= 0) this.drawBrushes(this.dims[j], j);
    this.update(true);
  }

  clear() {
    this.brush = {};
    this.dims.forEach((dim, j) => this.drawBrushes(dim, j));
    this.update(true);
  }

  update(notify) {
    const kept = new Set(this.kept());
    this.paths.forEach((path, i) => {
      const on = kept.has(i);
      path.setAttribute('stroke', on ? path.dataset.color : '#d5dae1');
      path.setAttribute('stroke-opacity', on ? '0.85' : '0.5');
      const group = on ? this.front : this.back;
      if (path.parentNode !== group) group.append(path);
    });
    this.container.dataset.kept = String(kept.size);
    if (notify) this.onBrush(structuredClone(this.brush));
  }
}
