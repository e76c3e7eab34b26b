// The manifest editor: CodeMirror 6 with line numbers and YAML highlighting, mounted
// over the page's <textarea> (which stays the form field, so the page works without it).
//
// Strict CSP: CodeMirror's styles go into a constructed stylesheet, which style-src
// 'self' allows, because the editor lives in a shadow root (in a document, style-mod
// would add a <style> element, which the policy refuses). Inline style changes are made
// through the CSSOM, which the policy does not govern.
import { EditorState, Compartment } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  drawSelection, highlightSpecialChars,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { HighlightStyle, syntaxHighlighting, indentOnInput, bracketMatching } from "@codemirror/language";
import { yaml } from "@codemirror/lang-yaml";
import { tags as t } from "@lezer/highlight";

// Colours at WCAG AA contrast (at least 4.5:1) on the light and the dark background.
const light = HighlightStyle.define([
  { tag: [t.propertyName, t.definition(t.propertyName)], color: "#0550ae", fontWeight: "600" },
  { tag: [t.string, t.special(t.string)], color: "#0a3069" },
  { tag: [t.number, t.bool, t.null, t.atom, t.keyword], color: "#953800" },
  { tag: [t.comment, t.lineComment], color: "#57606a", fontStyle: "italic" },
  { tag: [t.meta, t.processingInstruction, t.separator, t.punctuation], color: "#6e7781" },
  { tag: t.invalid, color: "#cf222e" },
]);
const dark = HighlightStyle.define([
  { tag: [t.propertyName, t.definition(t.propertyName)], color: "#79c0ff", fontWeight: "600" },
  { tag: [t.string, t.special(t.string)], color: "#a5d6ff" },
  { tag: [t.number, t.bool, t.null, t.atom, t.keyword], color: "#ffa657" },
  { tag: [t.comment, t.lineComment], color: "#9198a1", fontStyle: "italic" },
  { tag: [t.meta, t.processingInstruction, t.separator, t.punctuation], color: "#9198a1" },
  { tag: t.invalid, color: "#ff7b72" },
], { themeType: "dark" });

function theme(isDark) {
  return EditorView.theme({
    "&": {
      fontSize: "0.85rem", border: "1px solid var(--bw-editor-border, #8c959f)",
      borderRadius: "0.25rem", backgroundColor: isDark ? "#0d1117" : "#ffffff",
      color: isDark ? "#e6edf3" : "#1f2328",
    },
    "&.cm-focused": { outline: "3px solid #0969da", outlineOffset: "1px" },
    ".cm-scroller": {
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      lineHeight: "1.5", minHeight: "24rem", maxHeight: "70vh",
    },
    ".cm-gutters": {
      backgroundColor: isDark ? "#161b22" : "#f6f8fa", color: isDark ? "#9198a1" : "#57606a",
      borderRight: "1px solid " + (isDark ? "#30363d" : "#d0d7de"),
    },
    ".cm-activeLine": { backgroundColor: isDark ? "#161b2280" : "#eaeef280" },
    ".cm-activeLineGutter": { backgroundColor: isDark ? "#30363d" : "#eaeef2", color: isDark ? "#e6edf3" : "#1f2328" },
    ".cm-cursor": { borderLeftColor: isDark ? "#e6edf3" : "#1f2328" },
    ".cm-selectionBackground, &.cm-focused .cm-selectionBackground": {
      backgroundColor: isDark ? "#264f78" : "#b6d7ff",
    },
  }, { dark: isDark });
}

function create(textarea, options = {}) {
  const host = document.createElement("div");
  host.className = "code-editor-host";
  textarea.insertAdjacentElement("afterend", host);
  const root = host.attachShadow({ mode: "open" });
  const mount = document.createElement("div");
  root.appendChild(mount);

  const scheme = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  const isDark = () => document.documentElement.dataset.theme === "dark" ||
    (!document.documentElement.dataset.theme && scheme !== null && scheme.matches);
  const look = new Compartment();
  const looks = (d) => [theme(d), syntaxHighlighting(d ? dark : light)];
  const readOnly = textarea.readOnly || textarea.disabled;

  let syncing = false;
  const view = new EditorView({
    root,
    parent: mount,
    state: EditorState.create({
      doc: textarea.value,
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(), history(),
        drawSelection(), indentOnInput(), bracketMatching(), highlightActiveLine(),
        EditorState.tabSize.of(2), yaml(),
        keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
        EditorState.readOnly.of(readOnly),
        EditorView.contentAttributes.of({
          "aria-label": options.label || "Manifest (YAML)",
          "aria-multiline": "true",
          tabindex: "0",  // reachable (and its scroll area usable) with the keyboard
          ...(readOnly ? { "aria-readonly": "true" } : {}),
        }),
        look.of(looks(isDark())),
        EditorView.updateListener.of((update) => {
          if (!update.docChanged || syncing) return;
          textarea.value = update.state.doc.toString();
          // htmx listens on the textarea: validation and preview follow the editor.
          textarea.dispatchEvent(new Event("input", { bubbles: true }));
        }),
      ],
    }),
  });
  if (scheme !== null && scheme.addEventListener) {
    scheme.addEventListener("change", () => view.dispatch({ effects: look.reconfigure(looks(isDark())) }));
  }
  textarea.hidden = true;
  textarea.setAttribute("aria-hidden", "true");
  textarea.tabIndex = -1;

  return {
    view,
    /** Move the caret to line and column (1-based) and show it. */
    jump(line, column) {
      const doc = view.state.doc;
      const l = doc.line(Math.min(Math.max(1, line || 1), doc.lines));
      const pos = Math.min(l.from + Math.max(0, (column || 1) - 1), l.to);
      view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
      view.focus();
    },
    /** Replace the whole text (tests and "restore this revision"). */
    setText(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    getText() { return view.state.doc.toString(); },
  };
}

window.bmadwebEditor = { create };
