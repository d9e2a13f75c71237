"use strict";
// The counter page: scan (scanner gun, upload, drop, camera) -> verdict -> receipt.
// Verifications of this session stay in this page's memory only: a shared terminal
// keeps no holder's data once the page is closed.

const OTHER = "__other__";
const HISTORY_SIZE = 20;
const CAMERA_INTERVAL_MS = 400;
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/heic", "image/heif"];
const $ = (id) => document.getElementById(id);

const state = {
  counter: "",
  history: [],
  current: null,
  camera: null,
  pending: null,  // a scan or upload made before a purpose was chosen
  lockedPdf: null,  // an encrypted PDF waiting for its password (never the password)
  attempt: 0,  // the latest attempt: an older one's late answer is not shown
};

// -- purpose of use (用证事由): chosen once per session --------------------------

function purpose() {
  const select = $("purpose");
  if (select.value === OTHER) return $("purpose-other").value.trim();
  return select.value;
}

function savePurpose() {
  const select = $("purpose");
  $("purpose-other").hidden = select.value !== OTHER;
  sessionStorage.setItem("purpose", select.value);
  sessionStorage.setItem("purpose-other", $("purpose-other").value);
  scanHint();
}

// a scan made before the purpose was chosen is verified once it is chosen
function verifyPending() {
  const pending = state.pending;
  if (!pending || !purpose()) return;
  state.pending = null;
  pending();
}

function restorePurpose(purposes) {
  const select = $("purpose");
  for (const p of purposes) select.append(el("option", {value: p}, p));
  select.append(el("option", {value: OTHER}, "其他… Other…"));
  const saved = sessionStorage.getItem("purpose");
  if (saved && [...select.options].some((o) => o.value === saved)) select.value = saved;
  $("purpose-other").value = sessionStorage.getItem("purpose-other") || "";
  $("purpose-other").hidden = select.value !== OTHER;
}

function scanHint() {
  $("scan-hint").textContent = purpose()
    ? `用证事由：${purpose()}`
    : "请先选择用证事由 / Choose the purpose of use first";
}

// ``retry``: what to verify once the purpose is chosen (a scan, an upload)
function needPurpose(retry) {
  if (purpose()) return false;
  state.pending = retry || null;
  showMessage(retry
    ? "请选择用证事由，选择后将核验刚才扫描的证照。 Choose the purpose of use (用证事由): the scan you made is verified then."
    : "请先选择用证事由，再扫码。 Choose the purpose of use (用证事由) first.");
  $("purpose").focus();
  return true;
}

// -- keeping the scanner gun's keystrokes in the scan field ---------------------

function focusScan() {
  const scan = $("scan");
  if (document.activeElement !== scan) scan.focus({preventScroll: true});
}

function interactive(node) {
  return node && node.closest && node.closest("a, button, input, select, textarea, summary, [tabindex]");
}

// -- messages and verdicts ------------------------------------------------------

function showMessage(text) {
  const box = $("message");
  box.textContent = text;
  box.hidden = false;
}

function clearMessage() {
  $("message").hidden = true;
  $("message").textContent = "";
  $("message").title = "";
}

// Any new attempt (scan, typed code, upload, camera) starts here: the previous
// verdict leaves the screen before anything else, so nothing shown can be taken for
// the answer to this attempt. Returns the attempt's number.
function newAttempt() {
  state.attempt += 1;
  state.current = null;
  state.pending = null;
  clearMessage();
  closePdfPassword();
  $("verdict").hidden = true;
  $("verdict-banner").className = "banner";
  delete $("verdict-banner").dataset.verdict;
  $("verdict-zh").textContent = "";
  $("verdict-en").textContent = "";
  $("reason-zh").textContent = "";
  $("reason-en").textContent = "";
  $("verdict-details").replaceChildren();
  $("verdict-checks").replaceChildren();
  $("seals").hidden = true;
  $("seals-body").replaceChildren();
  $("seals-licence").hidden = true;
  $("seals-licence").textContent = "";
  delete $("seals-licence").dataset.verdict;
  clearRedemption();
  return state.attempt;
}

// the redemption of an earlier scan leaves the screen (and its copy's blob URL goes)
function clearRedemption() {
  $("redemption").hidden = true;
  $("redemption-id").textContent = "";
  $("redemption-scope").textContent = "";
  $("redemption-purpose").textContent = "";
  $("redemption-fields").replaceChildren();
  const link = $("redemption-copy");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.removeAttribute("href");
}

