/* layerscope interactive report: draws the layer graph (layout by the vendored dagre) as SVG, with pan/zoom,
   collapse/expand of modules, search, a node panel and a sortable/filterable table linked to the graph.
   Reads only the JSON embedded in the page (#ls-report: the report as --format json, with its per-node
   formula and receptive-field columns; #ls-view: the scope tree and the errors with their provenance). No network, no dependencies besides
   dagre. */
(function () {
  "use strict";
  var T0 = performance.now();
  var R = JSON.parse(document.getElementById("ls-report").textContent);
  var V = JSON.parse(document.getElementById("ls-view").textContent);
  var NODES = R.graph.nodes, SCOPES = R.graph.scopes, DIAG = R.diagnostics || [];
  var svg = document.getElementById("ls-graph"), panel = document.getElementById("ls-panel");
  var statusEl = document.getElementById("ls-status");
  var SVGNS = "http://www.w3.org/2000/svg";

  // ------------------------------------------------------------------ formatting
  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }
  function human(n) {
    var units = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "K"]];
    for (var i = 0; i < units.length; i++) if (Math.abs(n) >= units[i][0]) return (n / units[i][0]).toFixed(2) + units[i][1];
    return String(n);
  }
  function bytes(n) {
    var units = [[Math.pow(2, 40), "TiB"], [Math.pow(2, 30), "GiB"], [Math.pow(2, 20), "MiB"], [1024, "KiB"]];
    for (var i = 0; i < units.length; i++) if (Math.abs(n) >= units[i][0]) return (n / units[i][0]).toFixed(2) + " " + units[i][1];
    return n + " B";
  }
  function int(n) { return Number(n).toLocaleString("en-US"); }
  function shape(s) { return s == null ? "-" : (s.length ? s.join("x") : "scalar"); }
  function axes(v) {
    if (v == null) return "-";
    if (!Array.isArray(v)) return String(v);
    var all = v.every(function (x) { return x === v[0]; });
    return all ? String(v[0]) : v.map(function (x) { return x == null ? "?" : x; }).join(" x ");
  }

  // ------------------------------------------------------------------ derived data
  // the analyzers' per-node columns: [formula, rf, jump, centre of unit 0], per spatial axis
  function col(id) {
    var c = (R.columns || {})[id];
    return c ? [c.formula || "", c.rf == null ? null : c.rf, c.jump, c.start] : ["", null, null, null];
  }
  var N = NODES.length, S = SCOPES.length;
  var macs = new Array(N), flops = new Array(N), complete = new Array(N);
  NODES.forEach(function (n) {
    var m = 0, f = 0, ok = true;
    (n.ops || []).forEach(function (o) { m += o.macs; f += o.flops; ok = ok && o.known; });
    macs[n.id] = m; flops[n.id] = f; complete[n.id] = ok;
  });
  var childScopes = [], childNodes = [];
  for (var k = 0; k < S; k++) { childScopes.push([]); childNodes.push([]); }
  var roots = [];
  V.scope_parent.forEach(function (p, k) { if (p == null) roots.push({ s: k }); else childScopes[p].push(k); });
  V.node_parent.forEach(function (p, i) { if (p == null) roots.push({ n: i }); else childNodes[p].push(i); });
  function ancestorsOfScope(k) {
    var out = [];
    for (var p = V.scope_parent[k]; p != null; p = V.scope_parent[p]) out.unshift(p);
    return out;
  }
  var anc = NODES.map(function (n) {
    var p = V.node_parent[n.id];
    return p == null ? [] : ancestorsOfScope(p).concat([p]);
  });
  var scopeAnc = SCOPES.map(function (s, k) { return ancestorsOfScope(k); });
  function sumRange(arr, s) { var t = 0; for (var i = s.first; i <= s.last; i++) t += arr[i]; return t; }
  var params = NODES.map(function (n) { return n.params; }), act = NODES.map(function (n) { return n.new_bytes; });
  var byName = {};
  NODES.forEach(function (n) { if (!(n.name in byName)) byName[n.name] = { n: n.id }; });
  SCOPES.forEach(function (s, k) { if (s.name && !(s.name in byName)) byName[s.name] = { s: k }; });
  var diagOf = {};
  DIAG.forEach(function (d, j) {
    var id = d.node;
    if (id == null && d.module && byName[d.module] && byName[d.module].n != null) id = byName[d.module].n;
    if (id != null) (diagOf[id] = diagOf[id] || []).push(j);
  });
  var errSet = {}, provSet = {};
  (V.errors || []).forEach(function (e) {
    errSet[e.node] = true;
    e.related.forEach(function (r) { provSet[r] = true; });
  });
  function isMerge(n) {
    if (n.kind !== "op") return false;
    if (n.type === "cat" || n.type === "stack" || n.type === "concat") return true;
    var seen = {};
    n.inputs.forEach(function (t) { if (t.producer != null) seen[t.producer] = true; });
    return Object.keys(seen).length >= 2;
  }
  var mergeSym = { add: "+", add_: "+", iadd: "+", mul: "\u00d7", mul_: "\u00d7", sub: "\u2212", cat: "cat", stack: "stack" };
  var inputNode = NODES.filter(function (n) { return n.kind === "input"; })[0];
  var inShape = inputNode && inputNode.outputs.length ? inputNode.outputs[0].shape : null;

  // ------------------------------------------------------------------ state
  var expanded = {}, MAX_START = 150;
  function countBoxes() {
    var seen = {}, n = 0;
    NODES.forEach(function (x) { var key = rep(x.id); if (!seen[key]) { seen[key] = true; n++; } });
    return n;
  }
  function resetExpansion() {
    expanded = {};
    var depth = V.graph_depth;
    SCOPES.forEach(function (s, k) { if (s.depth < depth) expanded[k] = true; });
    // a readable start: open fewer levels while the view would hold more than MAX_START boxes
    while (depth > 1 && countBoxes() > MAX_START) {
      depth--;
      SCOPES.forEach(function (s, k) { if (s.depth >= depth) delete expanded[k]; });
    }
    // an error node is always shown, with the modules around it opened
    (V.errors || []).forEach(function (e) { if (e.node != null && anc[e.node]) anc[e.node].forEach(function (a) { expanded[a] = true; }); });
  }
  resetExpansion();
  var selected = null, hits = {}, layout = null;
  var view = { x: 0, y: 0, k: 1 };

  function rep(i) {
    var a = anc[i];
    for (var j = 0; j < a.length; j++) if (!expanded[a[j]]) return "s" + a[j];
    return "n" + i;
  }
  function scopeRep(k) {
    var a = scopeAnc[k].concat([k]);
    for (var j = 0; j < a.length; j++) if (!expanded[a[j]]) return "s" + a[j];
    return "c" + k;
  }

  // ------------------------------------------------------------------ text measure
  var ctx = document.createElement("canvas").getContext("2d");
  function textWidth(t, font) { ctx.font = font; return ctx.measureText(t).width; }
  var F_NAME = "600 12px system-ui, sans-serif", F_SUB = "11px system-ui, sans-serif";
  function shortName(name, parentName) {
    if (parentName && name.indexOf(parentName + ".") === 0) return name.slice(parentName.length + 1);
    if (parentName && name.indexOf(parentName + "/") === 0) return name.slice(parentName.length + 1);
    return name;
  }
  function scopeMembers(s) { return s.last - s.first + 1; }
  function scopeInShape(s) {
    for (var i = s.first; i <= s.last; i++) {
      var ins = NODES[i].inputs;
      for (var j = 0; j < ins.length; j++) if (ins[j].producer == null || ins[j].producer < s.first || ins[j].producer > s.last) return ins[j].shape;
    }
    return null;
  }
  function scopeOut(s) { return s.outputs && s.outputs.length ? s.outputs[0] : null; }

  // ------------------------------------------------------------------ layout
  // dagre lays out the shown boxes as a flat graph (its compound mode multiplies the rank gaps by the nesting
  // depth and is slower); an open module is then drawn as the padded bounding box of what it holds. An edge
  // that enters or leaves open modules gets longer (minlen), which leaves room for their title bars.
  var PAD = 8, TITLE = 20;
  function build() {
    var g = new dagre.graphlib.Graph();
    g.setGraph({ rankdir: "TB", nodesep: 24, ranksep: 20, edgesep: 12, marginx: 28, marginy: 28 });
    g.setDefaultEdgeLabel(function () { return {}; });
    var boxes = {}, clusters = {};
    function addCluster(k) {
      var key = "c" + k;
      if (clusters[key]) return;
      var p = V.scope_parent[k];
      if (p != null) addCluster(p);
      clusters[key] = { k: k, parent: p == null ? null : "c" + p };
    }
    function addBox(key, info) {
      var w = 0;
      info.lines.forEach(function (l, j) { w = Math.max(w, textWidth(l, j === 0 ? F_NAME : F_SUB)); });
      info.width = Math.ceil(w) + (info.toggle ? 40 : 22);
      info.height = info.merge ? 36 : 10 + 15 * info.lines.length;
      if (info.merge) info.width = Math.max(info.width, 50);
      boxes[key] = info;
      g.setNode(key, { width: info.width, height: info.height });
    }
    NODES.forEach(function (n) {
      var key = rep(n.id);
      if (boxes[key]) return;
      if (key[0] === "s") {
        var k = +key.slice(1), s = SCOPES[k], p = V.scope_parent[k];
        if (p != null) addCluster(p);
        var out = scopeOut(s), m = sumRange(macs, s);
        var lines = [shortName(s.name, p != null ? SCOPES[p].name : ""), s.type + " \u00b7 " + scopeMembers(s) + " layers",
          shape(out ? out.shape : null) + (m ? " \u00b7 " + human(m) + " MACs" : "")];
        addBox(key, { scope: k, lines: lines, toggle: true, chain: scopeAnc[k], cost: m > 0 });
      } else {
        var pk = V.node_parent[n.id];
        if (pk != null) addCluster(pk);
        var pn = pk != null ? SCOPES[pk].name : "";
        var o = n.outputs.length ? n.outputs[0].shape : null;
        if (isMerge(n)) {
          addBox(key, { node: n.id, merge: true, lines: [mergeSym[n.type] || n.type, shape(o)], chain: anc[n.id] });
        } else {
          var lines2 = [shortName(n.name, pn), (n.kind === "input" ? "input" : n.type) + " \u00b7 " + shape(o)];
          if (macs[n.id]) lines2.push(human(macs[n.id]) + " MACs" + (params[n.id] ? " \u00b7 " + human(params[n.id]) + " params" : ""));
          addBox(key, { node: n.id, lines: lines2, chain: anc[n.id], cost: macs[n.id] > 0, input: n.kind === "input" });
        }
      }
    });
    var edges = {}, order = [], pos = {}, into = {};
    NODES.forEach(function (n) {
      var b = rep(n.id);
      if (!(b in pos)) { pos[b] = order.length; order.push(b); into[b] = []; }
      n.inputs.forEach(function (t) {
        if (t.producer == null) return;
        var a = rep(t.producer);
        if (a === b) return;
        var key = a + ">" + b;
        if (edges[key]) return;
        edges[key] = { v: a, w: b, shape: t.shape, src: t.producer, dst: n.id };
        into[b].push(key);
      });
    });
    // Boxes are disjoint spans of execution order, so every edge points forward in `order`. A wide fan-in (a
    // DenseNet concat of every earlier layer) would give dagre hundreds of long edges to route, seconds of work:
    // there, an edge already implied by a path through the kept edges is left out of the layout and drawn as an
    // arc beside the boxes ("skip"). Two-input merges (residual adds) keep both edges in the layout.
    var words = Math.ceil(order.length / 32), reach = [];
    order.forEach(function (b, j) {
      var r = new Uint32Array(words), list = into[b].slice().sort(function (x, y) { return pos[edges[y].v] - pos[edges[x].v]; });
      var wide = list.length >= 3;
      list.forEach(function (key) {
        var e = edges[key], i = pos[e.v];
        if (wide && (r[i >> 5] >>> (i & 31)) & 1) { e.skip = true; return; }
        var ra = reach[i];
        for (var w = 0; w < words; w++) r[w] |= ra[w];
        r[i >> 5] |= 1 << (i & 31);
        var ca = boxes[e.v].chain, cb = boxes[e.w].chain, common = 0;
        while (common < ca.length && common < cb.length && ca[common] === cb[common]) common++;
        var entered = cb.length - common, left = ca.length - common;
        g.setEdge(e.v, e.w, { minlen: 1 + Math.min(3, Math.max(entered, Math.ceil(left / 2))) });
      });
      reach[j] = r;
    });
    dagre.layout(g);
    // open modules: padded bounding boxes, innermost first
    Object.keys(boxes).forEach(function (key) {
      var b = boxes[key], p = g.node(key);
      b.x = p.x - b.width / 2; b.y = p.y - b.height / 2;
      var parent = b.chain.length ? "c" + b.chain[b.chain.length - 1] : null;
      if (parent && clusters[parent]) grow(clusters[parent], b.x, b.y, b.x + b.width, b.y + b.height);
    });
    Object.keys(clusters).sort(function (a, b) { return SCOPES[+b.slice(1)].depth - SCOPES[+a.slice(1)].depth; }).forEach(function (key) {
      var c = clusters[key];
      if (c.x0 == null) return;
      c.x0 -= PAD; c.x1 += PAD; c.y0 -= TITLE; c.y1 += PAD;
      if (c.parent && clusters[c.parent]) grow(clusters[c.parent], c.x0, c.y0, c.x1, c.y1);
    });
    var gr = g.graph(), W = gr.width || 100, H = gr.height || 100, minX = 0, minY = 0;
    Object.keys(edges).forEach(function (key) {
      var e = edges[key];
      if (!e.skip) return;
      var a = boxes[e.v], b = boxes[e.w];
      e.arc = arc(a, b);
      W = Math.max(W, e.arc.reach + 8);
    });
    Object.keys(clusters).forEach(function (key) {
      var c = clusters[key];
      if (c.x0 == null) return;
      minX = Math.min(minX, c.x0 - 4); minY = Math.min(minY, c.y0 - 4);
      W = Math.max(W, c.x1 + 4); H = Math.max(H, c.y1 + 4);
    });
    return { g: g, boxes: boxes, clusters: clusters, edges: edges, x: minX, y: minY, width: W - minX, height: H - minY };
  }
  // a skip edge: from the right side of its source to the right side of its target, bulging out with the distance
  function arc(a, b) {
    var x0 = a.x + a.width, y0 = a.y + a.height / 2, x1 = b.x + b.width, y1 = b.y + b.height / 2;
    var out = Math.max(x0, x1) + 14 + Math.min(220, 0.12 * Math.abs(y1 - y0));
    return { d: "M" + x0.toFixed(1) + "," + y0.toFixed(1) + "C" + out.toFixed(1) + "," + y0.toFixed(1) + " " + out.toFixed(1) + "," +
      y1.toFixed(1) + " " + (x1 + 1).toFixed(1) + "," + y1.toFixed(1), reach: 0.75 * out + 0.25 * Math.max(x0, x1) };
  }
  function grow(c, x0, y0, x1, y1) {
    c.x0 = c.x0 == null ? x0 : Math.min(c.x0, x0); c.y0 = c.y0 == null ? y0 : Math.min(c.y0, y0);
    c.x1 = c.x1 == null ? x1 : Math.max(c.x1, x1); c.y1 = c.y1 == null ? y1 : Math.max(c.y1, y1);
  }

  // ------------------------------------------------------------------ drawing
  function curve(pts) {
    if (pts.length < 3) return "M" + pts.map(function (p) { return p.x.toFixed(1) + "," + p.y.toFixed(1); }).join("L");
    var d = "M" + pts[0].x.toFixed(1) + "," + pts[0].y.toFixed(1);
    for (var i = 1; i < pts.length - 1; i++) {
      var mx = (pts[i].x + pts[i + 1].x) / 2, my = (pts[i].y + pts[i + 1].y) / 2;
      d += "Q" + pts[i].x.toFixed(1) + "," + pts[i].y.toFixed(1) + " " + (i === pts.length - 2 ? pts[i + 1].x.toFixed(1) + "," + pts[i + 1].y.toFixed(1) : mx.toFixed(1) + "," + my.toFixed(1));
    }
    return d;
  }
  function keyFlags(key) {
    // error / provenance marks of a box: of its node, or of any node it holds (a collapsed module)
    var err = false, prov = false, hit = !!hits[key];
    if (key[0] === "n") { var i = +key.slice(1); err = !!errSet[i]; prov = !!provSet[i]; }
    else if (key[0] === "s") {
      var s = SCOPES[+key.slice(1)];
      for (var j = s.first; j <= s.last; j++) { if (errSet[j]) err = true; if (provSet[j]) prov = true; }
    }
    return { err: err, prov: prov && !err, hit: hit };
  }
  function draw() {
    var L = layout, g = L.g, out = [];
    out.push('<defs><marker id="ls-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path class="arrow" d="M0,0L10,5L0,10z"/></marker></defs>');
    // open modules, outermost first (their titles are drawn again over the edges, with a halo)
    var titles = [];
    Object.keys(L.clusters).sort(function (a, b) { return SCOPES[+a.slice(1)].depth - SCOPES[+b.slice(1)].depth; }).forEach(function (key) {
      var c = L.clusters[key], k = +key.slice(1), s = SCOPES[k];
      if (c.x0 == null) return;
      var err = false;
      for (var j = s.first; j <= s.last; j++) if (errSet[j]) err = true;
      var p = V.scope_parent[k], label = shortName(s.name, p != null ? SCOPES[p].name : "") + (s.call ? " (call " + (s.call + 1) + ")" : "");
      out.push('<g class="cluster' + (err ? " err" : "") + (selected === key ? " sel" : "") + '" data-key="' + key + '" data-name="' + esc(s.name) + '"><title>' + esc(s.name) + "</title>" +
        '<rect x="' + c.x0.toFixed(1) + '" y="' + c.y0.toFixed(1) + '" width="' + (c.x1 - c.x0).toFixed(1) + '" height="' + (c.y1 - c.y0).toFixed(1) + '" rx="6"/>' +
        '<text class="toggle-c" x="' + (c.x0 + 6).toFixed(1) + '" y="' + (c.y0 + 14).toFixed(1) + '">\u229f ' + esc(label) + " \u00b7 " + esc(s.type) + '</text></g>');
      titles.push('<text class="ctitle" x="' + (c.x0 + 6).toFixed(1) + '" y="' + (c.y0 + 14).toFixed(1) + '">\u229f ' + esc(label) + " \u00b7 " + esc(s.type) + "</text>");
    });
    Object.keys(L.edges).forEach(function (ek) {
      var e = L.edges[ek];
      var tb = L.boxes[e.w], cls = "edge" + (tb && tb.merge ? " merge" : "") + (e.skip ? " skip" : "");
      var pv = (errSet[e.dst] || provSet[e.dst]) && (provSet[e.src] || errSet[e.src]);
      if (pv) cls += " prov";
      var d = e.skip ? e.arc.d : curve(g.edge(e.v, e.w).points);
      out.push('<path class="' + cls + '" d="' + d + '" marker-end="url(#ls-arrow)"><title>' + esc(shape(e.shape)) + "</title></path>");
    });
    out.push('<g class="ctitles">' + titles.join("") + "</g>");
    Object.keys(L.boxes).forEach(function (key) {
      var b = L.boxes[key], p = g.node(key), x = b.x, y = b.y, f = keyFlags(key);
      var cls = "node" + (b.scope != null ? " scope" : "") + (b.merge ? " merge" : "") + (b.cost ? " cost" : "") +
        (b.input ? " input" : "") + (f.err ? " err" : "") + (f.prov ? " prov" : "") + (f.hit ? " hit" : "") + (selected === key ? " sel" : "");
      var name = b.scope != null ? SCOPES[b.scope].name : NODES[b.node].name;
      var s = '<g class="' + cls + '" data-key="' + key + '" data-name="' + esc(name) + '"><title>' + esc(name) + "</title>";
      if (b.merge) {
        s += '<ellipse cx="' + p.x.toFixed(1) + '" cy="' + p.y.toFixed(1) + '" rx="' + (b.width / 2).toFixed(1) + '" ry="' + (b.height / 2).toFixed(1) + '"/>' +
          '<text x="' + p.x.toFixed(1) + '" y="' + (p.y - 2).toFixed(1) + '" text-anchor="middle" class="name">' + esc(b.lines[0]) + "</text>" +
          '<text x="' + p.x.toFixed(1) + '" y="' + (p.y + 11).toFixed(1) + '" text-anchor="middle" class="sub">' + esc(b.lines[1]) + "</text>";
      } else {
        s += '<rect x="' + x.toFixed(1) + '" y="' + y.toFixed(1) + '" width="' + b.width + '" height="' + b.height + '" rx="4"/>';
        var tx = x + (b.toggle ? 26 : 11);
        if (b.toggle) s += '<text class="toggle" x="' + (x + 8).toFixed(1) + '" y="' + (y + 19).toFixed(1) + '">\u229e</text>';
        b.lines.forEach(function (l, j) {
          s += '<text x="' + tx.toFixed(1) + '" y="' + (y + 18 + 15 * j).toFixed(1) + '"' + (j === 0 ? ' class="name"' : ' class="sub"') + ">" + esc(l) + "</text>";
        });
      }
      out.push(s + "</g>");
    });
    vp.innerHTML = out.join("");
    applyView();
    statusEl.textContent = Object.keys(L.boxes).length + " boxes shown for " + NODES.filter(function (n) { return n.kind !== "input"; }).length + " layers";
  }
  var vp = document.createElementNS(SVGNS, "g");
  vp.setAttribute("id", "ls-viewport");
  svg.appendChild(vp);
  function applyView() { vp.setAttribute("transform", "translate(" + view.x.toFixed(1) + "," + view.y.toFixed(1) + ") scale(" + view.k.toFixed(4) + ")"); }
  function relayout() { layout = build(); draw(); }
  function fit(readable) {
    var W = svg.clientWidth || 800, H = svg.clientHeight || 600;
    var k = Math.min(W / layout.width, H / layout.height, 1.2);
    if (readable) k = Math.min(Math.max(k, Math.min(1, W / layout.width), 0.8), 1.2);  // text stays legible
    view.k = k;
    view.x = (W - layout.width * k) / 2 - layout.x * k;
    view.y = (layout.height * k <= H ? (H - layout.height * k) / 2 : 0) - layout.y * k;
    if (view.x + layout.x * k < 0) view.x = 10 - layout.x * k;
    applyView();
  }
  function centerOn(key) {
    var r = rectOf(key);
    if (!r) return;
    var W = svg.clientWidth || 800, H = svg.clientHeight || 600;
    if (view.k < 0.7) view.k = 1;
    view.x = W / 2 - (r.x0 + r.x1) / 2 * view.k;
    view.y = H / 2 - Math.min((r.y0 + r.y1) / 2, r.y0 + H / 3) * view.k;
    applyView();
  }
  // keep the box the user toggled under the pointer: shift the view by how far the layout moved it
  function rectOf(key) {
    var b = layout.boxes[key];
    if (b) return { x0: b.x, y0: b.y, x1: b.x + b.width, y1: b.y + b.height };
    var c = layout.clusters[key];
    return c && c.x0 != null ? c : null;
  }
  function keepPlace(before, afterKey, fn) {
    var r0 = rectOf(before);
    fn();
    var r1 = rectOf(afterKey);
    if (r0 && r1) {
      view.x += ((r0.x0 + r0.x1) / 2 - (r1.x0 + r1.x1) / 2) * view.k;
      view.y += (r0.y0 - r1.y0) * view.k;
      // an opened module wider than before: slide it back inside the window when it fits
      var W = svg.clientWidth || 800, left = view.x + r1.x0 * view.k, right = view.x + r1.x1 * view.k;
      if (right - left <= W - 20) {
        if (left < 10) view.x += 10 - left;
        else if (right > W - 10) view.x -= right - (W - 10);
      } else view.x += 10 - left;
      applyView();
    }
  }
  function toggleScope(k) {
    if (expanded[k]) {
      // collapsing also collapses everything inside
      var s = SCOPES[k];
      delete expanded[k];
      SCOPES.forEach(function (t, j) { if (t.first >= s.first && t.last <= s.last && scopeAnc[j].indexOf(k) >= 0) delete expanded[j]; });
      keepPlace("c" + k, "s" + k, relayout);
      select("s" + k, false);
    } else {
      expanded[k] = true;
      keepPlace("s" + k, "c" + k, relayout);
      select("c" + k, false);
    }
  }

  // ------------------------------------------------------------------ panel
  function row(label, value) { return "<tr><td>" + label + "</td><td>" + value + "</td></tr>"; }
  function link(id) { var n = NODES[id]; return '<a data-goto="' + id + '">' + esc(n.name) + "</a>"; }
  // as Diagnostic.text: without a leading repetition of the module shown beside it, marked when it follows an error
  function diagText(d) {
    var m = d.message;
    if (d.module && m.indexOf(d.module + ": ") === 0) m = m.slice(d.module.length + 2);
    if (d.data && d.data.follows_error) m += " [follows an earlier error: may be a consequence of it, fix that one first]";
    return m;
  }
  function diagHtml(ids) {
    return ids.map(function (j) {
      var d = DIAG[j];
      return '<div class="diag ' + esc(d.severity) + '"><b>' + esc(d.code) + "</b> " + esc(d.severity) + (d.module ? " <code>" + esc(d.module) + "</code>" : "") +
        ": " + esc(diagText(d)) + (d.hint ? "<br><i>hint: " + esc(d.hint) + "</i>" : "") + (d.source ? '<br><span class="muted">' + esc(d.source) + "</span>" : "") + "</div>";
    }).join("");
  }
  function rfBox(id) {
    var r = col(id);
    if (!r || !Array.isArray(r[1]) || r[1].length !== 2 || !inShape || inShape.length < 4) return "";
    var rf = r[1], jump = r[2], start = r[3], n = NODES[id], o = n.outputs.length ? n.outputs[0].shape : null;
    if (!jump || !start || rf.some(function (v) { return v == null; }) || start.some(function (v) { return v == null; })) return "";
    var H = inShape[inShape.length - 2], W = inShape[inShape.length - 1];
    var spatial = o && o.length === inShape.length ? o.slice(-2) : [1, 1];
    var c = [Math.floor((spatial[0] - 1) / 2), Math.floor((spatial[1] - 1) / 2)];
    var y0 = start[0] + c[0] * jump[0] - (rf[0] - 1) / 2, x0 = start[1] + c[1] * jump[1] - (rf[1] - 1) / 2;
    var lo = Math.min(0, x0, y0), hi = Math.max(W, H, x0 + rf[1], y0 + rf[0]);
    var sc = 150 / (hi - lo), off = -lo * sc + 4;
    function X(v) { return (off + v * sc).toFixed(1); }
    return '<div id="ls-rf"><svg width="' + ((hi - lo) * sc + 8).toFixed(0) + '" height="' + ((hi - lo) * sc + 8).toFixed(0) + '" aria-label="receptive field box">' +
      '<rect x="' + X(0) + '" y="' + X(0) + '" width="' + (W * sc).toFixed(1) + '" height="' + (H * sc).toFixed(1) + '" fill="#e9eef5" stroke="#555"/>' +
      '<rect class="rf-box" x="' + X(x0) + '" y="' + X(y0) + '" width="' + (rf[1] * sc).toFixed(1) + '" height="' + (rf[0] * sc).toFixed(1) + '" fill="rgba(198,40,40,.18)" stroke="#c62828" stroke-dasharray="4 2"/>' +
      '</svg><span class="muted">the field of output unit (' + c[0] + ", " + c[1] + ") over the " + H + "x" + W + " input: rows " +
      y0 + ".." + (y0 + rf[0] - 1) + ", cols " + x0 + ".." + (x0 + rf[1] - 1) + " (outside the input: zero padding)</span></div>";
  }
  function rfRows(id) {
    var r = col(id);
    if (!r || r[1] == null) return "";
    return row("receptive field", axes(r[1]) + " px") + row("jump", axes(r[2]) + " px") + row("centre of unit 0", axes(r[3]));
  }
  function nodePanel(id) {
    var n = NODES[id], r = col(id), h = [];
    h.push("<h3>" + esc(n.name) + "</h3><div class=\"muted\">" + esc(n.type) + " \u00b7 " + esc(n.kind) + (n.call ? " \u00b7 call " + n.call : "") + "</div><table>");
    n.inputs.forEach(function (t, j) {
      h.push(row("input" + (n.inputs.length > 1 ? " " + j : ""), shape(t.shape) + " " + esc(t.dtype) + (t.producer != null ? " from " + link(t.producer) : " (constant)")));
    });
    n.outputs.forEach(function (t, j) { h.push(row("output" + (n.outputs.length > 1 ? " " + j : ""), shape(t.shape) + " " + esc(t.dtype))); });
    if (r[0]) h.push(row("formula", '<span class="formula">' + esc(r[0]) + "</span>"));
    h.push(row("params", int(n.params)));
    h.push(row("MACs", int(macs[id]) + (complete[id] ? "" : " (partial: no counting rule for " + esc((n.ops || []).filter(function (o) { return !o.known; }).map(function (o) { return o.op; }).join(", ")) + ")")));
    h.push(row("FLOPs", int(flops[id])));
    h.push(row("activations", bytes(n.new_bytes)));
    h.push(rfRows(id));
    if (n.source) h.push(row("source", "<code>" + esc(n.source) + "</code>"));
    h.push("</table>");
    h.push(rfBox(id));
    if (errSet[id]) {
      var e = (V.errors || []).filter(function (x) { return x.node === id; })[0];
      if (e && e.related.length) h.push("<p><b>Provenance</b> (highlighted): " + e.related.map(link).join(", ") + "</p>");
    }
    if (diagOf[id]) h.push("<h4>Diagnostics</h4>" + diagHtml(diagOf[id]));
    return h.join("");
  }
  function scopePanel(k) {
    var s = SCOPES[k], out = scopeOut(s), h = [];
    h.push("<h3>" + esc(s.name) + "</h3><div class=\"muted\">" + esc(s.type) + " \u00b7 module" + (s.call ? " \u00b7 call " + s.call : "") + "</div>");
    h.push('<p><button type="button" data-toggle="' + k + '">' + (expanded[k] ? "collapse" : "expand") + "</button></p><table>");
    h.push(row("input", shape(scopeInShape(s))));
    h.push(row("output", shape(out ? out.shape : null)));
    h.push(row("layers", scopeMembers(s)));
    h.push(row("params", int(sumRange(params, s))));
    h.push(row("MACs", int(sumRange(macs, s))));
    h.push(row("FLOPs", int(sumRange(flops, s))));
    h.push(row("activations", bytes(sumRange(act, s))));
    var prod = out ? out.producer : null;
    if (prod != null) h.push(rfRows(prod));
    h.push("</table>");
    if (prod != null) h.push(rfBox(prod));
    var ds = [];
    for (var i = s.first; i <= s.last; i++) if (diagOf[i]) ds = ds.concat(diagOf[i]);
    if (ds.length) h.push("<h4>Diagnostics inside</h4>" + diagHtml(ds));
    return h.join("");
  }
  function markTable(key) {
    var old = document.querySelectorAll("table.layers tr.sel");
    for (var i = 0; i < old.length; i++) old[i].classList.remove("sel");
    var tr = null;
    if (key[0] === "n") {
      var id = +key.slice(1);
      tr = document.querySelector('table.layers tr[data-node="' + id + '"]');
      for (var a = anc[id].length - 1; !tr && a >= 0; a--) tr = document.querySelector('table.layers tr[data-scope="' + anc[id][a] + '"]');
    } else tr = document.querySelector('table.layers tr[data-scope="' + key.slice(1) + '"]');
    if (tr && tr.hasAttribute("data-in-run")) openRun(tr.getAttribute("data-in-run"), true);
    if (tr) tr.classList.add("sel");
  }
  // repeated blocks: "32 x LlamaDecoderLayer" is one row; opening it shows the blocks' rows (every layer is there)
  function openRun(k, open) {
    var head = document.querySelector('table.layers tr.repeat[data-run="' + k + '"]');
    if (!head) return;
    var rows = document.querySelectorAll('table.layers tr[data-in-run="' + k + '"]');
    for (var i = 0; i < rows.length; i++) rows[i].hidden = !open;
    var b = head.querySelector("button.ls-fold");
    if (b) { b.setAttribute("aria-expanded", open ? "true" : "false"); b.innerHTML = open ? "&#9662;" : "&#9656;"; }
    head.classList.toggle("open", open);
  }
  function select(key, center) {
    selected = key;
    var els = vp.querySelectorAll(".sel");
    for (var i = 0; i < els.length; i++) els[i].classList.remove("sel");
    var el = vp.querySelector('[data-key="' + key + '"]');
    if (el) el.classList.add("sel");
    panel.innerHTML = key[0] === "n" ? nodePanel(+key.slice(1)) : scopePanel(+key.slice(1));
    markTable(key);
    if (center) centerOn(key);
  }
  function revealNode(id) {
    anc[id].forEach(function (a) { expanded[a] = true; });
    relayout();
    select("n" + id, true);
  }
  function revealScope(k) {
    scopeAnc[k].forEach(function (a) { expanded[a] = true; });
    relayout();
    select(scopeRep(k), true);
  }

  // ------------------------------------------------------------------ events
  var drag = null, moved = false;
  svg.addEventListener("pointerdown", function (ev) {
    drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y };
    moved = false;
  });
  window.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (!moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    moved = true;
    svg.classList.add("dragging");
    view.x = drag.vx + dx; view.y = drag.vy + dy;
    applyView();
  });
  window.addEventListener("pointerup", function () { drag = null; svg.classList.remove("dragging"); });
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var rect = svg.getBoundingClientRect(), mx = ev.clientX - rect.left, my = ev.clientY - rect.top;
    zoomAt(Math.exp(-ev.deltaY * 0.0015), mx, my);
  }, { passive: false });
  function zoomAt(f, mx, my) {
    var k = Math.min(4, Math.max(0.05, view.k * f));
    view.x = mx - (mx - view.x) * (k / view.k);
    view.y = my - (my - view.y) * (k / view.k);
    view.k = k;
    applyView();
  }
  svg.addEventListener("click", function (ev) {
    if (moved) return;
    var el = ev.target.closest("[data-key]");
    if (!el) return;
    var key = el.getAttribute("data-key");
    if (ev.target.classList.contains("toggle") || ev.target.classList.contains("toggle-c")) { toggleScope(+key.slice(1)); return; }
    select(key, false);
  });
  svg.addEventListener("dblclick", function (ev) {
    var el = ev.target.closest("[data-key]");
    if (!el) return;
    var key = el.getAttribute("data-key");
    if (key[0] === "s" || key[0] === "c") toggleScope(+key.slice(1));
  });
  panel.addEventListener("click", function (ev) {
    var a = ev.target.closest("[data-goto]");
    if (a) { revealNode(+a.getAttribute("data-goto")); return; }
    var b = ev.target.closest("[data-toggle]");
    if (b) toggleScope(+b.getAttribute("data-toggle"));
  });
  document.getElementById("ls-fit").addEventListener("click", function () { fit(false); });
  document.getElementById("ls-zoom-in").addEventListener("click", function () { zoomAt(1.25, svg.clientWidth / 2, svg.clientHeight / 2); });
  document.getElementById("ls-zoom-out").addEventListener("click", function () { zoomAt(0.8, svg.clientWidth / 2, svg.clientHeight / 2); });
  document.getElementById("ls-expand").addEventListener("click", function () {
    // one more level: every collapsed module that is shown opens
    Object.keys(layout.boxes).forEach(function (key) { if (key[0] === "s") expanded[+key.slice(1)] = true; });
    relayout(); fit(true);
  });
  document.getElementById("ls-collapse").addEventListener("click", function () { resetExpansion(); relayout(); fit(true); });

  // search: an exact name reveals it; otherwise every layer whose name contains the text is marked
  var names = document.getElementById("ls-names"), opts = [];
  Object.keys(byName).sort().forEach(function (nm) { opts.push('<option value="' + esc(nm) + '">'); });
  names.innerHTML = opts.join("");
  var search = document.getElementById("ls-search");
  function doSearch() {
    var q = search.value.trim();
    hits = {};
    if (!q) { draw(); return; }
    var exact = byName[q];
    if (exact) {
      if (exact.n != null) revealNode(exact.n); else revealScope(exact.s);
      statusEl.textContent = "found " + q;
      return;
    }
    var found = NODES.filter(function (n) { return n.name.toLowerCase().indexOf(q.toLowerCase()) >= 0; });
    if (!found.length) { statusEl.textContent = "no layer matches " + q; draw(); return; }
    anc[found[0].id].forEach(function (a) { expanded[a] = true; });
    layout = build();
    found.forEach(function (n) { hits[rep(n.id)] = true; });
    draw();
    select(rep(found[0].id), true);
    statusEl.textContent = found.length + " layers match " + q;
  }
  search.addEventListener("change", doSearch);
  search.addEventListener("keydown", function (ev) { if (ev.key === "Enter") doSearch(); });

  // ------------------------------------------------------------------ table
  var table = document.getElementById("ls-layers");
  if (table) {
    var tbody = table.tBodies[0], original = Array.prototype.slice.call(tbody.rows);
    table.addEventListener("click", function (ev) {
      var th = ev.target.closest("th");
      if (th) { sortBy(th); return; }
      var tr = ev.target.closest("tr");
      if (!tr) return;
      if (tr.classList.contains("repeat")) { openRun(tr.getAttribute("data-run"), !tr.classList.contains("open")); return; }
      if (tr.hasAttribute("data-node")) revealNode(+tr.getAttribute("data-node"));
      else if (tr.hasAttribute("data-scope")) revealScope(+tr.getAttribute("data-scope"));
      else return;
      document.getElementById("ls-graph-wrap").scrollIntoView({ block: "nearest" });
    });
    var sortState = { col: -1, dir: 0 };
    function sortBy(th) {
      var col = th.cellIndex, dir = sortState.col === col ? (sortState.dir + 1) % 3 : 1;
      sortState = { col: col, dir: dir };
      table.classList.toggle("flat", !!dir);  // sorted: every layer in one flat list, the folded rows set aside
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.classList.remove("asc", "desc"); });
      var rows = original.slice();
      if (dir) {
        // the folded rows are set aside (hidden, last): a sort lists the layers themselves
        rows = rows.filter(function (r) { return !r.classList.contains("repeat"); });
        th.classList.add(dir === 1 ? "desc" : "asc");
        var numeric = th.classList.contains("n");
        rows.sort(function (a, b) {
          var x, y;
          if (numeric) { x = +(a.cells[col].getAttribute("data-v") || 0); y = +(b.cells[col].getAttribute("data-v") || 0); }
          else { x = a.cells[col].textContent; y = b.cells[col].textContent; }
          var c = x < y ? -1 : x > y ? 1 : 0;
          return dir === 1 ? -c : c;
        });
      }
      if (dir) rows = rows.concat(original.filter(function (r) { return r.classList.contains("repeat"); }));
      rows.forEach(function (r) { tbody.appendChild(r); });
    }
    var filter = document.getElementById("ls-filter"), count = document.getElementById("ls-count");
    filter.addEventListener("input", function () {
      var terms = filter.value.toLowerCase().split(/\s+/).filter(Boolean), shown = 0;
      original.forEach(function (r) {
        var t = r.textContent.toLowerCase(), ok = terms.every(function (w) { return t.indexOf(w) >= 0; });
        r.style.display = ok ? "" : "none";
        if (ok) shown++;
      });
      table.classList.toggle("flat", terms.length > 0 || sortState.dir > 0);  // a search looks inside folded blocks
      count.textContent = terms.length ? shown + " of " + original.length + " rows" : "";
    });
  }

  // layer names quoted in the report's sections open that layer in the graph
  Array.prototype.forEach.call(document.querySelectorAll("section:not(#sec-graph) td code, section:not(#sec-graph) li code"), function (el) {
    var hit = byName[el.textContent];
    if (!hit || el.closest("#ls-layers")) return;
    el.classList.add("ls-link");
    el.title = "show in the layer graph";
    el.addEventListener("click", function () {
      if (hit.n != null) revealNode(hit.n); else revealScope(hit.s);
      document.getElementById("ls-graph-wrap").scrollIntoView({ block: "nearest" });
    });
  });

  // ------------------------------------------------------------------ start
  relayout();
  fit(true);
  if (V.errors && V.errors.length) select("n" + V.errors[0].node, true);
  var T1 = performance.now();
  window.layerscopeReady = { ms: T1, script_ms: T1 - T0, nodes: Object.keys(layout.boxes).length };
  document.body.setAttribute("data-ready", "1");
})();
