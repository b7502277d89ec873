"""The pages' scripts: they only read the JSON API and set
C{textContent}, never HTML, and keep log tails on their newest line
(C{bmTail}, defined by L{lp_buildmaster.web.markup.TAIL_SCRIPT} on every
page). Each is a %-format string taking C{root} (the relative path to the
site's root) and, for one build or builder, its id or name.
"""

BUILD_SCRIPT = """
(function () {
  var id = %(id)d, delay = 2000;
  function show(name, text) {
    var e = document.getElementById(name);
    if (e) { e.textContent = (text === null || text === undefined)
                             ? "" : String(text); }
    return e;
  }
  function duration(seconds) {  // as textDuration does on the server
    if (seconds === null || seconds === undefined) { return "-"; }
    var s = Math.floor(seconds), h = Math.floor(s / 3600),
        m = Math.floor(s %% 3600 / 60), pad = function (n) {
          return (n < 10 ? "0" : "") + n; };
    return h + ":" + pad(m) + ":" + pad(s %% 60);
  }
  function poll() {
    fetch("%(root)sapi/builds/" + id, {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw r.status; } return r.json(); })
      .then(function (b) {
        var state = show("state", b.state_title);
        if (state) { state.className = "state " + b.state; }
        show("builder", b.builder || "-");
        var tail = show("logtail", b.logtail);
        if (tail) { bmTail(tail); }
        show("elapsed", duration(b.elapsed));
        if (b.active) { setTimeout(poll, delay); }
        else { location.reload(); }
      }, function () { setTimeout(poll, delay); });
  }
  setTimeout(poll, delay);
})();
"""

#: The dashboard and the builder page refresh their builders from the API.
BUILDERS_SCRIPT = """
(function () {
  function poll() {
    fetch("%(root)sapi/builders", {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw r.status; } return r.json(); })
      .then(function (builders) {
        builders.forEach(function (b) {
          var row = document.querySelector(
              'tr.builder[data-name="' + CSS.escape(b.name) + '"]');
          if (!row) { return; }
          var state = row.querySelector(".state");
          state.textContent = b.state;
          state.className = "state " + b.state;
          var tail = row.querySelector("pre.tail");
          if (tail) { tail.textContent = b.logtail || ""; bmTail(tail); }
          var notes = row.querySelector(".notes");
          if (notes) { notes.textContent = b.failnotes || ""; }
        });
        setTimeout(poll, 5000);
      }, function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 5000);
})();
"""


BUILDER_PAGE_SCRIPT = """
(function () {
  var name = %(name)r;
  function poll() {
    fetch("%(root)sapi/builders/" + encodeURIComponent(name),
          {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw r.status; } return r.json(); })
      .then(function (b) {
        var tail = document.getElementById("logtail");
        tail.textContent = b.logtail || ""; bmTail(tail);
        var since = document.getElementById("in-state");
        if (since && typeof b.time_in_state === "number") {
          var s = Math.floor(b.time_in_state), pad = function (n) {
            return (n < 10 ? "0" : "") + n; };
          since.textContent = Math.floor(s / 3600) + ":" +
              pad(Math.floor(s %% 3600 / 60)) + ":" + pad(s %% 60);
        }
        var scanned = document.getElementById("last-scan");
        if (scanned && b.last_scanned) {
          scanned.textContent = b.last_scanned.slice(0, 19).replace(
              "T", " ") + " UTC";
        }
        setTimeout(poll, 2000);
      }, function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 2000);
})();
"""


#: The dashboard's queue, redrawn from C{/api/queue} every 5 s: one table
#: per processor and virtualization, as L{views.queueHTML} draws it.
QUEUE_SCRIPT = """
(function () {
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function duration(seconds) {  // as textDuration does on the server
    var s = Math.floor(seconds), h = Math.floor(s / 3600),
        m = Math.floor(s %% 3600 / 60);
    return h + ":" + pad(m) + ":" + pad(s %% 60);
  }
  function estimate(iso) {  // as formatEstimate does on the server
    if (iso === null || iso === undefined) { return "no usable builder"; }
    var left = (Date.parse(iso) - Date.now()) / 1000;
    return left <= 0 ? "now" : "in " + duration(left);
  }
  function utc(iso) {
    return iso ? iso.slice(0, 19).replace("T", " ") + " UTC" : "-";
  }
  function cell(row, text, tag) {
    var e = document.createElement(tag || "td");
    e.textContent = (text === null || text === undefined) ? "" : text;
    row.appendChild(e);
    return e;
  }
  function table(jobs) {
    var t = document.createElement("table"), head = t.insertRow();
    t.className = "queue";
    ["#", "Processor", "Build", "Score", "Estimated start"].forEach(
      function (name) { cell(head, name, "th"); });
    jobs.forEach(function (job) {
      var row = t.insertRow(), link = document.createElement("a");
      row.className = "job";
      row.dataset.build = job.id;
      cell(row, job.position);
      cell(row, job.processor);
      var build = cell(row, "");
      link.href = "%(root)sbuilds/" + job.id;
      link.textContent = job.id;
      build.appendChild(link);
      build.appendChild(document.createTextNode(" " + job.title));
      cell(row, job.score);
      cell(row, estimate(job.estimated_start)).title =
          utc(job.estimated_start);
    });
    return t;
  }
  function render(queue) {
    var old = document.getElementById("queue"), box, pools = {}, keys = [];
    if (!queue.length) {
      box = document.createElement("p");
      box.textContent = "No job is waiting.";
    } else {
      queue.forEach(function (job) {
        var key = JSON.stringify([job.processor, job.virtualized ? 1 : 0]);
        if (!pools[key]) { pools[key] = []; keys.push(key); }
        pools[key].push(job);
      });
      keys.sort();
      box = document.createElement("div");
      keys.forEach(function (key) {
        var jobs = pools[key];
        cell(box, jobs[0].processor + ", " + (jobs[0].virtualized
             ? "virtualized" : "non-virtualized"), "h3");
        box.appendChild(table(jobs));
      });
    }
    box.id = "queue";
    old.replaceWith(box);
  }
  function poll() {
    fetch("%(root)sapi/queue", {cache: "no-store"})
      .then(function (r) { if (!r.ok) { throw r.status; } return r.json(); })
      .then(function (queue) { render(queue); setTimeout(poll, 5000); },
            function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 5000);
})();
"""
