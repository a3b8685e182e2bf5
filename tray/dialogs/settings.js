"use strict";
// Settings: the tokens plugged in now (kept up to date as they come and go), allowed websites
// (consent revocable), signature and seal images, local TLS, and enrolment on each initialised token.
const TOKENS_EVERY_MS = 1000;
let redraw = null;
let tokensShown = [];

function driverText(token) {
  // a token seen in a PKCS#11 slot was reached through a module installed here
  if (token.module_installed || token.source === "pkcs11") return t("driver_ok") + (token.module ? " (" + token.module + ")" : "");
  if (token.model) return t("driver_missing", { install: token.install || token.module || token.model });
  return "—";
}

function renderTokens(tokens) {
  tokensShown = tokens;
  document.getElementById("tokens").replaceChildren(...(tokens.length ? tokens.map((token) => el("tr", { class: "token-row" },
    el("td", { class: "token-name" }, token.name),
    el("td", { class: "token-reader" }, [token.reader, token.usb_id, token.slot == null ? null : t("slot", { n: token.slot })]
      .filter(Boolean).join(" · ")),
    el("td", { class: "digest token-atr" }, token.atr || ""),
    el("td", { class: "token-driver" }, driverText(token)))) : [el("tr", {}, el("td", { colspan: "4" }, t("no_tokens")))]));
}

async function followTokens() {
  try {
    renderTokens(await host("tokens"));
    await followEnrolment(tokensShown);
  } finally {
    setTimeout(followTokens, TOKENS_EVERY_MS);
  }
}

function image(data) {
  return data ? el("img", { class: "look", src: "data:image/png;base64," + data, alt: "" }) : t("none");
}

function renderSettings(state) {
  const data = state.data;
  renderTokens(tokensShown);  // in the language just chosen
  translateEnrolment();
  document.getElementById("origins").replaceChildren(...data.origins.map((entry) => el("tr", { class: "origin-row" },
    el("td", { class: "digest" }, entry.origin),
    el("td", {}, entry.listed ? t("yes") : t("no")),
    el("td", {}, entry.scopes.length ? entry.scopes.join(", ") : t("no")),
    el("td", {}, entry.scopes.length ? el("button", { type: "button", class: "danger revoke", onclick: async () => {
      await host("revoke", entry.origin);
      if (redraw) redraw();
    } }, t("revoke")) : ""))));
  const looks = Object.entries(data.appearance || {});
  document.getElementById("looks").replaceChildren(...(looks.length ? looks.map(([label, look]) => el("tr", {},
    el("td", {}, label), el("td", {}, image(look.signature_image)), el("td", {}, image(look.seal_image)),
    el("td", {}, look.organisation || ""))) : [el("tr", {}, el("td", { colspan: "4" }, t("none")))]));
  const tls = data.tls;
  document.getElementById("tls").replaceChildren(tls.present
    ? el("table", {},
        el("tr", {}, el("th", {}, t("validity")), el("td", {}, shortDate(tls.not_after) + " (" + t("days_left", { n: tls.days_left }) + ")")),
        el("tr", {}, el("th", {}, t("fingerprint")), el("td", { class: "digest" }, tls.ca_fingerprint_sha256)),
        ...(tls.needs_renewal ? [el("tr", {}, el("td", { colspan: "2" }, notice("warn", t("needs_renewal"))))] : []))
    : notice("warn", t("tls_missing")));
}

// -- enrolment: a key pair and its request made on the token (the daemon asks the PIN in its own
// dialog), the request saved, then the issued certificate loaded next to the key

const KEY_TYPES = [["rsa2048", "RSA 2048"], ["rsa3072", "RSA 3072"], ["p256", "ECDSA P-256"]];
const SUBJECT_FIELDS = [["cn", "cn", { required: "" }], ["title", "title_field"], ["o", "o"], ["ou", "ou"],
  ["l", "l"], ["st", "st"], ["email", "email", { type: "email" }], ["uid", "uid", { placeholder: "CCCD:001190012345" }]];
let enrolFor = null;  // the live list when the enrolment sections were last drawn

async function followEnrolment(tokens) {
  const now = tokens.map((token) => token.name + "|" + (token.slot == null ? "" : token.slot)).join(",");
  if (now === enrolFor) return;
  drawEnrolment(await host("enrol_tokens"));
  enrolFor = now;
}

function drawEnrolment(tokens) {
  const box = document.getElementById("enrol");
  const kept = new Map([...box.querySelectorAll(".enrol")].map((section) => [section.dataset.serial, section]));
  box.replaceChildren(...(tokens.length ? tokens.map((token) => kept.get(token.serial) || enrolSection(token))
    : [el("div", { class: "enrol-none" }, t("no_enrol_tokens"))]));
}

