// The clip page: video with the landmark overlay in sync, the QC timeline and waveform that seek
// on click, and the keyboard shortcuts. Data comes from /clips/<id>/qc.json and landmarks.bin.
"use strict";
(() => {
  const root = document.getElementById("clip");
  if (!root) return;
  const id = root.dataset.clip;
  const video = document.getElementById("video");
  const overlay = document.getElementById("overlay");
  const stage = document.getElementById("stage");
  const timeline = document.getElementById("timeline");
  const waveform = document.getElementById("waveform");
  const frameLabel = document.getElementById("frame-label");
  const playButton = document.getElementById("play");
  const showLandmarks = document.getElementById("show-landmarks");
  const POINTS = 478;
  let fps = parseFloat(root.dataset.fps) || 30;
  let width = parseInt(root.dataset.width, 10) || 640;
  let height = parseInt(root.dataset.height, 10) || 480;
  let qc = null;
  let marks = null;
  let frames = 0;
  let current = 0;
  let timer = null; // plays the landmarks alone when the raw video is gone

  const frameOf = (seconds) => Math.max(0, Math.min(frames - 1, Math.floor(seconds * fps + 1e-3)));

  function setFrame(frame) {
    current = Math.max(0, Math.min(Math.max(frames - 1, 0), frame));
    root.dataset.frame = String(current);
    frameLabel.textContent = `frame ${current} / ${frames} · ${(current / fps).toFixed(2)} s`;
    drawOverlay();
    drawTimeline();
  }

  function seek(frame) {
    const target = Math.max(0, Math.min(Math.max(frames - 1, 0), frame));
    if (video) video.currentTime = (target + 0.5) / fps; // mid-frame: lands on this frame
    setFrame(target);
  }

  function drawOverlay() {
    const ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    if (!video) { ctx.fillStyle = "#111"; ctx.fillRect(0, 0, overlay.width, overlay.height); }
    if (!marks || !showLandmarks.checked || current >= frames) return;
    const size = Math.max(1.5, width / 320);
    ctx.fillStyle = "#3f3";
    const base = current * POINTS * 2;
    for (let i = 0; i < POINTS; i++) {
      const x = marks[base + 2 * i], y = marks[base + 2 * i + 1];
      if (Number.isFinite(x) && Number.isFinite(y)) ctx.fillRect(x - size / 2, y - size / 2, size, size);
    }
  }

  const COLOURS = { flag: "#2a7", unit: "#47c", angle: "#c74", db: "#888" };

  function scaled(kind, v) {
    if (v === null || v === undefined) return 0;
    if (kind === "angle") return Math.min(1, Math.abs(v) / 90);
    if (kind === "db") return Math.max(0, Math.min(1, (v + 80) / 80));
    return Math.max(0, Math.min(1, v));
  }

  function fit(canvas) {
    const w = Math.max(100, Math.round(canvas.clientWidth * (window.devicePixelRatio || 1)));
    if (canvas.width !== w) canvas.width = w;
    return canvas.getContext("2d");
  }

  function drawTimeline() {
    if (!qc) return;
    const ctx = fit(timeline);
    const rows = qc.row_info;
    const W = timeline.width, H = timeline.height, rowH = H / Math.max(rows.length, 1);
    const step = W / Math.max(frames, 1);
    ctx.clearRect(0, 0, W, H);
    ctx.font = `${Math.round(rowH * 0.45)}px sans-serif`;
    rows.forEach(([key, label, kind], r) => {
      const values = qc.rows[key] || [];
      const top = r * rowH;
      ctx.fillStyle = r % 2 ? "#f4f4f4" : "#fafafa";
      ctx.fillRect(0, top, W, rowH);
      ctx.fillStyle = COLOURS[kind];
      for (let f = 0; f < values.length; f++) {
        const h = scaled(kind, values[f]) * (rowH - 2);
        if (h > 0) ctx.fillRect(f * step, top + rowH - 1 - h, Math.max(step, 1), h);
      }
      ctx.fillStyle = "#222";
      ctx.fillText(label, 4, top + rowH * 0.55);
    });
    cursor(ctx, W, H, step);
    drawWaveform();
  }

  function drawWaveform() {
    const ctx = fit(waveform);
    const W = waveform.width, H = waveform.height, mid = H / 2;
    const lows = qc.waveform.min, highs = qc.waveform.max;
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = "#eef";
    ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = "#447";
    const step = W / Math.max(lows.length, 1);
    for (let i = 0; i < lows.length; i++) {
      const top = mid - highs[i] * mid, bottom = mid - lows[i] * mid;
      ctx.fillRect(i * step, top, Math.max(step, 1), Math.max(1, bottom - top));
    }
    cursor(ctx, W, H, W / Math.max(frames, 1));
  }

  function cursor(ctx, W, H, step) {
    ctx.fillStyle = "#d00";
    ctx.fillRect(Math.min(W - 2, current * step), 0, 2, H);
  }

  function describe(frame) {
    if (!qc || !qc.reasons.length) return `frame ${frame}`;
    const bits = qc.reasons[frame] || 0;
    const names = qc.reason_names.filter((_, i) => bits & (1 << i));
    return `frame ${frame}: ${names.length ? names.join(", ") : "good"}`;
  }

  [timeline, waveform].forEach((canvas) => {
    canvas.addEventListener("click", (e) => {
      const box = canvas.getBoundingClientRect();
      seek(Math.floor(((e.clientX - box.left) / box.width) * frames));
    });
    canvas.addEventListener("mousemove", (e) => {
      const box = canvas.getBoundingClientRect();
      canvas.title = describe(Math.floor(((e.clientX - box.left) / box.width) * frames));
    });
  });

  function togglePlay() {
    if (video) {
      if (video.paused) video.play(); else video.pause();
      return;
    }
    if (timer) { clearInterval(timer); timer = null; playButton.textContent = "Play"; return; }
    playButton.textContent = "Pause";
    timer = setInterval(() => (current + 1 < frames ? setFrame(current + 1) : togglePlay()), 1000 / fps);
  }

  function stepBy(delta) {
    if (video && !video.paused) video.pause();
    if (timer) togglePlay();
    seek(current + delta);
  }

  if (video) {
    video.addEventListener("play", () => { playButton.textContent = "Pause"; });
    video.addEventListener("pause", () => { playButton.textContent = "Play"; });
    video.addEventListener("seeked", () => setFrame(frameOf(video.currentTime)));
    if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
      const onFrame = (_, meta) => { setFrame(frameOf(meta.mediaTime)); video.requestVideoFrameCallback(onFrame); };
      video.requestVideoFrameCallback(onFrame);
    } else {
      video.addEventListener("timeupdate", () => setFrame(frameOf(video.currentTime)));
    }
  }

  playButton.addEventListener("click", togglePlay);
  document.getElementById("back").addEventListener("click", () => stepBy(-1));
  document.getElementById("forward").addEventListener("click", () => stepBy(1));
  showLandmarks.addEventListener("change", drawOverlay);
  window.addEventListener("resize", drawTimeline);

  // Enter in a note submits its form; Shift+Enter is a new line.
  document.querySelectorAll(".decide textarea").forEach((area) => area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); area.form.requestSubmit(); }
  }));

  const go = (url) => { window.location.assign(url); };
  const keys = {
    n: () => go(root.dataset.next), j: () => go(root.dataset.next),
    p: () => go(root.dataset.previous), k: () => go(root.dataset.previous),
    q: () => go(root.dataset.queue),
    " ": togglePlay,
    ".": () => stepBy(1), ArrowRight: () => stepBy(1),
    ",": () => stepBy(-1), ArrowLeft: () => stepBy(-1),
    c: () => document.getElementById("form-confirm").requestSubmit(),
    o: () => document.getElementById("override-reason").focus(),
    r: () => document.getElementById("requeue-note").focus(),
    l: () => { showLandmarks.checked = !showLandmarks.checked; drawOverlay(); },
  };
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
    const action = keys[e.key];
    if (action) { e.preventDefault(); action(); }
  });

  Promise.all([
    fetch(`/clips/${encodeURIComponent(id)}/qc.json`, { credentials: "same-origin" }).then((r) => r.json()),
    fetch(`/clips/${encodeURIComponent(id)}/landmarks.bin`, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.arrayBuffer() : null)),
  ]).then(([data, buffer]) => {
    qc = data;
    fps = data.fps || fps;
    frames = data.frames;
    width = data.width || width;
    height = data.height || height;
    if (buffer) marks = new Float32Array(buffer);
    overlay.width = width;
    overlay.height = height;
    stage.style.aspectRatio = `${width} / ${height}`;
    setFrame(0);
    root.dataset.ready = "1";
  });
})();
