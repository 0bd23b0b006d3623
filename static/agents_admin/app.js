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