function row(list, label, value, cls) {
  list.append(el("dt", {}, label), el("dd", cls ? {class: cls} : {}, value));
}

function showVerdict(v, record = true) {
  clearMessage();
  state.current = v;
  const banner = $("verdict-banner");
  banner.className = `banner tone-${v.tone}`;
  banner.dataset.verdict = v.verdict;
  $("verdict-zh").textContent = v.title_zh;
  $("verdict-en").textContent = `${v.title_en} · ${v.verdict}`;
  $("reason-zh").textContent = v.reason_zh;
  $("reason-en").textContent = v.reason_en;

  const details = $("verdict-details");
  details.replaceChildren();
  if (v.identifier) row(details, "证照标识 Identifier", v.identifier, "mono");
  if (v.type_code) row(details, "证照类型 Type", named(v.type_name, v.type_code));
  if (v.issuer_code) row(details, "发证机关 Issuer", named(v.issuer_name, v.issuer_code));
  if (v.holder_display_name) row(details, "持证人 Holder", v.holder_display_name);
  if (v.valid_from || v.valid_until) {
    row(details, "有效期 Validity", `${localDate(v.valid_from)} — ${localDate(v.valid_until)}`);
  }
  for (const [name, value] of Object.entries(v.fields)) {
    row(details, (v.field_titles || {})[name] || name, value, "field");
  }
  if (v.code_kind) {
    row(details, "码类型 Code", v.code_kind === "presentation" ? "亮证码 presentation" : "证照码 licence");
  }
  row(details, "索引新鲜度 Index", freshness(v.index), "freshness");
  row(details, "核验时间 Verified", localTime(v.verified_at));
  row(details, "用证事由 Purpose", v.purpose);
  row(details, "核验窗口 Counter", v.counter, "mono");
  if (v.clerk) row(details, "核验人 Clerk", v.clerk, "mono");

  const checks = $("verdict-checks");
  checks.replaceChildren(
    ...v.checks.map((c) =>
      el("li", {class: c.passed ? "passed" : "failed"},
        `${c.passed ? "✓" : "✗"} ${c.name}`, c.detail ? ` — ${c.detail}` : "")),
  );
  $("verdict").hidden = false;
  if (record) remember(v);
}

function freshness(index) {
  if (!index || !index.last_event_time) return "索引为空 index empty";
  const since = index.lag_measured_at ? `（自 ${localTime(index.lag_measured_at)} / since ${localTime(index.lag_measured_at)}）` : "";
  const lag = index.lag_unknown
    ? `，滞后未知${since}：核验服务连不上消息服务，其后的撤销可能未见 / lag unknown: the verifier cannot reach its broker, revocations since may not be seen`
    : index.lag_events ? `，待应用 ${index.lag_events} 条 / ${index.lag_events} events pending` : "，已同步 / up to date";
  return `最后事件 ${localTime(index.last_event_time)}${lag}`;
}

function remember(v) {
  state.history.unshift(v);
  state.history.length = Math.min(state.history.length, HISTORY_SIZE);
  const list = $("history");
  list.replaceChildren(
    ...state.history.map((h) => {
      const button = el("button", {type: "button", class: `history-item tone-${h.tone}`},
        el("span", {class: "when"}, localTime(h.verified_at).slice(11)),
        el("span", {class: "badge"}, h.title_zh, " ", h.verdict),
        el("span", {class: "mono"}, h.identifier || "—"));
      // a redemption's or a file's entry shows its own answer again
      button.addEventListener("click", () => {
        newAttempt();
        if (h.show) h.show();
        else showVerdict(h, false);
      });
      return el("li", {}, button);
    }),
  );
  $("history-empty").hidden = state.history.length > 0;
}

// -- verifying -------------------------------------------------------------------

async function verifyCode(code) {
  const attempt = newAttempt();
  if (needPurpose(() => verifyCode(code))) return;
  try {
    const verdict = await api("/api/verify", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({code, purpose: purpose()}),
    });
    if (attempt === state.attempt) showVerdict(verdict);
  } catch (err) {
    if (attempt === state.attempt) showMessage(`无法核验 / Could not verify: ${err.message}`);
  } finally {
    focusScan();
  }
}

function verifyImage(blob) {
  return api(`/api/verify-image?purpose=${encodeURIComponent(purpose())}`, {
    method: "POST",
    headers: {"Content-Type": blob.type},
    body: blob,
  });
}

