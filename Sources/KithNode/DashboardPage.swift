/// The live dashboard kithd serves at `/` (with `--http`): one self-contained page (no CDN, no build
/// step) so that any node can show the whole cluster with nothing but a browser.
///
/// The browser asks every known node itself (`/api/v1/members`, `/agents`, `/status`, `/events` and the
/// `/stream` of each), which the API allows with `Access-Control-Allow-Origin: *`, rather than the page's
/// node proxying: each column is then exactly what that node says, a partition shows as disagreeing
/// columns, and a node cut off from its peers does not hide the others from the operator.
///
/// A node with `--http-token-file` serves the page without the token (it holds no data) and the API only
/// with it: the page takes the token from its URL's fragment (`#token=...`, which `kithctl dashboard`
/// prints and which browsers never send), keeps it in memory only, drops it from the address bar, and
/// sends it as `Authorization: Bearer` on every request, the event streams included (read with `fetch`,
/// since `EventSource` cannot send headers).
enum DashboardPage {
    static let html = #"""
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Kith dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root{--bg:#0f1419;--panel:#1a2029;--fg:#d8dee9;--dim:#7b8696;--ok:#3fb950;--warn:#d29922;--bad:#f85149;--left:#8b949e}
body{margin:0;font:13px/1.4 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
header{padding:8px 14px;display:flex;gap:18px;align-items:baseline;border-bottom:1px solid #30363d}
h1{font-size:18px;margin:0}h2{font-size:14px;margin:0 0 6px}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:10px;padding:10px}
section{background:var(--panel);border-radius:6px;padding:8px 10px;overflow:auto;max-height:430px}
table{border-collapse:collapse;width:100%}th,td{padding:2px 6px;text-align:left;border-bottom:1px solid #262c36;white-space:nowrap}
th{color:var(--dim);font-weight:normal}td.wrap{white-space:normal}
.s-alive,.s-running,.s-healthy{color:var(--ok)}.s-suspect,.s-starting,.s-relaunching,.s-lost{color:var(--warn)}
.s-dead,.s-failed,.s-killed,.s-unreachable,.s-kill_switch{color:var(--bad)}.s-left,.s-stopped,.s-lifted{color:var(--left)}
.s-quarantined,.s-quarantine{color:#bc8cff}
.masking,.masking td{background:#6b1d1d;color:#fff;font-weight:600}
.incident{padding:4px 8px;margin:0 0 4px;border-radius:4px}
.dim{color:var(--dim)}.warn{color:var(--warn)}
</style></head>
<body>
<header><h1>Kith</h1><span id="origin" class="dim"></span><span id="summary"></span><span id="clock" class="dim"></span></header>
<main>
<section><h2>Nodes, as each node sees them</h2><table id="nodes"></table></section>
<section><h2>Agents <span id="agents-view" class="dim"></span></h2><table id="agents"></table></section>
<section><h2>Reported by agents vs observed by daemons</h2><div id="incidents"></div><table id="reports"></table></section>
<section><h2>Kill-switch tombstones and quarantines</h2><table id="tombstones"></table></section>
<section><h2>Active faults</h2><table id="faults"></table></section>
<section><h2>Events (live)</h2><table id="timeline"></table></section>
</main>
<script>
"use strict";
const POLL_MS = 1000, TIMEOUT_MS = 1500, EVENTS_MAX = 2000, SHOWN_MAX = 200;
const addresses = new Map();  // node name -> its HTTP address ("" when it serves none)
const views = new Map();      // node name -> {ok, error, members, agents, tombstones, faults, at}
const streams = new Map();    // node name -> true while its stream is open
const events = [], seen = new Set();
let home = "";
// The bearer token from the fragment, in memory only; out of the address bar so it is not bookmarked,
// shared or shown. A reload needs the URL again.
const TOKEN = (() => {
  const found = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (!found) return "";
  history.replaceState(null, "", location.pathname + location.search);
  try { return decodeURIComponent(found[1]); } catch (e) { return found[1]; }  // a stray "%" is taken as it is
})();
const HEADERS = TOKEN ? {Authorization: "Bearer " + TOKEN} : {};
const refusal = status => status === 401
  ? (TOKEN ? "HTTP 401: the token was refused" : "HTTP 401: this node wants a token; open the URL 'kithctl dashboard' prints")
  : "HTTP " + status;

const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"})[c]);
const cls = s => "s-" + String(s ?? "").replace(/[^a-z_]/gi, "");
const byName = (a, b) => a.localeCompare(b, undefined, {numeric: true});
const clock = ms => new Date(ms).toTimeString().slice(0, 8) + "." + String(ms % 1000).padStart(3, "0");
const base = name => name === home ? "" : "http://" + addresses.get(name);
const row = (cells, attrs = "") => `<tr ${attrs}>` + cells.map(c => `<td>${c}</td>`).join("") + "</tr>";
const head = cells => "<tr>" + cells.map(c => `<th>${esc(c)}</th>`).join("") + "</tr>";

async function getJSON(url) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  try {
    const reply = await fetch(url, {signal: abort.signal, cache: "no-store", headers: HEADERS});
    if (!reply.ok) throw new Error(refusal(reply.status));
    return await reply.json();
  } finally { clearTimeout(timer); }
}

function learn(members) {
  for (const m of members || []) if (m.http && !addresses.has(m.name)) addresses.set(m.name, m.http);
}

async function poll(name) {
  if (!addresses.get(name) && name !== home) return;
  try {
    const [m, a, s] = await Promise.all(["members", "agents", "status"].map(p => getJSON(base(name) + "/api/v1/" + p)));
    learn(m.members);
    views.set(name, {ok: true, members: m.members, agents: a.agents, tombstones: a.tombstones || [],
                     faults: s.faults || [], at: Date.now()});
    if (!streams.get(name)) follow(name);
  } catch (e) {
    const old = views.get(name) || {};
    views.set(name, {...old, ok: false, error: String(e.message || e)});
  }
}

function take(record, fallbackNode) {
  const node = record.node || fallbackNode, key = node + "#" + record.seq;
  if (seen.has(key)) return false;
  seen.add(key);
  record.node = node;
  events.push(record);
  return true;
}

// The node's stream (Server-Sent Events) read with fetch, so every event name arrives through one
// reader; on the way in, the records written since the last one seen are fetched to close any gap.
async function follow(name) {
  streams.set(name, true);
  try {
    const reply = await fetch(base(name) + "/api/v1/stream", {cache: "no-store", headers: HEADERS});
    if (!reply.ok) throw new Error(refusal(reply.status));
    const newest = events.filter(e => e.node === name).reduce((t, e) => Math.max(t, e.ts_ms), 0);
    getJSON(base(name) + "/api/v1/events?limit=1000" + (newest ? "&since_ms=" + newest : ""))
      .then(r => { (r.events || []).forEach(e => take(e, name)); render(); }).catch(() => {});
    const reader = reply.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
        const data = block.split("\n").filter(l => l.startsWith("data:")).map(l => l.slice(5).trimStart()).join("\n");
        if (data) { try { take(JSON.parse(data), name); render(); } catch (e) {} }
      }
    }
  } catch (e) {}
  streams.set(name, false);
}

function consensus(subject, observers) {
  const votes = {};
  for (const o of observers) {
    const v = views.get(o), m = v && v.ok && (v.members || []).find(x => x.name === subject);
    if (m) votes[m.state] = (votes[m.state] || 0) + 1;
  }
  const ranked = Object.entries(votes).sort((a, b) => b[1] - a[1]);
  if (!ranked.length) return "unreachable";
  return ranked.length > 1 && ranked[0][1] === ranked[1][1] ? "split" : ranked[0][0];
}

function renderNodes() {
  const observers = [...views.keys()].sort(byName);
  const subjects = new Set(addresses.keys());
  for (const v of views.values()) for (const m of v.members || []) subjects.add(m.name);
  let html = head(["member", "verdict", ...observers.map(o => "seen by " + o)]);
  html += row(["<span class=dim>its endpoint</span>", "",
               ...observers.map(o => { const v = views.get(o);
                 return `<span class="${v.ok ? "s-alive" : "s-unreachable"}" data-endpoint="${esc(o)}" data-ok="${v.ok}">${v.ok ? "answers" : "no answer"}</span>`; })]);
  const counts = {};
  for (const s of [...subjects].sort(byName)) {
    const verdict = consensus(s, observers);
    counts[verdict] = (counts[verdict] || 0) + 1;
    const cells = observers.map(o => {
      const v = views.get(o);
      if (!v.ok) return `<span class=dim data-observer="${esc(o)}" data-subject="${esc(s)}" data-state="">–</span>`;
      const m = (v.members || []).find(x => x.name === s), st = m ? m.state : "unknown";
      return `<span class="${cls(st)}" data-observer="${esc(o)}" data-subject="${esc(s)}" data-state="${esc(st)}">${esc(st)}</span>`;
    });
    html += row([esc(s), `<b class="${cls(verdict)}">${esc(verdict)}</b>`, ...cells],
                `data-node="${esc(s)}" data-state="${esc(verdict)}"`);
  }
  document.getElementById("nodes").innerHTML = html;
  document.getElementById("summary").innerHTML = Object.entries(counts).sort()
    .map(([k, n]) => `<span class="${cls(k)}">${n} ${esc(k)}</span>`).join(" · ");
}

// The registry as the page's own node sees it, or the first node that answers.
function reference() {
  const names = [home, ...[...views.keys()].sort(byName)];
  const name = names.find(n => views.get(n) && views.get(n).ok);
  return name ? [name, views.get(name)] : [null, null];
}

function chains() {
  const chain = new Map();
  for (const e of events) if (e.event === "agent_changed" && e.agent && e.generation !== undefined) {
    if (!chain.has(e.agent)) chain.set(e.agent, new Map());
    chain.get(e.agent).set(e.generation, e.host);
  }
  return chain;
}

function renderAgents(name, view) {
  document.getElementById("agents-view").textContent = name ? "(as " + name + " sees them)" : "(no node answers)";
  if (!view) return;
  const chain = chains();
  const agents = [...(view.agents || [])].sort((a, b) => byName(a.node, b.node) || byName(a.name, b.name));
  let html = head(["node", "agent", "gen", "state", "guardians", "policy", "restarts", "relaunch chain"]);
  for (const a of agents) {
    const hops = [...(chain.get(a.name) || new Map()).entries()].sort((x, y) => x[0] - y[0]);
    const text = hops.map(([g, h]) => `g${g}@${esc(h)}`).join(" → ") || "–";
    html += row([esc(a.node), esc(a.name), esc(a.generation), `<span class="${cls(a.state)}">${esc(a.state)}</span>`,
                 esc((a.guardians || []).join(", ")) || "–", esc(a.policy), esc(a.restarts), text],
                `data-agent="${esc(a.name)}" data-host="${esc(a.node)}" data-state="${esc(a.state)}" data-generation="${esc(a.generation)}"`);
  }
  document.getElementById("agents").innerHTML = html;
}

function renderReports(view) {
  const all = events.filter(e => e.event === "masking_incident").sort((a, b) => b.ts_ms - a.ts_ms);
  const incidents = all.slice(0, 4);
  document.getElementById("incidents").innerHTML =
    (all.length ? `<div class=warn>${all.length} masking incident${all.length > 1 ? "s" : ""}, newest first:</div>` : "") +
    incidents.map(e =>
    `<div class="incident masking" data-incident="masking" data-reporter="${esc(e.reporter)}" data-peer="${esc(e.peer)}">` +
    `MASKING ${clock(e.ts_ms)} on ${esc(e.node)}: ${esc(e.reporter)} reported ${esc(e.peer)} <u>${esc(e.reported)}</u>` +
    ` while the daemons observed it <u>${esc(e.observed)}</u></div>`).join("") ||
    "<div class=dim>No masking incident recorded.</div>";
  if (!view) return;
  // Reports reach the reporter's own node: gather them from every node, beside the reference view's state.
  const claims = new Map();
  for (const v of views.values()) for (const a of (v.ok && v.agents) || [])
    for (const [reporter, said] of Object.entries(a.reported || {})) claims.set(a.name + "\u0000" + reporter, [a.name, reporter, said]);
  const observed = new Map((view.agents || []).map(a => [a.name, a.state]));
  let html = head(["agent", "observed by daemons", "reporter", "reported by agent"]);
  for (const [name, reporter, said] of [...claims.values()].sort((x, y) => byName(x[0], y[0]) || byName(x[1], y[1]))) {
    const state = observed.get(name) || "unknown", masking = said === "healthy" && state !== "running";
    html += row([esc(name), `<span class="${cls(state)}">${esc(state)}</span>`, esc(reporter), esc(said)],
                `${masking ? 'class="masking" ' : ""}data-report="${esc(name)}" data-masking="${masking}"`);
  }
  document.getElementById("reports").innerHTML = html;
}

function renderTombstones() {
  const best = new Map();
  for (const v of views.values()) for (const t of (v.ok && v.tombstones) || []) {
    const old = best.get(t.agent);
    if (!old || t.epoch > old.epoch) best.set(t.agent, t);
  }
  let html = head(["agent", "verdict", "epoch", "issued by", "reason"]);
  for (const t of [...best.values()].sort((a, b) => byName(a.agent, b.agent)))
    html += row([esc(t.agent), `<span class="${cls(t.kind)}">${esc(t.kind)}</span>`, esc(t.epoch), esc(t.issued_by), esc(t.reason)],
                `data-tombstone="${esc(t.agent)}" data-kind="${esc(t.kind)}"`);
  document.getElementById("tombstones").innerHTML = best.size ? html : "<tr><td class=dim>None.</td></tr>";
}

function renderFaults() {
  let html = head(["on node", "effect", "frames to", "time left"]), any = false;
  for (const [name, v] of [...views.entries()].sort((a, b) => byName(a[0], b[0]))) {
    if (!v.ok) continue;
    for (const f of v.faults || []) {
      const left = Math.max(0, f.remaining_ms - (Date.now() - v.at));
      if (!left) continue;
      any = true;
      const effect = f.effect === "delay" ? `delay ${f.ms}±${f.jitter_ms} ms` : f.effect === "loss" ? `loss ${f.percent}%` : f.effect;
      html += row([esc(name), esc(effect), esc((f.peers || []).join(", ")), (left / 1000).toFixed(1) + " s"],
                  `data-fault="${esc(name)}"`);
    }
  }
  document.getElementById("faults").innerHTML = any ? html : "<tr><td class=dim>None.</td></tr>";
}

const hidden = new Set(["seq", "ts_ms", "node", "event", "prev", "hash", "sig"]);
function renderTimeline() {
  events.sort((a, b) => a.ts_ms - b.ts_ms || byName(a.node, b.node) || a.seq - b.seq);
  if (events.length > EVENTS_MAX) {
    for (const e of events.splice(0, events.length - EVENTS_MAX)) seen.delete(e.node + "#" + e.seq);
  }
  let html = head(["time", "node", "event", "details"]);
  for (const e of events.slice(-SHOWN_MAX).reverse()) {
    const details = Object.entries(e).filter(([k]) => !hidden.has(k)).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
    html += `<tr ${e.event === "masking_incident" ? 'class="masking" ' : ""}data-event="${esc(e.event)}">` +
            `<td>${clock(e.ts_ms)}</td><td>${esc(e.node)}</td><td>${esc(e.event)}</td><td class=wrap>${esc(details)}</td></tr>`;
  }
  document.getElementById("timeline").innerHTML = html;
}

let pending = false;
function render() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    const [name, view] = reference();
    renderNodes(); renderAgents(name, view); renderReports(view); renderTombstones(); renderFaults(); renderTimeline();
    document.getElementById("clock").textContent = new Date().toTimeString().slice(0, 8);
  });
}

async function tick() {
  await Promise.all([home, ...addresses.keys()].filter((n, i, all) => all.indexOf(n) === i).map(poll));
  render();
  setTimeout(tick, POLL_MS);
}

(async function start() {
  for (;;) {
    try {
      const first = await getJSON("/api/v1/members");
      home = first.node;
      addresses.set(home, location.host);
      learn(first.members);
      break;
    } catch (e) {
      document.getElementById("origin").textContent = "waiting for " + location.host + ": " + (e.message || e);
      await new Promise(r => setTimeout(r, POLL_MS));
    }
  }
  document.getElementById("origin").textContent = "served by " + home + " (" + location.host + ")";
  tick();
})();
</script>
</body></html>
"""#
}
