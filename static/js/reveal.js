// Reveals one CVV: makes a fresh non-extractable RSA-OAEP key, sends its public half with the
// one-time code or a passkey's answer to a challenge bound to this card and key, opens the sealed
// answer here, shows it for a limited time, then wipes it.
//
// The plaintext exists only in the decrypted buffer (zeroed once read), one local string, and the
// one text node of #cvv-value; nothing is kept in attributes, storage, cookies or globals.
"use strict";

(function () {
  const section = document.getElementById("reveal");
  if (!section) {
    return;
  }
  const unsupported = document.getElementById("reveal-unsupported");
  if (!window.isSecureContext || !window.crypto || !window.crypto.subtle || !window.fetch) {
    // WebCrypto exists only on https:// (or localhost): without it the code cannot be sealed.
    if (unsupported) unsupported.hidden = false;
    return;
  }
  section.hidden = false;

  const form = document.getElementById("reveal-form");
  const codeInput = document.getElementById("otp-code");
  const button = document.getElementById("reveal-button");
  const buttonLabel = button.querySelector(".label") || button;
  const statusEl = document.getElementById("reveal-status");
  const errorEl = document.getElementById("reveal-error");
  const box = document.getElementById("cvv-box");
  const valueEl = document.getElementById("cvv-value");
  const countdownEl = document.getElementById("cvv-countdown");
  const progressEl = document.getElementById("cvv-progress");
  const hideButton = document.getElementById("cvv-hide");
  const extendButton = document.getElementById("cvv-extend");
  const copyButton = document.getElementById("cvv-copy");
  const passkeyButtonEl = document.getElementById("passkey-button");
  const passkeyStepEl = document.getElementById("passkey-step");
  const fallbackEl = document.getElementById("code-fallback");
  const defaultSeconds = parseInt(section.dataset.displaySeconds, 10) || 30;
  const maxSecondsSetting = parseInt(section.dataset.maxDisplaySeconds, 10) || defaultSeconds;
  const idleLabel = buttonLabel.textContent;
  // WCAG 2.2.1: warn while there are still 20 s to act (half the time when the display is shorter).
  const WARN_SECONDS = 20;
  const CVV_PATTERN = /^[0-9]{3,4}$/;

  // The key's RSA-OAEP hash is fixed when it is made: SHA-256, or SHA-1 for a card whose bank
  // (Mastercard's pass-through) encrypts with it; the page says which (data-key-hash).
  const KEY_HASH = section.dataset.keyHash === "SHA-1" ? "SHA-1" : "SHA-256";
  // Only the decryption this page's key can do (see docs/browser-sealing.md).
  const OPENERS = KEY_HASH === "SHA-1" ? {
    "rsa-oaep-sha1-hex": function (text, key) { return openRsaOaep(hexToBytes(text), key); },
    "rsa-oaep-sha1-base64": function (text, key) { return openRsaOaep(b64ToBytes(text), key); },
  } : {
    "jwe-rsa-oaep-256-a256gcm": openJwe,
    "rsa-oaep-256-hex": function (text, key) { return openRsaOaep(hexToBytes(text), key); },
    "rsa-oaep-256-base64": function (text, key) { return openRsaOaep(b64ToBytes(text), key); },
  };

  let hideTimer = null;
  let tickTimer = null;
  let deadline = 0;        // performance.now() at which the code is hidden
  let hardLimit = 0;       // performance.now() past which "More time" cannot go
  let shownSeconds = defaultSeconds;
  let warned = false;
  let copied = false;
  let lockTimer = null;
  // Something stops the reveal (said in #reveal-blockers): the form is disabled until it is over.
  let blocked = section.dataset.blocked === "true";

  // ------------------------------------------------------------------ bytes

  function b64ToBytes(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
    if (!/^[A-Za-z0-9+/]*$/.test(b64)) throw new Error("not base64");
    const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function hexToBytes(hex) {
    if (!/^(?:[0-9A-Fa-f]{2})+$/.test(hex)) throw new Error("not hex");
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }

  function bytesToB64(bytes) {
    let raw = "";
    for (let i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw);
  }

  // Reads the digits out of a decrypted buffer, then zeroes it.
  function digitsFrom(buffer) {
    const bytes = new Uint8Array(buffer);
    try {
      const text = new TextDecoder().decode(bytes);
      return CVV_PATTERN.test(text) ? text : null;
    } finally {
      bytes.fill(0);
    }
  }

  // ------------------------------------------------------------------ crypto

  function newKeyPair() {
    return crypto.subtle.generateKey(
      { name: "RSA-OAEP", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: KEY_HASH },
      false, // extractable: false, the private key can never leave this page's WebCrypto store
      ["encrypt", "decrypt"]
    );
  }

  // A compact JWE (RSA-OAEP-256 + A256GCM) addressed to our key; its plaintext is {"cvv": "..."}.
  async function openJwe(token, privateKey) {
    const parts = token.split(".");
    if (parts.length !== 5) throw new Error("sealed answer malformed");
    const header = JSON.parse(new TextDecoder().decode(b64ToBytes(parts[0])));
    if (header.alg !== "RSA-OAEP-256" || header.enc !== "A256GCM") throw new Error("unexpected JWE algorithms");
    const cek = new Uint8Array(await crypto.subtle.decrypt({ name: "RSA-OAEP" }, privateKey, b64ToBytes(parts[1])));
    let aesKey;
    try {
      aesKey = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["decrypt"]);
    } finally {
      cek.fill(0);
    }
    const ct = b64ToBytes(parts[3]);
    const tag = b64ToBytes(parts[4]);
    const joined = new Uint8Array(ct.length + tag.length);
    joined.set(ct);
    joined.set(tag, ct.length);
    const plain = new Uint8Array(await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: b64ToBytes(parts[2]), additionalData: new TextEncoder().encode(parts[0]), tagLength: 128 },
      aesKey, joined
    ));
    try {
      const text = new TextDecoder().decode(plain);
      const match = /^\{\s*"cvv"\s*:\s*"([0-9]{3,4})"\s*\}$/.exec(text);
      return match ? match[1] : null;
    } finally {
      plain.fill(0);
    }
  }

  // A CVV the provider itself encrypted to our key (Mastercard's Customer-Public-Rsa-Key).
  async function openRsaOaep(bytes, privateKey) {
    return digitsFrom(await crypto.subtle.decrypt({ name: "RSA-OAEP" }, privateKey, bytes));
  }

  // ------------------------------------------------------------------ states

  function announce(text) {
    statusEl.textContent = text;
  }

  function showError(message, kind) {
    errorEl.textContent = message;
    errorEl.dataset.kind = kind || "error";
    errorEl.hidden = false;
    codeInput.setAttribute("aria-invalid", kind === "code" ? "true" : "false");
  }

  function clearError() {
    errorEl.hidden = true;
    errorEl.textContent = "";
    codeInput.removeAttribute("aria-invalid");
  }

  function setBusy(busy) {
    section.setAttribute("aria-busy", busy ? "true" : "false");
    section.classList.toggle("is-loading", busy);
    button.disabled = busy || lockTimer !== null || blocked;
    if (passkeyButtonEl) passkeyButtonEl.disabled = busy || lockTimer !== null || blocked;
    buttonLabel.textContent = busy ? "Checking…" : idleLabel;
  }

  // The blockers the page was served with have all ended: the form can be used. (The server still
  // checks everything when the code is sent.)
  function unblock() {
    blocked = false;
    const notice = document.getElementById("reveal-blockers");
    if (notice) notice.hidden = true;
    codeInput.disabled = false;
    if (passkeyButtonEl) passkeyButtonEl.disabled = lockTimer !== null;
    codeInput.setAttribute("aria-describedby", "otp-hint reveal-error");
    button.removeAttribute("aria-describedby");
    button.disabled = lockTimer !== null;
    const hint = document.getElementById("otp-hint");
    if (hint && hint.dataset.readyText) hint.textContent = hint.dataset.readyText;
    announce("You can show the security code now: enter a new code from your authenticator app.");
  }

  if (blocked) {
    const seconds = parseInt(section.dataset.blockedSeconds || "", 10);
    // setTimeout cannot wait longer than about 24 days; a longer block is not undone here.
    if (seconds > 0 && seconds < 24 * 24 * 3600) setTimeout(unblock, (seconds + 1) * 1000);
  }

  // Locked: too many attempts. The form stays visible but cannot be sent until the wait is over.
  function lock(seconds, message) {
    showError(message, "locked");
    section.classList.add("is-locked");
    button.disabled = true;
    codeInput.disabled = true;
    if (passkeyButtonEl) passkeyButtonEl.disabled = true;
    if (lockTimer) clearTimeout(lockTimer);
    lockTimer = setTimeout(function () {
      lockTimer = null;
      section.classList.remove("is-locked");
      button.disabled = blocked;
      codeInput.disabled = blocked;
      if (passkeyButtonEl) passkeyButtonEl.disabled = blocked;
      clearError();
      announce("You can try again now.");
    }, Math.max(1, seconds) * 1000);
  }

  function secondsLeft() {
    return Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
  }

  function render() {
    const left = secondsLeft();
    countdownEl.textContent = String(left);
    progressEl.value = Math.round((left / shownSeconds) * 100);
    extendButton.disabled = deadline >= hardLimit - 500;
    const warnAt = shownSeconds > WARN_SECONDS ? WARN_SECONDS : Math.ceil(shownSeconds / 2);
    if (!warned && left <= warnAt) {
      warned = true;
      announce(left + " seconds left. Choose More time to keep the code on screen.");
    }
  }

  function schedule() {
    if (hideTimer) clearTimeout(hideTimer);
    hideTimer = setTimeout(function () { wipe("Time is up: the security code is hidden."); },
      Math.max(0, deadline - performance.now()));
    render();
  }

  function wipe(reason) {
    if (hideTimer) { clearTimeout(hideTimer); hideTimer = null; }
    if (tickTimer) { clearInterval(tickTimer); tickTimer = null; }
    if (box.hidden && valueEl.firstChild === null) return; // nothing shown: leave the form alone
    const focusWasInside = box.contains(document.activeElement) || document.activeElement === document.body;
    // Remove the text node itself, not just its value.
    while (valueEl.firstChild) valueEl.removeChild(valueEl.firstChild);
    box.hidden = true;
    section.classList.remove("is-showing");
    deadline = 0;
    form.hidden = false;
    if (passkeyStepEl) passkeyStepEl.hidden = false;
    if (fallbackEl) fallbackEl.hidden = false;
    codeInput.value = "";
    let message = reason;
    if (copied) {
      copied = false;
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText("").catch(function () {
          announce(message + " The clipboard could not be cleared: copy something else over it.");
        });
      } else {
        message += " Copy something else over the clipboard.";
      }
    }
    announce(message);
    if (focusWasInside && !document.hidden) {
      if (passkeyButtonEl && !passkeyButtonEl.disabled) passkeyButtonEl.focus();
      else codeInput.focus();
    }
  }

  function show(cvv, seconds) {
    clearError();
    form.hidden = true;
    if (passkeyStepEl) passkeyStepEl.hidden = true;
    if (fallbackEl) fallbackEl.hidden = true;
    shownSeconds = seconds;
    warned = false;
    const now = performance.now();
    deadline = now + seconds * 1000;
    hardLimit = now + Math.max(seconds, maxSecondsSetting) * 1000;
    valueEl.textContent = cvv;
    box.hidden = false;
    section.classList.add("is-showing");
    announce("Security code shown for " + seconds + " seconds.");
    valueEl.focus();
    schedule();
    tickTimer = setInterval(render, 250);
  }

  // ------------------------------------------------------------------ the reveal

  function errorMessage(response, data) {
    if (data && data.error && data.error.message) return data.error.message;
    if (response.status === 403 || response.status === 401 || response.redirected) {
      return "Your session has ended. Reload the page and sign in again.";
    }
    return "Something went wrong. Please try again.";
  }

  // Sends the reveal with the step-up `fields` (a code, or a passkey's answer) and this page's
  // fresh key; opens and shows the answer. The caller made `keys` and dropped nothing yet.
  async function sendReveal(keys, spki, fields) {
    // A plain form encoding, not multipart: the server parses it at a fraction of the cost.
    const body = new URLSearchParams();
    Object.keys(fields).forEach(function (name) { body.set(name, fields[name]); });
    body.set("public_key", bytesToB64(spki));
    const response = await postForm(section.dataset.revealUrl, body);
    if (response === null) return;
    const isJson = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
    let data = isJson ? await response.json().catch(function () { return null; }) : null;
    if (!response.ok || !data || !data.sealed) {
      refused(response, data);
      return;
    }
    const opener = OPENERS[data.scheme];
    if (!opener) {
      announce("");
      showError("Your bank sent the code in a form this browser cannot open. Please contact support.");
      return;
    }
    const seconds = parseInt(data.display_seconds, 10) || defaultSeconds;
    const cvv = await opener(String(data.sealed), keys.privateKey);
    data = null;
    if (!cvv) throw new Error("not a security code");
    setBusy(false);
    show(cvv, seconds);
  }

  function postForm(url, body) {
    return fetch(url, {
      method: "POST", body: body, credentials: "same-origin", cache: "no-store", redirect: "error",
      headers: {
        "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value,
        Accept: "application/json",
      },
    }).catch(function () {
      announce("");
      showError("Could not reach the server. Check your connection, or reload the page and sign in again.");
      return null;
    });
  }

  // The server said no: say why, in its words, and lock the form for a wait it names.
  function refused(response, data) {
    announce("");
    const message = errorMessage(response, data);
    const errorCode = data && data.error ? String(data.error.code) : "";
    const retry = parseInt(response.headers.get("Retry-After") || "", 10);
    codeInput.value = "";
    if (response.status === 429 || response.status === 423) {
      lock(retry || 30, message);
    } else {
      showError(message, errorCode.indexOf("otp_") === 0 ? "code" : "error");
      if (!codeInput.closest("[hidden]") && codeInput.offsetParent !== null) codeInput.focus();
    }
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    if (lockTimer || blocked) return;
    clearError();
    const code = codeInput.value.replace(/[\s-]/g, "");
    if (!/^[0-9]{6}$/.test(code)) {
      showError("Enter the 6 digits shown in your authenticator app.", "code");
      codeInput.focus();
      return;
    }
    setBusy(true);
    announce("Checking your code and asking your bank…");
    let keys = null;
    try {
      keys = await newKeyPair();
      const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
      await sendReveal(keys, spki, { otp_code: code });
    } catch (e) {
      announce("");
      showError("The security code could not be opened in this browser. Please try again with a new code.");
    } finally {
      keys = null; // the key pair is used once; dropping it lets WebCrypto discard the private key
      setBusy(false);
    }
  });

  // ------------------------------------------------------------------ the passkey

  // The passkey signs a challenge bound to this card and to this page's fresh key: the server
  // makes it, the passkey (after the person's fingerprint, face or PIN) answers it for this
  // site's origin only, and the reveal is sent with that answer instead of a code.
  const passkeyStep = passkeyStepEl;
  const passkeyButton = passkeyButtonEl;
  const canUsePasskey = Boolean(window.PublicKeyCredential && navigator.credentials &&
    PublicKeyCredential.parseRequestOptionsFromJSON);
  if (passkeyStep && !canUsePasskey) {
    passkeyButton.disabled = true;
    const note = document.getElementById("passkey-unsupported");
    if (note) note.hidden = false;
  }
  if (passkeyStep && canUsePasskey) {
    passkeyButton.addEventListener("click", async function () {
      if (lockTimer || blocked) return;
      clearError();
      setBusy(true);
      passkeyButton.disabled = true;
      announce("Use your passkey when your device asks…");
      let keys = null;
      try {
        keys = await newKeyPair();
        const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
        const start = new URLSearchParams();
        start.set("public_key", bytesToB64(spki));
        const response = await postForm(passkeyStep.dataset.challengeUrl, start);
        if (response === null) return;
        const data = await response.json().catch(function () { return null; });
        if (!response.ok || !data || !data.request_options) {
          refused(response, data);
          return;
        }
        let credential = null;
        try {
          credential = await navigator.credentials.get({
            publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(data.request_options),
          });
        } catch (e) {
          announce("");
          showError("The passkey was not used (cancelled, timed out, or not on this device). " +
            "Try again, or use a code from your authenticator app.");
          return;
        }
        announce("Checking your passkey and asking your bank…");
        await sendReveal(keys, spki, { passkey_assertion: JSON.stringify(credential.toJSON()) });
      } catch (e) {
        announce("");
        showError("The security code could not be opened in this browser. Please try again.");
      } finally {
        keys = null;
        setBusy(false);
        passkeyButton.disabled = lockTimer !== null || blocked;
      }
    });
  }

  // ------------------------------------------------------------------ controls

  hideButton.addEventListener("click", function () { wipe("The security code is hidden."); });

  extendButton.addEventListener("click", function () {
    if (!deadline) return;
    const target = Math.min(performance.now() + shownSeconds * 1000, hardLimit);
    if (target <= deadline) {
      announce("This is the longest the code can be shown. Show it again with a new code if you need it.");
      extendButton.disabled = true;
      return;
    }
    deadline = target;
    warned = false;
    schedule();
    announce("The code stays for " + secondsLeft() + " more seconds.");
  });

  copyButton.addEventListener("click", function () {
    if (!navigator.clipboard || !navigator.clipboard.writeText) {
      announce("Copying is not available in this browser.");
      return;
    }
    navigator.clipboard.writeText(valueEl.textContent).then(function () {
      copied = true;
      announce("Copied. The clipboard is cleared when the time is up.");
    }, function () {
      announce("Copying was not allowed by the browser.");
    });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !box.hidden) {
      event.preventDefault();
      wipe("The security code is hidden.");
    }
  });

  // Leaving the tab or the page hides the code at once; it never survives into history.
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) wipe("Hidden because you left the page.");
  });
  window.addEventListener("pagehide", function () { wipe("The security code is hidden."); });
  document.addEventListener("freeze", function () { wipe("The security code is hidden."); });

  // The code field is what the page is for: the cursor waits there (as autofocus would, but only
  // once the form is shown, and not when the field is disabled or focus is already elsewhere).
  const nothingFocused = document.activeElement === document.body || !document.activeElement;
  if (passkeyButtonEl && !passkeyButtonEl.disabled && nothingFocused) {
    passkeyButtonEl.focus();
  } else if (!codeInput.disabled && nothingFocused) {
    codeInput.focus();
  }
})();
