// luxit arena page: two blind answers, a vote per aspect, keyboard first. Plain JS, no build step.
// The answers arrive as HTML rendered on the server from Markdown with raw HTML off.
// Keys pressed while a vote, skip or undo is on its way are queued and replayed on the battle
// that comes next, so nothing typed is lost.
(function () {
  "use strict";
  const voter = document.getElementById("app").dataset.voter;
  const $ = (id) => document.getElementById(id);
  const buttons = Array.from(document.querySelectorAll("button.choice"));
  const aspects = Array.from(document.querySelectorAll(".votes")).map((e) => e.dataset.aspect);
  const keymap = {};
  buttons.forEach((b) => { keymap[b.dataset.key] = [b.dataset.aspect, b.dataset.choice]; });
  let battle = null;
  let choices = {};
  let busy = false;
  const queued = [];

  function message(text, ok) { const m = $("message"); m.textContent = text || ""; m.className = ok ? "message ok" : "message"; }
  function paint() { buttons.forEach((b) => b.classList.toggle("on", choices[b.dataset.aspect] === b.dataset.choice)); }
  function progress(p) { $("progress").textContent = p.voted + " / " + p.battles + " voted"; }

  async function api(path, options) {
    const r = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
    let body = null;
    try { body = await r.json(); } catch (e) { body = { error: "HTTP " + r.status }; }
    if (!r.ok) { throw new Error(body && body.error ? body.error : "HTTP " + r.status); }
    return body;
  }
  function post(path, body) {
    return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }

  async function next(preset) {
    const data = await api("/api/next?" + new URLSearchParams({ voter: voter }).toString());
    progress(data.progress);
    battle = data.battle;
    choices = {};
    $("comment").value = "";
    if (preset) {
      aspects.forEach((a) => { if (preset[a]) { choices[a] = preset[a]; } });
      $("comment").value = preset.comment || "";
    }
    paint();
    if (!battle) {
      $("prompt").textContent = "You have voted on every pair. Thank you!";
      $("answer-a").textContent = "";
      $("answer-b").textContent = "";
      return;
    }
    $("prompt").innerHTML = battle.prompt_html;
    $("answer-a").innerHTML = battle.a.html;
    $("answer-b").innerHTML = battle.b.html;
  }

  // Run an action that talks to the server; keys typed meanwhile wait in `queued`.
  async function act(fn, done) {
    if (busy) { return; }
    busy = true;
    try {
      await fn();
      message(done, true);
    } catch (e) {
      message(e.message);
    } finally {
      busy = false;
    }
    while (!busy && queued.length) { handle(queued.shift()); }
  }

  function submit() {
    if (!battle) { return; }
    const missing = aspects.filter((a) => !choices[a]);
    if (missing.length) { message("Vote on every aspect first (missing: " + missing.join(", ") + ")."); return; }
    const body = Object.assign({ voter: voter, answer_a: battle.a.answer_id, answer_b: battle.b.answer_id,
                                 comment: $("comment").value || null }, choices);
    act(async () => {
      try { await post("/api/vote", body); } catch (e) { throw new Error("Not saved: " + e.message); }
      await next();
    }, "Vote saved; this is the next pair.");
  }

  function skip() {
    if (!battle) { return; }
    act(async () => {
      await post("/api/skip", { voter: voter, answer_a: battle.a.answer_id, answer_b: battle.b.answer_id });
      await next();
    }, "Skipped; that pair comes back after the others.");
  }

  function undo() {
    act(async () => {
      const r = await post("/api/undo", { voter: voter });
      await next(Object.assign({}, r.undone));
    }, "Last vote taken back: here it is again.");
  }

  function choose(aspect, choice) { choices[aspect] = choice; paint(); message(""); }

  function handle(k) {
    if (busy) { queued.push(k); return; }
    if (keymap[k]) { choose(keymap[k][0], keymap[k][1]); }
    else if (k === "Enter") { submit(); }
    else if (k === "k") { skip(); }
    else if (k === "u") { undo(); }
  }

  buttons.forEach((b) => b.addEventListener("click", () => { if (!busy) { choose(b.dataset.aspect, b.dataset.choice); } }));
  $("submit").addEventListener("click", () => handle("Enter"));
  $("skip").addEventListener("click", () => handle("k"));
  $("undo").addEventListener("click", () => handle("u"));
  document.addEventListener("keydown", (ev) => {
    if (ev.altKey || ev.metaKey) { return; }
    const typing = ev.target && (ev.target.tagName === "TEXTAREA" || ev.target.tagName === "INPUT");
    if (typing) {
      if (ev.key === "Escape") { ev.target.blur(); ev.preventDefault(); }
      else if (ev.key === "Enter" && ev.ctrlKey) { ev.preventDefault(); ev.target.blur(); handle("Enter"); }
      return;
    }
    if (ev.ctrlKey) { return; }
    const k = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    if (k === "m") { ev.preventDefault(); $("comment").focus(); return; }
    if (keymap[k] || k === "Enter" || k === "k" || k === "u") { ev.preventDefault(); handle(k); }
  });
  busy = true;
  next().catch((e) => message(e.message)).finally(() => {
    busy = false;
    while (!busy && queued.length) { handle(queued.shift()); }
  });
})();
