// A searchable list of colleagues (employees.search), for starting a direct
// conversation (pick one) or a group and invitations (pick several).

import { avatar, h, icon } from "./dom.js";

let seq = 0;

/**
 * createPicker({store, multiple, exclude: Set<user id>, onChange, label})
 * → {el, selected(): [{id, username, name}], focus(), clear()}
 */
export function createPicker({ store, multiple, exclude = new Set(), onChange = () => {},
  label = null }) {
  const id = `picker-${++seq}`;
  const selected = new Map(); // id → employee
  let timer = null;
  let generation = 0;

  const input = h("input", {
    id: `${id}-q`, type: "search", class: "input", autocomplete: "off", spellcheck: "false",
    placeholder: "Name, title or department", "aria-controls": `${id}-results`,
    "aria-describedby": `${id}-status`,
  });
  const chips = h("ul", { class: "chips", "aria-label": "Selected colleagues" });
  const results = h("ul", { id: `${id}-results`, class: "people", role: "list" });
  const status = h("p", { id: `${id}-status`, class: "picker-status muted", "aria-live": "polite" });
  const el = h("div", { class: "picker" },
    h("label", { for: input.id, class: "field-label" },
      label || (multiple ? "Add colleagues" : "Find a colleague")),
    h("div", { class: "search-box" }, icon("search", 16), input),
    chips, status, results);

  function renderChips() {
    chips.replaceChildren(...[...selected.values()].map((e) => h("li", null,
      h("button", {
        type: "button", class: "chip", "aria-label": `Remove ${e.name || e.username}`,
        onclick: () => {
          selected.delete(e.id);
          sync();
        },
      }, avatar(e, "avatar-xs"), e.name || e.username, icon("close", 14)))));
    chips.hidden = selected.size === 0;
  }

  function sync() {
    renderChips();
    for (const box of results.querySelectorAll("input")) {
      box.checked = selected.has(Number(box.value));
    }
    onChange([...selected.values()]);
  }

  function renderResults(list) {
    const me = store.me ? store.me.id : null;
    const people = list.filter((e) => e.id !== me && !exclude.has(e.id));
    results.replaceChildren(...people.map((e) => {
      const box = h("input", {
        type: multiple ? "checkbox" : "radio", name: `${id}-pick`, value: e.id,
        class: "person-check", dataset: { username: e.username },
      });
      box.checked = selected.has(e.id);
      box.addEventListener("change", () => {
        if (!multiple) selected.clear();
        if (box.checked) selected.set(e.id, e);
        else selected.delete(e.id);
        sync();
      });
      const detail = [e.title, e.department].filter(Boolean).join(" · ") || `@${e.username}`;
      return h("li", null, h("label", { class: "person" }, box,
        h("span", { class: "avatar-wrap" }, avatar(e, "avatar-sm"),
          store.presence.has(e.id) ? dot(store.statusOf(e.id)) : null),
        h("span", { class: "person-text" },
          h("span", { class: "person-name" }, e.name || e.username),
          h("span", { class: "person-detail" }, detail))));
    }));
    status.textContent = people.length ? "" : "No colleagues match.";
  }

  async function run() {
    const mine = ++generation;
    status.textContent = "Searching…";
    try {
      const list = await store.search(input.value.trim());
      if (mine !== generation) return;
      await store.queryPresence(list.map((e) => e.id)); // dots that are true, not grey guesses
      if (mine !== generation) return;
      renderResults(list);
    } catch (err) {
      if (mine === generation) status.textContent = `Search failed: ${err.message}`;
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(run, 180);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") {
      const first = results.querySelector("input");
      if (first) {
        e.preventDefault();
        first.focus();
      }
    }
  });
  renderChips();
  run();

  return {
    el,
    selected: () => [...selected.values()],
    focus: () => input.focus(),
  };
}

export function dot(status) {
  return h("span", { class: `dot dot-${status}`, "aria-hidden": "true" });
}
