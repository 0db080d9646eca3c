// rwproxy dashboard: polls api/status every second and renders the
// topology, a QPS chart per backend (canvas, drawn here), the top digests,
// routing and pin counters and the cluster members. No dependencies; all
// text goes through textContent (digests and names are not HTML).
"use strict";
(function () {
  const POLL_MS = 1000;
  const MAX_SPAN_MS = 120000; // the server keeps two minutes
  const MIN_SPAN_MS = 30000;
  const COLORS = ["#2b6cb0", "#2f855a", "#c05621", "#6b46c1", "#b83280", "#2c7a7b", "#975a16", "#4a5568"];
  const ROLE_RANK = { writer: 0, backup_writer: 1, reader: 2, offline: 3, other: 4 };

  let history = []; // the server's samples: {t: ms, q: {addr: queries}}, oldest first
  let colors = new Map();
  let polls = 0;

  function $(id) { return document.getElementById(id); }

  // el builds an element: attrs maps names to values ("class", "title",
  // "data-*"); kids are nodes or text.
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    }
    for (const k of kids) e.append(k instanceof Node ? k : String(k));
    return e;
  }

  function fill(tbody, rows) { tbody.replaceChildren(...rows); }
  function fmtQPS(v) { return v >= 100 ? v.toFixed(0) : v.toFixed(1); }
  function fmtMs(us) { return (us / 1000).toFixed(us < 10000 ? 2 : 1); }
  function fmtLag(s) { return s < 0 ? "–" : s.toFixed(s < 10 ? 1 : 0) + " s"; }
  function fmtUptime(ms) {
    let s = Math.max(0, Math.floor(ms / 1000));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + s + "s";
  }

  // load takes the server's history of per-backend query counters (sampled
  // every second, in server time) and returns each backend's latest rate.
  function load(st) {
    history = (st.history || []).map((p) => ({ t: Date.parse(p.time), q: p.queries || {} }));
    return rates(history.length - 1);
  }

  function rates(i) {
    const out = {};
    const cur = history[i], prev = history[i - 1];
    if (!cur) return out;
    for (const addr of Object.keys(cur.q)) {
      if (!prev || prev.q[addr] === undefined) { out[addr] = 0; continue; }
      const dq = cur.q[addr] - prev.q[addr];
      out[addr] = dq > 0 ? dq * 1000 / (cur.t - prev.t) : 0;
    }
    return out;
  }

  function colorOf(addr) {
    if (!colors.has(addr)) colors.set(addr, COLORS[colors.size % COLORS.length]);
    return colors.get(addr);
  }

  function renderHeader(st, qps) {
    const ready = $("ready");
    ready.textContent = st.ready ? "ready" : "not ready";
    ready.className = "badge " + (st.ready ? "ok" : "bad");
    ready.title = st.ready_reason || "a writer hostgroup has an ONLINE server";
    let total = 0;
    for (const v of Object.values(qps)) total += v;
    $("qps-total").textContent = fmtQPS(total);
    $("clients").textContent = st.proxy.client_connections;
    $("queries-total").textContent = st.proxy.queries;
    $("config-version").textContent = st.config_version;
    $("uptime").textContent = fmtUptime(Date.parse(st.time) - Date.parse(st.start_time));
    $("updated").textContent = "updated " + new Date(st.time).toLocaleTimeString();
  }

  function renderTopology(st, qps) {
    const servers = new Map((st.servers || []).map((s) => [s.addr, s]));
    const hgs = (st.hostgroups || []).slice().sort((a, b) =>
      (ROLE_RANK[a.role] ?? 9) - (ROLE_RANK[b.role] ?? 9) || a.id - b.id);
    const cards = hgs.map((hg) => {
      const rows = (st.backends || []).filter((b) => b.hostgroup === hg.id).map((b) => {
        const s = servers.get(b.addr) || {};
        const avg = s.queries ? s.latency_us / s.queries : 0;
        const ping = s.checked && s.ping_latency_ns > 0 ? (s.ping_latency_ns / 1e6).toFixed(2) : "–";
        return el("tr", { "data-hostgroup": hg.id, "data-addr": b.addr },
          el("td", { "data-field": "addr" }, el("span", { class: "swatch-dot", style: "color:" + colorOf(b.addr) }, "● "), b.addr),
          el("td", { class: "state " + b.state, "data-field": "state" }, b.state),
          el("td", { class: "num", "data-field": "weight" }, b.weight),
          el("td", { class: "num", "data-field": "lag", "data-value": b.lag_seconds }, fmtLag(b.lag_seconds)),
          el("td", { "data-field": "read_only" }, b.read_only ? "ON" : "OFF"),
          el("td", { class: "num", "data-field": "conn_used" }, s.conn_used ?? 0),
          el("td", { class: "num", "data-field": "conn_free" }, s.conn_free ?? 0),
          el("td", { class: "num", "data-field": "max_connections" }, b.max_connections),
          el("td", { class: "num", "data-field": "queries" }, s.queries ?? 0),
          el("td", { class: "num", "data-field": "qps" }, fmtQPS(qps[b.addr] || 0)),
          el("td", { class: "num", "data-field": "avg_ms" }, fmtMs(avg)),
          el("td", { class: "num", "data-field": "ping_ms" }, ping));
      });
      const head = el("tr", {}, ...["backend", "state", "weight", "lag", "read_only", "conns used", "free", "max", "queries", "qps", "avg ms", "ping ms"]
        .map((h, i) => el("th", { class: i === 0 || i === 1 || i === 4 ? "" : "num" }, h)));
      const body = rows.length ? rows : [el("tr", {}, el("td", { colspan: 12, class: "muted" }, "no servers"))];
      return el("div", { class: "hostgroup", "data-hostgroup": hg.id, "data-role": hg.role },
        el("h3", {}, "hostgroup " + hg.id, el("span", { class: "role " + hg.role }, hg.role.replace("_", " ")),
          hg.default ? el("span", { class: "muted" }, " · default hostgroup") : ""),
        el("table", {}, el("thead", {}, head), el("tbody", {}, ...body)));
    });
    $("topology").replaceChildren(...cards);
  }

  function renderDigests(st) {
    fill($("digests").tBodies[0], (st.digests || []).map((d, i) =>
      el("tr", { "data-index": i },
        el("td", { class: "num", "data-field": "count" }, d.count),
        el("td", { class: "num", "data-field": "avg_ms" }, fmtMs(d.count ? d.sum_time_us / d.count : 0)),
        el("td", { class: "num", "data-field": "max_ms" }, fmtMs(d.max_time_us)),
        el("td", { class: "num", "data-field": "hostgroup" }, d.hostgroup),
        el("td", { "data-field": "user" }, d.user),
        el("td", { "data-field": "schema" }, d.schema),
        el("td", { class: "digest", "data-field": "digest", title: d.digest }, d.digest))));
  }

  // renderCounts lists the non-zero counters, largest first, and sums up
  // the others in one line.
  function renderCounts(id, counts) {
    const all = (counts || []).slice().sort((a, b) => b.value - a.value || a.name.localeCompare(b.name));
    const rows = all.filter((c) => c.value > 0)
      .map((c) => el("tr", { "data-name": c.name }, el("td", {}, c.name), el("td", { class: "num", "data-field": "value" }, c.value)));
    const zero = all.filter((c) => c.value === 0).map((c) => c.name);
    if (zero.length) {
      rows.push(el("tr", { class: "zero" }, el("td", { class: "muted", title: zero.join(", ") },
        zero.length + (rows.length ? " other" : "") + (zero.length === 1 ? " reason" : " reasons")), el("td", { class: "num muted" }, 0)));
    }
    fill($(id).tBodies[0], rows);
  }

  function renderCluster(st) {
    const box = $("cluster");
    if (!st.members) {
      box.replaceChildren(el("p", { class: "muted", "data-clustered": "false" },
        "Not clustered. Configuration version " + st.config_version + " (" + st.config_origin + ")."));
      return;
    }
    const rows = st.members.map((m) => el("tr", { class: m.self ? "self" : "", "data-member": m.name },
      el("td", {}, m.name + (m.self ? " (this node)" : "")), el("td", {}, m.addr),
      el("td", { "data-field": "state" }, m.state), el("td", { class: "num", "data-field": "config_version" }, m.config_version)));
    box.replaceChildren(el("table", { "data-clustered": "true" },
      el("thead", {}, el("tr", {}, el("th", {}, "node"), el("th", {}, "address"), el("th", {}, "state"), el("th", { class: "num" }, "config"))),
      el("tbody", {}, ...rows)));
  }

  // niceCeil rounds v up to 1, 2 or 5 times a power of ten.
  function niceCeil(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 4, 5, 8, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function drawChart() {
    const cv = $("qps-chart");
    const dpr = window.devicePixelRatio || 1;
    const w = cv.clientWidth || 800, h = cv.clientHeight || 240;
    cv.width = Math.round(w * dpr);
    cv.height = Math.round(h * dpr);
    const g = cv.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const pad = { l: 52, r: 12, t: 10, b: 22 };
    const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
    if (!history.length) return;
    const now = history[history.length - 1].t;
    // Show what there is, in steps of 30 s: a fresh proxy gets a readable
    // chart instead of a line squeezed against the right edge.
    const have = now - history[0].t;
    const span = Math.min(MAX_SPAN_MS, Math.max(MIN_SPAN_MS, Math.ceil(have / 30000) * 30000));
    $("chart-span").textContent = "(last " + (span >= 60000 ? span / 60000 + (span === 60000 ? " minute" : " minutes") : span / 1000 + " s") + ")";
    const series = new Map();
    let ymax = 0, points = 0;
    for (let i = 1; i < history.length; i++) {
      const r = rates(i);
      for (const [addr, v] of Object.entries(r)) {
        if (!series.has(addr)) series.set(addr, []);
        series.get(addr).push([history[i].t, v]);
        ymax = Math.max(ymax, v);
        points++;
      }
    }
    ymax = niceCeil(ymax * 1.1);
    const x = (t) => pad.l + pw * (1 - (now - t) / span);
    const y = (v) => pad.t + ph * (1 - v / ymax);
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#6b7385";
    g.strokeStyle = "#e2e5eb";
    g.lineWidth = 1;
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const v = ymax * i / 4, yy = Math.round(y(v)) + 0.5;
      g.beginPath(); g.moveTo(pad.l, yy); g.lineTo(pad.l + pw, yy); g.stroke();
      g.fillText(v >= 100 ? v.toFixed(0) : String(+v.toFixed(1)), pad.l - 6, yy);
    }
    g.textAlign = "center";
    g.textBaseline = "top";
    const step = span > 60000 ? 30 : 10;
    for (let s = 0; s <= span / 1000; s += step) {
      const xx = Math.round(x(now - s * 1000)) + 0.5;
      g.beginPath(); g.moveTo(xx, pad.t); g.lineTo(xx, pad.t + ph); g.stroke();
      g.fillText(s === 0 ? "now" : "-" + s + "s", xx, pad.t + ph + 5);
    }
    g.save();
    g.beginPath(); g.rect(pad.l, pad.t, pw, ph); g.clip();
    g.lineJoin = "round";
    // Earlier series are drawn wider, so that equal rates (replicas of
    // equal weight) still show both colors.
    let k = 0;
    for (const [addr, pts] of series) {
      g.lineWidth = 2 + 2 * (series.size - 1 - k++) / Math.max(1, series.size - 1);
      g.strokeStyle = colorOf(addr);
      g.beginPath();
      pts.forEach(([t, v], i) => (i ? g.lineTo(x(t), y(v)) : g.moveTo(x(t), y(v))));
      if (pts.length === 1) g.arc(x(pts[0][0]), y(pts[0][1]), 2, 0, 2 * Math.PI);
      g.stroke();
    }
    g.restore();
    cv.dataset.points = String(points);
    cv.dataset.ymax = String(ymax);
  }

  function renderLegend(st, qps) {
    $("qps-legend").replaceChildren(...(st.servers || []).map((s) =>
      el("li", { "data-addr": s.addr },
        el("span", { class: "swatch", style: "background:" + colorOf(s.addr) }),
        el("span", {}, s.addr),
        el("span", { class: "value", "data-field": "qps" }, fmtQPS(qps[s.addr] || 0)))));
  }

  function render(st) {
    for (const s of st.servers || []) colorOf(s.addr); // stable colors in address order
    const qps = load(st);
    renderHeader(st, qps);
    renderTopology(st, qps);
    renderLegend(st, qps);
    drawChart();
    renderDigests(st);
    renderCounts("routes", st.routes);
    renderCounts("pins", st.pins);
    renderCluster(st);
  }

  async function poll() {
    try {
      const r = await fetch("api/status", { cache: "no-store" });
      if (!r.ok) throw new Error("api/status: HTTP " + r.status);
      render(await r.json());
      $("error").hidden = true;
      document.body.dataset.state = "ok";
    } catch (e) {
      $("error").textContent = "Cannot read the proxy's status: " + e.message;
      $("error").hidden = false;
      document.body.dataset.state = "error";
    } finally {
      polls++;
      document.body.dataset.polls = String(polls);
      setTimeout(poll, POLL_MS);
    }
  }

  window.addEventListener("resize", drawChart);
  poll();
})();
