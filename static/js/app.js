// bmadweb front-end glue. Loaded as a file so the CSP can forbid inline scripts.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  const box = document.getElementById("htmx-error");
  if (box) { box.textContent = `The server answered ${status}. Reload the page and try again.`; box.hidden = false; }
});

// Manifest editor: "Line N, column M" buttons move the caret to that spot.
document.addEventListener("click", (event) => {
  const target = event.target.closest("button.jump");
  const editor = document.getElementById("id_yaml_text");
  if (!target || !editor) return;
  const line = Number(target.dataset.line) || 1;
  const column = Number(target.dataset.column) || 1;
  const lines = editor.value.split("\n");
  let offset = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
  offset += Math.max(0, column - 1);
  editor.focus();
  editor.setSelectionRange(offset, offset);
  const lineHeight = parseFloat(getComputedStyle(editor).lineHeight) || 18;
  editor.scrollTop = Math.max(0, (line - 5) * lineHeight);
});

// Tab in the manifest editor inserts two spaces; Escape leaves the editor (keyboard users).
document.addEventListener("keydown", (event) => {
  const editor = event.target;
  if (!(editor instanceof HTMLTextAreaElement) || !editor.classList.contains("code-editor")) return;
  if (event.key === "Tab" && !event.shiftKey && !editor.dataset.tabOut) {
    event.preventDefault();
    const start = editor.selectionStart;
    editor.setRangeText("  ", start, editor.selectionEnd, "end");
    editor.dispatchEvent(new Event("input", { bubbles: true }));
  } else if (event.key === "Escape") {
    editor.dataset.tabOut = "1";  // the next Tab moves focus on, as usual
  }
});
document.addEventListener("focusin", (event) => {
  if (event.target instanceof HTMLTextAreaElement) delete event.target.dataset.tabOut;
});
