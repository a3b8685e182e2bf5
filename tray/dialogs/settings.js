"use strict";
// Settings: allowed websites (consent revocable), signature and seal images, local TLS.
let redraw = null;

function image(data) {
  return data ? el("img", { class: "look", src: "data:image/png;base64," + data, alt: "" }) : t("none");
}

function renderSettings(state) {
  const data = state.data;
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
runDialog(renderSettings, 0, () => false).then((again) => { redraw = again; });
