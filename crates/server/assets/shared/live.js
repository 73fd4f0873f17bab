/*
 * Shared code of the support console (/console/) and the store chat (/chat/), served at
 * /assets/live.js. Everything is exported on window.ChatLive; nothing else is global.
 *
 * - Live: the WebSocket, with reconnection (exponential backoff, full jitter), resume from
 *   the last event id, pings, and a state callback (connecting | online | offline).
 * - api(): fetch with the token; parsed JSON, or an Error with .status and .code.
 * - retrying(): repeats a request on network errors, 5xx and 429 (same body, so the same
 *   client_message_id: a retry never doubles a message).
 * - tokens, uuid(), and the small UI pieces both pages need (message list, typing, banner).
 *
 * User-provided text is only ever written with textContent.
 */
(function () {
  'use strict';

  const REQUEST_TIMEOUT_MS = 20000;
  const PING_EVERY_MS = 20000;
  const SILENCE_LIMIT_MS = 45000; // no frame at all (not even a pong) for this long: dead socket
  const RECONNECT_MIN_MS = 500;
  const RECONNECT_MAX_MS = 15000;
  const TYPING_EXPIRES_MS = 8000;
  const TYPING_THROTTLE_MS = 3000;
  const TYPING_IDLE_MS = 4000;

  /** A delay in [min, min(max, min * 2^attempt)], uniformly drawn (full jitter). */
  function backoff(attempt, min, max) {
    const ceiling = Math.min(max, min * Math.pow(2, attempt));
    return min + Math.random() * (ceiling - min);
  }

  const wakers = new Set(); // the pending pauses of retrying()

  /** Waits `ms`, or less when the browser comes back online or a socket says hello. */
  function pause(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        window.removeEventListener('online', done);
        wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      window.addEventListener('online', done);
      wakers.add(done);
    });
  }

  /** Ends the waits of every retry now: the server answers again. */
  function wakeRetries() {
    for (const done of Array.from(wakers)) done();
  }

  // ---------------------------------------------------------------- REST

  function httpError(status, code, message) {
    const err = new Error(message);
    err.status = status;
    err.code = code;
    return err;
  }

  /**
   * Calls the API. Resolves with the parsed JSON body (null when empty); rejects with an
   * Error carrying .status (0 for a network failure or a timeout) and .code (the API's
   * error code).
   */
  async function api(method, path, token, body) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Token ' + token;
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const controller = new AbortController();
    init.signal = controller.signal;
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    let response;
    let text;
    try {
      response = await fetch(path, init);
      text = await response.text();
    } catch (cause) {
      throw httpError(0, 'network_error', 'The server could not be reached.');
    } finally {
      clearTimeout(timer);
    }
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = null;
      }
    }
    if (response.ok) return data;
    const err = httpError(
      response.status,
      (data && data.code) || 'http_' + response.status,
      (data && data.error) || response.statusText || 'Request failed (' + response.status + ')'
    );
    const retryAfter = Number(response.headers.get('Retry-After'));
    if (retryAfter > 0) err.retryAfterMs = retryAfter * 1000;
    throw err;
  }

  /** Whether repeating the very same request may succeed. */
  function isRetryable(err) {
    if (!err || err.code === 'cancelled') return false;
    return err.status === 0 || err.status === 429 || err.status >= 500;
  }

  /**
   * Runs `request` until it succeeds or fails for good. Retryable failures wait with
   * backoff (1 s to 15 s, cut short by `online` or a socket's hello); `onRetry(err, attempt)`
   * is told.
   * `isCancelled()` stops it (after sign-out, say) with an error of code `cancelled`.
   */
  async function retrying(request, options) {
    const opts = options || {};
    for (let attempt = 0; ; attempt += 1) {
      if (opts.isCancelled && opts.isCancelled()) throw httpError(0, 'cancelled', 'Cancelled.');
      try {
        return await request();
      } catch (err) {
        if (!isRetryable(err)) throw err;
        if (opts.onRetry) opts.onRetry(err, attempt);
        await pause(Math.max(backoff(attempt, 1000, 15000), err.retryAfterMs || 0));
      }
    }
  }

  /**
   * The REST client of a page: api() under `base` with the signed-in token. Answers to calls
   * made before a sign-out (or another sign-in) are dropped with code `cancelled`; a 401
   * calls `onUnauthorized()`.
   */
  class Client {
    constructor(base, onUnauthorized) {
      this.base = base;
      this.onUnauthorized = onUnauthorized;
      this.token = '';
      this.epoch = 0;
    }

    use(token) {
      this.token = token;
      this.epoch += 1;
    }

    async call(method, path, body) {
      const epoch = this.epoch;
      let data;
      try {
        data = await api(method, this.base + path, this.token, body);
      } catch (err) {
        if (epoch !== this.epoch) throw httpError(0, 'cancelled', 'Cancelled.');
        if (err.status === 401) this.onUnauthorized();
        throw err;
      }
      if (epoch !== this.epoch) throw httpError(0, 'cancelled', 'Cancelled.');
      return data;
    }

    /**
     * Uploads `file` (a File or Blob) as the raw body, reporting progress (0..1) to
     * `onProgress`; resolves with the stored upload.
     */
    upload(file, onProgress) {
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        const name = file.name || 'pasted.png';
        xhr.open('POST', this.base + 'upload/?name=' + encodeURIComponent(name));
        xhr.setRequestHeader('Authorization', 'Token ' + this.token);
        xhr.setRequestHeader('Content-Type', 'application/octet-stream');
        xhr.upload.onprogress = (e) => {
          if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
        };
        xhr.onload = () => {
          let body = null;
          try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
          if (xhr.status === 201 && body) resolve(body);
          else {
            if (xhr.status === 401) this.onUnauthorized();
            reject(httpError(xhr.status, body && body.code, (body && body.error) || 'Upload failed.'));
          }
        };
        xhr.onerror = () => reject(httpError(0, 'network', 'The upload could not reach the service.'));
        xhr.send(file);
      });
    }

    /** A file of the service, with the token: its bytes as a Blob (never a token in a URL). */
    async file(url) {
      const resp = await fetch(url, { headers: { Authorization: 'Token ' + this.token } });
      if (!resp.ok) throw httpError(resp.status, 'file', 'The file could not be loaded.');
      return resp.blob();
    }
  }

  /** Whether `url` is one of this service's uploaded files (then it is fetched with a token). */
  function isServiceFile(url) {
    try {
      const u = new URL(url, window.location.href);
      return u.origin === window.location.origin && u.pathname.startsWith('/v1/files/');
    } catch (_) {
      return false;
    }
  }

  /**
   * Uploads `file` with `client`, showing its progress in the <progress> `bar` (hidden when
   * done); resolves with the attachment to send: { attachment_url, attachment_type }.
   */
  async function uploadWithProgress(client, file, bar) {
    bar.value = 0;
    bar.hidden = false;
    try {
      const upload = await client.upload(file, (p) => { bar.value = p; });
      return { attachment_url: upload.attachment_url, attachment_type: upload.attachment_type };
    } finally {
      bar.hidden = true;
    }
  }

  /**
   * The attach button, drag and drop on `dropZone`, and paste of an image into `textarea`:
   * each file goes to `onFile(file)`.
   */
  function bindAttach({ button, input, dropZone, textarea, onFile }) {
    button.addEventListener('click', () => input.click());
    input.addEventListener('change', () => {
      for (const file of Array.from(input.files || [])) onFile(file);
      input.value = '';
    });
    dropZone.addEventListener('dragover', (e) => {
      if (e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files')) {
        e.preventDefault();
        dropZone.classList.add('dropping');
      }
    });
    dropZone.addEventListener('dragleave', () => dropZone.classList.remove('dropping'));
    dropZone.addEventListener('drop', (e) => {
      dropZone.classList.remove('dropping');
      const files = e.dataTransfer ? Array.from(e.dataTransfer.files || []) : [];
      if (files.length === 0) return;
      e.preventDefault();
      for (const file of files) onFile(file);
    });
    textarea.addEventListener('paste', (e) => {
      const items = e.clipboardData ? Array.from(e.clipboardData.items || []) : [];
      const files = items.filter((i) => i.kind === 'file').map((i) => i.getAsFile()).filter(Boolean);
      if (files.length === 0) return;
      e.preventDefault();
      for (const file of files) onFile(file);
    });
  }

  /**
   * Messages on their way. send() gives each a fresh client_message_id and posts it with
   * retrying(): the same id on every retry, so a retry never doubles a message.
   * options: post(entry, clientId) -> Promise<Message>, onStored(message, entry),
   * onFailed(clientId, entry, err). An entry is { key, content, note, attachment, failed,
   * reason }; `key` says which thread it belongs to, `note` that it is a private note (admins
   * only), `attachment` an uploaded file's { attachment_url, attachment_type } or null.
   */
  class Outbox {
    constructor(options) {
      this.opts = options;
      this.entries = new Map(); // client_message_id -> entry
    }

    send(key, content, note, attachment) {
      const clientId = uuid();
      this.entries.set(clientId, {
        key, content, note: note === true, attachment: attachment || null, failed: false, reason: '',
      });
      this.deliver(clientId);
      return clientId;
    }

    async deliver(clientId) {
      const entry = this.entries.get(clientId);
      if (!entry) return;
      entry.failed = false;
      try {
        const message = await retrying(() => this.opts.post(entry, clientId), {
          isCancelled: () => this.entries.get(clientId) !== entry,
        });
        if (this.entries.get(clientId) !== entry) return;
        this.entries.delete(clientId);
        this.opts.onStored(message, entry);
      } catch (err) {
        if (err.code === 'cancelled' || this.entries.get(clientId) !== entry) return;
        entry.failed = true;
        entry.reason = err.message;
        this.opts.onFailed(clientId, entry, err);
      }
    }

    /** Shows the pending messages of thread `key` in a MessageList (after it was cleared). */
    restore(key, list) {
      for (const [clientId, entry] of this.entries) {
        if (entry.key !== key) continue;
        list.addPending(clientId, entry.content, entry.note, entry.attachment);
        if (entry.failed) list.markFailed(clientId, entry.reason, () => this.deliver(clientId));
      }
    }

    clear() {
      this.entries.clear();
    }
  }

  // ---------------------------------------------------------------- tokens, ids

  /** Token storage in sessionStorage, one key per page. */
  const tokens = {
    load(key) {
      try {
        return sessionStorage.getItem(key) || '';
      } catch (e) {
        return '';
      }
    },
    save(key, token) {
      try {
        sessionStorage.setItem(key, token);
      } catch (e) {
        /* storage disabled: the token lives as long as the page */
      }
    },
    clear(key) {
      try {
        sessionStorage.removeItem(key);
      } catch (e) {
        /* nothing stored */
      }
    },
    /**
     * The page's token: from a `#token=...` fragment (stored, then removed from the address
     * bar and the history entry), else the stored one, else ''.
     */
    take(key) {
      const params = new URLSearchParams(window.location.hash.replace(/^#/, ''));
      const fromUrl = (params.get('token') || '').trim();
      if (fromUrl) {
        params.delete('token');
        const rest = params.toString();
        const url = window.location.pathname + window.location.search + (rest ? '#' + rest : '');
        window.history.replaceState(window.history.state, '', url);
        tokens.save(key, fromUrl);
        return fromUrl;
      }
      return tokens.load(key);
    },
  };

  /**
   * The sign-in form: options form, input, key (storage), shown (elements shown once signed
   * in), onSignIn(token), onSignOut(). start() signs in with a `#token=` fragment or a
   * stored token.
   */
  class SignIn {
    constructor(options) {
      this.opts = options;
      onSubmit(options.form, () => {
        const value = options.input.value.trim();
        if (value) this.signIn(value);
      });
    }

    start() {
      const token = tokens.take(this.opts.key);
      if (token) this.signIn(token);
    }

    signIn(token) {
      tokens.save(this.opts.key, token);
      this.show(true);
      this.opts.onSignIn(token);
    }

    signOut() {
      tokens.clear(this.opts.key);
      this.opts.onSignOut();
      this.show(false);
      this.opts.input.value = '';
      this.opts.input.focus();
    }

    show(signedIn) {
      this.opts.form.hidden = signedIn;
      for (const el of this.opts.shown) el.hidden = !signedIn;
    }
  }

  /** A random UUID (v4) for client_message_id. */
  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') {
      return window.crypto.randomUUID();
    }
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
  }

  // ---------------------------------------------------------------- the socket

  /**
   * The real-time socket of one principal.
   *
   * options: path ('/v1/chat/admin/ws/'), token, onEvent(frame) for events and typing
   * frames, onHello({ resumed, resynced }) once the socket is live (refetch over REST
   * then), onResync(), onState(state, { attempt }) with state connecting | online | offline.
   *
   * The token travels in the `token.<token>` subprotocol, never in the URL.
   */
  class Live {
    constructor(options) {
      this.opts = options;
      this.cursor = null; // the highest event id seen (or the hello cursor)
      this.ws = null;
      this.state = '';
      this.attempt = 0;
      this.stopped = true;
      this.resynced = false;
      this.lastFrameAt = 0;
      this.reconnectTimer = 0;
      this.pingTimer = 0;
      this.onOnline = () => this.reconnectNow();
      this.onVisible = () => {
        if (document.visibilityState === 'visible') this.reconnectNow();
      };
    }

    start() {
      if (!this.stopped) return;
      this.stopped = false;
      this.attempt = 0;
      window.addEventListener('online', this.onOnline);
      document.addEventListener('visibilitychange', this.onVisible);
      this.setState('connecting');
      this.connect();
    }

    stop() {
      this.stopped = true;
      window.removeEventListener('online', this.onOnline);
      document.removeEventListener('visibilitychange', this.onVisible);
      clearTimeout(this.reconnectTimer);
      this.detach(1000);
      this.state = '';
    }

    /** Sends a client frame; false when the socket is not open. */
    send(frame) {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
      this.ws.send(JSON.stringify(frame));
      return true;
    }

    /** Whether the socket is open (not only being opened). */
    isOpen() {
      return !!this.ws && this.ws.readyState === WebSocket.OPEN;
    }

    /** Records the state and tells the page (even when unchanged, if `always`). */
    setState(state, always) {
      if (state === this.state && !always) return;
      this.state = state;
      if (this.opts.onState) this.opts.onState(state, { attempt: this.attempt });
    }

    connect() {
      clearTimeout(this.reconnectTimer);
      if (this.stopped) return;
      const url = new URL(this.opts.path, window.location.href);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      if (this.cursor !== null) url.searchParams.set('since', String(this.cursor));
      let ws;
      try {
        ws = new WebSocket(url.href, ['chat', 'token.' + this.opts.token]);
      } catch (e) {
        // A token that cannot be a subprotocol, or a blocked URL: retry later all the same.
        this.dropped();
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        this.lastFrameAt = Date.now();
        clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => this.heartbeat(), PING_EVERY_MS);
      };
      ws.onmessage = (e) => this.receive(e.data);
      ws.onerror = () => {
        /* onclose follows */
      };
      ws.onclose = () => {
        if (ws === this.ws) this.dropped();
      };
    }

    heartbeat() {
      if (Date.now() - this.lastFrameAt > SILENCE_LIMIT_MS) {
        this.dropped(); // a socket the network lost silently
        return;
      }
      this.send({ type: 'ping' });
    }

    /** Forgets the current socket (closing it) without scheduling anything. */
    detach(code) {
      clearInterval(this.pingTimer);
      const ws = this.ws;
      this.ws = null;
      if (!ws) return;
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) {
        try {
          ws.close(code || 1000);
        } catch (e) {
          /* already closing */
        }
      }
    }

    dropped() {
      this.detach(4000);
      if (this.stopped) return;
      // Offline until the next hello: the page keeps its banner up meanwhile.
      this.attempt += 1;
      this.setState('offline', true);
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = setTimeout(
        () => this.connect(),
        backoff(this.attempt - 1, RECONNECT_MIN_MS, RECONNECT_MAX_MS)
      );
    }

    /** Back online, or the tab shown again: reconnect at once unless a socket is on its way. */
    reconnectNow() {
      if (this.stopped || this.ws) return;
      this.attempt = 0;
      this.connect();
    }

    receive(raw) {
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(raw);
      } catch (e) {
        return;
      }
      if (!frame || typeof frame.type !== 'string') return;
      switch (frame.type) {
        case 'hello': {
          const resumed = this.cursor !== null;
          if (typeof frame.event_id === 'number') this.cursor = frame.event_id;
          const resynced = this.resynced;
          this.resynced = false;
          this.attempt = 0;
          this.setState('online');
          wakeRetries(); // messages waiting to be sent again go now
          if (this.opts.onHello) this.opts.onHello({ resumed: resumed && !resynced, resynced });
          return;
        }
        case 'resync_required':
          // Our cursor is unusable: forget it; the lists are refetched after hello.
          this.cursor = null;
          this.resynced = true;
          if (this.opts.onResync) this.opts.onResync();
          return;
        case 'pong':
        case 'error':
          return;
        default:
          break;
      }
      if (typeof frame.event_id === 'number') {
        if (this.cursor !== null && frame.event_id <= this.cursor) return; // seen already
        this.cursor = frame.event_id;
      }
      if (this.opts.onEvent) this.opts.onEvent(frame);
    }
  }

  // ---------------------------------------------------------------- UI helpers

  const CONNECTION_TEXT = {
    connecting: 'Connecting…',
    offline: 'Connection lost, reconnecting…',
    online: 'Connected',
  };

  /** Shows the connection state in the banner (hidden while online). */
  function showConnection(el, state) {
    el.dataset.state = state;
    el.textContent = CONNECTION_TEXT[state] || '';
    el.hidden = state === 'online';
  }

  /** A live region that says one thing at a time, cleared after a while. */
  class Notice {
    constructor(el) {
      this.el = el;
      this.timer = 0;
    }

    say(text) {
      clearTimeout(this.timer);
      // Cleared first so that the same text twice is announced twice.
      this.el.textContent = '';
      this.el.textContent = text;
      this.timer = setTimeout(() => this.clear(), 15000);
    }

    clear() {
      clearTimeout(this.timer);
      this.el.textContent = '';
    }
  }

  /** The URL if it is an http(s) URL, else null. */
  function safeHttpUrl(raw) {
    const value = String(raw || '').trim();
    if (!/^https?:\/\//i.test(value)) return null;
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function formatTime(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return '';
    const now = new Date();
    const time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    if (date.toDateString() === now.toDateString()) return time;
    return date.toLocaleDateString([], { day: 'numeric', month: 'short' }) + ' ' + time;
  }

  /** "just now", "5 min", "2 h", "3 d" since `ms`. */
  function formatAge(ms) {
    const seconds = Math.max(0, Math.floor((Date.now() - ms) / 1000));
    if (seconds < 60) return 'just now';
    if (seconds < 3600) return Math.floor(seconds / 60) + ' min';
    if (seconds < 86400) return Math.floor(seconds / 3600) + ' h';
    return Math.floor(seconds / 86400) + ' d';
  }

  function make(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  const STATUS_RANK = { failed: -1, sending: 0, sent: 1, delivered: 2, read: 3 };
  const STATUS_VIEW = {
    failed: ['!', 'Not sent'],
    sending: ['◷', 'Sending'],
    sent: ['✓', 'Sent'],
    delivered: ['✓✓', 'Delivered'],
    read: ['✓✓', 'Read'],
  };

  function setStatusView(el, status) {
    const view = STATUS_VIEW[status] || STATUS_VIEW.sent;
    el.dataset.status = status;
    el.textContent = view[0];
    el.title = view[1];
    el.setAttribute('aria-label', view[1]);
  }

  /**
   * The messages of one thread in an <ol>: stored messages in id order, then the pending
   * ones (sent, not yet answered). Deduplicated by message id and by client_message_id.
   * Notices (li.notice) keep their place after the message that preceded them.
   *
   * options: isMine(message) -> boolean.
   */
  class MessageList {
    constructor(ol, options) {
      this.ol = ol;
      this.isMine = options.isMine;
      // Fetches a service file as a Blob (with the token); none: shown as links.
      this.fetchFile = options.fetchFile || null;
      this.byId = new Map(); // message id -> li
      this.byClient = new Map(); // client_message_id -> li
      this.order = new WeakMap(); // li -> sort key (message id; Infinity while pending)
    }

    clear() {
      this.ol.textContent = '';
      this.byId.clear();
      this.byClient.clear();
    }

    has(id) {
      return this.byId.has(id);
    }

    /** The smallest and largest stored message ids (null when none). */
    oldestId() {
      let min = null;
      for (const id of this.byId.keys()) if (min === null || id < min) min = id;
      return min;
    }

    newestId() {
      return this.newestWhere(() => true);
    }

    /** The largest id of a stored message for which `test(li)` holds. */
    newestWhere(test) {
      let max = null;
      for (const [id, li] of this.byId) if ((max === null || id > max) && test(li)) max = id;
      return max;
    }

    nearBottom() {
      const ol = this.ol;
      return ol.scrollHeight - ol.scrollTop - ol.clientHeight < 80;
    }

    scrollToBottom() {
      this.ol.scrollTop = this.ol.scrollHeight;
    }

    /** Keeps the view at the bottom when it was there before `change()`. */
    follow(change) {
      const stick = this.nearBottom();
      const result = change();
      if (stick) this.scrollToBottom();
      return result;
    }

    /**
     * Merges the newest page of the thread (REST, oldest first). After a gap (the page starts
     * after the newest message shown, and older ones exist) the list starts again from the
     * page, keeping the pending messages. Returns true when the list starts with this page
     * (its has_more applies).
     */
    mergeLatest(page, hasMore) {
      const known = this.newestId();
      const gap = known !== null && hasMore && page.length > 0 && page[0].id > known;
      if (gap) {
        for (const [id, li] of this.byId) {
          li.remove();
          this.byId.delete(id);
          if (li.dataset.clientId) this.byClient.delete(li.dataset.clientId);
        }
        for (const li of Array.from(this.ol.querySelectorAll('li.notice'))) li.remove();
      }
      this.follow(() => page.forEach((m) => this.upsert(m)));
      if (known === null || gap) this.scrollToBottom();
      return known === null || gap;
    }

    /** Adds an older page above the messages, keeping the view where it was. */
    prependOlder(page) {
      const height = this.ol.scrollHeight;
      const top = this.ol.scrollTop;
      page.forEach((m) => this.upsert(m));
      this.ol.scrollTop = top + (this.ol.scrollHeight - height);
    }

    /** Adds or updates a stored message; returns its li. */
    upsert(message) {
      let li = this.byId.get(message.id);
      if (!li && message.client_message_id) li = this.byClient.get(message.client_message_id);
      if (li) {
        if (!li.dataset.messageId) {
          // The pending copy becomes the stored message: give it its id and place.
          li.dataset.messageId = String(message.id);
          li.classList.remove('pending', 'failed');
          const retry = li.querySelector('.retry');
          if (retry) retry.remove();
          this.byId.set(message.id, li);
          this.order.set(li, message.id);
          li.remove();
          this.insert(li, message.id);
        }
        this.bumpStatus(li, message.status);
        return li;
      }
      li = this.render(message);
      this.byId.set(message.id, li);
      if (message.client_message_id) this.byClient.set(message.client_message_id, li);
      this.order.set(li, message.id);
      this.insert(li, message.id);
      return li;
    }

    /** Shows a message being sent; returns its li. */
    addPending(clientId, content, note, attachment) {
      const existing = this.byClient.get(clientId);
      if (existing) return existing;
      const li = this.render({
        id: null,
        client_message_id: clientId,
        content,
        attachment_url: attachment ? attachment.attachment_url : '',
        attachment_type: attachment ? attachment.attachment_type : '',
        status: 'sending',
        created: new Date().toISOString(),
        pending: true,
        private: note === true,
      });
      li.classList.add('pending');
      this.byClient.set(clientId, li);
      this.order.set(li, Infinity);
      this.ol.appendChild(li);
      return li;
    }

    /** Marks a pending message as failed for good, with a retry button. */
    markFailed(clientId, reason, onRetry) {
      const li = this.byClient.get(clientId);
      if (!li || li.dataset.messageId) return;
      li.classList.add('failed');
      const status = li.querySelector('.status');
      if (status) setStatusView(status, 'failed');
      if (status && reason) status.title = 'Not sent: ' + reason;
      if (!li.querySelector('.retry')) {
        const button = make('button', 'retry', 'Retry');
        button.type = 'button';
        button.addEventListener('click', () => {
          button.remove();
          li.classList.remove('failed');
          if (status) setStatusView(status, 'sending');
          onRetry();
        });
        li.appendChild(button);
      }
    }

    /** Moves the status of stored messages forward (never back). */
    setStatus(ids, status) {
      for (const id of ids) {
        const li = this.byId.get(id);
        if (li) this.bumpStatus(li, status);
      }
    }

    bumpStatus(li, status) {
      const el = li.querySelector('.status');
      if (!el || !(status in STATUS_RANK)) return;
      if (STATUS_RANK[status] > STATUS_RANK[el.dataset.status]) setStatusView(el, status);
    }

    /** Adds a notice line (li.notice) after the newest message. */
    notice(text) {
      const li = make('li', 'notice', text);
      const newest = this.newestId();
      this.order.set(li, (newest || 0) + 0.5);
      this.insert(li, (newest || 0) + 0.5);
      return li;
    }

    /** Inserts `li` so that sort keys grow downwards (pending ones stay last). */
    insert(li, key) {
      let before = null;
      let node = this.ol.lastElementChild;
      while (node) {
        const nodeKey = this.order.has(node) ? this.order.get(node) : 0;
        if (nodeKey <= key) break;
        before = node;
        node = node.previousElementSibling;
      }
      this.ol.insertBefore(li, before);
    }

    /**
     * An uploaded file of the service: an image shown inline, anything else a link that
     * downloads it; the bytes come with the token, shown from a blob: URL.
     */
    serviceFile(url, type) {
      if (type === 'image') {
        const img = make('img', 'attachment-image');
        img.alt = 'Image';
        this.fetchFile(url)
          .then((blob) => { img.src = URL.createObjectURL(blob); })
          .catch(() => { img.alt = 'Image (could not be loaded)'; });
        return img;
      }
      const a = make('a', 'attachment', 'Download ' + (type || 'file'));
      a.href = '#';
      if (type) a.dataset.type = type;
      a.addEventListener('click', (e) => {
        e.preventDefault();
        this.fetchFile(url).then((blob) => {
          const link = document.createElement('a');
          link.href = URL.createObjectURL(blob);
          link.download = '';
          document.body.appendChild(link);
          link.click();
          link.remove();
          setTimeout(() => URL.revokeObjectURL(link.href), 10000);
        }).catch(() => { a.textContent = 'File (could not be loaded)'; });
      });
      return a;
    }

    render(message) {
      const mine = this.isMine(message) || message.pending === true;
      const li = make('li', 'message ' + (mine ? 'mine' : 'theirs'));
      if (message.sender_type === 'system') li.classList.add('system');
      // A private note: the team's own, never shown to the store; it has no delivery status.
      if (message.private) {
        li.classList.add('note');
        li.appendChild(make('p', 'note-label', 'Private note'));
      }
      if (message.id !== null && message.id !== undefined) li.dataset.messageId = String(message.id);
      if (message.client_message_id) li.dataset.clientId = message.client_message_id;
      if (message.sender_type) li.dataset.sender = message.sender_type;
      if (message.session_id) li.dataset.session = String(message.session_id);

      li.appendChild(make('p', 'content', message.content || ''));
      const raw = message.attachment_url || '';
      if (raw.trim() && this.fetchFile && isServiceFile(raw.trim())) {
        li.appendChild(this.serviceFile(raw.trim(), message.attachment_type));
      } else if (raw.trim()) {
        const href = safeHttpUrl(raw);
        if (href) {
          const a = make('a', 'attachment', raw.trim());
          a.href = href;
          a.rel = 'noopener noreferrer';
          a.target = '_blank';
          if (message.attachment_type) a.dataset.type = message.attachment_type;
          li.appendChild(a);
        } else {
          li.appendChild(make('p', 'attachment-unsafe', 'Attachment (link not shown): ' + raw));
        }
      }
      const meta = make('p', 'meta');
      const time = make('time', 'time', formatTime(message.created));
      time.dateTime = message.created || '';
      time.title = new Date(message.created).toLocaleString();
      meta.appendChild(time);
      if (mine && !message.private) {
        const status = make('span', 'status');
        setStatusView(status, message.status || 'sent');
        meta.appendChild(document.createTextNode(' '));
        meta.appendChild(status);
      }
      li.appendChild(meta);
      return li;
    }
  }

  /** The "X is typing…" line: shown on a typing frame, hidden after 8 s without another. */
  class TypingIndicator {
    constructor(el) {
      this.el = el;
      this.timer = 0;
    }

    show(text) {
      clearTimeout(this.timer);
      this.el.textContent = text;
      this.el.hidden = false;
      this.timer = setTimeout(() => this.hide(), TYPING_EXPIRES_MS);
    }

    hide() {
      clearTimeout(this.timer);
      this.el.hidden = true;
      this.el.textContent = '';
    }
  }

  /**
   * Tells the other side that we type: `true` at most every 3 s while typing, `false` after
   * 4 s idle or on send. `send(sessionId, isTyping)` writes the frame.
   */
  class TypingSender {
    constructor(send) {
      this.send = send;
      this.sessionId = null;
      this.lastSent = 0;
      this.idle = 0;
    }

    input(sessionId) {
      if (!sessionId) return;
      if (this.sessionId !== null && this.sessionId !== sessionId) this.stop();
      const now = Date.now();
      if (this.sessionId === null || now - this.lastSent >= TYPING_THROTTLE_MS) {
        this.send(sessionId, true);
        this.sessionId = sessionId;
        this.lastSent = now;
      }
      clearTimeout(this.idle);
      this.idle = setTimeout(() => this.stop(), TYPING_IDLE_MS);
    }

    stop() {
      clearTimeout(this.idle);
      if (this.sessionId !== null) this.send(this.sessionId, false);
      this.sessionId = null;
      this.lastSent = 0;
    }
  }

  /** Calls `handler` on the form's submit, instead of submitting it. */
  function onSubmit(form, handler) {
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      handler();
    });
  }

  /** Enter sends, Shift+Enter is a new line (and nothing happens while an IME composes). */
  function bindComposer(textarea, submit) {
    textarea.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submit();
      }
    });
  }

  /** Whether the keyboard focus is in a field that takes text. */
  function isTextField(el) {
    if (!el) return false;
    if (el.isContentEditable) return true;
    const tag = el.tagName;
    if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
    if (tag !== 'INPUT') return false;
    return !['button', 'submit', 'reset', 'checkbox', 'radio'].includes(el.type);
  }

  window.ChatLive = Object.freeze({
    Live,
    api,
    retrying,
    isRetryable,
    Client,
    Outbox,
    SignIn,
    tokens,
    uuid,
    showConnection,
    Notice,
    MessageList,
    TypingIndicator,
    TypingSender,
    bindComposer,
    bindAttach,
    uploadWithProgress,
    isServiceFile,
    onSubmit,
    isTextField,
    safeHttpUrl,
    formatAge,
  });
})();
