"use strict";
// Helpers both console pages use. No framework, no build step, nothing from elsewhere.

/** An element with text and attributes: el("td", {class: "ok"}, "text"). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== undefined && child !== null) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

/** Call the console's API; resolve to the JSON, or reject with the message it gave. */
async function api(path, options) {
  let reply;
  try {
    reply = await fetch(path, Object.assign({credentials: "same-origin"}, options));
  } catch (err) {
    throw new Error("无法连接核验台服务 / The console cannot be reached");
  }
  let body = null;
  try {
    body = await reply.json();
  } catch (err) {
    body = null;
  }
  if (reply.status === 401 && !path.startsWith("/api/login")) {
    // the session ended (idle, absolute, signed out elsewhere): sign in again
    location.assign("/login?next=" + encodeURIComponent(location.pathname));
  }
  if (!reply.ok) {
    const err = new Error(body && body.error ? body.error : `HTTP ${reply.status}`);
    err.status = reply.status;
    err.field = body && body.field ? body.field : "";
    // a refusal's reason in the clerk's words, Chinese and English (docs/console-api.md)
    for (const key of ["refusal", "reason_zh", "reason_en", "use"]) {
      err[key] = body && typeof body[key] === "string" ? body[key] : "";
    }
    throw err;
  }
  return body;
}

/** "2026-11-22 18:40:12" in the terminal's local time. */
function localTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "2026-11-22" */
function localDate(iso) {
  return iso ? localTime(iso).slice(0, 10) : "—";
}

/** Sign out: the server revokes the session; then the sign-in page. */
async function signOut() {
  try {
    await api("/api/logout", {method: "POST"});
  } finally {
    location.assign("/login");
  }
}

/** Every page's sign-out button. */
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("logout-button");
  if (button) button.addEventListener("click", signOut);
});
