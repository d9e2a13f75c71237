"use strict";
// The sign-in page: the session is an HttpOnly cookie the script never sees.

function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  // only a path on this console: never another site
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

function showLoginMessage(text) {
  const box = document.getElementById("message");
  box.textContent = text;
  box.hidden = false;
}

async function signIn(path, body) {
  try {
    await api(path, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body || {}),
    });
    location.assign(nextPage());
  } catch (err) {
    showLoginMessage(err.message);
    document.getElementById("password").value = "";
    document.getElementById(err.field === "name" ? "name" : "password").focus();
  }
}

document.getElementById("login-form").addEventListener("submit", (event) => {
  event.preventDefault();
  signIn("/api/login", {
    name: document.getElementById("name").value.trim(),
    password: document.getElementById("password").value,
  });
});

document.getElementById("certificate-button").addEventListener("click", () => {
  signIn("/api/login/certificate");
});

document.body.dataset.ready = "true";
