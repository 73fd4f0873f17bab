/*
 * The store chat on a marketplace's pages: one tag,
 *   <script src="https://<service>/widget.js" data-token-url="/support/chat-token" async></script>
 * adds a launcher button (bottom right, with an unread badge) that opens the service's /chat/
 * in a frame. The store's token comes from the marketplace's own data-token-url (a POST on
 * the marketplace's origin, with its cookies, answering {"token": "..."}) and goes to the
 * frame by postMessage, to the service's origin only: never in a URL.
 */
(function () {
  'use strict';

  const script = document.currentScript;
  if (!script || window.__supportChatWidget) return;
  window.__supportChatWidget = true;
  const service = new URL(script.src).origin;
  const tokenUrl = script.getAttribute('data-token-url') || '/support/chat-token';

  function style(el, rules) {
    Object.assign(el.style, rules);
    return el;
  }

  const launcher = style(document.createElement('button'), {
    position: 'fixed', right: '20px', bottom: '20px', zIndex: '2147483646',
    width: '56px', height: '56px', borderRadius: '50%', border: 'none', cursor: 'pointer',
    background: '#1f5fbf', color: '#fff', font: '600 14px system-ui, sans-serif',
    boxShadow: '0 2px 10px rgba(0,0,0,.25)',
  });
  launcher.type = 'button';
  launcher.id = 'support-chat-launcher';
  launcher.textContent = 'Chat';
  launcher.setAttribute('aria-label', 'Chat with support');
  launcher.setAttribute('aria-expanded', 'false');

  const badge = style(document.createElement('span'), {
    position: 'absolute', top: '-4px', right: '-4px', minWidth: '20px', height: '20px',
    padding: '0 5px', borderRadius: '10px', background: '#d32f2f', color: '#fff',
    font: '600 12px/20px system-ui, sans-serif', textAlign: 'center', display: 'none',
  });
  badge.id = 'support-chat-badge';
  badge.setAttribute('aria-live', 'polite');
  launcher.appendChild(badge);

  const frame = style(document.createElement('iframe'), {
    position: 'fixed', right: '20px', bottom: '88px', zIndex: '2147483647',
    width: 'min(380px, calc(100vw - 40px))', height: 'min(560px, calc(100vh - 120px))',
    border: '1px solid #ccd', borderRadius: '12px', background: '#fff',
    boxShadow: '0 4px 24px rgba(0,0,0,.2)', display: 'none',
  });
  frame.id = 'support-chat-frame';
  frame.title = 'Chat with support';
  frame.src = service + '/chat/';

  let open = false;

  function tell(message) {
    if (frame.contentWindow) frame.contentWindow.postMessage(message, service);
  }

  function setUnread(count) {
    badge.textContent = count > 99 ? '99+' : String(count);
    badge.style.display = count > 0 ? 'inline-block' : 'none';
    launcher.setAttribute('aria-label', count > 0
      ? 'Chat with support (' + count + ' unread)' : 'Chat with support');
  }

  async function sendToken() {
    try {
      const resp = await fetch(tokenUrl, {
        method: 'POST', credentials: 'same-origin', headers: { Accept: 'application/json' },
      });
      if (!resp.ok) throw new Error('HTTP ' + resp.status);
      const body = await resp.json();
      if (typeof body.token !== 'string') throw new Error('no token');
      tell({ type: 'chat:token', token: body.token });
      tell({ type: 'chat:visible', visible: open });
    } catch (err) {
      launcher.title = 'Support chat unavailable: ' + err.message;
    }
  }

  window.addEventListener('message', (event) => {
    if (event.origin !== service || event.source !== frame.contentWindow) return;
    const data = event.data || {};
    if (data.type === 'chat:ready') sendToken();
    else if (data.type === 'chat:unread' && typeof data.count === 'number') setUnread(data.count);
  });

  launcher.addEventListener('click', () => {
    open = !open;
    frame.style.display = open ? 'block' : 'none';
    launcher.setAttribute('aria-expanded', String(open));
    launcher.textContent = open ? '×' : 'Chat';
    launcher.appendChild(badge);
    tell({ type: 'chat:visible', visible: open });
  });

  function mount() {
    document.body.appendChild(frame);
    document.body.appendChild(launcher);
  }
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
