// tunesmith page: submit a prompt (or open a MIDI file), poll the job, show piano roll, audio,
// MIDI, attributes and the sections of a planned piece (asked by a form, or long); then regenerate
// chosen bars and tracks, or continue the piece (both keep the sections). A melody (phrases the
// server picks per section, one found for the prompt, or the user's MIDI file) can be kept as the
// lead of a generation.
// Vanilla JS, no external requests: everything comes from this server's /api.
"use strict";

const $ = (id) => document.getElementById(id);
const POLL_MS = 400;
const BUTTONS = ["generate", "regenerate", "continue", "upload"];
const state = { busy: false, results: [], current: null, pick: null, drag: null, melody: null };

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
  if (text("lead")) body.lead = text("lead");
  if (text("form")) body.form = text("form");
  if (text("chords")) body.chords = text("chords");  // the server splits and checks them
  body.temperature = Number($("temperature").value);
  body.candidates = Number($("candidates").value);
  body.order = $("order").value;
  body.drums = $("drums").value;
  body.feel = $("feel").value;
  body.seed = text("seed") ? Number(text("seed")) : 0;
  const melody = state.melody;
  if (melody && melody.retrieved) body.melody = { retrieved: true };
  if (melody && melody.id != null) body.melody = { id: melody.id };
  if (melody && melody.midi) {
    body.melody = { midi: melody.midi };
    if (text("melody-track")) body.melody_track = Number(text("melody-track"));
  }
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
  for (const id of BUTTONS) $(id).disabled = busy;
  $("gen-form").setAttribute("aria-busy", String(busy));
  $("progress").hidden = !busy;
  $("status").textContent = label;
}

