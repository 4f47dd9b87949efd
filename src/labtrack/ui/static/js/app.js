// Shared by every page: local times, confirmations, table quick-filters, shortcuts.
// Scripts never build HTML from strings: user data only ever goes into textContent.

export function localizeTimes(root = document) {
  for (const el of root.querySelectorAll('time[datetime]')) {
    const when = new Date(el.getAttribute('datetime'));
    if (!Number.isNaN(when.getTime())) {
      el.textContent = when.toLocaleString(undefined, {
        year: 'numeric', month: '2-digit', day: '2-digit',
        hour: '2-digit', minute: '2-digit', second: '2-digit',
      });
    }
  }
}

localizeTimes();

// Forms (or their submit buttons) with data-confirm ask first.
document.addEventListener('submit', (event) => {
  const message = event.submitter?.dataset.confirm || event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// <input data-filter-table="table-id">: hide the rows that do not contain the text.
for (const input of document.querySelectorAll('input[data-filter-table]')) {
  const table = document.getElementById(input.dataset.filterTable);
  if (!table) continue;
  input.addEventListener('input', () => {
    const needle = input.value.trim().toLowerCase();
    for (const row of table.tBodies[0].rows) {
      row.classList.toggle('hidden-row', needle !== '' && !row.textContent.toLowerCase().includes(needle));
    }
  });
}

// "/" jumps to the page's filter or search box.
document.addEventListener('keydown', (event) => {
  if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return;
  const box = document.querySelector('#filter, #q');
  if (box) {
    event.preventDefault();
    box.focus();
    box.select();
  }
});

// Escape closes an open menu and gives focus back to its summary.
document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape') return;
  for (const menu of document.querySelectorAll('details.menu[open]')) {
    menu.open = false;
    menu.querySelector('summary')?.focus();
  }
});

/** The CSRF token of this page, for scripts that send writes themselves. */
export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? '';
}

/** Text for Plotly labels: Plotly reads a few HTML-like tags, so user text is escaped. */
export function plotlyText(value) {
  return String(value ?? '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A number from a JSON value ("NaN" and "Infinity" are how the server writes those). */
export function toNumber(value) {
  if (value === null || value === undefined || value === '') return null;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}
