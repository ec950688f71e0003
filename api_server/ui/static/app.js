// Headrace UI: the few things a server-rendered page cannot do by itself.
"use strict";

// Timestamps: the server writes UTC; show them in the browser's zone, UTC stays on hover.
function localizeTimes(root) {
  for (const el of (root || document).querySelectorAll("time[datetime]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) el.textContent = when.toLocaleString();
  }
}

function notify(message, isError) {
  const box = document.getElementById("notice");
  if (!box) return;
  box.textContent = message;  // textContent: server messages are never markup
  box.classList.toggle("error", !!isError);
  box.hidden = false;
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.message) return body.message;
  } catch (e) { /* not JSON */ }
  return "The server answered " + response.status + " " + response.statusText;
}

// Buttons that call the REST API (terminate, retry, archive, enable...).
async function runAction(button) {
  const question = button.dataset.confirm;
  if (question && !window.confirm(question)) return;
  button.disabled = true;
  try {
    const response = await fetch(button.dataset.url, {method: button.dataset.method || "POST"});
    if (!response.ok) {
      notify(await errorMessage(response), true);
      button.disabled = false;
      return;
    }
    const after = button.dataset.after || "reload";
    notify(button.textContent.trim() + ": done.", false);
    if (after === "reload") window.location.reload();
    else if (after.startsWith("go:")) window.location.assign(after.slice(3));
    else button.disabled = false;
  } catch (e) {
    notify("Could not reach the server: " + e.message, true);
    button.disabled = false;
  }
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.action");
  if (button) runAction(button);
});

document.addEventListener("DOMContentLoaded", () => {
  localizeTimes(document);
  for (const field of document.querySelectorAll("input[data-tz]")) {
    field.value = String(new Date().getTimezoneOffset());
  }
});

window.headrace = {localizeTimes, notify, errorMessage};

// kfp.Client prints links in KFP's UI form (/#/runs/details/<id>): follow them here.
(function followKfpLinks() {
  const match = /^#\/(runs|experiments|pipelines)\/details\/([^/?#]+)/.exec(window.location.hash);
  if (match) window.location.replace("/" + match[1] + "/" + encodeURIComponent(match[2]));
})();
