"use strict";
// The placement step of the consent dialog: nothing in the document placed the signature
// block, so the official drags it onto a page. Pages come from the daemon one at a time,
// rendered when asked for. Positions are kept in PDF points as the page is shown (origin at
// the bottom left); the answer is the page (from 1) and the block's rectangle.
const placement = {
  ask: null, // state.data.placing: {pages, block: [width, height], start_page, margin}
  view: null, // the page shown: {page, pages, box: [x0, y0, x1, y1], png}
  x: null, // the block's lower left corner, in points
  y: null,
  loading: false,
  drag: null, // where in the block the pointer took it
  done: false,
};

function placementStart(ask) {
  if (placement.ask) return;
  placement.ask = ask;
  document.getElementById("placement-section").hidden = false;
  document.getElementById("prev-page").addEventListener("click", () => showPage(placement.view.page - 1));
  document.getElementById("next-page").addEventListener("click", () => showPage(placement.view.page + 1));
  const block = document.getElementById("block");
  block.addEventListener("pointerdown", grab);
  block.addEventListener("keydown", nudge);
  window.addEventListener("pointermove", dragTo);
  window.addEventListener("pointerup", () => { placement.drag = null; });
  document.getElementById("page-image").addEventListener("load", drawBlock);
  window.addEventListener("resize", drawBlock);
  showPage(ask.start_page);
}

function placementReady() { return placement.ask === null || placement.view !== null; }

function placementAnswer() {
  if (!placement.view) return null;
  const [width, height] = placement.ask.block;
  return { page: placement.view.page, rect: [placement.x, placement.y, placement.x + width, placement.y + height] };
}

function placementEnd() {
  placement.done = true;
  placement.drag = null;
  updatePager();
}

async function showPage(number) {
  if (placement.loading || placement.done || number < 1 || number > placement.ask.pages) return;
  placement.loading = true;
  updatePager(number);
  const view = await host("page", number);
  placement.loading = false;
  if (!view) {
    document.getElementById("status").replaceChildren(notice("warn", t("page_failed")));
    updatePager();
    return;
  }
  placement.view = view;
  if (placement.x === null) {
    const [x0, y0, x1] = view.box;
    placement.x = x1 - placement.ask.margin - placement.ask.block[0];
    placement.y = y0 + placement.ask.margin;
  }
  clampBlock();
  document.getElementById("page-image").src = "data:image/png;base64," + view.png;
  updatePager();
}

// "Page N of M", and the buttons that lead nowhere (or while a page loads) disabled
function updatePager(loadingPage) {
  if (!placement.ask) return;
  const shown = loadingPage || (placement.view ? placement.view.page : placement.ask.start_page);
  const label = document.getElementById("page-label");
  label.textContent = t("page_of", { n: shown, m: placement.ask.pages }) + (loadingPage ? " — " + t("loading_page") : "");
  const still = placement.loading || placement.done;
  document.getElementById("prev-page").disabled = still || shown <= 1;
  document.getElementById("next-page").disabled = still || shown >= placement.ask.pages;
  document.getElementById("block").hidden = !placement.view;
}

function scale() {
  const [x0, , x1] = placement.view.box;
  return document.getElementById("page-image").clientWidth / (x1 - x0);
}

function drawBlock() {
  if (!placement.view) return;
  const [x0, , , y1] = placement.view.box;
  const [width, height] = placement.ask.block;
  const s = scale();
  const block = document.getElementById("block");
  block.style.left = (placement.x - x0) * s + "px";
  block.style.top = (y1 - placement.y - height) * s + "px";
  block.style.width = width * s + "px";
  block.style.height = height * s + "px";
}

function clampBlock() {
  const [x0, y0, x1, y1] = placement.view.box;
  const [width, height] = placement.ask.block;
  placement.x = Math.max(x0, Math.min(placement.x, x1 - width));
  placement.y = Math.max(y0, Math.min(placement.y, y1 - height));
  drawBlock();
}

function grab(event) {
  if (placement.done || !placement.view) return;
  event.preventDefault();
  const box = document.getElementById("block").getBoundingClientRect();
  placement.drag = { dx: event.clientX - box.left, dy: event.clientY - box.top };
  document.getElementById("block").focus();
}

function dragTo(event) {
  if (!placement.drag) return;
  const [x0, , , y1] = placement.view.box;
  const sheet = document.getElementById("page-image").getBoundingClientRect();
  const s = scale();
  placement.x = x0 + (event.clientX - sheet.left - placement.drag.dx) / s;
  placement.y = y1 - (event.clientY - sheet.top - placement.drag.dy) / s - placement.ask.block[1];
  clampBlock();
}

const STEPS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };

function nudge(event) {
  const step = STEPS[event.key];
  if (!step || placement.done || !placement.view) return;
  event.preventDefault();
  const points = event.shiftKey ? 10 : 2;
  placement.x += step[0] * points;
  placement.y += step[1] * points;
  clampBlock();
}
