(function () {
  "use strict";
  if (typeof window.Bokeh === "undefined") {
    document.documentElement.classList.add("no-bokeh");
    return;
  }
  // Switch every projection panel between colouring by class and by cluster.
  function colourBy(mode) {
    (window.Bokeh.documents || []).forEach(function (doc) {
      for (var i = 0; ; i++) {
        var byClass = doc.get_model_by_name("proj-class-" + i);
        var byCluster = doc.get_model_by_name("proj-cluster-" + i);
        if (!byClass || !byCluster) { break; }
        byClass.visible = mode === "class";
        byCluster.visible = mode === "cluster";
      }
    });
    document.querySelectorAll("[data-colour-by]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-colour-by") === mode));
    });
  }
  document.querySelectorAll("[data-colour-by]").forEach(function (b) {
    b.addEventListener("click", function () { colourBy(b.getAttribute("data-colour-by")); });
  });
})();
