// Starts Swagger UI on the API docs page; a file, not inline, so the strict CSP holds.
"use strict";
(function () {
  const root = document.getElementById("swagger-ui");
  const csrfHeader = root.dataset.csrfHeader;
  const csrfToken = root.dataset.csrfToken;
  window.SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    domNode: root,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    // Tokens typed into "Authorize" stay in memory only, never in localStorage.
    persistAuthorization: false,
    // Browser sessions need the CSRF token on unsafe methods; tokens do not, and it does no harm.
    requestInterceptor: function (request) {
      if (request.method && request.method !== "GET" && request.method !== "HEAD") {
        request.headers[csrfHeader] = csrfToken;
      }
      return request;
    },
  });
})();
