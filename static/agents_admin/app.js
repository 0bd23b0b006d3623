// Small progressive enhancements; the console works without them.
document.addEventListener("htmx:responseError", (event) => {
  const toasts = document.getElementById("toasts");
  if (!toasts) return;
  const toast = document.createElement("div");
  toast.className = "toast toast-error";
  toast.textContent = `Request failed (${event.detail.xhr.status}). Please retry.`;
  toasts.appendChild(toast);
  setTimeout(() => toast.remove(), 6000);
});

// The main menu folds behind "Menu" on narrow screens.
document.addEventListener("click", (event) => {
  const toggle = event.target.closest(".menu-toggle");
  if (!toggle) return;
  const open = document.body.classList.toggle("nav-open");
  toggle.setAttribute("aria-expanded", open ? "true" : "false");
});

// A run's trace opens in place (run panel, transcript): fetched once, the first time its <details> opens.
// Without JavaScript the "Open the trace" link inside goes to the trace's own page.
document.addEventListener(
  "toggle",
  (event) => {
    const details = event.target;
    if (!(details instanceof HTMLDetailsElement) || !details.open) return;
    if (!details.classList.contains("lazy-trace") || details.dataset.loaded) return;
    details.dataset.loaded = "1";
    const slot = details.querySelector(".trace-slot");
    fetch(details.dataset.traceUrl, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
      .then((html) => {
        slot.innerHTML = html; // server-rendered, escaped by the template
      })
      .catch(() => {
        delete details.dataset.loaded;
      });
  },
  true,
);

// "Copy as JSON": the whole trace, fetched and put on the clipboard.
document.addEventListener("click", (event) => {
  const button = event.target.closest(".copy-json");
  if (!button) return;
  const status = button.parentElement.querySelector(".copy-status");
  fetch(button.dataset.url, { credentials: "same-origin" })
    .then((response) => (response.ok ? response.text() : Promise.reject(response.status)))
    .then((text) => navigator.clipboard.writeText(text))
    .then(() => {
      if (status) status.textContent = "Copied.";
    })
    .catch(() => {
      if (status) status.textContent = "Could not copy; use Download JSON.";
    });
});

// A table that scrolls inside its card (narrow screens) must be reachable by keyboard to be scrolled.
function markScrollableTables(root) {
  for (const table of root.querySelectorAll("main table")) {
    if (table.scrollWidth > table.clientWidth + 1) table.setAttribute("tabindex", "0");
    else table.removeAttribute("tabindex");
  }
}
document.addEventListener("DOMContentLoaded", () => markScrollableTables(document));
document.addEventListener("htmx:afterSettle", () => markScrollableTables(document));
window.addEventListener("resize", () => markScrollableTables(document));

// Times: relative ("5 minutes ago"), the absolute time in the browser's time zone on hover. The server writes
// the absolute UTC time, labelled, so the page reads right without JavaScript.
const RELATIVE_UNITS = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
function showTimes(root) {
  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  // The person's own zone (their setting, in the session), else the browser's.
  const timeZone = document.body.dataset.timeZone || undefined;
  const absolute = new Intl.DateTimeFormat(undefined, {
    timeZone,
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });
  for (const el of root.querySelectorAll("time[data-when]")) {
    const at = new Date(el.getAttribute("datetime"));
    if (Number.isNaN(at.getTime())) continue;
    const seconds = (at.getTime() - Date.now()) / 1000;
    const [unit, size] = RELATIVE_UNITS.find(([, s]) => Math.abs(seconds) >= s) || ["second", 1];
    el.textContent = relative.format(Math.round(seconds / size), unit);
    el.title = absolute.format(at);
  }
}
document.addEventListener("DOMContentLoaded", () => showTimes(document));
document.addEventListener("htmx:afterSettle", (event) => showTimes(event.target));

// Toasts confirm and go: each fades out after a few seconds (errors stay until the next page).
function dismissToasts() {
  for (const toast of document.querySelectorAll("#toasts .toast:not(.toast-error):not([data-timed])")) {
    toast.dataset.timed = "1";
    setTimeout(() => toast.remove(), 6000);
  }
}
document.addEventListener("DOMContentLoaded", dismissToasts);
document.addEventListener("htmx:afterSettle", dismissToasts);

// A run that ends gives the run buttons back in place, as a reload would: once no run panel on the page is polling
// (the panel stops polling when its run is no longer active), the run buttons the page disabled are usable again.
document.addEventListener("htmx:afterSettle", () => {
  const waiting = document.getElementById("run-active-help");
  if (!waiting || document.querySelector("#run-panel[hx-trigger]")) return;
  for (const id of ["send-and-run", "start-run"]) {
    const button = document.getElementById(id);
    if (button) {
      button.disabled = false;
      button.removeAttribute("aria-describedby");
    }
  }
  waiting.remove();
});
