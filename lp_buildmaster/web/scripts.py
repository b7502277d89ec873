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
        var state = document.getElementById("state");
        state.textContent = b.state;
        state.className = "state " + b.state;
        document.getElementById("mode").textContent =
            b.manual ? "manual" : "automatic";
        document.getElementById("failnotes").textContent =
            b.failnotes || "-";
        document.getElementById("failure-count").textContent =
            b.failure_count;
        if (b.state_since) {
          document.getElementById("state-since").textContent = "since " +
              b.state_since.slice(0, 19).replace("T", " ") + " UTC";
        }
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


#: The dashboard, redrawn from C{/api/builders}, C{/api/queue} and
#: C{/api/builds?finished=1&limit=25} every 5 s: each builder's row
#: (state, log tail, notes), the overview by processor and virtualization,
#: the queue, one table per pool, and the recently finished builds, as
#: L{lp_buildmaster.web.views} draws them.
DASHBOARD_SCRIPT = """
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
  function poolKey(processor, virtualized) {
    return JSON.stringify([processor, virtualized ? 1 : 0]);
  }
  function poolName(processor, virtualized) {
    return processor + ", " + (virtualized ? "virtualized"
                                           : "non-virtualized");
  }
  function builders(list) {
    list.forEach(function (b) {
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
  }
  function overview(list, queue) {
    var pools = {}, keys = [];
    function pool(processor, virtualized) {
      var key = poolKey(processor, virtualized);
      if (!pools[key]) {
        pools[key] = {name: poolName(processor, virtualized), idle: 0,
                      building: 0, failed: 0, disabled: 0, queue: 0,
                      wait: null};
        keys.push(key);
      }
      return pools[key];
    }
    list.forEach(function (b) {
      if (!b.active) { return; }
      var key = {waiting: "building", manual: "disabled"}[b.state] ||
                b.state, p = pool(b.processor, b.virtualized);
      p[key] = (p[key] || 0) + 1;
    });
    queue.forEach(function (job) {
      var p = pool(job.processor, job.virtualized);
      p.queue += 1;
      if (job.estimated_start !== null && (p.wait === null ||
          Date.parse(job.estimated_start) > Date.parse(p.wait))) {
        p.wait = job.estimated_start;
      }
    });
    keys.sort();
    var table = document.getElementById("overview");
    Array.from(table.querySelectorAll("tr.pool")).forEach(
      function (row) { row.remove(); });
    keys.forEach(function (key) {
      var p = pools[key], row = table.insertRow();
      row.className = "pool";
      [p.name, p.idle, p.building, p.failed, p.disabled, p.queue,
       p.queue ? estimate(p.wait) : "-"].forEach(
        function (text) { cell(row, text); });
    });
  }
  function queueTable(jobs) {
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
  function queue(jobs) {
    var old = document.getElementById("queue"), box, pools = {}, keys = [];
    if (!jobs.length) {
      box = document.createElement("p");
      box.textContent = "No job is waiting.";
    } else {
      jobs.forEach(function (job) {
        var key = poolKey(job.processor, job.virtualized);
        if (!pools[key]) { pools[key] = []; keys.push(key); }
        pools[key].push(job);
      });
      keys.sort();
      box = document.createElement("div");
      keys.forEach(function (key) {
        var first = pools[key][0];
        cell(box, poolName(first.processor, first.virtualized), "h3");
        box.appendChild(queueTable(pools[key]));
      });
    }
    box.id = "queue";
    old.replaceWith(box);
  }
  function link(parent, href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    parent.appendChild(a);
    return a;
  }
  function recent(builds) {  // as buildsTable draws them
    var table = document.getElementById("recent");
    Array.from(table.querySelectorAll("tr.build")).forEach(
      function (row) { row.remove(); });
    builds.forEach(function (b) {
      var row = table.insertRow(), build = cell(row, ""), state;
      row.className = "build";
      row.dataset.build = b.id;
      link(build, "%(root)sbuilds/" + b.id, b.id);
      build.appendChild(document.createTextNode(" " + b.title));
      state = document.createElement("span");
      state.className = "state " + b.state;
      state.textContent = b.state_title;
      cell(row, "").appendChild(state);
      if (b.builder) {
        link(cell(row, ""), "%(root)sbuilders/" +
             encodeURIComponent(b.builder), b.builder);
      } else { cell(row, "-"); }
      cell(row, utc(b.datebuilt));
      cell(row, b.duration === null ? "-" : duration(b.duration));
      var log = cell(row, b.log ? "" : "-");
      if (b.log) {
        link(log, "%(root)sbuilds/" + b.id + "/log", "view");
        log.appendChild(document.createTextNode(" ("));
        link(log, b.log.url, b.log.filename);
        log.appendChild(document.createTextNode(")"));
        if (b.log.restricted) {
          log.appendChild(document.createTextNode(" "));
          cell(log, "(restricted)", "span").className = "muted";
        }
      }
    });
  }
  function json(path) {
    return fetch("%(root)sapi/" + path, {cache: "no-store"}).then(
      function (r) { if (!r.ok) { throw r.status; } return r.json(); });
  }
  function poll() {
    Promise.all([json("builders"), json("queue"),
                 json("builds?finished=1&limit=25")]).then(function (got) {
      builders(got[0]);
      overview(got[0], got[1]);
      queue(got[1]);
      recent(got[2]);
      setTimeout(poll, 5000);
    }, function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 5000);
})();
"""
