// Keyboard navigation: Ctrl/Cmd-K opens the command palette, "/" focuses the page's search box, "g" then a letter
// goes to a menu page (the letters are the menu links' data-key), "?" shows them all. Keys typed into a text box
// are left alone. The menu is the one source of commands, so nobody is offered a page they may not open.
// The dialogs are <dialog> elements shown modally (the rest of the page is inert; Esc closes them).
(function () {
  const GO_PREFIX_MS = 1500;
  let goPending = 0;
  let lastFocus = null;

  function typing(target) {
    return (
      target instanceof HTMLElement &&
      (target.isContentEditable || target.closest("input, textarea, select, [contenteditable]") !== null)
    );
  }

  function menuLinks() {
    return Array.from(document.querySelectorAll("#site-nav a[href]")).map((link) => ({
      label: link.textContent.trim(),
      href: link.getAttribute("href"),
      key: link.dataset.key || "",
      group: (link.closest("ul")?.previousElementSibling?.textContent || "").trim(),
    }));
  }

  function openDialog(dialog) {
    if (!dialog || dialog.open) return;
    for (const other of document.querySelectorAll("dialog.keys-dialog[open]")) other.close();
    lastFocus = document.activeElement;
    dialog.showModal();
  }

  // Focus stays inside an open dialog: Tab from the last control goes to the first, Shift-Tab the other way.
  function trapFocus(event, dialog) {
    const controls = Array.from(dialog.querySelectorAll("a[href], button, input, [tabindex='0']")).filter(
      (el) => !el.disabled && el.getClientRects().length > 0,
    );
    if (!controls.length) return;
    const first = controls[0];
    const last = controls[controls.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      last.focus();
      event.preventDefault();
    } else if (!event.shiftKey && document.activeElement === last) {
      first.focus();
      event.preventDefault();
    }
  }

  // The "?" overlay: the fixed keys are in the template, the "g" keys come from the menu.
  function fillHelp(dialog) {
    const list = dialog.querySelector("[data-go-keys]");
    if (!list || list.dataset.filled) return;
    list.dataset.filled = "1";
    for (const link of menuLinks().filter((l) => l.key)) {
      const term = document.createElement("dt");
      const g = document.createElement("kbd");
      g.textContent = "g";
      const letter = document.createElement("kbd");
      letter.textContent = link.key;
      term.append(g, " ", letter);
      const desc = document.createElement("dd");
      desc.textContent = link.label;
      list.append(term, desc);
    }
  }

  function showHelp() {
    const dialog = document.getElementById("keys-help");
    if (!dialog) return;
    fillHelp(dialog);
    openDialog(dialog);
  }

  // The palette: menu pages filtered by what is typed, then "search messages for …" and "jump to id …".
  function paletteCommands(query) {
    const q = query.trim().toLowerCase();
    const palette = document.getElementById("palette");
    const commands = menuLinks()
      .filter((link) => !q || link.label.toLowerCase().includes(q) || link.group.toLowerCase().includes(q))
      .map((link) => ({ label: link.label, hint: link.key ? `g ${link.key}` : link.group, href: link.href }));
    if (q && palette.dataset.searchUrl) {
      const href = `${palette.dataset.searchUrl}?q=${encodeURIComponent(query.trim())}`;
      commands.push({ label: `Search messages for “${query.trim()}”`, hint: "Search", href });
    }
    if (q && /^[a-z]+_\S+$/i.test(query.trim()) && palette.dataset.jumpUrl) {
      const href = `${palette.dataset.jumpUrl}?id=${encodeURIComponent(query.trim())}`;
      commands.unshift({ label: `Go to ${query.trim()}`, hint: "Jump to id", href });
    }
    return commands;
  }

  function renderPalette(dialog, active) {
    const input = dialog.querySelector("input");
    const list = dialog.querySelector("[role=listbox]");
    const commands = paletteCommands(input.value);
    const index = commands.length ? Math.max(0, Math.min(active, commands.length - 1)) : -1;
    list.replaceChildren();
    commands.forEach((command, i) => {
      const option = document.createElement("li");
      option.id = `palette-option-${i}`;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", i === index ? "true" : "false");
      option.dataset.href = command.href;
      const label = document.createElement("span");
      label.textContent = command.label;
      const hint = document.createElement("span");
      hint.className = "palette-hint";
      hint.textContent = command.hint;
      option.append(label, hint);
      list.append(option);
    });
    dialog.dataset.active = String(index);
    if (index >= 0) input.setAttribute("aria-activedescendant", `palette-option-${index}`);
    else input.removeAttribute("aria-activedescendant");
    dialog.querySelector("[data-palette-empty]").hidden = commands.length > 0;
    list.querySelector("[aria-selected=true]")?.scrollIntoView({ block: "nearest" });
  }

  function showPalette() {
    const dialog = document.getElementById("palette");
    if (!dialog) return;
    const input = dialog.querySelector("input");
    input.value = "";
    renderPalette(dialog, 0);
    openDialog(dialog);
    input.focus();
  }

  function go(href) {
    if (href) window.location.assign(href);
  }

  // "/" focuses the page's own search or filter box, else the top bar's "jump to id" box.
  function focusSearch() {
    const text = "input:is([type=search], [type=text], :not([type]))";
    const box =
      document.querySelector(`main :is([role=search], form.filters) ${text}`) ||
      document.querySelector("header [role=search] input");
    if (!box) return false;
    box.focus();
    box.select?.();
    return true;
  }

  document.addEventListener("keydown", (event) => {
    const open = document.querySelector("dialog.keys-dialog[open]");
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
      event.preventDefault();
      if (open && open.id === "palette") open.close();
      else showPalette();
      return;
    }
    if (open) {
      if (event.key === "Tab") trapFocus(event, open);
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (goPending && Date.now() - goPending < GO_PREFIX_MS) {
      goPending = 0;
      const link = menuLinks().find((l) => l.key === event.key);
      if (link) {
        // The review page has its own single-letter keys; a "g" sequence is ours alone.
        event.preventDefault();
        event.stopImmediatePropagation();
        go(link.href);
      }
      return;
    }
    if (event.key === "g") {
      goPending = Date.now();
      event.stopImmediatePropagation();
    } else if (event.key === "?") {
      event.preventDefault();
      showHelp();
    } else if (event.key === "/" && focusSearch()) {
      event.preventDefault();
    }
  });

  // Palette keys: arrows move, Enter goes, typing filters.
  document.addEventListener("input", (event) => {
    const dialog = event.target.closest?.("#palette");
    if (dialog) renderPalette(dialog, 0);
  });
  document.addEventListener("keydown", (event) => {
    const dialog = event.target.closest?.("#palette");
    if (!dialog || !(event.target instanceof HTMLInputElement)) return;
    const active = Number(dialog.dataset.active || 0);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      renderPalette(dialog, active + (event.key === "ArrowDown" ? 1 : -1));
      event.preventDefault();
    } else if (event.key === "Enter") {
      const option = dialog.querySelector(`#palette-option-${active}`);
      event.preventDefault();
      if (option) go(option.dataset.href);
    }
  });

  document.addEventListener("click", (event) => {
    const option = event.target.closest("#palette [role=option]");
    if (option) {
      go(option.dataset.href);
      return;
    }
    if (event.target.closest("[data-keys-close]")) {
      event.target.closest("dialog")?.close();
      return;
    }
    if (event.target.closest("[data-show-keys]")) {
      showHelp();
      return;
    }
    if (event.target.closest("[data-show-palette]")) {
      showPalette();
      return;
    }
    // A click on the backdrop (the dialog element itself, outside its box) closes it.
    if (event.target instanceof HTMLDialogElement && event.target.classList.contains("keys-dialog")) {
      event.target.close();
    }
  });

  document.addEventListener(
    "close",
    (event) => {
      if (!(event.target instanceof HTMLDialogElement) || !event.target.classList.contains("keys-dialog")) return;
      if (lastFocus instanceof HTMLElement && lastFocus.isConnected) lastFocus.focus();
      lastFocus = null;
    },
    true,
  );
})();
