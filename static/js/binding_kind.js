// The provider binding add form (admin): choosing a provider reloads the form at ?kind=<kind>,
// which shows that provider's credential and option fields with their usual values. The name
// and a typed base URL go along; secrets are never put in the address (none are typed yet: the
// provider's fields are not on the page until a provider is chosen).
"use strict";

function watchProviderChoice() {
  const select = document.getElementById("id_kind");
  if (!select || select.tagName !== "SELECT") {
    return; // the change form shows the provider as text: it cannot change
  }
  select.addEventListener("change", function () {
    const params = new URLSearchParams(window.location.search);
    if (select.value) {
      params.set("kind", select.value);
    } else {
      params.delete("kind");
    }
    const name = document.getElementById("id_name");
    if (name && name.value) {
      params.set("name", name.value);
    }
    // The base URL goes along only when typed: each provider has its own usual one.
    const baseUrl = document.getElementById("id_base_url");
    if (baseUrl && baseUrl.value && baseUrl.value !== baseUrl.defaultValue) {
      params.set("base_url", baseUrl.value);
    }
    window.location.assign(window.location.pathname + "?" + params.toString());
  });
}

// The admin loads form scripts in the page's head, before the form exists.
if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", watchProviderChoice);
} else {
  watchProviderChoice();
}
