"use strict";
// The sign-in page: the session is an HttpOnly cookie the script never sees.

function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  // only a page of this console, never another site: resolved as the browser will
  // (which reads "/\\host" and "/<tab>/host" as "//host") and kept only when it stays
  // on this origin, as an absolute URL (a path such as "/.//host" resolves to "//host")
  try {
    const url = new URL(next, location.origin);
    if (next.startsWith("/") && url.origin === location.origin) {
      return url.href;
    }
  } catch (err) {
    // not a URL at all: the counter page
  }
  return "/";
}

// the refusal in the page's two languages: a wrong name or password in words of
// its own (the API's are English), any other with what it said
function loginRefusal(err) {
  if (err.status === 401 && err.field === "password") {
    return "账号或密码错误 / Wrong account name or password";
  }
  return `无法登录 / Could not sign in: ${err.message}`;
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
    showLoginMessage(loginRefusal(err));
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