// ``password``: an encrypted PDF's, typed by the clerk once the console said one is
// needed; sent in a header (never the URL) and kept nowhere
// ``routed``: sent here by the OFD route (a PDF dropped as an OFD): not sent back
async function verifyPdf(file, password = "", routed = false) {
  const attempt = newAttempt();
  const headers = {"Content-Type": "application/pdf"};
  if (password) headers["X-PDF-Password"] = utf8Bytes(password);
  try {
    const reply = await api("/api/verify-pdf", {method: "POST", headers, body: file});
    if (attempt === state.attempt) showSeals(file.name, reply);
  } catch (err) {
    if (attempt !== state.attempt) return;
    if (err.use === "/api/verify-ofd" && !routed) {
      await verifyOfd(file, true);  // an OFD package sent as a PDF: verified as an OFD
      return;
    }
    if (err.field !== "password") {
      showMessage(fileRefusal(err, "无法核验签章", "Could not verify the PDF"));
      return;
    }
    // the console's words are English: the page says them in both languages
    showMessage(password
      ? `所给密码不能打开该PDF，请向发送方核实（用户密码或所有者密码）后再次核验 / ${err.message}`
      : `该PDF已加密，需输入其打开密码（用户密码或所有者密码） / ${err.message}`);
    askPdfPassword(file);
  }
}

// a header value is bytes: the password's UTF-8 bytes, one character each
function utf8Bytes(text) {
  return String.fromCharCode(...new TextEncoder().encode(text));
}

function askPdfPassword(file) {
  state.lockedPdf = file;
  $("pdf-password-file").textContent = file.name;
  $("pdf-password").value = "";
  $("pdf-password-area").hidden = false;
  $("pdf-password").focus();
}

function closePdfPassword() {
  state.lockedPdf = null;
  $("pdf-password").value = "";
  $("pdf-password-file").textContent = "";
  $("pdf-password-area").hidden = true;
}

async function verifyWithPassword() {
  const file = state.lockedPdf;
  const password = $("pdf-password").value;
  $("pdf-password").value = "";
  if (!file || !password) return;
  await verifyPdf(file, password);
  if ($("pdf-password-area").hidden) focusScan();
}

// ``routed``: sent here by the PDF route (an OFD dropped as a PDF): not sent back
async function verifyOfd(file, routed = false) {
  const attempt = newAttempt();
  try {
    const reply = await api("/api/verify-ofd", {
      method: "POST",
      headers: {"Content-Type": "application/ofd"},
      body: file,
    });
    if (attempt === state.attempt) showSeals(file.name, reply);
  } catch (err) {
    if (attempt !== state.attempt) return;
    if (err.use === "/api/verify-pdf" && !routed) await verifyPdf(file, "", true);
    else showMessage(fileRefusal(err, "无法核验签章", "Could not verify the OFD"));
  }
}

// -- 授权用证: an authorisation code gives the shared fields and the annotated copy --

async function redeem(code) {
  const attempt = newAttempt();
  try {
    const reply = await api("/api/redeem", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({code}),
    });
    if (attempt === state.attempt) showRedemption(reply);
  } catch (err) {
    if (attempt === state.attempt) showRefusal(code, err);
  } finally {
    focusScan();
  }
}

// a refused redemption: the reason in Chinese, then English (the console's words; the
// issuer's own on hover), and an entry of the session's history marked refused
function showRefusal(code, err, record = true) {
  const zh = err.reason_zh || "发证服务未能使用该授权";
  const en = err.reason_en || err.message;
  showMessage(`无法使用授权：${zh} / Could not redeem: ${en}`);
  $("message").title = err.reason_en ? err.message : "";
  if (record && err.status) {
    remember({
      verified_at: new Date().toISOString(), tone: "bad", title_zh: "授权未能使用",
      verdict: "REFUSED", identifier: `${code.slice(0, 7)}…`,
      show: () => showRefusal(code, err, false),
    });
  }
}

// a file's refusal in both languages when the console gives its words
function fileRefusal(err, zh, en) {
  return err.reason_zh ? `${zh}：${err.reason_zh} / ${en}: ${err.reason_en}` : `${zh} / ${en}: ${err.message}`;
}

