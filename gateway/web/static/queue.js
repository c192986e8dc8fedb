// The clerk's queue (GET /api/v1/queue): nearest deadline first, overdue steps marked in words.
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  const who = OV.needSignIn(["clerk"]);
  if (!who) return;
  document.getElementById("queue-agency").textContent = OV.agencyWord(who.agency);
  const status = document.getElementById("queue-status");
  const table = document.getElementById("queue");
  try {
    const items = await (await OV.api("/api/v1/queue")).json();
    table.querySelector("tbody").replaceChildren(...items.map((q) => OV.el("tr", { class: q.escalated ? "is-escalated" : null, "data-case": q.case_id },
      OV.el("td", { "data-label": OV.t("company_name"), text: q.company_name || "—" }),
      OV.el("td", { "data-label": OV.t("queue_step"), text: OV.stepWord(q.step, q.title) }),
      OV.el("td", { "data-label": OV.t("step_since"), text: OV.when(q.since) }),
      OV.el("td", { "data-label": OV.t("step_deadline") }, OV.when(q.deadline),
        q.escalated ? OV.el("span", {}, " ", OV.el("strong", { class: "escalated", text: OV.t("queue_escalated") })) : null),
      OV.el("td", { "data-label": OV.t("queue_reasons"), text: (q.reasons || []).join("; ") || "—" }),
      OV.el("td", { "data-label": OV.t("case_ref") }, OV.el("a", { href: `/cases/${encodeURIComponent(q.case_id)}`, class: "mono", text: q.case_id })),
    )));
    table.hidden = items.length === 0;
    status.textContent = items.length ? "" : OV.t("queue_empty");
  } catch (err) {
    status.textContent = OV.describe(err);
  }
});