// POST `body` to `url` (JSON, or FormData as is), poll the job, show the result. One at a time.
async function runJob(url, body, label = "") {
  if (state.busy) return;
  showError("");
  setBusy(true, "Queued…");
  $("progress").value = 0;
  try {
    const form = body instanceof FormData;
    const res = await fetch(url, {
      method: "POST",
      headers: form ? {} : { "Content-Type": "application/json" },
      body: form ? body : JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const wait = res.headers.get("Retry-After");
      throw new Error(errorText(data.detail) + (wait ? ` (retry in ${wait} s)` : ""));
    }
    const job = await poll(data.job_id);
    await showResult(job, label);
    setBusy(false, `Done in ${job.seconds.toFixed(1)} s`);
  } catch (err) {
    setBusy(false, "");
    showError(err.message);
  }
}

function submit(event) {
  event.preventDefault();
  runJob("/api/generate", readForm(), state.melody ? `Melody: ${state.melody.label}` : "");
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
  ["Chords", (a) => (a.chords && a.chords.length ? a.chords.join(" ") : null)],
  // Sorted so that the same set reads the same (and matches) in both columns.
  ["Instruments", (a) => [...(a.instrument_names || a.instruments || [])].sort().join(", ") || null],
  ["Lead", (a) => a.lead_name],
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
  state.current = item;
  $("empty").hidden = true;
  $("result").hidden = false;
  $("result-prompt").textContent = item.label || (item.prompt ? `“${item.prompt}”` : "(no prompt)");
  $("roll").src = item.urls.pianoroll;
  $("player").src = item.urls.wav;
  $("midi-link").href = item.urls.midi;
  $("midi-link").download = `${item.name}.mid`;
  $("wav-link").href = item.urls.wav;
  $("wav-link").download = `${item.name}.wav`;
  const plan = item.report.plan || [];
  // The plan is listed on its own line: drop the server's "plan: A 1-2 ..." note that repeats it.
  const notes = (item.report.notes || []).filter((n) => !(plan.length && n.startsWith("plan: ")));
  $("notes").textContent = notes.join(" ");
  fillPlan(plan);
  fillTable(item.report);
  fillTracks(item.report.tracks || []);
  setPick(null);
}

// The sections of a planned piece ("A bars 1–8 · A' 9–16 · ..."), each a button that picks its
// bars for editing; the piano roll draws the same sections as labelled bands.
function fillPlan(plan) {
  const items = plan.map((s, i) => {
    const last = s.first_bar + s.bars - 1;
    const bars = s.bars > 1 ? `${s.first_bar}–${last}` : `${s.first_bar}`;
    const word = i > 0 ? "" : s.bars > 1 ? "bars " : "bar ";
    const pick = el("button", { type: "button", className: "small",
                                title: `Pick bars ${bars} to edit` },
                    [el("b", { textContent: s.label }), ` ${word}${bars}`]);
    pick.addEventListener("click", () => {
      const n = barLines().length - 1;  // a piece may end before its plan does
      if (s.first_bar <= n) setPick([s.first_bar - 1, Math.min(last, n) - 1]);
    });
    return el("li", {}, [pick]);
  });
  $("plan-sections").replaceChildren(...items);
  $("plan").hidden = !items.length;
}

// A label for an edit (from the features report), shown instead of a prompt.
function editLabel(edit) {
  if (!edit) return "";
  if (edit.kind === "infill") {
    const [a, b] = edit.bars;
    return `Bars ${a === b ? a : `${a}-${b}`} regenerated: ${edit.tracks.join(", ")}`;
  }
  if (edit.kind === "continue") return `Continued by ${edit.new_bars} bars`;
  return "Uploaded MIDI";
}

async function showResult(job, label = "") {
  const res = await fetch(`/api/jobs/${job.job_id}/features`);
  const report = await res.json();
  if (!res.ok) throw new Error(errorText(report.detail));
  const urls = {
    midi: job.results.midi, wav: job.results.wav, pianoroll: job.results["pianoroll.png"],
  };
  label = label || editLabel(report.edit);
  const source = report.edit && state.results.find((r) => r.id === report.edit.source);
  if (source && !job.prompt) report.requested = source.report.requested;  // the piece's request
  if (label && job.prompt) label += ` — “${job.prompt}”`;
  const slug = (label || job.prompt || "piece").toLowerCase().replace(/[^a-z0-9]+/g, "-").slice(0, 40);
  const item = { id: job.job_id, prompt: job.prompt, label, urls, report,
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
    el("img", { src: item.urls.pianoroll,
                alt: `Piano roll: ${item.label || item.prompt || "no prompt"}`, loading: "lazy" }),
    el("div", { className: "card-body" }, [
      el("p", { className: "card-prompt", textContent: item.label || item.prompt || "(no prompt)",
                title: item.label || item.prompt || "" }),
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

// --- editing: pick bars on the piano roll, tracks by checkbox; regenerate or continue ------

function barLines() {
  return (state.current && state.current.report.bar_lines) || [];
}

// The bar (0-based) under a pointer at `clientX`, clamped to the piece's bars.
function barAt(clientX) {
  const lines = barLines();
  const rect = $("roll").getBoundingClientRect();
  const x = (clientX - rect.left) / rect.width;
  let i = 0;
  while (i < lines.length - 2 && x >= lines[i + 1]) i += 1;
  return i;
}

// Show a 0-based inclusive bar range [a, b] (or nothing) on the roll and in the Bars field.
function setPick(range, typed = false) {
  state.pick = range;
  const lines = barLines();
  const sel = $("selection");
  if (!range || lines.length < 2) {
    sel.hidden = true;
    if (!typed) $("edit-bars").value = "";
    return;
  }
  const [a, b] = range;
  sel.style.left = `${lines[a] * 100}%`;
  sel.style.width = `${(lines[b + 1] - lines[a]) * 100}%`;
  sel.hidden = false;
  if (!typed) $("edit-bars").value = a === b ? `${a + 1}` : `${a + 1}-${b + 1}`;
}

function typedBars() {
  const m = $("edit-bars").value.trim().match(/^(\d+)\s*(?:-\s*(\d+))?$/);
  const n = barLines().length - 1;
  if (!m) return setPick(null, true);
  const a = Number(m[1]) - 1;
  const b = Number(m[2] || m[1]) - 1;
  setPick(a >= 0 && a <= b && b < n ? [a, b] : null, true);
}

function fillTracks(tracks) {
  const box = $("edit-tracks");
  box.replaceChildren();
  for (const t of tracks) {
    const input = el("input", { type: "checkbox", name: "tracks", value: String(t.program),
                                checked: true });
    box.append(el("label", {}, [input, ` ${t.name}`]));
  }
}

function rollDrag() {
  const stage = $("roll-stage");
  stage.addEventListener("pointerdown", (e) => {
    if (barLines().length < 2 || e.button !== 0) return;
    e.preventDefault();
    stage.setPointerCapture(e.pointerId);
    state.drag = barAt(e.clientX);
    setPick([state.drag, state.drag]);
  });
  stage.addEventListener("pointermove", (e) => {
    if (state.drag === null) return;
    const i = barAt(e.clientX);
    setPick([Math.min(state.drag, i), Math.max(state.drag, i)]);
  });
  const end = () => { state.drag = null; };
  stage.addEventListener("pointerup", end);
  stage.addEventListener("pointercancel", end);
}

function readEdit() {
  const text = (id) => $(id).value.trim();
  const body = { job_id: state.current.id, bars: text("edit-bars"),
                 temperature: Number($("temperature").value),
                 seed: Math.floor(Math.random() * 1_000_000) };
  const boxes = [...document.querySelectorAll("#edit-tracks input")];
  const picked = boxes.filter((b) => b.checked).map((b) => Number(b.value));
  if (boxes.length && !picked.length) throw new Error("tick at least one track to regenerate");
  if (picked.length < boxes.length) body.tracks = picked;
  if (text("edit-density")) body.density = Number(text("edit-density"));
  if (text("edit-polyphony")) body.polyphony = text("edit-polyphony");
  const durations = [...document.querySelectorAll("input[name=durations]:checked")];
  if (durations.length) body.durations = durations.map((d) => d.value);
  if (text("edit-prompt")) body.prompt = text("edit-prompt");
  return body;
}

function regenerate(event) {
  event.preventDefault();
  if (!state.current || state.busy) return;
  if (!$("edit-bars").value.trim()) {
    showError("pick the bars to regenerate: drag across the piano roll or type e.g. 3-4");
    return;
  }
  let body;
  try {
    body = readEdit();
  } catch (err) {
    showError(err.message);
    return;
  }
  runJob("/api/infill", body);
}

function continuePiece() {
  if (!state.current || state.busy) return;
  const body = { job_id: state.current.id, bars: Number($("continue-bars").value),
                 temperature: Number($("temperature").value),
                 seed: Math.floor(Math.random() * 1_000_000) };
  if ($("edit-prompt").value.trim()) body.prompt = $("edit-prompt").value.trim();
  runJob("/api/continue", body);
}

function uploadFile() {
  const file = $("upload").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  runJob("/api/upload", form, `Uploaded: ${file.name}`).then(() => { $("upload").value = ""; });
}

// --- start from a melody: find phrases for the prompt, or read the user's MIDI file ----------

// Show which melody the next generation keeps (or none), and allow clearing it.
function showMelody() {
  const m = state.melody;
  $("melody-chosen").textContent = m ? `Melody: ${m.label}. Generate keeps it as the lead.`
                                     : "No melody: the model writes its own.";
  $("melody-clear").hidden = !m;
  $("melody-panel").classList.toggle("chosen", Boolean(m));
  $("melody-track").disabled = !(m && m.midi);
}

function clearMelody() {
  state.melody = null;
  for (const r of document.querySelectorAll("input[name=melody-pick]")) r.checked = false;
  $("melody-file").value = "";
  $("melody-retrieved").checked = false;
  showMelody();
}

// The server picks the phrases when the job is submitted: one per section of the Form (or of a
// long piece's plan), else one for the whole piece.
function pickRetrieved() {
  if (!$("melody-retrieved").checked) {
    clearMelody();
    return;
  }
  for (const r of document.querySelectorAll("input[name=melody-pick]")) r.checked = false;
  $("melody-file").value = "";
  state.melody = { retrieved: true, label: "a phrase per section, picked by tunesmith" };
  showMelody();
}

function hitItem(hit) {
  const id = `melody-hit-${hit.id}`;
  const radio = el("input", { type: "radio", name: "melody-pick", id, value: String(hit.id) });
  radio.addEventListener("change", () => {
    $("melody-file").value = "";
    $("melody-retrieved").checked = false;
    state.melody = { id: hit.id, label: hit.label };
    showMelody();
  });
  const facts = [hit.key, hit.meter, `${Math.round(hit.tempo)} bpm`, hit.genre].filter(Boolean).join(" · ");
  return el("li", { className: "hit" }, [
    el("div", { className: "hit-head" }, [
      radio,
      el("label", { htmlFor: id }, [
        el("span", { className: "hit-score", textContent: hit.score.toFixed(2),
                     title: "How well it fits the prompt (cosine, higher is closer)" }),
        ` ${hit.label}`,
        el("span", { className: "hint", textContent: ` ${facts}` }),
      ]),
    ]),
    el("img", { src: hit.urls["pianoroll.png"], alt: `Piano roll of the melody ${hit.label}`,
                loading: "lazy" }),
    el("div", { className: "hit-play" }, [
      el("audio", { controls: true, preload: "none", src: hit.urls.wav,
                    ariaLabel: `Play the melody ${hit.label}` }),
      el("a", { className: "button small", href: hit.urls.midi, download: `melody-${hit.id}.mid`,
                textContent: "MIDI" }),
    ]),
  ]);
}

async function findMelodies() {
  showError("");
  const params = new URLSearchParams({ prompt: $("prompt").value.trim(), k: "5", with_notes: "true" });
  if ($("time_signature").value) params.set("meter", $("time_signature").value);
  $("find-melodies").disabled = true;
  $("melody-status").textContent = "Searching…";
  try {
    const res = await fetch(`/api/retrieve?${params}`);
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(errorText(data.detail));
    $("melody-hits").replaceChildren(...data.hits.map(hitItem));
    $("melody-found").hidden = !data.hits.length;
    $("melody-status").textContent = data.hits.length ? `${data.hits.length} found: pick one`
                                                      : "none found (try without a time signature)";
    if (state.melody && state.melody.id != null) {  // still listed: show it picked
      const picked = document.getElementById(`melody-hit-${state.melody.id}`);
      if (picked) picked.checked = true;
    }
  } catch (err) {
    $("melody-status").textContent = "";
    showError(err.message);
  } finally {
    $("find-melodies").disabled = false;
  }
}

// The base64 text of a file's bytes (the API takes a MIDI melody as base64 in the JSON body).
async function fileBase64(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

async function pickFile() {
  const file = $("melody-file").files[0];
  if (!file) {  // the file chooser was cancelled: no file any more
    if (state.melody && state.melody.midi) clearMelody();
    return;
  }
  for (const r of document.querySelectorAll("input[name=melody-pick]")) r.checked = false;
  $("melody-retrieved").checked = false;
  state.melody = { midi: await fileBase64(file), label: `your file ${file.name}` };
  showMelody();
}

function init() {
  $("gen-form").addEventListener("submit", submit);
  $("edit-form").addEventListener("submit", regenerate);
  $("continue").addEventListener("click", continuePiece);
  $("continue-bars").addEventListener("change", () => {
    $("continue").textContent = `Continue +${$("continue-bars").value} bars`;
  });
  $("edit-bars").addEventListener("input", typedBars);
  $("upload").addEventListener("change", uploadFile);
  $("find-melodies").addEventListener("click", findMelodies);
  $("melody-clear").addEventListener("click", clearMelody);
  $("melody-retrieved").addEventListener("change", pickRetrieved);
  $("melody-file").addEventListener("change", () => pickFile().catch((e) => showError(e.message)));
  rollDrag();
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
