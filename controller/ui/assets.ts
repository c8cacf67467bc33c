/**
 * The dashboard's page, stylesheet and script, served by `onionfleet ui` from this process only:
 * nothing is fetched from anywhere else (the Content-Security-Policy says so too). The script
 * reads the token from its own URL, fetches `/api/fleet` every few seconds and builds the tables
 * with `textContent` (never HTML from data).
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>onionfleet</title>
<link rel="stylesheet" href="app.css">
</head>
<body>
<header><h1>onionfleet <span id="fleet"></span></h1><p id="updated">loading…</p></header>
<main>
<section><h2>Alerts</h2><div id="alerts"></div></section>
<section><h2>Groups</h2><table id="groups"><thead><tr><th>group</th><th>tier</th><th>healthy SMP</th><th>healthy XFTP</th><th>tier minimum</th><th>state</th></tr></thead><tbody></tbody></table></section>
<section><h2>Instances</h2><table id="instances"><thead><tr><th>instance</th><th>group</th><th>device</th><th>operator</th><th>location</th><th>health</th><th>probe</th></tr></thead><tbody></tbody></table></section>
<section><h2>Devices</h2><table id="devices"><thead><tr><th>device</th><th>operator</th><th>location</th><th>state</th><th>last status</th></tr></thead><tbody></tbody></table></section>
<section><h2>Rollouts</h2><div id="rollouts"></div></section>
</main>
<script src="app.js"></script>
</body>
</html>
`;

export const PAGE_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f5f6f8; }
header { background: #2b1e45; color: #fff; padding: 12px 24px; display: flex; align-items: baseline; gap: 24px; }
header h1 { margin: 0; font-size: 20px; }
header p { margin: 0; opacity: .8; }
main { padding: 8px 24px 24px; }
h2 { font-size: 16px; margin: 20px 0 8px; }
table { border-collapse: collapse; background: #fff; min-width: 60%; }
th, td { text-align: left; padding: 5px 12px; border-bottom: 1px solid #e3e5ea; }
th { background: #eceef3; font-weight: 600; }
.ok { color: #0b6b2f; font-weight: 600; }
.bad { color: #b0151d; font-weight: 600; }
.muted { color: #6a7080; }
.alert { background: #fff1f1; border-left: 4px solid #b0151d; padding: 6px 12px; margin: 4px 0; }
.alert.pending { background: #fff9e8; border-left-color: #c08a00; }
.none { color: #6a7080; }
`;

export const PAGE_JS = `
'use strict';
var token = new URLSearchParams(location.search).get('token') || '';
function cell(row, text, cls) { var td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; row.appendChild(td); return td; }
function fill(id, rows, build) {
  var body = document.querySelector('#' + id + ' tbody');
  body.replaceChildren();
  rows.forEach(function (r) { var tr = document.createElement('tr'); tr.dataset.id = r.id; build(tr, r); body.appendChild(tr); });
}
function list(id, items, text, cls, empty) {
  var box = document.getElementById(id);
  box.replaceChildren();
  if (items.length === 0) { var p = document.createElement('p'); p.className = 'none'; p.textContent = empty; box.appendChild(p); return; }
  items.forEach(function (it) { var d = document.createElement('div'); d.className = cls(it); d.textContent = text(it); box.appendChild(d); });
}
function age(s) { return s === null ? 'never' : s < 120 ? s + ' s ago' : Math.round(s / 60) + ' min ago'; }
function render(data) {
  document.getElementById('fleet').textContent = data.fleet;
  document.getElementById('updated').textContent = 'updated ' + new Date(data.takenAt).toLocaleTimeString() + ' (every 3 s)';
  list('alerts', data.alerts, function (a) { return (a.firing ? 'FIRING ' : 'pending ') + a.rule + ' ' + a.subject + ': ' + a.message; }, function (a) { return a.firing ? 'alert' : 'alert pending'; }, 'no alert');
  fill('groups', data.groups, function (tr, g) {
    cell(tr, g.id); cell(tr, g.tier); cell(tr, g.healthySmp + '/' + g.smp); cell(tr, g.healthyXftp + '/' + g.xftp);
    cell(tr, g.minSmp + ' SMP on ' + g.minOperators + ' operator(s)');
    cell(tr, g.belowMinimum ? 'BELOW MINIMUM: ' + g.reasons.join('; ') : 'ok', g.belowMinimum ? 'bad' : 'ok');
  });
  fill('instances', data.instances, function (tr, i) {
    cell(tr, i.id); cell(tr, i.group); cell(tr, i.device); cell(tr, i.operator); cell(tr, i.location);
    cell(tr, i.healthy ? 'healthy' : (i.reporting ? 'unhealthy (' + i.service + ')' : 'no report'), i.healthy ? 'ok' : 'bad');
    cell(tr, i.probeLatencyMs === null ? '-' : i.probeLatencyMs + ' ms', 'muted');
  });
  fill('devices', data.devices, function (tr, d) {
    cell(tr, d.id); cell(tr, d.operator); cell(tr, d.location); cell(tr, d.state);
    cell(tr, age(d.silentSeconds) + (d.reporting ? '' : ' (silent)'), d.reporting ? 'muted' : 'bad');
  });
  list('rollouts', data.rollouts, function (r) { return r.id + ': ' + r.state; }, function (r) { return r.state === 'halted' ? 'alert' : 'muted'; }, 'no rollout recorded');
  document.body.dataset.loaded = 'true';
}
function refresh() {
  fetch('api/fleet?token=' + encodeURIComponent(token), { cache: 'no-store' })
    .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
    .then(render)
    .catch(function (e) { document.getElementById('updated').textContent = 'cannot refresh: ' + e.message; });
}
refresh();
setInterval(refresh, 3000);
`;
