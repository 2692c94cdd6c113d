// Passkeys outside the reveal: add one (Passkeys page), sign in with one (the code step, the
// passwordless button on the sign-in page), and the admin's one-step sign-in.
//
// The server makes every challenge and checks every answer; this only carries them between it
// and the browser's passkey API (navigator.credentials), in WebAuthn's JSON forms.
"use strict";

(function () {
  const supported = Boolean(window.PublicKeyCredential && navigator.credentials &&
    PublicKeyCredential.parseCreationOptionsFromJSON && PublicKeyCredential.parseRequestOptionsFromJSON);

  function csrfToken() {
    const field = document.querySelector("[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store", redirect: "error",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json().catch(function () { return null; });
    return { response: response, data: data || {} };
  }

  function messageOf(result, fallback) {
    return (result.data.error && result.data.error.message) || fallback;
  }

  // Shows `text` in `el`, or hides it when empty (with its data-error-class only while shown:
  // the admin's errornote style would otherwise draw an empty box).
  function say(el, text) {
    if (!el) return;
    el.textContent = text;
    el.hidden = !text;
    if (el.dataset.errorClass) el.classList.toggle(el.dataset.errorClass, Boolean(text));
  }

  const CANCELLED = "The passkey was not used (cancelled, timed out, or not on this device). Try again.";

  // Asks the server for request options at `optionsUrl`, lets the person use a passkey, and
  // returns its answer in JSON form (or throws an Error whose message can be shown).
  async function assertion(optionsUrl) {
    const started = await post(optionsUrl, {});
    if (!started.response.ok || !started.data.request_options) {
      throw new Error(messageOf(started, "Passkeys cannot be used right now."));
    }
    let credential;
    try {
      credential = await navigator.credentials.get({
        publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(started.data.request_options),
      });
    } catch (e) {
      throw new Error(CANCELLED);
    }
    return credential.toJSON();
  }

  // ------------------------------------------------------------------ Passkeys page: add one

  const manage = document.getElementById("passkeys");
  if (manage) {
    const addForm = document.getElementById("passkey-add-form");
    const nameInput = document.getElementById("passkey-name");
    const addButton = document.getElementById("passkey-add");
    const errorEl = document.getElementById("passkey-error");
    const statusEl = document.getElementById("passkey-status");
    if (!supported) {
      addButton.disabled = true;
      say(errorEl, "This browser cannot make passkeys. Use an up-to-date browser on this site's https:// address.");
    }
    addForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      say(errorEl, "");
      const name = nameInput.value.trim();
      if (!name) {
        say(errorEl, "Give the passkey a name, such as the phone or laptop it is on.");
        nameInput.focus();
        return;
      }
      addButton.disabled = true;
      statusEl.textContent = "Follow your device's steps to make the passkey…";
      try {
        const started = await post(manage.dataset.optionsUrl, {});
        if (!started.response.ok) throw new Error(messageOf(started, "Passkeys cannot be added right now."));
        let credential;
        try {
          credential = await navigator.credentials.create({
            publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(started.data.creation_options),
          });
        } catch (e) {
          throw new Error("No passkey was made (cancelled, timed out, or one already exists on this device).");
        }
        const done = await post(manage.dataset.addUrl, { name: name, credential: credential.toJSON() });
        if (!done.response.ok || !done.data.redirect) throw new Error(messageOf(done, "The passkey was not added."));
        window.location.assign(done.data.redirect);
      } catch (e) {
        statusEl.textContent = "";
        say(errorEl, e.message);
        addButton.disabled = false;
      }
    });
  }

  // ------------------------------------------------------------------ sign-in with a passkey

  // A button with data-options-url and data-finish-url (the code step, or passwordless).
  document.querySelectorAll("[data-passkey-sign-in]").forEach(function (button) {
    const errorEl = document.getElementById(button.dataset.errorId);
    if (!supported) {
      button.disabled = true;
      return;
    }
    button.hidden = false;
    button.addEventListener("click", async function () {
      say(errorEl, "");
      button.disabled = true;
      try {
        const answer = await assertion(button.dataset.optionsUrl);
        const done = await post(button.dataset.finishUrl, { credential: answer, next: button.dataset.next || "" });
        if (done.data.redirect) {
          window.location.assign(done.data.redirect);
          return;
        }
        throw new Error(messageOf(done, "The passkey was not accepted."));
      } catch (e) {
        say(errorEl, e.message);
        button.disabled = false;
      }
    });
  });

  // ------------------------------------------------------------------ the admin's sign-in

  // The admin form takes username, password and a passkey at once: the passkey's answer goes
  // into the form's hidden field instead of a code, and the form is sent as usual.
  const adminButton = document.getElementById("admin-passkey");
  if (adminButton && supported) {
    adminButton.hidden = false;
    const form = document.getElementById("login-form");
    const errorEl = document.getElementById("admin-passkey-error");
    adminButton.addEventListener("click", async function () {
      say(errorEl, "");
      if (!form.reportValidity()) return;
      adminButton.disabled = true;
      try {
        const answer = await assertion(adminButton.dataset.optionsUrl);
        form.querySelector("[name=passkey_assertion]").value = JSON.stringify(answer);
        form.submit();
      } catch (e) {
        say(errorEl, e.message);
        adminButton.disabled = false;
      }
    });
  }
})();
