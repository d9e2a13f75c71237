"use strict";
// The operator page: every verifier group's lag, the outboxes, the event rates, with
// small charts of the last minutes. It asks the console for a snapshot every few seconds.

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

/** A small line chart of ``values`` (newest last), scaled to its own maximum. A null
 * value was not known (a verifier group not answering or cut off from its broker, a
 * process whose metrics did not answer): the line breaks there and a band marks it,
 * so it never reads as 0. An undefined value was not sampled (a topic's first
 * sample has no rate yet): the line breaks, nothing is marked. A known value with no
 * known neighbour is a dot. */
function sparkline(values, label) {
  const width = 300;
  const height = 48;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const known = values.filter((v) => typeof v === "number");
  const max = Math.max(1, ...known);
  const unknown = values.filter((v) => v === null).length;
  svg.setAttribute("aria-label", `${label}: max ${max} over ${values.length} samples` +
    (unknown ? `, ${unknown} not known` : ""));
  const base = document.createElementNS(SVG, "line");
  for (const [k, v] of Object.entries({x1: 0, x2: width, y1: height - 1, y2: height - 1})) base.setAttribute(k, v);
  svg.append(base);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  let run = [];
  const draw = () => {
    if (run.length > 1) {
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", run.map(([x, y]) => `${x},${y}`).join(" "));
      svg.append(line);
    } else if (run.length === 1) {
      const dot = document.createElementNS(SVG, "circle");
      for (const [k, v] of Object.entries({cx: run[0][0], cy: run[0][1], r: 1.5})) dot.setAttribute(k, v);
      svg.append(dot);
    }
    run = [];
  };
  values.forEach((v, i) => {
    if (typeof v === "number") {
      run.push([(i * step).toFixed(1), (height - 2 - (v / max) * (height - 6)).toFixed(1)]);
      return;
    }
    draw();
    if (v === null) {
      const band = document.createElementNS(SVG, "rect");
      band.setAttribute("class", "unknown");
      band.setAttribute("x", Math.max(0, i * step - step / 2).toFixed(1));
      band.setAttribute("width", Math.max(1, step).toFixed(1));
      band.setAttribute("y", 0);
      band.setAttribute("height", height);
      svg.append(band);
    }
  });
  draw();
  return svg;
}

/** Each sample's figure ``name`` of ``kind``: a number, null where it was not known,
 * undefined where the sample has none. */
function series(history, kind, name) {
  return history.map((sample) => {
    const value = (sample[kind] || {})[name];
    return value === null || value === undefined ? value : Number(value);
  });
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
      figure("滞后事件 lag (events)", group.lag_unknown ? "未知 unknown" : group.lag_events, {"data-figure": "lag-events"}),
      figure("滞后时间 lag (s)", group.lag_seconds === null ? "未知 unknown" : group.lag_seconds.toFixed(1), {"data-figure": "lag-seconds"}),
      figure("证照 licences", group.licences, {"data-figure": "licences"})),
    el("p", {class: "hint"}, `最后事件 last event ${localTime(group.last_event_time)} · ${group.target}`),
    group.error ? el("p", {class: "message"}, group.error) : null,
    sparkline(series(history, "lag", group.group), "lag"),
    el("details", {class: "partitions"}, el("summary", {}, `分区 partitions (${group.partitions.length})`), partitions));
}

// one relay publishes every service's outbox rows: only the leader's count moves
function relayRole(leading) {
  if (leading === true) return "主 leading";
  if (leading === false) return "备用 standing by";
  return "—";
}

