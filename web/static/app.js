// Tessera dashboard: polls /api/status every second and renders it. All
// text from the server goes through textContent, never innerHTML.
"use strict";

(function () {
  const POLL_MS = 1000;
  const WINDOW_S = 120;
  const samples = []; // [{t: seconds, tokens: total}]

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "class") e.className = v;
        else if (k === "text") e.textContent = v;
        else if (k === "onclick") e.addEventListener("click", v);
        else e.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function short(id) {
    if (!id) return "";
    return id.length > 14 ? "…" + id.slice(-8) : id;
  }

  function fmtInt(n) {
    return Number(n || 0).toLocaleString("en-US");
  }

  function fmtRate(x) {
    if (!x) return "–";
    return x >= 100 ? x.toFixed(0) : x.toFixed(1);
  }

  function fmtMs(ms) {
    if (!ms) return "–";
    return ms >= 1000 ? (ms / 1000).toFixed(2) + " s" : ms.toFixed(0) + " ms";
  }

  function fmtBytes(n) {
    n = Number(n || 0);
    if (n >= 1 << 30) return (n / (1 << 30)).toFixed(2) + " GiB";
    if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
    if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + " KiB";
    return n + " B";
  }

  function fmtTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return "";
    return d.toLocaleTimeString("en-GB", { hour12: false });
  }

  function ago(iso, now) {
    const d = new Date(iso);
    if (isNaN(d) || d.getFullYear() < 2000) return "never";
    const s = Math.max(0, (now - d) / 1000);
    if (s < 2) return "just now";
    if (s < 90) return s.toFixed(0) + " s ago";
    if (s < 5400) return (s / 60).toFixed(0) + " min ago";
    return (s / 3600).toFixed(1) + " h ago";
  }

  function setLive(ok, text) {
    $("live-dot").className = "dot " + (ok ? "on" : "off");
    $("live-text").textContent = text;
  }

  function renderHeader(st) {
    $("role").textContent = st.role || "dashboard";
    $("name").textContent = st.name || "";
    document.title = "Tessera " + (st.role || "") + (st.name ? " · " + st.name : "");
    const notes = $("notes");
    notes.replaceChildren(...(st.notes || []).map((n) => el("p", { text: n })));
    notes.hidden = !(st.notes && st.notes.length);
  }

  function renderStats(st) {
    $("stats").replaceChildren(
      ...(st.stats || []).map((s) =>
        el("div", { class: "card" },
          el("div", { class: "label", text: s.label }),
          el("div", { class: "value", text: s.value }),
          s.hint ? el("div", { class: "hint", text: s.hint }) : null))
    );
  }

  // seriesOf returns tokens per second, oldest first, one point a second:
  // the server's history when it keeps one, else rates sampled here.
  function seriesOf(st) {
    if (Array.isArray(st.throughput) && st.throughput.length) return st.throughput.slice(-WINDOW_S);
    const now = Date.now() / 1000;
    samples.push({ t: now, tokens: Number(st.tokens_served || 0) });
    while (samples.length && samples[0].t < now - WINDOW_S - 2) samples.shift();
    const out = [];
    for (let i = 1; i < samples.length; i++) {
      const dt = samples[i].t - samples[i - 1].t;
      const dn = samples[i].tokens - samples[i - 1].tokens;
      out.push(dt > 0 && dn >= 0 ? dn / dt : 0);
    }
    return out;
  }

  function renderSpark(st) {
    $("rate-label").textContent = (st.throughput_label || "generated tokens per second") + ", last two minutes";
    const rates = seriesOf(st);
    const recent = rates.slice(-5);
    const avg = recent.length ? recent.reduce((a, b) => a + b, 0) / recent.length : 0;
    const peak = rates.length ? Math.max(...rates) : 0;
    $("rate").textContent = fmtRate(avg) + " tok/s now" + (peak > 0 ? " · peak " + fmtRate(peak) : "");
    const W = 600, H = 80, top = Math.max(1, peak) * 1.15;
    const n = rates.length;
    const x = (i) => W - ((n - 1 - i) / (WINDOW_S - 1)) * W;
    const y = (r) => H - 2 - (r / top) * (H - 6);
    if (n < 2) {
      $("spark-line").setAttribute("d", `M0 ${H - 2} L${W} ${H - 2}`);
      $("spark-area").setAttribute("d", "");
      return;
    }
    let d = x(0) > 0 ? `M0 ${H - 2} L${x(0).toFixed(1)} ${H - 2} L` : "M";
    rates.forEach((r, i) => { d += (i ? " L" : "") + x(i).toFixed(1) + " " + y(r).toFixed(1); });
    $("spark-line").setAttribute("d", d);
    $("spark-area").setAttribute("d", d + ` L${W} ${H} L0 ${H} Z`);
  }

  function axis(layers) {
    const a = el("div", { class: "axis" });
    const step = layers <= 16 ? 1 : layers <= 40 ? 4 : layers <= 96 ? 8 : 16;
    for (let l = 0; l <= layers; l += step) {
      const s = el("span", { text: String(l) });
      s.style.left = (100 * l / layers) + "%";
      a.append(s);
    }
    if (layers % step) {
      const s = el("span", { text: String(layers) });
      s.style.left = "100%";
      a.append(s);
    }
    return a;
  }

  function track(layers, bars) {
    const t = el("div", { class: "track" });
    t.style.setProperty("--cell", (100 / Math.max(1, layers)) + "%");
    for (const b of bars) t.append(b);
    return t;
  }

  function bar(first, last, layers, cls, label, title) {
    const b = el("div", { class: "bar " + cls, title: title || "", text: label });
    b.style.left = (100 * first / layers) + "%";
    b.style.width = (100 * (last - first) / layers) + "%";
    return b;
  }

  function renderCoverage(st) {
    const root = $("coverage");
    const models = st.models || [];
    if (!models.length) {
      root.replaceChildren(el("p", { class: "empty", text: "No model is served here yet." }));
      return;
    }
    const now = new Date(st.now || Date.now());
    root.replaceChildren(...models.map((m) => {
      const L = Math.max(1, m.layers || 1);
      const gaps = m.gaps || [];
      const head = el("div", { class: "model-head" },
        el("span", { class: "model-name", text: m.model }),
        el("span", { class: "muted", text: L + " layers" }),
        m.commitment ? el("span", { class: "muted mono", title: m.commitment, text: "commit " + m.commitment.slice(0, 12) }) : null,
        m.partial
          ? el("span", { class: "covered full", text: "serving " + (m.nodes || []).map((n) => n.first + ":" + n.last).join(", ") })
          : gaps.length
            ? el("span", { class: "covered gap", text: "uncovered " + gaps.map((g) => g.first + ":" + g.last).join(", ") })
            : el("span", { class: "covered full", text: "fully covered" }),
        m.detail ? el("span", { class: "muted", text: m.detail }) : null);
      const grid = el("div", { class: "track-grid" });
      grid.append(el("div"), axis(L));
      for (const n of m.nodes || []) {
        const range = n.first + ":" + n.last;
        const label = el("div", { class: "track-label", title: (n.peer || "") + (n.addr ? "\n" + n.addr : "") },
          el("span", { class: "peer", text: n.peer === "local" ? "local" : short(n.peer) }),
          n.self ? el("span", { class: "muted", text: " (this node)" }) : null);
        grid.append(label, track(L, [bar(n.first, n.last, L, (n.health || "unknown") + (n.self ? " self" : ""), range,
          `${n.peer}\nlayers ${range}\n${n.health}${n.detail ? ": " + n.detail : ""}`)]));
      }
      if (gaps.length) {
        grid.append(el("div", { class: "track-label muted", text: "uncovered" }),
          track(L, gaps.map((g) => bar(g.first, g.last, L, "gap", g.first + ":" + g.last, "no healthy node serves these layers"))));
      }
      const table = el("table", { class: "nodes-table" },
        el("thead", null, el("tr", null,
          ...["Node", "Address", "Layers", "Health", "Latency", "Sessions (free)", "Positions", "Throughput", "Traffic in / out", "Last seen"]
            .map((h, i) => el("th", { class: i >= 4 && i <= 8 ? "num" : null, text: h })))),
        el("tbody", null, ...(m.nodes || []).map((n) => el("tr", null,
          el("td", { class: "mono", title: n.peer, text: n.peer === "local" ? "local" : short(n.peer) }),
          el("td", { class: "mono muted", title: n.addr || "", text: n.addr ? n.addr.replace(/\/p2p\/[^/]+$/, "") : "–" }),
          el("td", { class: "mono", text: n.first + ":" + n.last }),
          el("td", { class: "wrap" }, el("span", { class: "health " + (n.health || "unknown"), title: n.detail || "", text: n.health }),
            n.detail ? el("div", { class: "detail muted", text: n.detail }) : null),
          el("td", { class: "num", text: n.latency_ms ? n.latency_ms.toFixed(1) + " ms" : "–" }),
          el("td", { class: "num", text: fmtInt(n.sessions) + (n.peer === "local" || n.self ? "" : " (" + n.free_sessions + ")") }),
          el("td", { class: "num", text: fmtInt(n.positions) }),
          el("td", { class: "num", text: n.tokens_per_second ? fmtRate(n.tokens_per_second) + " tok/s" : "–" }),
          el("td", { class: "num", text: fmtBytes(n.bytes_in) + " / " + fmtBytes(n.bytes_out) }),
          el("td", { class: "muted", text: n.self ? "now" : ago(n.last_seen, now) })))));
      return el("div", { class: "model" }, head, grid, el("div", { class: "table-wrap" }, table));
    }));
  }

  function auditPill(g) {
    const a = g.audit || {};
    let status = a.status || "none";
    let text = { none: "no audit", receipts: "receipts checked", pending: "pending", passed: "verified", failed: "failed" }[status] || status;
    let title = a.detail || "";
    if (g.error) {
      status = "error";
      title = "failed: " + g.error;
      text = title.length > 48 ? title.slice(0, 47) + "…" : title;
    }
    return el("span", { class: "pill audit-" + status, title: title, text: text });
  }

  function renderGenerations(st) {
    $("gens-panel").hidden = !!st.hide_generations;
    const gens = st.generations || [];
    const body = $("gens-body");
    if (!gens.length) {
      body.replaceChildren(el("tr", null, el("td", { colspan: 10, class: "empty", text: "No generations yet." })));
      return;
    }
    body.replaceChildren(...gens.map((g) => el("tr", null,
      el("td", { class: "muted", title: g.time, text: fmtTime(g.time) }),
      el("td", null, g.model, el("span", { class: "muted", text: " · " + (g.endpoint === "chat.completions" ? "chat" : "completion") })),
      el("td", { class: "num", text: fmtInt(g.prompt_tokens) + " → " + fmtInt(g.completion_tokens) }),
      el("td", { class: "num", text: g.tokens_per_second ? fmtRate(g.tokens_per_second) + " tok/s" : "–" }),
      el("td", { class: "num", text: fmtMs(g.ttft_ms) }),
      el("td", { text: g.finish_reason || (g.error ? "error" : "–") }),
      el("td", null, el("span", { class: "hops" }, ...(g.hops || []).map((h) =>
        el("span", { class: "hop", title: `${h.peer}: layers ${h.layers}, ${fmtMs(h.ms)}`, text: h.layers })))),
      el("td", null, g.certificate
        ? el("button", { class: "cert", type: "button", title: g.certificate, text: short(g.certificate), onclick: () => openCert(g.certificate) })
        : "–"),
      el("td", null, auditPill(g)),
      el("td", { class: "num", title: g.paid || "", text: g.paid ? (g.paid.length > 24 ? g.paid.slice(0, 23) + "…" : g.paid) : "–" }))));
  }

  function renderLedger(st) {
    const root = $("ledger");
    const l = st.ledger;
    if (!l) {
      root.replaceChildren(el("div", { class: "ledger-empty" },
        el("div", null,
          el("strong", { text: "No ledger connected." }),
          el("div", { text: "Generations are not paid and nodes earn nothing. Start with --ledger-url URL (a ledger's API) or --ledger-home DIR (an embedded ledger) to see balances, earnings and transactions here." }))));
      return;
    }
    const head = el("div", { class: "ledger-head" },
      el("span", { class: "mono", text: l.where }),
      l.chain_id ? el("span", { class: "muted", text: "chain " + l.chain_id }) : null,
      el("span", { class: "ledger-height", text: "height " + fmtInt(l.height) }),
      l.app_hash ? el("span", { class: "mono muted", title: l.app_hash, text: "app hash " + l.app_hash.slice(0, 16) + "…" }) : null,
      l.price ? el("span", { class: "muted", text: l.price + " credit(s) per layer and token" }) : null);
    if (l.error) {
      root.replaceChildren(head, el("p", { class: "ledger-error", text: "The ledger did not answer: " + l.error }));
      return;
    }
    const accounts = el("table", null,
      el("thead", null, el("tr", null, ...["Account", "Role", "Balance", "Stake", "Earned", "Work units"]
        .map((h, i) => el("th", { class: i >= 2 ? "num" : null, text: h })))),
      el("tbody", null, ...(l.accounts || []).map((a) => el("tr", { title: (a.key || "") + (a.detail ? "\n" + a.detail : "") },
        el("td", { class: "mono", text: a.name }),
        el("td", { class: "wrap" }, a.role || "", a.detail ? el("div", { class: "detail muted", text: a.detail }) : null),
        el("td", { class: "num", text: a.balance }), el("td", { class: "num", text: a.stake || "–" }),
        el("td", { class: "num", text: a.earned || "–" }), el("td", { class: "num", text: a.work_units || "–" })))));
    const txs = el("table", null,
      el("thead", null, el("tr", null, ...["Height", "Time", "Kind", "From", "To", "Amount", "Memo"]
        .map((h) => el("th", { class: h === "Amount" || h === "Height" ? "num" : null, text: h })))),
      el("tbody", null, ...((l.transactions || []).length ? l.transactions.map((t) => el("tr", null,
        el("td", { class: "num", text: t.height ? fmtInt(t.height) : "–" }),
        el("td", { class: "muted", text: fmtTime(t.time) }), el("td", { text: t.kind }), el("td", { class: "mono", text: t.from || "–" }),
        el("td", { class: "mono", text: t.to || "–" }), el("td", { class: "num", text: t.amount || "–" }), el("td", { class: "muted wrap", text: t.memo || "" })))
        : [el("tr", null, el("td", { colspan: 7, class: "empty", text: "No transactions yet." }))])));
    root.replaceChildren(head, el("div", { class: "ledger-grid" }, el("div", { class: "table-wrap" }, accounts), el("div", { class: "table-wrap" }, txs)));
  }

  async function openCert(id) {
    const dlg = $("cert-dialog");
    $("cert-id").textContent = id;
    $("cert-audit").textContent = "Loading…";
    $("cert-json").textContent = "";
    if (!dlg.open) dlg.showModal();
    try {
      const r = await fetch("/api/certificates/" + encodeURIComponent(id), { cache: "no-store" });
      const c = await r.json();
      if (!r.ok) throw new Error(c.error || r.statusText);
      const a = c.audit || {};
      $("cert-audit").replaceChildren(auditPill({ audit: a }), " ", a.detail || "");
      $("cert-json").textContent = JSON.stringify(c, null, 2);
    } catch (e) {
      $("cert-audit").textContent = "Could not load the certificate: " + e.message;
    }
  }

  $("cert-close").addEventListener("click", () => $("cert-dialog").close());

  let failures = 0;
  async function poll() {
    try {
      const r = await fetch("/api/status", { cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const st = await r.json();
      failures = 0;
      renderHeader(st);
      renderStats(st);
      renderSpark(st);
      renderCoverage(st);
      renderGenerations(st);
      renderLedger(st);
      setLive(true, "live");
      $("updated").textContent = "updated " + fmtTime(st.now || new Date().toISOString());
      document.body.dataset.loaded = "true";
    } catch (e) {
      failures++;
      setLive(false, failures > 2 ? "offline — " + e.message : "reconnecting…");
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }
  poll();
})();
