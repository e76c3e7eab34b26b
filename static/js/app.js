// bmadweb front-end glue. Loaded as a file so the CSP can forbid inline scripts.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  const box = document.getElementById("htmx-error");
  if (box) { box.textContent = `The server answered ${status}. Reload the page and try again.`; box.hidden = false; }
});
