// The Nexus Connector dashboard: one page kept live by Server-Sent Events ("events", relative
// to the page, so the app works behind any path prefix). Every value is written as text
// (textContent), never as HTML: error messages and names come from outside.
"use strict";

(function () {
  const TIMELINE_SECONDS = 600;
  const byId = (id) => document.getElementById(id);

  function el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function percent(value, digits) {
    if (value === null || value === undefined) return "–";
    return (value * 100).toFixed(digits === undefined ? 2 : digits) + "%";
  }

  function number(value, digits) {
    if (value === null || value === undefined) return "–";
    return Number(value).toFixed(digits === undefined ? 2 : digits);
  }

  function seconds(value) {
    if (value === null || value === undefined) return "–";
    if (value === "inf") return "∞";
    return value < 1 ? Math.round(value * 1000) + " ms" : Number(value).toFixed(2) + " s";
  }

  function clock(iso) {
    if (!iso) return "–";
    const when = new Date(iso);
    return Number.isNaN(when.getTime()) ? iso : when.toISOString().slice(11, 19);
  }

  function badge(node, status) {
    node.dataset.status = status || "unknown";
    node.textContent = (status || "unknown").replace("_", "-");
  }

  function renderAlerts(alerts) {
    const list = byId("alert-list");
    clear(list);
    const rules = alerts && alerts.rules ? alerts.rules : [];
    byId("alerts-none").hidden = rules.length > 0;
    const order = { firing: 0, pending: 1, inactive: 2 };
    rules.slice().sort((a, b) => order[a.status] - order[b.status]).forEach((rule) => {
      const item = el("li", null, { "data-rule": rule.name, "data-status": rule.status });
      const state = el("span", null, { class: "badge" });
      badge(state, rule.status);
      item.append(state, el("strong", rule.name), el("code", rule.when));
      if (rule.status !== "inactive" && rule.since) item.append(el("span", "since " + clock(rule.since), { class: "muted" }));
      list.append(item);
    });
  }

  function renderTimeline(card, connector, now) {
    const bar = card.querySelector(".timeline");
    const changes = card.querySelector(".changes");
    clear(bar);
    clear(changes);
    const primary = connector.vendors.length ? connector.vendors[0].vendor : null;
    const points = connector.timeline.filter((p) => p.vendor === primary);
    // The bar spans from the first state this page knows of (at most 10 minutes ago) to now.
    const end = now.getTime() / 1000;
    const first = points.length ? new Date(points[0].at).getTime() / 1000 : end;
    const start = Math.max(first, end - TIMELINE_SECONDS);
    const span = Math.max(end - start, 1e-3);
    points.forEach((point, index) => {
      const from = Math.max(new Date(point.at).getTime() / 1000, start);
      const next = points[index + 1];
      const to = next ? new Date(next.at).getTime() / 1000 : end;
      if (to <= start) return;
      const piece = el("span", null, { "data-state": point.state, title: point.state });
      piece.style.width = Math.max(((to - from) / span) * 100, 0.5).toFixed(2) + "%";
      bar.append(piece);
    });
    connector.timeline.slice(-5).reverse().forEach((point) => {
      changes.append(el("li", clock(point.at) + "  " + point.vendor + " → " + point.state.replace("_", "-")));
    });
  }

  function renderVendors(card, connector) {
    const body = card.querySelector(".vendors tbody");
    clear(body);
    connector.vendors.forEach((vendor) => {
      const row = el("tr", null, { "data-vendor": vendor.vendor });
      const breaker = el("span", null, {
        class: "badge breaker",
        "data-connector": connector.name,
        "data-vendor": vendor.vendor,
      });
      badge(breaker, vendor.breaker || "none");
      if (vendor.breaker === "open") breaker.textContent = "open " + Math.ceil(vendor.retry_after) + "s";
      const cell = el("td");
      cell.append(breaker);
      const limit = vendor.limit
        ? vendor.limit.available + " / " + vendor.limit.capacity + " free"
        : "–";
      row.append(
        el("td", vendor.vendor),
        cell,
        el("td", vendor.window_failures + " / " + vendor.window_calls + " failed"),
        el("td", limit),
      );
      body.append(row);
    });
  }

  function renderTraffic(card, connector) {
    const list = card.querySelector(".traffic");
    clear(list);
    const rows = [];
    const fleet = connector.traffic;
    if (fleet) {
      rows.push(["calls / s", number(fleet.calls_per_s)]);
      rows.push(["errors / s", number(fleet.errors_per_s)]);
      // Histogram bounds: each percentile is at most this.
      rows.push(["p50 · p95 · p99", [fleet.p50, fleet.p95, fleet.p99].map((v) => (v === null ? "–" : "≤ " + seconds(v))).join(" · ")]);
    }
    const recent = connector.recent;
    rows.push(["this worker", recent.calls + " recent calls, " + percent(recent.error_rate, 0) + " failed"]);
    rows.push(["its p50 · p95", seconds(recent.p50_ms === null ? null : recent.p50_ms / 1000) + " · " + seconds(recent.p95_ms === null ? null : recent.p95_ms / 1000)]);
    if (recent.serving) rows.push(["serving", recent.serving]);
    rows.forEach(([term, value]) => list.append(el("dt", term), el("dd", value)));
  }

  function renderSlo(card, connector) {
    const body = card.querySelector(".slo tbody");
    clear(body);
    const slos = connector.slo || [];
    card.querySelector(".slo-none").hidden = slos.length > 0;
    card.querySelector(".slo").hidden = slos.length === 0;
    slos.forEach((slo) => {
      slo.objectives.forEach((objective) => {
        const label = (slo.name === connector.name ? "" : slo.name + ": ") + objective.objective;
        const row = el("tr");
        const budget = el("td", percent(objective.budget_left, 1));
        if (objective.budget_left < 0) budget.className = "bad";
        row.append(
          el("td", label + " (" + percent(objective.target, 3) + ", " + objective.window + ")"),
          el("td", percent(objective.attainment, 3)),
          budget,
          el("td", number(objective.burn_rates["1h"])),
          el("td", number(objective.burn_rates["6h"])),
          el("td", number(objective.burn_rates["3d"])),
        );
        body.append(row);
      });
    });
  }

  function renderErrors(card, connector) {
    const list = card.querySelector(".errors");
    clear(list);
    const errors = connector.errors || [];
    card.querySelector(".errors-none").hidden = errors.length > 0;
    errors.slice().reverse().forEach((error) => {
      const text = clock(error.at) + "  " + error.operation + (error.vendor ? " @" + error.vendor : "") + "  " + error.error + (error.message ? ": " + error.message : "");
      list.append(el("li", text));
    });
  }

  function renderConnector(connector, now) {
    const container = byId("connectors");
    let card = container.querySelector('article[data-connector="' + CSS.escape(connector.name) + '"]');
    if (!card) {
      card = byId("connector-card").content.firstElementChild.cloneNode(true);
      card.dataset.connector = connector.name;
      container.append(card);
    }
    card.querySelector(".name").textContent = connector.name;
    card.querySelector(".category").textContent = connector.category;
    badge(card.querySelector(".status"), connector.status);
    const reasons = card.querySelector(".reasons");
    clear(reasons);
    connector.reasons.forEach((reason) => reasons.append(el("li", reason)));
    renderVendors(card, connector);
    renderTimeline(card, connector, now);
    renderTraffic(card, connector);
    renderSlo(card, connector);
    renderErrors(card, connector);
  }

  function render(snapshot) {
    const now = new Date(snapshot.at);
    badge(byId("status"), snapshot.status);
    byId("updated").textContent = "updated " + clock(snapshot.at) + " UTC";
    renderAlerts(snapshot.alerts);
    const names = new Set(snapshot.connectors.map((c) => c.name));
    byId("connectors").querySelectorAll("article[data-connector]").forEach((card) => {
      if (!names.has(card.dataset.connector)) card.remove();
    });
    snapshot.connectors.forEach((connector) => renderConnector(connector, now));
  }

  function connect() {
    const link = byId("link");
    const source = new EventSource("events");
    source.addEventListener("snapshot", (event) => {
      link.dataset.link = "live";
      link.textContent = "live";
      render(JSON.parse(event.data));
    });
    source.addEventListener("error", () => {
      link.dataset.link = "lost";
      link.textContent = "reconnecting…";
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", connect);
  else connect();
})();
