// The in-store kiosk page: pairing, idle (camera + USB scanner), member, join, staff mode.
// Member data lives only in the DOM of the screen showing it and in `state`; both are
// cleared on every return to idle. The kiosk key in localStorage is the kiosk's identity.
"use strict";

(() => {
  const KEY_STORE = "loyaltyKioskKey";
  const SCAN_INTERVAL_MS = 180;
  const SAME_CODE_PAUSE_MS = 8000;
  const SCANNER_GAP_MS = 1000;
  const SESSION_RECHECK_MS = 60000;

  const state = {
    key: null,
    words: {},
    errors: {},
    languages: [],
    language: null,
    defaultLanguage: null,
    session: null,
    sessionCheckedAt: 0,
    screen: null,
    visit: null,
    staff: null,
    busy: false,
    deadline: 0,
    timeoutSeconds: 0,
    countdownLabel: null,
    camera: null,
    scanTimer: null,
    lastScan: { text: "", at: 0 },
    scanner: { buffer: "", at: 0 },
    // A card scanned before the idle screen was ready, looked up once it is.
    pendingScan: null,
    receipts: null,
    joinMode: "phone",
    amountAction: null,
  };

  const $ = (id) => document.getElementById(id);
  const word = (key) => state.words[key] || key;

  // ------------------------------------------------------------------ server calls

  async function api(method, path, body, staff = false) {
    const headers = { Accept: "application/json" };
    if (state.language) headers["X-Kiosk-Language"] = state.language;
    if (state.key) headers["X-Kiosk-Key"] = state.key;
    if (staff && state.staff) headers["X-Kiosk-Staff"] = state.staff;
    const init = { method, headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      return { ok: false, status: 0, data: { error: "unavailable", message: state.errors.unavailable } };
    }
    let data = {};
    if (response.status !== 204) {
      try {
        data = (await response.json()) || {};
      } catch (error) {
        data = {};
      }
    }
    if (response.status === 401 && data.error === "not_paired") {
      unpair();
    }
    if (!data.message && !response.ok) data.message = state.errors.unavailable || "";
    return { ok: response.ok, status: response.status, data };
  }

  // ------------------------------------------------------------------ words and languages

  async function loadWords(language) {
    const query = language ? `?lang=${encodeURIComponent(language)}` : "";
    const answer = await api("GET", `api/words${query}`);
    if (!answer.ok) return false;
    state.words = answer.data.words;
    state.errors = answer.data.errors;
    state.languages = answer.data.languages;
    state.language = answer.data.language;
    if (!state.defaultLanguage) state.defaultLanguage = state.language;
    applyWords();
    return true;
  }

  function applyWords() {
    document.documentElement.lang = state.language || "en";
    document.title = word("title");
    for (const node of document.querySelectorAll("[data-word]")) {
      const text = state.words[node.dataset.word];
      if (text) node.textContent = text;
    }
    const nav = $("languages");
    nav.replaceChildren();
    nav.setAttribute("aria-label", word("language"));
    if (state.languages.length > 1) {
      for (const language of state.languages) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = language.name;
        button.lang = language.code;
        button.setAttribute("aria-pressed", String(language.code === state.language));
        button.addEventListener("click", () => chooseLanguage(language.code));
        nav.append(button);
      }
    }
    if (state.session) {
      $("program").textContent = state.session.program;
    }
    $("staff-toggle").textContent = state.staff ? word("lock") : word("staff");
    renderJoinKeypad();
    renderReceipt();
    updateCountdown();
  }

  async function chooseLanguage(code) {
    if (code === state.language) return;
    await loadWords(code);
    if (state.screen === "member" && state.visit) {
      const answer = await api("POST", "api/visit", { visit: state.visit });
      if (answer.ok) renderMember(answer.data);
    }
  }

  // ------------------------------------------------------------------ screens

  function show(name) {
    state.screen = name;
    for (const screen of document.querySelectorAll(".screen")) {
      screen.hidden = screen.dataset.screen !== name;
    }
    if (name === "idle") {
      startCamera();
      if (state.pendingScan) {
        const card = state.pendingScan;
        state.pendingScan = null;
        lookUp(card);
      }
    } else {
      stopCamera();
      if (name === "pairing") state.pendingScan = null;
    }
    const timeouts = { member: 1, joined: 2, entry: 1, join: 3 };
    const labels = { member: $("member-countdown"), joined: $("joined-countdown") };
    if (name in timeouts && state.session) {
      armTimeout(state.session.idle_seconds * timeouts[name], labels[name] || null);
    } else {
      disarmTimeout();
    }
  }

  function setMessage(id, text, kind = "error") {
    const node = $(id);
    node.textContent = text || "";
    node.className = `message ${kind}`;
    node.hidden = !text;
  }

  function clearMessages() {
    for (const node of document.querySelectorAll(".message")) {
      node.textContent = "";
      node.hidden = true;
    }
  }

  // ------------------------------------------------------------------ back to idle

  function armTimeout(seconds, label) {
    state.timeoutSeconds = seconds;
    state.countdownLabel = label;
    state.deadline = Date.now() + seconds * 1000;
    updateCountdown();
  }

  function disarmTimeout() {
    state.deadline = 0;
    state.countdownLabel = null;
  }

  function touch() {
    if (state.deadline) state.deadline = Date.now() + state.timeoutSeconds * 1000;
  }

  function updateCountdown() {
    if (!state.deadline || !state.countdownLabel) return;
    const seconds = Math.max(0, Math.ceil((state.deadline - Date.now()) / 1000));
    state.countdownLabel.textContent = word("back_in").replace("{seconds}", String(seconds));
  }

  setInterval(() => {
    if (!state.deadline) return;
    if (Date.now() >= state.deadline) {
      goIdle();
    } else {
      updateCountdown();
    }
  }, 250);

  function forgetMember() {
    state.visit = null;
    state.staff = null;
    state.amountAction = null;
    state.receipts = null;
    $("balances").replaceChildren();
    $("member-greeting").textContent = "";
    $("member-contact").textContent = "";
    $("receipt-transaction").textContent = "";
    $("receipt-text").textContent = "";
    $("receipt").hidden = true;
    $("screen-member").classList.remove("staff");
    $("staff-badge").hidden = true;
    $("joined-card").removeAttribute("src");
    $("joined-card").alt = "";
    $("joined-claim-qr").removeAttribute("src");
    $("joined-number").textContent = "";
    $("joined-claim").hidden = true;
    for (const id of ["entry-input", "join-input", "pin-input", "amount-input"]) $(id).value = "";
    for (const dialog of document.querySelectorAll(".dialog")) dialog.hidden = true;
    clearMessages();
  }

  async function goIdle() {
    const visit = state.visit;
    const hadStaff = Boolean(state.staff);
    disarmTimeout();
    forgetMember();
    if (visit || hadStaff) api("POST", "api/idle", { visit: visit || "" });
    if (state.defaultLanguage && state.language !== state.defaultLanguage) {
      await loadWords(state.defaultLanguage);
    }
    if (Date.now() - state.sessionCheckedAt > SESSION_RECHECK_MS) {
      if (!(await loadSession())) return;
    }
    if (state.key) show("idle");
  }

  // ------------------------------------------------------------------ pairing and session

  function unpair() {
    state.key = null;
    state.session = null;
    localStorage.removeItem(KEY_STORE);
    forgetMember();
    show("pairing");
  }

  async function pair(code) {
    const answer = await api("POST", "api/pair", { code });
    if (!answer.ok) {
      setMessage("pair-error", answer.data.message);
      show("pairing");
      return false;
    }
    state.key = answer.data.key;
    localStorage.setItem(KEY_STORE, state.key);
    return true;
  }

  async function loadSession() {
    if (!state.key) {
      show("pairing");
      return false;
    }
    const answer = await api("GET", "api/session");
    if (!answer.ok) {
      if (state.key) {
        setMessage("idle-message", answer.data.message);
        show("idle");
      }
      return false;
    }
    state.session = answer.data;
    state.sessionCheckedAt = Date.now();
    $("program").textContent = state.session.program;
    $("store").textContent = state.session.label
      ? `${state.session.store} · ${state.session.label}`
      : state.session.store;
    const qr = $("store-qr");
    if (state.session.store_qr) {
      qr.src = state.session.store_qr;
      qr.hidden = false;
      $("store-qr-hint").hidden = false;
    } else {
      qr.removeAttribute("src");
      qr.hidden = true;
      $("store-qr-hint").hidden = true;
    }
    $("staff-toggle").hidden = !state.session.staff_mode;
    return true;
  }

  // ------------------------------------------------------------------ member lookups

  async function lookUp(text) {
    const card = String(text).trim();
    if (!card || state.busy || !state.key) return;
    state.busy = true;
    const from = state.screen;
    const messageId = from === "entry" ? "entry-message" : from === "member" ? "member-message" : "idle-message";
    setMessage(messageId, word("looking"), "ok");
    if (state.visit || state.staff) {
      api("POST", "api/idle", { visit: state.visit || "" });
      forgetMember();
    }
    const answer = await api("POST", "api/lookup", { card });
    state.busy = false;
    if (!state.key) return;
    if (answer.ok) {
      clearMessages();
      renderMember(answer.data);
      show("member");
      return;
    }
    if (from === "member") show("idle");
    setMessage(from === "entry" ? "entry-message" : "idle-message", answer.data.message);
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function staffButton(label, className, onClick) {
    const button = element("button", className, label);
    button.type = "button";
    button.addEventListener("click", onClick);
    return button;
  }

  function renderMember(member) {
    state.visit = member.visit;
    $("member-greeting").textContent = member.greeting;
    $("member-contact").textContent = member.contact;
    const list = $("balances");
    list.replaceChildren();
    if (!member.balances.length) {
      list.append(element("p", "hint", word("no_balances")));
    }
    for (const balance of member.balances) {
      const card = element("article", "panel balance");
      card.dataset.campaign = balance.campaign_id;
      card.dataset.kind = balance.kind;
      card.append(element("h2", "", balance.name), element("div", "headline", balance.headline));
      if (balance.progress) {
        const bar = element("div", "progress");
        const fill = element("span");
        fill.style.width = `${balance.progress.percent}%`;
        bar.append(fill);
        bar.setAttribute("role", "progressbar");
        bar.setAttribute("aria-valuenow", String(balance.progress.percent));
        card.append(bar, element("div", "progress-text", balance.progress.text));
      }
      if (balance.available.length || balance.free.length) {
        const available = element("div", "available");
        available.append(element("strong", "", word("available_now")));
        const items = element("ul");
        for (const reward of balance.available) items.append(element("li", "", reward.text));
        for (const free of balance.free) items.append(element("li", "", free));
        available.append(items);
        card.append(available);
      }
      card.append(staffActions(balance));
      list.append(card);
    }
  }

  function staffActions(balance) {
    const box = element("div", "staff-actions");
    const id = balance.campaign_id;
    const actions = balance.actions;
    const recordLabel = word(actions.record_label);
    if (actions.record === "amount") {
      box.append(
        staffButton(recordLabel, "record", () =>
          askAmount(recordLabel, balance.name, false, (amount) =>
            staffCall("record", { campaign_id: id, amount })
          )
        )
      );
    } else if (actions.record === "visit") {
      box.append(staffButton(recordLabel, "record", () => staffCall("record", { campaign_id: id })));
    } else if (actions.record === "item") {
      for (const item of balance.items) {
        const label = `${recordLabel}: ${item.name}`;
        box.append(
          staffButton(label, "record", () =>
            askAmount(label, word("quantity"), true, (quantity) =>
              staffCall("record", { campaign_id: id, item: item.id, quantity })
            )
          )
        );
      }
    }
    for (const reward of balance.available) {
      box.append(
        staffButton(`${word("redeem")}: ${reward.text}`, "redeem", () =>
          staffCall("redeem", { campaign_id: id, reward_id: reward.id })
        )
      );
    }
    if (actions.redeem === "amount") {
      const label = balance.kind === "giftcard" ? word("spend") : word("redeem_amount");
      box.append(
        staffButton(label, "redeem", () =>
          askAmount(label, balance.name, false, (amount) =>
            staffCall("redeem", { campaign_id: id, amount })
          )
        )
      );
    } else if (actions.redeem === "item") {
      for (const item of balance.items.filter((candidate) => candidate.free)) {
        box.append(
          staffButton(`${word("redeem")}: ${item.name}`, "redeem", () =>
            staffCall("redeem", { campaign_id: id, item: item.id })
          )
        );
      }
    }
    return box;
  }

  async function refreshMember() {
    if (!state.visit) return;
    const answer = await api("POST", "api/visit", { visit: state.visit });
    if (answer.ok) {
      renderMember(answer.data);
    } else {
      setMessage("member-message", answer.data.message);
    }
  }

  // ------------------------------------------------------------------ staff mode

  function setStaff(token) {
    state.staff = token;
    $("screen-member").classList.toggle("staff", Boolean(token));
    $("staff-badge").hidden = !token;
    $("staff-toggle").textContent = token ? word("lock") : word("staff");
  }

  function openDialog(id) {
    $(id).hidden = false;
  }

  function closeDialog(id) {
    $(id).hidden = true;
  }

  async function unlockStaff() {
    const pin = $("pin-input").value;
    if (!pin) return;
    const answer = await api("POST", "api/staff/unlock", { pin });
    $("pin-input").value = "";
    if (!answer.ok) {
      setMessage("pin-message", answer.data.message);
      return;
    }
    setMessage("pin-message", "");
    closeDialog("pin-dialog");
    setStaff(answer.data.staff);
  }

  function askAmount(title, label, wholeNumber, action) {
    state.amountAction = { action, wholeNumber };
    $("amount-title").textContent = title;
    $("amount-label").textContent = label || "";
    $("amount-input").value = wholeNumber ? "1" : "";
    $("amount-input").setAttribute("aria-label", wholeNumber ? word("quantity") : word("amount"));
    buildKeypad($("amount-keypad"), wholeNumber ? ["clear", "0", "delete"] : [".", "0", "delete"]);
    setMessage("amount-message", "");
    openDialog("amount-dialog");
  }

  async function submitAmount() {
    const pending = state.amountAction;
    const value = $("amount-input").value;
    if (!pending || !value) return;
    const answer = await pending.action(value);
    if (answer && !answer.ok && answer.status === 422) {
      setMessage("amount-message", answer.data.message);
      return;
    }
    state.amountAction = null;
    closeDialog("amount-dialog");
  }

  async function staffCall(kind, payload) {
    if (!state.visit) return null;
    const answer = await api("POST", `api/staff/${kind}`, { visit: state.visit, ...payload }, true);
    if (answer.ok) {
      setMessage("member-message", "");
      state.receipts = answer.data.receipts || { [state.language]: answer.data.receipt };
      renderReceipt(answer.data.receipt);
      await refreshMember();
      return answer;
    }
    if (answer.data.error === "staff_only") setStaff(null);
    if (answer.status !== 422) setMessage("member-message", answer.data.message);
    return answer;
  }

  // The last staff action's receipt, in the page's current language.
  function renderReceipt(fallback) {
    if (!state.receipts) return;
    const receipt = state.receipts[state.language] || fallback;
    if (!receipt) return;
    $("receipt-transaction").textContent = receipt.transaction;
    $("receipt-text").textContent = receipt.text;
    $("receipt").hidden = false;
  }

  // ------------------------------------------------------------------ walk-in join

  async function join() {
    const contact = $("join-input").value.trim();
    if (!contact || state.busy) return;
    state.busy = true;
    setMessage("join-message", word("looking"), "ok");
    const answer = await api("POST", "api/join", { contact });
    state.busy = false;
    if (!answer.ok) {
      setMessage("join-message", answer.data.message);
      return;
    }
    if (answer.data.already_member) {
      setMessage("join-message", answer.data.message);
      return;
    }
    clearMessages();
    $("join-input").value = "";
    $("joined-card").src = answer.data.card_image;
    // The number is on the screen as text (cleared on "Done"); the image says what it is.
    $("joined-card").alt = word("welcome_card");
    $("joined-number").textContent = answer.data.card_number;
    if (answer.data.claim_qr) {
      $("joined-claim-qr").src = answer.data.claim_qr;
      $("joined-claim").hidden = false;
    }
    show("joined");
  }

  function setJoinMode(mode) {
    state.joinMode = mode;
    $("join-input").value = "";
    for (const tab of document.querySelectorAll(".tab")) {
      tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
    }
    renderJoinKeypad();
    setMessage("join-message", "");
  }

  function renderJoinKeypad() {
    const pad = $("join-keypad");
    if (state.joinMode === "email") {
      pad.classList.add("letters");
      buildKeypad(pad, [..."1234567890qwertyuiopasdfghjkl@zxcvbnm._-", "delete"]);
    } else {
      pad.classList.remove("letters");
      buildKeypad(pad, ["+", "0", "delete"]);
    }
    $("join-input").setAttribute("aria-label", word(state.joinMode));
  }

  // ------------------------------------------------------------------ keypads

  function buildKeypad(pad, lastKeys) {
    const keys = pad.classList.contains("letters") ? lastKeys : [..."123456789", ...lastKeys];
    pad.replaceChildren();
    for (const key of keys) {
      const button = document.createElement("button");
      button.type = "button";
      if (key === "delete" || key === "clear") {
        button.textContent = key === "delete" ? "⌫" : "C";
        button.setAttribute("aria-label", word(key));
        button.className = pad.classList.contains("letters") ? "wide key-word" : "key-word";
      } else {
        button.textContent = key;
      }
      button.dataset.key = key;
      pad.append(button);
    }
  }

  function pressKey(input, key) {
    if (key === "delete") input.value = input.value.trimEnd().slice(0, -1);
    else if (key === "clear") input.value = "";
    else if (input.value.length < 64) input.value += key;
    if (input.id === "entry-input") {
      // Groups of four, as printed on the card; the server drops the spaces.
      const compact = input.value.replace(/\s+/g, "");
      input.value = compact.replace(/(.{4})(?=.)/g, "$1 ");
    }
  }

  document.addEventListener("click", (event) => {
    const key = event.target.closest(".keypad button");
    if (key) {
      const input = $(key.parentElement.dataset.target);
      pressKey(input, key.dataset.key);
      return;
    }
    const action = event.target.closest("[data-action='idle']");
    if (action) {
      goIdle();
      return;
    }
    const close = event.target.closest("[data-close]");
    if (close) closeDialog(close.dataset.close);
  });

  // ------------------------------------------------------------------ USB scanner and keys

  // Physical key codes, so a scanner on a non-US layout still gives digits.
  function keyChar(code) {
    let match = /^(?:Digit|Numpad)([0-9])$/.exec(code);
    if (match) return match[1];
    match = /^Key([A-Z])$/.exec(code);
    if (match) return match[1];
    if (code === "Minus" || code === "NumpadSubtract") return "-";
    return null;
  }

  function isEnter(event) {
    return event.code === "Enter" || event.code === "NumpadEnter" || event.key === "Enter";
  }

  function typeInto(event, input, allowDecimal, submit) {
    if (isEnter(event)) {
      event.preventDefault();
      submit();
      return;
    }
    if (event.key === "Backspace") {
      event.preventDefault();
      pressKey(input, "delete");
      return;
    }
    if (allowDecimal && ["Period", "NumpadDecimal", "Comma"].includes(event.code)) {
      event.preventDefault();
      pressKey(input, ".");
      return;
    }
    const char = keyChar(event.code);
    if (char && (allowDecimal !== null || /[0-9]/.test(char))) {
      event.preventDefault();
      pressKey(input, char);
    }
  }

  document.addEventListener("keydown", (event) => {
    touch();
    if (event.ctrlKey || event.altKey || event.metaKey) return;
    if (!$("pin-dialog").hidden) {
      typeInto(event, $("pin-input"), null, unlockStaff);
      return;
    }
    if (!$("amount-dialog").hidden) {
      typeInto(event, $("amount-input"), !state.amountAction?.wholeNumber, submitAmount);
      return;
    }
    if (state.screen === "entry") {
      typeInto(event, $("entry-input"), false, () => lookUp($("entry-input").value));
      return;
    }
    if (state.screen === "join") {
      if (isEnter(event)) {
        event.preventDefault();
        join();
      }
      return;
    }
    // Before the first screen is up (words and session still loading) a scanner's keys are
    // kept, and a card ended with Enter is looked up once the idle screen is ready.
    const starting = state.screen === null;
    if (state.screen !== "idle" && state.screen !== "member" && !starting) return;
    const now = Date.now();
    if (now - state.scanner.at > SCANNER_GAP_MS) state.scanner.buffer = "";
    state.scanner.at = now;
    if (isEnter(event)) {
      const card = state.scanner.buffer;
      state.scanner.buffer = "";
      if (card.length >= 4) {
        event.preventDefault();
        if (starting) state.pendingScan = card;
        else lookUp(card);
      }
      return;
    }
    const char = keyChar(event.code);
    if (char) {
      event.preventDefault();
      state.scanner.buffer = (state.scanner.buffer + char).slice(-40);
    }
  });

  document.addEventListener("pointerdown", touch, { passive: true });

  // ------------------------------------------------------------------ camera

  function cameraOff() {
    $("camera-off").hidden = false;
  }

  async function startCamera() {
    if (state.camera) {
      scheduleScan();
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.jsQR) {
      cameraOff();
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } },
      });
    } catch (error) {
      cameraOff();
      return;
    }
    if (state.screen !== "idle" || state.camera) {
      for (const track of stream.getTracks()) track.stop();
      return;
    }
    state.camera = stream;
    $("camera-off").hidden = true;
    const video = $("camera-video");
    video.srcObject = stream;
    try {
      await video.play();
    } catch (error) {
      // Autoplay of a muted stream is allowed; a refusal only delays the first frame.
    }
    scheduleScan();
  }

  function stopCamera() {
    clearTimeout(state.scanTimer);
    state.scanTimer = null;
    if (!state.camera) return;
    for (const track of state.camera.getTracks()) track.stop();
    state.camera = null;
    $("camera-video").srcObject = null;
  }

  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });

  function scheduleScan() {
    clearTimeout(state.scanTimer);
    state.scanTimer = setTimeout(scanFrame, SCAN_INTERVAL_MS);
  }

  function scanFrame() {
    const video = $("camera-video");
    if (!state.camera || state.screen !== "idle") return;
    if (!state.busy && video.readyState >= 2 && video.videoWidth) {
      const scale = Math.min(1, 800 / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      const frame = context.getImageData(0, 0, canvas.width, canvas.height);
      const code = window.jsQR(frame.data, canvas.width, canvas.height, {
        inversionAttempts: "dontInvert",
      });
      const text = code && code.data ? code.data.trim() : "";
      const now = Date.now();
      if (text && !(text === state.lastScan.text && now - state.lastScan.at < SAME_CODE_PAUSE_MS)) {
        state.lastScan = { text, at: now };
        lookUp(text);
      }
    }
    scheduleScan();
  }

  // ------------------------------------------------------------------ wiring

  function wire() {
    $("pair-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      setMessage("pair-error", "");
      if (await pair($("pair-code").value)) {
        $("pair-code").value = "";
        if (await loadSession()) show("idle");
      }
    });
    $("type-card").addEventListener("click", () => {
      setMessage("entry-message", "");
      $("entry-input").value = "";
      show("entry");
    });
    $("entry-submit").addEventListener("click", () => lookUp($("entry-input").value));
    $("start-join").addEventListener("click", () => {
      setJoinMode("phone");
      show("join");
    });
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => setJoinMode(tab.dataset.mode));
    }
    $("join-submit").addEventListener("click", join);
    $("staff-toggle").addEventListener("click", () => {
      if (state.staff) {
        api("POST", "api/staff/lock", {});
        setStaff(null);
        return;
      }
      $("pin-input").value = "";
      setMessage("pin-message", "");
      openDialog("pin-dialog");
    });
    $("pin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      unlockStaff();
    });
    $("amount-submit").addEventListener("click", submitAmount);
    buildKeypad($("entry-keypad"), ["clear", "0", "delete"]);
    buildKeypad($("pin-keypad"), ["clear", "0", "delete"]);
  }

  async function pairFromAddress() {
    const code = new URLSearchParams(location.hash.slice(1)).get("pair");
    if (!code) return true;
    // The pairing code is used once: keep it out of the history and the address bar.
    history.replaceState(null, "", location.pathname + location.search);
    forgetMember();
    return pair(code);
  }

  async function start() {
    wire();
    await loadWords(null);
    state.key = localStorage.getItem(KEY_STORE);
    // A pairing link opened on a kiosk page that is already open.
    window.addEventListener("hashchange", async () => {
      if ((await pairFromAddress()) && (await loadSession())) show("idle");
    });
    if (!(await pairFromAddress())) return;
    if (!state.key) {
      show("pairing");
      return;
    }
    if (await loadSession()) show("idle");
  }

  start();
})();
