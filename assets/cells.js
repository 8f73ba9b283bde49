/*
 * Draws panel cells sent as compact JSON (layouts/widgets.py `packed`).
 *
 * A panel callback returns each cell as one `<div class="packed" data-tree="…">` instead of
 * a tree of Dash components, so the Dash renderer wraps and tracks one component per cell
 * instead of hundreds. This script turns the tree into DOM nodes inside that div whenever
 * it appears or its data-tree changes. React never touches the drawn nodes: the div has no
 * children of its own, and React only updates its attributes.
 *
 * Node: "text" | [tag, attrs|0, ...children]; attrs: c class, s style, d data-code,
 * h href, n 1 for an in-app link (navigates like dcc.Link), t dateTime.
 * Nothing is parsed as HTML: text goes through text nodes, tags and styles are whitelisted.
 */
(function () {
  'use strict';

  var TAGS = {
    div: 1, span: 1, b: 1, small: 1, h3: 1, ul: 1, ol: 1, li: 1, dl: 1, dt: 1, dd: 1,
    table: 1, thead: 1, tbody: 1, tr: 1, th: 1, td: 1, time: 1, a: 1
  };
  var STYLES = { width: 1, left: 1, animationDuration: 1 };

  function build(node) {
    if (typeof node === 'string') return document.createTextNode(node);
    if (!Array.isArray(node) || !TAGS[node[0]]) return document.createTextNode('');
    var el = document.createElement(node[0]);
    var a = node[1];
    if (a) {
      if (a.c) el.className = a.c;
      if (a.s) {
        for (var k in a.s) {
          if (STYLES[k] && Object.prototype.hasOwnProperty.call(a.s, k)) el.style[k] = a.s[k];
        }
      }
      if (a.d) el.setAttribute('data-code', a.d);
      if (a.t) el.setAttribute('datetime', a.t);
      // Only paths inside this site: never another origin or a script URL.
      if (a.h && a.h.charAt(0) === '/' && a.h.charAt(1) !== '/') {
        el.setAttribute('href', a.h);
        if (a.n) el._appLink = true;
      }
    }
    for (var i = 2; i < node.length; i++) el.appendChild(build(node[i]));
    return el;
  }

  function draw(el) {
    var src = el.getAttribute('data-tree');
    if (el._drawn === src) return;
    el._drawn = src;
    var tree;
    try { tree = JSON.parse(src || '[]'); } catch (e) { tree = []; }
    var frag = document.createDocumentFragment();
    if (Array.isArray(tree)) tree.forEach(function (n) { frag.appendChild(build(n)); });
    while (el.firstChild) el.removeChild(el.firstChild);
    el.appendChild(frag);
  }

  function scan(node) {
    if (node.nodeType !== 1) return;
    if (node.hasAttribute('data-tree')) { draw(node); return; }
    if (node.classList.contains('packed') || !node.firstElementChild) return;
    var found = node.querySelectorAll('[data-tree]');
    for (var i = 0; i < found.length; i++) draw(found[i]);
  }

  function onMutations(records) {
    for (var i = 0; i < records.length; i++) {
      var r = records[i];
      if (r.type === 'attributes') {
        draw(r.target);
      } else {
        // Nodes drawn here sit inside a .packed div: nothing in them to draw.
        if (r.target.nodeType === 1 && r.target.closest && r.target.closest('.packed')) continue;
        for (var j = 0; j < r.addedNodes.length; j++) scan(r.addedNodes[j]);
      }
    }
  }

  function start() {
    new MutationObserver(onMutations).observe(document.documentElement, {
      childList: true, subtree: true, attributes: true, attributeFilter: ['data-tree']
    });
    scan(document.documentElement);
  }

  // In-app links navigate as dcc.Link does: push the URL, tell dcc.Location, no reload.
  document.addEventListener('click', function (ev) {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.shiftKey || ev.altKey ||
        ev.ctrlKey) return;
    var a = ev.target && ev.target.closest ? ev.target.closest('a') : null;
    if (!a || !a._appLink) return;
    ev.preventDefault();
    window.history.pushState({}, '', a.getAttribute('href'));
    window.dispatchEvent(new CustomEvent('_dashprivate_pushstate'));
    window.scrollTo(0, 0);
  });

  if (document.documentElement) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
