"use strict";
// PIN: the token, what its flags warn of, then the PIN straight to the companion.
let refresh = null;

function triesNotice(facts) {
  if (facts.locked) return notice("danger", t("left_locked"));
  if (facts.final_try) return notice("danger", t("left_final"));
  if (facts.count_low) return notice("warn", t("left_low"));
  return null;
}

function renderPin(state) {
  const data = state.data;
  document.getElementById("asker").hidden = !data.origin;
  const askers = { local: "local_client", companion: "companion_client" };
  document.getElementById("origin").textContent = askers[data.origin] ? t(askers[data.origin]) : (data.origin || "");
  document.getElementById("operation").textContent = data.operation ? t("pin_op_" + data.operation) : "";
  document.getElementById("token").textContent = data.token_label;
  document.getElementById("serial").textContent = data.token_serial;
  const warning = triesNotice(data);
  document.getElementById("warning").replaceChildren(...(warning ? [warning] : []));
  const perSignature = document.getElementById("per-signature");
  perSignature.hidden = !data.per_signature;
  perSignature.replaceChildren(notice("info", t("per_signature")));
  document.getElementById("pin-row").hidden = Boolean(data.pinpad);
  const pinpad = document.getElementById("pinpad");
  pinpad.hidden = !data.pinpad;
  pinpad.replaceChildren(notice("info", t("pinpad")));
  const status = document.getElementById("status");
  const finished = state.answered || state.closed;
  document.getElementById("ok").disabled = Boolean(finished);
  document.getElementById("pin").disabled = Boolean(finished);
  document.getElementById("cancel").textContent = finished ? t("close") : t("cancel");
  if (state.closed) {
    status.replaceChildren(notice("danger", t(state.closed === "timeout" ? "timeout" : "disconnected")));
  } else if (state.result && state.result.ok) {
    status.replaceChildren(notice("ok", t("pin_ok")));
    setTimeout(() => host("done"), 800);
  } else if (state.result) {
    const tries = triesNotice(state.result);
    status.replaceChildren(notice("danger", t("pin_wrong")), ...(tries ? [tries] : []));
  } else if (state.answered && data.per_signature) {
    // a signature's own PIN: its outcome is the signature's (the page and the batch progress show it)
    status.replaceChildren(notice("ok", t("pin_sent")));
    setTimeout(() => host("done"), 700);
  } else if (state.answered) {
    status.replaceChildren(notice("info", t("checking")));
  }
}

document.getElementById("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const field = document.getElementById("pin");
  const pin = field.value;
  field.value = "";  // not kept in the page
  if (await host("submit_pin", pin) && refresh) refresh();
});
document.getElementById("cancel").addEventListener("click", async () => {
  const state = await host("state");
  if (state.answered || state.closed) return host("done");
  await host("cancel");
  document.getElementById("status").replaceChildren(notice("info", t("cancelled")));
  setTimeout(() => host("done"), 400);
});
runDialog(renderPin, 300, (state) => !state.closed && !state.result && !(state.answered && state.data.per_signature))
  .then((again) => { refresh = again; });
