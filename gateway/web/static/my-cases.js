// The applicant's cases (GET /api/v1/cases), newest first, each linking to its page.
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  if (!OV.needSignIn(["applicant"])) return;
  const status = document.getElementById("cases-status");
  const table = document.getElementById("cases");
  try {
    const cases = await (await OV.api("/api/v1/cases")).json();
    const body = table.querySelector("tbody");
    for (const c of cases) {
      body.append(OV.el("tr", {},
        OV.el("td", { "data-label": OV.t("case_ref") }, OV.el("a", { href: `/cases/${encodeURIComponent(c.case_id)}`, class: "mono", text: c.case_id })),
        OV.el("td", { "data-label": OV.t("case_created") , text: OV.when(c.created_at) }),
        OV.el("td", { "data-label": OV.t("case_status") }, OV.el("span", { class: `badge badge-${c.status}`, text: OV.stateWord(c.status) })),
      ));
    }
    table.hidden = cases.length === 0;
    status.textContent = cases.length ? "" : OV.t("my_cases_empty");
  } catch (err) {
    status.textContent = OV.describe(err);
  }
});
