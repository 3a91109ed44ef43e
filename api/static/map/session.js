/*
 * Monitor sign-in on the map page. The key is POSTed once in a form body (never in a
 * URL) to `session`; the service answers with an HttpOnly session cookie that this
 * script cannot read, and that opens reports (the "anomaly report" link) in the browser.
 * Without JavaScript the form still posts and the service redirects back to the map.
 *
 * window.FootprintSession.mount(element, url, onChange) draws the form or the signed-in
 * line into `element` and calls onChange(session) with {signed_in, name, role, expires_at}.
 */
(function () {
  "use strict";

  const { el } = window.FootprintFormat;  // format.js loads first (index.html)

  async function post(href, body) {
    const response = await fetch(href, {
      method: "POST", credentials: "same-origin", body,
      headers: { Accept: "application/json" },
    });
    let doc = {};
    try { doc = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) throw new Error(doc.detail || doc.description || `${response.status}`);
    return doc;
  }

  function mount(element, url, onChange) {
    function signedOutForm(message) {
      const input = el("input", { type: "password", name: "key", id: "session-key", required: "required",
        autocomplete: "current-password", "aria-label": "API key", placeholder: "monitor API key" });
      const form = el("form", { method: "post", action: url("session"), id: "session-form" }, [
        el("input", { type: "hidden", name: "next", value: "/map" }),
        input, el("button", { type: "submit", text: "Sign in" })]);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          const doc = await post(url("session"), new URLSearchParams({ key: input.value }));
          input.value = "";
          render(doc);
        } catch (err) {
          render({ signed_in: false }, `Sign-in refused: ${err.message}`);
        }
      });
      const children = [form, el("p", { class: "hint", text: "Monitors sign in once to open anomaly " +
        "reports here; the key is sent in the form body and kept by no page." })];
      if (message) children.unshift(el("p", { class: "error", id: "session-error", text: message }));
      return children;
    }

    function signedInLine(doc) {
      const button = el("button", { type: "button", id: "session-sign-out", text: "Sign out" });
      button.addEventListener("click", async () => {
        try { render(await post(url("session/sign-out"), null)); } catch (err) { console.warn(err.message); }
      });
      const until = String(doc.expires_at || "").slice(0, 16).replace("T", " ");
      return [el("p", { id: "session-user", text: `Signed in as ${doc.name} (${doc.role}) until ${until} UTC. ` }, [button])];
    }

    function render(doc, message) {
      element.dataset.signedIn = String(Boolean(doc.signed_in));
      element.replaceChildren(el("h2", { text: "Monitor sign-in" }),
        ...(doc.signed_in ? signedInLine(doc) : signedOutForm(message)));
      if (onChange) onChange(doc);
    }

    fetch(url("session"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => r.json())
      .then((doc) => render(doc))
      .catch(() => render({ signed_in: false }));
  }

  window.FootprintSession = { mount };
})();
