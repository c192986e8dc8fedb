// A bank clerk's loans (GET /api/v1/cases: the cases their bank holds a step of), newest first, with
// each one's outcome: the product's rules decide, and the clerk follows the trail on the case page.
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  if (!OV.needSignIn(["clerk"])) return;
  const status = document.getElementById("bk-status");
  const table = document.getElementById("loans");
  try {
    const loans = (await (await OV.api("/api/v1/cases")).json()).filter((c) => c.flow === "sme_credit").slice(0, 50);
    const body = table.querySelector("tbody");
    for (const c of loans) {
      const view = await (await OV.api(`/api/v1/cases/${encodeURIComponent(c.case_id)}`)).json();
      const r = view.result || {};
      const outcome = r.disbursed_cny ? OV.t("bk_disbursed", { amount: Number(r.disbursed_cny).toLocaleString(), rate: r.rate_percent })
        : r.amount_cny ? OV.t("bk_approved", { amount: Number(r.amount_cny).toLocaleString(), rate: r.rate_percent })
        : view.reason || "—";
      body.append(OV.el("tr", {},
        OV.el("td", { "data-label": OV.t("case_ref") }, OV.el("a", { href: `/cases/${encodeURIComponent(c.case_id)}`, class: "mono", text: c.case_id })),
        OV.el("td", { "data-label": OV.t("case_created"), text: OV.when(c.created_at) }),
        OV.el("td", { "data-label": OV.t("case_status") }, OV.el("span", { class: `badge badge-${c.status}`, text: OV.stateWord(c.status) })),
        OV.el("td", { "data-label": OV.t("bk_outcome"), text: outcome })));
    }
    table.hidden = loans.length === 0;
    status.textContent = loans.length ? "" : OV.t("bk_none");
  } catch (err) {
    status.textContent = OV.describe(err);
  }
});
