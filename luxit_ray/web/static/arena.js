// luxit arena page: two blind answers, a vote per aspect, keyboard first. Plain JS, no build step.
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

  async function next() {
    const data = await api("/api/next?" + new URLSearchParams({ voter: voter }).toString());
    progress(data.progress);
    battle = data.battle;
    choices = {};
    paint();
    if (!battle) {
      $("prompt").textContent = "You have voted on every pair. Thank you!";
      $("answer-a").textContent = "";
      $("answer-b").textContent = "";
      return;
    }
    $("prompt").textContent = battle.prompt;
    $("answer-a").textContent = battle.a.text;
    $("answer-b").textContent = battle.b.text;
  }

  async function submit() {
    if (busy || !battle) { return; }
    const missing = aspects.filter((a) => !choices[a]);
    if (missing.length) { message("Vote on every aspect first (missing: " + missing.join(", ") + ")."); return; }
    busy = true;
    try {
      const body = Object.assign({ voter: voter, answer_a: battle.a.answer_id, answer_b: battle.b.answer_id }, choices);
      await api("/api/vote", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      await next();
      message("Vote saved.", true);
    } catch (e) {
      message("Not saved: " + e.message);
    } finally {
      busy = false;
    }
  }

  buttons.forEach((b) => b.addEventListener("click", () => { choices[b.dataset.aspect] = b.dataset.choice; paint(); }));
  $("submit").addEventListener("click", submit);
  document.addEventListener("keydown", (ev) => {
    if (ev.altKey || ev.metaKey || ev.ctrlKey) { return; }
    const k = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    if (keymap[k]) { choices[keymap[k][0]] = keymap[k][1]; paint(); ev.preventDefault(); }
    else if (k === "Enter") { ev.preventDefault(); submit(); }
  });
  next().catch((e) => message(e.message));
})();
