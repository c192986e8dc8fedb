// SME credit (一贷通) for a company's founder: pick a company you registered, see every consent you
// gave and every read made under it (and every read refused), revoke a consent, give a new one,
// apply for a loan (POST /api/v1/cases with flow sme_credit_consent or sme_credit).
"use strict";
document.addEventListener("DOMContentLoaded", async () => {
  if (!OV.needSignIn(["applicant"])) return;
  const top = document.getElementById("form-top");
  const status = document.getElementById("cr-status");
  const pick = document.getElementById("company");
  const consentForm = document.getElementById("cr-consent");
  const loanForm = document.getElementById("cr-loan");
  const key = (p) => p + "-" + crypto.randomUUID();
  let products = [];

  const badge = (s) => OV.el("span", { class: `badge badge-${s === "active" ? "completed" : "withdrawn"}`, text: OV.t("cs_" + s) });
  function readsTable(reads) {
    if (!reads.length) return OV.el("p", { text: OV.t("cr_no_reads") });
    const head = ["visit_at", "cr_read_by", "cr_served_by", "cr_category"];
    return OV.el("div", { class: "table-wrap" }, OV.el("table", { class: "responsive" },
      OV.el("caption", { text: OV.t("cr_reads") }),
      OV.el("thead", {}, OV.el("tr", {}, head.map((k) => OV.el("th", { scope: "col", text: OV.t(k) })))),
      OV.el("tbody", {}, reads.map((r) => OV.el("tr", {},
        OV.el("td", { "data-label": OV.t("visit_at"), text: OV.when(r.read_at) }),
        OV.el("td", { "data-label": OV.t("cr_read_by"), text: OV.agencyWord(r.read_by || "") }),
        OV.el("td", { "data-label": OV.t("cr_served_by"), text: OV.agencyWord(r.served_by) }),
        OV.el("td", { "data-label": OV.t("cr_category"), text: r.category ? OV.t("cat_" + r.category) : "—" }))))));
  }
  function consentSection(c) {
    const section = OV.el("section", { class: "result" + (c.status === "active" ? " result-valid" : ""), "data-consent": c.consent_id },
      OV.el("h3", {}, OV.el("span", { class: "mono", text: c.consent_id }), " ", badge(c.status)),
      OV.el("dl", {},
        OV.el("dt", { text: OV.t("cr_banks") }), OV.el("dd", { text: c.banks.map(OV.agencyWord).join("、") }),
        OV.el("dt", { text: OV.t("cr_data") }), OV.el("dd", { text: c.data.map((d) => OV.t("cat_" + d)).join("、") }),
        OV.el("dt", { text: OV.t("cr_until") }), OV.el("dd", { text: c.expires_on }),
        c.revoked_on ? [OV.el("dt", { text: OV.t("hc_revoked_on") }), OV.el("dd", { text: c.revoked_on })] : null));
    if (c.status === "active") {
      const revoke = OV.el("button", { type: "button", class: "button warning", text: OV.t("cr_revoke") });
      revoke.addEventListener("click", async () => {
        try {
          const made = await (await OV.api(`/api/v1/credit/consents/${encodeURIComponent(c.consent_id)}/revocation`, { method: "POST" })).json();
          location.assign(`/cases/${encodeURIComponent(made.case_id)}?new=1`);
        } catch (err) { OV.showErrors(top, null, [{ text: OV.describe(err) }]); }
      });
      section.append(OV.el("p", {}, revoke));
    }
    section.append(readsTable(c.reads));
    return section;
  }
  async function showCompany() {
    const uscc = pick.value;
    try {
      const view = await (await OV.api(`/api/v1/credit/companies/${encodeURIComponent(uscc)}`)).json();
      document.getElementById("consent-list").replaceChildren(
        ...(view.consents.length ? view.consents.map(consentSection) : [OV.el("p", { text: OV.t("cr_no_consents") })]));
      document.getElementById("refused").replaceChildren(...(view.refused.length ? [
        OV.el("h3", { text: OV.t("cr_refused") }),
        OV.el("ul", {}, view.refused.map((r) => OV.el("li", {}, `${OV.when(r.at)} ${OV.agencyWord(r.agency)}: ${r.reason || r.code || ""}`))),
      ] : []));
      document.getElementById("consents").hidden = false;
      consentForm.hidden = loanForm.hidden = false;
    } catch (err) { status.textContent = OV.describe(err); }
  }
  function showProduct() {
    const p = products.find((x) => x.id === document.getElementById("product").value);
    if (!p) return;
    document.getElementById("product-info").textContent = OV.t("cr_product_info", {
      bank: OV.agencyWord(p.bank), rate: p.rate_percent, min: p.min_amount_cny.toLocaleString(), max: p.max_amount_cny.toLocaleString(),
      data: p.data.map((d) => OV.t("cat_" + d)).join("、"),
    });
    document.getElementById("term_months").replaceChildren(...p.terms_months.map((m) => OV.el("option", { value: m, text: OV.t("cr_months", { n: m }) })));
  }
  async function submit(form, body, prefix) {
    OV.clearErrors(top, form);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const made = await (await OV.api("/api/v1/cases", { method: "POST", json: body, headers: { "Idempotency-Key": key(prefix) } })).json();
      location.assign(`/cases/${encodeURIComponent(made.case_id)}?new=1`);
    } catch (err) {
      OV.showErrors(top, form, OV.errorsOf(err, form));
    } finally { button.disabled = false; }
  }
  const number = (id) => { const v = document.getElementById(id).value.trim(); return /^\d+(\.\d+)?$/.test(v) ? Number(v) : v; };
  consentForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(consentForm, {
      flow: "sme_credit_consent", company: { uscc: pick.value },
      banks: [...consentForm.querySelectorAll("[data-bank]:checked")].map((n) => n.value),
      data: [...consentForm.querySelectorAll("[data-category]:checked")].map((n) => n.value),
      valid_days: number("valid_days"),
    }, "consent");
  });
  loanForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(loanForm, {
      flow: "sme_credit", company: { uscc: pick.value }, product: document.getElementById("product").value,
      amount_cny: number("amount_cny"), term_months: Number(document.getElementById("term_months").value),
      acceptance: { max_rate_percent: number("acceptance-max_rate_percent"), min_amount_cny: number("acceptance-min_amount_cny") },
    }, "loan");
  });

  try {
    products = await (await OV.api("/api/v1/credit/products")).json();
    document.getElementById("product").replaceChildren(...products.map((p) => OV.el("option", { value: p.id, text: p.title })));
    showProduct();
    document.getElementById("product").addEventListener("change", showProduct);
    const cases = (await (await OV.api("/api/v1/cases")).json())
      .filter((c) => c.flow === "business_registration" && c.status === "completed").slice(0, 20);
    const companies = [];
    for (const c of cases) {
      const view = await (await OV.api(`/api/v1/cases/${encodeURIComponent(c.case_id)}`)).json();
      if (view.uscc) companies.push(view);
    }
    if (!companies.length) { status.textContent = OV.t("cr_no_company"); return; }
    pick.replaceChildren(...companies.map((v) => OV.el("option", { value: v.uscc, text: `${v.company_name} (${v.uscc})` })));
    document.getElementById("company-field").hidden = false;
    pick.addEventListener("change", showCompany);
    status.textContent = "";
    await showCompany();
  } catch (err) {
    status.textContent = OV.describe(err);
  }
});
