/*
 * The support console (/console/): the open queue, my sessions, my closed sessions, and the
 * thread of the selected one. Real-time updates come from the admin WebSocket; an event only
 * touches its own row (rows: a Map session id -> row), so that a queue of a thousand
 * sessions stays responsive under a stream of events.
 */
(function () {
  'use strict';

  const L = window.ChatLive;
  const ME_KEY = 'chat.console.me';
  const MESSAGES_PAGE = 50;
  const LIST_PAGE = 500; // the API's largest page
  const LIST_MAX = 5000; // rows fetched per list at most
  const CLOSED_SHOWN = 100;
  const MAX_CHARS = 5000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    app: $('app'), toolbar: $('toolbar'), notify: $('notify'), help: $('help'),
    connection: $('connection'), queueCount: $('queue-count'), mineCount: $('mine-count'),
    noThread: $('no-thread'), thread: $('thread'), threadTitle: $('thread-title'),
    threadState: $('thread-state'), threadClaim: $('thread-claim'), release: $('release'),
    close: $('close'), transferTo: $('transfer-to'), transfer: $('transfer'),
    loadOlder: $('load-older'), messages: $('messages'), composer: $('composer'),
    send: $('send'), composerHint: $('composer-hint'), presence: $('presence'),
    privateNote: $('private-note'),
  };
  const lists = { queue: $('queue'), mine: $('mine'), closed: $('closed') };
  const rowTemplate = $('row-template');
  const claimTemplate = $('claim-template');

  const notice = new L.Notice($('notice'));
  const typing = new L.TypingIndicator($('typing'));
  const messages = new L.MessageList(ui.messages, {
    isMine: (m) => m.sender_type === 'admin',
    fetchFile: (url) => client.file(url),
  });
  const client = new L.Client('/v1/chat/admin/', () => {
    signIn.signOut();
    notice.say('Your token was refused. Sign in again.');
  });
  const call = (method, path, body) => client.call(method, path, body);
  const typingSender = new L.TypingSender((sessionId, isTyping) => {
    if (live) live.send({ type: 'typing', session_id: sessionId, is_typing: isTyping });
  });
  const outbox = new L.Outbox({
    post: (entry, clientId) => call('POST', 'message/send/', {
      session_id: entry.key, content: entry.content, client_message_id: clientId,
      private: entry.note,
      attachment_url: entry.attachment ? entry.attachment.attachment_url : '',
      attachment_type: entry.attachment ? entry.attachment.attachment_type : '',
    }),
    onStored(m) {
      if (thread.id === m.session_id) messages.follow(() => messages.upsert(m));
      touchRow(m);
    },
    onFailed(clientId, entry, err) {
      if (thread.id === entry.key) messages.markFailed(clientId, err.message, () => outbox.deliver(clientId));
      notice.say('Message not sent: ' + err.message);
    },
  });

  let live = null;
  let me = null; // our admin id, once known (a claim's answer, my sessions, events only we get)

  // Rows, one per session shown: { id, session, list, el, parts, unread, ts, gen }.
  const rows = new Map();
  const rowOfEl = new WeakMap();
  let gen = 0; // bumped by every event that changes a row: older REST data does not undo it
  let unreadTotal = 0;
  let selectedId = null;
  const claiming = new Set();
  const claimers = new Map(); // session id -> admin id of its session_claimed (bounded)
  const adminNames = new Map(); // admin id -> name, from GET admins/
  const adminStatus = new Map(); // admin id -> online, away or offline (admins/, admin_presence)
  const lost = new Set(); // sessions whose claim we lost before hearing who won

  // The open thread.
  const thread = { id: null, session: null, loaded: false, hasMore: false, lastRead: 0, seq: 0, timer: 0 };
  const drafts = new Map(); // session id -> unsent composer text

  function report(err, prefix) {
    if (err.code !== 'cancelled' && err.status !== 401) notice.say(prefix + err.message);
  }

  function learnMe(adminId) {
    if (typeof adminId !== 'number' || adminId === me) return;
    me = adminId;
    L.tokens.save(ME_KEY, String(me));
    if (adminNames.size > 0) renderTransferTargets();
    showPresence();
  }

  const nameOf = (s) => (s.store && s.store.name) || 'Store ' + s.store_id;

  // ------------------------------------------------------------ rows

  /** The list a session belongs in, or null for none of ours. */
  function listFor(s) {
    if (s.status === 'open') return 'queue';
    if (me === null || s.admin_id !== me) return null;
    return s.status === 'claimed' ? 'mine' : s.status === 'closed' ? 'closed' : null;
  }

  /** The title counts unread messages of the queue and of my sessions, not of closed ones. */
  const counted = (row) => (row.list === 'closed' ? 0 : row.unread);

  function setUnread(row, n) {
    unreadTotal -= counted(row);
    row.unread = Math.max(0, n);
    unreadTotal += counted(row);
    // The row's copy of the session says the same, so that a later merge does not bring back
    // an older count.
    if (row.session) row.session.unread_count = row.unread;
    const badge = row.parts.unread;
    setText(badge, String(row.unread));
    badge.setAttribute('aria-label', row.unread + ' unread');
    badge.hidden = row.unread === 0;
    updateTitle();
  }

  function updateTitle() {
    const title = unreadTotal > 0 ? '(' + unreadTotal + ') Support console' : 'Support console';
    if (document.title !== title) document.title = title;
  }

  function updateCounts() {
    setText(ui.queueCount, String(lists.queue.childElementCount));
    setText(ui.mineCount, String(lists.mine.childElementCount));
    for (const ol of Object.values(lists)) ol.tabIndex = ol.childElementCount ? 0 : -1; // no empty tab stops
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  /** A row from the page's <template id="row-template">. */
  function createRow(id) {
    const li = rowTemplate.content.firstElementChild.cloneNode(true);
    li.id = 'session-' + id;
    li.dataset.sessionId = String(id);
    const part = (name) => li.querySelector('.' + name);
    const parts = { name: part('store-name'), unread: part('unread'), preview: part('preview'), waiting: part('waiting'), claim: null };
    const row = { id, session: null, list: null, el: li, parts, unread: 0, ts: 0, gen: 0 };
    rowOfEl.set(li, row);
    return row;
  }

  /** Shows the row's store, last message and age, writing only what changed. */
  function fill(row) {
    const s = row.session;
    const m = s.last_message;
    let preview = 'No messages yet';
    if (m) {
      preview = (m.sender_type === 'admin' ? 'You: ' : '') + (m.content || (m.attachment_url ? '[attachment]' : ''));
      if (preview.length > 140) preview = preview.slice(0, 140) + '…';
    }
    setText(row.parts.name, nameOf(s));
    setText(row.parts.preview, preview);
    fillAge(row);
    // The Claim button exists in queue rows only (tabindex -1: by keyboard, `c` or the thread's).
    if (row.list === 'queue' && !row.parts.claim) {
      row.el.appendChild(claimTemplate.content.firstElementChild.cloneNode(true));
      row.parts.claim = row.el.querySelector('button.claim');
    } else if (row.list !== 'queue' && row.parts.claim) {
      row.parts.claim.parentNode.remove();
      row.parts.claim = null;
    }
    if (row.parts.claim) row.parts.claim.setAttribute('aria-label', 'Claim ' + nameOf(s));
  }

  function fillAge(row) {
    let text;
    if (row.list === 'queue') {
      // How long the store has waited since it opened the session.
      const age = L.formatAge(Date.parse(row.session.created) || row.ts);
      text = age === 'just now' ? 'Waiting <1 min' : 'Waiting ' + age;
    } else {
      const age = L.formatAge(row.ts);
      text = age === 'just now' ? age : age + ' ago';
    }
    setText(row.parts.waiting, text);
  }

  /** Newest activity first, then the higher id. */
  const isBefore = (a, b) => a.ts > b.ts || (a.ts === b.ts && a.id > b.id);

  /** Puts the row at its sorted place: a fresh message goes to the top, found at once. */
  function place(row) {
    const ol = lists[row.list];
    let node = ol.firstElementChild;
    const last = ol.lastElementChild && rowOfEl.get(ol.lastElementChild);
    if (last && last !== row && isBefore(last, row)) {
      node = null; // older than every row (a first load, newest first): append
    } else {
      while (node) {
        const other = rowOfEl.get(node);
        if (other !== row && isBefore(row, other)) break;
        node = node.nextElementSibling;
      }
    }
    // (The loop skips the row itself, so `node` is never row.el.)
    if (row.el.parentNode !== ol || row.el.nextElementSibling !== node) ol.insertBefore(row.el, node);
  }

  /**
   * Adds, updates or moves the row of a session (event data, or REST data with `opts.gen`,
   * its generation; events bump it). `opts.countNew`: a new store message adds an unread.
   */
  function upsert(session, opts) {
    const options = opts || {};
    const id = session.id;
    let row = rows.get(id);
    const merged = Object.assign({}, row && row.session, session);
    delete merged.messages;
    delete merged.has_more;
    if (thread.id === id) thread.session = merged;
    const list = listFor(merged);
    if (!list) {
      if (row) removeRow(row);
      if (thread.id === id) renderThread();
      return null;
    }
    const isNew = !row;
    if (isNew) row = createRow(id);
    const before = row.session;
    const moved = row.list !== list || row.ts !== (Date.parse(merged.last_message_at) || 0);
    unreadTotal -= counted(row);
    row.session = merged;
    row.list = list;
    row.ts = Date.parse(merged.last_message_at) || 0;
    row.gen = options.gen !== undefined ? options.gen : ++gen;
    unreadTotal += counted(row);
    rows.set(id, row);
    let unread = row.unread;
    const m = merged.last_message;
    const fresh = m && m.sender_type === 'store' && !(before && before.last_message && before.last_message.id >= m.id);
    if (typeof session.unread_count === 'number') unread = session.unread_count;
    else if (isNew) unread = m && m.sender_type === 'store' && m.status !== 'read' ? 1 : 0;
    else if (options.countNew && fresh) unread += 1;
    // What the open thread has marked read is read, whatever an older answer says.
    if (thread.id === id && m && m.sender_type === 'store' && m.id <= thread.lastRead) unread = 0;
    fill(row);
    setUnread(row, unread);
    if (moved || isNew) {
      place(row);
      updateCounts();
      if (selectedId === id) markSelected(row);
    }
    if (thread.id === id) renderThread();
    return row;
  }

  function removeRow(row) {
    unreadTotal -= counted(row);
    row.el.remove();
    rows.delete(row.id);
    if (selectedId === row.id) selectedId = null;
    updateCounts();
    updateTitle();
  }

  /** A session out of our reach: its row goes, and its thread if open. */
  function dropSession(id) {
    const row = rows.get(id);
    if (row) removeRow(row);
    if (thread.id === id) closeThread();
  }

  /** A message of a session of ours: its row shows it and moves up. */
  function touchRow(m) {
    const row = rows.get(m.session_id);
    const last = row && row.session.last_message;
    if (!row || (last && last.id >= m.id)) return;
    upsert(Object.assign({}, row.session, { last_message: m, last_message_at: m.created }));
  }

  /** Merges a fresh REST list: newer event data wins; rows REST no longer lists go. */
  function reconcile(list, result, startGen) {
    const seen = new Set();
    for (const s of result.data) {
      seen.add(s.id);
      const row = rows.get(s.id);
      if (!row || row.gen <= startGen) upsert(s, { gen: startGen });
    }
    if (!result.complete) return;
    for (const row of Array.from(rows.values())) {
      if (row.list === list && !seen.has(row.id) && row.gen <= startGen) removeRow(row);
    }
  }

  async function fetchAll(path) {
    const data = [];
    for (let offset = 0; offset < LIST_MAX; offset += LIST_PAGE) {
      const page = await call('GET', path + (path.includes('?') ? '&' : '?') + 'limit=' + LIST_PAGE + '&offset=' + offset);
      data.push(...page.data);
      if (page.data.length < LIST_PAGE || data.length >= page.count) return { data, complete: true };
    }
    return { data, complete: false };
  }

  // Refetches the lists and the open thread; calls made meanwhile are coalesced into one more.
  let refreshing = false;
  let refreshAgain = false;
  async function refresh() {
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    do {
      refreshAgain = false;
      const startGen = gen;
      try {
        const [queue, mine, closed, admins] = await Promise.all([
          fetchAll('sessions/open/'),
          fetchAll('sessions/my/?status=claimed'),
          call('GET', 'sessions/my/?status=closed&limit=' + CLOSED_SHOWN),
          call('GET', 'admins/'),
        ]);
        learnAdmins(admins.data);
        // These two lists hold only sessions we hold or held: their admin is us.
        for (const s of mine.data.concat(closed.data)) learnMe(s.admin_id);
        reconcile('queue', queue, startGen);
        reconcile('mine', mine, startGen);
        reconcile('closed', { data: closed.data, complete: false }, startGen);
        if (thread.id !== null) loadThread();
      } catch (err) {
        if (err.status !== 403) report(err, 'Could not load the sessions: ');
        else {
          signIn.signOut();
          notice.say('That is not an admin token.');
        }
      }
    } while (refreshAgain && live);
    refreshing = false;
  }

  // Refetches my sessions a little later (we may have claimed in another tab while `me` is unknown).
  let mineTimer = 0;
  function refreshMineSoon() {
    clearTimeout(mineTimer);
    mineTimer = setTimeout(() => {
      const startGen = gen;
      fetchAll('sessions/my/?status=claimed').then((mine) => {
        for (const s of mine.data) learnMe(s.admin_id);
        reconcile('mine', mine, startGen);
      }, (err) => report(err, 'Could not load your sessions: '));
    }, 1500);
  }

  // ------------------------------------------------------------ selection

  /** Shows the selection on the row, and to assistive technology through its list. */
  function markSelected(row, on) {
    row.el.classList.toggle('selected', on !== false);
    row.el.setAttribute('aria-selected', String(on !== false));
    for (const ol of Object.values(lists)) ol.removeAttribute('aria-activedescendant');
    if (on !== false) lists[row.list].setAttribute('aria-activedescendant', row.el.id);
  }

  function select(id, focus) {
    const row = rows.get(id);
    if (!row) return;
    const old = selectedId !== null && rows.get(selectedId);
    if (old && old !== row) markSelected(old, false);
    selectedId = id;
    markSelected(row);
    if (focus) lists[row.list].focus({ preventScroll: true });
    row.el.scrollIntoView({ block: 'nearest' });
    openThread(id);
  }

  /** j / k: the next or previous row across the three lists, in page order. */
  function moveSelection(delta) {
    const all = Array.from(document.querySelectorAll('#queue > li, #mine > li, #closed > li'));
    if (all.length === 0) return;
    const index = selectedId !== null && rows.has(selectedId) ? all.indexOf(rows.get(selectedId).el) : -1;
    const next = index === -1 ? (delta > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, index + delta));
    select(Number(all[next].dataset.sessionId), true);
  }

  // ------------------------------------------------------------ thread

  function currentSession() {
    const row = thread.id !== null && rows.get(thread.id);
    return row ? row.session : thread.session;
  }

  /** Whether session `id` is the open thread, and not closed yet. */
  const isOpenThread = (id) => thread.id === id && !!currentSession() && currentSession().status !== 'closed';

  const canWrite = (s) => !!s && s.status === 'claimed' && me !== null && s.admin_id === me;
  /** A closed session we held takes notes only. */
  const notesOnly = (s) => !!s && s.status === 'closed' && me !== null && s.admin_id === me;

  function openThread(id) {
    if (thread.id === id) return;
    if (thread.id !== null) drafts.set(thread.id, ui.composer.value);
    typingSender.stop();
    typing.hide();
    const row = rows.get(id);
    Object.assign(thread, { id, session: row ? row.session : null, loaded: false, hasMore: false, lastRead: 0 });
    messages.clear();
    outbox.restore(id, messages);
    ui.thread.dataset.sessionId = String(id);
    ui.thread.hidden = false;
    ui.noThread.hidden = true;
    ui.composer.value = drafts.get(id) || '';
    drafts.delete(id);
    renderThread();
    // A short delay, so that holding j or k does not fetch every session on the way.
    clearTimeout(thread.timer);
    thread.timer = setTimeout(loadThread, 120);
  }

  function closeThread() {
    clearTimeout(thread.timer);
    typingSender.stop();
    typing.hide();
    Object.assign(thread, { id: null, session: null, loaded: false, seq: thread.seq + 1 });
    messages.clear();
    delete ui.thread.dataset.sessionId;
    ui.thread.hidden = true;
    ui.noThread.hidden = false;
  }

  function renderThread() {
    const s = currentSession();
    const writable = canWrite(s);
    ui.threadTitle.textContent = s ? nameOf(s) + ' · session ' + s.id : 'Session ' + thread.id;
    ui.threadState.textContent = !s ? 'Loading…' : s.status === 'open' ? 'In the queue (preview)'
      : s.status === 'closed' ? 'Closed' : writable ? 'Claimed by you' : 'Claimed by another admin';
    ui.threadClaim.hidden = !s || s.status !== 'open';
    for (const el of [ui.release, ui.close, ui.transferTo, ui.transfer]) el.disabled = !writable;
    const noting = notesOnly(s);
    for (const el of [ui.composer, ui.send]) el.disabled = !writable && !noting;
    ui.privateNote.disabled = !writable;
    if (noting) ui.privateNote.checked = true;
    ui.composerHint.hidden = writable;
    ui.composerHint.textContent = !s ? '' : s.status === 'open' ? 'Claim this session to reply.'
      : noting ? 'This session is closed: you can still leave a private note for the team.'
        : s.status === 'closed' ? 'This session is closed.' : 'Another admin holds this session.';
    ui.loadOlder.hidden = !thread.hasMore;
  }

  async function loadThread() {
    const id = thread.id;
    if (id === null) return;
    const seq = ++thread.seq;
    const startGen = gen;
    try {
      const data = await call('GET', 'session/' + id + '/?limit=' + MESSAGES_PAGE);
      if (thread.id !== id || seq !== thread.seq) return;
      // Merged with what we show (a preview message, or what came while offline).
      if (messages.mergeLatest(data.messages, data.has_more) || !thread.loaded) thread.hasMore = data.has_more;
      if (!thread.loaded) messages.scrollToBottom();
      thread.loaded = true;
      const row = rows.get(id);
      if (!row || row.gen <= startGen) upsert(data, { gen: startGen });
      renderThread();
      markRead();
    } catch (err) {
      if (thread.id !== id || err.code === 'cancelled') return;
      if (err.status === 403 || err.status === 404) {
        notice.say(err.status === 403 ? claimedText(id) : 'Session ' + id + ' no longer exists.');
        dropSession(id);
      } else {
        report(err, 'Could not load the session: ');
      }
    }
  }

  async function loadOlder() {
    const id = thread.id;
    const before = messages.oldestId();
    if (id === null || before === null) return;
    ui.loadOlder.disabled = true;
    try {
      const data = await call('GET', 'session/' + id + '/?limit=' + MESSAGES_PAGE + '&before=' + before);
      if (thread.id !== id) return;
      messages.prependOlder(data.messages);
      thread.hasMore = data.has_more;
      renderThread();
      if (!thread.hasMore) ui.messages.focus();
    } catch (err) {
      report(err, 'Could not load older messages: ');
    } finally {
      ui.loadOlder.disabled = false;
    }
  }

  /** Marks the store's messages read while we hold (or held) the thread and can see it. */
  async function markRead() {
    const s = currentSession();
    if (!s || me === null || s.admin_id !== me || s.status === 'open' || document.hidden) return;
    const id = thread.id;
    const newest = messages.newestWhere((li) => li.dataset.sender === 'store');
    if (newest === null || newest <= thread.lastRead) return;
    thread.lastRead = newest;
    try {
      await call('POST', 'session/read/', { session_id: id, message_id: newest });
      if (rows.has(id)) setUnread(rows.get(id), 0);
    } catch (err) {
      if (thread.id === id && thread.lastRead === newest) thread.lastRead = 0;
      if (err.status !== 409) report(err, 'Could not mark messages read: ');
    }
  }

  // ------------------------------------------------------------ actions

  /** Remembers the admins' names, and offers the others as transfer targets. */
  function learnAdmins(list) {
    adminNames.clear();
    for (const a of list) {
      adminNames.set(a.id, a.name);
      if (a.status) adminStatus.set(a.id, a.status);
    }
    renderTransferTargets();
    showPresence();
  }

  /** Our own presence, on the toolbar's button (which toggles online and away). */
  function showPresence() {
    const status = me !== null ? adminStatus.get(me) : undefined;
    if (status === undefined) return;
    const label = { online: 'Online', away: 'Away', offline: 'Offline' }[status] || status;
    ui.presence.textContent = label;
    ui.presence.dataset.status = status;
    ui.presence.setAttribute('aria-pressed', String(status === 'away'));
  }

  async function togglePresence() {
    const wanted = ui.presence.dataset.status === 'away' ? 'online' : 'away';
    ui.presence.disabled = true;
    try {
      const answer = await call('POST', 'presence/', { status: wanted });
      learnMe(answer.admin_id);
      adminStatus.set(answer.admin_id, answer.status);
      showPresence();
    } catch (err) {
      report(err, 'Could not change your status: ');
    } finally {
      ui.presence.disabled = false;
    }
  }

  function onPresence(d) {
    adminStatus.set(d.admin_id, d.status);
    if (d.admin_id === me) showPresence();
    renderTransferTargets();
  }

  /** Reloads the admins' names when an admin we do not know shows up (a new colleague). */
  function ensureAdmin(id) {
    if (adminNames.has(id)) return;
    call('GET', 'admins/')
      .then((admins) => {
        learnAdmins(admins.data);
        for (const s of lost) if (claimers.has(s)) notice.say(claimedText(s));
      })
      .catch(() => {});
  }

  function renderTransferTargets() {
    const select = ui.transferTo;
    const chosen = select.value;
    select.replaceChildren();
    const prompt = document.createElement('option');
    prompt.value = '';
    prompt.textContent = 'Choose an admin';
    select.append(prompt);
    for (const [id, name] of adminNames) {
      if (id === me) continue;
      const option = document.createElement('option');
      option.value = String(id);
      const status = adminStatus.get(id);
      option.textContent = name + ' (#' + id + ')' + (status ? ' · ' + status : '');
      select.append(option);
    }
    select.value = chosen;
  }

  function claimedText(id) {
    const by = claimers.get(id);
    if (by === undefined || by === me) return 'Claimed by another admin';
    const name = adminNames.get(by);
    return 'Claimed by ' + (name !== undefined ? name : 'admin #' + by);
  }

  async function claim(id) {
    if (claiming.has(id)) return;
    claiming.add(id);
    const row = rows.get(id);
    const button = row && row.parts.claim;
    if (button) button.disabled = true;
    try {
      const s = await call('POST', 'session/claim/', { session_id: id });
      learnMe(s.admin_id);
      upsert(s);
      select(id, false);
      markRead();
      notice.say('You claimed session ' + id + '.');
    } catch (err) {
      if (button) button.disabled = false;
      if (err.code === 'already_claimed' || err.code === 'session_closed' || err.status === 404) {
        // The row leaves the queue at once.
        notice.say(err.code === 'already_claimed' ? claimedText(id) : 'Session ' + id + ' is closed.');
        // The winner's name comes with session_claimed, which may follow the answer.
        if (err.code === 'already_claimed' && !claimers.has(id)) lost.add(id);
        dropSession(id);
      } else {
        report(err, 'Could not claim: ');
      }
    } finally {
      claiming.delete(id);
    }
  }

  /** An action on the open session we hold: POST `path`, then `done(answer, session)`. */
  async function act(path, body, done) {
    const s = currentSession();
    if (!canWrite(s)) return;
    try {
      done(await call('POST', path, Object.assign({ session_id: s.id }, body)), s);
    } catch (err) {
      report(err, err.status === 404 ? 'Not found: ' : 'Could not do it: ');
    }
  }

  function closeSession() {
    const s = currentSession();
    if (!canWrite(s) || !window.confirm('Close the session with ' + nameOf(s) + '?')) return;
    act('session/close/', {}, (result) => {
      upsert(result);
      notice.say('Session ' + result.id + ' was closed.');
    });
  }

  function transfer() {
    const to = Number(ui.transferTo.value);
    if (!Number.isInteger(to) || to < 1 || to === me) {
      notice.say('Choose the admin to transfer to.');
      ui.transferTo.focus();
      return;
    }
    act('session/transfer/', { admin_id: to }, (result, s) => {
      ui.transferTo.value = '';
      dropSession(s.id);
      const name = adminNames.get(to);
      notice.say('Session ' + s.id + ' was transferred to ' + (name !== undefined ? name : 'admin #' + to) + '.');
    });
  }

  /** Uploads a file (attach, drop, paste) and sends it with the composer's text. */
  async function attachFile(file) {
    const s = currentSession();
    if (!(canWrite(s) || notesOnly(s))) return;
    try {
      const attachment = await L.uploadWithProgress(client, file, $('upload-progress'));
      const text = ui.composer.value;
      ui.composer.value = '';
      const note = ui.privateNote.checked;
      messages.addPending(outbox.send(s.id, text, note, attachment), text, note, attachment);
      messages.scrollToBottom();
    } catch (err) {
      report(err, 'Could not upload the file: ');
    }
  }

  function submitMessage() {
    const s = currentSession();
    const text = ui.composer.value;
    if (!(canWrite(s) || notesOnly(s)) || !text.trim()) return;
    if (Array.from(text).length > MAX_CHARS) {
      notice.say('A message has at most ' + MAX_CHARS + ' characters.');
      return;
    }
    ui.composer.value = '';
    typingSender.stop();
    const note = ui.privateNote.checked;
    // Shown at once as `sending`; the outbox retries with the same client_message_id.
    messages.addPending(outbox.send(s.id, text, note), text, note);
    messages.scrollToBottom();
  }

  // ------------------------------------------------------------ events

  function onEvent(frame) {
    const d = frame.data || {};
    switch (frame.type) {
      case 'session_opened': // new, or released (by us too)
        upsert(d, { countNew: true });
        if (thread.id === d.id && d.last_message) messages.follow(() => messages.upsert(d.last_message));
        alertNew(d);
        break;
      case 'session_updated': onUpdated(d); break;
      case 'session_claimed': onClaimed(d); break;
      case 'session_transferred': onTransferred(d); break;
      case 'session_closed': {
        // Only the store and the session's admin get it: the admin of a closed one is us.
        if (me === null && typeof d.admin_id === 'number') learnMe(d.admin_id);
        const wasOpen = isOpenThread(d.id);
        upsert(d);
        if (wasOpen) notice.say('Session ' + d.id + ' was closed.');
        break;
      }
      case 'new_message': onMessage(d); break;
      case 'admin_presence': onPresence(d); break;
      case 'message_status':
        if (d.session_id === thread.id) messages.setStatus(d.message_ids || [], d.status);
        break;
      case 'typing':
        if (d.session_id !== thread.id || d.sender_type !== 'store') break;
        if (d.is_typing) typing.show('Store is typing…');
        else typing.hide();
        break;
      default:
        break; // admin_connected and admin_disconnected are for the store
    }
  }

  /** An open session changed: a new message (it moves up), or closed before any claim. */
  function onUpdated(s) {
    const wasOpen = isOpenThread(s.id);
    upsert(s, { countNew: true });
    if (thread.id !== s.id) return;
    if (s.last_message) messages.follow(() => messages.upsert(s.last_message));
    if (s.status === 'closed' && wasOpen) notice.say('Session ' + s.id + ' was closed by the store.');
  }

  function onClaimed(d) {
    if (d.assigned && d.admin_id === me) notice.say('Session ' + d.session_id + ' was assigned to you.');
    claimers.set(d.session_id, d.admin_id);
    if (claimers.size > 500) claimers.delete(claimers.keys().next().value);
    ensureAdmin(d.admin_id);
    if (lost.delete(d.session_id)) notice.say(claimedText(d.session_id));
    const row = rows.get(d.session_id);
    if (me !== null && d.admin_id === me) {
      if (row) upsert(Object.assign({}, row.session, { status: 'claimed', admin_id: me }));
      else refreshMineSoon();
      return;
    }
    if (me === null && claiming.has(d.session_id)) return; // maybe ours: the claim's answer tells
    if (row && row.list === 'queue') {
      if (thread.id === d.session_id) notice.say(claimedText(d.session_id));
      dropSession(d.session_id);
    }
    if (me === null) refreshMineSoon(); // maybe us, in another tab
  }

  function onTransferred(s) {
    const row = rows.get(s.id);
    const wasMine = !!row && row.list === 'mine';
    // Only the previous and the new admin get it: without it in Mine, we are the new one.
    if (me === null && !wasMine) learnMe(s.admin_id);
    if (s.admin_id === me) {
      if (!wasMine) notice.say('Session ' + s.id + ' was transferred to you.');
      upsert(s);
    } else if (row || thread.id === s.id) {
      dropSession(s.id);
      notice.say('Session ' + s.id + ' was transferred.');
    }
  }

  function onMessage(m) {
    const shown = thread.id === m.session_id;
    if (shown) {
      messages.follow(() => messages.upsert(m));
      if (m.sender_type === 'store') {
        typing.hide();
        markRead();
      }
    }
    const row = rows.get(m.session_id);
    if (!row) {
      refreshMineSoon();
      return;
    }
    const last = row.session.last_message;
    const isNew = !(last && last.id >= m.id);
    touchRow(m);
    if (isNew && m.sender_type === 'store' && !(shown && !document.hidden)) setUnread(row, row.unread + 1);
  }

  // ------------------------------------------------------------ alerts

  let alertsOn = false;
  let audio = null;
  let lastAlert = 0;

  async function toggleAlerts() {
    if (!alertsOn) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx && !audio) audio = new Ctx(); // made on a click, so that it may play later
      if ('Notification' in window && Notification.permission !== 'granted') {
        const permission = await Notification.requestPermission();
        if (permission !== 'granted') notice.say('Notifications are blocked: alerts will only beep.');
      }
    }
    alertsOn = !alertsOn;
    ui.notify.textContent = alertsOn ? 'Disable alerts' : 'Enable alerts';
    ui.notify.setAttribute('aria-pressed', String(alertsOn));
  }

  /** A new session while the tab is hidden: a beep and a notification (at most every 3 s). */
  function alertNew(s) {
    if (!alertsOn || !document.hidden || Date.now() - lastAlert < 3000) return;
    lastAlert = Date.now();
    beep();
    if (!('Notification' in window) || Notification.permission !== 'granted') return;
    try {
      const n = new Notification('New chat: ' + nameOf(s), {
        body: s.last_message ? s.last_message.content.slice(0, 120) : 'opened a chat',
        tag: 'session-' + s.id,
      });
      n.onclick = () => {
        window.focus();
        select(s.id, true);
        n.close();
      };
    } catch (e) {
      /* notifications unavailable here */
    }
  }

  function beep() {
    if (!audio) return;
    if (audio.state === 'suspended') audio.resume();
    const t = audio.currentTime;
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880; // a short A5, fading in and out
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start(t);
    osc.stop(t + 0.3);
  }

  // ------------------------------------------------------------ sign-in

  const signIn = new L.SignIn({
    form: $('sign-in-form'),
    input: $('token'),
    key: 'chat.console.token',
    shown: [ui.app, ui.toolbar],
    onSignIn(token) {
      client.use(token);
      me = Number(L.tokens.load(ME_KEY)) || null;
      live = new L.Live({
        path: '/v1/chat/admin/ws/',
        token,
        onEvent,
        onHello: refresh,
        onState(state, info) {
          L.showConnection(ui.connection, state);
          // A socket that keeps failing may have a revoked token: REST says so with a 401.
          if (state === 'offline' && info.attempt % 3 === 0) call('GET', 'sessions/my/?limit=1').catch(() => {});
        },
      });
      live.start();
      refresh();
    },
    onSignOut() {
      typingSender.stop();
      if (live) live.stop();
      live = null;
      client.use('');
      me = null;
      L.tokens.clear(ME_KEY);
      closeThread();
      for (const ol of Object.values(lists)) ol.textContent = '';
      rows.clear();
      outbox.clear();
      drafts.clear();
      claiming.clear();
      selectedId = null;
      unreadTotal = 0;
      updateTitle();
      updateCounts();
    },
  });

  // ------------------------------------------------------------ wiring

  $('sign-out').addEventListener('click', () => {
    signIn.signOut();
    notice.say('Signed out.');
  });
  ui.notify.addEventListener('click', toggleAlerts);
  ui.presence.addEventListener('click', togglePresence);
  L.bindAttach({
    button: $('attach'), input: $('file'), dropZone: $('composer-form'), textarea: ui.composer,
    onFile: attachFile,
  });
  $('help-open').addEventListener('click', () => ui.help.showModal());

  for (const ol of Object.values(lists)) {
    ol.addEventListener('click', (e) => {
      const li = e.target.closest('li.session');
      if (!li) return;
      if (e.target.closest('button.claim')) claim(Number(li.dataset.sessionId));
      else select(Number(li.dataset.sessionId), false);
    });
    // Arrow keys move the selection of a focused list, like j and k.
    ol.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
      e.preventDefault();
      moveSelection(e.key === 'ArrowDown' ? 1 : -1);
    });
  }

  // ------------------------------------------------------------ search

  // Results are plain text: the matching words, between U+0002 and U+0003 in the snippet, are
  // marked with <mark> elements, never with HTML from the server.
  const found = {
    form: $('search-form'), input: $('search'), section: $('search-section'),
    list: $('search-results'), count: $('search-count'),
  };

  function snippetNodes(snippet) {
    const nodes = [];
    snippet.split('\u0002').forEach((part, i) => {
      const [marked, rest] = i === 0 ? [null, part] : part.split('\u0003');
      if (marked !== null && marked !== undefined) {
        const mark = document.createElement('mark');
        mark.textContent = marked;
        nodes.push(mark);
      }
      if (rest) nodes.push(document.createTextNode(rest));
    });
    return nodes;
  }

  async function runSearch() {
    const q = found.input.value.trim();
    if (!q) { clearSearch(); return; }
    try {
      const page = await call('GET', 'search/?q=' + encodeURIComponent(q) + '&limit=50');
      found.list.replaceChildren();
      for (const r of page.data) {
        const li = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        button.dataset.sessionId = String(r.session.id);
        if (r.message) button.dataset.messageId = String(r.message.id);
        const who = document.createElement('strong');
        who.textContent = nameOf(r.session);
        const text = document.createElement('span');
        text.className = 'snippet';
        text.append(...snippetNodes(r.snippet));
        button.append(who, ' ', text);
        button.addEventListener('click', () => revealMessage(r.session.id, r.message ? r.message.id : null));
        li.append(button);
        found.list.append(li);
      }
      found.count.textContent = String(page.count);
      found.section.hidden = false;
    } catch (err) {
      report(err, 'Could not search: ');
    }
  }

  function clearSearch() {
    found.input.value = '';
    found.list.replaceChildren();
    found.section.hidden = true;
  }

  /** Opens session `id` and shows message `messageId` in it, loading older pages as needed. */
  async function revealMessage(id, messageId) {
    openThread(id);
    if (messageId === null) return;
    const selector = 'li[data-message-id="' + messageId + '"]';
    for (let waited = 0; !(thread.id === id && thread.loaded) && waited < 5000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
    let li = ui.messages.querySelector(selector);
    for (let pages = 0; !li && thread.id === id && thread.hasMore && pages < 50; pages++) {
      await loadOlder();
      li = ui.messages.querySelector(selector);
    }
    if (!li) return;
    ui.messages.querySelectorAll('li.found').forEach((e) => e.classList.remove('found'));
    li.classList.add('found');
    li.scrollIntoView({ block: 'center' });
  }

  L.onSubmit(found.form, runSearch);
  $('search-clear').addEventListener('click', clearSearch);

  // ------------------------------------------------------------ canned replies

  // `/` and a shortcut at the start of the composer list the team's canned replies; Tab or
  // Enter expands the highlighted one, with the store's and the admin's names filled in.
  const canned = { replies: [], shown: [], index: 0, list: $('canned-list') };

  function loadCanned() {
    call('GET', 'canned/')
      .then((result) => { canned.replies = result.data; showCanned(); })
      .catch(() => {});
  }

  /** The shortcut being typed (`/ref` -> `ref`), or null when the composer holds no such thing. */
  function cannedQuery() {
    const m = /^\/([a-z0-9_-]*)$/.exec(ui.composer.value);
    return m ? m[1] : null;
  }

  function showCanned() {
    const query = cannedQuery();
    canned.shown = query === null ? [] : canned.replies.filter((r) => r.shortcut.startsWith(query));
    canned.index = 0;
    canned.list.replaceChildren();
    canned.shown.forEach((r, i) => {
      const li = document.createElement('li');
      li.setAttribute('role', 'option');
      li.dataset.shortcut = r.shortcut;
      const key = document.createElement('strong');
      key.textContent = '/' + r.shortcut;
      const text = document.createElement('span');
      text.textContent = r.content;
      li.append(key, ' ', text);
      li.addEventListener('mousedown', (e) => { e.preventDefault(); canned.index = i; expandCanned(); });
      canned.list.append(li);
    });
    canned.list.hidden = canned.shown.length === 0;
    markCanned();
  }

  function markCanned() {
    Array.from(canned.list.children).forEach((li, i) => {
      li.setAttribute('aria-selected', String(i === canned.index));
    });
  }

  function expandCanned() {
    const reply = canned.shown[canned.index];
    if (!reply) return;
    const s = currentSession();
    const admin = me !== null ? adminNames.get(me) : undefined;
    let text = reply.content;
    if (s) text = text.split('{store.name}').join(nameOf(s));
    if (admin !== undefined) text = text.split('{admin.name}').join(admin);
    ui.composer.value = text;
    canned.shown = [];
    canned.list.hidden = true;
    ui.composer.setSelectionRange(text.length, text.length);
  }

  // Before the composer's own Enter: with the list open, Enter expands instead of sending.
  ui.composer.addEventListener('keydown', (e) => {
    if (canned.list.hidden || e.isComposing) return;
    if (e.key === 'Tab' || (e.key === 'Enter' && !e.shiftKey)) {
      expandCanned();
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      const n = canned.shown.length;
      canned.index = (canned.index + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      markCanned();
    } else if (e.key === 'Escape') {
      canned.list.hidden = true;
    } else {
      return;
    }
    e.preventDefault();
    e.stopImmediatePropagation();
  });
  ui.composer.addEventListener('input', () => {
    // A fresh list each time a shortcut starts: replies others wrote meanwhile show too.
    if (ui.composer.value === '/') loadCanned();
    else showCanned();
  });

  ui.threadClaim.addEventListener('click', () => thread.id !== null && claim(thread.id));
  ui.release.addEventListener('click', () => act('session/release/', {}, (result, s) => {
    upsert(result);
    notice.say('Session ' + s.id + ' is back in the queue.');
  }));
  ui.close.addEventListener('click', closeSession);
  L.onSubmit($('transfer-form'), transfer);
  ui.loadOlder.addEventListener('click', loadOlder);
  L.onSubmit($('composer-form'), submitMessage);
  L.bindComposer(ui.composer, submitMessage);
  ui.composer.addEventListener('input', () => {
    if (canWrite(currentSession()) && ui.composer.value) typingSender.input(thread.id);
  });

  document.addEventListener('keydown', (e) => {
    if (ui.app.hidden || e.ctrlKey || e.metaKey || e.altKey || L.isTextField(e.target)) return;
    if (e.key === '?') {
      if (ui.help.open) ui.help.close();
      else ui.help.showModal();
    } else if (ui.help.open) {
      return;
    } else if (e.key === 'j' || e.key === 'k') {
      moveSelection(e.key === 'j' ? 1 : -1);
    } else if (e.key === 'c') {
      const row = selectedId !== null && rows.get(selectedId);
      if (row && row.list === 'queue') claim(row.id);
    } else if (e.key === 'e') {
      closeSession();
    } else if (e.key === '/') {
      found.input.focus();
    } else {
      return;
    }
    e.preventDefault();
  });

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) markRead();
  });

  // Waiting times move on every 30 s (text written only where it changed).
  setInterval(() => rows.forEach(fillAge), 30000);

  signIn.start();
})();