function outboxCard(outbox, history) {
  return el("article", {class: "card", "data-outbox": outbox.name},
    el("h3", {}, outbox.name, state(outbox.up, "UP", "DOWN")),
    el("div", {class: "figures"},
      figure("待发布 backlog", outbox.backlog, {"data-figure": "backlog"}),
      figure("发布延迟 relay lag (s)", outbox.relay_lag_s.toFixed(2)),
      figure("已发布 published", outbox.published),
      figure("发布者 relay", relayRole(outbox.leading), {"data-figure": "relay"})),
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

// -- console accounts: who may sign in at which counter ----------------------------

/** A fresh Idempotency-Key: a repeated click or a retried request changes nothing twice. */
function onceKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function accountsMessage(text) {
  $("accounts-message").hidden = !text;
  $("accounts-message").textContent = text || "";
}

/** POST ``body`` (JSON) to an account route with a fresh Idempotency-Key. */
function accountCall(path, body) {
  return api(path, {
    method: "POST",
    headers: {"Content-Type": "application/json", "Idempotency-Key": onceKey()},
    body: JSON.stringify(body || {}),
  });
}

/** Run an account change with ``button`` disabled meanwhile (a second click sends
 * nothing); on success reload the list, else say what was wrong. */
async function accountChange(what, button, call) {
  if (button.disabled) return false;
  button.disabled = true;
  try {
    await call();
    accountsMessage("");
    await loadAccounts();
    return true;
  } catch (err) {
    accountsMessage(`${what}: ${err.field ? err.field + ": " : ""}${err.message}`);
    return false;
  } finally {
    button.disabled = false;
  }
}

function passwordEditor(account, cell) {
  const input = el("input", {type: "password", autocomplete: "new-password", "aria-label": `new password for ${account.name}`});
  const save = el("button", {type: "button"}, "保存 Save");
  save.addEventListener("click", () => accountChange(`设置密码 / Set the password of ${account.name}`, save,
    () => accountCall(`/api/accounts/${encodeURIComponent(account.name)}/password`, {password: input.value})));
  cell.replaceChildren(input, save);
  input.focus();
}

function accountRow(account) {
  const ways = [account.password ? "密码 password" : null, account.certificate ? `证书 ${account.certificate}` : null]
    .filter(Boolean).join(" · ");
  const toggle = el("button", {type: "button", "data-action": account.disabled ? "enable" : "disable"},
    account.disabled ? "启用 Enable" : "停用 Disable");
  toggle.addEventListener("click", () => accountChange(`${account.disabled ? "启用 / Enable" : "停用 / Disable"} ${account.name}`, toggle,
    () => accountCall(`/api/accounts/${encodeURIComponent(account.name)}/${account.disabled ? "enable" : "disable"}`)));
  const actions = el("td", {});
  const password = el("button", {type: "button", "data-action": "password"}, "设置密码 Set password");
  password.addEventListener("click", () => passwordEditor(account, actions));
  actions.append(toggle, password);
  return el("tr", {"data-account": account.name},
    el("td", {class: "mono"}, account.name), el("td", {class: "mono"}, account.department),
    el("td", {}, account.role), el("td", {}, ways || "—"),
    el("td", {}, state(!account.disabled, "启用 enabled", "停用 disabled")), actions);
}

async function loadAccounts() {
  try {
    const reply = await api("/api/accounts");
    $("accounts").tBodies[0].replaceChildren(...reply.accounts.map(accountRow));
  } catch (err) {
    accountsMessage(`无法读取账号 / Accounts unavailable: ${err.message}`);
  }
}

async function addAccount(event) {
  event.preventDefault();
  const form = $("account-form");
  const value = (id) => $(id).value.trim();
  const body = {name: value("account-name"), department: value("account-department"), role: $("account-role").value};
  if ($("account-password").value) body.password = $("account-password").value;
  if (value("account-certificate")) body.certificate = value("account-certificate");
  if (await accountChange(`新增账号 / Add ${body.name || "an account"}`, $("account-add"),
    () => accountCall("/api/accounts", body))) form.reset();
}

document.addEventListener("DOMContentLoaded", () => {
  refresh();
  loadAccounts();
  $("account-form").addEventListener("submit", addAccount);
});
