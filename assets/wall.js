/*
 * Clientside controller of the wall, region and embed pages.
 *
 * One 250 ms timer drives everything (scaling, clock, rotation, progress, polling,
 * quiet-hour reload), so nothing piles up over days and nothing needs clearing on
 * navigation. Polling is a plain fetch of /_wall/state: it detects an outage without
 * touching Dash callbacks (a failed callback would log console errors) and pushes the
 * batch id into the `batch` store only when the snapshot changed.
 */
(function () {
  'use strict';

  var dc = (window.dash_clientside = window.dash_clientside || {});
  dc.wall = {
    /* Region page: which panel the deck shows (CSS keys on data-active). */
    activePanel: function (target, view) {
      if (!view || view.kind !== 'region' || !target) return dc.no_update;
      return target.panel || 'overview';
    }
  };

  var TEXT = {
    zh: {
      stale: '数据更新于 {t}，已过期',
      offline: '连接中断 · 数据更新于 {t}，已过期',
      days: ['星期日', '星期一', '星期二', '星期三', '星期四', '星期五', '星期六']
    },
    en: {
      stale: 'Stale since {t}',
      offline: 'Offline · stale since {t}',
      days: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
    }
  };

  var S = {
    deck: null, mode: null, lang: 'zh', seq: [], idx: 0, shownAt: 0, stepAt: 0, paused: false,
    pausedElapsed: 0, dwell: 20000, poll: 30000, lastPoll: 0, polling: false,
    online: true, snapStale: false, batch: '', computed: '', region: null,
    reloadAt: '03:30', loadedAt: Date.now(), lastOk: Date.now(), clockSec: -1, tz: ''
  };

  function setProps(id, props) {
    if (dc.set_props) dc.set_props(id, props);
  }

  function panelsOf(deck) {
    return Array.prototype.filter.call(deck.children, function (el) {
      return el.hasAttribute('data-panel');
    });
  }

  function setup(deck) {
    S.deck = deck;
    if (!deck) return;
    var d = deck.dataset;
    S.mode = d.mode || 'wall';
    S.lang = d.lang === 'en' ? 'en' : 'zh';
    S.poll = Math.max(2, parseFloat(d.poll) || 30) * 1000;
    S.batch = d.batch || '';
    S.computed = d.computed || '';
    S.lastPoll = Date.now();
    if (S.mode !== 'wall') { renderStale(); return; }
    S.dwell = Math.max(2, parseFloat(d.dwell) || 20) * 1000;
    S.reloadAt = d.reload || '03:30';
    var tour = [];
    try { tour = JSON.parse(d.tour || '[]'); } catch (e) { tour = []; }
    var ids = panelsOf(deck).map(function (el) { return el.getAttribute('data-panel'); });
    if (!tour.length) tour = [null];
    S.seq = [];
    tour.forEach(function (code) {
      ids.forEach(function (pid) { S.seq.push({ region: code, panel: pid }); });
    });
    S.region = tour[0];
    S.paused = false;
    show(0);
    fit();
    renderStale();
  }

  function show(i) {
    if (!S.seq.length) return;
    S.idx = ((i % S.seq.length) + S.seq.length) % S.seq.length;
    var step = S.seq[S.idx];
    if (step.region && step.region !== S.region) {
      S.region = step.region;
      setProps('target', { data: { region: step.region, panel: null } });
    }
    panelsOf(S.deck).forEach(function (el) {
      el.classList.toggle('is-active', el.getAttribute('data-panel') === step.panel);
    });
    var dots = document.querySelectorAll('.dot[data-for]');
    Array.prototype.forEach.call(dots, function (el) {
      el.classList.toggle('is-active', el.getAttribute('data-for') === step.panel);
    });
    S.stepAt = Date.now();
    S.shownAt = 0;  // the dwell starts once the panel shows this region's data
    S.pausedElapsed = 0;
  }

  function panelReady(step) {
    var el = S.deck.querySelector('[data-panel="' + step.panel + '"]');
    if (!el) return true;
    var asOf = el.querySelector('.as-of');
    return (!step.region || el.getAttribute('data-region') === step.region) &&
      !!asOf && asOf.textContent.length > 0;
  }

  function step(delta) {
    if (!S.seq.length) return;
    var next = S.idx + delta;
    if (!S.online) {
      // While the server is away, stay within the region whose data is on screen.
      for (var k = 0; k < S.seq.length; k++) {
        var cand = S.seq[(((next + k * delta) % S.seq.length) + S.seq.length) % S.seq.length];
        if (cand.region === S.region || !cand.region) { next = next + k * delta; break; }
      }
    }
    show(next);
  }

  function fit() {
    var c = document.getElementById('canvas');
    if (!c) return;
    var W = c.offsetWidth || 1920, H = c.offsetHeight || 1080;
    var vw = window.innerWidth, vh = window.innerHeight;
    var s = Math.min(vw / W, vh / H);
    c.style.transform = 'translate(' + ((vw - W * s) / 2) + 'px,' + ((vh - H * s) / 2) +
      'px) scale(' + s + ')';
    document.documentElement.style.setProperty('--fit', String(s));
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  function clock(now) {
    var sec = Math.floor(now.getTime() / 1000);
    if (sec === S.clockSec) return;
    S.clockSec = sec;
    var el = document.getElementById('clock');
    if (!el) return;
    el.textContent = pad(now.getHours()) + ':' + pad(now.getMinutes()) + ':' + pad(now.getSeconds());
    var de = document.getElementById('clock-date');
    if (de) {
      var day = TEXT[S.lang].days[now.getDay()];
      de.textContent = S.lang === 'en'
        ? now.getFullYear() + '-' + pad(now.getMonth() + 1) + '-' + pad(now.getDate()) + ' ' + day
        : now.getFullYear() + '年' + (now.getMonth() + 1) + '月' + now.getDate() + '日 ' + day;
    }
  }

  function shortTime(iso) {
    if (!iso) return '—';
    return String(iso).replace('T', ' ').slice(0, 16);
  }

  function renderStale() {
    var stale = !S.online || S.snapStale;
    var el = document.getElementById('stale-mark');
    if (!stale) {
      if (el) el.parentNode.removeChild(el);
      return;
    }
    var text = TEXT[S.lang][S.online ? 'stale' : 'offline'].replace('{t}', shortTime(S.computed));
    if (!el) {
      // Outside React's tree: Dash never re-renders or removes it behind our back.
      el = document.createElement('div');
      el.id = 'stale-mark';
      el.className = 'stale';
      el.setAttribute('role', 'status');
      document.body.appendChild(el);
    }
    el.classList.toggle('offline', !S.online);
    if (el.textContent !== text) el.textContent = text;
  }

  function poll() {
    if (S.polling) return;
    S.polling = true;
    S.lastPoll = Date.now();
    var ctl = window.AbortController ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctl) ctl.abort(); }, Math.max(5000, Math.min(S.poll, 15000)));
    fetch('/_wall/state', { cache: 'no-store', signal: ctl ? ctl.signal : undefined })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error('HTTP ' + r.status)); })
      .then(function (js) {
        S.failures = 0;
        S.online = true;
        S.lastOk = Date.now();
        S.snapStale = !!js.stale;
        if (js.batch !== null && js.batch !== undefined && String(js.batch) !== S.batch) {
          S.batch = String(js.batch);
          S.computed = js.computed_at || S.computed;
          setProps('batch', { data: js.batch });
        } else if (!S.computed && js.computed_at) {
          S.computed = js.computed_at;
        }
      })
      .catch(function () {
        // Two misses in a row: one late answer (a busy tab) is not an outage.
        S.failures = (S.failures || 0) + 1;
        if (S.failures >= 2) S.online = false;
      })
      .then(function () {
        clearTimeout(timer);
        S.polling = false;
        S.lastPoll = Date.now();
        renderStale();
      });
  }

  function maybeReload(now) {
    if (S.mode !== 'wall' || !S.reloadAt || S.reloadAt === 'off') return;
    var hm = pad(now.getHours()) + ':' + pad(now.getMinutes());
    // Only when the server answered lately: a reload during an outage would blank the wall.
    if (hm === S.reloadAt && Date.now() - S.loadedAt > 3600000 && S.online &&
        Date.now() - S.lastOk < 2 * S.poll + 5000) {
      window.location.reload();
    }
  }

  function tick() {
    var deck = document.getElementById('deck');
    if (deck !== S.deck) setup(deck);
    if (!deck) return;
    var now = new Date();
    var t = now.getTime();
    if (S.mode === 'wall') {
      clock(now);
      if (!S.shownAt && S.seq.length &&
          (panelReady(S.seq[S.idx]) || t - S.stepAt > 10000)) S.shownAt = t;
      var elapsed = S.paused ? S.pausedElapsed : (S.shownAt ? t - S.shownAt : 0);
      var fill = document.getElementById('progress-fill');
      if (fill) fill.style.transform = 'scaleX(' + Math.min(1, elapsed / S.dwell).toFixed(4) + ')';
      if (!S.paused && elapsed >= S.dwell) step(1);
      maybeReload(now);
    }
    if (t - S.lastPoll >= S.poll) poll();
  }

  document.addEventListener('keydown', function (ev) {
    if (S.mode !== 'wall' || !S.deck) return;
    if (ev.key === 'ArrowRight' || ev.key === 'ArrowDown' || ev.key === 'PageDown') {
      step(1); ev.preventDefault();
    } else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowUp' || ev.key === 'PageUp') {
      step(-1); ev.preventDefault();
    } else if (ev.key === ' ' || ev.code === 'Space') {
      if (S.paused) { S.paused = false; S.shownAt = Date.now() - S.pausedElapsed; }
      else { S.paused = true; S.pausedElapsed = S.shownAt ? Date.now() - S.shownAt : 0; }
      document.documentElement.classList.toggle('is-paused', S.paused);
      ev.preventDefault();
    }
  });
  window.addEventListener('resize', fit);
  window.addEventListener('online', poll);
  setInterval(tick, 250);

  // Test and operator hook: the controller's state, read-only in spirit.
  window.__wall = { state: S, step: step, poll: poll };
})();