function showRedemption(reply, record = true) {
  clearMessage();
  $("redemption-id").textContent = `${reply.authorisation_id} · ${localTime(reply.redeemed_at)}`;
  const type = reply.type_code ? ` · ${named(reply.type_name, reply.type_code)}` : "";
  const holder = reply.holder_display_name ? ` · 持证人 ${reply.holder_display_name}` : "";
  // what the copy beside it says, in the copy's own words as the issuer drew them:
  // the version it is of (after a renewal not the one authorised), its statement
  // whole (its date the earlier of the authorisation's expiry and the licence's end,
  // a day in China Standard Time); then, as on the copy, the holder's purpose as a
  // field of its own, in a frame under its label and never quoted, so no purpose
  // (a date of its own, a look-alike of a quotation mark) reads as the copy's words
  // (atk40 R1, atk41h, atk43holder)
  $("redemption-scope").textContent =
    `${reply.copy_identifier}${type}${holder} · ${reply.copy_statement}`;
  $("redemption-purpose").textContent = reply.copy_purpose_line;
  const titles = reply.field_titles || {};
  $("redemption-fields").replaceChildren(
    ...Object.entries(reply.fields).map(([k, v]) => el("tr", {}, el("td", {}, titles[k] || k), el("td", {}, v))),
  );
  const bytes = Uint8Array.from(atob(reply.annotated_copy), (c) => c.charCodeAt(0));
  const link = $("redemption-copy");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([bytes], {type: "application/pdf"}));
  $("redemption").hidden = false;
  // the issuer names this counter's department (the one authorised): the header says
  // its name, not only dept:<code>
  if (reply.department_name) $("counter").textContent = named(reply.department_name, state.counter);
  if (record) {
    remember({
      verified_at: reply.redeemed_at, tone: "ok", title_zh: "授权用证", verdict: "REDEEMED",
      identifier: reply.copy_identifier, show: () => showRedemption(reply, false),
    });
  }
}

function showSeals(name, reply, record = true) {
  clearMessage();
  const licence = $("seals-licence");
  licence.hidden = !reply.licence;
  if (reply.licence) {
    licence.dataset.verdict = reply.licence.verdict;
    licence.textContent = `电子证照 / Licence ${reply.licence.identifier}: ` +
      `${reply.licence.verdict || "—"} ${reply.licence.detail || ""}`;
  }
  // an OFD's verdict as a whole: a document without a seal, or a seal not VALID
  // in any document, keeps the file from being VALID whatever the rows say
  const whole = $("seals-whole");
  whole.hidden = !reply.file || reply.file.verdict === "VALID" || !reply.seals.length;
  if (reply.file) {
    // in words, as the rows are; which seal or document, with its path, on hover
    const file = reply.file;
    whole.dataset.verdict = file.verdict;
    whole.title = file.detail || "";
    whole.textContent = `整个文件：${file.title_zh}，${file.reason_zh} / ` +
      `Whole file: ${file.title_en}. ${file.reason_en}`;
  }
  $("seals-file").textContent = `${name} · ${localTime(reply.verified_at)}`;
  const body = $("seals-body");
  if (!reply.seals.length) {
    body.replaceChildren(el("tr", {}, el("td", {colspan: 5}, "该文件没有签章 / This file carries no seal")));
  } else {
    body.replaceChildren(
      ...reply.seals.map((s) =>
        el("tr", {class: `tone-${s.tone}`, "data-verdict": s.verdict},
          el("td", {}, s.seal_name || s.field_name, el("br"), el("span", {class: "mono small"}, s.seal_id)),
          el("td", {class: "badge-cell"}, el("span", {class: "badge"}, s.title_zh), " ", s.title_en,
            el("br"), el("span", {class: "small"}, s.reason_zh)),
          el("td", {}, localTime(s.signed_at)),
          el("td", {}, s.current_status || "—"),
          el("td", {class: "small"}, s.detail || s.reason_en))),
    );
  }
  $("seals").hidden = false;
  if (record) {
    // the file's word: the whole file's (an OFD), else its only seal's or, of several,
    // the first not VALID
    const worst = reply.file || reply.seals.find((x) => x.verdict !== "VALID") || reply.seals[0];
    remember({
      verified_at: reply.verified_at, tone: worst ? worst.tone : "bad",
      title_zh: worst ? worst.title_zh : "无签章", verdict: worst ? worst.verdict : "UNSEALED",
      identifier: name, show: () => showSeals(name, reply, false),
    });
  }
}

