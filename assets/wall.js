/*
 * Clientside controller of the wall, region and embed pages.
 *
 * One 250 ms timer drives everything (scaling, clock, rotation, progress, polling,
 * quiet-hour reload), so nothing piles up over days and nothing needs clearing on
 * navigation. Polling is a plain fetch of /_wall/state: it detects an outage without
 * touching Dash callbacks (a failed callback would log console errors). On the region page
 * and embeds a new batch goes into the `batch` store (every panel refetches); a wall asks
 * for one panel at a time through its `want-<panel>` store: the panel about to be shown,
 * shortly before it is shown, and on a batch change the shown panel after a random delay
 * (a hall of walls is no stampede). Old content stays until the new answer arrives.
 *
 * Several screens as one wall: with sync=1 the step is a function of the server clock
 * (offset estimated from /_wall/state's `now`, NTP-style), switched by a timer aimed at
 * the step boundary; with tile=CxR&pos=i the canvas is laid out whole and only tile i is
 * scaled into the window.
 */
(function () {
  'use strict';

  var dc = (window.dash_clientside = window.dash_clientside || {});
  dc.wall = {
    /* Region page: which panel the deck shows (CSS keys on data-active). */
    activePanel: function (target, view) {
      if (!view || view.kind !== 'region' || !target) return dc.no_update;
      return target.panel || 'overview';
    },
    /* Embeds: every panel wants the target region at the current batch. Region page: only
       the panel its tab shows; another panel is asked when its tab is opened (a drill-down
       renders and lays out one panel, not nine). A panel already holding that region at
       that batch is not asked again. A wall sets its want stores itself (fetchStep). */
    wants: function (target, batch, view) {
      var ctx = dc.callback_context || {};
      var outs = ctx.outputs_list || [];
      var held = Array.prototype.slice.call(arguments, 3);
      var out = [];
      var none = !view || view.kind === 'wall' || !target || !target.region;
      var active = view && view.kind === 'region' ? (target && target.panel) || 'overview' : null;
      for (var i = 0; i < outs.length; i++) {
        var pid = String((outs[i] || {}).id || '').replace(/^want-/, '');
        var cur = held[i] || {};
        var want = none ? null
          : { region: target.region, panel: target.panel || null, batch: batch || null };
        // Held already, unless its answer never came (still marked: ask again).
        var kept = want && active && cur.region === want.region && cur.batch === want.batch &&
          !document.querySelector('#deck > [data-panel="' + pid + '"][data-pending]');
        if (!want || (active && pid !== active) || kept) {
          out.push(dc.no_update);
          continue;
        }
        if (active) markPending(pid, want.region);
        out.push(want);
      }
      return out;
    }
  };

  /* Region page: a panel asked for another region is marked (dimmed by wall.css) until
     its answer shows that region, so a tab never passes old numbers off as new ones. */
  function markPending(pid, region) {
    var el = document.querySelector('#deck > [data-panel="' + pid + '"]');
    if (el && el.getAttribute('data-region') !== region) el.setAttribute('data-pending', region);
  }

  function clearPending(deck) {
    Array.prototype.forEach.call(deck.querySelectorAll(':scope > [data-pending]'), function (el) {
      if (el.getAttribute('data-region') === el.getAttribute('data-pending')) {
        el.removeAttribute('data-pending');
      }
    });
  }

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
    zoneFmt: null, observer: null, fitQueued: false, fitGen: 0,
    // One panel at a time (goal: a hall full of walls)
    asked: {}, prefetchAt: 0, refetchAt: 0, jitter: 10000,
    // Several screens as one wall
    sync: false, tile: null, offset: 0, samples: [], timer: null, boundary: 0,
    switches: [], switchNo: 0
  };

  var SAMPLE_KEEP = 20, SAMPLE_BEST = 3, SAMPLE_EVERY = 10000, SWITCH_KEEP = 200;

  function rand(max) { return Math.random() * Math.max(0, max); }

  function hiresNow() {
    return (performance.timeOrigin || 0) + performance.now();
  }

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
      // New cell contents (a batch, a region) are fitted once React has put them in; on
      // the region page also the panel a tab brings up.
      S.observer = new MutationObserver(function () { clearPending(deck); queueFit(); });
      S.observer.observe(deck, { childList: true, subtree: true, characterData: true,
                                 attributes: true,
                                 attributeFilter: ['data-active', 'data-region'] });
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
    S.asked = {};
    S.prefetchAt = 0;
    S.refetchAt = 0;
    if (S.timer) { clearTimeout(S.timer); S.timer = null; }
    S.tile = null;
    if (S.mode !== 'wall') { S.sync = false; renderStale(); return; }
    S.dwell = Math.max(2, parseFloat(d.dwell) || 20) * 1000;
    S.jitter = Math.max(0, parseFloat(d.jitter) || 0) * 1000;
    S.sync = d.sync === '1';
    var tile = (d.tile || '').split(',').map(Number);
    if (tile.length === 3 && tile[0] >= 1 && tile[1] >= 1 && tile[2] >= 0 &&
        tile[2] < tile[0] * tile[1]) S.tile = tile;
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
    if (S.sync) {
      show(syncIdx(Date.now()));
      scheduleBoundary();
      sampleClock(8);
    } else {
      show(0);
    }
    fit();
    renderStale();
  }

  /* ---------- one panel at a time ----------
     fetchStep asks the server for a step's panel (region, current batch) once; asking again
     for the same region and batch is a no-op. Nothing is asked while offline (a failed
     callback would log errors); coming back online forgets what was asked. */
  function fetchStep(st) {
    if (!st || !S.online || S.mode !== 'wall') return;
    var region = st.region || S.region;
    var key = region + '|' + S.batch;
    if (S.asked[st.panel] === key) return;
    S.asked[st.panel] = key;
    setProps('want-' + st.panel, { data: { region: region, panel: null, batch: S.batch || null } });
  }

  /* The next step's panel, shortly before its turn. Not when the next step is the same
     panel for another region: that would change what is on screen before the switch. */
  function prefetchNext() {
    S.prefetchAt = 0;
    if (!S.seq.length) return;
    var cur = S.seq[S.idx], next = S.seq[(S.idx + 1) % S.seq.length];
    if (next.panel === cur.panel && (next.region || S.region) !== (cur.region || S.region)) return;
    fetchStep(next);
  }

  /* When to prefetch, given when the next switch is due: a few seconds ahead, spread. */
  function planPrefetch(switchAt) {
    var lead = Math.min(S.dwell / 2, 4000);
    S.prefetchAt = switchAt - lead - rand(Math.min(S.dwell / 4, 2000));
  }

  /* ---------- sync=1: the step follows the server clock ---------- */
  function syncStepNo(localMs) { return Math.floor((localMs + S.offset) / S.dwell); }

  function syncIdx(localMs) {
    var n = S.seq.length || 1;
    return ((syncStepNo(localMs) % n) + n) % n;
  }

  function scheduleBoundary() {
    if (S.timer) clearTimeout(S.timer);
    var now = Date.now();
    S.boundary = (syncStepNo(now) + 1) * S.dwell;  // server epoch ms of the next switch
    var delay = S.boundary - (now + S.offset);
    planPrefetch(now + delay);
    S.timer = setTimeout(onBoundary, Math.max(0, delay));
  }

  function onBoundary() {
    S.timer = null;
    if (S.mode !== 'wall' || !S.sync) return;
    var left = S.boundary - (Date.now() + S.offset);
    if (left > 1) { S.timer = setTimeout(onBoundary, left); return; }  // early (offset moved)
    syncShow();
    scheduleBoundary();
  }

  function syncShow() {
    if (S.paused || !S.seq.length) return;
    var k = syncIdx(Date.now());
    if (k === S.idx) return;
    // While the server is away only steps whose data is on hand are shown (never blank).
    if (!S.online && !panelReady(S.seq[k])) return;
    // Never a blank panel: one that has no data yet is asked for and shown on arrival
    // (the tick catches up with the clock).
    if (!hasData(S.seq[k])) { fetchStep(S.seq[k]); S.syncWait = true; return; }
    show(k);
  }

  /* One clock sample: offset = server time + half the round trip − local receive time. */
  function addSample(serverMs, sentAt, gotAt) {
    if (typeof serverMs !== 'number' || !isFinite(serverMs)) return;
    S.samples.push({ off: serverMs + (gotAt - sentAt) / 2 - gotAt, rtt: gotAt - sentAt });
    if (S.samples.length > SAMPLE_KEEP) S.samples.shift();
    // Median offset of the samples with the shortest round trips (least asymmetric delay).
    var best = S.samples.slice().sort(function (a, b) { return a.rtt - b.rtt; })
      .slice(0, SAMPLE_BEST).map(function (x) { return x.off; })
      .sort(function (a, b) { return a - b; });
    var old = S.offset;
    S.offset = best[Math.floor(best.length / 2)];
    if (S.sync && S.mode === 'wall' && Math.abs(S.offset - old) > 2) {
      syncShow();
      scheduleBoundary();
    }
  }

  function sampleClock(n) {
    if (n <= 0 || !S.sync) return;
    S.lastSample = Date.now();
    var sentAt = Date.now();
    fetch('/_wall/state', { cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (js) { if (js) addSample(js.now, sentAt, Date.now()); })
      .catch(function () { /* the poller reports outages */ })
      .then(function () { setTimeout(function () { sampleClock(n - 1); }, 100); });
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
    // `lag`: how long after the step's boundary (by this wall's clock estimate) it switched.
    var nowMs = Date.now();
    // The last SWITCH_KEEP switches, numbered (`n`) so a reader asks for those after the last
    // it saw: a log that grew with every switch grew the heap of a wall that runs for months.
    S.switches.push({ n: S.switchNo++, at: hiresNow(), idx: S.idx,
                      no: S.sync ? syncStepNo(nowMs) : null,
                      lag: S.sync ? nowMs + S.offset - syncStepNo(nowMs) * S.dwell : null });
    if (S.switches.length > SWITCH_KEEP) S.switches.splice(0, S.switches.length - SWITCH_KEEP);
    fetchStep(step);
    S.syncWait = false;
    S.stepAt = Date.now();
    S.shownAt = 0;  // the dwell starts once the panel shows this region's data
    S.pausedElapsed = 0;
    if (!S.sync) S.prefetchAt = 0;  // planned once the panel shows its data
  }

  function panelReady(step) {
    var el = S.deck.querySelector('[data-panel="' + step.panel + '"]');
    if (!el) return true;
    var asOf = el.querySelector('.as-of');
    return (!step.region || el.getAttribute('data-region') === step.region) &&
      !!asOf && asOf.textContent.length > 0;
  }

  /* Whether a step's panel holds any data (of some region): showing it is never blank. */
  function hasData(st) {
    var el = S.deck && S.deck.querySelector('[data-panel="' + st.panel + '"]');
    var asOf = el && el.querySelector('.as-of');
    return !el || (!!asOf && asOf.textContent.length > 0);
  }

  function step(delta) {
    if (!S.seq.length) return;
    var next = S.idx + delta;
    if (!S.online) {
      // While the server is away, stay within the region whose data is on screen.
      // Only panels already holding that region's data: nothing blank comes up.
      var found = false;
      for (var k = 0; k < S.seq.length; k++) {
        var cand = S.seq[(((next + k * delta) % S.seq.length) + S.seq.length) % S.seq.length];
        if ((cand.region === S.region || !cand.region) && panelReady(cand)) {
          next = next + k * delta; found = true; break;
        }
      }
      if (!found) next = S.idx;
    }
    show(next);
  }

  function fit() {
    var c = document.getElementById('canvas');
    if (!c) return;
    var W = c.offsetWidth || 1920, H = c.offsetHeight || 1080;
    var vw = window.innerWidth, vh = window.innerHeight;
    // A portrait kiosk (1080×1920) or a 4:3 / 5:4 screen: header and footer lay out in a narrow
    // way (wall.css `.is-narrow`) instead of running past the edge.
    c.classList.toggle('is-narrow', W < 1500 || H > W);
    // A tile shows part (col, row) of the whole canvas: the canvas keeps its full layout
    // and is moved so that part fills the window; the rest falls outside it.
    var tw = W, th = H, ox = 0, oy = 0;
    if (S.tile && S.mode === 'wall') {
      tw = W / S.tile[0]; th = H / S.tile[1];
      ox = (S.tile[2] % S.tile[0]) * tw; oy = Math.floor(S.tile[2] / S.tile[0]) * th;
    }
    var s = Math.min(vw / tw, vh / th);
    c.style.transform = 'translate(' + ((vw - tw * s) / 2 - ox * s) + 'px,' +
      ((vh - th * s) / 2 - oy * s) + 'px) scale(' + s + ')';
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
    // The region page shows one panel: fitting the hidden ones would lay out all nine.
    var active = S.mode === 'region' && S.deck.getAttribute('data-active');
    var sel = active ? ':scope > [data-panel="' + active + '"] .fit' : '.fit';
    Array.prototype.forEach.call(S.deck.querySelectorAll(sel), fitBox);
    // Outside the deck: the panel names and the region's name (a long community name on a
    // narrow canvas) shrink to fit too.
    ['.wall-foot .dots', '.wall-head .region-name'].forEach(function (sel) {
      var el = document.querySelector(sel);
      if (el) fitBox(el);
    });
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
    var sentAt = Date.now();
    fetch('/_wall/state', { cache: 'no-store', signal: ctl ? ctl.signal : undefined })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error('HTTP ' + r.status)); })
      .then(function (js) {
        if (S.sync) addSample(js.now, sentAt, Date.now());
        S.failures = 0;
        if (!S.online) S.asked = {};  // answers lost during the outage are asked again
        S.online = true;
        S.lastOk = Date.now();
        S.snapStale = !!js.stale;
        if (js.batch !== null && js.batch !== undefined && String(js.batch) !== S.batch) {
          S.batch = String(js.batch);
          S.computed = js.computed_at || S.computed;
          if (S.mode === 'wall') {
            // Only the shown panel, after a random delay; the others when their turn comes.
            S.refetchAt = Date.now() + rand(Math.min(S.dwell, S.jitter));
          } else {
            setProps('batch', { data: js.batch });
          }
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

  /* Dash records every set_props of a callback input (the want stores, `batch`, `target`)
     in its undo history, `state.history.past`, which nothing here reads (no undo buttons):
     about nine entries per batch change for the life of the page (bench/soak.py: 1,045
     entries after 115 batches). Its own REVERT action drops the newest entry again (it only
     moves history; nothing is re-run), so the history stays at HISTORY_KEEP entries.
     Dash 4.1.0 internals (window.dash_stores), hence every step is checked. */
  var HISTORY_KEEP = 20;

  function trimHistory() {
    var stores = window.dash_stores;
    if (!stores || !stores.forEach) return;
    stores.forEach(function (st) {
      if (!st || !st.getState || !st.dispatch) return;
      for (var i = 0; i < 100; i++) {
        var h = st.getState().history;
        if (!h || !h.past || h.past.length <= HISTORY_KEEP) return;
        st.dispatch({ type: 'REVERT' });
      }
    });
  }

  function tick() {
    trimHistory();
    var deck = document.getElementById('deck');
    if (deck !== S.deck) setup(deck);
    if (!deck) return;
    // The header's region name is set by its own callback, outside the deck's observer.
    var hn = document.getElementById('hdr-name');
    if (hn && hn.textContent !== S.hdrText) { S.hdrText = hn.textContent; queueFit(); }
    if (S.fitQueued) fitAll();  // animation frames pause in background tabs
    var now = new Date();
    var t = now.getTime();
    if (S.mode === 'wall') {
      clock(now);
      if (S.online && !S.asked[(S.seq[S.idx] || {}).panel]) fetchStep(S.seq[S.idx]);
      if (S.refetchAt && t >= S.refetchAt) { S.refetchAt = 0; fetchStep(S.seq[S.idx]); }
      if (S.prefetchAt && t >= S.prefetchAt && !S.paused) prefetchNext();
      // First time round (after a load) the next panel has nothing to show yet: ask as
      // soon as the shown one has its data, so its first, slowest render is done in time.
      if (S.seq.length > 1 && !S.paused && hasData(S.seq[S.idx]) &&
          !hasData(S.seq[(S.idx + 1) % S.seq.length])) prefetchNext();
      var elapsed;
      if (S.sync) {
        // A late or lost timer (throttled tab, clock step): catch up with the clock.
        if (!S.paused && syncIdx(t) !== S.idx && (S.syncWait || t - S.stepAt > 1000)) syncShow();
        if (!S.timer && !S.paused) scheduleBoundary();
        // A sample every few seconds besides the polls: the short round trips are rare
        // when the box is busy, and they are the ones worth keeping.
        // Every 2 s until the window of samples is full (a fresh load), then every 10 s.
        var every = S.samples.length < SAMPLE_KEEP ? 2000 : SAMPLE_EVERY;
        if (t - (S.lastSample || 0) > every) sampleClock(1);
        elapsed = S.paused ? S.pausedElapsed : (((t + S.offset) % S.dwell) + S.dwell) % S.dwell;
      } else {
        if (!S.shownAt && S.seq.length &&
            (panelReady(S.seq[S.idx]) || t - S.stepAt > 10000)) {
          S.shownAt = t;
          planPrefetch(t + S.dwell);
        }
        elapsed = S.paused ? S.pausedElapsed : (S.shownAt ? t - S.shownAt : 0);
        if (!S.paused && elapsed >= S.dwell) {
          // The next panel comes up once it has data (asked for now if the prefetch was
          // lost), or after a grace period when the server is slow; offline, step() keeps
          // to panels holding data.
          var nx = S.seq[(S.idx + 1) % S.seq.length];
          if (!S.online || hasData(nx) || elapsed >= S.dwell + 10000) step(1);
          else fetchStep(nx);
        }
      }
      var fill = document.getElementById('progress-fill');
      if (fill) fill.style.transform = 'scaleX(' + Math.min(1, elapsed / S.dwell).toFixed(4) + ')';
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
      if (S.paused) {
        S.paused = false; S.shownAt = Date.now() - S.pausedElapsed;
        if (S.sync) { syncShow(); scheduleBoundary(); }  // rejoin the clock
      } else {
        S.paused = true;
        S.pausedElapsed = S.sync ? (((Date.now() + S.offset) % S.dwell) + S.dwell) % S.dwell
          : (S.shownAt ? Date.now() - S.shownAt : 0);
      }
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
  window.__wall = { state: S, step: step, poll: poll, fit: refitAll,
    refetch: function () { S.refetchAt = 0; fetchStep(S.seq[S.idx]); } };
})();
