"use strict";
// A remote credential's authorisation: the service, the holder, how many signatures, then the
// PIN and/or one-time code straight to the companion (never kept in the page).
let refresh = null;

function labelled(own, key) {
  return own ? own + " (" + t(key) + ")" : t(key);
}

function renderAuthorise(state) {
  const data = state.data;
  document.getElementById("asker").hidden = !data.origin;
  const askers = { local: "local_client", companion: "companion_client", cli: "cli_client" };
  document.getElementById("origin").textContent = askers[data.origin] ? t(askers[data.origin]) : (data.origin || "");
  document.getElementById("operation").textContent = data.operation ? t("pin_op_" + data.operation) : "";
  document.getElementById("service").textContent = data.service;
  document.getElementById("holder").textContent = data.holder;
  document.getElementById("credential").textContent = data.credential;
  document.getElementById("signatures").textContent = t("signatures_n", { n: data.signatures });
  const sent = document.getElementById("sent");
  sent.hidden = !data.otp_sent;
  sent.replaceChildren(notice("info", t("otp_sent")));
  const described = document.getElementById("otp-description");
  described.hidden = !(data.otp && data.otp_description);
  described.textContent = data.otp_description || "";  // the service's own words, as text
  document.getElementById("pin-row").hidden = !data.pin;
  document.getElementById("otp-row").hidden = !data.otp;
  document.getElementById("pin-label").textContent = labelled(data.pin_label, "pin");
  document.getElementById("otp-label").textContent = labelled(data.otp_label, "otp");
  const finished = state.answered || state.closed;
  for (const id of ["ok", "pin", "otp"]) document.getElementById(id).disabled = Boolean(finished);
  document.getElementById("cancel").textContent = finished ? t("close") : t("cancel");
  const status = document.getElementById("status");
  if (state.closed) {
    status.replaceChildren(notice("danger", t(state.closed === "timeout" ? "timeout" : "disconnected")));
  } else if (state.answered) {
    // the outcome is the signature's (the page and the batch progress show it)
    status.replaceChildren(notice("ok", t("authorisation_sent")));
    setTimeout(() => host("done"), 700);
  }
}

document.getElementById("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const pin = document.getElementById("pin");
  const otp = document.getElementById("otp");
  const values = [pin.value, otp.value];
  pin.value = "";  // not kept in the page
  otp.value = "";
  if (await host("submit_authorisation", ...values) && refresh) refresh();
});
document.getElementById("cancel").addEventListener("click", async () => {
  const state = await host("state");
  if (state.answered || state.closed) return host("done");
  await host("cancel");
  document.getElementById("status").replaceChildren(notice("info", t("cancelled")));
  setTimeout(() => host("done"), 400);
});
runDialog(renderAuthorise, 300, (state) => !state.closed && !state.answered)
  .then((again) => { refresh = again; });
