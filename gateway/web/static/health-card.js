// The resident's electronic health cards (GET /api/v1/health-cards): a one-time code for a visit, every
// read of the card, reporting it lost; with no valid card, the form to apply for one (POST /api/v1/cases).
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  if (!OV.needSignIn(["applicant"])) return;
  const top = document.getElementById("form-top");
  const status = document.getElementById("hc-status");
  const form = document.getElementById("hc-apply");
  const idempotencyKey = "hc-" + crypto.randomUUID();

  function visitsTable(visits) {
    if (!visits.length) return OV.el("p", { text: OV.t("hc_visits_none") });
    const head = ["visit_at", "visit_hospital", "visit_channel", "visit_result"];
    return OV.el("div", { class: "table-wrap" }, OV.el("table", { class: "responsive" },
      OV.el("caption", { text: OV.t("hc_visits") }),
      OV.el("thead", {}, OV.el("tr", {}, head.map((k) => OV.el("th", { scope: "col", text: OV.t(k) })))),
      OV.el("tbody", {}, visits.map((v) => OV.el("tr", {},
        OV.el("td", { "data-label": OV.t("visit_at"), text: OV.when(v.at) }),
        OV.el("td", { "data-label": OV.t("visit_hospital"), text: OV.agencyWord(v.hospital || "") }),
        OV.el("td", { "data-label": OV.t("visit_channel"), text: v.channel ? OV.t("ch_" + v.channel) : "—" }),
        OV.el("td", { "data-label": OV.t("visit_result") },
          OV.el("span", { class: `badge badge-${v.status}`, text: OV.t(v.status === "completed" ? "visit_read" : "visit_refused") }),
          v.reason ? " " + v.reason : ""),
      )))));
  }

  function lostForm(card) {
    const id = (s) => `lost-${card.card_number}-${s}`;
    const box = OV.el("form", { class: "stack", novalidate: true, hidden: true },
      OV.el("fieldset", {}, OV.el("legend", { text: OV.t("hc_reason") }),
        ["lost", "stolen", "damaged"].map((r, i) => OV.el("div", { class: "radio" },
          OV.el("input", { type: "radio", name: "reason", id: id(r), value: r, checked: i === 0 }),
          OV.el("label", { for: id(r), text: OV.t("reason_" + r) })))),
      OV.el("div", { class: "checkbox" },
        OV.el("input", { type: "checkbox", id: id("reissue"), checked: true }),
        OV.el("label", { for: id("reissue"), text: OV.t("hc_reissue") })),
      OV.el("button", { type: "submit", class: "button warning", text: OV.t("hc_confirm_lost") }));
    box.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const reason = box.querySelector("input[name=reason]:checked").value;
      try {
        const resp = await OV.api(`/api/v1/health-cards/${encodeURIComponent(card.card_number)}/revocation`,
          { method: "POST", json: { reason, reissue: document.getElementById(id("reissue")).checked } });
        location.assign(`/cases/${encodeURIComponent((await resp.json()).case_id)}?new=1`);
      } catch (err) { OV.showErrors(top, null, OV.errorsOf(err, box)); }
    });
    return box;
  }

  function cardSection(card) {
    const valid = card.status === "valid";
    const code = OV.el("div", { class: "qr", role: "status" });
    const section = OV.el("section", { class: "result" + (valid ? " result-valid" : ""), "data-card": card.card_number },
      OV.el("h3", {}, OV.t("hc_card") + " ", OV.el("span", { class: "mono", text: card.card_number }), " ",
        OV.el("span", { class: `badge badge-${valid ? "completed" : "withdrawn"}`, text: OV.t(valid ? "hc_valid" : "hc_revoked") })),
      OV.el("dl", {},
        OV.el("dt", { text: OV.t("hc_issued_on") }), OV.el("dd", { text: card.issued_on || "—" }),
        card.revoked_on ? [OV.el("dt", { text: OV.t("hc_revoked_on") }), OV.el("dd", { text: card.revoked_on })] : null),
      code);
    if (valid) {
      const show = OV.el("button", { type: "button", class: "button", text: OV.t("hc_show_code") });
      show.addEventListener("click", async () => {
        try {
          const made = await (await OV.api(`/api/v1/health-cards/${encodeURIComponent(card.card_number)}/code`, { method: "POST" })).json();
          code.replaceChildren(
            OV.el("img", { src: made.qr_svg, alt: OV.t("hc_code_alt", { card: card.card_number }), width: 220, height: 220 }),
            OV.el("p", { text: OV.t("hc_code_until", { time: OV.when(made.expires_at) }) }),
            OV.el("p", { class: "mono small", text: made.code }));
        } catch (err) { code.textContent = OV.describe(err); }
      });
      const lost = lostForm(card);
      const report = OV.el("button", { type: "button", class: "button secondary", "aria-expanded": "false", text: OV.t("hc_report_lost") });
      report.addEventListener("click", () => {
        lost.hidden = !lost.hidden;
        report.setAttribute("aria-expanded", String(!lost.hidden));
        if (!lost.hidden) lost.querySelector("input").focus();
      });
      section.append(OV.el("p", { class: "small" }, OV.t("hc_static"), OV.el("span", { class: "mono", text: card.static_code })),
        OV.el("p", { class: "actions" }, show, " ", report), lost);
    }
    section.append(visitsTable(card.visits));
    return section;
  }

  function collect() {
    const value = (id) => document.getElementById(id).value.trim();
    const data = {
      flow: "health_card",
      resident: { name: value("resident-name"), id_number: value("resident-id_number").toUpperCase(), phone: value("resident-phone") },
      pin: value("pin"),
      share: [...form.querySelectorAll("[data-share]:checked")].map((n) => n.value),
      allergies: value("allergies").split("\n").map((s) => s.trim()).filter(Boolean),
    };
    if (value("emergency_contact-name") || value("emergency_contact-phone")) {
      data.emergency_contact = { name: value("emergency_contact-name"), phone: value("emergency_contact-phone") };
    }
    return data;
  }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    OV.clearErrors(top, form);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const resp = await OV.api("/api/v1/cases", { method: "POST", json: collect(), headers: { "Idempotency-Key": idempotencyKey } });
      location.assign(`/cases/${encodeURIComponent((await resp.json()).case_id)}?new=1`);
    } catch (err) {
      OV.showErrors(top, form, OV.errorsOf(err, form));
    } finally {
      button.disabled = false;
    }
  });

  try {
    const cards = await (await OV.api("/api/v1/health-cards")).json();
    const list = document.getElementById("card-list");
    list.replaceChildren(...cards.slice().reverse().map(cardSection));
    document.getElementById("cards").hidden = cards.length === 0;
    form.hidden = cards.some((c) => c.status === "valid");
    status.textContent = "";
  } catch (err) {
    status.textContent = OV.describe(err);
  }
});
