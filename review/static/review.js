// Every page: the shortcut overlay (? opens it, Esc closes it). No inline script anywhere (CSP).
"use strict";
(() => {
  const help = document.getElementById("help");
  if (!help) return;
  const toggle = (show) => { help.hidden = show === undefined ? !help.hidden : !show; };
  document.querySelectorAll("[data-help]").forEach((b) => b.addEventListener("click", () => toggle()));
  help.addEventListener("click", (e) => { if (e.target === help) toggle(false); });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { toggle(false); return; }
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName);
    if (e.key === "?" && !typing) { e.preventDefault(); toggle(); }
  });
})();
