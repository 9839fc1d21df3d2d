// MCP Gateway web UI: plain JavaScript, no framework, no network beyond
// this origin. Every text that comes from a backend or the API (names,
// descriptions, tool schemas, errors) is set with textContent or as an
// attribute value, never parsed as HTML.
(function () {
  'use strict';

  var $ = function (id) { return document.getElementById(id); };

  // ---------- state ----------

  var state = {
    servers: new Map(), // path -> record
    stats: null, // last /api/stats or feed stats
    filter: 'all',
    query: '',
    toolHits: [], // results of the tool search
    toolSearchSeq: 0,
    version: 0 // counts changes of the servers map
  };
  var cards = new Map(); // path -> card element
  var filled = new WeakMap(); // card element -> the record it shows
  var openTools = null; // path of the server whose tools dialog is open
  var editing = null; // path of the server being edited (null: registering)
  var deleting = null; // path of the server pending deletion

  // ---------- API ----------

  function ApiError(status, message, field) {
    this.status = status;
    this.message = message;
    this.field = field || '';
  }

  function api(method, path, body) {
    var opts = { method: method, headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        if (text) {
          try { data = JSON.parse(text); } catch (e) { data = null; }
        }
        if (res.status === 401 && path !== '/api/login') {
          sessionLost();
        }
        if (!res.ok) {
          var msg = data && typeof data.error === 'string' ? data.error : res.status + ' ' + res.statusText;
          throw new ApiError(res.status, msg, data && typeof data.field === 'string' ? data.field : '');
        }
        return data;
      });
    }, function () {
      throw new ApiError(0, 'The gateway cannot be reached.', '');
    });
  }

  function serverURL(path, suffix) {
    return '/api/servers/' + encodeURIComponent(serverID(path)) + (suffix || '');
  }

  // probeSession reports "ok", "login" or "down" without an API 401 (which
  // would make the browser prompt for Basic credentials): the page route
  // redirects to /login when the session is gone.
  function probeSession() {
    return fetch('/', { method: 'HEAD', redirect: 'manual', cache: 'no-store', credentials: 'same-origin' })
      .then(function (res) {
        if (res.type === 'opaqueredirect' || (res.status >= 300 && res.status < 400)) return 'login';
        return res.ok ? 'ok' : 'down';
      }, function () { return 'down'; });
  }

  // ---------- small helpers ----------

  function el(tag, className, text) {
    var e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function toast(message, isError) {
    var t = el('div', 'toast' + (isError ? ' error' : ''), message);
    $('toasts').appendChild(t);
    setTimeout(function () { t.remove(); }, isError ? 7000 : 3500);
  }

  var rtf = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null;

  function ago(iso) {
    if (!iso) return 'never';
    var t = Date.parse(iso);
    if (isNaN(t)) return 'never';
    var s = Math.round((t - Date.now()) / 1000);
    var abs = Math.abs(s);
    if (!rtf) return new Date(t).toLocaleString();
    if (abs < 5) return 'just now';
    if (abs < 60) return rtf.format(s, 'second');
    if (abs < 3600) return rtf.format(Math.round(s / 60), 'minute');
    if (abs < 86400) return rtf.format(Math.round(s / 3600), 'hour');
    return rtf.format(Math.round(s / 86400), 'day');
  }

  function serverID(path) { return path.replace(/^\//, ''); }

  function displayStatus(srv) {
    if (!srv.enabled) return 'disabled';
    var s = srv.health && srv.health.status;
    return s === 'healthy' || s === 'unhealthy' || s === 'disabled' ? s : 'unknown';
  }

  var statusText = { healthy: 'Healthy', unhealthy: 'Unhealthy', unknown: 'Unknown', disabled: 'Disabled' };

  function hasIssue(srv) { return srv.enabled && srv.health && srv.health.status === 'unhealthy'; }

  var collator = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true });
  var sorted = { of: null, list: [] };

  // sortedServers returns the servers by name, sorting again only after
  // the set of records changed.
  function sortedServers() {
    if (sorted.of !== state.servers || sorted.version !== state.version) {
      sorted.of = state.servers;
      sorted.version = state.version;
      sorted.list = Array.from(state.servers.values()).sort(function (a, b) {
        return collator.compare(a.name || '', b.name || '') || collator.compare(a.path, b.path);
      });
    }
    return sorted.list;
  }

  function matchesQuery(srv, q) {
    if (!q) return true;
    var fields = [srv.name, srv.path, srv.description].concat(srv.tags || []);
    (srv.tools || []).forEach(function (t) { fields.push(t.name, t.description); });
    return fields.some(function (f) { return typeof f === 'string' && f.toLowerCase().indexOf(q) >= 0; });
  }

  function matchesFilter(srv, f) {
    switch (f) {
      case 'enabled': return srv.enabled;
      case 'disabled': return !srv.enabled;
      case 'issues': return hasIssue(srv);
      default: return true;
    }
  }

  // ---------- server cards ----------

  function makeCard(path) {
    var card = document.getElementById('card-template').content.firstElementChild.cloneNode(true);
    card.dataset.path = path;
    var q = function (sel) { return card.querySelector(sel); };
    q('.enable').addEventListener('change', function (e) { toggleServer(card.dataset.path, e.target); });
    q('.refresh-btn').addEventListener('click', function (e) { refreshServer(card.dataset.path, e.currentTarget); });
    q('.tools-btn').addEventListener('click', function () { showTools(card.dataset.path); });
    q('.connect-btn').addEventListener('click', function () { showConnect(card.dataset.path); });
    q('.edit-btn').addEventListener('click', function () { openServerForm(card.dataset.path); });
    q('.delete-btn').addEventListener('click', function () { confirmDelete(card.dataset.path); });
    return card;
  }

  function fillCard(card, srv) {
    var q = function (sel) { return card.querySelector(sel); };
    var status = displayStatus(srv);
    var health = srv.health || {};
    card.dataset.status = status;
    card.classList.toggle('is-disabled', !srv.enabled);
    card.setAttribute('aria-label', srv.name + ' (' + srv.path + ')');
    q('.card-name').textContent = srv.name;
    q('.card-path').textContent = srv.path;
    q('.card-desc').textContent = srv.description || '';

    var badge = q('.badge');
    badge.dataset.status = status;
    badge.textContent = statusText[status];
    var errText = status === 'unhealthy' ? (health.error || 'The last health check failed.') : '';
    if (errText) {
      badge.title = errText;
      badge.setAttribute('aria-label', 'Unhealthy: ' + errText);
      badge.setAttribute('tabindex', '0');
    } else {
      badge.removeAttribute('title');
      badge.setAttribute('aria-label', 'Health: ' + statusText[status]);
      badge.removeAttribute('tabindex');
    }
    q('.card-error').hidden = !errText;
    q('.card-error-text').textContent = errText;

    var tags = q('.tags');
    tags.replaceChildren.apply(tags, (srv.tags || []).map(function (t) { return el('li', '', t); }));

    var n = typeof srv.num_tools === 'number' ? srv.num_tools : (srv.tools || []).length;
    var tb = q('.tools-btn');
    tb.textContent = n === 1 ? '1 tool' : n + ' tools';
    tb.setAttribute('aria-label', 'Show the ' + (n === 1 ? 'tool' : n + ' tools') + ' of ' + srv.name);

    var checked = q('.checked');
    checked.dataset.time = health.checked_at || '';
    checked.textContent = ago(health.checked_at);
    if (health.checked_at) {
      checked.dateTime = health.checked_at;
      checked.title = new Date(health.checked_at).toLocaleString() + (health.latency_ms ? ' · ' + health.latency_ms + ' ms' : '');
    } else {
      checked.removeAttribute('datetime');
      checked.removeAttribute('title');
    }
    q('.transport').textContent = srv.transport || 'auto';

    var sw = q('.enable');
    if (!busy(sw)) sw.checked = !!srv.enabled;
    sw.setAttribute('aria-label', 'Enabled: ' + srv.name);
    q('.switch-text').textContent = srv.enabled ? 'Enabled' : 'Disabled';
    q('.refresh-btn').setAttribute('aria-label', 'Refresh ' + srv.name);
    q('.refresh-btn').title = 'Check health and list tools now';
    q('.connect-btn').setAttribute('aria-label', 'Connect to ' + srv.name);
    q('.edit-btn').setAttribute('aria-label', 'Edit ' + srv.name);
    q('.delete-btn').setAttribute('aria-label', 'Delete ' + srv.name);
  }

  // requestRender coalesces the changes of one frame into one render, so
  // that a burst of feed messages (every health check of hundreds of
  // servers) costs one pass over the page.
  var renderPending = false;

  function requestRender() {
    if (renderPending) return;
    renderPending = true;
    requestAnimationFrame(function () {
      renderPending = false;
      render();
    });
  }

  // render brings the whole page in line with the state; cards are kept
  // and updated in place so that focus and open details survive updates,
  // and a card is filled again only when its record changed.
  function render() {
    var q = state.query;
    var all = sortedServers();
    var counts = { all: 0, enabled: 0, disabled: 0, issues: 0 };
    all.forEach(function (s) {
      counts.all++;
      if (s.enabled) counts.enabled++; else counts.disabled++;
      if (hasIssue(s)) counts.issues++;
    });
    Object.keys(counts).forEach(function (k) { $('count-' + k).textContent = counts[k]; });

    for (var [path, card] of cards) {
      if (!state.servers.has(path)) {
        card.remove();
        cards.delete(path);
      }
    }
    var list = $('server-list');
    var visible = all.filter(function (s) { return matchesFilter(s, state.filter) && matchesQuery(s, q); });
    var want = visible.map(function (s) {
      var card = cards.get(s.path);
      if (!card) {
        card = makeCard(s.path);
        cards.set(s.path, card);
      }
      if (filled.get(card) !== s) {
        fillCard(card, s);
        filled.set(card, s);
      }
      return card;
    });
    var current = Array.from(list.children);
    var same = current.length === want.length && current.every(function (c, i) { return c === want[i]; });
    if (!same) {
      // Detach only what goes away, then insert in order: an element that
      // stays is not moved when it is already in place, keeping its focus.
      var keep = new Set(want);
      current.forEach(function (c) { if (!keep.has(c)) c.remove(); });
      want.forEach(function (c, i) {
        if (list.children[i] !== c) list.insertBefore(c, list.children[i] || null);
      });
    }

    var empty = $('empty');
    empty.hidden = visible.length > 0;
    if (!visible.length) {
      $('empty-text').textContent = all.length === 0 ? 'No servers are registered yet.'
        : q ? 'No server matches “' + state.query + '”.' : 'No server in this view.';
      $('empty-register').hidden = all.length !== 0;
    }
    renderStats();
    renderToolHits();
  }

  var statsTableKey = ''; // what the requests table shows now

  function renderStats() {
    var all = sortedServers();
    var healthy = 0;
    var issues = 0;
    var enabled = 0;
    var tools = 0;
    all.forEach(function (s) {
      if (s.enabled) enabled++;
      if (s.enabled && s.health && s.health.status === 'healthy') healthy++;
      if (hasIssue(s)) issues++;
      tools += typeof s.num_tools === 'number' ? s.num_tools : (s.tools || []).length;
    });
    var requests = (state.stats && state.stats.requests) || {};
    var total = 0;
    all.forEach(function (s) { total += requests[s.path] || 0; });
    $('st-total').textContent = all.length;
    $('st-enabled').textContent = enabled;
    $('st-healthy').textContent = healthy;
    $('st-issues').textContent = issues;
    $('st-tools').textContent = tools;
    $('st-requests').textContent = total.toLocaleString();

    var max = 0;
    all.forEach(function (s) { max = Math.max(max, requests[s.path] || 0); });
    var key = JSON.stringify(all.map(function (s) {
      return [s.path, s.name, displayStatus(s), s.num_tools, requests[s.path] || 0];
    }));
    if (key === statsTableKey) return;
    statsTableKey = key;
    var rows = all.map(function (s) {
      var tr = document.createElement('tr');
      var n = requests[s.path] || 0;
      tr.appendChild(el('td', '', s.name));
      var pathCell = el('td');
      pathCell.appendChild(el('code', '', s.path));
      tr.appendChild(pathCell);
      tr.appendChild(el('td', '', statusText[displayStatus(s)]));
      tr.appendChild(el('td', 'num', typeof s.num_tools === 'number' ? s.num_tools : (s.tools || []).length));
      tr.appendChild(el('td', 'num', n.toLocaleString()));
      var barCell = el('td', 'bar-col');
      var meter = document.createElement('meter');
      meter.min = 0;
      meter.max = max || 1;
      meter.value = n;
      meter.setAttribute('aria-label', 'Share of requests for ' + s.name);
      barCell.appendChild(meter);
      tr.appendChild(barCell);
      return tr;
    });
    if (!rows.length) {
      var tr = document.createElement('tr');
      var td = el('td', 'muted', 'No servers yet.');
      td.colSpan = 6;
      tr.appendChild(td);
      rows.push(tr);
    }
    var body = $('requests-body');
    body.replaceChildren.apply(body, rows);
  }

  function updateTimes() {
    document.querySelectorAll('time.checked').forEach(function (t) {
      t.textContent = ago(t.dataset.time);
    });
  }

  // ---------- data: REST load, WebSocket feed ----------

  // same reports whether two versions of a record are equal, so that an
  // unchanged record keeps its object and its card is not filled again.
  function same(a, b) {
    return a === b || (!!a && !!b && a.updated_at === b.updated_at && JSON.stringify(a) === JSON.stringify(b));
  }

  function setServers(list) {
    var old = state.servers;
    state.servers = new Map();
    (list || []).forEach(function (s) {
      var prev = old.get(s.path);
      state.servers.set(s.path, same(prev, s) ? prev : s);
    });
    requestRender();
    if (openTools && !state.servers.has(openTools)) $('tools-dialog').close();
  }

  function upsert(srv) {
    if (!srv || typeof srv.path !== 'string') return;
    state.servers.set(srv.path, srv);
    state.version++;
    requestRender();
    if (openTools === srv.path) renderToolsDialog(srv, srv.tools || []);
  }

  function removeServer(path) {
    state.servers.delete(path);
    state.version++;
    requestRender();
    if (openTools === path) $('tools-dialog').close();
  }

  function loadServers() {
    return api('GET', '/api/servers').then(function (data) { setServers(data && data.servers); });
  }

  function loadStats() {
    return api('GET', '/api/stats').then(function (st) {
      state.stats = st;
      requestRender();
    }, function () {});
  }

  var feed = {
    ws: null,
    opened: false,
    attempt: 0,
    timer: 0,
    countdown: 0,
    stopped: false
  };

  function setConn(s, detail) {
    var c = $('conn-status');
    c.dataset.state = s;
    c.textContent = s === 'live' ? 'Live' : s === 'offline' ? 'Offline' : 'Connecting…';
    c.title = s === 'live' ? 'Receiving live updates from the gateway' : detail || '';
    $('offline-banner').hidden = s !== 'offline';
    if (detail) $('offline-text').textContent = detail;
  }

  function connectFeed() {
    clearTimeout(feed.timer);
    clearInterval(feed.countdown);
    if (feed.stopped) return;
    if (feed.ws) {
      // Never two feeds: the old socket's handlers ignore it once replaced.
      var old = feed.ws;
      feed.ws = null;
      old.close();
    }
    setConn('connecting');
    var proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    var sock;
    try {
      sock = new WebSocket(proto + '//' + location.host + '/ws');
    } catch (e) {
      scheduleReconnect(false);
      return;
    }
    feed.ws = sock;
    feed.opened = false;
    sock.onopen = function () {
      if (feed.ws !== sock) return;
      feed.opened = true;
      feed.attempt = 0;
      setConn('live');
    };
    sock.onmessage = function (ev) {
      if (feed.ws !== sock) return;
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      handleFeed(msg);
    };
    sock.onclose = function () {
      if (feed.ws !== sock) return;
      feed.ws = null;
      scheduleReconnect(feed.opened);
    };
  }

  function handleFeed(msg) {
    switch (msg && msg.type) {
      case 'snapshot':
        setServers(msg.servers);
        break;
      case 'server_updated':
        upsert(msg.server);
        if (msg.tool_change && msg.server) announceToolChange(msg.server, msg.tool_change);
        break;
      case 'server_removed':
        removeServer(msg.path);
        break;
      case 'stats':
        if (msg.stats) {
          state.stats = msg.stats;
          requestRender();
        }
        break;
    }
  }

  // announceToolChange tells the operator that a server's tool set changed.
  function announceToolChange(srv, tc) {
    var parts = [];
    [['added', tc.added], ['removed', tc.removed], ['changed', tc.changed]].forEach(function (p) {
      if (Array.isArray(p[1]) && p[1].length) parts.push(p[0] + ' ' + p[1].join(', '));
    });
    if (parts.length) toast(srv.name + ': tools ' + parts.join('; '));
  }

  // scheduleReconnect retries with exponential backoff and jitter (0.5 s up
  // to 15 s). Before each attempt it checks the session, so that a gateway
  // restart that ended the session leads to the login page.
  function scheduleReconnect(wasOpen) {
    if (feed.stopped) return;
    var delay = Math.min(15000, 500 * Math.pow(2, feed.attempt)) * (0.8 + Math.random() * 0.4);
    feed.attempt++;
    var due = Date.now() + delay;
    var show = function () {
      var s = Math.max(0, Math.ceil((due - Date.now()) / 1000));
      setConn('offline', (wasOpen ? 'Connection to the gateway lost.' : 'No live connection to the gateway.') + ' Reconnecting in ' + s + ' s…');
    };
    show();
    clearInterval(feed.countdown);
    feed.countdown = setInterval(show, 1000);
    clearTimeout(feed.timer);
    feed.timer = setTimeout(attemptReconnect, delay);
  }

  function attemptReconnect() {
    clearTimeout(feed.timer);
    clearInterval(feed.countdown);
    setConn('connecting');
    probeSession().then(function (s) {
      if (s === 'login') {
        sessionLost();
        return;
      }
      if (s === 'down') {
        scheduleReconnect(false);
        return;
      }
      // The page is reachable: refresh over REST too, in case the feed
      // itself is what fails.
      loadServers().catch(function () {});
      loadStats();
      connectFeed();
    });
  }

  function stopFeed() {
    feed.stopped = true;
    clearTimeout(feed.timer);
    clearInterval(feed.countdown);
    if (feed.ws) {
      var ws = feed.ws;
      feed.ws = null;
      ws.close();
    }
  }

  function sessionLost() {
    if (feed.stopped) return;
    stopFeed();
    location.assign('/login');
  }

  // ---------- actions ----------

  // Pending actions mark their control aria-busy instead of disabling it:
  // a disabled control loses the keyboard focus.
  function busy(ctl) { return ctl.getAttribute('aria-busy') === 'true'; }

  function setBusy(ctl, on) {
    if (on) ctl.setAttribute('aria-busy', 'true'); else ctl.removeAttribute('aria-busy');
  }

  function toggleServer(path, input) {
    var want = input.checked;
    if (busy(input)) {
      input.checked = !want;
      return;
    }
    setBusy(input, true);
    api('POST', serverURL(path, want ? '/enable' : '/disable')).then(function (srv) {
      setBusy(input, false);
      upsert(srv);
      toast((srv.name || path) + (srv.enabled ? ' enabled' : ' disabled'));
    }, function (err) {
      setBusy(input, false);
      var srv = state.servers.get(path);
      input.checked = srv ? !!srv.enabled : !want;
      toast('Could not ' + (want ? 'enable' : 'disable') + ' ' + path + ': ' + err.message, true);
    });
  }

  function refreshServer(path, btn) {
    if (busy(btn)) return;
    setBusy(btn, true);
    api('POST', serverURL(path, '/refresh')).then(function (srv) {
      upsert(srv);
      var card = cards.get(path);
      if (card) {
        card.classList.remove('flash');
        void card.offsetWidth;
        card.classList.add('flash');
      }
      toast((srv.name || path) + ': ' + statusText[displayStatus(srv)] + ', ' + (srv.num_tools || 0) + ' tools');
    }, function (err) {
      toast('Refreshing ' + path + ' failed: ' + err.message, true);
    }).then(function () {
      setBusy(btn, false);
    });
  }

  // ---------- tools dialog ----------

  function schemaType(s) {
    if (!s || typeof s !== 'object') return '';
    var t = s.type;
    if (Array.isArray(t)) t = t.join(' | ');
    if (!t && Array.isArray(s.anyOf)) t = s.anyOf.map(schemaType).join(' | ');
    if (!t && Array.isArray(s.oneOf)) t = s.oneOf.map(schemaType).join(' | ');
    if (t === 'array' && s.items) t = schemaType(s.items) + '[]';
    if (Array.isArray(s.enum)) t = (t ? t + ': ' : '') + s.enum.map(function (v) { return JSON.stringify(v); }).join(', ');
    return t || 'any';
  }

  function renderTool(tool) {
    var box = el('section', 'tool');
    box.dataset.tool = tool.name;
    box.appendChild(el('h3', '', tool.name));
    if (tool.description) box.appendChild(el('p', 'tool-description', tool.description));
    var schema = tool.inputSchema && typeof tool.inputSchema === 'object' ? tool.inputSchema : {};
    var props = schema.properties && typeof schema.properties === 'object' ? schema.properties : {};
    var required = Array.isArray(schema.required) ? schema.required : [];
    var names = Object.keys(props);
    if (names.length) {
      var table = el('table', 'params');
      var head = document.createElement('tr');
      ['Parameter', 'Type', 'Description'].forEach(function (h) {
        var th = el('th', '', h);
        th.scope = 'col';
        head.appendChild(th);
      });
      var thead = document.createElement('thead');
      thead.appendChild(head);
      table.appendChild(thead);
      var tbody = document.createElement('tbody');
      names.forEach(function (name) {
        var p = props[name] || {};
        var tr = document.createElement('tr');
        var nameCell = el('td');
        nameCell.appendChild(el('code', '', name));
        if (required.indexOf(name) >= 0) {
          nameCell.appendChild(document.createTextNode(' '));
          nameCell.appendChild(el('span', 'req', 'required'));
        }
        tr.appendChild(nameCell);
        tr.appendChild(el('td', '', schemaType(p)));
        var desc = typeof p.description === 'string' ? p.description : '';
        if (p.default !== undefined) desc += (desc ? ' ' : '') + '(default ' + JSON.stringify(p.default) + ')';
        tr.appendChild(el('td', '', desc));
        tbody.appendChild(tr);
      });
      table.appendChild(tbody);
      box.appendChild(table);
    } else {
      box.appendChild(el('p', 'muted', 'No parameters.'));
    }
    var det = document.createElement('details');
    det.appendChild(el('summary', '', 'Input schema (JSON)'));
    det.appendChild(el('pre', 'code', JSON.stringify(schema, null, 2)));
    box.appendChild(det);
    return box;
  }

  function renderToolsDialog(srv, tools) {
    $('tools-dialog-title').textContent = 'Tools of ' + srv.name;
    $('tools-dialog-sub').textContent = srv.path + ' · ' + (tools.length === 1 ? '1 tool' : tools.length + ' tools');
    var body = $('tools-dialog-body');
    var items = tools.map(renderTool);
    if (!items.length) {
      items.push(el('p', 'muted', srv.enabled ? 'No tools discovered yet. Refresh the server to list them.' : 'No tools discovered. The server is disabled.'));
    }
    body.replaceChildren.apply(body, items);
  }

  function showTools(path, focusTool) {
    var srv = state.servers.get(path);
    if (!srv) return;
    openTools = path;
    renderToolsDialog(srv, srv.tools || []);
    var dlg = $('tools-dialog');
    if (!dlg.open) dlg.showModal();
    var highlight = function () {
      if (!focusTool) return;
      var boxes = $('tools-dialog-body').querySelectorAll('.tool');
      for (var i = 0; i < boxes.length; i++) {
        if (boxes[i].dataset.tool === focusTool) {
          boxes[i].scrollIntoView({ block: 'center' });
          boxes[i].classList.add('flash');
          break;
        }
      }
    };
    highlight();
    api('GET', serverURL(path, '/tools')).then(function (data) {
      if (openTools !== path || !data || !Array.isArray(data.tools)) return;
      renderToolsDialog(state.servers.get(path) || srv, data.tools);
      highlight();
    }, function () {});
  }

  // ---------- search over tools ----------

  var searchTimer = 0;

  function onSearch() {
    state.query = $('search').value.trim().toLowerCase();
    // Local matches show at once; the ranked search of the API replaces them.
    state.toolHits = state.query ? localToolHits(state.query) : [];
    requestRender();
    clearTimeout(searchTimer);
    searchTimer = setTimeout(searchTools, 200);
  }

  function localToolHits(q) {
    var hits = [];
    sortedServers().forEach(function (s) {
      (s.tools || []).forEach(function (t) {
        var text = (t.name + ' ' + (t.description || '')).toLowerCase();
        if (text.indexOf(q) >= 0) hits.push({ server: s.path, server_name: s.name, name: t.name, description: t.description || '' });
      });
    });
    return hits;
  }

  function searchTools() {
    var q = state.query;
    var seq = ++state.toolSearchSeq;
    if (!q) {
      state.toolHits = [];
      renderToolHits();
      return;
    }
    api('GET', '/api/tools?q=' + encodeURIComponent(q)).then(function (data) {
      return data && Array.isArray(data.tools) ? data.tools : localToolHits(q);
    }, function () {
      return localToolHits(q);
    }).then(function (hits) {
      if (seq !== state.toolSearchSeq) return;
      state.toolHits = hits;
      renderToolHits();
    });
  }

  function renderToolHits() {
    var list = $('tool-results');
    var hint = $('tools-hint');
    if (!state.query) {
      hint.textContent = 'Type in the search box to find tools across all servers.';
      list.replaceChildren();
      return;
    }
    var hits = state.toolHits.slice(0, 50);
    hint.textContent = hits.length ? hits.length + (hits.length === 1 ? ' tool matches' : ' tools match') + ' “' + state.query + '”' : 'No tool matches “' + state.query + '”.';
    list.replaceChildren.apply(list, hits.map(function (h) {
      var li = document.createElement('li');
      var b = el('button', 'tool-hit');
      b.type = 'button';
      var srv = state.servers.get(h.server);
      var serverName = h.server_name || (srv && srv.name) || h.server;
      b.appendChild(el('span', 'tool-name', h.name));
      b.appendChild(el('span', 'tool-server', serverName + ' · ' + h.server));
      if (h.description) b.appendChild(el('span', 'tool-desc', h.description));
      b.setAttribute('aria-label', 'Tool ' + h.name + ' of ' + serverName);
      b.addEventListener('click', function () { showTools(h.server, h.name); });
      li.appendChild(b);
      return li;
    }));
  }

  // ---------- register / edit form ----------

  var formFields = ['name', 'path', 'proxy_pass_url', 'transport', 'description', 'tags'];

  function clearFormErrors() {
    formFields.forEach(function (f) {
      $('f-' + f + '-error').textContent = '';
      $('f-' + f).removeAttribute('aria-invalid');
    });
    $('server-form-error').textContent = '';
  }

  function openServerForm(path) {
    var srv = path ? state.servers.get(path) : null;
    if (path && !srv) return;
    editing = srv ? srv.path : null;
    clearFormErrors();
    $('server-dialog-title').textContent = srv ? 'Edit ' + srv.name : 'Register server';
    $('server-submit').textContent = srv ? 'Save' : 'Register';
    $('f-name').value = srv ? srv.name : '';
    $('f-path').value = srv ? srv.path : '';
    $('f-proxy_pass_url').value = srv ? srv.proxy_pass_url : '';
    $('f-transport').value = srv ? srv.transport || 'auto' : 'auto';
    $('f-description').value = srv ? srv.description || '' : '';
    $('f-tags').value = srv ? (srv.tags || []).join(', ') : '';
    $('f-enabled').checked = true;
    $('f-enabled-field').hidden = !!srv;
    $('server-dialog').showModal();
    $('f-name').focus();
  }

  function submitServerForm(ev) {
    ev.preventDefault();
    clearFormErrors();
    var body = {
      name: $('f-name').value.trim(),
      path: $('f-path').value.trim(),
      proxy_pass_url: $('f-proxy_pass_url').value.trim(),
      transport: $('f-transport').value,
      description: $('f-description').value,
      tags: $('f-tags').value.split(',').map(function (t) { return t.trim(); }).filter(Boolean)
    };
    if (body.path && body.path.charAt(0) !== '/') body.path = '/' + body.path;
    if (!editing) body.enabled = $('f-enabled').checked;
    var submit = $('server-submit');
    submit.disabled = true;
    var req = editing ? api('PUT', serverURL(editing), body) : api('POST', '/api/servers', body);
    req.then(function (srv) {
      if (editing && editing !== srv.path) removeServer(editing);
      upsert(srv);
      $('server-dialog').close();
      toast((editing ? 'Saved ' : 'Registered ') + srv.name + ' at ' + srv.path);
    }, function (err) {
      var f = err.field;
      if (f && formFields.indexOf(f) >= 0) {
        var input = $('f-' + f);
        input.setAttribute('aria-invalid', 'true');
        $('f-' + f + '-error').textContent = err.message;
        input.focus();
      } else {
        $('server-form-error').textContent = err.message;
      }
    }).then(function () { submit.disabled = false; });
  }

  // ---------- delete ----------

  function confirmDelete(path) {
    var srv = state.servers.get(path);
    if (!srv) return;
    deleting = path;
    $('delete-name').textContent = srv.name;
    $('delete-path').textContent = srv.path;
    $('delete-error').textContent = '';
    $('delete-dialog').showModal();
  }

  function submitDelete(ev) {
    ev.preventDefault();
    var path = deleting;
    if (!path) return;
    var btn = $('delete-confirm');
    btn.disabled = true;
    api('DELETE', serverURL(path)).then(function () {
      var srv = state.servers.get(path);
      removeServer(path);
      $('delete-dialog').close();
      toast('Deleted ' + (srv ? srv.name : path));
    }, function (err) {
      $('delete-error').textContent = err.message;
    }).then(function () { btn.disabled = false; });
  }

  // ---------- connection snippet ----------

  var connectPath = null;

  function clientConfig(kind, id, httpURL, sseURL) {
    switch (kind) {
      case 'claude-code':
        return { mcpServers: named(id, { type: 'http', url: httpURL }) };
      case 'vscode':
        return { servers: named(id, { type: 'http', url: httpURL }) };
      case 'claude-desktop':
        return { mcpServers: named(id, { command: 'npx', args: ['-y', 'mcp-remote', httpURL] }) };
      case 'sse':
        return { mcpServers: named(id, { type: 'sse', url: sseURL }) };
      default:
        return { mcpServers: named(id, { url: httpURL }) };
    }
  }

  function named(id, value) {
    var o = {};
    o[id] = value;
    return o;
  }

  function renderConnect() {
    var srv = state.servers.get(connectPath);
    if (!srv) return;
    var base = location.origin + srv.path;
    var httpURL = base + '/mcp';
    var sseURL = base + '/sse';
    $('connect-dialog-title').textContent = 'Connect to ' + srv.name;
    $('c-http').value = httpURL;
    $('c-sse').value = sseURL;
    $('c-config').textContent = JSON.stringify(clientConfig($('c-client').value, serverID(srv.path), httpURL, sseURL), null, 2);
  }

  function showConnect(path) {
    connectPath = path;
    renderConnect();
    $('connect-dialog').showModal();
  }

  function copyText(text, btn) {
    var done = function () {
      var old = btn.textContent;
      btn.textContent = 'Copied';
      setTimeout(function () { btn.textContent = old; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text) && done(); });
    } else if (fallbackCopy(text)) {
      done();
    }
  }

  // fallbackCopy copies through a selected textarea where the Clipboard API
  // is unavailable (plain http on a non-loopback host).
  function fallbackCopy(text) {
    var ta = document.createElement('textarea');
    ta.value = text;
    ta.setAttribute('readonly', '');
    ta.className = 'visually-hidden';
    document.activeElement.closest('dialog, body').appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
    ta.remove();
    if (!ok) toast('Copying is blocked by the browser: select the text and copy it by hand.', true);
    return ok;
  }

  // ---------- preferences: theme, sidebar ----------

  function store(key, value) {
    try { localStorage.setItem(key, value); } catch (e) { /* storage disabled: keep for this visit */ }
  }

  function syncThemeButton() {
    var dark = document.documentElement.getAttribute('data-theme') === 'dark';
    var next = dark ? 'light' : 'dark';
    $('theme-toggle').setAttribute('aria-label', 'Switch to ' + next + ' theme');
    $('theme-toggle').title = 'Switch to ' + next + ' theme';
    $('theme-label').textContent = dark ? 'Light theme' : 'Dark theme';
  }

  function toggleTheme() {
    var dark = document.documentElement.getAttribute('data-theme') === 'dark';
    var theme = dark ? 'light' : 'dark';
    document.documentElement.setAttribute('data-theme', theme);
    store('mcpgw.theme', theme);
    syncThemeButton();
  }

  function syncSidebarButton() {
    var collapsed = document.documentElement.classList.contains('sidebar-collapsed');
    var b = $('sidebar-toggle');
    b.setAttribute('aria-expanded', String(!collapsed));
    b.setAttribute('aria-label', collapsed ? 'Expand sidebar' : 'Collapse sidebar');
    b.title = collapsed ? 'Expand sidebar' : 'Collapse sidebar';
  }

  function toggleSidebar() {
    var collapsed = document.documentElement.classList.toggle('sidebar-collapsed');
    store('mcpgw.sidebar', collapsed ? 'collapsed' : 'expanded');
    syncSidebarButton();
  }

  // ---------- boot ----------

  function initLogin() {
    $('login-view').hidden = false;
    var form = $('login-form');
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var user = $('login-username').value.trim();
      var pass = $('login-password').value;
      $('login-error').textContent = '';
      if (!user || !pass) {
        $('login-error').textContent = 'Enter your username and password.';
        (user ? $('login-password') : $('login-username')).focus();
        return;
      }
      $('login-submit').disabled = true;
      api('POST', '/api/login', { username: user, password: pass }).then(function () {
        location.replace('/');
      }, function (err) {
        $('login-submit').disabled = false;
        $('login-error').textContent = err.status === 401 ? 'Wrong username or password.' : err.message;
        $('login-password').select();
      });
    });
    $('login-username').focus();
  }

  function initApp() {
    $('app-view').hidden = false;
    syncThemeButton();
    syncSidebarButton();

    $('search').addEventListener('input', onSearch);
    document.querySelectorAll('.chip[data-filter]').forEach(function (b) {
      b.addEventListener('click', function () {
        state.filter = b.dataset.filter;
        document.querySelectorAll('.chip[data-filter]').forEach(function (o) {
          o.setAttribute('aria-pressed', String(o === b));
        });
        requestRender();
      });
    });
    ['register-btn', 'nav-register', 'empty-register'].forEach(function (id) {
      $(id).addEventListener('click', function () { openServerForm(null); });
    });
    $('nav-tools').addEventListener('click', function () { setTimeout(function () { $('search').focus(); }, 0); });
    $('server-form').addEventListener('submit', submitServerForm);
    $('delete-form').addEventListener('submit', submitDelete);
    $('theme-toggle').addEventListener('click', toggleTheme);
    $('sidebar-toggle').addEventListener('click', toggleSidebar);
    $('retry-now').addEventListener('click', attemptReconnect);
    $('c-client').addEventListener('change', renderConnect);
    $('logout-btn').addEventListener('click', function () {
      stopFeed();
      api('POST', '/api/logout').catch(function () {}).then(function () { location.assign('/login'); });
    });
    document.querySelectorAll('.copy-btn').forEach(function (b) {
      b.addEventListener('click', function () {
        var src = $(b.dataset.copy);
        copyText(src.tagName === 'PRE' ? src.textContent : src.value, b);
      });
    });
    document.querySelectorAll('dialog').forEach(function (d) {
      d.querySelectorAll('.close-dialog').forEach(function (b) {
        b.addEventListener('click', function () { d.close(); });
      });
      // A click on the backdrop (the dialog element itself) closes it.
      d.addEventListener('click', function (ev) { if (ev.target === d) d.close(); });
    });
    $('tools-dialog').addEventListener('close', function () { openTools = null; });
    $('delete-dialog').addEventListener('close', function () { deleting = null; });
    document.addEventListener('keydown', function (ev) {
      var tag = ev.target && ev.target.tagName;
      if (ev.key === '/' && tag !== 'INPUT' && tag !== 'TEXTAREA' && tag !== 'SELECT' && !document.querySelector('dialog[open]')) {
        ev.preventDefault();
        $('search').focus();
      }
    });

    api('GET', '/api/session').then(function (s) {
      if (s && s.user) $('user-name').textContent = '(' + s.user + ')';
    }, function () {});
    loadServers().catch(function (err) { toast('Loading servers failed: ' + err.message, true); });
    loadStats();
    connectFeed();
    setInterval(updateTimes, 5000);
    // A tab that comes back after its session expired goes to the login
    // page before the next action would meet an API 401.
    document.addEventListener('visibilitychange', function () {
      if (document.hidden) return;
      probeSession().then(function (s) { if (s === 'login') sessionLost(); });
    });
  }

  if (location.pathname === '/login') {
    initLogin();
  } else {
    initApp();
  }
})();
