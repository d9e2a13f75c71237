"use strict";
// The operator page: every verifier group's lag, the outboxes, the event rates, with
// small charts of the last minutes. It asks the console for a snapshot every few seconds.

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

/** A small line chart of ``values`` (newest last), scaled to its own maximum. */
function sparkline(values, label) {
  const width = 300;
  const height = 48;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const max = Math.max(1, ...values);
  svg.setAttribute("aria-label", `${label}: max ${max} over ${values.length} samples`);
  const base = document.createElementNS(SVG, "line");
  for (const [k, v] of Object.entries({x1: 0, x2: width, y1: height - 1, y2: height - 1})) base.setAttribute(k, v);
  svg.append(base);
  if (values.length > 1) {
    const step = width / (values.length - 1);
    const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 6)).toFixed(1)}`);
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    svg.append(line);
  }
  return svg;
}

function series(history, kind, name) {
  return history.map((sample) => Number((sample[kind] || {})[name] || 0));
}

function figure(label, value, attrs) {
  return el("div", attrs || {}, el("span", {class: "label"}, label), el("span", {class: "figure"}, value));
}

function state(ok, yes, no) {
  return el("span", {class: `badge tone-${ok ? "ok" : "bad"}`}, ok ? yes : no);
}

function groupCard(group, history) {
  const partitions = el("table", {},
    el("thead", {}, el("tr", {}, ...["topic", "partition", "applied", "high-water", "lag"].map((h) => el("th", {}, h)))),
    el("tbody", {}, ...group.partitions.map((p) =>
      el("tr", {}, el("td", {class: "mono"}, p.topic), el("td", {}, p.partition),
        el("td", {}, p.applied_offset), el("td", {}, p.high_water), el("td", {}, p.lag)))));
  return el("article", {class: "card", "data-group": group.group},
    el("h3", {}, group.group, state(group.serving, "SERVING", "NOT SERVING")),
    el("div", {class: "figures"},
      figure("滞后事件 lag (events)", group.lag_events, {"data-figure": "lag-events"}),
      figure("滞后时间 lag (s)", group.lag_seconds.toFixed(1), {"data-figure": "lag-seconds"}),
      figure("证照 licences", group.licences, {"data-figure": "licences"})),
    el("p", {class: "hint"}, `最后事件 last event ${localTime(group.last_event_time)} · ${group.target}`),
    group.error ? el("p", {class: "message"}, group.error) : null,
    sparkline(series(history, "lag", group.group), "lag"),
    el("details", {class: "partitions"}, el("summary", {}, `分区 partitions (${group.partitions.length})`), partitions));
}

function outboxCard(outbox, history) {
  return el("article", {class: "card", "data-outbox": outbox.name},
    el("h3", {}, outbox.name, state(outbox.up, "UP", "DOWN")),
    el("div", {class: "figures"},
      figure("待发布 backlog", outbox.backlog, {"data-figure": "backlog"}),
      figure("发布延迟 relay lag (s)", outbox.relay_lag_s.toFixed(2)),
      figure("已发布 published", outbox.published)),
    outbox.error ? el("p", {class: "message"}, outbox.error) : null,
    sparkline(series(history, "backlog", outbox.name), "backlog"));
}

function topicCard(topic, history) {
  const rate = topic.rate === null || topic.rate === undefined ? "—" : topic.rate.toFixed(1);
  return el("article", {class: "card", "data-topic": topic.topic},
    el("h3", {class: "mono"}, topic.topic),
    el("div", {class: "figures"},
      figure("事件/秒 events/s", rate, {"data-figure": "rate"}),
      figure("末端偏移 end offset", topic.end_offset)),
    sparkline(series(history, "rates", topic.topic), "events/s"));
}

let refreshMs = 2000;

async function refresh() {
  try {
    const snapshot = await api("/api/status");
    const history = snapshot.history || [];
    $("groups").replaceChildren(...snapshot.groups.map((g) => groupCard(g, history)));
    $("outboxes").replaceChildren(...(snapshot.outboxes || []).map((o) => outboxCard(o, history)));
    $("topics").replaceChildren(...(snapshot.topics || []).map((t) => topicCard(t, history)));
    $("broker-error").hidden = !snapshot.broker_error;
    $("broker-error").textContent = snapshot.broker_error ? `Kafka: ${snapshot.broker_error}` : "";
    $("updated").textContent = snapshot.at
      ? `更新于 ${localTime(snapshot.at)} · updated every ${snapshot.refresh_s} s`
      : "正在读取… Loading…";
    if (snapshot.refresh_s) refreshMs = snapshot.refresh_s * 1000;
    document.body.dataset.ready = "true";
  } catch (err) {
    $("updated").textContent = `无法读取状态 / Status unavailable: ${err.message}`;
  }
  setTimeout(refresh, refreshMs);
}

document.addEventListener("DOMContentLoaded", refresh);
