// The live map's only script: every few seconds it reads the shown
// revision's counts from /v1/map/counts and writes them into the page the
// server drew. Text goes in with textContent, never as markup.
"use strict";
(function () {
  const body = document.body;
  const campaign = body.dataset.campaign;
  const revision = body.dataset.revision;
  const every = Number(body.dataset.refreshMs) || 3000;

  function when(ms) {
    return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      if (c && c.code) {
        const code = document.createElement("code");
        code.textContent = c.code;
        td.appendChild(code);
      } else {
        td.textContent = c === null || c === undefined ? "" : String(c);
      }
      tr.appendChild(td);
    }
    return tr;
  }

  function show(live) {
    for (const node of live.nodes) {
      const text = document.querySelector('text.count[data-node="' + CSS.escape(node.id) + '"]');
      if (text) text.textContent = node.text;
    }
    for (const [key, n] of Object.entries(live.totals)) {
      const b = document.querySelector('[data-total="' + key + '"]');
      if (b) b.textContent = String(n);
    }
    const steps = document.querySelector("#steps tbody");
    if (steps) {
      const rows = live.nodes
        .filter((n) => n.waiting + n.retrying + n.failed + n.sent + n.done > 0)
        .map((n) => {
          const tr = row([n.label, n.line, n.waiting, n.retrying, n.failed, n.sent, n.delivered, n.done]);
          tr.dataset.node = n.id;
          return tr;
        });
      steps.replaceChildren(...rows);
    }
    const failures = document.querySelector("#failures tbody");
    if (failures) {
      failures.replaceChildren(
        ...live.failures.map((f) =>
          row([when(f.at_ms), f.contact, f.label || f.step, f.line, { code: f.code || "" }, f.summary])
        )
      );
    }
    const updated = document.getElementById("updated");
    if (updated) updated.textContent = when(Date.now());
    body.dataset.refreshes = String(Number(body.dataset.refreshes) + 1);
  }

  async function refresh() {
    if (!campaign || document.hidden) return;
    const query = "campaign=" + encodeURIComponent(campaign) + "&revision=" + encodeURIComponent(revision);
    try {
      const response = await fetch("/v1/map/counts?" + query, { credentials: "same-origin" });
      if (response.status === 401) {
        window.location.reload();
        return;
      }
      if (response.ok) {
        show(await response.json());
        body.classList.remove("stale");
      } else {
        body.classList.add("stale");
      }
    } catch (e) {
      body.classList.add("stale");
    }
  }

  const lookup = document.getElementById("lookup");
  if (lookup) {
    lookup.addEventListener("submit", async (event) => {
      event.preventDefault();
      const id = new FormData(lookup).get("id");
      const out = document.getElementById("contact");
      const response = await fetch("/v1/map/contacts/" + encodeURIComponent(id), { credentials: "same-origin" });
      const data = await response.json();
      out.textContent = JSON.stringify(data, null, 2);
      out.hidden = false;
    });
  }

  refresh();
  setInterval(refresh, every);
})();