async function verifyFile(file) {
  if (!file) return;
  if (file.type === "application/pdf" || /\.pdf$/i.test(file.name)) {
    await verifyPdf(file);
  } else if (file.type === "application/ofd" || /\.ofd$/i.test(file.name)) {
    await verifyOfd(file);
  } else if (IMAGE_TYPES.includes(file.type) || /\.(heic|heif)$/i.test(file.name)) {
    const attempt = newAttempt();
    if (needPurpose(() => verifyFile(file))) return;
    const image = IMAGE_TYPES.includes(file.type) ? file : new Blob([file], {type: "image/heic"});
    try {
      const verdict = await verifyImage(image);
      if (attempt === state.attempt) showVerdict(verdict);
    } catch (err) {
      if (attempt === state.attempt) showMessage(`无法核验图片 / Could not verify the image: ${err.message}`);
    }
  } else {
    newAttempt();
    showMessage(`不支持的文件类型 / Not a PNG, JPEG, HEIC, PDF or OFD: ${file.name}`);
  }
  if ($("pdf-password-area").hidden) focusScan();  // else the password is typed next
}

// -- camera: frames go to the verifier until one holds a QR code -------------------

async function startCamera() {
  if (state.camera) return;
  newAttempt();
  if (needPurpose()) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showMessage("此浏览器不能使用摄像头 / This browser offers no camera");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}});
  } catch (err) {
    showMessage(`无法打开摄像头 / The camera could not be opened: ${err.message}`);
    return;
  }
  const video = $("camera-video");
  video.srcObject = stream;
  await video.play();
  $("camera").hidden = false;
  $("camera-state").textContent = "请将二维码对准摄像头 / Hold the QR code to the camera";
  state.camera = {stream, timer: setTimeout(cameraFrame, CAMERA_INTERVAL_MS)};
}

async function cameraFrame() {
  const camera = state.camera;
  if (!camera) return;
  const video = $("camera-video");
  const again = () => {
    if (state.camera === camera) camera.timer = setTimeout(cameraFrame, CAMERA_INTERVAL_MS);
  };
  if (!video.videoWidth) return again();  // no frame yet
  const canvas = el("canvas", {width: video.videoWidth, height: video.videoHeight});
  canvas.getContext("2d").drawImage(video, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
  if (!blob || state.camera !== camera) return again();
  try {
    const verdict = await verifyImage(blob);
    stopCamera();
    showVerdict(verdict);
    focusScan();
    return;
  } catch (err) {
    if (err.field !== "image") {  // not just "no QR code in this frame"
      stopCamera();
      showMessage(`无法核验 / Could not verify: ${err.message}`);
      return;
    }
  }
  again();
}

function stopCamera() {
  const camera = state.camera;
  if (!camera) return;
  state.camera = null;
  clearTimeout(camera.timer);
  for (const track of camera.stream.getTracks()) track.stop();
  $("camera-video").srcObject = null;
  $("camera").hidden = true;
  focusScan();
}

// -- receipts --------------------------------------------------------------------

// A name from the verifier's index with its code, or the code alone while the index
// has no name for it: 机动车驾驶证 (91350100M000100Y43001).
function named(name, code) {
  return name ? `${name} (${code})` : code;
}

async function saveReceipt() {
  const v = state.current;
  if (!v) return;
  const lines = [
    ["核验结论 Verdict", `${v.title_zh} ${v.title_en} (${v.verdict})`],
    ["说明 Reason", v.reason_zh],
    ["", v.reason_en],
    ["证照标识 Identifier", v.identifier || "—"],
    ["证照类型 Type", v.type_code ? named(v.type_name, v.type_code) : "—"],
    ["发证机关 Issuer", v.issuer_code ? named(v.issuer_name, v.issuer_code) : "—"],
    ["持证人 Holder", v.holder_display_name || "—"],
    ...Object.entries(v.fields).map(([k, value]) => [(v.field_titles || {})[k] || k, value]),
    ["核验时间 Verified at", localTime(v.verified_at)],
    ["用证事由 Purpose", v.purpose],
    ["核验窗口 Counter", v.counter],
    ["核验人 Clerk", v.clerk || "—"],
    ["索引 Index", freshness(v.index)],
  ];
  // every face the receipt's text needs, the rare-character one too (a canvas draws
  // with the faces already loaded only)
  const text = lines.flat().map(String).join("") + v.title_zh + v.title_en + "证照核验回执";
  await Promise.all(["24px", "bold 30px", "bold 56px"].map((f) => document.fonts.load(`${f} CertsealSans`, text)));
  const width = 1000;
  const lineHeight = 40;
  const canvas = el("canvas", {width, height: 220 + lines.length * lineHeight});
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const colours = {ok: "#0b7a35", warn: "#9a5b00", bad: "#b3261e"};
  ctx.fillStyle = colours[v.tone] || colours.bad;
  ctx.fillRect(0, 0, width, 130);
  ctx.fillStyle = "#ffffff";
  ctx.font = "bold 56px CertsealSans, sans-serif";
  ctx.fillText(`${v.title_zh}  ${v.title_en}`, 40, 85);
  ctx.fillStyle = "#111111";
  ctx.font = "bold 30px CertsealSans, sans-serif";
  ctx.fillText("证照核验回执 Licence verification receipt", 40, 180);
  ctx.font = "24px CertsealSans, sans-serif";
  lines.forEach(([label, value], i) => {
    const y = 230 + i * lineHeight;
    ctx.fillStyle = "#555555";
    ctx.fillText(label, 40, y);
    ctx.fillStyle = "#111111";
    ctx.fillText(String(value), 320, y, width - 360);
  });
  const link = el("a", {
    href: canvas.toDataURL("image/png"),
    download: `receipt-${(v.identifier || v.verdict).replace(/[^0-9A-Za-z.]/g, "_")}-${v.verified_at.replace(/[:]/g, "")}.png`,
  });
  link.click();
  focusScan();
}

// -- wiring ------------------------------------------------------------------------

function dropHandlers() {
  const overlay = $("drop-overlay");
  let depth = 0;
  document.addEventListener("dragenter", (e) => {
    e.preventDefault();
    depth += 1;
    overlay.hidden = false;
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) overlay.hidden = true;
  });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    overlay.hidden = true;
    verifyFile(e.dataTransfer.files[0]);
  });
}

