/* What htmx does not do by itself (issue 10); every page works without it. Served after htmx
   in the one deferred script, /static/app.js (epermit.assets), so it is no extra request.
   1. The idle-session warning (GOV.UK's timeout warning): a modal dialog five minutes before
      the end, reset by every request the visitor makes, htmx's included; "继续使用" extends
      the session in the background, so nothing typed is lost; said again a minute before.
   2. A polite live region: "loading" while a request is slow, and a failed request or a
      dropped connection said in words, with a retry button that takes the focus.
   3. The error summary's links scroll the field into view with its label or legend. */
(function () {
  "use strict";
  var status = document.getElementById("request-status");
  var dialog = null;

  function passive(detail) {
    // A timer's request (the live code) is not the visitor acting: it extends nothing.
    return detail && detail.elt && detail.elt.closest && detail.elt.closest("[hx-trigger^='every']");
  }

  /* 1. Timeout warning */
  var timers = [];
  var returnTo = null;
  var idle = 0, warn = 0, left = null, ends = null;
  var arm = function () {
    timers.forEach(clearTimeout);
    timers = [];
    if (!dialog) return;
    var end = new Date(Date.now() + idle);
    if (ends) {
      ends.setAttribute("datetime", end.toISOString());
      ends.textContent = ("0" + end.getHours()).slice(-2) + ":" + ("0" + end.getMinutes()).slice(-2);
    }
    timers = [
      setTimeout(function () { open(Math.max(1, Math.round(warn / 60000))); }, idle - warn),
      setTimeout(function () { window.location.assign(dialog.getAttribute("data-ended")); }, idle)
    ];
    // Said again a minute before the end.
    if (warn > 60000) timers.push(setTimeout(function () { open(1); }, idle - 60000));
  };
  var open = function (minutes) {
    left.textContent = minutes + "分钟";
    if (!dialog.open) {
      returnTo = document.activeElement;
      dialog.showModal();
    }
    dialog.querySelector("h2").focus();
  };
  var close = function () {
    if (dialog.open) dialog.close();
    var back = returnTo && document.contains(returnTo) ? returnTo : document.querySelector("main h1") || document.getElementById("main");
    back.focus();
  };
  var extend = function () {
    var form = dialog.querySelector("form");
    var button = form.querySelector("button");
    button.disabled = true;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "HX-Request": "true" },
      credentials: "same-origin"
    }).then(function (response) {
      button.disabled = false;
      if (response.status === 204) {
        close();
        arm();
      } else {
        window.location.assign(dialog.getAttribute("data-ended"));
      }
    }, function () {
      button.disabled = false;
      left.textContent = left.textContent + "（网络连接中断，请检查网络后再点“继续使用”）";
    });
  };
  // Run on load, and again when a whole page is swapped in (signing in, epermit.htmx.follow).
  var setUp = function () {
    status = document.getElementById("request-status");
    var found = document.getElementById("session-warning");
    dialog = found && found.showModal ? found : null;
    if (dialog) {
      idle = Number(dialog.getAttribute("data-idle")) * 1000;
      warn = Number(dialog.getAttribute("data-warn")) * 1000;
      left = dialog.querySelector(".session-left");
      ends = document.querySelector("#session-ends time");
      dialog.querySelector("form").addEventListener("submit", function (event) {
        event.preventDefault();
        extend();
      });
      // Escape is an answer too: the visitor is there, so the session goes on.
      dialog.addEventListener("cancel", function (event) {
        event.preventDefault();
        extend();
      });
    }
    arm();
  };
  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (!passive(event.detail) && event.detail.xhr && event.detail.xhr.status) arm();
  });
  document.body.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.target !== document.body) return;
    setUp();
    // The pressed button went with the old page: focus the new heading, never the body.
    var heading = document.querySelector("main h1");
    if (heading) heading.focus();
  });
  setUp();

  /* 2. Say what is happening */
  var slow = null;
  var failed = null;
  var say = function (html) {
    if (status) status.innerHTML = html;
  };
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    if (passive(event.detail)) return;
    clearTimeout(slow);
    failed = null;
    say("");
    // Only when it takes a while: a fast answer needs no announcement of its own.
    slow = setTimeout(function () { say('<p class="loading">正在加载，请稍候……</p>'); }, 1000);
  });
  var done = function () { clearTimeout(slow); };
  document.body.addEventListener("htmx:afterRequest", done);
  var problem = function (event, words) {
    done();
    if (passive(event.detail)) return;
    failed = event.detail.elt;
    say('<div class="warning-box request-failed" tabindex="-1"><p><strong>' + words +
      "</strong>已填写的内容仍在本页。</p>" +
      '<button type="button" class="button secondary retry">重试</button></div>');
    // The button that was pressed is disabled while in flight; focus must not fall to the body.
    var box = status && status.querySelector(".request-failed");
    if (box) box.focus();
  };
  document.body.addEventListener("htmx:sendError", function (event) {
    problem(event, "网络连接中断，未能完成操作。请检查网络后重试。");
  });
  document.body.addEventListener("htmx:timeout", function (event) {
    problem(event, "网络太慢，未能完成操作。请稍后重试。");
  });
  document.body.addEventListener("htmx:responseError", function (event) {
    problem(event, "系统繁忙，未能完成操作。请稍后重试。");
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "main") say("");
  });
  document.body.addEventListener("click", function (event) {
    if (!event.target.closest || !event.target.closest("#request-status .retry") || !failed) return;
    var again = failed;
    say("");
    if (again.tagName === "FORM") again.requestSubmit();
    else if (again.closest("form")) again.closest("form").requestSubmit();
    else again.click();
  });

  /* The 大字模式 link returns to the page it was chosen on: the one shown now, after swaps. */
  document.body.addEventListener("htmx:pushedIntoHistory", function (event) {
    var textSize = document.querySelector("a.text-size");
    if (!textSize) return;
    var link = new URL(textSize.href);
    link.searchParams.set("next", event.detail.path);
    textSize.href = link.pathname + link.search;
  });

  /* 3. Error summary links, as GOV.UK's: the field and its label (or legend) in view */
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".error-summary a[href^='#']");
    if (!link) return;
    var input = document.getElementById(link.getAttribute("href").slice(1));
    if (!input) return;
    var fieldset = input.closest("fieldset");
    var label = (fieldset && fieldset.querySelector("legend")) || document.querySelector("label[for='" + input.id + "']");
    event.preventDefault();
    var field = input.closest(".field") || input;
    // A visually hidden legend has no place of its own on screen: show the group's box.
    var top = label && label.getBoundingClientRect().height > 1 ? label : field;
    top.scrollIntoView({ block: "start" });
    input.focus({ preventScroll: true });
  });
})();
