"use strict";
// Batch progress: one row per document, from the daemon's batch events; cancel stops the rest.
const FINAL = ["done", "failed", "cancelled"];

function renderProgress(state) {
  const view = state.data;
  document.getElementById("origin").textContent = view.origin || "";
  const total = view.total || (view.items || []).length;
  const bar = document.getElementById("bar");
  bar.max = Math.max(1, total);
  bar.value = view.done || 0;
  document.getElementById("count").textContent = t("signed_of", { done: view.done || 0, total });
  document.getElementById("failed").textContent = view.failed ? t("failed_n", { n: view.failed }) : "";
  document.getElementById("outcome").textContent = t("b_" + (view.state || "running"));
  document.getElementById("items").replaceChildren(...(view.items || []).map((item) =>
    el("tr", { class: "item", "data-state": item.state },
      el("td", {}, item.index + 1), el("td", {}, item.name || ""),
      el("td", { class: "state-" + item.state }, t("s_" + item.state) + (item.error ? " (" + item.error + ")" : "")))));
  document.getElementById("cancel").disabled = FINAL.includes(view.state);
}

document.getElementById("cancel").addEventListener("click", async () => {
  document.getElementById("cancel").disabled = true;
  await host("cancel_batch");
});
document.getElementById("close").addEventListener("click", () => host("done"));
runDialog(renderProgress, 250, (state) => !FINAL.includes(state.data.state));
