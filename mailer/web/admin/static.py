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
