// Buzzline OBS overlay: follows the host's scene over Server-Sent Events and draws it.
// No framework, no build step, no request beyond the host that served this page.
"use strict";

(function () {
  var $ = function (id) { return document.getElementById(id); };
  var scene = null;
  var receivedAt = 0;
  var lastWinnerKey = "";
  var source = null;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text; // names are text, never markup
    return e;
  }

  function chip(col) {
    var c = el("span", "chip");
    c.style.background = "#" + col;
    return c;
  }

  function gap(ms) { return "+" + ms.toFixed(1) + " ms"; }

  function renderWinner(s) {
    var box = $("winner");
    if (!s.winner) {
      box.hidden = true;
      lastWinnerKey = "";
      return;
    }
    box.hidden = false;
    $("winner-name").textContent = s.winner.player;
    box.style.setProperty("--player", "#" + s.winner.col);
    var detail = [];
    if (s.winner.team) detail.push(s.winner.team);
    if (s.order.length > 1) detail.push(gap(s.order[1].gap_ms) + " ahead of " + s.order[1].player);
    $("winner-detail").textContent = detail.join("  ·  ");
    var key = s.q + "/" + s.winner.podium;
    if (key !== lastWinnerKey) {
      lastWinnerKey = key;
      box.classList.remove("ring");
      void box.offsetWidth; // restart the ring-in animation
      box.classList.add("ring");
    }
  }

  function renderOrder(s) {
    var box = $("order");
    box.replaceChildren();
    s.order.slice(0, 8).forEach(function (o, i) {
      var item = el("span", "ring-in");
      item.appendChild(chip(o.col));
      item.appendChild(el("span", "name", (i + 1) + ". " + o.player));
      if (i > 0) item.appendChild(el("span", "gap", gap(o.gap_ms)));
      box.appendChild(item);
    });
    var tie = $("tie");
    if (s.tie) {
      tie.hidden = false;
      tie.textContent = "TIE: " + s.tie.players.join(" = ") + "  ·  settled by rule: " + (s.tie.rule || "?");
    } else {
      tie.hidden = true;
    }
  }

  function renderBoard(s) {
    var box = $("board");
    box.replaceChildren();
    s.panels.forEach(function (p) {
      var row = el("div", "player");
      row.dataset.podium = p.podium;
      if (p.winner) row.classList.add("winner");
      if (p.dimmed) row.classList.add("dimmed");
      if (!p.online) row.classList.add("offline");
      if (p.false_start_ms !== null) {
        row.classList.add("false-start");
        row.dataset.falseUntil = String(receivedAt + p.false_start_ms);
      }
      row.style.setProperty("--player", "#" + p.col);
      row.appendChild(el("span", "seat", String(p.seat < 999 ? p.seat : "")));
      row.appendChild(el("span", "name", p.player));
      if (p.team) row.appendChild(el("span", "team", p.team));
      row.appendChild(el("span", "score", String(p.score)));
      box.appendChild(row);
    });
  }

  function renderInfo(s) {
    var q = s.q ? "Q" + s.q + (s.questions ? " / " + s.questions : "") : "";
    $("round").textContent = [s.round, q].filter(Boolean).join("  ");
    $("phase").textContent = s.phase_label || "";
  }

  // the audience playing along: the same part of the scene the pygame viewer draws in its column
  var qrFor = "";
  function renderAudience(s) {
    var a = s.audience;
    var box = $("audience");
    box.hidden = !a;
    if (!a) return;
    $("aud-code").textContent = a.code;
    // a path (no page address known to the host) is resolved against the host that served this
    var link = new URL(a.join_url || "/audience/?code=" + a.code, window.location.href).href;
    $("aud-url").textContent = link;
    if (qrFor !== a.code + " " + link) {
      qrFor = a.code + " " + link;
      $("aud-qr").src = "/overlay/qr.svg?link=" + encodeURIComponent(link); // the scene's own link
      $("aud-qr").alt = "QR code for " + link;
    }
    $("aud-question").textContent = a.question;
    var bars = $("aud-bars");
    bars.replaceChildren();
    if (a.results) {
      a.choices.forEach(function (c) {
        var li = el("li", c.right ? "right" : "");
        li.appendChild(el("span", "", c.label));
        li.appendChild(el("span", "", c.pct + "%"));
        var bar = el("span", "bar");
        bar.style.width = c.pct + "%";
        li.appendChild(bar);
        bars.appendChild(li);
      });
    }
    var board = $("aud-board");
    board.replaceChildren();
    a.board.forEach(function (row) {
      var li = el("li");
      li.appendChild(el("span", "", row.nick));
      li.appendChild(el("span", "", String(row.points)));
      board.appendChild(li);
    });
  }

  function render(s) {
    scene = s;
    receivedAt = performance.now();
    document.body.dataset.phase = s.phase || "";
    document.body.dataset.hasWinner = s.winner ? "1" : "0";
    renderWinner(s);
    renderOrder(s);
    renderBoard(s);
    renderInfo(s);
    renderAudience(s);
  }

  // timers drain and false-start markers go between messages
  function frame() {
    var now = performance.now();
    var timer = $("timer");
    if (scene && scene.timer) {
      var left = Math.max(0, scene.timer.left_ms - (now - receivedAt));
      timer.hidden = left <= 0;
      timer.dataset.name = scene.timer.name;
      $("timer-fill").style.width = (100 * left / scene.timer.total_ms).toFixed(2) + "%";
    } else {
      timer.hidden = true;
    }
    var marked = document.querySelectorAll(".player.false-start");
    for (var i = 0; i < marked.length; i++) {
      if (now >= Number(marked[i].dataset.falseUntil)) marked[i].classList.remove("false-start");
    }
    window.requestAnimationFrame(frame);
  }

  function connect() {
    source = new EventSource("/overlay/stream");
    source.onmessage = function (m) {
      document.body.dataset.link = "up";
      render(JSON.parse(m.data));
    };
    source.onerror = function () {
      document.body.dataset.link = "down";
      // the browser retries by itself; if it gave up (the host answered with an error), start over
      if (source.readyState === EventSource.CLOSED) {
        window.setTimeout(connect, 1000);
      }
    };
  }

  connect();
  window.requestAnimationFrame(frame);
})();
