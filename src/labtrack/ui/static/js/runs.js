// The runs table: selecting runs (compare, bulk actions) and the column chooser.
const boxes = () => [...document.querySelectorAll('input[type="checkbox"][name="run"]')];
const selectAll = document.querySelector('[data-select-all]');
const counter = document.querySelector('[data-selected-count]');
const compareButton = document.querySelector('[data-compare]');
const MAX_COMPARE = 400;

function selected() {
  return boxes().filter((box) => box.checked).map((box) => box.value);
}

function refresh() {
  const ids = selected();
  if (counter) counter.textContent = `${ids.length} selected`;
  for (const button of document.querySelectorAll('[data-needs-selection]')) {
    button.disabled = ids.length === 0;
  }
  if (compareButton) {
    compareButton.disabled = ids.length < 2 || ids.length > MAX_COMPARE;
    compareButton.title = ids.length > MAX_COMPARE ? `Compare at most ${MAX_COMPARE} selected runs` : '';
  }
  if (selectAll) {
    const all = boxes();
    selectAll.checked = all.length > 0 && ids.length === all.length;
    selectAll.indeterminate = ids.length > 0 && ids.length < all.length;
  }
  for (const box of boxes()) box.closest('tr')?.classList.toggle('kept', box.checked);
}

document.addEventListener('change', (event) => {
  if (event.target instanceof HTMLInputElement && event.target.name === 'run') refresh();
});

selectAll?.addEventListener('change', () => {
  for (const box of boxes()) box.checked = selectAll.checked;
  refresh();
});

compareButton?.addEventListener('click', () => {
  const ids = selected();
  // The table's sort goes along: the compare page shows the metric sorted by first.
  const query = compareButton.dataset.compareQuery;
  if (ids.length >= 2) window.location.assign(`/compare?runs=${ids.map(encodeURIComponent).join(',')}${query ? `&${query}` : ''}`);
});

// Column chooser: find a key, clear every box.
const finder = document.querySelector('[data-filter-keys]');
finder?.addEventListener('input', () => {
  const needle = finder.value.trim().toLowerCase();
  for (const row of document.querySelectorAll('.column-chooser .key-row')) {
    row.classList.toggle('hidden-row', needle !== '' && !row.dataset.key.toLowerCase().includes(needle));
  }
});
document.querySelector('[data-columns="none"]')?.addEventListener('click', () => {
  for (const box of document.querySelectorAll('.column-chooser input[type="checkbox"]')) box.checked = false;
});

refresh();
