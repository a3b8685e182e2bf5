"use strict";
// Plug in the token: a signature waits for it. Who asks, for what, which certificate; the
// time left; "stop waiting" ends the wait (the request fails). The companion closes the
// window when the token came or the wait ended.
const CALLERS = { "api-token": "local_client", cli: "cli_client", absent: "absent_client" };
let deadline = null;

function callerName(origin) {
  return CALLERS[origin] ? t(CALLERS[origin]) : origin;
}

function renderPlugIn(state) {
  const data = state.data;
  document.getElementById("origin").textContent = callerName(data.origin || "");
  document.getElementById("operation").textContent = data.operation ? t("pin_op_" + data.operation) : "";
  document.getElementById("certificate-section").hidden = !data.certificate;
  document.getElementById("certificate").textContent = data.certificate || "";
  const finished = state.answered || state.closed;
  document.getElementById("stop").disabled = Boolean(finished);
  const status = document.getElementById("status");
  if (state.closed) {
    status.replaceChildren(notice(state.closed === "done" ? "ok" : "danger",
                                  t(state.closed === "done" ? "plugin_done" : "disconnected")));
    setTimeout(() => host("done"), 800);
  } else if (state.answered) status.replaceChildren(notice("danger", t("plugin_stopped")));
  if (deadline === null && data.timeout_s) deadline = Date.now() + data.timeout_s * 1000;
  const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
  document.getElementById("countdown").textContent = finished || deadline === null ? "" : t("plugin_waits", { s: left });
}

document.getElementById("stop").addEventListener("click", async () => {
  document.getElementById("stop").disabled = true;
  if (await host("cancel")) {
    document.getElementById("status").replaceChildren(notice("danger", t("plugin_stopped")));
    setTimeout(() => host("done"), 600);
  }
});
runDialog(renderPlugIn, 500, (state) => !state.answered && !state.closed);
