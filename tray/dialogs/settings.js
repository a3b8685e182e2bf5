"use strict";
// Settings: the tokens plugged in now (kept up to date as they come and go), allowed websites
// (consent revocable), signature and seal images, local TLS.
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

document.getElementById("close").addEventListener("click", () => host("done"));
runDialog(renderSettings, 0, () => false).then((again) => { redraw = again; followTokens(); });
