// The page's entry: the tabs (playground, dashboard, keys) and the API key
// dialog. The page is public; every API call carries the key, which stays
// in this tab's sessionStorage.

import { apiKey, setApiKey } from './util.js';
import { startChat } from './chat.js';
import { startDashboard, stopDashboard } from './dashboard.js';
import { startAdmin } from './admin.js';

const $ = (id) => document.getElementById(id);
const TABS = ['playground', 'dashboard', 'admin'];
const TITLES = { playground: 'Playground', dashboard: 'Dashboard', admin: 'Keys and teams' };

function show(tab) {
  for (const t of TABS) {
    $(t).hidden = t !== tab;
    $(`tab-${t}`).classList.toggle('active', t === tab);
    if (t === tab) $(`tab-${t}`).setAttribute('aria-current', 'page');
    else $(`tab-${t}`).removeAttribute('aria-current');
  }
  document.title = `${TITLES[tab]} · latticelm`;
  if (tab === 'dashboard') startDashboard();
  else stopDashboard();
  if (tab === 'admin') startAdmin();
}

const tabOf = (path) => {
  const p = path.replace(/\/+$/, '').slice(1);
  return TABS.includes(p) ? p : 'playground';
};

for (const a of document.querySelectorAll('a[data-tab]')) {
  a.addEventListener('click', (e) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    if (location.pathname !== a.getAttribute('href')) history.pushState({}, '', a.getAttribute('href'));
    show(a.dataset.tab);
  });
}
window.addEventListener('popstate', () => show(tabOf(location.pathname)));

// The key dialog.
const dialog = $('key-dialog');
function keyLabel() {
  $('key-button').textContent = apiKey() ? 'API key ✓' : 'API key';
}
function openKey(reason) {
  $('key-reason').hidden = !reason;
  $('key-reason').textContent = reason || '';
  $('key-input').value = apiKey();
  if (!dialog.open) dialog.showModal();
  $('key-input').focus();
}
$('key-button').addEventListener('click', () => openKey(''));
$('key-cancel').addEventListener('click', () => dialog.close());
$('key-forget').addEventListener('click', () => {
  setApiKey('');
  dialog.close();
});
const save = () => {
  setApiKey($('key-input').value.trim());
  dialog.close();
};
$('key-save').addEventListener('click', save);
$('key-input').addEventListener('keydown', (e) => e.key === 'Enter' && save());
window.addEventListener('latticelm:key', keyLabel);
window.addEventListener('latticelm:auth', (e) => openKey(e.detail));

keyLabel();
startChat();
show(tabOf(location.pathname));
