// The auditor: pick a case (GET /api/cases), see its evidence (GET /api/cases/{id}/evidence):
// each handoff's step, agency, outcome, time, anchor block and hash; download the bundle as is.
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  if (!OV.needSignIn(["auditor", "admin"])) return;
  const top = document.getElementById("form-top");
  const form = document.getElementById("audit-form");
  const pick = document.getElementById("case-pick");
  const status = document.getElementById("audit-status");
  const section = document.getElementById("evidence");
  let bundle = null;
  try {
    const cases = await (await OV.api("/api/cases")).json();
    pick.replaceChildren(...cases.map((c) => OV.el("option", { value: c.case_id, text: `${c.case_id} · ${OV.stateWord(c.status)} · ${OV.when(c.created_at)}` })));
    const wanted = new URLSearchParams(location.search).get("case");
    if (wanted && cases.some((c) => c.case_id === wanted)) pick.value = wanted;
    if (!cases.length) status.textContent = OV.t("audit_empty");
  } catch (err) {
    status.textContent = OV.describe(err);
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    OV.clearErrors(top, form);
    if (!pick.value) return OV.showErrors(top, form, [{ id: "case-pick", text: OV.t("v_missing", { label: OV.t("audit_pick") }) }]);
    status.textContent = OV.t("loading");
    section.hidden = true;
    try {
      bundle = await (await OV.api(`/api/cases/${encodeURIComponent(pick.value)}/evidence`)).json();
      section.querySelector("tbody").replaceChildren(...bundle.handoffs.map((item) => {
        const r = item.handoff.record;
        return OV.el("tr", {},
          OV.el("td", { "data-label": OV.t("queue_step"), text: OV.stepWord(r.step, r.step) }),
          OV.el("td", { "data-label": OV.t("step_agency"), text: OV.agencyWord(r.agency) }),
          OV.el("td", { "data-label": OV.t("audit_outcome"), text: OV.stateWord(r.outcome) }),
          OV.el("td", { "data-label": OV.t("audit_time"), text: OV.when(r.time) }),
          OV.el("td", { "data-label": OV.t("step_block"), class: "mono", text: item.anchor ? "#" + item.anchor.block_number : "—" }),
          OV.el("td", { "data-label": OV.t("audit_hash"), class: "mono", text: item.handoff.hash.slice(0, 18) + "…", title: item.handoff.hash }),
        );
      }));
      section.hidden = false;
      status.textContent = "";
    } catch (err) {
      status.textContent = "";
      OV.showErrors(top, form, [{ id: "case-pick", text: OV.describe(err) }]);
    }
  });
  document.getElementById("download-bundle").addEventListener("click", () => {
    if (bundle) OV.download(new Blob([JSON.stringify(bundle, null, 2)], { type: "application/json" }), `evidence-${bundle.case_id}.json`);
  });
});
