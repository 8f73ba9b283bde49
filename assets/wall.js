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
      days: ['星期日', '星期一', '星期二', '星期三', '星期四', '星期五', '星期六']
    },
    en: {
      days: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
    }
  };

  var S = {
    deck: null, mode: null, lang: 'zh', seq: [], idx: 0, shownAt: 0, stepAt: 0, paused: false,
    pausedElapsed: 0, dwell: 20000, poll: 30000, lastPoll: 0, polling: false,
    online: true, snapStale: false, batch: '', computed: '', region: null,
    textStale: '{t}', textOffline: '{t}',
    reloadAt: '03:30', loadedAt: Date.now(), lastOk: Date.now(), clockSec: -1, tz: '',
    zoneFmt: null, observer: null, fitQueued: false, fitGen: 0
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
    if (S.observer) { S.observer.disconnect(); S.observer = null; }
    if (!deck) return;
    if (window.MutationObserver) {
      // New cell contents (a batch, a region) are fitted once React has put them in.
      S.observer = new MutationObserver(queueFit);
      S.observer.observe(deck, { childList: true, subtree: true, characterData: true });
    }
    queueFit();
    var d = deck.dataset;
    S.mode = d.mode || 'wall';
    S.lang = d.lang === 'en' ? 'en' : 'zh';
    S.poll = Math.max(2, parseFloat(d.poll) || 30) * 1000;
    S.batch = d.batch || '';
    S.computed = d.computed || '';
    S.textStale = d.textStale || '{t}';
    S.textOffline = d.textOffline || '{t}';
    S.lastPoll = Date.now();
    if (S.mode !== 'wall') { renderStale(); return; }
    S.dwell = Math.max(2, parseFloat(d.dwell) || 20) * 1000;
    S.reloadAt = d.reload || '03:30';
    S.tz = d.tz || '';
    S.zoneFmt = null;
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

  var WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

  /* Wall-clock fields of `now` in the data's time zone (DASHBOARD_TIMEZONE, passed as
     data-tz), so the clock agrees with the as-of times; the browser's zone without one. */
  function zoned(now) {
    if (S.tz && window.Intl && Intl.DateTimeFormat) {
      try {
        if (!S.zoneFmt) {
          S.zoneFmt = new Intl.DateTimeFormat('en-US', {
            timeZone: S.tz, hourCycle: 'h23', weekday: 'short', year: 'numeric',
            month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric',
            second: 'numeric'
          });
        }
        var o = {};
        S.zoneFmt.formatToParts(now).forEach(function (p) { o[p.type] = p.value; });
        return { y: +o.year, mo: +o.month, d: +o.day, h: (+o.hour) % 24, mi: +o.minute,
                 s: +o.second, wd: WEEKDAYS.indexOf(o.weekday) };
      } catch (e) {
        S.tz = '';  // an unknown zone name: fall back to the browser's zone
      }
    }
    return { y: now.getFullYear(), mo: now.getMonth() + 1, d: now.getDate(),
             h: now.getHours(), mi: now.getMinutes(), s: now.getSeconds(), wd: now.getDay() };
  }

  function clock(now) {
    var sec = Math.floor(now.getTime() / 1000);
    if (sec === S.clockSec) return;
    S.clockSec = sec;
    var el = document.getElementById('clock');
    if (!el) return;
    var z = zoned(now);
    el.textContent = pad(z.h) + ':' + pad(z.mi) + ':' + pad(z.s);
    var de = document.getElementById('clock-date');
    if (de) {
      var day = TEXT[S.lang].days[z.wd] || '';
      de.textContent = S.lang === 'en'
        ? z.y + '-' + pad(z.mo) + '-' + pad(z.d) + ' ' + day
        : z.y + '年' + z.mo + '月' + z.d + '日 ' + day;
    }
  }

  /* ---------- numbers that fit their boxes ----------
     A `.fit` box keeps its one line inside its width: the digits shrink (--shrink scales
     their font size in wall.css) down to FIT_MIN; below that the short form (`.n-alt`,
     1.37万 for 13,652) replaces the full digits and is shrunk in turn if it must be.
     Boxes are re-fitted only when their text or size changed. */
  var FIT_MIN = 0.72, FIT_FLOOR = 0.25;

  function overflowing(box) { return box.scrollWidth > box.clientWidth + 1; }

  function shrinkTo(box, floor) {
    var k = 1;
    for (var i = 0; i < 20 && overflowing(box) && k > floor; i++) {
      k = Math.max(floor, Math.min(k * 0.96, k * box.clientWidth / box.scrollWidth));
      box.style.setProperty('--shrink', k.toFixed(3));
    }
  }

  function fitBox(box) {
    var w = box.clientWidth;
    if (!w) return;  // not laid out (a cell hidden at this size)
    var panel = box.closest('.panel');
    var key = S.fitGen + '|' + box.textContent + '|' + w + '|' + (panel ? panel.clientHeight : 0);
    if (box._fitKey === key) return;
    box.style.removeProperty('--shrink');
    box.removeAttribute('data-compact');
    if (overflowing(box)) {
      var alt = box.querySelector('.n-alt');
      shrinkTo(box, alt ? FIT_MIN : FIT_FLOOR);
      if (alt && overflowing(box)) {
        box.setAttribute('data-compact', '');
        box.style.removeProperty('--shrink');
        shrinkTo(box, FIT_FLOOR);
      }
    }
    box._fitKey = key;
  }

  function fitAll() {
    S.fitQueued = false;
    if (!S.deck) return;
    Array.prototype.forEach.call(S.deck.querySelectorAll('.fit'), fitBox);
  }

  function queueFit() {
    if (S.fitQueued) return;
    S.fitQueued = true;
    if (window.requestAnimationFrame) window.requestAnimationFrame(fitAll);
  }

  function refitAll() { S.fitGen++; queueFit(); }

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
    // The wording comes from the server (layouts.i18n), as data-text-* on the deck.
    var text = (S.online ? S.textStale : S.textOffline).replace('{t}', shortTime(S.computed));
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
    var z = zoned(now);
    var hm = pad(z.h) + ':' + pad(z.mi);
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
    if (S.fitQueued) fitAll();  // animation frames pause in background tabs
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
  window.addEventListener('resize', function () { fit(); queueFit(); });
  if (document.fonts) {
    // Widths change when a web or system font arrives: measure again.
    if (document.fonts.ready) document.fonts.ready.then(refitAll);
    if (document.fonts.addEventListener) document.fonts.addEventListener('loadingdone', refitAll);
  }
  window.addEventListener('online', poll);
  setInterval(tick, 250);

  // Test and operator hook: the controller's state, read-only in spirit.
  window.__wall = { state: S, step: step, poll: poll, fit: refitAll };
})();
