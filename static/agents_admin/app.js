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
