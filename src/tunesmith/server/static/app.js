// tunesmith page: submit a prompt, poll the job, show piano roll, audio, MIDI and attributes.
// Vanilla JS, no external requests: everything comes from this server's /api.
"use strict";

const $ = (id) => document.getElementById(id);
const POLL_MS = 400;
const state = { busy: false, results: [] };

function el(tag, props = {}, children = []) {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

function fillSelect(select, values) {
  for (const v of values) select.append(el("option", { value: v, textContent: v }));
}

async function loadOptions() {
  const res = await fetch("/api/options");
  if (!res.ok) return;
  const opt = await res.json();
  fillSelect($("key"), opt.keys);
  fillSelect($("time_signature"), opt.time_signatures);
  for (const name of opt.instruments) $("instrument-names").append(el("option", { value: name }));
  $("prompt").maxLength = opt.max_prompt_chars;
  for (const text of opt.examples) {
    const chip = el("button", { type: "button", className: "chip", textContent: text });
    chip.addEventListener("click", () => {
      $("prompt").value = text;
      $("prompt").focus();
    });
    $("examples").append(chip);
  }
}

function readForm() {
  const body = { prompt: $("prompt").value.trim() };
  const text = (id) => $(id).value.trim();
  if (text("key")) body.key = text("key");
  if (text("time_signature")) body.time_signature = text("time_signature");
  if (text("tempo")) body.tempo = Number(text("tempo"));
  if (text("bars")) body.bars = Number(text("bars"));
  if (text("instruments")) body.instruments = text("instruments").split(",").map((s) => s.trim());
  body.temperature = Number($("temperature").value);
  body.candidates = Number($("candidates").value);
  body.seed = text("seed") ? Number(text("seed")) : 0;
  return body;
}

function errorText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {  // FastAPI's 422 list
    return detail.map((d) => `${(d.loc || []).slice(1).join(".") || "request"}: ${d.msg}`).join("; ");
  }
  return "the server could not handle the request";
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function setBusy(busy, label = "") {
  state.busy = busy;
  $("generate").disabled = busy;
  $("gen-form").setAttribute("aria-busy", String(busy));
  $("progress").hidden = !busy;
  $("status").textContent = label;
}

async function submit(event) {
  event.preventDefault();
  if (state.busy) return;
  showError("");
  setBusy(true, "Queued…");
  $("progress").value = 0;
  try {
    const res = await fetch("/api/generate", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(readForm()),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const wait = res.headers.get("Retry-After");
      throw new Error(errorText(data.detail) + (wait ? ` (retry in ${wait} s)` : ""));
    }
    const job = await poll(data.job_id);
    await showResult(job);
    setBusy(false, `Done in ${job.seconds.toFixed(1)} s`);
  } catch (err) {
    setBusy(false, "");
    showError(err.message);
  }
}

async function poll(jobId) {
  for (;;) {
    const res = await fetch(`/api/jobs/${jobId}`);
    const job = await res.json();
    if (!res.ok) throw new Error(errorText(job.detail));
    $("progress").value = job.progress;
    if (job.status === "done") return job;
    if (job.status === "failed") throw new Error(job.error || "generation failed");
    const pct = Math.round(job.progress * 100);
    $("status").textContent = job.status === "queued" ? "Queued…" : `Generating… ${pct}%`;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const ROWS = [
  ["Key", (a) => a.key],
  ["Tempo", (a) => (a.tempo != null ? `${Math.round(a.tempo)} bpm (${a.tempo_word})` : null)],
  ["Time signature", (a) => a.time_signature],
  // Sorted so that the same set reads the same (and matches) in both columns.
  ["Instruments", (a) => [...(a.instrument_names || a.instruments || [])].sort().join(", ") || null],
  ["Length", (a) => (a.bars ? `${a.bars} bars` : null)],
  ["Duration", (a) => (a.duration_s ? `${a.duration_s.toFixed(1)} s`
                                    : a.seconds ? `${a.seconds} s` : null)],
  ["Genre", (a) => a.genre],
  ["Mood", (a) => a.mood],
];

function fillTable(report) {
  const tbody = $("attr-table").tBodies[0];
  tbody.replaceChildren();
  for (const [name, get] of ROWS) {
    const want = get(report.requested);
    const got = get(report.detected);
    if (want == null && got == null) continue;
    const match = want != null && got != null && String(want) === String(got);
    const row = el("tr", { className: match ? "match" : "" }, [
      el("th", { scope: "row", textContent: name }),
      el("td", { textContent: want ?? "free", className: want == null ? "free" : "" }),
      el("td", { textContent: got ?? "—" }),
    ]);
    tbody.append(row);
  }
}

function summary(detected) {
  return [detected.key, `${Math.round(detected.tempo)} bpm`, detected.time_signature,
    `${detected.bars} bars`, (detected.instruments || []).join(", ")].filter(Boolean).join(" · ");
}

function display(item) {
  $("empty").hidden = true;
  $("result").hidden = false;
  $("result-prompt").textContent = item.prompt ? `“${item.prompt}”` : "(no prompt)";
  $("roll").src = item.urls.pianoroll;
  $("player").src = item.urls.wav;
  $("midi-link").href = item.urls.midi;
  $("midi-link").download = `${item.name}.mid`;
  $("wav-link").href = item.urls.wav;
  $("wav-link").download = `${item.name}.wav`;
  $("notes").textContent = (item.report.notes || []).join(" ");
  fillTable(item.report);
}

async function showResult(job) {
  const res = await fetch(`/api/jobs/${job.job_id}/features`);
  const report = await res.json();
  if (!res.ok) throw new Error(errorText(report.detail));
  const urls = {
    midi: job.results.midi, wav: job.results.wav, pianoroll: job.results["pianoroll.png"],
  };
  const slug = (job.prompt || "piece").toLowerCase().replace(/[^a-z0-9]+/g, "-").slice(0, 40);
  const item = { id: job.job_id, prompt: job.prompt, urls, report,
    name: `tunesmith-${slug.replace(/^-|-$/g, "") || "piece"}-${job.job_id.slice(0, 6)}` };
  state.results.unshift(item);
  display(item);
  addCard(item);
}

function addCard(item) {
  $("history-empty").hidden = true;
  const show = el("button", { type: "button", className: "small", textContent: "Show" });
  show.addEventListener("click", () => {
    display(item);
    $("result-title").scrollIntoView({ behavior: "smooth" });
  });
  const card = el("li", { className: "card" }, [
    el("img", { src: item.urls.pianoroll, alt: `Piano roll: ${item.prompt || "no prompt"}`,
                loading: "lazy" }),
    el("div", { className: "card-body" }, [
      el("p", { className: "card-prompt", textContent: item.prompt || "(no prompt)" }),
      el("p", { className: "hint", textContent: summary(item.report.detected) }),
      el("audio", { controls: true, preload: "none", src: item.urls.wav }),
      el("div", { className: "card-actions" }, [
        show,
        el("a", { className: "button small", href: item.urls.midi, download: `${item.name}.mid`,
                  textContent: "MIDI" }),
        el("a", { className: "button small", href: item.urls.wav, download: `${item.name}.wav`,
                  textContent: "WAV" }),
      ]),
    ]),
  ]);
  $("history").prepend(card);
}

function init() {
  $("gen-form").addEventListener("submit", submit);
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("gen-form").requestSubmit();
    }
  });
  $("temperature").addEventListener("input", () => {
    $("temperature-out").textContent = Number($("temperature").value).toFixed(2);
  });
  $("dice").addEventListener("click", () => {
    $("seed").value = Math.floor(Math.random() * 1_000_000);
  });
  loadOptions().catch(() => showError("could not load the options from the server"));
}

init();
