// The run page: select steps, load their details and logs, preview artifacts, and follow
// the run's state while it is active (one request per poll, whatever the task count).
"use strict";

const PREVIEW_BYTES = 64 * 1024;

function runRoot() { return document.getElementById("run"); }

function showDag(key) {
  for (const section of document.querySelectorAll(".dag-section")) {
    section.hidden = section.dataset.dag !== key;
  }
  const shown = document.querySelector(`.dag-section[data-dag="${CSS.escape(key)}"]`);
  if (shown) shown.querySelector("h3").scrollIntoView({block: "nearest"});
}

async function selectNode(node) {
  for (const other of document.querySelectorAll(".node.selected")) other.classList.remove("selected");
  node.classList.add("selected");
  const root = runRoot();
  const body = document.getElementById("panel-body");
  const url = `/runs/${encodeURIComponent(root.dataset.runId)}/nodes/${node.dataset.key.split("/").map(encodeURIComponent).join("/")}`;
  body.dataset.url = url;
  await refreshPanel();
}

async function refreshPanel() {
  const body = document.getElementById("panel-body");
  if (!body.dataset.url) return;
  try {
    const response = await fetch(body.dataset.url, {headers: {"Accept": "text/html"}});
    if (!response.ok) {
      body.textContent = "Could not load this step: the server answered " + response.status + ".";
      return;
    }
    // Server-rendered and escaped: every user value in it went through the template engine.
    body.innerHTML = await response.text();
    window.headrace.localizeTimes(body);
    for (const log of body.querySelectorAll("pre.log")) loadLog(log);
    for (const artifact of body.querySelectorAll(".artifact")) loadPreview(artifact);
  } catch (e) {
    body.textContent = "Could not reach the server: " + e.message;
  }
}

async function loadLog(pre) {
  try {
    const response = await fetch(pre.dataset.logUrl, {cache: "no-store"});
    if (response.status === 404) pre.textContent = "No log yet.";
    else if (!response.ok) pre.textContent = await window.headrace.errorMessage(response);
    else {
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.textContent = await response.text() || "(the log is empty)";
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }
  } catch (e) {
    pre.textContent = "Could not load the log: " + e.message;
  }
  // Streamed while the task runs: read it again until the task ends.
  if (pre.dataset.active === "true" && pre.isConnected) {
    setTimeout(() => { if (pre.isConnected) loadLog(pre); }, 2000);
  }
}

// Artifact content may come raw, or as KFP's JSON {"data": base64}, possibly a .tar.gz.
async function artifactBytes(response) {
  let bytes;
  if ((response.headers.get("content-type") || "").includes("application/json")) {
    const body = await response.json();
    if (body && typeof body.data === "string") {
      bytes = Uint8Array.from(atob(body.data), (c) => c.charCodeAt(0));
    } else {
      bytes = new TextEncoder().encode(JSON.stringify(body, null, 2));
    }
  } else {
    bytes = new Uint8Array(await response.arrayBuffer());
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b && "DecompressionStream" in window) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  }
  const isTar = bytes.length > 262 && new TextDecoder().decode(bytes.slice(257, 262)) === "ustar";
  if (isTar) {
    const size = parseInt(new TextDecoder().decode(bytes.slice(124, 136)).replace(/\0/g, "").trim(), 8) || 0;
    bytes = bytes.slice(512, 512 + size);
  }
  return bytes;
}

function csvRows(text, limit) {
  return text.split(/\r?\n/).filter((l) => l.length).slice(0, limit).map((line) => line.split(","));
}

function renderTable(rows) {
  const table = document.createElement("table");
  table.className = "kv csv";
  rows.forEach((cells, index) => {
    const tr = table.insertRow();
    for (const cell of cells) {
      const td = document.createElement(index === 0 ? "th" : "td");
      td.textContent = cell;
      tr.appendChild(td);
    }
  });
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  wrap.appendChild(table);
  return wrap;
}

