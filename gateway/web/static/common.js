// OneVisit pages: what every page shares. The bearer token from POST /api/v1/auth/token is kept in
// sessionStorage (this tab only, gone when it closes); every call goes to the JSON API.
"use strict";
const OV = (() => {
  const words = JSON.parse(document.getElementById("words").textContent);
  const lang = document.documentElement.lang.startsWith("zh") ? "zh" : "en";
  const store = window.sessionStorage;

  function t(key, values) {
    let text = words[key] ?? key;
    for (const [k, v] of Object.entries(values || {})) text = text.split(`{${k}}`).join(String(v));
    return text;
  }
  const session = () => ({
    token: store.getItem("ov.token"), role: store.getItem("ov.role"),
    agency: store.getItem("ov.agency") || null, user: store.getItem("ov.user"),
  });
  function signIn(user, answer) {
    store.setItem("ov.token", answer.access_token);
    store.setItem("ov.role", answer.role);
    store.setItem("ov.user", user);
    if (answer.agency) store.setItem("ov.agency", answer.agency); else store.removeItem("ov.agency");
  }
  function signOut() { for (const k of ["ov.token", "ov.role", "ov.agency", "ov.user"]) store.removeItem(k); }
  const home = (role, agency) =>
    (role === "clerk" && (agency || "").startsWith("hospital_") ? "/hospital" : null) ||
    (role === "clerk" && (agency || "").startsWith("bank_") ? "/bank" : null) ||
    ({ applicant: "/my-cases", clerk: "/queue", auditor: "/audit" })[role] || "/";

  function needSignIn(roles) {
    // On a signed-in page: the visitor's session, or off to the sign-in page (and back after).
    const s = session();
    if (!s.token || (roles && !roles.includes(s.role))) {
      location.replace("/sign-in?next=" + encodeURIComponent(location.pathname + location.search));
      return null;
    }
    return s;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(typeof body?.detail === "string" ? body.detail : `HTTP ${status}`);
      this.status = status; this.body = body;
    }
  }
  async function api(path, options = {}) {
    const headers = new Headers(options.headers || {});
    const s = session();
    if (s.token) headers.set("Authorization", "Bearer " + s.token);
    if (options.json !== undefined) { headers.set("Content-Type", "application/json"); options.body = JSON.stringify(options.json); }
    let resp;
    try { resp = await fetch(path, { ...options, headers }); }
    catch (e) { throw new ApiError(0, { detail: t("err_network") }); }
    if (resp.status === 401 && s.token) { signOut(); needSignIn(); throw new ApiError(401, {}); }
    if (!resp.ok) {
      let body = {};
      try { body = await resp.json(); } catch (e) { /* not JSON */ }
      throw new ApiError(resp.status, body);
    }
    return resp;
  }
  function describe(err) {
    if (err.status === 0) return t("err_network");
    if (err.status === 403) return t("err_forbidden");
    return t("err_server", { status: err.status, detail: err.message });
  }

  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
    return node;
  };
  function when(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { dateStyle: "medium", timeStyle: "short" });
  }
  const stateWord = (s) => words["st_" + s] ?? s;
  const stepWord = (step, title) => (words["step_" + step] ?? title);
  const agencyWord = (a) => (words["ag_" + a] ?? a);

  // Errors the GOV.UK way: a summary at the top (focused, linking each field), the message by the field.
  const baseTitle = document.title;
  function showErrors(container, form, errors) {
    clearErrors(container, form);
    if (!errors.length) return;
    document.title = t("error_prefix") + baseTitle;
    const list = el("ul", {}, errors.map((e) => el("li", {}, e.id ? el("a", { href: "#" + e.id, text: e.text }) : e.text)));
    const box = el("div", { class: "error-summary", role: "alert", tabindex: "-1" }, el("h2", { text: t("error_summary") }), list);
    container.prepend(box);
    for (const e of errors) {
      const input = e.id && document.getElementById(e.id);
      if (!input) continue;
      const field = input.closest(".field") || input.closest("fieldset");
      field?.classList.add("has-error");
      input.setAttribute("aria-invalid", "true");
      const msg = el("p", { class: "error-message", id: e.id + "-error", text: e.text });
      const label = field?.querySelector(":scope > label, :scope > legend");
      const anchor = field?.querySelector(":scope > .hint") || label;
      if (anchor) anchor.after(msg); else input.before(msg);
      input.setAttribute("aria-describedby", ((input.getAttribute("aria-describedby") || "") + " " + msg.id).trim());
    }
    box.querySelectorAll("a").forEach((a) => a.addEventListener("click", (ev) => {
      const target = document.getElementById(a.getAttribute("href").slice(1));
      if (target) { ev.preventDefault(); target.focus(); target.scrollIntoView({ block: "center" }); }
    }));
    box.focus();
  }
  function clearErrors(container, form) {
    document.title = baseTitle;
    container.querySelectorAll(":scope > .error-summary").forEach((n) => n.remove());
    (form || container).querySelectorAll(".error-message").forEach((n) => {
      const input = document.getElementById(n.id.replace(/-error$/, ""));
      if (input) {
        input.removeAttribute("aria-invalid");
        const rest = (input.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && x !== n.id);
        if (rest.length) input.setAttribute("aria-describedby", rest.join(" ")); else input.removeAttribute("aria-describedby");
      }
      n.remove();
    });
    (form || container).querySelectorAll(".has-error").forEach((n) => n.classList.remove("has-error"));
  }

  // A 422's error in the page's words: ``label`` names the field as its form does.
  function inWords(err, label) {
    const ctx = err.ctx || {};
    const msg = String(err.msg || "").replace(/^Value error, /, "");
    switch (err.type) {
      case "missing": return t("v_missing", { label });
      case "string_too_short": return t("v_too_short", { label, n: ctx.min_length });
      case "string_too_long": return t("v_too_long", { label, n: ctx.max_length });
      case "string_pattern_mismatch": return t("v_pattern", { label });
      case "int_parsing": case "int_type": case "int_from_float": return t("v_int", { label });
      case "decimal_parsing": case "decimal_type": case "float_parsing": return t("v_number", { label });
      case "greater_than": return t("v_gt", { label, n: ctx.gt });
      case "greater_than_equal": return t("v_ge", { label, n: ctx.ge });
      case "less_than_equal": return t("v_le", { label, n: ctx.le });
      case "decimal_max_places": return t("v_places", { label, n: ctx.decimal_places });
      case "too_short": return t("v_missing", { label });
    }
    if (/email address/i.test(msg)) return t("v_email", { label });
    return t("v_other", { label, msg });
  }
  // The form control a 422's ``loc`` names (ids are the path joined by "-"), or its nearest section.
  function fieldFor(loc) {
    let parts = loc[0] === "body" ? loc.slice(1) : loc;
    while (parts.length) {
      const node = document.getElementById(parts.join("-"));
      if (node) return node.matches("input, select, textarea") ? node : node.querySelector("input, select, textarea") || node;
      parts = parts.slice(0, -1);
    }
    return null;
  }
  // The errors of a failed call, for showErrors: each 422 item by its field (labelled by its <label>).
  function errorsOf(err, form) {
    if (err.status !== 422 || !Array.isArray(err.body?.detail)) return [{ text: describe(err) }];
    return err.body.detail.map((e) => {
      const input = fieldFor(e.loc || []);
      const control = input?.matches("input, select, textarea") ? input : null;
      const label = control && form.querySelector(`label[for="${control.id}"]`);
      return { id: input?.id, text: inWords(e, label ? label.textContent.replace(/\s*\*$/, "").trim() : (e.loc || []).slice(1).join(".")) };
    });
  }

  function download(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: name });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const s = session();
    document.querySelectorAll("[data-role]").forEach((n) => {
      const prefix = n.dataset.agencyPrefix;
      n.hidden = !(s.token && n.dataset.role === s.role && (!prefix || (s.agency || "").startsWith(prefix)));
    });
    document.querySelectorAll("[data-signed-in]").forEach((n) => { n.hidden = !s.token; });
    document.querySelectorAll("[data-signed-out]").forEach((n) => { n.hidden = !!s.token; });
    document.querySelectorAll("[data-who]").forEach((n) => { n.textContent = s.user || ""; });
    document.querySelectorAll("[data-sign-out]").forEach((b) => b.addEventListener("click", async () => {
      try { await api("/api/v1/auth/logout", { method: "POST" }); } catch (e) { /* signed out here anyway */ }
      signOut(); location.assign("/");
    }));
    document.querySelector("[data-autofocus]")?.focus();
  });

  return { t, lang, session, signIn, signOut, home, needSignIn, api, ApiError, describe, el, when, stateWord, stepWord, agencyWord, showErrors, clearErrors, download, inWords, fieldFor, errorsOf };
})();
