// The page of `asr serve`: upload or record audio, show the words shaded by confidence, play a word on click,
// download subtitles. Everything it needs comes from this server; nothing is loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const RECORD_RATE = 16000; // recordings are sent as 16 kHz mono 16-bit WAV, which every model here reads
let playUntil = null;
let audioUrl = null;
const downloadUrls = [];

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function loadModelInfo() {
  try {
    const info = await (await fetch("/v1/model")).json();
    const parts = [info.model, `${info.units} units`, `${info.decoder.kind} decoding`, `${info.sample_rate} Hz`];
    if (info.training && typeof info.training.epoch === "number") parts.push(`epoch ${info.training.epoch}`);
    if (info.training && typeof info.training.wer === "number") {
      parts.push(`dev WER ${(100 * info.training.wer).toFixed(2)}%`);
    }
    $("model-info").textContent = parts.join(" · ");
    const mib = info.limits.max_request_bytes / 1048576;
    $("limits").textContent = `At most ${info.limits.max_audio_seconds} s of audio and ${mib.toFixed(1)} MiB per file.`;
  } catch (err) {
    $("model-info").textContent = "model information unavailable";
  }
}

// Low confidence: a strong orange; high confidence: hardly any shade.
function shade(confidence) {
  const c = Math.min(1, Math.max(0, confidence));
  return `rgba(255, 140, 0, ${(0.06 + 0.9 * (1 - c)).toFixed(3)})`;
}

function showTranscript(result, name, audio) {
  const box = $("transcript");
  box.replaceChildren();
  if (!result.words.length) {
    const empty = document.createElement("span");
    empty.className = "empty";
    empty.textContent = "(no words recognised)";
    box.append(empty);
  }
  result.words.forEach((w, i) => {
    const span = document.createElement("span");
    span.className = "word";
    span.textContent = w.word;
    span.dataset.start = w.start;
    span.dataset.end = w.end;
    span.dataset.confidence = w.confidence;
    span.style.backgroundColor = shade(w.confidence);
    span.title = `confidence ${w.confidence.toFixed(2)}, ${w.start.toFixed(2)}-${w.end.toFixed(2)} s`;
    span.addEventListener("click", () => playWord(span));
    box.append(span);
    if (i + 1 < result.words.length) box.append(" ");
  });
  if (audioUrl) URL.revokeObjectURL(audioUrl);
  audioUrl = URL.createObjectURL(audio);
  $("player").src = audioUrl;
  $("result-name").textContent = name;
  const stem = name.replace(/\.[^.]*$/, "") || "transcript";
  downloadUrls.splice(0).forEach((u) => URL.revokeObjectURL(u));
  const files = { srt: result.subtitles.srt, vtt: result.subtitles.vtt, json: JSON.stringify(result, null, 2) };
  for (const [ext, text] of Object.entries(files)) {
    const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
    downloadUrls.push(url);
    $(`download-${ext}`).href = url;
    $(`download-${ext}`).download = `${stem}.${ext}`;
  }
  $("result").hidden = false;
}

function playWord(span) {
  const player = $("player");
  document.querySelectorAll(".word.playing").forEach((s) => s.classList.remove("playing"));
  span.classList.add("playing");
  player.currentTime = Number(span.dataset.start);
  playUntil = Number(span.dataset.end);
  player.play().catch(() => {});
}

$("player").addEventListener("timeupdate", () => {
  const player = $("player");
  if (playUntil !== null && player.currentTime >= playUntil) {
    player.pause();
    playUntil = null;
    document.querySelectorAll(".word.playing").forEach((s) => s.classList.remove("playing"));
  }
});

