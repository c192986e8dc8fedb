// A case, live: the server-sent events of GET /api/v1/cases/{id}/events (read with fetch, which can
// carry the bearer token), each the whole case; the applicant may withdraw it, a clerk decide it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const who = OV.needSignIn();
  if (!who) return;
  const top = document.getElementById("form-top");
  const caseId = top.dataset.caseId;
  const live = document.getElementById("live");
  const timeline = document.getElementById("timeline");
  const actionStatus = document.getElementById("action-status");
  const ENDED = new Set(["completed", "rejected", "failed", "withdrawn"]);
  let current = null;
  let lastStatus = null;

  function fact(label, value, cls) {
    return OV.el("div", {}, OV.el("dt", { text: label }), OV.el("dd", { class: cls, text: value }));
  }
  function render(view) {
    current = view;
    document.getElementById("case-facts").hidden = false;
    const badge = document.getElementById("case-status");
    badge.className = `badge badge-${view.status}`;
    badge.textContent = OV.stateWord(view.status);
    const show = (name, value) => {
      const row = top.querySelector(`[data-show=${name}]`);
      row.hidden = !value;
      if (value) row.querySelector("dd").textContent = value;
    };
    const registration = view.flow === "business_registration";
    show("company", registration ? view.company_name || "—" : null);
    show("card", view.result?.card_number);
    show("uscc", view.uscc);
    show("reason", view.reason);
    show("erased", view.erased ? OV.t("case_erased_on", { when: OV.when(view.erased.erased_at), record: view.erased.record_case }) : null);
    timeline.replaceChildren(...view.steps.map((s) => {
      const block = s.anchor?.block_number ?? s.anchor_block;
      const facts = OV.el("dl", { class: "facts" },
        fact(OV.t("step_agency"), OV.agencyWord(s.agency)),
        s.since ? fact(OV.t("step_since"), OV.when(s.since)) : null,
        s.deadline ? fact(OV.t("step_deadline"), OV.when(s.deadline)) : null,
        block !== undefined && block !== null ? fact(OV.t("step_block"), "#" + block, "mono") : null,
        s.decided_by?.startsWith("clerk:") ? fact(OV.t("step_decided_by"), s.decided_by.slice(6)) : null,
        s.reason ? fact(OV.t("step_reason"), s.reason) : null,
        s.review_reasons?.length ? fact(OV.t("queue_reasons"), s.review_reasons.join("; ")) : null,
      );
      return OV.el("li", { class: `state-${s.state}`, "data-step": s.step, "data-state": s.state },
        OV.el("h3", {}, OV.stepWord(s.step, s.title), " ",
          OV.el("span", { class: `badge badge-${s.state}`, text: OV.stateWord(s.state) })),
        s.escalated ? OV.el("p", { class: "escalated", text: OV.t("step_escalated") }) : null,
        facts);
    }));
    const ended = ENDED.has(view.status);
    if (view.status !== lastStatus) {
      live.textContent = OV.t("live_status", { status: OV.stateWord(view.status), more: ended ? OV.t("live_done") : OV.t("live_on") });
      lastStatus = view.status;
    }
    document.getElementById("withdraw").hidden = !(who.role === "applicant" && (view.status === "running" || view.status === "returned"));
    document.getElementById("returned").hidden = !(who.role === "applicant" && view.status === "returned");
    document.getElementById("licence-actions").hidden = !(who.role === "applicant" && view.status === "completed" && view.uscc);
    showDocuments(view);
    const mine = view.steps.some((s) => s.state === "awaiting_decision" && s.agency === who.agency);
    document.getElementById("decide").hidden = !(who.role === "clerk" && mine);
    document.getElementById("read").hidden = who.role !== "clerk";
  }

  let documentsFor = null;
  async function showDocuments(view) {
    // What the agencies issued (GET /api/v1/cases/{id}/documents), asked again when a step's handoff changes.
    if (!["applicant", "clerk"].includes(who.role) || view.flow !== "business_registration") return;
    const key = view.steps.map((s) => s.handoff || "").join();
    if (key === documentsFor) return;
    documentsFor = key;
    try {
      const docs = await (await OV.api(`/api/v1/cases/${encodeURIComponent(caseId)}/documents`)).json();
      document.getElementById("documents-list").replaceChildren(...docs.map((d) => {
        const title = OV.lang === "zh" ? d.title_zh : d.title_en.charAt(0).toLowerCase() + d.title_en.slice(1);
        const link = OV.el("a", { href: d.url, "data-step": d.step, text: OV.t("docs_download", { title }) });
        link.addEventListener("click", (ev) => { ev.preventDefault(); fetchDocument(d); });
        return OV.el("li", {}, link, " ", OV.el("span", { class: "hint",
          text: OV.t("docs_issued", { agency: OV.agencyWord(d.agency), block: d.anchor?.block_number ?? "—" }) }));
      }));
      document.getElementById("documents").hidden = docs.length === 0;
    } catch (err) { /* the case itself says what went wrong */ }
  }
  async function fetchDocument(d) {
    // The API needs the bearer token, so the link is followed by fetch and saved from a blob.
    try {
      const resp = await OV.api(d.url);
      const named = /filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "");
      OV.download(await resp.blob(), named ? named[1] : `${d.kind}.pdf`);
    } catch (err) {
      actionStatus.textContent = OV.describe(err);
    }
  }

  async function follow() {
    // Reads the stream until the case ends; reconnects (with a pause) if the connection drops.
    for (let pause = 1000; ; pause = Math.min(pause * 2, 15000)) {
      try {
        const resp = await OV.api(`/api/v1/cases/${encodeURIComponent(caseId)}/events`, { headers: { Accept: "text/event-stream" } });
        const reader = resp.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
            if (data) { render(JSON.parse(data)); pause = 1000; }
          }
        }
        if (current && ENDED.has(current.status)) return;
      } catch (err) {
        if (err.status === 404 || err.status === 403 || err.status === 401) {
          live.textContent = err.status === 404 ? OV.t("err_server", { status: 404, detail: err.message }) : OV.describe(err);
          return;
        }
      }
      live.textContent = OV.t("live_lost");
      await new Promise((r) => setTimeout(r, pause));
    }
  }
  follow();

  async function showReads() {
    // Who read this application, why, when and which fields (the applicant's and auditors' right to know).
    if (!["applicant", "auditor"].includes(who.role)) return;
    try {
      const reads = await (await OV.api(`/api/v1/cases/${encodeURIComponent(caseId)}/reads`)).json();
      const table = document.getElementById("reads-table");
      table.querySelector("tbody").replaceChildren(...reads.map((r) => OV.el("tr", {},
        OV.el("td", { "data-label": OV.t("audit_time"), text: OV.when(r.read_at) }),
        OV.el("td", { "data-label": OV.t("reads_reader"), text: [r.reader, r.agency ? OV.agencyWord(r.agency) : null].filter(Boolean).join(" · ") }),
        OV.el("td", { "data-label": OV.t("read_purpose"), text: r.purpose || "—" }),
        OV.el("td", { "data-label": OV.t("reads_fields"), text: r.fields.join(", ") }),
      )));
      table.hidden = reads.length === 0;
      document.getElementById("reads-empty").hidden = reads.length > 0;
      document.getElementById("reads").hidden = false;
    } catch (err) { /* the case itself says what went wrong */ }
  }
  showReads();

  document.getElementById("withdraw-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const reason = form.reason.value.trim();
    if (reason.length < 2) {
      return OV.showErrors(top, form, [{ id: "withdraw-reason", text: OV.t(reason ? "v_too_short" : "v_missing", { label: OV.t("withdraw_reason"), n: 2 }) }]);
    }
    OV.clearErrors(top, form);
    try {
      await OV.api(`/api/v1/cases/${encodeURIComponent(caseId)}/withdrawal`, { method: "POST", json: { reason } });
      actionStatus.textContent = OV.t("withdraw_sent");
      document.getElementById("withdraw").hidden = true;
    } catch (err) {
      OV.showErrors(top, form, [{ id: "withdraw-reason", text: OV.describe(err) }]);
    }
  });

  document.getElementById("decide-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const decision = form.querySelector("input[name=decision]:checked")?.value;
    const reason = form.reason.value.trim();
    const errors = [];
    if (!decision) errors.push({ id: "decision-approve", text: OV.t("v_missing", { label: OV.t("decision") }) });
    if (decision === "reject" && !reason) errors.push({ id: "reason", text: OV.t("v_missing", { label: OV.t("decide_reason") }) });
    if (errors.length) return OV.showErrors(top, form, errors);
    OV.clearErrors(top, form);
    try {
      await OV.api(`/api/v1/cases/${encodeURIComponent(caseId)}/decision`, { method: "POST", json: { decision, reason: reason || null } });
      actionStatus.textContent = OV.t("decide_sent");
      document.getElementById("decide").hidden = true;
    } catch (err) {
      OV.showErrors(top, form, [{ id: "reason", text: OV.describe(err) }]);
    }
  });

  function flatten(value, path, out) {
    if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) flatten(v, path ? `${path}.${k}` : k, out);
    } else out.push([path, value]);
    return out;
  }
  document.getElementById("read-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const purpose = form.purpose.value.trim();
    if (purpose.length < 2) {
      return OV.showErrors(top, form, [{ id: "purpose", text: OV.t(purpose ? "v_too_short" : "v_missing", { label: OV.t("read_purpose"), n: 2 }) }]);
    }
    OV.clearErrors(top, form);
    try {
      const resp = await OV.api(`/api/v1/cases/${encodeURIComponent(caseId)}/application?purpose=${encodeURIComponent(purpose)}`);
      const rows = flatten(await resp.json(), "", []);
      const list = document.getElementById("application");
      list.replaceChildren(...rows.map(([path, value]) => {
        const key = path.replace(/\.\d+\./, ".");
        const label = OV.t(key) === key ? path : `${OV.t(key)} (${path})`;
        return fact(label, String(value));
      }));
      list.hidden = false;
    } catch (err) {
      OV.showErrors(top, form, [{ id: "purpose", text: OV.describe(err) }]);
    }
  });

  document.getElementById("show-live").addEventListener("click", async () => {
    const box = document.getElementById("live-licence");
    try {
      const live = await (await OV.api(`/api/v1/public/licences/${encodeURIComponent(current.uscc)}/live`, { method: "POST" })).json();
      box.replaceChildren(
        OV.el("img", { src: live.qr_svg, alt: OV.t("live_alt", { code: current.uscc }), width: 220, height: 220 }),
        OV.el("p", { text: OV.t("live_until", { time: OV.when(live.expires_at) }) }));
    } catch (err) { box.textContent = OV.describe(err); }
  });
  document.getElementById("download-licence").addEventListener("click", async () => {
    try {
      const resp = await OV.api(`/api/v1/public/licences/${encodeURIComponent(current.uscc)}/document.pdf`);
      OV.download(await resp.blob(), `licence-${current.uscc}.pdf`);
    } catch (err) {
      actionStatus.textContent = OV.describe(err);
    }
  });
});
