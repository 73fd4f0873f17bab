/*
 * The store's chat with support (/chat/): one conversation (the store's current session),
 * real-time over the store WebSocket. Sending without a session opens one (the send endpoint
 * does it); a closed conversation stays on screen until the store writes again.
 */
(function () {
  'use strict';

  const L = window.ChatLive;
  const MESSAGES_PAGE = 50;
  const MAX_CHARS = 5000;
  const THREAD = 'current'; // the outbox key: the store has one thread
  const AVAILABILITY_EVERY_MS = 10000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    app: $('app'), toolbar: $('toolbar'), connection: $('connection'), state: $('session-state'),
    closeSession: $('close-session'), loadOlder: $('load-older'), messages: $('messages'),
    composer: $('composer'), availability: $('availability'),
  };

  const notice = new L.Notice($('notice'));
  const typing = new L.TypingIndicator($('typing'));
  const messages = new L.MessageList(ui.messages, {
    isMine: (m) => m.sender_type === 'store',
    fetchFile: (url) => client.file(url),
  });
  const client = new L.Client('/v1/chat/store/', () => {
    signIn.signOut();
    notice.say('Your token was refused. Sign in again.');
  });
  const call = (method, path, body) => client.call(method, path, body);
  const typingSender = new L.TypingSender((sessionId, isTyping) => {
    if (live) live.send({ type: 'typing', session_id: sessionId, is_typing: isTyping });
  });
  const outbox = new L.Outbox({
    post: (entry, clientId) => call('POST', 'message/send/', {
      content: entry.content,
      client_message_id: clientId,
      attachment_url: entry.attachment ? entry.attachment.attachment_url : '',
      attachment_type: entry.attachment ? entry.attachment.attachment_type : '',
    }),
    onStored(m) {
      const fresh = !conv.session || conv.session.id !== m.session_id;
      ours(m.session_id); // the answer may name a session just opened for it: ours now
      messages.follow(() => messages.upsert(m));
      if (fresh) checkAvailability();
    },
    onFailed(clientId, entry, err) {
      messages.markFailed(clientId, err.message, () => outbox.deliver(clientId));
      notice.say('Message not sent: ' + err.message);
    },
  });

  let live = null;
  // The conversation: its session (null before the first message), the agent's name when
  // told, and the paging and read state of its messages.
  const conv = { session: null, agent: '', loaded: false, hasMore: false, lastRead: 0, seq: 0 };

  function report(err, prefix) {
    if (err.code !== 'cancelled' && err.status !== 401) notice.say(prefix + err.message);
  }

  /** A notice in the thread (li.notice) and in the live region. */
  function say(text) {
    messages.follow(() => messages.notice(text));
    notice.say(text);
  }

  function render() {
    const s = conv.session;
    ui.state.textContent = !s ? (conv.loaded ? 'Write a message to start a conversation with support.' : '')
      : s.status === 'open' ? 'Waiting for an agent…'
        : s.status === 'claimed' ? (conv.agent ? 'You are talking with ' + conv.agent + '.' : 'An agent is with you.')
          : 'This conversation is closed. Write to start a new one.';
    ui.closeSession.disabled = !s || s.status === 'closed';
    ui.loadOlder.hidden = !conv.hasMore;
  }

  /**
   * Whether session `id` is our conversation. A newer one than ours (opened by a send, here
   * or in another tab) becomes ours: the old one's messages stay above a notice.
   */
  function ours(id) {
    const s = conv.session;
    if (s && s.id === id) return true;
    if (s && id < s.id) return false;
    if (s) say('A new conversation started');
    conv.session = { id, status: 'open', admin_id: null };
    conv.agent = '';
    conv.lastRead = 0;
    conv.hasMore = false;
    render();
    return true;
  }

  function setStatus(changes) {
    Object.assign(conv.session, changes);
    render();
  }

  /** The conversation closed (by us, the agent, or another tab): said once. */
  function closed(session) {
    if (!conv.session || conv.session.status === 'closed') return;
    setStatus(Object.assign({}, session, { status: 'closed' }));
    typing.hide();
    typingSender.stop();
    say('The conversation was closed');
  }

  // ------------------------------------------------------------ embedded

  /**
   * In a marketplace's page (through /widget.js): the token comes from the parent by
   * postMessage (only from the parent, which the page's frame-ancestors restricts to the
   * listed origins), and the parent hears the unread count, to its own origin only.
   */
  const embed = {
    framed: window.parent !== window,
    visible: true,
    host: null, // the parent's origin, once it spoke
    unread: 0,
    setUnread(count) {
      this.unread = count;
      if (this.framed && this.host) window.parent.postMessage({ type: 'chat:unread', count }, this.host);
    },
  };
  if (embed.framed) {
    embed.visible = false;
    window.addEventListener('message', (event) => {
      if (event.source !== window.parent) return;
      const data = event.data || {};
      if (data.type === 'chat:token' && typeof data.token === 'string') {
        embed.host = event.origin;
        signIn.signIn(data.token);
      } else if (data.type === 'chat:visible') {
        embed.visible = data.visible === true;
        if (embed.visible) markRead();
      }
    });
  }

  // ------------------------------------------------------------ availability

  let availabilityTimer = 0;

  /** Whether support is online, and our place in the queue while we wait (every 10 s). */
  async function checkAvailability() {
    clearTimeout(availabilityTimer);
    availabilityTimer = setTimeout(checkAvailability, AVAILABILITY_EVERY_MS);
    if (!live) return;
    try {
      const a = await call('GET', 'availability/');
      const waiting = a.queue_position !== null && a.queue_position !== undefined;
      let text = a.online ? 'Support is online.' : 'Support is away right now: we will answer as soon as we can.';
      if (waiting) text += ' You are number ' + a.queue_position + ' in the queue.';
      ui.availability.textContent = text;
      ui.availability.dataset.online = String(a.online);
      ui.availability.hidden = false;
    } catch (err) {
      if (err.status === 403) ui.availability.hidden = true;
    }
  }

  // ------------------------------------------------------------ REST

  /** Loads (or reloads, after a reconnection) the current session and merges its messages. */
  async function load() {
    const seq = ++conv.seq;
    try {
      const data = await call('GET', 'session/?limit=' + MESSAGES_PAGE);
      if (seq !== conv.seq) return;
      if (conv.session && conv.session.id !== data.id) {
        // Another session than the one shown (the old one was closed elsewhere): show this one.
        messages.clear();
        outbox.restore(THREAD, messages);
        conv.loaded = false;
        conv.agent = '';
        conv.lastRead = 0;
      }
      conv.session = Object.assign({}, data, { messages: undefined });
      if (messages.mergeLatest(data.messages, data.has_more) || !conv.loaded) conv.hasMore = data.has_more;
      conv.loaded = true;
      render();
      markRead();
    } catch (err) {
      if (seq !== conv.seq) return;
      if (err.status === 404) {
        // No session that is not closed: an empty thread (or the one shown was closed).
        conv.loaded = true;
        if (conv.session) closed(conv.session);
        render();
      } else if (err.status === 403) {
        signIn.signOut();
        notice.say('That is not a store token.');
      } else {
        report(err, 'Could not load the conversation: ');
      }
    }
  }

  async function loadOlder() {
    const s = conv.session;
    const before = messages.oldestId();
    if (!s || before === null) return;
    ui.loadOlder.disabled = true;
    try {
      const data = await call('GET', 'session/' + s.id + '/?limit=' + MESSAGES_PAGE + '&before=' + before);
      if (conv.session !== s) return;
      messages.prependOlder(data.messages);
      conv.hasMore = data.has_more;
      render();
      if (!conv.hasMore) ui.messages.focus();
    } catch (err) {
      report(err, 'Could not load older messages: ');
    } finally {
      ui.loadOlder.disabled = false;
    }
  }

  /** Marks the support side's messages read, when the page is seen. */
  async function markRead() {
    const s = conv.session;
    if (!s || document.hidden || !embed.visible) return;
    embed.setUnread(0);
    const newest = messages.newestWhere((li) => li.dataset.sender !== 'store' && li.dataset.session === String(s.id));
    if (newest === null || newest <= conv.lastRead) return;
    conv.lastRead = newest;
    try {
      await call('POST', 'session/read/', { session_id: s.id, message_id: newest });
    } catch (err) {
      if (conv.lastRead === newest) conv.lastRead = 0;
      if (err.status !== 404) report(err, 'Could not mark messages read: ');
    }
  }

  async function closeSession() {
    const s = conv.session;
    if (!s || s.status === 'closed') return;
    ui.closeSession.disabled = true;
    try {
      const result = await call('POST', 'session/close/');
      if (conv.session && conv.session.id === result.id) closed(result);
    } catch (err) {
      if (err.status === 404 || err.code === 'session_closed') closed(s);
      else report(err, 'Could not close the conversation: ');
    }
    render();
  }

  function submitMessage() {
    const text = ui.composer.value;
    if (!text.trim()) return;
    if (Array.from(text).length > MAX_CHARS) {
      notice.say('A message has at most ' + MAX_CHARS + ' characters.');
      return;
    }
    ui.composer.value = '';
    typingSender.stop();
    // Shown at once as `sending`; the outbox retries with the same client_message_id.
    messages.addPending(outbox.send(THREAD, text), text);
    messages.scrollToBottom();
  }

  /** Uploads a file (attach, drop, paste) and sends it with the composer's text. */
  async function attachFile(file) {
    try {
      const attachment = await L.uploadWithProgress(client, file, $('upload-progress'));
      const text = ui.composer.value;
      ui.composer.value = '';
      messages.addPending(outbox.send(THREAD, text, false, attachment), text, false, attachment);
      messages.scrollToBottom();
    } catch (err) {
      report(err, 'Could not upload the file: ');
    }
  }

  // ------------------------------------------------------------ events

  function onEvent(frame) {
    const d = frame.data || {};
    switch (frame.type) {
      case 'new_message':
        if (!ours(d.session_id)) break;
        messages.follow(() => messages.upsert(d));
        if (d.sender_type !== 'store') {
          typing.hide();
          if (!embed.visible) embed.setUnread(embed.unread + 1);
          markRead();
        }
        break;
      case 'message_status':
        messages.setStatus(d.message_ids || [], d.status);
        break;
      case 'admin_connected':
        if (!ours(d.session_id)) break;
        conv.agent = (d.admin && d.admin.name) || 'An agent';
        setStatus({ status: 'claimed', admin_id: d.admin && d.admin.id });
        say(conv.agent + ' joined the conversation');
        checkAvailability();
        break;
      case 'admin_disconnected':
        if (!ours(d.session_id)) break;
        conv.agent = '';
        // Released: back in the queue. Transferred: the next agent's admin_connected follows.
        if (d.reason === 'released') setStatus({ status: 'open', admin_id: null });
        typing.hide();
        say('Your agent left the conversation');
        checkAvailability();
        break;
      case 'session_closed':
        if (ours(d.id)) closed(d);
        break;
      case 'typing':
        if (!conv.session || d.session_id !== conv.session.id || d.sender_type === 'store') break;
        if (d.is_typing) typing.show('Support is typing…');
        else typing.hide();
        break;
      default:
        break; // the queue's events are for admins
    }
  }

  // ------------------------------------------------------------ sign-in and wiring

  const signIn = new L.SignIn({
    form: $('sign-in-form'),
    input: $('token'),
    key: 'chat.store.token',
    shown: [ui.app, ui.toolbar],
    onSignIn(token) {
      client.use(token);
      live = new L.Live({
        path: '/v1/chat/store/ws/',
        token,
        onEvent,
        onHello: load,
        onState(state, info) {
          L.showConnection(ui.connection, state);
          // A socket that keeps failing may have a revoked token: REST says so with a 401.
          if (state === 'offline' && info.attempt % 3 === 0) call('GET', 'sessions/?limit=1').catch(() => {});
        },
      });
      live.start();
      load();
      checkAvailability();
    },
    onSignOut() {
      clearTimeout(availabilityTimer);
      ui.availability.hidden = true;
      typingSender.stop();
      if (live) live.stop();
      live = null;
      client.use('');
      outbox.clear();
      messages.clear();
      typing.hide();
      Object.assign(conv, { session: null, agent: '', loaded: false, hasMore: false, lastRead: 0, seq: conv.seq + 1 });
      render();
    },
  });

  $('sign-out').addEventListener('click', () => {
    signIn.signOut();
    notice.say('Signed out.');
  });
  ui.closeSession.addEventListener('click', closeSession);
  L.bindAttach({
    button: $('attach'), input: $('file'), dropZone: $('composer-form'), textarea: ui.composer,
    onFile: attachFile,
  });
  ui.loadOlder.addEventListener('click', loadOlder);
  L.onSubmit($('composer-form'), submitMessage);
  L.bindComposer(ui.composer, submitMessage);
  ui.composer.addEventListener('input', () => {
    const s = conv.session;
    if (s && s.status !== 'closed' && ui.composer.value) typingSender.input(s.id);
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) markRead();
  });

  if (embed.framed) window.parent.postMessage({ type: 'chat:ready' }, '*');
  else signIn.start();
})();
