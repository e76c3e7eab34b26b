// bmadweb front-end glue. Loaded as a file so the CSP can forbid inline scripts.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  const box = document.getElementById("htmx-error");
  if (box) { box.textContent = `The server answered ${status}. Reload the page and try again.`; box.hidden = false; }
});

// The manifest editor: CodeMirror (static/vendor/codemirror) over the textarea, which
// stays the form field. Without the bundle the plain textarea works as before.
let manifestEditor = null;
function mountEditor() {
  const textarea = document.getElementById("id_yaml_text");
  if (!textarea || manifestEditor || !window.bmadwebEditor) return;
  manifestEditor = window.bmadwebEditor.create(textarea, { label: "Manifest (YAML)" });
  window.bmadwebManifestEditor = manifestEditor;  // the browser tests type through it
  const label = document.getElementById("yaml-label");
  if (label) {  // the label now names the editor, which takes the clicks
    label.removeAttribute("for");
    label.addEventListener("click", () => manifestEditor.view.focus());
  }
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountEditor);
else mountEditor();
window.addEventListener("load", mountEditor);

// Manifest editor: "Line N, column M" buttons move the caret to that spot.
document.addEventListener("click", (event) => {
  const target = event.target.closest("button.jump");
  if (!target) return;
  const line = Number(target.dataset.line) || 1;
  const column = Number(target.dataset.column) || 1;
  if (manifestEditor) { manifestEditor.jump(line, column); return; }
  const editor = document.getElementById("id_yaml_text");
  if (!editor) return;
  const lines = editor.value.split("\n");
  let offset = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
  offset += Math.max(0, column - 1);
  editor.focus();
  editor.setSelectionRange(offset, offset);
  const lineHeight = parseFloat(getComputedStyle(editor).lineHeight) || 18;
  editor.scrollTop = Math.max(0, (line - 5) * lineHeight);
});

// Copy buttons: data-copy names the element whose text (or value) is copied.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const text = "value" in source && source.value !== undefined ? source.value : source.textContent.trim();
  let done = false;
  try {
    await navigator.clipboard.writeText(text);
    done = true;
  } catch (_) {
    if (source.select) { source.select(); done = document.execCommand && document.execCommand("copy"); }
  }
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  button.textContent = done ? "Copied" : "Select and copy";
  const status = document.getElementById("copy-status");
  if (status) status.textContent = done ? "Copied to the clipboard." : "Copying failed: select the text and copy it.";
  setTimeout(() => { button.textContent = label; }, 2000);
});

// Tab in the plain manifest textarea (no editor bundle) inserts two spaces; Escape
// leaves it (keyboard users).
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

// Tabs that scroll sideways (phone width) say so with a fading edge on the side
// that has more.
function markScroll(box) {
  const more = box.scrollWidth - box.clientWidth;
  box.classList.toggle("more-right", more > 2 && box.scrollLeft < more - 2);
  box.classList.toggle("more-left", box.scrollLeft > 2);
}
function watchScrollers() {
  document.querySelectorAll(".tabs ul").forEach((box) => {
    markScroll(box);
    if (!box.dataset.watched) {
      box.dataset.watched = "1";
      box.addEventListener("scroll", () => markScroll(box), { passive: true });
      const current = box.querySelector("[aria-current=page]");
      if (current && box.scrollWidth > box.clientWidth) {
        box.scrollLeft = Math.max(0, current.offsetLeft - 24);
        markScroll(box);
      }
    }
  });
}
document.addEventListener("DOMContentLoaded", watchScrollers);
window.addEventListener("resize", watchScrollers);
