// luxit review page: one pair at a time, keyboard first. Plain JS, no build step.
(function () {
  "use strict";
  const app = document.getElementById("app");
  const reviewer = app.dataset.reviewer;
  const n = Number(app.dataset.n);
  const $ = (id) => document.getElementById(id);
  const buttons = Array.from(document.querySelectorAll("button.level"));
  const criteria = Array.from(document.querySelectorAll(".criterion")).map((e) => e.dataset.criterion);
  const keymap = {};
  buttons.forEach((b) => { keymap[b.dataset.key] = [b.dataset.criterion, Number(b.dataset.score)]; });

  let index = 0;  // the pair shown
  let want = 0;  // the pair asked for (keys may run ahead of the network)
  let seq = 0;  // only the latest load paints
  let item = null;
  let scores = {};
  let showingJudge = false;
  let busy = false;

  function q(params) { return "?" + new URLSearchParams(params).toString(); }

  function message(text, ok) {
    const m = $("message");
    m.textContent = text || "";
    m.className = ok ? "message ok" : "message";
  }

  function progress(state) { $("progress").textContent = state.done + " / " + state.n; }

  function paint() {
    buttons.forEach((b) => b.classList.toggle("on", scores[b.dataset.criterion] === Number(b.dataset.score)));
  }

  async function api(path, options) {
    const r = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
    let body = null;
    try { body = await r.json(); } catch (e) { body = { error: "HTTP " + r.status }; }
    if (!r.ok) { throw new Error(body && body.error ? body.error : "HTTP " + r.status); }
    return body;
  }

  async function load(i) {
    if (i < 0 || i >= n) { return; }
    want = i;
    const mine = ++seq;
    const data = await api("/api/item/" + i + q({ reviewer: reviewer }));
    if (mine !== seq) { return; }
    item = data;
    index = i;
    showingJudge = false;
    $("rid").textContent = item.review_id;
    $("stype").textContent = item.source + " (" + item.source_type + ")";
    $("pos").textContent = String(i + 1);
    $("instruction").textContent = item.instruction;
    $("response").textContent = item.response;
    $("src-title").textContent = item.title || "(no title)";
    $("src-date").textContent = item.date || "";
    const link = $("src-link");
    if (item.url && /^https?:\/\//.test(item.url)) { link.href = item.url; link.hidden = false; } else { link.hidden = true; }
    $("source-text").textContent = item.source_text || "(source text not available)";
    scores = {};
    if (item.saved) { criteria.forEach((c) => { scores[c] = item.saved[c]; }); }
    $("comment").value = item.saved && item.saved.comment ? item.saved.comment : "";
    $("saved-flag").hidden = !item.saved;
    renderJudge();
    paint();
    message("");
  }

  function renderJudge() {
    const box = $("judge");
    if (!item || !item.judge) { box.hidden = true; box.textContent = ""; return; }
    box.hidden = false;
    box.textContent = "Judge: " + criteria.map((c) => c + " " + item.judge.scores[c]).join(" · ") +
      (item.judge.keep ? " (kept)" : " (rejected)");
  }

  async function save() {
    if (busy) { return; }
    if (showingJudge) { showingJudge = false; return go(index + 1); }
    if (!item || want !== index) { return; }
    const missing = criteria.filter((c) => !scores[c]);
    if (missing.length) { message("Score every criterion first (missing: " + missing.join(", ") + ")."); return; }
    busy = true;
    try {
      const body = Object.assign({ reviewer: reviewer, review_id: item.review_id, comment: $("comment").value }, scores);
      const state = await api("/api/answer", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      progress(state);
      if (state.show_judge) {
        await load(index);
        showingJudge = true;
        message("Saved. The judge's scores are below; Enter for the next pair.", true);
      } else if (index + 1 < n) {
        await load(index + 1);
        message("Saved.", true);
      } else {
        $("saved-flag").hidden = false;
        message(state.done === n ? "Saved. All " + n + " pairs are scored, thank you!" : "Saved. This was the last pair.", true);
      }
    } catch (e) {
      message("Not saved: " + e.message);
    } finally {
      busy = false;
    }
  }

  async function go(i) {
    if (i < 0) { message("This is the first pair."); return; }
    if (i >= n) { message("This is the last pair."); return; }
    try { await load(i); } catch (e) { message(e.message); }
  }

  function setScore(c, s) { scores[c] = s; showingJudge = false; paint(); }

  buttons.forEach((b) => b.addEventListener("click", () => setScore(b.dataset.criterion, Number(b.dataset.score))));
  $("save").addEventListener("click", save);
  $("next").addEventListener("click", () => go(want + 1));
  $("prev").addEventListener("click", () => go(want - 1));

  document.addEventListener("keydown", (ev) => {
    if (ev.altKey || ev.metaKey) { return; }
    const typing = ev.target && (ev.target.tagName === "TEXTAREA" || ev.target.tagName === "INPUT");
    if (typing) {
      if (ev.key === "Escape") { ev.target.blur(); ev.preventDefault(); }
      else if (ev.key === "Enter" && ev.ctrlKey) { ev.preventDefault(); ev.target.blur(); save(); }
      return;
    }
    if (ev.ctrlKey) { return; }
    const k = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    if (keymap[k]) { setScore(keymap[k][0], keymap[k][1]); ev.preventDefault(); return; }
    if (k === "Enter") { ev.preventDefault(); save(); }
    else if (k === "ArrowRight" || k === "n") { ev.preventDefault(); go(want + 1); }
    else if (k === "ArrowLeft" || k === "p") { ev.preventDefault(); go(want - 1); }
    else if (k === "t") { const d = $("source"); d.open = !d.open; }
    else if (k === "m") { ev.preventDefault(); $("comment").focus(); }
  });

  api("/api/state" + q({ reviewer: reviewer })).then((state) => {
    progress(state);
    if (state.earlier) {
      const e = $("earlier");
      e.textContent = state.earlier + " earlier answer(s) of yours belong to pairs that are no longer in this sample; " +
        "they are kept apart (earlier-" + reviewer + ".jsonl) and count nowhere here.";
      e.hidden = false;
    }
    return load(Math.min(state.position, n - 1)).then(() => {
      if (state.position >= n) { message("All " + n + " pairs are scored; you can go back and change any.", true); }
    });
  }).catch((e) => message(e.message));
})();
