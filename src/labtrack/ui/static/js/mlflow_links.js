// MLflow's UI addresses open the matching labtrack page.
//
// MLflow's UI routes in the URL fragment: its client prints "View run at
// http://host:5000/#/experiments/1/runs/<id>", and bookmarks and wiki pages hold such
// links. The fragment never reaches the server (the server sends "/" on to /experiments
// and the browser keeps the fragment), so this module, loaded on every page, reads it and
// replaces the address with labtrack's page for it. Fragments that are not MLflow routes
// ("#main", a heading) are left alone.

const segment = (text) => encodeURIComponent(decodeURIComponent(text));

/** The run ids or experiment ids of MLflow's `?runs=["a","b"]` query values. */
function idList(value) {
  if (!value) return [];
  try {
    const parsed = JSON.parse(value);
    return Array.isArray(parsed) ? parsed.map(String) : [String(parsed)];
  } catch {
    return value.split(',').filter(Boolean);
  }
}

/** labtrack's path for an MLflow UI fragment ("#/experiments/1/runs/abc"), or null. */
export function labtrackPathFor(fragment) {
  if (!fragment.startsWith('#/')) return null;
  const [route, query = ''] = fragment.slice(1).split('?', 2);
  const params = new URLSearchParams(query);
  const parts = route.split('/').filter(Boolean);
  let match;
  const is = (pattern) => (match = pattern.exec(route)) !== null;

  if (parts.length === 0) return '/experiments';
  if (is(/^\/experiments\/[^/]+\/runs\/([^/]+)\/artifacts?(?:\/(.*))?$/)) {
    const path = match[2] ? decodeURIComponent(match[2]) : '';
    const where = path ? `?path=${encodeURIComponent(path)}` : '';
    return `/runs/${segment(match[1])}/artifacts${where}`;
  }
  if (is(/^\/experiments\/[^/]+\/runs\/([^/]+)(?:\/.*)?$/)) return `/runs/${segment(match[1])}`;
  if (is(/^\/experiments\/([^/]+)(?:\/.*)?$/)) return `/experiments/${segment(match[1])}`;
  if (is(/^\/experiments\/?$/)) return '/experiments';
  if (is(/^\/models\/([^/]+)\/versions\/([^/]+)(?:\/.*)?$/)) {
    return `/models/${segment(match[1])}/versions/${segment(match[2])}`;
  }
  if (is(/^\/models\/([^/]+)(?:\/.*)?$/)) return `/models/${segment(match[1])}`;
  if (is(/^\/models\/?$/)) return '/models';
  if (is(/^\/compare-runs\/?$/)) {
    const runs = idList(params.get('runs'));
    return runs.length ? `/compare?runs=${runs.map(encodeURIComponent).join(',')}` : '/experiments';
  }
  if (is(/^\/metric\/(.+)$/)) {
    const runs = idList(params.get('runs'));
    if (runs.length === 1) return `/runs/${encodeURIComponent(runs[0])}/metrics/${match[1]}`;
    if (runs.length > 1) return `/compare?runs=${runs.map(encodeURIComponent).join(',')}`;
  }
  return null;
}

function follow() {
  let target = null;
  try {
    target = labtrackPathFor(window.location.hash);
  } catch {
    return; // a malformed escape in someone's link: stay where we are
  }
  if (target !== null) window.location.replace(target);
}

follow();
window.addEventListener('hashchange', follow);
