// A hospital clerk checks a health card's code (POST /api/v1/health-cards/checks): the answer is the
// holder's shared details, or why the code was refused. Every check is recorded for the holder.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  if (!OV.needSignIn(["clerk"])) return;
  const top = document.getElementById("form-top");
  const form = document.getElementById("hosp-check");
  const status = document.getElementById("check-status");
  const result = document.getElementById("check-result");

  const row = (key, value) => [OV.el("dt", { text: OV.t(key) }), OV.el("dd", {}, value ?? "—")];
  function show(answer) {
    result.className = "result" + (answer.status === "valid" ? " result-valid" : "");
    result.dataset.status = answer.status;
    if (answer.status === "pending") {
      result.replaceChildren(OV.el("p", {}, OV.t("hosp_pending") + " ",
        OV.el("a", { href: `/cases/${encodeURIComponent(answer.case_id)}`, class: "mono", text: answer.case_id })));
    } else if (answer.status === "refused") {
      result.replaceChildren(OV.el("h2", { text: OV.t("hosp_refused") }), OV.el("p", { text: answer.reason || "" }));
    } else {
      const h = answer.holder || {};
      const who = h.identity || {};
      const contact = h.emergency_contact;
      result.replaceChildren(OV.el("h2", { text: OV.t("hosp_valid") }), OV.el("dl", {},
        row("hc_card", OV.el("span", { class: "mono", text: answer.card_number })),
        row("holder_name", who.name), row("holder_sex", who.sex ? OV.t("sex_" + who.sex) : null),
        row("holder_birth", who.birth_date), row("holder_id", who.id_number ? OV.el("span", { class: "mono", text: who.id_number }) : null),
        "emergency_contact" in h ? row("holder_emergency", contact ? `${contact.name} ${contact.phone}` : OV.t("holder_none")) : null,
        "allergies" in h ? row("holder_allergies", h.allergies.length ? h.allergies.join("、") : OV.t("holder_none")) : null));
    }
    result.hidden = false;
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    OV.clearErrors(top, form);
    result.hidden = true;
    const code = document.getElementById("code").value.trim();
    const pin = document.getElementById("pin").value.trim();
    const body = { code, channel: document.getElementById("channel").value, ...(pin ? { pin } : {}) };
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    status.textContent = OV.t("hosp_checking");
    try {
      show(await (await OV.api("/api/v1/health-cards/checks", { method: "POST", json: body })).json());
      status.textContent = "";
      document.getElementById("code").value = "";
      document.getElementById("pin").value = "";
    } catch (err) {
      status.textContent = "";
      OV.showErrors(top, form, OV.errorsOf(err, form));
    } finally {
      button.disabled = false;
    }
  });
});
