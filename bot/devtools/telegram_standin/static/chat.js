// The chat page of the local Telegram stand-in. Everything the bot wrote is put into the page
// through text nodes and element properties, never as markup.
"use strict";

(() => {
  const base = location.pathname.replace(/\/chat\/?$/, "");
  const apiUrl = (path) => `${base}/chat/api${path}`;
  const fileUrl = (fileId) => `${base}/chat/files/${encodeURIComponent(fileId)}`;
  const SAFE_LINK = /^(https?:|tg:|mailto:)/i;
  const EVENT_WAIT_SECONDS = 20;
  const CALLBACK_SPINNER_MS = 15000;

  const $ = (id) => document.getElementById(id);
  const transcript = $("transcript");
  const emptyChat = $("empty-chat");
  const input = $("message-input");
  const replyKeyboard = $("reply-keyboard");
  const keyboardToggle = $("keyboard-toggle");
  const commandsMenu = $("commands-menu");
  const attachMenu = $("attach-menu");
  const botStatus = $("bot-status");

  const state = {
    bot: null,
    users: [],
    userId: null,
    lastEvent: 0,
    keyboard: null,
    keyboardCollapsed: false,
    commands: [],
    poll: null,
    typingTimer: null,
    toastTimer: null,
    answered: new Set(),
  };

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function initials(name) {
    return Array.from(name.trim()).slice(0, 1).join("").toUpperCase() || "?";
  }

  function fullName(user) {
    return [user.first_name, user.last_name].filter(Boolean).join(" ");
  }

  function describeUser(user) {
    return `${user.phone} · ${user.language_code}`;
  }

  async function call(path, options = {}) {
    const response = await fetch(apiUrl(path), options);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    return body;
  }

  function post(path, payload) {
    return call(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    });
  }

  // ----- rich text: Telegram entities (UTF-16 offsets, like JavaScript strings) -----------

  function entityElement(entity, covered) {
    switch (entity.type) {
      case "bold": return element("b");
      case "italic": return element("i");
      case "underline": return element("u");
      case "strikethrough": return element("s");
      case "code": return element("code");
      case "pre": {
        const pre = element("pre");
        const code = element("code");
        if (entity.language) code.dataset.language = entity.language;
        pre.append(code);
        return pre;
      }
      case "blockquote":
      case "expandable_blockquote":
        return element("blockquote");
      case "spoiler": {
        const span = element("span", "spoiler");
        span.title = "Spoiler: click to reveal";
        span.addEventListener("click", () => span.classList.add("revealed"));
        return span;
      }
      case "text_link":
      case "url": {
        const href = entity.type === "url" ? covered : entity.url;
        if (!SAFE_LINK.test(href || "")) return element("span");
        const link = element("a");
        link.href = href;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        return link;
      }
      case "email": {
        const link = element("a");
        link.href = `mailto:${covered}`;
        return link;
      }
      case "bot_command": {
        const command = element("span", "command");
        command.setAttribute("role", "link");
        command.tabIndex = 0;
        command.addEventListener("click", () => sendText(covered));
        return command;
      }
      default:
        return element("span");
    }
  }

  function appendRich(parent, text, entities) {
    const sorted = [...(entities || [])]
      .filter((entity) => entity.length > 0)
      .sort((a, b) => a.offset - b.offset || b.length - a.length);

    function build(target, start, end, list) {
      let position = start;
      let index = 0;
      while (index < list.length) {
        const entity = list[index];
        const entityStart = Math.max(entity.offset, position);
        const entityEnd = Math.min(entity.offset + entity.length, end);
        const inner = [];
        let next = index + 1;
        while (next < list.length && list[next].offset < entityEnd) {
          inner.push(list[next]);
          next += 1;
        }
        if (entityStart > position) target.append(text.slice(position, entityStart));
        if (entityEnd > entityStart) {
          const node = entityElement(entity, text.slice(entityStart, entityEnd));
          const holder = node.tagName === "PRE" ? node.firstChild : node;
          build(holder, entityStart, entityEnd, inner);
          target.append(node);
          position = entityEnd;
        }
        index = next;
      }
      if (position < end) target.append(text.slice(position, end));
    }

    build(parent, 0, text.length, sorted);
  }

  // ----- the transcript ------------------------------------------------------------------

  function formatTime(unixSeconds) {
    return new Date(unixSeconds * 1000).toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
    });
  }

  function contactCard(contact) {
    const card = element("div", "contact-card");
    const name = [contact.first_name, contact.last_name].filter(Boolean).join(" ");
    card.append(element("div", "avatar", initials(name)));
    const details = element("div");
    details.append(element("strong", null, name));
    details.append(element("small", null, contact.phone_number));
    card.append(details);
    return card;
  }

  function inlineKeyboard(message) {
    const keyboard = element("div", "inline-keyboard");
    for (const row of message.inline_keyboard) {
      const rowNode = element("div", "inline-row");
      for (const button of row) {
        let node;
        if (button.url) {
          node = element("a", "inline-button", `${button.text} ↗`);
          if (SAFE_LINK.test(button.url)) node.href = button.url;
          node.target = "_blank";
          node.rel = "noopener noreferrer";
        } else {
          node = element("button", "inline-button", button.text);
          node.type = "button";
          if (button.callback_data !== undefined) {
            node.addEventListener("click", () => pressInline(node, message, button));
          } else {
            node.disabled = true;
            node.title = "Not available in the local stand-in";
          }
        }
        rowNode.append(node);
      }
      keyboard.append(rowNode);
    }
    return keyboard;
  }

  function renderMessage(message) {
    const wrapper = element("div", `message ${message.from_bot ? "from-bot" : "from-user"}`);
    wrapper.dataset.messageId = String(message.message_id);
    const bubble = element("div", "bubble");
    if (message.photo_file_id) {
      bubble.classList.add("has-photo");
      const image = element("img", "photo");
      image.src = fileUrl(message.photo_file_id);
      image.alt = message.caption || "Photo from the bot";
      bubble.append(image);
    }
    if (message.contact) bubble.append(contactCard(message.contact));
    if (message.text !== null && message.text !== undefined) {
      const text = element("span", "text");
      appendRich(text, message.text, message.entities);
      bubble.append(text);
    }
    if (message.caption) {
      const caption = element("div", "caption");
      appendRich(caption, message.caption, message.caption_entities);
      bubble.append(caption);
    }
    const meta = element(
      "span",
      "meta",
      `${message.edited ? "edited " : ""}${formatTime(message.date)}`,
    );
    bubble.append(meta);
    wrapper.append(bubble);
    if (message.inline_keyboard && message.inline_keyboard.length) {
      wrapper.append(inlineKeyboard(message));
    }
    return wrapper;
  }

  function nearBottom() {
    return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 120;
  }

  function scrollToBottom() {
    transcript.scrollTop = transcript.scrollHeight;
  }

  function upsertMessage(message) {
    const stick = nearBottom();
    const node = renderMessage(message);
    const existing = transcript.querySelector(`[data-message-id="${message.message_id}"]`);
    if (existing) {
      existing.replaceWith(node);
    } else {
      const later = Array.from(transcript.querySelectorAll(".message")).find(
        (other) => Number(other.dataset.messageId) > message.message_id,
      );
      transcript.insertBefore(node, later || null);
      if (message.from_bot) showTyping(false);
    }
    emptyChat.hidden = true;
    const image = node.querySelector("img");
    if (stick || !message.from_bot) {
      scrollToBottom();
      if (image) image.addEventListener("load", scrollToBottom, { once: true });
    }
  }

  function removeMessage(messageId) {
    const existing = transcript.querySelector(`[data-message-id="${messageId}"]`);
    if (existing) existing.remove();
    emptyChat.hidden = Boolean(transcript.querySelector(".message"));
  }

  // ----- the bot's reply keyboard, commands, toasts ---------------------------------------

  function renderReplyKeyboard() {
    replyKeyboard.replaceChildren();
    const keyboard = state.keyboard;
    const show = Boolean(keyboard) && !state.keyboardCollapsed;
    replyKeyboard.hidden = !show;
    keyboardToggle.hidden = !keyboard || !state.keyboardCollapsed;
    input.placeholder = (keyboard && keyboard.input_field_placeholder) || "Message";
    if (!keyboard) return;
    replyKeyboard.classList.toggle("compact", Boolean(keyboard.resize_keyboard));
    for (const row of keyboard.keyboard) {
      const rowNode = element("div", "reply-row");
      for (const button of row) {
        const node = element("button", "reply-button", button.text);
        node.type = "button";
        node.addEventListener("click", () => pressReply(button));
        rowNode.append(node);
      }
      replyKeyboard.append(rowNode);
    }
  }

  function renderCommands() {
    commandsMenu.replaceChildren();
    if (!state.commands.length) {
      commandsMenu.append(element("p", "popup-empty", "The bot has set no commands. Try /start."));
      return;
    }
    for (const command of state.commands) {
      const item = element("button", "popup-item");
      item.type = "button";
      item.append(element("strong", null, `/${command.command}`));
      item.append(element("small", null, command.description));
      item.addEventListener("click", () => {
        commandsMenu.hidden = true;
        sendText(`/${command.command}`);
      });
      commandsMenu.append(item);
    }
  }

  function showToast(text) {
    const toast = $("toast");
    toast.textContent = text;
    toast.hidden = false;
    clearTimeout(state.toastTimer);
    state.toastTimer = setTimeout(() => { toast.hidden = true; }, 2600);
  }

  function showAlert(text) {
    $("alert-text").textContent = text;
    $("alert").hidden = false;
    $("alert-ok").focus();
  }

  function showTyping(active) {
    clearTimeout(state.typingTimer);
    botStatus.textContent = active ? "typing…" : "bot";
    botStatus.classList.toggle("typing", active);
    if (active) state.typingTimer = setTimeout(() => showTyping(false), 5000);
  }

  function finishCallback(event) {
    state.answered.add(event.callback_query_id);
    for (const button of transcript.querySelectorAll('[aria-busy="true"]')) {
      if (button.dataset.queryId === event.callback_query_id) {
        button.removeAttribute("aria-busy");
      }
    }
    if (event.text) {
      if (event.show_alert) showAlert(event.text);
      else showToast(event.text);
    }
  }

  // ----- acting as the user ----------------------------------------------------------------

  async function act(promise) {
    try {
      const result = await promise;
      if (result && result.message) upsertMessage(result.message);
      return result;
    } catch (error) {
      showToast(error.message);
      return null;
    }
  }

  function sendText(text) {
    if (!text.trim() || state.userId === null) return;
    act(post(`/chats/${state.userId}/messages`, { text }));
  }

  function pressReply(button) {
    act(post(`/chats/${state.userId}/reply-button`, { text: button.text }));
    if (state.keyboard && state.keyboard.one_time_keyboard) {
      state.keyboardCollapsed = true;
      renderReplyKeyboard();
    }
  }

  async function pressInline(node, message, button) {
    if (node.getAttribute("aria-busy") === "true") return;
    node.setAttribute("aria-busy", "true");
    const result = await act(
      post(`/chats/${state.userId}/inline-button`, {
        message_id: message.message_id,
        callback_data: button.callback_data,
      }),
    );
    if (!result) {
      node.removeAttribute("aria-busy");
      return;
    }
    node.dataset.queryId = result.callback_query_id;
    if (state.answered.has(result.callback_query_id)) {
      node.removeAttribute("aria-busy");
      return;
    }
    setTimeout(() => node.removeAttribute("aria-busy"), CALLBACK_SPINNER_MS);
  }

  // ----- keeping up with the bot -----------------------------------------------------------

  function applyEvent(event) {
    switch (event.type) {
      case "message":
      case "edit":
        upsertMessage(event.message);
        break;
      case "delete":
        removeMessage(event.message_id);
        break;
      case "reply_keyboard":
        state.keyboard = event.keyboard;
        state.keyboardCollapsed = event.collapsed;
        renderReplyKeyboard();
        break;
      case "callback_answer":
        finishCallback(event);
        break;
      case "chat_action":
        showTyping(event.action === "typing" || event.action.startsWith("upload"));
        break;
      case "commands":
        state.commands = event.commands;
        renderCommands();
        break;
      default:
        break;
    }
  }

  async function followEvents(userId, controller) {
    while (state.userId === userId && !controller.signal.aborted) {
      try {
        const found = await call(
          `/chats/${userId}/events?after=${state.lastEvent}&timeout=${EVENT_WAIT_SECONDS}`,
          { signal: controller.signal },
        );
        if (state.userId !== userId) return;
        for (const event of found.events) applyEvent(event);
        state.lastEvent = found.last_event;
      } catch (error) {
        if (controller.signal.aborted) return;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  async function selectUser(userId) {
    if (state.poll) state.poll.abort();
    state.userId = userId;
    history.replaceState(null, "", `#user=${userId}`);
    for (const option of document.querySelectorAll(".user-option")) {
      option.setAttribute("aria-current", String(Number(option.dataset.userId) === userId));
    }
    $("user-select").value = String(userId);
    const chat = await call(`/chats/${userId}`);
    if (state.userId !== userId) return;
    for (const node of transcript.querySelectorAll(".message")) node.remove();
    emptyChat.hidden = chat.messages.length > 0;
    for (const message of chat.messages) upsertMessage(message);
    state.keyboard = chat.reply_keyboard;
    state.keyboardCollapsed = chat.keyboard_collapsed;
    state.commands = chat.commands;
    state.lastEvent = chat.last_event;
    renderReplyKeyboard();
    renderCommands();
    showTyping(false);
    scrollToBottom();
    input.focus();
    const controller = new AbortController();
    state.poll = controller;
    followEvents(userId, controller);
  }

  function renderUsers() {
    const list = $("user-list");
    const select = $("user-select");
    list.replaceChildren();
    select.replaceChildren();
    for (const user of state.users) {
      const item = element("li");
      const option = element("button", "user-option");
      option.type = "button";
      option.dataset.userId = String(user.id);
      option.append(element("div", "avatar", initials(user.first_name)));
      const details = element("div", "user-details");
      details.append(element("strong", null, fullName(user)));
      details.append(element("small", null, describeUser(user)));
      option.append(details);
      option.addEventListener("click", () => selectUser(user.id));
      item.append(option);
      list.append(item);
      const choice = element(
        "option",
        null,
        `${fullName(user)} · ${user.phone} · ${user.language_code}`,
      );
      choice.value = String(user.id);
      select.append(choice);
    }
    select.addEventListener("change", () => selectUser(Number(select.value)));
  }

  async function start() {
    const directory = await call("/users");
    state.bot = directory.bot;
    state.users = directory.users;
    $("bot-name").textContent = directory.bot.first_name;
    $("bot-avatar").textContent = initials(directory.bot.first_name);
    document.title = `${directory.bot.first_name} · local Telegram stand-in`;
    renderUsers();
    const wanted = Number((location.hash.match(/user=(\d+)/) || [])[1]);
    const first = state.users.find((user) => user.id === wanted) || state.users[0];
    if (first) await selectUser(first.id);
  }

  $("composer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    input.value = "";
    sendText(text);
  });
  $("commands-button").addEventListener("click", () => {
    attachMenu.hidden = true;
    commandsMenu.hidden = !commandsMenu.hidden;
  });
  $("attach-button").addEventListener("click", () => {
    commandsMenu.hidden = true;
    attachMenu.hidden = !attachMenu.hidden;
  });
  for (const item of attachMenu.querySelectorAll("[data-contact]")) {
    item.addEventListener("click", () => {
      attachMenu.hidden = true;
      act(post(`/chats/${state.userId}/contact`, { own: item.dataset.contact === "own" }));
    });
  }
  keyboardToggle.addEventListener("click", () => {
    state.keyboardCollapsed = false;
    renderReplyKeyboard();
  });
  $("alert-ok").addEventListener("click", () => { $("alert").hidden = true; });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      commandsMenu.hidden = true;
      attachMenu.hidden = true;
      $("alert").hidden = true;
    }
  });

  start().catch((error) => showToast(`Could not reach the stand-in: ${error.message}`));
})();
