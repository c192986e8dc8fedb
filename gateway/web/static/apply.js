// The application form: builds RegistrationApplication JSON, POSTs it to /api/v1/cases, and shows
// the API's 422 errors by their fields and in a summary (the values stay as typed).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  if (!OV.needSignIn(["applicant"])) return;
  const form = document.getElementById("apply");
  const top = document.getElementById("form-top");
  const list = document.getElementById("shareholder-list");
  const rowTemplate = document.getElementById("shareholder-row");
  const addButton = document.getElementById("add-shareholder");
  const status = document.getElementById("apply-status");
  const idempotencyKey = "web-" + (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));

  function renumber() {
    const rows = [...list.children];
    rows.forEach((row, i) => {
      row.querySelector("legend").textContent = OV.t("shareholder_n", { n: i + 1 });
      row.id = `shareholders-${i}`;
      for (const input of row.querySelectorAll("[data-name]")) {
        const name = input.dataset.name;
        input.id = `shareholders-${i}-${name}`;
        input.dataset.path = `shareholders.${i}.${name}`;
        row.querySelector(`label[data-for=${name}]`).htmlFor = input.id;
      }
      row.querySelector("[data-remove]").hidden = rows.length === 1;
    });
  }
  function addRow() {
    const row = rowTemplate.content.firstElementChild.cloneNode(true);
    row.querySelector("[data-remove]").addEventListener("click", () => {
      row.remove(); renumber(); addButton.focus();
    });
    list.append(row);
    renumber();
    return row;
  }
  addButton.addEventListener("click", () => addRow().querySelector("input").focus());
  const correcting = form.dataset.correct;
  if (correcting) prefill(correcting); else addRow();

  async function prefill(caseId) {
    // A returned case: its application as submitted (the applicant reads it without a purpose).
    try {
      const [view, app] = await Promise.all([
        OV.api(`/api/v1/cases/${encodeURIComponent(caseId)}`).then((r) => r.json()),
        OV.api(`/api/v1/cases/${encodeURIComponent(caseId)}/application`).then((r) => r.json()),
      ]);
      if (view.reason) {
        const note = document.getElementById("returned-reason");
        note.textContent = `${OV.t("step_reason")}: ${view.reason}`;
        note.hidden = false;
      }
      (app.shareholders || [{}]).forEach(() => addRow());
      for (const input of form.querySelectorAll("[data-path]")) {
        const value = input.dataset.path.split(".").reduce((node, key) => (node == null ? undefined : node[key]), app);
        if (input.type === "checkbox") input.checked = !!value;
        else if (value !== undefined && value !== null) input.value = String(value);
      }
    } catch (err) {
      if (!list.children.length) addRow();
      OV.showErrors(top, form, [{ text: OV.describe(err) }]);
    }
  }

  function collect() {
    const data = { flow: "business_registration" };
    for (const input of form.querySelectorAll("[data-path]")) {
      let value;
      if (input.type === "checkbox") value = input.checked;
      else {
        value = input.value.trim();
        if (value === "") continue; // left out: the API names what is missing
        if (input.dataset.kind === "int" && /^\d+$/.test(value)) value = Number(value);
      }
      const path = input.dataset.path.split(".");
      let node = data;
      path.forEach((key, i) => {
        if (i === path.length - 1) { node[key] = value; return; }
        const nextIsIndex = /^\d+$/.test(path[i + 1]);
        node[key] = node[key] ?? (nextIsIndex ? [] : {});
        node = node[key];
      });
    }
    if (data.shareholders) data.shareholders = data.shareholders.map((s) => s ?? {});
    return data;
  }

  function labelOf(input) {
    const label = input && form.querySelector(`label[for="${input.id}"]`);
    let text = label ? label.textContent.replace(/\s*\*$/, "").trim() : "";
    const set = input?.closest("fieldset.shareholder, #legal_representative, #contact");
    if (set) {
      const legend = set.querySelector(":scope > legend").textContent.trim();
      text = OV.lang === "zh" ? legend + text : `${legend}: ${text.toLowerCase()}`;
    }
    return text;
  }
  function inWords(err, input) {
    let label = labelOf(input) || err.loc.slice(1).join(".");
    if (OV.lang === "en" && err.type === "missing") label = label.charAt(0).toLowerCase() + label.slice(1);
    const total = String(err.msg || "").match(/add up to 100, not ([\d.]+)/);
    if (total) return OV.t("shares_total", { total: total[1] });
    return OV.inWords(err, label);
  }
  const fieldFor = OV.fieldFor;

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = form.querySelector("button[type=submit]");
    OV.clearErrors(top, form);
    button.disabled = true;
    status.textContent = OV.t("submitting");
    try {
      if (correcting) {
        await OV.api(`/api/v1/cases/${encodeURIComponent(correcting)}/correction`, { method: "POST", json: collect() });
        location.assign(`/cases/${encodeURIComponent(correcting)}?corrected=1`);
        return;
      }
      const resp = await OV.api("/api/v1/cases", { method: "POST", json: collect(), headers: { "Idempotency-Key": idempotencyKey } });
      const made = await resp.json();
      location.assign(`/cases/${encodeURIComponent(made.case_id)}?new=1`);
      return;
    } catch (err) {
      status.textContent = "";
      let errors;
      if (err.status === 422 && Array.isArray(err.body?.detail)) {
        errors = err.body.detail.map((e) => {
          let input = fieldFor(e.loc || []);
          if (!input && /add up to 100/.test(e.msg || "")) input = document.getElementById("shareholders-0-share_percent");
          return { id: input?.id, text: inWords(e, input?.matches("input, select, textarea") ? input : null) };
        });
      } else {
        errors = [{ text: OV.describe(err) }];
      }
      OV.showErrors(top, form, errors);
    } finally {
      button.disabled = false;
    }
  });
});
