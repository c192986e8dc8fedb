// Sign-in: POST /api/v1/auth/token (OAuth2 password form), keep the token in sessionStorage, go on.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("sign-in");
  const top = document.getElementById("form-top");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const user = form.username.value.trim();
    const errors = [];
    if (!user) errors.push({ id: "username", text: OV.t("v_missing", { label: OV.t("username") }) });
    if (!form.password.value) errors.push({ id: "password", text: OV.t("v_missing", { label: OV.t("password") }) });
    if (errors.length) return OV.showErrors(top, form, errors);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const resp = await OV.api("/api/v1/auth/token", {
        method: "POST", body: new URLSearchParams({ username: user, password: form.password.value }),
      });
      const answer = await resp.json();
      OV.signIn(user, answer);
      const next = new URLSearchParams(location.search).get("next");
      location.assign(next && next.startsWith("/") && !next.startsWith("//") ? next : OV.home(answer.role, answer.agency));
    } catch (err) {
      let text = OV.describe(err);
      if (err.status === 401) text = OV.t("err_credentials");
      if (err.status === 429) text = OV.t("err_throttled", { s: (err.message.match(/(\d+) s/) || [])[1] || "?" });
      OV.showErrors(top, form, [{ id: err.status === 401 ? "password" : "username", text }]);
      form.password.value = "";
    } finally {
      button.disabled = false;
    }
  });
});
