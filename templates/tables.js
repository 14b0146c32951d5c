/* Tables of a report or an atlas: each inside a box that scrolls sideways (and says so when it
   does), a CSV download of what it shows, and sorting by a column (site/sortable.js) where
   its rows are all of one kind. */
(function () {
  "use strict";
  var tables = [].slice.call(document.querySelectorAll("main table"));

  function wrap(table) {
    var box = table.parentNode;
    if (!box.classList || !box.classList.contains("table-wrap")) {
      box = document.createElement("div");
      box.className = "table-wrap";
      table.parentNode.insertBefore(box, table);
      box.appendChild(table);
    }
    return box;
  }

  // --- a hint where a table is wider than its box -----------------------------------------------
  function hint(box) {
    var scrolls = box.scrollWidth > box.clientWidth + 1;
    box.classList.toggle("scrolls", scrolls);
    if (scrolls) {
      box.setAttribute("tabindex", "0");
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", "Table, scrolls sideways");
    } else {
      box.removeAttribute("tabindex");
      box.removeAttribute("role");
      box.removeAttribute("aria-label");
    }
  }

  // --- CSV of a table as shown (sorted or not) ---------------------------------------------------
  function field(text) {
    var t = text.replace(/\s+/g, " ").trim();
    // A spreadsheet would run a cell that starts like a formula.
    if (/^[=@]/.test(t) || /^[+\-][^\d.]/.test(t)) { t = "'" + t; }
    return /[",\n]/.test(t) ? '"' + t.replace(/"/g, '""') + '"' : t;
  }
  function csv(table) {
    return [].map.call(table.rows, function (row) {
      return [].map.call(row.cells, function (cell) { return field(cell.textContent); }).join(",");
    }).join("\r\n") + "\r\n";
  }
  function download(table, name) {
    var a = document.createElement("a");
    a.className = "csv";
    a.textContent = "CSV";
    a.setAttribute("download", name);
    a.setAttribute("aria-label", "Download this table as CSV (" + name + ")");
    function refresh() { a.href = "data:text/csv;charset=utf-8," + encodeURIComponent(csv(table)); }
    refresh();
    a.addEventListener("click", refresh);
    return a;
  }

  // --- sortable: a header row over rows that are all data rows -------------------------------------
  function sortable(table) {
    var body = table.tBodies[0];
    if (!table.tHead || !body || body.rows.length < 2 || table.tBodies.length > 1) { return false; }
    var width = table.tHead.rows[0].cells.length;
    var kind = null;
    return table.tHead.rows.length === 1 && [].every.call(body.rows, function (row) {
      var k = row.cells.length ? row.cells[0].tagName : "";
      kind = kind || k;
      return k === kind && row.cells.length === width &&
        [].every.call(row.cells, function (c) { return c.rowSpan === 1 && c.colSpan === 1; });
    });
  }

  var counts = {};
  var boxes = tables.map(function (table) {
    var box = wrap(table);
    var where = (table.closest("section[id]") || {id: "table"}).id;
    counts[where] = (counts[where] || 0) + 1;
    var tools = document.createElement("p");
    tools.className = "table-tools";
    var note = document.createElement("span");
    note.className = "scroll-hint";
    note.textContent = "Scroll sideways for more columns \u2192";
    tools.appendChild(download(table, where + "-" + counts[where] + ".csv"));
    tools.appendChild(note);
    box.parentNode.insertBefore(tools, box);
    if (sortable(table)) { table.classList.add("sortable"); }
    return box;
  });

  function hintAll() {
    boxes.forEach(function (box) {
      hint(box);
      box.previousSibling.classList.toggle("scrolls", box.classList.contains("scrolls"));
    });
  }
  hintAll();
  window.addEventListener("resize", hintAll);
  // A table inside a closed <details> has no width until it opens.
  document.querySelectorAll("details").forEach(function (d) {
    d.addEventListener("toggle", hintAll);
  });
})();
