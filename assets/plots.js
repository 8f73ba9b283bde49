/*
 * One chart drawn per task, the visible panel's charts first.
 *
 * A region or batch change hands every mounted dcc.Graph a new figure at once; each
 * `Plotly.react` costs tens of milliseconds on a small PC, and dcc.Graph runs them inside
 * the task that applied the callback's answer, so a panel with three charts blocked the main
 * thread (clock, rotation, polling) for one long stretch. `Plotly.react` is wrapped here so
 * that calls are queued and run one per macrotask: charts of the panel on screen first, the
 * hidden panels' charts after. A chart whose newer figure arrives while it waits is drawn
 * once, with the newest figure, and a figure equal to the one already drawn on that chart is
 * not drawn again. Nothing else of Plotly is touched.
 */
(function () {
  'use strict';

  var queue = [];  // {gd, args, waiters: [[resolve, reject], ...]}
  var pending = false;
  var channel = window.MessageChannel ? new MessageChannel() : null;

  function later(fn) {
    if (channel) { channel.port1.onmessage = fn; channel.port2.postMessage(0); }
    else setTimeout(fn, 0);
  }

  /* Whether a chart's panel is the one on screen (wall: .is-active, region page: the deck's
     data-active, embed: its only panel); charts outside a panel count as visible. */
  function onScreen(gd) {
    var panel = gd.closest ? gd.closest('[data-panel]') : null;
    if (!panel) return true;
    if (panel.classList.contains('is-active')) return true;
    var deck = panel.parentNode;
    if (!deck || !deck.getAttribute) return true;
    var active = deck.getAttribute('data-active');
    if (deck.getAttribute('data-mode') === 'wall') return false;
    return !active || active === panel.getAttribute('data-panel');
  }

  /* The figure a react call would draw, as text, taken before Plotly sees it (Plotly writes
     computed ranges into the layout it is given). A batch change hands every chart a new
     figure object, and most figures are the same as the one on screen (a monthly trend
     moves once a day): Plotly.react would still run its whole defaults-and-diff pass. */
  function figureKey(args) {
    try { return JSON.stringify(Array.prototype.slice.call(args, 1)); }
    catch (e) { return null; }
  }

  function settle(job, ok, value) {
    job.waiters.forEach(function (w) { w[ok ? 0 : 1](value); });
  }

  function pump() {
    pending = false;
    if (!queue.length) return;
    var k = 0;
    for (var i = 0; i < queue.length; i++) {
      if (onScreen(queue[i].gd)) { k = i; break; }
    }
    var job = queue.splice(k, 1)[0];
    var result;
    var gd = job.gd;
    var key = figureKey(job.args);
    if (!gd.isConnected) {
      result = Promise.resolve(gd);  // unmounted while waiting: nothing to draw
    } else if (key !== null && key === gd._drawnKey && gd._fullLayout && gd.data) {
      result = Promise.resolve(gd);  // the figure on screen already: nothing to redraw
      window.__plots.skipped++;
    } else {
      gd._drawnKey = null;
      try {
        result = Promise.resolve(job.real.apply(job.self, job.args)).then(function (v) {
          gd._drawnKey = key;
          return v;
        });
      } catch (e) { result = Promise.reject(e); }
    }
    result.then(function (v) { settle(job, true, v); }, function (e) { settle(job, false, e); })
      .then(schedule);
  }

  function schedule() {
    if (pending || !queue.length) return;
    pending = true;
    later(pump);
  }

  function wrap(P) {
    if (!P || !P.react || P.react._queued) return;
    var real = P.react;
    var queued = function (gd) {
      var self = this, args = arguments;
      if (typeof gd === 'string') gd = document.getElementById(gd) || gd;
      if (!gd || !gd.nodeType) return real.apply(self, args);
      return new Promise(function (resolve, reject) {
        for (var i = 0; i < queue.length; i++) {
          if (queue[i].gd === gd) {
            queue[i].args = args;  // only the newest figure is drawn
            queue[i].waiters.push([resolve, reject]);
            return;
          }
        }
        queue.push({ gd: gd, args: args, self: self, real: real, waiters: [[resolve, reject]] });
        schedule();
      });
    };
    queued._queued = true;
    P.react = queued;
  }

  wrap(window.Plotly);
  if (!window.Plotly) {
    document.addEventListener('DOMContentLoaded', function () { wrap(window.Plotly); });
  }
  window.__plots = { queue: queue, skipped: 0 };
})();