async function transcribe(blob, name) {
  setStatus(`Transcribing ${name}…`);
  $("result").hidden = true;
  const form = new FormData();
  form.append("file", blob, name);
  const started = performance.now();
  let response;
  try {
    response = await fetch("/v1/transcribe?include=srt,vtt", { method: "POST", body: form });
  } catch (err) {
    setStatus(`The server could not be reached: ${err.message}`, true);
    return;
  }
  let body;
  try {
    body = await response.json();
  } catch (err) {
    setStatus(`The server answered ${response.status} without a transcript.`, true);
    return;
  }
  if (!response.ok) {
    setStatus(body.error || `The server answered ${response.status}.`, true);
    return;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  setStatus(`${body.words.length} words in ${seconds} s.`);
  showTranscript(body, name, blob);
}

$("file").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) transcribe(file, file.name);
  event.target.value = "";
});

const dropZone = $("input");
dropZone.addEventListener("dragover", (e) => { e.preventDefault(); dropZone.classList.add("dragging"); });
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dragging"));
dropZone.addEventListener("drop", (e) => {
  e.preventDefault();
  dropZone.classList.remove("dragging");
  const file = e.dataTransfer.files[0];
  if (file) transcribe(file, file.name);
});

// Recording: MediaRecorder gives WebM/Opus in Chromium, which the server's audio reader does not take, so
// the recording is decoded here and sent as WAV.
function wavFromBuffer(buffer) {
  const samples = buffer.getChannelData(0);
  const bytes = new DataView(new ArrayBuffer(44 + 2 * samples.length));
  const text = (offset, s) => [...s].forEach((ch, i) => bytes.setUint8(offset + i, ch.charCodeAt(0)));
  text(0, "RIFF"); bytes.setUint32(4, 36 + 2 * samples.length, true); text(8, "WAVE");
  text(12, "fmt "); bytes.setUint32(16, 16, true); bytes.setUint16(20, 1, true); bytes.setUint16(22, 1, true);
  bytes.setUint32(24, buffer.sampleRate, true); bytes.setUint32(28, 2 * buffer.sampleRate, true);
  bytes.setUint16(32, 2, true); bytes.setUint16(34, 16, true);
  text(36, "data"); bytes.setUint32(40, 2 * samples.length, true);
  samples.forEach((x, i) => bytes.setInt16(44 + 2 * i, Math.max(-1, Math.min(1, x)) * 0x7fff, true));
  return new Blob([bytes], { type: "audio/wav" });
}

async function recordingToWav(blob) {
  const context = new AudioContext();
  const decoded = await context.decodeAudioData(await blob.arrayBuffer());
  context.close();
  const length = Math.max(1, Math.ceil(decoded.duration * RECORD_RATE));
  const offline = new OfflineAudioContext(1, length, RECORD_RATE); // mixes down to mono and resamples
  const source = offline.createBufferSource();
  source.buffer = decoded;
  source.connect(offline.destination);
  source.start();
  return wavFromBuffer(await offline.startRendering());
}

let recorder = null;
let timer = null;

async function startRecording() {
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    setStatus("This browser cannot record here (the microphone needs https or localhost).", true);
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    setStatus(`No microphone: ${err.message}`, true);
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.addEventListener("dataavailable", (e) => chunks.push(e.data));
  recorder.addEventListener("stop", async () => {
    stream.getTracks().forEach((t) => t.stop());
    clearInterval(timer);
    $("record-time").textContent = "";
    $("record").textContent = "Record";
    $("record").classList.remove("recording");
    try {
      await transcribe(await recordingToWav(new Blob(chunks, { type: recorder.mimeType })), "recording.wav");
    } catch (err) {
      setStatus(`The recording could not be read: ${err.message}`, true);
    }
  });
  recorder.start();
  const started = Date.now();
  timer = setInterval(() => {
    $("record-time").textContent = `${((Date.now() - started) / 1000).toFixed(0)} s`;
  }, 250);
  $("record").textContent = "Stop";
  $("record").classList.add("recording");
  setStatus("Recording… press Stop when done.");
}

$("record").addEventListener("click", () => {
  if (recorder && recorder.state === "recording") recorder.stop();
  else startRecording();
});

loadModelInfo();
