// The auditor: pick a case (GET /api/v1/cases), see its evidence (GET /api/v1/cases/{id}/evidence):
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
    const cases = await (await OV.api("/api/v1/cases")).json();
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
      bundle = await (await OV.api(`/api/v1/cases/${encodeURIComponent(pick.value)}/evidence`)).json();
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
  // service levels: each figure a difference of anchor block times, drawn as a bar against the
  // largest one (a <meter>, which needs no script or style to be read by a screen reader)
  const slStatus = document.getElementById("sl-status");
  const dur = (s) => (s == null ? "—" : s < 60 ? `${s} s` : s < 3600 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${(s / 3600).toFixed(1)} h`);
  try {
    const sl = await (await OV.api("/api/v1/audit/service-levels")).json();
    const top = Math.max(1, ...sl.by_month.flatMap((m) => [m.time_to_licence.p90_s || 0, m.time_to_all_seals.p90_s || 0]),
      ...sl.by_agency.map((a) => a.steps.p90_s || 0));
    const bar = (label, s) => OV.el("td", { "data-label": label },
      OV.el("meter", { min: "0", max: String(top), value: String(s || 0), title: dur(s) }), " ", dur(s));
    document.querySelector("#sl-months tbody").replaceChildren(...sl.by_month.map((m) => OV.el("tr", {},
      OV.el("td", { "data-label": OV.t("sl_month"), text: m.month }),
      OV.el("td", { "data-label": OV.t("sl_cases"), text: String(m.cases) }),
      bar(OV.t("sl_licence"), m.time_to_licence.p50_s), bar(OV.t("sl_p90"), m.time_to_licence.p90_s),
      bar(OV.t("sl_seals"), m.time_to_all_seals.p50_s), bar(OV.t("sl_p90"), m.time_to_all_seals.p90_s))));
    document.querySelector("#sl-agencies tbody").replaceChildren(...sl.by_agency.map((a) => OV.el("tr", {},
      OV.el("td", { "data-label": OV.t("step_agency"), text: OV.agencyWord(a.agency) }),
      OV.el("td", { "data-label": OV.t("sl_steps"), text: String(a.steps.n) }),
      bar(OV.t("sl_median"), a.steps.p50_s), bar(OV.t("sl_p90"), a.steps.p90_s))));
    slStatus.textContent = sl.cases ? "" : OV.t("sl_none");
  } catch (err) {
    slStatus.textContent = OV.describe(err);
  }
  const codecStatus = document.getElementById("codec-status");
  for (const [id, method, word] of [["codec-on", "POST", "codec_is_on"], ["codec-off", "DELETE", "codec_is_off"]]) {
    document.getElementById(id).addEventListener("click", async () => {
      try {
        await OV.api("/api/v1/codec/session", { method });
        codecStatus.textContent = OV.t(word);
      } catch (err) { codecStatus.textContent = OV.describe(err); }
    });
  }
  document.getElementById("download-bundle").addEventListener("click", () => {
    if (bundle) OV.download(new Blob([JSON.stringify(bundle, null, 2)], { type: "application/json" }), `evidence-${bundle.case_id}.json`);
  });
});
