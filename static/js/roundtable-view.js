// Round tables on the page: the sidebar's list, the "New round table" dialog, and the
// round table in the main pane (the audience's view, with the hosts' and
// moderators' controls when I am one). State and events live in roundtables.js.

import {
  avatar, formatDay, formatFull, formatShort, formatTime, h, icon, reconcile, richText,
} from "./dom.js";
import { createPicker } from "./picker.js";

const $ = (id) => document.getElementById(id);
const MAX_QUESTION = 1000; // ROUNDTABLE_MAX_QUESTION_CHARS
const STATE_LABEL = { scheduled: "Scheduled", live: "Live", ended: "Ended" };

/**
 * roundtableView({store, rts, openRoom, closeRoomView, toast})
 * → {render, open(id), leave()}: app.js calls render() on every redraw, open() from
 * a notification, and leave() when a room is opened instead.
 */
export function roundtableView({ store, rts, openRoom, closeRoomView, toast }) {
  const drafts = new Map(); // round table id → {text, anonymous, body, clientId}
  let renderedId = null;
  let act = null; // the action dialog's {run, required, select}
  let hostPicker = null;
  let modPicker = null;

  const name = (u) => (u ? u.name || u.username : "Someone");
  const names = (people) => {
    const n = people.map(name);
    return n.length <= 2 ? n.join(" and ") : `${n.slice(0, -1).join(", ")} and ${n[n.length - 1]}`;
  };
  const when = (ts) => `${formatDay(ts)}, ${formatTime(ts)}`;
  const fail = (what) => (err) => toast(`Could not ${what}: ${err.message}`, "error");

  // --- the sidebar ---------------------------------------------------------------

  function renderList() {
    const items = rts.sorted().map((rt) => ({
      key: rt.id, rt,
      version: `${rt.state}|${rt.title}|${rt.starts_at}|${rts.currentId === rt.id}`,
    }));
    $("rt-section").hidden = !rts.mayCreate && items.length === 0;
    $("rooms-heading").hidden = $("rt-section").hidden;
    $("btn-rt-new").hidden = !rts.mayCreate;
    $("rt-empty").hidden = items.length > 0 || !rts.listLoaded;
    reconcile($("rt-list"), items, (item) => {
      const button = h("button", { type: "button", class: "rt-item", dataset: { roundtable: item.rt.id },
        onclick: () => open(item.rt.id) });
      const li = h("li", null, button);
      fillItem(li, item);
      return li;
    }, fillItem);
  }

  function fillItem(li, { rt }) {
    const button = li.firstChild;
    const current = rts.currentId === rt.id;
    button.classList.toggle("is-current", current);
    button.classList.toggle("is-live", rt.state === "live");
    if (current) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
    const detail = rt.state === "live" ? `Live now · ${names(rt.hosts)}`
      : rt.state === "scheduled" ? `Starts ${when(rt.starts_at)}`
        : `Ended ${formatShort(rt.ended_at || rt.starts_at)}`;
    button.replaceChildren(
      h("span", { class: "avatar room-glyph", "aria-hidden": "true" }, icon("mic", 18)),
      h("span", { class: "room-text" },
        h("span", { class: "room-line" }, h("span", { class: "room-name" }, rt.title),
          rt.state === "live" ? h("span", { class: "rt-live" }, "Live") : null),
        h("span", { class: "room-line" }, h("span", { class: "room-preview" }, detail))));
  }

  // --- opening ---------------------------------------------------------------------

  function open(id) {
    if (rts.currentId !== id) closeRoomView();
    document.body.classList.add("in-room");
    rts.open(id);
  }

  function leave() {
    saveDraft();
    rts.currentId = null;
  }

  function saveDraft() {
    if (renderedId === null) return;
    const draft = drafts.get(renderedId) || {};
    draft.text = $("rt-ask-input").value;
    draft.anonymous = $("rt-ask-anon").checked;
    drafts.set(renderedId, draft);
  }

  $("btn-rt-back").addEventListener("click", () => {
    const id = rts.currentId;
    leave();
    document.body.classList.remove("in-room");
    rts.close();
    const item = document.querySelector(`.rt-item[data-roundtable="${id}"]`);
    if (item) item.focus();
  });

  // --- the round table -----------------------------------------------------------

  function render() {
    renderList();
    const view = rts.current;
    $("rt-view").hidden = !view;
    if (!view) {
      renderedId = null;
      return;
    }
    $("no-room").hidden = true;
    if (renderedId !== view.id) {
      saveDraft();
      renderedId = view.id;
      const draft = drafts.get(view.id) || {};
      $("rt-ask-input").value = draft.text || "";
      $("rt-ask-anon").checked = Boolean(draft.anonymous);
      for (const id of ["rt-now-list", "rt-queue", "rt-mine", "rt-open", "rt-answered"]) {
        $(id)._keyed = null;
        $(id).replaceChildren();
      }
    }
    const rt = view.rt;
    if (!rt) {
      $("rt-title").textContent = "Loading round table…";
      $("rt-sub").replaceChildren();
      $("rt-body").hidden = true;
      return;
    }
    $("rt-body").hidden = false;
    const roles = rts.rolesOf(view);
    const ended = rt.state === "ended";
    renderHead(view, rt, roles);
    $("rt-description").textContent = rt.description;
    $("rt-description").hidden = !rt.description;

    const pinned = rts.pinnedQuestion(view);
    const ctx = { view, roles, ended, pinned };
    $("rt-now").hidden = !pinned;
    fillQuestions("rt-now-list", pinned ? [pinned] : [], ctx);

    const queue = roles.staff ? rts.pending(view) : [];
    $("rt-queue-section").hidden = !roles.staff;
    $("rt-queue-title").textContent = `Waiting for approval · ${queue.length}`;
    $("rt-queue-empty").hidden = queue.length > 0;
    fillQuestions("rt-queue", queue, ctx);

    const mine = rts.mineHidden(view);
    $("rt-mine-section").hidden = mine.length === 0;
    fillQuestions("rt-mine", mine, ctx);

    const listed = rts.ranked(view, ["approved"]).filter((q) => q !== pinned);
    $("rt-open-title").textContent = `Questions · ${listed.length}`;
    $("rt-open-empty").hidden = listed.length > 0;
    $("rt-open-empty").textContent = ended ? "No open questions." : pinned
      ? "No other questions yet." : "No questions yet. Ask the first one.";
    fillQuestions("rt-open", listed, ctx);

    const answered = rts.ranked(view, ["answered"]);
    $("rt-answered-section").hidden = answered.length === 0;
    $("rt-answered-title").textContent = `Answered · ${answered.length}`;
    fillQuestions("rt-answered", answered, ctx);

    $("rt-ask").hidden = ended;
    $("rt-closed").hidden = !ended;
    renderAsk();
  }

  function renderHead(view, rt, roles) {
    $("rt-title").textContent = rt.title;
    $("rt-title").tabIndex = -1;
    const timing = rt.state === "live" ? `Started ${formatTime(rt.started_at || Date.now())}`
      : rt.state === "scheduled" ? `Starts ${when(rt.starts_at)}`
        : `Ended ${when(rt.ended_at || rt.starts_at)}`;
    $("rt-sub").replaceChildren(...[
      h("span", { id: "rt-state", class: `rt-state rt-state-${rt.state}` }, STATE_LABEL[rt.state] || rt.state),
      ` ${timing} · Hosted by ${names(rt.hosts)}`,
      roles.staff ? h("span", { class: "rt-role" }, roles.host ? " · You host" : " · You moderate") : null,
    ].filter(Boolean));
    const url = safeUrl(rt.stream_url);
    const link = $("rt-stream");
    link.hidden = !url;
    if (url) link.href = url;
    else link.removeAttribute("href");
    $("btn-rt-chat").hidden = rt.chat_room === null;
    $("btn-rt-start").hidden = !(roles.staff && rt.state === "scheduled");
    $("btn-rt-end").hidden = !(roles.staff && rt.state === "live");
  }

  function fillQuestions(id, questions, ctx) {
    const items = questions.map((q) => ({
      key: q.id, q, ctx,
      version: [q.version, q.votes, q.voted, q.state, q.mine, ctx.pinned === q,
        ctx.ended, ctx.roles.staff, q.reason].join("|"),
    }));
    reconcile($(id), items, (item) => {
      const li = h("li");
      fillQuestion(li, item);
      return li;
    }, fillQuestion);
  }

  function fillQuestion(li, { q, ctx }) {
    const { view, roles, ended, pinned } = ctx;
    const isPinned = pinned === q;
    li.className = ["rt-q", `is-${q.state}`, q.mine ? "is-mine" : "", isPinned ? "is-pinned" : ""]
      .filter(Boolean).join(" ");
    li.dataset.question = q.id;
    const who = q.author ? name(q.author) : "Anonymous";
    const active = !ended;
    const actions = [];
    const button = (label, onclick, cls = "btn btn-ghost btn-compact") => h("button",
      { type: "button", class: cls, onclick }, label);
    if (active && q.mine && ["pending", "approved"].includes(q.state)) {
      actions.push(button("Edit", () => editQuestion(view, q)),
        button("Withdraw", () => withdrawQuestion(view, q)));
    }
    if (active && roles.staff && q.state === "pending") {
      actions.push(button("Approve", () => rts.moderate(q, "approve").catch(fail("approve")),
        "btn btn-primary btn-compact"),
      button("Reject…", () => rejectQuestion(q)),
      button("Merge into…", () => mergeQuestion(view, q)));
    }
    if (active && roles.staff && q.state === "approved") {
      actions.push(isPinned
        ? button("Unpin", () => rts.pin(view, null).catch(fail("unpin")))
        : button("Pin", () => rts.pin(view, q).catch(fail("pin"))),
      button("Mark answered…", () => answerQuestion(q)),
      button("Merge into…", () => mergeQuestion(view, q)));
    }
    const votable = q.state === "approved" && active;
    const vote = ["approved", "answered"].includes(q.state) ? h("button", {
      type: "button", class: q.voted ? "rt-vote is-on" : "rt-vote", "aria-pressed": String(Boolean(q.voted)),
      "aria-label": `${q.voted ? "Take back your vote" : "Vote for this question"}, ${q.votes}`
        + ` vote${q.votes === 1 ? "" : "s"}`,
      title: votable ? (q.voted ? "You voted; click to take it back" : "Vote for this question") : "",
      disabled: !votable,
      onclick: () => rts.vote(view, q).catch(fail("vote")),
    }, icon("up", 18), h("span", { class: "count" }, String(q.votes))) : null;
    li.replaceChildren(...[
      vote,
      h("div", { class: "rt-q-main" },
        h("div", { class: "msg-meta" },
          h("span", { class: "author" }, who, q.mine ? h("span", { class: "you" }, " (you)") : null),
          h("time", { datetime: new Date(q.asked_at).toISOString(), title: formatFull(q.asked_at) },
            formatShort(q.asked_at)),
          stateTag(q)),
        h("p", { class: "msg-text rt-q-text" }, richText(q.body),
          q.edited_at ? h("span", { class: "edited", title: `Edited ${formatFull(q.edited_at)}` }, " (edited)")
            : null),
        q.state === "rejected" && q.reason ? h("p", { class: "rt-reason" }, `Reason: ${q.reason}`) : null,
        q.state === "answered" ? answerBlock(q) : null,
        actions.length ? h("div", { class: "rt-q-actions" }, ...actions) : null),
    ].filter(Boolean));
  }

  function stateTag(q) {
    const text = { pending: "Waiting for approval", rejected: "Not accepted",
      merged: "Merged into another question", answered: "Answered" }[q.state];
    return text ? h("span", { class: `rt-tag rt-tag-${q.state}` }, text) : null;
  }

  function answerBlock(q) {
    return h("div", { class: "rt-answer" },
      h("div", { class: "rt-answer-by" }, q.answered_by ? avatar(q.answered_by, "avatar-xs") : null,
        `Answered by ${name(q.answered_by)}`,
        q.answered_at ? h("time", { datetime: new Date(q.answered_at).toISOString() },
          ` · ${formatShort(q.answered_at)}`) : null),
      q.answer ? h("p", { class: "msg-text rt-answer-text" }, richText(q.answer)) : null);
  }

  // --- asking ------------------------------------------------------------------------

  function renderAsk() {
    const input = $("rt-ask-input");
    const n = input.value.length;
    $("rt-ask-counter").textContent = n > MAX_QUESTION * 0.9 ? `${n} / ${MAX_QUESTION}` : "";
    $("rt-ask-counter").classList.toggle("over", n > MAX_QUESTION);
    $("btn-rt-ask").disabled = !input.value.trim();
  }

  function autosize(input) {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  $("rt-ask-input").addEventListener("input", (e) => {
    autosize(e.target);
    renderAsk();
  });
  $("rt-ask-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("rt-ask").requestSubmit();
    }
  });
  $("rt-ask").addEventListener("submit", async (e) => {
    e.preventDefault();
    const view = rts.current;
    const input = $("rt-ask-input");
    const body = input.value.trim();
    if (!view || !body) return;
    const anonymous = $("rt-ask-anon").checked;
    const draft = drafts.get(view.id) || {};
    drafts.set(view.id, draft);
    $("btn-rt-ask").disabled = true;
    try {
      const q = await rts.ask(view, body, anonymous, draft);
      if (renderedId === view.id && input.value.trim() === body) {
        input.value = "";
        $("rt-ask-anon").checked = false;
        autosize(input);
      }
      draft.text = "";
      draft.anonymous = false;
      if (q.state === "pending") toast("Your question waits for a moderator's approval.");
    } catch (err) {
      fail("ask")(err); // the text stays, and a retry reuses its client_id
    } finally {
      renderAsk();
    }
  });

  // --- the header's buttons ---------------------------------------------------------------

  $("btn-rt-start").addEventListener("click", () => {
    const view = rts.current;
    if (view) rts.setState(view, "start").catch(fail("start the round table"));
  });
  $("btn-rt-end").addEventListener("click", () => {
    const view = rts.current;
    if (!view) return;
    actDialog({
      title: "End the round table?", note: "Questions and votes close for everyone. This cannot be undone.",
      submit: "End", danger: true, run: () => rts.setState(view, "end"),
    });
  });
  $("btn-rt-chat").addEventListener("click", async () => {
    const view = rts.current;
    if (!view || !view.rt || view.rt.chat_room === null) return;
    const room = view.rt.chat_room;
    if (!store.rooms.has(room)) {
      // Joining the side chat is part of opening the round table with chat: true.
      if (!(await rts.load(view.id, { chat: true }))) return;
      if (!store.rooms.has(room)) await store.refreshRooms();
    }
    if (store.rooms.has(room)) openRoom(room);
    else toast("Could not open the side chat.", "error");
  });

  // --- the action dialog (reject, merge, answer, edit, withdraw, end) -------------------------

  function actDialog({ title, preview = "", note = "", label = "", value = "", options = null,
    required = false, submit, danger = false, run }) {
    $("rt-act-title").textContent = title;
    $("rt-act-preview").textContent = preview;
    $("rt-act-preview").hidden = !preview;
    $("rt-act-note").textContent = note;
    $("rt-act-note").hidden = !note;
    const text = $("rt-act-text");
    const select = $("rt-act-select");
    $("rt-act-field").hidden = !label;
    $("rt-act-label").textContent = label;
    $("rt-act-label").htmlFor = options ? "rt-act-select" : "rt-act-text";
    text.hidden = Boolean(options);
    select.hidden = !options;
    text.value = value;
    select.replaceChildren(...(options || []).map((o) => h("option", { value: o.value }, o.label)));
    $("rt-act-submit").textContent = submit;
    $("rt-act-submit").className = danger ? "btn btn-danger" : "btn btn-primary";
    $("rt-act-error").textContent = "";
    act = { run, required, select: Boolean(options) };
    $("dlg-rt-act").showModal();
    if (!label) $("rt-act-submit").focus();
    else (options ? select : text).focus();
  }

  $("form-rt-act").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!act) return;
    const value = act.select ? $("rt-act-select").value : $("rt-act-text").value;
    if (act.required && !value.trim()) {
      $("rt-act-error").textContent = "This cannot be empty.";
      return;
    }
    const submit = $("rt-act-submit");
    submit.disabled = true;
    try {
      await act.run(value);
      act = null;
      $("dlg-rt-act").close();
    } catch (err) {
      $("rt-act-error").textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });
  $("dlg-rt-act").addEventListener("close", () => {
    act = null;
    $("rt-act-preview").textContent = "";
    $("rt-act-text").value = "";
  });

  function rejectQuestion(q) {
    actDialog({
      title: "Reject question?", preview: q.body, label: "Reason (only its author sees it)",
      submit: "Reject", danger: true,
      run: (reason) => rts.moderate(q, "reject", { reason: reason.trim() }),
    });
  }

  function mergeQuestion(view, q) {
    const targets = rts.ranked(view, ["approved", "pending"]).filter((t) => t.id !== q.id);
    if (!targets.length) {
      toast("There is no other open question to merge it into.", "error");
      return;
    }
    const cut = (s) => (s.length > 90 ? `${s.slice(0, 89)}…` : s);
    actDialog({
      title: "Merge question", preview: q.body, label: "Merge into",
      options: targets.map((t) => ({ value: t.id, label: cut(t.body) })),
      submit: "Merge", run: (into) => rts.moderate(q, "merge", { into: Number(into) }),
    });
  }

  function answerQuestion(q) {
    actDialog({
      title: "Mark answered", preview: q.body, label: "Written answer (optional)",
      submit: "Mark answered", run: (text) => rts.answer(q, text),
    });
  }

  function editQuestion(view, q) {
    actDialog({
      title: "Edit your question", label: "Question", value: q.body, required: true,
      submit: "Save", run: (body) => rts.edit(view, q, body.trim()),
    });
  }

  function withdrawQuestion(view, q) {
    actDialog({
      title: "Withdraw your question?", preview: q.body,
      note: "It is taken out of the round table for everyone.", submit: "Withdraw", danger: true,
      run: () => rts.withdraw(view, q),
    });
  }

  // --- the "New round table" dialog --------------------------------------------------

  function openNewDialog() {
    $("form-rt-new").reset();
    $("rt-new-error").textContent = "";
    const start = new Date(Date.now() + 3600000);
    start.setMinutes(0, 0, 0);
    $("rt-new-starts").value = localInput(start);
    hostPicker = createPicker({ store, multiple: true, label: "Other hosts", onChange: updateNew });
    modPicker = createPicker({ store, multiple: true, label: "Moderators", onChange: updateNew });
    $("rt-new-hosts").replaceChildren(hostPicker.el);
    $("rt-new-mods").replaceChildren(modPicker.el);
    const rooms = store.sortedRooms().filter((r) => r.kind === "group");
    $("rt-new-room").replaceChildren(...rooms.map((r) => h("option", { value: r.id }, store.displayName(r))));
    $("rt-new-aud-room").disabled = rooms.length === 0;
    setAudience();
    updateNew();
    $("dlg-rt-new").showModal();
    $("rt-new-title").focus();
  }

  function setAudience() {
    $("rt-new-room-field").hidden = !$("rt-new-aud-room").checked;
  }

  function updateNew() {
    const hosts = ($("rt-new-self").checked ? 1 : 0) + (hostPicker ? hostPicker.selected().length : 0);
    $("rt-new-submit").disabled = !$("rt-new-title").value.trim() || !$("rt-new-starts").value || !hosts;
  }

  for (const id of ["rt-new-title", "rt-new-starts", "rt-new-self"]) {
    $(id).addEventListener("input", updateNew);
  }
  for (const radio of document.querySelectorAll('input[name="rt-audience"]')) {
    radio.addEventListener("change", setAudience);
  }
  $("btn-rt-new").addEventListener("click", openNewDialog);
  $("dlg-rt-new").addEventListener("close", () => {
    // The pickers' lists of colleagues go with the dialog.
    $("rt-new-hosts").replaceChildren();
    $("rt-new-mods").replaceChildren();
    hostPicker = modPicker = null;
  });

  $("form-rt-new").addEventListener("submit", async (e) => {
    e.preventDefault();
    const submit = $("rt-new-submit");
    submit.disabled = true;
    $("rt-new-error").textContent = "";
    const hosts = [...($("rt-new-self").checked && store.me ? [store.me.username] : []),
      ...hostPicker.selected().map((u) => u.username)];
    const room = $("rt-new-aud-room").checked;
    const fields = {
      title: $("rt-new-title").value.trim(),
      description: $("rt-new-description").value.trim(),
      starts_at: new Date($("rt-new-starts").value).getTime(),
      hosts,
      moderators: modPicker.selected().map((u) => u.username).filter((u) => !hosts.includes(u)),
      audience: room ? { kind: "room", room: Number($("rt-new-room").value) } : { kind: "everyone" },
      premoderation: $("rt-new-premod").checked,
      stream_url: $("rt-new-stream").value.trim(),
    };
    try {
      const rt = await rts.create(fields);
      $("dlg-rt-new").close();
      open(rt.id);
    } catch (err) {
      $("rt-new-error").textContent = err.message;
    } finally {
      updateNew();
    }
  });

  return { render, open, leave };
}

/** Only http(s) links are drawn (a stream URL is whatever its creator typed). */
function safeUrl(value) {
  if (!value) return null;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** A Date as a datetime-local input's value (local time, to the minute). */
function localInput(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
