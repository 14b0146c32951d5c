(function () {
  "use strict";
  var doc = document.documentElement;
  var hasBokeh = typeof window.Bokeh !== "undefined";
  if (!hasBokeh) { doc.classList.add("no-bokeh"); }

  // --- figures: each section's Bokeh document is drawn when the reader nears it -------------
  var groups = [].slice.call(document.querySelectorAll("script.bk-figures")).map(function (s) {
    var boxes = s.getAttribute("data-roots").split(" ").map(function (id) {
      var el = document.getElementById(id);
      return el && el.parentNode;
    }).filter(Boolean);
    return {script: s, boxes: boxes, done: null};
  });
  var colourMode = "class";

  // ``watch`` is called with every shadow root met, so that what BokehJS adds later inside one
  // (a toolbar's overflow menu, laid out after the figure) leaves the tab order too.
  function outOfTabOrder(node, watch) {
    node.querySelectorAll("*").forEach(function (el) {
      if (el.matches("canvas, button, [tabindex]")) { el.setAttribute("tabindex", "-1"); }
      if (el.shadowRoot) {
        watch(el.shadowRoot);
        outOfTabOrder(el.shadowRoot, watch);
      }
    });
  }

  function drawn(g) {
    // The <figure> around the canvases carries a text name and a table follows it; the
    // canvases and toolbars inside leave the tab order so the keyboard goes to the tables.
    g.boxes.forEach(function (box) {
      box.classList.add("drawn");
      var watched = [];
      function watch(root) {
        if (watched.indexOf(root) >= 0) { return; }
        watched.push(root);
        new MutationObserver(function () { outOfTabOrder(box, watch); })
          .observe(root, {childList: true, subtree: true});
      }
      watch(box);
      outOfTabOrder(box, watch);
    });
  }

  // Each figure of a section is built in a task of its own, so that the page keeps answering
  // while a section draws: its document starts with the first figure alone, and the others
  // are added back one per idle slice (BokehJS builds a root added to a drawn document, into
  // the box of its place among the roots). ``now`` builds them all at once: a print's
  // beforeprint, which must have every figure before the page is laid out for paper.
  var later = window.requestIdleCallback
    ? function (f) { window.requestIdleCallback(f, {timeout: 250}); }
    : function (f) { window.setTimeout(f, 0); };

  // Resolves once BokehJS has a view of every root of ``doc``: a root added back is built in
  // microtasks that nothing returns, so they are waited for here, in the same task.
  function built(doc) {
    var turns = 0;
    function check() {
      var views = window.Bokeh.index.roots.filter(function (v) { return v.model.document === doc; });
      if (views.length >= doc.roots().length || ++turns > 100000) { return undefined; }
      return Promise.resolve().then(check);
    }
    return Promise.resolve().then(check);
  }

  function embed(data, g, now) {
    var Document = window.Bokeh.require("document").Document;
    return Promise.all(data.render_items.map(function (item) {
      var doc = Document.from_json(data.docs_json[item.docid]);
      var boxes = item.root_ids.map(function (id) { return document.getElementById(item.roots[id]); });
      var rest = now ? [] : doc.roots().slice(1);
      rest.forEach(function (m) { doc.remove_root(m); });
      // Reading the document and building its first figure are two tasks too. ``g.finish``
      // (a print) builds whatever is still waiting at once, from any point of this.
      var hurry = now, start;
      var first = new Promise(function (go) {
        start = go;
        if (now) { go(); } else { later(go); }
      });
      g.finish = function () {
        hurry = true;
        start();
        if (g.addAll) { g.addAll(); }
      };
      return first.then(function () {
        return window.Bokeh.embed.add_document_standalone(doc, document.body, boxes);
      }).then(function () {
        return new Promise(function (resolve) {
          g.addAll = function () {
            while (rest.length) { doc.add_root(rest.shift()); }
            resolve(built(doc));
          };
          if (hurry) { g.addAll(); return; }
          (function next() {
            if (!rest.length) { resolve(built(doc)); return; }
            later(function () {
              if (rest.length) { doc.add_root(rest.shift()); }
              next();
            });
          })();
        });
      });
    }));
  }

  function render(g, now) {
    if (!g.done) {
      g.done = embed(JSON.parse(g.script.textContent), g, now).then(function () {
        drawn(g);
        colourBy(colourMode);
        setUpProjections();
      });
    } else if (now && g.finish) {
      g.finish();
    }
    return g.done;
  }

  function renderAll(now) {
    return hasBokeh ? Promise.all(groups.map(function (g) { return render(g, now); }))
      : Promise.resolve();
  }
  window.sigreport = {renderAll: renderAll};

  if (hasBokeh) {
    if ("IntersectionObserver" in window) {
      var io = new IntersectionObserver(function (entries) {
        entries.forEach(function (e) {
          if (!e.isIntersecting) { return; }
          groups.forEach(function (g) {
            if (g.boxes.indexOf(e.target) >= 0) {
              render(g);
              g.boxes.forEach(function (b) { io.unobserve(b); });
            }
          });
        });
      }, {rootMargin: "400px 0px"});
      groups.forEach(function (g) { g.boxes.forEach(function (b) { io.observe(b); }); });
    } else {
      renderAll();
    }
  }

  // --- projections: colour by class or by cluster ---------------------------------------------
  function colourBy(mode) {
    colourMode = mode;
    ((hasBokeh && window.Bokeh.documents) || []).forEach(function (d) {
      for (var i = 0; ; i++) {
        var byClass = d.get_model_by_name("proj-class-" + i);
        var byCluster = d.get_model_by_name("proj-cluster-" + i);
        if (!byClass || !byCluster) { break; }
        byClass.visible = mode === "class";
        byCluster.visible = mode === "cluster";
      }
    });
    document.querySelectorAll("[data-colour-by]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-colour-by") === mode));
    });
    document.querySelectorAll("[data-legend-for]").forEach(function (el) {
      el.hidden = el.getAttribute("data-legend-for") !== mode;
    });
  }
  document.querySelectorAll("[data-colour-by]").forEach(function (b) {
    b.addEventListener("click", function () { colourBy(b.getAttribute("data-colour-by")); });
  });

  // --- projections: what a drag does, reset, the selected points and their images ------------------
  // A touch screen starts with a drag that scrolls the page (the figures then leave the page's
  // one-finger scrolling alone); a mouse starts with pan. The buttons set the panels' own tools.
  var GALLERY_MAX = 40;
  var DRAG_TOOLS = {pan: "PanTool", box: "BoxSelectTool", lasso: "LassoSelectTool"};
  var touchFirst = (window.matchMedia && window.matchMedia("(any-pointer: coarse)").matches) ||
    navigator.maxTouchPoints > 0;
  var projection = null;

  function projectionDoc() {
    return ((hasBokeh && window.Bokeh.documents) || []).filter(function (d) {
      return d.get_model_by_name("proj-class-0");
    })[0];
  }

  function dragTool(plot, key) {
    return plot.toolbar.tools.filter(function (t) { return t.type === DRAG_TOOLS[key]; })[0];
  }

  function showDrag() {
    var first = projection && projection.plots[0];
    var mode = "none";
    Object.keys(DRAG_TOOLS).forEach(function (key) {
      var tool = first && dragTool(first, key);
      if (tool && tool.active) { mode = key; }
    });
    document.querySelectorAll("[data-drag]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-drag") === mode));
    });
  }

  function setDrag(mode) {
    if (!projection) { return; }
    projection.plots.forEach(function (plot) {
      Object.keys(DRAG_TOOLS).forEach(function (key) {
        var tool = dragTool(plot, key);
        if (tool) { tool.active = key === mode; }
      });
    });
    showDrag();
  }

  function showSelection() {
    var src = projection.source;
    var data = src.data;
    var picked = src.selected.indices.slice().sort(function (a, b) { return a - b; });
    var count = document.getElementById("proj-count");
    var gallery = document.getElementById("proj-gallery");
    var n = data.label.length;
    count.textContent = picked.length
      ? picked.length + " of " + n + " points selected" +
        (picked.length > GALLERY_MAX ? "; the first " + GALLERY_MAX + " are shown." : ".")
      : "No point selected.";
    document.querySelectorAll("[data-proj='clear']").forEach(function (b) {
      b.disabled = !picked.length;
    });
    gallery.textContent = "";
    picked.slice(0, GALLERY_MAX).forEach(function (i) {
      var item = document.createElement("figure");
      var img = document.createElement("img");
      var src = String(data.thumb[i]);
      if (src.indexOf("data:image/png;base64,") === 0) { img.src = src; }
      img.width = 56;
      img.height = 56;
      img.alt = data.label[i];
      var cap = document.createElement("figcaption");
      cap.textContent = data.label[i] + " \u2192 " + data.pred[i];
      item.title = data.label[i] + ", predicted " + data.pred[i] + ", path " + data.path[i];
      item.appendChild(img);
      item.appendChild(cap);
      gallery.appendChild(item);
    });
  }

  function setUpProjections() {
    var doc = projectionDoc();
    if (projection || !doc) { return; }
    var source = doc.get_model_by_name("proj-class-0").data_source;
    projection = {plots: doc.roots(), source: source};
    projection.plots.forEach(function (plot) {
      Object.keys(DRAG_TOOLS).forEach(function (key) {
        var tool = dragTool(plot, key);
        if (tool) { tool.connect(tool.properties.active.change, showDrag); }
      });
    });
    source.selected.connect(source.selected.properties.indices.change, showSelection);
    setDrag(touchFirst ? "none" : "pan");
    showSelection();
  }

  document.querySelectorAll("[data-drag]").forEach(function (b) {
    b.addEventListener("click", function () { setDrag(b.getAttribute("data-drag")); });
  });
  document.querySelectorAll("[data-proj='reset']").forEach(function (b) {
    b.addEventListener("click", function () {
      if (!projection) { return; }
      projection.plots.forEach(function (plot) {
        var view = window.Bokeh.index.find_one(plot);
        if (view) { view.reset_range(); }
      });
    });
  });
  document.querySelectorAll("[data-proj='clear']").forEach(function (b) {
    b.addEventListener("click", function () {
      if (projection) { projection.source.selected.indices = []; }
    });
  });

  // --- a link to each section, beside its heading ---------------------------------------------------
  // Its "#" is drawn by the stylesheet, so the heading's text stays the heading's words (as
  // copied, and as printed, where the link is hidden).
  document.querySelectorAll("main section[id] > h2").forEach(function (h) {
    var a = document.createElement("a");
    a.className = "self-link";
    a.href = "#" + h.parentNode.id;
    a.setAttribute("aria-label", "Link to this section");
    h.appendChild(a);
  });

  // --- contents: mark the section being read ----------------------------------------------------
  var links = {};
  document.querySelectorAll("nav.toc a[href^='#']").forEach(function (a) {
    links[a.getAttribute("href").slice(1)] = a;
  });
  if ("IntersectionObserver" in window) {
    var current = null;
    var marker = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        if (!e.isIntersecting || !links[e.target.id]) { return; }
        if (current) { current.removeAttribute("aria-current"); }
        current = links[e.target.id];
        current.setAttribute("aria-current", "location");
      });
    }, {rootMargin: "-20% 0px -70% 0px"});
    Object.keys(links).forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { marker.observe(el); }
    });
  }

  // --- print: every table open, every figure drawn and no wider than the page ---------------------
  // A browser prints as soon as beforeprint's handlers and the microtasks they queue are done,
  // so nothing drawn later (an animation frame, a timer) reaches the paper. Every section's
  // figures are built here (embed: microtasks only), and each figure is painted at once into a
  // picture that the print stylesheet shows in place of its live canvases.
  var PRINT_WIDTH = 700;  // CSS pixels between the margins of an A4 page (see @page)
  var opened = [];
  function printPictures() {
    window.Bokeh.index.roots.forEach(function (view) {
      var panel = view.el.closest(".panel");
      if (!panel || !view.export) { return; }
      view.invalidate_painters();
      view.repaint();  // data ranges and layout, as a first paint on screen computes them
      var img = document.createElement("img");
      img.className = "print-figure";
      img.alt = "";
      img.src = view.export("png").canvas.toDataURL("image/png");
      panel.appendChild(img);
      panel.classList.add("pictured");
    });
  }
  function beforePrint() {
    if (hasBokeh) { renderAll(true).then(printPictures); }
    document.querySelectorAll("details:not([open])").forEach(function (d) {
      d.open = true;
      opened.push(d);
    });
    document.querySelectorAll(".panel").forEach(function (p) {
      var w = p.scrollWidth;
      p.style.zoom = w > PRINT_WIDTH ? String(PRINT_WIDTH / w) : "";
    });
  }
  function afterPrint() {
    opened.forEach(function (d) { d.open = false; });
    opened = [];
    document.querySelectorAll(".panel").forEach(function (p) {
      p.style.zoom = "";
      p.classList.remove("pictured");
    });
    document.querySelectorAll("img.print-figure").forEach(function (img) { img.remove(); });
  }
  window.addEventListener("beforeprint", beforePrint);
  window.addEventListener("afterprint", afterPrint);
  window.sigreport.beforePrint = beforePrint;
  window.sigreport.afterPrint = afterPrint;
})();
