// Reveals one CVV: makes a fresh non-extractable RSA-OAEP key, sends its public half with the
// one-time code, opens the sealed answer locally, shows it for a limited time, then wipes it.
"use strict";

(function () {
  const section = document.getElementById("reveal");
  if (!section || !window.crypto || !window.crypto.subtle) {
    return;
  }
  section.hidden = false;

  const form = document.getElementById("reveal-form");
  const codeInput = document.getElementById("otp-code");
  const button = document.getElementById("reveal-button");
  const statusEl = document.getElementById("reveal-status");
  const errorEl = document.getElementById("reveal-error");
  const box = document.getElementById("cvv-box");
  const valueEl = document.getElementById("cvv-value");
  const countdownEl = document.getElementById("cvv-countdown");
  const progressEl = document.getElementById("cvv-progress");
  const hideButton = document.getElementById("cvv-hide");
  const extendButton = document.getElementById("cvv-extend");
  const copyButton = document.getElementById("cvv-copy");
  const displaySeconds = parseInt(section.dataset.displaySeconds, 10) || 30;
  const maxSeconds = parseInt(section.dataset.maxDisplaySeconds, 10) || displaySeconds * 3;

  let timer = null;
  let remaining = 0;
  let shownFor = 0;
  let copied = false;

  function b64urlToBytes(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = b64 + "===".slice((b64.length + 3) % 4);
    const raw = atob(padded);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function hexToBytes(hex) {
    const out = new Uint8Array(hex.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }

  function bytesToB64(bytes) {
    let raw = "";
    bytes.forEach(function (b) { raw += String.fromCharCode(b); });
    return btoa(raw);
  }

  async function newKeyPair() {
    return crypto.subtle.generateKey(
      { name: "RSA-OAEP", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
      false, // the private key can never be exported from this page
      ["encrypt", "decrypt"]
    );
  }

  // Opens a compact JWE (RSA-OAEP-256 + A256GCM) addressed to our private key.
  async function openJwe(token, privateKey) {
    const parts = token.split(".");
    if (parts.length !== 5) throw new Error("sealed answer malformed");
    const cek = await crypto.subtle.decrypt({ name: "RSA-OAEP" }, privateKey, b64urlToBytes(parts[1]));
    const aesKey = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["decrypt"]);
    const ct = b64urlToBytes(parts[3]);
    const tag = b64urlToBytes(parts[4]);
    const joined = new Uint8Array(ct.length + tag.length);
    joined.set(ct);
    joined.set(tag, ct.length);
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: b64urlToBytes(parts[2]), additionalData: new TextEncoder().encode(parts[0]), tagLength: 128 },
      aesKey, joined
    );
    return JSON.parse(new TextDecoder().decode(plain)).cvv;
  }

  // Opens a CVV the provider itself encrypted to our key (RSA-OAEP-SHA256, hex).
  async function openProviderSealed(hex, privateKey) {
    const plain = await crypto.subtle.decrypt({ name: "RSA-OAEP" }, privateKey, hexToBytes(hex));
    return new TextDecoder().decode(plain);
  }

  function showError(message) {
    errorEl.textContent = message;
    errorEl.hidden = false;
  }

  function wipe(reason) {
    if (timer) { clearInterval(timer); timer = null; }
    valueEl.textContent = "";
    box.hidden = true;
    remaining = 0;
    if (copied && navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText("").catch(function () {});
      copied = false;
    }
    statusEl.textContent = reason || "The security code is hidden.";
    form.hidden = false;
    codeInput.value = "";
  }

  function tick() {
    remaining -= 1;
    shownFor += 1;
    countdownEl.textContent = String(Math.max(remaining, 0));
    progressEl.value = Math.max(0, Math.round((remaining / displaySeconds) * 100));
    if (remaining === 10) statusEl.textContent = "10 seconds left.";
    if (remaining <= 0) wipe("Time is up: the security code is hidden.");
  }

  function show(cvv, seconds) {
    errorEl.hidden = true;
    form.hidden = true;
    valueEl.textContent = cvv;
    remaining = seconds;
    shownFor = 0;
    countdownEl.textContent = String(remaining);
    progressEl.value = 100;
    box.hidden = false;
    statusEl.textContent = "Security code shown for " + seconds + " seconds.";
    hideButton.focus();
    timer = setInterval(tick, 1000);
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    errorEl.hidden = true;
    const code = codeInput.value.replace(/[\s-]/g, "");
    if (!/^[0-9]{6}$/.test(code)) {
      showError("Enter the 6 digits shown in your authenticator app.");
      codeInput.focus();
      return;
    }
    button.disabled = true;
    statusEl.textContent = "Checking your code and asking your bank…";
    let keys = null;
    try {
      keys = await newKeyPair();
      const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
      const body = new FormData(form);
      body.set("otp_code", code);
      body.set("public_key", bytesToB64(spki));
      const response = await fetch(section.dataset.revealUrl, {
        method: "POST", body: body, credentials: "same-origin", cache: "no-store",
        headers: { "X-CSRFToken": form.querySelector("[name=csrfmiddlewaretoken]").value },
      });
      let data = null;
      try { data = await response.json(); } catch (e) { data = null; }
      if (!response.ok || !data) {
        const message = data && data.error ? data.error.message : "Something went wrong. Please try again.";
        statusEl.textContent = "";
        showError(message);
        codeInput.value = "";
        codeInput.focus();
        return;
      }
      const cvv = data.scheme.indexOf("jwe") === 0
        ? await openJwe(data.sealed, keys.privateKey)
        : await openProviderSealed(data.sealed, keys.privateKey);
      const seconds = parseInt(data.display_seconds, 10) || displaySeconds;
      data = null;
      show(cvv, seconds);
    } catch (e) {
      statusEl.textContent = "";
      showError("The security code could not be opened in this browser. Please try again.");
    } finally {
      keys = null;
      button.disabled = false;
    }
  });

  hideButton.addEventListener("click", function () { wipe("The security code is hidden."); });

  extendButton.addEventListener("click", function () {
    const allowed = maxSeconds - shownFor;
    const added = Math.min(displaySeconds, allowed - remaining);
    if (added <= 0) {
      statusEl.textContent = "This is the longest the code can be shown.";
      return;
    }
    remaining += added;
    countdownEl.textContent = String(remaining);
    statusEl.textContent = "Added " + added + " seconds.";
  });

  copyButton.addEventListener("click", function () {
    if (!navigator.clipboard || !navigator.clipboard.writeText) {
      statusEl.textContent = "Copying is not available in this browser.";
      return;
    }
    navigator.clipboard.writeText(valueEl.textContent).then(function () {
      copied = true;
      statusEl.textContent = "Copied. The clipboard is cleared when the time is up.";
    }, function () {
      statusEl.textContent = "Copying was not allowed by the browser.";
    });
  });

  document.addEventListener("visibilitychange", function () {
    if (document.hidden && !box.hidden) wipe("Hidden because you left the page.");
  });
  window.addEventListener("pagehide", function () { if (!box.hidden) wipe(""); });
})();
