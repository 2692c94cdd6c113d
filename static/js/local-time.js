// Shows every <time data-local-time> in this device's time zone and language. The page is
// written in UTC, so it still reads right without script; the UTC text stays as the tooltip.
"use strict";

(function () {
  if (!window.Intl || !Intl.DateTimeFormat) return;
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  for (const element of document.querySelectorAll("time[data-local-time]")) {
    const when = new Date(element.getAttribute("datetime"));
    if (isNaN(when.getTime())) continue;
    element.title = element.textContent;
    element.textContent = format.format(when);
  }
  // A sentence that says "UTC" while the times are UTC says which zone they are in now.
  for (const element of document.querySelectorAll("[data-local-note]")) {
    if (document.querySelector("time[data-local-time][title]")) {
      element.textContent = element.dataset.localNote.replace("{zone}", zone);
    }
  }
})();