async function loadPreview(section) {
  const kind = section.dataset.preview;
  const target = section.querySelector(".artifact-preview");
  if (!target) return;
  let bytes;
  try {
    const response = await fetch(section.dataset.readUrl);
    if (!response.ok) {
      target.textContent = "No preview: " + await window.headrace.errorMessage(response);
      return;
    }
    bytes = await artifactBytes(response);
  } catch (e) {
    target.textContent = "No preview: " + e.message;
    return;
  }
  const size = section.querySelector(".artifact-size");
  if (size && size.textContent.trim() === "unknown") size.textContent = bytes.length + " bytes";
  const text = new TextDecoder().decode(bytes.slice(0, kind === "html" || kind === "markdown" ? bytes.length : PREVIEW_BYTES));
  target.replaceChildren();
  if (kind === "markdown") {
    const response = await fetch("/render/markdown", {method: "POST", body: text});
    const box = document.createElement("div");
    box.className = "markdown";
    if (response.ok) box.innerHTML = await response.text();  // rendered with raw HTML escaped
    else box.textContent = text;
    target.appendChild(box);
  } else if (kind === "html") {
    // A sandbox without allow-same-origin: the document gets an opaque origin, so its
    // scripts cannot read this app's cookies, storage or DOM, nor call its API as us.
    const frame = document.createElement("iframe");
    frame.className = "html-artifact";
    frame.setAttribute("sandbox", "allow-scripts");
    frame.setAttribute("referrerpolicy", "no-referrer");
    frame.title = "HTML artifact " + section.querySelector("h5").firstChild.textContent.trim();
    frame.srcdoc = text;
    target.appendChild(frame);
  } else {
    const looksCsv = /\.csv$/i.test(section.dataset.readUrl.replace(/:read$/, "")) ||
      (text.split("\n", 2)[0] || "").includes(",");
    if (looksCsv && !text.includes("\0")) target.appendChild(renderTable(csvRows(text, 51)));
    else {
      const pre = document.createElement("pre");
      pre.textContent = text.includes("\0") ? "(binary content, " + bytes.length + " bytes)" : text;
      target.appendChild(pre);
    }
    if (bytes.length > PREVIEW_BYTES) {
      const note = document.createElement("p");
      note.className = "hint";
      note.textContent = "Showing the first " + PREVIEW_BYTES / 1024 + " KiB.";
      target.appendChild(note);
    }
  }
}

async function poll() {
  const root = runRoot();
  try {
    const response = await fetch(`/runs/${encodeURIComponent(root.dataset.runId)}/status`, {cache: "no-store"});
    if (response.ok) {
      const status = await response.json();
      document.getElementById("run-state").innerHTML = status.state_html;  // built by the server from a known enum
      for (const node of document.querySelectorAll(".node")) {
        const view = status.nodes[node.dataset.key];
        if (!view) continue;
        const changed = node.dataset.state !== view.state;
        node.dataset.state = view.state;
        node.setAttribute("class", node.getAttribute("class").replace(/tone-\w+/, "tone-" + view.tone));
        node.querySelector(".state-text").textContent = view.text.length > 32 ? view.text.slice(0, 31) + "…" : view.text;
        node.setAttribute("aria-label", node.querySelector(".label").textContent + ": " + view.text);
        if (changed && node.classList.contains("selected")) refreshPanel();
      }
      if (status.terminal) {
        root.dataset.active = "false";
        // A finished run cannot be terminated; the other actions need a reload to appear.
        for (const button of document.querySelectorAll('button.action[data-url$=":terminate"]')) {
          button.hidden = true;
        }
        refreshPanel();
        window.headrace.notify("The run is " + status.state.toLowerCase() + ".", false);
        return;
      }
    }
  } catch (e) { /* a missed poll is retried below */ }
  setTimeout(poll, Number(root.dataset.pollSeconds || 2) * 1000);
}

document.addEventListener("click", (event) => {
  const node = event.target.closest(".node");
  if (node) { selectNode(node); return; }
  const open = event.target.closest(".dag-open, .dag-back");
  if (open) { showDag(open.dataset.target); return; }
  const turn = event.target.closest(".panel-pager button[data-query], .panel-filter button[data-query]");
  if (turn) {
    // Another page of a step's tasks, or a state filter: the server wrote the query, and
    // the panel's URL keeps it through later refreshes.
    const body = document.getElementById("panel-body");
    body.dataset.url = body.dataset.url.split("?")[0] + turn.dataset.query;
    refreshPanel();
  }
});

document.addEventListener("keydown", (event) => {
  const node = event.target.closest && event.target.closest(".node");
  if (node && (event.key === "Enter" || event.key === " ")) {
    event.preventDefault();
    selectNode(node);
  }
});

document.addEventListener("DOMContentLoaded", () => {
  const root = runRoot();
  if (root && root.dataset.active === "true") {
    setTimeout(poll, Number(root.dataset.pollSeconds || 2) * 1000);
  }
});
