"""The one script of the admin pages: refreshes `[data-poll]` regions.

Kept here, not in a build step: a few lines, served with the page's CSP
(`script-src 'self'`). Without JavaScript the pages still work; the regions
then show their state at load time.
"""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import Response

from mailer.i18n import _

router = APIRouter(prefix="/admin/static", include_in_schema=False)

POLL_JS = """\
(function () {
  "use strict";
  // Replace each [data-poll] region with the fragment at its URL every few
  // seconds. The fragment is server-rendered and escaped; the region holds no
  // focusable controls, so replacing it never steals a keyboard user's focus.
  function poll(el) {
    var url = el.getAttribute("data-poll");
    var seconds = Number(el.getAttribute("data-poll-seconds")) || 3;
    function later() { window.setTimeout(tick, seconds * 1000); }
    function tick() {
      if (document.hidden) { later(); return; }
      fetch(url, {credentials: "same-origin", redirect: "manual"})
        .then(function (r) {
          if (r.type === "opaqueredirect" || !r.ok) { throw new Error("stopped"); }
          return r.text();
        })
        .then(function (html) {
          el.innerHTML = html;
          if (el.querySelector("[data-final]")) { return; }
          later();
        })
        .catch(function () {
          var p = document.createElement("p");
          p.className = "warning";
          p.textContent = __STOPPED__;
          el.appendChild(p);
        });
    }
    later();
  }
  document.querySelectorAll("[data-poll]").forEach(poll);
})();
"""


@router.get("/poll.js")
def poll_js() -> Response:
    # the one sentence the script shows, in the configured language
    script = POLL_JS.replace("__STOPPED__", json.dumps(
        _("自動更新を停止しました。ページを再読み込みしてください。"), ensure_ascii=False))
    return Response(script, media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=300"})


EDITOR_JS = """\
(function () {
  "use strict";
  // The issue editor's previews: after typing stops for a moment, post the
  // form (without image files) to the preview route and show what the
  // sending code renders. Nothing is saved; the buttons of the form work
  // without this script.
  var form = document.getElementById("editor-form");
  var choose = document.getElementById("preview-part");
  if (!form || !choose) { return; }
  var status = document.getElementById("preview-status");
  var problems = document.getElementById("preview-problems");
  var findings = document.getElementById("preview-findings");
  var timer = null;
  var latest = 0;
  // the sentences the script shows, in the configured language (see editor_js)
  var T = __TEXTS__;
  function say(key, values) {
    return T[key].replace(/[{]([a-z_]+)[}]/g, function (m, name) { return String(values[name]); });
  }
  function item(list, text) {
    var li = document.createElement("li");
    li.textContent = text;
    list.appendChild(li);
  }
  function show(data) {
    problems.textContent = "";
    problems.hidden = !data.problems.length;
    if (data.problems.length) {
      var p = document.createElement("p");
      p.textContent = say("problems", {count: data.problems.length});
      problems.appendChild(p);
      var ul = document.createElement("ul");
      data.problems.forEach(function (m) { item(ul, m); });
      problems.appendChild(ul);
    }
    findings.textContent = "";
    data.findings.forEach(function (f) {
      item(findings, say(f.where ? "finding_at" : "finding",
                         {severity: f.severity, where: f.where, message: f.message}));
    });
    if (!data.problems.length && !data.findings.length) { item(findings, T.no_findings); }
    document.getElementById("preview-html").setAttribute("srcdoc", data.html);
    document.getElementById("preview-text").textContent = data.text;
    document.getElementById("preview-sanitized").textContent = data.sanitized;
    var now = new Date().toLocaleTimeString(document.documentElement.lang || undefined);
    status.textContent = say("updated", {time: now});
  }
  function refresh() {
    var body = new FormData(form);
    form.querySelectorAll("input[type=file]").forEach(function (el) { body.delete(el.name); });
    body.delete("op");
    body.set("preview_part", choose.value);
    var mine = ++latest;
    status.textContent = T.making;
    fetch("/admin/issues/editor/preview", {method: "POST", body: body,
                                           credentials: "same-origin", redirect: "manual"})
      .then(function (r) {
        if (r.type === "opaqueredirect" || !r.ok) { throw new Error(String(r.status)); }
        return r.json();
      })
      .then(function (data) { if (mine === latest) { show(data); } })
      .catch(function () {
        if (mine === latest) {
          status.textContent = T.failed;
        }
      });
  }
  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 500);
  }
  // Autosave (a saved draft only): after typing stops for data-autosave-seconds,
  // save the form as a revision and start the next save from it.
  var saveUrl = form.getAttribute("data-autosave");
  var saveTimer = null;
  var saveStatus = document.getElementById("autosave-status");
  function autosave() {
    var body = new FormData(form);
    form.querySelectorAll("input[type=file]").forEach(function (el) { body.delete(el.name); });
    body.delete("op");
    fetch(saveUrl, {method: "POST", body: body, credentials: "same-origin", redirect: "manual"})
      .then(function (r) {
        if (r.type === "opaqueredirect") { throw new Error("login"); }
        return r.json().then(function (data) { return {ok: r.ok, data: data}; });
      })
      .then(function (answer) {
        if (answer.ok) {
          document.getElementById("base").value = String(answer.data.revision);
          saveStatus.textContent = say("saved", {revision: answer.data.revision,
                                                 at: answer.data.at});
        } else {
          saveStatus.textContent = say("refused", {detail: answer.data.detail});
        }
      })
      .catch(function () { saveStatus.textContent = T.not_saved; });
  }
  function saveLater() {
    if (!saveUrl) { return; }
    window.clearTimeout(saveTimer);
    var seconds = Number(form.getAttribute("data-autosave-seconds")) || 30;
    saveTimer = window.setTimeout(autosave, seconds * 1000);
  }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  form.addEventListener("input", saveLater);
  form.addEventListener("submit", function () { window.clearTimeout(saveTimer); });
  choose.addEventListener("change", refresh);
  refresh();
})();
"""


@router.get("/editor.js")
def editor_js() -> Response:
    # the script's sentences, in the configured language ({name}: filled in by the script)
    texts = {
        "problems": _("まだメールにできません（{count} 件）："),
        "finding": _("{severity}：{message}"),
        "finding_at": _("{severity}：{where}：{message}"),
        "no_findings": _("問題はありません。"),
        "updated": _("プレビューを更新しました（{time}）"),
        "making": _("プレビューを作っています…"),
        "failed": _("プレビューを更新できません。ページを再読み込みしてください。"),
        "saved": _("自動保存しました（第{revision}版、{at}）"),
        "refused": _("自動保存できませんでした：{detail}"),
        "not_saved": _("自動保存できませんでした。"),
    }
    script = EDITOR_JS.replace("__TEXTS__", json.dumps(texts, ensure_ascii=False))
    return Response(script, media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=300"})
