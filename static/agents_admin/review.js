// Keyboard for the review item page: j/k move between rubric fields, 1-9 choose the active field's nth option,
// Enter submits the answers (and the page goes on to the next item), s jumps to the skip reason.
// Keys typed into a text box are left alone; the page works the same with the mouse and without this file.
(function () {
  const form = document.querySelector("[data-review-form]");
  if (!form) return;
  const fields = Array.from(form.querySelectorAll("[data-rubric-field]"));
  let active = 0;

  function activate(index) {
    if (!fields.length) return;
    active = (index + fields.length) % fields.length;
    fields.forEach((field, i) => field.classList.toggle("active", i === active));
    fields[active].scrollIntoView({ block: "nearest" });
  }

  function typing(target) {
    return target instanceof HTMLElement && (target.isContentEditable || target.matches("textarea, input[type=text], input:not([type])"));
  }

  fields.forEach((field, i) => field.addEventListener("focusin", () => activate(i)));

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    const key = event.key;
    if (key === "j" || key === "k") {
      activate(active + (key === "j" ? 1 : -1));
      event.preventDefault();
    } else if (/^[1-9]$/.test(key) && fields.length) {
      const options = fields[active].querySelectorAll("input[type=radio]");
      const option = options[Number(key) - 1];
      if (option) {
        option.checked = true;
        option.dispatchEvent(new Event("change", { bubbles: true }));
        // The next field that still needs an answer becomes active, so a run of digits scores the rubric.
        const next = fields.findIndex((field, i) => i > active && !field.querySelector("input:checked, textarea"));
        if (next !== -1) activate(next);
        event.preventDefault();
      }
    } else if (key === "Enter" && !(event.target instanceof HTMLButtonElement) && !(event.target instanceof HTMLAnchorElement)) {
      form.requestSubmit();
      event.preventDefault();
    } else if (key === "s") {
      const reason = document.getElementById("id_skip_reason");
      if (reason) {
        reason.focus();
        event.preventDefault();
      }
    } else if (key === "t") {
      const text = fields[active] && fields[active].querySelector("textarea");
      if (text) {
        text.focus();
        event.preventDefault();
      }
    }
  });

  activate(0);
})();
