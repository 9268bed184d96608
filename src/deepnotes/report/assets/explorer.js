/* What the book's interactive figures share: making elements, and building a figure inside
   every <div class="explorer" data-explorer=KIND> of the page once it is parsed (once each,
   should a script be included twice). Loaded before the figures' scripts. */
(() => {
  "use strict";

  /** A new <tag> with its attributes ("text" sets its text), appended to `parent` if given. */
  function element(tag, attributes = {}, parent = null) {
    const made = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "text") made.textContent = value;
      else made.setAttribute(name, value);
    }
    if (parent) parent.appendChild(made);
    return made;
  }

  /** Call `build(container)` for each container of figure `kind` on the page. */
  function mountEach(kind, build) {
    const mountAll = () => {
      for (const container of document.querySelectorAll(`.explorer[data-explorer="${kind}"]`)) {
        if (container.dataset.mounted) continue;
        container.dataset.mounted = "true";
        build(container);
      }
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mountAll);
    else mountAll();
  }

  window.deepnotes = window.deepnotes || {};
  window.deepnotes.explorer = { element, mountEach };
})();
