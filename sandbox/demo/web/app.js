// The sandbox web chat: personas on the left, one Telegram-like chat per persona, a clock that jumps ahead.
// Plain JS, no build step. Every text from the bot or a user goes into the page as a text node: formatting is
// rebuilt from Telegram's entities with DOM elements, never with innerHTML.
"use strict";

(() => {
  const UI = {
    vi: {
      subtitle: "Thử nghiệm không cần Telegram",
      clock: "Đồng hồ",
      clockLabel: "Giờ trong sandbox",
      plusHour: "+1 giờ",
      plusDay: "+1 ngày",
      plusWeek: "+1 tuần",
      toDigest: "Bản tin tuần",
      hint: "Chọn một người ở trên để nói chuyện với bot dưới vai trò của họ.",
      placeholder: "Nhắn tin…",
      send: "Gửi",
      menuTitle: "Menu lệnh",
      secretary: "Thư ký Ban chỉ đạo ISO",
      linked: "đã liên kết",
      unlinked: "chưa liên kết",
      typing: "đang nhập…",
      edited: "đã sửa",
      noMessages: "Chưa có tin nhắn. Gửi /start hoặc /help để bắt đầu.",
      unlinkedHint: "Người này chưa liên kết với bot: thư ký gửi /invite {unit} rồi người này gửi /start MÃ.",
      offset: "nhanh hơn giờ thật {d}",
      realTime: "theo giờ thật",
      days: "{n} ngày",
      hours: "{n} giờ",
      minutes: "{n} phút",
      moved: "Đồng hồ: {t}",
      inviteCopied: "Đã chép lệnh /start của lời mời. Chọn người được mời ở cột bên trái rồi bấm Gửi.",
      stopped: "Sandbox đã dừng. Chạy lại qmsbot sandbox rồi tải lại trang.",
      reconnecting: "Mất kết nối với sandbox, đang thử lại…",
      noCommands: "Bot chưa đặt menu lệnh.",
      download: "Tải về",
      digestTitle: "Đến giờ gửi bản tin tuần tiếp theo ({t})",
      bot: "bot",
      attach: "Đính kèm tệp (minh chứng, danh mục để nhập)",
      reply: "Trả lời",
      replyingTo: "Trả lời:",
      cancelReply: "Bỏ trả lời",
      tooBig: "Tệp {name} lớn hơn {max}: bot không tải được tệp như vậy.",
      emptyFile: "Tệp {name} trống: Telegram không gửi tệp trống.",
    },
    en: {
      subtitle: "Try it without Telegram",
      clock: "Clock",
      clockLabel: "Sandbox time",
      plusHour: "+1 hour",
      plusDay: "+1 day",
      plusWeek: "+1 week",
      toDigest: "Weekly digest",
      hint: "Pick someone above to talk to the bot as them.",
      placeholder: "Message…",
      send: "Send",
      menuTitle: "Command menu",
      secretary: "ISO committee secretary",
      linked: "linked",
      unlinked: "not linked",
      typing: "typing…",
      edited: "edited",
      noMessages: "No messages yet. Send /start or /help to begin.",
      unlinkedHint: "Not linked to the bot yet: the secretary sends /invite {unit}, then this person sends /start CODE.",
      offset: "ahead of real time by {d}",
      realTime: "real time",
      days: "{n} d",
      hours: "{n} h",
      minutes: "{n} min",
      moved: "Clock: {t}",
      inviteCopied: "The invite's /start command is copied. Pick the invited person on the left and press Send.",
      stopped: "The sandbox has stopped. Run qmsbot sandbox again and reload the page.",
      reconnecting: "Lost the connection to the sandbox, retrying…",
      noCommands: "The bot has not set a command menu.",
      download: "Download",
      digestTitle: "Jump to the next weekly digest ({t})",
      bot: "bot",
      attach: "Attach a file (evidence, a register to import)",
      reply: "Reply",
      replyingTo: "Reply to:",
      cancelReply: "Cancel the reply",
      tooBig: "{name} is larger than {max}: the bot could not download it.",
      emptyFile: "{name} is empty: Telegram does not send empty files.",
    },
  };

  const $ = (id) => document.getElementById(id);
  const els = {
    personas: $("personas"),
    messages: $("messages"),
    text: $("text"),
    composer: $("composer"),
    menu: $("menu"),
    menuButton: $("menu-button"),
    clockNow: $("clock-now"),
    clockOffset: $("clock-offset"),
    chatName: $("chat-name"),
    chatSub: $("chat-sub"),
    chatAvatar: $("chat-avatar"),
    chatBot: $("chat-bot"),
    replyKeyboard: $("reply-keyboard"),
    banner: $("banner"),
    toasts: $("toasts"),
    langToggle: $("lang-toggle"),
    jumpDigest: $("jump-digest"),
    attach: $("attach"),
    file: $("file"),
    replyBar: $("reply-bar"),
    replyText: $("reply-text"),
    replyCancel: $("reply-cancel"),
  };

  const state = {
    lang: localStorage.getItem("qmsbot-sandbox-lang") === "en" ? "en" : "vi",
    session: "",
    bot: null,
    personas: [],
    byId: new Map(), // user_id -> persona
    active: null, // user_id
    chats: new Map(), // user_id -> Map(message_id -> message)
    replyKeyboards: new Map(), // user_id -> reply keyboard markup or null
    unread: new Map(), // user_id -> count
    clock: null, // {epoch, offset_seconds, timezone, next_digest}
    clockFetchedAt: 0,
    pendingStart: null,
    typingTimer: null,
    refreshTimer: null,
    replyTo: null, // {userId, messageId}: the next text or file answers this message (as Telegram's "Reply")
    maxUpload: 20 * 1024 * 1024,
  };

  // -- small helpers -------------------------------------------------------------------------------------

  function tr(key, params) {
    let text = (UI[state.lang] && UI[state.lang][key]) || UI.vi[key] || key;
    for (const [name, value] of Object.entries(params || {})) text = text.split(`{${name}}`).join(String(value));
    return text;
  }

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  async function api(path, body) {
    const options = body === undefined
      ? {}
      : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    const response = await fetch(path, options);
    let payload = null;
    try {
      payload = await response.json();
    } catch (_) {
      payload = null;
    }
    if (!response.ok) throw new Error((payload && payload.error) || `${response.status} ${response.statusText}`);
    return payload;
  }

  function toast(text, kind) {
    const el = h("div", { class: `toast ${kind || ""}`, role: "status" }, text);
    els.toasts.append(el);
    setTimeout(() => el.classList.add("leaving"), 3800);
    setTimeout(() => el.remove(), 4300);
  }

  function locale() {
    return state.lang === "en" ? "en-GB" : "vi-VN";
  }

  function timeZone() {
    return (state.clock && state.clock.timezone) || undefined;
  }

  function formatTime(epochSeconds) {
    return new Intl.DateTimeFormat(locale(), { hour: "2-digit", minute: "2-digit", timeZone: timeZone() })
      .format(new Date(epochSeconds * 1000));
  }

  function formatDay(epochSeconds) {
    return new Intl.DateTimeFormat(locale(), {
      weekday: "long", day: "2-digit", month: "2-digit", year: "numeric", timeZone: timeZone(),
    }).format(new Date(epochSeconds * 1000));
  }

  function dayKey(epochSeconds) {
    return new Intl.DateTimeFormat("en-CA", { timeZone: timeZone() }).format(new Date(epochSeconds * 1000));
  }

  function initials(persona) {
    if (persona.role === "secretary") return "TK";
    return persona.unit_code.slice(0, 4);
  }

  function hue(text) {
    let value = 0;
    for (const ch of text) value = (value * 31 + ch.codePointAt(0)) % 360;
    return value;
  }

  function avatar(persona, size) {
    const el = h("div", { class: `avatar ${size || ""}`, "aria-hidden": "true" }, initials(persona));
    el.style.setProperty("--hue", String(persona.role === "secretary" ? 210 : hue(persona.unit_code)));
    return el;
  }

  // -- Telegram entities -> DOM --------------------------------------------------------------------------

  const SAFE_URL = /^(https?:|tg:|mailto:)/i;

  function deepLinkCode(url) {
    // https://t.me/<this bot>?start=CODE (an invite): the sandbox fills in "/start CODE" for another persona.
    if (!state.bot) return null;
    try {
      const parsed = new URL(url);
      if (!/^(t\.me|telegram\.me)$/i.test(parsed.hostname)) return null;
      if (parsed.pathname.replace(/^\//, "").toLowerCase() !== String(state.bot.username).toLowerCase()) return null;
      return parsed.searchParams.get("start");
    } catch (_) {
      return null;
    }
  }

  function linkElement(url) {
    const code = deepLinkCode(url);
    if (code) {
      return h("a", {
        href: url,
        class: "deep-link",
        title: `/start ${code}`,
        onclick: (event) => {
          event.preventDefault();
          useInvite(code);
        },
      });
    }
    if (!SAFE_URL.test(url)) return h("span", { class: "bad-link", title: url });
    return h("a", { href: url, target: "_blank", rel: "noopener noreferrer" });
  }

  function entityElement(entity, text) {
    const inner = text.slice(entity.offset, entity.offset + entity.length);
    switch (entity.type) {
      case "bold": return h("b");
      case "italic": return h("i");
      case "underline": return h("u");
      case "strikethrough": return h("s");
      case "spoiler": return h("span", { class: "spoiler", onclick: (e) => e.currentTarget.classList.add("shown") });
      case "code": return h("code");
      case "pre": return h("pre", { dataset: entity.language ? { language: entity.language } : {} });
      case "blockquote":
      case "expandable_blockquote": return h("blockquote");
      case "text_link": return linkElement(entity.url || "");
      case "url": return linkElement(/^[a-z][a-z0-9+.-]*:/i.test(inner) ? inner : `https://${inner}`);
      case "email": return h("a", { href: `mailto:${inner}` });
      case "phone_number": return h("a", { href: `tel:${inner.replace(/[^+\d]/g, "")}` });
      case "bot_command":
        return h("a", {
          href: "#",
          class: "command",
          onclick: (event) => {
            event.preventDefault();
            sendText(inner.replace(/@.*$/, ""));
          },
        });
      case "mention":
      case "hashtag":
      case "cashtag":
      case "text_mention":
        return h("span", { class: "mention" });
      default: return null;
    }
  }

  function appendText(parent, text) {
    if (text) parent.append(document.createTextNode(text));
  }

  // Offsets are UTF-16 code units, like JS strings: slice() works on them directly.
  function buildEntities(parent, text, start, end, entities) {
    let position = start;
    let list = entities.slice();
    while (list.length) {
      const entity = list.shift();
      const from = Math.max(entity.offset, position);
      const to = Math.min(entity.offset + entity.length, end);
      if (to <= from) continue;
      appendText(parent, text.slice(position, from));
      const el = entityElement(entity, text) || document.createDocumentFragment();
      const inside = [];
      const rest = [];
      for (const other of list) {
        if (other.offset < to) {
          inside.push(other);
          if (other.offset + other.length > to) rest.push({ ...other, length: other.offset + other.length - to, offset: to });
        } else {
          rest.push(other);
        }
      }
      buildEntities(el, text, from, to, inside);
      parent.append(el);
      position = to;
      list = rest.sort((a, b) => a.offset - b.offset || b.length - a.length);
    }
    appendText(parent, text.slice(position, end));
  }

  function formatted(text, entities) {
    const el = h("div", { class: "text" });
    const sorted = (entities || []).slice().sort((a, b) => a.offset - b.offset || b.length - a.length);
    buildEntities(el, text, 0, text.length, sorted);
    return el;
  }

  // -- messages ------------------------------------------------------------------------------------------

  function isBot(message) {
    return Boolean(message.from && message.from.is_bot);
  }

  function fileUrl(fileId, download) {
    return `/api/files/${encodeURIComponent(fileId)}${download ? "?download=1" : ""}`;
  }

  function humanSize(bytes) {
    if (!bytes && bytes !== 0) return "";
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  function mediaOf(message) {
    if (Array.isArray(message.photo) && message.photo.length) {
      const largest = message.photo.reduce((a, b) => ((a.width || 0) * (a.height || 0) >= (b.width || 0) * (b.height || 0) ? a : b));
      const img = h("img", { src: fileUrl(largest.file_id), alt: "", loading: "lazy", class: "photo" });
      if (largest.width && largest.height) {
        img.width = largest.width;
        img.height = largest.height;
      }
      return h("a", { href: fileUrl(largest.file_id), target: "_blank", rel: "noopener", class: "photo-link" }, img);
    }
    if (message.document) {
      const doc = message.document;
      const name = doc.file_name || "file";
      const isImage = /^image\/(png|jpe?g|gif|webp)$/i.test(doc.mime_type || "");
      return h("div", { class: "document" },
        isImage ? h("a", { href: fileUrl(doc.file_id), target: "_blank", rel: "noopener", class: "photo-link" },
          h("img", { src: fileUrl(doc.file_id), alt: "", loading: "lazy", class: "photo" })) : null,
        h("a", { href: fileUrl(doc.file_id, true), download: name, class: "document-link", title: tr("download") },
          h("span", { class: "document-icon", "aria-hidden": "true" }, (name.split(".").pop() || "").slice(0, 4).toUpperCase()),
          h("span", { class: "document-meta" },
            h("span", { class: "document-name" }, name),
            h("span", { class: "document-size" }, humanSize(doc.file_size)))));
    }
    return null;
  }

  function keyboardOf(message, userId) {
    const rows = (message.reply_markup && message.reply_markup.inline_keyboard) || [];
    if (!rows.length) return null;
    return h("div", { class: "keyboard" }, rows.map((row) => h("div", { class: "keyboard-row" }, row.map((button) => {
      if (button.url) {
        const code = deepLinkCode(button.url);
        if (code) return h("button", { type: "button", class: "kb", onclick: () => useInvite(code) }, button.text, " ↗");
        if (!SAFE_URL.test(button.url)) return h("button", { type: "button", class: "kb", disabled: true }, button.text);
        return h("a", { href: button.url, target: "_blank", rel: "noopener noreferrer", class: "kb" }, button.text, " ↗");
      }
      if (button.callback_data === undefined) return h("button", { type: "button", class: "kb", disabled: true }, button.text);
      return h("button", {
        type: "button",
        class: "kb",
        onclick: (event) => press(userId, message.message_id, button.callback_data, event.currentTarget),
      }, button.text);
    }))));
  }

  function messageNode(message, userId) {
    const mine = !isBot(message);
    const text = message.text !== undefined ? message.text : message.caption;
    const entities = message.text !== undefined ? message.entities : message.caption_entities;
    const bubble = h("div", { class: "bubble" });
    if (message.reply_to_message) {
      const quoted = message.reply_to_message;
      bubble.append(h("div", { class: "quote" }, (quoted.text || quoted.caption || "").split("\n")[0].slice(0, 90)));
    }
    const media = mediaOf(message);
    if (media) bubble.append(media);
    if (text) bubble.append(formatted(text, entities));
    bubble.append(h("span", { class: "meta" },
      message.edit_date ? h("span", { class: "edited" }, tr("edited")) : null,
      h("time", {}, formatTime(message.date)),
      mine ? h("span", { class: "ticks", "aria-hidden": "true" }, "✓✓") : null));
    const reply = h("button", {
      type: "button",
      class: "reply-button",
      title: tr("reply"),
      "aria-label": tr("reply"),
      onclick: () => startReply(userId, message),
    }, "↩");
    return h("div", {
      class: `msg ${mine ? "out" : "in"}${media && !text ? " media-only" : ""}`,
      dataset: { messageId: String(message.message_id), date: String(message.date) },
    }, h("div", { class: "bubble-row" }, bubble, reply), mine ? null : keyboardOf(message, userId));
  }

  function renderMessages() {
    const userId = state.active;
    const box = els.messages;
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    box.replaceChildren();
    const messages = [...(state.chats.get(userId) || new Map()).values()].sort((a, b) => a.message_id - b.message_id);
    const persona = state.byId.get(userId);
    if (!messages.length) {
      box.append(h("div", { class: "empty" }, tr("noMessages")));
      if (persona && !persona.linked && persona.role !== "secretary") {
        box.append(h("div", { class: "empty hint" }, tr("unlinkedHint", { unit: persona.unit_code })));
      }
    }
    let lastDay = null;
    for (const message of messages) {
      const key = dayKey(message.date);
      if (key !== lastDay) {
        box.append(h("div", { class: "day" }, h("span", {}, formatDay(message.date))));
        lastDay = key;
      }
      box.append(messageNode(message, userId));
    }
    renderReplyKeyboard();
    if (nearBottom || box.dataset.chat !== String(userId)) box.scrollTop = box.scrollHeight;
    box.dataset.chat = String(userId);
  }

  function upsertMessage(userId, message) {
    if (!state.chats.has(userId)) state.chats.set(userId, new Map());
    const chat = state.chats.get(userId);
    const isNew = !chat.has(message.message_id);
    chat.set(message.message_id, message);
    if (userId !== state.active) return isNew;
    const box = els.messages;
    const existing = box.querySelector(`.msg[data-message-id="${message.message_id}"]`);
    if (existing) {
      existing.replaceWith(messageNode(message, userId));
      return isNew;
    }
    renderMessages();
    box.scrollTop = box.scrollHeight;
    return isNew;
  }

  function renderReplyKeyboard() {
    const markup = state.replyKeyboards.get(state.active);
    const rows = (markup && markup.keyboard) || [];
    els.replyKeyboard.replaceChildren(...rows.map((row) => h("div", { class: "keyboard-row" }, row.map((button) => {
      const label = typeof button === "string" ? button : button.text;
      return h("button", { type: "button", class: "kb", onclick: () => sendText(label) }, label);
    }))));
    els.replyKeyboard.hidden = rows.length === 0;
  }

  // -- personas ------------------------------------------------------------------------------------------

  function seenKey(userId) {
    return `qmsbot-sandbox-seen-${state.session}-${userId}`;
  }

  function markSeen(userId) {
    const chat = state.chats.get(userId);
    const ids = chat ? [...chat.keys()] : [];
    const max = Math.max(0, ...ids, Number(localStorage.getItem(seenKey(userId)) || 0));
    localStorage.setItem(seenKey(userId), String(max));
    state.unread.set(userId, 0);
  }

  function renderPersonas() {
    const nodes = state.personas.map((persona) => {
      const unread = state.unread.get(persona.user_id) || 0;
      const sub = persona.role === "secretary" ? tr("secretary") : persona.unit_name;
      return h("button", {
        type: "button",
        class: `persona${persona.user_id === state.active ? " active" : ""}`,
        dataset: { userId: String(persona.user_id), key: persona.key },
        "aria-current": persona.user_id === state.active ? "true" : null,
        onclick: () => selectPersona(persona.user_id),
      },
      avatar(persona),
      h("span", { class: "persona-body" },
        h("span", { class: "persona-top" },
          h("span", { class: "persona-name" }, persona.name),
          unread ? h("span", { class: "badge", title: String(unread) }, unread > 99 ? "99+" : String(unread)) : null),
        h("span", { class: "persona-unit" }, sub),
        h("span", { class: `persona-state ${persona.linked ? "linked" : "unlinked"}` },
          persona.linked ? tr("linked") : tr("unlinked"))));
    });
    els.personas.replaceChildren(...nodes);
  }

  function renderHeader() {
    const persona = state.byId.get(state.active);
    if (!persona) return;
    els.chatAvatar.replaceWith((els.chatAvatar = avatar(persona, "large")));
    els.chatAvatar.id = "chat-avatar";
    els.chatName.textContent = persona.name;
    const parts = [persona.role === "secretary" ? tr("secretary") : `${persona.unit_name} (${persona.unit_code})`];
    parts.push(persona.linked ? tr("linked") : tr("unlinked"));
    els.chatSub.textContent = parts.join(" · ");
    els.chatSub.classList.remove("typing");
    if (state.bot) els.chatBot.textContent = `@${state.bot.username}`;
  }

  async function loadChat(userId) {
    const payload = await api(`/api/chats/${userId}`);
    const chat = new Map();
    for (const message of payload.messages) chat.set(message.message_id, message);
    state.chats.set(userId, chat);
    state.replyKeyboards.set(userId, payload.reply_keyboard || null);
  }

  async function selectPersona(userId) {
    if (state.replyTo && state.replyTo.userId !== userId) cancelReply();
    state.active = userId;
    history.replaceState(null, "", `#${userId}`);
    closeMenu();
    renderPersonas();
    renderHeader();
    await loadChat(userId);
    if (state.active !== userId) return;
    markSeen(userId);
    renderPersonas();
    renderMessages();
    if (state.pendingStart && !els.text.value) {
      els.text.value = `/start ${state.pendingStart}`;
      state.pendingStart = null;
    }
    els.text.focus();
  }

  function useInvite(code) {
    state.pendingStart = code;
    if (navigator.clipboard) navigator.clipboard.writeText(`/start ${code}`).catch(() => {});
    toast(tr("inviteCopied"));
  }

  // -- state, clock ----------------------------------------------------------------------------------------

  async function loadState() {
    const payload = await api("/api/state");
    state.session = payload.session;
    state.bot = payload.bot;
    if (payload.max_upload_bytes) state.maxUpload = payload.max_upload_bytes;
    setClock(payload.clock);
    state.personas = payload.personas;
    state.byId = new Map(payload.personas.map((p) => [p.user_id, p]));
    for (const persona of payload.personas) {
      if (persona.user_id === state.active) continue;
      const seen = Number(localStorage.getItem(seenKey(persona.user_id)) || 0);
      state.unread.set(persona.user_id, persona.chat.bot_message_ids.filter((id) => id > seen).length);
    }
  }

  function scheduleRefresh() {
    // Who is linked changes with /start CODE and the like: re-read the personas shortly after a change.
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(async () => {
      try {
        const payload = await api("/api/state");
        for (const fresh of payload.personas) {
          const known = state.byId.get(fresh.user_id);
          if (known) {
            known.linked = fresh.linked;
            known.language = fresh.language;
          }
        }
        setClock(payload.clock);
        renderPersonas();
        renderHeader();
      } catch (_) {
        // the event stream reports lost connections
      }
    }, 400);
  }

  function setClock(clock) {
    state.clock = clock;
    state.clockFetchedAt = Date.now();
    renderClock();
  }

  function describeOffset(seconds) {
    if (seconds < 60) return tr("realTime");
    const days = Math.floor(seconds / 86400);
    const hours = Math.floor((seconds % 86400) / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const parts = [];
    if (days) parts.push(tr("days", { n: days }));
    if (hours) parts.push(tr("hours", { n: hours }));
    if (minutes && !days) parts.push(tr("minutes", { n: minutes }));
    return tr("offset", { d: parts.join(" ") });
  }

  function renderClock() {
    if (!state.clock) return;
    const now = state.clock.epoch + (Date.now() - state.clockFetchedAt) / 1000;
    els.clockNow.textContent = new Intl.DateTimeFormat(locale(), {
      weekday: "short", day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit",
      second: "2-digit", timeZone: timeZone(),
    }).format(new Date(now * 1000));
    els.clockNow.dataset.epoch = String(Math.floor(now));
    els.clockOffset.textContent = describeOffset(state.clock.offset_seconds);
    const digest = new Date(state.clock.next_digest);
    const when = new Intl.DateTimeFormat(locale(), {
      weekday: "short", day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit", timeZone: timeZone(),
    }).format(digest);
    els.jumpDigest.title = tr("digestTitle", { t: when });
  }

  async function jump(body, button) {
    button.disabled = true;
    try {
      const payload = await api("/api/clock", body);
      setClock(payload.clock);
      els.clockNow.classList.remove("flash");
      void els.clockNow.offsetWidth;
      els.clockNow.classList.add("flash");
    } catch (error) {
      toast(String(error.message || error), "error");
    } finally {
      button.disabled = false;
    }
  }

  // -- acting ----------------------------------------------------------------------------------------------

  async function sendText(text, replyTo) {
    const userId = state.active;
    if (!text.trim() || userId === null) return;
    const body = { text };
    if (replyTo) body.reply_to_message_id = replyTo;
    try {
      const payload = await api(`/api/chats/${userId}/messages`, body);
      upsertMessage(userId, payload.message);
      markSeen(userId);
    } catch (error) {
      toast(String(error.message || error), "error");
    }
  }

  // -- replies and files -------------------------------------------------------------------------------------

  function startReply(userId, message) {
    state.replyTo = { userId, messageId: message.message_id };
    const first = (message.text || message.caption || _previewOf(message)).split("\n")[0];
    els.replyText.textContent = first.slice(0, 120);
    els.replyBar.hidden = false;
    els.text.focus();
  }

  function _previewOf(message) {
    if (message.document) return `📎 ${message.document.file_name || ""}`;
    if (message.photo) return "🖼";
    return "";
  }

  function cancelReply() {
    state.replyTo = null;
    els.replyBar.hidden = true;
    els.replyText.textContent = "";
  }

  function takeReply() {
    // The reply belongs to the chat it was started in.
    const reply = state.replyTo && state.replyTo.userId === state.active ? state.replyTo.messageId : null;
    cancelReply();
    return reply;
  }

  async function sendFile(file) {
    const userId = state.active;
    if (!file || userId === null) return;
    if (file.size === 0) {
      toast(tr("emptyFile", { name: file.name }), "error");
      return;
    }
    if (file.size > state.maxUpload) {
      toast(tr("tooBig", { name: file.name, max: humanSize(state.maxUpload) }), "error");
      return;
    }
    const form = new FormData();
    form.append("file", file, file.name);
    // What is typed goes with the file as its caption, e.g. "/done 12 sent to the ministry".
    const caption = els.text.value.trim();
    if (caption) form.append("caption", caption);
    const reply = takeReply();
    if (reply) form.append("reply_to_message_id", String(reply));
    els.text.value = "";
    closeMenu();
    try {
      const response = await fetch(`/api/chats/${userId}/files`, { method: "POST", body: form });
      let payload = null;
      try {
        payload = await response.json();
      } catch (_) {
        payload = null;
      }
      if (!response.ok) throw new Error((payload && payload.error) || `${response.status} ${response.statusText}`);
      upsertMessage(userId, payload.message);
      markSeen(userId);
    } catch (error) {
      toast(String(error.message || error), "error");
    }
  }

  async function press(userId, messageId, data, button) {
    button.classList.add("pressed");
    try {
      await api(`/api/chats/${userId}/press`, { message_id: messageId, callback_data: data });
    } catch (error) {
      button.classList.remove("pressed");
      toast(String(error.message || error), "error");
    }
  }

  // -- command menu ----------------------------------------------------------------------------------------

  async function openMenu(filter) {
    const userId = state.active;
    let payload;
    try {
      payload = await api(`/api/chats/${userId}/commands`);
    } catch (error) {
      toast(String(error.message || error), "error");
      return;
    }
    const prefix = (filter || "").replace(/^\//, "").toLowerCase();
    const commands = payload.commands.filter((c) => c.command.startsWith(prefix));
    if (filter !== undefined && !commands.length) {
      closeMenu();
      return;
    }
    const items = commands.length
      ? commands.map((c) => h("button", {
        type: "button",
        class: "menu-item",
        role: "option",
        dataset: { command: c.command },
        onclick: () => {
          els.text.value = `/${c.command} `;
          closeMenu();
          els.text.focus();
        },
      }, h("span", { class: "menu-command" }, `/${c.command}`), h("span", { class: "menu-description" }, c.description)))
      : [h("div", { class: "menu-empty" }, tr("noCommands"))];
    els.menu.replaceChildren(...items);
    els.menu.hidden = false;
  }

  function closeMenu() {
    els.menu.hidden = true;
  }

  // -- live updates ----------------------------------------------------------------------------------------

  function onEvent(event) {
    switch (event.type) {
      case "message":
      case "edited":
      case "deleted": {
        const userId = event.chat_id;
        if (!state.byId.has(userId)) return;
        if (event.type === "deleted") {
          const chat = state.chats.get(userId);
          if (chat) chat.delete(event.message.message_id);
          if (userId === state.active) renderMessages();
          return;
        }
        if (event.type === "message" && "reply_keyboard" in event) state.replyKeyboards.set(userId, event.reply_keyboard);
        const known = state.chats.has(userId);
        const isNew = known ? upsertMessage(userId, event.message) : true;
        if (userId === state.active) {
          if (!known) loadChat(userId).then(renderMessages);
          markSeen(userId);
          if (isBot(event.message)) renderHeader();
        } else if (event.type === "message" && isNew && isBot(event.message)) {
          state.unread.set(userId, (state.unread.get(userId) || 0) + 1);
          renderPersonas();
        }
        scheduleRefresh();
        return;
      }
      case "callback_answer":
        if (event.chat_id === state.active && event.text) toast(event.text, event.show_alert ? "alert" : "");
        return;
      case "chat_action":
        if (event.chat_id === state.active && event.action === "typing") {
          els.chatSub.textContent = tr("typing");
          els.chatSub.classList.add("typing");
          clearTimeout(state.typingTimer);
          state.typingTimer = setTimeout(renderHeader, 3000);
        }
        return;
      case "clock":
        setClock(event.clock);
        return;
      case "closed":
        els.banner.textContent = tr("stopped");
        els.banner.hidden = false;
        return;
      default:
    }
  }

  function connect() {
    const source = new EventSource("/api/events");
    let lost = false;
    source.onmessage = (message) => {
      try {
        onEvent(JSON.parse(message.data));
      } catch (error) {
        console.error(error);
      }
    };
    source.onerror = () => {
      lost = true;
      if (els.banner.textContent !== tr("stopped")) {
        els.banner.textContent = tr("reconnecting");
        els.banner.hidden = false;
      }
    };
    source.onopen = async () => {
      if (!lost) return;
      lost = false;
      els.banner.hidden = true;
      try {
        await loadState();
        state.chats.clear();
        await selectPersona(state.active);
      } catch (_) {
        // next error shows the banner again
      }
    };
  }

  // -- language --------------------------------------------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    els.langToggle.textContent = state.lang === "vi" ? "EN" : "VI";
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = tr(el.dataset.i18n);
    for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = tr(el.dataset.i18nPlaceholder);
    for (const el of document.querySelectorAll("[data-i18n-title]")) {
      el.title = tr(el.dataset.i18nTitle);
      el.setAttribute("aria-label", tr(el.dataset.i18nTitle));
    }
    for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", tr(el.dataset.i18nLabel));
  }

  // -- start -----------------------------------------------------------------------------------------------

  function wire() {
    els.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = els.text.value;
      if (!text.trim()) return;
      els.text.value = "";
      closeMenu();
      sendText(text, takeReply());
    });
    els.attach.addEventListener("click", () => els.file.click());
    els.file.addEventListener("change", () => {
      const [file] = els.file.files;
      els.file.value = "";
      sendFile(file);
    });
    els.replyCancel.addEventListener("click", cancelReply);
    // A file dropped on the chat is sent as if attached.
    els.messages.addEventListener("dragover", (event) => {
      if (event.dataTransfer && [...event.dataTransfer.types].includes("Files")) event.preventDefault();
    });
    els.messages.addEventListener("drop", (event) => {
      const files = event.dataTransfer ? event.dataTransfer.files : null;
      if (!files || !files.length) return;
      event.preventDefault();
      sendFile(files[0]);
    });
    els.menuButton.addEventListener("click", () => (els.menu.hidden ? openMenu() : closeMenu()));
    els.text.addEventListener("input", () => {
      const value = els.text.value;
      if (/^\/\S*$/.test(value)) openMenu(value);
      else closeMenu();
    });
    els.text.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        closeMenu();
        cancelReply();
      }
    });
    document.addEventListener("click", (event) => {
      if (!els.composer.contains(event.target)) closeMenu();
    });
    for (const button of document.querySelectorAll(".jump")) {
      button.addEventListener("click", () => {
        const body = button.dataset.to ? { to: button.dataset.to } : { seconds: Number(button.dataset.seconds) };
        jump(body, button);
      });
    }
    els.langToggle.addEventListener("click", () => {
      state.lang = state.lang === "vi" ? "en" : "vi";
      localStorage.setItem("qmsbot-sandbox-lang", state.lang);
      applyLanguage();
      renderClock();
      renderPersonas();
      renderHeader();
      renderMessages();
    });
    setInterval(renderClock, 1000);
  }

  async function start() {
    applyLanguage();
    wire();
    connect();
    await loadState();
    const wanted = Number(location.hash.replace("#", ""));
    const first = state.byId.has(wanted) ? wanted : state.personas[0].user_id;
    await selectPersona(first);
    document.body.classList.add("ready");
  }

  start().catch((error) => {
    els.banner.textContent = String(error.message || error);
    els.banner.hidden = false;
  });
})();
