"use strict";
// Consent: who asks (large), to do what, with which documents and certificate, and what the
// page chose to write into the signature. In "confirm" mode (an origin already allowed to ask)
// the official signs or refuses this one request: nothing is remembered. When nothing in the
// document placed the signature block, the official places it here (placement.js).
let deadline = null;

function confirming(state) { return state.data.mode === "confirm"; }

function renderConsent(state) {
  const data = state.data;
  const confirm = confirming(state);
  document.getElementById("title").textContent = t(confirm ? "title_confirm" : "title_consent");
  document.getElementById("once").textContent = t(confirm ? "sign" : "allow_once");
  document.getElementById("always").hidden = confirm;
  document.getElementById("origin").textContent = data.origin;
  document.getElementById("reason").textContent = data.reason || "";
  document.getElementById("location").textContent = data.location || "";
  document.getElementById("reason-row").hidden = !data.reason;
  document.getElementById("location-row").hidden = !data.location;
  document.getElementById("written-section").hidden = !data.reason && !data.location;
  const count = (data.documents || []).length;
  document.getElementById("operation").textContent = t("op_" + data.operation, { n: count });
  // the raw scope: the daemon's own sentence that the content cannot be shown
  const said = language === "en" ? data.notice_en : data.notice_vi;
  document.getElementById("notice").replaceChildren(...(said ? [notice("danger", said)] : []));
  document.getElementById("per-signature").replaceChildren(
    ...(data.pin_per_signature ? [notice("warn", t("pin_each", { n: Math.max(count, 1) }))] : []));
  const rows = document.getElementById("documents");
  rows.replaceChildren(...(data.documents || []).map((doc) => el("tr", { class: "document" },
    el("td", {}, doc.name || t("unnamed"), ...(doc.repaired ? [notice("warn", t("repaired"))] : [])),
    el("td", {}, doc.pages == null ? "" : doc.pages),
    el("td", { class: "digest" }, doc.sha256))));
  document.getElementById("documents-section").hidden = count === 0;
  if (data.placing) placementStart(data.placing);
  updatePager();
  const preview = document.getElementById("preview");
  document.getElementById("preview-section").hidden = !data.preview_png;
  if (data.preview_png) preview.src = "data:image/png;base64," + data.preview_png;
  const cert = data.certificate;
  document.getElementById("certificate").replaceChildren(cert
    ? el("table", {},
        el("tr", {}, el("th", {}, t("holder")), el("td", { id: "holder" }, cert.holder)),
        el("tr", {}, el("th", {}, t("issuer")), el("td", {}, cert.issuer)),
        el("tr", {}, el("th", {}, t("validity")), el("td", {}, shortDate(cert.not_before) + " – " + shortDate(cert.not_after))))
    : notice("warn", t("no_certificate")));
  const finished = state.answered || state.closed;
  if (finished) placementEnd();
  for (const id of ["once", "always", "refuse"]) document.getElementById(id).disabled = Boolean(finished);
  // where the official places the block, saying yes needs a page on which to place it
  for (const id of ["once", "always"]) if (!placementReady()) document.getElementById(id).disabled = true;
  const status = document.getElementById("status");
  if (state.closed) status.replaceChildren(notice("danger", t(state.closed === "timeout" ? "timeout" : "disconnected")));
  if (deadline === null && data.timeout_s) deadline = Date.now() + data.timeout_s * 1000;
  const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
  document.getElementById("countdown").textContent = finished ? "" : t("closes_in", { s: left });
}

async function decide(decision) {
  const accepted = await host("answer", decision, decision === "refuse" ? null : placementAnswer());
  if (accepted) {
    const said = decision === "refuse" ? "answered_refuse" : (document.getElementById("always").hidden ? "answered_sign" : "answered_allow");
    document.getElementById("status").replaceChildren(notice(decision === "refuse" ? "danger" : "ok", t(said)));
    for (const id of ["once", "always", "refuse"]) document.getElementById(id).disabled = true;
    placementEnd();
    setTimeout(() => host("done"), 600);
  }
}

document.getElementById("once").addEventListener("click", () => decide("once"));
document.getElementById("always").addEventListener("click", () => decide("always"));
document.getElementById("refuse").addEventListener("click", () => decide("refuse"));
runDialog(renderConsent, 500, (state) => !state.answered && !state.closed);