async function init() {
  $("scan-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const code = $("scan").value.trim();
    $("scan").value = "";
    // an authorisation code, also typed "AU 7K3M…", "AU7K3M…" or in full width, after
    // a scanner's symbology identifier ("]Q1") if any, with the control and invisible
    // characters a scanner or a paste adds dropped: the issuer reads them all alike
    const typed = code.replace(/[\p{Cc}\p{Cf}]/gu, "").normalize("NFKC");
    if (/^(\][a-z][0-9a-z])?AU[-\s]?[0-9A-Z]{4}/i.test(typed)) redeem(code);
    else if (code) verifyCode(code);
  });
  // a scanner gun set to end its data with a Tab (a common suffix setting) moved the
  // focus away and left the code in the field, unverified: a Tab after text in the
  // scan field ends the scan as Enter does (in the empty field it moves on)
  $("scan").addEventListener("keydown", (e) => {
    if (e.key !== "Tab" || e.shiftKey || e.isComposing || !$("scan").value.trim()) return;
    e.preventDefault();
    $("scan-form").requestSubmit();
  });
  $("purpose").addEventListener("change", () => {
    savePurpose();
    if ($("purpose").value !== OTHER) {
      focusScan();
      verifyPending();
    }
  });
  $("purpose-other").addEventListener("input", savePurpose);
  $("purpose-other").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      focusScan();
      verifyPending();
    }
  });
  $("purpose-form").addEventListener("submit", (e) => e.preventDefault());
  $("pdf-password-form").addEventListener("submit", (e) => {
    e.preventDefault();
    verifyWithPassword();
  });
  $("pdf-password-cancel").addEventListener("click", () => {
    closePdfPassword();
    focusScan();
  });
  $("upload-button").addEventListener("click", () => $("upload").click());
  $("upload").addEventListener("change", (e) => {
    verifyFile(e.target.files[0]);
    e.target.value = "";
  });
  $("camera-button").addEventListener("click", startCamera);
  $("camera-stop").addEventListener("click", stopCamera);
  $("print-receipt").addEventListener("click", () => window.print());
  $("save-receipt").addEventListener("click", saveReceipt);
  // downloading the annotated copy does not take the scanner gun's keystrokes away
  $("redemption-copy").addEventListener("click", () => setTimeout(focusScan, 0));
  // a click on nothing in particular sends the focus back to the scan field
  document.addEventListener("click", (e) => {
    if (!interactive(e.target) && !window.getSelection().toString()) focusScan();
  });
  window.addEventListener("focus", () => {
    if (!interactive(document.activeElement)) focusScan();
  });
  dropHandlers();

  try {
    const session = await api("/api/session");
    state.counter = session.counter;
    $("counter").textContent = session.counter;
    $("clerk").textContent = session.account;
    $("operator-link").hidden = !session.operator_page;
    restorePurpose(session.purposes);
  } catch (err) {
    showMessage(`无法连接核验台服务 / ${err.message}`);
  }
  scanHint();
  focusScan();
  document.body.dataset.ready = "true";
}

document.addEventListener("DOMContentLoaded", init);
