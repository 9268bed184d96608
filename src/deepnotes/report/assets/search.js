/* The book's search box: every topic, experiment, claim, model, function and fault, found
   offline in window.DEEPNOTES_SEARCH (assets/search-index.js, the same entries as
   search-index.json). An entry matches when every word typed appears in its kind, title or
   text; titles that match come first. */
(() => {
  "use strict";
  const LIMIT = 15;

  function search(query, entries) {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    if (!words.length) return [];
    const scored = [];
    for (const entry of entries) {
      const title = entry.title.toLowerCase();
      const haystack = `${entry.kind} ${title} ${entry.text.toLowerCase()}`;
      if (words.every((word) => haystack.includes(word))) {
        scored.push([words.filter((word) => title.includes(word)).length, entry]);
      }
    }
    scored.sort((a, b) => b[0] - a[0]);
    return scored.slice(0, LIMIT).map(([, entry]) => entry);
  }

  function show(found, list) {
    list.replaceChildren(...found.map((entry) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = entry.url;
      link.textContent = entry.title;
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = ` ${entry.kind}`;
      item.append(link, kind);
      if (entry.text && entry.kind !== "function") {
        const text = document.createElement("div");
        text.className = "kind";
        text.textContent = entry.text.length > 90 ? entry.text.slice(0, 90) + "…" : entry.text;
        item.append(text);
      }
      return item;
    }));
  }

  window.deepnotes = window.deepnotes || {};
  window.deepnotes.search = (query) => search(query, window.DEEPNOTES_SEARCH || []);

  const input = document.getElementById("search");
  const list = document.getElementById("search-results");
  if (input && list) {
    input.addEventListener("input", () => show(window.deepnotes.search(input.value), list));
  }
})();