function translateEnrolment() {
  for (const section of document.querySelectorAll(".enrol")) {
    section.querySelector("summary").textContent = t("enrol_on", { label: section.dataset.label, serial: section.dataset.serial });
    showStatus(section);
  }
  const none = document.querySelector(".enrol-none");
  if (none) none.textContent = t("no_enrol_tokens");
}

function labelled(i18n, control) {
  return el("label", { class: "field" }, el("span", { "data-i18n": i18n }, t(i18n)), control);
}

function setStatus(section, shown) {
  section.shown = shown;
  showStatus(section);
}

// {kind, key, values}, or {error: the daemon's or the bridge's answer}, in the language shown now
function showStatus(section) {
  const shown = section.shown;
  const box = section.querySelector(".enrol-status");
  if (!shown) return box.replaceChildren();
  if (shown.error) {
    const message = language === "vi" ? shown.error.message_vi : shown.error.message_en;
    return box.replaceChildren(notice("danger", t("failed") + " (" + shown.error.error + "): " + message));
  }
  box.replaceChildren(notice(shown.kind, t(shown.key, shown.values)));
}

function base64(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function enrolSection(token) {
  const section = el("details", { class: "enrol" });  // IT staff's: folded until opened
  Object.assign(section.dataset, { serial: token.serial, label: token.label });
  const keyType = el("select", { name: "key" }, ...KEY_TYPES.map(([value, text]) => el("option", { value }, text)));
  const fields = SUBJECT_FIELDS.map(([name, i18n, extra]) => labelled(i18n, el("input", { name, ...(extra || {}) })));
  const create = el("button", { type: "submit", class: "primary create-request", "data-i18n": "create_request" }, t("create_request"));
  const form = el("form", { class: "enrol-form" },
    el("div", { class: "fields" }, labelled("key_type", keyType), labelled("key_label", el("input", { name: "label", required: "" })),
      ...fields),
    el("div", { class: "actions" }, create));
  const pem = el("pre", { class: "request-pem digest" });
  const save = el("button", { type: "button", class: "save-request", "data-i18n": "save" }, t("save"));
  pem.hidden = save.hidden = true;
  const certificate = el("input", { type: "file", class: "certificate-file", accept: ".pem,.crt,.cer,.der" });
  const chain = el("input", { type: "file", class: "chain-files", accept: ".pem,.crt,.cer,.der", multiple: "" });
  const load = el("button", { type: "button", class: "load-certificate", "data-i18n": "load_certificate" }, t("load_certificate"));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    create.disabled = true;
    setStatus(section, { kind: "info", key: "creating" });
    try {
      const made = await host("enroll_request", token.serial, Object.fromEntries(new FormData(form)));
      if (made.error) return setStatus(section, { error: made });
      pem.textContent = made.pem;
      pem.hidden = save.hidden = false;
      setStatus(section, { kind: "ok", key: "request_made", values: { label: made.label, id: made.key_id } });
    } finally {
      create.disabled = false;
    }
  });
  save.addEventListener("click", async () => {
    const done = await host("save_request", token.serial);
    if (done.error) setStatus(section, { error: done });
    else if (done.saved) setStatus(section, { kind: "ok", key: "saved", values: { path: done.saved } });
  });
  load.addEventListener("click", async () => {
    if (!certificate.files.length) return setStatus(section, { kind: "warn", key: "choose_file" });
    load.disabled = true;
    setStatus(section, { kind: "info", key: "loading" });
    try {
      const files = await Promise.all([...certificate.files, ...chain.files].map(async (file) => (
        { name: file.name, data: base64(await file.arrayBuffer()) })));
      const done = await host("enroll_import", token.serial, files);
      if (done.error) return setStatus(section, { error: done });
      setStatus(section, { kind: "ok", key: done.added ? "loaded" : "already", values: { label: done.label, id: done.key_id } });
    } finally {
      load.disabled = false;
    }
  });
  section.append(el("summary", {}, t("enrol_on", { label: token.label, serial: token.serial })), form, pem,
    el("div", { class: "actions" }, save),
    el("div", { class: "fields" }, labelled("certificate_file", certificate), labelled("chain_files", chain)),
    el("div", { class: "actions" }, load), el("div", { class: "enrol-status", role: "status" }));
  return section;
}

document.getElementById("close").addEventListener("click", () => host("done"));
runDialog(renderSettings, 0, () => false).then((again) => { redraw = again; followTokens(); });
