/* Sort any table.sortable by clicking (or pressing Enter on) a column heading. */
(function () {
  "use strict";
  function key(cell) {
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    raw = raw.trim();
    var num = Number(raw);
    if (raw === "" || isNaN(num)) {
      // A number as a report prints it: "1,234", "97.3%", "0.951 [0.914, 0.976]".
      var lead = /^([-\u2212]?[\d,]*\.?\d+)%?(\s|$)/.exec(raw);
      num = lead ? Number(lead[1].replace(/,/g, "").replace("\u2212", "-")) : NaN;
    }
    return raw !== "" && !isNaN(num) ? { n: num } : { s: raw.toLowerCase() };
  }
  function compare(a, b) {
    if ("n" in a && "n" in b) { return a.n - b.n; }
    if ("n" in a) { return -1; }
    if ("n" in b) { return 1; }
    return a.s < b.s ? -1 : a.s > b.s ? 1 : 0;
  }
  function setUp(table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, col) {
      th.tabIndex = 0;
      th.setAttribute("aria-sort", "none");
      th.title = "Sort by " + th.textContent;
      function sort() {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (other) { other.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var c = compare(key(r1.cells[col]), key(r2.cells[col]));
          return ascending ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); }
      });
    });
  }
  function init() { document.querySelectorAll("table.sortable").forEach(setUp); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
